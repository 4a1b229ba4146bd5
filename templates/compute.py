"""compute layer: EC2 instances behind the load balancer, scaled by Auto Scaling.

Drawn in the order a person would: the instance role (Session Manager
instead of SSH keys, seed 004), the launch template, the Auto Scaling group
in the private subnets registered in the web layer's target group, its
scaling (target tracking, step scaling on CloudWatch alarms, scheduled
actions, predictive scaling; seed 001), and the optional bastion.

Capacity follows seed 001: min <= desired <= max, e.g. 2/3/6; Auto Scaling
keeps desired inside [min, max], so min and max win over desired.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator, model_validator
from troposphere import GetAtt, Join, Ref, Sub, Template, autoscaling, cloudwatch, ec2, iam
from troposphere.policies import AutoScalingRollingUpdate, AutoScalingScheduledAction, UpdatePolicy

from generator.cfn import alarms
from generator.cfn.iam import grant, service_role
from generator.cfn.naming import logical_id
from generator.cfn.resources import output, parameter, suppress
from generator.cfn.sections import Ec2InstanceType, LayerSection, Section, Text, reject_repeats
from templates import app_tier, compute_access, compute_boot
from templates.app_tier import MOUNT_PATH, RoleGrant, check_mount_path, role_grant

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "compute"
DESCRIPTION = "Launch template and Auto Scaling group in the private subnets, optional bastion"

DEFAULT_AMI_PARAMETER = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"

_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
INSTANCE_TYPE = "InstanceType"
# Graviton families carry a `g` right after the generation digit: t4g, m7g, c7gn, r8gd.
_GRAVITON = re.compile(r"^[a-z]+\d+g[a-z]*$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_CRON_FIELD = r"[0-9A-Za-z*/,\-?#LW]+"
_CRON = re.compile(rf"^{_CRON_FIELD}( {_CRON_FIELD}){{4}}$")
_AMI_PARAMETER = re.compile(r"^/[A-Za-z0-9_.\-/]+$")
_KEY_NAME = re.compile(r"^[\x20-\x7e]{1,255}$")


def _check_key_name(name: str | None) -> str | None:
    if name is not None and not _KEY_NAME.match(name):
        raise ValueError("must be an EC2 key pair name (1-255 printable ASCII characters)")
    return name


def _check_instance_type(name: str) -> str:
    if not _INSTANCE_TYPE.match(name):
        raise ValueError(f"'{name}' is not an EC2 instance type like t3.micro")
    return name


def is_graviton(instance_type: str) -> bool:
    return bool(_GRAVITON.match(instance_type.split(".", 1)[0]))


def _check_architecture(ami_parameter: str, instance_types: list[str], where: str) -> None:
    arm = "arm64" in ami_parameter
    wrong = [i for i in instance_types if is_graviton(i) != arm]
    if wrong:
        kind = "an arm64" if not arm else "an x86_64"
        raise ValueError(
            f"{where} {', '.join(wrong)} need(s) {kind} AMI; ami_parameter {ami_parameter} does not match"
        )


class InstanceRequirements(Section):
    vcpu_min: int = Field(default=2, ge=1)
    """Fewest vCPUs an instance type may have."""
    vcpu_max: int | None = 4
    """Most vCPUs an instance type may have (empty: no upper limit)."""
    memory_mib_min: int = Field(default=4096, ge=0)
    """Least memory (MiB) an instance type may have."""
    memory_mib_max: int | None = 8192
    """Most memory (MiB) an instance type may have (empty: no upper limit)."""
    burstable: Literal["included", "excluded", "required"] = "included"
    """Whether burstable (T) instance types may be chosen."""

    @model_validator(mode="after")
    def _ranges(self) -> InstanceRequirements:
        if self.vcpu_max is not None and self.vcpu_max < self.vcpu_min:
            raise ValueError(f"vcpu_max ({self.vcpu_max}) is below vcpu_min ({self.vcpu_min})")
        if self.memory_mib_max is not None and self.memory_mib_max < self.memory_mib_min:
            raise ValueError(f"memory_mib_max ({self.memory_mib_max}) is below memory_mib_min ({self.memory_mib_min})")
        return self


class Spot(Section):
    enabled: bool = False
    """Run part of the group on Spot instances (up to about 90% cheaper, reclaimed with two minutes'
    notice; seed 001: for bursts the on-demand base does not need to carry)."""
    on_demand_base_capacity: int = Field(default=1, ge=0)
    """Instances that are always on-demand, whatever the percentage says."""
    spot_percentage: int = Field(default=50, ge=0, le=100)
    """Share of the capacity above the base that runs on Spot."""
    allocation_strategy: Literal[
        "price-capacity-optimized", "capacity-optimized", "capacity-optimized-prioritized", "lowest-price"
    ] = "price-capacity-optimized"
    """How Spot capacity is picked from the pools: price-capacity-optimized is the least interrupted at a low price."""
    extra_instance_types: list[Ec2InstanceType] = []
    """More instance types to spread Spot over (with `instance_type`); more pools mean fewer interruptions."""

    @field_validator("extra_instance_types")
    @classmethod
    def _types(cls, types: list[str]) -> list[str]:
        for name in types:
            _check_instance_type(name)
        return reject_repeats(types, "instance type")


class TargetTracking(Section):
    enabled: bool = True
    """Keep a metric near a target value by adding and removing instances."""
    metric: Literal["cpu", "request_count"] = "cpu"
    """`cpu`: the group's average CPU utilisation (%). `request_count`: ALB requests per target per minute
    (needs the web layer)."""
    target_value: float = Field(default=50, gt=0)
    """The value to hold: 50 means 50% CPU (seed 001), or requests per target per minute."""
    disable_scale_in: bool = False
    """Only ever add instances; scale-in is left to the other policies."""

    @model_validator(mode="after")
    def _percent(self) -> TargetTracking:
        if self.metric == "cpu" and self.target_value >= 100:
            raise ValueError(f"target_value {self.target_value:g} is a CPU percentage: it must be below 100")
        return self


class Step(Section):
    cpu_above: float = Field(gt=0, lt=100)
    """CPU utilisation (%) from which this step applies."""
    add_instances: int = Field(ge=1)
    """Instances to add when the step applies."""


class StepScaling(Section):
    enabled: bool = True
    """Add instances in steps when a CloudWatch alarm on CPU fires, and remove them when CPU is low."""
    scale_out: list[Step] = [Step(cpu_above=70, add_instances=2), Step(cpu_above=90, add_instances=4)]
    """Steps by rising CPU: the default adds 2 instances from 70% and 4 from 90% (seed 001)."""
    scale_in_below: float = Field(default=30, gt=0, lt=100)
    """CPU utilisation (%) under which instances are removed."""
    remove_instances: int = Field(default=1, ge=1)
    """Instances removed each time the scale-in alarm fires."""
    period_seconds: Literal[60, 300] = 60
    """Length of one CloudWatch evaluation period."""
    evaluation_periods: int = Field(default=3, ge=1, le=10)
    """Consecutive periods the condition must hold before the alarm fires."""

    @model_validator(mode="after")
    def _ordered(self) -> StepScaling:
        if not self.enabled:
            return self
        if not self.scale_out:
            raise ValueError("scale_out needs at least one step")
        thresholds = [s.cpu_above for s in self.scale_out]
        if thresholds != sorted(set(thresholds)):
            raise ValueError(f"scale_out steps must have rising cpu_above values, got {thresholds}")
        if self.scale_in_below >= thresholds[0]:
            raise ValueError(f"scale_in_below ({self.scale_in_below}) must be below the first scale-out step ({thresholds[0]})")
        return self


class ScheduledAction(Section):
    name: str
    """Name of the action (lower case, digits, hyphens), unique in the group."""
    recurrence: str
    """Unix cron expression (minute hour day month weekday), e.g. `0 8 * * 1-5`."""
    time_zone: str = "UTC"
    """IANA time zone the cron expression is read in, e.g. Asia/Seoul."""
    min_size: int | None = Field(default=None, ge=0)
    """Minimum size from that time on (empty: unchanged)."""
    max_size: int | None = Field(default=None, ge=0)
    """Maximum size from that time on (empty: unchanged)."""
    desired_capacity: int | None = Field(default=None, ge=0)
    """Desired capacity from that time on (empty: unchanged)."""

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("must be lower case letters, digits and hyphens, starting with a letter")
        return name

    @field_validator("recurrence")
    @classmethod
    def _cron(cls, cron: str) -> str:
        if not _CRON.match(cron):
            raise ValueError("must be a five-field cron expression like '0 8 * * 1-5'")
        return cron

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, zone: str) -> str:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"'{zone}' is not an IANA time zone like UTC or Asia/Seoul") from None
        return zone

    @model_validator(mode="after")
    def _something(self) -> ScheduledAction:
        if self.min_size is None and self.max_size is None and self.desired_capacity is None:
            raise ValueError("set at least one of min_size, max_size, desired_capacity")
        return self


class Predictive(Section):
    enabled: bool = False
    """Forecast load from the last 14 days and scale ahead of it (seed 001: alongside dynamic scaling)."""
    mode: Literal["ForecastOnly", "ForecastAndScale"] = "ForecastOnly"
    """`ForecastOnly` only publishes the forecast (check it first); `ForecastAndScale` acts on it."""
    target_cpu: float = Field(default=50, gt=0, lt=100)
    """CPU utilisation (%) the forecast capacity is sized for."""


class Scaling(Section):
    target_tracking: TargetTracking = TargetTracking()
    """Target tracking policy."""
    step_scaling: StepScaling = StepScaling()
    """Step scaling policies and their CloudWatch alarms."""
    scheduled: list[ScheduledAction] = []
    """Scheduled actions (seed 001: for known events, such as a marketing campaign)."""
    predictive: Predictive = Predictive()
    """Predictive scaling policy."""

    @field_validator("scheduled")
    @classmethod
    def _unique(cls, actions: list[ScheduledAction]) -> list[ScheduledAction]:
        reject_repeats([a.name for a in actions], "scheduled action names")
        return actions


class BastionConfig(Section):
    enabled: bool = False
    """An SSH jump host in the first public subnet with a public IP, reachable on port 22 from
    `security.admin_cidr` only. Off by default: Session Manager reaches the private instances without
    an open port, a public address or SSH keys."""
    instance_type: Ec2InstanceType = "t3.micro"
    """Instance type of the bastion."""
    ami_parameter: str = DEFAULT_AMI_PARAMETER
    """Public SSM parameter holding the bastion's AMI id."""
    key_name: str | None = None
    """EC2 key pair for SSH to the bastion. Empty: push a key for 60 seconds with `aws ec2-instance-connect
    send-ssh-public-key` (Amazon Linux 2023 accepts it) instead of keeping one."""

    @field_validator("instance_type")
    @classmethod
    def _type(cls, name: str) -> str:
        return _check_instance_type(name)

    @field_validator("key_name")
    @classmethod
    def _key(cls, name: str | None) -> str | None:
        return _check_key_name(name)

    @model_validator(mode="after")
    def _architecture(self) -> BastionConfig:
        _check_architecture(self.ami_parameter, [self.instance_type], "bastion.instance_type")
        return self


