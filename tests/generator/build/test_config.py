"""Bad parameter files: one clear message naming file, line and field; a non-zero exit; out/ untouched."""


import pytest

from generator.cli import main
from generator.build.config import ConfigError, load_config
from tests.helpers import MINIMAL_PARAMS, write_params

GOOD = MINIMAL_PARAMS
write = write_params


def error_of(tmp_path, text) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value).replace(str(tmp_path) + "/", "")


def test_good_file_loads_and_adds_project_and_environment_tags(tmp_path):
    env = load_config(write(tmp_path, GOOD + "tags:\n  Owner: me\n"))
    assert env.all_tags == {"Owner": "me", "Project": "demo", "Environment": "dev"}
    assert env.network.nat == "single"


def test_bad_nat_value_names_file_line_field_and_choices(tmp_path):
    message = error_of(tmp_path, GOOD.replace("nat: single", "nat: sometimes"))
    assert message == "parameters/dev.yaml:8 network.nat: must be one of per_az, single, none"


def test_unknown_key_is_an_error_listing_the_allowed_keys(tmp_path):
    message = error_of(tmp_path, GOOD.replace("  az_count: 2\n", "  az_count: 2\n  nat_mode: none\n"))
    assert message.startswith("parameters/dev.yaml:8 network.nat_mode: unknown key (allowed: enabled, cidr, az_count,")


def test_unknown_top_level_section(tmp_path):
    message = error_of(tmp_path, GOOD + "netwrok:\n  enabled: true\n")
    assert message.startswith("parameters/dev.yaml:11 netwrok: unknown key (allowed: project, environment, region, tags,")


def test_bad_cidr(tmp_path):
    message = error_of(tmp_path, GOOD.replace("10.0.0.0/16", "10.0.0.300/16"))
    assert message.startswith("parameters/dev.yaml:6 network.cidr: not a valid IPv4 network CIDR")


def test_az_count_one(tmp_path):
    message = error_of(tmp_path, GOOD.replace("az_count: 2", "az_count: 1"))
    assert message == "parameters/dev.yaml:7 network.az_count: input should be greater than or equal to 2"


def test_overlapping_subnets(tmp_path):
    extra = "  public_subnets: [10.0.0.0/24, 10.0.1.0/24]\n  private_subnets: [10.0.1.0/24, 10.0.2.0/24]\n"
    message = error_of(tmp_path, GOOD.replace("  nat: single\n", "  nat: single\n" + extra))
    assert message == "parameters/dev.yaml:4 network: subnets 10.0.1.0/24 and 10.0.1.0/24 overlap"


def test_open_admin_cidr(tmp_path):
    message = error_of(tmp_path, GOOD + "  admin_cidr: 0.0.0.0/0\n")
    assert message == (
        "parameters/dev.yaml:11 security.admin_cidr: must not be open to the whole internet; give your office or VPN range"
    )


def test_missing_required_field(tmp_path):
    message = error_of(tmp_path, GOOD.replace("region: eu-west-1\n", ""))
    assert message == "parameters/dev.yaml:1 region: required field is missing"


def test_every_problem_is_reported_one_per_line(tmp_path):
    message = error_of(tmp_path, GOOD.replace("nat: single", "nat: x").replace("az_count: 2", "az_count: 9"))
    assert message.splitlines() == [
        "parameters/dev.yaml:7 network.az_count: input should be less than or equal to 6",
        "parameters/dev.yaml:8 network.nat: must be one of per_az, single, none",
    ]


def test_environment_must_match_the_file_name(tmp_path):
    message = error_of(tmp_path, GOOD.replace("environment: dev", "environment: prod"))
    assert message == "parameters/dev.yaml:2 environment: must match the file name 'dev'"


def test_cross_layer_rule_bastion_needs_admin_cidr(tmp_path):
    text = GOOD + "compute:\n  bastion:\n    enabled: true\n"
    message = error_of(tmp_path, text)
    assert "parameters/dev.yaml:9 security.admin_cidr: required when compute.bastion.enabled is true" in message.splitlines()


def test_layers_in_the_vpc_need_the_network_layer(tmp_path):
    message = error_of(tmp_path, GOOD.replace("  enabled: true\n  cidr", "  enabled: false\n  cidr"))
    assert message == "parameters/dev.yaml:10 security.enabled: needs network.enabled: true (this layer places resources in the VPC)"


def test_invalid_yaml_names_the_line(tmp_path):
    message = error_of(tmp_path, GOOD + "tags: [unclosed\n")
    assert message.startswith("parameters/dev.yaml:12: not valid YAML")


def test_missing_file_lists_the_available_environments(tmp_path):
    write(tmp_path, GOOD)
    with pytest.raises(ConfigError, match=r"no such parameter file \(available: dev\)"):
        load_config(tmp_path / "parameters" / "qa.yaml")


@pytest.mark.parametrize("bad", [
    GOOD.replace("nat: single", "nat: sometimes"),
    GOOD.replace("10.0.0.0/16", "10.0.0.300/16"),
    GOOD.replace("az_count: 2", "az_count: 1"),
    GOOD + "  admin_cidr: 0.0.0.0/0\n",
    GOOD + "unknown: 1\n",
])
def test_cli_exits_non_zero_and_leaves_out_untouched(tmp_path, capsys, bad):
    params = write(tmp_path, GOOD).parent
    out = tmp_path / "out"
    assert main(["build", "--env", "dev", "--params-dir", str(params), "--out", str(out)]) == 0
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    capsys.readouterr()
    write(tmp_path, bad)
    assert main(["build", "--env", "dev", "--params-dir", str(params), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("strata build: failed\n") and "dev.yaml:" in err
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
