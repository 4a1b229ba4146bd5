"""The build: parameter file -> layer templates -> root -> lint -> `out/<env>/`.

Each step takes the previous step's result and nothing else. Several
environments (`--all`) are rendered and linted first and written only when
every one of them passed, so a failing build writes nothing at all.

Beside the templates, every build writes the cost estimate and the
architecture diagram, and lints the environment as a whole
(`generator.build.reports`).

Every problem a parameter file causes is reported as
`file:line field: message`, also those found only once the templates exist
(a quota passed, a resource type the region does not offer, a value a
layer or troposphere refused). Lint findings name templates, not fields: the
schema is meant to refuse whatever would produce one, so a finding is a
hole in it, and at most MAX_FINDINGS of them are printed.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from generator import catalog_history_file
from generator.build import awsdata, cost, reports, uptodate, versions
from generator.build.catalog import CatalogProblems, build_catalog
from generator.build.compose import ComposeError, LayerBuildError, build_layers, compose_root, enabled_layers
from generator.build.config import ConfigError, EnvConfig, Loaded, format_error, load
from generator.build.environment import View, flatten
from generator.build.lint import Finding, LintCache, LintService, lint_templates
from generator.build.output import RenderedTemplate, check_limits, env_lock, manifest, render, write_env
from generator.cfn import lambdas
from generator.cfn.resources import deploy_region, is_catalog_template
from templates import LAYER_NAMES

ROOT_FILE = "root.json"
MAX_FINDINGS = 30
MAX_FINDING_CHARS = 500
_TROPOSPHERE_LIMIT = re.compile(r"^Maximum (?:number of )?(resources|outputs|parameters|mappings) (\d+) reached$")


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
    view: View | None = None
    reports: dict[str, bytes] = field(default_factory=dict)  # cost.json, cost.md, architecture.svg/.dot

    def files(self) -> dict[str, bytes]:
        files = {t.file: t.data for t in self.templates}
        files.update(self.artifacts)
        files.update(self.reports)
        files["manifest.json"] = (
            json.dumps(manifest(self.env.environment, self.templates, self.artifacts), indent=2, sort_keys=True) + "\n"
        ).encode()
        return files

    @property
    def bodies(self) -> dict[str, dict]:
        return {t.file: t.body for t in self.templates}

    @property
    def cost(self) -> dict:
        return json.loads(self.reports[cost.COST_JSON])


@dataclass(frozen=True)
class _Where:
    """Where a parameter file's values came from, for messages found after loading."""

    path: Path | None = None
    lines: dict = field(default_factory=dict)

    def __call__(self, loc: tuple, message: str) -> str:
        return format_error(self.path, self.lines, loc, message) if self.path else message


def _layer_of(file: str) -> tuple:
    stem = file.removesuffix(".json")
    return next(((name,) for name in LAYER_NAMES if stem == name or stem.startswith(f"{name}-")), ())


def _refused(exc: LayerBuildError, where: _Where) -> BuildError:
    limit = _TROPOSPHERE_LIMIT.match(str(exc.cause))
    if limit:
        what, most = limit.groups()
        return BuildError([where((exc.layer,), f"{exc.layer}.json would pass CloudFormation's limit of {most} {what} "
                                               "per template: these settings ask for too many")])
    return BuildError([where((exc.layer,), f"the {exc.layer} layer cannot be built from these settings: {exc.cause}")])


def _unoffered_types(env: EnvConfig, templates: list[RenderedTemplate]) -> list[str]:
    """Resource types the region a template deploys to does not offer (cfn-lint's per-region lists)."""
    missing: dict[str, dict[str, set[str]]] = {}  # region -> resource type -> templates using it
    for rendered in templates:
        region = deploy_region(rendered.body, env.region)
        offered = awsdata.resource_types(region)
        for resource in rendered.body.get("Resources", {}).values():
            kind = resource.get("Type", "")
            if offered is not None and not kind.startswith("Custom::") and kind not in offered:
                missing.setdefault(region, {}).setdefault(kind, set()).add(rendered.file.removesuffix(".json"))
    messages = []
    for region, kinds in sorted(missing.items()):
        used = {r.get("Type", "") for t in templates if deploy_region(t.body, env.region) == region
                for r in t.body.get("Resources", {}).values()}
        fits = [r for r in awsdata.regions() if (awsdata.resource_types(r) or set()) >= used]
        users = sorted(set().union(*kinds.values()))
        where = env.region if region == env.region else f"{region} (where {', '.join(users)} deploys)"
        messages.append(
            f"{where} is not supported by the layers this file enables: it has no {', '.join(sorted(kinds))} "
            f"(used by {', '.join(users)}); regions that offer every resource type they use: {', '.join(fits) or 'none'}"
        )
    return messages