class Alarms(alarms.Timing):
    in_service_shortfall: int = Field(default=1, ge=1)
    """Instances short of the group's minimum size (GroupMinSize, moved by scheduled actions) before the alarm fires."""


MAINTENANCE_POLICIES = {
    # (MinHealthyPercentage, MaxHealthyPercentage) as the console's named choices set them.
    "prioritize_availability": (100, 110),
    "control_costs": (90, 100),
    "flexible": (90, 110),
}


class Config(LayerSection):
    instance_type: Ec2InstanceType | None = "t3.micro"
    """Instance type of the group. Leave empty and set `instance_requirements` to let Auto Scaling pick
    any type that matches vCPU and memory ranges (seed 001's advice)."""
    instance_requirements: InstanceRequirements | None = None
    """Attribute-based instance type selection instead of `instance_type`."""
    ami_parameter: str = DEFAULT_AMI_PARAMETER
    """Public SSM parameter holding the AMI id (Amazon Linux 2023 by default); resolved at each deploy,
    so a stack update picks up the latest image. Use the arm64 path for Graviton types."""
    min_size: int = Field(default=1, ge=0)
    """Fewest instances the group keeps."""
    desired_capacity: int = Field(default=1, ge=0)
    """Instances at creation; scaling policies move it between min_size and max_size."""
    max_size: int = Field(default=2, ge=1)
    """Most instances the group may run."""
    health_check_grace_period_seconds: int = Field(default=120, ge=0, le=7200)
    """Seconds after launch before failed load balancer health checks make Auto Scaling replace an instance."""
    default_instance_warmup_seconds: int = Field(default=120, ge=0, le=3600)
    """Seconds a new instance's metrics are left out of scaling decisions."""
    detailed_monitoring: bool = True
    """One-minute EC2 metrics (billed) so scaling reacts within a minute instead of five."""
    root_volume_gib: int = Field(default=20, ge=8, le=16384)
    """Size of the encrypted gp3 root volume."""
    user_data: Annotated[str, Text(max_length=16384, multiline=True, any_plane=True)] | None = None
    """Script run at first boot (cloud-init), as written, after Strata's own part: the connection settings
    in /etc/strata/app.env (for EnvironmentFile=) and the storage layer's file system mounted (EC2 takes
    at most 16 KB of user data). With `network.nat: none` it reaches only what the VPC endpoints serve: no
    package repositories on the internet (the Amazon Linux ones are served from S3, through the S3
    gateway endpoint)."""
    session_manager: bool = True
    """Attach AmazonSSMManagedInstanceCore so Session Manager opens shells without SSH (seed 004).
    Without NAT, the network needs the ssm, ssmmessages and ec2messages endpoints."""
    instance_connect_endpoint: bool = False
    """An EC2 Instance Connect Endpoint in the first private subnet, with its own security group that may
    reach port 22 of the app group only: SSH into the private instances without a bastion, a public IP or
    long-lived keys (`aws ec2-instance-connect ssh --connection-type eice`). The endpoint itself is free."""
    key_name: str | None = None
    """EC2 key pair installed on the app instances for SSH (through the bastion or the Instance Connect
    Endpoint). Empty: no key pair; push a key for 60 seconds with EC2 Instance Connect instead."""
    ecr_pull: bool = False
    """Let the instances pull images from the containers layer's ECR repository (to run containers
    with Docker on the instances)."""
    instance_role_grants: list[RoleGrant] = []
    """What the application on the instances may call (the instance role), besides Session Manager and what
    the wiring grants for the data layers it is handed. Same shape as `containers.task_role_grants`."""
    static_write: bool = False
    """Let the instances write, read and delete objects in the static layer's bucket (e.g. to deploy the
    site's assets); CloudFront invalidates what changes. Off: the bucket's name only."""
    file_system_path: str = MOUNT_PATH
    """Where the instances mount the storage layer's EFS file system at boot (amazon-efs-utils, through
    the access point, TLS and IAM authorization), when that layer is on."""
    spot: Spot = Spot()
    """Mixed on-demand and Spot capacity."""
    maintenance_policy: Literal["prioritize_availability", "control_costs", "flexible", "none"] = "prioritize_availability"
    """How instance refreshes and health replacements proceed: launch before terminating
    (prioritize_availability: 100-110% healthy), terminate first (control_costs: 90-100%), or both
    (flexible: 90-110%); `none` keeps Auto Scaling's default mixed behaviour."""
    rolling_update_batch_size: int = Field(default=1, ge=1)
    """Instances CloudFormation replaces at once when the launch template changes."""
    scaling: Scaling = Scaling()
    """Dynamic, scheduled and predictive scaling."""
    bastion: BastionConfig = BastionConfig()
    """Optional SSH bastion."""
    alarms: Alarms = Alarms()
    """The alarm on instances in service below the group's minimum."""

    @field_validator("instance_type")
    @classmethod
    def _type(cls, name: str | None) -> str | None:
        return None if name is None else _check_instance_type(name)

    @field_validator("key_name")
    @classmethod
    def _key(cls, name: str | None) -> str | None:
        return _check_key_name(name)

    @field_validator("file_system_path")
    @classmethod
    def _mount_path(cls, path: str) -> str:
        return check_mount_path(path)

    @field_validator("user_data")
    @classmethod
    def _script(cls, script: str | None) -> str | None:
        if script is not None and compute_boot.USER_DATA_END in script.splitlines():
            raise ValueError(f"a line '{compute_boot.USER_DATA_END}' would end the script early (Strata writes it with that heredoc marker)")
        return script

    @field_validator("ami_parameter")
    @classmethod
    def _ami(cls, path: str) -> str:
        if not _AMI_PARAMETER.match(path):
            raise ValueError("must be an SSM parameter path like /aws/service/ami-amazon-linux-latest/...")
        return path

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        if self.instance_requirements is not None and self.instance_type is not None:
            raise ValueError("set either instance_type or instance_requirements, not both (use instance_type: null)")
        if self.instance_requirements is None and self.instance_type is None:
            raise ValueError("set instance_type or instance_requirements")
        if self.spot.extra_instance_types and not self.spot.enabled:
            raise ValueError("spot.extra_instance_types needs spot.enabled: true (they are Spot pools)")
        if self.instance_requirements is not None and self.spot.extra_instance_types:
            raise ValueError("spot.extra_instance_types only applies with instance_type; instance_requirements already picks many types")
        if self.instance_type is not None:
            _check_architecture(self.ami_parameter, [self.instance_type, *self.spot.extra_instance_types], "instance types")
        _check_sizes(self.min_size, self.desired_capacity, self.max_size, "")
        for action in self.scaling.scheduled:
            _check_sizes(
                self.min_size if action.min_size is None else action.min_size,
                action.desired_capacity,
                self.max_size if action.max_size is None else action.max_size,
                f"scaling.scheduled '{action.name}': ",
            )
        return self

    def uses_mixed_instances(self) -> bool:
        return self.spot.enabled or self.instance_requirements is not None


