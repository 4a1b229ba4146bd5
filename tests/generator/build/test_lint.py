"""The lint gate: cfn-lint plus Strata's own rules, in one Runner."""

import itertools
import json

import pytest
from troposphere import ec2

from generator.build import lint
from generator.cli import main
from generator.build.lint import LintCache, Linter, lint_templates
from templates import network, security
from tests.helpers import make_env, write_params


@pytest.fixture(scope="module")
def linter():
    return Linter("eu-west-1")


def template(resources: dict) -> str:
    return json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}, indent=1)


VPC = {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}}
FLOW_LOG = {"Type": "AWS::EC2::FlowLog", "Properties": {
    "ResourceId": {"Ref": "Vpc"}, "ResourceType": "VPC", "TrafficType": "ALL",
    "LogDestinationType": "s3", "LogDestination": "arn:aws:s3:::flow-log-bucket",
}}


def group(*rules):
    return {"Type": "AWS::EC2::SecurityGroup", "Properties": {
        "GroupDescription": "test", "VpcId": {"Ref": "Vpc"}, "SecurityGroupIngress": list(rules),
    }}


def rule(port, cidr="0.0.0.0/0"):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "CidrIp": cidr, "Description": "test"}


def rule_ids(linter, text):
    """cfn-lint's and Strata's rule ids; AWS's Guard rules (CT.*, also in the gate) have tests of their own."""
    return sorted({f.rule for f in linter.lint("t.json", text) if not f.rule.startswith("CT.")})


def test_e9001_passes_with_a_flow_log_and_fails_without(linter):
    assert rule_ids(linter, template({"Vpc": VPC, "FlowLog": FLOW_LOG})) == []
    findings = [f for f in linter.lint("t.json", template({"Vpc": VPC})) if not f.rule.startswith("CT.")]
    assert [(f.rule, f.resource) for f in findings] == [("E9001", "Vpc")]


def test_e9002_refuses_rules_on_the_default_security_group(linter):
    resources = {"Vpc": VPC, "FlowLog": FLOW_LOG, "DefaultOpen": {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {
        "GroupId": {"Fn::GetAtt": ["Vpc", "DefaultSecurityGroup"]}, "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "CidrIp": "10.0.0.0/8",
    }}}
    assert rule_ids(linter, template(resources)) == ["E9002"]
    resources["DefaultOpen"]["Properties"]["GroupId"] = {"Ref": "Own"}
    resources["Own"] = group()
    assert rule_ids(linter, template(resources)) == []


def test_e9003_allows_only_80_and_443_from_anywhere(linter):
    base = {"Vpc": VPC, "FlowLog": FLOW_LOG}
    assert rule_ids(linter, template({**base, "Alb": group(rule(80), rule(443))})) == []
    assert rule_ids(linter, template({**base, "Ssh": group(rule(22, "10.0.0.0/8"))})) == []
    assert rule_ids(linter, template({**base, "Ssh": group(rule(22))})) == ["E9003"]
    standalone = {"Type": "AWS::EC2::SecurityGroupIngress", "Properties": {**rule(3389, "0.0.0.0/0"), "GroupId": {"Ref": "G"}}}
    standalone["Properties"].pop("CidrIp")
    standalone["Properties"]["CidrIpv6"] = "::/0"
    assert rule_ids(linter, template({**base, "G": group(), "Rdp": standalone})) == ["E9003"]


def test_a_rule_is_suppressed_only_by_the_resources_own_metadata(linter):
    open_group = group(rule(22))
    open_group["Metadata"] = {"cfn-lint": {"config": {"ignore_checks": ["E9003"]}}}
    assert rule_ids(linter, template({"Vpc": VPC, "FlowLog": FLOW_LOG, "Ssh": open_group})) == []


