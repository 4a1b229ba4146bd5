"""containers layer: the image registry and the Fargate service that runs it.

Drawn in the order a person would: the ECR repository (seed 001 pushes the
image there), the ECS cluster with its Fargate and Fargate Spot capacity,
the log group, the two roles, the task definition, the service in the
private subnets behind the load balancer, and its auto scaling.

Two roles, because two different parties act (seed 001):
- the task *execution* role is used by ECS itself, before the application
  starts: pull the image from ECR, create the log stream and write to it,
  read the secrets it injects as environment variables;
- the task role is the application's own identity: what the code may call,
  exactly the grants listed in `containers.task_role_grants`, nothing else.

The container listens on `security.app_port` (default 8000, seed 001): the
security groups open exactly that port from the load balancer.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, Literal

from awacs.aws import Condition, StringEquals
from pydantic import Field, field_validator, model_validator
from troposphere import AWSHelperFn, GetAtt, Join, Ref, Sub, Template, applicationautoscaling, ecr, ecs, iam, logs

from generator.cfn import alarms
from generator.cfn.iam import grant, service_role
from generator.cfn.naming import physical_name
from generator.cfn.resources import keep_data, output, parameter, retain_long_logs, suppress
from generator.cfn.sections import LayerSection, LogRetentionDays, Section
from templates import app_tier
from templates.app_tier import MOUNT_PATH, RoleGrant, check_mount_path, pseudo_arn as _arn, role_grant
from templates.compute import ECR_PULL_ACTIONS, ECR_TOKEN_REASON

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "containers"
DESCRIPTION = "ECR repository and ECS Fargate service behind the load balancer"

CONTAINER_NAME = "app"
FILES_VOLUME = "files"

# Fargate's valid task sizes: CPU units -> memory (MiB) it can be paired with.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# ARNs in the parameter file may use these pseudo parameters instead of literal values.
_PART = r"(aws[a-z-]*|\$\{AWS::Partition\})"
_REGION = r"([a-z0-9-]+|\$\{AWS::Region\})"
_ACCOUNT = r"(\d{12}|\$\{AWS::AccountId\})"
SECRET_ARN = re.compile(rf"^(arn:{_PART}:secretsmanager:{_REGION}:{_ACCOUNT}:secret:[A-Za-z0-9/_+=.@-]+)(:[A-Za-z0-9_-]*:[A-Za-z0-9_-]*:[A-Za-z0-9_-]*)?$")
PARAMETER_ARN = re.compile(rf"^arn:{_PART}:ssm:{_REGION}:{_ACCOUNT}:parameter/[A-Za-z0-9/_.-]+$")
ENV_FILE_ARN = re.compile(rf"^arn:{_PART}:s3:::([a-z0-9][a-z0-9.-]{{1,61}}[a-z0-9])/([^*]+\.env)$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_NAME_OR_ID = r"([0-9]{1,10}|[a-z_][a-z0-9_-]{0,31})"
_USER = re.compile(rf"^{_NAME_OR_ID}(:{_NAME_OR_ID})?$")


class Repository(Section):
    keep_tagged_images: int = Field(default=10, ge=1, le=1000)
    """Tagged images to keep; older ones are expired by the lifecycle policy (rollbacks need a few)."""
    untagged_expire_days: int = Field(default=7, ge=1, le=365)
    """Days after which untagged images (left behind by builds) are expired."""


class Capacity(Section):
    fargate_base: int = Field(default=0, ge=0, le=100000)
    """Tasks that always run on regular Fargate before the weights split the rest."""
    fargate_weight: int = Field(default=1, ge=0, le=1000)
    """Relative share of tasks above the base on regular (on-demand) Fargate."""
    fargate_spot_weight: int = Field(default=0, ge=0, le=1000)
    """Relative share of tasks above the base on Fargate Spot (about 70% cheaper, can be stopped with a
    two-minute warning)."""

    @model_validator(mode="after")
    def _some_weight(self) -> Capacity:
        if self.fargate_weight == 0 and self.fargate_spot_weight == 0:
            raise ValueError("fargate_weight and fargate_spot_weight cannot both be 0")
        if self.fargate_base and self.fargate_weight == 0:
            raise ValueError("fargate_base needs fargate_weight > 0 (the base runs on regular Fargate)")
        return self


class ServiceScaling(Section):
    enabled: bool = True
    """Scale the number of tasks with a target tracking policy."""
    min_tasks: int = Field(default=1, ge=0)
    """Fewest tasks."""
    max_tasks: int = Field(default=4, ge=1)
    """Most tasks."""
    metric: Literal["cpu", "request_count"] = "cpu"
    """`cpu`: the service's average CPU (%); `request_count`: ALB requests per task per minute (needs web)."""
    target_value: float = Field(default=60, gt=0)
    """The value to hold (percent CPU or requests per task per minute)."""
    scale_in_cooldown_seconds: int = Field(default=300, ge=0)
    """Seconds after a scale-in before the next one."""
    scale_out_cooldown_seconds: int = Field(default=60, ge=0)
    """Seconds after a scale-out before the next one."""

    @model_validator(mode="after")
    def _percent(self) -> ServiceScaling:
        if self.metric == "cpu" and self.target_value >= 100:
            raise ValueError(f"target_value {self.target_value:g} is a CPU percentage: it must be below 100")
        return self