def _check_sizes(min_size: int, desired: int | None, max_size: int, where: str) -> None:
    if min_size > max_size:
        raise ValueError(f"{where}min_size ({min_size}) must not exceed max_size ({max_size})")
    if desired is None:
        return
    if desired < min_size:
        raise ValueError(f"{where}desired_capacity ({desired}) is below min_size ({min_size}); need min_size <= desired_capacity <= max_size")
    if desired > max_size:
        raise ValueError(
            f"{where}desired_capacity ({desired}) exceeds max_size ({max_size}); Auto Scaling would cap it at "
            f"max_size (min and max win over desired): need min_size <= desired_capacity <= max_size"
        )


def build(env: EnvConfig) -> Template:
    cfg: Config = env.compute
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    wired = app_tier.settings(t, env)
    role = _instance_role(t, env, wired)
    profile = t.add_resource(iam.InstanceProfile("InstanceProfile", Roles=[Ref(role)]))
    template = _launch_template(t, env, profile, wired)
    compute_boot.settings_parameters(t, env, wired)
    group = _auto_scaling_group(t, env, template)
    _target_tracking(t, env, group)
    if cfg.scaling.step_scaling.enabled:
        _step_scaling(t, cfg, group)
    _scheduled_actions(t, cfg, group)
    if cfg.scaling.predictive.enabled:
        _predictive(t, cfg, group)
    if cfg.instance_connect_endpoint:
        compute_access.instance_connect_endpoint(t)
    if cfg.bastion.enabled:
        compute_access.bastion(t, env)
    output(t, "AutoScalingGroupName", Ref(group), "Auto Scaling group of the application instances")
    output(t, "LaunchTemplateId", Ref(template), "Launch template of the application instances")
    output(t, "InstanceRoleArn", GetAtt(role, "Arn"), "IAM role of the application instances")
    alarms.raise_alarms(t, env, NAME, cfg.alarms, alarm_specs(env))
    return t


