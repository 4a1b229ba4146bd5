"""Deploying against the moto server, with Strata's compatibility layer (as
`strata local` and `--local` run it): the dev environment's first deploy
through change sets with nested stacks, its outputs, a no-op plan, an
update that changes one parameter, and destroy; then the CLI, companion
stacks and the prod safety settings on small synthetic builds.

What moto does not show here (Replacement, nested change sets, failure
events and rollback) is tested with botocore's Stubber in test_plan.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import yaml

from generator.cli import main
from generator.deploy import local, plan_report
from generator.deploy.changes import Plan
from generator.deploy.errors import DeployError
from generator.deploy.package import ensure_bucket, package, read_build
from generator.deploy.protection import POLICY_SID
from generator.deploy.rollout import Environment
from generator.deploy.session import Aws
from tests.generator.deploy.deploy_support import (
    REGION, build_dev, rebuild_dev, tiny_env, tiny_layers, write_build,
)

# moto warns about every resource type it skips; the tests assert what matters
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
BUCKET = "deploy-test-templates"


@pytest.fixture(scope="module")
def dev_out(tmp_path_factory):
    return build_dev(tmp_path_factory)


@pytest.fixture
def endpoint(aws):
    with local.compat():
        yield aws


@pytest.fixture
def cfn(endpoint):
    return boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)


def _environment(env, endpoint: str, lines: list[str]) -> Environment:
    return Environment(env, Aws(env.region, endpoint_url=endpoint, poll=0), lines.append)


def _package(environment: Environment, out_dir: Path):
    s3 = environment.aws.client("s3")
    ensure_bucket(s3, BUCKET, REGION, tls_only=False)
    return package(s3, out_dir, BUCKET, f"{environment.env.environment}/", REGION)


def _deploy(environment: Environment, out_dir: Path, **kwargs) -> list[Plan]:
    shown: list[Plan] = []
    plans = environment.deploy(_package(environment, out_dir), out_dir, approve=lambda plan: True,
                               show=shown.append, **kwargs)
    assert plans == shown
    return plans


def _plan(environment: Environment, out_dir: Path) -> list[Plan]:
    return environment.plan(_package(environment, out_dir), out_dir)


def _retention(data: dict) -> None:
    flow_logs = data["network"].setdefault("flow_logs", {})
    flow_logs["enabled"] = True
    flow_logs["retention_days"] = 30 if flow_logs.get("retention_days") == 14 else 14


def test_dev_lifecycle(endpoint, cfn, dev_out, tmp_path):
    """Create, read, no-op, update one parameter, no-op, destroy. dev has
    CloudFront's us-east-1 companion (its 5xx alarm), so a first deploy
    takes the companion, the root, then the companion again once the root
    outputs the DistributionId the alarm watches."""
    env = read_env(dev_out)
    lines: list[str] = []
    environment = _environment(env, endpoint, lines)
    root = read_build(dev_out).body("root.json")
    nested = sorted(k for k, r in root["Resources"].items() if r["Type"] == "AWS::CloudFormation::Stack")
    assert "Monitoring" in nested and "Health" in nested

    # first deploy: the companion, one change set with every layer a nested stack
    # (moto gives no nested change sets, so the resources inside come from
    # Strata's diff), the companion again
    companion, first, fed = _deploy(environment, dev_out)
    assert (companion.change_set_type, companion.stack_name, companion.region) == ("CREATE", "strata-dev-static-cloudfront", "us-east-1")
    assert "DistributionId" not in companion.parameters  # no root yet: its default, empty, holds the alarm back
    assert (first.change_set_type, first.stack_name) == ("CREATE", "strata-dev")
    assert sorted((c.action, c.logical_id) for c in first.changes if not c.predicted) == [("Add", n) for n in nested]
    build = read_build(dev_out)
    inside = sorted((layer, logical_id) for layer in nested
                    for logical_id in build.body(f"{layer.lower()}.json")["Resources"])
    assert sorted((c.stack, c.logical_id) for c in first.changes if c.predicted) == inside
    assert {c.action for c in first.changes} == {"Add"}
    assert (fed.change_set_type, fed.stack_name) == ("UPDATE", "strata-dev-static-cloudfront")
    assert fed.parameters["DistributionId"] == dict(
        (k, v) for k, v, _ in environment.status(dev_out)[1].outputs)["DistributionId"]
    assert any("CREATE_COMPLETE" in line for line in lines)

    # status: the root, each nested stack, and every root output
    report = {r.stack_name: r for r in environment.status(dev_out)}["strata-dev"]
    assert report.status == "CREATE_COMPLETE"
    assert sorted(label for label, _ in report.nested) == nested
    assert {status for _, status in report.nested} == {"CREATE_COMPLETE"}
    assert sorted(k for k, _, _ in report.outputs) == sorted(root.get("Outputs", {}))
    outputs = {k: v for k, v, _ in report.outputs}
    assert outputs["VpcId"].startswith("vpc-")

    # the same build again: no changes, and no change set left behind
    assert all(p.no_changes and not p.changes for p in _plan(environment, dev_out))
    pending = cfn.list_change_sets(StackName="strata-dev")["Summaries"]
    assert [c for c in pending if c["ExecutionStatus"] != "EXECUTE_COMPLETE"] == []

    # one parameter changed in the parameter file: the network layer, and in
    # it (from Strata's diff: moto has no nested change sets) the log group,
    # updated in place
    changed_out = rebuild_dev(dev_out, tmp_path, _retention)
    companion_again, update = _plan(environment, changed_out)
    assert companion_again.no_changes
    assert [(c.stack, c.action, c.logical_id, c.resource_type) for c in update.changes] == [
        ("root", "Modify", "Network", "AWS::CloudFormation::Stack"),
        ("Network", "Modify", "FlowLogGroup", "AWS::Logs::LogGroup")]
    log_group = update.changes[1]
    assert (log_group.replacement, log_group.predicted) == ("False", True)
    assert [p.describe() for p in log_group.properties] == ["RetentionInDays: 7 -> 14"]
    assert not update.loses_data
    network_id = dict(environment.aws.deployer().nested_stacks("strata-dev"))["Network"]
    [executed] = _deploy(environment, changed_out)[1:]
    assert executed.change_set_type == "UPDATE"
    assert dict(environment.aws.deployer().nested_stacks("strata-dev"))["Network"] == network_id
    assert {r.stack_name: r for r in environment.status(changed_out)}["strata-dev"].status == "UPDATE_COMPLETE"
    assert all(p.no_changes for p in _plan(environment, changed_out))

    # destroy: the root and its nested stacks are gone, then the companion
    assert environment.destroy(changed_out) == [("strata-dev", "DELETE_COMPLETE"),
                                                ("strata-dev-static-cloudfront", "DELETE_COMPLETE")]
    assert {r.status for r in environment.status(changed_out)} == {"NOT_DEPLOYED"}
    live = [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    assert live == []


def test_dev_with_its_alarms_on_moto_shows_the_dashboard_and_topic_and_skips_the_alarms(endpoint, dev_out):
    """moto's CloudFormation skips AWS::CloudWatch::Alarm and CompositeAlarm
    (reporting CREATE_COMPLETE), so no alarm exists after the deploy: the
    alarms are checked on the templates (tests/templates/test_alarms.py).
    What moto does show: the alarm topic every layer was fed by name, the
    log bucket, and the dashboard whose graphs name the alarms each layer
    raises; and that the plan says which alarms it skips."""
    import boto3

    env = read_env(dev_out)
    environment = _environment(env, endpoint, [])
    _deploy(environment, dev_out)
    cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=REGION)
    found = cloudwatch.describe_alarms()
    assert (found["MetricAlarms"], found["CompositeAlarms"]) == ([], [])

    dashboard = json.loads(cloudwatch.get_dashboard(DashboardName="strata-dev")["DashboardBody"])
    graphed = {w["properties"]["annotations"]["alarms"][0].rsplit(":", 1)[1] for w in dashboard["widgets"] if w["type"] == "metric"}
    build = read_build(dev_out)
    raised = {r["Properties"]["AlarmName"] for file in ("network.json", "web.json", "containers.json", "database.json",
                                                        "cache.json", "messaging.json", "static.json", "static-cloudfront.json")
              for r in build.body(file)["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert graphed == raised and len(raised) > 20

    outputs = {k: v for k, v, _ in {r.stack_name: r for r in environment.status(dev_out)}["strata-dev"].outputs}
    topics = [t["TopicArn"] for t in boto3.client("sns", endpoint_url=endpoint, region_name=REGION).list_topics()["Topics"]]
    assert outputs["AlarmTopicArn"] in topics and outputs["AlarmTopicArn"].endswith(":strata-dev-alarms")
    boto3.client("s3", endpoint_url=endpoint, region_name=REGION).head_bucket(Bucket=outputs["LogBucketName"])
    skipped = local.not_emulated({f: build.body(f) for f in ("health.json", "web.json")})
    assert ("EnvironmentUnhealthyAlarm", "AWS::CloudWatch::CompositeAlarm") in skipped["health.json"]
    assert ("Target5xxRateAlarm", "AWS::CloudWatch::Alarm") in skipped["web.json"]


def read_env(dev_out: Path):
    from generator.build.config import load_config
    from tests.generator.deploy.deploy_support import DEV_PARAMS

    assert dev_out.name == "dev"
    return load_config(DEV_PARAMS)


# --- the command line on a small build ------------------------------------------------

@pytest.fixture
def tiny(tmp_path):
    params = tmp_path / "params"
    params.mkdir()
    (params / "tiny.yaml").write_text(yaml.safe_dump({"project": "demo", "environment": "tiny", "region": REGION}))
    write_build(tmp_path / "out", tiny_env(), tiny_layers(unemulated=True))
    return ["--env", "tiny", "--params-dir", str(params), "--out", str(tmp_path / "out")]


def test_cli_deploy_plan_status_destroy(endpoint, tiny, capsys):
    where = ["--endpoint-url", endpoint]
    assert main(["deploy", *tiny, *where, "--yes", "--no-build"]) == 0
    out = capsys.readouterr().out
    assert "demo-tiny (eu-west-1): 5 changes (new stack)" in out
    assert "created bucket demo-templates-123456789012-eu-west-1" in out
    assert "moto does not emulate 1 resource(s)" in out and "AWS::CloudWatch::Alarm" in out
    assert "demo-tiny: CREATE_COMPLETE" in out

    assert main(["plan", *tiny, *where, "--json", "--no-build"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["status"] for s in document["stacks"]] == ["no changes"]

    assert main(["status", *tiny, *where, "--json"]) == 0
    [status] = json.loads(capsys.readouterr().out)
    assert status["status"] == "CREATE_COMPLETE"
    assert status["outputs"]["TopicArn"].startswith("arn:aws:sns:")
    assert status["outputs"]["QueueArn"].startswith("arn:aws:sqs:")

    assert main(["destroy", *tiny, *where, "--yes"]) == 0
    assert "demo-tiny: DELETE_COMPLETE" in capsys.readouterr().out
    assert main(["status", *tiny, *where]) == 0
    assert "demo-tiny (eu-west-1): not deployed" in capsys.readouterr().out


def test_cli_deploy_without_a_terminal_needs_yes(endpoint, cfn, tiny, capsys):
    assert main(["deploy", *tiny, "--endpoint-url", endpoint, "--no-build"]) == 1
    assert "no terminal to ask for approval: review the plan and run again with --yes" in capsys.readouterr().err
    assert cfn.describe_stacks()["Stacks"] == []  # the empty REVIEW_IN_PROGRESS stack is gone too


def test_cli_plan_markdown(endpoint, tiny, capsys):
    assert main(["plan", *tiny, "--endpoint-url", endpoint, "--markdown", "--no-build"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("### demo-tiny (eu-west-1): 5 changes (new stack)")
    assert "| root | Add | Messaging | AWS::CloudFormation::Stack | - |" in captured.out
    assert "packaged to" in captured.err  # chatter stays off the document


def test_cli_local_runs_a_one_shot_server(tiny, capsys):
    assert main(["deploy", *tiny, "--local", "--yes", "--no-build"]) == 0
    out = capsys.readouterr().out
    assert "--local: a moto server for this command only" in out
    assert "demo-tiny: CREATE_COMPLETE" in out
    assert not local.installed()


# --- companions and safety settings ------------------------------------------------------

CERTIFICATE = {
    "Metadata": {"Strata": {"Region": "us-east-1"}},
    "Resources": {"Marker": {"Type": "AWS::SSM::Parameter",
                             "Properties": {"Name": "/demo/certificate", "Type": "String", "Value": "cert"}}},
    "Outputs": {"CertificateArn": {"Value": {"Ref": "Marker"}}},
}


def test_companions_deploy_first_and_feed_the_root(endpoint, cfn, tmp_path):
    env = tiny_env()
    out = write_build(tmp_path, env, tiny_layers(takes="CertificateArn"), companions={"certificate.json": CERTIFICATE})
    lines: list[str] = []
    environment = _environment(env, endpoint, lines)
    plans = _deploy(environment, out)
    assert [(p.label, p.stack_name, p.region) for p in plans] == [
        ("certificate (us-east-1)", "demo-tiny-certificate", "us-east-1"), ("root", "demo-tiny", REGION)]
    assert plans[1].parameters["CertificateArn"] == "/demo/certificate"
    reports = {r.stack_name: r for r in environment.status(out)}
    assert dict((k, v) for k, v, _ in reports["demo-tiny"].outputs)["SeenCertificateArn"] == "/demo/certificate"
    assert reports["demo-tiny-certificate"].region == "us-east-1"
    assert environment.destroy(out) == [("demo-tiny", "DELETE_COMPLETE"), ("demo-tiny-certificate", "DELETE_COMPLETE")]


def test_a_companion_that_needs_a_root_output_deploys_in_rounds(endpoint, cfn, tmp_path):
    """The dns layer's shape: the certificate stack needs the root's
    HostedZoneId, the root takes the certificate's ARN (empty by default)."""
    certificate = {**CERTIFICATE, "Parameters": {"TopicArn": {"Type": "String"}}}
    certificate["Outputs"] = {"CertificateArn": {"Value": {"Fn::Join": ["", [{"Ref": "Marker"}, "#", {"Ref": "TopicArn"}]]}}}
    env = tiny_env()
    out = write_build(tmp_path, env, tiny_layers(takes="CertificateArn"), companions={"certificate.json": certificate})
    environment = _environment(env, endpoint, [])
    plans = _deploy(environment, out)
    assert [(p.stack_name, p.change_set_type or p.deferred[:5]) for p in plans] == [
        ("demo-tiny-certificate", "needs"), ("demo-tiny", "CREATE"),   # round 1: the root, with the default
        ("demo-tiny-certificate", "CREATE"), ("demo-tiny", "UPDATE"),  # round 2: the certificate, then the root
    ]
    assert [(c.action, c.logical_id) for c in plans[-1].changes] == [("Modify", "Messaging")]
    topic = dict((k, v) for k, v, _ in environment.status(out)[1].outputs)["TopicArn"]
    seen = dict((k, v) for k, v, _ in environment.status(out)[1].outputs)["SeenCertificateArn"]
    assert seen == f"/demo/certificate#{topic}"
    assert all(p.no_changes for p in _plan(environment, out))


