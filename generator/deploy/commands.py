"""The deploy-side commands of `strata` (package, plan, diff, deploy,
destroy, status, local), as `generator.cli` registers them: check the
arguments, call `package`, `rollout` and `session`, print through
`generator.deploy.console` (results to stdout; chatter to stdout, or to
stderr with --json or --markdown; --quiet, --verbose, colour).

Exit codes: 0 done (also a declined approval: nothing changed), 1 an
error, 2 a usage error, `plan --detailed-exitcode` 2 when there are
changes, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from generator.deploy.console import Console

CHANGES_EXIT_CODE = 2


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


# --- shared steps -------------------------------------------------------------------

def _param_file(args: argparse.Namespace) -> Path:
    return Path(args.params_dir) / f"{args.env}.yaml"


def _env(args: argparse.Namespace):
    """The parameter file, with `--region` checked against it."""
    from generator.build.config import load_config
    from generator.deploy.arguments import check_region

    env = load_config(_param_file(args))
    args.region = check_region(getattr(args, "region", None), env.region, _param_file(args))
    return env


def _build(args: argparse.Namespace, console: Console) -> None:
    from generator.build.pipeline import build_envs
    from generator.deploy.arguments import check_fresh

    if getattr(args, "no_build", False):
        check_fresh(Path(args.out), args.env, _param_file(args), console.warn)
        return
    for built in build_envs([_param_file(args)], Path(args.out)):
        console.info(f"built {len(built.templates)} templates for {built.env.environment} into "
                     f"{Path(args.out) / args.env}")


def _endpoint(args: argparse.Namespace, console: Console):
    from generator.deploy.session import endpoint

    return endpoint(getattr(args, "endpoint_url", None), getattr(args, "local", False), console.info)


def _aws(args: argparse.Namespace, env, endpoint_url: str | None):
    from generator.deploy.session import Aws

    timeout = getattr(args, "timeout", 180) * 60
    return Aws(args.region or env.region, profile=args.profile, endpoint_url=endpoint_url, timeout=timeout)


def _emulated(args: argparse.Namespace, endpoint_url: str | None) -> bool:
    from generator.deploy import local

    return bool(getattr(args, "local", False) or (endpoint_url and local.is_moto(endpoint_url)))


def _package(args: argparse.Namespace, env, aws, console: Console):
    from generator.deploy import package
    from generator.deploy.errors import aws_errors

    bucket = args.bucket or env.deploy.bucket
    with aws_errors(f"template bucket {bucket or '(default)'} ({aws.region}), packaging"):
        s3 = aws.client("s3")
        if not bucket:
            bucket = package.default_bucket(env.project, aws.account_id(), aws.region)
            tls_only = not (aws.endpoint_url or "").startswith("http://")
            if package.ensure_bucket(s3, bucket, aws.region, tls_only=tls_only):
                console.info(f"created bucket {bucket} for templates (private{', TLS only' if tls_only else ''})")
        prefix = args.prefix if args.prefix is not None else (env.deploy.prefix or f"{env.environment}/")
        packaged = package.package(s3, Path(args.out) / env.environment, bucket, prefix, aws.region)
    console.info(f"packaged to s3://{bucket}/{packaged.prefix}: {len(packaged.uploaded)} uploaded, "
                 f"{len(packaged.skipped)} already there")
    return packaged


def _not_emulated(args: argparse.Namespace, env, console: Console) -> None:
    from generator.deploy import local
    from generator.cfn.resources import is_catalog_template
    from generator.deploy.package import read_build

    # the catalog's templates are `strata publish`'s to deploy, not this command's
    bodies = {f: b for f, b in read_build(Path(args.out) / env.environment).bodies().items()
              if not is_catalog_template(b)}
    skipped = local.not_emulated(bodies)
    if skipped:
        count = sum(len(v) for v in skipped.values())
        console.info(f"moto does not emulate {count} resource(s) of this build; it reports their stacks complete anyway:")
        for file, resources in skipped.items():
            console.info(f"  {file}: {', '.join(sorted({t for _, t in resources}))}")
            for logical_id, resource_type in resources:
                console.detail(f"    {logical_id} ({resource_type})")
    console.info("moto reports no replacements and no nested change sets: the resources inside the layers and "
                 "whether they are replaced (*) are Strata's prediction from the templates; a replacement is "
                 "refused on moto, which cannot do one")


def _local_limits(plan, console: Console) -> None:
    """What moto will not do of this plan: updates of types it cannot update in place."""
    from generator.deploy import local

    kept = [c for c in plan.changes if c.action == "Modify" and c.resource_type != "AWS::CloudFormation::Stack"
            and c.replacement != "True" and not local.updatable(c.resource_type)]
    if kept:
        console.info(f"moto cannot update {len(kept)} of these in place and keeps them as they were "
                     "(AWS would update them):")
        for change in kept:
            console.info(f"  {change.stack}/{change.logical_id} ({change.resource_type})")


@contextlib.contextmanager
def _packaged(args: argparse.Namespace, console: Console):
    """What plan and deploy both start with: build (or check the build),
    open the endpoint, package, say what moto skips. Yields (env, packaged,
    Environment)."""
    from generator.deploy import delivery
    from generator.deploy.arguments import parameters
    from generator.deploy.rollout import Environment

    env = _env(args)
    explicit = parameters(args.parameter)
    _build(args, console)
    with _endpoint(args, console) as endpoint_url:
        aws = _aws(args, env, endpoint_url)
        packaged = _package(args, env, aws, console)
        emulated = _emulated(args, endpoint_url)
        if emulated:
            _not_emulated(args, env, console)
        # the image tag the pipeline deployed survives a stack update (see generator.deploy.delivery)
        overrides = delivery.stack_overrides(env, aws, console.info, explicit)
        yield env, packaged, Environment(env, aws, console.info, overrides, emulated=emulated)


# --- commands -------------------------------------------------------------------------

def cmd_package(args: argparse.Namespace) -> int:
    from generator.deploy.arguments import check_fresh

    console = Console.from_args(args)
    env = _env(args)
    check_fresh(Path(args.out), env.environment, _param_file(args), console.warn)
    with _endpoint(args, console) as endpoint_url:
        packaged = _package(args, env, _aws(args, env, endpoint_url), console)
    for key in packaged.uploaded:
        console.info(f"  uploaded {key}")
    console.result(packaged.root_url)
    return 0


def _print_report(args: argparse.Namespace, console: Console, report: Any, environment: str, items: list,
                  **extra: Any) -> None:
    """A plan or a diff (`report` is plan_report or diff_report) as JSON,
    Markdown or a table; `extra` goes to the report (plan_report takes
    `extra=` sections, e.g. a cost estimate)."""
    if args.json:
        console.result(report.as_json(environment, items, **extra))
    elif args.markdown:
        console.result(report.markdown(items, **extra), end="")
    else:
        console.result(report.table(items, paint=console.paint, **extra))


def cmd_plan(args: argparse.Namespace) -> int:
    from generator.deploy import plan_report

    console = Console.from_args(args, document=args.json or args.markdown)
    with _packaged(args, console) as (env, packaged, environment):
        plans = environment.plan(packaged, Path(args.out) / env.environment, keep=args.keep_change_set)
        costs = _cost_delta(env, environment, args, console)
    _print_report(args, console, plan_report, env.environment, plans, extra=[costs])
    if not (args.json or args.markdown):
        for plan in plans:
            if environment.emulated:
                _local_limits(plan, console)
            if args.keep_change_set and plan.executable:
                console.info(f"kept change set {plan.change_set_id} for review")
    pending = any(plan.changes or plan.deferred for plan in plans)
    return CHANGES_EXIT_CODE if args.detailed_exitcode and pending else 0


def cmd_diff(args: argparse.Namespace) -> int:
    from generator.deploy import diff_report, env_diff
    from generator.deploy.arguments import parameters
    from generator.deploy.rollout import Environment

    console = Console.from_args(args, document=args.json or args.markdown)
    env = _env(args)
    overrides = parameters(args.parameter)
    _build(args, console)
    out_dir = Path(args.out) / env.environment
    if args.offline:
        environment = Environment(env, None, console.info, overrides)  # type: ignore[arg-type]
        diffs = env_diff.diff_environment(environment, out_dir, env_diff.load(Path(args.out), env.environment))
    else:
        with _endpoint(args, console) as endpoint_url:
            environment = Environment(env, _aws(args, env, endpoint_url), console.info, overrides)
            diffs = env_diff.diff_environment(environment, out_dir)
    _print_report(args, console, diff_report, env.environment, diffs)
    return 0


def _cost_delta(env, environment, args: argparse.Namespace, console: Console):
    """The monthly cost change per layer, deployed stacks -> this build
    (generator.deploy.cost_delta), as a section of the plan report."""
    from generator.deploy import cost_delta, plan_report

    lines = cost_delta.lines(environment, Path(args.out) / env.environment, warn=console.warn)
    return plan_report.Section("Monthly cost", tuple(lines))


def _approve(args: argparse.Namespace) -> Callable[[Any], bool]:
    from generator.deploy.errors import DeployError

    def approve(plan) -> bool:
        if args.yes:
            return True
        if not sys.stdin.isatty():
            raise DeployError("no terminal to ask for approval: review the plan and run again with --yes")
        answer = input(f"Execute these {len(plan.changes)} changes on {plan.stack_name}? [y/N] ")
        return answer.strip().lower() in ("y", "yes")

    return approve


def cmd_deploy(args: argparse.Namespace) -> int:
    from generator.deploy import delivery, env_diff, plan_report
    from generator.deploy.errors import Declined

    console = Console.from_args(args)

    def show(plan) -> None:
        console.result(plan_report.table([plan], paint=console.paint))
        if environment.emulated:
            _local_limits(plan, console)

    with _packaged(args, console) as (env, packaged, environment):
        out_dir = Path(args.out) / env.environment
        for line in _cost_delta(env, environment, args, console).lines:
            console.info(line)
        try:
            environment.deploy(packaged, out_dir, approve=_approve(args), show=show,
                               allow_replacement=args.allow_replacement)
        except Declined as declined:
            console.result(str(declined))
            return 0
        env_diff.record(environment, Path(args.out))
        _print_status(environment.status(out_dir), console)
        for note in delivery.after_deploy(env, environment.aws):
            console.info(note)
    return 0


def _confirmed(args: argparse.Namespace, name: str) -> bool:
    from generator.deploy.errors import DeployError

    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise DeployError(f"no terminal to confirm: run again with --yes to destroy {name}")
    answer = input(f"This deletes {name} and its nested stacks. Type the environment ({args.env}) or the stack "
                   "name to confirm: ").strip()
    return answer in (args.env, name)


def cmd_destroy(args: argparse.Namespace) -> int:
    from generator.deploy.errors import Interrupted
    from generator.deploy.rollout import Environment, stack_name

    console = Console.from_args(args)
    env = _env(args)
    name = stack_name(env)
    out_dir = Path(args.out) / env.environment
    with _endpoint(args, console) as endpoint_url:
        environment = Environment(env, _aws(args, env, endpoint_url), console.info)
        kept = environment.retained(out_dir)
        for stack, label, resource_type, physical, policy in kept:
            console.detail(f"will keep {stack}/{label} ({resource_type}) {physical}: DeletionPolicy {policy}")
        try:
            confirmed = _confirmed(args, name)
        except EOFError:
            confirmed = False
        except KeyboardInterrupt:
            raise Interrupted("interrupted at the confirmation prompt: nothing was deleted") from None
        if not confirmed:
            console.result("not confirmed: nothing was deleted")
            return 0
        results = environment.destroy(out_dir)
    for stack, status in results:
        console.result(f"{stack}: {'was not deployed' if status == 'NOT_DEPLOYED' else status}")
    if kept:
        console.result(f"kept {len(kept)} resource(s) that hold data (their DeletionPolicy); delete them yourself "
                       "when you no longer need them:")
        for stack, label, resource_type, physical, policy in kept:
            note = "a final snapshot was taken" if policy == "Snapshot" else "kept"
            console.result(f"  {stack}/{label} ({resource_type}) {physical or '(no id)'}: {policy}, {note}")
    return 0


def _print_status(reports, console: Console) -> None:
    for report in reports:
        if report.status == "NOT_DEPLOYED":
            console.result(f"{report.stack_name} ({report.region}): not deployed")
            continue
        protection = ", termination protection on" if report.termination_protection else ""
        console.result(f"{report.stack_name} ({report.region}): {report.status}{protection}, updated {report.updated}")
        if report.reason:
            console.result(f"  reason: {report.reason}")
        for label, status in report.nested:
            console.result(f"  nested {label}: {status}")
        if report.outputs:
            width = max(len(k) for k, _, _ in report.outputs)
            console.result("  outputs:")
            for key, value, _ in report.outputs:
                console.result(f"    {key:<{width}}  {value}")


def cmd_status(args: argparse.Namespace) -> int:
    from generator.deploy.rollout import Environment

    console = Console.from_args(args, document=args.json)
    env = _env(args)
    with _endpoint(args, console) as endpoint_url:
        reports = Environment(env, _aws(args, env, endpoint_url), console.info).status(Path(args.out) / env.environment)
    if args.json:
        console.result(json.dumps([r.to_dict() for r in reports], indent=2, sort_keys=True))
    else:
        _print_status(reports, console)
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    from generator.deploy import local

    local.check_port(args.host, args.port)
    local.serve(args.host, args.port)
    return 0
