"""CloudFormation's replacement rules, per property, from the resource
schemas cfn-lint ships (the CloudFormation registry schemas, under
`cfnlint/data/schemas/`).

A registry schema lists, as JSON pointers:
- `createOnlyProperties`: a new value can only be set by creating a new
  resource, so CloudFormation replaces it ("Update requires: Replacement");
- `conditionalCreateOnlyProperties`: some changes replace, others do not
  (an Aurora `Engine` upgrade within a family is in place, a change of
  family is not), so the best prediction is "may replace", as a change set
  says with `Replacement: Conditional`.
Every other property is updated in place. A pointer may reach inside a
property (`/properties/KeySchema/*/AttributeName`, `*` for every item).

These are the rules CloudFormation applies, so Strata can predict a
replacement before any change set exists: for `strata diff`, and against an
endpoint that does not say (moto reports no Replacement at all).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ALWAYS, CONDITIONALLY, NEVER = "Always", "Conditionally", "Never"
_FALLBACK_REGION = "us-east-1"

Path = tuple[str, ...]


@dataclass(frozen=True)
class Rules:
    """The replacement rules of one resource type; `known` is False for a
    type no schema describes (a custom resource, a type newer than cfn-lint)."""

    resource_type: str
    create_only: tuple[Path, ...] = ()
    conditional: tuple[Path, ...] = ()
    known: bool = True


def _paths(pointers: list[str]) -> tuple[Path, ...]:
    return tuple(tuple(p.split("/")[2:]) for p in pointers if p.startswith("/properties/"))


@functools.cache
def rules(resource_type: str, region: str = _FALLBACK_REGION) -> Rules:
    """The rules for `resource_type` from cfn-lint's schema for `region`
    (us-east-1's when the region's own list does not have the type)."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER, ResourceNotFoundError

    for where in dict.fromkeys((region or _FALLBACK_REGION, _FALLBACK_REGION)):
        try:
            schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(where, resource_type).schema
        except ResourceNotFoundError:
            continue
        return Rules(resource_type, _paths(schema.get("createOnlyProperties", [])),
                     _paths(schema.get("conditionalCreateOnlyProperties", [])))
    return Rules(resource_type, known=False)


def values_at(value: Any, path: Path) -> list[Any]:
    """Every value `path` reaches inside `value` (`*` is every item of a
    list or every value of a mapping); [] where it reaches nothing."""
    if not path:
        return [value]
    head, rest = path[0], path[1:]
    if head == "*":
        items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []
        return [found for item in items for found in values_at(item, rest)]
    if isinstance(value, dict) and head in value:
        return values_at(value[head], rest)
    return []


def _overlap(pointer: Path, path: Path) -> bool:
    """True when one of `pointer` and `path` lies inside the other."""
    return all(a == b or a == "*" for a, b in zip(pointer, path))


def recreation(rules_: Rules, path: Path, before: Any, after: Any,
               differs: Callable[[Any, Any], bool]) -> str:
    """What a change of the property at `path` (from `before` to `after`,
    its values there) does to the resource: ALWAYS, CONDITIONALLY or NEVER.
    `differs(old, new)` says whether a value changes (literally, or because
    something it refers to does); a pointer reaching inside the property
    counts only when the value it reaches changes."""
    for verdict, pointers in ((ALWAYS, rules_.create_only), (CONDITIONALLY, rules_.conditional)):
        for pointer in pointers:
            if not _overlap(pointer, path):
                continue
            inner = pointer[len(path):]
            if not inner or differs(values_at(before, inner), values_at(after, inner)):
                return verdict
    return NEVER
