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

Two kinds of job: a template (cfn-lint with Strata's rules, then AWS's Guard
rules, `generator.build.guard`), and an environment: every layer of one
environment inlined into one template (`generator.build.environment`), on
which only Strata's rules run, so the rules that span layers (E9005, E9009,
E9011) see what a single layer only names through parameters.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

from generator.build import guard
from generator.build.checks import CHECKS_DIR
from generator.build.uptodate import file_lock, replace_atomically

TEMPLATE, ENVIRONMENT = "template", "environment"

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

        from cfnlint.rules import Rules

        self.region = region
        self.runner = Runner(ConfigMixIn([], regions=[region], append_rules=[str(CHECKS_DIR)]))
        # Strata's rules alone (the environment jobs): the instances the Runner loaded from CHECKS_DIR
        self._strata_rules = Rules({r.id: r for r in self.runner.rules.values() if r.id.startswith("E9")})
        guard.warm_up()  # before the workers fork, so they inherit the binding and the parsed index

    def lint(self, name: str, text: str) -> list[Finding]:
        """cfn-lint's rules, Strata's rules and the Guard rules on one template."""
        from cfnlint.decode.decode import decode_str

        template, errors = decode_str(text)
        matches = list(errors or []) if template is None else list(self.runner.validate_template(template))
        found = [_finding(name, m) for m in matches if m.rule.severity in ("error", "warning")]
        if template is not None:  # plain JSON for Guard: cfn-lint's decoded nodes do not pickle back to the parent
            found += [Finding(name, resource_line(text, g.resource), g.rule, g.resource, g.message)
                      for g in guard.check_template(name, json.loads(text))]
        return sorted(found, key=lambda f: (f.line, f.rule, f.message))

    def check(self, name: str, text: str) -> list[Finding]:
        """Strata's own rules only (the architecture checks), e.g. on an environment's inlined template."""
        from cfnlint.config import ConfigMixIn
        from cfnlint.runner.template.runner import run_template_by_data

        matches = run_template_by_data(json.loads(text), ConfigMixIn([], regions=[self.region]), self._strata_rules)
        return sorted((_finding(name, m) for m in matches), key=lambda f: (f.resource, f.rule, f.message))


def resource_line(text: str, logical_id: str) -> int:
    """The line of `"<logical id>": {` under Resources in a JSON template (0 if absent)."""
    import re

    start = text.find('"Resources"')
    found = re.compile(rf'\n[ \t]*"{re.escape(logical_id)}"\s*:\s*\{{').search(text, max(start, 0)) if logical_id else None
    return text.count("\n", 0, found.start()) + 2 if found else 0


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
    def key(text: str, region: str, kind: str = TEMPLATE) -> str:
        digest = hashlib.sha256()
        for part in (text, region, kind, _cfnlint_version(), _rules_fingerprint(), guard.fingerprint()):
            digest.update(part.encode())
            digest.update(b"\0")
        return digest.hexdigest()

    def passed(self, key: str) -> bool:
        return key in self._passed

    def add(self, keys: list[str]) -> None:
        self._passed.update(keys)

    def save(self) -> None:
        """Add what passed to the file, keeping what other builds added since
        it was read: read, merge and replace under the file's lock, so two
        builds at once each keep the other's keys."""
        if not self.path:
            return
        with file_lock(self.path.with_suffix(".lock")):
            self._passed |= LintCache(self.path)._passed
            replace_atomically(self.path, json.dumps(sorted(self._passed)))


_linters: dict[str, Linter] = {}


def _linter(region: str) -> Linter:
    if region not in _linters:
        _linters[region] = Linter(region)
    return _linters[region]


def _lint_job(job: tuple) -> list[Finding]:
    name, text, region, *kind = job
    linter = _linter(region)
    return linter.check(name, text) if kind == [ENVIRONMENT] else linter.lint(name, text)


