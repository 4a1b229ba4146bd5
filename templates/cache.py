"""cache layer: an ElastiCache replication group and DynamoDB tables (seed 003's
caching / session layer).

Drawn in order: the layer's key, the cache's own security group (the cache
port from the app security group only, and the matching egress rule on the
app group, whose egress is closed by default), its subnet group over the
private subnets, the generated auth token and the function rotating it
(lambda_src/cache_token_rotation/, on a Secrets Manager schedule), the
replication group; then one DynamoDB table per entry of `tables`, and the
alarms on every node.

One customer managed key encrypts the tables, the cache and the auth token.
Its policy lets this account's principals use it only through DynamoDB and
Secrets Manager, the way AWS's own aws/dynamodb key does, so an application
granted `dynamodb:*Item` on a table or `secretsmanager:GetSecretValue` on the
token needs no separate KMS grant.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from awacs.aws import Condition, Principal, StringEquals
from pydantic import Field, field_validator, model_validator
from troposphere import GetAtt, Join, Ref, Sub, Template, awslambda, dynamodb, ec2, elasticache, kms, logs, secretsmanager

from generator.cfn import alarms, windows
from generator.cfn.iam import grant, service_role
from generator.cfn.kms import customer_key, use_key
from generator.cfn.lambdas import function_code
from generator.cfn.naming import logical_id
from generator.cfn.resources import NO_EGRESS, keep_data, output, parameter, retain_long_logs, suppress
from generator.cfn.sections import CacheNodeType, LayerSection, LogRetentionDays, Section

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "cache"
DESCRIPTION = "ElastiCache (Valkey or Redis) replication group and DynamoDB tables"

SUPPORTED_ENGINE_VERSIONS: dict[str, tuple[str, ...]] = {"valkey": ("7.2", "8.0", "8.1"), "redis": ("7.0", "7.1")}
DEFAULT_ENGINE_VERSION = {"valkey": "8.0", "redis": "7.1"}
MAX_REPLICAS = 5
# Services through which the account's principals may use the layer's key.
KEY_SERVICES = ("dynamodb", "secretsmanager")
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
_ATTRIBUTE = re.compile(r"^[A-Za-z0-9_.\-]{1,255}$")


class Cluster(Section):
    enabled: bool = True
    """Build the ElastiCache replication group (cluster mode off: one primary, `replicas` replicas)."""
    engine: Literal["valkey", "redis"] = "valkey"
    """Valkey (the open-source fork AWS prices about 20% below Redis OSS) or Redis OSS."""
    engine_version: str | None = None
    """Engine version, one of SUPPORTED_ENGINE_VERSIONS in templates/cache.py (default: 8.0 for valkey,
    7.1 for redis)."""
    node_type: CacheNodeType = "cache.t4g.micro"
    """Node type of the primary and the replicas."""
    replicas: int = Field(default=1, ge=0, le=MAX_REPLICAS)
    """Read replicas beside the primary. With 1 or more, the group is Multi-AZ with automatic failover
    (ElastiCache puts the replica in another AZ and promotes it if the primary fails); with 0 a node
    failure loses the cache."""
    port: int = Field(default=6379, ge=1024, le=65535)
    """Port the nodes listen on; the cache security group admits it from the app security group only."""
    snapshot_retention_days: int = Field(default=1, ge=0, le=35)
    """Days of daily snapshots kept (0: none). A final snapshot is taken when the group is deleted."""
    snapshot_window: str = "03:00-04:00"
    """Daily UTC window for snapshots, at least 60 minutes, outside the maintenance window."""
    maintenance_window: str = "sun:05:00-sun:06:00"
    """Weekly UTC window for patches, at least 60 minutes."""
    auth_token_rotation_days: int | None = Field(default=30, ge=1, le=1000)
    """Days between rotations of the AUTH token, done by a function on a Secrets Manager schedule with
    ElastiCache's ROTATE strategy: the group accepts the new token and the previous one, so a client
    must re-read the secret (CacheAuthTokenSecretArn) within one rotation period. Empty: the token never
    changes, for clients that read it only once at start and run longer than any period."""
    rotation_log_retention_days: LogRetentionDays = 90
    """Days CloudWatch Logs keeps the rotation function's log (one entry per rotation step)."""

    @field_validator("node_type")
    @classmethod
    def _node_type(cls, value: str) -> str:
        if not re.fullmatch(r"cache\.[a-z0-9-]+\.[a-z0-9]+", value):
            raise ValueError("must be a node type like cache.t4g.micro or cache.r7g.large")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Cluster:
        if self.engine_version is not None and self.engine_version not in SUPPORTED_ENGINE_VERSIONS[self.engine]:
            raise ValueError(
                f"engine_version '{self.engine_version}' is not supported for {self.engine} "
                f"(supported: {', '.join(SUPPORTED_ENGINE_VERSIONS[self.engine])})"
            )
        snapshot = windows.daily(self.snapshot_window, 60)
        maintenance = windows.weekly(self.maintenance_window, 60)
        if windows.overlap(snapshot, maintenance):
            raise ValueError(f"snapshot_window {self.snapshot_window} overlaps maintenance_window {self.maintenance_window}")
        return self

    def version(self) -> str:
        return self.engine_version or DEFAULT_ENGINE_VERSION[self.engine]


