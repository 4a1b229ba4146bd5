"""The catalog's version history: names, what adds a version, the file's
format and errors, and the history as an input of the build."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from generator import catalog_history_file
from generator.build import uptodate, versions
from generator.build.config import ConfigError
from generator.build.pipeline import build_envs
from generator.deploy.package import Packaged, layout, read_build
from generator.deploy.publish import record_versions
from tests.helpers import write_params

DAY = datetime.date(2025, 6, 2)
PARAMS = """\
project: demo
environment: dev
region: eu-west-1
network: {enabled: true, az_count: 2, nat: single}
security: {enabled: true}
storage: {enabled: true, transition_to_ia_days: 30}
catalog:
  enabled: true
  products: [network, security, storage]
"""


def version(name: str, sha: str = "a" * 64) -> versions.Version:
    return versions.Version(name=name, sha256=sha, url=f"https://b.s3.eu-west-1.amazonaws.com/catalog/x-{sha}.json", date=DAY)


@pytest.mark.parametrize(("latest", "part", "expected"), [
    ("1.0.0", "patch", "1.0.1"), ("1.0.9", "minor", "1.1.0"), ("1.4.2", "major", "2.0.0"), ("0.9.9", "patch", "0.9.10"),
])
def test_a_new_version_bumps_the_latest(latest, part, expected):
    assert versions.next_name([version(latest)], "0.1.0", part) == expected


def test_the_first_version_and_a_deliberate_jump_come_from_the_products_setting():
    assert versions.next_name([], "2.3.0") == "2.3.0"
    assert versions.next_name([version("1.0.4")], "3.0.0") == "3.0.0"   # higher: jump to it
    assert versions.next_name([version("1.0.4")], "1.0.0") == "1.0.5"   # lower: the usual bump


def test_recording_unchanged_bytes_adds_nothing_and_changed_bytes_add_one_version():
    history = versions.History(environment="dev")
    history, first = versions.record(history, "network", "a" * 64, "https://x/a", DAY, "1.0.0")
    assert first.name == "1.0.0"
    again, none = versions.record(history, "network", "a" * 64, "https://x/a", DAY, "1.0.0")
    assert none is None and again == history
    history, second = versions.record(history, "network", "b" * 64, "https://x/b", DAY, "1.0.0", "minor")
    assert [v.name for v in history.products["network"]] == ["1.0.0", "1.1.0"] and second.sha256 == "b" * 64


def _published(tmp_path: Path, text: str, history: versions.History) -> tuple[versions.History, list]:
    """Build `text`, then record its product templates as `strata publish` does (packaged under prefix dev/)."""
    param_file = write_params(tmp_path, text)
    build_envs([param_file], tmp_path / "out")
    built = read_build(tmp_path / "out" / "dev")
    packaged = Packaged("b", "dev/", "eu-west-1", layout(built, "dev/"))
    from generator.build.config import load_config

    return record_versions(load_config(param_file), built, packaged, history, "patch", DAY)


def test_publishing_twice_adds_no_version_and_a_changed_layer_adds_one_to_that_product_only(tmp_path):
    history, added = _published(tmp_path, PARAMS, versions.History(environment="dev"))
    assert [(layer, v.name) for layer, v in added] == [("network", "1.0.0"), ("security", "1.0.0"), ("storage", "1.0.0")]
    history, added = _published(tmp_path, PARAMS, history)
    assert added == []
    history, added = _published(tmp_path, PARAMS.replace("transition_to_ia_days: 30", "transition_to_ia_days: 60"), history)
    assert [(layer, v.name) for layer, v in added] == [("storage", "1.0.1")]
    assert {layer: [v.name for v in vs] for layer, vs in history.products.items()} == {
        "network": ["1.0.0"], "security": ["1.0.0"], "storage": ["1.0.0", "1.0.1"]}
    url = history.products["storage"][1].url
    assert url == f"https://b.s3.eu-west-1.amazonaws.com/dev/catalog/storage-{history.products['storage'][1].sha256}.json"


def test_the_history_file_round_trips_and_is_written_the_same_way_every_time(tmp_path):
    history = versions.History(environment="dev", products={"storage": [version("1.0.0")], "network": [version("1.0.0")]})
    path = tmp_path / "catalog" / "dev.versions.json"
    versions.save(path, history)
    first = path.read_text()
    assert list(json.loads(first)["products"]) == ["network", "storage"]
    assert versions.load(path, "dev") == history
    versions.save(path, versions.load(path, "dev"))
    assert path.read_text() == first


def test_the_history_lives_beside_the_parameter_folder():
    assert catalog_history_file(Path("parameters/prod.yaml")) == Path("catalog/prod.versions.json")


GOOD = {"name": "1.0.0", "sha256": "a" * 64, "url": "https://b.s3.eu-west-1.amazonaws.com/x.json", "date": "2025-06-02"}


def _history_text(*entries: dict, environment: str = "dev") -> str:
    return json.dumps({"environment": environment, "products": {"network": list(entries)}}, indent=2) + "\n"


@pytest.mark.parametrize(("text", "where", "message"), [
    (_history_text(GOOD, {**GOOD, "sha256": "b" * 64}), ":12 products.network.1.name",
     "duplicate version name 1.0.0 (also products.network[0])"),
    (_history_text({**GOOD, "name": "1.1.0"}, {**GOOD, "name": "1.0.9"}), ":12 products.network.1.name",
     "1.0.9 comes after 1.1.0"),
    (_history_text({**GOOD, "name": "v1"}), ":6 products.network.0.name", "should match pattern"),
    (_history_text({**GOOD, "sha256": "xyz"}), ":7 products.network.0.sha256", "should match pattern"),
    (_history_text({**GOOD, "date": "yesterday"}), ":9 products.network.0.date", "valid date"),
    (_history_text({**GOOD, "by": "me"}), ":10 products.network.0.by", "Extra inputs are not permitted"),
    (_history_text(GOOD, environment="prod"), ":2 environment", "is prod; this history belongs to dev"),
    ("{not json", "", "not valid JSON"),
])
def test_a_bad_history_names_file_line_and_field_and_nothing_is_written(tmp_path, text, where, message):
    param_file = write_params(tmp_path, PARAMS)
    history = catalog_history_file(param_file)
    history.parent.mkdir()
    history.write_text(text)
    with pytest.raises(ConfigError) as error:
        build_envs([param_file], tmp_path / "out")
    assert str(error.value).startswith(f"{history}{where}")
    assert message in str(error.value)
    assert not (tmp_path / "out" / "dev").exists()


def test_editing_the_history_makes_the_build_run_again(tmp_path):
    param_file = write_params(tmp_path, PARAMS)
    build_envs([param_file], tmp_path / "out")
    assert uptodate.is_up_to_date(tmp_path / "out", "dev", param_file)
    history = catalog_history_file(param_file)
    versions.save(history, versions.History(environment="dev", products={"network": [version("1.0.0")]}))
    assert not uptodate.is_up_to_date(tmp_path / "out", "dev", param_file)
    build_envs([param_file], tmp_path / "out")
    assert uptodate.is_up_to_date(tmp_path / "out", "dev", param_file)
