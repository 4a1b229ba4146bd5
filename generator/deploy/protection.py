"""The deploy safety net around the change sets: the refusal to lose data,
termination protection, stack policies and rollback triggers, all from the
parameter file's `deploy` section.

A stack policy denying Update:Replace and Update:Delete on stateful
resources, and Update:Replace on the resources data stores depend on (each
stack's own list, from `generator.deploy.dependencies`), is set on every
stack (root and nested) when `deploy.protect_stateful` is on;
`--allow-replacement` lifts it for exactly the reviewed resources and the
deploy puts it back afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from generator.deploy.changes import STATEFUL_TYPES, Plan
from generator.deploy.errors import Refused
from generator.deploy.package import partition

if TYPE_CHECKING:
    from generator.build.deploy_section import DeployConfig
    from generator.deploy.stacks import Deployer

POLICY_SID = "StrataProtectStateful"
ALLOW_ALL_POLICY = {"Statement": [{"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}]}



def _listed(changes) -> str:
    return "\n".join(
        f"  {c.stack}/{c.logical_id} ({c.resource_type}): {c.action}"
        + (f", Replacement {c.replacement or 'not reported'}{' (predicted)' if c.predicted else ''}"
           if c.action == "Modify" else "")
        + (f" [{'; '.join(c.triggers)}]" if c.triggers else "")
        + (f" ({c.depended_on})" if c.depended_on and not c.stateful else "")
        for c in changes
    )


def refuse_data_loss(plan: Plan, allow_replacement: bool) -> None:
    """Refuse a plan that replaces or removes a stateful resource, or
    replaces a resource data stores depend on, unless allowed."""
    if allow_replacement or not (plan.loses_data or plan.affects_data):
        return
    parts = []
    if plan.loses_data:
        parts.append(f"it replaces or removes stateful resources:\n{_listed(plan.loses_data)}")
    if plan.affects_data:
        parts.append("it replaces resources that data stores depend on (a store cannot move to a new VPC, "
                     f"subnet or security group while it runs; the update would fail half way):\n"
                     f"{_listed(plan.affects_data)}")
    raise Refused(
        f"refusing to execute the change set for {plan.stack_name}: {chr(10).join(parts)}\n"
        "If that is intended (their DeletionPolicy/UpdateReplacePolicy decides what is kept), run again "
        "with --allow-replacement."
    )


def protect(deployer: Deployer, stack_name: str, config: DeployConfig,
            guarded: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """Bring termination protection and stack policies in line with the
    parameter file; `guarded` names, per stack label ("root", "Network"),
    the resources data stores depend on, whose replacement the policy also
    denies. Returns what was changed, for the user."""
    stack = deployer.stack(stack_name)
    if not stack or stack["StackStatus"] in ("REVIEW_IN_PROGRESS", "DELETE_COMPLETE", "ROLLBACK_COMPLETE"):
        return []
    changed = []
    if bool(stack.get("EnableTerminationProtection")) != config.termination_protection:
        deployer.cfn.update_termination_protection(StackName=stack["StackId"],
                                                   EnableTerminationProtection=config.termination_protection)
        changed.append(f"termination protection {'on' if config.termination_protection else 'off'}")
    targets = [("root", stack["StackId"]), *deployer.nested_stacks(stack["StackId"])]
    updated = []
    for label, physical in targets:
        current = _policy(deployer, physical)
        if config.protect_stateful:
            wanted = stack_policy(guarded=(guarded or {}).get(label, ()))
        elif current and POLICY_SID in json.dumps(current):
            wanted = ALLOW_ALL_POLICY
        else:
            continue
        if current != wanted:
            deployer.cfn.set_stack_policy(StackName=physical, StackPolicyBody=json.dumps(wanted, sort_keys=True))
            updated.append(label)
    if updated:
        what = "protecting stateful resources" if config.protect_stateful else "lifted"
        changed.append(f"stack policy {what} on {', '.join(updated)}")
    return changed

def _policy(deployer: Deployer, stack: str) -> dict | None:
    body = deployer.cfn.get_stack_policy(StackName=stack).get("StackPolicyBody")
    return json.loads(body) if body else None

def relax(deployer: Deployer, plan: Plan, guarded: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """Under --allow-replacement: exempt exactly the reviewed replacements
    (stateful resources and what data stores depend on) from Strata's stack
    policy, stack by stack."""
    relaxed = []
    by_stack: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for change in [*plan.loses_data, *plan.affects_data]:
        if change.stack_id:
            by_stack.setdefault(change.stack_id, []).append(change.logical_id)
            labels[change.stack_id] = "root" if change.stack == plan.label else change.stack
    for stack_id, logical_ids in sorted(by_stack.items()):
        current = _policy(deployer, stack_id)
        if current and POLICY_SID in json.dumps(current):
            policy = stack_policy(logical_ids, guarded=(guarded or {}).get(labels[stack_id], ()))
            deployer.cfn.set_stack_policy(StackName=stack_id, StackPolicyBody=json.dumps(policy, sort_keys=True))
            relaxed.append(f"stack policy lifted for {', '.join(sorted(logical_ids))} until the deploy ends")
    return relaxed


def stack_policy(exempt: Iterable[str] = (), guarded: Iterable[str] = ()) -> dict:
    """Allow every update except replacing or deleting a stateful resource,
    and replacing a `guarded` one (a resource data stores depend on);
    the `exempt` logical ids are let through."""
    exempt = sorted(set(exempt))
    deny: dict[str, Any] = {
        "Sid": POLICY_SID, "Effect": "Deny", "Principal": "*", "Action": ["Update:Replace", "Update:Delete"],
        "Condition": {"StringEquals": {"ResourceType": sorted(STATEFUL_TYPES)}},
    }
    if exempt:
        deny["NotResource"] = [f"LogicalResourceId/{logical_id}" for logical_id in exempt]
    else:
        deny["Resource"] = "*"
    statements = [*ALLOW_ALL_POLICY["Statement"], deny]
    guarded = sorted(set(guarded) - set(exempt))
    if guarded:
        statements.append({"Sid": f"{POLICY_SID}Dependencies", "Effect": "Deny", "Principal": "*",
                           "Action": "Update:Replace",
                           "Resource": [f"LogicalResourceId/{logical_id}" for logical_id in guarded]})
    return {"Statement": statements}


def existing_alarms(cloudwatch: Any, names: list[str]) -> set[str]:
    """Which of the alarm `names` (metric or composite) exist now."""
    found = cloudwatch.describe_alarms(AlarmNames=list(names), AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    return {a["AlarmName"] for kind in ("MetricAlarms", "CompositeAlarms") for a in found.get(kind, [])}


def rollback_configuration(config: DeployConfig, account_id: str, region: str,
                           names: Iterable[str] | None = None) -> dict | None:
    """CloudFormation rollback triggers for `deploy.rollback_alarms` (or the
    subset `names`), ARNs built from the caller's account (the parameter file
    names alarms, never accounts). None when there is no alarm to watch."""
    wanted = [n for n in config.rollback_alarms if names is None or n in set(names)]
    if not wanted:
        return None
    return {
        "RollbackTriggers": [
            {"Arn": f"arn:{partition(region)}:cloudwatch:{region}:{account_id}:alarm:{name}",
             "Type": "AWS::CloudWatch::Alarm"}
            for name in wanted
        ],
        "MonitoringTimeInMinutes": config.rollback_monitoring_minutes,
    }

