"""The security layer's security-group chain."""

import pytest
from pydantic import ValidationError

from templates import security
from tests.helpers import make_env, render, resources_of_type


def build(**sections):
    return render(security.build(make_env(**sections)))


def ingress_rules(body):
    rules = [
        {**rule, "GroupId": {"Fn::GetAtt": [name, "GroupId"]}}
        for name, group in resources_of_type(body, "AWS::EC2::SecurityGroup").items()
        for rule in group["Properties"].get("SecurityGroupIngress", [])
    ]
    return rules + [r["Properties"] for r in resources_of_type(body, "AWS::EC2::SecurityGroupIngress").values()]


def sources_of(body, group):
    target = {"Fn::GetAtt": [group, "GroupId"]}
    return sorted(
        (r.get("CidrIp") or r["SourceSecurityGroupId"]["Fn::GetAtt"][0], r["FromPort"])
        for r in ingress_rules(body) if r["GroupId"] == target
    )


def test_the_chain_alb_to_app_to_db():
    body = build(security={"app_port": 8080, "db_port": 3306})
    assert sources_of(body, "AlbSecurityGroup") == [("0.0.0.0/0", 80), ("0.0.0.0/0", 443)]
    assert sources_of(body, "AppSecurityGroup") == [("AlbSecurityGroup", 8080)]
    assert sources_of(body, "DbSecurityGroup") == [("AppSecurityGroup", 3306)]


def test_every_rule_has_a_description():
    body = build(security={"admin_cidr": "198.51.100.0/24"}, compute={"bastion": {"enabled": True}})
    rules = ingress_rules(body) + [r["Properties"] for r in resources_of_type(body, "AWS::EC2::SecurityGroupEgress").values()]
    assert rules and all(r.get("Description") for r in rules)


def test_egress_is_limited_to_the_next_hop():
    body = build()
    egress = {n: r["Properties"] for n, r in resources_of_type(body, "AWS::EC2::SecurityGroupEgress").items()}
    assert egress["AlbToAppEgress"]["DestinationSecurityGroupId"] == {"Fn::GetAtt": ["AppSecurityGroup", "GroupId"]}
    assert egress["AppToDbEgress"]["FromPort"] == 5432
    assert egress["AppHttpsEgress"]["FromPort"] == egress["AppHttpsEgress"]["ToPort"] == 443
    db = body["Resources"]["DbSecurityGroup"]["Properties"]
    assert db["SecurityGroupEgress"] == [{
        "CidrIp": "255.255.255.255/32", "Description": "Disallow all traffic", "FromPort": 252, "IpProtocol": "icmp", "ToPort": 86,
    }]


def test_no_bastion_group_unless_compute_has_a_bastion():
    body = build()
    assert "BastionSecurityGroup" not in body["Resources"]
    assert sorted(body["Outputs"]) == ["AlbSecurityGroupId", "AppSecurityGroupId", "DbSecurityGroupId"]


def test_bastion_takes_ssh_from_the_admin_cidr_only():
    body = build(security={"admin_cidr": "198.51.100.0/24"}, compute={"bastion": {"enabled": True}})
    assert sources_of(body, "BastionSecurityGroup") == [("198.51.100.0/24", 22)]
    assert ("BastionSecurityGroup", 22) in sources_of(body, "AppSecurityGroup")
    assert "BastionSecurityGroupId" in body["Outputs"]


def test_bastion_may_reach_the_app_on_22_and_aws_apis_on_443_for_session_manager():
    body = build(security={"admin_cidr": "198.51.100.0/24"}, compute={"bastion": {"enabled": True}})
    bastion = {"Fn::GetAtt": ["BastionSecurityGroup", "GroupId"]}
    egress = sorted(
        (r["Properties"].get("CidrIp") or r["Properties"]["DestinationSecurityGroupId"]["Fn::GetAtt"][0], r["Properties"]["FromPort"])
        for r in resources_of_type(body, "AWS::EC2::SecurityGroupEgress").values() if r["Properties"]["GroupId"] == bastion
    )
    assert egress == [("0.0.0.0/0", 443), ("AppSecurityGroup", 22)]


