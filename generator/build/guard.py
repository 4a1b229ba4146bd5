"""AWS's Guard rules, run in-process on every template of a build.

The rules are AWS Control Tower's proactive controls written for
CloudFormation Guard (`CT.<SERVICE>.PR.<n>`), vendored at a pinned version
in `generator/build/guard_rules/` from the PyPI package that bundles them
(`tools/vendor_guard_rules.py`; the source and Guard version are in
`index.json`). They run through `cfn-guard-rs`, a Python binding of
cfn-guard: no cfn-guard binary, no subprocess.

Which rules run: every vendored rule evaluating a resource type the
template has, except EXCLUDED (each with the reason it does not apply to
Strata's architecture, or which Strata rule covers it better). A finding is
suppressed only in the resource's Metadata, with a reason
(`generator.cfn.resources.suppress(resource, "CT.RDS.PR.5", reason)` writes
`Metadata.guard.SuppressedRules` and `Metadata.guard.Reasons`).

How a rule is evaluated: once per template on the resources of its types
(plus what they reference, so a policy's bucket resolves), minus resources
that suppress it; on FAIL, once per resource to say which. The binding
returns only the last 8 KiB of Guard's report (its buffered writer is not
flushed into the result), so a long report cannot be parsed: only
non-compliant clauses make a report that long, so an unparsable report is a
FAIL, and the messages come from the rule's metadata (title and fix).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from generator.build.intrinsics import references

RULES_DIR = Path(__file__).resolve().parent / "guard_rules"

# Rules of the vendored set's services that are not run, and why.
EXCLUDED: dict[str, str] = {
    "CT.AUTOSCALING.PR.1": "subnets come from a parameter Guard cannot follow; E9005 checks the AZ span across layers",
    "CT.AUTOSCALING.PR.6": "one instance type is the parameter file's choice (compute.instance_type); a Spot mix adds "
                           "compute.spot.extra_instance_types",
    "CT.AUTOSCALING.PR.10": "with compute.instance_requirements AWS picks the types, Nitro or not; with an instance type "
                            "the group does not override the launch template",
    "CT.AUTOSCALING.PR.11": "asks for instance types with in-transit encryption between instances (c5n, m5n, ...); "
                            "instance types are a parameter (compute.instance_type), burstable by default",
    "CT.CLOUDFRONT.PR.4": "origin failover needs a second origin group; the static site has one bucket origin",
    "CT.CLOUDFRONT.PR.6": "an environment without a domain serves *.cloudfront.net with CloudFront's certificate; "
                          "with one, the certificate is a parameter from us-east-1 Guard cannot follow",
    "CT.CLOUDFRONT.PR.7": "SNI applies to custom certificates only (see CT.CLOUDFRONT.PR.6)",
    "CT.CLOUDFRONT.PR.9": "the minimum TLS version applies to custom certificates only (see CT.CLOUDFRONT.PR.6)",
    "CT.CLOUDWATCH.PR.2": "log retention is a per-environment setting (a year in prod flow logs, days in dev); "
                          "E9008 requires every log group to have one",
    "CT.ECS.PR.3": "the image's user is the application's choice until containers.user exists (issue 16)",
    "CT.ECS.PR.7": "memory is limited per task (containers.memory_mib, one container per task)",
    "CT.ELASTICLOADBALANCING.PR.2": "the HTTPS certificate is an ACM certificate passed as a parameter (dns layer or "
                                    "web.certificate_arn), which Guard cannot follow",
    "CT.ELASTICACHE.PR.8": "Redis clients authenticate with an AUTH token from Secrets Manager; RBAC user groups are not built",
    "CT.KMS.PR.3": "key policies admit services through kms:ViaService conditions rather than grant restrictions",
    "CT.LAMBDA.PR.3": "a function in the VPC takes its subnets from a parameter Guard cannot follow; the others run "
                      "outside it on purpose, each with its reason (checkov CKV_AWS_117)",
    "CT.RDS.PR.6": "backtracking is Aurora MySQL only and billed per change record; point-in-time restore covers recovery",
    "CT.RDS.PR.25": "exported logs are database.log_exports (PostgreSQL: postgresql; MySQL: audit, error, slowquery, "
                    "leaving out the general log for its volume)",
    "CT.S3.PR.2": "server access logs are per bucket and per environment (static.access_logs); the log buckets "
                  "themselves cannot log to themselves",
    "CT.S3.PR.4": "event notifications only where something consumes them (the site and upload buckets)",
    "CT.S3.PR.8": "E9013 checks the same deny-without-TLS statement and follows the bucket's name through Fn::Sub",
    "CT.S3.PR.9": "Object Lock (WORM) suits records that must never change, not sites, uploads or logs",
    "CT.S3.PR.10": "buckets use SSE-S3; ALB access-log delivery accepts only SSE-S3",
    "CT.SQS.PR.1": "E9012 checks dead-letter queues and knows Lambda and subscription dead-letter queues too",
}


@dataclass(frozen=True)
class GuardFinding:
    template: str
    resource: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.template} {self.rule} {self.resource}: {self.message}"


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    fix: str
    types: frozenset
    text: str


@lru_cache(maxsize=1)
def rules() -> tuple[Rule, ...]:
    """The vendored rules that run (index order), EXCLUDED left out."""
    index = json.loads((RULES_DIR / "index.json").read_text(encoding="utf-8"))
    return tuple(
        Rule(r["id"], r["title"], r["fix"], frozenset(r["types"]), (RULES_DIR / r["file"]).read_text(encoding="utf-8"))
        for r in index["rules"] if r["id"] not in EXCLUDED
    )


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """What a cached Guard result depends on: the vendored rules and the exclusions."""
    digest = hashlib.sha256(json.dumps(sorted(EXCLUDED)).encode())
    for path in sorted(RULES_DIR.rglob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def warm_up() -> None:
    """Load the binding and the rules now (the lint child does, before it forks its workers)."""
    import cfn_guard_rs.cfn_guard_rs  # noqa: F401

    rules()


def suppressed(resource: dict, rule_id: str) -> bool:
    guard = (resource.get("Metadata") or {}).get("guard") or {}
    return rule_id in (guard.get("SuppressedRules") or []) and bool(str((guard.get("Reasons") or {}).get(rule_id, "")).strip())


def _status(data: dict, text: str) -> str:
    from cfn_guard_rs.cfn_guard_rs import run_checks_rs

    raw = run_checks_rs(json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": data}), text, False)
    try:
        return json.loads(raw)["status"]
    except ValueError:
        return "FAIL"  # see the module docstring: only a non-compliant report outgrows the binding's buffer


def _context(resources: dict, ids: set[str], skip_types: frozenset = frozenset()) -> dict:
    """`ids` and what they reference (a policy's bucket, a listener's load
    balancer), leaving out referenced resources of `skip_types`."""
    wanted = set(ids)
    for rid in ids:
        wanted |= {k for k in references(resources[rid].get("Properties", {})) & set(resources)
                   if resources[k].get("Type") not in skip_types}
    return {k: resources[k] for k in sorted(wanted)}


def check_template(name: str, body: dict) -> list[GuardFinding]:
    """Every vendored rule that applies to `body`; one finding per non-compliant resource."""
    resources = body.get("Resources", {})
    present = {r.get("Type") for r in resources.values()}
    findings = []
    for rule in rules():
        if not rule.types & present:
            continue
        targets = {k for k, r in resources.items() if r.get("Type") in rule.types and not suppressed(r, rule.id)}
        if not targets or _status(_context(resources, targets), rule.text) != "FAIL":
            continue
        message = f"{rule.title}. Fix: {rule.fix}" if rule.fix else rule.title
        # each resource alone, with what it references but no other resource the rule evaluates
        failing = [rid for rid in sorted(targets) if _status(_context(resources, {rid}, rule.types), rule.text) == "FAIL"]
        findings += [GuardFinding(name, rid, rule.id, message) for rid in failing]
        if not failing:  # fails only as a whole: say so rather than drop it
            findings.append(GuardFinding(name, "", rule.id, f"{message} (the template as a whole)"))
    return findings


def check(templates: dict[str, dict]) -> list[GuardFinding]:
    """Guard findings over `name -> template body`."""
    return [f for name, body in sorted(templates.items()) for f in check_template(name, body)]
