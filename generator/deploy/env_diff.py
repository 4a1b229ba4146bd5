"""`strata diff`: an environment's new build against what is deployed.

What is deployed comes from CloudFormation (GetTemplate of the root and
every nested stack, DescribeStacks for the parameter values), or, offline,
from the snapshot the last successful `strata deploy` from this machine
wrote: `<out>/.deployed/<env>.json`, the templates and parameter values of
each of the environment's stacks as CloudFormation had them after the
deploy. A stack neither knows is new: every resource is an Add.

The new side is the build in `out/<env>/` with its root as `strata
package` would upload it (nested TemplateURLs naming content-addressed
files), so a layer whose template changed shows `TemplateURL` changing.
Root parameters keep their deployed values unless `--parameter` sets them;
a parameter new to the template takes its default. Values that a companion
stack's outputs would feed in are not looked up: the diff is about the
templates, the plan shows the values.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from generator.deploy import review
from generator.deploy.diff import Diff
from generator.deploy.package import ROOT_FILE, layout, read_build, stack_templates
from generator.deploy.review import Baseline

if TYPE_CHECKING:
    from generator.deploy.rollout import Environment, Unit

SNAPSHOT_DIR = ".deployed"


def snapshot_path(out_root: Path, environment: str) -> Path:
    return Path(out_root) / SNAPSHOT_DIR / f"{environment}.json"


def _values(environment: Environment, template: dict, before: Baseline) -> dict[str, str]:
    values = dict(before.parameters)
    for name, definition in (template.get("Parameters") or {}).items():
        if name in environment.overrides:
            values[name] = environment.overrides[name]
        elif name not in values and "Default" in definition:
            values[name] = str(definition["Default"])
    return values


def diff_environment(environment: Environment, out_dir: Path,
                     baseline: dict[str, Baseline] | None = None) -> list[tuple[Unit, Diff]]:
    """Per stack of the environment (companions, then the root), the diff
    from what is deployed (CloudFormation's, or `baseline` when given) to
    the build in `out_dir`."""
    from generator.deploy.errors import aws_errors
    from generator.deploy.rollout import units

    build = read_build(out_dir)
    environment.check_overrides(build)
    packaged_root = layout(build, "").root
    found = []
    for unit in units(environment.env, build):
        templates = stack_templates(build, packaged_root) if unit.file == ROOT_FILE else {"root": build.body(unit.file)}
        if baseline is not None:
            before = baseline.get(unit.stack_name, Baseline({}, {}))
        else:
            with aws_errors(f"{unit.stack_name} ({unit.region}), reading the deployed templates"):
                deployer = environment.aws.deployer(unit.region, environment.echo)
                before = review.deployed(deployer, deployer.stack(unit.stack_name))
        values = _values(environment, templates["root"], before)
        found.append((unit, review.stack_diff(before, templates, values, [], unit.region)))
    return found


def record(environment: Environment, out_root: Path) -> Path:
    """Write the snapshot of what is deployed now, for `strata diff --offline`."""
    from generator.deploy.errors import aws_errors

    stacks = {}
    for unit in environment.known_units(Path(out_root) / environment.env.environment):
        with aws_errors(f"{unit.stack_name} ({unit.region}), reading the deployed templates"):
            deployer = environment.aws.deployer(unit.region, environment.echo)
            now = review.deployed(deployer, deployer.stack(unit.stack_name))
        if now.templates:
            stacks[unit.stack_name] = {"region": unit.region, "templates": now.templates,
                                       "parameters": now.parameters}
    path = snapshot_path(out_root, environment.env.environment)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"environment": environment.env.environment, "stacks": stacks}, indent=1,
                              sort_keys=True, default=str))
    os.replace(tmp, path)
    return path


def load(out_root: Path, environment: str) -> dict[str, Baseline]:
    """The snapshot of the last deploy, stack name -> Baseline ({} when none)."""
    from generator.deploy.errors import DeployError

    path = snapshot_path(out_root, environment)
    if not path.is_file():
        raise DeployError(f"{path}: no snapshot of a deploy from this machine yet (`strata deploy` writes it); "
                          "leave out --offline to compare with what CloudFormation has")
    data = json.loads(path.read_text())
    return {name: Baseline(stack["templates"], stack["parameters"]) for name, stack in data["stacks"].items()}
