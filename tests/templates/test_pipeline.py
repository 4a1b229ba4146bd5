"""pipeline layer: the rendered template, the buildspec run with docker and
aws faked, the schema and cross-layer rules, the lint gate and a deploy on moto."""

from __future__ import annotations

import ast
import json

import boto3
import pytest
import yaml

from generator.deploy import local
from templates import containers, pipeline
from templates.pipeline import BUILDSPEC
from generator.cli import main
from tests.helpers import (
    BASE_ENV, MINIMAL_PARAMS, assert_props, build_shapes, checkov_failures, config_error, deploy_stack, lint_findings, make_env, merge,
    render, resources_of_type, write_params,
)
from tests.templates.codebuild_support import FAKE_TOKEN, project_variables, run_buildspec

WEB = {"enabled": True, "listener": "http"}
PIPELINE = {"enabled": True, "repository": "example-org/shop"}
ACCOUNT = "111122223333"
REPOSITORY_URI = f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com/demo-test-app"
COMMIT = "3f2c1e9a7b6d5c4e3f2a1b0c9d8e7f6a5b4c3d2e"
CONNECTION = "arn:aws:codeconnections:eu-west-1:111122223333:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


def env_of(fields=None, **sections):
    sections.setdefault("web", WEB)
    sections.setdefault("containers", {"enabled": True})
    return make_env(pipeline={**PIPELINE, **(fields or {})}, **sections)


def build(fields=None, **sections) -> dict:
    return render(pipeline.build(env_of(fields, **sections)))


def props(body: dict, logical_id: str) -> dict:
    return body["Resources"][logical_id]["Properties"]


def statements(body: dict, role: str) -> list[dict]:
    return [s for p in props(body, role)["Policies"] for s in p["PolicyDocument"]["Statement"]]


def granting(body: dict, role: str, action: str) -> list[dict]:
    return [s for s in statements(body, role) if action in s["Action"]]


def stage_layout(body: dict) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    return [
        (stage["Name"], [tuple(a["ActionTypeId"][k] for k in ("Category", "Owner", "Provider", "Version")) for a in stage["Actions"]])
        for stage in props(body, "Pipeline")["Stages"]
    ]


def action(body: dict, stage_name: str) -> dict:
    (stage,) = [s for s in props(body, "Pipeline")["Stages"] if s["Name"] == stage_name]
    (only,) = stage["Actions"]
    return only


# --- stages ----------------------------------------------------------------------------

def test_stages_run_source_build_deploy_with_their_action_types():
    assert stage_layout(build()) == [
        ("Source", [("Source", "AWS", "CodeStarSourceConnection", "1")]),
        ("Build", [("Build", "AWS", "CodeBuild", "1")]),
        ("Deploy", [("Deploy", "AWS", "ECS", "1")]),
    ]


def test_approval_sits_between_build_and_deploy_and_asks_through_the_topic():
    body = build({"approval": True})
    assert [name for name, _ in stage_layout(body)] == ["Source", "Build", "Approval", "Deploy"]
    assert stage_layout(body)[2] == ("Approval", [("Approval", "AWS", "Manual", "1")])
    approve = action(body, "Approval")
    assert approve["Configuration"]["NotificationArn"] == {"Ref": "PipelineTopic"}
    assert "#{BuildVariables.IMAGE_TAG}" in approve["Configuration"]["CustomData"]
    # the pipeline role may publish the request, and only with approval on
    assert granting(body, "PipelineRole", "sns:Publish") == [
        {"Action": ["sns:Publish"], "Effect": "Allow", "Resource": [{"Ref": "PipelineTopic"}], "Sid": "AskForApproval"}]
    assert granting(build(), "PipelineRole", "sns:Publish") == []


def test_artifacts_flow_from_source_to_build_to_the_deploy_action():
    body = build()
    source, build_action, deploy = action(body, "Source"), action(body, "Build"), action(body, "Deploy")
    assert [a["Name"] for a in source["OutputArtifacts"]] == [a["Name"] for a in build_action["InputArtifacts"]] == ["Source"]
    assert [a["Name"] for a in build_action["OutputArtifacts"]] == [a["Name"] for a in deploy["InputArtifacts"]] == ["Image"]
    assert build_action["Configuration"] == {"ProjectName": {"Ref": "BuildProject"}}
    assert deploy["Configuration"] == {
        "ClusterName": {"Ref": "ClusterName"}, "ServiceName": {"Ref": "ServiceName"},
        "FileName": "imagedefinitions.json", "DeploymentTimeout": "60",
    }


