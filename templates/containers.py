"""containers layer: placeholder until issue 4 builds it."""

from __future__ import annotations

from troposphere import Template

from generator.sections import LayerSection

NAME = "containers"
DESCRIPTION = "ECR repository and ECS Fargate service behind the load balancer"


class Config(LayerSection):
    """Not built yet: enabling it is refused by the schema."""


def build(env) -> Template:  # pragma: no cover - replaced by issue 4
    raise NotImplementedError(f"the {NAME} layer is not built yet")
