"""Rules of the layers that ship and watch the application: the pipeline,
the catalog, the health layer and the deploy's rollback alarms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator.build.constraints.base import Problem

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

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


RULES = [
    _pipeline_deploys_containers,
    _catalog_products_are_enabled_layers,
    _catalog_products_are_domain_free,
    _health_needs_alarms,
    _rollback_alarms_exist,
]
