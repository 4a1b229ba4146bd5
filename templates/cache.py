"""cache layer: an ElastiCache replication group and DynamoDB tables (seed 003's
caching / session layer).

Drawn in order: the layer's key, the cache's own security group (the cache
port from the app security group only, and the matching egress rule on the
app group, whose egress is closed by default), its subnet group over the
private subnets, the generated auth token, the replication group; then one
DynamoDB table per entry of `tables`.

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
from troposphere import GetAtt, Ref, Sub, Template, dynamodb, ec2, elasticache, kms, secretsmanager

from generator.cfn import windows
from generator.cfn.kms import customer_key, use_key
from generator.cfn.naming import logical_id
from generator.cfn.resources import NO_EGRESS, keep_data, output, parameter, suppress
from generator.cfn.sections import CacheNodeType, LayerSection, Section

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


class Config(LayerSection):
    cluster: Cluster = Cluster()
    """The in-memory cache (ElastiCache)."""
    tables: dict[str, Table] = {}
    """DynamoDB tables by name (lower-case, e.g. `sessions`); outputs `<Name>TableName` and `<Name>TableArn`.
    Point-in-time recovery is always on and tables are kept when the stack goes."""

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
    keep_data(group_resource, "Snapshot")
    output(t, "CachePrimaryEndpoint", GetAtt(group_resource, "PrimaryEndPoint.Address"), "Primary endpoint (writes)")
    output(t, "CacheReaderEndpoint", GetAtt(group_resource, "ReaderEndPoint.Address"), "Reader endpoint (reads, balanced over the replicas)")
    output(t, "CachePort", GetAtt(group_resource, "PrimaryEndPoint.Port"), "Port of the cache (TLS)")
    output(t, "CacheAuthTokenSecretArn", Ref(token), "Secret holding the cache's AUTH token")
    output(t, "CacheSecurityGroupId", GetAtt(group, "GroupId"), "Security group of the cache nodes")


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