def _leave_interrupts_to_the_parent() -> None:
    # Ctrl-C reaches every process of the terminal's group: the parent stops
    # the workers and reports it once, instead of each worker's traceback.
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run(jobs: list[tuple[str, str, str]]) -> list[list[Finding]]:
    """Findings per job, in order; over the cores when there are many jobs."""
    if len(jobs) >= PARALLEL_THRESHOLD and (os.cpu_count() or 1) > 1:
        # Build the Runners here, before forking: the workers inherit them
        # instead of each paying cfn-lint's start-up again.
        for region in sorted({job[2] for job in jobs}):
            _linter(region)
        with multiprocessing.get_context("fork").Pool(min(os.cpu_count() or 1, len(jobs)),
                                                      initializer=_leave_interrupts_to_the_parent) as pool:
            return pool.map(_lint_job, jobs, chunksize=1)
    return [_lint_job(job) for job in jobs]


class LintService:
    """cfn-lint warming up in a child process while the build does its own work.

    Importing cfn-lint and building its rules takes a second or more; loading
    the parameter file and generating the templates takes about as long
    again, mostly imports. Started first thing in `strata build`, the child
    pays its start-up (for the regions `param_files` name) while the parent
    pays its own, then lints what it is sent. Use it as a context manager:
    leaving stops the child, also when the build failed before linting."""

    def __init__(self, param_files: list[Path] = ()):  # type: ignore[assignment]
        context = multiprocessing.get_context("fork")
        self._conn, child_conn = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_conn, list(param_files)), daemon=False)
        self._process.start()
        child_conn.close()

    def run(self, jobs: list[tuple[str, str, str]]) -> list[list[Finding]]:
        self.send(jobs)
        return self.receive()

    def send(self, jobs: list[tuple]) -> None:
        self._conn.send(jobs)

    def receive(self) -> list[list[Finding]]:
        outcome = self._conn.recv()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def __enter__(self) -> LintService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._process.is_alive():
            self._process.terminate()
        self._process.join()
        self._conn.close()


def _regions_named_in(param_files: list[Path]) -> list[str]:
    """Best effort: the `region` of each parameter file, read with the same
    caps as the config loader (a bad file is the loader's to report)."""
    from generator.build import awsdata, source

    regions = set()
    for path in param_files:
        try:
            data = source.load(path).data
        except source.SourceError:
            continue
        region = data.get("region") if isinstance(data, dict) else None
        if isinstance(region, str) and region in awsdata.regions():
            regions.add(region)
    return sorted(regions)


def _serve(conn, param_files: list[Path]) -> None:
    _leave_interrupts_to_the_parent()
    for region in _regions_named_in(param_files):
        _linter(region)
    jobs = conn.recv()
    try:
        conn.send(_run(jobs))
    except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
        conn.send(exc)


def lint_templates(
    jobs: list[tuple], cache: LintCache | None = None, service: LintService | None = None,
    meanwhile=None,
) -> list[Finding]:
    """Lint `(name, text, region[, kind])` jobs; return every error and warning.
    Jobs the cache says passed are skipped; jobs that pass now are added to
    the cache (the caller saves it once the build has been written). With a
    `service`, the linting happens in its warmed-up child process, and
    `meanwhile()` (the build's other steps) runs in this one while it does."""
    cache = cache or LintCache(None)
    keyed = [(job, LintCache.key(job[1], job[2], *job[3:])) for job in jobs]
    # Largest first: lint time grows with a template's size, and starting the
    # long ones early lets the cores finish together.
    todo = sorted(((job, key) for job, key in keyed if not cache.passed(key)), key=lambda item: -len(item[0][1]))
    todo_jobs = [job for job, _ in todo]
    if service and todo_jobs:
        service.send(todo_jobs)
    if meanwhile:
        meanwhile()
    if not todo_jobs:
        results = []
    elif service:
        results = service.receive()
    else:
        results = _run(todo_jobs)
    cache.add([key for (_, key), findings in zip(todo, results) if not findings])
    return [finding for findings in results for finding in findings]
