"""The safety net: what a reviewed deploy refuses, and what the stack policy denies.

- A `network.cidr` change replaces the VPC, its subnets, the security groups
  and the mount targets that data stores sit in: refused and listed. What
  moto cannot show (nested change sets, Replacement, RequiresRecreation) is
  played with botocore's Stubber, in the response shapes of the
  CloudFormation API reference (DescribeChangeSet, GetTemplate,
  ListStackResources); botocore validates every stubbed response against
  the service model.
- Against moto itself: removing a layer that holds data is refused (moto
  leaves the nested stack's physical id out of the change), a layer
  disabled and enabled again no longer wedges the stack, a replacement
  moto cannot do is refused, and Ctrl-C at the prompt cleans up.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from generator.build.compose import Layers
from generator.build.deploy_section import DeployConfig
from generator.deploy import local, plan_report, protection
from generator.deploy.changes import Plan, ResourceChange
from generator.deploy.errors import Interrupted, Refused
from generator.deploy.package import Packaged, layout, read_build
from generator.deploy.protection import POLICY_SID, stack_policy
from generator.deploy.rollout import Environment
from generator.deploy.session import Aws
from generator.deploy.stacks import Deployer
from tests.generator.deploy.deploy_support import (
    NESTED_ARN, REGION, STACK_ARN, build_dev, rebuild_dev, stubbed, tiny_env, tiny_layers, write_build,
)

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
ACCOUNT = "123456789012"
ROOT_ARN = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/strata-dev/11111111-2222-3333-4444-555555555555"
ROOT_CHANGE_SET = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/strata-cidr/aaaaaaaa-0000-0000-0000-000000000000"
LAYERS = ("Cache", "Containers", "Database", "Messaging", "Network", "Security", "Static", "Storage", "Web")


def _nested_arn(layer: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/strata-dev-{layer}-ABC/{layer.lower():0<8.8}-0000-0000-0000-000000000000"


def _nested_change_set(layer: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/strata-cidr-{layer}/bbbbbbbb-0000-0000-0000-000000000000"


@pytest.fixture(scope="module")
def dev_out(tmp_path_factory):
    return build_dev(tmp_path_factory)


def _detail(name: str, recreation: str, evaluation: str = "Static", source: str = "DirectModification",
            entity: str = "") -> dict:
    detail = {"Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation},
              "Evaluation": evaluation, "ChangeSource": source}
    if entity:
        detail["CausingEntity"] = entity
    return detail


def _modify(logical_id: str, type_name: str, replacement: str, details: list, physical: str, **extra) -> dict:
    return {"Type": "Resource", "ResourceChange": {
        "Action": "Modify", "LogicalResourceId": logical_id, "PhysicalResourceId": physical,
        "ResourceType": type_name, "Replacement": replacement, "Scope": ["Properties"], "Details": details, **extra}}


# What CloudFormation answers for the CIDR change, layer by layer (abridged
# to the rows the test reads; a real change set lists every resource).
CIDR_CHANGES = {
    "Network": [
        _modify("Vpc", "AWS::EC2::VPC", "True", [_detail("CidrBlock", "Always")], "vpc-0a1b2c3d"),
        _modify("PrivateSubnet1", "AWS::EC2::Subnet", "True",
                [_detail("CidrBlock", "Always"), _detail("VpcId", "Always", "Dynamic", "ResourceReference", "Vpc")],
                "subnet-0a1b2c3d"),
    ],
    "Security": [_modify("DbSecurityGroup", "AWS::EC2::SecurityGroup", "Conditional",
                         [_detail("VpcId", "Always", "Dynamic", "ParameterReference", "VpcId")], "sg-0a1b2c3d")],
    "Database": [_modify("DatabaseSubnetGroup", "AWS::RDS::DBSubnetGroup", "False",
                         [_detail("SubnetIds", "Never", "Dynamic", "ParameterReference", "PrivateSubnetIds")],
                         "strata-dev-subnets")],
    "Storage": [_modify("MountTarget1", "AWS::EFS::MountTarget", "Conditional",
                        [_detail("SubnetId", "Always", "Dynamic", "ParameterReference", "PrivateSubnetIds")],
                        "fsmt-0a1b2c3d")],
}


def _described(change_set: str, stack_id: str, changes: list) -> dict:
    return {"ChangeSetId": change_set, "ChangeSetName": change_set.split("/")[1], "StackId": stack_id,
            "StackName": stack_id.split("/")[1], "Status": "CREATE_COMPLETE", "ExecutionStatus": "AVAILABLE",
            "Changes": changes}


def _stub_cidr_plan(stubber, old_out) -> None:
    """DescribeStacks, CreateChangeSet, DescribeChangeSet (root and nested),
    then GetTemplate/ListStackResources of what is deployed (the old build)."""
    old = read_build(old_out)
    stack = {"Stacks": [{"StackName": "strata-dev", "StackId": ROOT_ARN, "StackStatus": "UPDATE_COMPLETE",
                         "CreationTime": T0, "Parameters": [
                             {"ParameterKey": "TemplateBucket", "ParameterValue": "b"},
                             {"ParameterKey": "TemplatePrefix", "ParameterValue": "dev/"}]}]}
    for _ in range(3):  # outputs it feeds, previous parameters, the plan's own check
        stubber.add_response("describe_stacks", stack, {"StackName": "strata-dev"})
    stubber.add_response("create_change_set", {"Id": ROOT_CHANGE_SET, "StackId": ROOT_ARN})
    nested_rows = [
        _modify(layer, "AWS::CloudFormation::Stack", "False",
                [{"Target": {"Attribute": "Properties", "Name": "TemplateURL", "RequiresRecreation": "Never"},
                  "Evaluation": "Static", "ChangeSource": "DirectModification"}],
                _nested_arn(layer), ChangeSetId=_nested_change_set(layer))
        for layer in CIDR_CHANGES]
    root = _described(ROOT_CHANGE_SET, ROOT_ARN, nested_rows)
    stubber.add_response("describe_change_set", root, {"ChangeSetName": ROOT_CHANGE_SET})
    stubber.add_response("describe_change_set", root, {"ChangeSetName": ROOT_CHANGE_SET})
    for layer, changes in CIDR_CHANGES.items():
        stubber.add_response("describe_change_set", _described(_nested_change_set(layer), _nested_arn(layer), changes),
                             {"ChangeSetName": _nested_change_set(layer)})
    stubber.add_response("get_template", {"TemplateBody": json.dumps(layout(old, "dev/").root),
                                          "StagesAvailable": ["Original", "Processed"]},
                         {"StackName": ROOT_ARN, "TemplateStage": "Original"})
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": [
        {"LogicalResourceId": layer, "PhysicalResourceId": _nested_arn(layer), "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "UPDATE_COMPLETE", "LastUpdatedTimestamp": T0} for layer in LAYERS]}, {"StackName": ROOT_ARN})
    for layer in LAYERS:
        stubber.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": _nested_arn(layer)})
        stubber.add_response("get_template", {"TemplateBody": json.dumps(old.body(f"{layer.lower()}.json"))},
                             {"StackName": _nested_arn(layer), "TemplateStage": "Original"})


class _OneRegion:
    region = REGION

    def __init__(self, deployer):
        self._deployer = deployer

    def deployer(self, region=None, echo=print):
        return self._deployer


def test_a_cidr_change_set_is_refused_and_lists_what_data_stores_depend_on(dev_out, tmp_path):
    from generator.build.config import load_config

    # one stack only: without CloudFront's alarm dev has no us-east-1 companion to stub as well
    def root_only(data):
        data["static"]["alarms"] = {"enabled": False}

    def new_cidr(data):
        root_only(data)
        data["network"].update(cidr="10.20.0.0/16")

    old_out = rebuild_dev(dev_out, tmp_path / "old", root_only)
    new_out = rebuild_dev(dev_out, tmp_path / "new", new_cidr)
    client, stubber = stubbed()
    deployer = Deployer(client, region=REGION, poll=0, echo=lambda line: None)
    _stub_cidr_plan(stubber, old_out)
    stubber.add_response("delete_change_set", {}, {"ChangeSetName": ROOT_CHANGE_SET})
    packaged = Packaged("b", "dev/", REGION, layout(read_build(new_out), "dev/"))
    environment = Environment(load_config(new_out.parent.parent / "params" / "dev.yaml"), _OneRegion(deployer),
                              echo=lambda line: None)
    shown: list[Plan] = []
    with pytest.raises(Refused) as refused:
        environment.deploy(packaged, new_out, approve=lambda plan: pytest.fail("asked although refused"),
                           show=shown.append)
    stubber.assert_no_pending_responses()  # and no ExecuteChangeSet was ever made
    [plan] = shown
    assert plan.loses_data == []  # no store itself is replaced...
    assert [(c.stack, c.logical_id, c.replacement) for c in plan.affects_data] == [  # ...but what they sit in is
        ("Network", "Vpc", "True"), ("Network", "PrivateSubnet1", "True"),
        ("Security", "DbSecurityGroup", "Conditional"), ("Storage", "MountTarget1", "Conditional")]
    vpc = plan.affects_data[0]
    assert vpc.depended_on.startswith("Cache/CacheReplicationGroup, Database/DatabaseCluster and")
    assert [p.describe() for p in vpc.properties] == ['CidrBlock: "10.10.0.0/16" -> "10.20.0.0/16" (replaces)']
    message = str(refused.value)
    assert "replaces resources that data stores depend on" in message
    assert "Network/Vpc (AWS::EC2::VPC): Modify, Replacement True [Properties.CidrBlock (replaces; DirectModification)]" \
        in message
    assert "Storage/MountTarget1 (AWS::EFS::MountTarget): Modify, Replacement Conditional" in message
    assert "DatabaseSubnetGroup" not in message and message.endswith("run again with --allow-replacement.")
    text = plan_report.table([plan])
    section = text.split(plan_report.DATA_AFFECTING + ":")[1]
    assert "Network/Vpc (AWS::EC2::VPC): Modify, Replacement True" in section
    assert '      CidrBlock: "10.10.0.0/16" -> "10.20.0.0/16" (replaces)' in text.splitlines()
    assert json.loads(plan_report.as_json("dev", [plan]))["stacks"][0]["data_store_dependencies_replaced"] == [
        "Network/Vpc", "Network/PrivateSubnet1", "Security/DbSecurityGroup", "Storage/MountTarget1"]


def test_a_removed_layer_without_a_physical_id_is_looked_up_and_refused():
    """moto (and some other endpoints) leave PhysicalResourceId out of a removed
    nested stack's change: it is read from the live stack instead."""
    client, stubber = stubbed()
    deployer = Deployer(client, region=REGION, poll=0, echo=lambda line: None)
    change_set = ROOT_CHANGE_SET
    stubber.add_response("describe_stacks", {"Stacks": [{"StackName": "demo-tiny", "StackId": STACK_ARN,
                                                          "StackStatus": "UPDATE_COMPLETE", "CreationTime": T0}]})
    stubber.add_response("create_change_set", {"Id": change_set, "StackId": STACK_ARN})
    removed = _described(change_set, STACK_ARN, [{"Type": "Resource", "ResourceChange": {
        "Action": "Remove", "LogicalResourceId": "Storage", "ResourceType": "AWS::CloudFormation::Stack",
        "Scope": [], "Details": []}}])
    stubber.add_response("describe_change_set", removed, {"ChangeSetName": change_set})
    stubber.add_response("describe_change_set", removed, {"ChangeSetName": change_set})
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": [
        {"LogicalResourceId": "Storage", "PhysicalResourceId": NESTED_ARN, "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "CREATE_COMPLETE", "LastUpdatedTimestamp": T0}]}, {"StackName": STACK_ARN})
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": [
        {"LogicalResourceId": "FileSystem", "PhysicalResourceId": "fs-0a1b2c3d", "ResourceType": "AWS::EFS::FileSystem",
         "ResourceStatus": "CREATE_COMPLETE", "LastUpdatedTimestamp": T0}]}, {"StackName": NESTED_ARN})
    plan = deployer.plan("demo-tiny", template_url="https://b.s3.eu-west-1.amazonaws.com/root.json")
    assert [(c.stack, c.logical_id, c.physical_id) for c in plan.loses_data] == [("Storage", "FileSystem", "fs-0a1b2c3d")]
    with pytest.raises(Refused, match=r"Storage/FileSystem \(AWS::EFS::FileSystem\): Remove"):
        protection.refuse_data_loss(plan, allow_replacement=False)


