"""monitoring layer: the encrypted alarm topic with its subscriptions and
their dead-letter queue, the environment's log bucket, lint and scan, and a
deploy on moto."""

from __future__ import annotations

import json

import pytest

from generator.build.compose import build_layers, compose_root
from templates import monitoring
from tests.helpers import (
    build_shapes, checkov_failures, config_error, deploy_stack, lint_findings, make_env, only_resource, render,
    resources_of_type,
)
from tests.templates.data_support import client, without_types

BASE = {"enabled": True, "alarm_emails": ["ops@example.com", "dev@example.com"]}


def build(**fields) -> dict:
    return render(monitoring.build(make_env(monitoring={**BASE, **fields})))


def props(body: dict, logical: str) -> dict:
    return body["Resources"][logical]["Properties"]


def test_the_topic_is_named_from_the_environment_and_encrypted_with_a_key_cloudwatch_may_use():
    body = build()
    topic = props(body, "AlarmTopic")
    assert topic == {"TopicName": "demo-test-alarms", "KmsMasterKeyId": {"Fn::GetAtt": ["MonitoringKey", "Arn"]}}
    _, *users = props(body, "MonitoringKey")["KeyPolicy"]["Statement"]
    assert [u["Principal"]["Service"] for u in users] == ["cloudwatch.amazonaws.com", "sns.amazonaws.com"]
    for user in users:
        assert user["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
        assert user["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert body["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}


def test_only_this_accounts_alarms_publish_and_never_without_tls():
    allow, deny = props(build(), "AlarmTopicPolicy")["PolicyDocument"]["Statement"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == ["sns:Publish"]
    assert allow["Condition"] == {
        "ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"}},
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    }
    assert (deny["Effect"], deny["Action"], deny["Condition"]) == ("Deny", ["sns:*"], {"Bool": {"aws:SecureTransport": "false"}})


def test_every_subscription_parks_what_sns_cannot_deliver_in_a_dead_letter_queue():
    body = build(webhook_url="https://events.example.com/sns?key=1")
    subscriptions = resources_of_type(body, "AWS::SNS::Subscription")
    assert sorted((s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subscriptions.values()) == [
        ("email", "dev@example.com"), ("email", "ops@example.com"), ("https", "https://events.example.com/sns?key=1")]
    for subscription in subscriptions.values():
        assert subscription["Properties"]["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["AlarmDeliveryDeadLetterQueue", "Arn"]}}
        assert subscription["DependsOn"] == "AlarmDeliveryDeadLetterQueuePolicy"
    sns_may, tls = props(body, "AlarmDeliveryDeadLetterQueuePolicy")["PolicyDocument"]["Statement"]
    assert sns_may["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "AlarmTopic"}}}
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and tls["Effect"] == "Deny"
    assert props(body, "AlarmDeliveryDeadLetterQueue")["KmsMasterKeyId"] == {"Fn::GetAtt": ["MonitoringKey", "Arn"]}
    alarm = props(body, "UndeliveredNotificationsAlarm")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["AlarmDeliveryDeadLetterQueue", "QueueName"]}}]
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_without_subscriptions_there_is_nothing_to_deliver_and_no_alarm_about_it():
    body = build(alarm_emails=[])
    assert resources_of_type(body, "AWS::SNS::Subscription") == {}
    assert resources_of_type(body, "AWS::CloudWatch::Alarm") == {}


