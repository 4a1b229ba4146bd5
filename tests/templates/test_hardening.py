"""What independent scanners asked of the shipped environments, checked on
every template dev.yaml and prod.yaml build (companions included): bucket
access logs, TLS-only queues, dead-letter queues for subscriptions, long-kept
logs retained, and suppressions that are real checkov checks with reasons
true for the configuration they sit in. Each of these failed on the
templates before this change."""

from __future__ import annotations

import json
import re
import subprocess
from functools import lru_cache

import pytest

from generator.build.compose import build_layers, compose_root
from generator.build.config import EnvConfig, load_config
from generator.cfn.resources import RETAIN_LOGS_ABOVE_DAYS
from tests.helpers import CHECKOV, REPO, render, resources_of_type

ENVS = {path.stem: load_config(path) for path in sorted((REPO / "parameters").glob("*.yaml"))}


@lru_cache(maxsize=None)
def templates(environment: str) -> dict[str, dict]:
    env = ENVS[environment]
    layers = build_layers(env)
    found = {name: render(t) for name, t in {**layers.nested, **layers.companions}.items()}
    found["root"] = render(compose_root(env, layers))
    return found


def every(type_name: str):
    for environment in ENVS:
        for file, body in templates(environment).items():
            for name, resource in resources_of_type(body, type_name).items():
                yield environment, file, name, resource


def test_every_bucket_but_the_log_bucket_sends_its_access_logs_to_the_environments_log_bucket():
    buckets = list(every("AWS::S3::Bucket"))
    assert len(buckets) >= 7
    for environment, file, name, bucket in buckets:
        logging = bucket["Properties"].get("LoggingConfiguration")
        if (file, name) == ("monitoring", "LogBucket"):
            assert logging is None
            continue
        assert logging and logging["DestinationBucketName"] == {"Ref": "LogBucketName"}, f"{environment}/{file} {name}"


def queue_refs(policy: dict) -> set[str]:
    return {q["Ref"] for q in policy["Properties"]["Queues"]}


def denies_plain_http(policy: dict) -> bool:
    return any(s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
               for s in policy["Properties"]["PolicyDocument"]["Statement"])


def test_every_queue_refuses_requests_without_tls():
    queues = list(every("AWS::SQS::Queue"))
    assert len(queues) >= 6
    for environment, file, name, _ in queues:
        policies = resources_of_type(templates(environment)[file], "AWS::SQS::QueuePolicy").values()
        assert any(name in queue_refs(p) and denies_plain_http(p) for p in policies), f"{environment}/{file} {name}"


def test_every_subscription_has_a_dead_letter_queue():
    subscriptions = list(every("AWS::SNS::Subscription"))
    assert {s["Properties"]["Protocol"] for *_, s in subscriptions} == {"sqs", "email"}
    for environment, file, name, subscription in subscriptions:
        assert "deadLetterTargetArn" in subscription["Properties"]["RedrivePolicy"], f"{environment}/{file} {name}"


def test_log_groups_kept_long_are_retained_and_the_others_go_with_their_stack():
    groups = list(every("AWS::Logs::LogGroup"))
    long_kept = [(e, f, n) for e, f, n, g in groups if g["Properties"]["RetentionInDays"] > RETAIN_LOGS_ABOVE_DAYS]
    assert ("prod", "network", "FlowLogGroup") in long_kept  # a year of flow logs
    for environment, file, name, group in groups:
        kept = group["Properties"]["RetentionInDays"] > RETAIN_LOGS_ABOVE_DAYS
        policies = (group.get("DeletionPolicy"), group.get("UpdateReplacePolicy"))
        assert policies == (("Retain", "Retain") if kept else (None, None)), f"{environment}/{file} {name}"


def test_the_strata_rule_uses_the_same_threshold():
    from generator.build.checks import long_logs_retained

    assert long_logs_retained.RETAIN_LOGS_ABOVE_DAYS == RETAIN_LOGS_ABOVE_DAYS


# --- suppressions ------------------------------------------------------------------------

