"""What every constraint module shares: the shape of a problem and a walk
over the sections of a config."""

from __future__ import annotations

from typing import Iterator

from generator.cfn.sections import Section

Problem = tuple[tuple, str]
"""(field path, message): where in the parameter file, and what is wrong."""


def sections_of(model: Section, path: tuple = (), enabled_only: bool = True) -> Iterator[tuple[tuple, Section]]:
    """Every section inside `model` (through lists and mappings too), with
    its path; below a switched-off layer or feature only when not `enabled_only`."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else [(None, value)]
        for key, item in items:
            if isinstance(item, Section):
                loc = (*path, name) if key is None else (*path, name, key)
                if not enabled_only or getattr(item, "enabled", True):
                    yield loc, item
                    yield from sections_of(item, loc, enabled_only)
