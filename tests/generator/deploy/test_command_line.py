"""The deploy-side command line behaves like the AWS CLI: required --env
where it matters, exit codes CI can read, arguments checked before any AWS
call with one message that says what to do, prompts that take y/yes,
--help with examples, --quiet/--verbose/--no-color, no traceback for a
closed pipe or Ctrl-C. Against the moto server where AWS is involved."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
import yaml
from troposphere import GetAtt, Output, Template, sqs

from generator import cli
from generator.build.compose import Layers
from generator.cli import main
from generator.deploy import local
from generator.deploy.console import Console, color_wanted
from generator.deploy.errors import explain
from tests.generator.deploy.deploy_support import REGION, REPO, tiny_env, tiny_layers, write_build
from tests.helpers import MINIMAL_PARAMS

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
STRATA = [sys.executable, "-m", "generator"]


@pytest.fixture
def endpoint(aws):
    with local.compat():
        yield aws


def _params(tmp_path: Path, layers: Layers | None = None) -> list[str]:
    params = tmp_path / "params"
    params.mkdir(exist_ok=True)
    (params / "tiny.yaml").write_text(yaml.safe_dump({"project": "demo", "environment": "tiny", "region": REGION}))
    write_build(tmp_path / "out", tiny_env(), layers or tiny_layers(takes="ImageTag"))
    return ["--env", "tiny", "--params-dir", str(params), "--out", str(tmp_path / "out")]


@pytest.fixture
def tiny(tmp_path):
    return _params(tmp_path)


def _error(capsys) -> str:
    return capsys.readouterr().err


# --- --env ------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["deploy", "destroy"])
def test_env_is_required_where_it_changes_things(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--yes"])
    assert exit_.value.code == 2
    assert "the following arguments are required: --env" in _error(capsys)


def test_publish_gets_the_same_required_env_from_the_shared_helper():
    import argparse

    parser = argparse.ArgumentParser(prog="strata publish")
    cli._common(parser)
    with pytest.raises(SystemExit):
        parser.parse_args([])
    assert "publish" in cli.ENV_REQUIRED
    assert cli.parser().parse_args(["build"]).env == "dev"  # build keeps its default
    assert cli.parser().parse_args(["plan"]).env == "dev"


# --- exit codes and prompts -----------------------------------------------------------------------

def test_plan_detailed_exitcode(endpoint, tiny, capsys):
    where = [*tiny, "--endpoint-url", endpoint, "--no-build"]
    assert main(["plan", *where, "--detailed-exitcode"]) == 2
    assert main(["plan", *where]) == 0  # only with the flag
    assert main(["deploy", *where, "--yes"]) == 0
    assert main(["plan", *where, "--detailed-exitcode"]) == 0
    capsys.readouterr()
    assert main(["plan", *where, "--detailed-exitcode", "--params-dir", "nowhere"]) == 1


@pytest.fixture
def terminal(monkeypatch):
    answers: list[str] = []
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt="": answers.pop(0))
    return answers


@pytest.mark.parametrize("answer", ["y", "yes", "Y", " YES "])
def test_approval_takes_y_and_yes(endpoint, tiny, terminal, answer, capsys):
    terminal.append(answer)
    assert main(["deploy", *tiny, "--endpoint-url", endpoint, "--no-build"]) == 0
    assert "demo-tiny: CREATE_COMPLETE" in capsys.readouterr().out


@pytest.mark.parametrize("answer", ["n", "", "no", "yes please"])
def test_declining_exits_0_and_changes_nothing(endpoint, tiny, terminal, answer, capsys):
    terminal.append(answer)
    assert main(["deploy", *tiny, "--endpoint-url", endpoint, "--no-build"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("not approved: nothing changed")
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    assert cfn.describe_stacks()["Stacks"] == []


@pytest.mark.parametrize("typed", ["tiny", "demo-tiny"])
def test_the_destroy_prompt_takes_the_environment_or_the_stack_name(endpoint, tiny, terminal, typed, capsys):
    where = [*tiny, "--endpoint-url", endpoint]
    assert main(["deploy", *where, "--yes", "--no-build"]) == 0
    terminal += ["demo", typed]
    assert main(["destroy", *where]) == 0
    assert "not confirmed: nothing was deleted" in capsys.readouterr().out
    assert main(["destroy", *where]) == 0
    assert "demo-tiny: DELETE_COMPLETE" in capsys.readouterr().out


# --- arguments checked before any AWS call -------------------------------------------------------------

def test_an_unknown_parameter_lists_the_known_names_closest_first(endpoint, tiny, capsys):
    assert main(["plan", *tiny, "--endpoint-url", endpoint, "--no-build", "--parameter", "ImageTga=v1"]) == 1
    assert "--parameter ImageTga: no stack of demo-tiny has a parameter ImageTga; known: ImageTag" in _error(capsys)
    assert main(["plan", *tiny, "--endpoint-url", endpoint, "--no-build", "--parameter", "novalue"]) == 1
    assert "--parameter novalue: expected NAME=VALUE" in _error(capsys)


def test_known_parameters_are_ordered_by_closeness(tmp_path):
    from generator.deploy.errors import DeployError
    from generator.deploy.package import read_build
    from generator.deploy.rollout import Environment

    def more_parameters(root):
        root["Parameters"].update({name: {"Type": "String", "Default": ""} for name in ("ZoneName", "CertificateArn")})

    out = write_build(tmp_path, tiny_env(), tiny_layers(takes="ContainerImageTag"), root_edit=more_parameters)
    environment = Environment(tiny_env(), None, overrides={"ContainerImageTga": "x"})  # type: ignore[arg-type]
    with pytest.raises(DeployError, match="known: ContainerImageTag, CertificateArn, ZoneName$"):
        environment.check_overrides(read_build(out))


def test_a_region_that_contradicts_the_parameter_file_is_refused(tiny, capsys):
    assert main(["status", *tiny, "--region", "us-east-1"]) == 1
    assert f"--region us-east-1 contradicts {tiny[3]}/tiny.yaml: region: {REGION}" in _error(capsys)
    assert main(["status", *tiny, "--region", "eu-west-9"]) == 1
    message = _error(capsys)
    assert "--region eu-west-9: not an AWS region (did you mean eu-west-1" in message and "us-east-1" in message


def test_an_unknown_lint_region_is_refused_cleanly(tmp_path, capsys):
    assert main(["lint", str(REPO / "tests" / "golden" / "dev" / "network.json"), "--region", "mars-1"]) == 1
    message = _error(capsys)
    assert "--region mars-1: not an AWS region" in message and "Traceback" not in message


@pytest.mark.parametrize("url", ["localhost:4566", "ftp://x", "http://", "http://host:99999", "not a url",
                                 "http://bad host:4566", "http://a_b:4566", "http://[::1"])
def test_a_malformed_endpoint_url_is_a_usage_error(url, capsys):
    """Each of these got past argparse before and failed with botocore's bare ValueError."""
    with pytest.raises(SystemExit) as exit_:
        main(["status", "--endpoint-url", url])
    assert exit_.value.code == 2
    assert "is not an endpoint URL: expected http(s)://host[:port]" in _error(capsys)


