"""messaging layer: SNS topic -> SQS queue (with a dead-letter queue) -> worker Lambda.

Drawn the way seed 003 draws it: an optional S3 bucket whose object events
go to the topic, the topic, the queue it delivers to (raw delivery, the
queue policy admitting that topic only), the dead-letter queue behind it
(which also takes what SNS could not deliver to the queue), the worker
Lambda consuming the queue with partial batch responses, and alarms on the
backlog, the dead-letter queue and the worker, notifying the environment's
alarm topic (monitoring layer). The queue sits between the topic and the
function because it buffers bursts and keeps what failed (seed 003 picks
S3 -> SNS -> SQS -> Lambda over S3 -> SNS -> Lambda for exactly that).

Everything is encrypted with one customer managed key: S3 and SNS are
services that must be let in by key policy to publish to an encrypted topic
or deliver to an encrypted queue, and AWS managed keys' policies cannot be
changed. Every queue's policy refuses requests without TLS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from awacs.aws import ArnEquals, Bool, Condition, Principal, StringEquals
from pydantic import Field, field_validator, model_validator
from troposphere import GetAtt, Ref, Sub, Template, awslambda, kms, logs, s3, sns, sqs
from troposphere.validators import integer

from generator.cfn import alarms
from generator.cfn.buckets import access_logging
from generator.cfn.iam import Grant, grant, queue_policy, resource_policy, service_role
from generator.cfn.kms import customer_key, use_key
from generator.cfn.lambdas import function_code
from generator.cfn.resources import keep_data, output, parameter, retain_long_logs, suppress
from generator.cfn.sections import LayerSection, LogRetentionDays, Section, refuse_moved, reject_repeats

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "messaging"
DESCRIPTION = "SNS topic to SQS queue with a dead-letter queue and a worker Lambda, optional S3 fan-out"

RUNTIME = "python3.13"
# The most SQS keeps a message: the dead-letter queue holds failures this long.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# AWS's advice for a queue feeding Lambda: visibility timeout at least six
# times the function timeout (plus the batching window), so a message is not
# handed out again while a throttled or retried invocation still holds it.
VISIBILITY_TIMEOUT_FACTOR = 6
MAX_VISIBILITY_TIMEOUT = 12 * 3600

S3Event = Literal[
    "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post", "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload", "s3:ObjectRemoved:*", "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated", "s3:ObjectRestore:*", "s3:ObjectRestore:Post",
    "s3:ObjectRestore:Completed", "s3:ObjectTagging:*", "s3:LifecycleExpiration:*",
]


class Worker(Section):
    enabled: bool = True
    """Build the worker Lambda (lambda_src/queue_worker/) that consumes the queue. Off: the queue is
    left for another consumer (a container service, say)."""
    memory_mb: int = Field(default=256, ge=128, le=10240)
    """Memory of the function in MB; Lambda gives CPU in proportion."""
    timeout_seconds: int = Field(default=30, ge=1, le=900)
    """How long one batch may run. The queue's visibility timeout is set to six times this (plus the
    batching window), as AWS advises for queues feeding Lambda."""
    batch_size: int = Field(default=10, ge=1, le=10000)
    """Most messages handed to one invocation. Above 10, SQS requires a batching window."""
    batching_window_seconds: int = Field(default=0, ge=0, le=300)
    """How long the poller gathers messages before invoking with a partial batch (0: invoke at once)."""
    max_concurrency: int = Field(default=5, ge=2, le=1000)
    """Most concurrent invocations the queue's poller starts (the event source mapping's
    MaximumConcurrency): protects what the worker calls, without reserving account concurrency."""
    reserved_concurrency: int | None = Field(default=None, ge=1)
    """Reserve this many executions for the function (also its ceiling). Off by default: new accounts
    have only 10 and Lambda refuses to reserve below that floor; `max_concurrency` already caps it."""
    log_retention_days: LogRetentionDays = 30
    """Days CloudWatch keeps the worker's logs; one of the values CloudWatch Logs accepts."""
    vpc: bool = False
    """Run the function in the private subnets with the app security group (takes `PrivateSubnetIds`
    and `AppSecurityGroupId`), for logic that must reach the database or cache. The queue itself is
    polled by Lambda outside the VPC either way."""


    @model_validator(mode="after")
    def _window_for_big_batches(self) -> Worker:
        if self.batch_size > 10 and self.batching_window_seconds < 1:
            raise ValueError("batch_size above 10 needs batching_window_seconds of at least 1 (an SQS rule)")
        return self


