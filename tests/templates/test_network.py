"""The network layer's JSON, option by option."""

import pytest
from pydantic import ValidationError

from templates import network
from tests.helpers import assert_props, make_env, only_resource, render, resources_of_type


def build(**network_section):
    return render(network.build(make_env(network=network_section)))


def default_routes(body):
    return {
        r["Properties"]["RouteTableId"]["Ref"]: r["Properties"]
        for r in resources_of_type(body, "AWS::EC2::Route").values()
        if r["Properties"]["DestinationCidrBlock"] == "0.0.0.0/0"
    }


def test_vpc_has_dns_support_and_hostnames_for_private_dns_endpoints():
    body = build()
    assert_props(body, "AWS::EC2::VPC", {"CidrBlock": "10.0.0.0/16", "EnableDnsSupport": True, "EnableDnsHostnames": True})


@pytest.mark.parametrize("az_count", [2, 3, 6])
def test_subnets_per_az_from_getazs_never_literal_names(az_count):
    body = build(az_count=az_count)
    subnets = resources_of_type(body, "AWS::EC2::Subnet")
    assert len(subnets) == 2 * az_count
    for index in range(az_count):
        for tier in ("Public", "Private"):
            az = subnets[f"{tier}Subnet{index + 1}"]["Properties"]["AvailabilityZone"]
            assert az == {"Fn::Select": [index, {"Fn::GetAZs": ""}]}


def test_subnet_cidrs_are_planned_inside_the_vpc_without_overlap():
    body = build(cidr="10.1.0.0/16", az_count=3)
    cidrs = {name: r["Properties"]["CidrBlock"] for name, r in resources_of_type(body, "AWS::EC2::Subnet").items()}
    assert cidrs == {
        "PublicSubnet1": "10.1.0.0/20", "PublicSubnet2": "10.1.16.0/20", "PublicSubnet3": "10.1.32.0/20",
        "PrivateSubnet1": "10.1.48.0/20", "PrivateSubnet2": "10.1.64.0/20", "PrivateSubnet3": "10.1.80.0/20",
    }


def test_public_route_table_sends_default_route_to_the_internet_gateway():
    body = build()
    routes = default_routes(body)
    assert routes["PublicRouteTable"]["GatewayId"] == {"Ref": "InternetGateway"}
    assert len(resources_of_type(body, "AWS::EC2::SubnetRouteTableAssociation")) == 4


def test_nat_per_az_gives_each_private_route_table_its_own_az_nat():
    body = build(nat="per_az", az_count=3)
    nats = resources_of_type(body, "AWS::EC2::NatGateway")
    assert len(nats) == 3
    assert len(resources_of_type(body, "AWS::EC2::EIP")) == 3
    for index in (1, 2, 3):
        assert nats[f"NatGateway{index}"]["Properties"]["SubnetId"] == {"Ref": f"PublicSubnet{index}"}
        assert default_routes(body)[f"PrivateRouteTable{index}"]["NatGatewayId"] == {"Ref": f"NatGateway{index}"}


def test_nat_single_is_shared_by_every_private_route_table():
    body = build(nat="single", az_count=3)
    assert list(resources_of_type(body, "AWS::EC2::NatGateway")) == ["NatGateway1"]
    routes = default_routes(body)
    assert [routes[f"PrivateRouteTable{i}"]["NatGatewayId"] for i in (1, 2, 3)] == [{"Ref": "NatGateway1"}] * 3


def test_nat_none_leaves_private_route_tables_without_a_default_route():
    body = build(nat="none")
    assert not resources_of_type(body, "AWS::EC2::NatGateway")
    assert not resources_of_type(body, "AWS::EC2::EIP")
    assert set(default_routes(body)) == {"PublicRouteTable"}


def test_gateway_endpoints_attach_to_every_private_route_table():
    body = build(az_count=3)
    tables = [{"Ref": f"PrivateRouteTable{i}"} for i in (1, 2, 3)]
    for service in ("s3", "dynamodb"):
        assert_props(body, "AWS::EC2::VPCEndpoint", {
            "VpcEndpointType": "Gateway",
            "ServiceName": {"Fn::Sub": f"com.amazonaws.${{AWS::Region}}.{service}"},
            "RouteTableIds": tables,
        }, count=1)


