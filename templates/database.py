"""database layer: placeholder until issue 5 builds it."""

from __future__ import annotations

from troposphere import Template

from generator.sections import LayerSection

NAME = "database"
DESCRIPTION = "Aurora cluster with its credentials in Secrets Manager"


class Config(LayerSection):
    """Not built yet: enabling it is refused by the schema."""


def build(env) -> Template:  # pragma: no cover - replaced by issue 5
    raise NotImplementedError(f"the {NAME} layer is not built yet")
