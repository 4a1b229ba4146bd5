"""Base classes and shared value types for the parameter schema.

Every layer module in `templates/` declares its section as a subclass of
`LayerSection`, each field documented by a docstring under it. The rules
that make a parameter file strict live here once, so they hold for every
field of every section, including fields added later:
- unknown keys are errors (`extra="forbid"`) and a loaded config cannot be
  mutated (`frozen=True`), so no step downstream can quietly change an input;
- numbers are finite (`.inf` and `.nan` would render as JSON that no
  parser reads) and integers fit CloudFormation's 32-bit integers unless a
  field declares a larger bound itself;
- every string (values, list items, mapping keys) is one line of printable
  text from the Basic Multilingual Plane, at most PLAIN_MAX_LENGTH long:
  no control, format or surrogate characters, no emoji. AWS names,
  identifiers, paths and patterns accept nothing else, and one bad
  character otherwise surfaces as dozens of cfn-lint findings deep in the
  templates. A field holding free text says so with `Text(...)`.

Types for the values AWS constrains everywhere: `Tags` (keys, values,
count, the `aws:` prefix and the keys Strata sets itself), `Name`,
`Description`, `EndpointService`.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar, get_args, get_origin

import annotated_types
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

PLAIN_MAX_LENGTH = 2048  # an ARN's maximum, the longest value a plain field holds
INT32_MAX = 2**31 - 1
# Unicode categories refused in every string: controls, invisible format
# characters (zero-width, bidirectional overrides), lone surrogates, line
# and paragraph separators.
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_MULTILINE_OK = {"\n", "\t", "\r"}


@dataclass(frozen=True)
class Text:
    """Field metadata: how the strings of a field may look. The default for
    every field is `Text()`: one printable BMP line of at most
    PLAIN_MAX_LENGTH characters. `multiline` admits newlines and tabs (a
    script); `any_plane` admits characters beyond the BMP (emoji), for free
    text only AWS reads back verbatim."""

    max_length: int = PLAIN_MAX_LENGTH
    multiline: bool = False
    any_plane: bool = False

    def problem(self, text: str) -> str | None:
        if len(text) > self.max_length:
            return f"is {len(text)} characters long; at most {self.max_length}"
        for index, char in enumerate(text):
            if char in _MULTILINE_OK and self.multiline:
                continue
            if unicodedata.category(char) in _REFUSED_CATEGORIES:
                return (f"contains {_describe(char)} at position {index + 1}; only printable characters "
                        "are allowed" + ("" if self.multiline else " on one line"))
            if ord(char) > 0xFFFF and not self.any_plane:
                return (f"contains {_describe(char)} at position {index + 1}, outside the Basic Multilingual "
                        "Plane (emoji and the like); AWS names and identifiers do not accept it")
        return None


PLAIN = Text()


def _describe(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"U+{ord(char):04X}" + (f" ({name.lower()})" if name else "")


def _strings(value: Any, loc: tuple) -> list[tuple[tuple, str, bool]]:
    """(loc, text, is_key) for every string inside a field value, nested
    sections excepted (they check their own fields)."""
    if isinstance(value, str):
        return [(loc, value, False)]
    found: list[tuple[tuple, str, bool]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                found.append(((*loc, key), key, True))
            found += _strings(item, (*loc, key))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found += _strings(item, (*loc, index))
    return found


def _ints(value: Any, loc: tuple) -> list[tuple[tuple, int]]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [(loc, value)]
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, (list, tuple)) else ()
    return [found for key, item in items for found in _ints(item, (*loc, key))]


def _declares_large_bound(metadata: list) -> bool:
    """A field that sets its own upper bound above INT32_MAX (a POSIX uid) knows what it takes."""
    bounds = [m.le if isinstance(m, annotated_types.Le) else m.lt
              for m in metadata if isinstance(m, (annotated_types.Le, annotated_types.Lt))]
    return any(bound > INT32_MAX for bound in bounds)


M = TypeVar("M")


def markers(info: FieldInfo, kind: type[M]) -> list[M]:
    """The `kind` metadata of a field, also inside `X | None`, `list[X]` and `dict[K, X]`."""
    found = [m for m in info.metadata if isinstance(m, kind)]

    def walk(annotation: Any) -> None:
        args = get_args(annotation)
        if get_origin(annotation) is Annotated:
            found.extend(m for m in args[1:] if isinstance(m, kind))
            args = args[:1]
        for arg in args:
            walk(arg)

    walk(info.annotation)
    return found


class Section(BaseModel):
    """A strict, immutable block of a parameter file."""

    # Field docs are the docstrings under each field. They are read by the
    # docs generator only (generator/build/docs.py): pydantic's
    # use_attribute_docstrings would re-parse every section's source on each
    # `strata build`, a quarter of a warm build's time.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="wrap")
    @classmethod
    def _plain_values(cls, data: Any, handler: Any) -> Any:
        """The module docstring's string and integer rules, on every field,
        each problem reported at its own path (a mapping key, a list item)."""
        section = handler(data)
        problems: list[InitErrorDetails] = []
        for name, info in type(section).model_fields.items():
            value = getattr(section, name)
            rules = next(iter(markers(info, Text)), PLAIN)
            for loc, text, is_key in _strings(value, (name,)):
                message = (PLAIN if is_key else rules).problem(text)
                if message:
                    problems.append(_detail(loc, ("key " if is_key else "") + message, text))
            if not _declares_large_bound(info.metadata):
                problems += [
                    _detail(loc, f"{number} is beyond the integers CloudFormation takes (at most {INT32_MAX})", number)
                    for loc, number in _ints(value, (name,)) if abs(number) > INT32_MAX
                ]
        if problems:
            raise ValidationError.from_exception_data(cls.__name__, problems)
        return section


def _detail(loc: tuple, message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("strata_value", message), loc=loc, input=value)


class LayerSection(Section):
    """A layer's section. An absent section or `enabled: false` means the
    layer is neither built nor placed in the root stack."""

    enabled: bool = Field(default=False, description="Build this layer and nest it in the root stack.")


# CloudWatch Logs accepts only these retention periods (days).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)


def _known_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
    return days


LogRetentionDays = Annotated[int, AfterValidator(_known_retention)]
"""A log group's RetentionInDays: one of the values CloudWatch Logs accepts."""