def test_interface_endpoints_in_private_subnets_with_private_dns_and_one_shared_group():
    body = build(interface_endpoints=["ecr.api", "ecr.dkr", "logs"])
    endpoints = assert_props(body, "AWS::EC2::VPCEndpoint", {
        "VpcEndpointType": "Interface", "PrivateDnsEnabled": True,
        "SubnetIds": [{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}],
        "SecurityGroupIds": [{"Ref": "EndpointSecurityGroup"}],
    }, count=3)
    assert sorted(endpoints) == ["EcrApiEndpoint", "EcrDkrEndpoint", "LogsEndpoint"]
    assert body["Resources"]["EcrApiEndpoint"]["Properties"]["ServiceName"] == {"Fn::Sub": "com.amazonaws.${AWS::Region}.ecr.api"}
    _, group = only_resource(body, "AWS::EC2::SecurityGroup")
    [ingress] = group["Properties"]["SecurityGroupIngress"]
    assert ingress == {
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": {"Fn::GetAtt": ["Vpc", "CidrBlock"]},
        "Description": "HTTPS to AWS service endpoints from the VPC",
    }
    assert body["Outputs"]["EndpointSecurityGroupId"]["Value"] == {"Ref": "EndpointSecurityGroup"}


def test_no_interface_endpoints_means_no_endpoint_group_or_output():
    body = build(interface_endpoints=[])
    assert not resources_of_type(body, "AWS::EC2::SecurityGroup")
    assert "EndpointSecurityGroupId" not in body["Outputs"]


def test_flow_logs_go_to_a_log_group_with_retention_through_a_least_privilege_role():
    body = build(flow_logs={"retention_days": 90, "traffic_type": "REJECT"})
    assert_props(body, "AWS::Logs::LogGroup", {"RetentionInDays": 90}, count=1)
    assert_props(body, "AWS::EC2::FlowLog", {
        "ResourceId": {"Ref": "Vpc"}, "ResourceType": "VPC", "TrafficType": "REJECT",
        "LogDestinationType": "cloud-watch-logs", "LogGroupName": {"Ref": "FlowLogGroup"},
        "DeliverLogsPermissionArn": {"Fn::GetAtt": ["FlowLogRole", "Arn"]},
    }, count=1)
    role = body["Resources"]["FlowLogRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["vpc-flow-logs.amazonaws.com"]}
    [statement] = role["Policies"][0]["PolicyDocument"]["Statement"]
    assert statement["Resource"] == [{"Fn::GetAtt": ["FlowLogGroup", "Arn"]}]
    assert sorted(statement["Action"]) == ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]


def test_flow_logs_off_builds_no_log_resources():
    body = build(flow_logs={"enabled": False})
    assert not resources_of_type(body, "AWS::EC2::FlowLog")
    assert not resources_of_type(body, "AWS::Logs::LogGroup")


def test_outputs_are_the_wiring_contract():
    body = build(interface_endpoints=["logs"])
    assert sorted(body["Outputs"]) == [
        "EndpointSecurityGroupId", "NatPublicIps", "NetworkAlarmNames", "PrivateRouteTableIds", "PrivateSubnetIds",
        "PublicSubnetIds", "VpcCidr", "VpcId",
    ]
    assert body["Outputs"]["PrivateSubnetIds"]["Value"] == {"Fn::Join": [",", [{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}]]}


def test_nothing_in_the_vpc_gets_a_public_ip_by_default():
    body = build()
    assert all(s["Properties"]["MapPublicIpOnLaunch"] is False for s in resources_of_type(body, "AWS::EC2::Subnet").values())


def test_explicit_subnets_are_used_as_given():
    body = build(public_subnets=["10.0.0.0/24", "10.0.1.0/24"], private_subnets=["10.0.10.0/24", "10.0.11.0/24"])
    assert body["Resources"]["PrivateSubnet2"]["Properties"]["CidrBlock"] == "10.0.11.0/24"


