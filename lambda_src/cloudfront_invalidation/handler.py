"""Invalidate CloudFront's cached copy of S3 objects that changed.

S3 calls this function for objects created, removed or restored in the
static site's bucket. A private subnet without a NAT gateway cannot reach
CloudFront (it has no VPC endpoint), so the invalidation runs here, in
Lambda, outside the VPC (seed 000).

- A created or restored object is invalidated only when the bucket holds
  earlier versions of exactly that key: a first upload was never cached.
- A removed object is always invalidated.
- Every record of the event counts; their paths go into one invalidation.
- Any error is logged with the bucket and key and raised again, so Lambda
  retries the event and finally hands it to the dead-letter queue.

Standard library and boto3 only (both ship with the Lambda Python runtime).
"""

from __future__ import annotations

import logging
import os
import uuid
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote_plus

import boto3

DISTRIBUTION_ID_VARIABLE = "DISTRIBUTION_ID"
# The characters CloudFront takes literally in an invalidation path; every
# other byte is percent-encoded, so "*" in a key is never a wildcard.
_PATH_SAFE = "/-._~"

logger = logging.getLogger()
logger.setLevel(logging.INFO)


@lru_cache(maxsize=None)
def _client(service: str):
    """One client per service for the life of the execution environment."""
    return boto3.client(service)


def object_key(record: dict[str, Any]) -> str:
    """The key as stored: S3 event keys are form-encoded ('+' is a space,
    then percent-escapes; a literal '+' arrives as %2B)."""
    return unquote_plus(record["s3"]["object"]["key"])


def invalidation_path(key: str) -> str:
    return "/" + quote(key, safe=_PATH_SAFE)


def has_earlier_versions(bucket: str, key: str) -> bool:
    """True when the bucket keeps a noncurrent version of exactly `key`.
    Listing by prefix also returns `a.png.bak` and `a.png/x` for `a.png`,
    so every entry's key is compared, not just its prefix."""
    paginator = _client("s3").get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=key):
        for version in page.get("Versions", []):
            if version["Key"] == key and not version["IsLatest"]:
                return True
    return False


def needs_invalidation(event_name: str, bucket: str, key: str) -> bool:
    if event_name.startswith("ObjectRemoved:"):
        return True
    if event_name.startswith(("ObjectCreated:", "ObjectRestore:Completed")):
        return has_earlier_versions(bucket, key)
    logger.info("ignoring %s for s3://%s/%s", event_name, bucket, key)
    return False


def changed_objects(event: dict[str, Any]) -> dict[str, str]:
    """Invalidation path -> "s3://bucket/key" for every record that needs one."""
    changed: dict[str, str] = {}
    for record in event.get("Records", []):
        bucket = record["s3"]["bucket"]["name"]
        key = object_key(record)
        try:
            if needs_invalidation(record["eventName"], bucket, key):
                changed[invalidation_path(key)] = f"s3://{bucket}/{key}"
        except Exception:
            logger.exception("could not check s3://%s/%s (%s)", bucket, key, record.get("eventName"))
            raise
    return changed


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    changed = changed_objects(event)
    if not changed:
        logger.info("nothing to invalidate")
        return {"paths": []}
    paths = sorted(changed)
    objects = ", ".join(changed[p] for p in paths)
    distribution_id = os.environ[DISTRIBUTION_ID_VARIABLE]
    try:
        response = _client("cloudfront").create_invalidation(
            DistributionId=distribution_id,
            InvalidationBatch={
                "Paths": {"Quantity": len(paths), "Items": paths},
                # Unique per call: CloudFront treats a repeated reference as the same request.
                "CallerReference": str(uuid.uuid4()),
            },
        )
    except Exception:
        logger.exception("could not invalidate %s on distribution %s", objects, distribution_id)
        raise
    invalidation_id = response["Invalidation"]["Id"]
    logger.info("invalidation %s on %s for %s", invalidation_id, distribution_id, objects)
    return {"invalidation_id": invalidation_id, "paths": paths}
