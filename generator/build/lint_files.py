"""What `strata lint PATH...` lints, and for which region.

A PATH may be a template file, a folder (every template in it and below,
hidden folders left out) or a glob (`'out/*/network.json'`, quoted so the
shell leaves it alone). Only CloudFormation templates are linted: JSON or
YAML files with a `Resources` mapping; `manifest.json`, Lambda zips and
other files are skipped (so `out/dev/*.json` lints the templates and leaves
the manifest); no template at all is an error.

Each template is linted for the region it deploys to: `--region` when
given; else the region its `Metadata.Strata.Region` names (a companion
pinned to us-east-1); else the region of the environment it was built for
(the `environment` in the `manifest.json` next to it, whose parameter file
`<params-dir>/<environment>.yaml` says `region:`); else us-east-1.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

DEFAULT_REGION = "us-east-1"
TEMPLATE_SUFFIXES = (".json", ".yaml", ".yml", ".template")
SKIPPED_NAMES = frozenset({"manifest.json"})


class LintPathError(Exception):
    """A PATH that names nothing to lint; `str()` says what to do."""


@dataclass(frozen=True)
class LintTarget:
    path: Path
    text: str
    region: str
    why: str          # where the region came from


def _files(path_text: str) -> list[Path]:
    path = Path(path_text)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file()
                      and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if glob.has_magic(path_text):
        found = sorted(Path(p) for p in glob.glob(path_text, recursive=True) if Path(p).is_file())
        if found:
            return found
        raise LintPathError(f"{path_text}: no file matches this pattern")
    raise LintPathError(f"{path_text}: no such file or folder")


def _body(path: Path) -> tuple[str, dict | None]:
    """The file's text and, when it is a template, its parsed body."""
    if path.name in SKIPPED_NAMES or path.suffix not in TEMPLATE_SUFFIXES:
        return "", None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "", None
    from cfnlint.decode import decode_str

    body, problems = decode_str(text)
    if problems or not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        return text, None
    return text, body


def _environment_region(folder: Path, params_dir: Path) -> tuple[str, str]:
    import json

    import yaml

    manifest = folder / "manifest.json"
    try:
        environment = json.loads(manifest.read_text())["environment"]
        param_file = params_dir / f"{environment}.yaml"
        region = yaml.safe_load(param_file.read_text()).get("region")
    except (OSError, ValueError, KeyError, TypeError, AttributeError, yaml.YAMLError):
        return "", ""
    return (region, f"{param_file}") if isinstance(region, str) else ("", "")


def _region(body: dict, path: Path, region: str | None, params_dir: Path) -> tuple[str, str]:
    """(region, where it came from) for one template."""
    if region:
        return region, "--region"
    pinned = body.get("Metadata", {}).get("Strata", {}).get("Region")
    if isinstance(pinned, str) and pinned:
        return str(pinned), "its Metadata.Strata.Region"  # a plain str: cfn-lint's node type does not pickle
    found, why = _environment_region(path.parent, params_dir)
    return (found, why) if found else (DEFAULT_REGION, "the default")


def targets(paths: list[str], region: str | None, params_dir: Path) -> tuple[list[LintTarget], list[Path]]:
    """The templates to lint (each with its region) and the files skipped."""
    found: list[LintTarget] = []
    skipped: list[Path] = []
    seen: set[Path] = set()
    for path_text in paths:
        for path in _files(path_text):
            text, body = _body(path)
            if body is None:
                skipped.append(path)
            elif path.resolve() not in seen:
                seen.add(path.resolve())
                found.append(LintTarget(path, text, *_region(body, path, region, params_dir)))
    if not found:
        raise LintPathError(f"{' '.join(paths)}: no CloudFormation template (a template is a JSON or YAML file "
                            "with Resources; manifest.json and other files are skipped)")
    return found, skipped


