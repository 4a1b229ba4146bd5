"""Rules that span layers, checked once over the whole EnvConfig.

Each rule is a function `(env) -> list[(field_path, message)]` listed in
RULES; `check` runs them all. A section's own contradictions (min > max, a
bad CIDR plan) belong in that section's validators, not here. Rules that
need the region (what it offers, by cfn-lint's lists in
`generator.build.awsdata`) live here because a section does not know it.

`ignored` lists settings nothing is built from (a section whose layer or
feature is switched off): printed as warnings, not refused, because
switching a layer off while keeping its settings is a normal edit.
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any, Callable, Iterator

from generator.build import awsdata
from generator.cfn.sections import OfferedIn, Section, markers

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

Problem = tuple[tuple, str]


def sections_of(model: Section, path: tuple = (), enabled_only: bool = True) -> Iterator[tuple[tuple, Section]]:
    """Every section inside `model` (through lists and mappings too), with
    its path; below a switched-off layer or feature only when not `enabled_only`."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else [(None, value)]
        for key, item in items:
            if isinstance(item, Section):
                loc = (*path, name) if key is None else (*path, name, key)
                if not enabled_only or getattr(item, "enabled", True):
                    yield loc, item
                    yield from sections_of(item, loc, enabled_only)


def _offered(kind: str, region: str, section: Section) -> frozenset[str]:
    if kind == "ec2":
        return awsdata.instance_types(region)
    if kind == "elasticache":
        return awsdata.cache_node_types(region)
    return awsdata.db_instance_classes(region, getattr(section, "engine", ""))


def _types_offered_in_region(env: EnvConfig) -> list[Problem]:
    """Every field marked `OfferedIn` (instance types, DB classes, node types)
    names a type the region offers, by cfn-lint's lists; a region cfn-lint
    has no list for (the isolated ones) is not checked."""
    problems = []
    for loc, section in sections_of(env):
        for name, info in type(section).model_fields.items():
            for marker in markers(info, OfferedIn):
                offered = _offered(marker.kind, env.region, section)
                value = getattr(section, name)
                items = enumerate(value) if isinstance(value, list) else [(None, value)]
                for index, item in items:
                    if offered and item is not None and item not in offered:
                        close = difflib.get_close_matches(item, offered, n=3)
                        problems.append((
                            (*loc, name) if index is None else (*loc, name, index),
                            f"{item} is not offered in {env.region} (cfn-lint's list of {marker.kind} types"
                            f"{' for ' + section.engine if marker.kind == 'rds' else ''})"
                            + (f"; did you mean {', '.join(close)}?" if close else ""),
                        ))
    return problems


def _azs_in_region(env: EnvConfig) -> list[Problem]:
    zones = awsdata.availability_zones().get(env.region)
    if env.network.enabled and zones and env.network.az_count > zones:
        return [(("network", "az_count"), f"{env.region} has {zones} availability zones; az_count "
                                          f"{env.network.az_count} cannot be spread over them")]
    return []


def _explicit_subnets_listed(env: EnvConfig) -> list[Problem]:
    """An empty list is not "plan them for me": that is leaving the field out."""
    return [
        (("network", name), f"lists no CIDRs: give one per AZ (az_count {env.network.az_count}), or leave "
                            f"{name} out for the automatic plan")
        for name in ("public_subnets", "private_subnets")
        if env.network.enabled and getattr(env.network, name) == []
    ]


def _records_have_targets(env: EnvConfig) -> list[Problem]:
    """A record the file asks for, pointing at a layer that is off, would simply not exist."""
    if not env.dns.enabled or "records" not in env.dns.model_fields_set:
        return []
    layer = {"alb": "web", "cloudfront": "static"}
    return [
        (("dns", "records", name), f"points at {target} but {layer[target]}.enabled is false, so the record would "
                                   f"not be created: enable {layer[target]} or remove the record")
        for name, target in env.dns.records.items() if not env.section(layer[target]).enabled
    ]


