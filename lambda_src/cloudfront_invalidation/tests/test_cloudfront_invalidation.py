"""The invalidation handler against the S3 event JSON S3 really sends (the
documented notification structure, in events/), with S3 and CloudFront
served by moto's in-process mock.

moto cannot show: that S3 delivers the event at all, Lambda's retries and
dead-letter queue, or that CloudFront actually drops its cached copy; those
are wired in templates/static.py and asserted in tests/templates/test_static.py.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import logging
import os
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

HERE = Path(__file__).resolve().parent
BUCKET = "site-bucket"

# Loaded by path under its own name: other functions in lambda_src/ have a
# handler.py too, and a plain `import handler` would return whichever came first.
_spec = importlib.util.spec_from_file_location("cloudfront_invalidation_handler", HERE.parent / "handler.py")
handler = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(handler)


def load_event(name: str) -> dict:
    return json.loads((HERE / "events" / f"{name}.json").read_text())


def event_for(*objects: tuple[str, str]) -> dict:
    """A real event with one record per (event file, encoded key), as S3 batches them."""
    records = []
    for name, encoded_key in objects:
        record = copy.deepcopy(load_event(name)["Records"][0])
        record["s3"]["object"]["key"] = encoded_key
        records.append(record)
    return {"Records": records}


@pytest.fixture
def aws(monkeypatch):
    """moto's S3 and CloudFront with a versioned bucket and one distribution;
    yields (s3 client, cloudfront client, distribution id)."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        handler._client.cache_clear()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        cloudfront = boto3.client("cloudfront")
        distribution = cloudfront.create_distribution(DistributionConfig={
            "CallerReference": "test", "Comment": "", "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{
                "Id": "s3", "DomainName": f"{BUCKET}.s3.eu-west-1.amazonaws.com",
                "S3OriginConfig": {"OriginAccessIdentity": ""},
            }]},
            "DefaultCacheBehavior": {
                "TargetOriginId": "s3", "ViewerProtocolPolicy": "redirect-to-https",
                "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
            },
        })["Distribution"]["Id"]
        monkeypatch.setenv(handler.DISTRIBUTION_ID_VARIABLE, distribution)
        yield s3, cloudfront, distribution
    handler._client.cache_clear()


def invalidations(cloudfront, distribution: str) -> list[dict]:
    """Every invalidation created, with its paths and caller reference."""
    summaries = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items", [])
    return [
        cloudfront.get_invalidation(DistributionId=distribution, Id=s["Id"])["Invalidation"]["InvalidationBatch"]
        for s in summaries
    ]


def upload(s3, key: str, times: int = 1) -> None:
    for n in range(times):
        s3.put_object(Bucket=BUCKET, Key=key, Body=f"version {n}".encode())


def test_overwrite_of_a_versioned_object_invalidates_its_path_once(aws):
    s3, cloudfront, distribution = aws
    upload(s3, "images/a.png", times=2)

    result = handler.handler(load_event("object_created_put"))

    batches = invalidations(cloudfront, distribution)
    assert len(batches) == 1
    assert batches[0]["Paths"]["Items"] == ["/images/a.png"]
    assert result["paths"] == ["/images/a.png"]


def test_first_upload_creates_no_invalidation(aws):
    s3, cloudfront, distribution = aws
    upload(s3, "images/a.png")

    assert handler.handler(load_event("object_created_put")) == {"paths": []}
    assert invalidations(cloudfront, distribution) == []


def test_delete_always_invalidates(aws):
    s3, cloudfront, distribution = aws
    upload(s3, "images/a.png")
    s3.delete_object(Bucket=BUCKET, Key="images/a.png")

    handler.handler(load_event("object_removed_delete_marker"))

    assert [b["Paths"]["Items"] for b in invalidations(cloudfront, distribution)] == [["/images/a.png"]]