def test_the_source_watches_the_repository_and_branch_through_the_connection():
    body = build({"branch": "release"})
    configuration = action(body, "Source")["Configuration"]
    assert configuration == {
        "ConnectionArn": {"Fn::If": ["CreateConnection", {"Ref": "Connection"}, {"Ref": "SourceConnectionArn"}]},
        "FullRepositoryId": {"Ref": "SourceRepository"}, "BranchName": {"Ref": "SourceBranch"},
        "OutputArtifactFormat": "CODE_ZIP", "DetectChanges": True,
    }
    assert body["Parameters"]["SourceRepository"]["Default"] == "example-org/shop"
    assert body["Parameters"]["SourceBranch"]["Default"] == "release"
    # no connection given: the stack creates one (PENDING until a person approves it)
    assert body["Parameters"]["SourceConnectionArn"]["Default"] == ""
    assert body["Conditions"]["CreateConnection"] == {"Fn::Equals": [{"Ref": "SourceConnectionArn"}, ""]}
    connection = body["Resources"]["Connection"]
    assert connection["Condition"] == "CreateConnection"
    assert connection["Properties"] == {"ConnectionName": "demo-test-source", "ProviderType": "GitHub"}
    assert body["Outputs"]["ConnectionArn"]["Value"] == configuration["ConnectionArn"]


def test_an_existing_connection_becomes_the_parameter_default():
    body = build({"connection_arn": CONNECTION, "provider": "Bitbucket"})
    assert body["Parameters"]["SourceConnectionArn"]["Default"] == CONNECTION
    [statement] = granting(body, "PipelineRole", "codeconnections:UseConnection")
    assert statement["Action"] == ["codeconnections:UseConnection", "codestar-connections:UseConnection"]
    assert statement["Resource"] == [action(body, "Source")["Configuration"]["ConnectionArn"]]


def test_the_pipeline_is_v2_and_stores_artifacts_encrypted_with_the_layer_key():
    body = build()
    assert_props(body, "AWS::CodePipeline::Pipeline", {
        "PipelineType": "V2", "Name": "demo-test-app", "RoleArn": {"Fn::GetAtt": ["PipelineRole", "Arn"]},
        "ArtifactStore": {"Type": "S3", "Location": {"Ref": "ArtifactBucket"},
                          "EncryptionKey": {"Id": {"Fn::GetAtt": ["PipelineKey", "Arn"]}, "Type": "KMS"}},
    })


# --- the build project -----------------------------------------------------------------

def test_the_project_carries_the_buildspec_file_and_it_has_codebuild_s_phases():
    project = props(build(), "BuildProject")
    assert project["Source"] == {"Type": "CODEPIPELINE", "BuildSpec": BUILDSPEC.read_text()}
    spec = yaml.safe_load(project["Source"]["BuildSpec"])
    assert spec["version"] == 0.2
    assert list(spec["phases"]) == ["pre_build", "build", "post_build"]
    assert all(phase["commands"] for phase in spec["phases"].values())
    assert spec["artifacts"] == {"files": ["imagedefinitions.json"]}
    assert spec["env"]["exported-variables"] == ["IMAGE_TAG", "IMAGE_URI"]
    # a failure before the push stops the build: post_build would otherwise still run
    assert spec["phases"]["pre_build"]["on-failure"] == spec["phases"]["build"]["on-failure"] == "ABORT"


