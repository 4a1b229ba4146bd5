"""With `network.nat: none` the private subnets reach AWS only through VPC
endpoints: every API the application tier calls needs one."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

from generator.build.constraints.base import Problem

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

def _private_ecr_image(env: EnvConfig) -> bool:
    """The task's image comes from this account's ECR in the environment's region (reachable through endpoints)."""
    image = env.containers.image
    return image is None or bool(re.match(rf"^\d{{12}}\.dkr\.ecr\.{re.escape(env.region)}\.amazonaws\.com/", image))


def _endpoint_needs(env: EnvConfig) -> dict[str, list[str]]:
    """Endpoint (interface name, or `s3`/`dynamodb` for gateways) -> who needs it, when there is no NAT."""
    needs: dict[str, list[str]] = {}

    def need(endpoints: tuple[str, ...], who: str) -> None:
        for endpoint in endpoints:
            needs.setdefault(endpoint, []).append(who)

    containers, compute = env.containers, env.compute
    wired_secret = env.database.enabled or (env.cache.enabled and env.cache.cluster.enabled)
    for tier in ("compute", "containers"):
        if env.section(tier).enabled:
            _wired_endpoint_needs(env, tier, need)
    if containers.enabled:
        if _private_ecr_image(env):
            # ECR serves the manifest through ecr.api/ecr.dkr and the image layers from S3 (seed 000).
            need(("ecr.api", "ecr.dkr", "s3"), "containers (image pulls from ECR)")
        need(("logs",), "containers (awslogs driver)")
        if containers.secret_arns("secretsmanager") or wired_secret:
            need(("secretsmanager",), "containers (secrets injected at task start)")
        if containers.secret_arns("ssm"):
            need(("ssm",), "containers (SSM parameters injected at task start)")
        if containers.environment_file:
            need(("s3",), "containers (environment file)")
    if compute.enabled:
        if compute.session_manager:
            need(("ssm", "ssmmessages", "ec2messages"), "compute (Session Manager)")
        if compute.ecr_pull:
            need(("ecr.api", "ecr.dkr", "s3"), "compute (ECR pulls)")
        if wired_secret:
            need(("secretsmanager",), "compute (database and cache secrets)")
        if env.storage.enabled:
            # amazon-efs-utils comes from the Amazon Linux repositories, which are served from S3.
            need(("s3",), "compute (amazon-efs-utils at boot)")
    return needs


def _wired_endpoint_needs(env: EnvConfig, tier: str, need: Callable[[tuple[str, ...], str], None]) -> None:
    """The AWS APIs an application tier calls for the data layers wired to it."""
    if env.messaging.enabled:
        need(("sqs", "sns"), f"{tier} (the queue and the topic)")
    if env.cache.enabled and env.cache.tables:
        need(("dynamodb",), f"{tier} (the tables)")
    if env.static.enabled and env.section(tier).static_write:
        need(("s3",), f"{tier} (static_write to the site's bucket)")


def _endpoints_without_nat(env: EnvConfig) -> list[Problem]:
    """With `network.nat: none` the private subnets have no route out: every
    AWS service the application tier calls must have a VPC endpoint."""
    if not env.network.enabled or env.network.nat != "none":
        return []
    problems = []
    if env.containers.enabled and not _private_ecr_image(env):
        problems.append((
            ("containers", "image"),
            f"{env.containers.image} is outside this region's ECR; with network.nat: none the tasks cannot reach "
            "that registry (push the image to the repository, or give the network a NAT)",
        ))
    needs = _endpoint_needs(env)
    have = {
        "interface_endpoints": set(env.network.interface_endpoints),
        "gateway_endpoints": set(env.network.gateway_endpoints),
    }
    for field, kinds in (("gateway_endpoints", ("s3", "dynamodb")), ("interface_endpoints", None)):
        missing = sorted(
            name for name in needs
            if (name in kinds if kinds else name not in ("s3", "dynamodb")) and name not in have[field]
        )
        if missing:
            who = "; ".join(f"{name} for {', '.join(needs[name])}" for name in missing)
            problems.append((
                ("network", field),
                f"add {', '.join(missing)}: network.nat is none, so the private subnets reach AWS only through "
                f"endpoints ({who}); or choose network.nat: single",
            ))
    return problems


RULES = [
    _endpoints_without_nat,
]