def test_parameters_set_outside_the_build_keep_their_value(endpoint, cfn, tmp_path):
    env = tiny_env()
    out = write_build(tmp_path, env, tiny_layers(takes="ImageTag"))
    overridden = Environment(env, Aws(REGION, endpoint_url=endpoint, poll=0), lambda line: None, {"ImageTag": "v42"})
    [first] = _deploy(overridden, out)
    assert first.parameters["ImageTag"] == "v42"
    [again] = _plan(_environment(env, endpoint, []), out)
    assert again.no_changes and again.parameters["ImageTag"] == "(previous value)"
    parameters = cfn.describe_stacks(StackName="demo-tiny")["Stacks"][0]["Parameters"]
    assert {"ParameterKey": "ImageTag", "ParameterValue": "v42"} in parameters


def test_a_companion_must_name_its_region(endpoint, tmp_path):
    env = tiny_env()
    out = write_build(tmp_path, env, tiny_layers(), companions={"certificate.json": {"Resources": {}}})
    with pytest.raises(DeployError, match=r"certificate.json does not say where it deploys: it needs Metadata.Strata.Region"):
        _plan(_environment(env, endpoint, []), out)


def test_prod_safety_settings_follow_the_parameter_file(endpoint, cfn, tmp_path):
    protected = tiny_env(termination_protection=True, protect_stateful=True)
    out = write_build(tmp_path, protected, tiny_layers())
    lines: list[str] = []
    _deploy(_environment(protected, endpoint, lines), out)
    root = cfn.describe_stacks(StackName="demo-tiny")["Stacks"][0]
    assert root["EnableTerminationProtection"] is True
    stacks = [root["StackId"], *(physical for _, physical in Aws(REGION, endpoint_url=endpoint).deployer()
                                 .nested_stacks("demo-tiny"))]
    assert len(stacks) == 3
    for stack in stacks:
        policy = json.loads(cfn.get_stack_policy(StackName=stack)["StackPolicyBody"])
        deny = next(s for s in policy["Statement"] if s.get("Sid") == POLICY_SID)
        assert deny["Action"] == ["Update:Replace", "Update:Delete"]
        assert "AWS::SQS::Queue" in deny["Condition"]["StringEquals"]["ResourceType"]
    assert "demo-tiny: termination protection on" in lines

    with pytest.raises(DeployError, match="termination protection on: set deploy.termination_protection to false"):
        _environment(protected, endpoint, []).destroy(out)

    relaxed = tiny_env()
    lines.clear()
    _deploy(_environment(relaxed, endpoint, lines), out)  # same templates: no changes, settings still applied
    assert "demo-tiny: termination protection off" in lines
    assert cfn.describe_stacks(StackName="demo-tiny")["Stacks"][0]["EnableTerminationProtection"] is False
    assert POLICY_SID not in cfn.get_stack_policy(StackName="demo-tiny")["StackPolicyBody"]
    assert _environment(relaxed, endpoint, []).destroy(out) == [("demo-tiny", "DELETE_COMPLETE")]


