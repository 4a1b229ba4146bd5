"""The lint gate: cfn-lint, in-process, once per build.

cfn-lint's start-up (importing it, building every rule) costs far more than
checking one template, so one `Runner` is built per process and reused for
every template; `cfnlint.api.lint()` would rebuild the rules on each call.
Templates whose bytes, region and rule set have not changed since they last
passed are not linted again (a cache under `out/.cache/`). With many
templates to check, they are spread over the cores (fork start method, one
Runner per worker).

Errors *and* warnings fail the build; informational findings are not
reported (cfn-lint's default).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

from generator.checks import CHECKS_DIR

# Below this many templates to check, forking costs more than it saves.
PARALLEL_THRESHOLD = 4


@dataclass(frozen=True)
class Finding:
    template: str
    line: int
    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        where = f" {self.resource}" if self.resource else ""
        return f"{self.template}:{self.line} {self.rule}{where}: {self.message}"


def _cfnlint_version() -> str:
    # Read from the installed metadata: importing cfnlint itself costs ~1 s,
    # which a build whose templates are all cached must not pay.
    return importlib.metadata.version("cfn-lint")


def _rules_fingerprint() -> str:
    """Strata's own rules are part of the cache key: editing one re-lints everything."""
    digest = hashlib.sha256()
    for path in sorted(CHECKS_DIR.glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


class Linter:
    """One cfn-lint Runner (cfn-lint's rules plus Strata's checks) for one region."""

    def __init__(self, region: str):
        from cfnlint.config import ConfigMixIn
        from cfnlint.runner import Runner

        self.region = region
        self.runner = Runner(ConfigMixIn([], regions=[region], append_rules=[str(CHECKS_DIR)]))

    def lint(self, name: str, text: str) -> list[Finding]:
        from cfnlint.decode.decode import decode_str

        template, errors = decode_str(text)
        matches = list(errors or []) if template is None else list(self.runner.validate_template(template))
        return sorted(
            (_finding(name, m) for m in matches if m.rule.severity in ("error", "warning")),
            key=lambda f: (f.line, f.rule, f.message),
        )


def _finding(name: str, match) -> Finding:
    path = list(getattr(match, "path", None) or [])
    resource = str(path[1]) if len(path) > 1 and path[0] in ("Resources", "Outputs", "Parameters") else ""
    return Finding(name, int(match.linenumber or 0), match.rule.id, resource, match.message)


class LintCache:
    """Keys of templates that passed: sha256 of (bytes, region, cfn-lint version, Strata rules)."""

    def __init__(self, path: Path | None):
        self.path = path
        self._passed: set[str] = set()
        if path and path.is_file():
            try:
                self._passed = set(json.loads(path.read_text()))
            except (ValueError, TypeError):
                self._passed = set()  # a damaged cache only costs a re-lint

    @staticmethod
    def key(text: str, region: str) -> str:
        digest = hashlib.sha256()
        for part in (text, region, _cfnlint_version(), _rules_fingerprint()):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def passed(self, key: str) -> bool:
        return key in self._passed

    def add(self, keys: list[str]) -> None:
        self._passed.update(keys)

    def save(self) -> None:
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(self._passed)))
        os.replace(tmp, self.path)


_linters: dict[str, Linter] = {}


def _linter(region: str) -> Linter:
    if region not in _linters:
        _linters[region] = Linter(region)
    return _linters[region]


def _lint_job(job: tuple[str, str, str]) -> list[Finding]:
    name, text, region = job
    return _linter(region).lint(name, text)


def lint_templates(jobs: list[tuple[str, str, str]], cache: LintCache | None = None) -> list[Finding]:
    """Lint `(name, text, region)` jobs; return every error and warning.
    Jobs the cache says passed are skipped; jobs that pass now are added to
    the cache (the caller saves it once the build has been written)."""
    cache = cache or LintCache(None)
    keyed = [(job, LintCache.key(job[1], job[2])) for job in jobs]
    todo = [(job, key) for job, key in keyed if not cache.passed(key)]
    if len(todo) >= PARALLEL_THRESHOLD and (os.cpu_count() or 1) > 1:
        # Build the Runners here, before forking: the workers inherit them
        # instead of each paying cfn-lint's start-up again.
        for region in sorted({job[2] for job, _ in todo}):
            _linter(region)
        with multiprocessing.get_context("fork").Pool(min(os.cpu_count() or 1, len(todo))) as pool:
            results = pool.map(_lint_job, [job for job, _ in todo], chunksize=1)
    else:
        results = [_lint_job(job) for job, _ in todo]
    cache.add([key for (_, key), findings in zip(todo, results) if not findings])
    return [finding for findings in results for finding in findings]
