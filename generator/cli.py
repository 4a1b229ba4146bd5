"""`strata`: the command line. Thin: parse, call, print.

Exit codes: 0 success, 1 bad input or a failed build/lint/deploy (one clear
message on stderr), 2 bad command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator import __version__

def _failures() -> tuple[type[Exception], ...]:
    from generator.build import BuildError
    from generator.cidr import CidrPlanError
    from generator.compose import ComposeError
    from generator.config import ConfigError
    from generator.deploy_cli import ERRORS

    return (ConfigError, ComposeError, BuildError, CidrPlanError, *ERRORS)


def _param_files(args: argparse.Namespace) -> list[Path]:
    from generator import env_files

    params_dir = Path(args.params_dir)
    if args.all:
        files = env_files(params_dir)
        if not files:
            from generator.config import ConfigError

            raise ConfigError([f"{params_dir}: no parameter files (*.yaml) found"])
        return files
    return [params_dir / f"{args.env}.yaml"]


def cmd_build(args: argparse.Namespace) -> int:
    from generator import uptodate

    files, out = _param_files(args), Path(args.out)
    if not args.no_cache and all(uptodate.is_up_to_date(out, f.stem, f) for f in files):
        for f in files:
            print(f"{f.stem}: {out / f.stem} is up to date (no input changed since the last build)")
        return 0

    from generator.lint import LintService

    with LintService(files) as service:  # cfn-lint starts up while the build below imports and generates
        from generator.build import build_envs
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
    from generator.build import BuildError
    from generator.lint import lint_templates

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

    from generator import deploy_cli

    deploy_cli.add_commands(sub)
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
