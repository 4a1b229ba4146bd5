"""The layout is a contract: `lint-imports` (import-linter, contract in
setup.cfg) keeps imports pointing one way, templates -> generator.cfn,
generator.build -> templates and generator.cfn, generator.deploy ->
generator.build and generator.cfn. These tests run it on the real tree and
on copies with one wrong import each, so a contract that checks nothing
would fail here."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH first: the copy under test must shadow the editable install of the real tree
    env = {"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, env=env,
                          check=False, timeout=120)


def _copy_tree(tmp_path: Path) -> Path:
    for folder in ("generator", "templates"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "setup.cfg", tmp_path / "setup.cfg")
    return tmp_path


def test_the_tree_keeps_the_import_contract():
    run = _lint_imports(REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 kept, 0 broken" in run.stdout


@pytest.mark.parametrize("module, wrong_import", [
    ("generator/cfn/naming.py", "import generator.build.config"),         # toolkit -> build
    ("templates/network.py", "import generator.deploy.package"),          # layer -> deploy
    ("generator/build/output.py", "import generator.deploy.stacks"),      # build -> deploy
    ("generator/cfn/resources.py", "import templates.network"),           # toolkit -> layers
])
def test_a_wrong_import_breaks_the_contract(tmp_path, module, wrong_import):
    tree = _copy_tree(tmp_path)
    path = tree / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # deliberately wrong\n")
    run = _lint_imports(tree)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "0 kept, 1 broken" in run.stdout
    importer = module.removesuffix(".py").replace("/", ".")
    assert importer in run.stdout, run.stdout


def test_a_type_only_import_of_the_config_is_allowed(tmp_path):
    """A layer module names EnvConfig under `if TYPE_CHECKING:`; the contract
    leaves such imports out (exclude_type_checking_imports), a real one is not."""
    tree = _copy_tree(tmp_path)
    path = tree / "templates" / "security.py"
    text = path.read_text()
    assert "if TYPE_CHECKING:\n    from generator.build.config import EnvConfig" in text
    assert _lint_imports(tree).returncode == 0
    path.write_text(text + "\nfrom generator.build.config import EnvConfig as _RuntimeImport  # deliberately wrong\n")
    assert _lint_imports(tree).returncode == 1


def test_no_generator_module_is_over_about_400_lines():
    long = {p.relative_to(REPO).as_posix(): n for p in (REPO / "generator").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 450}
    assert not long, f"split these by concern: {long}"
