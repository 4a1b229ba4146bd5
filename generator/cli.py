"""`strata`: the command line. Thin: parse, call, print.

Exit codes: 0 success, 1 bad input or a failed build/lint/deploy (one clear
message on stderr), 2 bad command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from generator import __version__


def _failures() -> tuple[type[Exception], ...]:
    from generator.build.compose import ComposeError
    from generator.build.config import ConfigError
    from generator.build.pipeline import BuildError
    from generator.cfn.cidr import CidrPlanError
    from generator.deploy.commands import ERRORS

    return (ConfigError, ComposeError, BuildError, CidrPlanError, *ERRORS)


ENV_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")


def _param_files(args: argparse.Namespace) -> list[Path]:
    from generator import env_files

    params_dir = Path(args.params_dir)
    if params_dir.exists() and not params_dir.is_dir():
        raise _input_error([f"--params-dir {params_dir}: is a file, not a folder of parameter files"])
    if args.all:
        files = env_files(params_dir)
        if not files:
            others = sorted(p.name for p in params_dir.glob("*.yml")) if params_dir.is_dir() else []
            hint = f" ({', '.join(others)}: Strata reads .yaml files, rename them)" if others else ""
            raise _input_error([f"{params_dir}: no parameter files (*.yaml) found{hint}"])
        return files
    if not ENV_NAME.fullmatch(args.env):
        raise _input_error([f"--env {args.env}: must be an environment name like dev (lower-case letters, digits, "
                            "hyphens), read from <params-dir>/<env>.yaml"])
    return [params_dir / f"{args.env}.yaml"]


def _input_error(messages: list[str]) -> Exception:
    from generator.build.config import ConfigError

    return ConfigError(messages)


def _build_inputs(args: argparse.Namespace) -> tuple[list[Path], Path]:
    """The parameter files and `--out`, checked before anything is built or
    linted (standard library and PyYAML only: the up-to-date check follows)."""
    from generator.build import output, source

    files, out = _param_files(args), Path(args.out)
    problems = []
    for file in files:
        try:
            source.check_path(file)
        except source.SourceError as exc:
            problems.append(f"{file}: {exc.message}")
    problems += output.out_root_problems(out, [f.stem for f in files])
    if problems:
        raise _input_error(problems)
    return files, out


def cmd_build(args: argparse.Namespace) -> int:
    if hasattr(sys.stderr, "reconfigure"):
        # A message quotes what the file holds; a terminal that cannot show a character gets an escape.
        sys.stderr.reconfigure(errors="backslashreplace")
    try:
        return _build(args)
    except (KeyboardInterrupt, *_failures()):
        raise
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if os.environ.get("STRATA_DEBUG"):
            raise
        raise _input_error([
            f"internal error while building {args.env if not args.all else 'every environment'}: "
            f"{type(exc).__name__}: {str(exc)[:300]} (a bug in Strata: please report it with the parameter file; "
            "STRATA_DEBUG=1 shows the traceback)"
        ]) from None


def _build(args: argparse.Namespace) -> int:
    from generator.build import uptodate

    files, out = _build_inputs(args)
    if not args.no_cache and all(uptodate.is_up_to_date(out, f.stem, f) for f in files):
        for f in files:
            print(f"{f.stem}: {out / f.stem} is up to date (no input changed since the last build)")
        return 0

    from generator.build.lint import LintService

    with LintService(files) as service:  # cfn-lint starts up while the build below imports and generates
        from generator.build.pipeline import build_envs
        from templates import network

        builds = build_envs(files, out, use_cache=not args.no_cache, service=service)
    for b in builds:
        timings = ", ".join(f"{k} {v:.2f}s" for k, v in b.timings.items())
        print(f"{b.env.environment}: wrote {len(b.templates)} templates and {len(b.artifacts)} artifacts "
              f"to {Path(args.out) / b.env.environment} ({timings})")
        for warning in b.warnings:
            print(f"  warning: {warning}")
        if b.env.network.enabled:
            for note in network.monthly_cost_notes(b.env.network):
                print(f"  cost: {note}")
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    from generator.build.pipeline import BuildError
    from generator.build.lint import lint_templates

    jobs = []
    for name in args.paths:
        path = Path(name)
        if not path.is_file():
            raise BuildError([f"{path}: no such template file"])
        jobs.append((str(path), path.read_text(encoding="utf-8"), args.region))
    findings = lint_templates(jobs)
    if findings:
        raise BuildError([f"lint: {finding}" for finding in findings])
    print(f"{len(jobs)} template(s) passed cfn-lint and Strata's checks ({args.region})")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from templates import all_layers

    layers = all_layers()
    width = max(len(layer.NAME) for layer in layers)
    for layer in layers:
        print(f"{layer.NAME:<{width}}  {layer.DESCRIPTION}")
    return 0


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


def _deploy_commands(sub: argparse._SubParsersAction) -> None:
    """The deploy-side subcommands; their handlers live in generator/deploy/commands.py."""
    from generator.deploy import commands
    package = sub.add_parser("package", help="upload out/<env>/ to S3 under content-addressed keys")
    _common(package, bucket=True)
    package.set_defaults(func=commands.cmd_package)

    plan = sub.add_parser("plan", help="build, package and show what a deploy would change (nested stacks included)")
    _common(plan, bucket=True)
    output = plan.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the plan as JSON")
    output.add_argument("--markdown", action="store_true", help="print the plan as Markdown (pull request comment)")
    plan.add_argument("--keep-change-set", action="store_true", help="keep the change sets for review in the console")
    plan.add_argument("--no-build", action="store_true", help="use out/<env>/ as it is")
    _parameter_option(plan)
    plan.set_defaults(func=commands.cmd_plan)

    deploy = sub.add_parser("deploy", help="plan, ask, execute, and follow the stack events")
    _common(deploy, bucket=True)
    deploy.add_argument("--yes", action="store_true", help="execute without asking")
    deploy.add_argument("--allow-replacement", action="store_true",
                        help="allow replacing or removing stateful resources listed in the plan")
    deploy.add_argument("--no-build", action="store_true", help="use out/<env>/ as it is")
    deploy.add_argument("--timeout", type=int, default=180, help="minutes to follow the deploy (default: 180)")
    _parameter_option(deploy)
    deploy.set_defaults(func=commands.cmd_deploy)

    destroy = sub.add_parser("destroy", help="delete the environment's stacks")
    _common(destroy)
    destroy.add_argument("--yes", action="store_true", help="delete without asking for the stack name")
    destroy.add_argument("--timeout", type=int, default=180, help="minutes to follow the deletion (default: 180)")
    destroy.set_defaults(func=commands.cmd_destroy)

    status = sub.add_parser("status", help="stack status, nested stacks and outputs")
    _common(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=commands.cmd_status)

    local = sub.add_parser("local", help="serve a local AWS endpoint (moto) until stopped")
    local.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    local.add_argument("--port", type=int, default=4566, help="port (default: 4566)")
    local.set_defaults(func=commands.cmd_local)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="strata", description="Parameter files in, linted nested CloudFormation out.")
    top.add_argument("--version", action="version", version=f"strata {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser("build", help="build, lint and write out/<env>/")
    which = build.add_mutually_exclusive_group()
    which.add_argument("--env", default="dev", help="environment: parameters/<env>.yaml (default: dev)")
    which.add_argument("--all", action="store_true", help="every file in the parameters folder")
    build.add_argument("--params-dir", default="parameters", help="folder of parameter files (default: parameters)")
    build.add_argument("--out", default="out", help="output folder (default: out)")
    build.add_argument("--no-cache", action="store_true", help="build and lint everything even when nothing changed")
    build.set_defaults(func=cmd_build)

    lint = sub.add_parser("lint", help="lint existing templates with cfn-lint and Strata's checks")
    lint.add_argument("paths", nargs="+", metavar="PATH")
    lint.add_argument("--region", default="us-east-1", help="region to lint for (default: us-east-1)")
    lint.set_defaults(func=cmd_lint)

    layers = sub.add_parser("layers", help="list the layers")
    layers.set_defaults(func=cmd_layers)

    _deploy_commands(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except _failures() as exc:
        print(f"strata {args.command}: failed\n{exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
