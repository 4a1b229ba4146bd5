"""storage layer: a shared EFS file system for the application tier (seed 003's
storage layer; EFS is the one that Fargate tasks can mount too).

Drawn in order: the file system's security group (NFS from the app security
group only, and the matching egress on the app group), the file system
(encrypted, backed up by AWS Backup), one mount target per private subnet,
and an access point that pins the POSIX user and the directory the
application sees.

The file system policy makes IAM the gate. It allows nothing to anonymous
NFS clients (a mount without the mount helper's `iam` option), so only a
principal whose own policy grants `elasticfilesystem:ClientMount` mounts,
and it refuses a mount without TLS, outside a mount target, or (unless
`root_access`) around the access point, which would bypass the POSIX user
and the directory the access point pins. The app tier's roles get exactly
that grant, conditioned on this access point (templates/app_tier.py).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Literal

from awacs.aws import Bool, Condition, Null, Principal
from pydantic import Field, field_validator, model_validator
from troposphere import GetAtt, Ref, Select, Tags, Template, ec2, efs

from generator.cfn import alarms
from generator.cfn.iam import grant, resource_policy
from generator.cfn.resources import NO_EGRESS, keep_data, output, parameter
from generator.cfn.sections import LayerSection, Section

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "storage"
DESCRIPTION = "Encrypted EFS file system with a mount target in each private subnet and an access point"

NFS_PORT = 2049
IA_DAYS = (1, 7, 14, 30, 60, 90, 180, 270, 365)
# A file system policy applies to its own file system only.
THIS_FILE_SYSTEM = "in a file system policy '*' is the file system itself"


class AccessPoint(Section):
    path: str = "/app"
    """Directory the access point exposes as the client's root; created on first use."""
    uid: int = Field(default=1000, ge=0, le=4294967295)
    """POSIX user id every file operation through the access point runs as (and owner of `path`)."""
    gid: int = Field(default=1000, ge=0, le=4294967295)
    """POSIX group id every file operation through the access point runs as."""
    permissions: str = "0750"
    """Octal mode `path` is created with."""

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9._-]+)+", value):
            raise ValueError("must be an absolute path like /app (letters, digits, '.', '_', '-')")
        return value

    @field_validator("permissions")
    @classmethod
    def _mode(cls, value: str) -> str:
        if not re.fullmatch(r"0?[0-7]{3}", value):
            raise ValueError("must be an octal mode like 0750")
        return value


class Alarms(alarms.Timing):
    burst_credit_gib: float = Field(default=100, gt=0)
    """Burst credits (GiB that may still be read or written above the baseline) before the alarm fires, in
    bursting mode: with none left, throughput falls to the baseline the stored size earns."""


class Config(LayerSection):
    throughput_mode: Literal["elastic", "bursting"] = "elastic"
    """elastic: throughput follows the load, billed per GB transferred; bursting: throughput grows with the
    stored size (burst credits), no transfer charge."""
    performance_mode: Literal["generalPurpose", "maxIO"] = "generalPurpose"
    """generalPurpose (lowest latency, what almost every workload wants) or maxIO (bursting only)."""
    transition_to_ia_days: int | None = 30
    """Move files not read for this many days to the Infrequent Access class (cheaper storage, per-read
    charge); one of 1, 7, 14, 30, 60, 90, 180, 270, 365, or empty to keep everything in Standard."""
    root_access: bool = False
    """Let a principal granted `elasticfilesystem:ClientRootAccess` mount the whole file system as root,
    without the access point. Off: every mount goes through the access point (the policy refuses others),
    as `access_point.uid` in `access_point.path`."""
    access_point: AccessPoint = AccessPoint()
    """The application's entry point into the file system."""
    alarms: Alarms = Alarms()
    """The alarm on burst credits (bursting mode only; elastic throughput has none)."""

    @field_validator("transition_to_ia_days")
    @classmethod
    def _ia_days(cls, days: int | None) -> int | None:
        if days is not None and days not in IA_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, IA_DAYS))} (or empty)")
        return days

    @model_validator(mode="after")
    def _modes(self) -> Config:
        if self.performance_mode == "maxIO" and self.throughput_mode == "elastic":
            raise ValueError("performance_mode maxIO works with throughput_mode bursting only")
        return self


def build(env: EnvConfig) -> Template:
    cfg: Config = env.storage
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    vpc_id = parameter(t, "VpcId", "AWS::EC2::VPC::Id", "VPC of the file system's security group")
    subnets = parameter(
        t, "PrivateSubnetIds", "List<AWS::EC2::Subnet::Id>",
        f"Private subnets, one per AZ ({env.network.az_count}): each gets a mount target",
    )
    app_group = parameter(t, "AppSecurityGroupId", "AWS::EC2::SecurityGroup::Id", "Application security group allowed to mount")
    group = _security_group(t, vpc_id, app_group)
    file_system = _file_system(t, env, cfg)
    for index in range(env.network.az_count):
        t.add_resource(efs.MountTarget(
            f"MountTarget{index + 1}", FileSystemId=Ref(file_system), SubnetId=Select(index, Ref(subnets)),
            SecurityGroups=[GetAtt(group, "GroupId")],
        ))
    access_point = _access_point(t, env, cfg.access_point, file_system)
    output(t, "FileSystemId", Ref(file_system), "EFS file system id")
    output(t, "FileSystemArn", GetAtt(file_system, "Arn"), "EFS file system ARN (for elasticfilesystem:Client* grants)")
    output(t, "AccessPointId", Ref(access_point), "Access point the application mounts")
    output(t, "AccessPointArn", GetAtt(access_point, "Arn"), "Access point ARN")
    output(t, "StorageSecurityGroupId", GetAtt(group, "GroupId"), "Security group of the mount targets")
    _alarms(t, env)
    return t