# -- shared with the containers layer -------------------------------------------------------------


def ecr_repository_arn(env: EnvConfig) -> Sub:
    from templates.containers import repository_name  # here, not at the top: containers imports this module

    return Sub(f"arn:${{AWS::Partition}}:ecr:${{AWS::Region}}:${{AWS::AccountId}}:repository/{repository_name(env)}")


ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
ECR_TOKEN_REASON = "ecr:GetAuthorizationToken has no resource-level permissions; the pull itself is limited to the repository"

# -- instances ------------------------------------------------------------------------------------


def _instance_role(t: Template, env: EnvConfig, wired: list[app_tier.Setting]) -> iam.Role:
    """Session Manager, ECR pulls, what the wiring hands the instances, reading
    their settings back from Parameter Store, and the parameter file's grants."""
    cfg: Config = env.compute
    grants = []
    if cfg.ecr_pull:
        grants += [
            grant(["ecr:GetAuthorizationToken"], ["*"], wildcard_reason=ECR_TOKEN_REASON),
            grant(list(ECR_PULL_ACTIONS), [ecr_repository_arn(env)]),
        ]
    grants += app_tier.wired_grants(t, env, cfg.static_write)
    grants += compute_boot.settings_read_grants(env, wired)
    grants += [role_grant(g) for g in cfg.instance_role_grants]
    managed = [Sub("arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore")] if cfg.session_manager else []
    return service_role(t, "InstanceRole", "ec2.amazonaws.com", grants, managed)


