"""The monthly cost estimate: read off the templates, priced from the tables in
generator/build/prices/, with seed 000's figures reproduced by the same code."""

import json

import pytest

from generator.build import cost
from generator.build.compose import build_layers, compose_root
from generator.build.cost_section import CostConfig
from generator.build.output import render
from generator.cli import main
from tests.helpers import config_error, make_env, write_params

SEOUL = cost.prices("ap-northeast-2")


def bodies_of(env) -> dict[str, dict]:
    layers = build_layers(env)
    bodies = {f"{name}.json": json.loads(t.to_json()) for name, t in layers.nested.items()}
    bodies["root.json"] = json.loads(compose_root(env, layers).to_json())
    return bodies


def priced(env) -> cost.Estimate:
    return cost.estimate(bodies_of(env), env.region, env.cost)


def within(value: float, expected: float, tolerance: float = 0.02) -> bool:
    return abs(value - expected) <= tolerance * expected


@pytest.mark.parametrize("gb, hours, gb_per_tb, nat, endpoint", [
    # seed 000: 100 GB a month: about $49 through NAT, $10.36 through one endpoint (0.013 x 720 + 100 x 0.01)
    (100, 730, 1024, 49.0, None),
    (100, 720, 1000, None, 10.36),
    # 100 TB: $6,084 (a TB of 1,024 GB, 730 hours) and $1,009.36 (a TB of 1,000 GB, 720 hours)
    (100 * 1024, 730, 1024, 6084.0, None),
    (100 * 1000, 720, 1000, None, 1009.36),
])
def test_seed_000_figures_come_out_of_the_same_code(gb, hours, gb_per_tb, nat, endpoint):
    usage = CostConfig(hours_per_month=hours, gb_per_tb=gb_per_tb)
    [row] = cost.nat_vs_endpoint(SEOUL, usage, gb_a_month=(gb,))
    if nat is not None:
        assert within(row["nat_monthly"], nat), row
    if endpoint is not None:
        assert within(row["endpoint_monthly"], endpoint), row


def test_the_seed_comparison_prices_a_nat_gateway_like_the_network_layer_does():
    """One NAT gateway priced through its template (meter) equals the comparison's figure."""
    env = make_env(region="ap-northeast-2", network={"nat": "single"}, cost={"nat_gb": 100})
    lines = [l for l in priced(env).lines if l.price.startswith("nat_gateway")]
    assert round(sum(l.monthly for l in lines), 2) == cost.nat_vs_endpoint(SEOUL, env.cost)[0]["nat_monthly"]


def _nat_fixed(env) -> float:
    return sum(l.monthly for l in priced(env).lines if l.price in ("nat_gateway_hour", "public_ipv4_hour"))


def test_the_default_comparison_rows_are_100_gb_1_tb_and_100_tb():
    rows = cost.nat_vs_endpoint(SEOUL, CostConfig())
    assert [r["gb"] for r in rows] == [100, 1024, 102400]
    assert within(rows[0]["nat_monthly"], 49.0) and within(rows[2]["nat_monthly"], 6084.0)


@pytest.mark.parametrize("az_count", [2, 3, 4])
def test_one_nat_per_az_multiplies_the_nat_fixed_cost_by_az_count(az_count):
    single = _nat_fixed(make_env(network={"az_count": az_count, "nat": "single"}, region="us-east-1"))
    per_az = _nat_fixed(make_env(network={"az_count": az_count, "nat": "per_az"}, region="us-east-1"))
    none = _nat_fixed(make_env(network={"az_count": az_count, "nat": "none"}, region="us-east-1"))
    table = cost.prices("us-east-1")
    assert single == pytest.approx(730 * (table["nat_gateway_hour"]["usd"] + table["public_ipv4_hour"]["usd"]))
    assert per_az == pytest.approx(az_count * single)
    assert none == 0


