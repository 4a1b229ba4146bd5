"""dns layer: Route 53 hosted zone and ACM certificates.

Drawn in order: the zone (new, or an existing one by id), the regional
certificate for the apex and `*.domain` (the ALB's), and the certificate
CloudFront uses. CloudFront only accepts certificates from us-east-1: in
us-east-1 the regional certificate serves both; elsewhere `companions()`
emits a small template to deploy in us-east-1 whose `CloudFrontCertificateArn`
output is passed to the root stack's parameter of the same name.

Alias records live in the template of what they point at (the web layer's
for the ALB, the static layer's for CloudFront), built by `alias_records`
below from this section's `records`. That keeps the stacks acyclic: dns ->
web and dns -> static, never back.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import field_validator, model_validator
from troposphere import GetAtt, Join, Ref, Template, certificatemanager, route53

from generator.cfn.naming import logical_id
from generator.cfn.resources import keep_data, output, parameter, strata_metadata, suppress
from generator.cfn.sections import LayerSection

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "dns"
DESCRIPTION = "Route 53 hosted zone, ACM certificates and alias records"

APEX = "@"
# CloudFront reads viewer certificates from this region only.
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"
# The companion template's name (out/<env>/<name>.json) and its one output.
CLOUDFRONT_CERTIFICATE_TEMPLATE = "dns-cloudfront-certificate"
CLOUDFRONT_CERTIFICATE_OUTPUT = "CloudFrontCertificateArn"
_ZONE_ID = re.compile(r"^[A-Z0-9]{1,32}$")
MAX_NAME = 253  # characters of a DNS name in text form
_LABEL = re.compile(r"^(\*|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


class Config(LayerSection):
    domain: str | None = None
    """The domain (e.g. example.com). Without it the layer stays off and the other layers answer on
    AWS's default names (the ALB's DNS name, *.cloudfront.net)."""
    hosted_zone_id: str | None = None
    """An existing public hosted zone for `domain` (its id, e.g. Z0123456789ABCDEFGHIJ); none is created
    then. When empty a new zone is created, kept when the stack is deleted (a new zone gets new name
    servers, which the registrar would have to be told again)."""
    records: dict[str, Literal["alb", "cloudfront"]] = {"app": "alb", "www": "cloudfront", APEX: "cloudfront"}
    """Alias records (A and AAAA) to create: name under the domain ('@' for the apex) -> target."""

    @field_validator("domain")
    @classmethod
    def _valid_domain(cls, domain: str | None) -> str | None:
        if domain is not None and (not _LABEL.match(domain) or "." not in domain):
            raise ValueError("must be a lower-case domain name like example.com")
        if domain is not None and len(domain) > MAX_NAME:
            raise ValueError(f"is {len(domain)} characters long; a DNS name has at most {MAX_NAME}")
        return domain

    @field_validator("records")
    @classmethod
    def _valid_names(cls, records: dict[str, str]) -> dict[str, str]:
        bad = sorted(n for n in records if n != APEX and not _LABEL.match(n))
        if bad:
            raise ValueError(f"not a record name under the domain: {', '.join(bad)}")
        return records

    @field_validator("hosted_zone_id")
    @classmethod
    def _valid_zone_id(cls, zone_id: str | None) -> str | None:
        if zone_id is not None and not _ZONE_ID.match(zone_id):
            raise ValueError("must be a Route 53 hosted zone id like Z0123456789ABCDEFGHIJ (without /hostedzone/)")
        return zone_id

    @model_validator(mode="after")
    def _domain_when_enabled(self) -> Config:
        if self.enabled and not self.domain:
            raise ValueError("dns.enabled needs dns.domain (without a domain, leave the layer off)")
        if self.hosted_zone_id and not self.domain:
            raise ValueError("dns.hosted_zone_id needs dns.domain (the zone's name)")
        long = sorted(name for name in self.records if self.domain and len(f"{name}.{self.domain}") > MAX_NAME)
        if long:
            raise ValueError(f"records {', '.join(long)} under {self.domain} would be longer than the {MAX_NAME} "
                             "characters a DNS name has at most")
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


def build(env: EnvConfig) -> Template:
    cfg: Config = env.dns
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    zone_id = _hosted_zone(t, cfg)
    certificate = _certificate(t, cfg, "Certificate", zone_id)
    output(t, "HostedZoneId", zone_id, f"Route 53 hosted zone of {cfg.domain}")
    if not cfg.hosted_zone_id:
        # ACM validates through this zone, so the certificate (and the stack) waits until the
        # registrar delegates the domain to these name servers.
        output(t, "HostedZoneNameServers", Join(",", GetAtt("HostedZone", "NameServers")),
               f"Name servers of the new zone: set them as {cfg.domain}'s NS records at the registrar (comma-separated)")
    output(t, "DomainName", cfg.domain, "The domain the zone and certificates are for")
    output(t, "CertificateArn", Ref(certificate), f"ACM certificate for {cfg.domain} and *.{cfg.domain} in this region (ALB)")
    if env.region == CLOUDFRONT_CERTIFICATE_REGION:
        output(t, CLOUDFRONT_CERTIFICATE_OUTPUT, Ref(certificate), "The same certificate: this region is the one CloudFront reads")
    return t


def companions(env: EnvConfig) -> dict[str, Template]:
    """Outside us-east-1: a template to deploy in us-east-1 holding the
    certificate CloudFront needs, validated in the same hosted zone (Route 53
    is global, so a us-east-1 stack can write the validation records). Only
    when a distribution uses it: the static layer on, with a record aliasing
    CloudFront; otherwise nobody would read its output."""
    cfg: Config = env.dns
    if env.region == CLOUDFRONT_CERTIFICATE_REGION or not (env.static.enabled and record_names(env, "cloudfront")):
        return {}
    t = Template(Description=(
        f"{env.project} {env.environment}: ACM certificate for CloudFront. Deploy this stack in "
        f"{CLOUDFRONT_CERTIFICATE_REGION} with HostedZoneId = the root stack's HostedZoneId output, then pass its "
        f"{CLOUDFRONT_CERTIFICATE_OUTPUT} output to the root stack's {CLOUDFRONT_CERTIFICATE_OUTPUT} parameter"
    ))
    strata_metadata(t, "Region", CLOUDFRONT_CERTIFICATE_REGION)  # strata deploy and the lint gate read it
    extra = {"Default": cfg.hosted_zone_id} if cfg.hosted_zone_id else {}
    zone = parameter(
        t, "HostedZoneId", "AWS::Route53::HostedZone::Id",
        f"Hosted zone of {cfg.domain}: the HostedZoneId output of the {env.environment} root stack", **extra,
    )
    certificate = _certificate(t, cfg, "CloudFrontCertificate", Ref(zone))
    output(t, CLOUDFRONT_CERTIFICATE_OUTPUT, Ref(certificate), f"ACM certificate for {cfg.domain} and *.{cfg.domain} in us-east-1 (CloudFront)")
    return {CLOUDFRONT_CERTIFICATE_TEMPLATE: t}


def _hosted_zone(t: Template, cfg: Config):
    if cfg.hosted_zone_id:
        return cfg.hosted_zone_id
    zone = t.add_resource(route53.HostedZone(
        "HostedZone", Name=cfg.domain,
        HostedZoneConfig=route53.HostedZoneConfiguration(Comment=f"Public zone for {cfg.domain}, managed by Strata"),
    ))
    # Recreating the zone would hand out new name servers and break the
    # delegation at the registrar, so the zone outlives its stack.
    keep_data(zone, "Retain")
    return Ref(zone)


def _certificate(t: Template, cfg: Config, title: str, zone_id) -> certificatemanager.Certificate:
    """The apex and the wildcard (one level: www, app, ...) in one certificate,
    DNS-validated: with the zone id in DomainValidationOptions, CloudFormation
    writes the validation CNAMEs itself and ACM renews without anyone acting.
    Both names validate through the same CNAME; one option per name, as ACM
    lists them."""
    names = [cfg.domain, f"*.{cfg.domain}"]
    certificate = t.add_resource(certificatemanager.Certificate(
        title,
        DomainName=cfg.domain,
        SubjectAlternativeNames=names[1:],
        ValidationMethod="DNS",
        DomainValidationOptions=[
            certificatemanager.DomainValidationOption(DomainName=name, HostedZoneId=zone_id) for name in names
        ],
    ))
    return suppress(certificate, "CKV2_AWS_71", (
        "The wildcard is the design: one certificate covers every name in dns.records (app, www, ...) "
        "without re-issuing when a record is added; the private key never leaves ACM"
    ))