def _flow_logs_on(env: EnvConfig) -> list[Problem]:
    """Strata's lint gate refuses a VPC without flow logs (rule E9001, seeds 000/002/004): say so on the field."""
    if env.network.enabled and not env.network.flow_logs.enabled:
        return [(("network", "flow_logs", "enabled"), "must stay true: Strata's lint gate requires flow logs on "
                                                       "every VPC (rule E9001); lower retention_days to keep them cheap")]
    return []


def ignored(env: EnvConfig) -> list[Problem]:
    """Sections switched off (`enabled: false`, or a layer left off) whose
    other settings the file still sets: nothing is built from them."""
    found = []
    for loc, section in sections_of(env, enabled_only=False):
        if getattr(section, "enabled", True) or not _under_enabled(env, loc[:-1]):
            continue
        settings = sorted(section.model_fields_set - {"enabled"})
        if settings:
            found.append(((*loc, settings[0]), (
                f"{', '.join(settings)} {'is' if len(settings) == 1 else 'are'} set but {'.'.join(map(str, loc))}"
                f".enabled is false, so nothing is built from {'it' if len(settings) == 1 else 'them'}"
            )))
    return found


def _under_enabled(env: EnvConfig, loc: tuple) -> bool:
    """Every section on the way to `loc` is on (a warning for the outermost switched-off one only)."""
    model: Any = env
    for part in loc:
        model = model[part] if isinstance(model, (dict, list)) else getattr(model, part)
        if isinstance(model, Section) and not getattr(model, "enabled", True):
            return False
    return True


def _wiring_needs_network(env: EnvConfig) -> list[Problem]:
    """Every other layer that places resources in the VPC needs the network layer."""
    if env.network.enabled:
        return []
    return [
        ((name, "enabled"), "needs network.enabled: true (this layer places resources in the VPC)")
        for name in ("security", "web", "compute", "containers", "database", "cache", "storage")
        if env.section(name).enabled
    ]


def _bastion_needs_admin_cidr(env: EnvConfig) -> list[Problem]:
    """SSH to a bastion is opened to `security.admin_cidr` only; without one there is nobody to let in."""
    if env.compute.bastion.enabled and env.security.admin_cidr is None:
        return [(("security", "admin_cidr"), "required when compute.bastion.enabled is true")]
    return []


def _bastion_needs_compute(env: EnvConfig) -> list[Problem]:
    if env.compute.bastion.enabled and not env.compute.enabled:
        return [(("compute", "bastion", "enabled"), "needs compute.enabled: true (the bastion is built by the compute layer)")]
    return []


def _app_tier_needs_security(env: EnvConfig) -> list[Problem]:
    """The load balancer, instances and tasks take their security groups from the security layer."""
    if env.security.enabled:
        return []
    return [
        ((name, "enabled"), "needs security.enabled: true (its security groups are this layer's)")
        for name in ("web", "compute", "containers")
        if env.section(name).enabled
    ]


def _https_needs_certificate(env: EnvConfig) -> list[Problem]:
    """An HTTPS listener takes the dns layer's certificate or an explicit one, never both, never none."""
    web = env.web
    if not web.enabled or web.listener != "https":
        return []
    if env.dns.enabled and web.certificate_arn:
        return [(("web", "certificate_arn"), "the dns layer is on and provides the certificate; remove web.certificate_arn")]
    if not env.dns.enabled and not web.certificate_arn:
        return [(
            ("web", "listener"),
            "https needs a certificate: enable the dns layer (dns.domain), set web.certificate_arn, "
            "or choose listener: http explicitly for an environment without a domain",
        )]
    if web.certificate_arn:
        from templates.web import CERTIFICATE_ARN

        region = CERTIFICATE_ARN.match(web.certificate_arn).group(1)
        if region != env.region:
            return [(("web", "certificate_arn"), f"is in {region}; a load balancer in {env.region} needs a certificate from {env.region}")]
    return []


def _load_balancer_metrics_need_web(env: EnvConfig) -> list[Problem]:
    problems = []
    if env.compute.enabled and env.compute.scaling.target_tracking.enabled \
            and env.compute.scaling.target_tracking.metric == "request_count" and not env.web.enabled:
        problems.append((("compute", "scaling", "target_tracking", "metric"), "request_count needs web.enabled: true (it is a load balancer metric)"))
    if env.containers.enabled and env.containers.scaling.enabled \
            and env.containers.scaling.metric == "request_count" and not env.web.enabled:
        problems.append((("containers", "scaling", "metric"), "request_count needs web.enabled: true (it is a load balancer metric)"))
    return problems


