"""The property-level diff and its predicted replacements, on the real dev
build (a CIDR change, an engine change) and small templates (a bucket
rename), CloudFormation's replacement rules as cfn-lint's registry schemas
give them, what data stores depend on, and masking."""

from __future__ import annotations

import pytest

from generator.deploy import replacement
from generator.deploy.dependencies import by_stack, data_dependencies
from generator.deploy.diff import diff
from generator.deploy.package import layout, read_build, stack_templates
from generator.deploy.references import Stacks, references
from tests.generator.deploy.deploy_support import REGION, build_dev, rebuild_dev


@pytest.fixture(scope="module")
def dev_out(tmp_path_factory):
    return build_dev(tmp_path_factory)


def _stacks(out_dir) -> Stacks:
    build = read_build(out_dir)
    return Stacks(stack_templates(build, layout(build, "dev/").root))


def _verdicts(found) -> dict[str, str]:
    return {f"{r.stack}/{r.logical_id}": r.replacement for r in found.resources if r.action == "Modify"}


def _lines(found, where: str) -> list[str]:
    stack, logical_id = where.split("/")
    return [p.describe() for p in found.find(stack, logical_id).properties]


# --- CloudFormation's rules, from the schemas -----------------------------------------------

def test_replacement_rules_come_from_the_registry_schemas():
    differs = lambda a, b: a != b  # noqa: E731
    vpc = replacement.rules("AWS::EC2::VPC", REGION)
    assert replacement.recreation(vpc, ("CidrBlock",), "10.0.0.0/16", "10.1.0.0/16", differs) == "Always"
    assert replacement.recreation(vpc, ("EnableDnsHostnames",), True, False, differs) == "Never"
    cluster = replacement.rules("AWS::RDS::DBCluster", REGION)
    assert replacement.recreation(cluster, ("Engine",), "aurora-postgresql", "aurora-mysql", differs) == "Conditionally"
    assert replacement.recreation(replacement.rules("AWS::S3::Bucket"), ("BucketName",), "a", "b", differs) == "Always"
    assert not replacement.rules("AWS::Nothing::Here").known


def test_a_rule_inside_a_property_counts_only_when_its_value_changes():
    rules = replacement.Rules("AWS::Demo::Thing", create_only=(("Config", "Name"),))
    differs = lambda a, b: a != b  # noqa: E731
    assert replacement.recreation(rules, ("Config",), {"Name": "a", "Size": 1}, {"Name": "a", "Size": 2}, differs) == "Never"
    assert replacement.recreation(rules, ("Config",), {"Name": "a"}, {"Name": "b"}, differs) == "Always"
    assert replacement.recreation(rules, ("Config", "Name"), "a", "b", differs) == "Always"


def test_references_read_ref_getatt_and_sub():
    value = {"A": {"Ref": "Vpc"}, "B": {"Fn::GetAtt": ["Key", "Arn"]}, "C": {"Fn::Sub": "${Bucket.Arn}/${AWS::Region}"},
             "D": {"Fn::Sub": ["${Local}-${Topic}", {"Local": {"Ref": "Name"}}]}, "E": "Vpc.Arn"}
    assert references(value) == {("Vpc", ""), ("Key", "Arn"), ("Bucket", "Arn"), ("Topic", ""), ("Name", "")}


# --- predicted replacements on the real dev build ---------------------------------------------

def _new_cidr(data: dict) -> None:
    data["network"]["cidr"] = "10.20.0.0/16"


def test_a_cidr_change_replaces_the_network_and_everything_in_it(dev_out, tmp_path):
    found = diff(_stacks(dev_out), _stacks(rebuild_dev(dev_out, tmp_path, _new_cidr)), region=REGION)
    verdicts = _verdicts(found)
    for replaced in ("Network/Vpc", "Network/PrivateSubnet1", "Network/PublicSubnet2", "Network/PublicRouteTable",
                     "Security/AppSecurityGroup", "Security/DbSecurityGroup", "Storage/StorageSecurityGroup",
                     "Storage/MountTarget1", "Cache/CacheSecurityGroup", "Web/ContainerTargetGroup"):
        assert verdicts[replaced] == "True", replaced
    # moved, not replaced: a subnet group's SubnetIds can change in place, but not to another VPC under a store
    assert verdicts["Database/DatabaseSubnetGroup"] == "False"
    assert _lines(found, "Network/Vpc") == ['CidrBlock: "10.10.0.0/16" -> "10.20.0.0/16" (replaces)']
    assert "VpcId: !Ref VpcId, changes as Network/Vpc is replaced (replaces)" in _lines(found, "Security/DbSecurityGroup")
    assert _lines(found, "Database/DatabaseSubnetGroup") == [
        "SubnetIds: !Ref PrivateSubnetIds, changes as Network/PrivateSubnet1 is replaced, "
        "Network/PrivateSubnet2 is replaced"]
    # the root's wiring carries it: the database stack is passed new subnet ids
    assert any(line.startswith("Parameters.PrivateSubnetIds: !GetAtt Network.Outputs.PrivateSubnetIds, changes as")
               for line in _lines(found, "root/Database"))
    assert "Database/DatabaseCluster" not in {k for k, v in verdicts.items() if v == "True"}


