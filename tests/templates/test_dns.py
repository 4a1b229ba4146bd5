"""dns layer: zone, certificates, the us-east-1 companion, alias records, the
schema, the wiring with the static layer, and deploys on moto."""

from __future__ import annotations


import boto3
import pytest
from pydantic import ValidationError
from troposphere import Template

from generator.build.compose import build_layers, compose_root
from generator.build.config import EnvConfig
from generator.cfn.lambdas import artifact_data, artifacts_of
from generator.build.lint import lint_templates
from generator.build.output import render as render_text
from templates import dns, static
from tests.helpers import BASE_ENV, deploy_stack, make_env, merge, only_resource, render, resources_of_type
from tests.templates.test_static import STAND_IN_DOMAIN, without_cloudfront

DOMAIN = {"enabled": True, "domain": "example.com"}
EXISTING = "Z0123456789ABCDEFGHIJ"
STATIC = {"enabled": True}


def build(region: str = "eu-west-1", **dns_fields) -> dict:
    return render(dns.build(make_env(region=region, dns={**DOMAIN, **dns_fields})))


# --- zone and certificates ---------------------------------------------------

def test_new_zone_is_created_and_outlives_the_stack():
    body = build()
    name, zone = only_resource(body, "AWS::Route53::HostedZone")
    assert zone["Properties"]["Name"] == "example.com"
    assert zone["DeletionPolicy"] == zone["UpdateReplacePolicy"] == "Retain"
    assert body["Outputs"]["HostedZoneId"]["Value"] == {"Ref": name}


def test_certificate_covers_apex_and_wildcard_validated_in_the_zone():
    body = build()
    _, certificate = only_resource(body, "AWS::CertificateManager::Certificate")
    p = certificate["Properties"]
    assert p["DomainName"] == "example.com"
    assert p["SubjectAlternativeNames"] == ["*.example.com"]
    assert p["ValidationMethod"] == "DNS"
    assert p["DomainValidationOptions"] == [
        {"DomainName": "example.com", "HostedZoneId": {"Ref": "HostedZone"}},
        {"DomainName": "*.example.com", "HostedZoneId": {"Ref": "HostedZone"}},
    ]


def test_existing_zone_is_used_not_created():
    body = build(hosted_zone_id=EXISTING)
    assert resources_of_type(body, "AWS::Route53::HostedZone") == {}
    _, certificate = only_resource(body, "AWS::CertificateManager::Certificate")
    assert {o["HostedZoneId"] for o in certificate["Properties"]["DomainValidationOptions"]} == {EXISTING}
    assert body["Outputs"]["HostedZoneId"]["Value"] == EXISTING


def test_outputs_outside_us_east_1():
    body = build()
    assert set(body["Outputs"]) == {"HostedZoneId", "HostedZoneNameServers", "DomainName", "CertificateArn"}
    assert body["Outputs"]["DomainName"]["Value"] == "example.com"
    assert body["Outputs"]["CertificateArn"]["Value"] == {"Ref": "Certificate"}
    assert body["Outputs"]["HostedZoneNameServers"]["Value"] == {"Fn::Join": [",", {"Fn::GetAtt": ["HostedZone", "NameServers"]}]}


def test_an_existing_zone_has_no_name_server_output():
    body = build(hosted_zone_id="Z0123456789ABCDEFGHIJ")
    assert "HostedZoneNameServers" not in body["Outputs"] and "HostedZone" not in body["Resources"]


def test_in_us_east_1_one_certificate_serves_the_alb_and_cloudfront():
    body = build(region="us-east-1")
    assert body["Outputs"]["CloudFrontCertificateArn"]["Value"] == {"Ref": "Certificate"}
    assert body["Outputs"]["CertificateArn"]["Value"] == {"Ref": "Certificate"}
    assert dns.companions(make_env(region="us-east-1", dns=DOMAIN)) == {}


def test_outside_us_east_1_a_companion_template_holds_the_cloudfront_certificate():
    (name, companion), = dns.companions(make_env(dns=DOMAIN, static=STATIC)).items()
    assert name == "dns-cloudfront-certificate"
    body = render(companion)
    assert "us-east-1" in body["Description"] and "HostedZoneId" in body["Description"]
    assert body["Parameters"]["HostedZoneId"]["Type"] == "AWS::Route53::HostedZone::Id"
    assert "Default" not in body["Parameters"]["HostedZoneId"]  # the zone is made by the dns stack
    _, certificate = only_resource(body, "AWS::CertificateManager::Certificate")
    assert certificate["Properties"]["SubjectAlternativeNames"] == ["*.example.com"]
    assert [o["HostedZoneId"] for o in certificate["Properties"]["DomainValidationOptions"]] == [{"Ref": "HostedZoneId"}] * 2
    assert body["Outputs"]["CloudFrontCertificateArn"]["Value"] == {"Ref": "CloudFrontCertificate"}


