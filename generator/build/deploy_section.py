"""The `deploy` section of a parameter file: how `strata deploy` treats the
environment's stacks. Nothing is built from it; it changes no template.

    deploy:
      termination_protection: true
      protect_stateful: true
      rollback_alarms: [strata-prod-unhealthy]
      rollback_monitoring_minutes: 10
"""

from __future__ import annotations

import re

from pydantic import Field, ValidationInfo, field_validator

from generator.cfn.sections import Section, reject_repeats

BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$"
PREFIX_PATTERN = r"^([A-Za-z0-9!_.*'()\-]+/)*$"
ALARM_NAME = re.compile(r"^[^:]{1,255}$")
MAX_ROLLBACK_TRIGGERS = 5


class DeployConfig(Section):
    """Stack-level safety settings and where the packaged templates go."""

    termination_protection: bool = False
    """Turn on the root stack's termination protection (and that of companion
    stacks): CloudFormation then refuses DeleteStack until it is turned off
    again, and `strata destroy` says so instead of deleting. Set it to false
    and deploy to turn it off."""

    protect_stateful: bool = False
    """Give the root stack and every nested stack a stack policy that denies
    Update:Replace and Update:Delete on stateful resources (databases,
    buckets, file systems, queues, tables, secrets, keys...), so an update
    that would replace or remove one fails instead of losing data, even when
    run from the console. `strata deploy --allow-replacement` lifts it for
    exactly the resources in the reviewed change set, for that deploy only."""

    rollback_alarms: list[str] = Field(default_factory=list)
    """Names of CloudWatch alarms (in the stack's account and region) that
    roll the deploy back when they go to ALARM during the deploy or the
    monitoring time after it, e.g. the health layer's composite alarm
    `<project>-<environment>-unhealthy`. Names, not ARNs: Strata builds the
    ARNs from the caller's account at deploy time. One that does not exist
    yet (that composite alarm before the first deploy) is left out of that
    deploy, with a note: CloudFormation fails a deploy whose trigger is
    missing. At most 5."""

    rollback_monitoring_minutes: int = Field(default=0, ge=0, le=180)
    """How long CloudFormation keeps watching the rollback alarms after the
    last resource is deployed, before the deploy counts as complete (0-180)."""

    bucket: str | None = Field(default=None, pattern=BUCKET_PATTERN)
    """S3 bucket (in the environment's region) that `strata package` copies
    the templates and Lambda zips to. Unset: `<project>-templates-<account
    id>-<region>`, created on first use with public access blocked and
    TLS-only access."""

    prefix: str | None = Field(default=None, pattern=PREFIX_PATTERN)
    """Key prefix inside that bucket, ending in '/'. Unset: `<environment>/`."""

    @field_validator("rollback_alarms")
    @classmethod
    def _alarm_names(cls, alarms: list[str]) -> list[str]:
        for name in alarms:
            if name.startswith("arn:") or not ALARM_NAME.match(name):
                raise ValueError(f"'{name}' is not an alarm name (give the name, not the ARN)")
        if len(alarms) > MAX_ROLLBACK_TRIGGERS:
            raise ValueError(f"at most {MAX_ROLLBACK_TRIGGERS} rollback triggers (a CloudFormation limit)")
        return reject_repeats(alarms, "alarm")

    @field_validator("rollback_monitoring_minutes")
    @classmethod
    def _monitoring_needs_alarms(cls, minutes: int, info: ValidationInfo) -> int:
        if minutes and info.data.get("rollback_alarms") == []:
            raise ValueError("has no effect without rollback_alarms")
        return minutes
