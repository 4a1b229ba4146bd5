"""What `strata plan` and `strata deploy` do for the pipeline layer.

Two things a stack deploy alone would get wrong:

- **The image the pipeline deployed stays.** CodePipeline's ECS action runs
  a task definition revision of its own (the template's, with the new image),
  so the containers layer's `ContainerImageTag` parameter no longer says what
  runs. A stack update that registers the template's task definition again
  would roll the service back to that tag. Before planning, the image tag the
  service runs now becomes the value of `ContainerImageTag`, unless
  `--parameter ContainerImageTag=...` says otherwise.
- **The one manual step is said.** A connection to GitHub, GitLab or
  Bitbucket that CloudFormation creates is PENDING until a person approves
  it in the console; the pipeline's Source stage fails until then. After a
  deploy, a PENDING (or broken) connection is reported with what to do.

Both only read (ECS DescribeServices and DescribeTaskDefinition,
CodeConnections GetConnection); when that fails the deploy goes on with a
warning, as the stacks themselves are already right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from generator.deploy.errors import error_message
from templates.containers import CONTAINER_NAME
from templates.pipeline import CONNECTION_ARN

if TYPE_CHECKING:
    from generator.build.config import EnvConfig
    from generator.deploy.session import Aws

IMAGE_TAG_PARAMETER = "ContainerImageTag"
CONNECTIONS_CONSOLE = "https://{region}.console.aws.amazon.com/codesuite/settings/connections"


def _root_outputs(env: EnvConfig, aws: Aws) -> dict[str, str]:
    from generator.deploy.rollout import stack_name

    stack = aws.deployer(env.region, lambda _message: None).stack(stack_name(env)) or {}
    return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", []) or []}


def running_image_tag(ecs: Any, cluster: str, service: str, repository_uri: str) -> str | None:
    """The tag of this layer's repository image that the service's current
    task definition runs, or None (no such service, another image)."""
    services = ecs.describe_services(cluster=cluster, services=[service]).get("services", [])
    if not services or services[0].get("status") == "INACTIVE":
        return None
    task = ecs.describe_task_definition(taskDefinition=services[0]["taskDefinition"])["taskDefinition"]
    for container in task.get("containerDefinitions", []):
        image = container.get("image", "")
        if container.get("name") == CONTAINER_NAME and image.startswith(f"{repository_uri}:"):
            return image.removeprefix(f"{repository_uri}:")
    return None


def keep_deployed_image(env: EnvConfig, aws: Aws, echo: Callable[[str], None]) -> dict[str, str]:
    """`{"ContainerImageTag": <tag the service runs>}` when the pipeline is on
    and the environment is deployed; else nothing."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not env.pipeline.enabled:
        return {}
    try:
        outputs = _root_outputs(env, aws)
        if not {"ClusterName", "ServiceName", "RepositoryUri"} <= outputs.keys():
            return {}
        tag = running_image_tag(aws.client("ecs"), outputs["ClusterName"], outputs["ServiceName"], outputs["RepositoryUri"])
    except (ClientError, BotoCoreError) as exc:
        echo(f"warning: could not read the image the service runs ({error_message(exc)}); "
             f"{IMAGE_TAG_PARAMETER} keeps its deployed value")
        return {}
    return {IMAGE_TAG_PARAMETER: tag} if tag else {}


def stack_overrides(env: EnvConfig, aws: Aws, echo: Callable[[str], None], explicit: dict[str, str]) -> dict[str, str]:
    """The parameter values a plan or deploy sets: the image the pipeline
    deployed (see the module docstring), under the explicit `--parameter`
    values, which always win."""
    if IMAGE_TAG_PARAMETER in explicit:
        return dict(explicit)
    kept = keep_deployed_image(env, aws, echo)
    if kept:
        echo(f"keeping the image the pipeline deployed: {IMAGE_TAG_PARAMETER}={kept[IMAGE_TAG_PARAMETER]} "
             f"(--parameter {IMAGE_TAG_PARAMETER}=... deploys another)")
    return {**kept, **explicit}


def connection_notes(arn: str, client: Any) -> list[str]:
    """What to do about the connection `arn`, read with a `codeconnections`
    (or `codestar-connections`) client: nothing when AVAILABLE."""
    connection = client.get_connection(ConnectionArn=arn)["Connection"]
    status, name = connection["ConnectionStatus"], connection.get("ConnectionName", arn)
    provider = connection.get("ProviderType", "the provider")
    console = CONNECTIONS_CONSOLE.format(region=arn.split(":")[3])
    if status == "PENDING":
        return [
            f"connection {name} to {provider} is PENDING: the pipeline's Source stage fails until a person approves it, once:",
            f"  1. open {console} and choose {name}",
            f"  2. choose 'Update pending connection' and sign in to {provider} as someone who may install apps on the repository",
            "  3. install (or pick) the AWS Connector app for the repository's owner and choose 'Connect'",
            "  then the status is Available; start the pipeline with 'Release change' (or push a commit)",
        ]
    if status == "ERROR":
        return [f"connection {name} to {provider} is in ERROR: open {console}, check it (an uninstalled app, a revoked "
                "grant) and update it, or delete it and deploy again so that the stack creates a new one"]
    return []


def after_deploy(env: EnvConfig, aws: Aws) -> list[str]:
    """Notes for the end of `strata deploy`: the pipeline's connection, while it
    waits for its one manual approval."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not env.pipeline.enabled:
        return []
    try:
        arn = _root_outputs(env, aws).get("ConnectionArn", "")
        # moto and LocalStack create no connection: nothing to approve there.
        if not CONNECTION_ARN.match(arn):
            return []
        service = "codeconnections" if arn.split(":")[2] == "codeconnections" else "codestar-connections"
        return connection_notes(arn, aws.client(service, region=arn.split(":")[3]))
    except (ClientError, BotoCoreError) as exc:
        return [f"warning: could not read the pipeline's connection status ({error_message(exc)}); "
                "check it under Developer Tools > Settings > Connections in the console"]