class Alarms(alarms.Timing):
    running_shortfall: int = Field(default=1, ge=1)
    """Tasks the service runs below its desired count before the alarm fires (tasks failing to start or
    stopping: image, health check, capacity). Needs Container Insights (off: no such alarm)."""
    cpu_percent: float = Field(default=80, gt=0, le=100)
    """The service's average CPU (% of what the tasks reserve) before the alarm fires."""
    memory_percent: float = Field(default=80, gt=0, le=100)
    """The service's average memory (% of what the tasks reserve) before the alarm fires; at 100 a task is
    killed for running out of memory."""


# The task role's grants have the shape of the instance role's (compute.instance_role_grants).
TaskGrant = RoleGrant


class Config(LayerSection):
    cpu: Literal[256, 512, 1024, 2048, 4096, 8192, 16384] = 256
    """Fargate task CPU units (1024 = one vCPU)."""
    memory_mib: int = 512
    """Fargate task memory (MiB); must be one of the sizes Fargate pairs with `cpu`."""
    architecture: Literal["X86_64", "ARM64"] = "X86_64"
    """CPU architecture the image is built for (ARM64 = Graviton, about 20% cheaper)."""
    image_tag: str = "initial"
    """Tag of this layer's repository image the task runs (the `ContainerImageTag` parameter's default).
    Tags are immutable: publish every build under a new tag (the git commit) and deploy that tag."""
    image: str | None = None
    """A full image reference to run instead of this layer's repository (e.g. a public image for a first
    deploy). Needs a way out to that registry (a NAT)."""
    environment: dict[str, str] = {}
    """Plain environment variables of the container."""
    secrets: dict[str, str] = {}
    """Environment variables filled from Secrets Manager secrets or SSM parameters, by full ARN
    (`${AWS::Region}`, `${AWS::AccountId}` allowed). The execution role may read exactly these."""
    environment_file: str | None = None
    """An S3 object ARN of a `.env` file loaded into the environment (arn:aws:s3:::bucket/path/app.env)."""
    database_secret_variable: str = "DATABASE_SECRET"
    """Variable that receives the value of the database layer's secret when that layer is on: JSON with
    `username` and `password` only (RDS manages the secret); the host, port and database name arrive as
    DATABASE_HOST, DATABASE_PORT and DATABASE_NAME, the secret's ARN as DATABASE_SECRET_ARN."""
    log_retention_days: LogRetentionDays = 30
    """Days CloudWatch Logs keeps the container's output."""
    readonly_root_filesystem: bool = True
    """Mount the image read-only; /tmp is a writable scratch volume."""
    user: str | None = "1000:1000"
    """User (and group) the container's process runs as: `uid[:gid]`, or names the image defines. Default a
    non-root uid, so a compromised process is not root in the container; the image must let that user read
    the application and listen on `security.app_port` (above 1024: no privilege needed), and it can write
    only to /tmp (and mounted volumes). Root is refused; empty (null) keeps the image's own USER."""
    desired_count: int = Field(default=2, ge=0)
    """Tasks at creation; auto scaling moves it between min_tasks and max_tasks."""
    min_healthy_percent: int = Field(default=100, ge=0, le=100)
    """During a deployment, tasks that must stay running, in percent of desired_count."""
    max_percent: int = Field(default=200, ge=100, le=200)
    """During a deployment, tasks that may run at once, in percent of desired_count."""
    health_check_grace_period_seconds: int = Field(default=60, ge=0, le=2147483647)
    """Seconds after a task starts before failed load balancer health checks count."""
    container_insights: Literal["enabled", "enhanced", "disabled"] = "enabled"
    """CloudWatch Container Insights for the cluster (enhanced adds per-container metrics, billed)."""
    capacity: Capacity = Capacity()
    """How tasks are split between Fargate and Fargate Spot."""
    repository: Repository = Repository()
    """ECR repository lifecycle."""
    task_role_grants: list[TaskGrant] = []
    """What the application itself may call (the task role), besides what the wiring grants for the data
    layers it is handed (their secrets, tables, queue, topic and file system). Empty: nothing more."""
    static_write: bool = False
    """Let the application write, read and delete objects in the static layer's bucket (e.g. to deploy
    its assets from the task); CloudFront invalidates what changes. Off: the bucket's name only."""
    file_system_path: str = MOUNT_PATH
    """Where the storage layer's EFS file system is mounted in the container (through its access point,
    TLS and IAM authorization), when that layer is on."""
    scaling: ServiceScaling = ServiceScaling()
    """Service auto scaling."""
    path_patterns: list[str] = []
    """When compute and containers both serve behind the load balancer: request paths sent to the
    containers (e.g. ['/api/*']); everything else goes to the instances."""
    alarms: Alarms = Alarms()
    """Alarms on the service's running tasks, CPU and memory."""

    @field_validator("user")
    @classmethod
    def _not_root(cls, user: str | None) -> str | None:
        if user is None:
            return None
        if not _USER.match(user):
            raise ValueError("must be uid[:gid] or user[:group] as the image defines them, e.g. 1000:1000")
        if user.split(":")[0] in ("0", "root"):
            raise ValueError("runs the container as root; choose a non-root user (or null for the image's own USER)")
        return user

    @field_validator("environment", "secrets")
    @classmethod
    def _names(cls, variables: dict[str, str]) -> dict[str, str]:
        bad = sorted(n for n in variables if not _VARIABLE.match(n))
        if bad:
            raise ValueError(f"not environment variable names: {', '.join(bad)}")
        return variables

    @field_validator("secrets")
    @classmethod
    def _secret_arns(cls, secrets: dict[str, str]) -> dict[str, str]:
        bad = sorted(n for n, arn in secrets.items() if not (SECRET_ARN.match(arn) or PARAMETER_ARN.match(arn)))
        if bad:
            raise ValueError(
                f"{', '.join(bad)}: need the full ARN of a Secrets Manager secret (…:secret:name-AbCdEf) "
                "or an SSM parameter (…:parameter/path)"
            )
        return secrets

    @field_validator("file_system_path")
    @classmethod
    def _mount_path(cls, path: str) -> str:
        return check_mount_path(path)

    @field_validator("environment_file")
    @classmethod
    def _env_file(cls, arn: str | None) -> str | None:
        if arn is not None and not ENV_FILE_ARN.match(arn):
            raise ValueError("must be an S3 object ARN ending in .env, like arn:aws:s3:::my-bucket/app/prod.env")
        return arn

    @field_validator("image_tag")
    @classmethod
    def _tag(cls, tag: str) -> str:
        if not _TAG.match(tag):
            raise ValueError("not a valid image tag (letters, digits, _ . -; at most 128)")
        return tag

    @field_validator("path_patterns")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        if len(patterns) > 5:
            raise ValueError("a listener rule takes at most 5 path patterns")
        bad = [p for p in patterns if not p.startswith("/") or len(p) > 128]
        if bad:
            raise ValueError(f"path patterns must start with / (at most 128 characters): {', '.join(bad)}")
        return patterns

    @model_validator(mode="after")
    def _consistent(self) -> Config:
        valid = FARGATE_SIZES[self.cpu]
        if self.memory_mib not in valid:
            raise ValueError(
                f"memory_mib {self.memory_mib} is not valid with cpu {self.cpu}; Fargate allows "
                f"{', '.join(map(str, valid))}"
            )
        clash = sorted(
            (set(self.environment) & set(self.secrets))
            | ({self.database_secret_variable} & (set(self.environment) | set(self.secrets)))
        )
        if clash:
            raise ValueError(f"variables defined twice (environment, secrets, database_secret_variable): {', '.join(clash)}")
        if not _VARIABLE.match(self.database_secret_variable):
            raise ValueError("database_secret_variable is not an environment variable name")
        if self.scaling.enabled:
            s = self.scaling
            if s.min_tasks > s.max_tasks:
                raise ValueError(f"scaling.min_tasks ({s.min_tasks}) must not exceed scaling.max_tasks ({s.max_tasks})")
            if not s.min_tasks <= self.desired_count <= s.max_tasks:
                raise ValueError(
                    f"desired_count ({self.desired_count}) must be between scaling.min_tasks ({s.min_tasks}) "
                    f"and scaling.max_tasks ({s.max_tasks})"
                )
        return self

    def secret_arns(self, kind: Literal["secretsmanager", "ssm"]) -> list[str]:
        """The secret ARNs of one kind, as IAM resources (a Secrets Manager
        reference's `:json-key:stage:version` suffix is not part of the ARN)."""
        found = []
        for arn in self.secrets.values():
            match = SECRET_ARN.match(arn)
            if kind == "secretsmanager" and match:
                found.append(match.group(1))
            elif kind == "ssm" and PARAMETER_ARN.match(arn):
                found.append(arn)
        return sorted(set(found))


