"""What moto cannot show, with botocore's Stubber and response shapes from
the CloudFormation API reference: nested change sets, Replacement values,
failure events and rollback, every "no changes" form, and the safety
settings' API calls. Plus the three renderings of a plan."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from botocore.stub import ANY

from generator.build.deploy_section import DeployConfig
from generator.deploy import events, plan_report, protection
from generator.deploy.changes import Plan, ResourceChange, masked
from generator.deploy.errors import DeployError, DeployFailed, Refused
from generator.deploy.package import Packaged, layout, read_build
from generator.deploy.protection import POLICY_SID, rollback_configuration, stack_policy
from generator.deploy.rollout import Environment
from generator.deploy.stacks import Deployer
from tests.generator.deploy.deploy_support import (
    CHANGE_SET_ARN, NESTED_ARN, NESTED_CHANGE_SET_ARN, REGION, STACK_ARN, stubbed, tiny_env, tiny_layers, write_build,
)

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
URL = "https://b.s3.eu-west-1.amazonaws.com/root-abc.json"
NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."


# --- response shapes ------------------------------------------------------------------

def _stacks(status: str = "UPDATE_COMPLETE", stack_id: str = STACK_ARN, **extra) -> dict:
    return {"Stacks": [{"StackName": "demo-tiny", "StackId": stack_id, "StackStatus": status, "CreationTime": T0,
                        **extra}]}


def _missing(stubber, stack: str = "demo-tiny") -> None:
    stubber.add_client_error("describe_stacks", "ValidationError", f"Stack with id {stack} does not exist",
                             expected_params={"StackName": stack})


def _detail(name: str, recreation: str = "Never", source: str = "DirectModification", entity: str = "") -> dict:
    detail = {"Target": {"Attribute": "Properties", "Name": name, "RequiresRecreation": recreation},
              "Evaluation": "Static", "ChangeSource": source}
    if entity:
        detail["CausingEntity"] = entity
    return detail


def _change(action: str, logical_id: str, type_name: str, replacement: str | None = None, details=(),
            change_set: str = "", physical: str = "") -> dict:
    change = {"Action": action, "LogicalResourceId": logical_id, "ResourceType": type_name,
              "Scope": ["Properties"] if details else [], "Details": list(details)}
    if replacement:
        change["Replacement"] = replacement
    if change_set:
        change["ChangeSetId"] = change_set
    if physical:
        change["PhysicalResourceId"] = physical
    return {"Type": "Resource", "ResourceChange": change}


def _change_set(changes: list, status: str = "CREATE_COMPLETE", reason: str = "", change_set: str = CHANGE_SET_ARN,
                stack_id: str = STACK_ARN) -> dict:
    described = {"ChangeSetId": change_set, "ChangeSetName": change_set.split("/")[1], "StackId": stack_id,
                 "StackName": stack_id.split("/")[1], "Status": status, "ExecutionStatus": "AVAILABLE",
                 "Changes": changes}
    if reason:
        described.update(StatusReason=reason, ExecutionStatus="UNAVAILABLE")
    return described


DATABASE = _change("Modify", "Database", "AWS::CloudFormation::Stack", "False",
                   [{"Target": {"Attribute": "Properties", "RequiresRecreation": "Never"}, "Evaluation": "Dynamic",
                     "ChangeSource": "Automatic"}], change_set=NESTED_CHANGE_SET_ARN, physical=NESTED_ARN)


def _stub_plan(stubber, root_changes: list, nested_changes: list | None = None, status: str = "CREATE_COMPLETE",
               reason: str = "", existing: str = "UPDATE_COMPLETE") -> None:
    stubber.add_response("describe_stacks", _stacks(existing), {"StackName": "demo-tiny"})
    stubber.add_response("create_change_set", {"Id": CHANGE_SET_ARN, "StackId": STACK_ARN})
    described = _change_set(root_changes, status, reason)
    stubber.add_response("describe_change_set", described, {"ChangeSetName": CHANGE_SET_ARN})
    if status == "FAILED":
        return
    stubber.add_response("describe_change_set", described, {"ChangeSetName": CHANGE_SET_ARN})
    if nested_changes is not None:
        stubber.add_response("describe_change_set",
                             _change_set(nested_changes, change_set=NESTED_CHANGE_SET_ARN, stack_id=NESTED_ARN),
                             {"ChangeSetName": NESTED_CHANGE_SET_ARN})


def _stub_templates(stubber, root: dict, nested: dict[str, dict] | None = None) -> None:
    """GetTemplate of the root, then of each nested stack (by ARN) that
    ListStackResources names, as Strata's diff reads the deployed templates."""
    stubber.add_response("get_template", {"TemplateBody": json.dumps(root), "StagesAvailable": ["Original", "Processed"]},
                         {"StackName": STACK_ARN, "TemplateStage": "Original"})
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": [
        {"LogicalResourceId": label, "PhysicalResourceId": arn, "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "UPDATE_COMPLETE", "LastUpdatedTimestamp": T0} for label, (arn, _) in (nested or {}).items()
    ]}, {"StackName": STACK_ARN})
    for arn, body in (nested or {}).values():
        stubber.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": arn})
        stubber.add_response("get_template", {"TemplateBody": json.dumps(body)},
                             {"StackName": arn, "TemplateStage": "Original"})


