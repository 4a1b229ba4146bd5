"""Benchmark `strata build`: cold and warm, one environment and --all.

Each scenario runs the real command in a fresh process (start-up and imports
included, as a user pays them) into a scratch out/ folder:
- cold: no lint cache, so every template is linted;
- warm: a second build with nothing changed, so the cache skips the lint.
Then, in-process, seconds per template: generation (troposphere + awacs)
versus lint (one shared cfn-lint Runner with Strata's rules, and AWS's Guard
rules, shown apart too), so the costs are separate; and the steps a build
adds beside linting: the environment view, the architecture rules on it, the
cost estimate and the diagram (DOT and its layout).

    python bench/build.py [--env dev] [--repeat 3] [--params-dir parameters]

Goals (issue 2): dev cold well under 2 s on 2 cores, warm no-change under 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
# Measure what a user gets: Python caches compiled modules, unless this
# variable (set by some sandboxes and IDE runners) says not to.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed_build(args: list[str], out: Path) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "generator", "build", *args, "--out", str(out)],
        cwd=REPO, check=True, stdout=subprocess.DEVNULL, env=CHILD_ENV,
    )
    return time.perf_counter() - started


def command_timings(args: list[str], repeat: int) -> tuple[float, float]:
    """(median cold seconds, median warm seconds) for one build command."""
    cold, warm = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            cold.append(timed_build(args, Path(tmp)))
            warm.append(timed_build(args, Path(tmp)))
    return statistics.median(cold), statistics.median(warm)


def steps(env_name: str, params_dir: Path) -> list[tuple[str, float]]:
    """(step, seconds) of what a build does beside generating and linting, in-process, warm."""
    from generator.build import cost, diagram
    from generator.build.config import load_config
    from generator.build.environment import flatten
    from generator.build.lint import Linter
    from generator.build.pipeline import render_env
    from generator.build.reports import environment_job

    built = render_env(load_config(params_dir / f"{env_name}.yaml"))
    linter = Linter(built.env.region)
    name, text, _, _ = environment_job(built)
    linter.check(name, text)  # loads Strata's rules once, as the lint child does at its first environment job
    rows = []
    for label, step in (
        ("environment view (flatten)", lambda: flatten(built.bodies)),
        ("architecture rules on the environment", lambda: linter.check(name, text)),
        ("cost estimate (with NAT alternatives)", lambda: cost.files(cost.for_build(built.env, built.bodies))),
        ("diagram: DOT", lambda: diagram.to_dot(diagram.from_view(built.view, built.env.region))),
        ("diagram: layout to SVG (child process)", lambda: diagram.render(diagram.to_dot(diagram.from_view(built.view, built.env.region)))),
    ):
        started = time.perf_counter()
        step()
        rows.append((label, time.perf_counter() - started))
    return rows


def per_template(env_name: str, params_dir: Path) -> list[tuple[str, float, float, float]]:
    """(template, generation seconds, lint seconds, of which Guard) for one environment, in-process."""
    from generator.build import guard
    from generator.build.compose import build_layers, compose_root, enabled_layers
    from generator.build.config import load_config
    from generator.build.lint import Linter
    from generator.cfn.resources import apply_tags

    env = load_config(params_dir / f"{env_name}.yaml")
    linter = Linter(env.region)  # start-up paid once, reported apart
    rows = []
    for layer in enabled_layers(env):
        started = time.perf_counter()
        template = layer.build(env)
        apply_tags(template, env.all_tags)
        text = template.to_json(indent=2, sort_keys=True)
        generated = time.perf_counter()
        linter.lint(f"{layer.NAME}.json", text)
        linted = time.perf_counter()
        guard.check_template(f"{layer.NAME}.json", json.loads(text))
        rows.append((f"{layer.NAME}.json", generated - started, linted - generated, time.perf_counter() - linted))
    started = time.perf_counter()
    root_text = compose_root(env, build_layers(env)).to_json(indent=2, sort_keys=True)
    generated = time.perf_counter()
    linter.lint("root.json", root_text)
    linted = time.perf_counter()
    guard.check_template("root.json", json.loads(root_text))
    rows.append(("root.json (all layers rebuilt + composed)", generated - started, linted - generated, time.perf_counter() - linted))
    return rows


def linter_startup() -> float:
    code = (
        "import time; t=time.perf_counter(); from generator.build.lint import Linter; Linter('eu-west-1');"
        "print(time.perf_counter()-t)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True, env=CHILD_ENV)
    return float(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", default="dev")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--params-dir", type=Path, default=REPO / "parameters")
    args = parser.parse_args()
    params = ["--params-dir", str(args.params_dir.resolve())]

    print(f"strata build benchmark (median of {args.repeat}, fresh process each)")
    for label, build_args in ((f"--env {args.env}", ["--env", args.env, *params]), ("--all", ["--all", *params])):
        cold, warm = command_timings(build_args, args.repeat)
        print(f"  build {label:<12} cold {cold:6.2f} s   warm (no change) {warm:6.2f} s")
    print(f"\ncfn-lint start-up (import + Runner with Strata's rules): {linter_startup():.2f} s")
    print(f"\nper template, {args.env} (seconds; lint includes Guard, shown again apart):")
    print(f"  {'template':<44}{'generate':>10}{'lint':>10}{'guard':>10}")
    rows = per_template(args.env, args.params_dir)
    for name, gen, lint, guard_time in rows:
        print(f"  {name:<44}{gen:>10.3f}{lint:>10.3f}{guard_time:>10.3f}")
    print(f"  {'total':<44}{sum(r[1] for r in rows):>10.3f}{sum(r[2] for r in rows):>10.3f}{sum(r[3] for r in rows):>10.3f}")
    print(f"\nsteps beside generate and lint, {args.env} (seconds, in-process; the build runs them while the lint child works):")
    for label, seconds in steps(args.env, args.params_dir):
        print(f"  {label:<44}{seconds:>10.3f}")


if __name__ == "__main__":
    main()
