"""The build as a whole: deterministic, limited, atomic, and equal to the golden files."""

import json
import os
from pathlib import Path

import pytest
from generator.build import output
from generator.build.pipeline import build_envs
from generator.cli import main
from generator import env_files
from generator.build.output import RenderedTemplate, check_limits, write_env
from generator.build import cost
from tests.golden import GOLDEN, REPO, golden_files
from tests.helpers import MINIMAL_PARAMS, write_params


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """Every shipped parameter file built once (no lint cache) into a temporary out/."""
    out = tmp_path_factory.mktemp("out")
    build_envs(env_files(REPO / "parameters"), out, use_cache=False)
    return out


def test_every_shipped_environment_builds_lint_clean(shipped):
    assert sorted(p.name for p in shipped.iterdir() if not p.name.startswith(".")) == sorted(
        p.stem for p in env_files(REPO / "parameters")
    )


def test_output_equals_the_golden_files(shipped):
    """On a diff: review it, then `make golden` to accept the new output."""
    for env_dir in sorted(p for p in shipped.iterdir() if not p.name.startswith(".")):
        assert golden_files(env_dir) == golden_files(GOLDEN / env_dir.name), f"{env_dir.name} differs from tests/golden"


def test_a_second_build_is_byte_identical(shipped, tmp_path):
    build_envs(env_files(REPO / "parameters"), tmp_path, use_cache=False)
    for env_dir in (p for p in shipped.iterdir() if not p.name.startswith(".")):
        assert tree(tmp_path / env_dir.name) == tree(env_dir)


def test_manifest_lists_each_template_with_hash_size_and_counts(tmp_path):
    build_envs([write_params(tmp_path)], tmp_path / "out")
    env_dir = tmp_path / "out" / "dev"
    manifest = json.loads((env_dir / "manifest.json").read_text())
    assert manifest["environment"] == "dev"
    entries = {e["file"]: e for e in manifest["templates"]}
    assert sorted(entries) == ["network.json", "root.json", "security.json"]
    network = json.loads((env_dir / "network.json").read_text())
    data = (env_dir / "network.json").read_bytes()
    assert entries["network.json"] == {
        "file": "network.json", "sha256": __import__("hashlib").sha256(data).hexdigest(), "bytes": len(data),
        # AlarmTopicArn: the NAT alarms' topic (no monitoring layer here, so a root parameter)
        "resources": len(network["Resources"]), "parameters": 1, "outputs": len(network["Outputs"]),
    }
    assert entries["root.json"]["resources"] == 2


def rendered_with(resources: int, padding: int = 0) -> RenderedTemplate:
    # Written as JSON: troposphere itself refuses a 501st resource.
    body = {"Description": "x" * padding, "Resources": {f"Queue{i}": {"Type": "AWS::SQS::Queue"} for i in range(resources)}}
    return RenderedTemplate("big.json", json.dumps(body))


def test_limits_fail_over_500_resources_and_warn_over_the_inline_size():
    errors, warnings = check_limits(rendered_with(501))
    assert errors == ["big.json: resources (501) exceeds CloudFormation's limit of 500"]
    errors, warnings = check_limits(rendered_with(1, padding=60_000))
    assert errors == [] and warnings[0].startswith("big.json: 60") and "cannot be sent inline" in warnings[0]
    errors, _ = check_limits(rendered_with(1, padding=1_000_001))
    assert errors[0].startswith("big.json: size in bytes (1000")


def test_write_env_replaces_the_old_folder_whole(tmp_path):
    write_env(tmp_path, "dev", {"a.json": b"old", "stale.json": b"gone soon"})
    write_env(tmp_path, "dev", {"a.json": b"new", "lambda/x.zip": b"zip"})
    assert tree(tmp_path / "dev") == {"a.json": b"new", "lambda/x.zip": b"zip"}
    assert [p.name for p in tmp_path.iterdir()] == ["dev"]  # no staging or retired folders left