def _event(number: int, logical_id: str, status: str, reason: str = "", stack_id: str = STACK_ARN,
           physical: str = "", type_name: str = "AWS::CloudFormation::Stack") -> dict:
    event = {"StackId": stack_id, "EventId": f"e{stack_id[-4:]}{number}", "StackName": stack_id.split("/")[1],
             "LogicalResourceId": logical_id, "PhysicalResourceId": physical, "ResourceType": type_name,
             "Timestamp": T0 + timedelta(seconds=number), "ResourceStatus": status}
    if reason:
        event["ResourceStatusReason"] = reason
    return event


@pytest.fixture
def stub():
    client, stubber = stubbed()
    lines: list[str] = []
    yield Deployer(client, region=REGION, poll=0, echo=lines.append), stubber, lines
    stubber.assert_no_pending_responses()


def _plan(deployer: Deployer, **kwargs) -> Plan:
    return deployer.plan("demo-tiny", template_url=URL, parameters={"TemplateBucket": "b"}, **kwargs)


# --- replacements ----------------------------------------------------------------------------

AURORA_REPLACED = _change("Modify", "AuroraCluster", "AWS::RDS::DBCluster", "True",
                          [_detail("Engine", "Always"), _detail("MasterUserPassword", "Never", "ResourceReference",
                                                                "DbSecret")], physical="demo-db-cluster")


def test_a_replaced_aurora_cluster_is_refused_without_allow_replacement(stub):
    deployer, stubber, _ = stub
    _stub_plan(stubber, [DATABASE], [AURORA_REPLACED])
    plan = _plan(deployer)
    [cluster] = plan.loses_data
    assert (cluster.stack, cluster.logical_id, cluster.replacement) == ("Database", "AuroraCluster", "True")
    assert cluster.stack_id == NESTED_ARN
    assert cluster.triggers == ("Properties.Engine (replaces; DirectModification)",
                                "Properties.MasterUserPassword (ResourceReference: DbSecret)")
    # no execute_change_set is stubbed: the Stubber fails the test if it were called
    with pytest.raises(Refused, match=r"(?s)Database/AuroraCluster \(AWS::RDS::DBCluster\): Modify, Replacement True"
                                      r".*run again with --allow-replacement"):
        deployer.execute(plan)