class S3Fanout(Section):
    enabled: bool = False
    """Create an upload bucket whose object events are published to the topic (S3 -> SNS -> SQS ->
    Lambda, seed 003). The topic policy and the key policy admit S3 for this bucket and account only."""
    events: list[S3Event] = ["s3:ObjectCreated:*"]
    """S3 event types sent to the topic."""
    prefix: str = ""
    """Only keys starting with this (e.g. `incoming/`) raise events; empty: every key."""
    suffix: str = ""
    """Only keys ending with this (e.g. `.csv`) raise events; empty: every key."""
    noncurrent_version_days: int = Field(default=30, ge=1)
    """The bucket is versioned; older versions of an object are deleted after this many days. Its S3 server
    access logs go to the environment's log bucket (monitoring layer)."""

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: object) -> object:
        return refuse_moved(data, {"access_log_bucket": "the environment's log bucket (monitoring.enabled)"})

    @field_validator("events")
    @classmethod
    def _no_repeats(cls, events: list[str]) -> list[str]:
        if not events:
            raise ValueError("list at least one event type")
        return reject_repeats(events)


class Alarms(alarms.Timing):
    oldest_message_seconds: int = Field(default=900, ge=1)
    """Age (seconds) of the oldest message in the queue before the alarm fires: the worker is not keeping up
    or not running."""
    dead_letter_messages: int = Field(default=1, ge=1)
    """Messages in the dead-letter queue before the alarm fires (failed `max_receive_count` times, or SNS
    could not deliver them)."""
    worker_errors: int = Field(default=1, ge=1)
    """Failed invocations of the worker in a period (a crash; messages it reports failed are not errors)."""
    worker_throttles: int = Field(default=1, ge=1)
    """Throttled invocations of the worker in a period."""


class Config(LayerSection):
    raw_delivery: bool = True
    """SNS delivers the published message as the SQS body as it is. Off: each body is SNS's JSON
    envelope (the worker unwraps it either way)."""
    max_receive_count: int = Field(default=5, ge=1, le=1000)
    """Receives of one message before SQS moves it to the dead-letter queue (kept 14 days there)."""
    message_retention_days: int = Field(default=4, ge=1, le=14)
    """Days the main queue keeps a message nobody consumed."""
    worker: Worker = Worker()
    """The Lambda consuming the queue."""
    s3_fanout: S3Fanout = S3Fanout()
    """Optional upload bucket publishing its object events to the topic."""
    alarms: Alarms = Alarms()
    """Alarms on the queues and the worker."""

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: object) -> object:
        return refuse_moved(data, {"alarm_emails": "monitoring.alarm_emails (the environment's alarm topic)",
                                   "dlq_alarm_threshold": "messaging.alarms.dead_letter_messages"})

    def visibility_timeout(self) -> int:
        worker = self.worker
        return min(VISIBILITY_TIMEOUT_FACTOR * worker.timeout_seconds + worker.batching_window_seconds, MAX_VISIBILITY_TIMEOUT)


class _LoggingConfig(awslambda.LoggingConfig):
    # troposphere 4.11 lost LogFormat from the function's LoggingConfig.
    props = {**awslambda.LoggingConfig.props, "LogFormat": (str, False)}


class _PollerScaling(awslambda.ScalingConfig):
    # troposphere 4.11's awslambda.ScalingConfig is another resource's; this is the event source mapping's.
    props = {"MaximumConcurrency": (integer, False)}


