"""The README's parameter reference and its table of connection settings,
generated from the schema and from `generator/cfn/connections.py`.

Field docstrings in each layer's `Config` are the single source; `make docs`
rewrites the blocks between the markers in README.md, and a test fails when
the README is out of date.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel
from pydantic._internal._docs_extraction import extract_docstrings_from_cls
from pydantic_core import PydanticUndefined, to_jsonable_python

from generator.build.config import EnvConfig
from generator.cfn import connections
from templates import all_layers

START, END = "<!-- parameters:start -->", "<!-- parameters:end -->"
CONNECTIONS_START, CONNECTIONS_END = "<!-- connections:start -->", "<!-- connections:end -->"
README = Path(__file__).resolve().parents[2] / "README.md"


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    value = field.default_factory() if field.default_factory else field.default
    if isinstance(value, BaseModel):
        return ""
    return f"`{json.dumps(value, default=to_jsonable_python)}`"


def _is_section(field: Any) -> bool:
    return isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)


def _docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The docstrings under each field of `model` and its bases (pydantic's
    own extractor, used here rather than on every build: see sections.py)."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel:
            docs.update(extract_docstrings_from_cls(cls, use_inspect=True))
    return docs


def _rows(model: type[BaseModel], prefix: str, fields: dict[str, Any] | None = None) -> list[str]:
    rows = []
    docs = _docstrings(model)
    for name, field in (fields or model.model_fields).items():
        path = f"{prefix}{name}"
        if _is_section(field):
            rows += _rows(field.annotation, f"{path}.")
            continue
        args = [get_args(a)[0] if get_origin(a) is Annotated else a for a in get_args(field.annotation)]
        items = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        description = " ".join((field.description or docs.get(name, "")).split()).replace("|", "\\|")
        rows.append(f"| `{path}` | {_default(field)} | {description} |")
        for item in items:  # a list or mapping of sub-sections: document one item's fields
            rows += _rows(item, f"{path}[].")
    return rows


def _table(model: type[BaseModel], prefix: str, fields: dict[str, Any] | None = None) -> list[str]:
    return ["| field | default | what it does |", "|---|---|---|", *_rows(model, prefix, fields)]


def reference() -> str:
    """Markdown: top-level fields, then one table per layer."""
    top = {name: field for name, field in EnvConfig.model_fields.items() if not _is_section(field)}
    lines = ["### Top level", "", *_table(EnvConfig, "", top)]
    layers = all_layers()
    for layer in layers:
        lines += ["", f"### `{layer.NAME}`: {layer.DESCRIPTION}", "", *_table(layer.Config, f"{layer.NAME}.")]
    layer_names = {layer.NAME for layer in layers}
    for name, field in EnvConfig.model_fields.items():
        if _is_section(field) and name not in layer_names:
            summary = (field.annotation.__doc__ or "").strip().splitlines()[0]
            lines += ["", f"### `{name}`: {summary}", "", *_table(field.annotation, f"{name}.")]
    return "\n".join(lines) + "\n"


def _replace(text: str, start: str, end: str, body: str) -> str:
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise ValueError(f"README.md has no {start} ... {end} block")
    return pattern.sub(lambda _: f"{start}\n{body}{end}", text)


def updated_readme(text: str) -> str:
    text = _replace(text, START, END, reference())
    return _replace(text, CONNECTIONS_START, CONNECTIONS_END, connections.reference_table())


if __name__ == "__main__":
    README.write_text(updated_readme(README.read_text()))
    print("README.md parameter reference and connection settings regenerated", file=sys.stderr)