def test_allow_replacement_executes_the_reviewed_change_set(stub):
    deployer, stubber, lines = stub
    _stub_plan(stubber, [DATABASE], [AURORA_REPLACED])
    plan = _plan(deployer)
    stubber.add_response("describe_stack_events", {"StackEvents": [_event(0, "demo-tiny", "UPDATE_COMPLETE",
                                                                          physical=STACK_ARN)]})
    stubber.add_response("execute_change_set", {}, {"ChangeSetName": CHANGE_SET_ARN, "StackName": STACK_ARN})
    stubber.add_response("describe_stacks", _stacks("UPDATE_COMPLETE"), {"StackName": STACK_ARN})
    stubber.add_response("describe_stack_events", {"StackEvents": [
        _event(6, "demo-tiny", "UPDATE_COMPLETE", physical=STACK_ARN),
        _event(5, "Database", "UPDATE_COMPLETE", physical=NESTED_ARN),
        _event(2, "Database", "UPDATE_IN_PROGRESS", physical=NESTED_ARN),
        _event(1, "demo-tiny", "UPDATE_IN_PROGRESS", "User Initiated", physical=STACK_ARN),
        _event(0, "demo-tiny", "UPDATE_COMPLETE", physical=STACK_ARN),
    ]}, {"StackName": STACK_ARN})
    stubber.add_response("describe_stack_events", {"StackEvents": [
        _event(3, "AuroraCluster", "UPDATE_COMPLETE", stack_id=NESTED_ARN, physical="new", type_name="AWS::RDS::DBCluster"),
        _event(2, "AuroraCluster", "UPDATE_IN_PROGRESS", "Requested update requires the creation of a new physical "
               "resource; hence creating one.", stack_id=NESTED_ARN, physical="new", type_name="AWS::RDS::DBCluster"),
        _event(1, "demo-tiny-Database-ABC", "UPDATE_IN_PROGRESS", stack_id=NESTED_ARN, physical=NESTED_ARN),
    ]}, {"StackName": NESTED_ARN})
    assert deployer.execute(plan, allow_replacement=True) == "UPDATE_COMPLETE"
    assert lines[-1].startswith("[2/2] root ")
    assert any(line.startswith("[1/2] Database     AuroraCluster") for line in lines)


def test_a_refused_deploy_deletes_its_change_set(stub, tmp_path):
    deployer, stubber, _ = stub
    env = tiny_env()
    out = write_build(tmp_path, env, tiny_layers())
    packaged = Packaged("b", "tiny/", REGION, layout(read_build(out), "tiny/"))
    stubber.add_response("describe_stacks", _stacks(), {"StackName": "demo-tiny"})  # outputs it feeds
    stubber.add_response("describe_stacks", _stacks(), {"StackName": "demo-tiny"})  # previous parameters
    _stub_plan(stubber, [DATABASE], [AURORA_REPLACED])
    _stub_templates(stubber, packaged.layout.root)
    stubber.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ARN})

    class OneRegion:
        region = REGION

        def deployer(self, region=None, echo=print):
            return deployer

    shown = []
    with pytest.raises(Refused):
        Environment(env, OneRegion(), echo=lambda line: None).deploy(
            packaged, out, approve=lambda plan: pytest.fail("asked although refused"), show=shown.append)
    assert shown[0].loses_data


def test_a_removed_layer_lists_what_it_takes_with_it(stub):
    deployer, stubber, _ = stub
    removed = _change("Remove", "Database", "AWS::CloudFormation::Stack", physical=NESTED_ARN)
    _stub_plan(stubber, [removed])
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": [
        {"LogicalResourceId": r, "PhysicalResourceId": f"p-{r}", "ResourceType": t, "ResourceStatus": "CREATE_COMPLETE",
         "LastUpdatedTimestamp": T0}
        for r, t in [("AuroraCluster", "AWS::RDS::DBCluster"), ("DbSecret", "AWS::SecretsManager::Secret"),
                     ("DbSecurityGroup", "AWS::EC2::SecurityGroup")]
    ]}, {"StackName": NESTED_ARN})
    plan = _plan(deployer)
    assert [(c.stack, c.action, c.logical_id) for c in plan.changes] == [
        ("root", "Remove", "Database"), ("Database", "Remove", "AuroraCluster"), ("Database", "Remove", "DbSecret"),
        ("Database", "Remove", "DbSecurityGroup")]
    assert [c.logical_id for c in plan.loses_data] == ["AuroraCluster", "DbSecret"]
    assert [c.logical_id for c in plan.security] == ["DbSecurityGroup"]