def _launch_template(t: Template, env: EnvConfig, profile: iam.InstanceProfile,
                     wired: list[app_tier.Setting]) -> ec2.LaunchTemplate:
    cfg: Config = env.compute
    image = parameter(
        t, "ImageId", "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "Public SSM parameter with the instances' AMI id", Default=cfg.ami_parameter,
    )
    app_group = parameter(t, "AppSecurityGroupId", "AWS::EC2::SecurityGroup::Id", "Security group of the application instances")
    data = ec2.LaunchTemplateData(
        ImageId=Ref(image),
        IamInstanceProfile=ec2.IamInstanceProfile(Arn=GetAtt(profile, "Arn")),
        NetworkInterfaces=[ec2.NetworkInterfaces(
            DeviceIndex=0, AssociatePublicIpAddress=False, Groups=[Ref(app_group)], DeleteOnTermination=True,
        )],
        MetadataOptions=ec2.MetadataOptions(
            HttpTokens="required", HttpEndpoint="enabled",
            # Containers on the instance sit one network hop further from the metadata service.
            HttpPutResponseHopLimit=2 if cfg.ecr_pull else 1,
        ),
        BlockDeviceMappings=[compute_access.root_volume(cfg.root_volume_gib)],
        Monitoring=ec2.Monitoring(Enabled=cfg.detailed_monitoring),
    )
    if cfg.instance_type is not None:
        # a parameter, so a launch form (and a catalog template constraint) can choose it
        data.InstanceType = Ref(parameter(
            t, INSTANCE_TYPE, "String", "EC2 instance type of the application instances",
            Default=cfg.instance_type, AllowedPattern=_INSTANCE_TYPE.pattern,
            ConstraintDescription="an EC2 instance type such as t3.micro",
        ))
    if cfg.key_name:
        data.KeyName = cfg.key_name
    user_data = compute_boot.boot_user_data(env, wired)
    if user_data is not None:
        data.UserData = user_data
    template = t.add_resource(ec2.LaunchTemplate("LaunchTemplate", LaunchTemplateData=data))
    if cfg.instance_type is not None:
        suppress(template, "CT.EC2.PR.15", (
            f"InstanceType is the InstanceType parameter (default {cfg.instance_type}, checked against the region's "
            "offered types at build time), which Guard cannot evaluate"
        ))
    if cfg.ecr_pull:
        suppress(template, "CT.EC2.PR.2", "compute.ecr_pull is on: containers on the instance sit one network hop "
                                          "further from the metadata service, so the hop limit is 2")
    return template


