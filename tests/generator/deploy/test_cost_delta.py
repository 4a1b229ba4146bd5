"""`strata deploy` and `plan` show the monthly cost change per layer, from the
deployed stacks' templates (GetTemplate, on the moto server) to the new build."""

from __future__ import annotations

import json

import pytest
import yaml

from generator.build import cost
from generator.cli import main
from generator.deploy import local
from tests.generator.deploy.deploy_support import REGION, tiny_env, tiny_layers, write_build

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")


@pytest.fixture
def endpoint(aws):
    with local.compat():
        yield aws


def _build(out_root, **layers) -> None:
    """The tiny build (a topic layer, a queue layer) with its cost.json, as `strata build` writes it."""
    folder = write_build(out_root, tiny_env(), tiny_layers(**layers))
    bodies = {p.name: json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != "manifest.json"}
    for name, data in cost.files(cost.estimate(bodies, REGION, environment="tiny")).items():
        (folder / name).write_bytes(data)


def test_deploy_and_plan_show_the_monthly_change_per_layer(endpoint, tmp_path, capsys):
    params = tmp_path / "params"
    params.mkdir()
    (params / "tiny.yaml").write_text(yaml.safe_dump({"project": "demo", "environment": "tiny", "region": REGION}))
    args = ["--env", "tiny", "--params-dir", str(params), "--out", str(tmp_path / "out"), "--endpoint-url", endpoint, "--no-build"]
    _build(tmp_path / "out")
    assert main(["deploy", *args, "--yes"]) == 0
    out = capsys.readouterr().out
    # nothing deployed yet: every layer counts from $0 (topic: 1M publishes $0.50, queue: 1M requests $0.40)
    assert "monthly cost: $0.00 -> $0.90 (+0.90)" in out
    assert "  messaging: $0.00 -> $0.50 (+0.50)" in out and "  storage: $0.00 -> $0.40 (+0.40)" in out

    assert main(["plan", *args]) == 0
    assert "monthly cost: $0.90, unchanged" in capsys.readouterr().out

    _build(tmp_path / "out", unemulated=True)  # the topic layer gains a CloudWatch alarm ($0.10 a month)
    assert main(["plan", *args]) == 0
    out = capsys.readouterr().out
    assert "monthly cost: $0.90 -> $1.00 (+0.10)" in out
    assert "  messaging: $0.50 -> $0.60 (+0.10)" in out and "storage:" not in out.split("monthly cost:")[1]

    assert main(["plan", *args, "--markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "### Monthly cost" in markdown and "- monthly cost: $0.90 -> $1.00 (+0.10)" in markdown


def test_a_deployed_companion_counts_in_the_deployed_estimate(endpoint, tmp_path, capsys):
    """A companion stack (here a topic in us-east-1, as the static layer's
    CloudFront companion) is read from its own region: after a deploy, the
    plan shows no cost change for it."""
    companion = {"Metadata": {"Strata": {"Region": "us-east-1"}},
                 "Resources": {"EdgeTopic": {"Type": "AWS::SNS::Topic"}}}
    params = tmp_path / "params"
    params.mkdir()
    (params / "tiny.yaml").write_text(yaml.safe_dump({"project": "demo", "environment": "tiny", "region": REGION}))
    folder = write_build(tmp_path / "out", tiny_env(), tiny_layers(), companions={"edge.json": companion})
    bodies = {p.name: json.loads(p.read_text()) for p in folder.glob("*.json") if p.name != "manifest.json"}
    for name, data in cost.files(cost.estimate(bodies, REGION, environment="tiny")).items():
        (folder / name).write_bytes(data)
    args = ["--env", "tiny", "--params-dir", str(params), "--out", str(tmp_path / "out"), "--endpoint-url", endpoint, "--no-build"]
    assert main(["deploy", *args, "--yes"]) == 0
    assert "  edge: $0.00 -> $0.50 (+0.50)" in capsys.readouterr().out
    assert main(["plan", *args]) == 0
    assert "monthly cost: $1.40, unchanged" in capsys.readouterr().out