def test_a_long_change_set_is_read_to_its_last_page(stub):
    deployer, stubber, _ = stub
    stubber.add_response("describe_stacks", _stacks(), {"StackName": "demo-tiny"})
    stubber.add_response("create_change_set", {"Id": CHANGE_SET_ARN, "StackId": STACK_ARN})
    first = {**_change_set([_change("Add", "A", "AWS::SNS::Topic")]), "NextToken": "page-2"}
    stubber.add_response("describe_change_set", first, {"ChangeSetName": CHANGE_SET_ARN})
    stubber.add_response("describe_change_set", first, {"ChangeSetName": CHANGE_SET_ARN})
    stubber.add_response("describe_change_set", _change_set([_change("Add", "B", "AWS::SQS::Queue")]),
                         {"ChangeSetName": CHANGE_SET_ARN, "NextToken": "page-2"})
    assert [c.logical_id for c in _plan(deployer).changes] == ["A", "B"]


# --- security-sensitive changes ----------------------------------------------------------------

def test_an_iam_policy_change_is_security_sensitive(stub):
    deployer, stubber, _ = stub
    _stub_plan(stubber, [DATABASE], [
        _change("Modify", "AppPolicy", "AWS::IAM::Policy", "False", [_detail("PolicyDocument")]),
        _change("Modify", "Worker", "AWS::Lambda::Function", "False", [_detail("Role", source="ResourceAttribute",
                                                                               entity="WorkerRole.Arn")]),
        _change("Modify", "Topic", "AWS::SNS::Topic", "False", [_detail("DisplayName")]),
        _change("Add", "AppIngress", "AWS::EC2::SecurityGroupIngress"),
    ])
    plan = _plan(deployer)
    assert [(c.logical_id, c.security) for c in plan.security] == [
        ("AppPolicy", "IAM policy"), ("Worker", "changes Role"), ("AppIngress", "security group rule")]
    assert plan.loses_data == []
    text = plan_report.table([plan])
    section = text.split("Security-sensitive changes:")[1]
    assert "Database/AppPolicy (AWS::IAM::Policy): Modify, IAM policy" in section
    assert "Topic" not in section
    assert "**Security-sensitive changes**" in plan_report.markdown([plan])


# --- failures ----------------------------------------------------------------------------------

def test_a_failed_nested_resource_is_reported_as_the_root_cause(stub):
    deployer, stubber, lines = stub
    _stub_plan(stubber, [DATABASE], [_change("Modify", "AuroraCluster", "AWS::RDS::DBCluster", "False",
                                             [_detail("EngineVersion")])])
    plan = _plan(deployer)
    stubber.add_response("describe_stack_events", {"StackEvents": [_event(0, "demo-tiny", "UPDATE_COMPLETE",
                                                                          physical=STACK_ARN)]})
    stubber.add_response("execute_change_set", {}, {"ChangeSetName": CHANGE_SET_ARN, "StackName": STACK_ARN})
    stubber.add_response("describe_stacks", _stacks("UPDATE_ROLLBACK_COMPLETE"), {"StackName": STACK_ARN})
    stubber.add_response("describe_stack_events", {"StackEvents": [
        _event(9, "demo-tiny", "UPDATE_ROLLBACK_COMPLETE", physical=STACK_ARN),
        _event(8, "Database", "UPDATE_COMPLETE", physical=NESTED_ARN),
        _event(7, "demo-tiny", "UPDATE_ROLLBACK_IN_PROGRESS", "The following resource(s) failed to update: [Database].",
               physical=STACK_ARN),
        _event(6, "Database", "UPDATE_FAILED", "Embedded stack " + NESTED_ARN + " was not successfully updated. "
               "Currently in UPDATE_ROLLBACK_IN_PROGRESS with reason: The following resource(s) failed to update: "
               "[AuroraCluster].", physical=NESTED_ARN),
        _event(2, "Database", "UPDATE_IN_PROGRESS", physical=NESTED_ARN),
        _event(1, "demo-tiny", "UPDATE_IN_PROGRESS", "User Initiated", physical=STACK_ARN),
        _event(0, "demo-tiny", "UPDATE_COMPLETE", physical=STACK_ARN),
    ]}, {"StackName": STACK_ARN})
    stubber.add_response("describe_stack_events", {"StackEvents": [
        _event(5, "demo-tiny-Database-ABC", "UPDATE_ROLLBACK_IN_PROGRESS",
               "The following resource(s) failed to update: [AuroraCluster].", stack_id=NESTED_ARN, physical=NESTED_ARN),
        _event(4, "AuroraCluster", "UPDATE_FAILED", "Cannot upgrade aurora-postgresql from 15.4 to 13.9",
               stack_id=NESTED_ARN, physical="demo-db", type_name="AWS::RDS::DBCluster"),
        _event(3, "AuroraCluster", "UPDATE_IN_PROGRESS", stack_id=NESTED_ARN, physical="demo-db",
               type_name="AWS::RDS::DBCluster"),
        _event(2, "demo-tiny-Database-ABC", "UPDATE_IN_PROGRESS", stack_id=NESTED_ARN, physical=NESTED_ARN),
        {**_event(-5, "Old", "CREATE_COMPLETE", stack_id=NESTED_ARN, physical="x", type_name="AWS::SNS::Topic")},
    ]}, {"StackName": NESTED_ARN})
    with pytest.raises(DeployFailed) as failure:
        deployer.execute(plan)
    cause = failure.value.root_cause
    assert (cause.stack, cause.logical_id, cause.status) == ("Database", "AuroraCluster", "UPDATE_FAILED")
    assert str(failure.value) == (
        "demo-tiny: UPDATE_ROLLBACK_COMPLETE\nroot cause: Database/AuroraCluster (AWS::RDS::DBCluster) "
        "UPDATE_FAILED: Cannot upgrade aurora-postgresql from 15.4 to 13.9")
    assert not any("Old" in line for line in lines)  # events from before this deploy are not replayed