def repository_name(env: EnvConfig) -> str:
    """The repository's name; the compute layer grants pulls on it by name."""
    return physical_name(env.project, env.environment, "app")


def task_family(env: EnvConfig) -> str:
    """The task definition's family; the pipeline layer may tag revisions of it."""
    return physical_name(env.project, env.environment, "app")


def build(env: EnvConfig) -> Template:
    cfg: Config = env.containers
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    repository = _repository(t, env)
    cluster, capacity = _cluster(t, cfg)
    log_group = retain_long_logs(t.add_resource(logs.LogGroup("ContainerLogGroup", RetentionInDays=cfg.log_retention_days)))
    suppress(log_group, "CKV_AWS_158", "The records are the application's own output; CloudWatch Logs encrypts them at rest by default")
    execution_role = _execution_role(t, env, repository, log_group)
    task_role = service_role(t, "TaskRole", "ecs-tasks.amazonaws.com", [
        *app_tier.wired_grants(t, env, cfg.static_write), *(role_grant(g) for g in cfg.task_role_grants),
    ])
    task = _task_definition(t, env, repository, log_group, execution_role, task_role)
    service = _service(t, env, cluster, capacity, task)
    if env.pipeline.blue_green:
        _blue_green(t, env, service)
    if cfg.scaling.enabled:
        _service_scaling(t, env, cluster, service)
    output(t, "RepositoryUri", GetAtt(repository, "RepositoryUri"), "ECR repository to push the application image to")
    output(t, "RepositoryArn", GetAtt(repository, "Arn"), "ECR repository ARN")
    output(t, "ClusterName", Ref(cluster), "ECS cluster")
    output(t, "ServiceName", GetAtt(service, "Name"), "ECS service")
    output(t, "ContainerLogGroupName", Ref(log_group), "Log group of the containers' output")
    output(t, "TaskRoleArn", GetAtt(task_role, "Arn"), "IAM role of the application (task role)")
    output(t, "TaskExecutionRoleArn", GetAtt(execution_role, "Arn"), "IAM role ECS uses to start the task")
    _alarms(t, env)
    return t


