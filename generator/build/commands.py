"""The build-side commands of `strata` (build, lint, layers, cost, diagram,
check), as `generator.cli` registers them: parse nothing, call the build,
print. Imports stay inside the handlers, so `strata build` of an
up-to-date environment pays for nothing but its fingerprint."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path


def failures() -> tuple[type[Exception], ...]:
    """The build side's exceptions that carry a message for the user (exit 1)."""
    from generator.build.compose import ComposeError
    from generator.build.config import ConfigError
    from generator.build.pipeline import BuildError
    from generator.cfn.cidr import CidrPlanError

    return (ConfigError, ComposeError, BuildError, CidrPlanError)


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
    except (KeyboardInterrupt, BrokenPipeError, *failures()):
        raise  # the command line's own answers (interrupted, reader gone, a message)
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
        from templates import network, pipeline

        builds = build_envs(files, out, use_cache=not args.no_cache, service=service)
    from generator.build import cost

    for b in builds:
        timings = ", ".join(f"{k} {v:.2f}s" for k, v in b.timings.items())
        print(f"{b.env.environment}: wrote {len(b.templates)} templates and {len(b.artifacts)} artifacts "
              f"to {Path(args.out) / b.env.environment} ({timings})")
        for warning in b.warnings:
            print(f"  warning: {warning}")
        if getattr(args, "verbose", False):
            for name, data in sorted(b.files().items()):
                print(f"  {name} ({len(data):,} bytes)")
        if getattr(args, "quiet", False):
            continue  # the result line, warnings and errors only
        for note in cost.summary(b.cost):
            print(f"  cost: {note}")
        if b.env.network.enabled:
            print(f"  finding: {network.DEFAULT_SECURITY_GROUP_NOTE}")
        if b.env.pipeline.enabled:
            for note in pipeline.build_notes(b.env):
                print(f"  note: {note}")
    return 0


def _rendered(args: argparse.Namespace):
    """The environment rendered in memory (nothing written, nothing linted)."""
    from generator.build.config import load_config
    from generator.build.pipeline import render_env

    return render_env(load_config(Path(args.params_dir) / f"{args.env}.yaml"))


def cmd_cost(args: argparse.Namespace) -> int:
    from generator.build import cost

    built = _rendered(args)
    document = cost.for_build(built.env, built.bodies).to_dict()
    print(json.dumps(document, indent=2, sort_keys=True) if args.json else cost.table(document))
    return 0


def cmd_diagram(args: argparse.Namespace) -> int:
    from generator.build import diagram
    from generator.build.pipeline import BuildError

    built = _rendered(args)
    dot = diagram.to_dot(diagram.from_view(built.view, built.env.region),
                         f"{built.env.project} {built.env.environment} ({built.env.region})")
    target = Path(args.output or Path(args.out) / built.env.environment / f"architecture.{args.format}")
    data = dot.encode() if args.format == "dot" else diagram.render(dot, args.format)
    if data is None:
        raise BuildError([f"{diagram.RENDERER} not found: install it (pip install graphviz-pure) or use --format dot"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    print(f"wrote {target}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from generator.build.checks import rule_table
    from generator.build.lint import Linter, resource_line
    from generator.build import guard
    from generator.build.pipeline import BuildError
    from generator.build.reports import environment_job, from_environment

    built = _rendered(args)
    linter = Linter(built.env.region)
    findings = [f for t in built.templates for f in linter.check(f"{built.env.environment}/{t.file}", t.text)]
    name, text, _, _ = environment_job(built)
    findings += [from_environment(built, f) for f in linter.check(name, text)]
    findings += [f"{built.env.environment}/{g.template}:{resource_line(t.text, g.resource)} {g.rule} {g.resource}: {g.message}"
                 for t in built.templates for g in guard.check_template(t.file, t.body)]
    unique = sorted({str(f) for f in findings})
    if unique:
        raise BuildError([f"check: {f}" for f in unique])
    print(f"{built.env.environment}: {len(built.templates)} templates pass Strata's architecture rules "
          f"({', '.join(rule_table())}) and {len(guard.rules())} AWS Guard rules")
    return 0


def cmd_lint(args: argparse.Namespace) -> int:
    from generator.build.lint import lint_templates
    from generator.build.awsdata import unknown_region
    from generator.build.lint_files import LintPathError, targets
    from generator.build.pipeline import BuildError

    if args.region and (problem := unknown_region(args.region)):
        raise BuildError([problem])
    try:
        found, skipped = targets(args.paths, args.region, Path(args.params_dir))
    except LintPathError as exc:
        raise BuildError([str(exc)]) from None
    quiet, verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
    if verbose:
        for path in skipped:
            print(f"skipped {path} (not a CloudFormation template)")
        for target in found:
            print(f"{target.path}: {target.region} ({target.why})")
    findings = lint_templates([(str(t.path), t.text, t.region) for t in found])
    if findings:
        raise BuildError([f"lint: {finding}" for finding in findings])
    if not quiet:
        regions = ", ".join(sorted({t.region for t in found}))
        print(f"{len(found)} template(s) passed cfn-lint and Strata's checks ({regions})")
    return 0


def cmd_layers(args: argparse.Namespace) -> int:
    from templates import all_layers

    layers = all_layers()
    width = max(len(layer.NAME) for layer in layers)
    for layer in layers:
        print(f"{layer.NAME:<{width}}  {layer.DESCRIPTION}")
    return 0
