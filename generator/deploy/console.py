"""How the deploy-side commands talk: `--quiet`, `--verbose`, colour.

- Results (the plan, the status, a JSON or Markdown document) go to stdout,
  always.
- Chatter (packaging, events, notes) goes to stdout too, or to stderr when
  stdout carries a document (`--json`, `--markdown`); `--quiet` drops it.
- Details (what moto skips, resource by resource; botocore's own error
  text) only with `--verbose`.
- Colour only on a terminal, never with `--no-color` or a non-empty
  `NO_COLOR` (https://no-color.org).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import TextIO

_STYLES = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "dim": "2"}
_EVENT = re.compile(r"^\[[ \d/-]+\]")
_EVENT_STYLES = ((re.compile(r"_FAILED|ROLLBACK"), "red"), (re.compile(r"_COMPLETE\b"), "green"))


def color_wanted(stream: TextIO, no_color: bool = False) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


@dataclass
class Console:
    quiet: bool = False
    verbose: bool = False
    color: bool = False
    document: bool = False     # stdout carries a document: chatter goes to stderr

    @classmethod
    def from_args(cls, args, document: bool = False) -> Console:
        stream = sys.stderr if document else sys.stdout
        return cls(quiet=getattr(args, "quiet", False), verbose=getattr(args, "verbose", False),
                   color=color_wanted(stream, getattr(args, "no_color", False)), document=document)

    def paint(self, text: str, style: str) -> str:
        code = _STYLES.get(style)
        return f"\033[{code}m{text}\033[0m" if code and self.color else text

    def info(self, message: str) -> None:
        """Chatter; stack events ("[3/12] Network ...") are coloured by their status."""
        if self.quiet:
            return
        if _EVENT.match(message):
            style = next((s for pattern, s in _EVENT_STYLES if pattern.search(message)), "")
            message = self.paint(message, style) if style else message
        print(message, file=sys.stderr if self.document else sys.stdout, flush=True)

    def detail(self, message: str) -> None:
        if self.verbose:
            self.info(message)

    def result(self, message: str, end: str = "\n") -> None:
        print(message, end=end, flush=True)

    def warn(self, message: str) -> None:
        print(self.paint(message, "yellow"), file=sys.stderr, flush=True)
