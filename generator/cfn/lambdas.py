"""Lambda code: byte-reproducible zips of `lambda_src/<name>/` and the
template side of them (code location parameters, artifact list).

A zip's key is content-addressed, `lambda/<name>-<sha256>.zip`, so changed
code always changes the key and CloudFormation always sees the update. The
template lists the zips it needs in `Metadata.Strata.Artifacts`; the output
step writes exactly those, and packaging uploads them beside the template."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from troposphere import Join, Ref, Template, awslambda

from generator.cfn.resources import strata_metadata, template_location_parameters

LAMBDA_SRC = Path(__file__).resolve().parents[2] / "lambda_src"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
_SKIP_DIRS = {"tests", "__pycache__"}


@dataclass(frozen=True)
class Artifact:
    key: str
    data: bytes


def _sources(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and not _SKIP_DIRS.intersection(p.relative_to(folder).parts) and p.suffix != ".pyc"
    )


@lru_cache(maxsize=None)
def package_function(name: str, src_root: Path = LAMBDA_SRC) -> Artifact:
    """Zip `lambda_src/<name>/` (tests and caches left out) with sorted entries,
    fixed timestamps and permissions, so two builds give identical bytes."""
    folder = src_root / name
    if not folder.is_dir():
        raise FileNotFoundError(f"Lambda source folder {folder} does not exist")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in _sources(folder):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    data = buffer.getvalue()
    artifact = Artifact(key=f"lambda/{name}-{hashlib.sha256(data).hexdigest()}.zip", data=data)
    _BY_KEY[artifact.key] = artifact
    return artifact


_BY_KEY: dict[str, Artifact] = {}


def artifact_data(key: str) -> bytes:
    """The bytes of a zip packaged in this process, by its key."""
    return _BY_KEY[key].data


def function_code(template: Template, name: str) -> awslambda.Code:
    """Code for a function from `lambda_src/<name>/`: fetched from
    `TemplateBucket` at `TemplatePrefix` + the zip's key, the same place the
    nested templates are copied to."""
    artifact = package_function(name)
    bucket, prefix = template_location_parameters(template)
    strata_metadata(template, "Artifacts", sorted({*artifacts_of(template.to_dict()), artifact.key}))
    return awslambda.Code(S3Bucket=Ref(bucket), S3Key=Join("", [Ref(prefix), artifact.key]))


def artifacts_of(template_dict: dict) -> list[str]:
    """The zip keys a rendered template needs (from its Metadata)."""
    return list(template_dict.get("Metadata", {}).get("Strata", {}).get("Artifacts", []))
