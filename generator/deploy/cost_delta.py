"""The monthly cost change a deploy makes, per layer, for `strata plan` and `deploy`.

The deployed build's estimate is computed the way a build computes its own
(`generator.build.cost.estimate`), from the templates CloudFormation holds
now: the root stack's, each nested stack's and each companion stack's in its
own region (GetTemplate), with the parameter file's `cost` section, so the
two estimates differ only by what the deploy changes. Before a first deploy
every layer counts from $0; a companion not deployed yet counts from $0.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.build import cost
from generator.build.environment import ROOT_FILE, template_file


def _body(cfn: Any, stack: str) -> dict:
    body = cfn.get_template(StackName=stack, TemplateStage="Original")["TemplateBody"]
    return json.loads(body) if isinstance(body, str) else dict(body)


def deployed_bodies(deployer: Any, stack_name: str) -> dict[str, dict] | None:
    """`file -> template` of the deployed root stack and its layers; None when nothing is deployed."""
    stack = deployer.stack(stack_name)
    if not stack or stack.get("StackStatus") == "REVIEW_IN_PROGRESS":
        return None
    root = _body(deployer.cfn, stack["StackId"])
    bodies = {ROOT_FILE: root}
    for label, physical in deployer.nested_stacks(stack["StackId"]):
        resource = root.get("Resources", {}).get(label)
        file = template_file((resource or {}).get("Properties", {}).get("TemplateURL")) if resource else None
        if file:
            bodies[file] = _body(deployer.cfn, physical)
    return bodies


def environment_bodies(environment: Any, out_dir: Path) -> dict[str, dict] | None:
    """`file -> template` of every deployed stack of the environment (the
    root with its layers, and the companions the build names); None when none is deployed."""
    bodies: dict[str, dict] = {}
    for unit in environment.known_units(out_dir):
        deployer = environment.aws.deployer(unit.region, lambda line: None)
        if unit.file == ROOT_FILE:
            bodies.update(deployed_bodies(deployer, unit.stack_name) or {})
            continue
        stack = deployer.stack(unit.stack_name)
        if stack and stack.get("StackStatus") != "REVIEW_IN_PROGRESS":
            bodies[unit.file] = _body(deployer.cfn, stack["StackId"])
    return bodies or None


def lines(environment: Any, out_dir: Path, warn: Callable[[str], None] = print) -> list[str]:
    """The delta lines (`generator.build.cost.delta`) from the deployed stacks to `out_dir`'s cost.json."""
    from botocore.exceptions import BotoCoreError, ClientError

    path = Path(out_dir) / cost.COST_JSON
    if not path.is_file():
        return []
    new = json.loads(path.read_text(encoding="utf-8"))
    try:
        bodies = environment_bodies(environment, out_dir)
    except (ClientError, BotoCoreError) as exc:
        warn(f"monthly cost change not shown: could not read the deployed templates ({exc})")
        return []
    env = environment.env
    old = cost.estimate(bodies, env.region, env.cost, env.environment).to_dict() if bodies else None
    return cost.delta(old, new)
