"""The launch role in every member account: a service-managed StackSet.

A launch constraint names the launch role by its local name, so every
account that launches the catalog's products needs a role of that name.
`strata publish --launch-role-stackset OU_ID` keeps one StackSet,
`<project>-<environment>-catalog-launch-role`, with the packaged
`catalog-launch-role.json`: SERVICE_MANAGED (CloudFormation StackSets uses
AWS Organizations to reach the accounts, no per-account admin roles),
automatic deployment on (an account that joins the OU gets the role, one
that leaves loses it), and one stack instance per account of the OU in the
environment's region (IAM is global: one region is enough). It must run
from the organization's management account or a delegated StackSets
administrator, with trusted access for StackSets turned on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from generator.deploy.errors import DeployError, error_message, not_found

TARGET = re.compile(r"^(ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}|r-[a-z0-9]{4,32})$")
_DONE = {"SUCCEEDED", "FAILED", "STOPPED"}


def check_target(value: str) -> str:
    """An organizational unit id (ou-...) or the organization's root id (r-...)."""
    if not TARGET.match(value):
        raise ValueError(f"'{value}' is not an organizational unit id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)")
    return value


def _wait(cfn, name: str, operation_id: str, poll: float, timeout: float, sleep: Callable[[float], None]) -> str:
    deadline = time.monotonic() + timeout
    while True:
        operation = cfn.describe_stack_set_operation(StackSetName=name, OperationId=operation_id)["StackSetOperation"]
        if operation["Status"] in _DONE:
            if operation["Status"] != "SUCCEEDED":
                reason = operation.get("StatusReason") or "see the operation's results in the StackSets console"
                raise DeployError(f"StackSet {name}: operation {operation_id} {operation['Status']}: {reason}")
            return operation["Status"]
        if time.monotonic() > deadline:
            raise DeployError(f"StackSet {name}: operation {operation_id} still {operation['Status']} after {timeout:.0f}s")
        sleep(poll)


def roll_out(cfn, name: str, template_url: str, target: str, region: str, *, tags: dict[str, str] | None = None,
             echo: Callable[[str], None] = print, poll: float = 5.0, timeout: float = 3600,
             sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Create or update the StackSet `name` from `template_url` and make sure
    it has instances for `target` (an OU or the root) in `region`. Returns
    what it did, one line each."""
    from botocore.exceptions import ClientError

    done = []
    common = {
        "StackSetName": name, "TemplateURL": template_url, "Capabilities": ["CAPABILITY_NAMED_IAM"],
        "Description": "Service Catalog launch role of the Strata catalog, in every account of the OU",
        "Tags": [{"Key": k, "Value": v} for k, v in sorted((tags or {}).items())],
    }
    try:
        try:
            cfn.describe_stack_set(StackSetName=name)
            exists = True
        except ClientError as exc:
            if not (not_found(exc) or "StackSetNotFound" in str(exc)):
                raise
            exists = False
        if exists:
            operation = cfn.update_stack_set(**common, OperationPreferences={"MaxConcurrentPercentage": 100,
                                                                             "FailureTolerancePercentage": 0})
            _wait(cfn, name, operation["OperationId"], poll, timeout, sleep)
            done.append(f"StackSet {name} updated to the packaged template")
        else:
            cfn.create_stack_set(**common, PermissionModel="SERVICE_MANAGED",
                                 AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False},
                                 ManagedExecution={"Active": True})
            done.append(f"StackSet {name} created (service-managed, automatic deployment on)")
        # idempotent: accounts that already have an instance keep it, any others get one
        operation = cfn.create_stack_instances(
            StackSetName=name, DeploymentTargets={"OrganizationalUnitIds": [target]}, Regions=[region],
            OperationPreferences={"MaxConcurrentPercentage": 100, "FailureTolerancePercentage": 0},
        )
        echo(f"StackSet {name}: deploying the launch role to the accounts of {target} in {region}")
        _wait(cfn, name, operation["OperationId"], poll, timeout, sleep)
        done.append(f"StackSet {name}: launch role in every account of {target} ({region})")
    except ClientError as exc:
        raise DeployError(f"rolling the launch role out with StackSet {name} failed: {error_message(exc)} "
                          "(run from the management account or a delegated StackSets administrator, with "
                          "trusted access for CloudFormation StackSets on)") from None
    return done