@pytest.fixture
def built(tmp_path):
    """A real build (network and security) of a parameter file, with its build record."""
    from generator.build.pipeline import build_envs

    params = tmp_path / "parameters"
    params.mkdir()
    (params / "dev.yaml").write_text(MINIMAL_PARAMS)
    build_envs([params / "dev.yaml"], tmp_path / "out")
    return params / "dev.yaml", ["--env", "dev", "--params-dir", str(params), "--out", str(tmp_path / "out")]


def test_a_stale_build_is_refused_by_no_build_and_package(built, capsys):
    param_file, where = built
    param_file.write_text(MINIMAL_PARAMS.replace("az_count: 2", "az_count: 3"))
    for command in (["plan", *where, "--no-build", "--local"], ["package", *where, "--local"]):
        assert main(command) == 1
        assert f"is out of date: {param_file} or Strata's sources changed since it was built" in _error(capsys)


# --- AWS errors -----------------------------------------------------------------------------

def test_an_aws_error_names_the_stack_the_operation_and_what_to_do(tiny, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        nobody = f"http://127.0.0.1:{s.getsockname()[1]}"
    assert main(["status", *tiny, "--endpoint-url", nobody]) == 1
    message = _error(capsys)
    assert "demo-tiny (eu-west-1), reading its status: EndpointConnectionError: Could not connect" in message
    assert "what to do: the endpoint did not answer: check --endpoint-url" in message
    assert "caused by" not in message
    assert main(["status", *tiny, "--endpoint-url", nobody, "--verbose"]) == 1
    assert "  caused by EndpointConnectionError: Could not connect" in _error(capsys)


def test_a_missing_profile_or_missing_credentials_say_what_to_do(tiny, monkeypatch, capsys):
    assert main(["status", *tiny, "--profile", "nope"]) == 1
    assert "demo-tiny (eu-west-1), reading its status: ProfileNotFound: The config profile (nope) could not be " \
           "found\nwhat to do: no such profile in ~/.aws/config" in _error(capsys)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert main(["status", *tiny]) == 1
    assert "NoCredentialsError: Unable to locate credentials\nwhat to do: no AWS credentials found" in _error(capsys)


def test_access_denied_says_which_permission_to_add():
    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "User: arn:aws:iam::1:user/ci is not "
                                    "authorized to perform: cloudformation:CreateChangeSet"}}, "CreateChangeSet")
    text = explain(denied, "strata-prod (eu-west-1), planning")
    assert text.startswith("strata-prod (eu-west-1), planning: CreateChangeSet failed (AccessDenied): User:")
    assert "what to do: the identity lacks a permission for CreateChangeSet" in text


