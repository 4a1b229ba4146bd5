"""`strata`: the command line. Thin: parse, call, print.

Exit codes: 0 success, 1 bad input or a failed build/lint/deploy (one clear
message on stderr), 2 bad command-line usage (argparse).
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from generator import __version__


def _failures() -> tuple[type[Exception], ...]:
    from generator.build.commands import failures
    from generator.deploy.commands import ERRORS

    return (*failures(), *ERRORS)


# Commands that change or publish something need the environment named
# explicitly: a default would let `strata deploy` hit dev (or prod) by accident.
ENV_REQUIRED = frozenset({"deploy", "destroy", "publish"})


def _command(sub: argparse._SubParsersAction, name: str, summary: str, description: str,
             examples: list[str]) -> argparse.ArgumentParser:
    """A subcommand with its description and examples in `--help`, and the output options."""
    command = sub.add_parser(
        name, help=summary, description=f"{summary[0].upper()}{summary[1:]}.\n\n{textwrap.fill(description, 79)}",
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _output_options(command, default=argparse.SUPPRESS)
    return command


def _output_options(parser: argparse.ArgumentParser, default: object = False) -> None:
    """--quiet, --verbose, --no-color: before the command or after it, as the AWS CLI takes them."""
    group = parser.add_argument_group("output")
    noise = group.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="print only results and errors (no progress, no notes)")
    noise.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="print details too (skipped files, every resource moto skips, ...)")
    group.add_argument("--no-color", action="store_true", default=default,
                       help="no colour (colour is used on a terminal only, and never when NO_COLOR is set)")


def env_option(parser: argparse.ArgumentParser | argparse._ActionsContainer, command: str) -> None:
    """--env, required for the commands in ENV_REQUIRED, `dev` by default for the others."""
    if command in ENV_REQUIRED:
        parser.add_argument("--env", required=True, help="environment: parameters/<env>.yaml (required)")
    else:
        parser.add_argument("--env", default="dev", help="environment: parameters/<env>.yaml (default: dev)")


def _folders(parser: argparse.ArgumentParser) -> None:
    """--params-dir and --out, the two folders every environment command reads or writes."""
    parser.add_argument("--params-dir", default="parameters", help="folder of parameter files (default: parameters)")
    parser.add_argument("--out", default="out", help="build output folder (default: out)")


def _common(parser: argparse.ArgumentParser, bucket: bool = False) -> None:
    """The options every deploy-side command shares (--env is required for
    the commands in ENV_REQUIRED, read from the parser's name)."""
    from generator.deploy.arguments import endpoint_url

    env_option(parser, parser.prog.split()[-1])
    _folders(parser)
    parser.add_argument("--profile", help="AWS named profile (default: the standard credential chain)")
    parser.add_argument("--region", help="AWS region; must be the parameter file's (the default)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--endpoint-url", type=endpoint_url, metavar="URL",
                       help="AWS API endpoint, e.g. http://localhost:4566 for `strata local` or LocalStack")
    where.add_argument("--local", action="store_true",
                       help="start a local moto endpoint for this command only (nothing is kept)")
    if bucket:
        parser.add_argument("--bucket", help="S3 bucket for templates (default: deploy.bucket, else "
                                             "<project>-templates-<account>-<region>, created if missing)")
        parser.add_argument("--prefix", help="key prefix in the bucket (default: deploy.prefix, else <env>/)")


def _inputs(parser: argparse.ArgumentParser) -> None:
    """What plan, diff and deploy compare: the build (or out/<env>/ as it is) and parameter values."""
    parser.add_argument("--no-build", action="store_true", help="use out/<env>/ as it is (refused when out of date)")
    parser.add_argument("--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="value for a root or companion stack parameter (e.g. ContainerImageTag=v42); "
                             "others keep their deployed value, or take their default on a first deploy")


def _document_options(parser: argparse.ArgumentParser) -> None:
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print it as JSON")
    output.add_argument("--markdown", action="store_true", help="print it as Markdown (a pull request comment)")


def _deploy_commands(sub: argparse._SubParsersAction) -> None:
    """The deploy-side subcommands; their handlers live in generator/deploy/commands.py."""
    from generator.deploy import commands

    package = _command(sub, "package", "upload out/<env>/ to S3 under content-addressed keys",
                       "Uploads the built templates and Lambda zips (skipping objects already there) and prints "
                       "the root template's URL, for the console or Service Catalog. Refuses an out/<env>/ "
                       "older than its parameter file or Strata's sources.",
                       ["strata package --env dev", "strata package --env prod --bucket my-templates --prefix prod/"])
    _common(package, bucket=True)
    package.set_defaults(func=commands.cmd_package)

    plan = _command(sub, "plan", "build, package and show what a deploy would change (nested stacks included)",
                    "Creates a change set with nested stacks, lists every change with its property-level lines, "
                    "and the stateful resources and the resources data stores depend on that would be replaced "
                    "or removed, in sections of their own; then deletes the change set.",
                    ["strata plan --env dev", "strata plan --env prod --markdown > plan.md",
                     "strata plan --env prod --detailed-exitcode  # 0 no changes, 2 changes, 1 error"])
    _common(plan, bucket=True)
    _document_options(plan)
    plan.add_argument("--detailed-exitcode", action="store_true",
                      help="exit 2 when there are changes, 0 when there are none, 1 on an error (as Terraform)")
    plan.add_argument("--keep-change-set", action="store_true", help="keep the change sets for review in the console")
    _inputs(plan)
    plan.set_defaults(func=commands.cmd_plan)

    diff = _command(sub, "diff", "compare the build with what is deployed, property by property, per layer",
                    "Reads the deployed templates (GetTemplate of the root and every nested stack), or with "
                    "--offline the snapshot of the last deploy from this machine, and compares them with the "
                    "build. Replacements are predicted from CloudFormation's rules per property (the resource "
                    "schemas cfn-lint ships), also through references and the root's wiring: a new VPC CIDR "
                    "replaces the VPC, its subnets and every security group in it. No change set is made.",
                    ["strata diff --env dev", "strata diff --env prod --offline --markdown"])
    _common(diff)
    _document_options(diff)
    diff.add_argument("--offline", action="store_true",
                      help="compare with the last deploy's snapshot (out/.deployed/<env>.json); no AWS call")
    _inputs(diff)
    diff.set_defaults(func=commands.cmd_diff)

    deploy = _command(sub, "deploy", "plan, ask, execute, and follow the stack events",
                      "Shows the plan of each stack, asks (y/yes to go on; anything else changes nothing), "
                      "executes the change set and follows the events of every nested stack. Replacing or "
                      "removing a stateful resource, or replacing what a data store depends on, is refused "
                      "without --allow-replacement. Ctrl-C while it runs leaves CloudFormation going on.",
                      ["strata deploy --env dev", "strata deploy --env dev --local --yes",
                       "strata deploy --env prod --parameter ContainerImageTag=v42"])
    _common(deploy, bucket=True)
    deploy.add_argument("--yes", action="store_true", help="execute without asking")
    deploy.add_argument("--allow-replacement", action="store_true",
                        help="allow replacing or removing the stateful resources (and what they depend on) the "
                             "plan lists")
    deploy.add_argument("--timeout", type=int, default=180, help="minutes to follow the deploy (default: 180)")
    _inputs(deploy)
    deploy.set_defaults(func=commands.cmd_deploy)

    destroy = _command(sub, "destroy", "delete the environment's stacks",
                       "Deletes the root stack (and so every nested stack), then the companion stacks, and "
                       "lists what their DeletionPolicy kept (buckets, file systems, final database snapshots). "
                       "Asks for the environment or the stack name to be typed, unless --yes.",
                       ["strata destroy --env dev", "strata destroy --env dev --endpoint-url http://localhost:4566 --yes"])
    _common(destroy)
    destroy.add_argument("--yes", action="store_true", help="delete without asking")
    destroy.add_argument("--timeout", type=int, default=180, help="minutes to follow the deletion (default: 180)")
    destroy.set_defaults(func=commands.cmd_destroy)

    status = _command(sub, "status", "stack status, nested stacks and outputs",
                      "Prints each of the environment's stacks with its status, its nested stacks and its "
                      "outputs (secret-looking ones masked).",
                      ["strata status --env dev", "strata status --env prod --json"])
    _common(status)
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    status.set_defaults(func=commands.cmd_status)

    _catalog_commands(sub)

    local = _command(sub, "local", "serve a local AWS endpoint (moto) until stopped",
                     "Serves moto with Strata's compatibility layer in the foreground; everything is in memory "
                     "and gone when it stops (Ctrl-C). A port already in use is refused at once.",
                     ["strata local", "strata local --port 4567"])
    local.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    local.add_argument("--port", type=int, default=4566, help="port (default: 4566)")
    local.set_defaults(func=commands.cmd_local)


def _stackset_target(value: str) -> str:
    from generator.deploy.stackset import check_target

    try:
        return check_target(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _catalog_commands(sub: argparse._SubParsersAction) -> None:
    """`publish` and `catalog`; their handlers live in generator/deploy/catalog_commands.py."""
    from generator.deploy import catalog_commands

    publish = _command(sub, "publish", "publish the catalog: new product versions, the launch role and the "
                                       "portfolio stack, deprecations and Organizations shares",
                       "Builds and packages the environment, records a new version of every product whose template "
                       "bytes changed in catalog/<env>.versions.json, deploys the launch-role and catalog stacks "
                       "through change sets (plan shown, approval asked), then applies deprecations and "
                       "Organizations shares. The history file is put back when the publish is declined or fails.",
                       ["strata publish --env prod", "strata publish --env prod --bump minor --yes",
                        "strata publish --env prod --local --yes"])
    _common(publish, bucket=True)
    publish.add_argument("--bump", choices=("patch", "minor", "major"), default="patch",
                         help="how a changed product's version name grows (default: patch)")
    publish.add_argument("--launch-role-stackset", metavar="OU_ID", type=_stackset_target,
                         help="also roll the launch role out to every account of this OU (or root r-...) with a "
                              "service-managed StackSet")
    publish.add_argument("--yes", action="store_true", help="execute without asking")
    publish.add_argument("--no-build", action="store_true", help="use out/<env>/ as it is (rebuilt anyway when a "
                                                                 "new version is recorded)")
    publish.add_argument("--timeout", type=int, default=180, help="minutes to follow each stack (default: 180)")
    publish.set_defaults(func=catalog_commands.cmd_publish)

    catalog = _command(sub, "catalog", "the published catalog: products, versions, deprecations, shares",
                       "Lists what the catalog stack of the environment holds: each product's id, current version, "
                       "the versions kept and the deprecated ones, and the portfolio's shares.",
                       ["strata catalog --env prod", "strata catalog --env prod --json"])
    _common(catalog)
    catalog.add_argument("--json", action="store_true", help="print it as JSON")
    catalog.set_defaults(func=catalog_commands.cmd_catalog)


def _analysis_commands(sub: argparse._SubParsersAction, build_commands) -> None:
    """`cost`, `diagram` and `check`: what a build also writes, for one environment, on demand."""
    def environment(command: argparse.ArgumentParser) -> None:
        env_option(command, command.prog.split()[-1])
        _folders(command)

    cost = _command(sub, "cost", "the monthly cost estimate per layer, from the templates",
                    "Prices every billable resource of the environment's templates with the price tables in "
                    "generator/build/prices/ (each price with its unit, page and date) and the usage assumptions of "
                    "the parameter file's cost section; a type with no price is listed as not priced. Also shows "
                    "what another network.nat mode would change. Every build writes the same to cost.json and cost.md.",
                    ["strata cost --env dev", "strata cost --env prod --json"])
    environment(cost)
    cost.add_argument("--json", action="store_true", help="print cost.json instead of the table")
    cost.set_defaults(func=build_commands.cmd_cost)

    diagram = _command(sub, "diagram", "draw the architecture from the templates",
                       "Draws region, VPC, AZs with their subnets, gateways, endpoints, load balancer, instances, "
                       "Fargate service, database, cache, CDN, functions, queues, topics and the pipeline, with the "
                       "traffic paths, from the generated templates (Graphviz layout). Every build writes "
                       "architecture.svg and architecture.dot.",
                       ["strata diagram --env prod", "strata diagram --env dev --format png --output dev.png"])
    environment(diagram)
    diagram.add_argument("--format", choices=("svg", "png", "dot"), default="svg", help="output format (default: svg)")
    diagram.add_argument("--output", help="file to write (default: out/<env>/architecture.<format>)")
    diagram.set_defaults(func=build_commands.cmd_diagram)

    check = _command(sub, "check", "Strata's architecture rules and AWS's Guard rules",
                     "Runs the rules that span resources and layers (E9005 onwards, on every template and on the "
                     "environment as a whole) and the vendored AWS Guard rules on the environment's templates; every "
                     "build runs them in its lint gate too.",
                     ["strata check --env prod"])
    environment(check)
    check.set_defaults(func=build_commands.cmd_check)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="strata", description="Parameter files in, linted nested CloudFormation out.",
                                  epilog="run `strata COMMAND --help` for a command's options and examples")
    top.add_argument("--version", action="version", version=f"strata {__version__}")
    _output_options(top)
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    from generator.build import commands as build_commands

    build = _command(sub, "build", "build, lint and write out/<env>/",
                     "Loads and validates the parameter file, builds every enabled layer and the root, lints them "
                     "all (cfn-lint and Strata's checks) and writes out/<env>/ atomically: nothing is written on "
                     "any error or warning. Nothing is done when no input changed since the last build.",
                     ["strata build --env dev", "strata build --all", "strata build --env prod --no-cache",
                      "strata build --env dev --quiet  # the result line and errors only"])
    which = build.add_mutually_exclusive_group()
    env_option(which, "build")
    which.add_argument("--all", action="store_true", help="every file in the parameters folder")
    _folders(build)
    build.add_argument("--no-cache", action="store_true", help="build and lint everything even when nothing changed")
    build.set_defaults(func=build_commands.cmd_build)

    lint = _command(sub, "lint", "lint existing templates with cfn-lint and Strata's checks",
                    "Takes template files, folders and globs; skips manifest.json and anything that is not a "
                    "CloudFormation template. Each template is linted for the region in its Metadata.Strata.Region, "
                    "else its environment's (the parameter file named by the manifest.json next to it), else "
                    "us-east-1; --region overrides them all.",
                    ["strata lint out/dev", "strata lint 'out/*/network.json'",
                     "strata lint template.yaml --region eu-west-1"])
    lint.add_argument("paths", nargs="+", metavar="PATH", help="template file, folder or glob")
    lint.add_argument("--region", help="lint every template for this region")
    lint.add_argument("--params-dir", default="parameters",
                      help="folder of parameter files, for the environment's region (default: parameters)")
    lint.set_defaults(func=build_commands.cmd_lint)

    layers = _command(sub, "layers", "list the layers",
                      "Prints every layer Strata can build, with what it builds in one line; a layer is built "
                      "when its section in the parameter file has enabled: true.", ["strata layers"])
    layers.set_defaults(func=build_commands.cmd_layers)

    _analysis_commands(sub, build_commands)

    _deploy_commands(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:
        # `strata plan | head`: the reader left; say nothing more, as a closed
        # pipe stops other command-line tools
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(f"strata {args.command}: interrupted", file=sys.stderr)
        return 130
    except _failures() as exc:
        from generator.deploy.errors import Interrupted

        if isinstance(exc, Interrupted):
            print(f"strata {args.command}: {exc}", file=sys.stderr)
            return 130
        print(f"strata {args.command}: failed\n{_message(exc)}", file=sys.stderr)
        if getattr(args, "verbose", False) and exc.__cause__ is not None:
            print(f"  caused by {type(exc.__cause__).__name__}: {exc.__cause__}", file=sys.stderr)
        return 1


def _message(exc: Exception) -> str:
    """botocore's errors that got this far (outside any stack) still say what to do."""
    from generator.deploy.errors import DeployError

    if isinstance(exc, DeployError) or type(exc).__module__.startswith("generator"):
        return str(exc)
    from generator.deploy.errors import explain

    return explain(exc, "AWS")