def test_restored_object_with_earlier_versions_is_invalidated(aws):
    s3, cloudfront, distribution = aws
    upload(s3, "images/a.png", times=2)

    handler.handler(load_event("object_restore_completed"))

    assert [b["Paths"]["Items"] for b in invalidations(cloudfront, distribution)] == [["/images/a.png"]]


def test_versions_of_a_longer_key_with_the_same_prefix_do_not_count(aws):
    s3, cloudfront, distribution = aws
    upload(s3, "images/a.png.bak", times=3)
    upload(s3, "images/a.png/thumb", times=2)
    upload(s3, "images/a.png")

    handler.handler(load_event("object_created_put"))

    assert invalidations(cloudfront, distribution) == []


def test_every_record_counts_and_encoded_keys_are_decoded(aws):
    """S3 form-encodes keys in events: '+' is a space, a literal '+' is %2B,
    unicode is UTF-8 percent-escaped. One invalidation carries every path,
    URL-quoted again the way viewers request them."""
    s3, cloudfront, distribution = aws
    for key in ("my photos/cat 1.png", "a+b.png", "한글/사진.png", "star*.css"):
        upload(s3, key, times=2)
    upload(s3, "new.png")

    event = event_for(
        ("object_created_put", "my+photos/cat+1.png"),
        ("object_created_put", "a%2Bb.png"),
        ("object_created_put", "%ED%95%9C%EA%B8%80/%EC%82%AC%EC%A7%84.png"),
        ("object_created_put", "star%2A.css"),
        ("object_created_put", "new.png"),
        ("object_removed_delete_marker", "gone.txt"),
        ("object_created_put", "a%2Bb.png"),
    )
    handler.handler(event)

    batches = invalidations(cloudfront, distribution)
    assert len(batches) == 1
    assert sorted(batches[0]["Paths"]["Items"]) == sorted([
        "/my%20photos/cat%201.png",
        "/a%2Bb.png",
        "/%ED%95%9C%EA%B8%80/%EC%82%AC%EC%A7%84.png",
        "/star%2A.css",
        "/gone.txt",
    ])
    assert batches[0]["Paths"]["Quantity"] == 5


def test_each_invalidation_has_a_unique_caller_reference(aws):
    s3, cloudfront, distribution = aws
    upload(s3, "images/a.png", times=2)

    handler.handler(load_event("object_created_put"))
    handler.handler(load_event("object_created_put"))

    references = [b["CallerReference"] for b in invalidations(cloudfront, distribution)]
    assert len(references) == 2 and len(set(references)) == 2


def test_an_s3_error_is_logged_with_bucket_and_key_and_raised(aws, caplog):
    event = event_for(("object_created_put", "images/a.png"))
    event["Records"][0]["s3"]["bucket"]["name"] = "no-such-bucket"

    with caplog.at_level(logging.ERROR), pytest.raises(ClientError) as raised:
        handler.handler(event)

    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"
    assert "s3://no-such-bucket/images/a.png" in caplog.text


def test_a_cloudfront_error_is_logged_with_the_objects_and_raised(aws, monkeypatch, caplog):
    s3, _, _ = aws
    upload(s3, "images/a.png", times=2)
    monkeypatch.setenv(handler.DISTRIBUTION_ID_VARIABLE, "EDFDVBD6EXAMPLE")

    with caplog.at_level(logging.ERROR), pytest.raises(ClientError) as raised:
        handler.handler(load_event("object_created_put"))

    assert raised.value.response["Error"]["Code"] == "NoSuchDistribution"
    assert f"s3://{BUCKET}/images/a.png" in caplog.text and "EDFDVBD6EXAMPLE" in caplog.text


@pytest.mark.parametrize(("encoded", "key"), [
    ("plain.txt", "plain.txt"),
    ("with+space.txt", "with space.txt"),
    ("plus%2Bsign.txt", "plus+sign.txt"),
    ("percent%25.txt", "percent%.txt"),
    ("caf%C3%A9.txt", "café.txt"),
])
def test_object_key_decoding(encoded, key):
    assert handler.object_key({"s3": {"object": {"key": encoded}}}) == key
