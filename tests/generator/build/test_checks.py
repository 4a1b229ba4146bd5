"""Strata's architecture rules (E9005-E9013): each with a failing and a passing
template, the rules that span layers run on the environment as a whole, and
the shipped parameter files pass every rule (`strata check`)."""

import copy
import json

import pytest
from troposphere import ec2

from generator.build.environment import flatten
from generator.build.lint import Linter
from generator.cli import main
from templates import security
from tests.helpers import write_params


@pytest.fixture(scope="module")
def linter():
    return Linter("eu-west-1")


def ids(linter, resources: dict, parameters: dict | None = None, rule: str = "") -> list[tuple[str, str]]:
    """(rule, resource) of the findings of `rule` (all of Strata's from E9005 without one)."""
    body = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}
    if parameters:
        body["Parameters"] = parameters
    return sorted({(f.rule, f.resource) for f in linter.check("t.json", json.dumps(body))
                   if (f.rule == rule if rule else f.rule >= "E9005")})


def subnet(index: int) -> dict:
    return {"Type": "AWS::EC2::Subnet", "Properties": {
        "VpcId": {"Ref": "Vpc"}, "CidrBlock": f"10.0.{index}.0/24",
        "AvailabilityZone": {"Fn::Select": [index, {"Fn::GetAZs": ""}]}}}


VPC = {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}}


def alb(*subnets: str) -> dict:
    return {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
        "Subnets": [{"Ref": s} for s in subnets], "SecurityGroups": [{"Ref": "AlbGroup"}]}}


def test_e9005_a_tier_in_one_az_fails_and_two_azs_pass(linter):
    base = {"Vpc": VPC, "A": subnet(0), "B": subnet(1), "A2": {**subnet(0)}}
    assert ids(linter, {**base, "Lb": alb("A", "B")}, rule="E9005") == []
    assert ids(linter, {**base, "Lb": alb("A", "A2")}, rule="E9005") == [("E9005", "Lb")]
    group = {"Type": "AWS::RDS::DBSubnetGroup", "Properties": {"DBSubnetGroupDescription": "d", "SubnetIds": [{"Ref": "A"}, {"Ref": "A2"}]}}
    assert ids(linter, {**base, "Subnets": group}, rule="E9005") == [("E9005", "Subnets")]


def test_e9005_readers_in_the_writers_az_fail(linter):
    cluster = {"Type": "AWS::RDS::DBCluster", "Properties": {"Engine": "aurora-postgresql"}}

    def instance(zone):
        return {"Type": "AWS::RDS::DBInstance", "Properties": {
            "Engine": "aurora-postgresql", "DBClusterIdentifier": {"Ref": "Cluster"}, "DBInstanceClass": "db.t4g.medium",
            "AvailabilityZone": {"Fn::Select": [zone, {"Fn::GetAZs": ""}]}}}

    assert ids(linter, {"Cluster": cluster, "I1": instance(0), "I2": instance(1)}, rule="E9005") == []
    assert ids(linter, {"Cluster": cluster, "I1": instance(0), "I2": instance(0)}, rule="E9005") == [("E9005", "Cluster")]
    assert ids(linter, {"Cluster": cluster, "I1": instance(0)}, rule="E9005") == []  # no reader: nothing to spread


def test_e9005_says_nothing_about_subnets_it_cannot_see(linter):
    parameters = {"PublicSubnetIds": {"Type": "List<AWS::EC2::Subnet::Id>"}}
    lb = {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {"Subnets": {"Ref": "PublicSubnetIds"}}}
    assert ids(linter, {"Lb": lb}, parameters, rule="E9005") == []


