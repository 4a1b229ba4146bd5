"""Deploying through change sets, so nobody deploys blind.

One environment is one root stack, `<project>-<environment>`, nesting a stack
per layer, plus a stack per companion template (`<project>-<environment>-
<companion>`, in the region the companion names in Metadata.Strata.Region).
Stacks feed each other by name, like layers do: a stack's parameter takes
the output of the same name of another of the environment's stacks (the
root gives the certificate companion its HostedZoneId, the companion gives
the root its CloudFrontCertificateArn). A deploy goes round the stacks until
a round changes nothing. For each stack:

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
2. review: each change is classified. Replacing or removing a stateful
   resource (STATEFUL_TYPES) is refused unless the caller allows it;
   security-sensitive changes (IAM, security group rules, resource
   policies) are listed apart. Only names of changed properties are shown,
   never values (they may be secrets).
3. execute, then follow the events of the stack and of every nested stack
   as they appear, with a resources-done-of-total count, until a terminal
   state. On failure the root cause is reported: the earliest failed
   resource whose reason is not a cascade ("Resource creation cancelled",
   "Embedded stack ... was not successfully created").
4. safety settings from the parameter file's `deploy` section: termination
   protection, a stack policy denying Update:Replace and Update:Delete on
   stateful resources in every stack (lifted for exactly the reviewed
   resources under `--allow-replacement`, and put back afterwards), and
   rollback triggers on CloudWatch alarms.

A first deploy that fails deletes its stack (OnStackFailure=DELETE), so the
next attempt starts clean; its events stay readable by stack id and the
root cause is printed before that.

Parameters are never reset behind the user's back: a stack's parameter gets
the template location, a `--parameter NAME=VALUE`, another stack's output,
or else (on a deployed stack) its previous value when that differs from the
default, so an image tag set by a pipeline survives a deploy.

This module talks to AWS only through the boto3 clients it is given; the
endpoint may be AWS, LocalStack or `strata local`, and nothing here knows
which.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import __version__
from generator.package import ROOT_FILE, STACK_TYPE, BuiltEnv, Packaged, layout, read_build
from generator.resources import deploy_region

if TYPE_CHECKING:
    from generator.config import EnvConfig
    from generator.deploy_config import DeployConfig

# Resources whose replacement or removal loses data (or, for keys, secrets
# and zones, breaks what depends on them): the plan refuses them without
# --allow-replacement and the stack policy denies them.
STATEFUL_TYPES = frozenset({
    "AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::DocDB::DBCluster", "AWS::Neptune::DBCluster",
    "AWS::Redshift::Cluster", "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable",
    "AWS::ElastiCache::ReplicationGroup", "AWS::ElastiCache::CacheCluster", "AWS::ElastiCache::ServerlessCache",
    "AWS::MemoryDB::Cluster", "AWS::S3::Bucket", "AWS::EFS::FileSystem", "AWS::FSx::FileSystem",
    "AWS::EC2::Volume", "AWS::SQS::Queue", "AWS::Kinesis::Stream", "AWS::OpenSearchService::Domain",
    "AWS::ECR::Repository", "AWS::Logs::LogGroup", "AWS::SecretsManager::Secret", "AWS::KMS::Key",
    "AWS::Backup::BackupVault", "AWS::Cognito::UserPool", "AWS::Route53::HostedZone",
})

# Security-sensitive by type (label shown in the plan)...
SECURITY_TYPES = {
    "AWS::EC2::SecurityGroup": "security group", "AWS::EC2::SecurityGroupIngress": "security group rule",
    "AWS::EC2::SecurityGroupEgress": "security group rule", "AWS::EC2::NetworkAclEntry": "network ACL rule",
    "AWS::S3::BucketPolicy": "resource policy", "AWS::SQS::QueuePolicy": "resource policy",
    "AWS::SNS::TopicPolicy": "resource policy", "AWS::Lambda::Permission": "resource policy",
    "AWS::SecretsManager::ResourcePolicy": "resource policy", "AWS::KMS::Key": "key policy",
}
# ...and by the property that changes, on any type.
SECURITY_PROPERTIES = frozenset({
    "AssumeRolePolicyDocument", "PolicyDocument", "Policies", "ManagedPolicyArns", "PermissionsBoundary",
    "KeyPolicy", "SecurityGroupIngress", "SecurityGroupEgress", "SecurityGroupIds", "SecurityGroups",
    "GroupSet", "PublicAccessBlockConfiguration", "Role", "RoleArn", "ExecutionRoleArn", "TaskRoleArn",
    "IamInstanceProfile", "ServiceRole", "CidrIp", "CidrIpv6", "SourceSecurityGroupId",
})

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
POLICY_SID = "StrataProtectStateful"
ALLOW_ALL_POLICY = {"Statement": [{"Effect": "Allow", "Action": "Update:*", "Principal": "*", "Resource": "*"}]}

_NO_CHANGES = re.compile(r"didn't contain changes|No updates are to be performed", re.I)
_CASCADE = re.compile(
    r"cancelled|The following resource\(s\) failed|Embedded stack .* was not successfully|"
    r"Resource is not in the state|Stack .* is in (UPDATE_)?ROLLBACK", re.I,
)
_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|private_?key)(?!.*(arn|name|id)$)")
_SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}


class DeployError(Exception):
    """A deploy step failed or was refused; `str()` is the message for the user."""


class Refused(DeployError):
    """The change set does something dangerous that was not explicitly allowed."""


class DeployFailed(DeployError):
    """The stack ended in a failed state; `root_cause` is the first real failure."""

    def __init__(self, message: str, status: str, root_cause: Event | None):
        super().__init__(message)
        self.status = status
        self.root_cause = root_cause


# --- what a plan is ---------------------------------------------------------------

@dataclass(frozen=True)
class ResourceChange:
    """One row of the plan."""

    stack: str                 # "root", a nested path like "Database", or a companion label
    action: str                # Add, Modify, Remove, Import, Dynamic
    logical_id: str
    resource_type: str
    replacement: str = ""      # True, False, Conditional; "" when not reported
    triggers: tuple[str, ...] = ()
    stack_id: str = ""
    physical_id: str = ""

    @property
    def stateful(self) -> bool:
        return self.resource_type in STATEFUL_TYPES

    @property
    def loses_data(self) -> bool:
        """A stateful resource removed, or modified with a replacement that is
        certain, conditional, or not reported (so not ruled out)."""
        if not self.stateful:
            return False
        return self.action == "Remove" or (self.action == "Modify" and self.replacement != "False")

    @property
    def security(self) -> str:
        """Why the change is security-sensitive, or ''."""
        if self.resource_type.startswith("AWS::IAM::"):
            return "IAM " + re.sub(r"(?<=[a-z])(?=[A-Z])", " ", self.resource_type.rsplit("::", 1)[1]).lower()
        if self.resource_type in SECURITY_TYPES:
            return SECURITY_TYPES[self.resource_type]
        touched = sorted({t.split(" ")[0].split(".")[-1] for t in self.triggers} & SECURITY_PROPERTIES)
        return f"changes {', '.join(touched)}" if touched else ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["triggers"] = list(self.triggers)
        data.update(stateful=self.stateful, loses_data=self.loses_data, security=self.security)
        return data


@dataclass
class Plan:
    """The reviewed change set of one stack."""

    label: str
    stack_name: str
    region: str
    change_set_id: str = ""
    change_set_type: str = ""
    stack_id: str = ""
    changes: list[ResourceChange] = field(default_factory=list)
    no_changes: bool = False
    deferred: str = ""         # why this stack cannot be planned yet
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def loses_data(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.loses_data]

    @property
    def security(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.security]

    @property
    def executable(self) -> bool:
        return bool(self.change_set_id) and not self.no_changes

    def to_dict(self) -> dict:
        return {
            "stack": self.stack_name, "label": self.label, "region": self.region,
            "change_set": self.change_set_id or None, "type": self.change_set_type or None,
            "status": "deferred" if self.deferred else "no changes" if self.no_changes else "changes",
            "deferred": self.deferred or None, "parameters": self.parameters,
            "changes": [c.to_dict() for c in self.changes],
            "stateful_replacements": [f"{c.stack}/{c.logical_id}" for c in self.loses_data],
            "security_sensitive": [f"{c.stack}/{c.logical_id}" for c in self.security],
        }


@dataclass(frozen=True)
class Event:
    stack: str                 # label of the stack the event belongs to
    stack_id: str
    logical_id: str
    physical_id: str
    resource_type: str
    status: str
    reason: str
    timestamp: datetime
    event_id: str

    @property
    def is_stack_itself(self) -> bool:
        return self.physical_id == self.stack_id

    def describe(self) -> str:
        return f"{self.stack}/{self.logical_id} ({self.resource_type}) {self.status}: {self.reason or 'no reason given'}"


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


def masked(name: str, value: str) -> str:
    """Outputs and parameters whose name says secret are never printed."""
    return "****" if _SECRET_NAME.search(name) else value


def _error_message(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Message", str(exc))
    return str(exc)


def _not_found(exc: Exception) -> bool:
    return "does not exist" in _error_message(exc)


def _loopback(url: str) -> bool:
    from urllib.parse import urlparse

    return (urlparse(url).hostname or "") in ("localhost", "127.0.0.1", "::1")


def _partition(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


# --- one region's CloudFormation --------------------------------------------------

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
            if _not_found(exc):
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
        """(label, physical id) of every nested stack, depth first."""
        for resource in self.resources(stack):
            physical = resource.get("PhysicalResourceId")
            if resource["ResourceType"] == STACK_TYPE and physical and not resource["ResourceStatus"].startswith("DELETE"):
                child = resource["LogicalResourceId"] if label == "root" else f"{label}/{resource['LogicalResourceId']}"
                yield child, physical
                yield from self.nested_stacks(physical, child)

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
            if _NO_CHANGES.search(_error_message(exc)):
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
                triggers=_triggers(raw.get("Details", [])), stack_id=stack_id,
                physical_id=raw.get("PhysicalResourceId", ""),
            )
            if row.resource_type != STACK_TYPE:
                rows.append(row)
                continue
            child = row.logical_id if label == "root" else f"{label}/{row.logical_id}"
            inner: list[ResourceChange] = []
            if raw.get("ChangeSetId"):
                inner = self._walk(raw["ChangeSetId"], child)
            elif row.action == "Remove" and row.physical_id:
                inner = self._removed_with(row.physical_id, child)
            # CloudFormation marks every nested stack "Modify" (Automatic) on
            # any parent update; one whose own change set is empty changes nothing.
            if inner or not (raw.get("ChangeSetId") and _automatic_only(raw)):
                rows.append(row)
            rows += inner
        return rows

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
            if not _not_found(exc):
                raise
        if plan.change_set_type == "CREATE":
            stack = self.stack(plan.stack_id or plan.stack_name)
            if stack and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
                self.cfn.delete_stack(StackName=stack["StackId"])
        plan.change_set_id = ""

    # execute and follow

    def refuse_data_loss(self, plan: Plan, allow_replacement: bool) -> None:
        if plan.loses_data and not allow_replacement:
            rows = "\n".join(
                f"  {c.stack}/{c.logical_id} ({c.resource_type}): {c.action}"
                + (f", Replacement {c.replacement or 'not reported'}" if c.action == "Modify" else "")
                + (f" [{'; '.join(c.triggers)}]" if c.triggers else "")
                for c in plan.loses_data
            )
            raise Refused(
                f"refusing to execute the change set for {plan.stack_name}: it replaces or removes stateful "
                f"resources:\n{rows}\nIf that is intended (their DeletionPolicy/UpdateReplacePolicy decides what is "
                "kept), run again with --allow-replacement."
            )

    def execute(self, plan: Plan, *, allow_replacement: bool = False) -> str:
        """Execute the reviewed change set and follow it to the end. Returns the
        final status; raises DeployFailed with the root cause otherwise."""
        from botocore.exceptions import BotoCoreError, ClientError

        self.refuse_data_loss(plan, allow_replacement)
        if not plan.executable:
            raise DeployError(f"nothing to execute for {plan.stack_name}")
        marker = self._newest_event_id(plan.stack_id) if plan.change_set_type == "UPDATE" else ""
        try:
            self.cfn.execute_change_set(ChangeSetName=plan.change_set_id, StackName=plan.stack_id)
        except (ClientError, BotoCoreError) as exc:
            stack = self.stack(plan.stack_id)
            status = stack["StackStatus"] if stack else "unknown"
            raise DeployFailed(f"{plan.stack_name}: executing the change set failed ({status}): "
                               f"{_error_message(exc)}", status, None) from None
        plan.change_set_id = ""
        return self.follow(plan.stack_id, plan.stack_name, total=len(plan.changes), after=marker, label=plan.label)

    def _newest_event_id(self, stack: str) -> str:
        events = self.cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
        return events[0]["EventId"] if events else ""

    def follow(self, stack_id: str, stack_name: str, *, total: int, after: str = "",
               success: Iterable[str] = _SUCCESS, label: str = "root") -> str:
        """Print the events of the stack and its nested stacks until a terminal
        state; `after` is the newest event id from before this operation."""
        success = set(success)
        watch = {stack_id: label}
        seen: set[str] = set()
        done: set[tuple[str, str]] = set()
        events: list[Event] = []
        since: datetime | None = None
        started = False
        deadline = time.monotonic() + self.timeout
        while True:
            stack = self.stack(stack_id)
            status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
            # the root first (it dates this operation), then every nested
            # stack known so far, including those found in this very sweep
            order, fresh = list(watch), []
            for sid in order:
                batch = self._new_events(sid, watch[sid], seen, after if sid == stack_id else "", since)
                for event in batch:
                    if sid == stack_id and event.is_stack_itself:
                        started = True
                        since = min(since or event.timestamp, event.timestamp)
                    if event.resource_type == STACK_TYPE and not event.is_stack_itself and event.physical_id \
                            and event.physical_id not in watch:
                        watch[event.physical_id] = (event.logical_id if event.stack == label
                                                    else f"{event.stack}/{event.logical_id}")
                        order.append(event.physical_id)
                fresh += batch
            for event in sorted(fresh, key=lambda e: e.timestamp):
                events.append(event)
                if not event.is_stack_itself and not event.status.endswith("_IN_PROGRESS"):
                    done.add((event.stack_id, event.logical_id))
                if (event.stack == label or not event.is_stack_itself) and event.status != "REVIEW_IN_PROGRESS":
                    self._print_event(event, len(done), total)
            terminal = not status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"
            if terminal and (started or not stack):
                break
            if time.monotonic() > deadline:
                raise DeployError(f"{stack_name} still {status} after {self.timeout / 60:.0f} minutes; CloudFormation "
                                  "carries on: follow it with `strata status`")
            self.sleep(self.poll)
        if status in success:
            return status
        cause = root_cause(events)
        reason = stack.get("StackStatusReason", "") if stack else ""
        detail = f"root cause: {cause.describe()}" if cause else f"reason: {reason or 'none given'}"
        raise DeployFailed(f"{stack_name}: {status}\n{detail}", status, cause)

    def _new_events(self, stack_id: str, label: str, seen: set[str], after: str, since: datetime | None) -> list[Event]:
        from botocore.exceptions import ClientError

        found: list[Event] = []
        token = None
        while True:
            try:
                page = self.cfn.describe_stack_events(StackName=stack_id, **({"NextToken": token} if token else {}))
            except ClientError as exc:
                if _not_found(exc):
                    return found
                raise
            for raw in page.get("StackEvents", []):
                if raw["EventId"] in seen or raw["EventId"] == after or (since and raw["Timestamp"] < since):
                    return found
                seen.add(raw["EventId"])
                found.append(Event(
                    stack=label, stack_id=raw.get("StackId", stack_id), logical_id=raw.get("LogicalResourceId", ""),
                    physical_id=raw.get("PhysicalResourceId", ""), resource_type=raw.get("ResourceType", ""),
                    status=raw.get("ResourceStatus", ""), reason=raw.get("ResourceStatusReason", ""),
                    timestamp=raw["Timestamp"], event_id=raw["EventId"],
                ))
            token = page.get("NextToken")
            if not token:
                return found

    def _print_event(self, event: Event, done: int, total: int) -> None:
        width = len(str(max(total, 1)))
        progress = f"[{min(done, total):>{width}}/{total}]" if total else "[-]"
        reason = f"  {event.reason}" if event.reason and not event.status.endswith("COMPLETE") else ""
        self.echo(f"{progress} {event.stack:<12} {event.logical_id:<32} {event.status}{reason}")

    # destroy and status

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
        marker = self._newest_event_id(stack["StackId"])
        self.cfn.delete_stack(StackName=stack["StackId"])
        return self.follow(stack["StackId"], stack_name, total=total, after=marker, success={"DELETE_COMPLETE"})

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

    # safety settings

    def protect(self, stack_name: str, config: DeployConfig) -> list[str]:
        """Bring termination protection and stack policies in line with the
        parameter file. Returns what was changed, for the user."""
        stack = self.stack(stack_name)
        if not stack or stack["StackStatus"] in ("REVIEW_IN_PROGRESS", "DELETE_COMPLETE", "ROLLBACK_COMPLETE"):
            return []
        changed = []
        if bool(stack.get("EnableTerminationProtection")) != config.termination_protection:
            self.cfn.update_termination_protection(StackName=stack["StackId"],
                                                   EnableTerminationProtection=config.termination_protection)
            changed.append(f"termination protection {'on' if config.termination_protection else 'off'}")
        targets = [("root", stack["StackId"]), *self.nested_stacks(stack["StackId"])]
        updated = []
        for label, physical in targets:
            current = self._policy(physical)
            if config.protect_stateful:
                wanted = stack_policy()
            elif current and POLICY_SID in json.dumps(current):
                wanted = ALLOW_ALL_POLICY
            else:
                continue
            if current != wanted:
                self.cfn.set_stack_policy(StackName=physical, StackPolicyBody=json.dumps(wanted, sort_keys=True))
                updated.append(label)
        if updated:
            what = "protecting stateful resources" if config.protect_stateful else "lifted"
            changed.append(f"stack policy {what} on {', '.join(updated)}")
        return changed

    def _policy(self, stack: str) -> dict | None:
        body = self.cfn.get_stack_policy(StackName=stack).get("StackPolicyBody")
        return json.loads(body) if body else None

    def relax(self, plan: Plan) -> list[str]:
        """Under --allow-replacement: exempt exactly the reviewed stateful
        replacements from Strata's stack policy, stack by stack."""
        relaxed = []
        by_stack: dict[str, list[str]] = {}
        for change in plan.loses_data:
            if change.stack_id:
                by_stack.setdefault(change.stack_id, []).append(change.logical_id)
        for stack_id, logical_ids in sorted(by_stack.items()):
            current = self._policy(stack_id)
            if current and POLICY_SID in json.dumps(current):
                self.cfn.set_stack_policy(StackName=stack_id,
                                          StackPolicyBody=json.dumps(stack_policy(logical_ids), sort_keys=True))
                relaxed.append(f"stack policy lifted for {', '.join(sorted(logical_ids))} until the deploy ends")
        return relaxed


