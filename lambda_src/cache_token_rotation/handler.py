"""Rotate the cache's AUTH token: Secrets Manager's four rotation steps, with
ElastiCache's documented token rotation in the middle.

ElastiCache rotates a replication group's AUTH token with
ModifyReplicationGroup(AuthToken=new, AuthTokenUpdateStrategy=ROTATE): the
group then accepts the new token *and* the previous one, and it keeps at
most the two newest. So a client still holding the old token keeps working
until the next rotation, one whole rotation period later, by which time it
has re-read the secret. SET (accept only the newest) is never used: it would
cut off every client that has not re-read the secret yet.

- createSecret: a new random token (letters and digits, which ElastiCache
  accepts) as the AWSPENDING version, unless one is there already.
- setSecret: the group accepts the pending token (ROTATE, applied at once),
  unless it already took it (its AuthTokenLastModifiedDate is after the
  pending version was created: a retried rotation must not rotate twice,
  which would drop the token clients use now).
- testSecret: waits until the group is `available` with AUTH on. The cache
  itself is not contacted: the function runs outside the VPC, and the
  group reports the token change complete when every node has it.
- finishSecret: AWSCURRENT moves to the new version (AWSPREVIOUS to the old).

Secrets Manager invokes each step synchronously and retries the whole
rotation when a step fails. Standard library and boto3 only.
"""

from __future__ import annotations

import logging
import os
import time
from functools import lru_cache
from typing import Any

import boto3
from botocore.exceptions import ClientError

GROUP_VARIABLE = "REPLICATION_GROUP_ID"
PENDING, CURRENT = "AWSPENDING", "AWSCURRENT"
TOKEN_LENGTH = 64
POLL_SECONDS = 10
# Stop waiting this long before Lambda's timeout, to fail with a clear message.
MARGIN_MILLIS = 30_000

logger = logging.getLogger()
logger.setLevel(logging.INFO)


@lru_cache(maxsize=None)
def _client(service: str):
    return boto3.client(service)


def handler(event: dict[str, Any], context: Any = None) -> None:
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    steps = {"createSecret": create_secret, "setSecret": set_secret, "testSecret": test_secret,
             "finishSecret": finish_secret}
    if step not in steps:
        raise ValueError(f"unknown rotation step {step!r}")
    metadata = _client("secretsmanager").describe_secret(SecretId=arn)
    if not metadata.get("RotationEnabled"):
        raise ValueError(f"secret {arn} is not enabled for rotation")
    stages = metadata.get("VersionIdsToStages", {})
    if token not in stages:
        raise ValueError(f"secret version {token} has no stage for the rotation of {arn}")
    if CURRENT in stages[token]:
        logger.info("version %s of %s is already AWSCURRENT", token, arn)
        return
    if PENDING not in stages[token]:
        raise ValueError(f"secret version {token} of {arn} is not AWSPENDING")
    steps[step](arn, token, context)


def create_secret(arn: str, token: str, context: Any = None) -> None:
    secrets = _client("secretsmanager")
    try:
        secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
        logger.info("createSecret: %s already has a pending token (version %s)", arn, token)
        return
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceNotFoundException":
            raise
    value = secrets.get_random_password(PasswordLength=TOKEN_LENGTH, ExcludePunctuation=True)["RandomPassword"]
    secrets.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=value, VersionStages=[PENDING])
    logger.info("createSecret: new pending token for %s (version %s)", arn, token)


def _group(group_id: str) -> dict[str, Any]:
    return _client("elasticache").describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"][0]


def _created(arn: str, token: str):
    """When the version `token` of the secret was created."""
    request = {"SecretId": arn, "IncludeDeprecated": True}
    while True:
        page = _client("secretsmanager").list_secret_version_ids(**request)
        for version in page["Versions"]:
            if version["VersionId"] == token:
                return version["CreatedDate"]
        if not page.get("NextToken"):
            raise ValueError(f"secret version {token} of {arn} not found")
        request["NextToken"] = page["NextToken"]


def set_secret(arn: str, token: str, context: Any = None) -> None:
    group_id = os.environ[GROUP_VARIABLE]
    group = _group(group_id)
    changed = group.get("AuthTokenLastModifiedDate")
    if changed is not None and changed >= _created(arn, token):
        logger.info("setSecret: %s already took the pending token (changed %s)", group_id, changed)
        return
    if group["Status"] != "available":
        raise RuntimeError(f"replication group {group_id} is {group['Status']}, not available: retry later")
    pending = _client("secretsmanager").get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
    _client("elasticache").modify_replication_group(
        ReplicationGroupId=group_id, AuthToken=pending["SecretString"], AuthTokenUpdateStrategy="ROTATE",
        ApplyImmediately=True,
    )
    logger.info("setSecret: %s now accepts the pending token as well as the current one", group_id)


def test_secret(arn: str, token: str, context: Any = None) -> None:
    group_id = os.environ[GROUP_VARIABLE]
    while True:
        group = _group(group_id)
        if group["Status"] == "available":
            if not group.get("AuthTokenEnabled"):
                raise RuntimeError(f"replication group {group_id} has AUTH turned off")
            logger.info("testSecret: %s is available with AUTH on", group_id)
            return
        if context is not None and context.get_remaining_time_in_millis() < MARGIN_MILLIS + POLL_SECONDS * 1000:
            raise TimeoutError(f"replication group {group_id} is still {group['Status']}; the rotation will be retried")
        time.sleep(POLL_SECONDS)


def finish_secret(arn: str, token: str, context: Any = None) -> None:
    secrets = _client("secretsmanager")
    stages = secrets.describe_secret(SecretId=arn)["VersionIdsToStages"]
    current = next((version for version, labels in stages.items() if CURRENT in labels), None)
    if current == token:
        return
    moved = {"RemoveFromVersionId": current} if current else {}
    secrets.update_secret_version_stage(SecretId=arn, VersionStage=CURRENT, MoveToVersionId=token, **moved)
    logger.info("finishSecret: version %s of %s is AWSCURRENT (was %s)", token, arn, current)
