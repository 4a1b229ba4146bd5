"""The deploy-side commands of `strata` (package, plan, deploy, destroy,
status, local). Placeholder until issue 6 builds them."""

from __future__ import annotations

import argparse

# Exceptions the CLI turns into one clear message and exit code 1.
ERRORS: tuple[type[Exception], ...] = ()


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the deploy-side subcommands on the `strata` parser."""