def test_switching_nat_shows_what_it_would_save_or_cost():
    env = make_env(network={"az_count": 3, "nat": "per_az"})
    alternatives = {a["value"]: a for a in cost.network_alternatives(env, bodies_of(env))}
    assert set(alternatives) == {"single", "none"}
    table = cost.prices(env.region)
    # a NAT gateway, its public IPv4 address and its two alarms (port allocation errors, dropped packets)
    per_nat = 730 * (table["nat_gateway_hour"]["usd"] + table["public_ipv4_hour"]["usd"]) + 2 * table["alarm_metric"]["usd"]
    assert alternatives["single"]["delta_monthly"] == pytest.approx(-2 * per_nat, abs=0.01)
    assert alternatives["none"]["delta_monthly"] == pytest.approx(-3 * per_nat - 100 * table["nat_gateway_gb"]["usd"], abs=0.01)


def test_interface_endpoints_are_billed_per_az_they_sit_in():
    env = make_env(network={"az_count": 3, "nat": "none", "interface_endpoints": ["ecr.api", "logs"]})
    lines = [l for l in priced(env).lines if l.price == "interface_endpoint_hour"]
    assert [l.quantity for l in lines] == [3 * 730, 3 * 730]
    assert all("3 AZ" in l.item for l in lines)


def test_endpoints_in_fewer_azs_cost_that_share_and_the_estimate_says_what_switching_saves():
    env = make_env(network={"az_count": 3, "nat": "none", "interface_endpoints": ["ecr.api", "logs"], "endpoint_az_count": 1})
    lines = [l for l in priced(env).lines if l.price == "interface_endpoint_hour"]
    assert [l.quantity for l in lines] == [730, 730]
    hourly = cost.prices(env.region)["interface_endpoint_hour"]["usd"]
    alternatives = {a["value"]: a for a in cost.network_alternatives(env, bodies_of(env))
                    if a["setting"] == "network.endpoint_az_count"}
    assert alternatives[3]["current"] == 1
    assert alternatives[3]["delta_monthly"] == pytest.approx(2 * 2 * 730 * hourly, abs=0.01)
    assert alternatives[2]["delta_monthly"] == pytest.approx(2 * 1 * 730 * hourly, abs=0.01)


def test_instances_are_priced_at_desired_capacity_with_the_spot_share():
    env = make_env(web={"enabled": True, "listener": "http"}, compute={
        "enabled": True, "instance_type": "t3.small", "min_size": 2, "desired_capacity": 4, "max_size": 6,
        "spot": {"enabled": True, "on_demand_base_capacity": 1, "spot_percentage": 50},
    })
    lines = {l.item.split(" ")[1]: l for l in priced(env).lines if l.price == "ec2.t3.small"}
    rate = cost.prices(env.region)["ec2.t3.small"]["usd"]
    # base 1 on-demand, then 3 above it at 50% on-demand (rounded up: 2) and 1 Spot at 70% off
    assert lines["on-demand"].monthly == pytest.approx(3 * 730 * rate)
    assert lines["Spot"].monthly == pytest.approx(1 * 730 * rate * 0.3)


def test_fargate_tasks_are_split_between_fargate_and_spot_by_base_and_weight():
    env = make_env(web={"enabled": True, "listener": "http"}, containers={
        "enabled": True, "cpu": 512, "memory_mib": 1024, "desired_count": 4,
        "capacity": {"fargate_base": 2, "fargate_weight": 1, "fargate_spot_weight": 1},
    })
    vcpu = [l for l in priced(env).lines if l.price == "fargate.X86_64.vcpu_hour"]
    rate = cost.prices(env.region)["fargate.X86_64.vcpu_hour"]["usd"]
    assert [l.item.split(" task")[0] for l in vcpu] == ["3 Fargate", "1 Fargate Spot at 70% off"]
    assert sum(l.monthly for l in vcpu) == pytest.approx(3 * 0.5 * 730 * rate + 1 * 0.5 * 730 * rate * 0.3)