def _repository(t: Template, env: EnvConfig) -> ecr.Repository:
    cfg: Config = env.containers
    policy = {"rules": [
        {
            "rulePriority": 1, "description": f"Expire untagged images after {cfg.repository.untagged_expire_days} days",
            "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                          "countNumber": cfg.repository.untagged_expire_days},
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2, "description": f"Keep the last {cfg.repository.keep_tagged_images} tagged images",
            "selection": {"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "imageCountMoreThan",
                          "countNumber": cfg.repository.keep_tagged_images},
            "action": {"type": "expire"},
        },
    ]}
    repository = t.add_resource(ecr.Repository(
        "Repository",
        RepositoryName=repository_name(env),
        ImageScanningConfiguration=ecr.ImageScanningConfiguration(ScanOnPush=True),
        # A tag always names the same image: what was tested is what runs, and a rollback is exact.
        ImageTagMutability="IMMUTABLE",
        EncryptionConfiguration=ecr.EncryptionConfiguration(EncryptionType="KMS"),
        LifecyclePolicy=ecr.LifecyclePolicy(LifecyclePolicyText=_json(policy)),
    ))
    return keep_data(repository, "Retain")


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _cluster(t: Template, cfg: Config) -> tuple[ecs.Cluster, ecs.ClusterCapacityProviderAssociations]:
    cluster = t.add_resource(ecs.Cluster("Cluster", ClusterSettings=[
        ecs.ClusterSetting(Name="containerInsights", Value=cfg.container_insights),
    ]))
    if cfg.container_insights == "disabled":
        suppress(cluster, "CKV_AWS_65", "Container Insights turned off in the parameter file (containers.container_insights: disabled)")
    elif cfg.container_insights == "enhanced":
        suppress(cluster, "CT.ECS.PR.2", "containers.container_insights is enhanced, which collects all that enabled does; "
                                         "the rule accepts only the value 'enabled'")
    capacity = t.add_resource(ecs.ClusterCapacityProviderAssociations(
        "ClusterCapacityProviders", Cluster=Ref(cluster), CapacityProviders=["FARGATE", "FARGATE_SPOT"],
        DefaultCapacityProviderStrategy=_strategy(cfg.capacity),
    ))
    return cluster, capacity


