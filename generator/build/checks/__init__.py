"""Strata's own template checks, as cfn-lint rules (one rule per module,
cfn-lint's layout) so they run inside the same lint gate as cfn-lint's own.

They cover what checkov lacks for CloudFormation. A check that does not apply
to one resource is suppressed in that resource's Metadata with a reason
(`generator.cfn.resources.suppress`), never globally.
"""

from pathlib import Path

CHECKS_DIR = Path(__file__).resolve().parent


def rule_table() -> list[str]:
    """The ids of Strata's rules, from their module docstrings' first word ("E9005: ...")."""
    return sorted(
        p.read_text(encoding="utf-8").split('"""', 2)[1].split(":", 1)[0].strip()
        for p in CHECKS_DIR.glob("*.py") if p.name != "__init__.py"
    )
