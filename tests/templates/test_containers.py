"""containers layer: the rendered template, the schema, the lint gate and a deploy on moto."""

from __future__ import annotations

import json

import boto3
import pytest

from generator.build.config import EnvConfig
from generator.build.output import render as render_text
from templates import containers, web
from templates.containers import FARGATE_SIZES
from tests.helpers import BASE_ENV, assert_props, build_shapes, checkov_failures, config_error, deploy_network_and_security, deploy_stack, lint_findings, make_env, merge, render, resources_of_type

WEB = {"enabled": True, "listener": "http"}
REPOSITORY_ARN = {"Fn::GetAtt": ["Repository", "Arn"]}
SECRET = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/api-key-AbCdEf"
PARAMETER = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/app/feature-flags"


def build(fields=None, **sections) -> dict:
    sections.setdefault("web", WEB)
    return render(containers.build(make_env(containers={"enabled": True, **(fields or {})}, **sections)))


def props(body: dict, logical_id: str) -> dict:
    return body["Resources"][logical_id]["Properties"]


def container(body: dict) -> dict:
    (definition,) = props(body, "TaskDefinition")["ContainerDefinitions"]
    return definition


def statements(body: dict, role: str) -> list[dict]:
    return [s for p in props(body, role).get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


# --- repository -------------------------------------------------------------------

def test_repository_scans_on_push_keeps_tags_immutable_is_encrypted_and_kept():
    body = build()
    repository = body["Resources"]["Repository"]
    assert repository["DeletionPolicy"] == repository["UpdateReplacePolicy"] == "Retain"
    assert_props(body, "AWS::ECR::Repository", {
        "RepositoryName": "demo-test-app", "ImageTagMutability": "IMMUTABLE",
        "ImageScanningConfiguration": {"ScanOnPush": True}, "EncryptionConfiguration": {"EncryptionType": "KMS"},
    })


def test_lifecycle_keeps_the_last_tagged_images_and_expires_untagged_ones():
    body = build({"repository": {"keep_tagged_images": 15, "untagged_expire_days": 3}})
    rules = json.loads(props(body, "Repository")["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert [(r["rulePriority"], r["selection"], r["action"]) for r in rules] == [
        (1, {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 3}, {"type": "expire"}),
        (2, {"tagStatus": "tagged", "tagPatternList": ["*"], "countType": "imageCountMoreThan", "countNumber": 15}, {"type": "expire"}),
    ]


# --- cluster ------------------------------------------------------------------------

def test_cluster_has_container_insights_and_both_fargate_capacity_providers():
    body = build({"capacity": {"fargate_base": 1, "fargate_weight": 1, "fargate_spot_weight": 3}})
    assert props(body, "Cluster")["ClusterSettings"] == [{"Name": "containerInsights", "Value": "enabled"}]
    association = props(body, "ClusterCapacityProviders")
    assert association["CapacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    assert association["DefaultCapacityProviderStrategy"] == [
        {"CapacityProvider": "FARGATE", "Base": 1, "Weight": 1}, {"CapacityProvider": "FARGATE_SPOT", "Weight": 3},
    ]
    assert props(body, "Service")["CapacityProviderStrategy"] == association["DefaultCapacityProviderStrategy"]


def test_all_spot_strategy_names_only_fargate_spot():
    body = build({"capacity": {"fargate_weight": 0, "fargate_spot_weight": 1}})
    assert props(body, "Service")["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]


def test_container_insights_off_says_why():
    cluster = build({"container_insights": "disabled"})["Resources"]["Cluster"]
    assert cluster["Properties"]["ClusterSettings"] == [{"Name": "containerInsights", "Value": "disabled"}]
    assert cluster["Metadata"]["checkov"]["skip"][0]["id"] == "CKV_AWS_65"


# --- roles ----------------------------------------------------------------------------

def test_execution_role_pulls_from_this_repository_and_writes_this_log_group_only():
    body = build()
    assert props(body, "TaskExecutionRole")["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": ["ecs-tasks.amazonaws.com"]}
    assert statements(body, "TaskExecutionRole") == [
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": ["*"]},
        {"Effect": "Allow", "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
         "Resource": [REPOSITORY_ARN]},
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
         "Resource": [{"Fn::GetAtt": ["ContainerLogGroup", "Arn"]}]},
    ]
    assert "ManagedPolicyArns" not in props(body, "TaskExecutionRole")


def test_execution_role_reads_exactly_the_named_secrets_parameters_and_env_file():
    body = build({"secrets": {"API_KEY": SECRET + ":key::", "FLAGS": PARAMETER},
                  "environment_file": "arn:aws:s3:::config-bucket/app/prod.env"})
    granted = statements(body, "TaskExecutionRole")[3:]
    assert granted == [
        {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [SECRET]},
        {"Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": [{"Fn::Sub": PARAMETER}]},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::config-bucket/app/prod.env"]},
        {"Effect": "Allow", "Action": ["s3:GetBucketLocation"], "Resource": ["arn:aws:s3:::config-bucket"]},
    ]


def test_database_secret_is_injected_and_readable_only_when_the_database_is_on():
    body = build()
    assert container(body)["Secrets"] == [] and "DatabaseSecretArn" not in body["Parameters"]
    assert set(body.get("Conditions", {})) <= {"HasAlarmTopic"}  # the alarms' condition, none of the wiring's
    body = build(database={"enabled": True})
    assert {"Sid": "ReadWiredSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [{"Ref": "DatabaseSecretArn"}]} in statements(body, "TaskExecutionRole")
    assert container(body)["Secrets"] == [{"Name": "DATABASE_SECRET", "ValueFrom": {"Ref": "DatabaseSecretArn"}}]
    renamed = build({"database_secret_variable": "DB_CREDENTIALS"}, database={"enabled": True})
    assert container(renamed)["Secrets"] == [{"Name": "DB_CREDENTIALS", "ValueFrom": {"Ref": "DatabaseSecretArn"}}]
    assert {"Name": "DATABASE_SECRET_ARN", "Value": {"Ref": "DatabaseSecretArn"}} in container(renamed)["Environment"]


def test_task_role_may_call_nothing_unless_the_parameter_file_says_so():
    assert "Policies" not in props(build(), "TaskRole")
    body = build({"task_role_grants": [
        {"actions": ["s3:GetObject", "s3:PutObject"], "resources": ["arn:${AWS::Partition}:s3:::uploads-${AWS::AccountId}/*"]},
        {"actions": ["cloudwatch:PutMetricData"], "resources": ["*"], "wildcard_reason": "PutMetricData has no resource type"},
    ]})
    assert statements(body, "TaskRole") == [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:s3:::uploads-${AWS::AccountId}/*"}]},
        {"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": ["*"]},
    ]
    assert body["Resources"]["TaskRole"]["Metadata"]["WildcardResources"] == [
        {"Actions": ["cloudwatch:PutMetricData"], "Reason": "PutMetricData has no resource type"}]
    assert props(body, "TaskRole")["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["ecs-tasks.amazonaws.com"]}


def test_an_outside_image_needs_no_ecr_pull_grant():
    body = build({"image": "public.ecr.aws/nginx/nginx:stable"})
    assert container(body)["Image"] == "public.ecr.aws/nginx/nginx:stable"
    assert "ContainerImageTag" not in body["Parameters"]
    assert all("ecr:" not in a for s in statements(body, "TaskExecutionRole") for a in s["Action"])


# --- task definition ---------------------------------------------------------------------

def test_task_definition_is_a_fargate_awsvpc_task_with_both_roles():
    body = build({"cpu": 1024, "memory_mib": 3072, "architecture": "ARM64"})
    assert_props(body, "AWS::ECS::TaskDefinition", {
        "Cpu": "1024", "Memory": "3072", "NetworkMode": "awsvpc", "RequiresCompatibilities": ["FARGATE"],
        "RuntimePlatform": {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"},
        "ExecutionRoleArn": {"Fn::GetAtt": ["TaskExecutionRole", "Arn"]}, "TaskRoleArn": {"Fn::GetAtt": ["TaskRole", "Arn"]},
    })


def test_container_runs_the_tagged_repository_image_on_the_app_port():
    body = build({"image_tag": "git-3f2a1c"})
    definition = container(body)
    assert definition["Image"] == {"Fn::Join": [":", [{"Fn::GetAtt": ["Repository", "RepositoryUri"]}, {"Ref": "ContainerImageTag"}]]}
    assert body["Parameters"]["ContainerImageTag"]["Default"] == "git-3f2a1c"
    assert definition["PortMappings"] == [{"ContainerPort": 8000, "Protocol": "tcp"}]
    assert definition["Essential"] is True


def test_environment_secrets_and_environment_file():
    definition = container(build({
        "environment": {"DJANGO_SETTINGS_MODULE": "app.settings", "ALLOWED_HOSTS": "*"},
        "secrets": {"API_KEY": SECRET, "FLAGS": PARAMETER},
        "environment_file": "arn:aws:s3:::config-bucket/app/prod.env",
    }))
    assert definition["Environment"] == [
        {"Name": "ALLOWED_HOSTS", "Value": "*"}, {"Name": "DJANGO_SETTINGS_MODULE", "Value": "app.settings"}]
    assert definition["Secrets"][:2] == [
        {"Name": "API_KEY", "ValueFrom": SECRET}, {"Name": "FLAGS", "ValueFrom": {"Fn::Sub": PARAMETER}}]
    assert definition["EnvironmentFiles"] == [{"Type": "s3", "Value": "arn:aws:s3:::config-bucket/app/prod.env"}]


def test_logs_go_to_the_layers_log_group_with_retention():
    body = build({"log_retention_days": 14})
    assert props(body, "ContainerLogGroup")["RetentionInDays"] == 14
    assert container(body)["LogConfiguration"] == {"LogDriver": "awslogs", "Options": {
        "awslogs-group": {"Ref": "ContainerLogGroup"}, "awslogs-region": {"Ref": "AWS::Region"}, "awslogs-stream-prefix": "app"}}


def test_root_filesystem_is_read_only_with_a_writable_tmp():
    body = build()
    assert container(body)["ReadonlyRootFilesystem"] is True
    assert container(body)["MountPoints"] == [{"SourceVolume": "tmp", "ContainerPath": "/tmp", "ReadOnly": False}]
    assert props(body, "TaskDefinition")["Volumes"] == [{"Name": "tmp"}]
    writable = build({"readonly_root_filesystem": False})
    assert container(writable)["ReadonlyRootFilesystem"] is False and "MountPoints" not in container(writable)
    assert writable["Resources"]["TaskDefinition"]["Metadata"]["checkov"]["skip"][0]["id"] == "CKV_AWS_336"


# --- service ---------------------------------------------------------------------------------

def test_service_runs_in_private_subnets_without_public_ip_behind_the_ip_target_group():
    body = build({"desired_count": 3, "min_healthy_percent": 50, "max_percent": 150, "health_check_grace_period_seconds": 90,
                  "scaling": {"min_tasks": 2, "max_tasks": 5}})
    service = body["Resources"]["Service"]
    p = service["Properties"]
    assert p["NetworkConfiguration"] == {"AwsvpcConfiguration": {
        "AssignPublicIp": "DISABLED", "Subnets": {"Ref": "PrivateSubnetIds"}, "SecurityGroups": [{"Ref": "AppSecurityGroupId"}]}}
    assert p["LoadBalancers"] == [{"ContainerName": "app", "ContainerPort": 8000, "TargetGroupArn": {"Ref": "ContainerTargetGroupArn"}}]
    assert p["HealthCheckGracePeriodSeconds"] == 90 and p["DesiredCount"] == 3
    assert p["DeploymentConfiguration"] == {
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}, "MinimumHealthyPercent": 50, "MaximumPercent": 150}
    assert p["DeploymentController"] == {"Type": "ECS"}
    assert service["DependsOn"] == ["ClusterCapacityProviders"]


def test_without_the_web_layer_the_service_has_no_load_balancer():
    body = build(web={"enabled": False})
    assert "LoadBalancers" not in props(body, "Service") and "HealthCheckGracePeriodSeconds" not in props(body, "Service")
    assert "ContainerTargetGroupArn" not in body["Parameters"]


def test_service_scales_on_cpu_by_default():
    body = build({"scaling": {"min_tasks": 1, "max_tasks": 6, "target_value": 55}})
    assert props(body, "ServiceScalableTarget") == {
        "ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount",
        "ResourceId": {"Fn::Join": ["/", ["service", {"Ref": "Cluster"}, {"Fn::GetAtt": ["Service", "Name"]}]]},
        "MinCapacity": 1, "MaxCapacity": 6,
    }
    config = props(body, "ServiceScalingPolicy")["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}
    assert config["TargetValue"] == 55.0


def test_service_can_scale_on_alb_requests_per_task():
    body = build({"scaling": {"metric": "request_count", "target_value": 300}})
    spec = props(body, "ServiceScalingPolicy")["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
    assert spec == {"PredefinedMetricType": "ALBRequestCountPerTarget", "ResourceLabel": {
        "Fn::Join": ["/", [{"Ref": "LoadBalancerFullName"}, {"Ref": "ContainerTargetGroupFullName"}]]}}


def test_no_scaling_resources_when_scaling_is_off():
    body = build({"scaling": {"enabled": False}})
    assert not resources_of_type(body, "AWS::ApplicationAutoScaling::ScalableTarget")


def test_outputs_and_determinism():
    env = make_env(web=WEB, containers={"enabled": True, "secrets": {"A": SECRET}})
    assert set(render(containers.build(env))["Outputs"]) == {
        "RepositoryUri", "RepositoryArn", "ClusterName", "ServiceName", "ContainerLogGroupName", "TaskRoleArn", "TaskExecutionRoleArn",
        "ContainersAlarmNames"}
    assert render_text("c.json", containers.build(env)).text == render_text("c.json", containers.build(env)).text


# --- schema -------------------------------------------------------------------------------

@pytest.mark.parametrize(("cpu", "memory"), [(cpu, memory) for cpu, sizes in FARGATE_SIZES.items() for memory in (sizes[0], sizes[-1])])
def test_every_valid_fargate_pair_is_accepted(cpu, memory):
    assert EnvConfig.model_validate(merge(BASE_ENV, {"containers": {"cpu": cpu, "memory_mib": memory}})).containers.cpu == cpu


@pytest.mark.parametrize(("fields", "path", "fragment"), [
    ({"cpu": 256, "memory_mib": 4096}, "containers", "memory_mib 4096 is not valid with cpu 256; Fargate allows 512, 1024, 2048"),
    ({"cpu": 1024, "memory_mib": 1024}, "containers", "Fargate allows 2048, 3072, 4096, 5120, 6144, 7168, 8192"),
    ({"cpu": 300}, "containers.cpu", "must be one of 256, 512"),
    ({"secrets": {"KEY": "arn:aws:secretsmanager:eu-west-1:1:secret:x"}}, "containers.secrets", "full ARN"),
    ({"secrets": {"bad-name": SECRET}}, "containers.secrets", "not environment variable names: bad-name"),
    ({"environment": {"A": "1"}, "secrets": {"A": SECRET}}, "containers", "variables defined twice"),
    ({"environment_file": "arn:aws:s3:::bucket/app.txt"}, "containers.environment_file", "ending in .env"),
    ({"capacity": {"fargate_weight": 0, "fargate_spot_weight": 0}}, "containers.capacity", "cannot both be 0"),
    ({"desired_count": 9, "scaling": {"max_tasks": 4}}, "containers", "desired_count (9) must be between"),
    ({"task_role_grants": [{"actions": ["s3:GetObject"], "resources": ["*"]}]}, "containers.task_role_grants.0", "wildcard_reason"),
    ({"task_role_grants": [{"actions": ["GetObject"], "resources": ["arn:aws:s3:::b/*"]}]}, "containers.task_role_grants.0.actions", "service:Action"),
    ({"log_retention_days": 10}, "containers.log_retention_days", "must be one of"),
    ({"image_tag": "-bad"}, "containers.image_tag", "not a valid image tag"),
    ({"scaling": {"target_value": 120}}, "containers.scaling", "must be below 100"),
    ({"file_system_path": "/tmp"}, "containers.file_system_path", "would hide a system directory"),
])
def test_bad_containers_fields_name_the_field(tmp_path, fields, path, fragment):
    data = merge(BASE_ENV, {"network": {"nat": "single"}, "containers": {"enabled": True, **fields}})
    message = config_error(tmp_path, data)
    assert f" {path}: " in message and fragment in message, message


# --- lint and scan ----------------------------------------------------------------------

SHAPES = {
    "behind-web": dict(web=WEB, containers={"enabled": True}),
    "worker": dict(containers={"enabled": True, "capacity": {"fargate_weight": 0, "fargate_spot_weight": 1}}),
    "full": dict(web=WEB, compute={"enabled": True}, containers={
        "enabled": True, "path_patterns": ["/api/*"], "cpu": 2048, "memory_mib": 8192, "architecture": "ARM64",
        "environment": {"A": "1"}, "secrets": {"K": SECRET, "P": PARAMETER},
        "environment_file": "arn:aws:s3:::config-bucket/app/prod.env", "container_insights": "enhanced",
        "task_role_grants": [{"actions": ["sqs:SendMessage"], "resources": ["arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:jobs"]}],
        "scaling": {"metric": "request_count"}, "readonly_root_filesystem": False}),
    "outside-image": dict(web=WEB, containers={"enabled": True, "image": "public.ecr.aws/nginx/nginx:stable",
                                               "container_insights": "disabled", "scaling": {"enabled": False}}),
    "wired": dict(web=WEB, static={"enabled": True}, database={"enabled": True}, messaging={"enabled": True},
                  cache={"enabled": True, "tables": {"sessions": {"partition_key": {"name": "id"}}}}, storage={"enabled": True},
                  containers={"enabled": True, "static_write": True, "file_system_path": "/data"}),
}


def test_lint_clean_in_every_shape():
    assert lint_findings(build_shapes(containers, SHAPES)) == []


def test_security_scan_clean_in_every_shape(tmp_path):
    assert checkov_failures({name: t for name, (t, _) in build_shapes(containers, SHAPES).items()}, tmp_path) == []


# --- deploy on moto -----------------------------------------------------------------------

def test_containers_layer_deploys_alone_through_a_change_set(aws):
    """What moto shows: the repository (its name, which the compute layer's
    ECR grant is built from, and immutable tags), the cluster, the task
    definition (the repository image at ContainerImageTag, port 8000, the
    environment, the read-only root with /tmp, awslogs to the layer's log
    group) and the service running it at the desired count.

    What moto does not emulate: Fargate itself (moto records the task
    definition's and service's launch type as EC2 and drops Cpu, NetworkMode,
    RequiresCompatibilities and RuntimePlatform), Fargate networking (the
    service's awsvpc configuration and its load balancer registration), the
    capacity provider association and strategy, cluster settings (Container
    Insights), the repository's scanning, encryption and lifecycle policy,
    Application Auto Scaling, the Fn::If/NoValue secret (moto keeps a null
    entry), and stack Outputs of change-set-created stacks."""
    env = make_env(web=WEB, containers={"enabled": True, "desired_count": 2, "environment": {"DJANGO_DEBUG": "0"}})
    ids = deploy_network_and_security(aws, env)
    web_resources = deploy_stack(aws, "web", render(web.build(env)),
                                 {k: ids[k] for k in ("VpcId", "PublicSubnetIds", "AlbSecurityGroupId")})

    resources = deploy_stack(aws, "containers", render(containers.build(env)), {
        "PrivateSubnetIds": ids["PrivateSubnetIds"], "AppSecurityGroupId": ids["AppSecurityGroupId"],
        "ContainerTargetGroupArn": web_resources["ContainerTargetGroup"]["PhysicalResourceId"], "ContainerImageTag": "git-abc123",
    })

    ecr = boto3.client("ecr", endpoint_url=aws, region_name="eu-west-1")
    (repository,) = ecr.describe_repositories()["repositories"]
    assert repository["repositoryName"] == "demo-test-app" == containers.repository_name(env)
    assert repository["imageTagMutability"] == "IMMUTABLE"

    ecs = boto3.client("ecs", endpoint_url=aws, region_name="eu-west-1")
    task = ecs.describe_task_definition(taskDefinition=resources["TaskDefinition"]["PhysicalResourceId"])["taskDefinition"]
    (definition,) = task["containerDefinitions"]
    assert definition["image"] == f"{repository['repositoryUri']}:git-abc123"
    assert definition["portMappings"] == [{"containerPort": 8000, "protocol": "tcp"}]
    assert definition["environment"] == [{"name": "DJANGO_DEBUG", "value": "0"}]
    assert definition["readonlyRootFilesystem"] is True
    assert definition["logConfiguration"]["options"]["awslogs-group"] == resources["ContainerLogGroup"]["PhysicalResourceId"]
    assert task["family"] == "demo-test-app"

    cluster = resources["Cluster"]["PhysicalResourceId"]
    (service,) = ecs.describe_services(cluster=cluster, services=[resources["Service"]["PhysicalResourceId"]])["services"]
    assert service["desiredCount"] == 2 and service["taskDefinition"] == task["taskDefinitionArn"]
    assert service["deploymentController"] == {"type": "ECS"}


# --- the container's user and the roles' trust ---------------------------------------------

def test_the_container_runs_as_a_non_root_user_by_default():
    assert container(build())["User"] == "1000:1000"
    assert container(build({"user": "app:app"}))["User"] == "app:app"
    assert "User" not in container(build({"user": None}))  # the image's own USER


@pytest.mark.parametrize("user, fragment", [
    ("0", "runs the container as root"),
    ("root:root", "runs the container as root"),
    ("0:1000", "runs the container as root"),
    ("1000:", "must be uid[:gid]"),
    ("a b", "must be uid[:gid]"),
])
def test_root_and_malformed_users_are_refused(tmp_path, user, fragment):
    data = merge(BASE_ENV, {"containers": {"enabled": True, "user": user}})
    message = config_error(tmp_path, data)
    assert " containers.user: " in message and fragment in message, message


@pytest.mark.parametrize("role", ["TaskRole", "TaskExecutionRole"])
def test_ecs_may_assume_the_roles_only_for_this_accounts_tasks(role):
    (statement,) = props(build(), role)["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": ["ecs-tasks.amazonaws.com"]}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"}},
    }