def test_a_rollback_by_alarm_names_the_alarm(stub):
    deployer, stubber, _ = stub
    stubber.add_response("describe_stacks", _stacks("UPDATE_ROLLBACK_COMPLETE"), {"StackName": STACK_ARN})
    stubber.add_response("describe_stack_events", {"StackEvents": [
        _event(3, "demo-tiny", "UPDATE_ROLLBACK_COMPLETE", physical=STACK_ARN),
        _event(2, "demo-tiny", "UPDATE_ROLLBACK_IN_PROGRESS", "Rollback triggered by alarm demo-5xx", physical=STACK_ARN),
        _event(1, "demo-tiny", "UPDATE_IN_PROGRESS", physical=STACK_ARN),
    ]}, {"StackName": STACK_ARN})
    with pytest.raises(DeployFailed, match="root cause: root/demo-tiny .*Rollback triggered by alarm demo-5xx"):
        events.follow(deployer, STACK_ARN, "demo-tiny", total=1)


def test_a_change_set_that_fails_for_another_reason_says_why(stub):
    deployer, stubber, _ = stub
    reason = f"Nested change set {NESTED_CHANGE_SET_ARN} was not successfully created: Currently in FAILED."
    _stub_plan(stubber, [], status="FAILED", reason=reason)
    stubber.add_response("describe_change_set", _change_set([], "FAILED", "Template format error: bad Fn::Sub",
                                                            NESTED_CHANGE_SET_ARN, NESTED_ARN),
                         {"ChangeSetName": NESTED_CHANGE_SET_ARN})
    stubber.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ARN})
    with pytest.raises(DeployError, match=r"could not create a change set for demo-tiny: Nested change set .* "
                                          r"\(Template format error: bad Fn::Sub\)"):
        _plan(deployer)


def test_a_stack_still_in_progress_is_not_planned(stub):
    deployer, stubber, _ = stub
    stubber.add_response("describe_stacks", _stacks("UPDATE_IN_PROGRESS"), {"StackName": "demo-tiny"})
    with pytest.raises(DeployError, match="demo-tiny is UPDATE_IN_PROGRESS: wait for it to finish"):
        _plan(deployer)


# --- "no changes", in each form CloudFormation uses -------------------------------------------------

def _no_change_as_error(stubber):
    stubber.add_response("describe_stacks", _stacks(), {"StackName": "demo-tiny"})
    stubber.add_client_error("create_change_set", "ValidationError", "No updates are to be performed.")


def _no_change_as_status(reason):
    def stub(stubber):
        _stub_plan(stubber, [], status="FAILED", reason=reason)
        stubber.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ARN})
    return stub


def _no_change_as_empty_list(stubber):
    _stub_plan(stubber, [])
    stubber.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ARN})


