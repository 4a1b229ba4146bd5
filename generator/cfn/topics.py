"""SNS subscriptions that never drop a notification, written once.

SNS retries a delivery it cannot make (an e-mail address that bounces, a
webhook that is down) and then drops the message, unless the subscription
has a redrive policy: then it parks the message in a dead-letter queue. Every
subscription Strata makes gets one (rule E9061 checks it), in one queue per
topic, encrypted with the topic's key (whose policy must let
`sns.amazonaws.com` use it) and kept 14 days, SQS's longest.
"""

from __future__ import annotations

from typing import Any

from awacs.aws import ArnEquals, Condition, Principal
from troposphere import GetAtt, Template, sns, sqs

from generator.cfn.iam import grant, queue_policy
from generator.cfn.naming import logical_id

DLQ_RETENTION_SECONDS = 14 * 24 * 3600


def subscriptions(t: Template, prefix: str, topic: sns.Topic, key: Any,
                  endpoints: list[tuple[str, str, str]]) -> sqs.Queue | None:
    """Subscribe `endpoints` (protocol, endpoint, name) to `topic`, each with
    a redrive policy to `<prefix>DeliveryDeadLetterQueue` (encrypted with
    `key`, writable by SNS for this topic only, TLS only). Logical ids:
    `logical_id(prefix, protocol, name)`. No endpoint: no queue."""
    if not endpoints:
        return None
    dlq = t.add_resource(sqs.Queue(
        f"{prefix}DeliveryDeadLetterQueue", KmsMasterKeyId=GetAtt(key, "Arn"), MessageRetentionPeriod=DLQ_RETENTION_SECONDS,
    ))
    policy = queue_policy(t, f"{prefix}DeliveryDeadLetterQueuePolicy", dlq, [(Principal("Service", "sns.amazonaws.com"), grant(
        ["sqs:SendMessage"], [GetAtt(dlq, "Arn")], conditions=Condition(ArnEquals("aws:SourceArn", topic.ref())),
    ))])
    for protocol, endpoint, name in endpoints:
        t.add_resource(sns.SubscriptionResource(
            logical_id(prefix, protocol, name), TopicArn=topic.ref(), Protocol=protocol, Endpoint=endpoint,
            RedrivePolicy={"deadLetterTargetArn": GetAtt(dlq, "Arn")},
            DependsOn=policy.title,
        ))
    return dlq
