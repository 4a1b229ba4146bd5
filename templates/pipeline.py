"""pipeline layer: every commit on a branch becomes an image and runs on the service.

Seed 001 ends its container chapter by wiring this by hand; this layer is
that, drawn in the order a commit travels:

1. Source: a CodeConnections connection to GitHub, GitLab or Bitbucket
   (created here, or an existing one) and the repository and branch it
   watches. A connection is approved once by a person in the console; until
   then it is PENDING and `strata deploy` prints how.
2. Build: a CodeBuild project running `templates/buildspec.yml` (kept in this
   repository, carried inline): ECR login, `docker build`, the optional test
   command inside the image, the tag is the short commit id (the
   repository's tags are immutable), push, `imagedefinitions.json` naming
   the task definition's container. Its settings come from environment
   variables and from Parameter Store parameters this layer creates.
3. Approval (optional, on in prod): a person approves the image before it
   is deployed.
4. Deploy: CodePipeline's ECS action registers a task definition revision
   with the new image and updates the containers layer's service. With
   `deployment: blue_green` ECS itself runs the new revision beside the old
   one behind a second target group, shifts the load balancer's rules, waits
   the bake time and then stops the old tasks (no CodeDeploy); the
   containers and web layers add what that needs.

Builds run outside the VPC, in CodeBuild's own network: they reach ECR,
S3, Parameter Store and the source provider over the internet, whatever
`network.nat` says, and nothing inside the VPC.

Everything the pipeline stores (artifacts, build logs, notifications) is
encrypted with one customer managed key, because EventBridge and CloudWatch
Logs can only use a key whose policy lets them in. Failed and succeeded
executions (and approval requests) go to the pipeline's own SNS topic.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from awacs.aws import ArnEquals, ArnLike, Condition, Principal, StringEquals
from pydantic import Field, field_validator, model_validator
from troposphere import Equals, GetAtt, If, Ref, Sub, Template, codebuild, codeconnections, codepipeline, events, logs, s3, sns

from generator.cfn.buckets import access_logging, block_public
from generator.cfn.iam import deny_s3_without_tls, grant, resource_policy, service_role
from generator.cfn.kms import customer_key, use_key
from generator.cfn.naming import physical_name, ssm_path
from generator.cfn.resources import keep_data, output, parameter, ssm_parameter, suppress
from generator.cfn.sections import EmailAddresses, LayerSection, LogRetentionDays, Section
from generator.cfn.topics import subscriptions
from templates.compute import ECR_TOKEN_REASON
from templates.containers import CONTAINER_NAME, task_family

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "pipeline"
DESCRIPTION = "CodePipeline: source connection -> CodeBuild image build -> [approval] -> ECS deploy, rolling or blue/green"

BUILDSPEC = Path(__file__).with_name("buildspec.yml")
IMAGE_DEFINITIONS = "imagedefinitions.json"

# Managed CodeBuild images (Amazon Linux 2023) per containers.architecture:
# the build runs on the CPU the tasks run on, so the image needs no emulation.
BUILD_ENVIRONMENTS = {
    "X86_64": ("LINUX_CONTAINER", "aws/codebuild/amazonlinux-x86_64-standard:5.0"),
    "ARM64": ("ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0"),
}

CONNECTION_ARN = re.compile(r"^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$")
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
_BRANCH = re.compile(r"^(?!/)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]{1,255}(?<![/.])$")
_RELATIVE_PATH = re.compile(r"^(?!/)(?!.*(^|/)\.\.(/|$))[A-Za-z0-9._/-]+$")

SOURCE_CONNECTION = "SourceConnectionArn"
CREATE_CONNECTION = "CreateConnection"

ExecutionState = Literal["STARTED", "SUCCEEDED", "FAILED", "CANCELED", "STOPPED", "SUPERSEDED"]


class Notifications(Section):
    emails: EmailAddresses = []
    """Addresses subscribed to the pipeline's SNS topic (each confirms once by e-mail). The topic also
    carries the approval requests when `approval` is on."""
    states: list[ExecutionState] = ["FAILED", "SUCCEEDED"]
    """Pipeline execution states that notify the topic (EventBridge's CodePipeline Pipeline Execution
    State Change events)."""

    @field_validator("states")
    @classmethod
    def _some_state(cls, states: list[str]) -> list[str]:
        if not states or len(set(states)) != len(states):
            raise ValueError("list each state once, at least one")
        return states


class Config(LayerSection):
    repository: str | None = None
    """The application repository, `owner/name` (GitLab: `group/subgroup/name`). Required when the layer
    is on; it must hold a Dockerfile (`dockerfile`). The stack parameter `SourceRepository` defaults to it."""
    branch: str = "main"
    """Branch whose pushes start the pipeline (`SourceBranch` parameter's default)."""
    connection_arn: str | None = None
    """An existing, approved CodeConnections (or CodeStar Connections) connection to the provider. Empty:
    the layer creates one, PENDING until a person approves it once in the console (`strata deploy` says
    how). The `SourceConnectionArn` parameter's default."""
    provider: Literal["GitHub", "GitLab", "Bitbucket"] = "GitHub"
    """Provider of the connection the layer creates (unused with `connection_arn`)."""
    deployment: Literal["rolling", "blue_green"] = "rolling"
    """`rolling`: ECS replaces tasks a few at a time within the containers layer's healthy-percent bounds,
    with the circuit breaker rolling back a deployment that never gets healthy. `blue_green`: ECS's own
    blue/green: the new revision starts beside the old one in a second target group, test traffic (header
    `X-Strata-Test: green`) reaches it first, then the production listener rule moves all traffic, and the
    old tasks stay for `bake_time_minutes` so a rollback is one rule change. Needs the web layer."""
    bake_time_minutes: int = Field(default=10, ge=0, le=1440)
    """blue_green only: minutes both revisions keep running after production traffic moved, before ECS
    stops the old one (the window in which a rollback is instant)."""
    approval: bool = False
    """A manual approval stage between build and deploy: a person approves the built image (the request
    goes to the notification topic). On in prod."""
    test_command: str | None = None
    """Shell command run inside the freshly built image before it is pushed (e.g. `python -m pytest -q`);
    a failure stops the pipeline with nothing pushed. Needs /bin/sh in the image. Empty: no test."""
    dockerfile: str = "Dockerfile"
    """Path of the Dockerfile in the application repository."""
    build_context: str = "."
    """Folder of the application repository sent to `docker build` as its context."""
    compute_type: Literal["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"] = "BUILD_GENERAL1_SMALL"
    """CodeBuild machine size (small: 2 vCPUs, 3-4 GB); billed per build-minute, bigger builds faster."""
    build_image: str | None = None
    """A CodeBuild managed image instead of the default Amazon Linux 2023 standard image for
    `containers.architecture` (aws/codebuild/amazonlinux-x86_64-standard:5.0 or
    aws/codebuild/amazonlinux-aarch64-standard:3.0)."""
    build_timeout_minutes: int = Field(default=30, ge=5, le=480)
    """Minutes after which CodeBuild stops a build and fails it."""
    deploy_timeout_minutes: int = Field(default=60, ge=1, le=60)
    """Minutes the ECS deploy action waits for the service to be stable (CodePipeline allows 1-60);
    with blue_green this includes the bake time."""
    log_retention_days: LogRetentionDays = 30
    """Days CloudWatch Logs keeps the build logs."""
    artifact_retention_days: int = Field(default=30, ge=1, le=3650)
    """Days the artifact bucket keeps a pipeline's source and build artifacts before S3 expires them
    (an execution older than that cannot be retried)."""
    notifications: Notifications = Notifications()
    """Where execution results go."""

    @property
    def blue_green(self) -> bool:
        """The pipeline is on and deploys with ECS blue/green: what the web and containers layers ask."""
        return self.enabled and self.deployment == "blue_green"

    @field_validator("repository")
    @classmethod
    def _repository(cls, repository: str | None) -> str | None:
        if repository is not None and not _REPOSITORY.match(repository):
            raise ValueError("must be owner/name (GitLab: group/subgroup/name), e.g. example-org/shop")
        return repository

    @field_validator("branch")
    @classmethod
    def _branch(cls, branch: str) -> str:
        if not _BRANCH.match(branch):
            raise ValueError("not a git branch name (letters, digits, . _ - /; no '..', no leading or trailing /)")
        return branch

    @field_validator("connection_arn")
    @classmethod
    def _connection(cls, arn: str | None) -> str | None:
        if arn is not None and not CONNECTION_ARN.match(arn):
            raise ValueError("must be a connection ARN, arn:aws:codeconnections:<region>:<account>:connection/<id>")
        return arn

    @field_validator("dockerfile", "build_context")
    @classmethod
    def _relative(cls, path: str) -> str:
        if not _RELATIVE_PATH.match(path):
            raise ValueError("must be a path inside the repository (relative, no '..')")
        return path

    @field_validator("test_command")
    @classmethod
    def _command(cls, command: str | None) -> str | None:
        if command is not None and not command.strip():
            raise ValueError("is empty: leave it out for no test")
        return command

    @model_validator(mode="after")
    def _complete(self) -> Config:
        if self.enabled and self.repository is None:
            raise ValueError("repository is required when the pipeline is enabled (owner/name)")
        if self.deployment == "blue_green" and self.bake_time_minutes >= self.deploy_timeout_minutes:
            raise ValueError(
                f"bake_time_minutes ({self.bake_time_minutes}) must be shorter than deploy_timeout_minutes "
                f"({self.deploy_timeout_minutes}): the deploy action waits for the bake time to end"
            )
        return self


def build(env: EnvConfig) -> Template:
    cfg: Config = env.pipeline
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    service = _service_inputs(t)
    key = _key(t)
    bucket = _artifact_bucket(t, env, key)
    connection = _connection(t, env)
    settings = _settings(t, env)
    log_group = _build_log_group(t, cfg, key)
    project = _build_project(t, env, bucket, key, log_group, settings)
    topic = _topic(t, cfg, key)
    role = _pipeline_role(t, env, bucket, key, connection, project, topic, service)
    pipeline = _pipeline(t, env, role, bucket, key, connection, project, topic)
    _notifications(t, cfg, pipeline, topic)
    output(t, "PipelineName", Ref(pipeline), "CodePipeline that builds and deploys the application")
    output(t, "BuildProjectName", Ref(project), "CodeBuild project that builds and pushes the image")
    output(t, "BuildLogGroupName", Ref(log_group), "Log group of the builds")
    output(t, "ArtifactBucketName", Ref(bucket), "Bucket holding the pipeline's artifacts")
    output(t, "ConnectionArn", connection, "Connection to the source provider (approve it once in the console while PENDING)")
    output(t, "PipelineTopicArn", Ref(topic), "SNS topic of execution results and approval requests")
    return t


def _service_inputs(t: Template) -> dict[str, Any]:
    """What the containers layer outputs and the pipeline builds for and deploys to, by name."""
    names = {
        "ClusterName": "ECS cluster of the service", "ServiceName": "ECS service the pipeline deploys",
        "RepositoryUri": "ECR repository the build pushes to", "RepositoryArn": "ECR repository the build pushes to",
        "TaskRoleArn": "Task role of the service's task definition",
        "TaskExecutionRoleArn": "Task execution role of the service's task definition",
    }
    return {name: parameter(t, name, "String", description) for name, description in names.items()}


def _key(t: Template):
    """EventBridge (publishing to the encrypted topic), SNS (parking an
    undeliverable notification in the encrypted dead-letter queue) and
    CloudWatch Logs (writing the encrypted build logs) use the key on this
    account's behalf only; the pipeline and build roles use it through their
    IAM policies."""
    this_account = Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId")))
    this_accounts_logs = Condition(ArnLike(
        "kms:EncryptionContext:aws:logs:arn", Sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"),
    ))
    return customer_key(t, "PipelineKey", "Encrypts the pipeline's artifacts, build logs and notifications", [
        *((Principal("Service", service), use_key(["kms:GenerateDataKey*", "kms:Decrypt"], conditions=this_account))
          for service in ("events.amazonaws.com", "sns.amazonaws.com")),
        (Principal("Service", Sub("logs.${AWS::Region}.amazonaws.com")),
         use_key(["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                 conditions=this_accounts_logs)),
    ])


def _artifact_bucket(t: Template, env: EnvConfig, key) -> s3.Bucket:
    cfg: Config = env.pipeline
    bucket = t.add_resource(s3.Bucket(
        "ArtifactBucket",
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
            ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="aws:kms", KMSMasterKeyID=GetAtt(key, "Arn")),
            BucketKeyEnabled=True,
        )]),
        PublicAccessBlockConfiguration=block_public(),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(
            Id="expire-old-artifacts", Status="Enabled", ExpirationInDays=cfg.artifact_retention_days,
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1),
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
        )]),
    ))
    keep_data(bucket, "Retain")
    access_logging(t, bucket, "pipeline-artifacts", env.monitoring.enabled)
    t.add_resource(s3.BucketPolicy(
        "ArtifactBucketPolicy", Bucket=Ref(bucket),
        PolicyDocument=resource_policy([], deny=[deny_s3_without_tls(GetAtt(bucket, "Arn"), _objects(bucket))]),
    ))
    return bucket