def _no_change_in_nested_stacks(stubber):
    _stub_plan(stubber, [DATABASE], [])
    stubber.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ARN})


@pytest.mark.parametrize("form", [
    _no_change_as_error,
    _no_change_as_status(NO_CHANGES),
    _no_change_as_status("No updates are to be performed."),
    _no_change_as_empty_list,
    _no_change_in_nested_stacks,
], ids=["create-error", "failed-didnt-contain-changes", "failed-no-updates", "empty-changes", "empty-nested"])
def test_each_no_changes_form_is_a_clean_no_changes(stub, form):
    deployer, stubber, _ = stub
    form(stubber)
    plan = _plan(deployer)
    assert plan.no_changes and plan.changes == [] and not plan.executable
    assert plan_report.table([plan]) == "demo-tiny (eu-west-1): no changes"
    assert json.loads(plan_report.as_json("tiny", [plan]))["stacks"][0]["status"] == "no changes"


# --- the request --------------------------------------------------------------------------

def test_a_new_stack_gets_a_create_change_set_with_every_safety_option(stub):
    deployer, stubber, _ = stub
    _missing(stubber)
    rollback = rollback_configuration(DeployConfig(rollback_alarms=["demo-5xx"], rollback_monitoring_minutes=10),
                                      "123456789012", REGION)
    stubber.add_response("create_change_set", {"Id": CHANGE_SET_ARN, "StackId": STACK_ARN}, {
        "StackName": "demo-tiny", "ChangeSetType": "CREATE", "ChangeSetName": ANY, "Description": ANY,
        "IncludeNestedStacks": True, "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        "Parameters": [{"ParameterKey": "DbPassword", "ParameterValue": "hunter2"},
                       {"ParameterKey": "TemplateBucket", "ParameterValue": "b"}],
        "Tags": [{"Key": "Project", "Value": "demo"}], "TemplateURL": URL, "OnStackFailure": "DELETE",
        "RollbackConfiguration": {"RollbackTriggers": [{
            "Arn": f"arn:aws:cloudwatch:{REGION}:123456789012:alarm:demo-5xx", "Type": "AWS::CloudWatch::Alarm"}],
            "MonitoringTimeInMinutes": 10},
    })
    added = _change_set([_change("Add", "Network", "AWS::CloudFormation::Stack")])
    stubber.add_response("describe_change_set", added, {"ChangeSetName": CHANGE_SET_ARN})
    stubber.add_response("describe_change_set", added, {"ChangeSetName": CHANGE_SET_ARN})
    plan = deployer.plan("demo-tiny", template_url=URL, parameters={"TemplateBucket": "b", "DbPassword": "hunter2"},
                         tags={"Project": "demo"}, rollback=rollback, no_echo=["DbPassword"])
    assert plan.change_set_type == "CREATE"
    assert plan.parameters == {"DbPassword": "****", "TemplateBucket": "b"}
    assert "hunter2" not in plan_report.table([plan]) + plan_report.as_json("tiny", [plan])
    # discarding a CREATE plan also removes the empty stack it made
    stubber.add_response("delete_change_set", {}, {"ChangeSetName": CHANGE_SET_ARN})
    stubber.add_response("describe_stacks", _stacks("REVIEW_IN_PROGRESS"), {"StackName": STACK_ARN})
    stubber.add_response("delete_stack", {}, {"StackName": STACK_ARN})
    deployer.discard(plan)


def test_rollback_triggers_are_built_from_alarm_names():
    config = DeployConfig(rollback_alarms=["a", "b"], rollback_monitoring_minutes=5)
    built = rollback_configuration(config, "111122223333", "cn-north-1")
    assert [t["Arn"] for t in built["RollbackTriggers"]] == [
        "arn:aws-cn:cloudwatch:cn-north-1:111122223333:alarm:a", "arn:aws-cn:cloudwatch:cn-north-1:111122223333:alarm:b"]
    assert rollback_configuration(DeployConfig(), "111122223333", REGION) is None


# --- safety settings -----------------------------------------------------------------------

