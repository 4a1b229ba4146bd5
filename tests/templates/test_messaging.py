"""messaging layer: the rendered template, the schema, lint and scan, and a deploy on moto."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.build.config import ConfigError, EnvConfig, load_config
from generator.cfn.lambdas import artifact_data, artifacts_of
from templates import messaging
from tests.helpers import BASE_ENV, checkov_failures, config_error, deploy_network_and_security, deploy_stack, lint_findings, make_env, merge, only_resource, render, resources_of_type
from tests.templates.data_support import client, stack_parameters

ROOT = Path(__file__).resolve().parents[2]
KEY_ARN = {"Fn::GetAtt": ["MessagingKey", "Arn"]}
FANOUT = {"enabled": True, "events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], "prefix": "incoming/", "suffix": ".csv"}


def build(**fields) -> dict:
    return render(messaging.build(make_env(messaging={"enabled": True, **fields})))


def props(body: dict, logical_id: str) -> dict:
    return body["Resources"][logical_id]["Properties"]


def grants(body: dict) -> dict[tuple[str, ...], list]:
    statements = props(body, "WorkerRole")["Policies"][0]["PolicyDocument"]["Statement"]
    return {tuple(s["Action"]): s["Resource"] for s in statements}


def skipped(body: dict, logical_id: str) -> list[str]:
    return [s["id"] for s in body["Resources"][logical_id].get("Metadata", {}).get("checkov", {}).get("skip", [])]


# --- queues ----------------------------------------------------------------------------

def test_queue_sends_failures_to_the_dead_letter_queue_after_max_receive_count():
    body = build(max_receive_count=7, message_retention_days=2)
    queue = props(body, "Queue")
    assert queue["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}, "maxReceiveCount": 7}
    assert queue["MessageRetentionPeriod"] == 2 * 86400
    assert queue["ReceiveMessageWaitTimeSeconds"] == 20
    assert props(body, "DeadLetterQueue")["MessageRetentionPeriod"] == 14 * 86400
    assert "RedrivePolicy" not in props(body, "DeadLetterQueue")


@pytest.mark.parametrize(("worker", "visibility"), [
    ({}, 180), ({"timeout_seconds": 120, "batching_window_seconds": 10, "batch_size": 50}, 730), ({"timeout_seconds": 900, "batching_window_seconds": 300, "batch_size": 100}, 5700),
])
def test_visibility_timeout_is_six_function_timeouts_plus_the_batching_window(worker, visibility):
    assert props(build(worker=worker), "Queue")["VisibilityTimeout"] == visibility


def test_topics_and_queues_are_encrypted_with_the_layers_key():
    body = build()
    for name in ("Topic", "Queue", "DeadLetterQueue"):
        assert props(body, name)["KmsMasterKeyId"] == KEY_ARN, name
    key = body["Resources"]["MessagingKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")


@pytest.mark.parametrize(("fanout", "services"), [
    (False, ["sns.amazonaws.com"]),
    (True, ["sns.amazonaws.com", "s3.amazonaws.com"]),
])
def test_key_admits_the_delivering_services_on_this_accounts_behalf_only(fanout, services):
    body = build(s3_fanout={"enabled": fanout})
    root, *others = props(body, "MessagingKey")["KeyPolicy"]["Statement"]
    assert root["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert [s["Principal"]["Service"] for s in others] == services
    for statement in others:
        assert statement["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


# --- topic -> queue ---------------------------------------------------------------------

@pytest.mark.parametrize("raw", [True, False])
def test_topic_delivers_to_the_queue_with_raw_delivery_from_the_parameters(raw):
    body = build(raw_delivery=raw)
    subscription = body["Resources"]["QueueSubscription"]
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "Topic"}, "Protocol": "sqs", "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]}, "RawMessageDelivery": raw,
        # what SNS cannot deliver after its retries goes to the dead-letter queue instead of being dropped
        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}}
    assert subscription["DependsOn"] == ["QueuePolicy", "DeadLetterQueuePolicy"]


DENY_PLAIN_HTTP = {"Effect": "Deny", "Principal": "*", "Action": ["sqs:*"], "Sid": "DenyWithoutTls",
                   "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


@pytest.mark.parametrize("queue", ["Queue", "DeadLetterQueue"])
def test_each_queue_admits_only_that_topic_and_never_plain_http(queue):
    policy = props(build(), f"{queue}Policy")
    assert policy["Queues"] == [{"Ref": queue}]
    allow, deny = policy["PolicyDocument"]["Statement"]
    assert allow == {
        "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": ["sqs:SendMessage"],
        "Resource": [{"Fn::GetAtt": [queue, "Arn"]}], "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": "Topic"}}},
    }
    assert deny == {**DENY_PLAIN_HTTP, "Resource": [{"Fn::GetAtt": [queue, "Arn"]}]}


# --- worker -----------------------------------------------------------------------------

def test_worker_consumes_the_queue_with_partial_batch_responses():
    body = build(worker={"batch_size": 25, "batching_window_seconds": 5, "max_concurrency": 8})
    _, mapping = only_resource(body, "AWS::Lambda::EventSourceMapping")
    assert mapping["Properties"] == {
        "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]}, "FunctionName": {"Ref": "WorkerFunction"},
        "BatchSize": 25, "MaximumBatchingWindowInSeconds": 5,
        "FunctionResponseTypes": ["ReportBatchItemFailures"], "ScalingConfig": {"MaximumConcurrency": 8},
    }


def test_worker_code_runtime_logs_and_async_failures():
    body = build(worker={"memory_mb": 512, "timeout_seconds": 60, "log_retention_days": 14})
    fn = props(body, "WorkerFunction")
    (artifact,) = artifacts_of(body)
    assert artifact.startswith("lambda/queue_worker-")
    assert fn["Code"] == {"S3Bucket": {"Ref": "TemplateBucket"}, "S3Key": {"Fn::Join": ["", [{"Ref": "TemplatePrefix"}, artifact]]}}
    assert (fn["Runtime"], fn["Handler"], fn["Architectures"]) == ("python3.13", "handler.handler", ["arm64"])
    assert (fn["MemorySize"], fn["Timeout"]) == (512, 60)
    assert fn["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}}
    assert fn["LoggingConfig"] == {"LogGroup": {"Ref": "WorkerLogGroup"}, "LogFormat": "JSON",
                                   "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN"}
    assert "Environment" not in fn
    assert props(body, "WorkerLogGroup")["RetentionInDays"] == 14


def test_worker_role_grants_exactly_these_actions_on_exactly_these_resources():
    assert grants(build()) == {
        ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"): [{"Fn::GetAtt": ["Queue", "Arn"]}],
        ("sqs:SendMessage",): [{"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}],
        ("kms:Decrypt", "kms:GenerateDataKey"): [KEY_ARN],
        ("logs:CreateLogStream", "logs:PutLogEvents"): [{"Fn::GetAtt": ["WorkerLogGroup", "Arn"]}],
    }
    assert "ManagedPolicyArns" not in props(build(), "WorkerRole")


def test_concurrency_and_vpc_suppressions_say_why_and_go_when_configured():
    body = build()
    assert skipped(body, "WorkerFunction") == ["CKV_AWS_115", "CKV_AWS_117"]
    assert "Parameters" not in body or "PrivateSubnetIds" not in body["Parameters"]
    configured = build(worker={"reserved_concurrency": 4, "vpc": True})
    assert skipped(configured, "WorkerFunction") == []
    fn = props(configured, "WorkerFunction")
    assert fn["ReservedConcurrentExecutions"] == 4
    assert fn["VpcConfig"] == {"SubnetIds": {"Ref": "PrivateSubnetIds"}, "SecurityGroupIds": [{"Ref": "AppSecurityGroupId"}]}
    assert props(configured, "WorkerRole")["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"}]


def test_worker_can_be_left_to_another_consumer():
    body = build(worker={"enabled": False})
    assert not resources_of_type(body, "AWS::Lambda::Function")
    assert not resources_of_type(body, "AWS::Lambda::EventSourceMapping")
    assert artifacts_of(body) == []
    assert "QueueWorkerFunctionArn" not in body["Outputs"]


# --- S3 fan-out --------------------------------------------------------------------------

def test_fanout_bucket_publishes_its_object_events_to_the_topic():
    body = build(s3_fanout=FANOUT)
    bucket = body["Resources"]["UploadBucket"]
    assert bucket["DependsOn"] == "TopicPolicy"
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert bucket["Properties"]["BucketName"] == {"Fn::Sub": "demo-test-uploads-${AWS::AccountId}"}
    rules = {"S3Key": {"Rules": [{"Name": "prefix", "Value": "incoming/"}, {"Name": "suffix", "Value": ".csv"}]}}
    assert bucket["Properties"]["NotificationConfiguration"] == {"TopicConfigurations": [
        {"Event": "s3:ObjectCreated:*", "Topic": {"Ref": "Topic"}, "Filter": rules},
        {"Event": "s3:ObjectRemoved:*", "Topic": {"Ref": "Topic"}, "Filter": rules},
    ]}
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert body["Outputs"]["UploadBucketName"]["Value"] == {"Ref": "UploadBucket"}


def test_topic_policy_admits_s3_for_this_bucket_and_account_only():
    (statement,) = props(build(s3_fanout=FANOUT), "TopicPolicy")["PolicyDocument"]["Statement"]
    assert statement == {
        "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": ["sns:Publish"],
        "Resource": [{"Ref": "Topic"}],
        "Condition": {
            "ArnEquals": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:s3:::demo-test-uploads-${AWS::AccountId}"}},
            "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        },
    }


def test_fanout_bucket_refuses_plain_http_and_the_worker_may_read_its_objects():
    body = build(s3_fanout=FANOUT)
    (deny,) = props(body, "UploadBucketPolicy")["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Condition"]) == ("Deny", "*", {"Bool": {"aws:SecureTransport": False}})
    assert grants(body)[("s3:GetObject", "s3:GetObjectVersion")] == [{"Fn::Sub": "${UploadBucket.Arn}/*"}]


def test_fanout_bucket_logs_into_the_environments_log_bucket():
    logged = render(messaging.build(make_env(messaging={"enabled": True, "s3_fanout": {"enabled": True}}, monitoring={"enabled": True})))
    assert skipped(logged, "UploadBucket") == []
    assert props(logged, "UploadBucket")["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "LogBucketName"}, "LogFilePrefix": "s3/messaging-uploads/",
        "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}}}
    # without the monitoring layer there is no log bucket, and the reason says exactly that
    alone = build(s3_fanout={"enabled": True})["Resources"]["UploadBucket"]
    assert alone["Metadata"]["checkov"]["skip"] == [
        {"id": "CKV_AWS_18", "comment": "monitoring.enabled is false: the environment has no log bucket for S3 access logs"}]


def test_no_fanout_means_no_bucket_and_no_topic_policy():
    body = build()
    assert not resources_of_type(body, "AWS::S3::Bucket")
    assert not resources_of_type(body, "AWS::SNS::TopicPolicy")


# --- alarms -------------------------------------------------------------------------

def test_the_layers_alarms_notify_the_environments_topic_not_one_of_its_own():
    body = build(alarms={"dead_letter_messages": 3})
    assert [r["Properties"]["Protocol"] for r in resources_of_type(body, "AWS::SNS::Subscription").values()] == ["sqs"]
    assert [k for k in resources_of_type(body, "AWS::SNS::Topic")] == ["Topic"]
    alarm = props(body, "DeadLetterQueueAlarm")
    assert alarm["Threshold"] == 3
    assert alarm["AlarmActions"] == {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert "MessagingAlarmTopicArn" not in body["Outputs"]


def test_outputs_are_the_contract():
    outputs = build()["Outputs"]
    assert {"TopicArn", "QueueUrl", "QueueArn", "DeadLetterQueueUrl", "DeadLetterQueueArn"} <= set(outputs)
    assert outputs["QueueUrl"]["Value"] == {"Ref": "Queue"}
    assert outputs["DeadLetterQueueArn"]["Value"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    assert outputs["MessagingKeyArn"]["Value"] == KEY_ARN


def test_output_is_deterministic():
    env = make_env(messaging={"enabled": True, "s3_fanout": FANOUT})
    assert messaging.build(env).to_json() == messaging.build(env).to_json()


def test_messaging_needs_no_other_layer():
    env = EnvConfig.model_validate({"project": "demo", "environment": "test", "region": "eu-west-1", "messaging": {"enabled": True}})
    # AlarmTopicArn has a default: alone, the alarms notify nobody until a topic is given
    assert set(render(messaging.build(env))["Parameters"]) == {"TemplateBucket", "TemplatePrefix", "AlarmTopicArn"}


def test_shipped_files_fan_out_and_prod_gives_the_worker_more_room():
    dev, prod = load_config(ROOT / "parameters" / "dev.yaml"), load_config(ROOT / "parameters" / "prod.yaml")
    assert dev.messaging.s3_fanout.enabled and prod.messaging.s3_fanout.enabled
    assert prod.messaging.worker.max_concurrency > dev.messaging.worker.max_concurrency


# --- schema ------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "path", "fragment"), [
    ({"max_receive_count": 0}, "messaging.max_receive_count", "greater than or equal to 1"),
    ({"max_receive_count": 1001}, "messaging.max_receive_count", "less than or equal to 1000"),
    ({"message_retention_days": 15}, "messaging.message_retention_days", "less than or equal to 14"),
    ({"worker": {"batch_size": 50}}, "messaging.worker", "batch_size above 10 needs batching_window_seconds"),
    ({"worker": {"max_concurrency": 1}}, "messaging.worker.max_concurrency", "greater than or equal to 2"),
    ({"worker": {"log_retention_days": 10}}, "messaging.worker.log_retention_days", "must be one of"),
    ({"alarm_emails": ["ops@example.com"]}, "messaging", "alarm_emails moved to monitoring.alarm_emails"),
    ({"dlq_alarm_threshold": 3}, "messaging", "dlq_alarm_threshold moved to messaging.alarms.dead_letter_messages"),
    ({"s3_fanout": {"access_log_bucket": "logs"}}, "messaging.s3_fanout", "access_log_bucket moved to the environment's log bucket"),
    ({"alarms": {"dead_letter_messages": 0}}, "messaging.alarms.dead_letter_messages", "greater than or equal to 1"),
    ({"s3_fanout": {"events": ["s3:ObjectCreated"]}}, "messaging.s3_fanout.events.0", "must be one of"),
    ({"s3_fanout": {"events": []}}, "messaging.s3_fanout.events", "at least one event type"),
])
def test_bad_messaging_fields_name_the_field(tmp_path, fields, path, fragment):
    file = tmp_path / "test.yaml"
    file.write_text(json.dumps(merge(BASE_ENV, {"messaging": {"enabled": True, **fields}})))
    with pytest.raises(ConfigError) as raised:
        load_config(file)
    assert f" {path}: " in str(raised.value) and fragment in str(raised.value), str(raised.value)


def test_worker_in_the_vpc_needs_the_security_layer(tmp_path):
    data = merge(BASE_ENV, {"security": {"enabled": False}, "messaging": {"enabled": True, "worker": {"vpc": True}}})
    assert " messaging.worker.vpc: needs security.enabled: true" in config_error(tmp_path, data)


# --- lint and scan ---------------------------------------------------------------------

SHAPES = {
    "default": {},
    "envelope-no-worker": {"raw_delivery": False, "worker": {"enabled": False}},
    "fanout-logged-vpc": {"s3_fanout": FANOUT, "monitoring": True,
                          "worker": {"vpc": True, "reserved_concurrency": 10, "batch_size": 1000, "batching_window_seconds": 30}},
    "fanout-plain": {"s3_fanout": {"enabled": True}},
}


def shapes() -> dict[str, object]:
    built = {}
    for name, fields in SHAPES.items():
        fields = dict(fields)
        monitoring = {"enabled": fields.pop("monitoring", False)}
        built[name] = messaging.build(make_env(messaging={"enabled": True, **fields}, monitoring=monitoring))
    return built


def test_lint_clean_in_every_shape():
    assert lint_findings({name: (t, "eu-west-1") for name, t in shapes().items()}) == []


def test_security_scan_clean_in_every_shape(tmp_path):
    assert checkov_failures(shapes(), tmp_path) == []


# --- deploy on moto ------------------------------------------------------------------

def upload_artifacts(aws: str, body: dict) -> dict[str, str]:
    s3 = client(aws, "s3")
    s3.create_bucket(Bucket="strata-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for key in artifacts_of(body):
        s3.put_object(Bucket="strata-artifacts", Key=f"releases/1/{key}", Body=artifact_data(key))
    return {"TemplateBucket": "strata-artifacts", "TemplatePrefix": "releases/1/"}


def queue_attributes(aws: str, url: str) -> dict[str, str]:
    return client(aws, "sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


def test_worker_deploys_with_its_event_source_mapping(aws):
    """What moto shows: the worker function from the zip in TemplateBucket,
    its role, and the event source mapping on the queue with partial batch
    responses, batch size and maximum concurrency; the fan-out bucket under
    the name the topic policy was written for.

    What moto does not emulate: running the function (it needs Docker),
    Architectures, the queue policies, the topic policy, the subscription, the
    bucket's notification and policy, and the alarms (skipped by moto's
    CloudFormation; checked on the JSON above)."""
    ids = deploy_network_and_security(aws, make_env())
    body = build(s3_fanout={"enabled": True}, worker={"batch_size": 5, "max_concurrency": 3, "vpc": True})
    resources = deploy_stack(aws, "messaging", body, {**upload_artifacts(aws, body), **stack_parameters(body, ids)})

    lam = client(aws, "lambda")
    config = lam.get_function(FunctionName=resources["WorkerFunction"]["PhysicalResourceId"])["Configuration"]
    assert (config["Runtime"], config["Handler"]) == ("python3.13", "handler.handler")
    assert config["CodeSha256"]  # moto read the zip from the template bucket
    assert config["Role"].endswith("/" + resources["WorkerRole"]["PhysicalResourceId"])
    assert config["VpcConfig"]["SubnetIds"] == ids["PrivateSubnetIds"].split(",")
    (mapping,) = lam.list_event_source_mappings(FunctionName=config["FunctionName"])["EventSourceMappings"]
    assert mapping["EventSourceArn"] == queue_attributes(aws, resources["Queue"]["PhysicalResourceId"])["QueueArn"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (mapping["BatchSize"], mapping["ScalingConfig"]) == (5, {"MaximumConcurrency": 3})
    assert resources["UploadBucket"]["PhysicalResourceId"] == "demo-test-uploads-123456789012"


def test_topic_queue_and_redrive_work_on_moto(aws):
    """What moto shows: the queue's redrive policy, retention, visibility and
    key, the DLQ's 14 days; a message published to the topic arrives in the
    queue as it was published (raw delivery); and a message received
    max_receive_count times without being deleted moves to the DLQ.

    moto's CloudFormation skips AWS::SNS::Subscription (and the queue
    policy), so the test subscribes the queue itself with the template's own
    subscription properties. The worker is left out here: moto would try to
    run it in Docker on every message."""
    body = build(worker={"enabled": False}, max_receive_count=2)
    resources = deploy_stack(aws, "messaging", body)
    queue_url, dlq_url = resources["Queue"]["PhysicalResourceId"], resources["DeadLetterQueue"]["PhysicalResourceId"]
    queue, dlq = queue_attributes(aws, queue_url), queue_attributes(aws, dlq_url)
    assert json.loads(queue["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"], "maxReceiveCount": 2}
    assert (queue["MessageRetentionPeriod"], queue["VisibilityTimeout"]) == ("345600", "180")
    assert dlq["MessageRetentionPeriod"] == str(14 * 86400)
    key_id = resources["MessagingKey"]["PhysicalResourceId"]
    assert queue["KmsMasterKeyId"].endswith(f":key/{key_id}") and dlq["KmsMasterKeyId"] == queue["KmsMasterKeyId"]

    sns, sqs = client(aws, "sns"), client(aws, "sqs")
    topic_arn = resources["Topic"]["PhysicalResourceId"]
    subscription = body["Resources"]["QueueSubscription"]["Properties"]
    sns.subscribe(TopicArn=topic_arn, Protocol=subscription["Protocol"], Endpoint=queue["QueueArn"],
                  Attributes={"RawMessageDelivery": str(subscription["RawMessageDelivery"]).lower()})
    sns.publish(TopicArn=topic_arn, Message=json.dumps({"order_id": 42}))

    for _ in range(2):  # max_receive_count receives, never deleted
        (message,) = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0)["Messages"]
        assert json.loads(message["Body"]) == {"order_id": 42}  # raw: no SNS envelope
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0)
    (dead,) = sqs.receive_message(QueueUrl=dlq_url)["Messages"]
    assert json.loads(dead["Body"]) == {"order_id": 42}