def _security_group(t: Template, vpc_id, app_group) -> ec2.SecurityGroup:
    group = t.add_resource(ec2.SecurityGroup(
        "StorageSecurityGroup",
        GroupDescription="EFS mount targets: NFS from the application only",
        VpcId=Ref(vpc_id),
        SecurityGroupIngress=[ec2.SecurityGroupRule(
            IpProtocol="tcp", FromPort=NFS_PORT, ToPort=NFS_PORT, SourceSecurityGroupId=Ref(app_group),
            Description="NFS from the application",
        )],
        # Mount targets only answer.
        SecurityGroupEgress=[NO_EGRESS],
    ))
    # The app group's egress is closed except for what each layer opens.
    t.add_resource(ec2.SecurityGroupEgress(
        "AppToStorageEgress", GroupId=Ref(app_group), DestinationSecurityGroupId=GetAtt(group, "GroupId"),
        IpProtocol="tcp", FromPort=NFS_PORT, ToPort=NFS_PORT, Description="NFS to the file system",
    ))
    return group


CLIENT_ACTIONS = ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientRootAccess", "elasticfilesystem:ClientWrite"]


def _policy(cfg: Config):
    """Deny-only: with a policy in place EFS no longer grants anonymous
    clients anything, so identity policies (IAM authorization) decide who
    mounts; these statements bound what even a granted principal may do."""
    everyone = Principal("AWS", "*")

    def deny(sid: str, actions: list[str], condition) -> tuple:
        return everyone, grant(actions, ["*"], wildcard_reason=THIS_FILE_SYSTEM, conditions=Condition(condition), sid=sid)

    statements = [
        deny("DenyWithoutTls", ["elasticfilesystem:*"], Bool("aws:SecureTransport", False)),
        deny("DenyOutsideMountTargets", CLIENT_ACTIONS, Bool("elasticfilesystem:AccessedViaMountTarget", False)),
    ]
    if not cfg.root_access:
        statements.append(deny("DenyWithoutAccessPoint", CLIENT_ACTIONS, Null("elasticfilesystem:AccessPointArn", True)))
    return resource_policy([], deny=statements)


def _file_system(t: Template, env: EnvConfig, cfg: Config) -> efs.FileSystem:
    policy = _policy(cfg)
    file_system = t.add_resource(efs.FileSystem(
        "FileSystem",
        Encrypted=True,
        PerformanceMode=cfg.performance_mode,
        ThroughputMode=cfg.throughput_mode,
        BackupPolicy=efs.BackupPolicy(Status="ENABLED"),
        FileSystemPolicy=json.loads(policy.to_json()),  # troposphere types this property as a plain dict
        FileSystemTags=_tags(env, "files"),
    ))
    if cfg.transition_to_ia_days:
        file_system.LifecyclePolicies = [
            efs.LifecyclePolicy(TransitionToIA=f"AFTER_{cfg.transition_to_ia_days}_DAY{'S' if cfg.transition_to_ia_days > 1 else ''}"),
            efs.LifecyclePolicy(TransitionToPrimaryStorageClass="AFTER_1_ACCESS"),
        ]
    return keep_data(file_system, "Retain")


def _access_point(t: Template, env: EnvConfig, cfg: AccessPoint, file_system: efs.FileSystem) -> efs.AccessPoint:
    return t.add_resource(efs.AccessPoint(
        "AccessPoint",
        FileSystemId=Ref(file_system),
        PosixUser=efs.PosixUser(Uid=str(cfg.uid), Gid=str(cfg.gid)),
        RootDirectory=efs.RootDirectory(
            Path=cfg.path,
            CreationInfo=efs.CreationInfo(OwnerUid=str(cfg.uid), OwnerGid=str(cfg.gid), Permissions=cfg.permissions),
        ),
        AccessPointTags=_tags(env, "app"),
    ))


def _tags(env: EnvConfig, name: str) -> Tags:
    # EFS names its tag properties differently, so the shared tagger does not see them.
    return Tags(**{**env.all_tags, "Name": f"{env.project}-{env.environment}-{name}"})


def alarm_specs(env: EnvConfig) -> list[alarms.Spec]:
    """Burst credits running out, in bursting mode."""
    cfg: Config = env.storage
    if not cfg.alarms.enabled or cfg.throughput_mode != "bursting":
        return []
    return [alarms.Spec(
        "burst-credits-low", "File system: burst credits left", cfg.alarms.burst_credit_gib * alarms.GIB, "<",
        "notBreaching", "EFS publishes the balance each minute while the file system exists",
        alarms.Metric("AWS/EFS", "BurstCreditBalance", {"FileSystemId": Ref("FileSystem")}, "Minimum"), unit="bytes",
    )]


def _alarms(t: Template, env: EnvConfig) -> None:
    alarms.raise_alarms(t, env, NAME, env.storage.alarms, alarm_specs(env))
