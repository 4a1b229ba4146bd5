"""The network and security layers write their outputs to Parameter Store,
and the catalog's product templates read them from there by default: a team
launching the storage product after the network and security products picks
nothing by hand."""

from __future__ import annotations

import pytest

from generator.deploy import local
from templates import network, security
from tests.helpers import deploy_stack, make_env, render, resources_of_type
from tests.templates.catalog_support import built
from tests.templates.data_support import client, without_types


@pytest.mark.parametrize(("layer", "lists"), [
    (network, {"PublicSubnetIds", "PrivateSubnetIds", "PrivateRouteTableIds", "NatPublicIps", "NetworkAlarmNames"}),
    (security, set()),
])
def test_every_output_is_also_a_parameter_under_the_layers_path(layer, lists):
    body = render(layer.build(make_env(network={"interface_endpoints": ["logs"]})))
    parameters = {r["Properties"]["Name"]: r["Properties"] for r in resources_of_type(body, "AWS::SSM::Parameter").values()}
    assert sorted(parameters) == sorted(f"/demo/test/{layer.NAME}/{name}" for name in body["Outputs"])
    for name, output in body["Outputs"].items():
        stored = parameters[f"/demo/test/{layer.NAME}/{name}"]
        assert stored["Value"] == output["Value"]
        assert stored["Type"] == ("StringList" if name in lists else "String")
        assert stored["Tier"] == "Standard"
    assert body["Metadata"]["Strata"]["ParameterStore"] == {name: f"/demo/test/{layer.NAME}/{name}" for name in body["Outputs"]}


def test_an_output_that_exists_only_in_some_shapes_is_stored_only_then():
    without = render(network.build(make_env()))
    assert "EndpointSecurityGroupIdParameter" not in without["Resources"]
    with_endpoints = render(network.build(make_env(network={"interface_endpoints": ["logs"]})))
    assert with_endpoints["Resources"]["EndpointSecurityGroupIdParameter"]["Properties"]["Value"] == {
        "Ref": "EndpointSecurityGroup"}


# moto's CloudFormation does not create these; the storage product's own egress rule on the app group goes with them.
NOT_EMULATED = {"AWS::EC2::SecurityGroupEgress"}


def test_products_launched_in_order_take_their_inputs_from_parameter_store(aws):
    """What moto shows: the network and security products' stacks write their
    ids to Parameter Store, and the storage product's stack, created with no
    parameter at all, resolves its VpcId, PrivateSubnetIds and
    AppSecurityGroupId defaults from there (moto resolves SSM-typed
    parameters the way CloudFormation does). Cut because moto does not
    emulate it: the egress rules (AWS::EC2::SecurityGroupEgress). Run with
    Strata's compatibility layer, as `strata local` is: plain moto crashes on
    a tagged AWS::SSM::Parameter (tests/generator/deploy/test_local.py)."""
    files = built()
    with local.compat():
        net = deploy_stack(aws, "team-network", files["catalog/network.json"])
        security_body, _ = without_types(files["catalog/security.json"], NOT_EMULATED)
        sec = deploy_stack(aws, "team-security", security_body)
        storage_body, cut = without_types(files["catalog/storage.json"], NOT_EMULATED)
        assert cut == ["AppToStorageEgress"]
        storage = deploy_stack(aws, "team-storage", storage_body)  # no parameters: every default resolves

    ssm = client(aws, "ssm")
    subnets = ssm.get_parameter(Name="/demo/test/network/PrivateSubnetIds")["Parameter"]
    assert subnets["Type"] == "StringList"
    assert sorted(subnets["Value"].split(",")) == sorted(net[f"PrivateSubnet{i}"]["PhysicalResourceId"] for i in (1, 2))
    targets = client(aws, "efs").describe_mount_targets(FileSystemId=storage["FileSystem"]["PhysicalResourceId"])
    assert sorted(t["SubnetId"] for t in targets["MountTargets"]) == sorted(subnets["Value"].split(","))
    (group,) = client(aws, "ec2").describe_security_groups(
        GroupIds=[storage["StorageSecurityGroup"]["PhysicalResourceId"]])["SecurityGroups"]
    assert group["VpcId"] == net["Vpc"]["PhysicalResourceId"]
    assert [p["GroupId"] for p in group["IpPermissions"][0]["UserIdGroupPairs"]] == [
        sec["AppSecurityGroup"]["PhysicalResourceId"]]