def _strategy(capacity: Capacity, item=ecs.CapacityProviderStrategy) -> list:
    """The split of tasks between Fargate and Fargate Spot (`item` is the
    property class: the cluster's default and the service's differ in name only)."""
    strategy = []
    if capacity.fargate_weight:
        strategy.append(item(CapacityProvider="FARGATE", Base=capacity.fargate_base, Weight=capacity.fargate_weight))
    if capacity.fargate_spot_weight:
        strategy.append(item(CapacityProvider="FARGATE_SPOT", Weight=capacity.fargate_spot_weight))
    return strategy


def _execution_role(t: Template, env: EnvConfig, repository: ecr.Repository, log_group: logs.LogGroup) -> iam.Role:
    cfg: Config = env.containers
    grants = [
        grant(["logs:CreateLogStream", "logs:PutLogEvents"], [GetAtt(log_group, "Arn")]),
    ]
    if cfg.image is None:
        grants[:0] = [
            grant(["ecr:GetAuthorizationToken"], ["*"], wildcard_reason=ECR_TOKEN_REASON),
            grant(list(ECR_PULL_ACTIONS), [GetAtt(repository, "Arn")]),
        ]
    secrets = cfg.secret_arns("secretsmanager")
    if secrets:
        grants.append(grant(["secretsmanager:GetSecretValue"], [_arn(a) for a in secrets]))
    parameters = cfg.secret_arns("ssm")
    if parameters:
        grants.append(grant(["ssm:GetParameters"], [_arn(a) for a in parameters]))
    if cfg.environment_file:
        match = ENV_FILE_ARN.match(cfg.environment_file)
        bucket = f"arn:{match.group(1)}:s3:::{match.group(2)}"
        grants += [
            grant(["s3:GetObject"], [_arn(cfg.environment_file)]),
            grant(["s3:GetBucketLocation"], [_arn(bucket)]),
        ]
    grants += _wired_secrets(t, env)
    return service_role(t, "TaskExecutionRole", "ecs-tasks.amazonaws.com", grants)


