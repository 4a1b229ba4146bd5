"""Evaluating the intrinsic functions of a template, as far as the template decides them.

`Resolver` follows Ref, GetAtt, Join, Split, Select, GetAZs, If and the
conditions behind it, on any template: a layer's own (where a parameter
without a default stays `UNKNOWN`) or the environment inlined into one
(`generator.build.environment.flatten`, where a parameter is what the root
feeds it). A check or an estimate that meets `UNKNOWN` skips rather than
guesses. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()  # what the template alone does not decide


@dataclass(frozen=True)
class ResourceRef:
    """`Ref` to a resource (its physical id, which only AWS knows)."""

    id: str


@dataclass(frozen=True)
class Attribute:
    """`Fn::GetAtt [id, name]`."""

    id: str
    name: str


@dataclass(frozen=True)
class Zone:
    """`Fn::Select [i, Fn::GetAZs ""]`: the region's i-th AZ."""

    index: int


@dataclass(frozen=True)
class Joined:
    """A `Fn::Join` whose parts are not all strings."""
    separator: str
    parts: tuple


class Resolver:
    """Evaluate a template's intrinsic functions as far as the template decides them."""

    def __init__(self, template: dict):
        self.template = template
        self.resources = template.get("Resources", {})
        self.parameters = template.get("Parameters", {})
        self.conditions = template.get("Conditions", {})

    def value(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.value(v) for k, v in value.items()}
        key, arg = next(iter(value.items()))
        if key == "Ref":
            return self._ref(arg)
        if key == "Fn::GetAtt":
            target, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return Attribute(target, str(attribute))
        if key == "Fn::GetAZs":
            return "Fn::GetAZs"
        if key == "Fn::Select":
            return self._select(arg)
        if key == "Fn::Join":
            return self._join(arg)
        if key == "Fn::Split":
            return self._split(arg)
        if key == "Fn::If":
            decided = self.condition(arg[0])
            return UNKNOWN if decided is None else self.value(arg[1] if decided else arg[2])
        if key.startswith("Fn::") or key == "Condition":
            return UNKNOWN
        return {key: self.value(arg)}

    def _ref(self, name: Any) -> Any:
        if name in self.resources:
            return ResourceRef(name)
        if name in self.parameters:
            return self.parameters[name].get("Default", UNKNOWN)
        return UNKNOWN

    def _select(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            return UNKNOWN
        index, items = self.value(arg[0]), self.value(arg[1])
        try:
            index = int(index)
        except (TypeError, ValueError):
            return UNKNOWN
        if items == "Fn::GetAZs":
            return Zone(index)
        if isinstance(items, list) and 0 <= index < len(items):
            return items[index]
        return UNKNOWN

    def _join(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            return UNKNOWN
        separator, parts = arg[0], self.value(arg[1])
        if not isinstance(parts, list):
            return UNKNOWN
        if all(isinstance(p, str) for p in parts):
            return separator.join(parts)
        return Joined(separator, tuple(parts))

    def _split(self, arg: Any) -> Any:
        if not (isinstance(arg, list) and len(arg) == 2):
            return UNKNOWN
        separator, source = arg[0], self.value(arg[1])
        if isinstance(source, Joined) and source.separator == separator:
            return list(source.parts)
        if isinstance(source, str):
            return source.split(separator) if source else []
        return UNKNOWN

    def condition(self, name: str) -> bool | None:
        """True/False when the template decides the condition, None when a parameter without a default does."""
        return self._truth(self.conditions.get(name))

    def _truth(self, expression: Any) -> bool | None:
        if not (isinstance(expression, dict) and len(expression) == 1):
            return expression if isinstance(expression, bool) else None
        key, arg = next(iter(expression.items()))
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = self.value(arg[0]), self.value(arg[1])
            if UNKNOWN in (left, right) or not all(isinstance(v, (str, int, float, bool)) for v in (left, right)):
                return None
            return str(left) == str(right)
        parts = [self._truth(a) for a in arg] if isinstance(arg, list) else [None]
        if key == "Fn::Not":
            return None if parts[0] is None else not parts[0]
        if key == "Fn::And":
            return False if False in parts else (None if None in parts else True)
        if key == "Fn::Or":
            return True if True in parts else (None if None in parts else False)
        return None

    def exists(self, logical_id: str) -> bool:
        """False when the resource's Condition is decided false."""
        resource = self.resources.get(logical_id, {})
        return "Condition" not in resource or self.condition(resource["Condition"]) is not False

    def prop(self, logical_id: str, *path: str, default: Any = None) -> Any:
        value: Any = self.resources.get(logical_id, {}).get("Properties", {})
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return default
            value = value[key]
        return self.value(value)

    def ids(self, value: Any) -> list[str]:
        """The resources a resolved value (one or a list) refers to."""
        items = value if isinstance(value, list) else [value]
        return [i.id for i in items if isinstance(i, (ResourceRef, Attribute)) and i.id in self.resources]

    @staticmethod
    def items(value: Any) -> list | None:
        """A resolved list: a list, a comma-joined value (what a List<...>
        parameter receives), or a comma-separated string; None when unknown."""
        if isinstance(value, Joined) and value.separator == ",":
            return list(value.parts)
        if isinstance(value, str):
            return value.split(",") if value else []
        return value if isinstance(value, list) else None

    def zones(self, subnets: Any) -> set[int] | None:
        """AZ indices of a list of subnet references; None when any is unknown."""
        subnets = self.items(subnets)
        if subnets is None:
            return None
        found = set()
        for subnet in subnets:
            if not isinstance(subnet, ResourceRef) or subnet.id not in self.resources:
                return None
            zone = self.prop(subnet.id, "AvailabilityZone")
            if not isinstance(zone, Zone):
                return None
            found.add(zone.index)
        return found


def references(value: Any) -> set[str]:
    """Every logical id `value` names through Ref, GetAtt or a Sub variable (unresolved)."""
    found: set[str] = set()
    if isinstance(value, list):
        for v in value:
            found |= references(v)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0])
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                found |= {m.split(".", 1)[0] for m in _SUB_VAR.findall(text)}
                if isinstance(arg, list) and len(arg) > 1:
                    found |= references(arg[1])
            else:
                found |= references(arg)
    return found


def dead_letter_queues(template: dict) -> set[str]:
    """Queues that receive what failed elsewhere: another queue's redrive target or a function's DLQ."""
    resolver = Resolver(template)
    found: set[str] = set()
    for rid, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        for value in ((props.get("RedrivePolicy") or {}).get("deadLetterTargetArn"),
                      (props.get("DeadLetterConfig") or {}).get("TargetArn"),
                      (((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"))):
            if value is not None:
                found.update(resolver.ids(resolver.value(value)))
    return found