def _auto_scaling_group(t: Template, env: EnvConfig, template: ec2.LaunchTemplate) -> autoscaling.AutoScalingGroup:
    cfg: Config = env.compute
    subnets = parameter(t, "PrivateSubnetIds", "List<AWS::EC2::Subnet::Id>", "Private subnets, one per AZ, for the instances")
    spec = autoscaling.LaunchTemplateSpecification(
        LaunchTemplateId=Ref(template), Version=GetAtt(template, "LatestVersionNumber"),
    )
    kwargs = {}
    if cfg.uses_mixed_instances():
        kwargs["MixedInstancesPolicy"] = _mixed_instances(cfg, spec)
        kwargs["CapacityRebalance"] = cfg.spot.enabled
    else:
        kwargs["LaunchTemplate"] = spec
    if env.web.enabled:
        target_group = parameter(t, "TargetGroupArn", "String", "Target group (instance targets) of the load balancer")
        kwargs["TargetGroupARNs"] = [Ref(target_group)]
    if cfg.maintenance_policy != "none":
        low, high = MAINTENANCE_POLICIES[cfg.maintenance_policy]
        kwargs["InstanceMaintenancePolicy"] = autoscaling.InstanceMaintenancePolicy(
            MinHealthyPercentage=low, MaxHealthyPercentage=high,
        )
    return t.add_resource(autoscaling.AutoScalingGroup(
        "AutoScalingGroup",
        VPCZoneIdentifier=Ref(subnets),
        MinSize=str(cfg.min_size), MaxSize=str(cfg.max_size), DesiredCapacity=str(cfg.desired_capacity),
        # Behind a load balancer, an instance that fails its health checks is replaced, not only one that stops.
        HealthCheckType="ELB" if env.web.enabled else "EC2",
        HealthCheckGracePeriod=cfg.health_check_grace_period_seconds,
        DefaultInstanceWarmup=cfg.default_instance_warmup_seconds,
        MetricsCollection=[autoscaling.MetricsCollection(Granularity="1Minute")],
        Tags=autoscaling.Tags(Name=Sub("${AWS::StackName}-app")),
        UpdatePolicy=UpdatePolicy(
            AutoScalingRollingUpdate=AutoScalingRollingUpdate(
                MaxBatchSize=cfg.rolling_update_batch_size,
                # Keep serving during the update; CloudFormation needs this below max_size.
                MinInstancesInService=max(0, min(cfg.min_size, cfg.max_size - 1)),
                PauseTime="PT2M",
                SuspendProcesses=["HealthCheck", "ReplaceUnhealthy", "AZRebalance", "AlarmNotification", "ScheduledActions"],
            ),
            # A stack update must not reset sizes that scheduled actions changed.
            AutoScalingScheduledAction=AutoScalingScheduledAction(IgnoreUnmodifiedGroupSizeProperties=True),
        ),
        **kwargs,
    ))


