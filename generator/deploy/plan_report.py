"""The plan, written for people: a terminal table, Markdown for a pull
request comment, or JSON for tools. All three list every change with its
property-level lines, then the things a reviewer looks for first in
sections of their own: stateful resources replaced or removed, resources
data stores depend on replaced, and security-sensitive changes.

Other reports can add sections of their own (`Section`: a title, lines for
the table and Markdown, data for the JSON), e.g. a cost estimate; they come
after Strata's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from generator.deploy.changes import Plan, ResourceChange

COLUMNS = ("stack", "action", "logical id", "type", "replacement", "triggered by")
UNREPORTED = "?"
PREDICTED = "*"
FOOTNOTE = (f"{UNREPORTED} = the endpoint did not say whether the resource is replaced "
            "(moto never does; AWS always does), so Strata assumes it may be")
PREDICTED_NOTE = (f"{PREDICTED} = predicted by Strata from the templates and CloudFormation's replacement rules "
                  "(the endpoint did not say)")
DATA_LOSS = "Stateful resources replaced or removed (refused without --allow-replacement)"
DATA_AFFECTING = "Resources data stores depend on, replaced (refused without --allow-replacement)"
SECURITY = "Security-sensitive changes"
ACTION_STYLES = {"Add": "green", "Modify": "yellow", "Remove": "red"}

Paint = Callable[[str, str], str]


def _plain(text: str, style: str) -> str:
    return text


@dataclass(frozen=True)
class Section:
    """An extra section of a plan report (after Strata's own)."""

    title: str
    lines: tuple[str, ...] = ()
    data: Any = field(default=None)


def _replacement(change: ResourceChange) -> str:
    if change.replacement:
        return change.replacement + (PREDICTED if change.predicted else "")
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


def _why(change: ResourceChange) -> str:
    triggers = f": {'; '.join(change.triggers)}" if change.triggers else ""
    if change.action == "Modify":
        text = f"Modify, Replacement {_replacement(change)}{triggers}"
    else:
        text = change.action + triggers
    return text + (f" ({change.depended_on})" if change.depended_on and not change.stateful else "")


def _review_sections(plan: Plan) -> list[tuple[str, list[str]]]:
    """(title, one line per change) of each review section the plan has."""
    sections = []
    if plan.loses_data:
        sections.append((DATA_LOSS, [f"{c.stack}/{c.logical_id} ({c.resource_type}): {_why(c)}" for c in plan.loses_data]))
    if plan.affects_data:
        sections.append((DATA_AFFECTING,
                         [f"{c.stack}/{c.logical_id} ({c.resource_type}): {_why(c)}" for c in plan.affects_data]))
    if plan.security:
        sections.append((SECURITY, [f"{c.stack}/{c.logical_id} ({c.resource_type}): {c.action}, {c.security}"
                                    for c in plan.security]))
    return sections


def _notes(plan: Plan) -> list[str]:
    notes = []
    if any(_replacement(c) == UNREPORTED for c in plan.changes):
        notes.append(FOOTNOTE)
    if any(c.predicted and c.replacement for c in plan.changes):
        notes.append(PREDICTED_NOTE)
    return notes


def table(plans: list[Plan], extra: Sequence[Section] = (), paint: Paint = _plain) -> str:
    """Fixed-width text for a terminal (`paint(text, style)` colours it)."""
    lines: list[str] = []
    for plan in plans:
        lines.append(paint(_headline(plan), "bold"))
        if not plan.changes:
            continue
        if plan.parameters:
            lines.append("  parameters: " + ", ".join(f"{k}={v}" for k, v in plan.parameters.items()))
        rows = [COLUMNS, *(_row(c) for c in plan.changes)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
        lines.append("  " + "  ".join(cell.ljust(w) for cell, w in zip(COLUMNS, widths)) + "  " + COLUMNS[-1])
        for change, row in zip(plan.changes, rows[1:]):
            text = "  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]
            lines.append(paint(text.rstrip(), ACTION_STYLES.get(change.action, "")))
            lines += [f"      {p.describe()}" for p in change.properties]
        for title, section in _review_sections(plan):
            lines.append(paint(f"  {title}:", "red" if title != SECURITY else "yellow"))
            lines += [f"    {line}" for line in section]
        lines += [f"  {note}" for note in _notes(plan)]
    for section in extra:
        lines.append(paint(f"{section.title}:", "bold"))
        lines += [f"  {line}" for line in section.lines]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


def markdown(plans: list[Plan], extra: Sequence[Section] = ()) -> str:
    """GitHub-flavoured Markdown for a pull request comment."""
    lines: list[str] = []
    for plan in plans:
        lines.append(f"### {_headline(plan)}")
        if not plan.changes:
            lines.append("")
            continue
        for title, section in _review_sections(plan):
            lines += ["", f"**{title}**", ""]
            lines += [f"- `{line.split(' ', 1)[0]}` {line.split(' ', 1)[1]}" for line in section]
        lines += ["", "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(_cell(cell) for cell in _row(c)) + " |" for c in plan.changes]
        detailed = [c for c in plan.changes if c.properties]
        if detailed:
            lines += ["", "<details><summary>Property changes</summary>", ""]
            for change in detailed:
                lines.append(f"- `{change.stack}/{change.logical_id}`")
                lines += [f"  - `{p.describe()}`" for p in change.properties]
            lines += ["", "</details>"]
        lines += [item for note in _notes(plan) for item in ("", f"_{note}_")]
        lines.append("")
    for section in extra:
        lines += [f"### {section.title}", "", *(f"- {line}" for line in section.lines), ""]
    return "\n".join(lines).rstrip() + "\n"


def as_json(environment: str, plans: list[Plan], extra: Sequence[Section] = ()) -> str:
    document: dict[str, Any] = {"environment": environment, "stacks": [p.to_dict() for p in plans]}
    for section in extra:
        document[section.title.lower().replace(" ", "_")] = section.data if section.data is not None \
            else list(section.lines)
    return json.dumps(document, indent=2, sort_keys=True)
