"""web layer: the rendered template, the schema, the lint gate and a deploy on moto."""

from __future__ import annotations


import boto3
import pytest

from generator.build.config import load_config
from generator.build.output import render as render_text
from templates import web
from tests.helpers import REPO, assert_props, build_shapes, checkov_failures, config_error, deploy_network_and_security, deploy_stack, lint_findings, make_env, only_resource, render, resources_of_type

CERT = "arn:aws:acm:eu-west-1:111122223333:certificate/12345678-1234-1234-1234-123456789012"
HTTPS = {"enabled": True, "listener": "https", "certificate_arn": CERT}
HTTP = {"enabled": True, "listener": "http"}


def build(web_section=None, **sections) -> dict:
    return render(web.build(make_env(web=web_section or HTTPS, **sections)))


def props(body: dict, logical_id: str) -> dict:
    return body["Resources"][logical_id]["Properties"]


def attributes(body: dict) -> dict:
    return {a["Key"]: a["Value"] for a in props(body, "LoadBalancer")["LoadBalancerAttributes"]}


def skipped(resource: dict) -> dict[str, str]:
    return {s["id"]: s["comment"] for s in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])}


# --- load balancer --------------------------------------------------------------

def test_internet_facing_alb_in_the_public_subnets_with_the_alb_group():
    body = build()
    assert_props(body, "AWS::ElasticLoadBalancingV2::LoadBalancer", {
        "Type": "application", "Scheme": "internet-facing", "IpAddressType": "ipv4",
        "Subnets": {"Ref": "PublicSubnetIds"}, "SecurityGroups": [{"Ref": "AlbSecurityGroupId"}],
    })
    assert body["Parameters"]["PublicSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert body["Parameters"]["AlbSecurityGroupId"]["Type"] == "AWS::EC2::SecurityGroup::Id"


def test_invalid_headers_are_dropped_and_desync_mitigated():
    assert attributes(build())["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes(build())["routing.http.desync_mitigation_mode"] == "defensive"


@pytest.mark.parametrize("protect", [True, False])
def test_deletion_protection_follows_the_parameter_file(protect):
    body = build({**HTTPS, "deletion_protection": protect})
    assert attributes(body)["deletion_protection.enabled"] == str(protect).lower()


def test_idle_timeout_from_parameters():
    assert attributes(build({**HTTPS, "idle_timeout_seconds": 120}))["idle_timeout.timeout_seconds"] == "120"


# --- listeners ----------------------------------------------------------------------

def test_http_answers_301_to_https_keeping_host_path_and_query():
    body = build()
    assert props(body, "HttpListener")["Port"] == 80
    assert props(body, "HttpListener")["DefaultActions"] == [{
        "Type": "redirect",
        "RedirectConfig": {
            "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}",
            "StatusCode": "HTTP_301",
        },
    }]


def test_https_listener_uses_a_tls13_policy_and_the_certificate_and_forwards():
    body = build()
    listener = props(body, "HttpsListener")
    assert listener["Protocol"] == "HTTPS" and listener["Port"] == 443
    assert listener["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listener["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    assert listener["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]


def test_certificate_is_a_parameter_defaulting_to_the_configured_arn_and_required_by_a_rule():
    body = build()
    assert body["Parameters"]["CertificateArn"]["Default"] == CERT
    (assertion,) = body["Rules"]["CertificateRequired"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CertificateArn"}, ""]}]}


def test_with_the_dns_layer_the_certificate_parameter_has_no_default_value():
    body = build({"enabled": True}, dns={"enabled": True, "domain": "example.com"})
    assert body["Parameters"]["CertificateArn"]["Default"] == ""


@pytest.mark.parametrize("policy", ["ELBSecurityPolicy-TLS13-1-3-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"])
def test_other_tls13_policies_can_be_chosen(policy):
    assert props(build({**HTTPS, "ssl_policy": policy}), "HttpsListener")["SslPolicy"] == policy


def test_explicit_http_listener_forwards_without_a_certificate_and_says_why():
    body = build(HTTP)
    listener = body["Resources"]["HttpListener"]
    assert listener["Properties"]["Protocol"] == "HTTP"
    assert listener["Properties"]["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
    assert "web.listener: http" in skipped(listener)["CKV_AWS_2"]
    assert "HttpsListener" not in body["Resources"]
    assert "CertificateArn" not in body["Parameters"] and "Rules" not in body
    assert "HttpsListenerArn" not in body["Outputs"]


# --- target groups ------------------------------------------------------------------

def test_compute_alone_gets_an_instance_target_group_on_the_app_port():
    body = build(compute={"enabled": True}, security={"app_port": 8080})
    name, group = only_resource(body, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert name == "TargetGroup"
    assert group["Properties"]["TargetType"] == "instance"
    assert group["Properties"]["Port"] == 8080 and group["Properties"]["VpcId"] == {"Ref": "VpcId"}


def test_containers_alone_get_an_ip_target_group_as_the_default():
    body = build(containers={"enabled": True})
    name, group = only_resource(body, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert name == "ContainerTargetGroup" and group["Properties"]["TargetType"] == "ip"
    assert props(body, "HttpsListener")["DefaultActions"][0]["TargetGroupArn"] == {"Ref": "ContainerTargetGroup"}
    assert body["Outputs"]["TargetGroupArn"]["Value"] == {"Ref": "ContainerTargetGroup"}
    assert body["Outputs"]["ContainerTargetGroupArn"]["Value"] == {"Ref": "ContainerTargetGroup"}


def test_compute_and_containers_get_one_group_each_and_a_path_rule_for_the_containers():
    body = build(compute={"enabled": True}, containers={"enabled": True, "path_patterns": ["/api/*", "/admin/*"]})
    groups = resources_of_type(body, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert {n: g["Properties"]["TargetType"] for n, g in groups.items()} == {"TargetGroup": "instance", "ContainerTargetGroup": "ip"}
    assert props(body, "HttpsListener")["DefaultActions"][0]["TargetGroupArn"] == {"Ref": "TargetGroup"}
    _, rule = only_resource(body, "AWS::ElasticLoadBalancingV2::ListenerRule")
    assert rule["Properties"] == {
        "ListenerArn": {"Ref": "HttpsListener"}, "Priority": 10,
        "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*", "/admin/*"]}}],
        "Actions": [{"Type": "forward", "TargetGroupArn": {"Ref": "ContainerTargetGroup"}}],
    }


def test_with_an_http_listener_the_path_rule_sits_on_the_http_listener():
    body = build(HTTP, compute={"enabled": True}, containers={"enabled": True, "path_patterns": ["/api/*"]})
    assert props(body, "ContainerListenerRule")["ListenerArn"] == {"Ref": "HttpListener"}


def test_health_check_and_deregistration_delay_from_parameters():
    body = build({**HTTPS, "deregistration_delay_seconds": 45, "health_check": {
        "path": "/health", "interval_seconds": 15, "timeout_seconds": 4, "healthy_threshold": 2,
        "unhealthy_threshold": 3, "success_codes": "200,204",
    }})
    assert_props(body, "AWS::ElasticLoadBalancingV2::TargetGroup", {
        "HealthCheckEnabled": True, "HealthCheckPath": "/health", "HealthCheckIntervalSeconds": 15,
        "HealthCheckTimeoutSeconds": 4, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3,
        "Matcher": {"HttpCode": "200,204"},
        "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "45"}],
    })


# --- access logs ----------------------------------------------------------------------

def test_access_logs_off_by_default_with_the_reason_in_metadata():
    body = build()
    assert attributes(body)["access_logs.s3.enabled"] == "false"
    assert not resources_of_type(body, "AWS::S3::Bucket")
    assert "web.access_logs.enabled: false" in skipped(body["Resources"]["LoadBalancer"])["CKV_AWS_91"]


def test_access_logs_go_to_a_private_sse_s3_bucket_that_is_kept():
    body = build({**HTTPS, "access_logs": {"enabled": True, "retention_days": 30}})
    bucket = body["Resources"]["AccessLogBucket"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    rule = bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 30
    assert all(bucket["Properties"]["PublicAccessBlockConfiguration"].values())
    assert {"access_logs.s3.enabled": "true", "access_logs.s3.bucket": {"Ref": "AccessLogBucket"},
            "access_logs.s3.prefix": "alb"}.items() <= attributes(body).items()
    assert body["Resources"]["LoadBalancer"]["DependsOn"] == ["AccessLogBucketPolicy"]
    assert "CKV_AWS_91" not in skipped(body["Resources"]["LoadBalancer"])


@pytest.mark.parametrize(("region", "principal"), [
    ("eu-west-1", {"AWS": [{"Fn::Sub": "arn:${AWS::Partition}:iam::156460612806:root"}]}),
    ("us-east-1", {"AWS": [{"Fn::Sub": "arn:${AWS::Partition}:iam::127311923021:root"}]}),
    ("eu-south-2", {"Service": ["logdelivery.elasticloadbalancing.amazonaws.com"]}),
])
def test_log_bucket_policy_lets_only_the_regions_elb_log_delivery_write_under_the_prefix(region, principal):
    cert = CERT.replace("eu-west-1", region)
    body = render(web.build(make_env(region=region, web={**HTTPS, "certificate_arn": cert, "access_logs": {"enabled": True}})))
    write, deny = props(body, "AccessLogBucketPolicy")["PolicyDocument"]["Statement"]
    assert write["Principal"] == principal and write["Action"] == ["s3:PutObject"] and write["Effect"] == "Allow"
    assert write["Resource"] == [{"Fn::Sub": "${AccessLogBucket.Arn}/alb/AWSLogs/${AWS::AccountId}/*"}]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --- names and outputs ---------------------------------------------------------------

def test_no_alias_records_without_the_dns_layer():
    body = build()
    assert not resources_of_type(body, "AWS::Route53::RecordSet")
    assert "HostedZoneId" not in body["Parameters"]


def test_alias_records_point_the_dns_names_at_the_alb_ipv4_only():
    body = build({"enabled": True}, dns={"enabled": True, "domain": "example.com", "records": {"app": "alb", "www": "cloudfront"}})
    records = resources_of_type(body, "AWS::Route53::RecordSet")
    assert list(records) == ["AppExampleComARecord"]
    assert records["AppExampleComARecord"]["Properties"]["AliasTarget"] == {
        "DNSName": {"Fn::GetAtt": ["LoadBalancer", "DNSName"]},
        "HostedZoneId": {"Fn::GetAtt": ["LoadBalancer", "CanonicalHostedZoneID"]},
        "EvaluateTargetHealth": False,
    }


def test_outputs_are_the_contract_with_other_layers():
    body = build(compute={"enabled": True}, containers={"enabled": True, "path_patterns": ["/api/*"]})
    assert set(body["Outputs"]) == {
        "LoadBalancerArn", "LoadBalancerDnsName", "LoadBalancerHostedZoneId", "LoadBalancerFullName",
        "HttpListenerArn", "HttpsListenerArn", "TargetGroupArn", "TargetGroupFullName",
        "ContainerTargetGroupArn", "ContainerTargetGroupFullName", "WebAlarmNames",
    }
    assert body["Outputs"]["LoadBalancerHostedZoneId"]["Value"] == {"Fn::GetAtt": ["LoadBalancer", "CanonicalHostedZoneID"]}


def test_output_is_deterministic():
    env = make_env(web={**HTTPS, "access_logs": {"enabled": True}}, compute={"enabled": True})
    assert render_text("w.json", web.build(env)).text == render_text("w.json", web.build(env)).text


# --- schema -----------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "path", "fragment"), [
    ({"ssl_policy": "ELBSecurityPolicy-2016-08"}, "web.ssl_policy", "ELBSecurityPolicy-TLS13-1-2-2021-06"),
    ({"listener": "http", "certificate_arn": CERT}, "web", "listener is http"),
    ({"certificate_arn": "arn:aws:iam::111122223333:server-certificate/x"}, "web.certificate_arn", "ACM certificate ARN"),
    ({"health_check": {"interval_seconds": 5, "timeout_seconds": 5}}, "web.health_check", "shorter than interval_seconds"),
    ({"health_check": {"unhealthy_threshold": 1}}, "web.health_check.unhealthy_threshold", "greater than or equal to 2"),
    ({"health_check": {"path": "health"}}, "web.health_check.path", "must start with /"),
    ({"health_check": {"success_codes": "ok"}}, "web.health_check.success_codes", "HTTP code"),
    ({"listener": "tls"}, "web.listener", "must be one of https, http"),
])
def test_bad_web_fields_name_the_field(tmp_path, fields, path, fragment):
    data = {"project": "demo", "environment": "test", "region": "eu-west-1",
            "network": {"enabled": True}, "security": {"enabled": True}, "web": {"enabled": True, **fields}}
    message = config_error(tmp_path, data)
    assert f" {path}: " in message and fragment in message, message


# --- lint and scan ---------------------------------------------------------------------

SHAPES = {
    "http": dict(web=HTTP),
    "waf": dict(web={**HTTPS, "waf": {"enabled": True, "count_rules": ["SizeRestrictions_BODY"]}}),
    "waf-count": dict(web={**HTTP, "waf": {"enabled": True, "mode": "count"}}),
    "cloudfront-only-http": dict(web=HTTP, static={"enabled": True, "api_path_pattern": "/api/*"}, monitoring={"enabled": True}),
    "cloudfront-only-https-both": dict(
        web={"enabled": True, "cloudfront_only": True, "access_logs": {"enabled": True}}, dns={"enabled": True, "domain": "example.com", "records": {"www": "cloudfront"}},
        static={"enabled": True, "api_path_pattern": "/api/*"}, compute={"enabled": True},
        containers={"enabled": True, "path_patterns": ["/api/*"]}, monitoring={"enabled": True}),
    "https-compute": dict(web={**HTTPS, "deletion_protection": True}, compute={"enabled": True}),
    "https-logs-both": dict(web={**HTTPS, "access_logs": {"enabled": True}}, compute={"enabled": True},
                            containers={"enabled": True, "path_patterns": ["/api/*"]}),
    "dns-containers": dict(web={"enabled": True}, containers={"enabled": True}, dns={"enabled": True, "domain": "example.com"}),
    "new-region-logs": dict(region="eu-south-2", web={**HTTPS, "certificate_arn": CERT.replace("eu-west-1", "eu-south-2"),
                                                      "access_logs": {"enabled": True}}),
}


def test_lint_clean_in_every_shape():
    assert lint_findings(build_shapes(web, SHAPES)) == []


def test_security_scan_clean_in_every_shape(tmp_path):
    assert checkov_failures({name: t for name, (t, _) in build_shapes(web, SHAPES).items()}, tmp_path) == []


def test_shipped_parameter_files_lint_and_scan_clean(tmp_path):
    """The application tier exactly as dev.yaml and prod.yaml build it."""
    from templates import compute, containers

    built = {}
    for path in sorted((REPO / "parameters").glob("*.yaml")):
        env = load_config(path)
        for layer in (web, compute, containers):
            if env.section(layer.NAME).enabled:
                built[f"{env.environment}-{layer.NAME}"] = (layer.build(env), env.region)
    assert set(built) >= {"dev-web", "dev-containers", "prod-web", "prod-compute", "prod-containers"}
    assert lint_findings(built) == []
    assert checkov_failures({name: t for name, (t, _) in built.items()}, tmp_path) == []


# --- deploy on moto ------------------------------------------------------------------

def test_web_layer_deploys_alone_through_a_change_set(aws):
    """What moto shows: the ALB in the two public subnets with the ALB group,
    the HTTP listener forwarding to the target group (dev's explicit choice),
    and the target group's type, port and health check.

    What moto does not emulate: load balancer attributes (deletion
    protection, dropped headers, idle timeout), target group attributes
    (deregistration delay), the GetAtts CanonicalHostedZoneID,
    LoadBalancerFullName and TargetGroupFullName, and stack Outputs of a
    change-set-created stack."""
    env = make_env(web={**HTTP, "health_check": {"path": "/health", "unhealthy_threshold": 3}})
    ids = deploy_network_and_security(aws, env)
    params = {k: ids[k] for k in ("VpcId", "PublicSubnetIds", "AlbSecurityGroupId")}

    resources = deploy_stack(aws, "web", render(web.build(env)), params)

    elb = boto3.client("elbv2", endpoint_url=aws, region_name="eu-west-1")
    (alb,) = elb.describe_load_balancers(LoadBalancerArns=[resources["LoadBalancer"]["PhysicalResourceId"]])["LoadBalancers"]
    assert alb["Scheme"] == "internet-facing" and alb["Type"] == "application"
    assert sorted(z["SubnetId"] for z in alb["AvailabilityZones"]) == sorted(ids["PublicSubnetIds"].split(","))
    assert alb["SecurityGroups"] == [ids["AlbSecurityGroupId"]]
    (listener,) = elb.describe_listeners(LoadBalancerArn=alb["LoadBalancerArn"])["Listeners"]
    group_arn = resources["TargetGroup"]["PhysicalResourceId"]
    assert (listener["Port"], listener["Protocol"]) == (80, "HTTP")
    assert listener["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": group_arn}]
    (group,) = elb.describe_target_groups(TargetGroupArns=[group_arn])["TargetGroups"]
    assert (group["TargetType"], group["Port"], group["VpcId"]) == ("instance", 8000, ids["VpcId"])
    assert (group["HealthCheckPath"], group["UnhealthyThresholdCount"]) == ("/health", 3)


# --- WAF ------------------------------------------------------------------------------

def test_no_waf_unless_asked():
    assert resources_of_type(build(), "AWS::WAFv2::WebACL") == {}


def test_waf_guards_the_alb_with_aws_managed_rules_and_a_rate_limit_from_the_parameters():
    body = build({**HTTPS, "waf": {"enabled": True, "rate_limit": 500, "rate_limit_window_seconds": 60}})
    _, acl = only_resource(body, "AWS::WAFv2::WebACL")
    p = acl["Properties"]
    assert (p["Name"], p["Scope"], p["DefaultAction"]) == ("demo-test-web", "REGIONAL", {"Allow": {}})
    groups = [r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in p["Rules"][:3]]
    assert groups == ["AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"]
    assert all(r["OverrideAction"] == {"None": {}} for r in p["Rules"][:3])
    rate = p["Rules"][3]
    assert rate["Statement"]["RateBasedStatement"] == {"Limit": 500, "AggregateKeyType": "IP", "EvaluationWindowSec": 60}
    assert rate["Action"] == {"Block": {}}
    assert [r["Priority"] for r in p["Rules"]] == [0, 1, 2, 3]
    association = props(body, "WebAclAssociation")
    assert association == {"ResourceArn": {"Ref": "LoadBalancer"}, "WebACLArn": {"Fn::GetAtt": ["WebWebAcl", "Arn"]}}


def test_waf_count_mode_blocks_nothing_and_says_so():
    body = build({**HTTPS, "waf": {"enabled": True, "mode": "count", "count_rules": ["SizeRestrictions_BODY"]}})
    acl = body["Resources"]["WebWebAcl"]
    rules = acl["Properties"]["Rules"]
    assert all(r["OverrideAction"] == {"Count": {}} for r in rules[:3]) and rules[3]["Action"] == {"Count": {}}
    assert rules[1]["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"] == [
        {"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    assert "web.waf.mode is count" in skipped(acl)["CKV_AWS_192"]
    assert "CKV_AWS_192" not in skipped(build({**HTTPS, "waf": {"enabled": True}})["Resources"]["WebWebAcl"])


def test_waf_logs_requests_without_credentials_or_the_origin_secret():
    body = build({**HTTPS, "waf": {"enabled": True, "log_retention_days": 14}})
    group = props(body, "WebWafLogGroup")
    assert (group["LogGroupName"], group["RetentionInDays"]) == ("aws-waf-logs-demo-test-web", 14)
    logging = props(body, "WebWafLogging")
    assert logging["ResourceArn"] == {"Fn::GetAtt": ["WebWebAcl", "Arn"]}
    assert logging["LogDestinationConfigs"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${WebWafLogGroup}"}]
    assert [f["SingleHeader"]["Name"] for f in logging["RedactedFields"]] == ["authorization", "cookie", "x-origin-verify"]


def test_prod_runs_the_waf():
    assert load_config(REPO / "parameters" / "prod.yaml").web.waf.enabled


# --- restricted to CloudFront ------------------------------------------------------------

FORWARDS = {"static": {"enabled": True, "api_path_pattern": "/api/*"}}


@pytest.mark.parametrize("sections, restricted", [
    ({"web": HTTP}, False),                                                  # no CloudFront
    ({"web": HTTP, "static": {"enabled": True}}, False),                     # CloudFront sends nothing here
    ({"web": HTTP, **FORWARDS}, True),                                       # dev: /api/* comes through CloudFront only
    ({"web": {"enabled": True}, **FORWARDS, "dns": {"enabled": True, "domain": "example.com"}}, False),  # app.example.com -> ALB
    ({"web": {"enabled": True, "cloudfront_only": False}, **FORWARDS}, False),
    ({"web": {"enabled": True, "cloudfront_only": True}, **FORWARDS,
      "dns": {"enabled": True, "domain": "example.com", "records": {"www": "cloudfront"}}}, True),
])
def test_cloudfront_only_is_on_exactly_when_cloudfront_is_the_way_in(sections, restricted):
    assert web.cloudfront_only(make_env(**sections)) is restricted


def test_restricted_listener_answers_403_unless_cloudfronts_secret_header_is_there():
    body = build(HTTP, **FORWARDS)
    (default,) = props(body, "HttpListener")["DefaultActions"]
    assert default == {"Type": "fixed-response", "FixedResponseConfig": {
        "StatusCode": "403", "ContentType": "text/plain", "MessageBody": "Forbidden"}}
    rule = props(body, "OriginListenerRule")
    assert rule["Conditions"] == [{"Field": "http-header", "HttpHeaderConfig": {
        "HttpHeaderName": "X-Origin-Verify", "Values": [{"Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecret}}}"}]}}]
    assert rule["Actions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
    secret = props(body, "OriginVerifySecret")
    assert secret["GenerateSecretString"] == {"PasswordLength": 32, "ExcludePunctuation": True}
    assert "SecretString" not in secret  # generated by Secrets Manager, never written in a file
    assert body["Outputs"]["OriginVerifySecretArn"]["Value"] == {"Ref": "OriginVerifySecret"}


def test_with_both_backends_the_container_rule_also_needs_the_header():
    body = build({"enabled": True, "cloudfront_only": True}, compute={"enabled": True},
                 containers={"enabled": True, "path_patterns": ["/api/*"]}, **FORWARDS,
                 dns={"enabled": True, "domain": "example.com", "records": {"www": "cloudfront"}})
    fields = [c["Field"] for c in props(body, "ContainerListenerRule")["Conditions"]]
    assert fields == ["path-pattern", "http-header"]
    assert props(body, "ContainerListenerRule")["Priority"] < props(body, "OriginListenerRule")["Priority"]
    assert props(body, "HttpsListener")["DefaultActions"][0]["Type"] == "fixed-response"


def test_open_load_balancers_keep_forwarding_and_have_no_secret():
    body = build()
    assert props(body, "HttpsListener")["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}]
    assert "OriginVerifySecret" not in body["Resources"] and "OriginListenerRule" not in body["Resources"]


@pytest.mark.parametrize("sections, path, fragment", [
    ({"web": {**HTTP, "cloudfront_only": True}}, "web.cloudfront_only", "nothing would reach the load balancer"),
    ({"web": {"enabled": True, "cloudfront_only": True}, **FORWARDS, "dns": {"enabled": True, "domain": "example.com"}},
     "web.cloudfront_only", "dns.records point app.example.com at the load balancer"),
    ({"region": "eu-south-2", "web": HTTP, **FORWARDS}, "web.cloudfront_prefix_list_id", "in eu-south-2"),
    ({"web": {**HTTP, "cloudfront_prefix_list_id": "pl-zz"}}, "web.cloudfront_prefix_list_id", "managed prefix list id"),
])
def test_a_restriction_that_cannot_work_is_refused(tmp_path, sections, path, fragment):
    from tests.helpers import BASE_ENV, merge

    data = merge(BASE_ENV, {"security": {"enabled": True}, **sections})
    message = config_error(tmp_path, data)
    assert f" {path}: " in message and fragment in message, message


def test_an_unknown_regions_prefix_list_can_be_given():
    env = make_env(region="eu-south-2", web={**HTTP, "cloudfront_prefix_list_id": "pl-0123456789abcdef0"}, **FORWARDS)
    assert web.cloudfront_prefix_list(env) == "pl-0123456789abcdef0"


# --- the access log bucket's own access logs -------------------------------------------------

def test_the_alb_log_bucket_logs_its_own_access_into_the_environments_log_bucket():
    body = build({**HTTPS, "access_logs": {"enabled": True}}, monitoring={"enabled": True})
    bucket = body["Resources"]["AccessLogBucket"]
    assert bucket["Properties"]["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": "LogBucketName"}, "LogFilePrefix": "s3/web-alb-logs/",
        "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}}}
    assert skipped(bucket) == {}  # no suppression left: CKV_AWS_145 is no CloudFormation check, CKV_AWS_18 holds
    off = build({**HTTPS, "access_logs": {"enabled": True}})["Resources"]["AccessLogBucket"]
    assert skipped(off) == {"CKV_AWS_18": "monitoring.enabled is false: the environment has no log bucket for S3 access logs"}