class Key(Section):
    name: str
    """Attribute name."""
    type: Literal["S", "N", "B"] = "S"
    """Attribute type: S string, N number, B binary."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ATTRIBUTE.match(value):
            raise ValueError("must be 1-255 letters, digits, '_', '-' or '.'")
        return value


class Table(Section):
    partition_key: Key
    """The partition (hash) key."""
    sort_key: Key | None = None
    """Optional sort (range) key."""
    billing: Literal["on_demand", "provisioned"] = "on_demand"
    """on_demand: pay per request, no capacity planning; provisioned: fixed read/write capacity."""
    read_capacity: int | None = Field(default=None, ge=1)
    """Read capacity units; only with billing: provisioned."""
    write_capacity: int | None = Field(default=None, ge=1)
    """Write capacity units; only with billing: provisioned."""
    ttl_attribute: str | None = None
    """Attribute holding an expiry time (epoch seconds, a number); DynamoDB deletes expired items for free."""
    deletion_protection: bool = False
    """Refuse DeleteTable (and a stack delete that would remove the table) until turned off. The table is
    retained by CloudFormation either way."""

    @model_validator(mode="after")
    def _consistent(self) -> Table:
        capacities = (self.read_capacity, self.write_capacity)
        if self.billing == "provisioned" and None in capacities:
            raise ValueError("billing provisioned needs read_capacity and write_capacity")
        if self.billing == "on_demand" and capacities != (None, None):
            raise ValueError("read_capacity and write_capacity apply only to billing: provisioned")
        if self.sort_key and self.sort_key.name == self.partition_key.name:
            raise ValueError("sort_key must be another attribute than partition_key")
        if self.ttl_attribute is not None and not _ATTRIBUTE.match(self.ttl_attribute):
            raise ValueError("ttl_attribute must be 1-255 letters, digits, '_', '-' or '.'")
        return self


class Alarms(alarms.Timing):
    cpu_percent: float = Field(default=90, gt=0, le=100)
    """Host CPU (%) of a node before the alarm fires (small nodes share it with the engine)."""
    engine_cpu_percent: float = Field(default=80, gt=0, le=100)
    """CPU (%) of the engine's one thread on a node before the alarm fires: the real limit of Valkey/Redis."""
    memory_percent: float = Field(default=80, gt=0, le=100)
    """Share (%) of a node's memory for data in use before the alarm fires; evictions start near 100."""
    evictions: int = Field(default=100, ge=1)
    """Keys a node evicted in a period for want of memory before the alarm fires."""
    replication_lag_seconds: float = Field(default=10, gt=0)
    """Seconds a replica trails the primary before the alarm fires (with replicas only)."""
    rotation_errors: int = Field(default=1, ge=1)
    """Failed (or throttled) runs of the token rotation function in a period (with rotation on)."""