def build(env: EnvConfig) -> Template:
    cfg: Config = env.messaging
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    bucket_name = _upload_bucket_name(env) if cfg.s3_fanout.enabled else None
    key = _key(t, bucket_name is not None)
    topic = t.add_resource(sns.Topic("Topic", KmsMasterKeyId=GetAtt(key, "Arn")))
    dlq, queue = _queues(t, cfg, key)
    _subscription(t, cfg, topic, queue, dlq)
    bucket = _upload_bucket(t, env, bucket_name, topic) if bucket_name else None
    if cfg.worker.enabled:
        _worker(t, cfg.worker, queue, dlq, key, bucket)
    _outputs(t, topic, queue, dlq, key, bucket)
    _alarms(t, env)
    return t


def _key(t: Template, fanout: bool) -> kms.Key:
    """S3 publishing to the encrypted topic and SNS delivering to the
    encrypted queues use the key on this account's behalf only."""
    services = ["sns.amazonaws.com"] + (["s3.amazonaws.com"] if fanout else [])
    this_account = Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId")))
    return customer_key(
        t, "MessagingKey", "Encrypts the messaging layer's topics and queues",
        [(Principal("Service", s), use_key(["kms:GenerateDataKey*", "kms:Decrypt"], conditions=this_account)) for s in services],
    )


def _queues(t: Template, cfg: Config, key) -> tuple[sqs.Queue, sqs.Queue]:
    dlq = t.add_resource(sqs.Queue(
        "DeadLetterQueue", KmsMasterKeyId=GetAtt(key, "Arn"), MessageRetentionPeriod=DLQ_RETENTION_SECONDS,
    ))
    queue = t.add_resource(sqs.Queue(
        "Queue",
        KmsMasterKeyId=GetAtt(key, "Arn"),
        MessageRetentionPeriod=cfg.message_retention_days * 24 * 3600,
        VisibilityTimeout=cfg.visibility_timeout(),
        # Long polling: fewer empty receives, each of which is billed.
        ReceiveMessageWaitTimeSeconds=20,
        RedrivePolicy=sqs.RedrivePolicy(deadLetterTargetArn=GetAtt(dlq, "Arn"), maxReceiveCount=cfg.max_receive_count),
    ))
    return dlq, queue


def _sns_may_send(topic: sns.Topic, queue: sqs.Queue) -> tuple[Principal, Grant]:
    return Principal("Service", "sns.amazonaws.com"), grant(
        ["sqs:SendMessage"], [GetAtt(queue, "Arn")], conditions=Condition(ArnEquals("aws:SourceArn", Ref(topic))),
    )


def _subscription(t: Template, cfg: Config, topic: sns.Topic, queue: sqs.Queue, dlq: sqs.Queue) -> None:
    """The topic delivers to the queue; a message SNS still cannot deliver
    after its retries (the queue's policy or key broken, say) goes to the
    dead-letter queue instead of being dropped."""
    queue_policy(t, "QueuePolicy", queue, [_sns_may_send(topic, queue)])
    # The worker sends failed asynchronous invocations with its role, which IAM allows; SNS needs the policy.
    queue_policy(t, "DeadLetterQueuePolicy", dlq, [_sns_may_send(topic, dlq)])
    t.add_resource(sns.SubscriptionResource(
        "QueueSubscription", TopicArn=Ref(topic), Protocol="sqs", Endpoint=GetAtt(queue, "Arn"),
        RawMessageDelivery=cfg.raw_delivery, RedrivePolicy={"deadLetterTargetArn": GetAtt(dlq, "Arn")},
        DependsOn=["QueuePolicy", "DeadLetterQueuePolicy"],
    ))


def _upload_bucket_name(env: EnvConfig) -> str:
    """The bucket's name as an Fn::Sub pattern. A known name, not a Ref: the
    topic policy must name the bucket before the bucket exists (S3 checks it
    may publish to the topic when the notification is configured)."""
    return f"{env.project}-{env.environment}-uploads-${{AWS::AccountId}}"


