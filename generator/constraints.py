"""Rules that span layers, checked once over the whole EnvConfig.

Each rule is a function `(env) -> list[(field_path, message)]` listed in
RULES; `check` runs them all. A section's own contradictions (min > max, a
bad CIDR plan) belong in that section's validators, not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from generator.config import EnvConfig

Problem = tuple[tuple, str]


def _wiring_needs_network(env: EnvConfig) -> list[Problem]:
    """Every other layer that places resources in the VPC needs the network layer."""
    if env.network.enabled:
        return []
    return [
        ((name, "enabled"), "needs network.enabled: true (this layer places resources in the VPC)")
        for name in ("security", "web", "compute", "containers", "database", "cache", "storage")
        if env.section(name).enabled
    ]


def _bastion_needs_admin_cidr(env: EnvConfig) -> list[Problem]:
    """SSH to a bastion is opened to `security.admin_cidr` only; without one there is nobody to let in."""
    if env.compute.bastion.enabled and env.security.admin_cidr is None:
        return [(("security", "admin_cidr"), "required when compute.bastion.enabled is true")]
    return []


RULES: list[Callable[[EnvConfig], list[Problem]]] = [_wiring_needs_network, _bastion_needs_admin_cidr]


def check(env: EnvConfig) -> list[Problem]:
    return [problem for rule in RULES for problem in rule(env)]