class Config(LayerSection):
    cluster: Cluster = Cluster()
    """The in-memory cache (ElastiCache)."""
    tables: dict[str, Table] = {}
    """DynamoDB tables by name (lower-case, e.g. `sessions`); outputs `<Name>TableName` and `<Name>TableArn`.
    Point-in-time recovery is always on and tables are kept when the stack goes."""
    alarms: Alarms = Alarms()
    """Alarms on every node of the replication group."""

    @field_validator("tables")
    @classmethod
    def _table_names(cls, tables: dict[str, Table]) -> dict[str, Table]:
        bad = sorted(n for n in tables if not _TABLE_NAME.match(n))
        if bad:
            raise ValueError(f"table names must be lower-case letters, digits and '-', starting with a letter: {', '.join(bad)}")
        ids = [logical_id(n) for n in tables]
        clashing = sorted(n for n in tables if ids.count(logical_id(n)) > 1)
        if clashing:
            raise ValueError(f"table names differ only in '-': {', '.join(clashing)}")
        return tables

    @model_validator(mode="after")
    def _something_to_build(self) -> Config:
        if self.enabled and not self.cluster.enabled and not self.tables:
            raise ValueError("cache.enabled with cluster.enabled false and no tables builds nothing")
        return self


def build(env: EnvConfig) -> Template:
    cfg: Config = env.cache
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    key = _key(t)
    if cfg.cluster.enabled:
        _cache_cluster(t, cfg.cluster, key)
    for name, table in cfg.tables.items():
        _table(t, name, table, key)
    output(t, "CacheKeyArn", GetAtt(key, "Arn"), "KMS key of the cache, its auth token and the tables")
    _alarms(t, env)
    return t


def _key(t: Template) -> kms.Key:
    via_services = [Sub(f"{service}.${{AWS::Region}}.amazonaws.com") for service in KEY_SERVICES]
    key = customer_key(t, "CacheKey", "Encrypts the cache layer's tables, cache nodes and auth token", [(
        Principal("AWS", "*"),
        use_key(
            ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey", "kms:CreateGrant"],
            conditions=Condition(StringEquals({"kms:CallerAccount": Ref("AWS::AccountId"), "kms:ViaService": via_services})),
        ),
    )])
    return suppress(key, "CKV_AWS_33", "The '*' principal is held to this account (kms:CallerAccount) and to DynamoDB and Secrets Manager (kms:ViaService), as in AWS's own aws/dynamodb key")