def _wired_secrets(t: Template, env: EnvConfig) -> list:
    """ECS reads the data layers' secrets to inject them: the database
    credentials (on the AWS managed key) and the cache token (on the cache
    layer's key, hence Decrypt on it)."""
    secrets = app_tier.secret_arns(t, env)
    if not secrets:
        return []
    grants = [grant(["secretsmanager:GetSecretValue"], secrets, sid="ReadWiredSecrets")]
    if env.cache.enabled and env.cache.cluster.enabled:
        grants.append(grant(["kms:Decrypt"], [app_tier.cache_key_arn(t)], sid="DecryptCacheToken", conditions=Condition(
            StringEquals("kms:ViaService", Sub("secretsmanager.${AWS::Region}.amazonaws.com")))))
    return grants


def _image(t: Template, cfg: Config, repository: ecr.Repository) -> AWSHelperFn | str:
    if cfg.image is not None:
        return cfg.image
    tag = parameter(
        t, "ContainerImageTag", "String", "Tag of the repository image the service runs",
        Default=cfg.image_tag, AllowedPattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$",
    )
    return Join(":", [GetAtt(repository, "RepositoryUri"), Ref(tag)])


def _task_definition(
    t: Template, env: EnvConfig, repository: ecr.Repository, log_group: logs.LogGroup,
    execution_role: iam.Role, task_role: iam.Role,
) -> ecs.TaskDefinition:
    cfg: Config = env.containers
    wired = app_tier.settings(t, env)
    secrets = [ecs.Secret(Name=name, ValueFrom=_arn(arn)) for name, arn in cfg.secrets.items()]
    secrets += [ecs.Secret(Name=_secret_name(cfg, s), ValueFrom=s.value) for s in wired if s.secret_value]
    environment = [ecs.Environment(Name=k, Value=v) for k, v in cfg.environment.items()]
    environment += [ecs.Environment(Name=s.variable, Value=s.value) for s in wired if not s.secret_value]
    container = ecs.ContainerDefinition(
        Name=CONTAINER_NAME,
        Image=_image(t, cfg, repository),
        Essential=True,
        PortMappings=[ecs.PortMapping(ContainerPort=env.security.app_port, Protocol="tcp")],
        Environment=sorted(environment, key=lambda e: e.Name),
        Secrets=sorted(secrets, key=lambda e: e.Name),
        ReadonlyRootFilesystem=cfg.readonly_root_filesystem,
        LogConfiguration=ecs.LogConfiguration(LogDriver="awslogs", Options={
            "awslogs-group": Ref(log_group), "awslogs-region": Ref("AWS::Region"), "awslogs-stream-prefix": CONTAINER_NAME,
        }),
    )
    if cfg.environment_file:
        container.EnvironmentFiles = [ecs.EnvironmentFile(Type="s3", Value=_arn(cfg.environment_file))]
    if cfg.user:
        container.User = cfg.user
    mounts, volumes = [], []
    if cfg.readonly_root_filesystem:
        mounts.append(ecs.MountPoint(SourceVolume="tmp", ContainerPath="/tmp", ReadOnly=False))
        volumes.append(ecs.Volume(Name="tmp"))
    if env.storage.enabled:
        mounts.append(ecs.MountPoint(SourceVolume=FILES_VOLUME, ContainerPath=cfg.file_system_path, ReadOnly=False))
        volumes.append(_file_system_volume(t))
    if mounts:
        container.MountPoints = mounts
    task = t.add_resource(ecs.TaskDefinition(
        "TaskDefinition",
        Family=task_family(env),
        Cpu=str(cfg.cpu), Memory=str(cfg.memory_mib),
        NetworkMode="awsvpc", RequiresCompatibilities=["FARGATE"],
        RuntimePlatform=ecs.RuntimePlatform(CpuArchitecture=cfg.architecture, OperatingSystemFamily="LINUX"),
        ExecutionRoleArn=GetAtt(execution_role, "Arn"), TaskRoleArn=GetAtt(task_role, "Arn"),
        ContainerDefinitions=[container], Volumes=volumes,
    ))
    if not cfg.readonly_root_filesystem:
        suppress(task, "CKV_AWS_336", "Writable root filesystem chosen in the parameter file (containers.readonly_root_filesystem: false)")
    return task


def _secret_name(cfg: Config, setting: app_tier.Setting) -> str:
    return cfg.database_secret_variable if setting.connection.output == "DatabaseSecretArn" else setting.variable