def test_a_type_without_a_meter_is_not_priced_never_zero():
    env = make_env()
    bodies = bodies_of(env)
    bodies["network.json"]["Resources"]["Mystery"] = {"Type": "AWS::MemoryDB::Cluster", "Properties": {}}
    result = cost.estimate(bodies, env.region, env.cost)
    assert {"layer": "network", "resource": "Mystery", "type": "AWS::MemoryDB::Cluster",
            "why": "no meter for this type"} in result.not_priced
    assert "Mystery" not in {l.resource for l in result.lines}
    assert "not priced: AWS::MemoryDB::Cluster" in cost.summary(result.to_dict())


def test_a_region_without_a_price_lists_the_lines_as_not_priced():
    env = make_env(region="ap-northeast-2", database={"enabled": True})
    result = priced(env)
    missing = {n["resource"] for n in result.not_priced}
    assert "DatabaseInstance1" in missing and "NatGateway1" not in missing
    db_line = next(l for l in result.lines if l.resource == "DatabaseInstance1")
    assert db_line.monthly is None
    assert result.total == pytest.approx(sum(l.monthly for l in result.lines if l.monthly is not None), abs=0.05)


def test_every_type_the_shipped_environments_emit_is_priced_or_free(tmp_path):
    for name in ("dev", "prod"):
        assert main(["build", "--env", name, "--out", str(tmp_path)]) == 0
        document = json.loads((tmp_path / name / "cost.json").read_text())
        assert document["not_priced"] == [], document["not_priced"]
        assert document["total_monthly"] == round(sum(document["layers"].values()), 2)
        for line in document["lines"]:
            assert line["price"] in document["prices"]
            price = document["prices"][line["price"]]
            assert price["page"].startswith("https://aws.amazon.com/") and price["read"] and price["unit"]
        assert (tmp_path / name / "cost.md").read_text().startswith(f"# Monthly cost estimate: {name} (eu-west-1)")


def test_delta_per_layer_between_two_estimates():
    old = {"layers": {"network": 100.0, "web": 20.0}, "total_monthly": 120.0}
    new = {"layers": {"network": 43.5, "web": 20.0, "database": 60.0}, "total_monthly": 123.5}
    assert cost.delta(old, new) == [
        "monthly cost: $120.00 -> $123.50 (+3.50)",
        "  database: $0.00 -> $60.00 (+60.00)",
        "  network: $100.00 -> $43.50 (-56.50)",
    ]
    assert cost.delta(new, new) == ["monthly cost: $123.50, unchanged"]
    assert cost.delta(None, new)[0] == "monthly cost: $0.00 -> $123.50 (+123.50)"


def test_strata_cost_prints_the_table(tmp_path, capsys):
    params = write_params(tmp_path).parent
    assert main(["cost", "--env", "dev", "--params-dir", str(params)]) == 0
    out = capsys.readouterr().out
    assert "NatGateway1" in out and "total" in out and "network.nat: per_az instead of single" in out
    assert main(["cost", "--env", "dev", "--params-dir", str(params), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["layers"]["network"] > 0


@pytest.mark.parametrize("field, value, message", [
    ("hours_per_month", 0, "greater than 0"),
    ("gb_per_tb", 512, "greater than or equal to 1000"),
    ("nat_gb", -1, "greater than or equal to 0"),
    ("spot_discount_percent", 100, "less than 100"),
    ("nat_traffic", 1, "unknown key"),
])
def test_bad_cost_settings_name_the_field(tmp_path, field, value, message):
    error = config_error(tmp_path, {"project": "demo", "environment": "test", "region": "eu-west-1", "cost": {field: value}})
    assert f"cost.{field}: " in error and message in error


def test_the_build_renders_identical_cost_files_twice():
    env = make_env(network={"nat": "per_az"})
    first = cost.files(cost.for_build(env, bodies_of(env)))
    assert cost.files(cost.for_build(env, bodies_of(env))) == first
    assert render("x.json", build_layers(env).nested["network"]).text  # the layer still renders
