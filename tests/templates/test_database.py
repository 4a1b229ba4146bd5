"""database layer: the rendered template, the schema, lint and scan, and a deploy on moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from generator.build.config import ConfigError, EnvConfig, load_config
from templates import database
from tests.helpers import BASE_ENV, checkov_failures, config_error, deploy_network_and_security, deploy_stack, lint_findings, make_env, merge, only_resource, render, resources_of_type
from tests.templates.data_support import client, stack_parameters, without_types

ROOT = Path(__file__).resolve().parents[2]


def build(network=None, security=None, **fields) -> dict:
    sections = {"database": {"enabled": True, **fields}}
    if network:
        sections["network"] = network
    if security:
        sections["security"] = security
    return render(database.build(make_env(**sections)))


def cluster(body: dict) -> dict:
    return body["Resources"]["DatabaseCluster"]


def instances(body: dict) -> dict[str, dict]:
    return resources_of_type(body, "AWS::RDS::DBInstance")


# --- credentials -----------------------------------------------------------------

def test_master_password_is_generated_by_rds_into_secrets_manager_and_never_written():
    body = build()
    props = cluster(body)["Properties"]
    assert props["ManageMasterUserPassword"] is True
    assert '"MasterUserPassword"' not in json.dumps(body)
    assert not [p for p in body["Parameters"].values() if p.get("NoEcho")]  # nor asked for as a parameter
    assert body["Outputs"]["DatabaseSecretArn"]["Value"] == {"Fn::GetAtt": ["DatabaseCluster", "MasterUserSecret.SecretArn"]}
    # No KmsKeyId for the secret: the AWS managed key, so readers need only secretsmanager:GetSecretValue.
    assert "MasterUserSecret" not in props


# --- placement ---------------------------------------------------------------------

def test_cluster_sits_in_a_subnet_group_of_the_private_subnets_behind_the_db_group_on_its_port():
    body = build(security={"db_port": 6543})
    _, group = only_resource(body, "AWS::RDS::DBSubnetGroup")
    assert group["Properties"]["SubnetIds"] == {"Ref": "PrivateSubnetIds"}
    props = cluster(body)["Properties"]
    assert props["DBSubnetGroupName"] == {"Ref": "DatabaseSubnetGroup"}
    assert props["VpcSecurityGroupIds"] == [{"Ref": "DbSecurityGroupId"}]
    assert props["Port"] == 6543
    assert body["Parameters"]["PrivateSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert body["Parameters"]["DbSecurityGroupId"]["Type"] == "AWS::EC2::SecurityGroup::Id"
    assert not resources_of_type(body, "AWS::EC2::SecurityGroup")


def test_writer_then_readers_round_robin_over_the_azs():
    body = build(network={"az_count": 3}, readers=3)
    made = instances(body)
    assert list(made) == [f"DatabaseInstance{i}" for i in (1, 2, 3, 4)]
    zones = [r["Properties"]["AvailabilityZone"]["Fn::Select"][0] for r in made.values()]
    assert zones == [0, 1, 2, 0]
    for r in made.values():
        assert r["Properties"]["AvailabilityZone"]["Fn::Select"][1] == {"Fn::GetAZs": ""}
        assert r["Properties"]["DBClusterIdentifier"] == {"Ref": "DatabaseCluster"}
        assert r["Properties"]["PubliclyAccessible"] is False
        assert r["Properties"]["AutoMinorVersionUpgrade"] is False
    assert "DependsOn" not in made["DatabaseInstance1"]
    # each reader after the one before: created, and later modified, one at a time
    assert [made[f"DatabaseInstance{i}"]["DependsOn"] for i in (2, 3, 4)] == ["DatabaseInstance1", "DatabaseInstance2", "DatabaseInstance3"]


def _classes_and_tiers(body: dict) -> list[tuple[str, int]]:
    """(class, promotion tier) per instance; the writer's class is the
    DatabaseInstanceClass parameter (its default here), which readers of that class follow."""
    def resolved(value):
        return f"param:{body['Parameters'][value['Ref']]['Default']}" if isinstance(value, dict) else value
    return [(resolved(r["Properties"]["DBInstanceClass"]), r["Properties"]["PromotionTier"]) for r in instances(body).values()]


def test_readers_share_the_writers_class_and_tier_unless_told():
    body = build(readers=2, instance_class="db.r6g.large")
    assert _classes_and_tiers(body) == [("param:db.r6g.large", 0), ("param:db.r6g.large", 1), ("param:db.r6g.large", 1)]


def test_reader_class_for_all_readers_or_one_per_reader_with_writer_sized_readers_promoted_first():
    one_class = build(readers=2, instance_class="db.r6g.large", reader_class="db.r6g.xlarge")
    assert _classes_and_tiers(one_class) == [("param:db.r6g.large", 0), ("db.r6g.xlarge", 2), ("db.r6g.xlarge", 2)]
    per_reader = build(readers=3, instance_class="db.r6g.large", reader_class=["db.r6g.large", "db.t4g.medium", "db.r6g.large"])
    assert _classes_and_tiers(per_reader) == [
        ("param:db.r6g.large", 0), ("param:db.r6g.large", 1), ("db.t4g.medium", 2), ("param:db.r6g.large", 1)]


def test_no_readers_means_one_instance():
    assert list(instances(build(readers=0))) == ["DatabaseInstance1"]


# --- data safety ------------------------------------------------------------------

def test_encrypted_backed_up_protected_and_snapshotted_on_delete():
    body = build(backup_retention_days=14, backup_window="01:00-01:30", maintenance_window="mon:02:00-mon:02:30")
    c = cluster(body)
    assert (c["DeletionPolicy"], c["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    assert c["Properties"]["StorageEncrypted"] is True
    assert c["Properties"]["BackupRetentionPeriod"] == 14
    assert c["Properties"]["PreferredBackupWindow"] == "01:00-01:30"
    assert c["Properties"]["PreferredMaintenanceWindow"] == "mon:02:00-mon:02:30"
    assert c["Properties"]["DeletionProtection"] is True
    assert c["Properties"]["CopyTagsToSnapshot"] is True
    assert c["Properties"]["EnableIAMDatabaseAuthentication"] is True


def test_deletion_protection_can_be_turned_off_for_a_disposable_environment():
    assert cluster(build(deletion_protection=False))["Properties"]["DeletionProtection"] is False


@pytest.mark.parametrize(("engine", "port", "logs", "tls", "extra"), [
    ("aurora-postgresql", 5432, ["postgresql"], {"rds.force_ssl": "1"}, {"log_connections": "1"}),
    ("aurora-mysql", 3306, ["audit", "error", "slowquery"], {"require_secure_transport": "ON"},
     {"server_audit_logging": "1", "server_audit_events": "CONNECT,QUERY_DCL,QUERY_DDL"}),
])
def test_engine_defaults_logs_and_tls_in_the_cluster_parameter_group(engine, port, logs, tls, extra):
    body = build(security={"db_port": port}, engine=engine)
    props = cluster(body)["Properties"]
    assert props["Engine"] == engine
    assert props["EngineVersion"] == database.DEFAULT_ENGINE_VERSION[engine]
    assert props["EnableCloudwatchLogsExports"] == logs
    assert props["DBClusterParameterGroupName"] == {"Ref": "DatabaseClusterParameterGroup"}
    group = body["Resources"]["DatabaseClusterParameterGroup"]["Properties"]
    assert group["Parameters"] == {**tls, **extra}
    assert group["Family"] == ("aurora-postgresql16" if engine == "aurora-postgresql" else "aurora-mysql8.0")
    assert {r["Properties"]["Engine"] for r in instances(body).values()} == {engine}


def test_tls_can_be_left_optional_and_mysql_without_audit_needs_no_plugin():
    body = build(security={"db_port": 3306}, engine="aurora-mysql", require_tls=False, log_exports=["error"])
    assert body["Resources"]["DatabaseClusterParameterGroup"]["Properties"]["Parameters"] == {}


def test_parameter_group_family_follows_the_major_version():
    body = build(engine_version="17.5")
    assert body["Resources"]["DatabaseClusterParameterGroup"]["Properties"]["Family"] == "aurora-postgresql17"


def test_enhanced_monitoring_has_its_own_role_and_can_be_turned_off_with_a_reason():
    body = build(monitoring_interval=15)
    _, role = only_resource(body, "AWS::IAM::Role")
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["monitoring.rds.amazonaws.com"]}
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"}]
    for r in instances(body).values():
        assert r["Properties"]["MonitoringInterval"] == 15
        assert r["Properties"]["MonitoringRoleArn"] == {"Fn::GetAtt": ["DatabaseMonitoringRole", "Arn"]}
    off = build(monitoring_interval=0)
    assert not resources_of_type(off, "AWS::IAM::Role")
    skip = instances(off)["DatabaseInstance1"]["Metadata"]["checkov"]["skip"]
    assert [s["id"] for s in skip] == ["CKV_AWS_118"]


def test_performance_insights_keeps_the_free_seven_days():
    on = instances(build(performance_insights=True))["DatabaseInstance1"]["Properties"]
    assert (on["EnablePerformanceInsights"], on["PerformanceInsightsRetentionPeriod"]) == (True, 7)
    off = instances(build())["DatabaseInstance1"]["Properties"]
    assert off["EnablePerformanceInsights"] is False and "PerformanceInsightsRetentionPeriod" not in off


def test_outputs_are_the_contract_with_compute_and_containers():
    outputs = build()["Outputs"]
    assert set(outputs) == {"DatabaseWriterEndpoint", "DatabaseReaderEndpoint", "DatabasePort", "DatabaseSecretArn", "DatabaseName",
                            "DatabaseClusterId", "DatabaseAlarmNames"}
    assert outputs["DatabaseClusterId"]["Value"] == {"Ref": "DatabaseCluster"}
    assert "username and password only" in outputs["DatabaseSecretArn"]["Description"]
    assert outputs["DatabaseWriterEndpoint"]["Value"] == {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Address"]}
    assert outputs["DatabaseReaderEndpoint"]["Value"] == {"Fn::GetAtt": ["DatabaseCluster", "ReadEndpoint.Address"]}
    assert outputs["DatabasePort"]["Value"] == {"Fn::GetAtt": ["DatabaseCluster", "Endpoint.Port"]}


def test_output_is_deterministic():
    env = make_env(database={"enabled": True, "readers": 2})
    assert database.build(env).to_json() == database.build(env).to_json()


# --- shipped parameter files ----------------------------------------------------------

def test_prod_is_highly_available_and_dev_is_cheap():
    prod, dev = load_config(ROOT / "parameters" / "prod.yaml"), load_config(ROOT / "parameters" / "dev.yaml")
    prod_body = render(database.build(prod))
    assert len(instances(prod_body)) == prod.network.az_count  # one instance in every AZ
    assert cluster(prod_body)["Properties"]["DeletionProtection"] is True
    assert cluster(prod_body)["Properties"]["BackupRetentionPeriod"] >= 7
    dev_body = render(database.build(dev))
    assert len(instances(dev_body)) <= 2
    assert instances(dev_body)["DatabaseInstance1"]["Properties"]["DBInstanceClass"] == {"Ref": "DatabaseInstanceClass"}
    assert dev_body["Parameters"]["DatabaseInstanceClass"]["Default"] == "db.t4g.medium"


# --- schema ------------------------------------------------------------------------

def env_data(**database_fields) -> dict:
    return merge(BASE_ENV, {"database": {"enabled": True, **database_fields}})


@pytest.mark.parametrize(("fields", "path", "fragment"), [
    ({"engine_version": "16.1"}, "database", "engine_version '16.1' is not supported for aurora-postgresql (supported: 15.12, 16.8, 17.5)"),
    ({"engine": "aurora-mysql", "engine_version": "16.8"}, "database", "not supported for aurora-mysql"),
    ({"readers": 16}, "database.readers", "less than or equal to 15"),
    ({"readers": -1}, "database.readers", "greater than or equal to 0"),
    ({"instance_class": "db.t4g.micro"}, "database.instance_class", "smallest is db.t4g.medium"),
    ({"instance_class": "t4g.medium"}, "database.instance_class", "like db.t4g.medium"),
    ({"reader_class": "db.t4g.small"}, "database.reader_class", "smallest is db.t4g.medium"),
    ({"readers": 2, "reader_class": ["db.r6g.large", "r6g"]}, "database.reader_class", "like db.t4g.medium"),
    ({"readers": 2, "reader_class": ["db.r6g.large"]}, "database", "reader_class lists 1 classes for 2 readers"),
    ({"backup_retention_days": 0}, "database.backup_retention_days", "greater than or equal to 1"),
    ({"backup_window": "04:00-04:15"}, "database", "shorter than 30 minutes"),
    ({"backup_window": "4am"}, "database", "not a daily window"),
    ({"backup_window": "04:00-05:00", "maintenance_window": "wed:04:30-wed:05:30"}, "database", "overlaps maintenance_window"),
    ({"log_exports": ["slowquery"]}, "database", "slowquery not offered by aurora-postgresql"),
    ({"master_username": "rdsadmin"}, "database.master_username", "reserved"),
    ({"database_name": "1app"}, "database.database_name", "start with a letter"),
    ({"monitoring_interval": 20}, "database.monitoring_interval", "one of 0, 1, 5"),
    ({"engine": "aurora-oracle"}, "database.engine", "one of aurora-postgresql, aurora-mysql"),
    ({"password": "hunter2"}, "database.password", "unknown key"),
])
def test_bad_database_fields_name_the_field(tmp_path, fields, path, fragment):
    file = tmp_path / "test.yaml"
    file.write_text(json.dumps(env_data(**fields)))  # JSON is YAML
    with pytest.raises(ConfigError) as raised:
        load_config(file)
    assert f" {path}: " in str(raised.value) and fragment in str(raised.value), str(raised.value)


@pytest.mark.parametrize(("engine", "port", "fragment"), [
    ("aurora-mysql", 5432, "5432 is aurora-postgresql's port but database.engine is aurora-mysql (use 3306)"),
    ("aurora-postgresql", 3306, "3306 is aurora-mysql's port but database.engine is aurora-postgresql (use 5432)"),
    ("aurora-postgresql", 1024, "Aurora listens only on ports 1150-65535"),
])
def test_db_port_must_suit_the_engine(tmp_path, engine, port, fragment):
    data = merge(env_data(engine=engine), {"security": {"db_port": port}})
    message = config_error(tmp_path, data)
    assert f" security.db_port: {fragment}" in message, message


def test_a_custom_port_in_auroras_range_is_accepted(tmp_path):
    file = tmp_path / "test.yaml"
    file.write_text(json.dumps(merge(env_data(), {"security": {"db_port": 6543}})))
    assert load_config(file).security.db_port == 6543


def test_database_needs_the_security_layer(tmp_path):
    file = tmp_path / "test.yaml"
    file.write_text(json.dumps(merge(env_data(), {"security": {"enabled": False}})))
    with pytest.raises(ConfigError) as raised:
        load_config(file)
    assert " database.enabled: needs security.enabled: true" in str(raised.value)


def test_every_supported_version_is_known_to_the_schema():
    for engine, versions in database.SUPPORTED_ENGINE_VERSIONS.items():
        assert database.DEFAULT_ENGINE_VERSION[engine] in versions
        for version in versions:
            EnvConfig.model_validate(env_data(engine=engine, engine_version=version))
    with pytest.raises(ValidationError):
        EnvConfig.model_validate(env_data(engine_version="9.6.22"))


# --- lint and scan ---------------------------------------------------------------------

def shapes() -> dict[str, object]:
    made = {}
    for engine, versions in database.SUPPORTED_ENGINE_VERSIONS.items():
        port = database.DEFAULT_PORT[engine]
        for version in versions:
            made[f"{engine}-{version}"] = make_env(security={"db_port": port}, database={"enabled": True, "engine": engine, "engine_version": version})
    made["ha-3az"] = make_env(network={"az_count": 3}, database={
        "enabled": True, "readers": 5, "instance_class": "db.r6g.large", "performance_insights": True, "monitoring_interval": 1})
    made["bare"] = make_env(database={"enabled": True, "readers": 0, "monitoring_interval": 0, "require_tls": False,
                                      "deletion_protection": False, "log_exports": []})
    return {name: database.build(env) for name, env in made.items()}


def test_lint_clean_for_every_supported_version_and_shape():
    assert lint_findings({name: (t, "eu-west-1") for name, t in shapes().items()}) == []


def test_security_scan_clean_in_every_shape(tmp_path):
    assert checkov_failures(shapes(), tmp_path) == []


# --- deploy on moto ------------------------------------------------------------------

# moto's CloudFormation builds none of these: the cluster and its parameter
# group are skipped, so the instances that join the cluster cannot be made,
# and nothing generates the master password into Secrets Manager.
NOT_EMULATED = {"AWS::RDS::DBCluster", "AWS::RDS::DBClusterParameterGroup"}


def test_database_layer_deploys_alone_through_a_change_set(aws):
    """What moto shows: the DB subnet group over exactly the private subnets
    given, and the enhanced monitoring role RDS may assume.

    What moto does not emulate (cut from the template, and checked on the
    JSON above instead): the Aurora cluster and its parameter group, the
    instances joining it, RDS generating and rotating the master password in
    Secrets Manager, and the outputs that read the cluster."""
    ids = deploy_network_and_security(aws, make_env())
    body, cut = without_types(build(readers=1), NOT_EMULATED)
    # the alarms read the cluster and its instances (and moto skips alarms anyway)
    assert [c for c in cut if not c.endswith("Alarm")] == [
        "DatabaseCluster", "DatabaseClusterParameterGroup", "DatabaseInstance1", "DatabaseInstance2"]
    assert sorted(c for c in cut if c.endswith("Alarm")) == sorted(
        k for k, r in build(readers=1)["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm")

    resources = deploy_stack(aws, "database", body, stack_parameters(body, ids))

    rds = client(aws, "rds")
    (group,) = rds.describe_db_subnet_groups(DBSubnetGroupName=resources["DatabaseSubnetGroup"]["PhysicalResourceId"])["DBSubnetGroups"]
    assert sorted(s["SubnetIdentifier"] for s in group["Subnets"]) == sorted(ids["PrivateSubnetIds"].split(","))
    assert group["VpcId"] == ids["VpcId"]
    role = client(aws, "iam").get_role(RoleName=resources["DatabaseMonitoringRole"]["PhysicalResourceId"])["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["monitoring.rds.amazonaws.com"]}