def _upload_bucket(t: Template, env: EnvConfig, name: str, topic: sns.Topic) -> s3.Bucket:
    cfg: S3Fanout = env.messaging.s3_fanout
    bucket_arn = Sub(f"arn:${{AWS::Partition}}:s3:::{name}")
    t.add_resource(sns.TopicPolicy(
        "TopicPolicy",
        Topics=[Ref(topic)],
        PolicyDocument=resource_policy([(
            Principal("Service", "s3.amazonaws.com"),
            grant(["sns:Publish"], [Ref(topic)], conditions=Condition([
                ArnEquals("aws:SourceArn", bucket_arn), StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
            ])),
        )]),
    ))
    rules = [s3.Rules(Name=n, Value=v) for n, v in (("prefix", cfg.prefix), ("suffix", cfg.suffix)) if v]
    bucket = t.add_resource(s3.Bucket(
        "UploadBucket",
        BucketName=Sub(name),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")),
        ]),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(
            Id="expire-old-versions", Status="Enabled",
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=cfg.noncurrent_version_days),
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
        )]),
        NotificationConfiguration=s3.NotificationConfiguration(TopicConfigurations=[
            s3.TopicConfigurations(
                Event=event, Topic=Ref(topic),
                **({"Filter": s3.Filter(S3Key=s3.S3Key(Rules=rules))} if rules else {}),
            ) for event in cfg.events
        ]),
        DependsOn="TopicPolicy",
    ))
    access_logging(t, bucket, "messaging-uploads", env.monitoring.enabled)
    keep_data(bucket, "Retain")
    t.add_resource(s3.BucketPolicy(
        "UploadBucketPolicy", Bucket=Ref(bucket),
        PolicyDocument=resource_policy([], deny=[(
            Principal("*"),
            grant(["s3:*"], [GetAtt(bucket, "Arn"), Sub("${UploadBucket.Arn}/*")],
                  conditions=Condition(Bool("aws:SecureTransport", False))),
        )]),
    ))
    return bucket