# --- the stack policy ----------------------------------------------------------------------

def test_the_stack_policy_also_denies_replacing_what_data_stores_depend_on():
    policy = stack_policy(guarded=["Vpc", "PrivateSubnet1"])
    guard = next(s for s in policy["Statement"] if s.get("Sid") == f"{POLICY_SID}Dependencies")
    assert guard == {"Sid": f"{POLICY_SID}Dependencies", "Effect": "Deny", "Principal": "*", "Action": "Update:Replace",
                     "Resource": ["LogicalResourceId/PrivateSubnet1", "LogicalResourceId/Vpc"]}
    relaxed = stack_policy(exempt=["Vpc"], guarded=["Vpc", "PrivateSubnet1"])
    guard = next(s for s in relaxed["Statement"] if s.get("Sid") == f"{POLICY_SID}Dependencies")
    assert guard["Resource"] == ["LogicalResourceId/PrivateSubnet1"]


def test_protect_writes_each_stacks_own_guarded_resources(dev_out):
    from generator.deploy.dependencies import by_stack, data_dependencies
    from generator.deploy.package import stack_templates
    from generator.deploy.references import Stacks

    guarded = by_stack(data_dependencies(Stacks(stack_templates(read_build(dev_out)))))
    client, stubber = stubbed()
    deployer = Deployer(client, region=REGION, poll=0, echo=lambda line: None)
    stubber.add_response("describe_stacks", {"Stacks": [{"StackName": "strata-dev", "StackId": ROOT_ARN,
                                                          "StackStatus": "UPDATE_COMPLETE", "CreationTime": T0,
                                                          "EnableTerminationProtection": True}]})
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": [
        {"LogicalResourceId": "Network", "PhysicalResourceId": _nested_arn("Network"),
         "ResourceType": "AWS::CloudFormation::Stack", "ResourceStatus": "UPDATE_COMPLETE",
         "LastUpdatedTimestamp": T0}]}, {"StackName": ROOT_ARN})
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": _nested_arn("Network")})
    for stack, label in ((ROOT_ARN, "root"), (_nested_arn("Network"), "Network")):
        stubber.add_response("get_stack_policy", {}, {"StackName": stack})
        body = json.dumps(stack_policy(guarded=guarded.get(label, ())), sort_keys=True)
        stubber.add_response("set_stack_policy", {}, {"StackName": stack, "StackPolicyBody": body})
    config = DeployConfig(termination_protection=True, protect_stateful=True)
    assert protection.protect(deployer, "strata-dev", config, guarded) == [
        "stack policy protecting stateful resources on root, Network"]
    stubber.assert_no_pending_responses()
    assert "LogicalResourceId/Vpc" in json.dumps(stack_policy(guarded=guarded["Network"]))


