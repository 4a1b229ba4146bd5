"""Names derived in one place: logical ids, physical names, Parameter Store paths."""

import json

from troposphere import Template

from generator.cfn.naming import logical_id, physical_name, ssm_path
from generator.cfn.resources import ssm_parameter


def test_logical_ids_are_camel_case_alphanumeric():
    assert logical_id("private", "subnet", 1) == "PrivateSubnet1"
    assert logical_id("ecr.api", "endpoint") == "EcrApiEndpoint"


def test_long_logical_ids_are_cut_to_cloudformations_255_and_stay_unique():
    long_a, long_b = logical_id("a" * 300, "record"), logical_id("a" * 300, "other")
    assert len(long_a) == len(long_b) == 255 and long_a != long_b and long_a[:247] == long_b[:247]
    assert logical_id("a" * 300, "record") == long_a
    assert logical_id("x" * 255) == "X" + "x" * 254


def test_physical_names_are_lower_case_and_capped():
    assert physical_name("Demo", "dev", "App Logs") == "demo-dev-app-logs"
    assert len(physical_name("p" * 40, "e" * 40, "x")) == 63


def test_ssm_paths_keep_case_and_drop_what_ssm_refuses():
    assert ssm_path("strata", "dev", "network", "VpcId") == "/strata/dev/network/VpcId"
    assert ssm_path("strata", "dev", "app", "DATABASE HOST!") == "/strata/dev/app/DATABASEHOST"


def test_ssm_parameter_is_a_standard_string_or_string_list():
    t = Template()
    ssm_parameter(t, "Subnets", "/p/e/network/PrivateSubnetIds", "a,b", "subnets", list_value=True)
    ssm_parameter(t, "Vpc", "/p/e/network/VpcId", "vpc-1", "vpc")
    body = json.loads(t.to_json())["Resources"]
    assert body["Subnets"]["Properties"] == {"Description": "subnets", "Name": "/p/e/network/PrivateSubnetIds",
                                             "Tier": "Standard", "Type": "StringList", "Value": "a,b"}
    assert body["Vpc"]["Properties"]["Type"] == "String"