def test_a_failed_write_keeps_the_old_folder_and_cleans_up(tmp_path, monkeypatch):
    write_env(tmp_path, "dev", {"a.json": b"old"})
    real_rename = os.rename

    def fail_on_swap_in(src, dst):
        if Path(dst).name == "dev":
            raise OSError("disk full")
        return real_rename(src, dst)

    monkeypatch.setattr(output.os, "rename", fail_on_swap_in)
    with pytest.raises(OSError):
        write_env(tmp_path, "dev", {"a.json": b"new"})
    monkeypatch.undo()
    # The old folder is only moved aside, never deleted, before the new one is in place.
    kept = [p for p in tmp_path.rglob("a.json")]
    assert [p.read_bytes() for p in kept] == [b"old"]


def test_all_writes_nothing_when_one_environment_fails(tmp_path, capsys):
    params = write_params(tmp_path).parent
    write_params(tmp_path, MINIMAL_PARAMS.replace("environment: dev", "environment: qa").replace("nat: single", "nat: no"), "qa.yaml")
    out = tmp_path / "out"
    assert main(["build", "--all", "--params-dir", str(params), "--out", str(out)]) == 1
    assert "qa.yaml:8 network.nat: must be one of per_az, single, none" in capsys.readouterr().err
    assert not (out / "dev").exists()


def test_build_reports_files_timings_and_costs(tmp_path, capsys):
    params = write_params(tmp_path).parent
    assert main(["build", "--env", "dev", "--params-dir", str(params), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "dev: wrote 3 templates and 0 artifacts" in printed
    document = json.loads((tmp_path / "out" / "dev" / "cost.json").read_text())
    assert f"cost: about ${document['total_monthly']:,.2f}/month (network ${document['layers']['network']:,.2f})" in printed
    table = cost.prices("eu-west-1")
    nat = [l["monthly"] for l in document["lines"] if l["price"] == "nat_gateway_hour"]
    assert nat == [round(730 * table["nat_gateway_hour"]["usd"], 2)]
    assert "cost: network.nat: none instead of single would change it by " in printed
    assert "generate" in printed and "cost" in printed and "diagram" in printed and "lint and checks" in printed
    # the default security group's rules stay (CloudFormation cannot remove them without a custom resource): said every time
    (finding,) = [line for line in printed.splitlines() if line.startswith("  finding: ")]
    assert "default security group" in finding and "Security Hub EC2.2" in finding and "AWS Config" in finding


def test_layers_command_lists_every_layer_with_a_description(capsys):
    assert main(["layers"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[0] == "network" and len(lines) >= 11
    assert all(len(line.split(None, 1)) == 2 for line in lines)


def test_python_dash_m_generator_is_the_same_cli():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "generator", "layers"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0 and result.stdout.startswith("network")


def test_unknown_flag_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["build", "--envv", "dev"])
    assert caught.value.code == 2


def test_quiet_build_prints_the_result_line_only_and_verbose_lists_every_file(tmp_path, capsys):
    params = write_params(tmp_path).parent
    out = tmp_path / "out"
    assert main(["build", "--env", "dev", "--params-dir", str(params), "--out", str(out), "--quiet"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("dev: wrote 3 templates")
    assert main(["-v", "build", "--env", "dev", "--params-dir", str(params), "--out", str(out), "--no-cache"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.endswith(" bytes)")}
    assert listed == {p.name for p in (out / "dev").iterdir()}


def test_a_reader_gone_during_a_build_is_exit_141_not_an_internal_error(tmp_path):
    import subprocess
    import sys

    params = write_params(tmp_path).parent
    process = subprocess.Popen(
        [sys.executable, "-m", "generator", "build", "--env", "dev", "--params-dir", str(params), "--out",
         str(tmp_path / "out")], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # as `strata build | head -0`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert "internal error" not in stderr and "Traceback" not in stderr
