"""Load `parameters/<env>.yaml` into a frozen, validated `EnvConfig`.

Errors name the file, the field path and the YAML line, one per line:
    parameters/dev.yaml:12 network.nat: must be one of per_az, single, none
Unknown keys are errors everywhere (a typo must not silently fall back to a
default). Rules spanning several layers are checked after the schema, in
`generator.build.constraints`, and reported the same way. Whatever a file
holds, loading it ends in an EnvConfig or a ConfigError: reading and parsing
are `generator.build.source`'s (paths, encodings, hostile YAML), the values
are the schema's (`generator.cfn.sections` holds the rules every field
shares), and YAML's traps get a hint (`16.8`, `no` or a date where a string
is expected: quote it).

Settings a file makes that nothing is built from (a section whose layer is
off) are not errors: the build prints them as warnings, in the same format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, computed_field, field_validator

from generator.build import awsdata, source as yaml_source
from generator.build.cost_section import CostConfig
from generator.build.deploy_section import DeployConfig
from generator.cfn.sections import Section, Tags
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
# More problems than this in one file are summarised: the first ones show what is wrong.
MAX_MESSAGES = 25
# A message line longer than this is cut (a validator quoting a 100 KB value must not flood the terminal).
MAX_MESSAGE_CHARS = 1000


class ConfigError(Exception):
    """Bad parameter file; `str()` is the message for the user, one line per problem."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


class EnvConfig(Section):
    """One environment: identity, tags and one section per layer."""

    project: str = Field(pattern=NAME_PATTERN, description="Short project name, used in physical names and the Project tag.")
    environment: str = Field(pattern=NAME_PATTERN, description="Environment name; must match the file name (dev.yaml -> dev).")
    region: str = Field(description="AWS region the stacks deploy to, e.g. eu-west-1 (one of the regions cfn-lint knows).")
    tags: Tags = Field(default_factory=dict, description=(
        "Tags for every taggable resource (Project and Environment are added): keys 1-127 and values 1-255 "
        "letters, digits, spaces and _ . : / = + - @, no aws: prefix, at most 47."))
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
    cost: CostConfig = Field(default_factory=CostConfig)

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        if region not in awsdata.regions():
            raise ValueError(f"'{region}' is not an AWS region (known: {', '.join(awsdata.regions())})")
        return region

    @computed_field  # type: ignore[prop-decorator]
    @property
    def all_tags(self) -> dict[str, str]:
        """The tags Strata applies: the file's `tags` plus Project and Environment."""
        return {**self.tags, "Project": self.project, "Environment": self.environment}

    def section(self, layer_name: str) -> Any:
        return getattr(self, layer_name)


