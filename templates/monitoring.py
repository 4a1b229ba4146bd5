"""monitoring layer: where the environment reports, built before everything that reports.

Drawn in order: the layer's key, the alarm topic every layer's alarms notify
(encrypted, with the e-mail and webhook subscriptions from the parameter
file, each with a dead-letter queue for notifications SNS could not
deliver), and the environment's log bucket, which receives the S3 server
access logs of every other bucket.

The dashboard and the "environment unhealthy" composite alarm are the
health layer's: CloudWatch refuses a composite alarm whose alarms do not
exist yet, so that stack must come after every layer that raises alarms,
while this one (the topic they notify) must come before them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from awacs.aws import ArnLike, Condition, Principal, StringEquals
from pydantic import Field, field_validator
from troposphere import GetAtt, Ref, Sub, Template, s3, sns

from generator.cfn import alarms
from generator.cfn.buckets import ACCESS_LOG_PREFIX, block_public, sse_s3
from generator.cfn.iam import deny_s3_without_tls, deny_without_tls, grant, resource_policy
from generator.cfn.kms import customer_key, use_key
from generator.cfn.naming import physical_name
from generator.cfn.resources import keep_data, output, suppress
from generator.cfn.topics import subscriptions
from generator.cfn.sections import EmailAddresses, LayerSection

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "monitoring"
DESCRIPTION = "The alarm topic (e-mail, webhook) every layer's alarms notify, and the environment's log bucket"

_HTTPS = re.compile(r"^https://[A-Za-z0-9.-]+(:\d+)?(/[\x21-\x7e]*)?$")
# The most SQS keeps a message: an undelivered notification waits this long.


class Alarms(alarms.Timing):
    undelivered_notifications: int = Field(default=1, ge=1)
    """Notifications SNS gave up delivering (to an address or the webhook) and parked in the dead-letter
    queue before the alarm fires. The alarm notifies the same topic: the other subscriptions still get it."""


class Config(LayerSection):
    alarm_emails: EmailAddresses = []
    """Addresses subscribed to the alarm topic; each confirms once by the link in AWS's e-mail."""
    webhook_url: str | None = None
    """An HTTPS endpoint subscribed to the alarm topic (an incident tool's SNS integration URL, say). SNS
    first posts a SubscriptionConfirmation message whose SubscribeURL the endpoint must visit; chat tools'
    incoming webhooks do not, so reach Slack or Teams through AWS Chatbot instead."""
    log_retention_days: int = Field(default=365, ge=1, le=3650)
    """Days the environment's log bucket keeps S3 server access logs before S3 expires them."""
    alarms: Alarms = Alarms()
    """The alarm on notifications that could not be delivered."""

    @field_validator("webhook_url")
    @classmethod
    def _https(cls, url: str | None) -> str | None:
        if url is not None and (len(url) > 2048 or not _HTTPS.match(url)):
            raise ValueError("must be an https:// URL (SNS delivers to HTTPS endpoints only over TLS here)")
        return url


def topic_name(env: EnvConfig) -> str:
    return physical_name(env.project, env.environment, "alarms", max_length=256)


def build(env: EnvConfig) -> Template:
    cfg: Config = env.monitoring
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    topic = alarm_topic(t, env)
    bucket = _log_bucket(t, cfg)
    output(t, alarms.ALARM_TOPIC, Ref(topic), "SNS topic every layer's alarms notify")
    output(t, "LogBucketName", Ref(bucket), "Bucket receiving the S3 server access logs of the environment's buckets")
    _alarms(t, env)
    return t


def alarm_topic(t: Template, env: EnvConfig) -> sns.Topic:
    """The encrypted alarm topic with the parameter file's subscriptions, in
    the template's region (the static layer's us-east-1 companion has its
    own, for CloudFront's alarm). CloudWatch publishes to an encrypted topic
    only when the key's policy lets it; SNS needs the key for the
    dead-letter queue."""
    cfg: Config = env.monitoring
    this_account = Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId")))
    key = customer_key(t, "MonitoringKey", "Encrypts the alarm topic and its dead-letter queue", [
        (Principal("Service", service), use_key(["kms:GenerateDataKey*", "kms:Decrypt"], conditions=this_account))
        for service in ("cloudwatch.amazonaws.com", "sns.amazonaws.com")
    ])
    topic = t.add_resource(sns.Topic("AlarmTopic", TopicName=topic_name(env), KmsMasterKeyId=GetAtt(key, "Arn")))
    alarms_here = Sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*")
    t.add_resource(sns.TopicPolicy("AlarmTopicPolicy", Topics=[Ref(topic)], PolicyDocument=resource_policy(
        [(Principal("Service", "cloudwatch.amazonaws.com"), grant(
            ["sns:Publish"], [Ref(topic)], sid="CloudWatchAlarmsOfThisAccount",
            conditions=Condition([ArnLike("aws:SourceArn", alarms_here), StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))]),
        ))],
        deny=[deny_without_tls("sns", [Ref(topic)])],
    )))
    endpoints = [("email", address, address) for address in cfg.alarm_emails]
    if cfg.webhook_url:
        endpoints.append(("https", cfg.webhook_url, "webhook"))
    subscriptions(t, "Alarm", topic, key, endpoints)
    return topic


def _log_bucket(t: Template, cfg: Config) -> s3.Bucket:
    """S3 server access logs need no ACL (the logging service writes through
    this bucket policy), so object ownership is enforced; SSE-S3 is the only
    encryption S3 server access logging delivers into."""
    bucket = t.add_resource(s3.Bucket(
        "LogBucket",
        BucketEncryption=sse_s3(),
        PublicAccessBlockConfiguration=block_public(),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(
            Id="ExpireAccessLogs", Status="Enabled", Prefix=ACCESS_LOG_PREFIX, ExpirationInDays=cfg.log_retention_days,
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1),
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
        )]),
    ))
    keep_data(bucket, "Retain")
    suppress(bucket, "CKV_AWS_18", "This is the environment's log bucket: logging it into itself would log its own log writes")
    writes = grant(
        ["s3:PutObject"], [Sub(f"${{LogBucket.Arn}}/{ACCESS_LOG_PREFIX}*")], sid="S3ServerAccessLogsOfThisAccount",
        conditions=Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId"))),
    )
    t.add_resource(s3.BucketPolicy("LogBucketPolicy", Bucket=Ref(bucket), PolicyDocument=resource_policy(
        [(Principal("Service", "logging.s3.amazonaws.com"), writes)],
        deny=[deny_s3_without_tls(GetAtt(bucket, "Arn"), Sub("${LogBucket.Arn}/*"))],
    )))
    return bucket


def alarm_specs(env: EnvConfig) -> list[alarms.Spec]:
    cfg: Config = env.monitoring
    if not (cfg.alarm_emails or cfg.webhook_url):
        return []
    return [alarms.queue_depth_spec(
        "undelivered-notifications", "Alarm notifications SNS could not deliver",
        GetAtt("AlarmDeliveryDeadLetterQueue", "QueueName"), cfg.alarms.undelivered_notifications,
    )]


def _alarms(t: Template, env: EnvConfig) -> None:
    # This layer owns the topic, so its alarm names it directly.
    alarms.raise_alarms(t, env, NAME, env.monitoring.alarms, alarm_specs(env), topic=Ref("AlarmTopic"))
