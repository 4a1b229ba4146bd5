"""One region's CloudFormation, through change sets, so nobody deploys blind.

`Deployer` wraps one CloudFormation client:
1. plan: a change set with `IncludeNestedStacks`, waited for, then walked:
   every nested change set is described too, so the plan lists the real
   resources inside the layers, not just "Modify Network". A nested stack
   that is removed has no nested change set; its resources are listed from
   the live stack instead, so a disabled layer still shows the database it
   takes with it. An empty change set is "no changes", and is deleted;
   CloudFormation says so in several ways, all handled in `Deployer.plan`:
   an error from CreateChangeSet, a FAILED change set with either of two
   reasons, an empty list, or nested stacks marked "Modify (Automatic)"
   whose own change sets are empty.
2. review: `generator.deploy.changes` classifies each change;
   `generator.deploy.protection` refuses data loss unless allowed.
3. execute, then follow the events (`generator.deploy.events`).

A first deploy that fails deletes its stack (OnStackFailure=DELETE), so the
next attempt starts clean; its events stay readable by stack id and the
root cause is printed before that.

It talks to AWS only through the client it is given; the endpoint may be
AWS, LocalStack or `strata local`, and nothing here knows which.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from generator import __version__
from generator.deploy import events
from generator.deploy.changes import Plan, ResourceChange, automatic_only, masked, triggers
from generator.deploy.errors import DeployError, DeployFailed, Interrupted, error_message, explain, not_found
from generator.deploy.package import STACK_TYPE
from generator.deploy.protection import refuse_data_loss

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
_NO_CHANGES = re.compile(r"didn't contain changes|No updates are to be performed", re.I)


@dataclass
class StackReport:
    label: str
    stack_name: str
    region: str
    status: str = "NOT_DEPLOYED"
    reason: str = ""
    updated: str = ""
    termination_protection: bool = False
    outputs: list[tuple[str, str, str]] = field(default_factory=list)
    nested: list[tuple[str, str]] = field(default_factory=list)  # (label, status)

    def to_dict(self) -> dict:
        return {
            "label": self.label, "stack": self.stack_name, "region": self.region, "status": self.status,
            "reason": self.reason or None, "updated": self.updated or None,
            "termination_protection": self.termination_protection,
            "outputs": {k: v for k, v, _ in self.outputs}, "nested": dict(self.nested),
        }



class Deployer:
    """Change sets, events and safety settings against one CloudFormation
    client. `poll` and `timeout` are seconds; tests use a poll of 0."""

    def __init__(self, cfn: Any, *, region: str = "", poll: float = 2.0, timeout: float = 3 * 3600,
                 echo: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep):
        self.cfn = cfn
        self.region = region or cfn.meta.region_name
        self.poll = poll
        self.timeout = timeout
        self.echo = echo
        self.sleep = sleep

    # stacks

    def stack(self, name_or_id: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.cfn.describe_stacks(StackName=name_or_id)["Stacks"][0]
        except ClientError as exc:
            if not_found(exc):
                return None
            raise

    def resources(self, stack: str) -> list[dict]:
        found, token = [], None
        while True:
            page = self.cfn.list_stack_resources(StackName=stack, **({"NextToken": token} if token else {}))
            found += page.get("StackResourceSummaries", [])
            token = page.get("NextToken")
            if not token:
                return found

    def nested_stacks(self, stack: str, label: str = "root") -> Iterator[tuple[str, str]]:
        """(label, physical id) of every nested stack, depth first. A nested
        stack its parent still lists but that no longer exists is left out."""
        from botocore.exceptions import ClientError

        for resource in self.resources(stack):
            physical = resource.get("PhysicalResourceId")
            if resource["ResourceType"] == STACK_TYPE and physical and not resource["ResourceStatus"].startswith("DELETE"):
                child = resource["LogicalResourceId"] if label == "root" else f"{label}/{resource['LogicalResourceId']}"
                try:
                    below = list(self.nested_stacks(physical, child))
                except ClientError as exc:
                    if not_found(exc):
                        continue
                    raise
                yield child, physical
                yield from below

    def templates(self, stack: str) -> dict[str, dict]:
        """The deployed templates of `stack` and of every nested stack, by
        label ("root", "Network"): GetTemplate, as submitted."""
        found = {"root": self.template(stack)}
        for label, physical in self.nested_stacks(stack):
            found[label] = self.template(physical)
        return found

    def template(self, stack: str) -> dict:
        body = self.cfn.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
        if isinstance(body, dict):
            return body
        from cfnlint.decode import decode_str

        decoded, problems = decode_str(body)
        if problems or not isinstance(decoded, dict):
            raise DeployError(f"the deployed template of {stack} could not be read (GetTemplate): "
                              f"{problems[0] if problems else 'not a template'}")
        return dict(decoded)

    # plan

    def plan(self, stack_name: str, *, label: str = "root", template_url: str = "", template_body: str = "",
             parameters: dict[str, str] | None = None, keep: Iterable[str] = (), tags: dict[str, str] | None = None,
             rollback: dict | None = None, no_echo: Iterable[str] = ()) -> Plan:
        """Create a change set for `stack_name`, wait for it and walk it.
        Parameters in `keep` keep their previous value (UsePreviousValue)."""
        from botocore.exceptions import ClientError

        parameters = parameters or {}
        keep = sorted(set(keep) - set(parameters))
        shown = {k: "****" if k in set(no_echo) else masked(k, v) for k, v in sorted(parameters.items())}
        shown.update({k: "(previous value)" for k in keep})
        plan = Plan(label, stack_name, self.region, parameters=shown)
        existing = self.stack(stack_name)
        status = existing["StackStatus"] if existing else ""
        if status == "ROLLBACK_COMPLETE" or (status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"):
            hint = "delete it with `strata destroy` first" if status == "ROLLBACK_COMPLETE" else "wait for it to finish"
            raise DeployError(f"stack {stack_name} is {status}: {hint}")
        plan.change_set_type = "UPDATE" if existing and status != "REVIEW_IN_PROGRESS" else "CREATE"
        request: dict[str, Any] = {
            "StackName": stack_name, "ChangeSetType": plan.change_set_type,
            "ChangeSetName": f"strata-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}",
            "Description": f"strata {__version__}", "IncludeNestedStacks": True, "Capabilities": CAPABILITIES,
            "Parameters": [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())]
            + [{"ParameterKey": k, "UsePreviousValue": True} for k in keep],
            "Tags": [{"Key": k, "Value": v} for k, v in sorted((tags or {}).items())],
        }
        request.update({"TemplateURL": template_url} if template_url else {"TemplateBody": template_body})
        if rollback:
            request["RollbackConfiguration"] = rollback
        if plan.change_set_type == "CREATE":
            request["OnStackFailure"] = "DELETE"
        try:
            created = self.cfn.create_change_set(**request)
        except ClientError as exc:
            if _NO_CHANGES.search(error_message(exc)):
                plan.no_changes = True
                return plan
            raise
        plan.change_set_id, plan.stack_id = created["Id"], created["StackId"]
        first = self._wait_for_change_set(plan.change_set_id)
        if first["Status"] == "FAILED":
            reason = first.get("StatusReason", "")
            if not _NO_CHANGES.search(reason):
                reason = self._nested_reason(reason)
                self.discard(plan)
                raise DeployError(f"CloudFormation could not create a change set for {stack_name}: {reason}")
        else:
            plan.changes = self._walk(plan.change_set_id, label)
        if not plan.changes:
            plan.no_changes = True
            self.discard(plan)
        return plan

    def _wait_for_change_set(self, change_set_id: str) -> dict:
        deadline = time.monotonic() + self.timeout
        while True:
            described = self.cfn.describe_change_set(ChangeSetName=change_set_id)
            if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
                return described
            if described["Status"].startswith("DELETE"):
                raise DeployError(f"change set {change_set_id} was deleted while being created")
            if time.monotonic() > deadline:
                raise DeployError(f"change set {change_set_id} still {described['Status']} after {self.timeout:.0f}s")
            self.sleep(self.poll)

    def _nested_reason(self, reason: str) -> str:
        """A root change set that failed because a nested one did: say why the nested one failed."""
        from botocore.exceptions import ClientError

        found = re.search(r"(arn:[^ ]+:changeSet/[^ ]+?)\.?(\s|$)", reason)
        if not found:
            return reason
        try:
            nested = self.cfn.describe_change_set(ChangeSetName=found.group(1))
        except ClientError:
            return reason
        return f"{reason} ({nested.get('StatusReason', 'no reason given')})"

    def _describe_all(self, change_set_id: str) -> tuple[str, list[dict]]:
        """The id of the stack a change set is for, and all its resource changes."""
        changes, token = [], None
        while True:
            page = self.cfn.describe_change_set(ChangeSetName=change_set_id, **({"NextToken": token} if token else {}))
            changes += [c["ResourceChange"] for c in page.get("Changes", [])
                        if c.get("Type", "Resource") == "Resource" and "ResourceChange" in c]
            token = page.get("NextToken")
            if not token:
                return page.get("StackId", ""), changes

    def _walk(self, change_set_id: str, label: str) -> list[ResourceChange]:
        rows: list[ResourceChange] = []
        stack_id, changes = self._describe_all(change_set_id)
        for raw in changes:
            row = ResourceChange(
                stack=label, action=raw.get("Action", ""), logical_id=raw.get("LogicalResourceId", ""),
                resource_type=raw.get("ResourceType", ""), replacement=raw.get("Replacement", ""),
                triggers=triggers(raw.get("Details", [])), stack_id=stack_id,
                physical_id=raw.get("PhysicalResourceId", ""),
            )
            if row.resource_type != STACK_TYPE:
                rows.append(row)
                continue
            child = row.logical_id if label == "root" else f"{label}/{row.logical_id}"
            inner: list[ResourceChange] = []
            if raw.get("ChangeSetId"):
                inner = self._walk(raw["ChangeSetId"], child)
            elif row.action == "Remove":
                # some endpoints (moto) leave the physical id out of the change
                physical = row.physical_id or self._physical_id(stack_id, row.logical_id)
                inner = self._removed_with(physical, child) if physical else []
            # CloudFormation marks every nested stack "Modify" (Automatic) on
            # any parent update; one whose own change set is empty changes nothing.
            if inner or not (raw.get("ChangeSetId") and automatic_only(raw)):
                rows.append(row)
            rows += inner
        return rows

    def _physical_id(self, stack: str, logical_id: str) -> str:
        if not stack:
            return ""
        return next((r.get("PhysicalResourceId", "") for r in self.resources(stack)
                     if r["LogicalResourceId"] == logical_id), "")

    def _removed_with(self, stack: str, label: str) -> list[ResourceChange]:
        rows = []
        for resource in self.resources(stack):
            rows.append(ResourceChange(
                stack=label, action="Remove", logical_id=resource["LogicalResourceId"],
                resource_type=resource["ResourceType"], triggers=("removed with its nested stack",),
                stack_id=stack, physical_id=resource.get("PhysicalResourceId", ""),
            ))
            if resource["ResourceType"] == STACK_TYPE and resource.get("PhysicalResourceId"):
                rows += self._removed_with(resource["PhysicalResourceId"], f"{label}/{resource['LogicalResourceId']}")
        return rows

    def discard(self, plan: Plan) -> None:
        """Delete the plan's change set, and the empty stack a CREATE change set made."""
        from botocore.exceptions import ClientError

        if not plan.change_set_id:
            return
        try:
            self.cfn.delete_change_set(ChangeSetName=plan.change_set_id)
        except ClientError as exc:
            if not not_found(exc):
                raise
        if plan.change_set_type == "CREATE":
            stack = self.stack(plan.stack_id or plan.stack_name)
            if stack and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
                self.cfn.delete_stack(StackName=stack["StackId"])
        plan.change_set_id = ""

    # execute, destroy and status

    def execute(self, plan: Plan, *, allow_replacement: bool = False) -> str:
        """Execute the reviewed change set and follow it to the end. Returns the
        final status; raises DeployFailed with the root cause otherwise."""
        from botocore.exceptions import BotoCoreError, ClientError

        refuse_data_loss(plan, allow_replacement)
        if not plan.executable:
            raise DeployError(f"nothing to execute for {plan.stack_name}")
        marker = events.newest_event_id(self, plan.stack_id) if plan.change_set_type == "UPDATE" else ""
        try:
            self.cfn.execute_change_set(ChangeSetName=plan.change_set_id, StackName=plan.stack_id)
        except (ClientError, BotoCoreError) as exc:
            stack = self.stack(plan.stack_id)
            status = stack["StackStatus"] if stack else "unknown"
            raise DeployFailed(f"{explain(exc, f'{plan.stack_name} ({self.region}), now {status}')}", status,
                               None) from None
        plan.change_set_id = ""
        try:
            return events.follow(self, plan.stack_id, plan.stack_name, total=len(plan.changes), after=marker,
                                 label=plan.label)
        except KeyboardInterrupt:
            raise Interrupted(
                f"interrupted: CloudFormation carries on with {plan.stack_name} ({self.region}) without Strata; "
                "follow it with `strata status`, or stop it with `aws cloudformation cancel-update-stack "
                f"--stack-name {plan.stack_name} --region {self.region}` (an update rolls back)"
            ) from None

    def destroy(self, stack_name: str) -> str:
        stack = self.stack(stack_name)
        if not stack:
            return "NOT_DEPLOYED"
        if stack.get("EnableTerminationProtection"):
            raise DeployError(
                f"{stack_name} has termination protection on: set deploy.termination_protection to false in the "
                "parameter file and deploy, then destroy"
            )
        total = len(self.resources(stack["StackId"])) + sum(
            len(self.resources(physical)) for _, physical in self.nested_stacks(stack["StackId"]))
        marker = events.newest_event_id(self, stack["StackId"])
        self.cfn.delete_stack(StackName=stack["StackId"])
        try:
            return events.follow(self, stack["StackId"], stack_name, total=total, after=marker,
                                 success={"DELETE_COMPLETE"})
        except KeyboardInterrupt:
            raise Interrupted(f"interrupted: CloudFormation carries on deleting {stack_name} ({self.region}); "
                              "follow it with `strata status`") from None

    def retained(self, stack_name: str) -> list[tuple[str, str, str, str, str]]:
        """(stack label, logical id, type, physical id, policy) of every
        resource a deletion of `stack_name` keeps: DeletionPolicy Retain,
        RetainExceptOnCreate or Snapshot (a final snapshot is kept)."""
        stack = self.stack(stack_name)
        if not stack:
            return []
        kept = []
        stacks = [("root", stack["StackId"]), *self.nested_stacks(stack["StackId"])]
        for label, physical in stacks:
            resources = self.template(physical).get("Resources", {})
            for summary in self.resources(physical):
                policy = resources.get(summary["LogicalResourceId"], {}).get("DeletionPolicy", "Delete")
                if policy in ("Retain", "RetainExceptOnCreate", "Snapshot"):
                    kept.append((label, summary["LogicalResourceId"], summary["ResourceType"],
                                 summary.get("PhysicalResourceId", ""), policy))
        return kept

    def report(self, stack_name: str, label: str = "root") -> StackReport:
        report = StackReport(label, stack_name, self.region)
        stack = self.stack(stack_name)
        if not stack:
            return report
        report.status = stack["StackStatus"]
        report.reason = stack.get("StackStatusReason", "")
        updated = stack.get("LastUpdatedTime") or stack.get("CreationTime")
        report.updated = updated.isoformat(sep=" ", timespec="seconds") if isinstance(updated, datetime) else ""
        report.termination_protection = bool(stack.get("EnableTerminationProtection"))
        report.outputs = sorted(
            (o["OutputKey"], masked(o["OutputKey"], o.get("OutputValue", "")), o.get("Description", ""))
            for o in stack.get("Outputs", []) or []
        )
        if report.status != "REVIEW_IN_PROGRESS":
            for child, physical in self.nested_stacks(stack["StackId"]):
                nested = self.stack(physical)
                report.nested.append((child, nested["StackStatus"] if nested else "DELETE_COMPLETE"))
        return report
