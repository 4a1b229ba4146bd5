"""Packaging: copy `out/<env>/` to S3 under content-addressed keys.

Key layout under the prefix P (default `<environment>/`):

    P<stem>-<sha256>.json           every template: layers, companions, root
    Plambda/<name>-<sha256>.zip     Lambda zips, at the key the build gave them

The sha256 of the bytes is in every key, so a changed template always gets a
new URL (CloudFormation cannot mistake it for the old one), an unchanged one
is never uploaded twice, and objects of an earlier deploy stay valid for a
rollback or a second environment sharing the bucket. Objects are never
overwritten, so a deploy in progress never reads a half-replaced set.

The templates in `out/` name their nested templates by file: the root's
TemplateURL for the network layer ends in `TemplatePrefix + "network.json"`.
The copy of the root uploaded here is rewritten to end in
`"network-<sha256>.json"` instead; bucket, region and prefix stay
parameters, so the packaged root works with any bucket. `out/` itself is
never changed. Lambda code needs no rewrite: the template already reads the
zip at `TemplatePrefix + "lambda/<name>-<sha256>.zip"`.

A template in the manifest that the root does not nest is a companion (a
certificate that must live in us-east-1, say): it is uploaded like the
others and deployed as a stack of its own (see `generator.deploy`). The
catalog's templates (`Metadata.Strata.Catalog`: the portfolio, its launch
role and the product templates under `catalog/`) are uploaded too but are
no companions: `strata publish` deploys them, `strata deploy` never does.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from generator.cfn.resources import is_catalog_template

ROOT_FILE = "root.json"
MANIFEST_FILE = "manifest.json"
STACK_TYPE = "AWS::CloudFormation::Stack"


class PackageError(Exception):
    """The build output or the bucket is not usable; `str()` says what to do."""


@dataclass(frozen=True)
class BuiltEnv:
    """`out/<env>/` as read back from disk, checked against its manifest."""

    folder: Path
    environment: str
    templates: dict[str, bytes]
    artifacts: dict[str, bytes]

    def body(self, file: str) -> dict:
        return json.loads(self.templates[file])

    def bodies(self) -> dict[str, dict]:
        return {file: self.body(file) for file in self.templates}


@dataclass(frozen=True)
class Layout:
    """Every object to upload (key -> bytes) and where each file went."""

    objects: dict[str, bytes]
    keys: dict[str, str]          # out file (root.json for the rewritten root) -> key
    root: dict                    # the packaged root template
    companions: tuple[str, ...]   # template files the root does not nest


@dataclass(frozen=True)
class Packaged:
    """The result of `package`: where everything is, and what was uploaded."""

    bucket: str
    prefix: str
    region: str
    layout: Layout
    uploaded: tuple[str, ...] = field(default=())
    skipped: tuple[str, ...] = field(default=())

    def url(self, file: str) -> str:
        return s3_url(self.bucket, self.region, self.layout.keys[file])

    @property
    def root_url(self) -> str:
        return self.url(ROOT_FILE)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def partition(region: str) -> str:
    """The ARN partition of a region: aws, aws-cn or aws-us-gov."""
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def url_suffix(region: str) -> str:
    return "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"


def s3_url(bucket: str, region: str, key: str) -> str:
    """The virtual-hosted-style URL CloudFormation fetches a template from."""
    return f"https://{bucket}.s3.{region}.{url_suffix(region)}/{key}"


def normalize_prefix(prefix: str) -> str:
    """'' or a prefix ending in exactly one '/'."""
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def read_build(folder: Path | str) -> BuiltEnv:
    """Read `out/<env>/` and check every file against manifest.json, so what is
    uploaded is exactly what the build linted."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST_FILE
    if not manifest_path.is_file():
        raise PackageError(f"{manifest_path} not found: run `strata build --env {folder.name}` first")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    templates, artifacts, problems = {}, {}, []
    for kind, target in (("templates", templates), ("artifacts", artifacts)):
        for entry in manifest.get(kind, []):
            path = folder / entry["file"]
            if not path.is_file():
                problems.append(f"{path}: listed in {MANIFEST_FILE} but missing")
                continue
            data = path.read_bytes()
            if _sha(data) != entry["sha256"]:
                problems.append(f"{path}: changed since the build (sha256 differs from {MANIFEST_FILE})")
            target[entry["file"]] = data
    if ROOT_FILE not in templates and not problems:
        problems.append(f"{folder / ROOT_FILE}: not in {MANIFEST_FILE}")
    if problems:
        raise PackageError("\n".join(problems + [f"rebuild with `strata build --env {folder.name}`"]))
    return BuiltEnv(folder, manifest.get("environment", folder.name), templates, artifacts)


def template_key(prefix: str, file: str, data: bytes) -> str:
    stem = file.removesuffix(".json")
    return f"{prefix}{stem}-{_sha(data)}.json"


