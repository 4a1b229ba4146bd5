"""`strata diff`, written for people (grouped per layer), for pull requests
(Markdown) and for tools (JSON). Values of secret-looking properties and
NoEcho parameters are masked by the diff itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from generator.deploy.diff import Diff, ResourceDiff

if TYPE_CHECKING:
    from generator.deploy.rollout import Unit

_VERDICT = {"True": "replaced", "Conditional": "may be replaced", "False": "updated in place"}
_STYLES = {"Add": "green", "Remove": "red", "True": "red", "Conditional": "yellow"}


def _plain(text: str, style: str) -> str:
    return text


def _summary(diff: Diff) -> str:
    layers = {r.stack for r in diff.resources}
    replaced = len(diff.replaced)
    return (f"{len(diff.resources)} resource change{'s' if len(diff.resources) != 1 else ''} in {len(layers)} "
            f"stack{'s' if len(layers) != 1 else ''}" + (f", {replaced} replaced or maybe replaced" if replaced else ""))


def _head(unit: Unit, diff: Diff) -> str:
    where = f"{unit.stack_name} ({unit.region})"
    return f"{where}: no changes" if not (diff.resources or diff.parameters) else f"{where}: {_summary(diff)}"


def _by_layer(diff: Diff) -> dict[str, list[ResourceDiff]]:
    grouped: dict[str, list[ResourceDiff]] = {}
    for resource in diff.resources:
        grouped.setdefault(resource.stack, []).append(resource)
    return grouped


def _what(resource: ResourceDiff) -> str:
    return resource.action if resource.action != "Modify" else f"Modify, {_VERDICT.get(resource.replacement, '?')}"


def table(diffs: list[tuple[Unit, Diff]], paint: Callable[[str, str], str] = _plain) -> str:
    lines: list[str] = []
    for unit, diff in diffs:
        lines.append(paint(_head(unit, diff), "bold"))
        if diff.parameters:
            lines.append("  parameters:")
            lines += [f"    {p.describe()}" for p in diff.parameters]
        for layer, resources in _by_layer(diff).items():
            lines.append(f"  {layer}:")
            for resource in resources:
                style = _STYLES.get(resource.replacement if resource.action == "Modify" else resource.action, "")
                text = f"    {resource.logical_id} ({resource.resource_type}): {_what(resource)}"
                lines.append(paint(text, style) if style else text)
                lines += [f"      {p.describe()}" for p in resource.properties]
    return "\n".join(lines)


def markdown(diffs: list[tuple[Unit, Diff]]) -> str:
    lines: list[str] = []
    for unit, diff in diffs:
        lines += [f"### {_head(unit, diff)}", ""]
        if diff.parameters:
            lines += ["**parameters**", "", *(f"- `{p.describe()}`" for p in diff.parameters), ""]
        for layer, resources in _by_layer(diff).items():
            lines += [f"**{layer}**", ""]
            for resource in resources:
                lines.append(f"- `{resource.logical_id}` ({resource.resource_type}): {_what(resource)}")
                lines += [f"  - `{p.describe()}`" for p in resource.properties]
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def as_json(environment: str, diffs: list[tuple[Unit, Diff]]) -> str:
    return json.dumps({"environment": environment, "stacks": [
        {"stack": unit.stack_name, "label": unit.label, "region": unit.region, **diff.to_dict()}
        for unit, diff in diffs]}, indent=2, sort_keys=True)
