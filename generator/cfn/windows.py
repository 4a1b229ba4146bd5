"""Backup and maintenance windows, as RDS and ElastiCache write them (UTC):
a daily window "03:00-04:00" and a weekly one "sun:04:30-sun:05:30".

Both services refuse a daily backup/snapshot window that overlaps the weekly
maintenance window, and windows shorter than their minimum; these checks let
a section validator say so before CloudFormation does, halfway through a
deployment.
"""

from __future__ import annotations

import re

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME = r"([01]\d|2[0-3]):([0-5]\d)"
_DAILY = re.compile(rf"^{_TIME}-{_TIME}$")
_WEEKLY = re.compile(rf"^({'|'.join(DAYS)}):{_TIME}-({'|'.join(DAYS)}):{_TIME}$")
DAY, WEEK = 24 * 60, 7 * 24 * 60


def daily(text: str, minimum: int) -> tuple[int, int]:
    """(start, length) in minutes of a daily window; raises ValueError with the reason."""
    match = _DAILY.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a daily window like 03:00-04:00 (UTC)")
    h1, m1, h2, m2 = map(int, match.groups())
    start, length = h1 * 60 + m1, (h2 * 60 + m2 - h1 * 60 - m1) % DAY
    if length < minimum:
        raise ValueError(f"'{text}' is shorter than {minimum} minutes")
    return start, length


def weekly(text: str, minimum: int) -> tuple[int, int]:
    """(start, length) in minutes from Monday 00:00 of a weekly window."""
    match = _WEEKLY.match(text)
    if not match:
        raise ValueError(f"'{text}' is not a weekly window like sun:04:30-sun:05:30 (UTC)")
    d1, h1, m1, d2, h2, m2 = match.groups()
    start = DAYS.index(d1) * DAY + int(h1) * 60 + int(m1)
    end = DAYS.index(d2) * DAY + int(h2) * 60 + int(m2)
    length = (end - start) % WEEK
    if length < minimum:
        raise ValueError(f"'{text}' is shorter than {minimum} minutes")
    return start, length


def overlap(daily_window: tuple[int, int], weekly_window: tuple[int, int]) -> bool:
    """Does the daily window, on any day, meet the weekly window?"""
    w_start, w_length = weekly_window
    d_start, d_length = daily_window
    for day in range(7):
        start = day * DAY + d_start
        # Two intervals on a circle of one week meet when either start lies inside the other.
        if (start - w_start) % WEEK < w_length or (w_start - start) % WEEK < d_length:
            return True
    return False