def test_instance_connect_endpoint_group_reaches_port_22_of_the_app_and_takes_nothing_in():
    assert "InstanceConnectSecurityGroup" not in build(compute={"instance_connect_endpoint": True})["Resources"]
    body = build(compute={"enabled": True, "instance_connect_endpoint": True})
    assert sources_of(body, "InstanceConnectSecurityGroup") == []
    assert sources_of(body, "AppSecurityGroup") == [("AlbSecurityGroup", 8000), ("InstanceConnectSecurityGroup", 22)]
    egress = body["Resources"]["InstanceConnectToAppEgress"]["Properties"]
    assert (egress["DestinationSecurityGroupId"], egress["FromPort"], egress["ToPort"]) == (
        {"Fn::GetAtt": ["AppSecurityGroup", "GroupId"]}, 22, 22)
    assert body["Resources"]["InstanceConnectSecurityGroup"]["Properties"]["SecurityGroupEgress"][0]["Description"] == "Disallow all traffic"
    assert "InstanceConnectSecurityGroupId" in body["Outputs"]


def test_open_admin_cidr_is_refused():
    with pytest.raises(ValidationError, match="must not be open to the whole internet"):
        make_env(security={"admin_cidr": "0.0.0.0/0"})


@pytest.mark.parametrize("cidr", ["::/0", "2001:db8::/32"])
def test_an_ipv6_admin_cidr_is_refused_because_the_rule_is_ipv4(cidr):
    # The bastion rule is a CidrIp: an IPv6 block there fails at deploy time.
    with pytest.raises(ValidationError, match="is an IPv6 CIDR; this field takes an IPv4 block"):
        make_env(security={"admin_cidr": cidr})


def test_vpc_is_a_parameter_so_the_layer_deploys_alone():
    body = build()
    assert body["Parameters"]["VpcId"]["Type"] == "AWS::EC2::VPC::Id"


# --- the load balancer behind CloudFront -------------------------------------------------

FORWARDS = {"static": {"enabled": True, "api_path_pattern": "/api/*"}}


def skipped(body, name):
    return {s["id"]: s["comment"] for s in body["Resources"][name].get("Metadata", {}).get("checkov", {}).get("skip", [])}


@pytest.mark.parametrize("listener, port", [("http", 80), ("https", 443)])
def test_restricted_to_cloudfront_the_alb_admits_only_its_origin_facing_prefix_list_on_one_port(listener, port):
    web = {"enabled": True, "listener": listener, "cloudfront_only": True}
    extra = {"dns": {"enabled": True, "domain": "example.com", "records": {"www": "cloudfront"}}} if listener == "https" else {}
    body = build(web=web, **FORWARDS, **extra)
    (rule,) = body["Resources"]["AlbSecurityGroup"]["Properties"]["SecurityGroupIngress"]
    assert (rule["FromPort"], rule["ToPort"], rule["SourcePrefixListId"]) == (port, port, {"Ref": "CloudFrontPrefixListId"})
    assert "CidrIp" not in rule
    parameter = body["Parameters"]["CloudFrontPrefixListId"]
    assert parameter["Default"] == "pl-4fa04526"  # AWS's id of com.amazonaws.global.cloudfront.origin-facing in eu-west-1
    assert skipped(body, "AlbSecurityGroup") == {}  # nothing is open to 0.0.0.0/0 any more


def test_the_prefix_list_id_follows_the_region_or_the_parameter_file():
    us = build(region="us-east-1", web={"enabled": True, "listener": "http"}, **FORWARDS)
    assert us["Parameters"]["CloudFrontPrefixListId"]["Default"] == "pl-3b927c52"
    given = build(web={"enabled": True, "listener": "http", "cloudfront_prefix_list_id": "pl-0123456789abcdef0"}, **FORWARDS)
    assert given["Parameters"]["CloudFrontPrefixListId"]["Default"] == "pl-0123456789abcdef0"


@pytest.mark.parametrize("listener, reason", [
    ("https", "An internet-facing ALB takes HTTP only to answer it with a redirect to HTTPS (web.listener: https)"),
    ("http", "web.listener: http: port 80 serves the site itself, in plain HTTP, because this environment has no certificate"),
])
def test_the_port_80_reason_is_true_for_the_listener_in_this_environment(listener, reason):
    cert = {"certificate_arn": "arn:aws:acm:eu-west-1:111122223333:certificate/12345678-1234-1234-1234-123456789012"}
    body = build(web={"enabled": True, "listener": listener, **(cert if listener == "https" else {})})
    assert skipped(body, "AlbSecurityGroup") == {"CKV_AWS_260": reason}