def _nat_vpc(cross: bool) -> dict:
    resources = {"Vpc": VPC, "Pub1": subnet(0), "Pub2": subnet(1), "Priv1": subnet(2), "Priv2": subnet(3)}
    resources["Priv1"]["Properties"]["AvailabilityZone"] = {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    resources["Priv2"]["Properties"]["AvailabilityZone"] = {"Fn::Select": [1, {"Fn::GetAZs": ""}]}
    for i in (1, 2):
        resources[f"Nat{i}"] = {"Type": "AWS::EC2::NatGateway", "Properties": {"SubnetId": {"Ref": f"Pub{i}"}, "AllocationId": "eipalloc-1"}}
        resources[f"Table{i}"] = {"Type": "AWS::EC2::RouteTable", "Properties": {"VpcId": {"Ref": "Vpc"}}}
        resources[f"Assoc{i}"] = {"Type": "AWS::EC2::SubnetRouteTableAssociation",
                                  "Properties": {"SubnetId": {"Ref": f"Priv{i}"}, "RouteTableId": {"Ref": f"Table{i}"}}}
        nat = 3 - i if cross else i
        resources[f"Route{i}"] = {"Type": "AWS::EC2::Route", "Properties": {
            "RouteTableId": {"Ref": f"Table{i}"}, "DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": {"Ref": f"Nat{nat}"}}}
    return resources


def test_e9006_each_private_route_table_uses_its_own_azs_nat(linter):
    assert ids(linter, _nat_vpc(cross=False), rule="E9006") == []
    assert ids(linter, _nat_vpc(cross=True), rule="E9006") == [("E9006", "Route1"), ("E9006", "Route2")]


def test_e9007_stateful_resources_keep_their_data(linter):
    bucket = {"Type": "AWS::S3::Bucket", "Properties": {}}
    kept = {**bucket, "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    half = {**bucket, "DeletionPolicy": "Retain"}
    member = {"Type": "AWS::RDS::DBInstance", "Properties": {"DBClusterIdentifier": "c", "Engine": "aurora-mysql", "DBInstanceClass": "db.t4g.medium"}}
    found = ids(linter, {"Kept": kept, "Half": half, "Bare": bucket, "Member": member}, rule="E9007")
    assert found == [("E9007", "Bare"), ("E9007", "Half")]


def test_e9008_log_groups_need_a_retention_and_functions_a_log_group(linter):
    group = {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}}
    forever = {"Type": "AWS::Logs::LogGroup", "Properties": {}}

    def function(logging):
        props = {"Role": "arn:aws:iam::123456789012:role/r", "Runtime": "python3.12", "Handler": "a.b", "Code": {"ZipFile": "x"}}
        if logging:
            props["LoggingConfig"] = {"LogGroup": {"Ref": "Group"}}
        return {"Type": "AWS::Lambda::Function", "Properties": props}

    assert ids(linter, {"Group": group, "Fn": function(True)}, rule="E9008") == []
    assert ids(linter, {"Group": forever, "Fn": function(False)}, rule="E9008") == [("E9008", "Fn"), ("E9008", "Group")]


def _sg(*cidrs: str) -> dict:
    return {"Type": "AWS::EC2::SecurityGroup", "Properties": {"GroupDescription": "g", "SecurityGroupIngress": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "CidrIp": c} for c in cidrs]}}


def test_e9009_only_an_internet_facing_load_balancer_wears_an_open_group(linter):
    base = {"Vpc": VPC, "A": subnet(0), "B": subnet(1), "AlbGroup": _sg("0.0.0.0/0")}
    assert ids(linter, {**base, "Lb": alb("A", "B")}, rule="E9009") == []
    launch = {"Type": "AWS::EC2::LaunchTemplate", "Properties": {"LaunchTemplateData": {"SecurityGroupIds": [{"Ref": "AlbGroup"}]}}}
    assert ids(linter, {**base, "Lb": alb("A", "B"), "Launch": launch}, rule="E9009") == [("E9009", "Launch")]
    internal = alb("A", "B")
    internal["Properties"]["Scheme"] = "internal"
    assert ids(linter, {**base, "Lb": internal}, rule="E9009") == [("E9009", "Lb")]


