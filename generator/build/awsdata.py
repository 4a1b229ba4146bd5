"""What cfn-lint knows about AWS, for checking a parameter file before any
template exists: the regions, their availability zones, the resource types
each region offers, and the EC2, Aurora and ElastiCache types per region.

Read from the data files of the installed cfn-lint (the lists its lint
rules use, refreshed with every cfn-lint release), without importing
cfn-lint: its import costs most of a second, which `strata build` pays once,
in the lint service, not while loading the file. The AZ table is Python in
`cfnlint/helpers.py`; it is read with `ast.literal_eval`, and when a later
cfn-lint moves it the AZ check is skipped ("where that is known") rather
than guessed.
"""

from __future__ import annotations

import ast
import importlib.util
import json
from functools import lru_cache
from pathlib import Path

_EXTENSIONS = "data/schemas/extensions"


@lru_cache(maxsize=None)
def _package() -> Path:
    spec = importlib.util.find_spec("cfnlint")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("cfn-lint is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


@lru_cache(maxsize=None)
def _json(relative: str) -> dict:
    return json.loads((_package() / relative).read_text(encoding="utf-8"))


def _schema_regions() -> set[str]:
    return {p.stem for p in (_package() / "data/schemas/providers").glob("*-*-*.json")}


@lru_cache(maxsize=None)
def regions() -> tuple[str, ...]:
    """Every region cfn-lint knows (it lints any of them), sorted."""
    return tuple(sorted(_schema_regions() | set(availability_zones())))


def closest(name: str, known, cutoff: float = 0.0) -> list[str]:
    """`known`, closest to `name` first (ties in name order), leaving out those under `cutoff`."""
    import difflib

    scored = sorted((-difflib.SequenceMatcher(None, name, k).ratio(), k) for k in known)
    return [k for score, k in scored if -score >= cutoff]


def unknown_region(region: str, option: str = "--region") -> str:
    """The message for a region cfn-lint does not know (`regions()`), closest
    names first; '' when it is known. One list for the parameter file, `strata
    lint` and the deploy side."""
    known = regions()
    if region in known:
        return ""
    close = closest(region, known, cutoff=0.6)[:3]
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"{option} {region}: not an AWS region{hint}; known regions: {', '.join(known)}"


@lru_cache(maxsize=None)
def resource_types(region: str) -> frozenset[str] | None:
    """The CloudFormation resource types `region` offers, or None when
    cfn-lint has no list for it (it then lints with us-east-1's schemas)."""
    if region not in _schema_regions():
        return None
    return frozenset(_json(f"data/schemas/providers/{region}.json"))


@lru_cache(maxsize=None)
def availability_zones() -> dict[str, int]:
    """Region -> number of AZs, where cfn-lint records them ({} if it stopped doing so)."""
    try:
        tree = ast.parse((_package() / "helpers.py").read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "AVAILABILITY_ZONES" for t in node.targets):
                return {region: len(zones) for region, zones in ast.literal_eval(node.value).items()}
    except (OSError, SyntaxError, ValueError):
        pass
    return {}


def instance_types(region: str) -> frozenset[str]:
    """EC2 instance types offered in `region` (empty when cfn-lint has no list for it: the isolated regions)."""
    return frozenset(_json(f"{_EXTENSIONS}/aws_ec2_instance/instancetype_enum.json").get(region, {}).get("enum", ()))


def cache_node_types(region: str) -> frozenset[str]:
    """ElastiCache node types offered in `region`."""
    return frozenset(_json(f"{_EXTENSIONS}/aws_elasticache_cachecluster/cachenodetype_enum.json").get(region, {}).get("enum", ()))


def db_instance_classes(region: str, engine: str) -> frozenset[str]:
    """RDS instance classes `engine` (e.g. aurora-postgresql) runs on in `region`."""
    rules = _json(f"{_EXTENSIONS}/aws_rds_dbinstance/dbinstanceclass_enum.json").get(region, {}).get("allOf", ())
    return frozenset(
        name for rule in rules
        if rule.get("if", {}).get("properties", {}).get("Engine", {}).get("const") == engine
        for name in rule.get("then", {}).get("properties", {}).get("DBInstanceClass", {}).get("enum", ())
    )
