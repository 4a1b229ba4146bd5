"""S3 server access logging into the environment's log bucket, written once.

Every bucket Strata makes sends its server access logs to one log bucket per
environment (the monitoring layer's `LogBucketName` output), under
`s3/<label>/` and then, with S3's partitioned key format,
`<account>/<region>/<source bucket>/<yyyy>/<mm>/<dd>/`: one place to search,
one lifecycle, and the source bucket in every key. The log bucket itself is
the one exception (logging it into itself would log its own log writes).
"""

from __future__ import annotations

from troposphere import Ref, Template, s3

from generator.cfn.resources import parameter, suppress

LOG_BUCKET = "LogBucketName"
ACCESS_LOG_PREFIX = "s3/"


def sse_s3() -> s3.BucketEncryption:
    """SSE-S3, the encryption every log-delivering service (S3 server access
    logging, ELB, CloudFront) supports without a key policy naming it."""
    return s3.BucketEncryption(ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
        ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"),
    )])


def block_public() -> s3.PublicAccessBlockConfiguration:
    """All four public-access-block flags."""
    return s3.PublicAccessBlockConfiguration(
        BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True,
    )


NO_LOG_BUCKET = "monitoring.enabled is false: the environment has no log bucket for S3 access logs"


def access_logging(t: Template, bucket: s3.Bucket, label: str, log_bucket: bool, why_not: str = NO_LOG_BUCKET) -> None:
    """Send `bucket`'s server access logs to the environment's log bucket
    (taken by name as the `LogBucketName` parameter) when there is one;
    otherwise record why there are none (`why_not`: by default that the
    monitoring layer, which owns the log bucket, is off)."""
    if not log_bucket:
        suppress(bucket, "CKV_AWS_18", why_not)
        return
    name = parameter(t, LOG_BUCKET, "String", "The environment's log bucket (the monitoring layer's output), for S3 server access logs")
    bucket.LoggingConfiguration = s3.LoggingConfiguration(
        DestinationBucketName=Ref(name), LogFilePrefix=f"{ACCESS_LOG_PREFIX}{label}/",
        TargetObjectKeyFormat=s3.TargetObjectKeyFormat(
            PartitionedPrefix=s3.PartitionedPrefix(PartitionDateSource="EventTime"),
        ),
    )