def _file_system_volume(t: Template) -> ecs.Volume:
    """The storage layer's file system through its access point, encrypted in
    transit, mounted as the task role (IAM authorization), which the file
    system policy and the task role's grant require."""
    return ecs.Volume(Name=FILES_VOLUME, EFSVolumeConfiguration=ecs.EFSVolumeConfiguration(
        FilesystemId=Ref(t.parameters["FileSystemId"]), TransitEncryption="ENABLED",
        AuthorizationConfig=ecs.AuthorizationConfig(AccessPointId=Ref(t.parameters["AccessPointId"]), IAM="ENABLED"),
    ))


def _service(
    t: Template, env: EnvConfig, cluster: ecs.Cluster, capacity: ecs.ClusterCapacityProviderAssociations,
    task: ecs.TaskDefinition,
) -> ecs.Service:
    cfg: Config = env.containers
    subnets = parameter(t, "PrivateSubnetIds", "List<AWS::EC2::Subnet::Id>", "Private subnets, one per AZ, for the tasks")
    app_group = parameter(t, "AppSecurityGroupId", "AWS::EC2::SecurityGroup::Id", "Security group of the tasks")
    kwargs: dict[str, Any] = {}
    if env.web.enabled:
        target_group = parameter(t, "ContainerTargetGroupArn", "String", "Target group (ip targets) the tasks register in")
        kwargs["LoadBalancers"] = [ecs.LoadBalancer(
            ContainerName=CONTAINER_NAME, ContainerPort=env.security.app_port, TargetGroupArn=Ref(target_group),
        )]
        kwargs["HealthCheckGracePeriodSeconds"] = cfg.health_check_grace_period_seconds
    return t.add_resource(ecs.Service(
        "Service",
        Cluster=Ref(cluster), TaskDefinition=Ref(task), DesiredCount=cfg.desired_count,
        CapacityProviderStrategy=_strategy(cfg.capacity, ecs.CapacityProviderStrategyItem), PlatformVersion="LATEST",
        NetworkConfiguration=ecs.NetworkConfiguration(AwsvpcConfiguration=ecs.AwsvpcConfiguration(
            AssignPublicIp="DISABLED", Subnets=Ref(subnets), SecurityGroups=[Ref(app_group)],
        )),
        DeploymentController=ecs.DeploymentController(Type="ECS"),
        DeploymentConfiguration=ecs.DeploymentConfiguration(
            DeploymentCircuitBreaker=ecs.DeploymentCircuitBreaker(Enable=True, Rollback=True),
            MinimumHealthyPercent=cfg.min_healthy_percent, MaximumPercent=cfg.max_percent,
        ),
        PropagateTags="SERVICE", EnableECSManagedTags=True,
        # The service may only use capacity providers once they are attached to the cluster.
        DependsOn=[capacity.title],
        **kwargs,
    ))


