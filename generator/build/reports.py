"""What a reviewer looks at before a deploy, written by every build beside
the templates and read off them: the cost estimate (`cost.json`, `cost.md`,
`generator.build.cost`), the architecture diagram (`architecture.svg` and
its Graphviz source `architecture.dot`, `generator.build.diagram`), and the
environment as one inlined template (`generator.build.environment`) that
Strata's cross-layer rules lint as a whole. They are computed while the lint
child works, and the diagram is laid out by a child process, so they add
little to a build."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from generator.build import cost, diagram
from generator.build.lint import ENVIRONMENT, Finding, resource_line

if TYPE_CHECKING:
    from generator.build.pipeline import EnvBuild

DIAGRAM_SVG, DIAGRAM_DOT = "architecture.svg", "architecture.dot"
ALL_LAYERS = "(all layers)"


def environment_job(b: EnvBuild) -> tuple[str, str, str, str]:
    """The lint job of an environment as one template (Strata's rules only)."""
    assert b.view is not None
    return (f"{b.env.environment}/{ALL_LAYERS}", json.dumps(b.view.template, indent=1, sort_keys=True), b.env.region,
            ENVIRONMENT)


def from_environment(b: EnvBuild, finding: Finding) -> Finding:
    """A finding on the inlined environment, named by the template and logical id a person opens."""
    assert b.view is not None
    file, logical_id = b.view.origin.get(finding.resource, (ALL_LAYERS, finding.resource))
    text = next((t.text for t in b.templates if t.file == file), "")
    return Finding(f"{b.env.environment}/{file}", resource_line(text, logical_id), finding.rule, logical_id,
                   f"{finding.message} (across layers)")


def named_by_layer(builds: list[EnvBuild], findings: list[Finding]) -> list[Finding]:
    """Findings on the inlined environments mapped back to their layers'
    templates, each (template, rule, resource) once (a layer's own finding first)."""
    by_env = {f"{b.env.environment}/{ALL_LAYERS}": b for b in builds}
    mapped = [from_environment(by_env[f.template], f) if f.template in by_env else f for f in findings]
    seen, unique = set(), []
    for finding in sorted(mapped, key=lambda f: f.message.endswith("(across layers)")):
        if (finding.template, finding.rule, finding.resource) not in seen:
            seen.add((finding.template, finding.rule, finding.resource))
            unique.append(finding)
    return unique


def start(b: EnvBuild) -> Any:
    """Price the build and start laying out its diagram; returns what `finish` collects."""
    started = time.perf_counter()
    estimate = cost.for_build(b.env, b.bodies)
    b.reports.update(cost.files(estimate))
    b.timings["cost"] = time.perf_counter() - started
    started = time.perf_counter()
    assert b.view is not None
    dot = diagram.to_dot(diagram.from_view(b.view, b.env.region), f"{b.env.project} {b.env.environment} ({b.env.region})")
    b.reports[DIAGRAM_DOT] = dot.encode()
    process = diagram.start_render(dot)
    b.timings["diagram"] = time.perf_counter() - started
    return process


def finish(b: EnvBuild, process: Any) -> None:
    svg = diagram.finish_render(process)
    if svg is None:
        b.warnings.append(f"{diagram.RENDERER} not found: wrote {DIAGRAM_DOT} only (pip install graphviz-pure, "
                          "or render it with Graphviz: dot -Tsvg)")
    else:
        b.reports[DIAGRAM_SVG] = svg