def stack_policy(exempt: Iterable[str] = ()) -> dict:
    """Allow every update except replacing or deleting a stateful resource
    (except the `exempt` logical ids)."""
    deny: dict[str, Any] = {
        "Sid": POLICY_SID, "Effect": "Deny", "Principal": "*", "Action": ["Update:Replace", "Update:Delete"],
        "Condition": {"StringEquals": {"ResourceType": sorted(STATEFUL_TYPES)}},
    }
    exempt = sorted(set(exempt))
    if exempt:
        deny["NotResource"] = [f"LogicalResourceId/{logical_id}" for logical_id in exempt]
    else:
        deny["Resource"] = "*"
    return {"Statement": [*ALLOW_ALL_POLICY["Statement"], deny]}


def _triggers(details: list[dict]) -> tuple[str, ...]:
    """What caused a Modify, as `Properties.Engine (replaces; DirectModification)`.
    Names only: BeforeValue/AfterValue are never read, they may be secrets."""
    found: list[str] = []
    for detail in details:
        target = detail.get("Target", {})
        name = ".".join(p for p in (target.get("Attribute"), target.get("Name")) if p) or "?"
        notes = []
        recreation = target.get("RequiresRecreation")
        if recreation == "Always":
            notes.append("replaces")
        elif recreation == "Conditionally":
            notes.append("may replace")
        source = detail.get("ChangeSource")
        if source:
            entity = detail.get("CausingEntity")
            notes.append(f"{source}: {entity}" if entity else source)
        text = f"{name} ({'; '.join(notes)})" if notes else name
        if text not in found:
            found.append(text)
    return tuple(found)