def test_the_root_waits_for_companion_outputs_it_cannot_do_without(endpoint, cfn, tmp_path):
    def without_default(root):
        del root["Parameters"]["CertificateArn"]["Default"]

    env = tiny_env()
    out = write_build(tmp_path, env, tiny_layers(takes="CertificateArn"), companions={"certificate.json": CERTIFICATE},
                      root_edit=without_default)
    companion, root = _plan(_environment(env, endpoint, []), out)
    assert companion.change_set_type == "CREATE" and not companion.change_set_id  # planned, then discarded
    assert root.deferred.startswith("needs CertificateArn, which none of the environment's deployed stacks outputs")
    assert "not planned yet: needs CertificateArn" in plan_report.table([companion, root])
    assert cfn.describe_stacks()["Stacks"] == []


# --- the parameter file's deploy section ----------------------------------------------------

@pytest.mark.parametrize(("section", "message"), [
    ({"rollback_monitoring_minutes": 10}, "deploy.rollback_monitoring_minutes: has no effect without rollback_alarms"),
    ({"rollback_alarms": ["arn:aws:cloudwatch:eu-west-1:1:alarm:x"]}, "deploy.rollback_alarms: 'arn:aws:cloudwatch"),
    ({"rollback_alarms": list("abcdef")}, "deploy.rollback_alarms: at most 5 rollback triggers (a CloudFormation limit)"),
    ({"rollback_monitoring_minutes": 181, "rollback_alarms": ["a"]}, "deploy.rollback_monitoring_minutes:"),
    ({"bucket": "Not_A_Bucket"}, "deploy.bucket:"),
    ({"prefix": "no-slash"}, "deploy.prefix:"),
    ({"termination_protecton": True}, "deploy.termination_protecton: unknown key"),
])
def test_bad_deploy_settings_name_the_field(tmp_path, section, message):
    from generator.build.config import ConfigError, load_config

    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump({"project": "demo", "environment": "prod", "region": REGION, "deploy": section}))
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert f"{path}:" in str(error.value) and message in str(error.value)


