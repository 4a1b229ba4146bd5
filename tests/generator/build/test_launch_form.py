"""Launch forms: every layer template's parameters grouped and labelled by the
build (`launch_form`), and rule E9004 failing a form with a parameter that has
no description or label."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.build.compose import build_layers
from generator.build.config import load_config
from generator.build.lint import lint_templates
from generator.build.pipeline import render_env
from generator.cfn.resources import label
from tests.helpers import make_env, render

REPO = Path(__file__).resolve().parents[3]
FORM = "AWS::CloudFormation::Interface"


@pytest.mark.parametrize("env_name", ["dev", "prod"])
def test_every_parameter_of_every_built_template_is_grouped_and_labelled(env_name):
    build = render_env(load_config(REPO / "parameters" / f"{env_name}.yaml"))
    checked = 0
    for rendered in build.templates:
        body = rendered.body
        if not body.get("Parameters"):
            continue
        form = body["Metadata"][FORM]
        grouped = [p for g in form["ParameterGroups"] for p in g["Parameters"]]
        assert sorted(grouped) == sorted(body["Parameters"]), rendered.file
        assert set(form["ParameterLabels"]) == set(body["Parameters"]), rendered.file
        checked += 1
    assert checked >= 8


def test_inputs_are_grouped_by_the_layer_that_produces_them_in_drawing_order():
    env = make_env(storage={"enabled": True})
    form = render(build_layers(env).nested["storage"])["Metadata"][FORM]
    assert form["ParameterGroups"] == [
        {"Label": {"default": "From the network layer"}, "Parameters": ["VpcId", "PrivateSubnetIds"]},
        {"Label": {"default": "From the security layer"}, "Parameters": ["AppSecurityGroupId"]},
    ]
    assert form["ParameterLabels"]["PrivateSubnetIds"] == {"default": "Private Subnet IDs"}


def test_a_layers_own_settings_and_the_template_location_come_last():
    env = make_env(messaging={"enabled": True})
    groups = render(build_layers(env).nested["messaging"])["Metadata"][FORM]["ParameterGroups"]
    assert groups[-1] == {"Label": {"default": "Template location"}, "Parameters": ["TemplateBucket", "TemplatePrefix"]}


@pytest.mark.parametrize(("name", "text"), [
    ("VpcId", "VPC ID"), ("PrivateSubnetIds", "Private Subnet IDs"), ("DatabaseSecretArn", "Database Secret ARN"),
    ("CloudFrontWebAclArn", "CloudFront Web ACL ARN"), ("LoadBalancerDnsName", "Load Balancer DNS Name"),
    ("TemplateBucket", "Template Bucket"),
])
def test_labels_spell_acronyms_as_the_console_does(name, text):
    assert label(name) == text


# --- E9004 -----------------------------------------------------------------------------------------

def _template(metadata: dict, parameters: dict) -> str:
    return json.dumps({
        "AWSTemplateFormatVersion": "2010-09-09", "Metadata": metadata, "Parameters": parameters,
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": {"Fn::Sub": "${VpcId}-${Size}"}}}},
    })


def _rules(text: str) -> list[str]:
    return [f"{f.rule} {f.message}" for f in lint_templates([("t.json", text, "eu-west-1")])]


PARAMETERS = {"VpcId": {"Type": "String", "Description": "VPC"}, "Size": {"Type": "String", "Description": "How big"}}
LABELLED = {FORM: {"ParameterGroups": [{"Label": {"default": "All"}, "Parameters": ["VpcId", "Size"]}],
                   "ParameterLabels": {"VpcId": {"default": "VPC ID"}, "Size": {"default": "Size"}}}}


def test_a_product_with_labelled_described_parameters_passes():
    assert _rules(_template({**LABELLED, "Strata": {"Catalog": "product"}}, PARAMETERS)) == []


@pytest.mark.parametrize(("metadata", "parameters", "problem"), [
    ({"Strata": {"Catalog": "product"}}, PARAMETERS, "no label"),
    ({**LABELLED, "Strata": {"Catalog": "product"}}, {**PARAMETERS, "Size": {"Type": "String"}}, "no Description"),
    ({FORM: {"ParameterGroups": [{"Label": {"default": "All"}, "Parameters": ["VpcId"]}],
             "ParameterLabels": {"VpcId": {"default": "VPC ID"}, "Size": {"default": "Size"}}}}, PARAMETERS, "no group"),
    ({FORM: {**LABELLED[FORM], "ParameterLabels": {"VpcId": {"default": "VPC ID"}, "Size": {"default": " "}}}},
     PARAMETERS, "no label"),
])
def test_a_launch_form_parameter_without_description_label_or_group_fails(metadata, parameters, problem):
    findings = [f for f in _rules(_template(metadata, parameters)) if "parameter Size" in f]
    assert len(findings) == 1 and findings[0].startswith("E9004 parameter Size has") and problem in findings[0]


def test_a_template_that_is_no_launch_form_is_left_alone():
    assert _rules(_template({}, PARAMETERS)) == []
