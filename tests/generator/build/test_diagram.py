"""The architecture diagram, drawn from the generated templates: AZ boxes, NAT
gateways per `nat` mode, the traffic paths, and the SVG every build writes."""

import json
from pathlib import Path

import pytest

from generator.build import diagram
from generator.build.config import load_config
from generator.build.pipeline import render_env
from generator.cli import main
from tests.helpers import make_env

PARAMETERS = sorted(Path("parameters").glob("*.yaml"))


def drawn(env) -> diagram.Diagram:
    from generator.build.compose import build_layers, compose_root
    from generator.build.environment import flatten

    layers = build_layers(env)
    bodies = {f"{n}.json": json.loads(t.to_json()) for n, t in layers.nested.items()}
    bodies["root.json"] = json.loads(compose_root(env, layers).to_json())
    return diagram.from_view(flatten(bodies), env.region)


def labelled(d: diagram.Diagram, prefix: str) -> list[str]:
    return sorted(n for n, (label, _, _) in d.nodes.items() if label.startswith(prefix))


@pytest.mark.parametrize("path", PARAMETERS, ids=lambda p: p.stem)
def test_every_parameter_files_diagram_has_its_azs_nats_and_the_app_path(path):
    built = render_env(load_config(path))
    env = built.env
    d = diagram.from_view(built.view, env.region)
    assert d.az_clusters() == [f"az{i}" for i in range(1, env.network.az_count + 1)]
    nats = {"per_az": env.network.az_count, "single": 1, "none": 0}[env.network.nat]
    assert len(labelled(d, "NAT gateway")) == nats
    for nat in labelled(d, "NAT gateway"):
        assert d.nodes[nat][2].startswith("az")  # drawn in the AZ of its subnet
    assert len(labelled(d, "public subnet")) == len(labelled(d, "private subnet")) == env.network.az_count
    assert d.path("users", "Application Load Balancer", "ECS Fargate service", "Aurora writer")
    if env.compute.enabled:
        assert d.path("Application Load Balancer", "Auto Scaling group", "Aurora writer")
    readers = env.database.readers
    assert len(labelled(d, "Aurora reader")) == readers
    assert d.path("users", "CloudFront distribution", "S3 bucket StaticBucket", "Lambda InvalidationFunction")
    assert d.path("S3 bucket UploadBucket", "SNS topic Topic", "SQS queue Queue", "Lambda WorkerFunction")
    assert d.path("SQS queue Queue", "SQS queue DeadLetterQueue")
    assert bool(labelled(d, "interface endpoints in")) == bool(env.network.interface_endpoints)


@pytest.mark.parametrize("nat, count", [("per_az", 3), ("single", 1), ("none", 0)])
def test_nat_nodes_follow_the_nat_mode_and_private_subnets_route_to_them(nat, count):
    d = drawn(make_env(network={"az_count": 3, "nat": nat}))
    nats = labelled(d, "NAT gateway")
    assert len(nats) == count
    routes = [(a, b) for a, b, label in d.edges if label == "0.0.0.0/0"]
    assert len(routes) == (3 if count else 0)
    if nat == "per_az":  # each private subnet to the NAT gateway in its own AZ box
        assert all(d.nodes[a][2] == d.nodes[b][2] for a, b in routes)


def test_the_diagram_is_graphviz_and_renders_to_svg_and_png():
    d = drawn(make_env(web={"enabled": True, "listener": "http"}, containers={"enabled": True}, database={"enabled": True}))
    dot = diagram.to_dot(d, "demo")
    assert dot.startswith("digraph architecture {") and 'subgraph "cluster_az1"' in dot
    svg = diagram.render(dot)
    assert svg and svg.lstrip().startswith(b"<?xml") and b"Application Load Balancer" in svg
    png = diagram.render(dot, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert diagram.render(dot) == svg  # deterministic


def test_every_build_writes_the_diagram(tmp_path):
    assert main(["build", "--env", "dev", "--out", str(tmp_path)]) == 0
    svg = (tmp_path / "dev" / "architecture.svg").read_bytes()
    assert b"<svg" in svg and b"AZ 2" in svg
    assert (tmp_path / "dev" / "architecture.dot").read_text().startswith("digraph")


def test_without_the_renderer_the_build_writes_the_source_and_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(diagram, "renderer", lambda: None)
    assert main(["build", "--env", "dev", "--out", str(tmp_path), "--no-cache"]) == 0
    assert "graphviz-pure not found: wrote architecture.dot only" in capsys.readouterr().out
    assert not (tmp_path / "dev" / "architecture.svg").exists()
    assert (tmp_path / "dev" / "architecture.dot").is_file()


def test_strata_diagram_command(tmp_path):
    target = tmp_path / "prod.png"
    assert main(["diagram", "--env", "prod", "--format", "png", "--output", str(target)]) == 0
    assert target.read_bytes()[:4] == b"\x89PNG"


def test_the_diagram_and_the_estimate_do_not_depend_on_the_hash_seed(tmp_path):
    """Sets of references are walked in an order that changes with PYTHONHASHSEED; the output must not."""
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        dot = tmp_path / f"{seed}.dot"
        subprocess.run([sys.executable, "-m", "generator", "diagram", "--env", "prod", "--format", "dot", "--output", str(dot)],
                       check=True, env=env, capture_output=True)
        estimate = subprocess.run([sys.executable, "-m", "generator", "cost", "--env", "prod", "--json"],
                                  check=True, env=env, capture_output=True).stdout
        outputs.append((dot.read_bytes(), estimate))
    assert outputs[0] == outputs[1]


def test_a_web_acl_is_drawn_in_front_of_what_it_filters():
    from generator.build.environment import flatten

    body = {"Resources": {
        "Acl": {"Type": "AWS::WAFv2::WebACL", "Properties": {"Scope": "REGIONAL"}},
        "Lb": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {}},
        "Link": {"Type": "AWS::WAFv2::WebACLAssociation", "Properties": {
            "WebACLArn": {"Fn::GetAtt": ["Acl", "Arn"]}, "ResourceArn": {"Ref": "Lb"}}},
    }}
    d = diagram.from_view(flatten({"edge.json": body}), "eu-west-1")
    assert d.path("users", "Application Load Balancer") and ("EdgeAcl", "EdgeLb", "filters") in d.edges
