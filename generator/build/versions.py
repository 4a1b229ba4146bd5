"""The catalog's version history: `catalog/<env>.versions.json`, committed.

CloudFormation gives a Service Catalog product exactly the versions its
template lists and forgets the rest, so the list has to live somewhere that
lasts: this file, reviewed in pull requests like the parameter file. Per
product, every version `strata publish` has published, oldest first:

    {
      "environment": "prod",
      "products": {
        "network": [
          {"name": "1.0.0", "sha256": "<sha256 of catalog/network.json>",
           "url": "https://<bucket>.s3.<region>.amazonaws.com/<prefix>catalog/network-<sha256>.json",
           "date": "2025-06-02"}
        ]
      }
    }

The build reads it (it is an input: editing it rebuilds) and lists every
kept version in the catalog template, plus, when a product's template has
changed since its latest version, the version the next publish would add
(named with the default patch bump), so `strata build` shows what `strata
publish` deploys. `strata publish` appends a version only when a product's
template bytes changed (`record`), then rebuilds. Names are semver; an
error in the file is reported like a parameter file's, with its line.
"""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from generator.build import source
from generator.build.config import ConfigError, format_error
from generator.cfn.sections import Section
from templates.catalog import SEMVER

Bump = Literal["patch", "minor", "major"]


class Version(Section):
    name: str = Field(pattern=SEMVER.pattern)
    """Version name shown to launching teams (semver)."""
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """sha256 of the product template's bytes (out/<env>/catalog/<layer>.json)."""
    url: str = Field(pattern=r"^https://\S+$")
    """The packaged, content-addressed URL of those bytes."""
    date: datetime.date
    """Day (UTC) it was published."""


class History(Section):
    environment: str
    products: dict[str, list[Version]] = {}


def parse(name: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in name.split("."))
    return major, minor, patch


def bump(name: str, part: Bump = "patch") -> str:
    major, minor, patch = parse(name)
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def next_name(published: list[Version], first: str, part: Bump = "patch") -> str:
    """The name of a product's next version: `first` (the product's `version`
    setting) for its first one, else the latest bumped by `part`, or `first`
    when that is higher (a deliberate jump)."""
    if not published:
        return first
    return max(bump(published[-1].name, part), first, key=parse)


def _line_errors(path: Path, lines: dict, problems: list[tuple[tuple, str]]) -> ConfigError:
    return ConfigError([format_error(path, lines, loc, message) for loc, message in problems])


def load(path: Path | str, environment: str) -> History:
    """The history at `path` (none yet: an empty one). Raises ConfigError
    naming `path:line field` for a malformed file, an unknown key, a bad
    version name, a name listed twice or out of order."""
    path = Path(path)
    if not path.is_file():
        return History(environment=environment)
    try:
        text = source.decode(source.read_bytes(path))
        json.loads(text)  # JSON is YAML; the reader below gives the lines and its caps
        data, lines, _ = source.parse(text)
    except source.SourceError as exc:
        raise ConfigError([f"{path}{f':{exc.line}' if exc.line else ''}: {exc.message}"]) from None
    except ValueError as exc:
        raise ConfigError([f"{path}: not valid JSON: {exc}"]) from None
    try:
        history = History.model_validate(data)
    except ValidationError as exc:
        raise _line_errors(path, lines, [(tuple(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors()]) from None
    problems = []
    if history.environment != environment:
        problems.append((("environment",), f"is {history.environment}; this history belongs to {environment}"))
    for layer, published in history.products.items():
        seen: dict[str, int] = {}
        for index, version in enumerate(published):
            where = ("products", layer, index, "name")
            if version.name in seen:
                problems.append((where, f"duplicate version name {version.name} (also products.{layer}[{seen[version.name]}])"))
            elif index and parse(version.name) <= parse(published[index - 1].name):
                problems.append((where, f"{version.name} comes after {published[index - 1].name}: versions are listed "
                                        "oldest first, each name higher than the one before"))
            seen.setdefault(version.name, index)
    if problems:
        raise _line_errors(path, lines, problems)
    return history


def save(path: Path | str, history: History) -> None:
    """Write the history deterministically (sorted products, versions in order), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = history.model_dump(mode="json")
    data["products"] = {layer: data["products"][layer] for layer in sorted(data["products"])}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


@dataclass(frozen=True)
class Listed:
    """A version the catalog template lists: published, or the one the next publish adds."""

    name: str
    sha256: str
    published: bool


def listing(history: History, layer: str, sha256: str, first: str, removed: list[str] = ()) -> list[Listed]:  # type: ignore[assignment]
    """The versions of `layer`'s product the catalog lists, oldest first: every
    published one not in `removed`, then, when the template (`sha256`) differs
    from the latest published bytes, the version the next publish would add."""
    published = history.products.get(layer, [])
    listed = [Listed(v.name, v.sha256, True) for v in published if v.name not in removed]
    if not published or published[-1].sha256 != sha256:
        listed.append(Listed(next_name(published, first), sha256, False))
    return listed


def record(history: History, layer: str, sha256: str, url: str, date: datetime.date, first: str,
           part: Bump = "patch") -> tuple[History, Version | None]:
    """Append a version of `layer` when `sha256` differs from its latest
    published bytes; unchanged bytes add nothing. Returns the new history and
    the version added (or None)."""
    published = history.products.get(layer, [])
    if published and published[-1].sha256 == sha256:
        return history, None
    version = Version(name=next_name(published, first, part), sha256=sha256, url=url, date=date)
    products = {**history.products, layer: [*published, version]}
    return history.model_copy(update={"products": products}), version
