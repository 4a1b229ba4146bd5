"""pipeline.deployment: blue_green: what the web and containers layers add for
ECS's own blue/green deployments (no CodeDeploy), and that rolling adds none
of it. The rendered templates, their wiring by name, the lint gate, and a
deploy of both on moto."""

from __future__ import annotations

import boto3
import pytest

from generator.build.compose import build_layers, compose_root
from templates import containers, web
from templates.web import CONTAINER_RULE_PRIORITY, CONTAINER_TEST_RULE_PRIORITY, TEST_HEADER
from tests.helpers import (
    build_shapes, checkov_failures, deploy_network_and_security, deploy_stack, lint_findings, make_env, render,
    resources_of_type,
)

WEB = {"enabled": True, "listener": "http"}
PIPELINE = {"enabled": True, "repository": "example-org/shop", "deployment": "blue_green", "bake_time_minutes": 15}
BOTH = {"compute": {"enabled": True}, "containers": {"enabled": True, "path_patterns": ["/api/*"]}}


def env_of(pipeline=PIPELINE, **sections):
    sections.setdefault("web", WEB)
    sections.setdefault("containers", {"enabled": True})
    return make_env(pipeline=pipeline, **sections)


def both_groups(rule: dict) -> list[tuple]:
    (action,) = rule["Properties"]["Actions"]
    assert action["Type"] == "forward"
    return [(g["TargetGroupArn"]["Ref"], g["Weight"]) for g in action["ForwardConfig"]["TargetGroups"]]


def test_web_adds_a_second_ip_target_group_like_the_first():
    body = render(web.build(env_of()))
    groups = resources_of_type(body, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert sorted(groups) == ["ContainerAlternateTargetGroup", "ContainerTargetGroup"]
    primary, alternate = groups["ContainerTargetGroup"]["Properties"], groups["ContainerAlternateTargetGroup"]["Properties"]
    assert alternate == primary and alternate["TargetType"] == "ip"


def test_the_production_rule_takes_every_path_when_the_containers_serve_alone():
    body = render(web.build(env_of()))
    production = body["Resources"]["ContainerListenerRule"]
    assert production["Properties"]["Priority"] == CONTAINER_RULE_PRIORITY
    assert production["Properties"]["Conditions"] == [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}]
    assert both_groups(production) == [("ContainerTargetGroup", 100), ("ContainerAlternateTargetGroup", 0)]


def test_the_production_rule_keeps_the_containers_paths_and_its_logical_id_beside_compute():
    """The same rule the rolling layout has, so switching to blue_green updates it in place."""
    rolling = render(web.build(make_env(web=WEB, **BOTH)))
    blue_green = render(web.build(env_of(**BOTH)))
    before, after = rolling["Resources"]["ContainerListenerRule"], blue_green["Resources"]["ContainerListenerRule"]
    assert after["Properties"]["Conditions"] == before["Properties"]["Conditions"] == [
        {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}]
    assert after["Properties"]["Priority"] == before["Properties"]["Priority"]
    assert both_groups(after) == [("ContainerTargetGroup", 100), ("ContainerAlternateTargetGroup", 0)]
    # the instances stay the listener's default
    listener = blue_green["Resources"]["HttpListener"]["Properties"]
    assert listener["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]


def test_the_test_rule_matches_the_test_header_before_the_production_rule():
    body = render(web.build(env_of(**BOTH)))
    test = body["Resources"]["ContainerTestListenerRule"]["Properties"]
    header, value = TEST_HEADER
    assert test["Conditions"] == [{"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": header, "Values": [value]}}]
    assert test["Priority"] == CONTAINER_TEST_RULE_PRIORITY < CONTAINER_RULE_PRIORITY
    assert both_groups(body["Resources"]["ContainerTestListenerRule"]) == [
        ("ContainerTargetGroup", 100), ("ContainerAlternateTargetGroup", 0)]


def test_the_service_uses_ecs_blue_green_with_the_bake_time_and_both_rules():
    body = render(containers.build(env_of()))
    service = body["Resources"]["Service"]["Properties"]
    assert service["DeploymentController"] == {"Type": "ECS"}
    configuration = service["DeploymentConfiguration"]
    assert (configuration["Strategy"], configuration["BakeTimeInMinutes"]) == ("BLUE_GREEN", 15)
    (balancer,) = service["LoadBalancers"]
    assert balancer["TargetGroupArn"] == {"Ref": "ContainerTargetGroupArn"}
    assert balancer["AdvancedConfiguration"] == {
        "AlternateTargetGroupArn": {"Ref": "ContainerAlternateTargetGroupArn"},
        "ProductionListenerRule": {"Ref": "ContainerListenerRuleArn"},
        "TestListenerRule": {"Ref": "ContainerTestListenerRuleArn"},
        "RoleArn": {"Fn::GetAtt": ["LoadBalancerInfrastructureRole", "Arn"]},
    }
    assert not resources_of_type(body, "AWS::CodeDeploy::DeploymentGroup")