def _objects(bucket: s3.Bucket) -> Sub:
    return Sub(f"${{{bucket.title}.Arn}}/*")


def _connection(t: Template, env: EnvConfig) -> If:
    """The connection's ARN: the `SourceConnectionArn` parameter, or, while
    it is empty, a connection created here (PENDING until approved)."""
    cfg: Config = env.pipeline
    arn = parameter(
        t, SOURCE_CONNECTION, "String",
        "Existing CodeConnections connection to the source provider; empty: the stack creates one (approve it once in the console)",
        Default=cfg.connection_arn or "",
        AllowedPattern=r"^$|^arn:aws[a-z-]*:(codestar-connections|codeconnections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]+$",
    )
    t.add_condition(CREATE_CONNECTION, Equals(Ref(arn), ""))
    connection = t.add_resource(codeconnections.Connection(
        "Connection", Condition=CREATE_CONNECTION,
        ConnectionName=physical_name(env.project, env.environment, "source", max_length=32), ProviderType=cfg.provider,
    ))
    return If(CREATE_CONNECTION, Ref(connection), Ref(arn))


def _parameter_arn(name: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{name}")


def _settings(t: Template, env: EnvConfig) -> dict[str, str]:
    """The build's settings in Parameter Store (seed 001: settings there, not
    literals in the buildspec). Variable name -> parameter name."""
    values = {
        "REPOSITORY_URI": ("RepositoryUriSetting", Ref("RepositoryUri"), "RepositoryUri", "ECR repository the build pushes to"),
        # The imagedefinitions.json name must be the task definition's container, so it is the containers layer's constant.
        "CONTAINER_NAME": ("ContainerNameSetting", CONTAINER_NAME, "ContainerName", "Container of the task definition the image runs in"),
    }
    names = {}
    for variable, (title, value, leaf, description) in values.items():
        name = ssm_path(env.project, env.environment, "pipeline", leaf)
        ssm_parameter(t, title, name, value, description)
        names[variable] = name
    return names


def _build_log_group(t: Template, cfg: Config, key) -> logs.LogGroup:
    return t.add_resource(logs.LogGroup(
        "BuildLogGroup", RetentionInDays=cfg.log_retention_days, KmsKeyId=GetAtt(key, "Arn"),
    ))


def _build_environment(env: EnvConfig, settings: dict[str, str]) -> codebuild.Environment:
    cfg: Config = env.pipeline
    kind, image = BUILD_ENVIRONMENTS[env.containers.architecture]
    variables = [
        codebuild.EnvironmentVariable(Name="AWS_ACCOUNT_ID", Type="PLAINTEXT", Value=Ref("AWS::AccountId")),
        *(codebuild.EnvironmentVariable(Name=n, Type="PARAMETER_STORE", Value=v) for n, v in settings.items()),
        codebuild.EnvironmentVariable(Name="DOCKERFILE", Type="PLAINTEXT", Value=cfg.dockerfile),
        codebuild.EnvironmentVariable(Name="BUILD_CONTEXT", Type="PLAINTEXT", Value=cfg.build_context),
    ]
    if cfg.test_command:
        variables.append(codebuild.EnvironmentVariable(Name="TEST_COMMAND", Type="PLAINTEXT", Value=cfg.test_command))
    return codebuild.Environment(
        Type=kind, ComputeType=cfg.compute_type, Image=cfg.build_image or image, ImagePullCredentialsType="CODEBUILD",
        # docker build needs the Docker daemon, which a CodeBuild container runs only in privileged mode.
        PrivilegedMode=True, EnvironmentVariables=variables,
    )


def _build_role(t: Template, settings: dict[str, str], bucket: s3.Bucket, key, log_group: logs.LogGroup):
    return service_role(t, "BuildRole", "codebuild.amazonaws.com", [
        grant(["logs:CreateLogStream", "logs:PutLogEvents"], [GetAtt(log_group, "Arn")]),
        grant(["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [_objects(bucket)]),
        grant(["s3:GetBucketAcl", "s3:GetBucketLocation"], [GetAtt(bucket, "Arn")]),
        grant(["kms:Decrypt", "kms:GenerateDataKey"], [GetAtt(key, "Arn")]),
        grant(["ecr:GetAuthorizationToken"], ["*"], wildcard_reason=ECR_TOKEN_REASON.replace("pull", "push")),
        grant([
            "ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:DescribeImages",
        ], [Ref("RepositoryArn")], sid="PushToTheRepository"),
        grant(["ssm:GetParameters"], [_parameter_arn(name) for name in settings.values()], sid="ReadTheBuildSettings"),
    ])


def _build_project(
    t: Template, env: EnvConfig, bucket: s3.Bucket, key, log_group: logs.LogGroup, settings: dict[str, str],
) -> codebuild.Project:
    cfg: Config = env.pipeline
    role = _build_role(t, settings, bucket, key, log_group)
    project = t.add_resource(codebuild.Project(
        "BuildProject",
        Name=physical_name(env.project, env.environment, "app", "build"),
        Description="Builds the application image, tags it with the commit, pushes it and writes imagedefinitions.json",
        ServiceRole=GetAtt(role, "Arn"),
        Source=codebuild.Source(Type="CODEPIPELINE", BuildSpec=BUILDSPEC.read_text(encoding="utf-8")),
        Artifacts=codebuild.Artifacts(Type="CODEPIPELINE"),
        Environment=_build_environment(env, settings),
        # Docker layers of earlier builds stay on the build host for a while, so an unchanged layer is not rebuilt.
        Cache=codebuild.ProjectCache(Type="LOCAL", Modes=["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE"]),
        LogsConfig=codebuild.LogsConfig(CloudWatchLogs=codebuild.CloudWatchLogs(Status="ENABLED", GroupName=Ref(log_group))),
        EncryptionKey=GetAtt(key, "Arn"),
        TimeoutInMinutes=cfg.build_timeout_minutes,
        QueuedTimeoutInMinutes=60,
    ))
    return suppress(project, "CT.CODEBUILD.PR.4", (
        "privileged mode runs the Docker daemon that `docker build` needs (buildspec.yml builds the image); the "
        "project runs only the pipeline's source revision, never a pull request from outside"))


def _topic(t: Template, cfg: Config, key) -> sns.Topic:
    topic = t.add_resource(sns.Topic("PipelineTopic", KmsMasterKeyId=GetAtt(key, "Arn")))
    subscriptions(t, "Pipeline", topic, key, [("email", address, address) for address in cfg.notifications.emails])
    return topic


def _service_arn() -> Sub:
    return Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${ClusterName}/${ServiceName}")


def _pipeline_role(t: Template, env: EnvConfig, bucket: s3.Bucket, key, connection, project: codebuild.Project,
                   topic: sns.Topic, service: dict[str, Any]):
    """What CodePipeline does on the pipeline's behalf: artifacts, the
    connection, this build project, and the ECS deploy action's calls (it
    registers a task definition revision copied from the service's, with the
    new image, passes the two task roles to it and updates the service)."""
    cluster_arn = Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/${ClusterName}")
    family = task_family(env)
    grants = [
        grant(["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], [_objects(bucket)]),
        grant(["s3:GetBucketVersioning", "s3:GetBucketLocation"], [GetAtt(bucket, "Arn")]),
        grant(["kms:Decrypt", "kms:GenerateDataKey"], [GetAtt(key, "Arn")]),
        grant(["codeconnections:UseConnection", "codestar-connections:UseConnection"], [connection], sid="UseTheConnection"),
        grant(["codebuild:StartBuild", "codebuild:BatchGetBuilds"], [GetAtt(project, "Arn")], sid="RunTheBuild"),
        grant(["ecs:DescribeServices", "ecs:UpdateService"], [_service_arn()], sid="DeployTheService"),
        grant(["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"], ["*"], wildcard_reason=(
            "ecs:RegisterTaskDefinition and ecs:DescribeTaskDefinition have no resource-level permissions; "
            "PassRole below limits the revision to the service's two task roles"
        )),
        grant(["ecs:TagResource"], [Sub(f"arn:${{AWS::Partition}}:ecs:${{AWS::Region}}:${{AWS::AccountId}}:task-definition/{family}:*")],
              conditions=Condition(StringEquals("ecs:CreateAction", "RegisterTaskDefinition"))),
        grant(["ecs:DescribeTasks"], [Sub("arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${ClusterName}/*")]),
        grant(["ecs:ListTasks"], ["*"], conditions=Condition(ArnEquals("ecs:cluster", cluster_arn)), wildcard_reason=(
            "ecs:ListTasks names no resource; the ecs:cluster condition holds it to the service's cluster"
        )),
        grant(["iam:PassRole"], [Ref(service["TaskRoleArn"]), Ref(service["TaskExecutionRoleArn"])],
              conditions=Condition(StringEquals("iam:PassedToService", "ecs-tasks.amazonaws.com")), sid="PassTheTaskRoles"),
    ]
    if env.pipeline.approval:
        grants.append(grant(["sns:Publish"], [Ref(topic)], sid="AskForApproval"))
    return service_role(t, "PipelineRole", "codepipeline.amazonaws.com", grants)


def _action(name: str, category: str, provider: str, configuration: dict, inputs: tuple[str, ...] = (),
            outputs: tuple[str, ...] = (), namespace: str | None = None) -> codepipeline.Actions:
    action = codepipeline.Actions(
        Name=name, ActionTypeId=codepipeline.ActionTypeId(Category=category, Owner="AWS", Provider=provider, Version="1"),
        Configuration=configuration, RunOrder=1,
        InputArtifacts=[codepipeline.InputArtifacts(Name=n) for n in inputs],
        OutputArtifacts=[codepipeline.OutputArtifacts(Name=n) for n in outputs],
    )
    if namespace:
        action.Namespace = namespace
    return action


def _source_parameters(t: Template, cfg: Config) -> tuple[Any, Any]:
    repository = parameter(
        t, "SourceRepository", "String", "Repository the pipeline builds, owner/name",
        Default=cfg.repository or "", AllowedPattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$",
    )
    branch = parameter(t, "SourceBranch", "String", "Branch whose pushes start the pipeline", Default=cfg.branch, MinLength=1)
    return repository, branch


def _stages(t: Template, env: EnvConfig, connection, project: codebuild.Project, topic: sns.Topic) -> list[codepipeline.Stages]:
    """Source -> Build -> [Approval] -> Deploy."""
    cfg: Config = env.pipeline
    repository, branch = _source_parameters(t, cfg)
    stages = [
        codepipeline.Stages(Name="Source", Actions=[_action(
            "Source", "Source", "CodeStarSourceConnection", {
                "ConnectionArn": connection, "FullRepositoryId": Ref(repository), "BranchName": Ref(branch),
                "OutputArtifactFormat": "CODE_ZIP", "DetectChanges": True,
            }, outputs=("Source",), namespace="SourceVariables",
        )]),
        codepipeline.Stages(Name="Build", Actions=[_action(
            "Build", "Build", "CodeBuild", {"ProjectName": Ref(project)},
            inputs=("Source",), outputs=("Image",), namespace="BuildVariables",
        )]),
    ]
    if cfg.approval:
        stages.append(codepipeline.Stages(Name="Approval", Actions=[_action("Approve", "Approval", "Manual", {
            "NotificationArn": Ref(topic),
            "CustomData": f"Deploy image #{{BuildVariables.IMAGE_TAG}} (commit #{{SourceVariables.CommitId}}) to {env.environment}?",
        })]))
    stages.append(codepipeline.Stages(Name="Deploy", Actions=[_action("Deploy", "Deploy", "ECS", {
        "ClusterName": Ref("ClusterName"), "ServiceName": Ref("ServiceName"), "FileName": IMAGE_DEFINITIONS,
        "DeploymentTimeout": str(cfg.deploy_timeout_minutes),
    }, inputs=("Image",))]))
    return stages


def _pipeline(t: Template, env: EnvConfig, role, bucket: s3.Bucket, key, connection, project: codebuild.Project,
              topic: sns.Topic) -> codepipeline.Pipeline:
    return t.add_resource(codepipeline.Pipeline(
        "Pipeline",
        Name=physical_name(env.project, env.environment, "app"),
        # V2: billed per action-minute, no monthly fee per pipeline; triggers on pushes to the branch.
        PipelineType="V2", ExecutionMode="SUPERSEDED", RestartExecutionOnUpdate=False,
        RoleArn=GetAtt(role, "Arn"),
        ArtifactStore=codepipeline.ArtifactStore(
            Type="S3", Location=Ref(bucket), EncryptionKey=codepipeline.EncryptionKey(Id=GetAtt(key, "Arn"), Type="KMS"),
        ),
        Stages=_stages(t, env, connection, project, topic),
    ))


def _notifications(t: Template, cfg: Config, pipeline: codepipeline.Pipeline, topic: sns.Topic) -> None:
    """Execution results to the topic, as one readable line with a link."""
    rule = t.add_resource(events.Rule(
        "PipelineStateRule", Description="Pipeline execution results to the pipeline's topic", State="ENABLED",
        EventPattern={
            "source": ["aws.codepipeline"], "detail-type": ["CodePipeline Pipeline Execution State Change"],
            "detail": {"pipeline": [Ref(pipeline)], "state": list(cfg.notifications.states)},
        },
        Targets=[events.Target(Id="PipelineTopic", Arn=Ref(topic), InputTransformer=events.InputTransformer(
            InputPathsMap={"pipeline": "$.detail.pipeline", "execution": "$.detail.execution-id",
                           "state": "$.detail.state", "region": "$.region"},
            InputTemplate=(
                '"Pipeline <pipeline> execution <execution>: <state>. '
                'https://<region>.console.aws.amazon.com/codesuite/codepipeline/pipelines/<pipeline>/executions/<execution>/timeline"'
            ),
        ))],
    ))
    t.add_resource(sns.TopicPolicy(
        "PipelineTopicPolicy", Topics=[Ref(topic)],
        PolicyDocument=resource_policy([(
            Principal("Service", "events.amazonaws.com"),
            grant(["sns:Publish"], [Ref(topic)], conditions=Condition(ArnEquals("aws:SourceArn", GetAtt(rule, "Arn")))),
        )]),
    ))


def build_notes(env: EnvConfig) -> list[str]:
    """What a reader of the build output should know about this environment's pipeline."""
    where = "outside the VPC, in CodeBuild's own network"
    reach = "they reach ECR, S3 and Parameter Store over the internet, and nothing inside the VPC"
    if env.network.enabled and env.network.nat == "none":
        notes = [f"pipeline: builds run {where}, so network.nat: none does not cut them off: {reach}"]
    else:
        notes = [f"pipeline: builds run {where}: {reach}"]
    if env.pipeline.connection_arn is None:
        notes.append("pipeline: the stack creates a connection to the source provider that a person must approve "
                     "once in the console; `strata deploy` prints how while it is PENDING")
    return notes
