"""The IAM actions CloudFormation needs to create, read, update and delete a
resource type: one place, with its source.

Source: the CloudFormation registry's resource schemas. Every registry type
declares, per handler, the exact IAM actions its handler calls
(`handlers.<create|read|update|delete>.permissions`; AWS publishes them
through `cloudformation:DescribeType` and the schema downloads). cfn-lint
ships these schemas per region (`cfnlint/data/schemas/providers/<region>.json`
maps a type to its schema file under `resources/`), and cfn-lint is already
pinned as the lint gate, so the list moves with the schemas the templates
are linted against and nobody keeps a hand list. The `list` handler is left
out: CloudFormation calls it for resource import and discovery, never for a
stack operation. A few schemas name actions IAM does not have (a handler's
internal call, an old spelling: `s3:PutObjectLockConfiguration`,
`managed-fleets:Get*`); they are dropped against IAM's own action list as
cfn-lint ships it (`AdditionalSpecs/Policies.json`, from the Service
Authorization Reference), since IAM could never grant them anyway.

The files are read directly (found without importing cfn-lint, whose import
costs a second), so building the catalog's launch role stays cheap.
"""

from __future__ import annotations

import importlib.util
import json
import re
from functools import lru_cache
from pathlib import Path

HANDLERS = ("create", "read", "update", "delete")
FALLBACK_REGION = "us-east-1"


class UnknownResourceType(ValueError):
    """A type the registry schemas do not know, or one that lists no handler permissions."""


def _schemas() -> Path:
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        raise UnknownResourceType("cfn-lint is not installed: its registry schemas are where the permissions come from")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "schemas"


@lru_cache(maxsize=None)
def _index(region: str) -> dict[str, str]:
    providers = _schemas() / "providers"
    path = providers / f"{region}.json"
    if not path.is_file():
        path = providers / f"{FALLBACK_REGION}.json"
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _iam_actions() -> dict[str, frozenset[str]]:
    """IAM service prefix -> its actions, lower case (IAM matches actions case-insensitively)."""
    services = json.loads((_schemas().parent / "AdditionalSpecs" / "Policies.json").read_text(encoding="utf-8"))
    return {prefix: frozenset(spec.get("Actions", {})) for prefix, spec in services.items()}


def iam_knows(action: str) -> bool:
    """True when IAM has `action` (a wildcard: when it matches at least one action)."""
    service, _, name = action.lower().partition(":")
    known = _iam_actions().get(service, frozenset())
    if "*" in name or "?" in name:
        pattern = re.compile("^" + re.escape(name).replace(r"\*", ".*").replace(r"\?", ".") + "$")
        return any(pattern.match(a) for a in known)
    return name in known


@lru_cache(maxsize=None)
def handler_permissions(resource_type: str, region: str = FALLBACK_REGION) -> tuple[str, ...]:
    """The sorted IAM actions CloudFormation's handlers call for `resource_type`
    when creating, reading, updating and deleting it (in `region`'s schema).
    Raises UnknownResourceType for a type without a registry schema (Custom::
    types) or without handler permissions."""
    schema_id = _index(region).get(resource_type)
    if schema_id is None:
        raise UnknownResourceType(f"{resource_type} has no CloudFormation registry schema in {region}")
    schema = json.loads((_schemas() / "resources" / f"{schema_id}.json").read_text(encoding="utf-8"))
    handlers = schema.get("handlers") or {}
    actions = {a for h in HANDLERS for a in (handlers.get(h) or {}).get("permissions", []) if iam_knows(a)}
    if not actions:
        raise UnknownResourceType(f"the registry schema of {resource_type} lists no handler permissions")
    return tuple(sorted(actions))


def permissions_for(resource_types: set[str] | list[str], region: str = FALLBACK_REGION) -> dict[str, tuple[str, ...]]:
    """resource type -> its handler permissions, for every type given."""
    return {t: handler_permissions(t, region) for t in sorted(set(resource_types))}