def _blue_green(t: Template, env: EnvConfig, service: ecs.Service) -> None:
    """ECS's own blue/green deployments (pipeline.deployment: blue_green, no
    CodeDeploy): a new revision starts in the web layer's second target group,
    ECS moves the test and then the production listener rule to it, keeps the
    old revision for the bake time, then stops it. ECS does that with the
    infrastructure role below, which may touch exactly these two target groups
    and two rules (the actions of AWS's AmazonECSInfrastructureRolePolicyForLoadBalancers,
    v6, held to this environment's resources)."""
    primary = t.parameters["ContainerTargetGroupArn"]
    alternate = parameter(t, "ContainerAlternateTargetGroupArn", "String", "Second target group of blue/green deployments")
    production = parameter(t, "ContainerListenerRuleArn", "String", "Production listener rule blue/green deployments shift")
    test = parameter(t, "ContainerTestListenerRuleArn", "String", "Test listener rule blue/green deployments shift first")
    role = service_role(t, "LoadBalancerInfrastructureRole", "ecs.amazonaws.com", [
        grant(["elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeRules",
               "elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetHealth"], ["*"],
              wildcard_reason="Elastic Load Balancing's Describe calls have no resource-level permissions"),
        grant(["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
              [Ref(primary), Ref(alternate)], sid="TheTwoTargetGroups"),
        grant(["elasticloadbalancing:ModifyRule"], [Ref(production), Ref(test)], sid="TheTwoListenerRules"),
    ])
    (balancer,) = service.LoadBalancers
    balancer.AdvancedConfiguration = ecs.AdvancedConfiguration(
        AlternateTargetGroupArn=Ref(alternate), ProductionListenerRule=Ref(production), TestListenerRule=Ref(test),
        RoleArn=GetAtt(role, "Arn"),
    )
    service.DeploymentConfiguration.Strategy = "BLUE_GREEN"
    service.DeploymentConfiguration.BakeTimeInMinutes = env.pipeline.bake_time_minutes


def _service_scaling(t: Template, env: EnvConfig, cluster: ecs.Cluster, service: ecs.Service) -> None:
    scaling = env.containers.scaling
    target = t.add_resource(applicationautoscaling.ScalableTarget(
        "ServiceScalableTarget", ServiceNamespace="ecs", ScalableDimension="ecs:service:DesiredCount",
        ResourceId=Join("/", ["service", Ref(cluster), GetAtt(service, "Name")]),
        MinCapacity=scaling.min_tasks, MaxCapacity=scaling.max_tasks,
    ))
    if scaling.metric == "cpu":
        metric = applicationautoscaling.PredefinedMetricSpecification(PredefinedMetricType="ECSServiceAverageCPUUtilization")
    else:
        alb = parameter(t, "LoadBalancerFullName", "String", "app/<name>/<id> of the load balancer")
        group = parameter(t, "ContainerTargetGroupFullName", "String", "targetgroup/<name>/<id> of the tasks' target group")
        metric = applicationautoscaling.PredefinedMetricSpecification(
            PredefinedMetricType="ALBRequestCountPerTarget", ResourceLabel=Join("/", [Ref(alb), Ref(group)]),
        )
    t.add_resource(applicationautoscaling.ScalingPolicy(
        "ServiceScalingPolicy", PolicyName=Sub("${AWS::StackName}-service-tracking"), PolicyType="TargetTrackingScaling",
        ScalingTargetId=Ref(target),
        TargetTrackingScalingPolicyConfiguration=applicationautoscaling.TargetTrackingScalingPolicyConfiguration(
            PredefinedMetricSpecification=metric, TargetValue=scaling.target_value,
            ScaleInCooldown=scaling.scale_in_cooldown_seconds, ScaleOutCooldown=scaling.scale_out_cooldown_seconds,
        ),
    ))


def alarm_specs(env: EnvConfig) -> list[alarms.Spec]:
    """Tasks running below the desired count (Container Insights), and the service's CPU and memory."""
    cfg: Config = env.containers
    if not cfg.alarms.enabled:
        return []
    dims = {"ClusterName": Ref("Cluster"), "ServiceName": GetAtt("Service", "Name")}
    idle = "ECS publishes them only while tasks run; none running is what the running-below-desired alarm reports"
    specs = [
        alarms.Spec("cpu-high", "Service: average CPU of the tasks", cfg.alarms.cpu_percent, ">=", "notBreaching", idle,
                    alarms.Metric("AWS/ECS", "CPUUtilization", dims, "Average"), unit="%"),
        alarms.Spec("memory-high", "Service: average memory of the tasks", cfg.alarms.memory_percent, ">=", "notBreaching",
                    idle, alarms.Metric("AWS/ECS", "MemoryUtilization", dims, "Average"), unit="%"),
    ]
    if cfg.container_insights != "disabled":
        insights = "ECS/ContainerInsights"
        specs.insert(0, alarms.Spec(
            "running-below-desired", "Service: tasks running below the desired count", cfg.alarms.running_shortfall,
            ">=", "notBreaching",
            "Container Insights publishes the desired count each minute; a running count missing beside it counts "
            "as zero running (FILL), and nothing at all means there is no service",
            expression="desired - FILL(running, 0)", unit="tasks",
            inputs={"desired": alarms.Metric(insights, "DesiredTaskCount", dims, "Maximum"),
                    "running": alarms.Metric(insights, "RunningTaskCount", dims, "Minimum")},
        ))
    return specs


def _alarms(t: Template, env: EnvConfig) -> None:
    alarms.raise_alarms(t, env, NAME, env.containers.alarms, alarm_specs(env))
