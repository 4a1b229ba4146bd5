"""storage layer: placeholder until issue 5 builds it."""

from __future__ import annotations

from troposphere import Template

from generator.sections import LayerSection

NAME = "storage"
DESCRIPTION = "Encrypted EFS file system with a mount target in each private subnet"


class Config(LayerSection):
    """Not built yet: enabling it is refused by the schema."""


def build(env) -> Template:  # pragma: no cover - replaced by issue 5
    raise NotImplementedError(f"the {NAME} layer is not built yet")