def test_allow_replacement_lifts_the_policy_for_the_reviewed_dependencies_only():
    client, stubber = stubbed()
    deployer = Deployer(client, region=REGION, poll=0, echo=lambda line: None)
    plan = Plan("root", "strata-dev", REGION, changes=[
        ResourceChange("Network", "Modify", "Vpc", "AWS::EC2::VPC", "True", stack_id=NESTED_ARN,
                       depended_on="Database/DatabaseCluster depends on it")])
    guarded = {"Network": ("PrivateSubnet1", "Vpc")}
    stubber.add_response("get_stack_policy", {"StackPolicyBody": json.dumps(stack_policy(guarded=guarded["Network"]))},
                         {"StackName": NESTED_ARN})
    relaxed = json.dumps(stack_policy(["Vpc"], guarded=guarded["Network"]), sort_keys=True)
    stubber.add_response("set_stack_policy", {}, {"StackName": NESTED_ARN, "StackPolicyBody": relaxed})
    assert protection.relax(deployer, plan, guarded) == ["stack policy lifted for Vpc until the deploy ends"]
    guard = next(s for s in json.loads(relaxed)["Statement"] if s.get("Sid") == f"{POLICY_SID}Dependencies")
    assert guard["Resource"] == ["LogicalResourceId/PrivateSubnet1"]  # the VPC is let through, for this deploy only