@pytest.mark.parametrize("architecture, kind, image", [
    ("X86_64", "LINUX_CONTAINER", "aws/codebuild/amazonlinux-x86_64-standard:5.0"),
    ("ARM64", "ARM_CONTAINER", "aws/codebuild/amazonlinux-aarch64-standard:3.0"),
])
def test_the_build_runs_on_the_tasks_architecture_privileged_with_a_docker_layer_cache(architecture, kind, image):
    body = build(containers={"enabled": True, "architecture": architecture})
    assert_props(body, "AWS::CodeBuild::Project", {
        "Environment": {"Type": kind, "Image": image, "ComputeType": "BUILD_GENERAL1_SMALL",
                        "PrivilegedMode": True, "ImagePullCredentialsType": "CODEBUILD"},
        "Cache": {"Type": "LOCAL", "Modes": ["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE"]},
        "Artifacts": {"Type": "CODEPIPELINE"}, "TimeoutInMinutes": 30,
        "EncryptionKey": {"Fn::GetAtt": ["PipelineKey", "Arn"]},
        "LogsConfig": {"CloudWatchLogs": {"Status": "ENABLED", "GroupName": {"Ref": "BuildLogGroup"}}},
    })


def test_build_logs_are_kept_as_long_as_asked_and_encrypted():
    body = build({"log_retention_days": 90, "build_timeout_minutes": 45, "compute_type": "BUILD_GENERAL1_LARGE",
                  "build_image": "aws/codebuild/amazonlinux-x86_64-standard:6.0"})
    assert props(body, "BuildLogGroup") == {"RetentionInDays": 90, "KmsKeyId": {"Fn::GetAtt": ["PipelineKey", "Arn"]}}
    project = props(body, "BuildProject")
    assert (project["TimeoutInMinutes"], project["Environment"]["ComputeType"], project["Environment"]["Image"]) == (
        45, "BUILD_GENERAL1_LARGE", "aws/codebuild/amazonlinux-x86_64-standard:6.0")
    # CloudWatch Logs may use the key for this account's log groups only
    key_statements = props(body, "PipelineKey")["KeyPolicy"]["Statement"]
    [logs] = [s for s in key_statements if s["Principal"] == {"Service": {"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"}}]
    assert logs["Condition"] == {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*"}}}


def test_settings_come_from_parameter_store_and_environment_variables():
    body = build({"test_command": "pytest -q", "dockerfile": "docker/Dockerfile", "build_context": "app"})
    settings = {r["Properties"]["Name"]: r["Properties"]["Value"] for r in resources_of_type(body, "AWS::SSM::Parameter").values()}
    # the container name is the containers layer's own constant, not retyped here
    assert settings == {"/demo/test/pipeline/RepositoryUri": {"Ref": "RepositoryUri"},
                        "/demo/test/pipeline/ContainerName": containers.CONTAINER_NAME}
    variables = props(body, "BuildProject")["Environment"]["EnvironmentVariables"]
    assert variables == [
        {"Name": "AWS_ACCOUNT_ID", "Type": "PLAINTEXT", "Value": {"Ref": "AWS::AccountId"}},
        {"Name": "REPOSITORY_URI", "Type": "PARAMETER_STORE", "Value": "/demo/test/pipeline/RepositoryUri"},
        {"Name": "CONTAINER_NAME", "Type": "PARAMETER_STORE", "Value": "/demo/test/pipeline/ContainerName"},
        {"Name": "DOCKERFILE", "Type": "PLAINTEXT", "Value": "docker/Dockerfile"},
        {"Name": "BUILD_CONTEXT", "Type": "PLAINTEXT", "Value": "app"},
        {"Name": "TEST_COMMAND", "Type": "PLAINTEXT", "Value": "pytest -q"},
    ]
    assert "TEST_COMMAND" not in {v["Name"] for v in props(build(), "BuildProject")["Environment"]["EnvironmentVariables"]}


# --- the buildspec, executed -----------------------------------------------------------

def _run(tmp_path, fields=None, commit=COMMIT, **kwargs):
    body = build(fields)
    variables = project_variables(body, "BuildProject", {"AWS::AccountId": ACCOUNT, "RepositoryUri": REPOSITORY_URI})
    variables.update({"AWS_REGION": "eu-west-1", "CODEBUILD_RESOLVED_SOURCE_VERSION": commit})
    return run_buildspec(props(body, "BuildProject")["Source"]["BuildSpec"], tmp_path, variables, **kwargs)


def test_the_buildspec_logs_in_builds_tags_with_the_commit_pushes_and_names_the_container(tmp_path):
    run = _run(tmp_path, {"test_command": "python -m pytest -q"})
    assert run.returncode == 0, run.output
    image = f"{REPOSITORY_URI}:3f2c1e9"
    assert [c["args"] for c in run.calls] == [
        ["ecr", "get-login-password", "--region", "eu-west-1"],
        ["login", "--username", "AWS", "--password-stdin", f"{ACCOUNT}.dkr.ecr.eu-west-1.amazonaws.com"],
        ["ecr", "describe-images", "--region", "eu-west-1", "--repository-name", "demo-test-app", "--image-ids", "imageTag=3f2c1e9"],
        ["build", "--tag", image, "--file", "Dockerfile", "."],
        ["run", "--rm", "--entrypoint", "/bin/sh", image, "-c", "python -m pytest -q"],
        ["push", image],
    ]
    login = next(c for c in run.calls if c["args"][:1] == ["login"])
    assert login["stdin"].strip() == FAKE_TOKEN
    assert json.loads(run.artifacts["imagedefinitions.json"]) == [{"name": containers.CONTAINER_NAME, "imageUri": image}]
    assert "latest" not in json.dumps(run.calls)


def test_a_failing_test_pushes_nothing_and_writes_no_image_definitions(tmp_path):
    run = _run(tmp_path, {"test_command": "false"}, test_exit=1)
    assert (run.returncode, run.failed_phase) == (1, "build")
    assert run.commands("docker")[-1][0] == "run"
    assert not [args for args in run.commands("docker") if args[0] == "push"]
    assert run.artifacts == {}


def test_a_commit_already_pushed_is_deployed_without_building_again(tmp_path):
    """A second run on the same commit (a retried execution): the immutable
    tag is in the repository already, so a push would fail; nothing is built
    and the existing image is deployed."""
    run = _run(tmp_path, existing_tags=("3f2c1e9",))
    assert run.returncode == 0, run.output
    assert [args[0] for args in run.commands("docker")] == ["login"]
    assert json.loads(run.artifacts["imagedefinitions.json"])[0]["imageUri"] == f"{REPOSITORY_URI}:3f2c1e9"


def test_without_a_commit_id_the_build_stops_before_logging_in(tmp_path):
    run = _run(tmp_path, commit="")
    assert (run.returncode, run.failed_phase, run.calls) == (1, "pre_build", [])
    assert "CODEBUILD_RESOLVED_SOURCE_VERSION is empty" in run.output


def test_a_repository_of_another_account_is_refused(tmp_path):
    body = build()
    variables = project_variables(body, "BuildProject", {
        "AWS::AccountId": ACCOUNT, "RepositoryUri": "999988887777.dkr.ecr.eu-west-1.amazonaws.com/other"})
    variables.update({"AWS_REGION": "eu-west-1", "CODEBUILD_RESOLVED_SOURCE_VERSION": COMMIT})
    run = run_buildspec(props(body, "BuildProject")["Source"]["BuildSpec"], tmp_path, variables)
    assert (run.returncode, run.failed_phase, run.calls) == (1, "pre_build", [])
    assert "is not a repository of account 111122223333" in run.output


# --- roles ---------------------------------------------------------------------------

def test_pass_role_is_limited_to_the_two_task_roles_passed_to_ecs_tasks():
    body = build()
    assert granting(body, "PipelineRole", "iam:PassRole") == [{
        "Action": ["iam:PassRole"], "Effect": "Allow", "Sid": "PassTheTaskRoles",
        "Resource": [{"Ref": "TaskRoleArn"}, {"Ref": "TaskExecutionRoleArn"}],
        "Condition": {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
    }]
    assert [s for s in statements(body, "BuildRole") if any(a.startswith("iam:") for a in s["Action"])] == []


def test_ecr_push_is_limited_to_the_one_repository():
    body = build()
    push = [s for s in statements(body, "BuildRole") if any(a in s["Action"] for a in ("ecr:PutImage", "ecr:UploadLayerPart"))]
    assert push == [{
        "Action": ["ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                   "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:DescribeImages"],
        "Effect": "Allow", "Resource": [{"Ref": "RepositoryArn"}], "Sid": "PushToTheRepository",
    }]
    [token] = granting(body, "BuildRole", "ecr:GetAuthorizationToken")
    assert (token["Action"], token["Resource"]) == (["ecr:GetAuthorizationToken"], ["*"])
    reasons = body["Resources"]["BuildRole"]["Metadata"]["WildcardResources"]
    assert reasons == [{"Actions": ["ecr:GetAuthorizationToken"], "Reason": pytest.approx(reasons[0]["Reason"])}]
    assert "no resource-level permissions" in reasons[0]["Reason"]


def test_the_build_reads_exactly_its_two_parameters():
    [read] = granting(build(), "BuildRole", "ssm:GetParameters")
    assert read["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/demo/test/pipeline/RepositoryUri"},
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/demo/test/pipeline/ContainerName"},
    ]


def test_the_pipeline_role_runs_this_build_and_deploys_this_service_only():
    body = build()
    by_sid = {s.get("Sid"): s for s in statements(body, "PipelineRole")}
    assert by_sid["RunTheBuild"]["Resource"] == [{"Fn::GetAtt": ["BuildProject", "Arn"]}]
    assert by_sid["DeployTheService"] == {
        "Action": ["ecs:DescribeServices", "ecs:UpdateService"], "Effect": "Allow", "Sid": "DeployTheService",
        "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:service/${ClusterName}/${ServiceName}"}],
    }
    [tag] = granting(body, "PipelineRole", "ecs:TagResource")
    assert tag["Resource"] == [{"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/demo-test-app:*"}]
    assert tag["Condition"] == {"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}}
    # every '*' has its reason in the role's Metadata
    wildcards = sorted(a for s in statements(body, "PipelineRole") if s["Resource"] == ["*"] for a in s["Action"])
    assert wildcards == ["ecs:DescribeTaskDefinition", "ecs:ListTasks", "ecs:RegisterTaskDefinition"]
    reasons = body["Resources"]["PipelineRole"]["Metadata"]["WildcardResources"]
    assert sorted(a for r in reasons for a in r["Actions"]) == wildcards
    [list_tasks] = granting(body, "PipelineRole", "ecs:ListTasks")
    assert list_tasks["Condition"] == {"ArnEquals": {"ecs:cluster": {
        "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:cluster/${ClusterName}"}}}


def test_both_roles_reach_the_artifacts_and_the_key_only():
    body = build()
    for role in ("PipelineRole", "BuildRole"):
        s3 = [s for s in statements(body, role) if any(a.startswith("s3:") for a in s["Action"])]
        assert {json.dumps(r) for s in s3 for r in s["Resource"]} == {
            json.dumps({"Fn::GetAtt": ["ArtifactBucket", "Arn"]}), json.dumps({"Fn::Sub": "${ArtifactBucket.Arn}/*"})}
        [kms] = [s for s in statements(body, role) if any(a.startswith("kms:") for a in s["Action"])]
        assert kms["Resource"] == [{"Fn::GetAtt": ["PipelineKey", "Arn"]}]


# --- bucket and notifications ------------------------------------------------------------

def test_the_artifact_bucket_is_private_encrypted_versioned_tls_only_expiring_and_kept():
    body = build({"artifact_retention_days": 14})
    bucket = body["Resources"]["ArtifactBucket"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    assert_props(body, "AWS::S3::Bucket", {
        "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                           "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
        "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        "VersioningConfiguration": {"Status": "Enabled"},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [{
            "BucketKeyEnabled": True,
            "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": ["PipelineKey", "Arn"]}},
        }]},
        "LifecycleConfiguration": {"Rules": [{
            "Id": "expire-old-artifacts", "Status": "Enabled", "ExpirationInDays": 14,
            "NoncurrentVersionExpiration": {"NoncurrentDays": 1}, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }]},
    })
    [deny] = props(body, "ArtifactBucketPolicy")["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_failed_and_succeeded_executions_reach_the_topic_and_its_subscribers():
    body = build({"notifications": {"emails": ["ops@example.com", "dev@example.org"]}})
    rule = props(body, "PipelineStateRule")
    assert rule["EventPattern"] == {
        "source": ["aws.codepipeline"], "detail-type": ["CodePipeline Pipeline Execution State Change"],
        "detail": {"pipeline": [{"Ref": "Pipeline"}], "state": ["FAILED", "SUCCEEDED"]},
    }
    [target] = rule["Targets"]
    assert target["Arn"] == {"Ref": "PipelineTopic"}
    assert "<state>" in target["InputTransformer"]["InputTemplate"]
    [publish] = props(body, "PipelineTopicPolicy")["PolicyDocument"]["Statement"]
    assert publish["Principal"] == {"Service": "events.amazonaws.com"}
    assert publish["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["PipelineStateRule", "Arn"]}}}
    subscriptions = resources_of_type(body, "AWS::SNS::Subscription")
    assert sorted((s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subscriptions.values()) == [
        ("email", "dev@example.org"), ("email", "ops@example.com")]
    assert props(body, "PipelineTopic") == {"KmsMasterKeyId": {"Fn::GetAtt": ["PipelineKey", "Arn"]}}


def test_the_states_that_notify_are_chosen_in_the_parameter_file():
    rule = props(build({"notifications": {"states": ["FAILED"]}}), "PipelineStateRule")
    assert rule["EventPattern"]["detail"]["state"] == ["FAILED"]


def test_the_layer_takes_the_containers_layer_outputs_by_name():
    body = build()
    assert {"ClusterName", "ServiceName", "RepositoryUri", "RepositoryArn", "TaskRoleArn", "TaskExecutionRoleArn"} <= set(body["Parameters"])
    containers_outputs = set(render(containers.build(env_of()))["Outputs"])
    inputs = {n for n, p in body["Parameters"].items() if "Default" not in p}
    assert inputs <= containers_outputs


# --- schema and cross-layer rules ---------------------------------------------------------

@pytest.mark.parametrize("fields, where, message", [
    ({"repository": None}, "pipeline", "repository is required"),
    ({"repository": "shop"}, "pipeline.repository", "owner/name"),
    ({"branch": "feature/../x"}, "pipeline.branch", "not a git branch name"),
    ({"connection_arn": "arn:aws:s3:::bucket"}, "pipeline.connection_arn", "must be a connection ARN"),
    ({"notifications": {"emails": ["ops"]}}, "pipeline.notifications.emails", "not an e-mail address: ops"),
    ({"notifications": {"emails": ["a@b.co", "a@b.co"]}}, "pipeline.notifications.emails", "listed more than once"),
    ({"notifications": {"states": []}}, "pipeline.notifications.states", "at least one"),
    ({"deployment": "canary"}, "pipeline.deployment", "must be one of rolling, blue_green"),
    ({"deployment": "blue_green", "bake_time_minutes": 60}, "pipeline", "must be shorter than deploy_timeout_minutes"),
    ({"deploy_timeout_minutes": 90}, "pipeline.deploy_timeout_minutes", "less than or equal to 60"),
    ({"dockerfile": "../Dockerfile"}, "pipeline.dockerfile", "inside the repository"),
    ({"build_context": "/abs"}, "pipeline.build_context", "inside the repository"),
    ({"test_command": "  "}, "pipeline.test_command", "leave it out"),
    ({"compute_type": "BUILD_GENERAL1_HUGE"}, "pipeline.compute_type", "must be one of"),
    ({"approvals": True}, "pipeline.approvals", "unknown key"),
])
def test_bad_pipeline_fields_name_the_field(tmp_path, fields, where, message):
    data = merge(BASE_ENV, {"web": WEB, "containers": {"enabled": True}, "pipeline": {**PIPELINE, **fields}})
    data["pipeline"] = {k: v for k, v in data["pipeline"].items() if v is not None}
    error = config_error(tmp_path, data)
    assert f" {where}: " in error and message in error, error


@pytest.mark.parametrize("sections, where, message", [
    ({"containers": {"enabled": False}}, "pipeline.enabled", "needs containers.enabled: true"),
    ({"containers": {"enabled": True, "image": "public.ecr.aws/nginx/nginx:stable"}}, "containers.image",
     "must be empty while pipeline.enabled is true"),
    ({"web": {"enabled": False}, "pipeline": {**PIPELINE, "deployment": "blue_green"}}, "pipeline.deployment",
     "blue_green needs web.enabled: true"),
    ({"pipeline": {**PIPELINE, "deployment": "blue_green"},
      "containers": {"enabled": True, "scaling": {"metric": "request_count", "target_value": 100}}},
     "containers.scaling.metric", "scale on cpu"),
])
def test_the_pipeline_needs_what_it_builds_for_and_deploys_to(tmp_path, sections, where, message):
    data = merge(BASE_ENV, merge({"web": WEB, "containers": {"enabled": True}, "pipeline": PIPELINE}, sections))
    error = config_error(tmp_path, data)
    assert f" {where}: " in error and message in error, error


def test_the_error_for_a_pipeline_without_containers_names_both_sections(tmp_path):
    error = config_error(tmp_path, merge(BASE_ENV, {"pipeline": PIPELINE}))
    assert "pipeline.enabled" in error and "containers.enabled" in error
    assert error.count("\n") == 0, "one problem, one line"


# --- cost and notes ----------------------------------------------------------------------

def test_without_nat_the_build_says_the_builds_run_outside_the_vpc():
    notes = pipeline.build_notes(env_of(network={"nat": "none", "interface_endpoints": ["ecr.api", "ecr.dkr", "logs"]}))
    assert "outside the VPC" in notes[0] and "network.nat: none does not cut them off" in notes[0]
    assert "approve" in notes[1]
    assert pipeline.build_notes(env_of({"connection_arn": CONNECTION}))[0].endswith("nothing inside the VPC")
    assert len(pipeline.build_notes(env_of({"connection_arn": CONNECTION}))) == 1


# --- lint and scan -----------------------------------------------------------------------

SHAPES = {
    "rolling": dict(web=WEB, containers={"enabled": True}, pipeline=PIPELINE),
    "approval-arm-tests": dict(web=WEB, containers={"enabled": True, "architecture": "ARM64"}, pipeline={
        **PIPELINE, "approval": True, "test_command": "pytest -q", "notifications": {"emails": ["ops@example.com"]}}),
    "blue-green-existing-connection": dict(web=WEB, containers={"enabled": True}, pipeline={
        **PIPELINE, "deployment": "blue_green", "connection_arn": CONNECTION, "compute_type": "BUILD_GENERAL1_MEDIUM"}),
}


def test_every_shape_passes_the_lint_gate():
    assert lint_findings(build_shapes(pipeline, SHAPES)) == []


def test_every_shape_passes_checkov(tmp_path):
    assert checkov_failures({name: t for name, (t, _) in build_shapes(pipeline, SHAPES).items()}, tmp_path) == []


# --- deploy ------------------------------------------------------------------------------

def _document(value) -> dict:
    """An IAM policy document as moto returns it: a dict, or (an inline
    policy of a role made by its CloudFormation, moto 5.2.5) a dict's repr."""
    return value if isinstance(value, dict) else ast.literal_eval(value)


@pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
def test_the_pipeline_layer_deploys_alone_through_a_change_set(aws):
    """What moto shows: the artifact bucket, the key, both roles with their
    inline policies, the build log group with its retention, the two
    Parameter Store settings with their values, the topic and the EventBridge
    rule with its pattern.

    What moto does not emulate (its CloudFormation skips the types and still
    reports the stack complete): CodeBuild projects, CodePipeline pipelines
    and CodeConnections connections, so the stages, the buildspec and the
    connection are checked on the template above, and what reads them (the
    role's grant on the project, the rule's pipeline name) gets Strata's
    local placeholder, as under `strata deploy --local`; the bucket's policy,
    versioning, encryption and lifecycle, the log group's key, the topic's policy
    and its e-mail subscriptions are not applied.
    Running a build, a deployment or a blue/green traffic shift needs AWS."""
    env = env_of({"notifications": {"emails": ["ops@example.com"]}})
    with local.compat():
        resources = deploy_stack(aws, "pipeline", render(pipeline.build(env)), {
            "ClusterName": "demo-test-cluster", "ServiceName": "demo-test-app", "RepositoryUri": REPOSITORY_URI,
            "RepositoryArn": f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/demo-test-app",
            "TaskRoleArn": f"arn:aws:iam::{ACCOUNT}:role/task", "TaskExecutionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/execution",
        })
    # moto leaves these out; this fails as soon as it emulates one, so the test can check it for real
    assert not {"BuildProject", "Pipeline", "Connection"} & set(resources)
    client = lambda service: boto3.client(service, endpoint_url=aws, region_name="eu-west-1")  # noqa: E731

    bucket = resources["ArtifactBucket"]["PhysicalResourceId"]
    assert bucket in [b["Name"] for b in client("s3").list_buckets()["Buckets"]]

    ssm = client("ssm")
    assert ssm.get_parameter(Name="/demo/test/pipeline/RepositoryUri")["Parameter"]["Value"] == REPOSITORY_URI
    assert ssm.get_parameter(Name="/demo/test/pipeline/ContainerName")["Parameter"]["Value"] == containers.CONTAINER_NAME

    iam = client("iam")
    for role, service in (("PipelineRole", "codepipeline.amazonaws.com"), ("BuildRole", "codebuild.amazonaws.com")):
        name = resources[role]["PhysicalResourceId"]
        trust = _document(iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"])
        assert trust["Statement"][0]["Principal"] == {"Service": [service]}
        [policy] = iam.list_role_policies(RoleName=name)["PolicyNames"]
        document = _document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
        if role == "PipelineRole":
            [passing] = [s for s in document["Statement"] if s.get("Sid") == "PassTheTaskRoles"]
            assert passing["Resource"] == [f"arn:aws:iam::{ACCOUNT}:role/task", f"arn:aws:iam::{ACCOUNT}:role/execution"]
        else:
            [push] = [s for s in document["Statement"] if s.get("Sid") == "PushToTheRepository"]
            assert push["Resource"] == [f"arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/demo-test-app"]

    [group] = client("logs").describe_log_groups(logGroupNamePrefix=resources["BuildLogGroup"]["PhysicalResourceId"])["logGroups"]
    assert group["retentionInDays"] == 30

    rule = client("events").describe_rule(Name=resources["PipelineStateRule"]["PhysicalResourceId"])
    assert json.loads(rule["EventPattern"])["detail"]["state"] == ["FAILED", "SUCCEEDED"]
    topic = resources["PipelineTopic"]["PhysicalResourceId"]
    assert topic in [t["TopicArn"] for t in client("sns").list_topics()["Topics"]]
    # (moto answers DescribeKey of this key with a 500: only its existence is checked)
    assert resources["PipelineKey"]["PhysicalResourceId"] in [k["KeyId"] for k in client("kms").list_keys()["Keys"]]


# --- through the command line ---------------------------------------------------------

PIPELINE_PARAMS = MINIMAL_PARAMS + """web:
  enabled: true
  listener: http
containers:
  enabled: true
pipeline:
  enabled: true
  repository: example-org/shop
"""


def test_strata_build_prints_the_pipeline_cost_and_where_builds_run(tmp_path, capsys):
    params = write_params(tmp_path, PIPELINE_PARAMS).parent
    assert main(["build", "--env", "dev", "--params-dir", str(params), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    (summary,) = [line for line in printed.splitlines() if line.startswith("  cost: about $")]
    assert " pipeline $" in summary  # the estimate prices the layer (its key, the build minutes of cost.build_minutes)
    assert "  note: pipeline: builds run outside the VPC" in printed
    assert (tmp_path / "out" / "dev" / "pipeline.json").is_file()


def test_strata_build_without_containers_fails_naming_the_file_line_and_both_sections(tmp_path, capsys):
    text = PIPELINE_PARAMS.replace("containers:\n  enabled: true\n", "")
    params = write_params(tmp_path, text).parent
    assert main(["build", "--env", "dev", "--params-dir", str(params), "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    line = text.splitlines().index("  enabled: true", text.splitlines().index("pipeline:")) + 1
    assert f"dev.yaml:{line} pipeline.enabled: needs containers.enabled: true" in error
    assert "Traceback" not in error
    assert not (tmp_path / "out" / "dev").exists()
