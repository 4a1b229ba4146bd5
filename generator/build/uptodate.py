"""Is `out/<env>/` already what a build would write? Answered before any heavy import.

A build is a pure function of its inputs: the parameter file, Strata's own
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

import contextlib
import hashlib
import importlib.metadata
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Iterator

from generator import catalog_history_file

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("generator", "templates", "lambda_src")
LIBRARIES = ("troposphere", "awacs", "pydantic", "pydantic-core", "PyYAML", "cfn-lint", "cfn-guard-rs", "graphviz-pure")


def _source_files() -> list[Path]:
    return sorted(
        p for folder in SOURCE_DIRS for p in (REPO / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )


def fingerprint(param_file: Path, param_bytes: bytes | None = None) -> str:
    """sha256 over everything a build of `param_file` reads: its bytes
    (`param_bytes`, as a build read them, else read now), the catalog's
    version history beside it, Strata's sources, the libraries' and Python's
    versions."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    add("python", sys.version.encode())
    for name in LIBRARIES:
        try:
            add(name, importlib.metadata.version(name).encode())
        except importlib.metadata.PackageNotFoundError:
            add(name, b"absent")
    add("parameters", param_bytes if param_bytes is not None else Path(param_file).read_bytes())
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
    inputs and `out/<environment>/` is exactly what it wrote. Read without
    the build lock: a folder another build is swapping at that moment gives
    an OSError or a tree that matches no record, and either means "build"."""
    record_path, env_dir = _record_path(out_root, environment), out_root / environment
    try:
        if not (record_path.is_file() and env_dir.is_dir() and Path(param_file).is_file()):
            return False
        record = json.loads(record_path.read_text())
        return record.get("fingerprint") == fingerprint(param_file) and record.get("files") == _tree(env_dir)
    except (OSError, ValueError):
        return False


def record(out_root: Path, environment: str, param_file: Path, files: dict[str, bytes], param_bytes: bytes) -> None:
    """Remember the inputs and the written files of a successful build: the
    parameter file's bytes as the build read them and the files as this
    process wrote them (never re-read: the file may have been saved again,
    or another build may have swapped the folder, in the meantime). The
    caller holds the environment's build lock; the temporary file still has
    a unique name, so nothing else writing to out/.cache can collide with it."""
    path = _record_path(out_root, environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({
        "fingerprint": fingerprint(param_file, param_bytes),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    })
    replace_atomically(path, text)


def replace_atomically(path: Path, text: str) -> None:
    """Write `text` to a uniquely named file beside `path`, then rename it over `path`."""
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock (`flock`) on `path` (created if
    missing). The kernel releases it when its holder exits, however it
    exits, so no stale lock is ever left. Where `fcntl` does not exist
    (Windows) nothing is locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - POSIX only
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