@pytest.mark.parametrize("sections", [
    {"static": {"enabled": False}},
    {"static": STATIC, "dns": {**DOMAIN, "records": {"app": "alb"}}},
])
def test_no_companion_when_no_distribution_uses_the_certificate(sections):
    # A certificate nobody aliases would be one more stack to deploy in us-east-1 for nothing.
    assert dns.companions(make_env(**{"dns": DOMAIN, **sections})) == {}


def test_companion_defaults_to_an_existing_zone():
    (companion,) = dns.companions(make_env(dns={**DOMAIN, "hosted_zone_id": EXISTING}, static=STATIC)).values()
    assert render(companion)["Parameters"]["HostedZoneId"]["Default"] == EXISTING


# --- alias records -----------------------------------------------------------

def test_alias_records_are_a_and_aaaa_per_name_for_the_target():
    env = make_env(dns={**DOMAIN, "records": {"app": "alb", "api": "alb", "www": "cloudfront"}})
    t = Template()
    made = dns.alias_records(t, env, "alb", "my-alb-123.eu-west-1.elb.amazonaws.com", "Z32O12XQLNTSW2")
    body = render(t)
    assert len(made) == 4
    assert sorted((r["Properties"]["Name"], r["Properties"]["Type"]) for r in body["Resources"].values()) == [
        ("api.example.com", "A"), ("api.example.com", "AAAA"), ("app.example.com", "A"), ("app.example.com", "AAAA"),
    ]
    assert body["Parameters"]["HostedZoneId"]["Type"] == "AWS::Route53::HostedZone::Id"
    assert dns.alias_records(Template(), env, "alb", "x", "y", ipv6=False)[0].Type == "A"
    assert len(dns.alias_records(Template(), env, "alb", "x", "y", ipv6=False)) == 2


def test_no_alias_records_when_the_layer_is_off():
    t = Template()
    assert dns.alias_records(t, make_env(), "cloudfront", "x", "y") == []
    assert dns.record_names(make_env(), "cloudfront") == []
    assert t.parameters == {}


# --- schema --------------------------------------------------------------------

@pytest.mark.parametrize(("section", "path", "fragment"), [
    ({"enabled": True}, ("dns",), "needs dns.domain"),
    ({"enabled": True, "domain": "Example.COM"}, ("dns", "domain"), "lower-case domain"),
    ({"enabled": True, "domain": "localhost"}, ("dns", "domain"), "lower-case domain"),
    ({"enabled": True, "domain": "example.com", "hosted_zone_id": "/hostedzone/Z123"}, ("dns", "hosted_zone_id"), "without /hostedzone/"),
    ({"hosted_zone_id": "Z123"}, ("dns",), "needs dns.domain"),
    ({"enabled": True, "domain": "example.com", "records": {"bad_name": "alb"}}, ("dns", "records"), "bad_name"),
    ({"enabled": True, "domain": "example.com", "records": {"www": "s3"}}, ("dns", "records", "www"), "alb"),
])
def test_bad_dns_sections_name_the_field(section, path, fragment):
    with pytest.raises(ValidationError) as raised:
        EnvConfig.model_validate(merge(BASE_ENV, {"dns": section}))
    (error,) = raised.value.errors()
    assert tuple(error["loc"]) == path
    assert fragment in error["msg"]


# --- wiring with the static layer --------------------------------------------------

def _root(region: str) -> tuple[dict, dict]:
    env = make_env(region=region, dns=DOMAIN, static={"enabled": True})
    layers = build_layers(env)
    return render(compose_root(env, layers)), layers.companions