def refuse_moved(data: object, moved: dict[str, str]) -> object:
    """For a section's `mode="before"` validator: a key that used to live
    here gets one message saying where it went, instead of "unknown key"."""
    if isinstance(data, dict):
        found = [f"{key} moved to {moved[key]}" for key in data if key in moved]
        if found:
            raise ValueError("; ".join(found))
    return data


def reject_repeats(values: list, what: str = "") -> list:
    """Refuse a list naming the same thing twice (two endpoints or schedules
    with one name would collide on one logical ID)."""
    repeated = sorted({str(v) for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{what + ' ' if what else ''}listed more than once: {', '.join(repeated)}")
    return values


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email_addresses(addresses: list[str]) -> list[str]:
    bad = [a for a in addresses if not _EMAIL.match(a)]
    if bad:
        raise ValueError(f"not an e-mail address: {', '.join(bad)}")
    return reject_repeats(addresses, "address")


EmailAddresses = Annotated[list[str], AfterValidator(_email_addresses)]
"""E-mail addresses for SNS subscriptions: each looks like an address and appears once."""


# --- Tags -------------------------------------------------------------------

MAX_TAGS_PER_RESOURCE = 50
# Keys Strata sets on resources itself: Project and Environment everywhere
# (from `project` and `environment`), Name on the resources that carry one.
STRATA_TAG_KEYS = ("Project", "Environment", "Name")
MAX_USER_TAGS = MAX_TAGS_PER_RESOURCE - len(STRATA_TAG_KEYS)
# AWS's general limits are 128 and 256 characters; ECR repositories (and VPC
# endpoints, by their documentation) take one less. Every taggable resource
# gets the file's tags, so the strictest limit is the one that holds.
TAG_KEY_MAX, TAG_VALUE_MAX = 127, 255
# The characters every AWS service accepts in tags (the pattern in
# CloudFormation's resource schemas): letters, numbers, spaces and _ . : / = + - @.
_TAG_CHARACTER = re.compile(r"[_.:/=+\-@ ]")


def _tag_text(text: str, what: str, max_length: int) -> str:
    if not 1 <= len(text) <= max_length:
        raise ValueError(f"a tag {what} is 1 to {max_length} characters; this one has {len(text)}")
    bad = sorted({c for c in text if not (_TAG_CHARACTER.match(c) or unicodedata.category(c)[0] in "LNZ")
                  or ord(c) > 0xFFFF or unicodedata.category(c) in _REFUSED_CATEGORIES})
    if bad:
        shown = ", ".join(repr(c) if c.isprintable() else _describe(c) for c in bad[:5])
        raise ValueError(f"a tag {what} may hold letters, digits, spaces and _ . : / = + - @ only, not {shown}")
    return text


def _tag_key(key: str) -> str:
    _tag_text(key, "key", TAG_KEY_MAX)
    if key.lower().startswith("aws:"):
        raise ValueError("tag keys starting with aws: are reserved for AWS")
    if key in STRATA_TAG_KEYS:
        raise ValueError("is a tag Strata sets itself "
                         f"({'from project and environment' if key != 'Name' else 'on the resources that have a name'}); "
                         "remove it")
    return key


def _tag_count(tags: dict[str, str]) -> dict[str, str]:
    if len(tags) > MAX_USER_TAGS:
        raise ValueError(f"{len(tags)} tags: AWS takes {MAX_TAGS_PER_RESOURCE} per resource and Strata sets "
                         f"{len(STRATA_TAG_KEYS)} ({', '.join(STRATA_TAG_KEYS)}), so at most {MAX_USER_TAGS}")
    return tags


TagKey = Annotated[str, AfterValidator(_tag_key)]
TagValue = Annotated[str, AfterValidator(lambda value: _tag_text(value, "value", TAG_VALUE_MAX))]
Tags = Annotated[dict[TagKey, TagValue], AfterValidator(_tag_count)]
"""Tags as a mapping: every key and value within AWS's limits (1-127 and
1-255 characters of the tag character set, no `aws:` prefix, none of the
keys Strata sets), at most MAX_USER_TAGS of them. An empty value is refused:
CloudFormation's own stack tags need 1 to 256 characters, and an empty
value in a YAML file is far more often an unfinished edit than a choice."""


# --- Names and text ---------------------------------------------------------

def _name_check(max_length: int) -> Any:
    def check(name: str) -> str:
        if not 1 <= len(name) <= max_length or not re.fullmatch(r"[a-z][a-z0-9-]*", name) or name.endswith("-") \
                or "--" in name:
            raise ValueError(f"must be 1 to {max_length} lower-case letters, digits and single hyphens, starting "
                             "with a letter and not ending with a hyphen")
        return name
    return AfterValidator(check)


def Name(max_length: int = 63) -> Any:  # noqa: N802 - used like a type: `name: Name(32)`
    """A name Strata turns into physical names and logical IDs: lower-case
    letters, digits and single hyphens, starting with a letter, at most
    `max_length` (63 fits S3 buckets and DNS labels; AWS names are mostly
    63 or 64 long at most, and Strata prefixes them with project and environment)."""
    return Annotated[str, _name_check(max_length)]


Description = Annotated[str, Text(max_length=1024)]
"""Free text AWS shows back (a resource's Description): one printable line,
at most 1024 characters (CloudFormation's limit for a template description)."""


def _endpoint_service(name: str) -> str:
    if len(name) > 64 or not re.fullmatch(r"[a-z0-9]+([.-][a-z0-9]+)*", name):
        raise ValueError(f"'{name[:64]}' is not a service name like ecr.api or logs (lower-case words joined by "
                         ". or -, at most 64 characters)")
    return name


EndpointService = Annotated[str, AfterValidator(_endpoint_service)]
"""The service part of a VPC endpoint name (`com.amazonaws.<region>.<service>`): e.g. ecr.api, logs."""


@dataclass(frozen=True)
class OfferedIn:
    """Field metadata: the value (or each item) must be on the list cfn-lint
    ships of what the environment's region offers: `ec2` instance types,
    `rds` instance classes (for the section's `engine`), `elasticache` node
    types. Checked with the region, in generator/build/constraints/region.py."""

    kind: str


Ec2InstanceType = Annotated[str, OfferedIn("ec2")]
DbInstanceClass = Annotated[str, OfferedIn("rds")]
CacheNodeType = Annotated[str, OfferedIn("elasticache")]


def _ipv4_cidr(cidr: str) -> str:
    try:
        ipaddress.IPv4Network(cidr, strict=True)
    except ValueError as exc:
        try:
            ipaddress.IPv6Network(cidr)
        except ValueError:
            raise ValueError(f"not a valid IPv4 network CIDR: {exc}") from None
        raise ValueError(f"{cidr} is an IPv6 CIDR; this field takes an IPv4 block like 10.0.0.0/16 "
                         "(Strata's VPC, subnets and security group rules are IPv4 only)") from None
    return cidr


Ipv4Cidr = Annotated[str, AfterValidator(_ipv4_cidr)]
"""An IPv4 network in CIDR notation with no host bits set (10.0.0.0/16, not 10.0.0.1/16)."""