def test_cfn_lint_errors_and_warnings_are_findings(linter):
    bad = template({"Vpc": VPC, "FlowLog": FLOW_LOG, "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"Bogus": 1}}})
    [finding] = [f for f in linter.lint("t.json", bad) if not f.rule.startswith(("CT.", "E9"))]  # cfn-lint's own
    assert finding.rule == "E3002" and finding.resource == "Queue"
    assert str(finding).startswith("t.json:") and " E3002 Queue: " in str(finding)


def test_a_lint_finding_fails_the_build_naming_template_resource_and_rule(tmp_path, monkeypatch, capsys):
    real_build = security.build

    def with_open_ssh(env):
        t = real_build(env)
        t.resources["AppSecurityGroup"].SecurityGroupIngress = [
            ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp="0.0.0.0/0")
        ]
        return t

    monkeypatch.setattr(security, "build", with_open_ssh)
    params, out = write_params(tmp_path).parent, tmp_path / "out"
    assert main(["build", "--env", "dev", "--params-dir", str(params), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "lint: dev/security.json:" in err and "E9003 AppSecurityGroup:" in err
    assert not out.joinpath("dev").exists()


def test_cache_skips_unchanged_templates_and_relints_changed_ones(tmp_path, monkeypatch):
    text = template({"Vpc": VPC, "FlowLog": FLOW_LOG})
    cache = LintCache(tmp_path / "lint.json")
    assert lint_templates([("t.json", text, "eu-west-1")], cache) == []
    cache.save()
    calls = []
    monkeypatch.setattr(lint, "_lint_job", lambda job: calls.append(job[0]) or [])
    lint_templates([("t.json", text, "eu-west-1")], LintCache(tmp_path / "lint.json"))
    assert calls == []
    lint_templates([("t.json", text + " ", "eu-west-1"), ("t.json", text, "us-east-1")], LintCache(tmp_path / "lint.json"))
    assert calls == ["t.json", "t.json"]


def test_a_template_with_findings_is_not_cached(tmp_path):
    cache = LintCache(tmp_path / "lint.json")
    assert lint_templates([("t.json", template({"Vpc": VPC}), "eu-west-1")], cache)
    assert not cache.passed(LintCache.key(template({"Vpc": VPC}), "eu-west-1"))


def test_strata_lint_command(tmp_path, capsys):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(template({"Vpc": VPC, "FlowLog": FLOW_LOG}))
    bad.write_text(template({"Vpc": VPC}))
    assert main(["lint", str(good), "--region", "eu-west-1"]) == 0
    assert main(["lint", str(good), str(bad)]) == 1
    assert "E9001 Vpc" in capsys.readouterr().err
    assert main(["lint", str(tmp_path / "missing.json")]) == 1


MATRIX = list(itertools.product(range(2, 7), ("per_az", "single", "none"), (True, False)))


def test_network_and_security_are_lint_clean_over_the_option_matrix():
    """az_count 2..6 x NAT modes x endpoints on/off, each template linted (errors and warnings)."""
    jobs = []
    for az_count, nat, endpoints in MATRIX:
        env = make_env(
            region="us-east-1",  # the one region with six AZs
            network={"az_count": az_count, "nat": nat,
                     "interface_endpoints": ["ecr.api", "ecr.dkr", "logs", "ssm"] if endpoints else [],
                     "gateway_endpoints": ["s3", "dynamodb"] if endpoints else []},
        )
        name = f"az{az_count}-{nat}-{'endpoints' if endpoints else 'bare'}"
        jobs.append((f"{name}/network.json", network.build(env).to_json(), "us-east-1"))
    env = make_env(security={"admin_cidr": "198.51.100.0/24"}, compute={"bastion": {"enabled": True}})
    jobs.append(("bastion/security.json", security.build(env).to_json(), "eu-west-1"))
    assert lint_templates(jobs) == []


# --- E9060-E9062: the hardening the scanners asked for, kept by the lint gate ---------------------

# with a dead-letter queue, so only the TLS rule (E9060) speaks of it, not E9012
QUEUE = {"Type": "AWS::SQS::Queue", "Properties": {"RedrivePolicy": {
    "deadLetterTargetArn": "arn:aws:sqs:eu-west-1:111122223333:dlq", "maxReceiveCount": 5}}}


def queue_policy(statement_condition):
    return {"Type": "AWS::SQS::QueuePolicy", "Properties": {"Queues": [{"Ref": "Queue"}], "PolicyDocument": {
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": {"Fn::GetAtt": ["Queue", "Arn"]},
            "Condition": statement_condition,
        }]}}}


def test_e9060_every_queue_needs_a_policy_denying_plain_http(linter):
    assert rule_ids(linter, template({"Queue": QUEUE})) == ["E9060"]
    assert rule_ids(linter, template({"Queue": QUEUE, "Policy": queue_policy({"Bool": {"aws:SecureTransport": "false"}})})) == []
    # a policy that denies something else does not count
    assert rule_ids(linter, template({"Queue": QUEUE, "Policy": queue_policy({"Bool": {"aws:MultiFactorAuthPresent": "false"}})})) == ["E9060"]


def test_e9061_every_subscription_needs_a_dead_letter_queue(linter):
    subscription = {"Type": "AWS::SNS::Subscription", "Properties": {"TopicArn": {"Ref": "Topic"}, "Protocol": "email",
                                                                     "Endpoint": "ops@example.com"}}
    resources = {"Topic": {"Type": "AWS::SNS::Topic"}, "Sub": subscription}
    assert rule_ids(linter, template(resources)) == ["E9061"]
    subscription["Properties"]["RedrivePolicy"] = {"deadLetterTargetArn": "arn:aws:sqs:eu-west-1:111122223333:dlq"}
    assert rule_ids(linter, template(resources)) == []


@pytest.mark.parametrize("days, policies, rules", [
    (365, {}, ["E9062"]),
    (365, {"DeletionPolicy": "Retain"}, ["E9062", "W3011"]),  # cfn-lint's own W3011 wants both policies too
    (365, {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}, []),
    (90, {}, []),
])
def test_e9062_a_log_group_kept_long_is_retained(linter, days, policies, rules):
    group = {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": days}, **policies}
    assert rule_ids(linter, template({"Group": group})) == rules


def test_the_shipped_templates_before_this_change_break_the_new_rules(linter):
    """The golden network and messaging templates as they were: a year of
    prod flow logs deleted with the stack (E9062); queues that take plain
    HTTP (E9060) and a subscription that drops what it cannot deliver (E9061)."""
    flow_logs = {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 365}}
    assert rule_ids(linter, template({"FlowLogGroup": flow_logs})) == ["E9062"]
    before = {
        "Topic": {"Type": "AWS::SNS::Topic"}, "Queue": QUEUE,
        "QueuePolicy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {"Queues": [{"Ref": "Queue"}], "PolicyDocument": {
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
                                                    "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Queue", "Arn"]}}]}}},
        "QueueSubscription": {"Type": "AWS::SNS::Subscription", "Properties": {
            "TopicArn": {"Ref": "Topic"}, "Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]}}},
    }
    assert rule_ids(linter, template(before)) == ["E9060", "E9061"]
