"""The catalog's commands, `strata publish` and `strata catalog`, as
`generator.cli` registers them. They take the same steps as `strata deploy`
(`generator.deploy.commands`: load, build, endpoint, package, approval) and
hand the rest to `generator.deploy.publish`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _param_file(args: argparse.Namespace) -> Path:
    return Path(args.params_dir) / f"{args.env}.yaml"


def cmd_publish(args: argparse.Namespace) -> int:
    from generator.deploy import commands, plan_report
    from generator.deploy.console import Console
    from generator.deploy.publish import Publisher, require_catalog

    console = Console.from_args(args)
    env = commands._env(args)
    require_catalog(env, _param_file(args))
    commands._build(args, console)
    with commands._endpoint(args, console) as endpoint_url:
        aws = commands._aws(args, env, endpoint_url)
        publisher = Publisher(env, aws, _param_file(args), Path(args.out), echo=console.info,
                              approve=commands._approve(args),
                              show=lambda plan: console.result(plan_report.table([plan], paint=console.paint)))
        state = publisher.publish(lambda: commands._package(args, env, aws, console), part=args.bump,
                                  stackset_target=args.launch_role_stackset)
    for line in state.lines():
        console.result(line)
    return 0


def cmd_catalog(args: argparse.Namespace) -> int:
    from generator.deploy import commands
    from generator.deploy.console import Console
    from generator.deploy.publish import Publisher, history_lines, require_catalog, state_dict

    console = Console.from_args(args, document=args.json)
    env = commands._env(args)
    require_catalog(env, _param_file(args))
    with commands._endpoint(args, console) as endpoint_url:
        publisher = Publisher(env, commands._aws(args, env, endpoint_url), _param_file(args), Path(args.out))
        state = publisher.state()
        history = publisher.history()
    if args.json:
        console.result(json.dumps({**state_dict(state), "history": history.model_dump(mode="json")["products"]},
                                  indent=2, sort_keys=True))
        return 0
    for line in [*state.lines(), *history_lines(env, history)]:
        console.result(line)
    return 0
