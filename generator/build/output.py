"""Rendering to bytes, CloudFormation's size limits, and the atomic write of `out/<env>/`.

The folder is built beside its final place and swapped in with renames, so a
failed or interrupted build never leaves a half-written `out/<env>/`: either
the old folder or the new one is there, whole.

Two builds of one environment at once (a developer and an editor's save
hook) take turns for the swap: `env_lock` holds an advisory lock
(`flock`) on `out/.cache/<env>.lock` around writing the folder and recording
what was written. A lock rather than a retry, because a retry cannot tell
"the other build moved the folder" from a real failure, and the kernel
drops an flock when its holder dies, so no stale lock is ever left to clean
up. Each build renders and lints on its own and only waits for the other's
swap, a few milliseconds. Standard library only: `strata build` checks
`--out` with it before any heavy import.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator.build.uptodate import file_lock

if TYPE_CHECKING:
    from troposphere import Template

MAX_TEMPLATE_BYTES = 1_000_000   # template in S3
INLINE_TEMPLATE_BYTES = 51_200    # TemplateBody sent inline
MAX_RESOURCES = 500
MAX_PARAMETERS = 200
MAX_OUTPUTS = 200
MAX_TAGS = 50                     # per resource, keys starting with aws: not counted


@dataclass(frozen=True)
class RenderedTemplate:
    file: str
    text: str

    @property
    def data(self) -> bytes:
        return self.text.encode()

    @property
    def body(self) -> dict:
        return json.loads(self.text)


def render(file: str, template: Template) -> RenderedTemplate:
    """Deterministic JSON: sorted keys, two-space indent, trailing newline."""
    return RenderedTemplate(file, template.to_json(indent=2, sort_keys=True) + "\n")


def check_limits(rendered: RenderedTemplate, inline: bool = True) -> tuple[list[str], list[str]]:
    """(errors, warnings) against CloudFormation's per-template quotas.
    `inline`: the template is sent in the request (Strata sends a companion
    in another region that way), so over INLINE_TEMPLATE_BYTES is a warning;
    templates read from S3 (nested stacks, the root, the console's upload)
    take up to MAX_TEMPLATE_BYTES."""
    body, size = rendered.body, len(rendered.data)
    counts = {k: len(body.get(k, {})) for k in ("Resources", "Parameters", "Outputs")}
    errors = [
        f"{rendered.file}: {what} ({value}) exceeds CloudFormation's limit of {limit}"
        for what, value, limit in (
            ("size in bytes", size, MAX_TEMPLATE_BYTES),
            ("resources", counts["Resources"], MAX_RESOURCES),
            ("parameters", counts["Parameters"], MAX_PARAMETERS),
            ("outputs", counts["Outputs"], MAX_OUTPUTS),
        )
        if value > limit
    ]
    for name, resource in body.get("Resources", {}).items():
        tags = (resource.get("Properties") or {}).get("Tags")
        keys = [t.get("Key") for t in tags if isinstance(t, dict)] if isinstance(tags, list) else list(tags or {})
        counted = [k for k in keys if not str(k).startswith("aws:")]  # AWS's own tags do not count
        if len(counted) > MAX_TAGS:
            errors.append(f"{rendered.file}: {name} would carry {len(counted)} tags, over AWS's limit of {MAX_TAGS} "
                          "per resource")
    warnings = []
    if inline and size > INLINE_TEMPLATE_BYTES:
        warnings.append(
            f"{rendered.file}: {size} bytes is over {INLINE_TEMPLATE_BYTES}, so it cannot be sent inline; "
            "deploy it from S3 (strata package does)"
        )
    return errors, warnings


def _entry(file: str, data: bytes) -> dict:
    return {"file": file, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def manifest(environment: str, templates: list[RenderedTemplate], artifacts: dict[str, bytes]) -> dict:
    """What was built: each template's sha256, size and counts; each artifact's sha256 and size."""
    entries = []
    for rendered in templates:
        body = rendered.body
        entries.append({
            **_entry(rendered.file, rendered.data),
            "resources": len(body.get("Resources", {})),
            "parameters": len(body.get("Parameters", {})),
            "outputs": len(body.get("Outputs", {})),
        })
    return {
        "environment": environment,
        "templates": entries,
        "artifacts": [_entry(key, data) for key, data in sorted(artifacts.items())],
    }


def write_env(out_root: Path, environment: str, files: dict[str, bytes]) -> Path:
    """Write `files` (relative path -> bytes) as `out_root/environment/`,
    replacing the previous folder only once every file is on disk."""
    out_root.mkdir(parents=True, exist_ok=True)
    final = out_root / environment
    staging = Path(tempfile.mkdtemp(prefix=f".{environment}.new-", dir=out_root))
    staging.chmod(0o755)  # mkdtemp makes it private; out/ is meant to be read and uploaded
    try:
        for relative, data in sorted(files.items()):
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        retired = None
        if final.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{environment}.old-", dir=out_root))
            os.rename(final, retired / environment)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if retired:
        shutil.rmtree(retired, ignore_errors=True)
    return final


def env_lock(out_root: Path, environment: str) -> contextlib.AbstractContextManager:
    """Hold `out/.cache/<environment>.lock` exclusively (see the module docstring)."""
    return file_lock(out_root / ".cache" / f"{environment}.lock")


def out_root_problems(out_root: Path, environments: list[str]) -> list[str]:
    """Why `--out` cannot receive a build of `environments`, checked before
    anything is built or linted: it (or its `.cache`) is a file, or a folder
    the write changes (the nearest existing one on its path, `.cache`, each
    `<env>/` it replaces: moving a folder aside rewrites its `..`) cannot be written."""
    if out_root.exists() and not out_root.is_dir():
        return [f"--out {out_root}: is a file, not a folder"]
    if (out_root / ".cache").exists() and not (out_root / ".cache").is_dir():
        return [f"--out {out_root}: {out_root / '.cache'} is a file, not the folder Strata keeps its caches in"]
    existing = next((p for p in (out_root, *out_root.parents) if p.exists()), Path("."))
    if not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == out_root else f" {existing}, where it would be created,"
        return [f"--out {out_root}:{where} is not writable"]
    for path in (out_root / ".cache", *(out_root / name for name in environments)):
        if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
            return [f"--out {out_root}: {path} is not writable"]
    return []