def render_env(env: EnvConfig, history: versions.History | None = None, where: _Where | None = None) -> EnvBuild:
    """Build every enabled layer and the root, and with `catalog.enabled` the
    catalog's templates (listing the versions of `history`); check
    CloudFormation's limits and the region's resource types. `where` places
    messages in the file. Raises CatalogProblems for catalog settings that do
    not fit the built templates or the history."""
    where = where or _Where()
    started = time.perf_counter()
    try:
        layers = build_layers(env)
        root = compose_root(env, layers)
    except LayerBuildError as exc:
        raise _refused(exc, where) from None
    except ComposeError as exc:
        raise BuildError([where((), str(exc))]) from None
    templates = [render(f"{name}.json", t) for name, t in {**layers.nested, **layers.companions}.items()]
    templates.append(render(ROOT_FILE, root))
    if env.catalog.enabled:
        bodies = {t.file.removesuffix(".json"): t.body for t in templates if t.file[:-5] in layers.nested}
        templates += build_catalog(env, bodies, history or versions.History(environment=env.environment))
    templates.sort(key=lambda t: t.file)
    errors = [where(("region",), message) for message in _unoffered_types(env, templates)]
    warnings = []
    for rendered in templates:
        e, w = check_limits(rendered, inline=deploy_region(rendered.body, env.region) != env.region)
        errors += [where(_layer_of(rendered.file), message) for message in e]
        warnings += w
    if errors:
        raise BuildError(errors)
    artifacts = {key: lambdas.artifact_data(key) for t in templates for key in lambdas.artifacts_of(t.body)}
    built = EnvBuild(env, templates, artifacts, warnings, {"generate": time.perf_counter() - started})
    # the environment as `strata deploy` rolls it out: the catalog's templates are `strata publish`'s
    built.view = flatten({file: body for file, body in built.bodies.items() if not is_catalog_template(body)})
    return built


def lint_builds(builds: list[EnvBuild], cache: LintCache, service: LintService | None = None) -> list[Finding]:
    """cfn-lint, Strata's rules and the Guard rules on every template, Strata's
    rules on each environment as a whole; meanwhile the cost and the diagram."""
    started = time.perf_counter()
    jobs: list[tuple] = [
        (f"{b.env.environment}/{t.file}", t.text, deploy_region(t.body, b.env.region))
        for b in builds for t in b.templates
    ]
    jobs += [reports.environment_job(b) for b in builds]
    renders: list = []
    findings = lint_templates(jobs, cache, service, meanwhile=lambda: renders.extend(reports.start(b) for b in builds))
    for b, process in zip(builds, renders):
        reports.finish(b, process)
    for b in builds:
        b.timings["lint and checks, all environments" if len(builds) > 1 else "lint and checks"] = time.perf_counter() - started
    return reports.named_by_layer(builds, findings)


def _finding_messages(findings: list[Finding]) -> list[str]:
    shown = [f"lint: {str(f)[:MAX_FINDING_CHARS]}" for f in findings[:MAX_FINDINGS]]
    if len(findings) > MAX_FINDINGS:
        shown.append(f"lint: ... and {len(findings) - MAX_FINDINGS} more findings")
    return shown


def _nothing_to_build(env: EnvConfig) -> str | None:
    """A root stack nesting nothing has no resources, which CloudFormation
    refuses (and a placeholder resource would deploy a stack that does
    nothing). A build-time rule: deploying an out/ built earlier needs no layer."""
    if enabled_layers(env):
        return None
    return (f"enables no layer, so there is nothing to build: set enabled: true in at least one of "
            f"{', '.join(LAYER_NAMES)}")


def _load_and_render(path: Path) -> tuple[Loaded, EnvBuild]:
    loaded = load(path)
    if (problem := _nothing_to_build(loaded.env)):
        raise BuildError([format_error(path, loaded.lines, (), problem)])
    env = loaded.env
    history = versions.load(catalog_history_file(path), env.environment) if env.catalog.enabled else None
    try:
        build = render_env(env, history, _Where(path, loaded.lines))
    except CatalogProblems as exc:
        raise ConfigError([format_error(path, loaded.lines, loc, message) for loc, message in exc.problems]) from None
    build.warnings[:0] = loaded.warnings
    return loaded, build


def build_envs(
    param_files: list[Path], out_root: Path, use_cache: bool = True, service: LintService | None = None
) -> list[EnvBuild]:
    """Load, render, lint and write every environment in `param_files`, or
    raise (ConfigError, BuildError) with nothing written.
    `service`: a LintService already warming up cfn-lint (optional)."""
    done = [_load_and_render(path) for path in param_files]
    builds = [b for _, b in done]
    cache = LintCache(out_root / ".cache" / "lint.json" if use_cache else None)
    findings = lint_builds(builds, cache, service)
    if findings:
        raise BuildError(_finding_messages(findings))
    for path, (loaded, b) in zip(param_files, done):
        files = b.files()
        with env_lock(out_root, b.env.environment):
            write_env(out_root, b.env.environment, files)
            if use_cache:
                uptodate.record(out_root, b.env.environment, path, files, loaded.raw)
    cache.save()
    return builds
