"""Regenerate tests/golden/<env>/ from every shipped parameter file: `make golden`.

Golden files are the reviewed output of the real parameter files; a change
to a template shows up as a diff of these files in review. Lambda zips are
left out (binary); the manifest carries their sha256.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from generator.build.pipeline import build_envs
from generator import env_files

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "golden"


def golden_files(env_dir: Path) -> dict[str, bytes]:
    """The files of a built environment that golden copies keep (all but the zips)."""
    return {
        p.relative_to(env_dir).as_posix(): p.read_bytes()
        for p in sorted(env_dir.rglob("*")) if p.is_file() and p.suffix != ".zip"
    }


def regenerate() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        builds = build_envs(env_files(REPO / "parameters"), Path(tmp), use_cache=False)
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for b in builds:
            name = b.env.environment
            for relative, data in golden_files(Path(tmp) / name).items():
                target = GOLDEN / name / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        return [b.env.environment for b in builds]


if __name__ == "__main__":
    print(f"golden files regenerated for: {', '.join(regenerate())}", file=sys.stderr)
