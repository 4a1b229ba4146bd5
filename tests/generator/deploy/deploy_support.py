"""Shared helpers for the package/deploy/plan/local tests: the dev build
(built once per session into a shared temp dir, so the lint cache makes
later builds cheap), small synthetic builds made with the real compose and
manifest code, and a stubbed CloudFormation client."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.stub import Stubber
from troposphere import GetAtt, Output, Parameter, Ref, Template, cloudwatch, sns, sqs

from generator.build.pipeline import build_envs
from generator.build.compose import Layers, compose_root
from generator.build.config import EnvConfig
from generator.build.output import RenderedTemplate, manifest, render, write_env
from generator.cfn.resources import template_location_parameters

REPO = Path(__file__).resolve().parents[3]
DEV_PARAMS = REPO / "parameters" / "dev.yaml"
REGION = "eu-west-1"


def build_dev(tmp_path_factory) -> Path:
    """out/dev/ of the shipped dev parameter file, built once per session."""
    out_root = tmp_path_factory.getbasetemp() / "strata-dev-build"
    if not (out_root / "dev" / "manifest.json").is_file():
        build_envs([DEV_PARAMS], out_root)
    return out_root / "dev"


def rebuild_dev(dev_out: Path, tmp_path: Path, edit) -> Path:
    """dev with `edit(data)` applied to the parameter file, built into
    tmp_path/out (reusing the session build's lint cache)."""
    data = yaml.safe_load(DEV_PARAMS.read_text())
    edit(data)
    params = tmp_path / "params"
    params.mkdir(parents=True)
    (params / "dev.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    out_root = tmp_path / "out"
    shutil.copytree(dev_out.parent / ".cache", out_root / ".cache")
    build_envs([params / "dev.yaml"], out_root)
    return out_root / "dev"


def tiny_env(environment: str = "tiny", **deploy: Any) -> EnvConfig:
    return EnvConfig.model_validate({"project": "demo", "environment": environment, "region": REGION,
                                     "deploy": deploy})


def tiny_layers(topic_name: str = "", code: bytes | None = None, unemulated: bool = False,
                takes: str = "") -> Layers:
    """Two layers wired by name: messaging (a topic) outputs TopicArn, storage
    (a queue) takes it.
    `topic_name` changes the topic layer's template (an update); `code` gives
    the queue layer a Lambda zip; `unemulated` adds a CloudWatch alarm (a type
    moto skips); `takes` adds a parameter with a default to the topic layer
    (so it becomes a root parameter)."""
    topic = Template(Description="tiny topic layer")
    kwargs = {"DisplayName": topic_name} if topic_name else {}
    topic.add_resource(sns.Topic("Topic", **kwargs))
    topic.add_output(Output("TopicArn", Value=Ref("Topic"), Description="topic"))
    if takes:
        topic.add_parameter(Parameter(takes, Type="String", Default="", Description="fed by a companion"))
        topic.add_output(Output(f"Seen{takes}", Value=Ref(takes), Description="what the layer received"))
    if unemulated:
        topic.add_resource(cloudwatch.Alarm(
            "Alarm", ComparisonOperator="GreaterThanThreshold", EvaluationPeriods=1, MetricName="Errors",
            Namespace="Demo", Period=60, Statistic="Sum", Threshold=1,
        ))
    queue = Template(Description="tiny queue layer")
    queue.add_parameter(Parameter("TopicArn", Type="String", Description="topic"))
    queue.add_resource(sqs.Queue("Queue"))
    queue.add_output(Output("QueueArn", Value=GetAtt("Queue", "Arn"), Description="queue"))
    if code is not None:
        template_location_parameters(queue)
        queue.set_metadata({"Strata": {"Artifacts": [artifact_key(code)]}})
    # real layer names: compose orders stacks by the layer registry
    return Layers(nested={"messaging": topic, "storage": queue})


def artifact_key(code: bytes) -> str:
    return f"lambda/worker-{hashlib.sha256(code).hexdigest()}.zip"


def write_build(out_root: Path, env: EnvConfig, layers: Layers, artifacts: dict[str, bytes] | None = None,
                companions: dict[str, dict] | None = None, root_edit=None) -> Path:
    """out/<env>/ for `layers` exactly as the build writes it (root by the real
    compose, manifest by the real manifest code), without linting.
    `root_edit(body)` may change the root template first."""
    root = json.loads(compose_root(env, layers).to_json())
    if root_edit:
        root_edit(root)
    texts = {f"{name}.json": render(f"{name}.json", t).text for name, t in layers.nested.items()}
    texts["root.json"] = json.dumps(root, indent=2, sort_keys=True) + "\n"
    for file, body in (companions or {}).items():
        texts[file] = json.dumps(body, indent=2, sort_keys=True) + "\n"
    rendered = [RenderedTemplate(f, t) for f, t in sorted(texts.items())]
    files = {t.file: t.data for t in rendered}
    files.update(artifacts or {})
    files["manifest.json"] = (json.dumps(manifest(env.environment, rendered, artifacts or {}), indent=2,
                                         sort_keys=True) + "\n").encode()
    return write_env(out_root, env.environment, files)


def stubbed(service: str = "cloudformation") -> tuple[Any, Stubber]:
    client = boto3.client(service, region_name=REGION)
    stubber = Stubber(client)
    stubber.activate()
    return client, stubber


STACK_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:stack/demo-tiny/11111111-2222-3333-4444-555555555555"
NESTED_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:stack/demo-tiny-Database-ABC/66666666-7777-8888-9999-000000000000"
CHANGE_SET_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:changeSet/strata-1/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
NESTED_CHANGE_SET_ARN = f"arn:aws:cloudformation:{REGION}:123456789012:changeSet/strata-1-Database/ffffffff-0000-1111-2222-333333333333"
