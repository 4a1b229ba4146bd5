"""static layer: placeholder until issue 3 builds it."""

from __future__ import annotations

from troposphere import Template

from generator.sections import LayerSection

NAME = "static"
DESCRIPTION = "Private S3 bucket behind CloudFront with cache invalidation on change"


class Config(LayerSection):
    """Not built yet: enabling it is refused by the schema."""


def build(env) -> Template:  # pragma: no cover - replaced by issue 3
    raise NotImplementedError(f"the {NAME} layer is not built yet")
