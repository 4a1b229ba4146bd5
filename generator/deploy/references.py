"""What reads what, across an environment's templates: the root, the
layers it nests and the root's by-name wiring between them.

A template value reads other things through `Ref`, `Fn::GetAtt` and
`Fn::Sub`. Read inside one stack, such a reference names a parameter or a
resource of that stack. The root's wiring crosses stacks: the root feeds a
nested stack's parameter `VpcId` with `Fn::GetAtt [Network, Outputs.VpcId]`,
and that output's value reads the network layer's `Vpc`. `Stacks` follows
both, so the diff can tell that replacing the VPC changes every security
group's `VpcId` in another layer, and the safety net can tell which
resources a database depends on.

A node is `(stack label, kind, name)`: the label is "root" or a nested
stack's path from the root ("Network"), kind is "resource", "parameter" or
"output".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

STACK_TYPE = "AWS::CloudFormation::Stack"
ROOT = "root"

Node = tuple[str, str, str]

_SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")


def child_label(label: str, logical_id: str) -> str:
    return logical_id if label == ROOT else f"{label}/{logical_id}"


def references(value: Any) -> set[tuple[str, str]]:
    """The (name, attribute) pairs `value` reads: `Ref X` gives (X, ""),
    `Fn::GetAtt [X, a]` gives (X, "a"), `Fn::Sub "${X.a}"` gives (X, "a").
    Pseudo parameters (AWS::Region...) are left out: they never change
    under a stack."""
    found: set[tuple[str, str]] = set()
    _collect(value, found)
    return {(name, attr) for name, attr in found if not name.startswith("AWS::")}


def _collect(value: Any, found: set[tuple[str, str]]) -> None:
    if isinstance(value, list):
        for item in value:
            _collect(item, found)
        return
    if not isinstance(value, dict):
        return
    if len(value) == 1:
        (key, argument), = value.items()
        if key == "Ref" and isinstance(argument, str):
            found.add((argument, ""))
            return
        if key == "Fn::GetAtt":
            name, _, attr = argument.partition(".") if isinstance(argument, str) else (argument[0], "", argument[1])
            if isinstance(name, str):
                found.add((name, attr if isinstance(attr, str) else ""))
            if isinstance(argument, list) and not isinstance(argument[1], str):
                _collect(argument[1], found)
            return
        if key == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
            for variable in _SUB_VARIABLE.findall(text if isinstance(text, str) else ""):
                name, _, attr = variable.strip().partition(".")
                if name not in variables:
                    found.add((name, attr))
            _collect(list(variables.values()) if isinstance(variables, dict) else variables, found)
            return
    for item in value.values():
        _collect(item, found)


@dataclass(frozen=True)
class Stacks:
    """An environment's templates by stack label: "root" and the nested
    stacks (each nested template under the label of the root's resource
    that nests it)."""

    templates: Mapping[str, dict]

    def template(self, label: str) -> dict:
        return self.templates.get(label, {})

    def resources(self, label: str) -> dict[str, dict]:
        return self.template(label).get("Resources", {}) or {}

    def parent(self, label: str) -> tuple[str, str] | None:
        """(parent label, logical id of the nesting resource), None for the root."""
        if label == ROOT:
            return None
        parent, _, logical_id = label.rpartition("/")
        return (parent or ROOT), logical_id

    def resolve(self, label: str, name: str, attr: str) -> Node | None:
        """The node a reference read in stack `label` points at."""
        template = self.template(label)
        if name in (template.get("Parameters") or {}):
            return (label, "parameter", name)
        resource = self.resources(label).get(name)
        if resource is None:
            return None
        if resource.get("Type") == STACK_TYPE and attr.startswith("Outputs."):
            return (child_label(label, name), "output", attr.removeprefix("Outputs."))
        return (label, "resource", name)

    def reads(self, label: str, value: Any) -> set[Node]:
        """The nodes `value`, written in stack `label`, reads."""
        nodes = {self.resolve(label, name, attr) for name, attr in references(value)}
        return {node for node in nodes if node}

    def feeds(self, node: Node) -> Any:
        """The template value that gives `node` its value: a resource's
        Properties, an output's Value, or, for a nested stack's parameter,
        what the parent passes it (None for a root parameter)."""
        label, kind, name = node
        if kind == "resource":
            return self.resources(label).get(name, {}).get("Properties", {})
        if kind == "output":
            return (self.template(label).get("Outputs") or {}).get(name, {}).get("Value")
        parent = self.parent(label)
        if parent is None:
            return None
        nesting = self.resources(parent[0]).get(parent[1], {})
        return nesting.get("Properties", {}).get("Parameters", {}).get(name)

    def edges(self, node: Node) -> set[Node]:
        """The nodes `node`'s value is read from."""
        label, kind, _ = node
        where = self.parent(label)[0] if kind == "parameter" and label != ROOT else label
        return self.reads(where, self.feeds(node))

    def all_resources(self) -> Iterator[tuple[str, str, dict]]:
        for label in sorted(self.templates):
            for logical_id, resource in sorted(self.resources(label).items()):
                yield label, logical_id, resource
