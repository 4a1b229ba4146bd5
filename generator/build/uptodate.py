"""Is `out/<env>/` already what a build would write? Answered before any heavy import.

A build is a pure function of its inputs: the parameter file, the catalog's
version history beside it (`catalog/<env>.versions.json`), Strata's own
sources (generator/, templates/, lambda_src/), the versions of the libraries
that render and lint (troposphere, awacs, pydantic, PyYAML, cfn-lint) and
Python's. When their fingerprint equals the one recorded by the last
successful build, and every file in `out/<env>/` still has the bytes that
build wrote, nothing would change: `strata build` says so and stops, without
paying for importing pydantic, troposphere and cfn-lint (most of a warm
build's time). Any doubt (a missing record, a changed or extra file) means
a full build. Standard library only, so it stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import sys
from pathlib import Path

from generator import catalog_history_file

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("generator", "templates", "lambda_src")
LIBRARIES = ("troposphere", "awacs", "pydantic", "pydantic-core", "PyYAML", "cfn-lint")


def _source_files() -> list[Path]:
    return sorted(
        p for folder in SOURCE_DIRS for p in (REPO / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def fingerprint(param_file: Path) -> str:
    """sha256 over everything a build of `param_file` reads."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("python", sys.version.encode())
    for name in LIBRARIES:
        add(name, importlib.metadata.version(name).encode())
    add("parameters", Path(param_file).read_bytes())
    history = catalog_history_file(param_file)
    add("catalog versions", history.read_bytes() if history.is_file() else b"")
    for path in _source_files():
        add(path.relative_to(REPO).as_posix(), path.read_bytes())
    return digest.hexdigest()


def _record_path(out_root: Path, environment: str) -> Path:
    return out_root / ".cache" / f"build-{environment}.json"


def _tree(env_dir: Path) -> dict[str, str]:
    return {
        p.relative_to(env_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(env_dir.rglob("*")) if p.is_file()
    }


def is_up_to_date(out_root: Path, environment: str, param_file: Path) -> bool:
    """True when the last successful build of `environment` had these exact
    inputs and `out/<environment>/` is exactly what it wrote."""
    record_path, env_dir = _record_path(out_root, environment), out_root / environment
    if not (record_path.is_file() and env_dir.is_dir() and Path(param_file).is_file()):
        return False
    try:
        record = json.loads(record_path.read_text())
    except ValueError:
        return False
    return record.get("fingerprint") == fingerprint(param_file) and record.get("files") == _tree(env_dir)


def record(out_root: Path, environment: str, param_file: Path) -> None:
    """Remember the inputs and the written files of a successful build."""
    path = _record_path(out_root, environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"fingerprint": fingerprint(param_file), "files": _tree(out_root / environment)}))
    os.replace(tmp, path)