def _cache_cluster(t: Template, cfg: Cluster, key) -> None:
    vpc_id = parameter(t, "VpcId", "AWS::EC2::VPC::Id", "VPC of the cache security group")
    subnets = parameter(t, "PrivateSubnetIds", "List<AWS::EC2::Subnet::Id>", "Private subnets of the cache subnet group, one per AZ")
    app_group = parameter(t, "AppSecurityGroupId", "AWS::EC2::SecurityGroup::Id", "Application security group allowed to reach the cache")
    group = _security_group(t, cfg, vpc_id, app_group)
    subnet_group = t.add_resource(elasticache.SubnetGroup(
        "CacheSubnetGroup", Description="Private subnets of the cache", SubnetIds=Ref(subnets),
    ))
    token = t.add_resource(secretsmanager.Secret(
        "CacheAuthToken",
        Description="AUTH token of the cache (clients send it after connecting over TLS)",
        KmsKeyId=GetAtt(key, "Arn"),
        # ElastiCache takes 16-128 printable characters without spaces, quotes, '/' or '@': letters and digits suffice.
        GenerateSecretString=secretsmanager.GenerateSecretString(PasswordLength=64, ExcludePunctuation=True),
    ))
    multi_az = cfg.replicas > 0
    group_resource = t.add_resource(elasticache.ReplicationGroup(
        "CacheReplicationGroup",
        ReplicationGroupDescription=f"{cfg.engine} cache",
        Engine=cfg.engine,
        EngineVersion=cfg.version(),
        CacheNodeType=cfg.node_type,
        NumCacheClusters=1 + cfg.replicas,
        MultiAZEnabled=multi_az,
        AutomaticFailoverEnabled=multi_az,
        Port=cfg.port,
        CacheSubnetGroupName=Ref(subnet_group),
        SecurityGroupIds=[GetAtt(group, "GroupId")],
        AtRestEncryptionEnabled=True,
        KmsKeyId=GetAtt(key, "Arn"),
        TransitEncryptionEnabled=True,
        AuthToken=Sub("{{resolve:secretsmanager:${CacheAuthToken}}}"),
        SnapshotRetentionLimit=cfg.snapshot_retention_days,
        SnapshotWindow=cfg.snapshot_window,
        PreferredMaintenanceWindow=cfg.maintenance_window,
        # The pinned engine_version is the truth, as for the database.
        AutoMinorVersionUpgrade=False,
    ))
    if not multi_az:
        suppress(group_resource, "CT.ELASTICACHE.PR.3", "cache.cluster.replicas is 0 in this parameter file: no replica to fail over to")
    keep_data(group_resource, "Snapshot")
    if cfg.auth_token_rotation_days:
        _token_rotation(t, cfg, token, group_resource, key)
    output(t, "CachePrimaryEndpoint", GetAtt(group_resource, "PrimaryEndPoint.Address"), "Primary endpoint (writes)")
    output(t, "CacheReaderEndpoint", GetAtt(group_resource, "ReaderEndPoint.Address"), "Reader endpoint (reads, balanced over the replicas)")
    output(t, "CachePort", GetAtt(group_resource, "PrimaryEndPoint.Port"), "Port of the cache (TLS)")
    output(t, "CacheAuthTokenSecretArn", Ref(token), "Secret holding the cache's AUTH token")
    output(t, "CacheSecurityGroupId", GetAtt(group, "GroupId"), "Security group of the cache nodes")