def test_ctrl_c_while_following_says_cloudformation_goes_on():
    client, stubber = stubbed()

    def interrupt(seconds):
        raise KeyboardInterrupt

    deployer = Deployer(client, region=REGION, poll=1, echo=lambda line: None, sleep=interrupt)
    plan = Plan("root", "demo-tiny", REGION, change_set_id=ROOT_CHANGE_SET, change_set_type="UPDATE",
                stack_id=STACK_ARN, changes=[ResourceChange("root", "Modify", "Topic", "AWS::SNS::Topic", "False")])
    stubber.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    stubber.add_response("execute_change_set", {}, {"ChangeSetName": ROOT_CHANGE_SET, "StackName": STACK_ARN})
    stubber.add_response("describe_stacks", {"Stacks": [{"StackName": "demo-tiny", "StackId": STACK_ARN,
                                                          "StackStatus": "UPDATE_IN_PROGRESS", "CreationTime": T0}]})
    stubber.add_response("describe_stack_events", {"StackEvents": []}, {"StackName": STACK_ARN})
    with pytest.raises(Interrupted, match=r"CloudFormation carries on with demo-tiny \(eu-west-1\) without Strata; "
                                          r"follow it with `strata status`"):
        deployer.execute(plan)


# --- against moto ----------------------------------------------------------------------------