def test_prod_is_protected_and_dev_is_not():
    from generator.build.config import load_config
    from tests.generator.deploy.deploy_support import REPO

    prod = load_config(REPO / "parameters" / "prod.yaml").deploy
    dev = load_config(REPO / "parameters" / "dev.yaml").deploy
    assert prod.termination_protection and prod.protect_stateful
    assert not dev.termination_protection and not dev.protect_stateful


def test_a_rollback_alarm_that_does_not_exist_yet_is_left_out_with_a_note(endpoint):
    """CloudFormation fails a deploy naming a missing trigger, and the health
    layer's composite alarm is created by the first deploy itself: only
    alarms that exist are watched (moto's DescribeAlarms answers here; the
    alarm is put directly, since moto's CloudFormation skips alarms)."""
    import boto3

    cloudwatch = boto3.client("cloudwatch", endpoint_url=endpoint, region_name=REGION)
    cloudwatch.put_metric_alarm(AlarmName="demo-tiny-web-elb-5xx", Namespace="AWS/ApplicationELB", MetricName="HTTPCode_ELB_5XX_Count",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    env = tiny_env(rollback_alarms=["demo-tiny-unhealthy", "demo-tiny-web-elb-5xx"], rollback_monitoring_minutes=10)
    lines: list[str] = []
    rollback = _environment(env, endpoint, lines)._rollback()
    assert rollback == {"RollbackTriggers": [{"Arn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:demo-tiny-web-elb-5xx",
                                              "Type": "AWS::CloudWatch::Alarm"}], "MonitoringTimeInMinutes": 10}
    assert lines == ["rollback trigger demo-tiny-unhealthy: no such alarm in eu-west-1 yet (this deploy may create it); "
                     "not watched this time"]
    only_missing = tiny_env(rollback_alarms=["demo-tiny-unhealthy"], rollback_monitoring_minutes=10)
    assert _environment(only_missing, endpoint, [])._rollback() is None
