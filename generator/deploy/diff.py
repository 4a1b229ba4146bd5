"""A property-level diff of an environment's templates, with the
replacements CloudFormation will make predicted before any change set exists.

Compared stack by stack (the root and every nested stack, by label), each
resource property by property. A property changes in one of two ways:
- its text changes (`CidrBlock: 10.10.0.0/16 -> 10.20.0.0/16`);
- its text is the same but what it reads changes: `VpcId: !Ref Vpc` when
  the VPC is replaced, or a nested stack's `Parameters.VpcId` when the
  network layer's `VpcId` output reads a replaced VPC.
Whether a change replaces the resource comes from CloudFormation's own
rules (`generator.deploy.replacement`); a replacement changes the
resource's id and attributes, which can replace what reads them, in this
stack or, through the root's wiring, in another. The walk repeats until
nothing new changes.

What it does not predict: attributes of a resource updated in place (an
update rarely changes an id or ARN, and CloudFormation itself only says
"may change" there), values resolved at deploy time (SSM parameters,
Fn::ImportValue), and the effect of Conditions: every branch of an `Fn::If`
counts. Values of properties whose name says secret are masked.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from generator.deploy import replacement
from generator.deploy.changes import PropertyChange, masked
from generator.deploy.references import ROOT, STACK_TYPE, Node, Stacks, child_label

CERTAIN, MAYBE = "certain", "maybe"
ATTRIBUTES = ("DeletionPolicy", "UpdateReplacePolicy", "UpdatePolicy", "CreationPolicy", "DependsOn",
              "Condition", "Metadata")
_REPLACEMENT = {replacement.ALWAYS: "True", replacement.CONDITIONALLY: "Conditional", replacement.NEVER: "False"}
_MAX_DEPTH = 4
_HASH = re.compile(r"-([0-9a-f]{12})[0-9a-f]{52}")
_SHORT = r"-\1..."
_WIDTH = 60


@dataclass(frozen=True)
class ResourceDiff:
    stack: str                  # stack label: "root", "Network"
    logical_id: str
    resource_type: str
    action: str                 # Add, Modify, Remove
    replacement: str = ""       # True, Conditional, False ("" for Add and Remove)
    properties: tuple[PropertyChange, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "properties": [p.to_dict() for p in self.properties]}


@dataclass
class Diff:
    resources: list[ResourceDiff] = field(default_factory=list)
    parameters: list[PropertyChange] = field(default_factory=list)

    def find(self, stack: str, logical_id: str) -> ResourceDiff | None:
        return next((r for r in self.resources if (r.stack, r.logical_id) == (stack, logical_id)), None)

    def in_stack(self, stack: str) -> list[ResourceDiff]:
        return [r for r in self.resources if r.stack == stack]

    @property
    def replaced(self) -> list[ResourceDiff]:
        return [r for r in self.resources if r.replacement in ("True", "Conditional")]

    def to_dict(self) -> dict:
        return {"parameters": [p.to_dict() for p in self.parameters],
                "resources": [r.to_dict() for r in self.resources]}


def show(value: Any) -> str:
    """A template value, short: strings quoted, intrinsics as !Ref X / !GetAtt X.Y."""
    if value is None:
        return "(none)"
    if isinstance(value, dict) and len(value) == 1:
        (key, argument), = value.items()
        if key == "Ref" and isinstance(argument, str):
            return f"!Ref {argument}"
        if key == "Fn::GetAtt" and isinstance(argument, list) and all(isinstance(a, str) for a in argument):
            return f"!GetAtt {'.'.join(argument)}"
        if key == "Fn::Join" and isinstance(argument, list) and len(argument) == 2 and argument[1] \
                and isinstance(argument[1][-1], str) and argument[1][-1].endswith(".json"):
            # a nested stack's TemplateURL: its file, the content hash cut short
            return f"!Join [..., {json.dumps(_HASH.sub(_SHORT, argument[1][-1]))}]"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= _WIDTH else text[:_WIDTH - 3] + "..."


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


class _Walk:
    """One diff: the changed nodes so far, and how to compare resources with them."""

    def __init__(self, before: Stacks, after: Stacks, region: str):
        self.before, self.after, self.region = before, after, region
        self.changed: dict[Node, tuple[str, frozenset[str]]] = {}   # node -> (level, root causes)

    def mark(self, node: Node, level: str, causes: frozenset[str]) -> bool:
        old = self.changed.get(node)
        new_level = CERTAIN if CERTAIN in (level, old[0] if old else MAYBE) else MAYBE
        merged = (new_level, (old[1] if old else frozenset()) | causes)
        if merged != old:
            self.changed[node] = merged
            return True
        return False

    def reads_changed(self, label: str, value: Any) -> tuple[str, frozenset[str]] | None:
        hits = [self.changed[node] for node in self.after.reads(label, value) if node in self.changed]
        if not hits:
            return None
        level = CERTAIN if any(level == CERTAIN for level, _ in hits) else MAYBE
        return level, frozenset().union(*(causes for _, causes in hits))

    def differs(self, label: str):
        return lambda old, new: old != new or self.reads_changed(label, new) is not None

    def leaves(self, label: str, old: Any, new: Any, path: tuple[str, ...]):
        """(path, old, new, causes or None for a text change) for each changed leaf."""
        if old == new:
            found = self.reads_changed(label, new)
            if found is None:
                return
            if isinstance(new, dict) and not _is_intrinsic(new) and len(path) < _MAX_DEPTH:
                for key in sorted(new):
                    yield from self.leaves(label, old[key], new[key], (*path, key))
                return
            yield path, old, new, found
            return
        if isinstance(old, dict) and isinstance(new, dict) and not _is_intrinsic(old) and not _is_intrinsic(new) \
                and len(path) < _MAX_DEPTH:
            for key in sorted(set(old) | set(new)):
                yield from self.leaves(label, old.get(key), new.get(key), (*path, key))
            return
        yield path, old, new, None

    def compare(self, label: str, logical_id: str) -> ResourceDiff | None:
        old = self.before.resources(label).get(logical_id)
        new = self.after.resources(label).get(logical_id)
        if new is None:
            return ResourceDiff(label, logical_id, old.get("Type", ""), "Remove") if old else None
        if old is None:
            return ResourceDiff(label, logical_id, new.get("Type", ""), "Add")
        return self._modified(label, logical_id, old, new)

    def _modified(self, label: str, logical_id: str, old: dict, new: dict) -> ResourceDiff | None:
        kind = new.get("Type", "")
        if old.get("Type") != kind:
            change = PropertyChange("Type", old.get("Type", ""), kind, replacement.ALWAYS)
            return ResourceDiff(label, logical_id, kind, "Modify", "True", (change,))
        rules = replacement.rules(kind, self.region)
        changes = []
        for path, before, after, found in self.leaves(label, old.get("Properties", {}), new.get("Properties", {}), ()):
            recreation = replacement.recreation(rules, path, before, after, self.differs(label))
            certain = not found or found[0] == CERTAIN
            if not certain and recreation == replacement.ALWAYS:
                recreation = replacement.CONDITIONALLY
            changes.append(PropertyChange(".".join(path), _shown(path, before), _shown(path, after), recreation,
                                          tuple(sorted(found[1])) if found else (), certain))
        for attribute in ATTRIBUTES:
            if old.get(attribute) != new.get(attribute):
                changes.append(PropertyChange(attribute, show(old.get(attribute)), show(new.get(attribute))))
        if not changes:
            return None
        worst = max((c.recreation for c in changes),
                    key=(replacement.NEVER, replacement.CONDITIONALLY, replacement.ALWAYS).index)
        return ResourceDiff(label, logical_id, kind, "Modify", _REPLACEMENT[worst], tuple(changes))

    def sweep(self) -> bool:
        """Compare everything once with what is known to change; True when more changed."""
        grew = False
        for label in sorted(self.after.templates, key=lambda l: (l != ROOT, l)):
            for logical_id in sorted(self.after.resources(label)):
                diff = self.compare(label, logical_id)
                if diff is None:
                    continue
                node, where = (label, "resource", logical_id), _where(label, logical_id)
                if diff.replacement == "True":
                    grew |= self.mark(node, CERTAIN, frozenset({f"{where} is replaced"}))
                elif diff.replacement == "Conditional":
                    grew |= self.mark(node, MAYBE, frozenset({f"{where} may be replaced"}))
                if diff.resource_type == STACK_TYPE:
                    grew |= self._nested_parameters(label, logical_id, diff)
            grew |= self._outputs(label)
        return grew

    def _nested_parameters(self, label: str, logical_id: str, diff: ResourceDiff) -> bool:
        grew = False
        for change in diff.properties:
            if change.path.startswith("Parameters."):
                name = change.path.split(".")[1]
                causes = change.causes or (f"{_where(label, logical_id)} is passed a new {name}",)
                grew |= self.mark((child_label(label, logical_id), "parameter", name),
                                  CERTAIN if change.certain else MAYBE, frozenset(causes))
        return grew

    def _outputs(self, label: str) -> bool:
        grew = False
        old_outputs = self.before.template(label).get("Outputs") or {}
        for name, output in (self.after.template(label).get("Outputs") or {}).items():
            value = output.get("Value")
            found = self.reads_changed(label, value)
            if found is None and old_outputs.get(name, {}).get("Value") != value:
                found = (CERTAIN, frozenset({f"output {name} of {label} changes"}))
            if found:
                grew |= self.mark((label, "output", name), *found)
        return grew


def _where(label: str, logical_id: str) -> str:
    return f"{label}/{logical_id}"


def _shown(path: tuple[str, ...], value: Any) -> str:
    return masked(".".join(path), show(value)) if value is not None else "(none)"


def diff(before: Stacks, after: Stacks, *, region: str, parameters_before: dict[str, str] | None = None,
         parameters_after: dict[str, str] | None = None, no_echo: frozenset[str] = frozenset()) -> Diff:
    """Everything that changes from `before` (what is deployed; empty
    templates when nothing is) to `after` (the new build), with root
    parameter values before and after (a parameter left out of `after` keeps
    its value)."""
    walk = _Walk(before, after, region)
    result = Diff()
    old, new = parameters_before or {}, parameters_after or {}
    for name in sorted(set(old) | set(new)):
        if name in new and old.get(name) != new[name]:
            hidden = name in no_echo
            shown_before = "****" if hidden and name in old else masked(name, json.dumps(old[name])) if name in old \
                else "(none)"
            shown_after = "****" if hidden else masked(name, json.dumps(new[name]))
            result.parameters.append(PropertyChange(name, shown_before, shown_after))
            walk.mark((ROOT, "parameter", name), CERTAIN, frozenset({f"parameter {name} changes"}))
    for _ in range(100):
        if not walk.sweep():
            break
    for label in sorted(set(before.templates) | set(after.templates), key=lambda l: (l != ROOT, l)):
        for logical_id in sorted(set(before.resources(label)) | set(after.resources(label))):
            found = walk.compare(label, logical_id)
            if found:
                result.resources.append(found)
    return result
