"""bench/build.py still runs against the code it measures: its in-process
steps import the build's functions by name, so a move in generator/build/
would otherwise break the benchmark unnoticed. Timings are not asserted
(speed is read off the benchmark, not tested)."""

import importlib.util

from tests.helpers import REPO


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_build", REPO / "bench" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmarks_in_process_steps_run_on_the_dev_environment():
    steps = load_bench().steps("dev", REPO / "parameters")
    assert [label for label, _ in steps] == [
        "environment view (flatten)", "architecture rules on the environment",
        "cost estimate (with NAT alternatives)", "diagram: DOT", "diagram: layout to SVG (child process)",
    ]
    assert all(seconds >= 0 for _, seconds in steps)
