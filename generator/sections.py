"""Base classes for the parameter schema.

Every layer module in `templates/` declares its section as a subclass of
`LayerSection`. The rules that make a parameter file strict live here once:
unknown keys are errors (`extra="forbid"`) and a loaded config cannot be
mutated (`frozen=True`), so no step downstream can quietly change an input.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Section(BaseModel):
    """A strict, immutable block of a parameter file."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class LayerSection(Section):
    """A layer's section. An absent section or `enabled: false` means the
    layer is neither built nor placed in the root stack."""

    enabled: bool = Field(default=False, description="Build this layer and nest it in the root stack.")