# --- help and output -----------------------------------------------------------------------

def test_every_command_has_a_description_and_an_example(capsys):
    commands = cli.parser()._subparsers._group_actions[0].choices
    assert {"build", "lint", "layers", "package", "plan", "diff", "deploy", "destroy", "status", "local"} <= set(commands)
    for name in commands:
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        usage, summary, description = text.split("\n\n")[:3]
        assert summary.endswith(".") and len(description) > 60 and not description.startswith("options:"), name
        assert f"examples:\n  strata {name}" in text, name


def test_quiet_keeps_results_and_drops_chatter(endpoint, tiny, capsys):
    assert main(["deploy", *tiny, "--endpoint-url", endpoint, "--yes", "--no-build", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "packaged to" not in out and "[" not in out.split("outputs:")[0].split("(new stack)")[1].split("\n")[-1]
    assert "demo-tiny (eu-west-1): CREATE_COMPLETE" in out  # the status at the end is a result


def test_progress_moves_to_the_total_against_moto(endpoint, tiny, capsys):
    assert main(["deploy", *tiny, "--endpoint-url", endpoint, "--yes", "--no-build"]) == 0
    progress = [line.split("]")[0] + "]" for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert progress[0] == "[0/4]" and progress[-1] == "[4/4]"  # two layer stacks, a topic and a queue


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert color_wanted(Terminal()) and not color_wanted(Terminal(), no_color=True)
    assert not color_wanted(sys.stdout) or sys.stdout.isatty()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not color_wanted(Terminal())
    assert Console(color=True).paint("x", "red") == "\033[31mx\033[0m" and Console().paint("x", "red") == "x"


def test_no_colour_codes_in_piped_output(endpoint, tiny, capsys):
    assert main(["deploy", *tiny, "--endpoint-url", endpoint, "--yes", "--no-build"]) == 0
    assert "\033[" not in capsys.readouterr().out


# --- destroy, diff ------------------------------------------------------------------------

def _kept_queue() -> Layers:
    layers = tiny_layers()
    queue = Template(Description="a queue kept on deletion")
    queue.add_parameter(layers.nested["storage"].parameters["TopicArn"])
    queue.add_resource(sqs.Queue("Queue", DeletionPolicy="Retain", UpdateReplacePolicy="Retain"))
    queue.add_output(Output("QueueArn", Value=GetAtt("Queue", "Arn"), Description="queue"))
    return Layers(nested={"messaging": layers.nested["messaging"], "storage": queue})


def test_destroy_lists_what_it_kept(endpoint, tmp_path, capsys):
    where = [*_params(tmp_path, _kept_queue()), "--endpoint-url", endpoint]
    assert main(["deploy", *where, "--yes", "--no-build"]) == 0
    capsys.readouterr()
    assert main(["destroy", *where, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "kept 1 resource(s) that hold data" in out
    assert "demo-tiny/Storage/Queue (AWS::SQS::Queue) " in out and ": Retain, kept" in out


def test_diff_against_the_deployed_stack_and_offline(endpoint, tmp_path, capsys):
    where = [*_params(tmp_path), "--endpoint-url", endpoint]
    assert main(["deploy", *where, "--yes", "--no-build"]) == 0
    write_build(tmp_path / "out", tiny_env(), tiny_layers(topic_name="renamed", takes="ImageTag"))
    capsys.readouterr()
    assert main(["diff", *where, "--no-build"]) == 0
    out = capsys.readouterr().out
    assert "demo-tiny (eu-west-1): 2 resource changes in 2 stacks" in out
    assert '    Topic (AWS::SNS::Topic): Modify, updated in place\n      DisplayName: (none) -> "renamed"' in out
    assert main(["diff", *where, "--no-build", "--json"]) == 0
    [stack] = json.loads(capsys.readouterr().out)["stacks"]
    assert {(r["stack"], r["logical_id"], r["replacement"]) for r in stack["resources"]} == {
        ("root", "Messaging", "False"), ("Messaging", "Topic", "False")}
    offline = [w for w in where if not w.startswith("http") and w != "--endpoint-url"]
    assert main(["diff", *offline, "--no-build", "--offline", "--markdown"]) == 0
    assert "- `Topic` (AWS::SNS::Topic): Modify, updated in place" in capsys.readouterr().out


# --- no tracebacks -------------------------------------------------------------------------------

def test_a_closed_pipe_is_not_a_traceback():
    process = subprocess.Popen([*STRATA, "layers"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # the reader is gone before anything is written, as with `| head -0`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


def test_strata_local_on_a_busy_port_exits_at_once(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        started = time.monotonic()
        assert main(["local", "--port", str(busy.getsockname()[1])]) == 1
    assert time.monotonic() - started < 5
    assert "is already in use (another `strata local`, LocalStack?)" in _error(capsys)


def test_ctrl_c_during_lint_is_one_line_and_exit_130():
    process = subprocess.Popen([*STRATA, "lint", str(REPO / "tests" / "golden")], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(2)  # cfn-lint is starting or linting (23 templates take far longer)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C does: the whole foreground group
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.decode() == "strata lint: interrupted\n"


# --- lint paths ------------------------------------------------------------------------------

def test_lint_takes_folders_and_globs_and_skips_what_is_not_a_template(tmp_path, capsys):
    folder = tmp_path / "built"
    folder.mkdir()
    golden = REPO / "tests" / "golden"
    for layer in ("network", "security", "web"):  # four templates: linted by forked workers
        (folder / f"{layer}.json").write_text((golden / "dev" / f"{layer}.json").read_text())
    (folder / "certificate.json").write_text((golden / "prod" / "dns-cloudfront-certificate.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({"environment": "dev", "templates": []}))
    (folder / "notes.txt").write_text("not a template")
    (folder / "data.json").write_text(json.dumps({"not": "a template"}))
    assert main(["lint", str(folder), "--verbose"]) == 0
    out = capsys.readouterr().out
    # the environment's region (parameters/dev.yaml via the manifest), and the companion's own
    assert f"{folder / 'network.json'}: eu-west-1 (parameters/dev.yaml)" in out
    assert f"{folder / 'certificate.json'}: us-east-1 (its Metadata.Strata.Region)" in out
    assert f"skipped {folder / 'manifest.json'}" in out and f"skipped {folder / 'data.json'}" in out
    assert "4 template(s) passed cfn-lint and Strata's checks (eu-west-1, us-east-1)" in out
    assert main(["lint", str(folder / "*.json")]) == 0
    assert "4 template(s) passed" in capsys.readouterr().out
    # as the shell expands out/dev/*.json: the manifest among the templates is skipped
    assert main(["lint", *(str(p) for p in sorted(folder.glob("*.json")))]) == 0
    assert "4 template(s) passed" in capsys.readouterr().out
    assert main(["lint", str(folder / "manifest.json")]) == 1
    assert "no CloudFormation template (a template is a JSON or YAML file with Resources" in _error(capsys)
    assert main(["lint", str(tmp_path / "nothing-*.json")]) == 1
    assert "no file matches this pattern" in _error(capsys)


def test_the_commands_of_the_readme_parse():
    """Every `strata ...` example of the README's command table parses as written."""
    import re

    readme = (REPO / "README.md").read_text()
    table = readme.split("| command | what it does |")[1].split("\n\n")[0]
    commands = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `strata ")]
    assert len(commands) >= 11
    for command in commands:
        plain = re.sub(r"\s*\[[^\]]*\]", "", command)  # optional parts in brackets
        cli.parser().parse_args(plain.split()[1:])


def test_every_command_takes_the_output_options_after_its_name():
    from generator.cli import parser

    [commands] = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    lacking = {name: flag for name, command in commands.choices.items()
               for flag in ("--quiet", "--verbose", "--no-color") if flag not in command._option_string_actions}
    assert lacking == {}