def _engine(data: dict) -> None:
    data["database"].update(engine="aurora-mysql", engine_version="8.0.mysql_aurora.3.08.2")
    data["security"]["db_port"] = 3306


def test_an_engine_change_may_replace_the_cluster_and_replaces_its_parameter_group(dev_out, tmp_path):
    found = diff(_stacks(dev_out), _stacks(rebuild_dev(dev_out, tmp_path, _engine)), region=REGION)
    verdicts = _verdicts(found)
    assert verdicts["Database/DatabaseCluster"] == "Conditional"
    assert verdicts["Database/DatabaseClusterParameterGroup"] == "True"
    assert 'Engine: "aurora-postgresql" -> "aurora-mysql" (may replace)' in _lines(found, "Database/DatabaseCluster")
    assert 'Family: "aurora-postgresql16" -> "aurora-mysql8.0" (replaces)' in _lines(
        found, "Database/DatabaseClusterParameterGroup")
    # the port rules are separate resources whose ports cannot change in place
    assert verdicts["Security/AppToDbIngress"] == "True"


def test_the_same_build_has_no_changes(dev_out):
    assert diff(_stacks(dev_out), _stacks(dev_out), region=REGION).resources == []


# --- small templates ---------------------------------------------------------------------------

def _bucket(name: str) -> dict:
    return {"Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": name, "Tags": [{"Key": "a", "Value": "b"}]}},
        "Policy": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": {"Ref": "Bucket"}, "PolicyDocument": {}}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": name}},
    }}


def test_a_bucket_rename_replaces_the_bucket_and_what_names_it():
    found = diff(Stacks({"root": _bucket("old-name")}), Stacks({"root": _bucket("new-name")}), region=REGION)
    assert _verdicts(found) == {"root/Bucket": "True", "root/Policy": "True", "root/Topic": "False"}
    assert _lines(found, "root/Bucket") == ['BucketName: "old-name" -> "new-name" (replaces)']
    assert _lines(found, "root/Policy") == ["Bucket: !Ref Bucket, changes as root/Bucket is replaced (replaces)"]


def test_secrets_and_no_echo_parameters_are_masked():
    def template(token: str) -> dict:
        return {"Parameters": {"DbPassword": {"Type": "String", "NoEcho": True}},
                "Resources": {"Group": {"Type": "AWS::ElastiCache::ReplicationGroup",
                                        "Properties": {"AuthToken": token, "ReplicationGroupDescription": "x"}}}}

    found = diff(Stacks({"root": template("hunter2")}), Stacks({"root": template("hunter3")}), region=REGION,
                 parameters_before={"DbPassword": "old-secret"}, parameters_after={"DbPassword": "new-secret"},
                 no_echo=frozenset({"DbPassword"}))
    text = " ".join(p.describe() for r in found.resources for p in r.properties) + str(found.to_dict())
    assert "hunter" not in text and "secret" not in text.replace("Secret", "")
    assert [p.describe() for p in found.parameters] == ["DbPassword: **** -> ****"]
    assert _lines(found, "root/Group") == ["AuthToken: **** -> **** (may replace)"]


def test_a_removed_layer_lists_its_resources_and_an_added_one_too():
    root = {"Resources": {"Queue": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "q.json"}}}}
    layer = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    removed = diff(Stacks({"root": root, "Queue": layer}), Stacks({"root": {"Resources": {}}}), region=REGION)
    assert [(r.stack, r.action, r.logical_id) for r in removed.resources] == [
        ("root", "Remove", "Queue"), ("Queue", "Remove", "Queue")]
    added = diff(Stacks({}), Stacks({"root": root, "Queue": layer}), region=REGION)
    assert [(r.stack, r.action) for r in added.resources] == [("root", "Add"), ("Queue", "Add")]


# --- what data stores depend on ---------------------------------------------------------------

def test_what_data_stores_depend_on_is_derived_from_the_templates(dev_out):
    depended = by_stack(data_dependencies(_stacks(dev_out)))
    assert {"Vpc", "PrivateSubnet1", "PrivateSubnet2"} <= set(depended["Network"])
    assert {"DbSecurityGroup", "AppSecurityGroup"} <= set(depended["Security"])
    assert {"DatabaseSubnetGroup", "DatabaseClusterParameterGroup"} <= set(depended["Database"])
    assert {"CacheSubnetGroup", "CacheSecurityGroup"} <= set(depended["Cache"])
    # the mount targets place the file system, though it does not name them
    assert {"MountTarget1", "MountTarget2", "StorageSecurityGroup"} <= set(depended["Storage"])
    # a bucket's notification does not make its Lambda function, the CDN or the ALB part of the store
    assert "Static" not in depended and "Web" not in depended and "Containers" not in depended
    assert "PublicSubnet1" not in depended["Network"]
    assert data_dependencies(_stacks(dev_out))[("Network", "Vpc")][:2] == (
        "Cache/CacheReplicationGroup", "Database/DatabaseCluster")
