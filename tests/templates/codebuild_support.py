"""Running a buildspec the way CodeBuild does, with `docker` and `aws` faked.

What CodeBuild does with a version 0.2 buildspec, and this runner too: every
command of every phase runs in ONE shell (`env.shell`, so a variable set in
pre_build is there in post_build), the phases run in order (install,
pre_build, build, post_build), a failing command fails its phase and ends
the build (with `on-failure: ABORT`, or because nothing runs after a failed
post_build), and the project's environment variables plus CodeBuild's own
(`CODEBUILD_RESOLVED_SOURCE_VERSION`, `AWS_REGION`) are set.

What it does not do: run the real docker or aws, resolve Parameter Store
itself (the caller passes the values the parameters hold), upload artifacts
(the caller reads the files the buildspec lists from the work folder).

The stand-ins are small Python scripts on PATH that append their arguments
(and what they read on stdin) to a JSON-lines log, answer like the real tools
where the buildspec depends on it (`aws ecr get-login-password` prints a
token, `aws ecr describe-images` fails for a tag not in FAKE_ECR_TAGS, `docker
run` exits with FAKE_TEST_EXIT) and succeed otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

PHASES = ("install", "pre_build", "build", "post_build")
FAKE_TOKEN = "fake-ecr-password"

_STAND_IN = """#!{python}
import json, os, sys
tool, args = {tool!r}, sys.argv[1:]
entry = {{"tool": tool, "args": args}}
if tool == "docker" and args[:1] == ["login"]:
    entry["stdin"] = sys.stdin.read()
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(entry) + "\\n")
if tool == "aws" and args[:2] == ["ecr", "get-login-password"]:
    print({token!r})
elif tool == "aws" and args[:2] == ["ecr", "describe-images"]:
    tag = next(a.split("=", 1)[1] for a in args if a.startswith("imageTag="))
    sys.exit(0 if tag in os.environ.get("FAKE_ECR_TAGS", "").split() else 254)
elif tool == "docker" and args[:1] == ["run"]:
    sys.exit(int(os.environ.get("FAKE_TEST_EXIT", "0")))
"""


@dataclass
class BuildRun:
    returncode: int
    output: str
    calls: list[dict]
    workdir: Path
    failed_phase: str | None = None
    artifacts: dict[str, str] = field(default_factory=dict)

    def commands(self, tool: str) -> list[list[str]]:
        return [c["args"] for c in self.calls if c["tool"] == tool]


def _script(spec: dict) -> str:
    # The EXIT trap names the phase of whatever ends the build early: a command
    # that fails, or one that calls exit itself.
    lines = ['trap \'echo "PHASE FAILED: $strata_phase" >&2\' EXIT']
    for phase in PHASES:
        lines.append(f"strata_phase={phase}")
        for command in (spec.get("phases", {}).get(phase) or {}).get("commands", []):
            lines.append(command)
            lines.append('strata_status=$?; if [ "$strata_status" -ne 0 ]; then exit "$strata_status"; fi')
    lines.append("trap - EXIT")
    return "\n".join(lines) + "\n"


def run_buildspec(buildspec: str, tmp_path: Path, variables: dict[str, str], *,
                  existing_tags: tuple[str, ...] = (), test_exit: int = 0) -> BuildRun:
    """Run `buildspec` (YAML text) in a fresh work folder under `tmp_path` with
    `variables` as the build's environment."""
    spec = yaml.safe_load(buildspec)
    shell = spec.get("env", {}).get("shell", "sh")
    bin_dir, workdir, log = tmp_path / "bin", tmp_path / "src", tmp_path / "calls.jsonl"
    bin_dir.mkdir()
    workdir.mkdir()
    for tool in ("docker", "aws"):
        path = bin_dir / tool
        path.write_text(_STAND_IN.format(python=sys.executable, tool=tool, token=FAKE_TOKEN))
        path.chmod(0o755)
    environment = {
        "PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "FAKE_LOG": str(log),
        "FAKE_ECR_TAGS": " ".join(existing_tags), "FAKE_TEST_EXIT": str(test_exit), **variables,
    }
    run = subprocess.run([shell, "-c", _script(spec)], cwd=workdir, env=environment, capture_output=True, text=True,
                         timeout=60, check=False)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    failed = next((line.split(": ", 1)[1] for line in run.stderr.splitlines() if line.startswith("PHASE FAILED: ")), None)
    artifacts = {
        name: (workdir / name).read_text() for name in spec.get("artifacts", {}).get("files", []) if (workdir / name).is_file()
    }
    return BuildRun(run.returncode, run.stdout + run.stderr, calls, workdir, failed, artifacts)


def project_variables(body: dict, project: str, refs: dict[str, str]) -> dict[str, str]:
    """The build's environment from a rendered CodeBuild project: its plain
    variables and, for its PARAMETER_STORE variables, the value the template's
    SSM parameter of that name holds; a `{"Ref": name}` takes `refs[name]`
    (what the stack would resolve it to)."""
    def resolve(value):
        return refs[value["Ref"]] if isinstance(value, dict) else value

    ssm = {r["Properties"]["Name"]: r["Properties"]["Value"]
           for r in body["Resources"].values() if r["Type"] == "AWS::SSM::Parameter"}
    return {
        v["Name"]: resolve(ssm[v["Value"]] if v.get("Type") == "PARAMETER_STORE" else v["Value"])
        for v in body["Resources"][project]["Properties"]["Environment"]["EnvironmentVariables"]
    }