def _mixed_instances(cfg: Config, spec: autoscaling.LaunchTemplateSpecification) -> autoscaling.MixedInstancesPolicy:
    if cfg.instance_requirements is not None:
        r = cfg.instance_requirements
        vcpu = autoscaling.VCpuCountRequest(Min=r.vcpu_min, **({"Max": r.vcpu_max} if r.vcpu_max is not None else {}))
        memory = autoscaling.MemoryMiBRequest(
            Min=r.memory_mib_min, **({"Max": r.memory_mib_max} if r.memory_mib_max is not None else {}),
        )
        overrides = [autoscaling.LaunchTemplateOverrides(InstanceRequirements=autoscaling.InstanceRequirements(
            VCpuCount=vcpu, MemoryMiB=memory, BurstablePerformance=r.burstable,
        ))]
    else:
        overrides = [
            autoscaling.LaunchTemplateOverrides(InstanceType=name)
            for name in [Ref(INSTANCE_TYPE), *cfg.spot.extra_instance_types]
        ]
    if cfg.spot.enabled:
        distribution = autoscaling.InstancesDistribution(
            OnDemandBaseCapacity=cfg.spot.on_demand_base_capacity,
            OnDemandPercentageAboveBaseCapacity=100 - cfg.spot.spot_percentage,
            SpotAllocationStrategy=cfg.spot.allocation_strategy,
        )
    else:
        distribution = autoscaling.InstancesDistribution(OnDemandBaseCapacity=0, OnDemandPercentageAboveBaseCapacity=100)
    return autoscaling.MixedInstancesPolicy(
        InstancesDistribution=distribution,
        LaunchTemplate=autoscaling.LaunchTemplate(LaunchTemplateSpecification=spec, Overrides=overrides),
    )


# -- scaling --------------------------------------------------------------------------------------


def _target_tracking(t: Template, env: EnvConfig, group: autoscaling.AutoScalingGroup) -> None:
    tracking = env.compute.scaling.target_tracking
    if not tracking.enabled:
        return
    if tracking.metric == "cpu":
        metric = autoscaling.PredefinedMetricSpecification(PredefinedMetricType="ASGAverageCPUUtilization")
    else:
        alb = parameter(t, "LoadBalancerFullName", "String", "app/<name>/<id> of the load balancer")
        target_group = parameter(t, "TargetGroupFullName", "String", "targetgroup/<name>/<id> of the instances' target group")
        metric = autoscaling.PredefinedMetricSpecification(
            PredefinedMetricType="ALBRequestCountPerTarget",
            ResourceLabel=Join("/", [Ref(alb), Ref(target_group)]),
        )
    t.add_resource(autoscaling.ScalingPolicy(
        "TargetTrackingPolicy", AutoScalingGroupName=Ref(group), PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration=autoscaling.TargetTrackingConfiguration(
            PredefinedMetricSpecification=metric, TargetValue=tracking.target_value, DisableScaleIn=tracking.disable_scale_in,
        ),
    ))


def _cpu_alarm(t: Template, title: str, cfg: StepScaling, group, threshold: float, operator: str, policy, why: str) -> None:
    t.add_resource(cloudwatch.Alarm(
        title, AlarmDescription=why,
        Namespace="AWS/EC2", MetricName="CPUUtilization", Statistic="Average",
        Dimensions=[cloudwatch.MetricDimension(Name="AutoScalingGroupName", Value=Ref(group))],
        Period=cfg.period_seconds, EvaluationPeriods=cfg.evaluation_periods,
        Threshold=threshold, ComparisonOperator=operator, TreatMissingData="notBreaching",
        AlarmActions=[Ref(policy)],
    ))