@pytest.fixture
def endpoint(aws):
    with local.compat():
        yield aws


def _deploy(environment: Environment, out_dir, **kwargs) -> list[Plan]:
    from generator.deploy.package import ensure_bucket, package

    s3 = environment.aws.client("s3")
    ensure_bucket(s3, "safety-templates", REGION, tls_only=False)
    packaged = package(s3, out_dir, "safety-templates", "tiny/", REGION)
    return environment.deploy(packaged, out_dir, approve=kwargs.pop("approve", lambda plan: True),
                              show=lambda plan: None, **kwargs)


def _environment(endpoint: str, **deploy) -> Environment:
    return Environment(tiny_env(**deploy), Aws(REGION, endpoint_url=endpoint, poll=0), lambda line: None, emulated=True)


def _messaging_only() -> Layers:
    return Layers(nested={"messaging": tiny_layers().nested["messaging"]})


def test_removing_a_layer_with_data_is_refused_on_moto(endpoint, tmp_path):
    environment = _environment(endpoint)
    _deploy(environment, write_build(tmp_path / "a", environment.env, tiny_layers()))
    with pytest.raises(Refused, match=r"(?s)stateful resources:\n  Storage/Queue \(AWS::SQS::Queue\): Remove"):
        _deploy(environment, write_build(tmp_path / "b", environment.env, _messaging_only()))
    [report] = environment.status()
    assert [label for label, _ in report.nested] == ["Messaging", "Storage"]  # nothing was removed


