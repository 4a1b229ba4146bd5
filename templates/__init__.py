"""The layers, one module each, in the order a person draws the architecture.

Every module has `NAME`, `DESCRIPTION`, `Config` (its parameter-file section,
a `generator.cfn.sections.LayerSection`) and `build(env) -> Template`: a
standalone template whose inputs are Parameters and results are Outputs.
Compose wires them by name; this order only breaks ties.
"""

from __future__ import annotations

import importlib
from types import ModuleType

LAYER_NAMES = (
    "network", "security", "monitoring", "dns", "static", "web", "compute",
    "containers", "database", "cache", "messaging", "storage", "pipeline", "health",
)


def all_layers() -> list[ModuleType]:
    return [importlib.import_module(f"templates.{name}") for name in LAYER_NAMES]
