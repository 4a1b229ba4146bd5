"""The build: parameter file -> layer templates -> root -> lint -> `out/<env>/`.

Each step takes the previous step's result and nothing else. Several
environments (`--all`) are rendered and linted first and written only when
every one of them passed, so a failing build writes nothing at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from generator import catalog_history_file
from generator.build import uptodate, versions
from generator.build.catalog import CatalogProblems, build_catalog
from generator.build.compose import build_layers, compose_root
from generator.build.config import EnvConfig, load_config, problems_error
from generator.build.lint import Finding, LintCache, LintService, lint_templates
from generator.build.output import RenderedTemplate, check_limits, manifest, render, write_env
from generator.cfn import lambdas
from generator.cfn.resources import deploy_region

ROOT_FILE = "root.json"


class BuildError(Exception):
    """The build failed; `str()` lists every problem, one per line."""

    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


@dataclass
class EnvBuild:
    """Everything one environment's build produced, in memory."""

    env: EnvConfig
    templates: list[RenderedTemplate]
    artifacts: dict[str, bytes]
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def files(self) -> dict[str, bytes]:
        files = {t.file: t.data for t in self.templates}
        files.update(self.artifacts)
        files["manifest.json"] = (
            json.dumps(manifest(self.env.environment, self.templates, self.artifacts), indent=2, sort_keys=True) + "\n"
        ).encode()
        return files


def render_env(env: EnvConfig, history: versions.History | None = None) -> EnvBuild:
    """Build every enabled layer and the root, and with `catalog.enabled` the
    catalog's templates (listing the versions of `history`); check
    CloudFormation's limits. Raises CatalogProblems for catalog settings that
    do not fit the built templates or the history."""
    started = time.perf_counter()
    layers = build_layers(env)
    root = compose_root(env, layers)
    templates = [render(f"{name}.json", t) for name, t in {**layers.nested, **layers.companions}.items()]
    templates.append(render(ROOT_FILE, root))
    if env.catalog.enabled:
        bodies = {t.file.removesuffix(".json"): t.body for t in templates if t.file[:-5] in layers.nested}
        templates += build_catalog(env, bodies, history or versions.History(environment=env.environment))
    templates.sort(key=lambda t: t.file)
    artifacts = {key: lambdas.artifact_data(key) for t in templates for key in lambdas.artifacts_of(t.body)}
    errors, warnings = [], []
    for rendered in templates:
        e, w = check_limits(rendered)
        errors += e
        warnings += w
    if errors:
        raise BuildError(errors)
    return EnvBuild(env, templates, artifacts, warnings, {"generate": time.perf_counter() - started})


def _render(path: Path) -> EnvBuild:
    env = load_config(path)
    history = versions.load(catalog_history_file(path), env.environment) if env.catalog.enabled else None
    try:
        return render_env(env, history)
    except CatalogProblems as exc:
        raise problems_error(path, exc.problems) from None


def lint_builds(builds: list[EnvBuild], cache: LintCache, service: LintService | None = None) -> list[Finding]:
    started = time.perf_counter()
    jobs = [
        (f"{b.env.environment}/{t.file}", t.text, deploy_region(t.body, b.env.region))
        for b in builds for t in b.templates
    ]
    findings = lint_templates(jobs, cache, service)
    for b in builds:
        b.timings["lint, all environments" if len(builds) > 1 else "lint"] = time.perf_counter() - started
    return findings


def build_envs(
    param_files: list[Path], out_root: Path, use_cache: bool = True, service: LintService | None = None
) -> list[EnvBuild]:
    """Load, render, lint and write every environment in `param_files`, or
    raise (ConfigError, ComposeError, BuildError) with nothing written.
    `service`: a LintService already warming up cfn-lint (optional)."""
    builds = [_render(path) for path in param_files]
    cache = LintCache(out_root / ".cache" / "lint.json" if use_cache else None)
    findings = lint_builds(builds, cache, service)
    if findings:
        raise BuildError([f"lint: {finding}" for finding in findings])
    for path, b in zip(param_files, builds):
        write_env(out_root, b.env.environment, b.files())
        if use_cache:
            uptodate.record(out_root, b.env.environment, path)
    cache.save()
    return builds
