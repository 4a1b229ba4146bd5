"""Cross-layer rules: each one refused with a message that names the field and says what to do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from generator.build import constraints
from generator.build.pipeline import build_envs
from generator.build.config import ConfigError, EnvConfig, load_config
from tests.helpers import BASE_ENV, merge

CERT = "arn:aws:acm:eu-west-1:111122223333:certificate/12345678-1234-1234-1234-123456789012"
NO_NAT = {"network": {"nat": "none", "gateway_endpoints": [], "interface_endpoints": []}}


def problems(**sections) -> dict[str, str]:
    """field path -> message, for an EnvConfig built from BASE_ENV + sections."""
    env = EnvConfig.model_validate(merge(BASE_ENV, sections))
    return {".".join(loc): message for loc, message in constraints.check(env)}


def write(tmp_path: Path, **sections) -> Path:
    file = tmp_path / "test.yaml"
    file.write_text(json.dumps(merge(BASE_ENV, sections), indent=2))
    return file


# --- no NAT: the endpoints the application tier needs ------------------------------------

def test_containers_without_nat_need_the_ecr_logs_and_s3_endpoints_named_exactly():
    found = problems(**NO_NAT, containers={"enabled": True})
    assert found["network.interface_endpoints"].startswith("add ecr.api, ecr.dkr, logs: network.nat is none")
    assert "ecr.api for containers (image pulls from ECR)" in found["network.interface_endpoints"]
    assert "logs for containers (awslogs driver)" in found["network.interface_endpoints"]
    assert found["network.gateway_endpoints"].startswith("add s3: ")
    assert "or choose network.nat: single" in found["network.gateway_endpoints"]


def test_only_the_missing_endpoints_are_named():
    found = problems(network={"nat": "none", "gateway_endpoints": ["s3"], "interface_endpoints": ["ecr.api", "ecr.dkr"]},
                     containers={"enabled": True})
    assert found == {"network.interface_endpoints": found["network.interface_endpoints"]}
    assert found["network.interface_endpoints"].startswith("add logs: ")


def test_with_every_needed_endpoint_containers_pass_without_nat():
    assert problems(network={"nat": "none", "gateway_endpoints": ["s3"], "interface_endpoints": ["ecr.api", "ecr.dkr", "logs"]},
                    containers={"enabled": True}) == {}


def test_injected_secrets_need_their_services_endpoints():
    found = problems(
        network={"nat": "none", "gateway_endpoints": ["s3"], "interface_endpoints": ["ecr.api", "ecr.dkr", "logs"]},
        containers={"enabled": True, "secrets": {
            "A": "arn:aws:secretsmanager:eu-west-1:111122223333:secret:a-AbCdEf",
            "B": "arn:aws:ssm:eu-west-1:111122223333:parameter/b"}},
    )
    assert found["network.interface_endpoints"].startswith("add secretsmanager, ssm: ")


def test_an_outside_image_cannot_be_pulled_without_nat():
    found = problems(network={"nat": "none", "gateway_endpoints": ["s3"], "interface_endpoints": ["logs"]},
                     containers={"enabled": True, "image": "public.ecr.aws/nginx/nginx:stable"})
    assert "outside this region's ECR" in found["containers.image"]
    assert "network.interface_endpoints" not in found  # no ECR endpoints asked for an image not in ECR


def test_instances_without_nat_need_the_session_manager_endpoints():
    found = problems(**NO_NAT, compute={"enabled": True})
    assert found["network.interface_endpoints"].startswith("add ec2messages, ssm, ssmmessages: ")
    assert "compute (Session Manager)" in found["network.interface_endpoints"]
    assert problems(**NO_NAT, compute={"enabled": True, "session_manager": False}) == {}


def test_instances_pulling_from_ecr_without_nat_need_ecr_and_s3():
    found = problems(network={"nat": "none", "gateway_endpoints": [], "interface_endpoints": ["ssm", "ssmmessages", "ec2messages", "logs"]},
                     compute={"enabled": True, "ecr_pull": True}, containers={"enabled": True})
    assert found["network.interface_endpoints"].startswith("add ecr.api, ecr.dkr: ")
    assert found["network.gateway_endpoints"].startswith("add s3: ")


def test_a_database_secret_without_nat_needs_the_secrets_manager_endpoint():
    found = problems(network={"nat": "none", "gateway_endpoints": ["s3"], "interface_endpoints": ["ssm", "ssmmessages", "ec2messages"]},
                     compute={"enabled": True}, database={"enabled": True})
    assert found["network.interface_endpoints"].startswith("add secretsmanager: ")


def test_with_a_nat_no_endpoint_is_required():
    assert problems(network={"nat": "single", "gateway_endpoints": [], "interface_endpoints": []},
                    compute={"enabled": True, "ecr_pull": True}, web={"enabled": True, "listener": "http"},
                    database={"enabled": True}, containers={"enabled": True, "path_patterns": ["/api/*"]}) == {}


def test_the_error_names_file_line_and_field_and_nothing_is_written(tmp_path):
    file = write(tmp_path, **NO_NAT, containers={"enabled": True})
    out = tmp_path / "out"
    with pytest.raises(ConfigError) as raised:
        build_envs([file], out)
    lines = str(raised.value).splitlines()
    interface = next(line for line in lines if " network.interface_endpoints: " in line)
    assert interface.startswith(f"{file}:") and "add ecr.api, ecr.dkr, logs" in interface
    line_number = int(interface.split(" ", 1)[0].rsplit(":", 1)[1])
    assert '"interface_endpoints"' in file.read_text().splitlines()[line_number - 1]
    assert not out.exists()


def test_devs_nat_and_endpoints_are_the_cheaper_choice_its_comment_shows():
    """dev pays for one NAT rather than the interface endpoints its tasks
    would need without one; the comment's figures are the price table's."""
    from generator.build import cost

    text = Path("parameters/dev.yaml").read_text()
    env = load_config("parameters/dev.yaml")
    assert (env.network.nat, env.network.interface_endpoints) == ("single", [])
    assert constraints.check(env) == []
    without_nat = EnvConfig.model_validate(merge(yaml.safe_load(text), {"network": {"nat": "none"}}))
    needed = sorted(n for n in constraints.endpoints._endpoint_needs(without_nat) if n not in ("s3", "dynamodb"))
    assert needed == ["ecr.api", "ecr.dkr", "logs", "secretsmanager", "sns", "sqs"]
    price = {name: entry["usd"] for name, entry in cost.prices(env.region).items()}
    for hours in (730, 720):
        nat = (price["nat_gateway_hour"] + price["public_ipv4_hour"]) * hours
        one_az, two_azs = (len(needed) * azs * price["interface_endpoint_hour"] * hours for azs in (1, 2))
        assert nat < one_az < two_azs
        for figure in (nat, one_az, two_azs):
            assert f"{figure:,.2f}" in text, figure
    break_even = (len(needed) * price["interface_endpoint_hour"] * 730 - (price["nat_gateway_hour"] + price["public_ipv4_hour"]) * 730) \
        / (price["nat_gateway_gb"] - price["interface_endpoint_gb"])
    assert f"about {break_even:.0f} GB a month" in text


def test_the_tiers_wired_to_the_queue_need_sqs_and_sns_endpoints_without_nat():
    found = problems(network={"nat": "none", "gateway_endpoints": ["s3"], "interface_endpoints": ["ecr.api", "ecr.dkr", "logs"]},
                     containers={"enabled": True}, messaging={"enabled": True},
                     cache={"enabled": True, "cluster": {"enabled": False}, "tables": {"sessions": {"partition_key": {"name": "id"}}}})
    assert found["network.interface_endpoints"].startswith("add sns, sqs: ")
    assert "sqs for containers (the queue and the topic)" in found["network.interface_endpoints"]
    assert found["network.gateway_endpoints"].startswith("add dynamodb: ") and "containers (the tables)" in found["network.gateway_endpoints"]


def test_instances_mounting_the_file_system_without_nat_need_s3_for_efs_utils():
    found = problems(network={"nat": "none", "gateway_endpoints": [], "interface_endpoints": ["ssm", "ssmmessages", "ec2messages"]},
                     compute={"enabled": True}, storage={"enabled": True})
    assert found["network.gateway_endpoints"] == (
        "add s3: network.nat is none, so the private subnets reach AWS only through endpoints "
        "(s3 for compute (amazon-efs-utils at boot)); or choose network.nat: single")


def test_a_cache_token_is_a_secret_the_tiers_need_the_secrets_manager_endpoint_for():
    found = problems(network={"nat": "none", "gateway_endpoints": ["s3"], "interface_endpoints": ["ecr.api", "ecr.dkr", "logs"]},
                     containers={"enabled": True}, cache={"enabled": True})
    assert found["network.interface_endpoints"].startswith("add secretsmanager: ")


def test_static_write_needs_the_static_layer():
    found = problems(compute={"enabled": True, "static_write": True}, containers={"enabled": True, "static_write": True})
    assert found["compute.static_write"] == found["containers.static_write"] == "needs static.enabled: true (the bucket is the static layer's)"
    assert "compute.static_write" not in problems(static={"enabled": True}, compute={"enabled": True, "static_write": True})


# --- certificates ---------------------------------------------------------------------------

def test_https_without_a_certificate_source_says_how_to_get_one():
    found = problems(web={"enabled": True})
    assert "enable the dns layer" in found["web.listener"] and "listener: http" in found["web.listener"]


def test_https_with_the_dns_layer_or_an_explicit_certificate_passes():
    assert problems(web={"enabled": True}, dns={"enabled": True, "domain": "example.com"}) == {}
    assert problems(web={"enabled": True, "certificate_arn": CERT}) == {}


def test_a_certificate_and_the_dns_layer_together_is_ambiguous():
    found = problems(web={"enabled": True, "certificate_arn": CERT}, dns={"enabled": True, "domain": "example.com"})
    assert "remove web.certificate_arn" in found["web.certificate_arn"]


def test_a_certificate_from_another_region_is_refused():
    found = problems(web={"enabled": True, "certificate_arn": CERT.replace("eu-west-1", "us-east-1")})
    assert found["web.certificate_arn"] == "is in us-east-1; a load balancer in eu-west-1 needs a certificate from eu-west-1"


# --- how the layers fit together ----------------------------------------------------------------

def test_compute_and_containers_behind_one_alb_need_path_patterns():
    found = problems(web={"enabled": True, "listener": "http"}, compute={"enabled": True}, containers={"enabled": True})
    assert "required when compute and containers both serve" in found["containers.path_patterns"]


def test_path_patterns_without_both_backends_are_refused():
    found = problems(web={"enabled": True, "listener": "http"}, containers={"enabled": True, "path_patterns": ["/api/*"]})
    assert "only used when web, compute and containers are all enabled" in found["containers.path_patterns"]


def test_request_count_scaling_needs_the_load_balancer():
    found = problems(compute={"enabled": True, "scaling": {"target_tracking": {"metric": "request_count"}}},
                     containers={"enabled": True, "scaling": {"metric": "request_count"}})
    assert "needs web.enabled: true" in found["compute.scaling.target_tracking.metric"]
    assert "needs web.enabled: true" in found["containers.scaling.metric"]


def test_ecr_pull_needs_the_repository_of_the_containers_layer():
    assert "needs containers.enabled" in problems(compute={"enabled": True, "ecr_pull": True})["compute.ecr_pull"]


def test_bastion_needs_the_compute_layer():
    found = problems(security={"enabled": True, "admin_cidr": "203.0.113.0/24"}, compute={"bastion": {"enabled": True}})
    assert found == {"compute.bastion.enabled": "needs compute.enabled: true (the bastion is built by the compute layer)"}


def test_application_layers_need_the_security_layer():
    found = problems(security={"enabled": False}, web={"enabled": True, "listener": "http"}, containers={"enabled": True})
    assert set(found) == {"web.enabled", "containers.enabled"}
    assert "needs security.enabled: true" in found["web.enabled"]


def test_the_shipped_prod_file_passes():
    env = load_config("parameters/prod.yaml")
    assert env.web.listener == "https" and env.compute.enabled and env.containers.path_patterns
    assert constraints.check(env) == []


CDN_API = dict(static={"enabled": True, "api_path_pattern": "/api/*"}, containers={"enabled": True})


def test_cloudfront_cannot_reach_an_https_alb_without_the_sites_certificate():
    found = problems(web={"enabled": True, "listener": "https", "certificate_arn": CERT}, **CDN_API)
    assert found["static.api_path_pattern"].startswith("CloudFront reaches the ALB over HTTPS only with a certificate")


def test_cloudfront_reaches_an_http_alb_or_one_with_the_dns_certificate():
    assert "static.api_path_pattern" not in problems(web={"enabled": True, "listener": "http"}, **CDN_API)
    with_dns = problems(web={"enabled": True, "listener": "https"}, dns={"enabled": True, "domain": "example.com"}, **CDN_API)
    assert "static.api_path_pattern" not in with_dns
