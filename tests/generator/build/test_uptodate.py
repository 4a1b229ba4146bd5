"""A no-change rebuild is recognised before any heavy import; any change rebuilds."""

from generator.build import uptodate
from generator.cli import main
from tests.helpers import MINIMAL_PARAMS, write_params


def build(tmp_path, *extra):
    params = tmp_path / "parameters"
    return main(["build", "--env", "dev", "--params-dir", str(params), "--out", str(tmp_path / "out"), *extra])


def test_second_build_with_nothing_changed_is_up_to_date(tmp_path, capsys):
    write_params(tmp_path)
    assert build(tmp_path) == 0
    written = (tmp_path / "out" / "dev" / "network.json").read_bytes()
    capsys.readouterr()
    assert build(tmp_path) == 0
    assert capsys.readouterr().out.strip().endswith("out/dev is up to date (no input changed since the last build)")
    assert (tmp_path / "out" / "dev" / "network.json").read_bytes() == written


def test_a_changed_parameter_file_rebuilds(tmp_path, capsys):
    write_params(tmp_path)
    assert build(tmp_path) == 0
    write_params(tmp_path, MINIMAL_PARAMS.replace("nat: single", "nat: none"))
    capsys.readouterr()
    assert build(tmp_path) == 0
    assert "wrote 3 templates" in capsys.readouterr().out
    assert '"NatGateway1"' not in (tmp_path / "out" / "dev" / "network.json").read_text()


def test_an_edited_output_file_is_rebuilt(tmp_path, capsys):
    write_params(tmp_path)
    assert build(tmp_path) == 0
    target = tmp_path / "out" / "dev" / "network.json"
    original = target.read_bytes()
    target.write_text("{}")
    capsys.readouterr()
    assert build(tmp_path) == 0
    assert "wrote 3 templates" in capsys.readouterr().out
    assert target.read_bytes() == original


def test_no_cache_always_builds(tmp_path, capsys):
    write_params(tmp_path)
    assert build(tmp_path) == 0
    capsys.readouterr()
    assert build(tmp_path, "--no-cache") == 0
    assert "wrote 3 templates" in capsys.readouterr().out


def test_fingerprint_covers_sources_and_parameters(tmp_path, monkeypatch):
    params = write_params(tmp_path)
    source = tmp_path / "layer.py"
    source.write_text("A = 1\n")
    monkeypatch.setattr(uptodate, "_source_files", lambda: [source])
    monkeypatch.setattr(uptodate, "REPO", tmp_path)
    first = uptodate.fingerprint(params)
    assert uptodate.fingerprint(params) == first
    source.write_text("A = 2\n")
    assert uptodate.fingerprint(params) != first
    source.write_text("A = 1\n")
    params.write_text(params.read_text() + "tags: {a: b}\n")
    assert uptodate.fingerprint(params) != first


def test_the_real_sources_are_fingerprinted():
    files = {p.relative_to(uptodate.REPO).as_posix() for p in uptodate._source_files()}
    assert {"generator/build/compose.py", "templates/network.py", "lambda_src/queue_worker/handler.py"} <= files
