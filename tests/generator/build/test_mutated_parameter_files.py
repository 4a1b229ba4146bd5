"""Property: whatever a mutation of a shipped parameter file holds (values
of other types, strings too long or with characters AWS refuses, keys
removed, unknown keys added; tests/generator/build/mutants.py), `strata
build` ends in exit 0 with a lint-clean out/, or in exit 1 with messages
that all start with the file's path. Never a traceback, a lint finding, an
"internal error", or a slow run.

The examples are derandomized (the same mutants on every run, so a failure
reproduces) and few: a mutant that builds costs a lint of what it changed.
`python -m tests.generator.build.mutants 2000` runs thousands without the lint.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.build import lint
from generator.build.lint import lint_templates
from generator.cfn.resources import deploy_region
from generator.cli import main
from tests.generator.build.mutants import dump, mutated
from tests.helpers import REPO

ENVS = ("dev", "prod")
SHIPPED = {env: yaml.safe_load((REPO / "parameters" / f"{env}.yaml").read_text()) for env in ENVS}
EXAMPLES = 60
# Strata's own work on one file (load, validate, render); the lint of what a mutant changed comes on top.
GENERATE_SECONDS = 3.0
REFUSE_SECONDS = 5.0


def templates_of(folder: Path) -> dict[str, str]:
    """The templates the build wrote, as its manifest lists them (cost.json is a report, not a template)."""
    listed = json.loads((folder / "manifest.json").read_text())["templates"]
    return {entry["file"]: (folder / entry["file"]).read_text() for entry in listed}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """parameters/ and out/ after one good build of every shipped file: the
    lint cache holds their templates, and this process holds warm cfn-lint
    Runners that each build's lint service inherits when it forks."""
    root = tmp_path_factory.mktemp("mutants")
    shutil.copytree(REPO / "parameters", root / "parameters")
    for region in {data["region"] for data in SHIPPED.values()} | {"us-east-1"}:
        lint._linter(region)
    assert main(["build", "--all", "--params-dir", str(root / "parameters"), "--out", str(root / "out")]) == 0
    (root / "seed").mkdir()
    for env in ENVS:
        shutil.copytree(root / "out" / env, root / "seed" / env)
    return root


def run(root: Path, env: str) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["build", "--env", env, "--params-dir", str(root / "parameters"), "--out", str(root / "out")])
    return code, out.getvalue(), err.getvalue(), time.perf_counter() - started


def assert_lint_clean(root: Path, env: str, region: str) -> None:
    """Lint again, here, what differs from the seed build (which the gate linted whole)."""
    seed = templates_of(root / "seed" / env)
    jobs = [
        (f"{env}/{name}", text, deploy_region(json.loads(text), region))
        for name, text in templates_of(root / "out" / env).items() if seed.get(name) != text
    ]
    assert [str(f) for f in lint_templates(jobs)] == []


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_mutant_builds_clean_or_is_refused_with_messages_naming_the_file(workspace, data):
    env = data.draw(st.sampled_from(ENVS), label="environment")
    mutant, mutations = data.draw(mutated(SHIPPED[env]), label="mutant")
    path = workspace / "parameters" / f"{env}.yaml"
    path.write_text(dump(mutant), encoding="utf-8")
    code, out, err, seconds = run(workspace, env)
    assert "Traceback" not in out + err, mutations
    if code == 0:
        generate = float(out.split("(generate ")[1].split("s")[0]) if "(generate " in out else 0.0
        assert generate < GENERATE_SECONDS, (mutations, out)
        assert_lint_clean(workspace, env, mutant.get("region", "us-east-1"))
        return
    lines = err.splitlines()
    assert code == 1 and lines[0] == "strata build: failed", (mutations, err)
    assert lines[1:] and all(line.startswith(str(path)) for line in lines[1:]), (mutations, lines)
    assert not any("internal error" in line or "cannot be built" in line for line in lines), (mutations, lines)
    assert seconds < REFUSE_SECONDS, (mutations, seconds)