@dataclass(frozen=True)
class Loaded:
    """A parameter file that passed: the config, the bytes it was read from
    (what the build fingerprints, so a file saved again meanwhile is not
    mistaken for the one built) and the warnings to print."""

    env: EnvConfig
    raw: bytes
    lines: dict[tuple, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


# --- Messages ---------------------------------------------------------------

def _clean(text: str, limit: int) -> str:
    """Printable and bounded: a key or value quoted in a message may hold anything."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def _line_of(lines: dict[tuple, int], loc: tuple) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def format_error(path: Path | str, lines: dict[tuple, int], loc: tuple, message: str) -> str:
    """`file:line field.path: message`, the one format of every config error."""
    line = _line_of(lines, loc)
    where = f"{path}:{line}" if line else str(path)
    field_path = ".".join(_clean(str(p), 64) for p in loc)
    return _clean(f"{where} {field_path}: {message}" if field_path else f"{where}: {message}", MAX_MESSAGE_CHARS)


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = EnvConfig
    for part in loc:
        info = model.model_fields.get(part) if isinstance(part, str) else None
        annotation = info.annotation if info else None
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return list(model.model_fields)


_KIND_MESSAGES = {
    "model_type": "must be a mapping of settings", "dict_type": "must be a mapping",
    "list_type": "must be a list", "string_type": "must be a string", "bool_type": "must be true or false",
    "bool_parsing": "must be true or false", "int_type": "must be a whole number",
    "int_parsing": "must be a whole number", "int_from_float": "must be a whole number",
    "float_type": "must be a number", "float_parsing": "must be a number",
    "finite_number": "must be a finite number (.inf and .nan are not settings)",
}


def _message(error: dict) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    if kind == "literal_error":
        return "must be one of " + re.sub(r"'|,? or ", lambda m: "" if m.group() == "'" else ", ", ctx["expected"])
    if kind == "extra_forbidden":
        allowed = _allowed_keys(tuple(error["loc"][:-1]))
        return "unknown key" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if kind == "missing":
        return "required field is missing"
    if kind in _KIND_MESSAGES:
        return _KIND_MESSAGES[kind]
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return message[:1].lower() + message[1:]


def _data_loc(data: Any, loc: tuple) -> tuple[tuple, bool]:
    """The error's path in the file's terms, and whether it is about a key:
    pydantic adds parts that are not in the file (`[key]`, the member type of
    a union), which are dropped."""
    path: list = []
    current, is_key = data, False
    for part in loc:
        if part == "[key]":
            is_key = True
        elif isinstance(current, dict):
            path.append(part)
            current = current.get(part)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            path.append(part)
            current = current[part]
    return tuple(path), is_key


def _hint(scalar: yaml_source.Scalar | None, error: dict) -> str:
    """Unquoted YAML that became a number, a boolean, null or a date where
    text was expected, when quoting it would give that text (a string, or
    one of the choices of a literal)."""
    if scalar is None or not scalar.plain or scalar.tag not in yaml_source.READ_AS:
        return ""
    choices = re.findall(r"'([^']*)'", error.get("ctx", {}).get("expected", ""))
    if not (error["type"] == "string_type" or (error["type"] == "literal_error" and scalar.text in choices)):
        return ""
    what = yaml_source.READ_AS[scalar.tag]
    if what == "true/false":
        what = "true" if scalar.text.lower() in ("yes", "true", "on", "y") else "false"
    if not scalar.text:
        return "; an empty value is null in YAML: give the value, or remove the key"
    return f"; YAML reads {scalar.text} unquoted as {what}: quote it (\"{scalar.text}\")"


def _schema_messages(path: Path, source: yaml_source.Source, exc: ValidationError) -> list[str]:
    messages: list[str] = []
    for error in exc.errors():
        loc, is_key = _data_loc(source.data, tuple(error["loc"]))
        scalar = source.scalars.get((*loc, "[key]") if is_key else loc)
        # A validator's own message says what it checked; pydantic's type messages need "key" said.
        text = ("key " if is_key and error["type"] not in ("value_error", "strata_value") else "") + _message(error)
        message = format_error(path, source.lines, loc, text + _hint(scalar, error))
        if message not in messages:
            messages.append(message)
    return messages


def _summarised(messages: list[str]) -> list[str]:
    if len(messages) <= MAX_MESSAGES:
        return messages
    return [*messages[:MAX_MESSAGES], f"... and {len(messages) - MAX_MESSAGES} more problems"]


# --- Loading ----------------------------------------------------------------

def load(path: Path | str) -> Loaded:
    """Read, validate and cross-check one parameter file. Raises ConfigError
    listing every problem found (at most MAX_MESSAGES of them)."""
    from generator.build import constraints

    path = Path(path)
    try:
        source = yaml_source.load(path)
    except yaml_source.SourceError as exc:
        raise ConfigError([format_error(path, {(): exc.line} if exc.line else {}, (), exc.message)]) from None
    if not isinstance(source.data, dict):
        found = "a list" if isinstance(source.data, list) else f"the single value {source.data!r}"
        raise ConfigError([format_error(path, source.lines, (), (
            f"must be a mapping of keys (project, environment, region, ...), not {found}"))])
    try:
        env = EnvConfig.model_validate(source.data)
    except ValidationError as exc:
        raise ConfigError(_summarised(_schema_messages(path, source, exc))) from None
    problems = []
    if env.environment != path.stem:
        problems.append((("environment",), f"must match the file name '{path.stem}'"))
    problems += constraints.check(env)
    if problems:
        raise ConfigError(_summarised([format_error(path, source.lines, loc, message) for loc, message in problems]))
    warnings = [format_error(path, source.lines, loc, message) for loc, message in constraints.ignored(env)]
    return Loaded(env, source.raw, source.lines, warnings)


def load_config(path: Path | str) -> EnvConfig:
    """`load(path).env`: the validated, frozen config."""
    return load(path).env
