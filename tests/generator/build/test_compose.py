"""Wiring by name: inputs fed from the one layer that outputs them."""

import pytest
from troposphere import Output, Parameter, Ref, Template, sqs

from generator.build.compose import ComposeError, Layers, compose_root
from tests.helpers import make_env, render


def layer(params=(), outputs=(), defaults=None):
    t = Template()
    for name in params:
        kwargs = {"Default": defaults[name]} if defaults and name in defaults else {}
        t.add_parameter(Parameter(name, Type="String", **kwargs))
    queue = t.add_resource(sqs.Queue("Queue"))
    for name in outputs:
        t.add_output(Output(name, Value=Ref(queue)))
    return t


def compose(**templates):
    return render(compose_root(make_env(), Layers(nested=templates)))


def test_inputs_are_fed_from_the_producing_layers_outputs():
    root = compose(network=layer(outputs=["VpcId"]), security=layer(params=["VpcId"], outputs=["AppSecurityGroupId"]))
    assert root["Resources"]["Security"]["Properties"]["Parameters"] == {"VpcId": {"Fn::GetAtt": ["Network", "Outputs.VpcId"]}}
    assert "Parameters" not in root["Resources"]["Network"]["Properties"]


def test_template_url_is_built_from_bucket_and_prefix():
    root = compose(network=layer())
    assert root["Resources"]["Network"]["Properties"]["TemplateURL"] == {"Fn::Join": ["", [
        "https://", {"Ref": "TemplateBucket"}, ".s3.", {"Ref": "AWS::Region"}, ".", {"Ref": "AWS::URLSuffix"}, "/",
        {"Ref": "TemplatePrefix"}, "network.json",
    ]]}
    assert sorted(root["Parameters"]) == ["TemplateBucket", "TemplatePrefix"]


def test_root_passes_every_layer_output_up():
    root = compose(network=layer(outputs=["VpcId", "VpcCidr"]))
    assert root["Outputs"]["VpcCidr"]["Value"] == {"Fn::GetAtt": ["Network", "Outputs.VpcCidr"]}


def test_a_later_layer_may_feed_an_earlier_one_in_the_registry():
    # CloudFormation orders nested stacks by their GetAtt references, not by position.
    root = compose(network=layer(params=["BucketName"]), static=layer(outputs=["BucketName"]))
    assert root["Resources"]["Network"]["Properties"]["Parameters"] == {
        "BucketName": {"Fn::GetAtt": ["Static", "Outputs.BucketName"]},
    }


def test_an_input_without_producer_or_default_fails_naming_layer_and_input():
    with pytest.raises(ComposeError, match="the security layer needs 'VpcId' but no enabled layer outputs it"):
        compose(security=layer(params=["VpcId"]))


def test_an_output_produced_twice_fails():
    with pytest.raises(ComposeError, match="output 'VpcId' is produced by both the network and security layers"):
        compose(network=layer(outputs=["VpcId"]), security=layer(outputs=["VpcId"]))


def test_a_circle_of_layers_fails():
    with pytest.raises(ComposeError, match="circle"):
        compose(network=layer(params=["B"], outputs=["A"]), security=layer(params=["A"], outputs=["B"]))


def test_an_input_with_a_default_and_no_producer_becomes_a_root_parameter():
    root = compose(web=layer(params=["CertificateArn"], defaults={"CertificateArn": ""}))
    assert root["Parameters"]["CertificateArn"] == {"Type": "String", "Default": ""}
    assert root["Resources"]["Web"]["Properties"]["Parameters"] == {"CertificateArn": {"Ref": "CertificateArn"}}
    groups = root["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    assert groups[-1] == {"Label": {"default": "web layer"}, "Parameters": ["CertificateArn"]}


def test_template_location_is_passed_to_layers_that_take_it():
    root = compose(static=layer(params=["TemplateBucket", "TemplatePrefix"]))
    assert root["Resources"]["Static"]["Properties"]["Parameters"] == {
        "TemplateBucket": {"Ref": "TemplateBucket"}, "TemplatePrefix": {"Ref": "TemplatePrefix"},
    }


def test_console_form_has_groups_and_labels():
    root = compose(network=layer())
    interface = root["Metadata"]["AWS::CloudFormation::Interface"]
    assert interface["ParameterGroups"][0] == {"Label": {"default": "Template location"}, "Parameters": ["TemplateBucket", "TemplatePrefix"]}
    assert interface["ParameterLabels"]["TemplateBucket"] == {"default": "Template Bucket"}


def test_nested_stacks_carry_the_environment_tags():
    root = compose(network=layer())
    tags = {t["Key"]: t["Value"] for t in root["Resources"]["Network"]["Properties"]["Tags"]}
    assert tags == {"Project": "demo", "Environment": "test"}