def _step_scaling(t: Template, cfg: Config, group: autoscaling.AutoScalingGroup) -> None:
    """One alarm at the first step's threshold; the policy's step bounds are
    relative to it, so one alarm drives every step (70% -> +2, 90% -> +4)."""
    steps = cfg.scaling.step_scaling
    base = steps.scale_out[0].cpu_above
    adjustments = []
    for index, step in enumerate(steps.scale_out):
        bounds = {"MetricIntervalLowerBound": step.cpu_above - base}
        if index + 1 < len(steps.scale_out):
            bounds["MetricIntervalUpperBound"] = steps.scale_out[index + 1].cpu_above - base
        adjustments.append(autoscaling.StepAdjustments(ScalingAdjustment=step.add_instances, **bounds))
    out = t.add_resource(autoscaling.ScalingPolicy(
        "StepScaleOutPolicy", AutoScalingGroupName=Ref(group), PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity", MetricAggregationType="Average",
        EstimatedInstanceWarmup=cfg.default_instance_warmup_seconds, StepAdjustments=adjustments,
    ))
    _cpu_alarm(t, "CpuHighAlarm", steps, group, base, "GreaterThanOrEqualToThreshold", out,
               f"Average CPU >= {base:g}%: add instances in steps")
    scale_in = t.add_resource(autoscaling.ScalingPolicy(
        "StepScaleInPolicy", AutoScalingGroupName=Ref(group), PolicyType="StepScaling",
        AdjustmentType="ChangeInCapacity", MetricAggregationType="Average",
        StepAdjustments=[autoscaling.StepAdjustments(MetricIntervalUpperBound=0, ScalingAdjustment=-steps.remove_instances)],
    ))
    _cpu_alarm(t, "CpuLowAlarm", steps, group, steps.scale_in_below, "LessThanOrEqualToThreshold", scale_in,
               f"Average CPU <= {steps.scale_in_below:g}%: remove instances")


def _scheduled_actions(t: Template, cfg: Config, group: autoscaling.AutoScalingGroup) -> None:
    for action in cfg.scaling.scheduled:
        sizes = {
            key: value for key, value in (
                ("MinSize", action.min_size), ("MaxSize", action.max_size), ("DesiredCapacity", action.desired_capacity),
            ) if value is not None
        }
        t.add_resource(autoscaling.ScheduledAction(
            logical_id(action.name, "scheduled", "action"), AutoScalingGroupName=Ref(group),
            Recurrence=action.recurrence, TimeZone=action.time_zone, **sizes,
        ))


def _predictive(t: Template, cfg: Config, group: autoscaling.AutoScalingGroup) -> None:
    predictive = cfg.scaling.predictive
    t.add_resource(autoscaling.ScalingPolicy(
        "PredictiveScalingPolicy", AutoScalingGroupName=Ref(group), PolicyType="PredictiveScaling",
        PredictiveScalingConfiguration=autoscaling.PredictiveScalingConfiguration(
            Mode=predictive.mode,
            MetricSpecifications=[autoscaling.PredictiveScalingMetricSpecification(
                TargetValue=predictive.target_cpu,
                PredefinedMetricPairSpecification=autoscaling.PredictiveScalingPredefinedMetricPair(
                    PredefinedMetricType="ASGCPUUtilization",
                ),
            )],
        ),
    ))


def alarm_specs(env: EnvConfig) -> list[alarms.Spec]:
    """Fewer instances in service than the minimum: launches failing, or instances dying faster than replaced."""
    cfg, dims = env.compute, {"AutoScalingGroupName": Ref("AutoScalingGroup")}
    return [alarms.Spec(
        "in-service-below-min", "Auto Scaling group: instances short of the minimum size", cfg.alarms.in_service_shortfall,
        ">=", "notBreaching", "group metrics are published each minute; an in-service count missing beside the minimum "
        "counts as zero in service (FILL), and nothing at all means there is no group",
        expression="min_size - FILL(in_service, 0)", unit="instances",
        inputs={"min_size": alarms.Metric("AWS/AutoScaling", "GroupMinSize", dims, "Maximum"),
                "in_service": alarms.Metric("AWS/AutoScaling", "GroupInServiceInstances", dims, "Minimum")},
    )] if cfg.alarms.enabled else []