def test_outside_us_east_1_the_root_asks_for_the_companion_certificate():
    root, companions = _root("eu-west-1")
    # static-cloudfront holds CloudFront's alarm in us-east-1 (tests/templates/test_static.py)
    assert set(companions) == {"dns-cloudfront-certificate", "static-cloudfront"}
    parameter = root["Parameters"]["CloudFrontCertificateArn"]
    assert parameter["Default"] == ""
    assert "dns-cloudfront-certificate.json" in parameter["Description"]
    assert "HostedZoneId output" in parameter["Description"]
    assert root["Resources"]["Static"]["Properties"]["Parameters"]["CloudFrontCertificateArn"] == {"Ref": "CloudFrontCertificateArn"}
    assert root["Resources"]["Static"]["Properties"]["Parameters"]["HostedZoneId"] == {"Fn::GetAtt": ["Dns", "Outputs.HostedZoneId"]}


def test_in_us_east_1_the_dns_layer_feeds_the_static_layer_directly():
    root, companions = _root("us-east-1")
    assert companions == {}
    assert "CloudFrontCertificateArn" not in root["Parameters"]
    assert root["Resources"]["Static"]["Properties"]["Parameters"]["CloudFrontCertificateArn"] == {
        "Fn::GetAtt": ["Dns", "Outputs.CloudFrontCertificateArn"]}


def test_lint_clean_for_new_and_existing_zones_and_the_companion():
    jobs = []
    for label, fields, region in (("new", {}, "eu-west-1"), ("existing", {"hosted_zone_id": EXISTING}, "eu-west-1"),
                                  ("us-east-1", {}, "us-east-1")):
        env = make_env(region=region, dns={**DOMAIN, **fields}, static=STATIC)
        jobs.append((label, render_text("d.json", dns.build(env)).text, region))
        for name, companion in dns.companions(env).items():
            jobs.append((f"{label}/{name}", render_text("c.json", companion).text, "us-east-1"))
    assert len(jobs) == 5
    assert [str(f) for f in lint_templates(jobs)] == []


# --- deploys on moto ----------------------------------------------------------------

def upload_code(endpoint: str, body: dict) -> None:
    """Put the template's Lambda zips where TemplateBucket (strata-artifacts, no prefix) says."""
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="eu-west-1")
    s3.create_bucket(Bucket="strata-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for key in artifacts_of(body):
        s3.put_object(Bucket="strata-artifacts", Key=key, Body=artifact_data(key))


def test_dns_then_static_put_the_alias_records_in_the_new_zone(aws):
    """What moto shows: the zone is created with the domain's name, and the
    static layer's A and AAAA alias records land in it once a CloudFront
    certificate is given. What it cannot: ACM (moto's CloudFormation has no
    certificates, so neither their DNS validation nor the CertificateArn
    outputs) and CloudFront (replaced by a stand-in domain name)."""
    env = make_env(dns=DOMAIN, static={"enabled": True, "access_logs": False})
    dns_resources = deploy_stack(aws, "dns-alone", render(dns.build(env)))
    zone_id = dns_resources["HostedZone"]["PhysicalResourceId"]
    route53 = boto3.client("route53", endpoint_url=aws, region_name="eu-west-1")
    assert route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"].rstrip(".") == "example.com"

    static_body = render(static.build(env))
    upload_code(aws, static_body)
    certificate = "arn:aws:acm:us-east-1:123456789012:certificate/0f4c3b1e-5c1d-4c43-9a0e-2f6a8e7b9c10"
    deploy_stack(aws, "static-with-domain", without_cloudfront(static_body), {
        "TemplateBucket": "strata-artifacts", "HostedZoneId": zone_id, "CloudFrontCertificateArn": certificate,
    })

    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    aliases = sorted((r["Name"].rstrip("."), r["Type"], r["AliasTarget"]["DNSName"].rstrip("."))
                     for r in records if "AliasTarget" in r)
    assert aliases == [
        ("example.com", "A", STAND_IN_DOMAIN), ("example.com", "AAAA", STAND_IN_DOMAIN),
        ("www.example.com", "A", STAND_IN_DOMAIN), ("www.example.com", "AAAA", STAND_IN_DOMAIN),
    ]


def test_without_a_certificate_no_alias_records_are_made(aws):
    env = make_env(dns=DOMAIN, static={"enabled": True, "access_logs": False})
    route53 = boto3.client("route53", endpoint_url=aws, region_name="eu-west-1")
    zone_id = route53.create_hosted_zone(Name="example.com", CallerReference="test")["HostedZone"]["Id"].split("/")[-1]
    static_body = render(static.build(env))
    upload_code(aws, static_body)

    deploy_stack(aws, "static-no-certificate", without_cloudfront(static_body),
                 {"TemplateBucket": "strata-artifacts", "HostedZoneId": zone_id})

    records = route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    assert [r for r in records if "AliasTarget" in r] == []