def suppressions():
    for environment in ENVS:
        for file, body in templates(environment).items():
            for name, resource in body.get("Resources", {}).items():
                for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                    yield environment, file, name, skip["id"], skip["comment"]


@lru_cache(maxsize=None)
def checkov_cloudformation_checks() -> frozenset[str]:
    """The check ids the installed checkov runs on CloudFormation templates."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make test`, which installs checkov in its own venv"
    listing = subprocess.run([str(CHECKOV), "--list", "--framework", "cloudformation", "--skip-download"],
                             capture_output=True, text=True, check=True).stdout
    ids = set()
    for row in listing.splitlines():
        cells = [c.strip() for c in row.split("|")]
        if len(cells) > 6 and cells[6] == "Cloudformation":
            ids.add(cells[2])
    return frozenset(ids)


def test_every_suppressed_check_exists_in_the_installed_checkov():
    known = checkov_cloudformation_checks()
    assert {"CKV_AWS_18", "CKV_AWS_260", "CKV_AWS_158"} <= known and "CKV_AWS_145" not in known
    found = list(suppressions())
    assert len(found) > 30
    unknown = sorted({(check, f"{e}/{f} {n}") for e, f, n, check, _ in found if check not in known})
    assert unknown == []


# A reason that quotes a setting ("web.listener: http", "monitoring.enabled is
# false") must quote its actual value in the environment it sits in.
QUOTED = re.compile(r"\b((?:[a-z_]+\.)+[a-z_]+)(?::| is) ([a-z0-9_]+)")
WORDS = {True: "true", False: "false", None: ("null", "empty")}


def setting(env: EnvConfig, path: str):
    value = env
    for part in path.split("."):
        if not hasattr(value, part):
            raise LookupError(path)
        value = getattr(value, part)
    return value


def test_every_reason_that_quotes_a_setting_quotes_its_value_in_that_environment():
    checked = 0
    for environment, file, name, check, reason in suppressions():
        for path, quoted in QUOTED.findall(reason):
            try:
                value = setting(ENVS[environment], path)
            except LookupError:
                continue
            expected = WORDS.get(value, str(value)) if not isinstance(value, (int, float)) or isinstance(value, bool) else str(value)
            assert quoted in (expected if isinstance(expected, tuple) else (expected,)), (
                f"{environment}/{file} {name} {check}: '{path}: {quoted}' but the parameter file has {value!r}")
            checked += 1
    assert checked >= 8  # the reasons that depend on the configuration say which setting


def test_the_port_80_reason_differs_between_dev_and_prod_as_their_listeners_do():
    def reason(environment: str) -> str:
        group = templates(environment)["security"]["Resources"]["AlbSecurityGroup"]
        return {s["id"]: s["comment"] for s in group.get("Metadata", {}).get("checkov", {}).get("skip", [])}.get("CKV_AWS_260", "")

    assert reason("dev") == ""  # dev's ALB admits CloudFront only: nothing is open on port 80
    assert "redirect to HTTPS (web.listener: https)" in reason("prod")


@pytest.mark.parametrize("environment", sorted(ENVS))
def test_service_roles_that_can_carry_source_conditions_do(environment):
    for file, body in templates(environment).items():
        for name, role in resources_of_type(body, "AWS::IAM::Role").items():
            (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
            service = statement["Principal"]["Service"][0]
            conditioned = "Condition" in statement
            assert conditioned == (service in ("vpc-flow-logs.amazonaws.com", "ecs-tasks.amazonaws.com",
                                               "monitoring.rds.amazonaws.com")), f"{environment}/{file} {name}"
            if conditioned:
                assert json.dumps(statement["Condition"]).count("AWS::AccountId") == 2


def test_every_type_the_shipped_environments_emit_has_its_guard_rules_vendored():
    # tools/vendor_guard_rules.py copies the Guard rules of the types listed
    # there; a type missing from the list is a type no Guard rule checks.
    listed = set((REPO / "tools" / "strata_types.txt").read_text().split())
    emitted = {resource["Type"] for environment in ENVS for body in templates(environment).values()
               for resource in body.get("Resources", {}).values()}
    assert emitted - listed == set()
