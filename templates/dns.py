"""dns layer: Route 53 hosted zone and ACM certificates (issue 3 completes it).

Alias records live in the template of what they point at (the web layer's
for the ALB, the static layer's for CloudFront), built by `alias_records`
below from this section's `records`. That keeps the stacks acyclic: dns ->
web and dns -> static, never back.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import field_validator, model_validator
from troposphere import Ref, Template, route53

from generator.naming import logical_id
from generator.resources import parameter
from generator.sections import LayerSection

if TYPE_CHECKING:
    from generator.config import EnvConfig

NAME = "dns"
DESCRIPTION = "Route 53 hosted zone, ACM certificates and alias records"

APEX = "@"
_LABEL = re.compile(r"^(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class Config(LayerSection):
    domain: str | None = None
    """The domain (e.g. example.com). Without it the layer stays off and the other layers answer on
    AWS's default names (the ALB's DNS name, *.cloudfront.net)."""
    hosted_zone_id: str | None = None
    """An existing public hosted zone for `domain`; when empty a new zone is created."""
    records: dict[str, Literal["alb", "cloudfront"]] = {"app": "alb", "www": "cloudfront", APEX: "cloudfront"}
    """Alias records (A and AAAA) to create: name under the domain ('@' for the apex) -> target."""

    @field_validator("domain")
    @classmethod
    def _valid_domain(cls, domain: str | None) -> str | None:
        if domain is not None and (not _LABEL.match(domain) or "." not in domain):
            raise ValueError("must be a lower-case domain name like example.com")
        return domain

    @field_validator("records")
    @classmethod
    def _valid_names(cls, records: dict[str, str]) -> dict[str, str]:
        bad = sorted(n for n in records if n != APEX and not _LABEL.match(n))
        if bad:
            raise ValueError(f"not a record name under the domain: {', '.join(bad)}")
        return records

    @model_validator(mode="after")
    def _domain_when_enabled(self) -> Config:
        if self.enabled and not self.domain:
            raise ValueError("dns.enabled needs dns.domain (without a domain, leave the layer off)")
        return self


def record_names(env: EnvConfig, target: Literal["alb", "cloudfront"]) -> list[str]:
    """Fully qualified names that alias `target`, or [] when the dns layer is off."""
    cfg: Config = env.dns
    if not cfg.enabled:
        return []
    return sorted(cfg.domain if name == APEX else f"{name}.{cfg.domain}" for name, t in cfg.records.items() if t == target)


def alias_records(
    t: Template, env: EnvConfig, target: Literal["alb", "cloudfront"], dns_name, target_zone_id, ipv6: bool = True
) -> list[route53.RecordSetType]:
    """A (and, with `ipv6`, AAAA) alias records for every name in `dns.records`
    that points at `target`, in the zone given by the `HostedZoneId` parameter
    (the dns layer's output). Route 53 answers alias queries for free and
    follows the target's address changes. Returns [] when the dns layer is off."""
    names = record_names(env, target)
    if not names:
        return []
    zone = parameter(t, "HostedZoneId", "AWS::Route53::HostedZone::Id", "Route 53 hosted zone for the alias records")
    made = []
    for fqdn in names:
        for record_type in ("A", "AAAA") if ipv6 else ("A",):
            made.append(t.add_resource(route53.RecordSetType(
                logical_id(fqdn, record_type, "record"),
                HostedZoneId=Ref(zone), Name=fqdn, Type=record_type,
                AliasTarget=route53.AliasTarget(DNSName=dns_name, HostedZoneId=target_zone_id, EvaluateTargetHealth=False),
            )))
    return made


def build(env: EnvConfig) -> Template:  # pragma: no cover - issue 3 builds the zone and certificates
    raise NotImplementedError(f"the {NAME} layer is not built yet")
