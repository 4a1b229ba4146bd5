"""The AUTH token rotation, step by step, fed the event Secrets Manager
really sends ({"Step", "SecretId", "ClientRequestToken"}).

Secrets Manager runs on moto's in-process mock: versions and staging labels
behave as in AWS (moto's own RotateSecret would run the function through its
Lambda emulation, which needs Docker, so the tests make the pending version
themselves, as the createSecret step does). ElastiCache is botocore's
Stubber with the API reference's response shapes: moto's
ModifyReplicationGroup ignores AuthToken and AuthTokenUpdateStrategy, the
very thing under test. One test stubs Secrets Manager too, for the
placeholder version AWS creates before createSecret (which moto cannot make
without running the function).
"""

from __future__ import annotations

import datetime
import importlib.util
import os
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("cache_token_rotation_handler", HERE.parent / "handler.py")
handler = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(handler)
CLIENTS = handler._client  # the real, cached client factory (tests swap it for stubbed clients)

GROUP = "strata-dev-cache"
UTC = datetime.timezone.utc


def group(status="available", changed=None, auth=True) -> dict:
    """A DescribeReplicationGroups item (API reference shape, the fields the handler reads)."""
    item = {"ReplicationGroupId": GROUP, "Status": status, "AuthTokenEnabled": auth}
    if changed is not None:
        item["AuthTokenLastModifiedDate"] = changed
    return item


@pytest.fixture
def env(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
                        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                        handler.GROUP_VARIABLE: GROUP}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    CLIENTS.cache_clear()
    yield
    CLIENTS.cache_clear()


@pytest.fixture
def elasticache(env, monkeypatch):
    client = boto3.client("elasticache", region_name="eu-west-1")
    stubber = Stubber(client)
    stubber.activate()
    monkeypatch.setattr(handler, "_client", lambda service: client if service == "elasticache" else CLIENTS(service))
    yield stubber
    stubber.assert_no_pending_responses()