def test_a_layer_disabled_and_enabled_again_keeps_working_on_moto(endpoint, tmp_path):
    environment = _environment(endpoint)
    _deploy(environment, write_build(tmp_path / "a", environment.env, tiny_layers()))
    _deploy(environment, write_build(tmp_path / "b", environment.env, _messaging_only()), allow_replacement=True)
    assert [label for label, _ in environment.status()[0].nested] == ["Messaging"]
    out = write_build(tmp_path / "c", environment.env, tiny_layers())
    _deploy(environment, out)
    [report] = environment.status(out)
    assert dict(report.nested) == {"Messaging": "CREATE_COMPLETE", "Storage": "CREATE_COMPLETE"}
    assert dict((k, v) for k, v, _ in report.outputs)["QueueArn"].startswith("arn:aws:sqs:")
    assert all(plan.no_changes for plan in environment.plan(_package_only(environment, out), out))
    assert environment.destroy(out) == [("demo-tiny", "DELETE_COMPLETE")]


def _package_only(environment: Environment, out_dir):
    from generator.deploy.package import package

    return package(environment.aws.client("s3"), out_dir, "safety-templates", "tiny/", REGION)


def _named_topic(name: str) -> Layers:
    from troposphere import Output, Ref, Template, sns

    topic = Template(Description="a named topic")
    topic.add_resource(sns.Topic("Topic", TopicName=name))
    topic.add_output(Output("TopicArn", Value=Ref("Topic"), Description="topic"))
    return Layers(nested={"messaging": topic})


def test_a_replacement_moto_cannot_do_is_refused_even_when_allowed(endpoint, tmp_path):
    environment = _environment(endpoint)
    _deploy(environment, write_build(tmp_path / "a", environment.env, _named_topic("demo-a")))
    renamed = write_build(tmp_path / "b", environment.env, _named_topic("demo-b"))
    [plan] = environment.plan(_package_only(environment, renamed), renamed)
    topic = next(c for c in plan.changes if c.logical_id == "Topic")
    assert (topic.stack, topic.replacement, topic.predicted) == ("Messaging", "True", True)
    assert "| Messaging | Modify | Topic | AWS::SNS::Topic | True* |" in plan_report.markdown([plan])
    with pytest.raises(Refused, match=r"(?s)on the local endpoint: it replaces 1 resource\(s\), and moto cannot "
                                      r"replace a resource.*Messaging/Topic \(AWS::SNS::Topic\)"):
        _deploy(environment, renamed, allow_replacement=True)
    outputs = dict((k, v) for k, v, _ in environment.status()[0].outputs)
    assert outputs["TopicArn"].endswith(":demo-a")


def test_ctrl_c_at_the_approval_prompt_cleans_up_like_no(endpoint, tmp_path):
    import boto3

    environment = _environment(endpoint)

    def interrupted(plan):
        raise KeyboardInterrupt

    out = write_build(tmp_path, environment.env, tiny_layers())
    with pytest.raises(Interrupted, match="interrupted at the approval prompt: demo-tiny was not changed"):
        _deploy(environment, out, approve=interrupted)
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    assert cfn.describe_stacks()["Stacks"] == []  # no REVIEW_IN_PROGRESS stack, no change set left


def test_ctrl_c_at_the_approval_prompt_of_an_update_deletes_its_change_set(endpoint, tmp_path):
    import boto3

    environment = _environment(endpoint)
    _deploy(environment, write_build(tmp_path / "a", environment.env, tiny_layers()))

    def interrupted(plan):
        raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        _deploy(environment, write_build(tmp_path / "b", environment.env, tiny_layers(topic_name="new")),
                approve=interrupted)
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    pending = [c for c in cfn.list_change_sets(StackName="demo-tiny")["Summaries"]
               if c["ExecutionStatus"] == "AVAILABLE"]
    assert pending == []
    assert cfn.describe_stacks(StackName="demo-tiny")["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_the_stubbed_change_set_shapes_are_the_api_references():
    """The stubs above are validated by botocore against the service model:
    a made-up field fails, so the shapes cannot drift from the API."""
    from botocore.exceptions import ParamValidationError

    client, stubber = stubbed()
    with pytest.raises(ParamValidationError, match="Unknown parameter"):
        stubber.add_response("describe_change_set", {**_described(ROOT_CHANGE_SET, ROOT_ARN, []), "Made": "up"})