def _role(resource, reason: str | None) -> dict:
    role = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": resource}]}}]}}
    if reason is not None:
        role["Metadata"] = {"WildcardResources": [{"Actions": ["ecr:GetAuthorizationToken"], "Reason": reason}]}
    return role


def test_e9010_a_wildcard_statement_needs_its_reason_in_metadata(linter):
    assert ids(linter, {"Named": _role("arn:aws:ecr:eu-west-1:123456789012:repository/r", None)}, rule="E9010") == []
    assert ids(linter, {"Reasoned": _role("*", "no resource-level permissions")}, rule="E9010") == []
    assert ids(linter, {"Silent": _role("*", None), "Empty": _role("*", "  ")}, rule="E9010") == [("E9010", "Empty"), ("E9010", "Silent")]


def _managed(reason: str | None) -> dict:
    policy = {"Type": "AWS::IAM::ManagedPolicy", "Properties": {"PolicyDocument": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["ec2:DescribeVpcs"], "Resource": "*"}]}}}
    if reason is not None:
        policy["Metadata"] = {"WildcardResources": [{"Actions": ["ec2:DescribeVpcs"], "Reason": reason}]}
    return policy


def test_e9010_a_managed_policy_attached_by_managed_policy_arns_may_carry_its_own_reasons(linter):
    role = {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "ManagedPolicyArns": [{"Ref": "Describe"}]}}
    assert ids(linter, {"Role": role, "Describe": _managed("no resource-level permissions")}, rule="E9010") == []
    assert ids(linter, {"Role": role, "Describe": _managed(None)}, rule="E9010") == [("E9010", "Role")]
    assert ids(linter, {"Describe": _managed(None)}, rule="E9010") == [("E9010", "Describe")]