def _worker(t: Template, cfg: Worker, queue: sqs.Queue, dlq: sqs.Queue, key, bucket: s3.Bucket | None) -> None:
    group = retain_long_logs(t.add_resource(logs.LogGroup("WorkerLogGroup", RetentionInDays=cfg.log_retention_days)))
    suppress(group, "CKV_AWS_158", "Worker logs carry message ids and summaries, no secrets; CloudWatch Logs encrypts them at rest by default")
    grants = [
        grant(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"], [GetAtt(queue, "Arn")]),
        # Asynchronous invocations that still fail after Lambda's two retries go to the same DLQ.
        grant(["sqs:SendMessage"], [GetAtt(dlq, "Arn")]),
        grant(["kms:Decrypt", "kms:GenerateDataKey"], [GetAtt(key, "Arn")]),
        grant(["logs:CreateLogStream", "logs:PutLogEvents"], [GetAtt(group, "Arn")]),
    ]
    if bucket is not None:
        grants.append(grant(["s3:GetObject", "s3:GetObjectVersion"], [Sub("${UploadBucket.Arn}/*")]))
    function_kwargs, managed = {}, []
    if cfg.vpc:
        subnets = parameter(t, "PrivateSubnetIds", "List<AWS::EC2::Subnet::Id>", "Private subnets the worker runs in")
        app_group = parameter(t, "AppSecurityGroupId", "AWS::EC2::SecurityGroup::Id", "Application security group the worker uses")
        function_kwargs["VpcConfig"] = awslambda.VPCConfig(SubnetIds=Ref(subnets), SecurityGroupIds=[Ref(app_group)])
        # AWS's policy for exactly this: Lambda creates the function's network interfaces
        # before their ids exist, so the EC2 actions cannot name them.
        managed.append(Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"))
    role = service_role(t, "WorkerRole", "lambda.amazonaws.com", grants, managed_policy_arns=managed)
    function = t.add_resource(awslambda.Function(
        "WorkerFunction",
        Description="Consumes the queue: one message at a time, failures reported per message",
        Runtime=RUNTIME, Handler="handler.handler", Architectures=["arm64"],
        Code=function_code(t, "queue_worker"),
        Role=GetAtt(role, "Arn"),
        MemorySize=cfg.memory_mb, Timeout=cfg.timeout_seconds,
        DeadLetterConfig=awslambda.DeadLetterConfig(TargetArn=GetAtt(dlq, "Arn")),
        LoggingConfig=_LoggingConfig(LogGroup=Ref(group), LogFormat="JSON", ApplicationLogLevel="INFO", SystemLogLevel="WARN"),
        **function_kwargs,
    ))
    if cfg.reserved_concurrency:
        function.ReservedConcurrentExecutions = cfg.reserved_concurrency
    else:
        suppress(function, "CKV_AWS_115", (
            f"messaging.worker.reserved_concurrency is empty: the event source mapping's MaximumConcurrency "
            f"({cfg.max_concurrency}) caps it; reserving fails in accounts at the 10-execution floor"
        ))
    if not cfg.vpc:
        services = "SQS, KMS, S3 and CloudWatch Logs" if bucket is not None else "SQS, KMS and CloudWatch Logs"
        suppress(function, "CKV_AWS_117", (
            f"messaging.worker.vpc is false: it reaches only {services}, all outside the VPC"
        ))
    t.add_resource(awslambda.EventSourceMapping(
        "WorkerEventSourceMapping",
        EventSourceArn=GetAtt(queue, "Arn"), FunctionName=Ref(function),
        BatchSize=cfg.batch_size, MaximumBatchingWindowInSeconds=cfg.batching_window_seconds,
        # The handler returns the ids of the messages that failed; only those come back.
        FunctionResponseTypes=["ReportBatchItemFailures"],
        ScalingConfig=_PollerScaling(MaximumConcurrency=cfg.max_concurrency),
    ))


def _outputs(t: Template, topic, queue, dlq, key, bucket) -> None:
    output(t, "TopicArn", Ref(topic), "Topic to publish to (publishers also need kms:GenerateDataKey and kms:Decrypt on MessagingKeyArn)")
    output(t, "QueueUrl", Ref(queue), "Queue the topic delivers to")
    output(t, "QueueArn", GetAtt(queue, "Arn"), "Queue the topic delivers to")
    output(t, "DeadLetterQueueUrl", Ref(dlq), "Dead-letter queue of the queue")
    output(t, "DeadLetterQueueArn", GetAtt(dlq, "Arn"), "Dead-letter queue of the queue")
    output(t, "MessagingKeyArn", GetAtt(key, "Arn"), "KMS key of the topics and queues")
    if "WorkerFunction" in t.resources:
        output(t, "QueueWorkerFunctionArn", GetAtt(t.resources["WorkerFunction"], "Arn"), "Worker Lambda consuming the queue")
    if bucket is not None:
        output(t, "UploadBucketName", Ref(bucket), "Bucket whose object events are published to the topic")


def alarm_specs(env: EnvConfig) -> list[alarms.Spec]:
    """The queue's backlog, the dead-letter queue, and the worker's failures."""
    cfg: Config = env.messaging
    if not cfg.alarms.enabled:
        return []
    specs = [
        alarms.Spec(
            "oldest-message-age", "Queue: age of the oldest message", cfg.alarms.oldest_message_seconds, ">=", "ignore",
            "SQS stops publishing metrics of a queue idle for six hours; a queue nobody reads is idle too, and "
            "that quiet must not turn the alarm about its waiting messages back to OK",
            alarms.Metric("AWS/SQS", "ApproximateAgeOfOldestMessage", {"QueueName": GetAtt("Queue", "QueueName")}, "Maximum"),
            unit="s",
        ),
        alarms.queue_depth_spec("dead-letter-queue", "Dead-letter queue: messages that failed processing",
                                GetAtt("DeadLetterQueue", "QueueName"), cfg.alarms.dead_letter_messages),
    ]
    if cfg.worker.enabled:
        specs += alarms.lambda_specs("worker", Ref("WorkerFunction"), cfg.alarms.worker_errors, cfg.alarms.worker_throttles,
                                     "Worker function")
    return specs


def _alarms(t: Template, env: EnvConfig) -> None:
    alarms.raise_alarms(t, env, NAME, env.messaging.alarms, alarm_specs(env))
