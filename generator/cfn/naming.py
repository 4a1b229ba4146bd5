"""Logical IDs and physical names, derived from config names in one place.

CloudFormation replaces a resource whose logical ID changes, so IDs must be a
pure function of stable names: never of list positions that a reordering of
the parameter file could shift, never of anything random.
"""

from __future__ import annotations

import hashlib
import re

_WORD = re.compile(r"[A-Za-z0-9]+")


MAX_LOGICAL_ID = 255  # CloudFormation's limit


def logical_id(*parts: object) -> str:
    """CamelCase alphanumeric ID from name parts: ("private", "subnet", 1) -> "PrivateSubnet1",
    ("ecr.api", "endpoint") -> "EcrApiEndpoint". CloudFormation allows only [A-Za-z0-9], at most
    255 of them: a longer ID (names from a parameter file can be long) keeps its first 247
    characters and ends in 8 hex digits of its sha256, so it stays stable and unique."""
    words = [w for part in parts for w in _WORD.findall(str(part))]
    if not words:
        raise ValueError(f"no alphanumeric characters in logical id parts {parts!r}")
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if len(name) > MAX_LOGICAL_ID:
        name = name[:MAX_LOGICAL_ID - 8] + hashlib.sha256(name.encode()).hexdigest()[:8]
    return name


def physical_name(project: str, environment: str, *parts: str, max_length: int = 63) -> str:
    """Lower-case, hyphen-joined name `<project>-<environment>-<parts>` for the
    few resources that need an explicit name (log groups, roles that humans
    look up). Truncated to `max_length` (63 fits S3, ALB target groups take 32)."""
    words = [w.lower() for p in (project, environment, *parts) for w in _WORD.findall(p)]
    return "-".join(words)[:max_length].rstrip("-")


def ssm_path(project: str, environment: str, *parts: str) -> str:
    """Parameter Store name `/<project>/<environment>/<parts...>`: where a layer
    publishes a value for others to read by name (the catalog's launch forms,
    the application's connection settings). Parts keep their case (an output
    name such as `VpcId` stays readable); only characters SSM refuses are dropped."""
    words = [re.sub(r"[^A-Za-z0-9_.\-]", "", str(p)) for p in (project, environment, *parts)]
    return "/" + "/".join(w for w in words if w)
