"""cache layer: the rendered template, the schema, lint and scan, and a deploy on moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.build.config import ConfigError, load_config
from generator.cfn.resources import NO_EGRESS
from templates import cache
from tests.helpers import BASE_ENV, checkov_failures, deploy_network_and_security, deploy_stack, lint_findings, make_env, merge, only_resource, render, resources_of_type
from tests.templates.data_support import client, stack_parameters, without_types

ROOT = Path(__file__).resolve().parents[2]
SESSIONS = {"partition_key": {"name": "session_id"}, "ttl_attribute": "expires_at"}
ORDERS = {
    "partition_key": {"name": "customer"}, "sort_key": {"name": "placed_at", "type": "N"},
    "billing": "provisioned", "read_capacity": 5, "write_capacity": 2, "deletion_protection": True,
}


def build(cluster=None, tables=None, **sections) -> dict:
    section = {"enabled": True, "cluster": cluster or {}, "tables": tables or {}}
    return render(cache.build(make_env(cache=section, **sections)))


def group(body: dict) -> dict:
    return body["Resources"]["CacheReplicationGroup"]["Properties"]


# --- security groups ------------------------------------------------------------------

def test_cache_port_open_to_the_app_group_only_with_the_matching_app_egress():
    body = build(cluster={"port": 6380})
    _, sg = only_resource(body, "AWS::EC2::SecurityGroup")
    assert sg["Properties"]["VpcId"] == {"Ref": "VpcId"}
    assert sg["Properties"]["SecurityGroupIngress"] == [{
        "IpProtocol": "tcp", "FromPort": 6380, "ToPort": 6380, "SourceSecurityGroupId": {"Ref": "AppSecurityGroupId"},
        "Description": "Application to the cache port",
    }]
    assert sg["Properties"]["SecurityGroupEgress"] == [NO_EGRESS.to_dict()]
    _, egress = only_resource(body, "AWS::EC2::SecurityGroupEgress")
    assert egress["Properties"] == {
        "GroupId": {"Ref": "AppSecurityGroupId"}, "DestinationSecurityGroupId": {"Fn::GetAtt": ["CacheSecurityGroup", "GroupId"]},
        "IpProtocol": "tcp", "FromPort": 6380, "ToPort": 6380, "Description": "Application to the cache port",
    }
    assert group(body)["SecurityGroupIds"] == [{"Fn::GetAtt": ["CacheSecurityGroup", "GroupId"]}]
    assert group(body)["Port"] == 6380


def test_subnet_group_over_the_private_subnets():
    body = build()
    _, subnets = only_resource(body, "AWS::ElastiCache::SubnetGroup")
    assert subnets["Properties"]["SubnetIds"] == {"Ref": "PrivateSubnetIds"}
    assert group(body)["CacheSubnetGroupName"] == {"Ref": "CacheSubnetGroup"}


# --- replication group ------------------------------------------------------------------

@pytest.mark.parametrize(("replicas", "nodes", "multi_az"), [(0, 1, False), (1, 2, True), (2, 3, True)])
def test_multi_az_with_automatic_failover_from_two_nodes_on(replicas, nodes, multi_az):
    props = group(build(cluster={"replicas": replicas}))
    assert props["NumCacheClusters"] == nodes
    assert props["MultiAZEnabled"] is multi_az
    assert props["AutomaticFailoverEnabled"] is multi_az


def test_encrypted_at_rest_and_in_transit_with_an_auth_token_from_a_generated_secret():
    body = build()
    props = group(body)
    assert props["AtRestEncryptionEnabled"] is True and props["TransitEncryptionEnabled"] is True
    assert props["KmsKeyId"] == {"Fn::GetAtt": ["CacheKey", "Arn"]}
    assert props["AuthToken"] == {"Fn::Sub": "{{resolve:secretsmanager:${CacheAuthToken}}}"}
    _, secret = only_resource(body, "AWS::SecretsManager::Secret")
    assert secret["Properties"]["GenerateSecretString"] == {"PasswordLength": 64, "ExcludePunctuation": True}
    assert "SecretString" not in secret["Properties"]
    assert secret["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["CacheKey", "Arn"]}
    assert body["Outputs"]["CacheAuthTokenSecretArn"]["Value"] == {"Ref": "CacheAuthToken"}


def test_engine_version_windows_and_snapshots():
    body = build(cluster={"engine": "redis", "snapshot_retention_days": 5, "snapshot_window": "01:00-02:00",
                          "maintenance_window": "tue:03:00-tue:04:00", "node_type": "cache.r7g.large"})
    props = group(body)
    assert (props["Engine"], props["EngineVersion"], props["CacheNodeType"]) == ("redis", "7.1", "cache.r7g.large")
    assert (props["SnapshotRetentionLimit"], props["SnapshotWindow"]) == (5, "01:00-02:00")
    assert props["PreferredMaintenanceWindow"] == "tue:03:00-tue:04:00"
    assert props["AutoMinorVersionUpgrade"] is False
    resource = body["Resources"]["CacheReplicationGroup"]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    assert group(build())["Engine"] == "valkey" and group(build())["EngineVersion"] == "8.0"


def test_cache_outputs():
    outputs = build()["Outputs"]
    assert outputs["CachePrimaryEndpoint"]["Value"] == {"Fn::GetAtt": ["CacheReplicationGroup", "PrimaryEndPoint.Address"]}
    assert outputs["CacheReaderEndpoint"]["Value"] == {"Fn::GetAtt": ["CacheReplicationGroup", "ReaderEndPoint.Address"]}
    assert outputs["CachePort"]["Value"] == {"Fn::GetAtt": ["CacheReplicationGroup", "PrimaryEndPoint.Port"]}


# --- key ---------------------------------------------------------------------------

def test_key_lets_the_account_use_it_only_through_dynamodb_and_secrets_manager():
    body = build()
    key = body["Resources"]["CacheKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    root, via = key["Properties"]["KeyPolicy"]["Statement"]
    assert root["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert via["Principal"] == {"AWS": "*"}
    assert via["Condition"] == {"StringEquals": {
        "kms:CallerAccount": {"Ref": "AWS::AccountId"},
        "kms:ViaService": [{"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"}, {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}],
    }}
    assert "kms:*" not in via["Action"]
    assert [s["id"] for s in key["Metadata"]["checkov"]["skip"]] == ["CKV_AWS_33"]


# --- tables ----------------------------------------------------------------------------

def test_tables_from_parameters_with_keys_billing_ttl_recovery_encryption_and_retain():
    body = build(tables={"sessions": SESSIONS, "orders": ORDERS})
    tables = resources_of_type(body, "AWS::DynamoDB::Table")
    assert sorted(tables) == ["OrdersTable", "SessionsTable"]
    sessions, orders = tables["SessionsTable"], tables["OrdersTable"]
    for table in (sessions, orders):
        assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
        assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["Properties"]["SSESpecification"] == {
            "SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": {"Fn::GetAtt": ["CacheKey", "Arn"]}}
    assert sessions["Properties"]["KeySchema"] == [{"AttributeName": "session_id", "KeyType": "HASH"}]
    assert sessions["Properties"]["AttributeDefinitions"] == [{"AttributeName": "session_id", "AttributeType": "S"}]
    assert sessions["Properties"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in sessions["Properties"]
    assert sessions["Properties"]["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert sessions["Properties"]["DeletionProtectionEnabled"] is False
    assert orders["Properties"]["KeySchema"] == [
        {"AttributeName": "customer", "KeyType": "HASH"}, {"AttributeName": "placed_at", "KeyType": "RANGE"}]
    assert orders["Properties"]["AttributeDefinitions"][1] == {"AttributeName": "placed_at", "AttributeType": "N"}
    assert orders["Properties"]["BillingMode"] == "PROVISIONED"
    assert orders["Properties"]["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 2}
    assert "TimeToLiveSpecification" not in orders["Properties"]
    assert orders["Properties"]["DeletionProtectionEnabled"] is True


def test_table_outputs_are_named_after_the_tables():
    outputs = build(tables={"user-sessions": SESSIONS})["Outputs"]
    assert outputs["UserSessionsTableName"]["Value"] == {"Ref": "UserSessionsTable"}
    assert outputs["UserSessionsTableArn"]["Value"] == {"Fn::GetAtt": ["UserSessionsTable", "Arn"]}


def test_tables_only_need_nothing_from_the_vpc():
    body = build(cluster={"enabled": False}, tables={"sessions": SESSIONS})
    assert body.get("Parameters", {}) == {}
    assert not resources_of_type(body, "AWS::EC2::SecurityGroup")
    assert not resources_of_type(body, "AWS::ElastiCache::ReplicationGroup")
    assert set(body["Outputs"]) == {"SessionsTableName", "SessionsTableArn", "CacheKeyArn"}


def test_output_is_deterministic():
    env = make_env(cache={"enabled": True, "tables": {"sessions": SESSIONS, "orders": ORDERS}})
    assert cache.build(env).to_json() == cache.build(env).to_json()


def test_prod_cache_is_multi_az_and_dev_is_one_node():
    prod, dev = load_config(ROOT / "parameters" / "prod.yaml"), load_config(ROOT / "parameters" / "dev.yaml")
    prod_group = group(render(cache.build(prod)))
    assert prod_group["MultiAZEnabled"] is True and prod_group["NumCacheClusters"] >= 2
    assert group(render(cache.build(dev)))["NumCacheClusters"] == 1


# --- schema ----------------------------------------------------------------------------

@pytest.mark.parametrize(("section", "path", "fragment"), [
    ({"cluster": {"engine_version": "6.2"}}, "cache.cluster", "engine_version '6.2' is not supported for valkey (supported: 7.2, 8.0, 8.1)"),
    ({"cluster": {"replicas": 6}}, "cache.cluster.replicas", "less than or equal to 5"),
    ({"cluster": {"node_type": "t4g.micro"}}, "cache.cluster.node_type", "like cache.t4g.micro"),
    ({"cluster": {"snapshot_window": "05:00-06:00", "maintenance_window": "sun:05:30-sun:06:30"}}, "cache.cluster", "overlaps"),
    ({"cluster": {"snapshot_window": "05:00-05:30"}}, "cache.cluster", "shorter than 60 minutes"),
    ({"cluster": {"enabled": False}}, "cache", "builds nothing"),
    ({"tables": {"Sessions": SESSIONS}}, "cache.tables", "lower-case"),
    ({"tables": {"s": {**SESSIONS, "billing": "provisioned"}}}, "cache.tables.s", "needs read_capacity and write_capacity"),
    ({"tables": {"s": {**SESSIONS, "read_capacity": 5}}}, "cache.tables.s", "only to billing: provisioned"),
    ({"tables": {"s": {**SESSIONS, "sort_key": {"name": "session_id"}}}}, "cache.tables.s", "another attribute"),
    ({"tables": {"s": {"partition_key": {"name": "id", "type": "BOOL"}}}}, "cache.tables.s.partition_key.type", "one of S, N, B"),
    ({"tables": {"s": {}}}, "cache.tables.s.partition_key", "required field is missing"),
])
def test_bad_cache_fields_name_the_field(tmp_path, section, path, fragment):
    file = tmp_path / "test.yaml"
    file.write_text(json.dumps(merge(BASE_ENV, {"cache": {"enabled": True, **section}})))
    with pytest.raises(ConfigError) as raised:
        load_config(file)
    assert f" {path}: " in str(raised.value) and fragment in str(raised.value), str(raised.value)


# --- auth token rotation ---------------------------------------------------------------

def test_the_auth_token_rotates_on_a_secrets_manager_schedule():
    body = build(cluster={"auth_token_rotation_days": 14})
    schedule = body["Resources"]["TokenRotationSchedule"]
    assert schedule["Properties"] == {
        "SecretId": {"Ref": "CacheAuthToken"}, "RotationLambdaARN": {"Fn::GetAtt": ["TokenRotationFunction", "Arn"]},
        "RotationRules": {"ScheduleExpression": "rate(14 days)"}, "RotateImmediatelyOnUpdate": False}
    assert schedule["DependsOn"] == ["TokenRotationPermission", "CacheReplicationGroup"]
    fn = body["Resources"]["TokenRotationFunction"]["Properties"]
    assert fn["Environment"] == {"Variables": {"REPLICATION_GROUP_ID": {"Ref": "CacheReplicationGroup"}}}
    assert (fn["Runtime"], fn["Handler"], fn["Timeout"]) == ("python3.13", "handler.handler", 900)
    assert "VpcConfig" not in fn  # it calls the Secrets Manager and ElastiCache APIs only
    permission = body["Resources"]["TokenRotationPermission"]["Properties"]
    assert (permission["Principal"], permission["SourceArn"], permission["SourceAccount"]) == (
        "secretsmanager.amazonaws.com", {"Ref": "CacheAuthToken"}, {"Ref": "AWS::AccountId"})


def test_the_rotation_role_may_touch_exactly_this_token_this_group_and_its_key():
    statements = build()["Resources"]["TokenRotationRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    granted = {tuple(s["Action"]): s["Resource"] for s in statements}
    assert granted == {
        ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
         "secretsmanager:UpdateSecretVersionStage", "secretsmanager:ListSecretVersionIds"): [{"Ref": "CacheAuthToken"}],
        ("secretsmanager:GetRandomPassword",): ["*"],
        ("kms:Decrypt", "kms:GenerateDataKey"): [{"Fn::GetAtt": ["CacheKey", "Arn"]}],
        ("elasticache:DescribeReplicationGroups", "elasticache:ModifyReplicationGroup"): [
            {"Fn::Sub": "arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}:replicationgroup:${CacheReplicationGroup}"},
            {"Fn::Sub": "arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}:cluster:${CacheReplicationGroup}-*"}],
        ("logs:CreateLogStream", "logs:PutLogEvents"): [{"Fn::GetAtt": ["TokenRotationLogGroup", "Arn"]}],
    }
    reasons = build()["Resources"]["TokenRotationRole"]["Metadata"]["WildcardResources"]
    assert reasons[0]["Actions"] == ["secretsmanager:GetRandomPassword"]


def test_rotation_can_be_turned_off():
    body = build(cluster={"auth_token_rotation_days": None})
    assert not any(k.startswith("TokenRotation") for k in body["Resources"])
    assert "CacheAuthToken" in body["Resources"]


def test_the_shipped_environments_rotate_the_token():
    dev, prod = load_config(ROOT / "parameters" / "dev.yaml"), load_config(ROOT / "parameters" / "prod.yaml")
    assert dev.cache.cluster.auth_token_rotation_days == prod.cache.cluster.auth_token_rotation_days == 30


# --- lint and scan ---------------------------------------------------------------------

def shapes() -> dict[str, object]:
    made = {
        "valkey-multi-az": dict(cluster={"replicas": 2, "node_type": "cache.r7g.large"}, tables={"sessions": SESSIONS, "orders": ORDERS}),
        "redis-single": dict(cluster={"engine": "redis", "engine_version": "7.0", "replicas": 0, "snapshot_retention_days": 0}),
        "tables-only": dict(cluster={"enabled": False}, tables={"sessions": SESSIONS}),
        "no-rotation": dict(cluster={"auth_token_rotation_days": None}, alarms={"enabled": False}),
    }
    for engine, versions in cache.SUPPORTED_ENGINE_VERSIONS.items():
        for version in versions:
            made[f"{engine}-{version}"] = dict(cluster={"engine": engine, "engine_version": version})
    return {name: cache.build(make_env(cache={"enabled": True, **section})) for name, section in made.items()}


def test_lint_clean_for_every_supported_version_and_shape():
    assert lint_findings({name: (t, "eu-west-1") for name, t in shapes().items()}) == []


def test_security_scan_clean_in_every_shape(tmp_path):
    assert checkov_failures(shapes(), tmp_path) == []


# --- deploy on moto ------------------------------------------------------------------

# moto's CloudFormation builds no ElastiCache resource and no Secrets Manager
# secret (so nothing generates the auth token), and it silently skips
# AWS::EC2::SecurityGroupEgress.
NOT_EMULATED = {"AWS::ElastiCache::ReplicationGroup", "AWS::ElastiCache::SubnetGroup", "AWS::SecretsManager::Secret",
                "AWS::EC2::SecurityGroupEgress"}


def test_cache_layer_deploys_alone_through_a_change_set(aws):
    """What moto shows: the tables with their keys, billing, capacity and
    deletion protection; the layer's key and its alias; the cache security
    group admitting the app group on the cache port.

    What moto does not emulate (cut, and checked on the JSON above): the
    replication group, its subnet group, the generated auth token, the egress
    rule on the app group; and moto's CloudFormation ignores a table's
    encryption, TTL and point-in-time recovery settings."""
    ids = deploy_network_and_security(aws, make_env())
    full = build(tables={"sessions": SESSIONS, "orders": ORDERS})
    body, cut = without_types(full, NOT_EMULATED)
    # the alarms, the token's rotation and its function read the group or the token (and moto skips alarms)
    assert [c for c in cut if not c.endswith("Alarm")] == [
        "AppToCacheEgress", "CacheAuthToken", "CacheReplicationGroup", "CacheSubnetGroup", "TokenRotationFunction",
        "TokenRotationPermission", "TokenRotationRole", "TokenRotationSchedule"]
    assert sorted(c for c in cut if c.endswith("Alarm")) == sorted(
        k for k, r in full["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm")

    # the rotation function is cut (it reads the group), its code location parameter stays
    resources = deploy_stack(aws, "cache", body, stack_parameters(body, {**ids, "TemplateBucket": "unused-artifacts"}))

    dynamodb = client(aws, "dynamodb")
    sessions = dynamodb.describe_table(TableName=resources["SessionsTable"]["PhysicalResourceId"])["Table"]
    assert sessions["KeySchema"] == [{"AttributeName": "session_id", "KeyType": "HASH"}]
    assert sessions["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert sessions["DeletionProtectionEnabled"] is False
    orders = dynamodb.describe_table(TableName=resources["OrdersTable"]["PhysicalResourceId"])["Table"]
    assert orders["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert orders["ProvisionedThroughput"]["WriteCapacityUnits"] == 2
    assert [(k["AttributeName"], k["KeyType"]) for k in orders["KeySchema"]] == [("customer", "HASH"), ("placed_at", "RANGE")]
    assert orders["DeletionProtectionEnabled"] is True

    key_id = resources["CacheKey"]["PhysicalResourceId"]
    aliases = client(aws, "kms").list_aliases(KeyId=key_id)["Aliases"]
    assert [a["AliasName"] for a in aliases] == ["alias/cache-CacheKey"]

    ec2 = client(aws, "ec2")
    (sg,) = ec2.describe_security_groups(GroupIds=[resources["CacheSecurityGroup"]["PhysicalResourceId"]])["SecurityGroups"]
    assert sg["VpcId"] == ids["VpcId"]
    (rule,) = sg["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (6379, 6379)
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [ids["AppSecurityGroupId"]]
