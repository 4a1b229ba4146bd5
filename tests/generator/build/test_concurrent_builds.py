"""Two builds of one environment at once (a developer and an editor's save
hook) never fail after writing: they take turns for the swap of out/<env>/
(an flock on out/.cache/<env>.lock), temporary files under out/.cache have
unique names, and each records what it wrote itself."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from generator.build import output, pipeline, uptodate
from generator.build.lint import LintCache
from generator.build.output import env_lock, write_env
from generator.cli import main
from tests.helpers import MINIMAL_PARAMS

VARIANTS = [MINIMAL_PARAMS, MINIMAL_PARAMS.replace("nat: single", "nat: per_az")]
ROUNDS, BUILDS_PER_ROUND = 4, 3


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def strata(root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "generator", "build", "--env", "dev", "--params-dir", "parameters", "--out", "out"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_concurrent_builds_of_one_environment_all_succeed_and_leave_a_consistent_out(tmp_path):
    (tmp_path / "parameters").mkdir()
    param_file = tmp_path / "parameters" / "dev.yaml"
    expected = []
    for text in VARIANTS:  # each variant once alone: the reference output, and a lint cache for both
        param_file.write_text(text)
        assert main(["build", "--env", "dev", "--params-dir", str(param_file.parent), "--out", str(tmp_path / "out")]) == 0
        expected.append(tree(tmp_path / "out" / "dev"))
    assert expected[0] != expected[1]
    started = time.perf_counter()
    for round_ in range(ROUNDS):
        param_file.write_text(VARIANTS[round_ % 2])
        builds = [strata(tmp_path) for _ in range(BUILDS_PER_ROUND)]
        results = [(b.wait(timeout=180), *b.communicate()) for b in builds]
        assert [code for code, _, _ in results] == [0] * BUILDS_PER_ROUND, [err for _, _, err in results]
        assert tree(tmp_path / "out" / "dev") == expected[round_ % 2]
        assert uptodate.is_up_to_date(tmp_path / "out", "dev", param_file)
        leftovers = [p.name for p in (tmp_path / "out").iterdir() if p.name not in ("dev", ".cache")]
        leftovers += [p.name for p in (tmp_path / "out" / ".cache").iterdir() if p.suffix == ".tmp"]
        assert leftovers == []
    assert time.perf_counter() - started < 300


def test_the_lock_makes_concurrent_swaps_of_one_folder_safe(tmp_path):
    """Without env_lock, a second rename finds the folder moved away or
    already back in place; with it, every writer succeeds and one whole tree wins."""
    trees = [{"a.json": f"{i}".encode(), f"only-{i}.json": b"x"} for i in range(6)]

    def writer(i: int) -> None:
        for _ in range(30):  # without the lock, a few of these 180 swaps fail (ENOTEMPTY, ENOENT)
            with env_lock(tmp_path, "dev"):
                write_env(tmp_path, "dev", trees[i])

    assert in_threads(writer) == []
    assert tree(tmp_path / "dev") in trees
    assert sorted(p.name for p in tmp_path.iterdir()) == [".cache", "dev"]


def test_the_record_is_what_this_build_read_and_wrote_not_what_is_on_disk_later(tmp_path, monkeypatch):
    param_file = tmp_path / "parameters" / "dev.yaml"
    param_file.parent.mkdir()
    param_file.write_text(MINIMAL_PARAMS)
    real_write = output.write_env

    def saved_again_meanwhile(out_root, environment, files):
        param_file.write_text(MINIMAL_PARAMS.replace("nat: single", "nat: none"))  # the editor saves mid-build
        return real_write(out_root, environment, files)

    monkeypatch.setattr(pipeline, "write_env", saved_again_meanwhile)
    pipeline.build_envs([param_file], tmp_path / "out")
    # The build wrote the file as it was read: out/ is not what the file now says.
    assert not uptodate.is_up_to_date(tmp_path / "out", "dev", param_file)
    param_file.write_text(MINIMAL_PARAMS)
    assert uptodate.is_up_to_date(tmp_path / "out", "dev", param_file)


def in_threads(work, count: int = 6) -> list[BaseException]:
    """Run `work(i)` in `count` threads at once; the exceptions they raised."""
    failures: list[BaseException] = []

    def guarded(i):
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            failures.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return failures


def test_files_under_the_cache_are_written_through_unique_temporary_names(tmp_path):
    def save_many(i):
        for n in range(30):
            uptodate.replace_atomically(tmp_path / "build-dev.json", f'{{"writer": {i}, "n": {n}}}')
            cache = LintCache(tmp_path / "lint.json")
            cache.add([f"key-{i}-{n}"])
            cache.save()

    assert in_threads(save_many) == []
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []
    assert LintCache(tmp_path / "lint.json").passed("key-0-29")  # a writer's last key survives the others' saves


def test_an_up_to_date_check_during_a_swap_answers_instead_of_failing(tmp_path):
    """It takes no lock: a folder moved away under it means "build", never an error."""
    (tmp_path / "parameters").mkdir()
    (tmp_path / "parameters" / "dev.yaml").write_text(MINIMAL_PARAMS)
    assert main(["build", "--env", "dev", "--params-dir", str(tmp_path / "parameters"), "--out", str(tmp_path / "out")]) == 0
    files = tree(tmp_path / "out" / "dev")
    done = threading.Event()

    def work(i):
        if i == 0:
            for _ in range(40):
                with env_lock(tmp_path / "out", "dev"):
                    write_env(tmp_path / "out", "dev", files)
            done.set()
        else:
            while not done.is_set():
                uptodate.is_up_to_date(tmp_path / "out", "dev", tmp_path / "parameters" / "dev.yaml")

    assert in_threads(work, count=3) == []
