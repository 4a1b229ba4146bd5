"""Rules about which layers the enabled ones need, and how the application
tier, its load balancer and its data tier fit together."""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator.build.constraints.base import Problem

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

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


def _connection_names_are_free(env: EnvConfig) -> list[Problem]:
    """The wiring fills DATABASE_HOST, QUEUE_URL, ... (generator/cfn/connections.py);
    the parameter file must not define the same variable for the tasks."""
    from templates.app_tier import reserved_variables

    containers = env.containers
    if not containers.enabled:
        return []
    reserved = reserved_variables(env)
    problems = []
    for field in ("environment", "secrets"):
        taken = sorted(reserved & set(getattr(containers, field)))
        if taken:
            problems.append((("containers", field), f"{', '.join(taken)} filled by the wiring from the data layers; use another name"))
    if containers.database_secret_variable in reserved - {"DATABASE_SECRET"}:
        problems.append((("containers", "database_secret_variable"),
                         f"{containers.database_secret_variable} is filled by the wiring already; use another name"))
    return problems


def _static_write_needs_static(env: EnvConfig) -> list[Problem]:
    return [
        ((tier, "static_write"), "needs static.enabled: true (the bucket is the static layer's)")
        for tier in ("compute", "containers")
        if env.section(tier).enabled and env.section(tier).static_write and not env.static.enabled
    ]


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


def _cloudfront_only_fits(env: EnvConfig) -> list[Problem]:
    """A load balancer restricted to CloudFront must be what CloudFront
    forwards to, must not also be a DNS name's target (those requests would
    get a 403), and needs the region's origin-facing prefix list."""
    from templates import dns, web

    if not env.web.enabled:
        return []
    problems = []
    if env.web.cloudfront_only:
        if not web.cloudfront_forwards(env):
            problems.append((("web", "cloudfront_only"),
                             "nothing would reach the load balancer: CloudFront forwards to it only with static.enabled "
                             "and static.api_path_pattern"))
        names = dns.record_names(env, "alb")
        if names:
            problems.append((("web", "cloudfront_only"),
                             f"dns.records point {', '.join(names)} at the load balancer, which would answer them 403; "
                             "remove those records or set web.cloudfront_only: false"))
    if web.cloudfront_only(env) and not web.cloudfront_prefix_list(env):
        problems.append((("web", "cloudfront_prefix_list_id"),
                         f"Strata does not know the id of com.amazonaws.global.cloudfront.origin-facing in {env.region}: "
                         "look it up with aws ec2 describe-managed-prefix-lists and set it here"))
    return problems


RULES = [
    _wiring_needs_network,
    _bastion_needs_admin_cidr,
    _bastion_needs_compute,
    _app_tier_needs_security,
    _https_needs_certificate,
    _load_balancer_metrics_need_web,
    _shared_load_balancer,
    _ecr_pull_needs_repository,
    _data_tier_fits_security,
    _cdn_api_origin_reachable,
    _connection_names_are_free,
    _static_write_needs_static,
    _cloudfront_only_fits,
]