def _stub_nested(stubber):
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": [
        {"LogicalResourceId": "Database", "PhysicalResourceId": NESTED_ARN, "ResourceType": "AWS::CloudFormation::Stack",
         "ResourceStatus": "UPDATE_COMPLETE", "LastUpdatedTimestamp": T0}]}, {"StackName": STACK_ARN})
    stubber.add_response("list_stack_resources", {"StackResourceSummaries": []}, {"StackName": NESTED_ARN})


def test_protect_turns_on_termination_protection_and_policies_on_every_stack(stub):
    deployer, stubber, _ = stub
    stubber.add_response("describe_stacks", _stacks(EnableTerminationProtection=False), {"StackName": "demo-tiny"})
    stubber.add_response("update_termination_protection", {"StackId": STACK_ARN},
                         {"StackName": STACK_ARN, "EnableTerminationProtection": True})
    _stub_nested(stubber)
    policy = json.dumps(stack_policy(), sort_keys=True)
    for stack in (STACK_ARN, NESTED_ARN):
        stubber.add_response("get_stack_policy", {}, {"StackName": stack})
        stubber.add_response("set_stack_policy", {}, {"StackName": stack, "StackPolicyBody": policy})
    notes = protection.protect(deployer, "demo-tiny", DeployConfig(termination_protection=True, protect_stateful=True))
    assert notes == ["termination protection on", "stack policy protecting stateful resources on root, Database"]


def test_protect_changes_nothing_already_in_place(stub):
    deployer, stubber, _ = stub
    stubber.add_response("describe_stacks", _stacks(EnableTerminationProtection=True), {"StackName": "demo-tiny"})
    _stub_nested(stubber)
    for stack in (STACK_ARN, NESTED_ARN):
        stubber.add_response("get_stack_policy", {"StackPolicyBody": json.dumps(stack_policy())}, {"StackName": stack})
    assert protection.protect(deployer, "demo-tiny", DeployConfig(termination_protection=True, protect_stateful=True)) == []


def test_relax_exempts_exactly_the_reviewed_replacements(stub):
    deployer, stubber, _ = stub
    plan = Plan("root", "demo-tiny", REGION, changes=[
        ResourceChange("Database", "Modify", "AuroraCluster", "AWS::RDS::DBCluster", "True", stack_id=NESTED_ARN),
        ResourceChange("Database", "Modify", "DbSecurityGroup", "AWS::EC2::SecurityGroup", "True", stack_id=NESTED_ARN),
    ])
    stubber.add_response("get_stack_policy", {"StackPolicyBody": json.dumps(stack_policy())}, {"StackName": NESTED_ARN})
    relaxed = json.dumps(stack_policy(["AuroraCluster"]), sort_keys=True)
    stubber.add_response("set_stack_policy", {}, {"StackName": NESTED_ARN, "StackPolicyBody": relaxed})
    assert protection.relax(deployer, plan) == ["stack policy lifted for AuroraCluster until the deploy ends"]
    deny = json.loads(relaxed)["Statement"][1]
    assert deny["NotResource"] == ["LogicalResourceId/AuroraCluster"] and "Resource" not in deny


def test_the_stack_policy_denies_replacing_and_deleting_stateful_types():
    deny = next(s for s in stack_policy()["Statement"] if s.get("Sid") == POLICY_SID)
    assert deny["Effect"] == "Deny" and deny["Resource"] == "*"
    assert {"AWS::RDS::DBCluster", "AWS::S3::Bucket", "AWS::EFS::FileSystem", "AWS::SQS::Queue",
            "AWS::DynamoDB::Table"} <= set(deny["Condition"]["StringEquals"]["ResourceType"])


def test_destroy_refuses_a_protected_stack(stub):
    deployer, stubber, _ = stub
    stubber.add_response("describe_stacks", _stacks(EnableTerminationProtection=True), {"StackName": "demo-tiny"})
    with pytest.raises(DeployError, match="termination protection on"):
        deployer.destroy("demo-tiny")


def test_secret_looking_outputs_are_masked():
    assert masked("DbPassword", "x") == "****"
    assert masked("CacheAuthToken", "x") == "****"
    assert masked("DatabaseSecretArn", "arn") == "arn"
    assert masked("VpcId", "vpc-1") == "vpc-1"


