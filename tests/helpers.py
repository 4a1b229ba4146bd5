"""Test helpers: build an environment from a dict, render a layer, and assert
on the JSON CloudFormation will receive (in the spirit of CDK's
`Template.hasResourceProperties`)."""

from __future__ import annotations

import copy
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import boto3

from generator.build.config import EnvConfig
from generator.build.lint import lint_templates
from generator.build.output import render as render_text

REPO = Path(__file__).resolve().parent.parent
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"

BASE_ENV: dict[str, Any] = {
    "project": "demo",
    "environment": "test",
    "region": "eu-west-1",
    "network": {"enabled": True, "cidr": "10.0.0.0/16", "az_count": 2, "nat": "single"},
    "security": {"enabled": True},
}


MINIMAL_PARAMS = """\
project: demo
environment: dev
region: eu-west-1
network:
  enabled: true
  cidr: 10.0.0.0/16
  az_count: 2
  nat: single
security:
  enabled: true
"""


def write_params(tmp_path: Path, text: str = MINIMAL_PARAMS, name: str = "dev.yaml") -> Path:
    """Write a parameter file as `tmp_path/parameters/<name>` and return its path."""
    path = tmp_path / "parameters" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def config_error(tmp_path: Path, data: dict) -> str:
    """The ConfigError message load_config gives for `data` written as a parameter file."""
    from generator.build.config import ConfigError, load_config

    file = tmp_path / "test.yaml"
    file.write_text(json.dumps(data))
    try:
        load_config(file)
    except ConfigError as exc:
        return str(exc)
    raise AssertionError(f"{data} loaded without an error")


def merge(base: dict, override: dict) -> dict:
    """Deep-merge `override` into a copy of `base` (dicts merge, anything else replaces)."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def make_env(**sections: Any) -> EnvConfig:
    """An EnvConfig from BASE_ENV with sections deep-merged over it:
    make_env(network={"nat": "none"}, web={"enabled": True})."""
    return EnvConfig.model_validate(merge(BASE_ENV, sections))


def render(template) -> dict:
    """The template exactly as CloudFormation receives it."""
    return json.loads(template.to_json())


def resources_of_type(body: dict, type_name: str) -> dict[str, dict]:
    return {name: r for name, r in body["Resources"].items() if r["Type"] == type_name}


def only_resource(body: dict, type_name: str) -> tuple[str, dict]:
    found = resources_of_type(body, type_name)
    assert len(found) == 1, f"expected one {type_name}, found {sorted(found)}"
    return next(iter(found.items()))


def has_subset(actual: Any, expected: Any) -> bool:
    """True when every key/value of `expected` is in `actual` (recursively; lists compare item by item)."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and has_subset(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(
            has_subset(a, e) for a, e in zip(actual, expected)
        )
    return actual == expected


def assert_props(body: dict, type_name: str, expected: dict, count: int | None = None) -> list[str]:
    """Assert some resource of `type_name` has properties containing `expected`;
    with `count`, that exactly that many do. Returns the matching logical ids."""
    matching = [
        name for name, r in resources_of_type(body, type_name).items() if has_subset(r.get("Properties", {}), expected)
    ]
    if count is None:
        assert matching, f"no {type_name} has properties {expected}"
    else:
        assert len(matching) == count, f"{len(matching)} {type_name} match {expected}, expected {count}: {matching}"
    return matching


def deploy_stack(endpoint_url: str, stack_name: str, body: dict | str, parameters: dict[str, str] | None = None,
                 region: str = "eu-west-1") -> dict[str, dict]:
    """Create `stack_name` through a change set (create, wait, execute, wait) on
    the given endpoint and return its resources by logical id."""
    cfn = boto3.client("cloudformation", endpoint_url=endpoint_url, region_name=region)
    text = body if isinstance(body, str) else json.dumps(body)
    cfn.create_change_set(
        StackName=stack_name, ChangeSetName=f"{stack_name}-create", ChangeSetType="CREATE", TemplateBody=text,
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in (parameters or {}).items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    _wait(lambda: cfn.describe_change_set(StackName=stack_name, ChangeSetName=f"{stack_name}-create")["Status"],
          {"CREATE_COMPLETE"}, {"FAILED"})
    cfn.execute_change_set(StackName=stack_name, ChangeSetName=f"{stack_name}-create")
    _wait(lambda: cfn.describe_stacks(StackName=stack_name)["Stacks"][0]["StackStatus"],
          {"CREATE_COMPLETE"}, {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED"})
    summaries = cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    return {r["LogicalResourceId"]: r for r in summaries}


def deploy_network_and_security(aws: str, env: EnvConfig) -> dict[str, str]:
    """Deploy the network and security layers' own templates (through change
    sets, on moto) and return the ids the other layers take as parameters.
    moto does not fill a stack's Outputs when it is created through a change
    set, so the ids come from the stacks' resources."""
    from templates import network, security

    net = deploy_stack(aws, "network", render(network.build(env)))
    sec = deploy_stack(aws, "security", render(security.build(env)), {"VpcId": net["Vpc"]["PhysicalResourceId"]})
    azs = range(1, env.network.az_count + 1)
    ids = {
        "VpcId": net["Vpc"]["PhysicalResourceId"],
        "PublicSubnetIds": ",".join(net[f"PublicSubnet{i}"]["PhysicalResourceId"] for i in azs),
        "PrivateSubnetIds": ",".join(net[f"PrivateSubnet{i}"]["PhysicalResourceId"] for i in azs),
    }
    for group in ("Alb", "App", "Db", "Bastion"):
        if f"{group}SecurityGroup" in sec:
            ids[f"{group}SecurityGroupId"] = sec[f"{group}SecurityGroup"]["PhysicalResourceId"]
    return ids


def _wait(read, done: set[str], failed: set[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = read()
        if status in done:
            return
        assert status not in failed, f"status {status}"
        assert time.monotonic() < deadline, f"still {status} after {timeout}s"
        time.sleep(0.05)


def build_shapes(layer: Any, shapes: dict[str, dict]) -> dict[str, tuple[Any, str]]:
    """Build `layer` once per named set of sections (merged over BASE_ENV):
    name -> (template, region), ready for lint_findings and checkov_failures."""
    built = {}
    for name, sections in shapes.items():
        env = make_env(**sections)
        built[name] = (layer.build(env), env.region)
    return built


def lint_findings(templates: dict[str, tuple[Any, str]]) -> list[str]:
    """cfn-lint (and Strata's rules) on `name -> (troposphere Template, region)`: every error and warning."""
    jobs = [(name, render_text(f"{name}.json", t).text, region) for name, (t, region) in templates.items()]
    return [str(f) for f in lint_templates(jobs)]


def checkov_failures(templates: dict[str, Any], directory: Path) -> list[str]:
    """checkov's failed checks on `name -> Template`. checkov lives in its own
    venv (`make test` installs it first); without it this fails, never skips."""
    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make test`, which installs checkov in its own venv"
    for name, template in templates.items():
        (directory / f"{name}.json").write_text(render_text(f"{name}.json", template).text)
    run = subprocess.run(
        [str(CHECKOV), "--quiet", "--compact", "--framework", "cloudformation", "--directory", str(directory),
         "--skip-download", "-o", "json"],
        capture_output=True, text=True, check=False,
    )
    report = json.loads(run.stdout)
    reports = report if isinstance(report, list) else [report]
    return [
        f"{c['file_path']} {c['resource']} {c['check_id']}: {c['check_name']}"
        for r in reports for c in r.get("results", {}).get("failed_checks", [])
    ]
