"""The deploy-side commands of `strata`: package, plan, deploy, destroy,
status and local. Thin: parse, call `generator.package` / `generator.deploy`,
print. Chatter (uploads, events) goes to stdout, except with --json or
--markdown, where stdout carries only the document and chatter goes to stderr.
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

    from generator.deploy import DeployError
    from generator.package import PackageError

    return (PackageError, DeployError, ClientError, BotoCoreError, ResponseParserError)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _stdout(message: str) -> None:
    print(message, flush=True)


# --- shared steps -------------------------------------------------------------------

def _env(args: argparse.Namespace):
    from generator.config import load_config

    return load_config(Path(args.params_dir) / f"{args.env}.yaml")


def _build(args: argparse.Namespace, echo: Callable[[str], None]) -> None:
    from generator.build import build_envs

    if getattr(args, "no_build", False):
        return
    for built in build_envs([Path(args.params_dir) / f"{args.env}.yaml"], Path(args.out)):
        echo(f"built {len(built.templates)} templates for {built.env.environment} into {Path(args.out) / args.env}")


@contextlib.contextmanager
def _endpoint(args: argparse.Namespace, echo: Callable[[str], None]) -> Iterator[str | None]:
    if not getattr(args, "local", False):
        yield args.endpoint_url
        return
    from generator import local

    with local.server() as url:
        echo(f"--local: a moto server for this command only at {url}; it forgets everything when the command ends")
        yield url


def _aws(args: argparse.Namespace, env, endpoint_url: str | None):
    from generator.deploy import Aws

    timeout = getattr(args, "timeout", 180) * 60
    return Aws(args.region or env.region, profile=args.profile, endpoint_url=endpoint_url, timeout=timeout)


def _package(args: argparse.Namespace, env, aws, echo: Callable[[str], None]):
    from generator import package

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
    from generator import local
    from generator.package import read_build

    if not (getattr(args, "local", False) or (endpoint_url and local.is_moto(endpoint_url))):
        return
    skipped = local.not_emulated(read_build(Path(args.out) / env.environment).bodies())
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
    from generator.deploy import Environment

    env = _env(args)
    _build(args, echo)
    with _endpoint(args, echo) as endpoint_url:
        aws = _aws(args, env, endpoint_url)
        packaged = _package(args, env, aws, echo)
        _not_emulated(args, env, endpoint_url, echo)
        yield env, packaged, Environment(env, aws, echo, _overrides(args))


def cmd_plan(args: argparse.Namespace) -> int:
    from generator import plan_report

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
    from generator.deploy import DeployError

    values = {}
    for item in args.parameter:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise DeployError(f"--parameter {item}: expected NAME=VALUE")
        values[name] = value
    return values


def _approve(args: argparse.Namespace) -> Callable[[Any], bool]:
    from generator.deploy import DeployError

    def approve(plan) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise DeployError("no terminal to ask for approval: review the plan and run again with --yes")
        answer = input(f"Execute these {len(plan.changes)} changes on {plan.stack_name}? Type 'yes' to go on: ")
        return answer.strip() == "yes"

    return approve


def cmd_deploy(args: argparse.Namespace) -> int:
    from generator import plan_report

    with _packaged(args, _stdout) as (env, packaged, environment):
        environment.deploy(
            packaged, Path(args.out) / env.environment, approve=_approve(args),
            show=lambda plan: print(plan_report.table([plan]), flush=True), allow_replacement=args.allow_replacement,
        )
        _print_status(environment.status(Path(args.out) / env.environment))
    return 0


def cmd_destroy(args: argparse.Namespace) -> int:
    from generator.deploy import DeployError, Environment, stack_name

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
    from generator.deploy import Environment

    env = _env(args)
    with _endpoint(args, _stderr if args.json else _stdout) as endpoint_url:
        reports = Environment(env, _aws(args, env, endpoint_url), _stdout).status(Path(args.out) / env.environment)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], indent=2, sort_keys=True))
    else:
        _print_status(reports)
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    from generator import local

    local.serve(args.host, args.port)
    return 0


# --- the parser -------------------------------------------------------------------------

def _common(parser: argparse.ArgumentParser, bucket: bool = False) -> None:
    parser.add_argument("--env", default="dev", help="environment: parameters/<env>.yaml (default: dev)")
    parser.add_argument("--params-dir", default="parameters", help="folder of parameter files (default: parameters)")
    parser.add_argument("--out", default="out", help="build output folder (default: out)")
    parser.add_argument("--profile", help="AWS named profile (default: the standard credential chain)")
    parser.add_argument("--region", help="AWS region (default: the parameter file's region)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--endpoint-url", help="AWS API endpoint, e.g. http://localhost:4566 for `strata local` "
                                              "or LocalStack")
    where.add_argument("--local", action="store_true",
                       help="start a local moto endpoint for this command only (nothing is kept)")
    if bucket:
        parser.add_argument("--bucket", help="S3 bucket for templates (default: deploy.bucket, else "
                                             "<project>-templates-<account>-<region>, created if missing)")
        parser.add_argument("--prefix", help="key prefix in the bucket (default: deploy.prefix, else <env>/)")


def _parameter_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="value for a root or companion stack parameter (e.g. ContainerImageTag=v42); "
                             "others keep their deployed value, or take their default on a first deploy")


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register the deploy-side subcommands on the `strata` parser."""
    package = sub.add_parser("package", help="upload out/<env>/ to S3 under content-addressed keys")
    _common(package, bucket=True)
    package.set_defaults(func=cmd_package)

    plan = sub.add_parser("plan", help="build, package and show what a deploy would change (nested stacks included)")
    _common(plan, bucket=True)
    output = plan.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the plan as JSON")
    output.add_argument("--markdown", action="store_true", help="print the plan as Markdown (pull request comment)")
    plan.add_argument("--keep-change-set", action="store_true", help="keep the change sets for review in the console")
    plan.add_argument("--no-build", action="store_true", help="use out/<env>/ as it is")
    _parameter_option(plan)
    plan.set_defaults(func=cmd_plan)

    deploy = sub.add_parser("deploy", help="plan, ask, execute, and follow the stack events")
    _common(deploy, bucket=True)
    deploy.add_argument("--yes", action="store_true", help="execute without asking")
    deploy.add_argument("--allow-replacement", action="store_true",
                        help="allow replacing or removing stateful resources listed in the plan")
    deploy.add_argument("--no-build", action="store_true", help="use out/<env>/ as it is")
    deploy.add_argument("--timeout", type=int, default=180, help="minutes to follow the deploy (default: 180)")
    _parameter_option(deploy)
    deploy.set_defaults(func=cmd_deploy)

    destroy = sub.add_parser("destroy", help="delete the environment's stacks")
    _common(destroy)
    destroy.add_argument("--yes", action="store_true", help="delete without asking for the stack name")
    destroy.add_argument("--timeout", type=int, default=180, help="minutes to follow the deletion (default: 180)")
    destroy.set_defaults(func=cmd_destroy)

    status = sub.add_parser("status", help="stack status, nested stacks and outputs")
    _common(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=cmd_status)

    local = sub.add_parser("local", help="serve a local AWS endpoint (moto) until stopped")
    local.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    local.add_argument("--port", type=int, default=4566, help="port (default: 4566)")
    local.set_defaults(func=cmd_local)
