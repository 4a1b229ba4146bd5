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