def _reader(resource) -> dict:
    return {"Type": "AWS::IAM::Role", "Properties": {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": resource}]}}]}}


def test_e9011_the_database_secret_is_read_only_by_the_app_tier(linter):
    secret = {"Fn::GetAtt": ["Cluster", "MasterUserSecret.SecretArn"]}
    cluster = {"Type": "AWS::RDS::DBCluster", "Properties": {"Engine": "aurora-postgresql", "ManageMasterUserPassword": True}}
    profile = {"Type": "AWS::IAM::InstanceProfile", "Properties": {"Roles": [{"Ref": "AppRole"}]}}
    launch = {"Type": "AWS::EC2::LaunchTemplate", "Properties": {"LaunchTemplateData": {
        "IamInstanceProfile": {"Arn": {"Fn::GetAtt": ["Profile", "Arn"]}}}}}
    base = {"Cluster": cluster, "Profile": profile, "Launch": launch, "AppRole": _reader(secret)}
    assert ids(linter, base, rule="E9011") == []
    assert ids(linter, {**base, "Stranger": _reader(secret)}, rule="E9011") == [("E9011", "Stranger")]
    assert ids(linter, {**base, "Greedy": _reader("*")}, rule="E9011") == [("E9011", "Greedy")]


def _queue(**props) -> dict:
    return {"Type": "AWS::SQS::Queue", "Properties": props}


def test_e9012_every_queue_has_a_dead_letter_queue_except_dead_letter_queues(linter):
    work = _queue(RedrivePolicy={"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}, "maxReceiveCount": 3})
    assert ids(linter, {"Work": work, "Dlq": _queue()}, rule="E9012") == []
    assert ids(linter, {"Lonely": _queue()}, rule="E9012") == [("E9012", "Lonely")]
    function = {"Type": "AWS::Lambda::Function", "Properties": {
        "Role": "arn:aws:iam::123456789012:role/r", "Runtime": "python3.12", "Handler": "a.b", "Code": {"ZipFile": "x"},
        "DeadLetterConfig": {"TargetArn": {"Fn::GetAtt": ["FunctionDlq", "Arn"]}}}}
    found = ids(linter, {"Fn": function, "FunctionDlq": _queue()}, rule="E9012")
    assert ("E9012", "FunctionDlq") not in found


def _bucket_policy(*statements) -> dict:
    return {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": {
        "Version": "2012-10-17", "Statement": list(statements)}}}


TLS = {"Effect": "Deny", "Principal": "*", "Action": "s3:*",
       "Resource": [{"Fn::GetAtt": ["Bucket", "Arn"]}, {"Fn::Sub": "${Bucket.Arn}/*"}],
       "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def test_e9013_every_bucket_denies_requests_without_tls(linter):
    bucket = {"Type": "AWS::S3::Bucket", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {}}
    assert ids(linter, {"Bucket": bucket, "Policy": _bucket_policy(TLS)}, rule="E9013") == []
    assert ids(linter, {"Bucket": bucket}, rule="E9013") == [("E9013", "Bucket")]
    bucket_only = {**TLS, "Resource": [{"Fn::GetAtt": ["Bucket", "Arn"]}]}
    assert ids(linter, {"Bucket": bucket, "Policy": _bucket_policy(bucket_only)}, rule="E9013") == [("E9013", "Bucket")]
    allow = {**TLS, "Effect": "Allow"}
    assert ids(linter, {"Bucket": bucket, "Policy": _bucket_policy(allow)}, rule="E9013") == [("E9013", "Bucket")]


def test_a_rule_is_suppressed_only_in_the_resources_metadata(linter):
    lonely = _queue()
    lonely["Metadata"] = {"cfn-lint": {"config": {"ignore_checks": ["E9012"]}}}
    assert ids(linter, {"Lonely": lonely}, rule="E9012") == []
    assert ids(linter, {"Lonely": _queue()}, rule="E9012") == [("E9012", "Lonely")]


def test_cross_layer_findings_name_the_layer_template(capsys, tmp_path, monkeypatch):
    """The app's security group opened to the internet on 443 passes E9003 in
    the security layer, but the Fargate service that wears it is in another
    layer: only the environment as a whole shows it, and the finding names
    the containers layer's template and the service."""
    params = write_params(tmp_path, open("parameters/dev.yaml").read()).parent
    real = security.build

    def opened(env):
        t = real(env)
        t.resources["AppSecurityGroup"].SecurityGroupIngress = [
            ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp="0.0.0.0/0", Description="x")]
        return t

    monkeypatch.setattr(security, "build", opened)
    assert main(["check", "--env", "dev", "--params-dir", str(params)]) == 1
    err = capsys.readouterr().err
    assert "dev/containers.json:" in err and "E9009 Service:" in err and "(across layers)" in err
    out = tmp_path / "out"
    assert main(["build", "--env", "dev", "--params-dir", str(params), "--out", str(out)]) == 1
    assert "E9009 Service" in capsys.readouterr().err and not (out / "dev").exists()


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_shipped_parameter_files_pass_every_rule(name, capsys):
    assert main(["check", "--env", name]) == 0
    out = capsys.readouterr().out
    assert "E9005" in out and "E9013" in out and "AWS Guard rules" in out


def test_flatten_keeps_every_resource_and_its_origin(tmp_path):
    assert main(["build", "--env", "dev", "--out", str(tmp_path)]) == 0
    bodies = {p.name: json.loads(p.read_text()) for p in (tmp_path / "dev").glob("*.json") if p.name not in ("manifest.json", "cost.json")}
    view = flatten(copy.deepcopy(bodies))
    nested = sum(len(b["Resources"]) for f, b in bodies.items() if f != "root.json")
    assert len(view.resources) == nested
    assert view.origin["WebLoadBalancer"] == ("web.json", "LoadBalancer")
    subnets = view.resources["WebLoadBalancer"]["Properties"]["Subnets"]
    assert subnets == {"Fn::Join": [",", [{"Ref": "NetworkPublicSubnet1"}, {"Ref": "NetworkPublicSubnet2"}]]}
