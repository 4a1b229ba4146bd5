"""Load `parameters/<env>.yaml` into a frozen, validated `EnvConfig`.

Errors name the file, the field path and the YAML line, one per line:
    parameters/dev.yaml:12 network.nat: must be one of per_az, single, none
Unknown keys are errors everywhere (a typo must not silently fall back to a
default). Rules spanning several layers are checked after the schema, in
`generator.build.constraints`, and reported the same way.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError, computed_field

from generator.build.deploy_section import DeployConfig
from generator.cfn.sections import Section
import templates.cache
import templates.catalog
import templates.compute
import templates.containers
import templates.database
import templates.dns
import templates.health
import templates.messaging
import templates.monitoring
import templates.network
import templates.pipeline
import templates.security
import templates.static
import templates.storage
import templates.web

NAME_PATTERN = r"^[a-z][a-z0-9-]{0,19}$"


class ConfigError(Exception):
    """Bad parameter file; `str()` is the message for the user, one line per problem."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


class EnvConfig(Section):
    """One environment: identity, tags and one section per layer."""

    project: str = Field(pattern=NAME_PATTERN, description="Short project name, used in physical names and the Project tag.")
    environment: str = Field(pattern=NAME_PATTERN, description="Environment name; must match the file name (dev.yaml -> dev).")
    region: str = Field(pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$", description="AWS region the stacks deploy to, e.g. eu-west-1.")
    tags: dict[str, str] = Field(default_factory=dict, description="Tags for every taggable resource (Project and Environment are added).")
    network: templates.network.Config = Field(default_factory=templates.network.Config)
    security: templates.security.Config = Field(default_factory=templates.security.Config)
    monitoring: templates.monitoring.Config = Field(default_factory=templates.monitoring.Config)
    dns: templates.dns.Config = Field(default_factory=templates.dns.Config)
    static: templates.static.Config = Field(default_factory=templates.static.Config)
    web: templates.web.Config = Field(default_factory=templates.web.Config)
    compute: templates.compute.Config = Field(default_factory=templates.compute.Config)
    containers: templates.containers.Config = Field(default_factory=templates.containers.Config)
    database: templates.database.Config = Field(default_factory=templates.database.Config)
    cache: templates.cache.Config = Field(default_factory=templates.cache.Config)
    messaging: templates.messaging.Config = Field(default_factory=templates.messaging.Config)
    storage: templates.storage.Config = Field(default_factory=templates.storage.Config)
    pipeline: templates.pipeline.Config = Field(default_factory=templates.pipeline.Config)
    health: templates.health.Config = Field(default_factory=templates.health.Config)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    catalog: templates.catalog.Config = Field(default_factory=templates.catalog.Config)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def all_tags(self) -> dict[str, str]:
        """The tags Strata applies: the file's `tags` plus Project and Environment."""
        return {**self.tags, "Project": self.project, "Environment": self.environment}

    def section(self, layer_name: str) -> Any:
        return getattr(self, layer_name)


def line_index(node: yaml.Node, path: tuple = ()) -> dict[tuple, int]:
    """Map every field path to its 1-based line in the YAML file."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            lines.update(line_index(value, child))
            lines[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(line_index(item, (*path, i)))
    return lines


def _line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = EnvConfig
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = field.annotation if field else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


def _message(error: dict) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "literal_error":
        return "must be one of " + re.sub(r"'|,? or ", lambda m: "" if m.group() == "'" else ", ", ctx["expected"])
    if kind == "extra_forbidden":
        allowed = _allowed_keys(tuple(error["loc"][:-1]))
        return "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if kind == "missing":
        return "required field is missing"
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message[:1].lower() + message[1:]


def format_error(path: Path | str, lines: dict[tuple, int], loc: tuple, message: str) -> str:
    """`file:line field.path: message`, the one format of every config error."""
    line = _line_of(lines, loc)
    where = f"{path}:{line}" if line else str(path)
    field = ".".join(str(p) for p in loc)
    return f"{where} {field}: {message}" if field else f"{where}: {message}"


def _read_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        siblings = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError([f"{path}: no such parameter file (available: {', '.join(siblings) or 'none'})"]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError([f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: must be a mapping of keys (project, environment, region, ...)"])
    return data, line_index(node) if node else {}


def problems_error(path: Path | str, problems: list[tuple[tuple, str]]) -> ConfigError:
    """A ConfigError for `(field path, message)` problems a later step found in
    the parameter file at `path` (the catalog's products against their built
    templates and version history), each with its line in the file."""
    _, lines = _read_yaml(Path(path))
    return ConfigError([format_error(path, lines, loc, message) for loc, message in problems])


def load_config(path: Path | str) -> EnvConfig:
    """Read, validate and cross-check one parameter file. Raises ConfigError
    listing every problem found; returns a frozen EnvConfig."""
    from generator.build import constraints

    path = Path(path)
    data, lines = _read_yaml(path)
    try:
        env = EnvConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError([format_error(path, lines, tuple(e["loc"]), _message(e)) for e in exc.errors()]) from None
    problems = []
    if env.environment != path.stem:
        problems.append((("environment",), f"must match the file name '{path.stem}'"))
    problems += constraints.check(env)
    if problems:
        raise ConfigError([format_error(path, lines, loc, message) for loc, message in problems])
    return env
