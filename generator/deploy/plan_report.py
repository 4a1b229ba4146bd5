"""The plan, written for people: a terminal table, Markdown for a pull
request comment, or JSON for tools. All three list every change, then the
two things a reviewer looks for first in sections of their own: stateful
resources replaced or removed, and security-sensitive changes."""

from __future__ import annotations

import json

from generator.deploy.changes import Plan, ResourceChange

COLUMNS = ("stack", "action", "logical id", "type", "replacement", "triggered by")
UNREPORTED = "?"
FOOTNOTE = (f"{UNREPORTED} = the endpoint did not say whether the resource is replaced "
            "(moto never does; AWS always does), so Strata assumes it may be")
DATA_LOSS = "Stateful resources replaced or removed (refused without --allow-replacement)"
SECURITY = "Security-sensitive changes"


def _replacement(change: ResourceChange) -> str:
    if change.replacement:
        return change.replacement
    return UNREPORTED if change.action == "Modify" else "-"


def _row(change: ResourceChange) -> tuple[str, ...]:
    return (change.stack, change.action, change.logical_id, change.resource_type, _replacement(change),
            "; ".join(change.triggers))


def _headline(plan: Plan) -> str:
    where = f"{plan.stack_name} ({plan.region})"
    if plan.deferred:
        return f"{where}: not planned yet: {plan.deferred}"
    if plan.no_changes:
        return f"{where}: no changes"
    kind = "new stack" if plan.change_set_type == "CREATE" else "update"
    return f"{where}: {len(plan.changes)} change{'s' if len(plan.changes) != 1 else ''} ({kind})"


def _why_lost(change: ResourceChange) -> str:
    if change.action == "Modify":
        return f"Modify, Replacement {_replacement(change)}" + (f": {'; '.join(change.triggers)}" if change.triggers else "")
    return change.action + (f": {'; '.join(change.triggers)}" if change.triggers else "")


def table(plans: list[Plan]) -> str:
    """Fixed-width text for a terminal."""
    lines: list[str] = []
    for plan in plans:
        lines.append(_headline(plan))
        if not plan.changes:
            continue
        if plan.parameters:
            lines.append("  parameters: " + ", ".join(f"{k}={v}" for k, v in plan.parameters.items()))
        rows = [COLUMNS, *(_row(c) for c in plan.changes)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
        for row in rows:
            lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
        if plan.loses_data:
            lines.append(f"  {DATA_LOSS}:")
            lines += [f"    {c.stack}/{c.logical_id} ({c.resource_type}): {_why_lost(c)}" for c in plan.loses_data]
        if plan.security:
            lines.append(f"  {SECURITY}:")
            lines += [f"    {c.stack}/{c.logical_id} ({c.resource_type}): {c.action}, {c.security}" for c in plan.security]
        if any(_replacement(c) == UNREPORTED for c in plan.changes):
            lines.append(f"  {FOOTNOTE}")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def markdown(plans: list[Plan]) -> str:
    """GitHub-flavoured Markdown for a pull request comment."""
    lines: list[str] = []
    for plan in plans:
        lines.append(f"### {_headline(plan)}")
        if not plan.changes:
            lines.append("")
            continue
        if plan.loses_data:
            lines += ["", f"**{DATA_LOSS}**", ""]
            lines += [f"- `{c.stack}/{c.logical_id}` ({c.resource_type}): {_why_lost(c)}" for c in plan.loses_data]
        if plan.security:
            lines += ["", f"**{SECURITY}**", ""]
            lines += [f"- `{c.stack}/{c.logical_id}` ({c.resource_type}): {c.action}, {c.security}" for c in plan.security]
        lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_cell(cell) for cell in _row(c)) + " |" for c in plan.changes]
        if any(_replacement(c) == UNREPORTED for c in plan.changes):
            lines += ["", f"_{FOOTNOTE}_"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def as_json(environment: str, plans: list[Plan]) -> str:
    return json.dumps({"environment": environment, "stacks": [p.to_dict() for p in plans]}, indent=2, sort_keys=True)