def test_the_log_bucket_takes_s3_access_logs_of_this_account_only_and_is_kept():
    body = build(log_retention_days=60)
    name, bucket = only_resource(body, "AWS::S3::Bucket")
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    p = bucket["Properties"]
    assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert p["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 60
    assert "LoggingConfiguration" not in p  # the one bucket that does not log into itself
    assert [s["id"] for s in bucket["Metadata"]["checkov"]["skip"]] == ["CKV_AWS_18"]
    writes, tls = props(body, "LogBucketPolicy")["PolicyDocument"]["Statement"]
    assert writes["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert writes["Resource"] == [{"Fn::Sub": "${LogBucket.Arn}/s3/*"}]
    assert writes["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert tls["Effect"] == "Deny"
    assert body["Outputs"]["LogBucketName"]["Value"] == {"Ref": name}


def test_layers_raising_alarms_are_fed_the_topic_by_name():
    env = make_env(monitoring=BASE, messaging={"enabled": True})
    root = render(compose_root(env, build_layers(env)))
    assert root["Resources"]["Messaging"]["Properties"]["Parameters"]["AlarmTopicArn"] == {
        "Fn::GetAtt": ["Monitoring", "Outputs.AlarmTopicArn"]}
    assert root["Resources"]["Network"]["Properties"]["Parameters"]["AlarmTopicArn"] == {
        "Fn::GetAtt": ["Monitoring", "Outputs.AlarmTopicArn"]}
    # without the layer, the alarms notify nobody unless the root's parameter names a topic
    alone = make_env(messaging={"enabled": True})
    root = render(compose_root(alone, build_layers(alone)))
    assert root["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert root["Resources"]["Messaging"]["Properties"]["Parameters"]["AlarmTopicArn"] == {"Ref": "AlarmTopicArn"}


@pytest.mark.parametrize("field, value, message", [
    ("alarm_emails", ["not-an-address"], "not an e-mail address: not-an-address"),
    ("alarm_emails", ["a@b.co", "a@b.co"], "listed more than once"),
    ("webhook_url", "http://hooks.example.com/x", "must be an https:// URL"),
    ("webhook_url", "https://hooks example.com", "must be an https:// URL"),
    ("log_retention_days", 0, "greater than or equal to 1"),
])
def test_bad_settings_name_the_field(tmp_path, field, value, message):
    data = {"project": "demo", "environment": "test", "region": "eu-west-1", "monitoring": {"enabled": True, field: value}}
    error = config_error(tmp_path, data)
    assert f"monitoring.{field}" in error and message in error


SHAPES = {
    "monitoring": {"monitoring": BASE},
    "monitoring-webhook": {"monitoring": {**BASE, "webhook_url": "https://events.example.com/sns"}},
    "monitoring-quiet": {"monitoring": {"enabled": True}},
}


def test_lint_clean():
    assert lint_findings(build_shapes(monitoring, SHAPES)) == []


def test_scan_clean(tmp_path):
    built = {name: template for name, (template, _) in build_shapes(monitoring, SHAPES).items()}
    assert checkov_failures(built, tmp_path) == []


def test_monitoring_deploys_through_a_change_set(aws):
    """What moto shows: the key, the topic by its name and key, the log
    bucket (without its settings), the dead-letter queue. What it skips (cut
    here, checked on the JSON above): alarms, topic and queue policies,
    subscriptions, bucket policies."""
    full = build()
    body, cut = without_types(full, {"AWS::CloudWatch::Alarm", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy",
                                     "AWS::SNS::Subscription", "AWS::S3::BucketPolicy"})
    assert cut == ["AlarmDeliveryDeadLetterQueuePolicy", "AlarmEmailDevExampleCom", "AlarmEmailOpsExampleCom",
                   "AlarmTopicPolicy", "LogBucketPolicy", "UndeliveredNotificationsAlarm"]
    resources = deploy_stack(aws, "monitoring", body)
    topics = [t["TopicArn"] for t in client(aws, "sns").list_topics()["Topics"]]
    assert topics == [resources["AlarmTopic"]["PhysicalResourceId"]]
    assert topics[0].endswith(":demo-test-alarms")
    attributes = client(aws, "sns").get_topic_attributes(TopicArn=topics[0])["Attributes"]
    assert attributes["KmsMasterKeyId"].startswith("arn:aws:kms:")
    # moto's CloudFormation makes the bucket but applies none of its settings
    client(aws, "s3").head_bucket(Bucket=resources["LogBucket"]["PhysicalResourceId"])
    queue_url = client(aws, "sqs").get_queue_url(QueueName=resources["AlarmDeliveryDeadLetterQueue"]["PhysicalResourceId"].rsplit("/", 1)[-1])
    assert queue_url["QueueUrl"]
    assert json.dumps(full).count("AWS::SNS::Subscription") == 2
