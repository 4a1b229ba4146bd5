"""Rules that span layers, checked once over the whole EnvConfig.

Each rule is a function `(env) -> list[(field_path, message)]` listed in
RULES; `check` runs them all. A section's own contradictions (min > max, a
bad CIDR plan) belong in that section's validators, not here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

Problem = tuple[tuple, str]


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


def _pipeline_deploys_containers(env: EnvConfig) -> list[Problem]:
    """The pipeline pushes to the containers layer's repository and deploys its
    service; blue/green shifts the web layer's listener rules between two
    target groups."""
    pipeline, containers = env.pipeline, env.containers
    if not pipeline.enabled:
        return []
    if not containers.enabled:
        return [(("pipeline", "enabled"), "needs containers.enabled: true: the pipeline pushes its images to the "
                 "containers layer's ECR repository and deploys them on that layer's ECS service")]
    problems = []
    if containers.image is not None:
        problems.append((("containers", "image"), "must be empty while pipeline.enabled is true: the pipeline deploys "
                         "the images it pushes to the containers layer's own repository"))
    if pipeline.deployment == "blue_green":
        if not env.web.enabled:
            problems.append((("pipeline", "deployment"), "blue_green needs web.enabled: true (ECS shifts the load "
                             "balancer's listener rules between two target groups); or use deployment: rolling"))
        if containers.scaling.enabled and containers.scaling.metric == "request_count":
            problems.append((("containers", "scaling", "metric"), "request_count is measured on one target group, but "
                             "with pipeline.deployment: blue_green the traffic moves between two: scale on cpu"))
    return problems


def _catalog_products_are_enabled_layers(env: EnvConfig) -> list[Problem]:
    """A product is a layer's template: the layer must exist and be built in this environment."""
    from templates import LAYER_NAMES

    if not env.catalog.enabled:
        return []
    problems = []
    for name in env.catalog.products:
        if name not in LAYER_NAMES:
            problems.append((("catalog", "products", name), f"unknown layer (layers: {', '.join(LAYER_NAMES)})"))
        elif not env.section(name).enabled:
            problems.append((("catalog", "products", name),
                             f"the {name} layer is not enabled in this environment ({name}.enabled: true builds it)"))
    return problems


def _catalog_products_are_domain_free(env: EnvConfig) -> list[Problem]:
    """Alias records name this environment's domain: a team launching the
    product in its own account has no hosted zone for it, so the launch
    would fail. Publish such a layer from an environment without a domain."""
    from templates.dns import record_names

    if not env.catalog.enabled:
        return []
    targets = {"web": "alb", "static": "cloudfront"}
    return [
        (("catalog", "products", name),
         f"the {name} layer creates records under {env.dns.domain} ({', '.join(record_names(env, targets[name]))}), "
         "which a launching team's account does not own: publish it from an environment without the dns layer")
        for name in env.catalog.products if name in targets and record_names(env, targets[name])
    ]


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


def _health_needs_alarms(env: EnvConfig) -> list[Problem]:
    """The composite alarm combines the environment's alarms: it needs at least one."""
    from generator.cfn.alarms import in_region
    from templates.health import alarm_layers

    if env.health.enabled and not any(in_region(specs, env.region) for _, specs in alarm_layers(env)):
        return [(("health", "enabled"),
                 f"no enabled layer raises alarms in {env.region} for the composite alarm to combine "
                 "(each layer's alarms.enabled)")]
    return []


def _rollback_alarms_exist(env: EnvConfig) -> list[Problem]:
    """A rollback alarm named like this environment's own alarms
    (`<project>-<environment>-...`) must be one the build creates: a typo
    would otherwise only surface as a deploy that never rolls back."""
    from generator.cfn.alarms import alarm_name, in_region
    from templates.health import alarm_layers, health_alarm_name

    prefix = f"{env.project}-{env.environment}-"
    ours = {alarm_name(env.project, env.environment, layer.NAME, s.key)
            for layer, specs in alarm_layers(env) for s in in_region(specs, env.region)}
    if env.health.enabled:
        ours.add(health_alarm_name(env))
    unknown = [n for n in env.deploy.rollback_alarms if n.startswith(prefix) and n not in ours]
    if not unknown:
        return []
    hint = (f" (the composite alarm is {health_alarm_name(env)}, with health.enabled: true)"
            if health_alarm_name(env) not in ours else "")
    return [(("deploy", "rollback_alarms"), f"{', '.join(unknown)}: no alarm of this environment has that name{hint}")]


RULES: list[Callable[[EnvConfig], list[Problem]]] = [
    _wiring_needs_network, _bastion_needs_admin_cidr, _bastion_needs_compute, _app_tier_needs_security,
    _https_needs_certificate, _load_balancer_metrics_need_web, _shared_load_balancer, _ecr_pull_needs_repository,
    _endpoints_without_nat, _data_tier_fits_security, _cdn_api_origin_reachable, _connection_names_are_free,
    _static_write_needs_static, _pipeline_deploys_containers,
    _catalog_products_are_enabled_layers, _catalog_products_are_domain_free,
    _cloudfront_only_fits, _health_needs_alarms, _rollback_alarms_exist,
]


def check(env: EnvConfig) -> list[Problem]:
    return [problem for rule in RULES for problem in rule(env)]
