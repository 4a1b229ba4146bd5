"""What `strata plan` and `strata deploy` do for the pipeline layer
(generator/deploy/delivery.py): keep the image the pipeline deployed, and
say the one manual step while the source connection is PENDING.

The image tag is read from ECS on the moto server (its ECS API keeps task
definitions and services). moto has no CodeConnections or CodeStar
Connections API at all, so the connection's status comes from botocore's
Stubber with GetConnection's response shape from the API reference (the
service models botocore ships), and the root stack's outputs from a stubbed
DescribeStacks of the same shape.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from generator.deploy import delivery
from generator.deploy.session import Aws
from templates.containers import CONTAINER_NAME
from tests.helpers import make_env

REGION = "eu-west-1"
ACCOUNT = "111122223333"
REPOSITORY_URI = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/demo-test-app"
CODECONNECTIONS = f"arn:aws:codeconnections:{REGION}:{ACCOUNT}:connection/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"
CODESTAR = f"arn:aws:codestar-connections:{REGION}:{ACCOUNT}:connection/9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"
PIPELINE = {"enabled": True, "repository": "example-org/shop"}


def env_of(pipeline: dict | None = None):
    return make_env(web={"enabled": True, "listener": "http"}, containers={"enabled": True},
                    pipeline=PIPELINE if pipeline is None else pipeline)


class StubbedAws(Aws):
    """`Aws` whose clients are botocore clients with a Stubber each; a test
    adds the responses it expects, and any other call fails."""

    def __init__(self) -> None:
        super().__init__(REGION, poll=0)
        self.clients: dict[str, Any] = {}
        self.stubs: dict[str, Stubber] = {}

    def client(self, service: str, region: str | None = None) -> Any:
        if service not in self.clients:
            client = boto3.client(service, region_name=region or self.region)
            self.clients[service], self.stubs[service] = client, Stubber(client)
            self.stubs[service].activate()
        return self.clients[service]

    def stub(self, service: str) -> Stubber:
        self.client(service)
        return self.stubs[service]


def _root(aws: StubbedAws, outputs: dict[str, str]) -> None:
    aws.stub("cloudformation").add_response("describe_stacks", {"Stacks": [{
        "StackName": "demo-test", "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/demo-test/1",
        "CreationTime": "2026-12-01T10:00:00Z", "StackStatus": "CREATE_COMPLETE",
        "Outputs": [{"OutputKey": k, "OutputValue": v} for k, v in outputs.items()],
    }]}, {"StackName": "demo-test"})


def _connection(aws: StubbedAws, service: str, arn: str, status: str) -> None:
    aws.stub(service).add_response("get_connection", {"Connection": {
        "ConnectionName": "demo-test-source", "ConnectionArn": arn, "ProviderType": "GitHub",
        "OwnerAccountId": ACCOUNT, "ConnectionStatus": status,
    }}, {"ConnectionArn": arn})


# --- the connection -----------------------------------------------------------------------

def test_a_pending_connection_gets_the_one_manual_step():
    aws = StubbedAws()
    _root(aws, {"ConnectionArn": CODECONNECTIONS, "PipelineName": "demo-test-app"})
    _connection(aws, "codeconnections", CODECONNECTIONS, "PENDING")
    notes = delivery.after_deploy(env_of(), aws)
    assert notes[0].startswith("connection demo-test-source to GitHub is PENDING")
    assert f"https://{REGION}.console.aws.amazon.com/codesuite/settings/connections" in notes[1]
    assert "Update pending connection" in notes[2]
    assert "Release change" in notes[-1]
    for stub in aws.stubs.values():
        stub.assert_no_pending_responses()


def test_a_codestar_connection_is_read_through_its_own_api():
    aws = StubbedAws()
    _root(aws, {"ConnectionArn": CODESTAR})
    _connection(aws, "codestar-connections", CODESTAR, "PENDING")
    assert "is PENDING" in delivery.after_deploy(env_of(), aws)[0]
    assert "codeconnections" not in aws.clients


def test_an_available_connection_needs_nothing_and_a_broken_one_says_so():
    aws = StubbedAws()
    _root(aws, {"ConnectionArn": CODECONNECTIONS})
    _connection(aws, "codeconnections", CODECONNECTIONS, "AVAILABLE")
    assert delivery.after_deploy(env_of(), aws) == []
    _root(aws, {"ConnectionArn": CODECONNECTIONS})
    _connection(aws, "codeconnections", CODECONNECTIONS, "ERROR")
    [note] = delivery.after_deploy(env_of(), aws)
    assert "is in ERROR" in note


def test_a_local_endpoint_s_placeholder_is_not_looked_up():
    """moto and LocalStack create no connection: the output is Strata's local
    placeholder (or empty) and nothing is called (the stubbed connection API
    would fail any call)."""
    for value in ("arn:aws:moto:::not-emulated", ""):
        aws = StubbedAws()
        _root(aws, {"ConnectionArn": value})
        assert delivery.after_deploy(env_of(), aws) == []
        assert "codeconnections" not in aws.clients


def test_no_permission_to_read_the_connection_is_a_warning_not_a_failure():
    aws = StubbedAws()
    _root(aws, {"ConnectionArn": CODECONNECTIONS})
    aws.stub("codeconnections").add_client_error(
        "get_connection", service_error_code="AccessDeniedException", http_status_code=400,
        service_message="not authorized to perform: codeconnections:GetConnection")
    [note] = delivery.after_deploy(env_of(), aws)
    assert note.startswith("warning: could not read the pipeline's connection status (not authorized")


def test_without_the_pipeline_nothing_is_called():
    aws = StubbedAws()
    disabled = env_of({"enabled": False})
    assert delivery.after_deploy(disabled, aws) == []
    assert delivery.stack_overrides(disabled, aws, print, {"X": "1"}) == {"X": "1"}
    assert aws.clients == {}


# --- the image the pipeline deployed -----------------------------------------------------

def _service_running(aws_url: str, image: str, container: str = CONTAINER_NAME) -> tuple[str, str]:
    ecs = boto3.client("ecs", endpoint_url=aws_url, region_name=REGION)
    ecs.create_cluster(clusterName="demo-test-cluster")
    task = ecs.register_task_definition(family="demo-test-app", containerDefinitions=[
        {"name": container, "image": image, "memory": 512}])["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster="demo-test-cluster", serviceName="demo-test-app", taskDefinition=task, desiredCount=1)
    return "demo-test-cluster", "demo-test-app"


class MotoAws(StubbedAws):
    """ECS from the moto server; CloudFormation stubbed (the root's outputs)."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def client(self, service: str, region: str | None = None) -> Any:
        if service == "ecs":
            return boto3.client("ecs", endpoint_url=self.url, region_name=REGION)
        return super().client(service, region)


def test_the_image_the_service_runs_is_kept(aws):
    cluster, service = _service_running(aws, f"{REPOSITORY_URI}:3f2c1e9")
    moto = MotoAws(aws)
    _root(moto, {"ClusterName": cluster, "ServiceName": service, "RepositoryUri": REPOSITORY_URI})
    lines: list[str] = []
    assert delivery.stack_overrides(env_of(), moto, lines.append, {"Other": "x"}) == {
        "ContainerImageTag": "3f2c1e9", "Other": "x"}
    assert lines == ["keeping the image the pipeline deployed: ContainerImageTag=3f2c1e9 "
                     "(--parameter ContainerImageTag=... deploys another)"]


def test_an_explicit_image_tag_wins_and_nothing_is_read(aws):
    moto = MotoAws(aws)
    assert delivery.stack_overrides(env_of(), moto, print, {"ContainerImageTag": "v42"}) == {"ContainerImageTag": "v42"}
    assert moto.clients == {}


@pytest.mark.parametrize("image, container", [
    ("public.ecr.aws/nginx/nginx:stable", CONTAINER_NAME),   # not this layer's repository
    (f"{REPOSITORY_URI}:3f2c1e9", "sidecar"),                 # not the task definition's container
])
def test_another_image_is_not_mistaken_for_the_pipeline_s(aws, image, container):
    cluster, service = _service_running(aws, image, container)
    moto = MotoAws(aws)
    _root(moto, {"ClusterName": cluster, "ServiceName": service, "RepositoryUri": REPOSITORY_URI})
    assert delivery.stack_overrides(env_of(), moto, print, {}) == {}


def test_an_environment_not_deployed_yet_keeps_nothing():
    aws = StubbedAws()
    aws.stub("cloudformation").add_client_error(
        "describe_stacks", service_error_code="ValidationError", service_message="Stack with id demo-test does not exist")
    assert delivery.stack_overrides(env_of(), aws, print, {}) == {}


def test_an_unreadable_service_is_a_warning_and_the_deployed_value_stays():
    aws = StubbedAws()
    _root(aws, {"ClusterName": "c", "ServiceName": "s", "RepositoryUri": REPOSITORY_URI})
    aws.stub("ecs").add_client_error("describe_services", service_error_code="AccessDeniedException",
                                     service_message="not authorized to perform: ecs:DescribeServices")
    lines: list[str] = []
    assert delivery.stack_overrides(env_of(), aws, lines.append, {}) == {}
    assert lines[0].startswith("warning: could not read the image the service runs (not authorized")
    aws.stub("ecs").assert_no_pending_responses()  # the call was really made
