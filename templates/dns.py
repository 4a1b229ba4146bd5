"""dns layer: placeholder until issue 3 builds it."""

from __future__ import annotations

from troposphere import Template

from generator.sections import LayerSection

NAME = "dns"
DESCRIPTION = "Route 53 hosted zone, ACM certificates and alias records"


class Config(LayerSection):
    """Not built yet: enabling it is refused by the schema."""


def build(env) -> Template:  # pragma: no cover - replaced by issue 3
    raise NotImplementedError(f"the {NAME} layer is not built yet")
