"""health layer: the composite alarm "environment unhealthy" built from the
layers' alarm names, the dashboard with one row per enabled layer drawn from
the alarms those layers really raise, its place after them in the root
stack, lint and scan, and a deploy on moto."""

from __future__ import annotations

import json

import pytest

from generator.build.compose import _wire, build_layers, compose_root, stack_order
from templates import health
from tests.helpers import checkov_failures, config_error, lint_findings, make_env, render, resources_of_type

SECTIONS = {
    "monitoring": {"enabled": True},
    "static": {"enabled": True},
    "web": {"enabled": True, "listener": "http"},
    "containers": {"enabled": True},
    "messaging": {"enabled": True},
    "health": {"enabled": True},
}


def env_with(**more):
    return make_env(**{**SECTIONS, **more})


def raised_names(env) -> dict[str, list[str]]:
    """Layer -> the AlarmName of every alarm its template raises (the truth the dashboard must show)."""
    layers = build_layers(env)
    found = {}
    for name, template in {**layers.nested, **layers.companions}.items():
        names = [a["Properties"]["AlarmName"] for a in resources_of_type(render(template), "AWS::CloudWatch::Alarm").values()
                 if "AlarmName" in a["Properties"]]
        if names:
            found[name] = names
    return found


def body_of(template) -> dict:
    return json.loads(render(template)["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])


def test_the_composite_alarm_combines_every_layers_alarm_names_taken_as_parameters():
    body = render(health.build(env_with()))
    composite = body["Resources"]["EnvironmentUnhealthyAlarm"]["Properties"]
    assert composite["AlarmName"] == "demo-test-unhealthy"
    clauses = composite["AlarmRule"]["Fn::Join"]
    assert clauses[0] == " OR "
    layers = [c["Fn::Join"][1][1]["Fn::Join"][1]["Ref"] for c in clauses[1]]
    assert layers == ["NetworkAlarmNames", "StaticAlarmNames", "WebAlarmNames", "ContainersAlarmNames", "MessagingAlarmNames"]
    assert clauses[1][0] == {"Fn::Join": ["", ['ALARM("', {"Fn::Join": ['") OR ALARM("', {"Ref": "NetworkAlarmNames"}]}, '")']]}
    assert {p["Type"] for p in body["Parameters"].values()} == {"CommaDelimitedList"}
    assert "AlarmActions" not in composite  # its alarms notify; it only sums them up
    assert body["Outputs"]["HealthAlarmName"]["Value"] == {"Ref": "EnvironmentUnhealthyAlarm"}


def test_the_root_feeds_the_names_and_orders_health_after_every_layer_with_alarms():
    env = env_with()
    layers = build_layers(env)
    root = render(compose_root(env, layers))
    assert root["Resources"]["Health"]["Properties"]["Parameters"]["WebAlarmNames"] == {
        "Fn::GetAtt": ["Web", "Outputs.WebAlarmNames"]}
    order = stack_order(layers.nested, _wire(layers.nested))
    assert order[-1] == "health"
    assert set(raised_names(env)) - {"static-cloudfront"} <= set(order[:-1])


def test_the_dashboard_has_the_composite_alarm_then_one_row_per_layer_with_each_alarm_it_raises():
    env = env_with()
    widgets = body_of(health.build(env))["widgets"]
    assert widgets[0]["type"] == "alarm"
    assert widgets[0]["properties"]["alarms"] == [
        "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:demo-test-unhealthy"]
    titles = [w["properties"]["markdown"].split(":")[0] for w in widgets if w["type"] == "text"]
    assert titles == ["### network", "### static", "### web", "### containers", "### messaging"]
    graphed = sorted(w["properties"]["annotations"]["alarms"][0].rsplit(":", 1)[1] for w in widgets if w["type"] == "metric")
    raised = raised_names(env)
    assert graphed == sorted(name for names in raised.values() for name in names)
    rows = [w["y"] for w in widgets if w["type"] == "text"]
    assert rows == sorted(set(rows))  # each layer starts below the previous one
    for widget in widgets:
        assert widget["x"] + widget["width"] <= 24


def test_cloudfronts_alarm_is_graphed_from_us_east_1_and_left_out_of_the_composite_elsewhere():
    env = env_with()
    widgets = body_of(health.build(env))["widgets"]
    (edge,) = [w for w in widgets if w["type"] == "metric" and "cloudfront-5xx" in w["properties"]["annotations"]["alarms"][0]]
    assert edge["properties"]["region"] == "us-east-1"
    assert edge["properties"]["annotations"]["alarms"] == [
        "arn:${AWS::Partition}:cloudwatch:us-east-1:${AWS::AccountId}:alarm:demo-test-static-cloudfront-5xx-rate"]
    status = [w for w in widgets if w["type"] == "alarm" and w["properties"]["title"] == "static alarms"]
    assert all("cloudfront" not in arn for arn in status[0]["properties"]["alarms"])
    assert "demo-test-static-cloudfront-5xx-rate" in raised_names(env)["static-cloudfront"]


def test_layers_without_alarms_have_no_row_and_no_parameter():
    env = env_with(messaging={"enabled": True, "alarms": {"enabled": False}})
    body = render(health.build(env))
    assert "MessagingAlarmNames" not in body["Parameters"]
    assert not any("### messaging" in w["properties"].get("markdown", "") for w in body_of(health.build(env))["widgets"])


def test_names_derive_from_the_environment():
    assert render(health.build(env_with()))["Resources"]["Dashboard"]["Properties"]["DashboardName"] == "demo-test"
    assert health.health_alarm_name(make_env()) == "demo-test-unhealthy"


def test_health_without_any_alarm_is_refused(tmp_path):
    data = {"project": "demo", "environment": "test", "region": "eu-west-1",
            "messaging": {"enabled": True, "alarms": {"enabled": False}}, "health": {"enabled": True}}
    assert "health.enabled: no enabled layer raises alarms in eu-west-1" in config_error(tmp_path, data)


def test_deploy_rollback_alarms_can_name_the_composite_alarm():
    env = env_with(deploy={"rollback_alarms": ["demo-test-unhealthy"], "rollback_monitoring_minutes": 10})
    assert env.deploy.rollback_alarms == [health.health_alarm_name(env)]


SHAPES = {"health": SECTIONS, "health-us-east-1": {**SECTIONS, "region": "us-east-1"}}


def built_shapes():
    shapes = {}
    for name, sections in SHAPES.items():
        sections = dict(sections)
        region = sections.pop("region", "eu-west-1")
        env = make_env(region=region, **sections)
        shapes[name] = (health.build(env), region)
    return shapes


def test_lint_clean():
    assert lint_findings(built_shapes()) == []


def test_scan_clean(tmp_path):
    assert checkov_failures({name: t for name, (t, _) in built_shapes().items()}, tmp_path) == []


def test_health_deploys_and_moto_shows_the_dashboard_not_the_composite_alarm(aws):
    """moto's CloudFormation creates dashboards but skips composite (and
    metric) alarms, reporting success: the dashboard is checked here, the
    composite alarm on the JSON above."""
    from tests.helpers import deploy_stack
    from tests.templates.data_support import client

    body = render(health.build(env_with()))
    names = {p: "a,b" for p in body["Parameters"]}
    deploy_stack(aws, "health", body, names)
    cloudwatch = client(aws, "cloudwatch")
    dashboard = cloudwatch.get_dashboard(DashboardName="demo-test")
    shown = json.loads(dashboard["DashboardBody"])
    assert shown["widgets"][0]["properties"]["alarms"] == ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:demo-test-unhealthy"]
    assert cloudwatch.describe_alarms(AlarmTypes=["CompositeAlarm"])["CompositeAlarms"] == []


@pytest.mark.parametrize("sections, name, fragment", [
    ({}, "demo-test-unhealthy", None),
    ({}, "demo-test-web-elb-5xx", None),
    ({}, "elsewhere-made-alarm", None),  # not named like this environment's alarms: Strata cannot know
    ({}, "demo-test-unheathy", "demo-test-unheathy: no alarm of this environment has that name"),
    ({"health": {"enabled": False}}, "demo-test-unhealthy", "(the composite alarm is demo-test-unhealthy, with health.enabled: true)"),
])
def test_a_rollback_alarm_named_like_this_environments_must_be_one_it_creates(tmp_path, sections, name, fragment):
    from tests.helpers import BASE_ENV, merge

    data = merge(BASE_ENV, {**SECTIONS, **sections, "deploy": {"rollback_alarms": [name]}})
    if fragment is None:
        from generator.build.config import EnvConfig
        from generator.build.constraints import check

        assert check(EnvConfig.model_validate(data)) == []
    else:
        message = config_error(tmp_path, data)
        assert " deploy.rollback_alarms: " in message and fragment in message, message