def _automatic_only(raw: dict) -> bool:
    details = raw.get("Details", [])
    return raw.get("Action") == "Modify" and all(d.get("ChangeSource") == "Automatic" for d in details)


def root_cause(events: list[Event]) -> Event | None:
    """The earliest failure that is not a consequence of another one."""
    failed = sorted((e for e in events if e.status.endswith("_FAILED")), key=lambda e: e.timestamp)
    real = [e for e in failed if e.resource_type != STACK_TYPE and not _CASCADE.search(e.reason)]
    if real:
        return real[0]
    if failed:
        return next((e for e in failed if not _CASCADE.search(e.reason)), failed[0])
    rollbacks = [e for e in events if e.is_stack_itself and "ROLLBACK_IN_PROGRESS" in e.status and e.reason]
    return min(rollbacks, key=lambda e: e.timestamp) if rollbacks else None


# --- one environment ----------------------------------------------------------------

class Aws:
    """boto3 clients for one environment: the standard credential chain, an
    optional profile, and an optional endpoint (LocalStack, `strata local`)."""

    def __init__(self, region: str, profile: str | None = None, endpoint_url: str | None = None,
                 poll: float = 2.0, timeout: float = 3 * 3600):
        self.region, self.profile, self.endpoint_url = region, profile, endpoint_url
        self.poll, self.timeout = poll, timeout
        self._session: Any = None

    def client(self, service: str, region: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.Session(profile_name=self.profile)
        options: dict[str, Any] = {"user_agent_extra": f"strata/{__version__}"}
        credentials: dict[str, str] = {}
        if self.endpoint_url:
            # a local endpoint does not throttle, and retrying a non-idempotent
            # call it failed (ExecuteChangeSet) would only repeat the failure
            options.update(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
            if _loopback(self.endpoint_url) and self._session.get_credentials() is None:
                # moto and LocalStack accept any key; a new user has none yet
                credentials = {"aws_access_key_id": "strata-local", "aws_secret_access_key": "strata-local"}
        return self._session.client(service, region_name=region or self.region, endpoint_url=self.endpoint_url,
                                    config=Config(**options), **credentials)

    def deployer(self, region: str | None = None, echo: Callable[[str], None] = print) -> Deployer:
        region = region or self.region
        return Deployer(self.client("cloudformation", region), region=region, poll=self.poll,
                        timeout=self.timeout, echo=echo)

    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]


@dataclass(frozen=True)
class Unit:
    """One stack of the environment: a companion, or the root."""

    label: str
    stack_name: str
    region: str
    file: str


def stack_name(env: EnvConfig) -> str:
    return f"{env.project}-{env.environment}"


def companion_region(file: str, body: dict) -> str:
    """The region a companion template names in `Metadata.Strata.Region`."""
    region = deploy_region(body, "")
    if not region:
        raise DeployError(f"companion template {file} does not say where it deploys: it needs "
                          "Metadata.Strata.Region (e.g. us-east-1 for a CloudFront certificate)")
    return region


def units(env: EnvConfig, build: BuiltEnv) -> list[Unit]:
    """Companions first (the root reads their outputs), then the root."""
    found = []
    for file in layout(build, "").companions:
        region = companion_region(file, build.body(file))
        stem = file.removesuffix(".json")
        found.append(Unit(f"{stem} ({region})", f"{stack_name(env)}-{stem}", region, file))
    return [*found, Unit("root", stack_name(env), env.region, ROOT_FILE)]


def rollback_configuration(config: DeployConfig, account_id: str, region: str) -> dict | None:
    if not config.rollback_alarms:
        return None
    return {
        "RollbackTriggers": [
            {"Arn": f"arn:{_partition(region)}:cloudwatch:{region}:{account_id}:alarm:{name}",
             "Type": "AWS::CloudWatch::Alarm"}
            for name in config.rollback_alarms
        ],
        "MonitoringTimeInMinutes": config.rollback_monitoring_minutes,
    }


@dataclass
class Environment:
    """Plan, deploy, destroy and report one environment's stacks."""

    env: EnvConfig
    aws: Aws
    echo: Callable[[str], None] = print
    overrides: dict[str, str] = field(default_factory=dict)  # --parameter NAME=VALUE

    @property
    def name(self) -> str:
        return stack_name(self.env)

    def _inputs(self, unit: Unit, body: dict, packaged: Packaged, fed: dict[str, str],
                deployed: dict | None) -> tuple[dict[str, str], list[str], str]:
        """Values for a stack's parameters, by name: the template location;
        an explicit `--parameter`; the output of another of the environment's
        stacks; else, for a stack already deployed, its previous value (a
        parameter like an image tag may have been changed since, on purpose);
        else the template's default. Returns (values, names to keep as they
        are, why the stack cannot be planned yet)."""
        previous = {p["ParameterKey"]: p.get("ParameterValue") for p in (deployed or {}).get("Parameters", []) or []}
        values: dict[str, str] = {}
        keep, missing = [], []
        for name, definition in sorted(body.get("Parameters", {}).items()):
            if name == "TemplateBucket":
                values[name] = packaged.bucket
            elif name == "TemplatePrefix":
                values[name] = packaged.prefix
            elif name in self.overrides:
                values[name] = self.overrides[name]
            elif name in fed:
                values[name] = fed[name]
            elif name in previous and previous[name] != definition.get("Default"):
                keep.append(name)  # NoEcho values read back as ****, so they are kept too
            elif "Default" not in definition:
                missing.append(name)
        deferred = ""
        if missing:
            deferred = (f"needs {', '.join(missing)}, which none of the environment's deployed stacks outputs yet "
                        "(give it with --parameter NAME=VALUE, or deploy the stack that outputs it first)")
        return values, keep, deferred

    def _plan_unit(self, unit: Unit, packaged: Packaged, build: BuiltEnv, outputs: dict[str, dict[str, str]],
                   rollback: dict | None) -> Plan:
        body = packaged.layout.root if unit.file == ROOT_FILE else build.body(unit.file)
        deployer = self.aws.deployer(unit.region, self.echo)
        deployed = deployer.stack(unit.stack_name)
        fed = {k: v for name, produced in outputs.items() if name != unit.stack_name for k, v in produced.items()}
        values, keep, deferred = self._inputs(unit, body, packaged, fed, deployed)
        if deferred:
            return Plan(unit.label, unit.stack_name, unit.region, deferred=deferred)
        source: dict[str, str] = {"template_url": packaged.url(unit.file)}
        if unit.region != packaged.region:
            # the bucket is in the environment's region; send small companions inline
            text = build.templates[unit.file].decode()
            if len(text.encode()) > 51_200:
                raise DeployError(f"{unit.file} is too large to send inline to {unit.region}")
            source = {"template_body": text}
        no_echo = [k for k, d in body.get("Parameters", {}).items() if str(d.get("NoEcho", "")).lower() == "true"]
        return deployer.plan(
            unit.stack_name, label=unit.label, parameters=values, keep=keep, tags=self.env.all_tags,
            rollback=rollback if unit.file == ROOT_FILE else None, no_echo=no_echo, **source,
        )

    def _outputs(self, unit: Unit) -> dict[str, str]:
        stack = self.aws.deployer(unit.region, self.echo).stack(unit.stack_name)
        return {o["OutputKey"]: o.get("OutputValue", "") for o in (stack or {}).get("Outputs", []) or []}

    def _rollback(self) -> dict | None:
        config = self.env.deploy
        return rollback_configuration(config, self.aws.account_id(), self.env.region) if config.rollback_alarms else None

    def plan(self, packaged: Packaged, out_dir: Path, keep: bool = False) -> list[Plan]:
        """Plan every stack (companions, then the root) against what is
        deployed now, without executing; change sets are deleted unless `keep`."""
        build = read_build(out_dir)
        found = units(self.env, build)
        outputs = {unit.stack_name: self._outputs(unit) for unit in found}
        rollback = self._rollback()
        plans = []
        for unit in found:
            plan = self._plan_unit(unit, packaged, build, outputs, rollback)
            plans.append(plan)
            if plan.executable and not keep:
                self.aws.deployer(unit.region, self.echo).discard(plan)
        return plans

    def deploy(self, packaged: Packaged, out_dir: Path, *, approve: Callable[[Plan], bool],
               show: Callable[[Plan], None], allow_replacement: bool = False) -> list[Plan]:
        """Plan, show, approve and execute stack by stack, in rounds, until a
        round changes nothing: a stack's outputs can feed another's parameters
        either way (the root gives a companion its HostedZoneId, the companion
        gives the root its CloudFrontCertificateArn), so a first deploy may
        take the root, then the companion, then the root again. Then the
        safety settings. Raises DeployError (Refused, DeployFailed) on the
        first stack that cannot go on."""
        build = read_build(out_dir)
        found = units(self.env, build)
        outputs = {unit.stack_name: self._outputs(unit) for unit in found}
        rollback = self._rollback()
        plans: list[Plan] = []
        deferred: dict[str, Plan] = {}
        for round_number in range(2 * len(found) + 1):
            changed = False
            for unit in found:
                plan = self._plan_unit(unit, packaged, build, outputs, rollback)
                if plan.deferred:
                    deferred[unit.stack_name] = plan
                else:
                    deferred.pop(unit.stack_name, None)
                if round_number == 0 or plan.executable:
                    plans.append(plan)
                    show(plan)
                if plan.executable:
                    self._execute(unit, plan, approve, allow_replacement)
                    outputs[unit.stack_name] = self._outputs(unit)
                    changed = True
            if not changed:
                break
        else:
            raise DeployError(f"the stacks of {self.name} still changed after {2 * len(found) + 1} rounds: "
                              "their outputs and parameters feed each other in a loop")
        for plan in deferred.values():
            raise DeployError(f"{plan.stack_name} {plan.deferred}")
        for unit in found:
            self._protect(self.aws.deployer(unit.region, self.echo), unit)
        return plans

    def _execute(self, unit: Unit, plan: Plan, approve: Callable[[Plan], bool], allow_replacement: bool) -> None:
        deployer = self.aws.deployer(unit.region, self.echo)
        try:
            deployer.refuse_data_loss(plan, allow_replacement)
            if not approve(plan):
                raise DeployError(f"not approved: {unit.stack_name} was not changed")
        except DeployError:
            deployer.discard(plan)
            raise
        try:
            if allow_replacement:
                for note in deployer.relax(plan):
                    self.echo(note)
            status = deployer.execute(plan, allow_replacement=allow_replacement)
            self.echo(f"{unit.stack_name}: {status}")
        finally:
            # also puts back a policy relaxed for this deploy, even after a failure
            self._protect(deployer, unit)

    def _protect(self, deployer: Deployer, unit: Unit) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            notes = deployer.protect(unit.stack_name, self.env.deploy)
        except (ClientError, BotoCoreError) as exc:
            notes = [f"warning: could not apply the deploy safety settings: {_error_message(exc)}"]
        for note in notes:
            self.echo(f"{unit.stack_name}: {note}")

    def _known_units(self, out_dir: Path | None) -> list[Unit]:
        """The root and, when the build is at hand, its companions."""
        if out_dir is None or not (Path(out_dir) / "manifest.json").is_file():
            return [Unit("root", self.name, self.env.region, ROOT_FILE)]
        return units(self.env, read_build(out_dir))

    def destroy(self, out_dir: Path | None = None) -> list[tuple[str, str]]:
        """Delete the root stack, then the companions (the root reads them)."""
        results = []
        for unit in reversed(self._known_units(out_dir)):
            results.append((unit.stack_name, self.aws.deployer(unit.region, self.echo).destroy(unit.stack_name)))
        return results

    def status(self, out_dir: Path | None = None) -> list[StackReport]:
        return [self.aws.deployer(u.region, self.echo).report(u.stack_name, u.label) for u in self._known_units(out_dir)]