def _token_rotation(t: Template, cfg: Cluster, token: secretsmanager.Secret,
                    group: elasticache.ReplicationGroup, key: kms.Key) -> None:
    """The rotation function and its schedule. It runs outside the VPC: it
    calls only the Secrets Manager and ElastiCache APIs, which the private
    subnets may have no route to (no NAT, no elasticache endpoint)."""
    log_group = retain_long_logs(t.add_resource(logs.LogGroup("TokenRotationLogGroup", RetentionInDays=cfg.rotation_log_retention_days)))
    suppress(log_group, "CKV_AWS_158", "The log holds rotation steps and version ids, never a token; CloudWatch Logs encrypts it at rest by default")
    group_arn = Sub("arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}:replicationgroup:${CacheReplicationGroup}")
    members = Sub("arn:${AWS::Partition}:elasticache:${AWS::Region}:${AWS::AccountId}:cluster:${CacheReplicationGroup}-*")
    role = service_role(t, "TokenRotationRole", "lambda.amazonaws.com", [
        grant(["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
               "secretsmanager:UpdateSecretVersionStage", "secretsmanager:ListSecretVersionIds"], [Ref(token)]),
        grant(["secretsmanager:GetRandomPassword"], ["*"],
              wildcard_reason="secretsmanager:GetRandomPassword acts on no resource; it only returns random characters"),
        grant(["kms:Decrypt", "kms:GenerateDataKey"], [GetAtt(key, "Arn")]),
        # ModifyReplicationGroup acts on the group's member clusters too.
        grant(["elasticache:DescribeReplicationGroups", "elasticache:ModifyReplicationGroup"], [group_arn, members]),
        grant(["logs:CreateLogStream", "logs:PutLogEvents"], [GetAtt(log_group, "Arn")]),
    ])
    function = t.add_resource(awslambda.Function(
        "TokenRotationFunction",
        Description="Rotates the cache's AUTH token (lambda_src/cache_token_rotation, ElastiCache's ROTATE strategy)",
        Runtime="python3.13", Architectures=["arm64"], Handler="handler.handler",
        Code=function_code(t, "cache_token_rotation"), Role=GetAtt(role, "Arn"),
        MemorySize=128, Timeout=900,  # testSecret waits for the group to apply the token
        Environment=awslambda.Environment(Variables={"REPLICATION_GROUP_ID": Ref(group)}),
        LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(log_group)),
    ))
    suppress(function, "CKV_AWS_116", "Secrets Manager invokes rotation steps synchronously and retries a failed rotation itself; no event is ever queued for it")
    suppress(function, "CKV_AWS_115", "Secrets Manager runs one rotation of this one secret at a time (a second RotateSecret is refused while one is in progress)")
    suppress(function, "CKV_AWS_117", "Runs outside the VPC on purpose: it calls only the Secrets Manager and ElastiCache APIs, never the cache")
    suppress(function, "CKV_AWS_173", "The only variable is the replication group's id, not a secret; Lambda encrypts it at rest")
    permission = t.add_resource(awslambda.Permission(
        "TokenRotationPermission", Action="lambda:InvokeFunction", FunctionName=Ref(function),
        Principal="secretsmanager.amazonaws.com", SourceAccount=Ref("AWS::AccountId"), SourceArn=Ref(token),
    ))
    t.add_resource(secretsmanager.RotationSchedule(
        "TokenRotationSchedule", SecretId=Ref(token), RotationLambdaARN=GetAtt(function, "Arn"),
        RotationRules=secretsmanager.RotationRules(ScheduleExpression=f"rate({cfg.auth_token_rotation_days} days)"),
        # The first token was just set by CloudFormation; the schedule takes it from here.
        RotateImmediatelyOnUpdate=False,
        DependsOn=[permission.title, group.title],
    ))


def _security_group(t: Template, cfg: Cluster, vpc_id, app_group) -> ec2.SecurityGroup:
    group = t.add_resource(ec2.SecurityGroup(
        "CacheSecurityGroup",
        GroupDescription="Cache nodes: reached only from the application",
        VpcId=Ref(vpc_id),
        SecurityGroupIngress=[ec2.SecurityGroupRule(
            IpProtocol="tcp", FromPort=cfg.port, ToPort=cfg.port, SourceSecurityGroupId=Ref(app_group),
            Description="Application to the cache port",
        )],
        # Cache nodes only answer.
        SecurityGroupEgress=[NO_EGRESS],
    ))
    # The app group's egress is closed except for what each layer opens.
    t.add_resource(ec2.SecurityGroupEgress(
        "AppToCacheEgress", GroupId=Ref(app_group), DestinationSecurityGroupId=GetAtt(group, "GroupId"),
        IpProtocol="tcp", FromPort=cfg.port, ToPort=cfg.port, Description="Application to the cache port",
    ))
    return group