# --- renderings ------------------------------------------------------------------------------

def _sample() -> Plan:
    return Plan("root", "demo-tiny", REGION, change_set_id=CHANGE_SET_ARN, change_set_type="UPDATE", changes=[
        ResourceChange("Database", "Modify", "AuroraCluster", "AWS::RDS::DBCluster", "Conditional",
                       ("Properties.Engine (may replace; DirectModification)",)),
        ResourceChange("Network", "Modify", "Logs", "AWS::Logs::LogGroup", "", ("a|b",)),
        ResourceChange("Security", "Add", "Rule", "AWS::EC2::SecurityGroupIngress"),
    ])


def test_the_table_lists_changes_then_the_two_review_sections():
    text = plan_report.table([_sample()])
    lines = text.splitlines()
    assert lines[0] == "demo-tiny (eu-west-1): 3 changes (update)"
    assert lines[1].split() == ["stack", "action", "logical", "id", "type", "replacement", "triggered", "by"]
    assert lines[2].split()[:5] == ["Database", "Modify", "AuroraCluster", "AWS::RDS::DBCluster", "Conditional"]
    assert "  Stateful resources replaced or removed (refused without --allow-replacement):" in lines
    assert "    Network/Logs (AWS::Logs::LogGroup): Modify, Replacement ?: a|b" in lines
    assert lines[-1].startswith("  ? = the endpoint did not say whether the resource is replaced")


def test_markdown_escapes_cells_and_leads_with_the_review_sections():
    text = plan_report.markdown([_sample()])
    assert text.index("**Stateful resources replaced or removed") < text.index("| stack | action |")
    assert "| Network | Modify | Logs | AWS::Logs::LogGroup | ? | a\\|b |" in text


def test_json_carries_every_change_and_the_sections():
    document = json.loads(plan_report.as_json("tiny", [_sample()]))
    [stack] = document["stacks"]
    assert stack["status"] == "changes" and len(stack["changes"]) == 3
    assert stack["stateful_replacements"] == ["Database/AuroraCluster", "Network/Logs"]
    assert stack["security_sensitive"] == ["Security/Rule"]
    assert stack["changes"][0]["triggers"] == ["Properties.Engine (may replace; DirectModification)"]


def test_other_reports_add_sections_after_stratas_own():
    extra = [plan_report.Section("Monthly cost", ("about $12.00/month more",), {"delta": 12.0})]
    assert plan_report.table([_sample()], extra=extra).endswith("Monthly cost:\n  about $12.00/month more")
    assert "### Monthly cost\n\n- about $12.00/month more" in plan_report.markdown([_sample()], extra=extra)
    assert json.loads(plan_report.as_json("tiny", [_sample()], extra=extra))["monthly_cost"] == {"delta": 12.0}


def test_property_lines_and_predictions_show_under_each_change():
    from generator.deploy.changes import PropertyChange

    plan = Plan("root", "demo-tiny", REGION, change_set_id=CHANGE_SET_ARN, change_set_type="UPDATE", changes=[
        ResourceChange("Network", "Modify", "Vpc", "AWS::EC2::VPC", "True", predicted=True,
                       depended_on="Database/AuroraCluster depends on it",
                       properties=(PropertyChange("CidrBlock", '"10.0.0.0/16"', '"10.1.0.0/16"', "Always"),))])
    lines = plan_report.table([plan]).splitlines()
    row = lines.index(next(line for line in lines if "Vpc" in line and "AWS::EC2::VPC" in line))
    assert lines[row].split()[4] == "True*"
    assert lines[row + 1] == '      CidrBlock: "10.0.0.0/16" -> "10.1.0.0/16" (replaces)'
    assert f"  {plan_report.DATA_AFFECTING}:" in lines
    assert "    Network/Vpc (AWS::EC2::VPC): Modify, Replacement True* (Database/AuroraCluster depends on it)" in lines
    assert lines[-1] == f"  {plan_report.PREDICTED_NOTE}"
    assert "- `Network/Vpc`\n  - `CidrBlock: \"10.0.0.0/16\" -> \"10.1.0.0/16\" (replaces)`" in plan_report.markdown([plan])
