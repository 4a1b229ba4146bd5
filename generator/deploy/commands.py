"""The deploy-side commands of `strata` (package, plan, deploy, destroy,
status, local), as `generator.cli` registers them: call `package`,
`rollout` and `session`, print. Chatter (uploads, events) goes to stdout,
except with --json or --markdown, where stdout carries only the document
and chatter goes to stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def __getattr__(name: str) -> Any:
    # `ERRORS` is read only when a command fails; building it imports botocore,
    # which `strata build` should not pay for.
    if name == "ERRORS":
        return _errors()
    raise AttributeError(name)


def _errors() -> tuple[type[Exception], ...]:
    """Exceptions the CLI turns into one clear message and exit code 1."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    from generator.deploy.errors import DeployError
    from generator.deploy.package import PackageError

    return (PackageError, DeployError, ClientError, BotoCoreError, ResponseParserError)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stdout(message: str) -> None:
    print(message, flush=True)


# --- shared steps -------------------------------------------------------------------

def _env(args: argparse.Namespace):
    from generator.build.config import load_config

    return load_config(Path(args.params_dir) / f"{args.env}.yaml")


def _build(args: argparse.Namespace, echo: Callable[[str], None]) -> None:
    from generator.build.pipeline import build_envs

    if getattr(args, "no_build", False):
        return
    for built in build_envs([Path(args.params_dir) / f"{args.env}.yaml"], Path(args.out)):
        echo(f"built {len(built.templates)} templates for {built.env.environment} into {Path(args.out) / args.env}")


def _endpoint(args: argparse.Namespace, echo: Callable[[str], None]):
    from generator.deploy.session import endpoint

    return endpoint(args.endpoint_url, getattr(args, "local", False), echo)

def _aws(args: argparse.Namespace, env, endpoint_url: str | None):
    from generator.deploy.session import Aws

    timeout = getattr(args, "timeout", 180) * 60
    return Aws(args.region or env.region, profile=args.profile, endpoint_url=endpoint_url, timeout=timeout)


def _package(args: argparse.Namespace, env, aws, echo: Callable[[str], None]):
    from generator.deploy import package

    s3 = aws.client("s3")
    bucket = args.bucket or env.deploy.bucket
    if not bucket:
        bucket = package.default_bucket(env.project, aws.account_id(), aws.region)
        tls_only = not (aws.endpoint_url or "").startswith("http://")
        if package.ensure_bucket(s3, bucket, aws.region, tls_only=tls_only):
            echo(f"created bucket {bucket} for templates (private{', TLS only' if tls_only else ''})")
    prefix = args.prefix if args.prefix is not None else (env.deploy.prefix or f"{env.environment}/")
    packaged = package.package(s3, Path(args.out) / env.environment, bucket, prefix, aws.region)
    echo(f"packaged to s3://{bucket}/{packaged.prefix}: {len(packaged.uploaded)} uploaded, "
         f"{len(packaged.skipped)} already there")
    return packaged


def _not_emulated(args: argparse.Namespace, env, endpoint_url: str | None, echo: Callable[[str], None]) -> None:
    from generator.deploy import local
    from generator.deploy.package import read_build

    if not (getattr(args, "local", False) or (endpoint_url and local.is_moto(endpoint_url))):
        return
    # the catalog's templates are `strata publish`'s to deploy, not this command's
    bodies = {f: b for f, b in read_build(Path(args.out) / env.environment).bodies().items()
              if not b.get("Metadata", {}).get("Strata", {}).get("Catalog")}
    skipped = local.not_emulated(bodies)
    if not skipped:
        return
    count = sum(len(v) for v in skipped.values())
    echo(f"moto does not emulate {count} resource(s) of this build; it reports their stacks complete anyway:")
    for file, resources in skipped.items():
        types = sorted({t for _, t in resources})
        echo(f"  {file}: {', '.join(types)}")


# --- commands -------------------------------------------------------------------------

def cmd_package(args: argparse.Namespace) -> int:
    env = _env(args)
    with _endpoint(args, _stdout) as endpoint_url:
        aws = _aws(args, env, endpoint_url)
        packaged = _package(args, env, aws, _stdout)
    for key in packaged.uploaded:
        print(f"  uploaded {key}")
    print(packaged.root_url)
    return 0


