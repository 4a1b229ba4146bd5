"""Packaging against the moto server: content-addressed keys, the rewritten
root, nothing uploaded twice, and clear errors for a stale or missing build."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from botocore.config import Config

from generator.deploy import package
from generator.deploy.package import PackageError
from tests.generator.deploy.deploy_support import (
    REGION, artifact_key, build_dev, tiny_env, tiny_layers, write_build,
)

BUCKET = "strata-test-templates"


@pytest.fixture(scope="module")
def dev_out(tmp_path_factory):
    return build_dev(tmp_path_factory)


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", endpoint_url=aws, region_name=REGION, config=Config(s3={"addressing_style": "path"}))
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return client


def _object(s3, key: str) -> bytes:
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def _resolve(url: dict, bucket: str, prefix: str) -> str:
    """A nested TemplateURL (Fn::Join) as CloudFormation would evaluate it."""
    values = {"TemplateBucket": bucket, "TemplatePrefix": prefix, "AWS::Region": REGION, "AWS::URLSuffix": "amazonaws.com"}
    return "".join(p if isinstance(p, str) else values[p["Ref"]] for p in url["Fn::Join"][1])


def test_every_key_carries_the_sha256_of_its_bytes(s3, dev_out):
    result = package.package(s3, dev_out, BUCKET, "dev", REGION)
    assert result.prefix == "dev/"
    for key in result.layout.objects:
        data = _object(s3, key)
        assert hashlib.sha256(data).hexdigest() in key, key
        assert key.startswith("dev/")
    assert result.root_url == f"https://{BUCKET}.s3.{REGION}.amazonaws.com/{result.layout.keys['root.json']}"


def test_packaged_root_points_at_the_uploaded_layer_templates(s3, dev_out):
    before = (dev_out / "root.json").read_bytes()
    result = package.package(s3, dev_out, BUCKET, "dev/", REGION)
    root = json.loads(_object(s3, result.layout.keys["root.json"]))
    stacks = {k: r for k, r in root["Resources"].items() if r["Type"] == "AWS::CloudFormation::Stack"}
    assert stacks, "the dev build nests no layer"
    prefix = f"https://{BUCKET}.s3.{REGION}.amazonaws.com/"
    for logical_id, resource in stacks.items():
        url = _resolve(resource["Properties"]["TemplateURL"], BUCKET, "dev/")
        key = url.removeprefix(prefix)
        file = next(f for f, k in result.layout.keys.items() if k == key)
        assert _object(s3, key) == (dev_out / file).read_bytes(), logical_id
    # out/ itself is never rewritten
    assert (dev_out / "root.json").read_bytes() == before


def test_a_second_run_uploads_nothing(s3, dev_out):
    first = package.package(s3, dev_out, BUCKET, "dev/", REGION)
    second = package.package(s3, dev_out, BUCKET, "dev/", REGION)
    assert first.uploaded and not first.skipped
    assert second.uploaded == ()
    assert set(second.skipped) == set(first.uploaded)
    assert second.root_url == first.root_url


def test_a_changed_layer_uploads_only_itself_and_the_root(s3, tmp_path):
    env = tiny_env()
    write_build(tmp_path, env, tiny_layers())
    first = package.package(s3, tmp_path / "tiny", BUCKET, "", REGION)
    write_build(tmp_path, env, tiny_layers(topic_name="renamed"))
    second = package.package(s3, tmp_path / "tiny", BUCKET, "", REGION)
    assert sorted(second.uploaded) == sorted([second.layout.keys["messaging.json"], second.layout.keys["root.json"]])
    assert second.layout.keys["storage.json"] == first.layout.keys["storage.json"]
    assert second.root_url != first.root_url


def test_lambda_zips_keep_their_content_addressed_key(s3, tmp_path):
    code = b"zip bytes"
    write_build(tmp_path, tiny_env(), tiny_layers(code=code), artifacts={artifact_key(code): code})
    result = package.package(s3, tmp_path / "tiny", BUCKET, "p/", REGION)
    key = "p/" + artifact_key(code)
    assert result.layout.keys[artifact_key(code)] == key
    assert _object(s3, key) == code
    assert s3.head_object(Bucket=BUCKET, Key=key)["ContentType"] == "application/zip"


def test_templates_not_nested_in_the_root_are_companions(tmp_path):
    companion = {"Metadata": {"Strata": {"Region": "us-east-1"}}, "Resources": {}}
    write_build(tmp_path, tiny_env(), tiny_layers(), companions={"certificate.json": companion})
    layout = package.layout(package.read_build(tmp_path / "tiny"), "x")
    assert layout.companions == ("certificate.json",)
    assert layout.keys["certificate.json"].startswith("x/certificate-")


def test_a_file_changed_after_the_build_is_refused(s3, tmp_path):
    folder = write_build(tmp_path, tiny_env(), tiny_layers())
    (folder / "storage.json").write_text("{}")
    with pytest.raises(PackageError, match=r"storage.json: changed since the build.*\n.*strata build --env tiny"):
        package.package(s3, folder, BUCKET, "", REGION)


def test_no_build_says_how_to_make_one(s3, tmp_path):
    with pytest.raises(PackageError, match=r"manifest.json not found: run `strata build --env dev` first"):
        package.package(s3, tmp_path / "dev", BUCKET, "", REGION)


def test_a_missing_bucket_is_named(s3, tmp_path):
    folder = write_build(tmp_path, tiny_env(), tiny_layers())
    with pytest.raises(PackageError, match="bucket no-such-bucket does not exist"):
        package.package(s3, folder, "no-such-bucket", "", REGION)


def test_a_nested_stack_with_an_unknown_template_url_is_refused(tmp_path):
    def edit(root):
        root["Resources"]["Messaging"]["Properties"]["TemplateURL"] = "https://example.com/other.json"

    folder = write_build(tmp_path, tiny_env(), tiny_layers(), root_edit=edit)
    with pytest.raises(PackageError, match="cannot tell which template the nested stack Messaging uses"):
        package.layout(package.read_build(folder), "")


def test_ensure_bucket_creates_a_private_bucket_once(aws):
    s3 = boto3.client("s3", endpoint_url=aws, region_name=REGION, config=Config(s3={"addressing_style": "path"}))
    assert package.ensure_bucket(s3, "fresh-bucket", REGION) is True
    assert package.ensure_bucket(s3, "fresh-bucket", REGION) is False
    block = s3.get_public_access_block(Bucket="fresh-bucket")["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                     "RestrictPublicBuckets": True}
    policy = json.loads(s3.get_bucket_policy(Bucket="fresh-bucket")["Policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert s3.get_bucket_location(Bucket="fresh-bucket")["LocationConstraint"] == REGION


@pytest.mark.parametrize(("given", "expected"), [("", ""), ("/", ""), ("dev", "dev/"), ("a/b/", "a/b/"), ("/a/", "a/")])
def test_prefixes_end_in_one_slash(given, expected):
    assert package.normalize_prefix(given) == expected


def test_urls_follow_the_partition():
    assert package.s3_url("b", "eu-west-1", "k") == "https://b.s3.eu-west-1.amazonaws.com/k"
    assert package.s3_url("b", "cn-north-1", "k") == "https://b.s3.cn-north-1.amazonaws.com.cn/k"