@pytest.fixture
def rotating(elasticache):
    """moto's Secrets Manager with the token secret in mid-rotation: the
    current token, rotation enabled, and a pending version (token `v3`)."""
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="eu-west-1")
        arn = secrets.create_secret(Name="cache-token", SecretString="old-token")["ARN"]
        # moto, without a function to run, only turns rotation on (and copies the value to a new current version)
        secrets.rotate_secret(SecretId=arn, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
        current = secrets.get_secret_value(SecretId=arn)["SecretString"]
        secrets.put_secret_value(SecretId=arn, ClientRequestToken="v3" * 16, SecretString="new-token", VersionStages=["AWSPENDING"])
        yield secrets, arn, "v3" * 16, current


def event(step: str, arn: str, token: str) -> dict:
    return {"Step": step, "SecretId": arn, "ClientRequestToken": token}


def created(secrets, arn: str, token: str):
    return next(v["CreatedDate"] for v in secrets.list_secret_version_ids(SecretId=arn)["Versions"] if v["VersionId"] == token)


def test_a_whole_rotation_rotates_the_groups_token_and_makes_the_new_one_current(rotating, elasticache):
    secrets, arn, token, old = rotating
    handler.handler(event("createSecret", arn, token))  # the pending version is there: nothing to do
    assert secrets.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")["SecretString"] == "new-token"

    elasticache.add_response("describe_replication_groups", {"ReplicationGroups": [group(changed=created(secrets, arn, token) - datetime.timedelta(days=30))]},
                             {"ReplicationGroupId": GROUP})
    elasticache.add_response("modify_replication_group", {"ReplicationGroup": group(status="modifying")}, {
        "ReplicationGroupId": GROUP, "AuthToken": "new-token", "AuthTokenUpdateStrategy": "ROTATE", "ApplyImmediately": True})
    handler.handler(event("setSecret", arn, token))

    elasticache.add_response("describe_replication_groups", {"ReplicationGroups": [group()]}, {"ReplicationGroupId": GROUP})
    handler.handler(event("testSecret", arn, token))

    handler.handler(event("finishSecret", arn, token))
    # named stage: moto's GetSecretValue without one keeps answering the old default after UpdateSecretVersionStage
    assert secrets.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"] == "new-token"
    assert secrets.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == old


def test_a_retried_set_does_not_rotate_twice(rotating, elasticache):
    """A second ROTATE would drop the token clients still use: the group
    already took the pending token when it changed after the version was made."""
    secrets, arn, token, _ = rotating
    later = created(secrets, arn, token) + datetime.timedelta(minutes=2)
    elasticache.add_response("describe_replication_groups", {"ReplicationGroups": [group(changed=later)]}, {"ReplicationGroupId": GROUP})
    handler.handler(event("setSecret", arn, token))  # no modify_replication_group queued: the stubber would refuse one


def test_set_waits_for_a_busy_group(rotating, elasticache):
    secrets, arn, token, _ = rotating
    elasticache.add_response("describe_replication_groups", {"ReplicationGroups": [group(status="snapshotting")]}, {"ReplicationGroupId": GROUP})
    with pytest.raises(RuntimeError, match="is snapshotting, not available: retry later"):
        handler.handler(event("setSecret", arn, token))


class Context:
    def __init__(self, millis: int):
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


def test_test_gives_up_before_lambdas_timeout_and_refuses_a_group_without_auth(rotating, elasticache):
    _, arn, token = rotating[:3]
    elasticache.add_response("describe_replication_groups", {"ReplicationGroups": [group(status="modifying")]}, {"ReplicationGroupId": GROUP})
    with pytest.raises(TimeoutError, match="still modifying"):
        handler.handler(event("testSecret", arn, token), Context(handler.MARGIN_MILLIS))
    elasticache.add_response("describe_replication_groups", {"ReplicationGroups": [group(auth=False)]}, {"ReplicationGroupId": GROUP})
    with pytest.raises(RuntimeError, match="AUTH turned off"):
        handler.handler(event("testSecret", arn, token))


def test_a_version_that_is_already_current_is_left_alone(rotating):
    secrets, arn, _, _ = rotating
    current = next(v for v, s in secrets.describe_secret(SecretId=arn)["VersionIdsToStages"].items() if "AWSCURRENT" in s)
    handler.handler(event("setSecret", arn, current))  # nothing queued on the stubber: nothing called


@pytest.mark.parametrize("bad, message", [
    ({"Step": "dropSecret"}, "unknown rotation step"),
    ({"ClientRequestToken": "no-such-version-000000000000000000"}, "has no stage for the rotation"),
])
def test_bad_events_are_refused(rotating, bad, message):
    _, arn, token, _ = rotating
    with pytest.raises(ValueError, match=message):
        handler.handler({**event("setSecret", arn, token), **bad})


def test_create_makes_a_letters_and_digits_token_for_the_placeholder_version(env, monkeypatch):
    """Secrets Manager stubbed: AWS adds the pending version (no value yet)
    before calling createSecret, which moto cannot show without Lambda."""
    secrets = boto3.client("secretsmanager", region_name="eu-west-1")
    stubber = Stubber(secrets)
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cache-token-AbCdEf"
    token = "a" * 32
    stubber.add_response("describe_secret", {"ARN": arn, "Name": "cache-token", "RotationEnabled": True,
                                             "VersionIdsToStages": {"b" * 32: ["AWSCURRENT"], token: ["AWSPENDING"]}},
                         {"SecretId": arn})
    stubber.add_client_error("get_secret_value", "ResourceNotFoundException", http_status_code=400,
                             expected_params={"SecretId": arn, "VersionId": token, "VersionStage": "AWSPENDING"})
    stubber.add_response("get_random_password", {"RandomPassword": "x" * 64},
                         {"PasswordLength": 64, "ExcludePunctuation": True})
    stubber.add_response("put_secret_value", {"ARN": arn, "Name": "cache-token", "VersionId": token, "VersionStages": ["AWSPENDING"]},
                         {"SecretId": arn, "ClientRequestToken": token, "SecretString": "x" * 64, "VersionStages": ["AWSPENDING"]})
    stubber.activate()
    monkeypatch.setattr(handler, "_client", lambda service: secrets)
    handler.handler(event("createSecret", arn, token))
    stubber.assert_no_pending_responses()
