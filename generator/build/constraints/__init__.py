"""Rules that span layers, checked once over the whole EnvConfig.

Each rule is a function `(env) -> list[(field_path, message)]` listed in
RULES (one module per concern: wiring, endpoints, operations, region); `check` runs them all. A section's own contradictions (min > max, a
bad CIDR plan) belong in that section's validators, not here. Rules that
need the region (what it offers, by cfn-lint's lists in
`generator.build.awsdata`) live here because a section does not know it.

`ignored` lists settings nothing is built from (a section whose layer or
feature is switched off): printed as warnings, not refused, because
switching a layer off while keeping its settings is a normal edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from generator.build.constraints import endpoints, operations, region, wiring
from generator.build.constraints.base import Problem, sections_of
from generator.cfn.sections import Section

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

__all__ = ["Problem", "RULES", "check", "ignored", "sections_of"]

RULES: list[Callable[[EnvConfig], list[Problem]]] = [
    *wiring.RULES, *endpoints.RULES, *operations.RULES, *region.RULES,
]


def check(env: EnvConfig) -> list[Problem]:
    return [problem for rule in RULES for problem in rule(env)]


def ignored(env: EnvConfig) -> list[Problem]:
    """Sections switched off (`enabled: false`, or a layer left off) whose
    other settings the file still sets: nothing is built from them."""
    found = []
    for loc, section in sections_of(env, enabled_only=False):
        if getattr(section, "enabled", True) or not _under_enabled(env, loc[:-1]):
            continue
        settings = sorted(section.model_fields_set - {"enabled"})
        if settings:
            found.append(((*loc, settings[0]), (
                f"{', '.join(settings)} {'is' if len(settings) == 1 else 'are'} set but {'.'.join(map(str, loc))}"
                f".enabled is false, so nothing is built from {'it' if len(settings) == 1 else 'them'}"
            )))
    return found


def _under_enabled(env: EnvConfig, loc: tuple) -> bool:
    """Every section on the way to `loc` is on (a warning for the outermost switched-off one only)."""
    model: Any = env
    for part in loc:
        model = model[part] if isinstance(model, (dict, list)) else getattr(model, part)
        if isinstance(model, Section) and not getattr(model, "enabled", True):
            return False
    return True
