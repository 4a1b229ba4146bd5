"""Following a stack operation: the events of the stack and of every nested
stack as they appear, with a resources-done-of-total count, until a terminal
state. On failure the root cause is reported: the earliest failed resource
whose reason is not a cascade ("Resource creation cancelled", "Embedded
stack ... was not successfully created")."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from generator.deploy.errors import DeployError, DeployFailed, not_found
from generator.deploy.package import STACK_TYPE

if TYPE_CHECKING:
    from generator.deploy.stacks import Deployer

_CASCADE = re.compile(
    r"cancelled|The following resource\(s\) failed|Embedded stack .* was not successfully|"
    r"Resource is not in the state|Stack .* is in (UPDATE_)?ROLLBACK", re.I,
)
_SUCCESS = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}


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




def newest_event_id(deployer: Deployer, stack: str) -> str:
    events = deployer.cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
    return events[0]["EventId"] if events else ""

def follow(deployer: Deployer, stack_id: str, stack_name: str, *, total: int, after: str = "",
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
    deadline = time.monotonic() + deployer.timeout
    while True:
        stack = deployer.stack(stack_id)
        status = stack["StackStatus"] if stack else "DELETE_COMPLETE"
        # the root first (it dates this operation), then every nested
        # stack known so far, including those found in this very sweep
        order, fresh = list(watch), []
        for sid in order:
            batch = _new_events(deployer, sid, watch[sid], seen, after if sid == stack_id else "", since)
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
                # the stack's own success means every change is done, also on an
                # endpoint that reports no per-resource events (moto)
                finished = event.stack == label and event.is_stack_itself and event.status in success
                _print_event(deployer, event, total if finished else len(done), total)
        terminal = not status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS"
        if terminal and (started or not stack):
            break
        if time.monotonic() > deadline:
            raise DeployError(f"{stack_name} still {status} after {deployer.timeout / 60:.0f} minutes; CloudFormation "
                              "carries on: follow it with `strata status`")
        deployer.sleep(deployer.poll)
    if status in success:
        return status
    cause = root_cause(events)
    reason = stack.get("StackStatusReason", "") if stack else ""
    detail = f"root cause: {cause.describe()}" if cause else f"reason: {reason or 'none given'}"
    raise DeployFailed(f"{stack_name}: {status}\n{detail}", status, cause)

def _new_events(deployer: Deployer, stack_id: str, label: str, seen: set[str], after: str, since: datetime | None) -> list[Event]:
    from botocore.exceptions import ClientError

    found: list[Event] = []
    token = None
    while True:
        try:
            page = deployer.cfn.describe_stack_events(StackName=stack_id, **({"NextToken": token} if token else {}))
        except ClientError as exc:
            if not_found(exc):
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

def _print_event(deployer: Deployer, event: Event, done: int, total: int) -> None:
    width = len(str(max(total, 1)))
    progress = f"[{min(done, total):>{width}}/{total}]" if total else "[-]"
    reason = f"  {event.reason}" if event.reason and not event.status.endswith("COMPLETE") else ""
    deployer.echo(f"{progress} {event.stack:<12} {event.logical_id:<32} {event.status}{reason}")
