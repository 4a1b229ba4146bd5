"""storage layer: the rendered template, the schema, lint and scan, and a deploy on moto."""

from __future__ import annotations

import json

import pytest

from generator.build.config import ConfigError, load_config
from generator.cfn.resources import NO_EGRESS
from templates import storage
from tests.helpers import BASE_ENV, checkov_failures, deploy_network_and_security, deploy_stack, lint_findings, make_env, merge, only_resource, render, resources_of_type
from tests.templates.data_support import client, stack_parameters, without_types


def build(network=None, **fields) -> dict:
    sections = {"storage": {"enabled": True, **fields}}
    if network:
        sections["network"] = network
    return render(storage.build(make_env(**sections)))


def file_system(body: dict) -> dict:
    return body["Resources"]["FileSystem"]


def statements(body: dict) -> list[dict]:
    return file_system(body)["Properties"]["FileSystemPolicy"]["Statement"]


def test_nfs_open_to_the_app_group_only_with_the_matching_app_egress():
    body = build()
    _, sg = only_resource(body, "AWS::EC2::SecurityGroup")
    assert sg["Properties"]["SecurityGroupIngress"] == [{
        "IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049, "SourceSecurityGroupId": {"Ref": "AppSecurityGroupId"},
        "Description": "NFS from the application",
    }]
    assert sg["Properties"]["SecurityGroupEgress"] == [NO_EGRESS.to_dict()]
    _, egress = only_resource(body, "AWS::EC2::SecurityGroupEgress")
    assert egress["Properties"] == {
        "GroupId": {"Ref": "AppSecurityGroupId"}, "DestinationSecurityGroupId": {"Fn::GetAtt": ["StorageSecurityGroup", "GroupId"]},
        "IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049, "Description": "NFS to the file system",
    }


@pytest.mark.parametrize("az_count", [2, 3])
def test_one_mount_target_per_private_subnet_with_the_storage_group(az_count):
    body = build(network={"az_count": az_count})
    targets = resources_of_type(body, "AWS::EFS::MountTarget")
    assert sorted(targets) == [f"MountTarget{i}" for i in range(1, az_count + 1)]
    for index in range(az_count):
        props = targets[f"MountTarget{index + 1}"]["Properties"]
        assert props["SubnetId"] == {"Fn::Select": [index, {"Ref": "PrivateSubnetIds"}]}
        assert props["SecurityGroups"] == [{"Fn::GetAtt": ["StorageSecurityGroup", "GroupId"]}]
        assert props["FileSystemId"] == {"Ref": "FileSystem"}
    assert str(az_count) in body["Parameters"]["PrivateSubnetIds"]["Description"]


def test_file_system_is_encrypted_backed_up_and_retained():
    fs = file_system(build())
    assert (fs["DeletionPolicy"], fs["UpdateReplacePolicy"]) == ("Retain", "Retain")
    props = fs["Properties"]
    assert props["Encrypted"] is True
    assert props["BackupPolicy"] == {"Status": "ENABLED"}
    assert (props["PerformanceMode"], props["ThroughputMode"]) == ("generalPurpose", "elastic")
    assert props["LifecyclePolicies"] == [{"TransitionToIA": "AFTER_30_DAYS"}, {"TransitionToPrimaryStorageClass": "AFTER_1_ACCESS"}]


CLIENT = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientRootAccess", "elasticfilesystem:ClientWrite"]


def test_policy_lets_no_anonymous_client_in_and_requires_tls_a_mount_target_and_the_access_point():
    """Without an Allow for '*', EFS grants anonymous NFS clients nothing: only
    a principal whose identity policy allows ClientMount (the app tier's
    roles, IAM authorization) mounts, and then only as these denials permit."""
    found = {s["Sid"]: s for s in statements(build())}
    assert all(s["Effect"] == "Deny" and s["Principal"] == {"AWS": "*"} for s in found.values())
    assert found["DenyWithoutTls"]["Action"] == ["elasticfilesystem:*"]
    assert found["DenyWithoutTls"]["Condition"] == {"Bool": {"aws:SecureTransport": False}}
    assert found["DenyOutsideMountTargets"]["Action"] == CLIENT
    assert found["DenyOutsideMountTargets"]["Condition"] == {"Bool": {"elasticfilesystem:AccessedViaMountTarget": False}}
    assert found["DenyWithoutAccessPoint"]["Action"] == CLIENT
    assert found["DenyWithoutAccessPoint"]["Condition"] == {"Null": {"elasticfilesystem:AccessPointArn": True}}


def test_root_access_is_an_explicit_choice_that_lifts_the_access_point_requirement():
    found = {s["Sid"] for s in statements(build(root_access=True))}
    assert found == {"DenyWithoutTls", "DenyOutsideMountTargets"}


def test_lifecycle_can_be_left_out_and_one_day_is_singular():
    assert "LifecyclePolicies" not in file_system(build(transition_to_ia_days=None))["Properties"]
    assert file_system(build(transition_to_ia_days=1))["Properties"]["LifecyclePolicies"][0] == {"TransitionToIA": "AFTER_1_DAY"}