@pytest.mark.parametrize("section, message", [
    ({"az_count": 1}, "greater than or equal to 2"),
    ({"az_count": 7}, "less than or equal to 6"),
    ({"cidr": "10.0.0.0/33"}, "not a valid IPv4 network CIDR"),
    ({"cidr": "10.0.0.1/16"}, "not a valid IPv4 network CIDR"),
    ({"cidr": "10.0.0.0/8"}, "between /16 and /28"),
    ({"cidr": "10.0.0.0/24", "subnet_prefix": 26, "az_count": 3}, "6 subnets of /26 do not fit"),
    ({"public_subnets": ["10.0.0.0/24", "10.0.1.0/24"], "private_subnets": ["10.0.1.0/25", "10.0.3.0/24"]}, "overlap"),
    ({"public_subnets": ["10.9.0.0/24", "10.0.1.0/24"]}, "outside the VPC CIDR"),
    ({"public_subnets": ["10.0.0.0/24"]}, "lists 1 CIDRs for az_count 2"),
    ({"interface_endpoints": ["logs", "logs"]}, "listed more than once: logs"),
    ({"interface_endpoints": ["Not A Service"]}, "is not a service name"),
    ({"flow_logs": {"retention_days": 10}}, "must be one of 1, 3, 5"),
    ({"endpoint_az_count": 3}, r"endpoint_az_count \(3\) exceeds az_count \(2\)"),
    ({"endpoint_az_count": 0}, "greater than or equal to 1"),
    ({"endpoint_policies": {"sqs": "account"}}, "names endpoints not in gateway_endpoints or interface_endpoints: sqs"),
    ({"endpoint_policies": {"s3": "mine"}}, "account"),
    ({"endpoint_policies": {"s3": {"Version": "2012-10-17"}}}, "needs a Statement list"),
])
def test_bad_network_sections_are_refused(section, message):
    with pytest.raises(ValidationError, match=message):
        make_env(network=section)


def test_endpoints_in_fewer_azs_sit_in_the_first_private_subnets():
    # what that saves is the cost estimate's (tests/generator/build/test_cost.py)
    cfg = {"nat": "none", "az_count": 3, "interface_endpoints": ["ecr.api", "logs"], "endpoint_az_count": 1}
    body = build(**cfg)
    for name in ("EcrApiEndpoint", "LogsEndpoint"):
        assert body["Resources"][name]["Properties"]["SubnetIds"] == [{"Ref": "PrivateSubnet1"}]
    two = build(**{**cfg, "endpoint_az_count": 2})
    assert two["Resources"]["LogsEndpoint"]["Properties"]["SubnetIds"] == [{"Ref": "PrivateSubnet1"}, {"Ref": "PrivateSubnet2"}]
    every = build(**{**cfg, "endpoint_az_count": None})
    assert len(every["Resources"]["LogsEndpoint"]["Properties"]["SubnetIds"]) == 3


def test_nat_public_ips_are_an_output_for_allow_lists():
    body = build(nat="per_az", az_count=3)
    assert body["Outputs"]["NatPublicIps"]["Value"] == {"Fn::Join": [",", [{"Ref": f"NatEip{i}"} for i in (1, 2, 3)]]}
    assert body["Outputs"]["NatPublicIps"]["Description"].startswith("Public IPs")
    assert "NatPublicIps" not in build(nat="none")["Outputs"]


def test_gateway_endpoints_can_serve_the_public_route_table_too():
    private_only = build()["Resources"]["S3GatewayEndpoint"]["Properties"]["RouteTableIds"]
    assert {"Ref": "PublicRouteTable"} not in private_only
    with_public = build(public_gateway_endpoints=True)["Resources"]["S3GatewayEndpoint"]["Properties"]["RouteTableIds"]
    assert with_public == private_only + [{"Ref": "PublicRouteTable"}]


def test_endpoint_policies_restrict_to_the_account_or_take_a_document():
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": ["dynamodb:GetItem"], "Resource": ["*"]}]}
    body = build(interface_endpoints=["sqs"], endpoint_policies={"sqs": "account", "s3": "account", "dynamodb": document})
    sqs = body["Resources"]["SqsEndpoint"]["Properties"]["PolicyDocument"]
    assert sqs["Statement"] == [{
        "Sid": "ThisAccountOnly", "Effect": "Allow", "Principal": "*", "Action": ["*"], "Resource": ["*"],
        "Condition": {"StringEquals": {"aws:PrincipalAccount": {"Ref": "AWS::AccountId"}}},
    }]
    s3 = body["Resources"]["S3GatewayEndpoint"]["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Sid"] for s in s3] == ["ThisAccountOnly", "EcrImageLayers"]
    assert s3[1]["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*"}]
    assert body["Resources"]["DynamodbGatewayEndpoint"]["Properties"]["PolicyDocument"] == document
    assert "PolicyDocument" not in build(interface_endpoints=["sqs"])["Resources"]["SqsEndpoint"]["Properties"]