def _nested_file(logical_id: str, url: object, files: set[str]) -> tuple[list, int]:
    """The Join list of a nested stack's TemplateURL and the index of its file name."""
    parts = url.get("Fn::Join", [None, None])[1] if isinstance(url, dict) else None
    if isinstance(parts, list) and parts and isinstance(parts[-1], str) and parts[-1] in files:
        return parts, len(parts) - 1
    raise PackageError(
        f"{ROOT_FILE}: cannot tell which template the nested stack {logical_id} uses "
        f"(expected a TemplateURL joined from TemplatePrefix and one of {', '.join(sorted(files))})"
    )


def nested_files(root: dict, files: set[str] | frozenset[str]) -> dict[str, str]:
    """Logical id of each nested stack in `root` -> the template file it nests."""
    found = {}
    for logical_id, resource in sorted(root.get("Resources", {}).items()):
        if resource.get("Type") == STACK_TYPE:
            parts, index = _nested_file(logical_id, resource.get("Properties", {}).get("TemplateURL"), set(files))
            found[logical_id] = parts[index]
    return found


def stack_templates(build: BuiltEnv, root: dict | None = None) -> dict[str, dict]:
    """The build's templates by stack label: "root" (`root`, e.g. the packaged
    one, else the build's) and each nested stack's logical id."""
    root = root if root is not None else build.body(ROOT_FILE)
    templates = {"root": root}
    for logical_id, file in nested_files(build.body(ROOT_FILE), set(build.templates) - {ROOT_FILE}).items():
        templates[logical_id] = build.body(file)
    return templates


def layout(build: BuiltEnv, prefix: str) -> Layout:
    """Decide every key and rewrite the root's nested TemplateURLs; no I/O."""
    prefix = normalize_prefix(prefix)
    keys: dict[str, str] = {}
    objects: dict[str, bytes] = {}
    for file, data in build.templates.items():
        if file != ROOT_FILE:
            keys[file] = template_key(prefix, file, data)
            objects[keys[file]] = data
    for artifact, data in build.artifacts.items():
        keys[artifact] = prefix + artifact
        objects[keys[artifact]] = data
    root = copy.deepcopy(build.body(ROOT_FILE))
    layer_files = set(build.templates) - {ROOT_FILE}
    nested: set[str] = set()
    for logical_id, resource in sorted(root.get("Resources", {}).items()):
        if resource.get("Type") != STACK_TYPE:
            continue
        parts, index = _nested_file(logical_id, resource.get("Properties", {}).get("TemplateURL"), layer_files)
        nested.add(parts[index])
        parts[index] = keys[parts[index]].removeprefix(prefix)
    root_data = (json.dumps(root, indent=2, sort_keys=True) + "\n").encode()
    keys[ROOT_FILE] = template_key(prefix, ROOT_FILE, root_data)
    objects[keys[ROOT_FILE]] = root_data
    companions = [f for f in sorted(layer_files - nested) if not is_catalog_template(build.body(f))]
    return Layout(objects, keys, root, tuple(companions))


def _existing(s3, bucket: str, prefix: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["Size"]
    return found


def _content_type(key: str) -> str:
    return "application/zip" if key.endswith(".zip") else "application/json"


def package(s3, folder: Path | str, bucket: str, prefix: str, region: str) -> Packaged:
    """Upload `out/<env>/` to `bucket` under `prefix`; objects already there
    (same key, so same content) are skipped. Returns where everything is."""
    from botocore.exceptions import ClientError

    build = read_build(folder)
    plan = layout(build, prefix)
    prefix = normalize_prefix(prefix)
    try:
        existing = _existing(s3, bucket, prefix)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchBucket":
            raise PackageError(f"bucket {bucket} does not exist (create it in {region}, or leave out --bucket "
                               "to use Strata's default bucket)") from None
        raise
    uploaded, skipped = [], []
    for key, data in sorted(plan.objects.items()):
        if existing.get(key) == len(data):
            skipped.append(key)
            continue
        s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=_content_type(key),
                      ChecksumAlgorithm="SHA256")
        uploaded.append(key)
    return Packaged(bucket, prefix, region, plan, tuple(uploaded), tuple(skipped))


def default_bucket(project: str, account_id: str, region: str) -> str:
    """`<project>-templates-<account>-<region>`: unique per account and region
    without anyone choosing a name."""
    return f"{project}-templates-{account_id}-{region}"


def ensure_bucket(s3, bucket: str, region: str, tls_only: bool = True) -> bool:
    """Create `bucket` if it does not exist: private (all public access
    blocked), owner-enforced, and (unless `tls_only` is off, for a local
    endpoint served over plain http) reachable over TLS only. True when created."""
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
            raise
    create: dict = {"Bucket": bucket, "ObjectOwnership": "BucketOwnerEnforced"}
    if region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**create)
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
    })
    if not tls_only:
        return True
    arn = f"arn:{partition(region)}:s3:::{bucket}"
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    }))
    return True