def _table(t: Template, name: str, cfg: Table, key) -> None:
    keys = [(cfg.partition_key, "HASH")] + ([(cfg.sort_key, "RANGE")] if cfg.sort_key else [])
    table = t.add_resource(dynamodb.Table(
        logical_id(name, "table"),
        AttributeDefinitions=[dynamodb.AttributeDefinition(AttributeName=k.name, AttributeType=k.type) for k, _ in keys],
        KeySchema=[dynamodb.KeySchema(AttributeName=k.name, KeyType=kind) for k, kind in keys],
        BillingMode="PAY_PER_REQUEST" if cfg.billing == "on_demand" else "PROVISIONED",
        PointInTimeRecoverySpecification=dynamodb.PointInTimeRecoverySpecification(PointInTimeRecoveryEnabled=True),
        SSESpecification=dynamodb.SSESpecification(SSEEnabled=True, SSEType="KMS", KMSMasterKeyId=GetAtt(key, "Arn")),
        DeletionProtectionEnabled=cfg.deletion_protection,
    ))
    if cfg.billing == "provisioned":
        table.ProvisionedThroughput = dynamodb.ProvisionedThroughput(
            ReadCapacityUnits=cfg.read_capacity, WriteCapacityUnits=cfg.write_capacity,
        )
    if cfg.ttl_attribute:
        table.TimeToLiveSpecification = dynamodb.TimeToLiveSpecification(AttributeName=cfg.ttl_attribute, Enabled=True)
    keep_data(table, "Retain")
    output(t, logical_id(name, "table", "name"), Ref(table), f"DynamoDB table '{name}'")
    output(t, logical_id(name, "table", "arn"), GetAtt(table, "Arn"), f"ARN of DynamoDB table '{name}'")


def _node_id(node: int) -> Join:
    """ElastiCache names the member clusters of a replication group (cluster
    mode off) `<group id>-001`, `-002`, ...; each holds one node, 0001."""
    return Join("-", [Ref("CacheReplicationGroup"), f"{node:03d}"])


def alarm_specs(env: EnvConfig) -> list[alarms.Spec]:
    """Per node: host and engine CPU, memory, evictions and, with replicas,
    replication lag (on every node: which one is the primary changes with a
    failover, and the primary publishes no lag); the token rotation's failures."""
    cfg: Config = env.cache
    if not (cfg.alarms.enabled and cfg.cluster.enabled):
        return []
    a, ns = cfg.alarms, "AWS/ElastiCache"
    steady = "ElastiCache publishes every node's metrics each minute; a gap means the node is being replaced, which its events report"
    specs = []
    for node in range(1, 2 + cfg.cluster.replicas):
        dims = {"CacheClusterId": _node_id(node), "CacheNodeId": "0001"}
        specs += [
            alarms.Spec(f"node-{node}-cpu", f"Node {node}: host CPU", a.cpu_percent, ">=", "notBreaching", steady,
                        alarms.Metric(ns, "CPUUtilization", dims, "Maximum"), unit="%"),
            alarms.Spec(f"node-{node}-engine-cpu", f"Node {node}: engine thread CPU", a.engine_cpu_percent, ">=",
                        "notBreaching", steady, alarms.Metric(ns, "EngineCPUUtilization", dims, "Maximum"), unit="%"),
            alarms.Spec(f"node-{node}-memory", f"Node {node}: memory used for data", a.memory_percent, ">=",
                        "notBreaching", steady, alarms.Metric(ns, "DatabaseMemoryUsagePercentage", dims, "Maximum"), unit="%"),
            alarms.Spec(f"node-{node}-evictions", f"Node {node}: keys evicted for want of memory", a.evictions, ">=",
                        "notBreaching", steady, alarms.Metric(ns, "Evictions", dims, "Sum"), unit="keys"),
        ]
        if cfg.cluster.replicas:
            specs.append(alarms.Spec(
                f"node-{node}-replication-lag", f"Node {node}: replication lag behind the primary", a.replication_lag_seconds,
                ">=", "notBreaching", "only replicas publish it: the node that is the primary now has none",
                alarms.Metric(ns, "ReplicationLag", dims, "Maximum"), unit="s",
            ))
    if cfg.cluster.auth_token_rotation_days:
        specs += alarms.lambda_specs("token-rotation", Ref("TokenRotationFunction"), a.rotation_errors, a.rotation_errors,
                                     "Token rotation function")
    return specs


def _alarms(t: Template, env: EnvConfig) -> None:
    alarms.raise_alarms(t, env, NAME, env.cache.alarms, alarm_specs(env))