def test_the_infrastructure_role_touches_exactly_the_two_groups_and_the_two_rules():
    role = render(containers.build(env_of()))["Resources"]["LoadBalancerInfrastructureRole"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["ecs.amazonaws.com"]}
    assert "ManagedPolicyArns" not in role["Properties"]
    statements = {s.get("Sid", "describe"): s for s in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["TheTwoTargetGroups"]["Resource"] == [{"Ref": "ContainerTargetGroupArn"}, {"Ref": "ContainerAlternateTargetGroupArn"}]
    assert statements["TheTwoListenerRules"] == {
        "Action": ["elasticloadbalancing:ModifyRule"], "Effect": "Allow", "Sid": "TheTwoListenerRules",
        "Resource": [{"Ref": "ContainerListenerRuleArn"}, {"Ref": "ContainerTestListenerRuleArn"}],
    }
    assert statements["describe"]["Resource"] == ["*"]
    assert all(a.startswith("elasticloadbalancing:Describe") for a in statements["describe"]["Action"])
    assert role["Metadata"]["WildcardResources"][0]["Reason"]


def test_rolling_adds_none_of_it():
    env = env_of({**PIPELINE, "deployment": "rolling"})
    web_body, containers_body = render(web.build(env)), render(containers.build(env))
    assert "ContainerAlternateTargetGroup" not in web_body["Resources"]
    assert "ContainerTestListenerRule" not in web_body["Resources"]
    assert "ContainerListenerRule" not in web_body["Resources"]  # containers alone: the listener's default
    service = containers_body["Resources"]["Service"]["Properties"]
    assert "Strategy" not in service["DeploymentConfiguration"]
    assert "AdvancedConfiguration" not in service["LoadBalancers"][0]
    assert "LoadBalancerInfrastructureRole" not in containers_body["Resources"]


def test_the_root_feeds_the_rules_and_the_second_group_from_web_to_containers():
    env = env_of()
    root = render(compose_root(env, build_layers(env)))
    parameters = root["Resources"]["Containers"]["Properties"]["Parameters"]
    for name in ("ContainerAlternateTargetGroupArn", "ContainerListenerRuleArn", "ContainerTestListenerRuleArn"):
        assert parameters[name] == {"Fn::GetAtt": ["Web", f"Outputs.{name}"]}


SHAPES = {
    "alone": dict(web=WEB, containers={"enabled": True}, pipeline=PIPELINE),
    "beside-compute-https": dict(web={"enabled": True, "certificate_arn": (
        "arn:aws:acm:eu-west-1:111122223333:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d")}, pipeline=PIPELINE, **BOTH),
}


@pytest.mark.parametrize("layer", [web, containers])
def test_blue_green_shapes_pass_the_lint_gate_and_checkov(layer, tmp_path):
    built = build_shapes(layer, SHAPES)
    assert lint_findings(built) == []
    assert checkov_failures({name: t for name, (t, _) in built.items()}, tmp_path) == []


@pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
def test_web_and_containers_deploy_with_blue_green_through_change_sets(aws):
    """What moto shows: both target groups, the production and the test rule
    on the listener with their conditions, the infrastructure role that ECS
    assumes, and the service created with the groups' and rules' ARNs fed in.

    What moto does not emulate: ECS blue/green itself (moto keeps no
    deployment strategy, bake time or advanced load balancer configuration,
    and shifts no traffic), the rules' weighted forward (moto stores the
    rule's target groups, not the weights ECS changes), the service's load
    balancer registration and Fargate; the
    template tests above check those, and a traffic shift needs AWS."""
    env = env_of()
    ids = deploy_network_and_security(aws, env)
    web_resources = deploy_stack(aws, "web", render(web.build(env)),
                                 {k: ids[k] for k in ("VpcId", "PublicSubnetIds", "AlbSecurityGroupId")})
    physical = {k: v["PhysicalResourceId"] for k, v in web_resources.items()}
    elbv2 = boto3.client("elbv2", endpoint_url=aws, region_name="eu-west-1")
    rules = elbv2.describe_rules(ListenerArn=physical["HttpListener"])["Rules"]
    by_arn = {r["RuleArn"]: r for r in rules}
    production, test = by_arn[physical["ContainerListenerRule"]], by_arn[physical["ContainerTestListenerRule"]]
    assert (production["Priority"], test["Priority"]) == (str(CONTAINER_RULE_PRIORITY), str(CONTAINER_TEST_RULE_PRIORITY))
    assert test["Conditions"][0]["HttpHeaderConfig"] == {"HttpHeaderName": TEST_HEADER[0], "Values": [TEST_HEADER[1]]}
    groups = {g["TargetGroupArn"] for g in elbv2.describe_target_groups()["TargetGroups"]}
    assert {physical["ContainerTargetGroup"], physical["ContainerAlternateTargetGroup"]} <= groups

    resources = deploy_stack(aws, "containers", render(containers.build(env)), {
        "PrivateSubnetIds": ids["PrivateSubnetIds"], "AppSecurityGroupId": ids["AppSecurityGroupId"],
        "ContainerTargetGroupArn": physical["ContainerTargetGroup"],
        "ContainerAlternateTargetGroupArn": physical["ContainerAlternateTargetGroup"],
        "ContainerListenerRuleArn": physical["ContainerListenerRule"],
        "ContainerTestListenerRuleArn": physical["ContainerTestListenerRule"],
    })
    iam = boto3.client("iam", endpoint_url=aws, region_name="eu-west-1")
    role = iam.get_role(RoleName=resources["LoadBalancerInfrastructureRole"]["PhysicalResourceId"])["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["ecs.amazonaws.com"]}
    ecs = boto3.client("ecs", endpoint_url=aws, region_name="eu-west-1")
    [service] = ecs.describe_services(cluster=resources["Cluster"]["PhysicalResourceId"],
                                      services=[resources["Service"]["PhysicalResourceId"]])["services"]
    assert service["status"] == "ACTIVE"
