"""The local endpoint and its moto compatibility layer.

Each gap is tested twice: once without the layer, asserting moto still has
it (when one of these fails, moto fixed the gap: delete that patch from
generator/deploy/local.py and this test), and once with the layer, asserting the
fix. The version pin fails first when moto is upgraded.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request

import boto3
import moto
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

from generator.deploy import local
from tests.generator.deploy.deploy_support import REGION

# moto warns about every resource type it skips; the tests assert what matters
pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
NO_RETRY = Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
BUCKET = "compat"


@pytest.fixture
def cfn(aws):
    assert not local.installed(), "a test left the compatibility layer installed"
    return boto3.client("cloudformation", endpoint_url=aws, region_name=REGION, config=NO_RETRY)


@pytest.fixture
def patched():
    with local.compat() as active:
        assert active
        yield


def _s3(aws):
    s3 = boto3.client("s3", endpoint_url=aws, region_name=REGION, config=NO_RETRY)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3


def _change_set(cfn, name: str, body: dict | None = None, url: str = "", kind: str = "CREATE",
                parameters: dict | None = None) -> dict:
    source = {"TemplateURL": url} if url else {"TemplateBody": json.dumps(body)}
    created = cfn.create_change_set(
        StackName=name, ChangeSetName=f"c{kind}{len(json.dumps(parameters or {}))}", ChangeSetType=kind,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()], **source,
    )
    return cfn.describe_change_set(ChangeSetName=created["Id"])


def _deploy(cfn, name: str, body: dict | None = None, url: str = "", kind: str = "CREATE",
            parameters: dict | None = None) -> dict:
    described = _change_set(cfn, name, body, url, kind, parameters)
    cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


TOPIC = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
         "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}}}


def _nested(s3, child: dict, consumer: dict | None = None, outputs: bool = True) -> dict:
    """A root nesting `child` (and `consumer`, fed Child.Outputs.TopicArn),
    with a root output read from the child unless `outputs` is off."""
    s3.put_object(Bucket=BUCKET, Key="child.json", Body=json.dumps(child))
    url = f"https://{BUCKET}.s3.{REGION}.amazonaws.com/child.json"
    resources = {"Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": url}}}
    root_outputs = {"ChildTopic": {"Value": {"Fn::GetAtt": ["Child", "Outputs.TopicArn"]}}}
    if consumer:
        s3.put_object(Bucket=BUCKET, Key="consumer.json", Body=json.dumps(consumer))
        resources["Consumer"] = {"Type": "AWS::CloudFormation::Stack", "Properties": {
            "TemplateURL": f"https://{BUCKET}.s3.{REGION}.amazonaws.com/consumer.json",
            "Parameters": {"TopicArn": {"Fn::GetAtt": ["Child", "Outputs.TopicArn"]}},
        }}
    return {"Resources": resources, "Outputs": root_outputs} if outputs else {"Resources": resources}


CONSUMER = {"Parameters": {"TopicArn": {"Type": "String"}},
            "Resources": {"Param": {"Type": "AWS::SSM::Parameter",
                                    "Properties": {"Type": "String", "Value": {"Ref": "TopicArn"}}}},
            "Outputs": {"Received": {"Value": {"Ref": "TopicArn"}}}}


# --- the pin -----------------------------------------------------------------

def test_the_installed_moto_is_a_tested_version():
    """On failure: run this module against the new moto, adapt or drop each
    patch, then add the version to TESTED_MOTO_VERSIONS."""
    assert moto.__version__ in local.TESTED_MOTO_VERSIONS


def test_an_untested_moto_gets_no_patches(monkeypatch):
    monkeypatch.setattr(local, "TESTED_MOTO_VERSIONS", ("0.0.0",))
    assert local.install() is False
    assert not local.installed()


def test_uninstall_puts_moto_back_exactly():
    from moto.cloudformation import models, parsing

    before = (models.Stack.__dict__.get("get_cfn_attribute"), parsing.parse_output,
              parsing.ResourceMap.__dict__.get("get"), models.CloudFormationBackend.execute_change_set)
    with local.compat():
        assert parsing.parse_output is not before[1]
    after = (models.Stack.__dict__.get("get_cfn_attribute"), parsing.parse_output,
             parsing.ResourceMap.__dict__.get("get"), models.CloudFormationBackend.execute_change_set)
    assert after == before


# --- outputs of stacks made through change sets ----------------------------------

def test_gap_change_set_stacks_have_no_outputs(cfn):
    assert "Outputs" not in _deploy(cfn, "plain", TOPIC)


def test_fix_change_set_stacks_have_outputs(cfn, patched):
    stack = _deploy(cfn, "plain", TOPIC)
    assert [o["OutputKey"] for o in stack["Outputs"]] == ["TopicArn"]
    assert stack["Outputs"][0]["OutputValue"].startswith("arn:aws:sns:")


def _template_url(aws) -> str:
    """The template behind a URL: moto only compares parameters when the body comes from one."""
    body = {"Parameters": {"Name": {"Type": "String"}}, "Resources": TOPIC["Resources"]}
    s3 = _s3(aws)
    s3.put_object(Bucket=BUCKET, Key="params.json", Body=json.dumps(body))
    return f"https://{BUCKET}.s3.{REGION}.amazonaws.com/params.json"


def test_gap_parameters_stay_stale_after_an_update(aws, cfn):
    url = _template_url(aws)
    _deploy(cfn, "params", url=url, parameters={"Name": "a"})
    _deploy(cfn, "params", url=url, kind="UPDATE", parameters={"Name": "bb"})
    again = _change_set(cfn, "params", url=url, kind="UPDATE", parameters={"Name": "bb"})
    assert again["Status"] == "CREATE_COMPLETE"  # not recognised as "no changes"


def test_fix_an_unchanged_update_is_no_changes(aws, cfn, patched):
    url = _template_url(aws)
    _deploy(cfn, "params", url=url, parameters={"Name": "a"})
    _deploy(cfn, "params", url=url, kind="UPDATE", parameters={"Name": "bb"})
    again = _change_set(cfn, "params", url=url, kind="UPDATE", parameters={"Name": "bb"})
    assert again["Status"] == "FAILED"
    assert "didn't contain changes" in again["StatusReason"]


REFERS = {"Parameters": {"Name": {"Type": "String"}},
          "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Ref": "Name"}}},
                        "Other": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "fixed"}}}}


def _refers_url(aws) -> str:
    _s3(aws).put_object(Bucket=BUCKET, Key="refs.json", Body=json.dumps(REFERS))
    return f"https://{BUCKET}.s3.{REGION}.amazonaws.com/refs.json"


def test_gap_a_parameter_only_change_lists_no_changes(aws, cfn):
    url = _refers_url(aws)
    _deploy(cfn, "params", url=url, parameters={"Name": "a"})
    changed = _change_set(cfn, "params", url=url, kind="UPDATE", parameters={"Name": "bb"})
    assert (changed["Status"], changed["Changes"]) == ("CREATE_COMPLETE", [])


def test_fix_a_parameter_only_change_lists_what_refers_to_it(aws, cfn, patched):
    url = _refers_url(aws)
    _deploy(cfn, "params", url=url, parameters={"Name": "a"})
    changed = _change_set(cfn, "params", url=url, kind="UPDATE", parameters={"Name": "bb"})
    assert [(c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in changed["Changes"]] == [
        ("Modify", "Topic")]


def _add_a_queue(cfn) -> list[tuple[str, str]]:
    _deploy(cfn, "plain", TOPIC)
    grown = {"Resources": {**TOPIC["Resources"], "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}},
             "Outputs": TOPIC["Outputs"]}
    changed = _change_set(cfn, "plain", grown, kind="UPDATE")
    return sorted((c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in changed["Changes"])


def test_gap_a_resource_without_properties_is_modified_by_every_update(cfn):
    assert _add_a_queue(cfn) == [("Add", "Queue"), ("Modify", "Topic")]


def test_fix_a_resource_without_properties_is_left_alone(cfn, patched):
    assert _add_a_queue(cfn) == [("Add", "Queue")]


# --- nested stacks -----------------------------------------------------------------

def test_gap_nested_outputs_crash_the_server(aws, cfn):
    root = _nested(_s3(aws), TOPIC, CONSUMER)
    described = _change_set(cfn, "nested", root)
    with pytest.raises(ResponseParserError, match="500 Internal Server Error"):
        cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])


def test_fix_nested_outputs_feed_parameters_and_root_outputs(aws, cfn, patched):
    stack = _deploy(cfn, "nested", _nested(_s3(aws), TOPIC, CONSUMER))
    topic = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}["ChildTopic"]
    assert topic.startswith("arn:aws:sns:")
    consumer = next(s for s in cfn.describe_stacks()["Stacks"] if "-Consumer-" in s["StackName"])
    assert [(o["OutputKey"], o["OutputValue"]) for o in consumer["Outputs"]] == [("Received", topic)]


def _update_child(aws, cfn, s3) -> tuple[str, str]:
    before = next(s for s in cfn.describe_stacks()["Stacks"] if "-Child-" in s["StackName"])
    changed = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "v2"}}},
               "Outputs": TOPIC["Outputs"]}
    s3.put_object(Bucket=BUCKET, Key="child2.json", Body=json.dumps(changed))
    root = _nested(s3, TOPIC, outputs=False)
    root["Resources"]["Child"]["Properties"]["TemplateURL"] = f"https://{BUCKET}.s3.{REGION}.amazonaws.com/child2.json"
    _deploy(cfn, "nested", root, kind="UPDATE")
    after = next(s for s in cfn.describe_stacks()["Stacks"] if "-Child-" in s["StackName"])
    return before["StackId"], after["StackId"]


def test_gap_a_nested_update_replaces_the_stack(aws, cfn):
    s3 = _s3(aws)
    _deploy(cfn, "nested", _nested(s3, TOPIC, outputs=False))
    before, after = _update_child(aws, cfn, s3)
    assert before != after


def test_fix_a_nested_update_happens_in_place(aws, cfn, patched):
    s3 = _s3(aws)
    _deploy(cfn, "nested", _nested(s3, TOPIC, outputs=False))
    before, after = _update_child(aws, cfn, s3)
    assert before == after
    child = cfn.describe_stacks(StackName=after)["Stacks"][0]
    assert child["StackStatus"] == "UPDATE_COMPLETE"


NOT_EMULATED_OUTPUT = {
    "Resources": {"Topic": {"Type": "AWS::SNS::Topic"},
                  "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
                      "ComparisonOperator": "GreaterThanThreshold", "EvaluationPeriods": 1, "MetricName": "x",
                      "Namespace": "y", "Period": 60, "Statistic": "Sum", "Threshold": 1}}},
    "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}, "AlarmArn": {"Value": {"Fn::GetAtt": ["Alarm", "Arn"]}}},
}


def test_gap_a_nested_output_of_an_unemulated_type_crashes_the_server(aws, cfn):
    described = _change_set(cfn, "nested", _nested(_s3(aws), NOT_EMULATED_OUTPUT, outputs=False))
    with pytest.raises(ResponseParserError, match="500 Internal Server Error"):
        cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])


def test_fix_outputs_moto_cannot_compute_say_so(aws, cfn, patched):
    stack = _deploy(cfn, "nested", _nested(_s3(aws), NOT_EMULATED_OUTPUT))
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    child = next(s for s in cfn.describe_stacks()["Stacks"] if "-Child-" in s["StackName"])
    outputs = {o["OutputKey"]: o["OutputValue"] for o in child["Outputs"]}
    assert outputs["AlarmArn"] == local.NOT_EMULATED
    assert outputs["TopicArn"].startswith("arn:aws:sns:")


# --- resources moto leaves out or crashes on -------------------------------------------

GETATT_OF_UNEMULATED = {
    "Resources": {
        "Alarm": NOT_EMULATED_OUTPUT["Resources"]["Alarm"],
        "Param": {"Type": "AWS::SSM::Parameter",
                  "Properties": {"Name": "alarm-arn", "Type": "String", "Value": {"Fn::GetAtt": ["Alarm", "Arn"]}}},
    },
    "Outputs": {"ParamName": {"Value": {"Ref": "Param"}}},
}


def test_gap_getatt_of_an_unemulated_resource_fails_the_stack(cfn):
    described = _change_set(cfn, "getatt", GETATT_OF_UNEMULATED)
    with pytest.raises(ClientError, match="references undefined resource Alarm"):
        cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])


def test_fix_getatt_of_an_unemulated_resource_is_a_placeholder(aws, cfn, patched):
    stack = _deploy(cfn, "getatt", GETATT_OF_UNEMULATED)
    name = stack["Outputs"][0]["OutputValue"]
    ssm = boto3.client("ssm", endpoint_url=aws, region_name=REGION)
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == local.NOT_EMULATED


KMS_WITH_TAGS = {"Resources": {
    "Key": {"Type": "AWS::KMS::Key", "Properties": {
        "KeyPolicy": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]},
        "Tags": [{"Key": "Project", "Value": "demo"}]}},
    "Topic": {"Type": "AWS::SNS::Topic"},
}}


def test_gap_a_kms_key_with_tags_crashes_the_server(cfn):
    described = _change_set(cfn, "kms", KMS_WITH_TAGS)
    with pytest.raises(ResponseParserError, match="500 Internal Server Error"):
        cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])


def test_fix_a_crashing_resource_is_left_out(cfn, patched, caplog):
    stack = _deploy(cfn, "kms", KMS_WITH_TAGS)
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    logical = {r["LogicalResourceId"] for r in cfn.list_stack_resources(StackName="kms")["StackResourceSummaries"]}
    assert "Topic" in logical and "Key" not in logical
    assert "moto could not emulate Key (AWS::KMS::Key)" in caplog.text


SSM_WITH_TAGS = {"Resources": {"Setting": {"Type": "AWS::SSM::Parameter", "Properties": {
    "Name": "/demo/test/app/QUEUE_URL", "Type": "String", "Value": "https://sqs.example/q", "Tags": {"Project": "demo"}}}}}


def test_gap_a_parameter_with_tags_crashes_the_server(cfn):
    described = _change_set(cfn, "ssm", SSM_WITH_TAGS)
    with pytest.raises(ResponseParserError, match="500 Internal Server Error"):
        cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])


def test_fix_a_parameter_with_tags_is_created_tagged_and_deleted_with_its_stack(aws, cfn, patched):
    assert _deploy(cfn, "ssm", SSM_WITH_TAGS)["StackStatus"] == "CREATE_COMPLETE"
    ssm = boto3.client("ssm", endpoint_url=aws, region_name=REGION)
    assert ssm.get_parameter(Name="/demo/test/app/QUEUE_URL")["Parameter"]["Value"] == "https://sqs.example/q"
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/demo/test/app/QUEUE_URL")["TagList"]
    assert tags == [{"Key": "Project", "Value": "demo"}]
    cfn.delete_stack(StackName="ssm")
    assert ssm.get_parameters(Names=["/demo/test/app/QUEUE_URL"])["InvalidParameters"] == ["/demo/test/app/QUEUE_URL"]


# moto names an instance <stack>-<logical id>-<suffix>; in a nested stack that is over RDS's 63 characters
LONG_NAMED_STACK = "strata-prod-Database-1CK7N6PUP8QP"
DB_INSTANCE = {"Resources": {"DatabaseInstance1": {"Type": "AWS::RDS::DBInstance", "Properties": {
    "Engine": "postgres", "DBInstanceClass": "db.t3.micro", "AllocatedStorage": "20", "MasterUsername": "app",
    "MasterUserPassword": "not-a-real-secret"}}, "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}}}}


def test_gap_moto_rejects_an_instance_name_it_generated(cfn):
    described = _change_set(cfn, LONG_NAMED_STACK, DB_INSTANCE)
    with pytest.raises(ClientError, match="DBInstanceIdentifier is not a valid identifier"):
        cfn.execute_change_set(ChangeSetName=described["ChangeSetId"])


def test_fix_a_resource_moto_rejects_is_left_out(cfn, patched, caplog):
    assert _deploy(cfn, LONG_NAMED_STACK, DB_INSTANCE)["StackStatus"] == "CREATE_COMPLETE"
    assert "moto could not emulate DatabaseInstance1 (AWS::RDS::DBInstance)" in caplog.text


VPC_WITH_ROUTE_TABLE = {"Resources": {
    "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.9.0.0/16"}},
    "Routes": {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}},
}}


def test_gap_a_stack_with_a_route_table_cannot_be_deleted(cfn):
    _deploy(cfn, "vpc", VPC_WITH_ROUTE_TABLE)
    with pytest.raises(ClientError, match="DependencyViolation"):
        cfn.delete_stack(StackName="vpc")


def test_fix_a_stack_with_a_route_table_is_deleted(aws, cfn, patched):
    stack = _deploy(cfn, "vpc", VPC_WITH_ROUTE_TABLE)
    cfn.delete_stack(StackName="vpc")
    assert cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]["StackStatus"] == "DELETE_COMPLETE"
    ec2 = boto3.client("ec2", endpoint_url=aws, region_name=REGION)
    assert not ec2.describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.9.0.0/16"]}])["Vpcs"]


def test_gap_termination_protection_cannot_be_changed(cfn):
    _deploy(cfn, "plain", TOPIC)
    with pytest.raises(ResponseParserError, match="500 Internal Server Error"):
        cfn.update_termination_protection(StackName="plain", EnableTerminationProtection=True)


def test_fix_termination_protection_can_be_changed(cfn, patched):
    _deploy(cfn, "plain", TOPIC)
    cfn.update_termination_protection(StackName="plain", EnableTerminationProtection=True)
    assert cfn.describe_stacks(StackName="plain")["Stacks"][0]["EnableTerminationProtection"] is True


TWO_TOPICS = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}, "Keep": {"Type": "AWS::SNS::Topic"}}}
ONE_TOPIC = {"Resources": {"Keep": {"Type": "AWS::SNS::Topic"}}}


def _remove_and_add_back(aws, cfn) -> bool:
    """Whether a resource removed from a stack and added back exists again."""
    cfn.create_stack(StackName="again", TemplateBody=json.dumps(TWO_TOPICS))
    cfn.update_stack(StackName="again", TemplateBody=json.dumps(ONE_TOPIC))
    cfn.update_stack(StackName="again", TemplateBody=json.dumps(TWO_TOPICS))
    physical = {r["LogicalResourceId"]: r["PhysicalResourceId"]
                for r in cfn.list_stack_resources(StackName="again")["StackResourceSummaries"]}
    topics = boto3.client("sns", endpoint_url=aws, region_name=REGION).list_topics()["Topics"]
    return physical["Topic"] in {t["TopicArn"] for t in topics}


def test_gap_a_resource_added_back_is_the_deleted_one(aws, cfn):
    assert not _remove_and_add_back(aws, cfn)


def test_fix_a_resource_added_back_is_created_again(aws, cfn, patched):
    assert _remove_and_add_back(aws, cfn)


def _vpc(dns_hostnames: bool) -> dict:
    return {"Resources": {"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {
        "CidrBlock": "10.3.0.0/16", "EnableDnsHostnames": dns_hostnames}}},
        "Outputs": {"VpcId": {"Value": {"Ref": "Vpc"}}}}


def _update_a_vpc(cfn) -> tuple[str, str]:
    """(VpcId output, physical id) after an update moto has no handler for."""
    created = cfn.create_stack(StackName="vpc", TemplateBody=json.dumps(_vpc(False)))
    cfn.update_stack(StackName="vpc", TemplateBody=json.dumps(_vpc(True)))
    stack = cfn.describe_stacks(StackName=created["StackId"])["Stacks"][0]
    outputs = {o["OutputKey"]: o.get("OutputValue") for o in stack.get("Outputs", [])}
    [resource] = cfn.list_stack_resources(StackName="vpc")["StackResourceSummaries"]
    return outputs.get("VpcId") or "", resource["PhysicalResourceId"]


def test_gap_an_update_moto_cannot_make_drops_the_resource(cfn):
    assert _update_a_vpc(cfn) == ("", "")
    assert not local.updatable("AWS::EC2::VPC") and local.updatable("AWS::SQS::Queue")


def test_fix_an_update_moto_cannot_make_keeps_the_resource(cfn, patched, caplog):
    output, physical = _update_a_vpc(cfn)
    assert output == physical and physical.startswith("vpc-")
    assert "moto cannot update Vpc (AWS::EC2::VPC) in stack vpc in place: kept as it was" in caplog.text


# --- what moto does not emulate, and the server ---------------------------------------

def test_not_emulated_lists_resources_moto_skips():
    bodies = {"a.json": {"Resources": {"Cdn": {"Type": "AWS::CloudFront::Distribution"},
                                       "Vpc": {"Type": "AWS::EC2::VPC"},
                                       "Hook": {"Type": "Custom::Thing"}}},
              "b.json": {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}}
    assert local.not_emulated(bodies) == {"a.json": [("Cdn", "AWS::CloudFront::Distribution")]}


def test_is_moto_tells_moto_from_no_endpoint(aws):
    assert local.is_moto(aws)
    assert not local.is_moto(f"http://127.0.0.1:{local.free_port()}")


def test_server_serves_with_the_layer_and_removes_it():
    with local.server() as url:
        assert local.installed()
        with urllib.request.urlopen(f"{url}/moto-api/config") as response:
            assert response.status in (200, 201)
    assert not local.installed()


def test_a_busy_port_is_refused_at_once():
    from generator.deploy.errors import DeployError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(DeployError, match=f"port {port} on 127.0.0.1 is already in use"):
            with local.server(port=port):
                pytest.fail("served on a busy port")


def test_serve_runs_until_stopped():
    stop, lines = threading.Event(), []
    port = local.free_port()
    worker = threading.Thread(target=local.serve, kwargs={"port": port, "stop": stop, "echo": lines.append})
    worker.start()
    try:
        for _ in range(200):
            if lines:
                break
            threading.Event().wait(0.01)
        assert lines and f"http://127.0.0.1:{port}" in lines[0]
        assert local.is_moto(f"http://127.0.0.1:{port}")
    finally:
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert not local.installed()