def test_access_point_pins_the_posix_user_and_the_directory():
    body = build(access_point={"path": "/srv/uploads", "uid": 1001, "gid": 2002, "permissions": "0770"})
    _, ap = only_resource(body, "AWS::EFS::AccessPoint")
    assert ap["Properties"]["FileSystemId"] == {"Ref": "FileSystem"}
    assert ap["Properties"]["PosixUser"] == {"Uid": "1001", "Gid": "2002"}
    assert ap["Properties"]["RootDirectory"] == {
        "Path": "/srv/uploads", "CreationInfo": {"OwnerUid": "1001", "OwnerGid": "2002", "Permissions": "0770"}}


def test_efs_tags_carry_the_environment_tags_and_a_name():
    body = build()
    tags = {t["Key"]: t["Value"] for t in file_system(body)["Properties"]["FileSystemTags"]}
    assert tags == {"Project": "demo", "Environment": "test", "Name": "demo-test-files"}
    _, ap = only_resource(body, "AWS::EFS::AccessPoint")
    assert {t["Key"]: t["Value"] for t in ap["Properties"]["AccessPointTags"]}["Name"] == "demo-test-app"


def test_outputs_are_the_contract():
    outputs = build()["Outputs"]
    assert outputs["FileSystemId"]["Value"] == {"Ref": "FileSystem"}
    assert outputs["AccessPointId"]["Value"] == {"Ref": "AccessPoint"}
    assert outputs["StorageSecurityGroupId"]["Value"] == {"Fn::GetAtt": ["StorageSecurityGroup", "GroupId"]}
    assert {"FileSystemArn", "AccessPointArn"} <= set(outputs)


def test_output_is_deterministic():
    env = make_env(storage={"enabled": True})
    assert storage.build(env).to_json() == storage.build(env).to_json()


@pytest.mark.parametrize(("fields", "path", "fragment"), [
    ({"performance_mode": "maxIO"}, "storage", "maxIO works with throughput_mode bursting only"),
    ({"transition_to_ia_days": 3}, "storage.transition_to_ia_days", "must be one of 1, 7, 14"),
    ({"throughput_mode": "provisioned"}, "storage.throughput_mode", "one of elastic, bursting"),
    ({"access_point": {"path": "app"}}, "storage.access_point.path", "absolute path"),
    ({"access_point": {"permissions": "rwx"}}, "storage.access_point.permissions", "octal"),
    ({"access_point": {"uid": -1}}, "storage.access_point.uid", "greater than or equal to 0"),
])
def test_bad_storage_fields_name_the_field(tmp_path, fields, path, fragment):
    file = tmp_path / "test.yaml"
    file.write_text(json.dumps(merge(BASE_ENV, {"storage": {"enabled": True, **fields}})))
    with pytest.raises(ConfigError) as raised:
        load_config(file)
    assert f" {path}: " in str(raised.value) and fragment in str(raised.value), str(raised.value)


def shapes() -> dict[str, object]:
    made = {
        "default": dict(storage={"enabled": True}),
        "bursting-maxio-3az": dict(network={"az_count": 3}, storage={
            "enabled": True, "throughput_mode": "bursting", "performance_mode": "maxIO", "transition_to_ia_days": 1, "root_access": True}),
        "no-lifecycle": dict(storage={"enabled": True, "transition_to_ia_days": None}),
    }
    return {name: storage.build(make_env(**sections)) for name, sections in made.items()}


def test_lint_clean_in_every_shape():
    assert lint_findings({name: (t, "eu-west-1") for name, t in shapes().items()}) == []


def test_security_scan_clean_in_every_shape(tmp_path):
    assert checkov_failures(shapes(), tmp_path) == []


# moto's CloudFormation silently skips the egress rule on the app group.
NOT_EMULATED = {"AWS::EC2::SecurityGroupEgress"}


def test_storage_layer_deploys_alone_through_a_change_set(aws):
    """What moto shows: an encrypted file system, a mount target in each
    private subnet with the storage group, the access point with its POSIX
    user and directory, and the group admitting NFS from the app group only.

    What moto does not emulate: the egress rule on the app group (cut), and
    the file system policy, backup policy and lifecycle (moto's CloudFormation
    does not apply them; checked on the JSON above)."""
    ids = deploy_network_and_security(aws, make_env())
    body, cut = without_types(build(access_point={"path": "/data", "uid": 1001, "gid": 1001}), NOT_EMULATED)
    assert cut == ["AppToStorageEgress"]

    resources = deploy_stack(aws, "storage", body, stack_parameters(body, ids))

    efs = client(aws, "efs")
    fs_id = resources["FileSystem"]["PhysicalResourceId"]
    (fs,) = efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"]
    assert fs["Encrypted"] is True
    targets = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
    assert sorted(t["SubnetId"] for t in targets) == sorted(ids["PrivateSubnetIds"].split(","))
    group_id = resources["StorageSecurityGroup"]["PhysicalResourceId"]
    for target in targets:
        assert efs.describe_mount_target_security_groups(MountTargetId=target["MountTargetId"])["SecurityGroups"] == [group_id]
    (ap,) = efs.describe_access_points(FileSystemId=fs_id)["AccessPoints"]
    assert ap["PosixUser"] == {"Uid": 1001, "Gid": 1001}
    assert ap["RootDirectory"]["Path"] == "/data"

    (sg,) = client(aws, "ec2").describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    (rule,) = sg["IpPermissions"]
    assert (rule["FromPort"], rule["ToPort"]) == (2049, 2049)
    assert [p["GroupId"] for p in rule["UserIdGroupPairs"]] == [ids["AppSecurityGroupId"]]
