"""Lambda packaging: `strata build` zips each lambda_src/<name>/ into
out/<env>/lambda/<name>-<sha256>.zip, byte-reproducible, and the templates
fetch it from TemplateBucket + TemplatePrefix."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

from generator.cfn import lambdas
from generator.build.pipeline import build_envs
from generator.build.compose import build_layers, compose_root
from tests.helpers import make_env, render

PARAMETERS = Path(__file__).resolve().parents[3] / "parameters"
SOURCE = lambdas.LAMBDA_SRC / "cloudfront_invalidation"


def _fresh(name: str = "cloudfront_invalidation", src_root: Path = lambdas.LAMBDA_SRC) -> lambdas.Artifact:
    """Package again, bypassing the in-process cache."""
    lambdas.package_function.cache_clear()
    return lambdas.package_function(name, src_root)


def test_two_builds_write_identical_zips(tmp_path):
    """Two complete builds of the dev environment, into two folders, give the
    same zip bytes under the same content-addressed name."""
    zips = []
    for run in ("first", "second"):
        lambdas.package_function.cache_clear()
        build_envs([PARAMETERS / "dev.yaml"], tmp_path / run, use_cache=False)
        (path,) = sorted((tmp_path / run / "dev" / "lambda").glob("cloudfront_invalidation-*.zip"))
        zips.append((path.name, path.read_bytes()))
    assert zips[0] == zips[1]
    name, data = zips[0]
    assert name == f"cloudfront_invalidation-{hashlib.sha256(data).hexdigest()}.zip"
    manifest = json.loads((tmp_path / "first" / "dev" / "manifest.json").read_text())
    assert {"file": f"lambda/{name}", "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} in manifest["artifacts"]


def test_zip_holds_only_the_function_with_fixed_times_and_modes():
    archive = zipfile.ZipFile(io.BytesIO(_fresh().data))
    names = archive.namelist()
    assert names == sorted(names)
    assert "handler.py" in names
    assert not [n for n in names if n.startswith("tests/") or "__pycache__" in n or n.endswith(".pyc")]
    for info in archive.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.external_attr >> 16 == 0o644
    assert archive.read("handler.py") == (SOURCE / "handler.py").read_bytes()


def test_file_times_and_caches_do_not_change_the_bytes(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SOURCE, src / "fn")
    before = _fresh("fn", src)
    os.utime(src / "fn" / "handler.py", (1_000_000_000, 1_000_000_000))
    (src / "fn" / "__pycache__").mkdir(exist_ok=True)
    (src / "fn" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"\0junk")
    (src / "fn" / "tests" / "scratch.json").write_text("{}")
    assert _fresh("fn", src) == before


def test_changed_code_gets_a_new_key(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(SOURCE, src / "fn")
    before = _fresh("fn", src)
    with open(src / "fn" / "handler.py", "a") as handle:
        handle.write("\n# changed\n")
    after = _fresh("fn", src)
    assert after.key != before.key
    assert after.key.startswith("lambda/fn-") and after.key.endswith(".zip")


def test_templates_fetch_the_zip_from_the_template_location():
    env = make_env(static={"enabled": True})
    layers = build_layers(env)
    body = render(layers.nested["static"])
    (key,) = lambdas.artifacts_of(body)
    assert key == lambdas.package_function("cloudfront_invalidation").key
    assert body["Resources"]["InvalidationFunction"]["Properties"]["Code"] == {
        "S3Bucket": {"Ref": "TemplateBucket"}, "S3Key": {"Fn::Join": ["", [{"Ref": "TemplatePrefix"}, key]]},
    }
    root = render(compose_root(env, layers))
    stack_parameters = root["Resources"]["Static"]["Properties"]["Parameters"]
    assert stack_parameters["TemplateBucket"] == {"Ref": "TemplateBucket"}
    assert stack_parameters["TemplatePrefix"] == {"Ref": "TemplatePrefix"}
