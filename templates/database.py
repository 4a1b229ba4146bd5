"""database layer: an Aurora cluster in the private subnets (seed 004).

Drawn in order: the DB subnet group over the private subnets, the cluster
parameter group (TLS required), the cluster itself behind the security
layer's DB security group, then its instances: the first becomes the writer,
the others are readers in the next AZs, any of them promoted on failover
(lowest promotion tier first: readers of the writer's class before smaller
ones, so a failover never lands on an undersized writer).

Each reader depends on the one before it, so an update that changes their
class (`reader_class`) modifies them one at a time while the others serve:
the first step of the README's resize without downtime (seed 004: grow the
readers, fail over to one, then grow the old writer).

The master password never appears anywhere: RDS generates it into Secrets
Manager (`ManageMasterUserPassword`) and rotates it every 7 days. The
secret holds `username` and `password` only (the endpoints, port and name
are Outputs of their own) and stays on the AWS managed key
`aws/secretsmanager`, so a reader needs nothing but
`secretsmanager:GetSecretValue` on `DatabaseSecretArn`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator, model_validator
from troposphere import GetAtt, GetAZs, Ref, Select, Sub, Template, rds

from generator.cfn import alarms, windows
from generator.cfn.iam import service_role
from generator.cfn.naming import logical_id
from generator.cfn.resources import keep_data, output, parameter, suppress
from generator.cfn.sections import DbInstanceClass, LayerSection

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "database"
DESCRIPTION = "Aurora cluster (writer and readers over the AZs) with its credentials in Secrets Manager"

Engine = Literal["aurora-postgresql", "aurora-mysql"]

# The one list of engine versions Strata deploys. Each one is linted with
# cfn-lint's own list of RDS versions by the tests; add a version here only
# after checking it is offered in the regions you deploy to
# (`aws rds describe-db-engine-versions --engine aurora-postgresql`).
SUPPORTED_ENGINE_VERSIONS: dict[str, tuple[str, ...]] = {
    "aurora-postgresql": ("15.12", "16.8", "17.5"),
    "aurora-mysql": ("8.0.mysql_aurora.3.08.2", "8.0.mysql_aurora.3.10.0"),
}
DEFAULT_ENGINE_VERSION = {"aurora-postgresql": "16.8", "aurora-mysql": "8.0.mysql_aurora.3.10.0"}
DEFAULT_PORT = {"aurora-postgresql": 5432, "aurora-mysql": 3306}
# Aurora accepts ports in this range only.
PORT_RANGE = (1150, 65535)
LOG_TYPES = {"aurora-postgresql": ("postgresql",), "aurora-mysql": ("audit", "error", "general", "slowquery")}
DEFAULT_LOGS = {"aurora-postgresql": ["postgresql"], "aurora-mysql": ["audit", "error", "slowquery"]}
MAX_READERS = 15
MONITORING_INTERVALS = (0, 1, 5, 10, 15, 30, 60)
# Usernames RDS keeps for itself.
_RESERVED_USER = re.compile(r"^rds", re.IGNORECASE)


class Alarms(alarms.Timing):
    cpu_percent: float = Field(default=80, gt=0, le=100)
    """CPU (%) of the busiest instance before the alarm fires."""
    freeable_memory_mib: int = Field(default=256, ge=1)
    """Free memory (MiB) of the instance with the least before the alarm fires (below it the engine's caches
    shrink and it starts to swap)."""
    connections: int = Field(default=400, ge=1)
    """Connections to the busiest instance before the alarm fires (about 90% of PostgreSQL's default
    max_connections on a 4 GiB db.t4g.medium; raise it with the instance class)."""
    replica_lag_seconds: float = Field(default=2, gt=0)
    """Seconds a reader trails the writer before the alarm fires (with readers only)."""
    free_local_storage_gib: float = Field(default=2, gt=0)
    """Free local (temporary) storage (GiB) of the instance with the least before the alarm fires: sorts
    and temporary tables fail without it."""


class Config(LayerSection):
    engine: Engine = "aurora-postgresql"
    """Aurora flavour. The cluster listens on `security.db_port` (the DB security group's port), which must
    suit the engine: 5432 for PostgreSQL, 3306 for MySQL, or another port in 1150-65535."""
    engine_version: str | None = None
    """Engine version, one of SUPPORTED_ENGINE_VERSIONS in templates/database.py (default: 16.8 for
    aurora-postgresql, 8.0.mysql_aurora.3.10.0 for aurora-mysql). Minor upgrades are not applied
    automatically: the version in this file is the version that runs."""
    instance_class: DbInstanceClass = "db.t4g.medium"
    """Instance class of the writer (the first instance), and of the readers unless `reader_class` says
    otherwise (Aurora's smallest is db.t4g.medium / db.t3.medium)."""
    reader_class: DbInstanceClass | list[DbInstanceClass] | None = None
    """Instance class of the readers: one class for all, or a list with one class per reader, in order.
    Empty: `instance_class`. Readers of the writer's class get promotion tier 1 and any other class tier
    2, so Aurora fails over to a writer-sized reader first. Change it before `instance_class` to resize
    without downtime (README: Resizing the database)."""
    readers: int = Field(default=1, ge=0, le=MAX_READERS)
    """Reader instances besides the writer, placed in the AZs after the writer's, round robin. With 0
    there is nothing to fail over to: an instance failure means minutes of downtime while Aurora
    replaces it."""
    database_name: str = "app"
    """Database created in the cluster."""
    master_username: str = "dbadmin"
    """Master user name; its password is generated by RDS into Secrets Manager, never written anywhere."""
    backup_retention_days: int = Field(default=7, ge=1, le=35)
    """Days of automated backups (point-in-time restore within them)."""
    backup_window: str = "03:00-04:00"
    """Daily UTC window for automated backups, at least 30 minutes, outside the maintenance window."""
    maintenance_window: str = "sun:04:30-sun:05:30"
    """Weekly UTC window for patches, at least 30 minutes."""
    deletion_protection: bool = True
    """Refuse to delete the cluster (a stack delete fails) until this is turned off."""
    log_exports: list[str] | None = None
    """Logs published to CloudWatch Logs. Default: postgresql (PostgreSQL); audit, error, slowquery (MySQL,
    with the audit plugin turned on in the parameter group)."""
    require_tls: bool = True
    """Refuse unencrypted client connections (rds.force_ssl / require_secure_transport)."""
    monitoring_interval: int = 60
    """Seconds between enhanced monitoring samples (OS metrics), one of 0, 1, 5, 10, 15, 30, 60; 0 turns it off."""
    performance_insights: bool = False
    """Performance Insights on every instance, 7 days of history (free tier), encrypted with the RDS key."""
    alarms: Alarms = Alarms()
    """Alarms on the cluster's instances."""

    @field_validator("instance_class")
    @classmethod
    def _aurora_class(cls, value: str) -> str:
        return _check_class(value)

    @field_validator("reader_class")
    @classmethod
    def _reader_classes(cls, value: str | list[str] | None) -> str | list[str] | None:
        for one in [value] if isinstance(value, str) else value or []:
            _check_class(one)
        return value

    @field_validator("database_name")
    @classmethod
    def _database_name(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", value):
            raise ValueError("must start with a letter and hold only letters, digits and _ (at most 63)")
        return value

    @field_validator("master_username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,15}", value):
            raise ValueError("must start with a letter and hold only letters, digits and _ (at most 16)")
        if _RESERVED_USER.match(value):
            raise ValueError("names starting with 'rds' are reserved by RDS")
        return value

    @field_validator("monitoring_interval")
    @classmethod
    def _interval(cls, value: int) -> int:
        if value not in MONITORING_INTERVALS:
            raise ValueError(f"must be one of {', '.join(map(str, MONITORING_INTERVALS))}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.engine_version is not None and self.engine_version not in SUPPORTED_ENGINE_VERSIONS[self.engine]:
            raise ValueError(
                f"engine_version '{self.engine_version}' is not supported for {self.engine} "
                f"(supported: {', '.join(SUPPORTED_ENGINE_VERSIONS[self.engine])})"
            )
        unknown = [log for log in self.log_exports or [] if log not in LOG_TYPES[self.engine]]
        if unknown:
            raise ValueError(f"log_exports: {', '.join(unknown)} not offered by {self.engine} (choose from {', '.join(LOG_TYPES[self.engine])})")
        if isinstance(self.reader_class, list) and len(self.reader_class) != self.readers:
            raise ValueError(f"reader_class lists {len(self.reader_class)} classes for {self.readers} readers (one per reader, or one class for all)")
        backup = windows.daily(self.backup_window, 30)
        maintenance = windows.weekly(self.maintenance_window, 30)
        if windows.overlap(backup, maintenance):
            raise ValueError(f"backup_window {self.backup_window} overlaps maintenance_window {self.maintenance_window}")
        return self

    def version(self) -> str:
        return self.engine_version or DEFAULT_ENGINE_VERSION[self.engine]

    def instance_classes(self) -> list[str]:
        """The class of every instance, the writer first."""
        readers = self.reader_class if isinstance(self.reader_class, list) else [self.reader_class or self.instance_class] * self.readers
        return [self.instance_class, *readers]

    def logs(self) -> list[str]:
        return list(self.log_exports) if self.log_exports is not None else DEFAULT_LOGS[self.engine]


def _check_class(value: str) -> str:
    if not re.fullmatch(r"db\.[a-z0-9-]+\.[a-z0-9]+", value):
        raise ValueError("must be an instance class like db.t4g.medium or db.r6g.large")
    if value.endswith((".micro", ".small")):
        raise ValueError("Aurora does not run on micro or small classes; the smallest is db.t4g.medium")
    return value


def _instance_class(t: Template, cfg: Config, instance_class: str) -> Ref | str:
    """The writer's class is a parameter, so a launch form (and a catalog
    template constraint) can choose it; readers of the writer's class follow
    it, a reader given its own `reader_class` keeps that class."""
    if instance_class != cfg.instance_class:
        return instance_class
    return Ref(parameter(
        t, "DatabaseInstanceClass", "String",
        "Instance class of the writer and of every reader that shares its class",
        Default=cfg.instance_class, AllowedPattern=r"^db\.[a-z0-9-]+\.[a-z0-9]+$",
        ConstraintDescription="an Aurora instance class such as db.r6g.large",
    ))


def promotion_tier(index: int, instance_class: str, writer_class: str) -> int:
    """Aurora promotes the lowest tier first (0-15): the writer 0, readers of its class 1, others 2."""
    if index == 0:
        return 0
    return 1 if instance_class == writer_class else 2


def port_problem(engine: str, port: int) -> str | None:
    """Why `port` cannot be this engine's port, or None. Used by the
    cross-layer rule on `security.db_port`."""
    other = {v: k for k, v in DEFAULT_PORT.items() if k != engine}
    if port in other:
        return f"{port} is {other[port]}'s port but database.engine is {engine} (use {DEFAULT_PORT[engine]})"
    if not PORT_RANGE[0] <= port <= PORT_RANGE[1]:
        return f"Aurora listens only on ports {PORT_RANGE[0]}-{PORT_RANGE[1]} (use {DEFAULT_PORT[engine]} for {engine})"
    return None


def build(env: EnvConfig) -> Template:
    cfg: Config = env.database
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    subnets = parameter(
        t, "PrivateSubnetIds", "List<AWS::EC2::Subnet::Id>",
        f"Private subnets of the DB subnet group, one in each of the region's first {env.network.az_count} AZs "
        "(the instances are placed by Fn::GetAZs)",
    )
    db_group = parameter(t, "DbSecurityGroupId", "AWS::EC2::SecurityGroup::Id", "Security group admitting the application to the DB port")
    subnet_group = t.add_resource(rds.DBSubnetGroup(
        "DatabaseSubnetGroup", DBSubnetGroupDescription="Private subnets of the Aurora cluster", SubnetIds=Ref(subnets),
    ))
    cluster = _cluster(t, env, cfg, subnet_group, db_group)
    _instances(t, env, cfg, cluster, subnet_group)
    _outputs(t, cfg, cluster)
    _alarms(t, env)
    return t


def _parameter_group(t: Template, cfg: Config) -> rds.DBClusterParameterGroup:
    postgres = cfg.engine == "aurora-postgresql"
    family = f"aurora-postgresql{cfg.version().split('.')[0]}" if postgres else "aurora-mysql8.0"
    parameters: dict[str, str] = {}
    if cfg.require_tls:
        parameters["rds.force_ssl" if postgres else "require_secure_transport"] = "1" if postgres else "ON"
    if not postgres and "audit" in cfg.logs():
        # The audit log export stays empty unless the audit plugin records something.
        parameters.update({"server_audit_logging": "1", "server_audit_events": "CONNECT,QUERY_DCL,QUERY_DDL"})
    if postgres:
        # Without it a log line does not say who connected, which is what an audit of postgresql logs asks.
        parameters["log_connections"] = "1"
    group = t.add_resource(rds.DBClusterParameterGroup(
        "DatabaseClusterParameterGroup", Description=f"{cfg.engine} {cfg.version()} cluster settings",
        Family=family, Parameters=parameters,
    ))
    if not cfg.require_tls:
        suppress(group, "CT.RDS.PR.27", "database.require_tls is false in this parameter file")
    return group


def _cluster(t: Template, env: EnvConfig, cfg: Config, subnet_group, db_group) -> rds.DBCluster:
    cluster = t.add_resource(rds.DBCluster(
        "DatabaseCluster",
        Engine=cfg.engine,
        EngineVersion=cfg.version(),
        Port=env.security.db_port,
        DatabaseName=cfg.database_name,
        MasterUsername=cfg.master_username,
        ManageMasterUserPassword=True,
        DBSubnetGroupName=Ref(subnet_group),
        VpcSecurityGroupIds=[Ref(db_group)],
        DBClusterParameterGroupName=Ref(_parameter_group(t, cfg)),
        StorageEncrypted=True,
        BackupRetentionPeriod=cfg.backup_retention_days,
        PreferredBackupWindow=cfg.backup_window,
        PreferredMaintenanceWindow=cfg.maintenance_window,
        DeletionProtection=cfg.deletion_protection,
        EnableCloudwatchLogsExports=cfg.logs(),
        EnableIAMDatabaseAuthentication=True,
        CopyTagsToSnapshot=True,
    ))
    if not cfg.deletion_protection:
        suppress(cluster, "CT.RDS.PR.3", "database.deletion_protection is false in this environment's parameter file")
    return keep_data(cluster, "Snapshot")


def _instances(t: Template, env: EnvConfig, cfg: Config, cluster: rds.DBCluster, subnet_group) -> None:
    """The first instance is created first and becomes the writer; readers go
    to the following AZs, each after the one before (so updates, too, touch
    one instance at a time). Instances hold no data (the cluster volume
    does), so they carry no deletion policy of their own."""
    monitoring = {}
    if cfg.monitoring_interval:
        role = service_role(
            t, "DatabaseMonitoringRole", "monitoring.rds.amazonaws.com",
            managed_policy_arns=[Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")],
        )
        monitoring = {"MonitoringInterval": cfg.monitoring_interval, "MonitoringRoleArn": GetAtt(role, "Arn")}
    classes = cfg.instance_classes()
    for index, instance_class in enumerate(classes):
        instance = t.add_resource(rds.DBInstance(
            logical_id("database", "instance", index + 1),
            Engine=cfg.engine,
            DBClusterIdentifier=Ref(cluster),
            DBInstanceClass=_instance_class(t, cfg, instance_class),
            PromotionTier=promotion_tier(index, instance_class, cfg.instance_class),
            DBSubnetGroupName=Ref(subnet_group),
            AvailabilityZone=Select(index % env.network.az_count, GetAZs("")),
            PubliclyAccessible=False,
            # The pinned engine_version is the truth; a silent minor upgrade would make the next
            # stack update look like a downgrade, which RDS refuses.
            AutoMinorVersionUpgrade=False,
            EnablePerformanceInsights=cfg.performance_insights,
            **({"PerformanceInsightsRetentionPeriod": 7} if cfg.performance_insights else {}),
            **monitoring,
        ))
        suppress(instance, "CT.RDS.PR.5", "Minor versions are upgraded by changing database.engine_version: "
                                          "the pinned version is the one that runs")
        if not cfg.monitoring_interval:
            suppress(instance, "CKV_AWS_118", "database.monitoring_interval is 0 in this environment's parameters")
        if index:
            # After the one before: the first (in the first AZ) becomes the writer, and a change of
            # reader class is applied to one reader at a time.
            instance.DependsOn = logical_id("database", "instance", index)


def _outputs(t: Template, cfg: Config, cluster: rds.DBCluster) -> None:
    output(t, "DatabaseWriterEndpoint", GetAtt(cluster, "Endpoint.Address"), "Cluster endpoint: always the current writer")
    output(t, "DatabaseReaderEndpoint", GetAtt(cluster, "ReadEndpoint.Address"), "Reader endpoint: balances over the readers")
    output(t, "DatabasePort", GetAtt(cluster, "Endpoint.Port"), "Port the cluster listens on")
    output(t, "DatabaseSecretArn", GetAtt(cluster, "MasterUserSecret.SecretArn"),
           "Secrets Manager secret: JSON with the master username and password only (RDS rotates it)")
    output(t, "DatabaseName", cfg.database_name, "Database created in the cluster")
    output(t, "DatabaseClusterId", Ref(cluster), "Cluster identifier (aws rds failover-db-cluster --db-cluster-identifier)")


def alarm_specs(env: EnvConfig) -> list[alarms.Spec]:
    """CPU, memory, connections and local storage of the worst instance (the
    cluster's metrics aggregate its instances), and with readers each
    instance's replica lag (on every instance: a failover changes which one
    writes, and the writer publishes no lag)."""
    cfg: Config = env.database
    if not cfg.alarms.enabled:
        return []
    a, ns, cluster = cfg.alarms, "AWS/RDS", {"DBClusterIdentifier": Ref("DatabaseCluster")}
    steady = "RDS publishes them each minute while the cluster runs; a gap means it is stopped or being replaced, which RDS events report"
    specs = [
        alarms.Spec("cpu-high", "Busiest instance: CPU", a.cpu_percent, ">=", "notBreaching", steady,
                    alarms.Metric(ns, "CPUUtilization", cluster, "Maximum"), unit="%"),
        alarms.Spec("freeable-memory-low", "Instance with the least: free memory", a.freeable_memory_mib * alarms.MIB, "<",
                    "notBreaching", steady, alarms.Metric(ns, "FreeableMemory", cluster, "Minimum"), unit="bytes"),
        alarms.Spec("connections-high", "Busiest instance: database connections", a.connections, ">=", "notBreaching",
                    steady, alarms.Metric(ns, "DatabaseConnections", cluster, "Maximum"), unit="connections"),
        alarms.Spec("free-local-storage-low", "Instance with the least: free local storage",
                    a.free_local_storage_gib * alarms.GIB, "<", "notBreaching", steady,
                    alarms.Metric(ns, "FreeLocalStorage", cluster, "Minimum"), unit="bytes"),
    ]
    if cfg.readers:
        for index in range(1, 2 + cfg.readers):
            specs.append(alarms.Spec(
                f"instance-{index}-replica-lag", f"Instance {index}: replica lag behind the writer",
                a.replica_lag_seconds * 1000, ">=", "notBreaching", "only readers publish it: the writer of the moment has none",
                alarms.Metric(ns, "AuroraReplicaLag", {"DBInstanceIdentifier": Ref(logical_id("database", "instance", index))}, "Maximum"),
                unit="ms",
            ))
    return specs


def _alarms(t: Template, env: EnvConfig) -> None:
    alarms.raise_alarms(t, env, NAME, env.database.alarms, alarm_specs(env))
