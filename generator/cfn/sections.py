"""Base classes for the parameter schema.

Every layer module in `templates/` declares its section as a subclass of
`LayerSection`, each field documented by a docstring under it. The rules
that make a parameter file strict live here once: unknown keys are errors
(`extra="forbid"`) and a loaded config cannot be mutated (`frozen=True`), so
no step downstream can quietly change an input.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class Section(BaseModel):
    """A strict, immutable block of a parameter file."""

    # Field docs are the docstrings under each field. They are read by the
    # docs generator only (generator/build/docs.py): pydantic's
    # use_attribute_docstrings would re-parse every section's source on each
    # `strata build`, a quarter of a warm build's time.
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayerSection(Section):
    """A layer's section. An absent section or `enabled: false` means the
    layer is neither built nor placed in the root stack."""

    enabled: bool = Field(default=False, description="Build this layer and nest it in the root stack.")


# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


def _known_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return days


LogRetentionDays = Annotated[int, AfterValidator(_known_retention)]
"""A log group's RetentionInDays: one of the values CloudWatch Logs accepts."""


def refuse_moved(data: object, moved: dict[str, str]) -> object:
    """For a section's `mode="before"` validator: a key that used to live
    here gets one message saying where it went, instead of "unknown key"."""
    if isinstance(data, dict):
        found = [f"{key} moved to {moved[key]}" for key in data if key in moved]
        if found:
            raise ValueError("; ".join(found))
    return data


def reject_repeats(values: list, what: str = "") -> list:
    """Refuse a list naming the same thing twice (two endpoints or schedules
    with one name would collide on one logical ID)."""
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{what + ' ' if what else ''}listed more than once: {', '.join(repeated)}")
    return values


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email_addresses(addresses: list[str]) -> list[str]:
    bad = [a for a in addresses if not _EMAIL.match(a)]
    if bad:
        raise ValueError(f"not an e-mail address: {', '.join(bad)}")
    return reject_repeats(addresses, "address")


EmailAddresses = Annotated[list[str], AfterValidator(_email_addresses)]
"""E-mail addresses for SNS subscriptions: each looks like an address and appears once."""
