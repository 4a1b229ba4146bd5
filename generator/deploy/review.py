"""A change set, reviewed with what Strata knows from the templates.

CloudFormation's change set says what changes; Strata's own diff of the
deployed and the new templates (`generator.deploy.diff`) says how, property
by property, and what data stores depend on (`generator.deploy.dependencies`).
`review` puts the two together on the plan:
- each change gets its property-level lines;
- a Modify whose replacement the endpoint did not report (moto never does)
  gets Strata's prediction, marked as such;
- a nested stack the endpoint gave no nested change set for (moto again)
  gets its resources' changes from the diff, so the local plan lists what
  AWS would;
- a resource data stores depend on is marked, so its replacement is refused
  like the store's own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from generator.deploy import dependencies
from generator.deploy.changes import Plan, ResourceChange
from generator.deploy.diff import Diff, ResourceDiff, diff
from generator.deploy.errors import Refused
from generator.deploy.references import ROOT, STACK_TYPE, Stacks, child_label

if TYPE_CHECKING:
    from generator.deploy.stacks import Deployer


@dataclass(frozen=True)
class Baseline:
    """What a stack is now: its templates by label and its root parameters."""

    templates: dict[str, dict]
    parameters: dict[str, str]


def deployed(deployer: Deployer, stack: dict | None) -> Baseline:
    """The deployed templates (GetTemplate of the stack and every nested
    stack) and parameter values of `stack` (as DescribeStacks gave it; None
    or a stack under review: nothing deployed)."""
    if not stack or stack["StackStatus"] == "REVIEW_IN_PROGRESS":
        return Baseline({}, {})
    values = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", []) or []}
    return Baseline(deployer.templates(stack["StackId"]), values)


def stack_diff(before: Baseline, templates: dict[str, dict], values: dict[str, str], keep: list[str],
               region: str) -> Diff:
    """The diff from `before` to the new `templates`, with the root parameter
    values the change set sends (`keep`: left as they are)."""
    after = {**{k: before.parameters[k] for k in keep if k in before.parameters}, **values}
    root = templates.get(ROOT, {})
    no_echo = frozenset(k for k, d in (root.get("Parameters") or {}).items()
                        if str(d.get("NoEcho", "")).lower() == "true")
    return diff(Stacks(before.templates), Stacks(templates), region=region, parameters_before=before.parameters,
                parameters_after=after, no_echo=no_echo)


def _label(plan: Plan, stack: str) -> str:
    """The diff's label of a plan row's stack: a companion's rows carry the
    companion's label ("certificate (us-east-1)"), the diff calls it root."""
    return ROOT if stack == plan.label else stack


def _row(found: ResourceDiff) -> ResourceChange:
    return ResourceChange(found.stack, found.action, found.logical_id, found.resource_type, found.replacement,
                          properties=found.properties, predicted=True)


def review(plan: Plan, found: Diff, depended: dict[tuple[str, str], tuple[str, ...]], fill_in: bool = False) -> Plan:
    """`plan` with the diff's property lines and predictions, the nested
    changes the endpoint left out, and what data stores depend on. With
    `fill_in` (an endpoint whose change sets are known to be incomplete:
    moto lists a nested stack only when its own template text changed), the
    diff's changes the change set does not list are added too."""
    reported = {change.stack for change in plan.changes}
    listed: set[tuple[str, str]] = set()
    rows: list[ResourceChange] = []

    def add(change: ResourceChange, match: ResourceDiff | None) -> None:
        label = _label(plan, change.stack)
        listed.add((label, change.logical_id))
        rows.append(_annotated(change, match, depended.get((label, change.logical_id))))
        child = child_label(label, change.logical_id)
        if change.resource_type == STACK_TYPE and change.action != "Remove" and child not in reported:
            for inner in found.resources:
                if (inner.stack == child or inner.stack.startswith(f"{child}/")) \
                        and (inner.stack, inner.logical_id) not in listed:
                    listed.add((inner.stack, inner.logical_id))
                    rows.append(_annotated(_row(inner), inner, depended.get((inner.stack, inner.logical_id))))

    for change in plan.changes:
        add(change, found.find(_label(plan, change.stack), change.logical_id))
    if fill_in:
        for missing in found.resources:
            if (missing.stack, missing.logical_id) not in listed:
                add(_row(missing), missing)
    plan.changes = rows
    return plan


def _annotated(change: ResourceChange, match: ResourceDiff | None, stores: tuple[str, ...] | None) -> ResourceChange:
    updates: dict = {}
    if match is not None:
        updates["properties"] = match.properties
        if change.action == "Modify" and not change.replacement and match.replacement:
            updates.update(replacement=match.replacement, predicted=True)
    if stores:
        updates["depended_on"] = dependencies.reason(stores)
    return replace(change, **updates) if updates else change


def refuse_unemulated_replacements(plan: Plan) -> None:
    """moto cannot replace a resource: it updates it in place where it can
    and otherwise keeps the old one, so a local deploy that replaces
    something would report success on a stack that is not what AWS would
    build. Refuse it, whatever --allow-replacement says."""
    replaced = [c for c in plan.changes if c.action == "Modify" and c.replacement == "True"
                and c.resource_type != STACK_TYPE]
    if not replaced:
        return
    rows = "\n".join(f"  {c.stack}/{c.logical_id} ({c.resource_type})" for c in replaced)
    raise Refused(
        f"refusing to execute the change set for {plan.stack_name} on the local endpoint: it replaces "
        f"{len(replaced)} resource(s), and moto cannot replace a resource (it would keep the old one, break "
        f"what reads it and still report success):\n{rows}\nTo try this change locally, destroy the "
        "environment on the local endpoint and deploy it again; on AWS, CloudFormation replaces them."
    )