@contextlib.contextmanager
def _packaged(args: argparse.Namespace, echo: Callable[[str], None]):
    """What plan and deploy both start with: build, open the endpoint,
    package, say what moto skips. Yields (env, packaged, Environment)."""
    from generator.deploy import delivery
    from generator.deploy.rollout import Environment

    env = _env(args)
    explicit = _overrides(args)
    _build(args, echo)
    with _endpoint(args, echo) as endpoint_url:
        aws = _aws(args, env, endpoint_url)
        packaged = _package(args, env, aws, echo)
        _not_emulated(args, env, endpoint_url, echo)
        yield env, packaged, Environment(env, aws, echo, delivery.stack_overrides(env, aws, echo, explicit))


def cmd_plan(args: argparse.Namespace) -> int:
    from generator.deploy import plan_report

    document = args.json or args.markdown
    echo = _stderr if document else _stdout
    with _packaged(args, echo) as (env, packaged, environment):
        plans = environment.plan(packaged, Path(args.out) / env.environment, keep=args.keep_change_set)
    if args.json:
        print(plan_report.as_json(env.environment, plans))
    elif args.markdown:
        print(plan_report.markdown(plans), end="")
    else:
        print(plan_report.table(plans))
        if args.keep_change_set:
            for plan in plans:
                if plan.executable:
                    print(f"kept change set {plan.change_set_id} for review")
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    from generator.deploy.errors import DeployError

    values = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise DeployError(f"--parameter {item}: expected NAME=VALUE")
        values[name] = value
    return values


def _approve(args: argparse.Namespace) -> Callable[[Any], bool]:
    from generator.deploy.errors import DeployError

    def approve(plan) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise DeployError("no terminal to ask for approval: review the plan and run again with --yes")
        answer = input(f"Execute these {len(plan.changes)} changes on {plan.stack_name}? Type 'yes' to go on: ")
        return answer.strip() == "yes"

    return approve


def cmd_deploy(args: argparse.Namespace) -> int:
    from generator.deploy import delivery, plan_report

    with _packaged(args, _stdout) as (env, packaged, environment):
        environment.deploy(
            packaged, Path(args.out) / env.environment, approve=_approve(args),
            show=lambda plan: print(plan_report.table([plan]), flush=True), allow_replacement=args.allow_replacement,
        )
        _print_status(environment.status(Path(args.out) / env.environment))
        for note in delivery.after_deploy(env, environment.aws):
            print(note)
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    from generator.deploy.errors import DeployError
    from generator.deploy.rollout import Environment, stack_name

    env = _env(args)
    name = stack_name(env)
    if not args.yes:
        if not sys.stdin.isatty():
            raise DeployError("no terminal to confirm: run again with --yes to destroy " + name)
        if input(f"This deletes {name} and its nested stacks. Type the stack name to confirm: ").strip() != name:
            raise DeployError("not confirmed: nothing was deleted")
    out_dir = Path(args.out) / env.environment
    with _endpoint(args, _stdout) as endpoint_url:
        results = Environment(env, _aws(args, env, endpoint_url), _stdout).destroy(out_dir)
    for stack, status in results:
        print(f"{stack}: {'was not deployed' if status == 'NOT_DEPLOYED' else status}")
    print("resources with DeletionPolicy Retain or Snapshot are kept (buckets, databases, snapshots): "
          "delete them yourself when you no longer need the data")
    return 0


def _print_status(reports) -> None:
    for report in reports:
        if report.status == "NOT_DEPLOYED":
            print(f"{report.stack_name} ({report.region}): not deployed")
            continue
        protection = ", termination protection on" if report.termination_protection else ""
        print(f"{report.stack_name} ({report.region}): {report.status}{protection}, updated {report.updated}")
        if report.reason:
            print(f"  reason: {report.reason}")
        for label, status in report.nested:
            print(f"  nested {label}: {status}")
        if report.outputs:
            width = max(len(k) for k, _, _ in report.outputs)
            print("  outputs:")
            for key, value, _ in report.outputs:
                print(f"    {key:<{width}}  {value}")


def cmd_status(args: argparse.Namespace) -> int:
    from generator.deploy.rollout import Environment

    env = _env(args)
    with _endpoint(args, _stderr if args.json else _stdout) as endpoint_url:
        reports = Environment(env, _aws(args, env, endpoint_url), _stdout).status(Path(args.out) / env.environment)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2, sort_keys=True))
    else:
        _print_status(reports)
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    from generator.deploy import local

    local.serve(args.host, args.port)
    return 0
