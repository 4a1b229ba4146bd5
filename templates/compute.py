"""compute layer: placeholder until issue 4 builds it."""

from __future__ import annotations

from troposphere import Template

from generator.sections import LayerSection

NAME = "compute"
DESCRIPTION = "Launch template and Auto Scaling group in the private subnets, optional bastion"


class BastionConfig(LayerSection):
    """Optional SSH bastion in a public subnet (off by default: Session Manager is the way in)."""


class Config(LayerSection):
    """Not built yet."""

    bastion: BastionConfig = BastionConfig()


def build(env) -> Template:  # pragma: no cover - replaced by issue 4
    raise NotImplementedError(f"the {NAME} layer is not built yet")