def _shared_load_balancer(env: EnvConfig) -> list[Problem]:
    """Instances and tasks cannot share a target group (its target type is
    `instance` or `ip`): with both behind the load balancer, the instances
    take the default action and the containers the paths they list."""
    both = env.web.enabled and env.compute.enabled and env.containers.enabled
    if both and not env.containers.path_patterns:
        return [(
            ("containers", "path_patterns"),
            "required when compute and containers both serve behind the load balancer: list the paths the "
            "containers answer (e.g. ['/api/*']); the rest goes to the compute instances",
        )]
    if not both and env.containers.path_patterns:
        return [(("containers", "path_patterns"), "only used when web, compute and containers are all enabled; remove it")]
    return []


def _ecr_pull_needs_repository(env: EnvConfig) -> list[Problem]:
    if env.compute.enabled and env.compute.ecr_pull and not env.containers.enabled:
        return [(("compute", "ecr_pull"), "needs containers.enabled: true (the repository is created by the containers layer)")]
    return []


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
    if containers.enabled:
        if _private_ecr_image(env):
            # ECR serves the manifest through ecr.api/ecr.dkr and the image layers from S3 (seed 000).
            need(("ecr.api", "ecr.dkr", "s3"), "containers (image pulls from ECR)")
        need(("logs",), "containers (awslogs driver)")
        if containers.secret_arns("secretsmanager") or env.database.enabled:
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
        if env.database.enabled:
            need(("secretsmanager",), "compute (database secret)")
    return needs


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


def _data_tier_fits_security(env: EnvConfig) -> list[Problem]:
    """The data layers admit the app security group, so they need the security
    layer (and the network); the database listens on the DB group's port."""
    from templates.database import port_problem

    users = {
        ("database", "enabled"): env.database.enabled,
        ("cache", "cluster", "enabled"): env.cache.enabled and env.cache.cluster.enabled,
        ("storage", "enabled"): env.storage.enabled,
        ("messaging", "worker", "vpc"): env.messaging.enabled and env.messaging.worker.enabled and env.messaging.worker.vpc,
    }
    problems = [
        (path, "needs security.enabled: true (it admits the application's security group)")
        for path, on in users.items() if on and not env.security.enabled
    ]
    if users[("messaging", "worker", "vpc")] and not env.network.enabled:
        problems.append((("messaging", "worker", "vpc"), "needs network.enabled: true (the worker runs in the private subnets)"))
    if env.database.enabled and (problem := port_problem(env.database.engine, env.security.db_port)):
        problems.append((("security", "db_port"), problem))
    return problems


def _cdn_api_origin_reachable(env: EnvConfig) -> list[Problem]:
    """CloudFront forwards `static.api_path_pattern` to the ALB with the web
    listener's protocol and the viewer's Host header. Over HTTPS the ALB's
    certificate must match that host, which only the dns layer's domain gives
    (an ALB's own *.elb.amazonaws.com name has no certificate)."""
    if not (env.static.enabled and env.static.api_path_pattern and env.web.enabled):
        return []
    if env.web.listener == "https" and not env.dns.enabled:
        return [(("static", "api_path_pattern"),
                 "CloudFront reaches the ALB over HTTPS only with a certificate for the site's domain: "
                 "enable the dns layer, or use web.listener: http")]
    return []


RULES: list[Callable[[EnvConfig], list[Problem]]] = [
    _wiring_needs_network, _bastion_needs_admin_cidr, _bastion_needs_compute, _app_tier_needs_security,
    _https_needs_certificate, _load_balancer_metrics_need_web, _shared_load_balancer, _ecr_pull_needs_repository,
    _endpoints_without_nat, _data_tier_fits_security, _cdn_api_origin_reachable,
    _types_offered_in_region, _azs_in_region, _explicit_subnets_listed, _records_have_targets,
    _flow_logs_on,
]


def check(env: EnvConfig) -> list[Problem]:
    return [problem for rule in RULES for problem in rule(env)]
