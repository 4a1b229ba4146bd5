"""static layer: the rendered template, the schema, the lint gate and a deploy on moto."""

from __future__ import annotations

import ast
import copy
import json

import boto3
import pytest

from generator.build.config import EnvConfig
from generator.cfn.lambdas import artifact_data, artifacts_of
from generator.build.lint import lint_templates
from generator.build.output import render as render_text
from templates import static
from tests.helpers import assert_props, config_error, deploy_stack, make_env, render, resources_of_type

DISTRIBUTION_ARN = {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/${Distribution}"}
STACK_UUID = {"StackUuid": {"Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]}}
DOMAIN = {"dns": {"enabled": True, "domain": "example.com"}}


def build(**static_fields) -> dict:
    extra = static_fields.pop("env", {})
    return render(static.build(make_env(static={"enabled": True, **static_fields}, **extra)))


def props(body: dict, logical_id: str) -> dict:
    return body["Resources"][logical_id]["Properties"]


def statements(body: dict, policy_id: str) -> dict[str, dict]:
    return {s["Sid"]: s for s in props(body, policy_id)["PolicyDocument"]["Statement"]}


# --- the bucket ------------------------------------------------------------

def test_bucket_is_private_encrypted_versioned_and_kept():
    body = build(noncurrent_version_days=45)
    bucket = body["Resources"]["StaticBucket"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    p = bucket["Properties"]
    assert p["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True,
    }
    assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "AES256"}
    assert p["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {r["Id"]: r for r in p["LifecycleConfiguration"]["Rules"]}
    assert rules["ExpireOldVersions"]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 45}
    assert rules["ExpireOldVersions"]["Status"] == "Enabled"


def test_bucket_name_is_built_from_the_stack_id_and_fits_s3():
    """The name is known without creating the bucket: that is what breaks the cycle."""
    env = make_env(project="a" * 20, environment="b" * 20, static={"enabled": True})
    name = props(render(static.build(env)), "StaticBucket")["BucketName"]
    template, variables = name["Fn::Sub"]
    assert variables == STACK_UUID
    assert len(template.replace("${StackUuid}", "12345678")) <= 63
    prefix = template.removesuffix("-${StackUuid}")
    assert prefix.startswith("a" * 20 + "-") and prefix == prefix.lower()


# --- CloudFront --------------------------------------------------------------

def test_origin_access_control_signs_every_request_and_is_wired_to_the_s3_origin():
    body = build()
    oac = props(body, "OriginAccessControl")["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"], oac["SigningProtocol"]) == ("s3", "always", "sigv4")
    config = props(body, "Distribution")["DistributionConfig"]
    (origin,) = config["Origins"]
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["OriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    # The bucket's regional endpoint, from the same name expression as the bucket.
    bucket_template, variables = props(body, "StaticBucket")["BucketName"]["Fn::Sub"]
    assert origin["DomainName"] == {"Fn::Sub": [f"{bucket_template}.s3.${{AWS::Region}}.${{AWS::URLSuffix}}", variables]}


def test_distribution_defaults():
    config = props(build(price_class="PriceClass_200", default_root_object="home.html"), "Distribution")["DistributionConfig"]
    assert config["Enabled"] is True
    assert config["HttpVersion"] == "http2and3"
    assert config["IPV6Enabled"] is True
    assert config["PriceClass"] == "PriceClass_200"
    assert config["DefaultRootObject"] == "home.html"
    behaviour = config["DefaultCacheBehavior"]
    assert behaviour["ViewerProtocolPolicy"] == "redirect-to-https"
    assert behaviour["CachePolicyId"] == static.CACHING_OPTIMIZED
    assert behaviour["AllowedMethods"] == ["GET", "HEAD"]
    assert "ForwardedValues" not in behaviour  # the legacy cache settings conflict with a cache policy


def test_without_a_domain_the_distribution_uses_its_own_name():
    body = build()
    config = props(body, "Distribution")["DistributionConfig"]
    assert "Aliases" not in config
    assert config["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}
    assert "CloudFrontCertificateArn" not in body["Parameters"]
    assert "HostedZoneId" not in body["Parameters"]
    assert resources_of_type(body, "AWS::Route53::RecordSet") == {}


def test_with_a_domain_aliases_certificate_and_alias_records_follow_the_certificate_parameter():
    body = build(env=DOMAIN)
    parameter = body["Parameters"]["CloudFrontCertificateArn"]
    assert parameter["Default"] == ""
    assert "dns-cloudfront-certificate.json" in parameter["Description"]  # eu-west-1: the companion feeds it
    assert body["Conditions"][static.HAS_CERTIFICATE] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "CloudFrontCertificateArn"}, ""]}]}
    config = props(body, "Distribution")["DistributionConfig"]
    assert config["Aliases"] == {"Fn::If": [static.HAS_CERTIFICATE, ["example.com", "www.example.com"], {"Ref": "AWS::NoValue"}]}
    assert config["ViewerCertificate"] == {"Fn::If": [
        static.HAS_CERTIFICATE,
        {"AcmCertificateArn": {"Ref": "CloudFrontCertificateArn"}, "SslSupportMethod": "sni-only",
         "MinimumProtocolVersion": "TLSv1.2_2021"},
        {"CloudFrontDefaultCertificate": True},
    ]}
    records = resources_of_type(body, "AWS::Route53::RecordSet")
    assert sorted((r["Properties"]["Name"], r["Properties"]["Type"]) for r in records.values()) == [
        ("example.com", "A"), ("example.com", "AAAA"), ("www.example.com", "A"), ("www.example.com", "AAAA"),
    ]
    for record in records.values():
        assert record["Condition"] == static.HAS_CERTIFICATE
        assert record["Properties"]["AliasTarget"] == {
            "DNSName": {"Fn::GetAtt": ["Distribution", "DomainName"]}, "HostedZoneId": "Z2FDTNDATAQYW2",
            "EvaluateTargetHealth": False,
        }
        assert record["Properties"]["HostedZoneId"] == {"Ref": "HostedZoneId"}


def test_in_us_east_1_the_certificate_parameter_says_the_dns_layer_feeds_it():
    body = render(static.build(make_env(region="us-east-1", static={"enabled": True}, **DOMAIN)))
    assert "dns layer's CloudFrontCertificateArn output" in body["Parameters"]["CloudFrontCertificateArn"]["Description"]


@pytest.mark.parametrize(("web", "protocol", "request_policy"), [
    ({"listener": "http"}, "http-only", static.ALL_VIEWER_EXCEPT_HOST_HEADER),
    ({"listener": "https"}, "https-only", static.ALL_VIEWER),
])
def test_alb_origin_for_the_api_path_is_optional_and_uncached(web, protocol, request_policy):
    """CloudFront reaches the ALB with the protocol of the web layer's listener."""
    body = build(api_path_pattern="/api/*", env={"web": web, **DOMAIN})
    assert body["Parameters"]["LoadBalancerDnsName"]["Default"] == ""
    assert body["Conditions"][static.HAS_LOAD_BALANCER] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "LoadBalancerDnsName"}, ""]}]}
    config = props(body, "Distribution")["DistributionConfig"]
    condition, origin, absent = config["Origins"][1]["Fn::If"]
    assert (condition, absent) == (static.HAS_LOAD_BALANCER, {"Ref": "AWS::NoValue"})
    assert origin["DomainName"] == {"Ref": "LoadBalancerDnsName"}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == protocol
    condition, (behaviour,), absent = config["CacheBehaviors"]["Fn::If"]
    assert condition == static.HAS_LOAD_BALANCER
    assert behaviour["PathPattern"] == "/api/*"
    assert behaviour["TargetOriginId"] == origin["Id"]
    assert behaviour["CachePolicyId"] == static.CACHING_DISABLED
    assert behaviour["OriginRequestPolicyId"] == request_policy
    assert set(behaviour["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}


def test_no_alb_origin_unless_asked():
    body = build()
    assert "LoadBalancerDnsName" not in body["Parameters"]
    assert "CacheBehaviors" not in props(body, "Distribution")["DistributionConfig"]


# --- bucket policy -----------------------------------------------------------

def test_bucket_policy_lets_only_this_distribution_read():
    body = build()
    assert props(body, "StaticBucketPolicy")["Bucket"] == {"Ref": "StaticBucket"}
    read = statements(body, "StaticBucketPolicy")["CloudFrontReadsThroughOriginAccessControl"]
    assert read["Effect"] == "Allow"
    assert read["Principal"] == {"Service": ["cloudfront.amazonaws.com"]}
    assert read["Action"] == ["s3:GetObject"]
    assert read["Resource"] == [{"Fn::Sub": "${StaticBucket.Arn}/*"}]
    assert read["Condition"] == {"StringEquals": {"AWS:SourceArn": DISTRIBUTION_ARN}}
    allows = [s for s in props(body, "StaticBucketPolicy")["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert allows == [read]


def test_bucket_policy_denies_every_request_without_tls():
    deny = statements(build(), "StaticBucketPolicy")["DenyWithoutTls"]
    assert deny["Effect"] == "Deny"
    assert deny["Principal"] == "*"
    assert deny["Action"] == ["s3:*"]
    assert deny["Resource"] == [{"Fn::GetAtt": ["StaticBucket", "Arn"]}, {"Fn::Sub": "${StaticBucket.Arn}/*"}]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


# --- invalidation function ----------------------------------------------------

def test_notification_covers_created_removed_and_restored_objects():
    body = build()
    configs = props(body, "StaticBucket")["NotificationConfiguration"]["LambdaConfigurations"]
    assert sorted(c["Event"] for c in configs) == ["s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectRestore:Completed"]
    for c in configs:
        assert c["Function"] == {"Fn::GetAtt": ["InvalidationFunction", "Arn"]}
        assert "Filter" not in c


def test_notification_filters_come_from_the_parameter_file():
    configs = props(build(invalidation_prefix="assets/", invalidation_suffix=".css"), "StaticBucket")[
        "NotificationConfiguration"]["LambdaConfigurations"]
    assert len(configs) == 3
    for c in configs:
        assert c["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": "assets/"}, {"Name": "suffix", "Value": ".css"}]}}
    only_prefix = props(build(invalidation_prefix="img/"), "StaticBucket")["NotificationConfiguration"]["LambdaConfigurations"]
    assert only_prefix[0]["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": "img/"}]}}


def test_s3_may_invoke_the_function_for_this_bucket_and_account_only():
    body = build()
    permission = props(body, "InvalidationFunctionS3Permission")
    assert permission["Principal"] == "s3.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    bucket_template, variables = props(body, "StaticBucket")["BucketName"]["Fn::Sub"]
    assert permission["SourceArn"] == {"Fn::Sub": [f"arn:${{AWS::Partition}}:s3:::{bucket_template}", variables]}
    # S3 checks the permission when the notification is set, so it must come first.
    assert body["Resources"]["StaticBucket"]["DependsOn"] == ["InvalidationFunctionS3Permission"]


def test_function_role_grants_exactly_these_actions_on_exactly_these_resources():
    body = build()
    (policy,) = props(body, "InvalidationFunctionRole")["Policies"]
    granted = {tuple(s["Action"]): s["Resource"] for s in policy["PolicyDocument"]["Statement"]}
    bucket_template, variables = props(body, "StaticBucket")["BucketName"]["Fn::Sub"]
    assert granted == {
        ("logs:CreateLogStream", "logs:PutLogEvents"): [{"Fn::GetAtt": ["InvalidationLogGroup", "Arn"]}],
        ("cloudfront:CreateInvalidation",): [DISTRIBUTION_ARN],
        ("s3:ListBucketVersions",): [{"Fn::Sub": [f"arn:${{AWS::Partition}}:s3:::{bucket_template}", variables]}],
        ("sqs:SendMessage",): [{"Fn::GetAtt": ["InvalidationDeadLetterQueue", "Arn"]}],
    }
    assert all(s["Effect"] == "Allow" for s in policy["PolicyDocument"]["Statement"])
    assert props(body, "InvalidationFunctionRole")["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": ["lambda.amazonaws.com"]}


def test_function_code_environment_logs_and_failure_handling():
    body = build(log_retention_days=14, reserved_concurrency=3)
    fn = props(body, "InvalidationFunction")
    (key,) = artifacts_of(body)
    assert key.startswith("lambda/cloudfront_invalidation-") and key.endswith(".zip")
    assert fn["Code"] == {"S3Bucket": {"Ref": "TemplateBucket"}, "S3Key": {"Fn::Join": ["", [{"Ref": "TemplatePrefix"}, key]]}}
    assert fn["Handler"] == "handler.handler"
    assert fn["Runtime"].startswith("python3.")
    assert fn["Environment"] == {"Variables": {"DISTRIBUTION_ID": {"Ref": "Distribution"}}}
    assert fn["LoggingConfig"] == {"LogGroup": {"Ref": "InvalidationLogGroup"}}
    assert props(body, "InvalidationLogGroup")["RetentionInDays"] == 14
    assert fn["DeadLetterConfig"] == {"TargetArn": {"Fn::GetAtt": ["InvalidationDeadLetterQueue", "Arn"]}}
    assert fn["ReservedConcurrentExecutions"] == 3
    assert "VpcConfig" not in fn  # CloudFront has no VPC endpoint (seed 000)
    assert_props(body, "AWS::Lambda::EventInvokeConfig", {
        "FunctionName": {"Ref": "InvalidationFunction"}, "MaximumRetryAttempts": 2}, count=1)
    queue = body["Resources"]["InvalidationDeadLetterQueue"]
    assert queue["Properties"]["MessageRetentionPeriod"] == 1209600
    assert queue["Properties"]["KmsMasterKeyId"] == "alias/aws/sqs"
    assert queue["DeletionPolicy"] == "Retain"


def test_unreserved_function_says_why_in_its_metadata():
    fn = build(reserved_concurrency=None)["Resources"]["InvalidationFunction"]
    assert "ReservedConcurrentExecutions" not in fn["Properties"]
    assert "CKV_AWS_115" in [s["id"] for s in fn["Metadata"]["checkov"]["skip"]]


# --- access logs ------------------------------------------------------------

LOGGED = {"monitoring": {"enabled": True}}


def access_logs_to(label: str) -> dict:
    return {"DestinationBucketName": {"Ref": "LogBucketName"}, "LogFilePrefix": f"s3/{label}/",
            "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}}}


def test_cloudfront_logs_go_to_a_private_bucket_with_acls_that_logs_its_own_access():
    body = build(access_log_days=120, env=LOGGED)
    log_bucket = body["Resources"]["AccessLogBucket"]
    assert log_bucket["DeletionPolicy"] == "Retain"
    p = log_bucket["Properties"]
    assert p["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]}  # CloudFront delivers via ACL
    assert all(p["PublicAccessBlockConfiguration"].values())
    assert p["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 120
    assert p["LoggingConfiguration"] == access_logs_to("static-cloudfront-logs")
    config = props(body, "Distribution")["DistributionConfig"]
    assert config["Logging"] == {"Bucket": {"Fn::GetAtt": ["AccessLogBucket", "DomainName"]}, "Prefix": "cloudfront/", "IncludeCookies": False}
    assert list(statements(body, "AccessLogBucketPolicy")) == ["DenyWithoutTls"]


def test_the_site_bucket_logs_into_the_environments_log_bucket():
    body = build(access_logs=False, env=LOGGED)
    assert props(body, "StaticBucket")["LoggingConfiguration"] == access_logs_to("static-site")
    assert "checkov" not in body["Resources"]["StaticBucket"].get("Metadata", {})


def test_without_access_logs_there_is_no_log_bucket_and_without_monitoring_no_access_log():
    body = build(access_logs=False)
    assert "AccessLogBucket" not in body["Resources"]
    assert "Logging" not in props(body, "Distribution")["DistributionConfig"]
    assert "LoggingConfiguration" not in props(body, "StaticBucket")
    assert body["Resources"]["StaticBucket"]["Metadata"]["checkov"]["skip"] == [
        {"id": "CKV_AWS_18", "comment": "monitoring.enabled is false: the environment has no log bucket for S3 access logs"}]


def test_outputs_are_the_contract_with_other_layers():
    assert set(build()["Outputs"]) == {
        "DistributionId", "DistributionDomainName", "DistributionArn", "StaticBucketName", "StaticBucketArn", "StaticAlarmNames"}


def test_output_is_deterministic():
    env = make_env(static={"enabled": True, "api_path_pattern": "/api/*"}, **DOMAIN)
    assert render_text("s.json", static.build(env)).text == render_text("s.json", static.build(env)).text


# --- schema -----------------------------------------------------------------

@pytest.mark.parametrize(("fields", "path", "fragment"), [
    ({"log_retention_days": 8}, "static.log_retention_days", "must be one of"),
    ({"price_class": "PriceClass_50"}, "static.price_class", "PriceClass_100"),
    ({"api_path_pattern": "/*"}, "static.api_path_pattern", "path pattern"),
    ({"noncurrent_version_days": 0}, "static.noncurrent_version_days", "greater than or equal to 1"),
    ({"invalidation_suffix": "*.png"}, "static.invalidation_suffix", "no wildcards"),
    ({"cache": 1}, "static.cache", "unknown key"),
])
def test_bad_static_fields_name_the_field(tmp_path, fields, path, fragment):
    data = {"project": "demo", "environment": "test", "region": "eu-west-1", "static": {"enabled": True, **fields}}
    message = config_error(tmp_path, data)
    assert f" {path}: " in message and fragment in message
    assert message.startswith(f"{tmp_path / 'test.yaml'}:")


def test_static_needs_no_other_layer():
    env = EnvConfig.model_validate({"project": "demo", "environment": "test", "region": "eu-west-1", "static": {"enabled": True}})
    assert set(render(static.build(env))["Parameters"]) == {"TemplateBucket", "TemplatePrefix", "CloudFrontWebAclArn", "AlarmTopicArn"}


# --- lint and the dependency cycle ----------------------------------------------

def test_lint_clean_in_every_shape_and_a_cycle_would_be_caught():
    """cfn-lint (E3004) rejects a template whose resources depend on each
    other in a circle. Ours passes; the same template with the permission's
    SourceArn taken from the bucket (the obvious way to write it) fails."""
    shapes = {
        "plain": make_env(static={"enabled": True, "access_logs": False, "reserved_concurrency": None}),
        "full": make_env(static={"enabled": True, "api_path_pattern": "/api/*", "invalidation_prefix": "a/"}, **DOMAIN),
        "us-east-1": make_env(region="us-east-1", static={"enabled": True}, **DOMAIN),
        "us-east-1-waf": make_env(region="us-east-1", static={"enabled": True, "waf": {"enabled": True}}, **LOGGED),
        "cloudfront-only": make_env(static={"enabled": True, "api_path_pattern": "/api/*"},
                                    web={"enabled": True, "listener": "http"}, **LOGGED),
    }
    jobs = [(name, render_text(f"{name}.json", static.build(env)).text, env.region) for name, env in shapes.items()]
    cyclic = json.loads(jobs[0][1])
    cyclic["Resources"]["InvalidationFunctionS3Permission"]["Properties"]["SourceArn"] = {"Fn::GetAtt": ["StaticBucket", "Arn"]}
    jobs.append(("cyclic", json.dumps(cyclic, indent=2), "eu-west-1"))

    findings = lint_templates(jobs)

    assert [str(f) for f in findings if f.template != "cyclic"] == []
    assert any(f.rule == "E3004" for f in findings if f.template == "cyclic"), [str(f) for f in findings]


# --- deploy on moto ------------------------------------------------------------

STAND_IN_ID, STAND_IN_DOMAIN = "E2STANDIN0000", "d111111abcdef8.cloudfront.net"


def without_cloudfront(body: dict) -> dict:
    """moto's CloudFormation has no CloudFront resources: drop the
    distribution and its origin access control and put fixed stand-ins where
    the template reads their id and domain name."""
    def swap(node):
        if node == {"Ref": "Distribution"}:
            return STAND_IN_ID
        if node == {"Fn::GetAtt": ["Distribution", "DomainName"]}:
            return STAND_IN_DOMAIN
        if isinstance(node, dict):
            return {k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        return node.replace("${Distribution}", STAND_IN_ID) if isinstance(node, str) else node

    result = swap(copy.deepcopy(body))
    for name in ("Distribution", "OriginAccessControl"):
        del result["Resources"][name]
    result["Outputs"] = {k: v for k, v in result["Outputs"].items() if not k.startswith("Distribution")}
    return result


def test_static_layer_deploys_alone_through_a_change_set(aws):
    """What moto shows: the bucket -> notification -> function -> permission
    chain creates without a cycle; the bucket really gets the name the
    permission's SourceArn and the role's s3 grant were built from; the
    function gets its code from TemplateBucket/TemplatePrefix, its role and
    the distribution id; the role's policy names exactly the bucket, the
    distribution, the log group and the queue.

    What moto cannot show: CloudFront and the origin access control (not in
    moto's CloudFormation; stand-ins above), the bucket's versioning, public
    access block, ownership, lifecycle, notification and logging settings
    and the bucket policies (moto's CloudFormation applies only a bucket's
    name, encryption and tags), the EventInvokeConfig, the function's
    dead-letter and logging configuration, and S3 invoking the function."""
    body = render(static.build(make_env(static={"enabled": True, "log_retention_days": 14})))
    s3 = boto3.client("s3", endpoint_url=aws, region_name="eu-west-1")
    s3.create_bucket(Bucket="strata-artifacts", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    (key,) = artifacts_of(body)
    s3.put_object(Bucket="strata-artifacts", Key=f"releases/1/{key}", Body=artifact_data(key))

    resources = deploy_stack(aws, "static-alone", without_cloudfront(body),
                             {"TemplateBucket": "strata-artifacts", "TemplatePrefix": "releases/1/"})

    cfn = boto3.client("cloudformation", endpoint_url=aws, region_name="eu-west-1")
    stack_id = cfn.describe_stacks(StackName="static-alone")["Stacks"][0]["StackId"]
    bucket = resources["StaticBucket"]["PhysicalResourceId"]
    assert bucket == f"demo-test-static-{stack_id.split('/')[2].split('-')[0]}"
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    aws_lambda = boto3.client("lambda", endpoint_url=aws, region_name="eu-west-1")
    function = resources["InvalidationFunction"]["PhysicalResourceId"]
    config = aws_lambda.get_function(FunctionName=function)["Configuration"]
    assert config["Environment"]["Variables"] == {"DISTRIBUTION_ID": STAND_IN_ID}
    assert config["Role"].endswith("/" + resources["InvalidationFunctionRole"]["PhysicalResourceId"])
    assert config["CodeSha256"]  # moto read the zip from the template bucket
    (statement,) = json.loads(aws_lambda.get_policy(FunctionName=function)["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == f"arn:aws:s3:::{bucket}"
    assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == "123456789012"

    iam = boto3.client("iam", endpoint_url=aws, region_name="eu-west-1")
    role = resources["InvalidationFunctionRole"]["PhysicalResourceId"]
    document = iam.get_role_policy(RoleName=role, PolicyName="least-privilege")["PolicyDocument"]
    if isinstance(document, str):  # moto keeps a CloudFormation-made inline policy as Python's repr of it
        document = ast.literal_eval(document)
    granted = {tuple(s["Action"]): s["Resource"] for s in document["Statement"]}
    assert granted[("s3:ListBucketVersions",)] == [f"arn:aws:s3:::{bucket}"]
    assert granted[("cloudfront:CreateInvalidation",)] == [f"arn:aws:cloudfront::123456789012:distribution/{STAND_IN_ID}"]
    queue_url = resources["InvalidationDeadLetterQueue"]["PhysicalResourceId"]
    sqs = boto3.client("sqs", endpoint_url=aws, region_name="eu-west-1")
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert granted[("sqs:SendMessage",)] == [queue_arn]

    groups = boto3.client("logs", endpoint_url=aws, region_name="eu-west-1").describe_log_groups(
        logGroupNamePrefix=resources["InvalidationLogGroup"]["PhysicalResourceId"])["logGroups"]
    assert [g["retentionInDays"] for g in groups] == [14]
    assert "AccessLogBucket" in resources


# --- WAF and CloudFront's us-east-1 companion -------------------------------------------------

WAF = {"waf": {"enabled": True, "rate_limit": 1000}}


def test_outside_us_east_1_the_waf_and_the_5xx_alarm_live_in_a_companion_deployed_there():
    env = make_env(static={"enabled": True, **WAF}, monitoring={"enabled": True, "alarm_emails": ["ops@example.com"]})
    (name, companion), = static.companions(env).items()
    body = render(companion)
    assert name == "static-cloudfront" and body["Metadata"]["Strata"]["Region"] == "us-east-1"
    acl = props(body, "CloudfrontWebAcl")
    assert (acl["Scope"], acl["Name"]) == ("CLOUDFRONT", "demo-test-cloudfront")
    assert acl["Rules"][3]["Statement"]["RateBasedStatement"]["Limit"] == 1000
    assert body["Outputs"]["CloudFrontWebAclArn"]["Value"] == {"Fn::GetAtt": ["CloudfrontWebAcl", "Arn"]}
    alarm = body["Resources"]["Cloudfront5xxRateAlarm"]
    assert alarm["Condition"] == "HasDistribution"
    assert alarm["Properties"]["Dimensions"] == [{"Name": "DistributionId", "Value": {"Ref": "DistributionId"}},
                                                 {"Name": "Region", "Value": "Global"}]
    assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]  # a topic of its own region
    assert body["Parameters"]["DistributionId"]["Default"] == ""
    assert [s["Properties"]["Endpoint"] for s in resources_of_type(body, "AWS::SNS::Subscription").values()] == ["ops@example.com"]
    # the distribution takes the ACL through its parameter, which strata deploy feeds from the companion
    distribution = render(static.build(env))
    assert props(distribution, "Distribution")["DistributionConfig"]["WebACLId"] == {
        "Fn::If": ["HasCloudFrontWebAcl", {"Ref": "CloudFrontWebAclArn"}, {"Ref": "AWS::NoValue"}]}
    assert "static-cloudfront companion" in distribution["Parameters"]["CloudFrontWebAclArn"]["Description"]


def test_in_us_east_1_the_distribution_has_its_acl_and_its_alarm_itself():
    env = make_env(region="us-east-1", static={"enabled": True, **WAF})
    assert static.companions(env) == {}
    body = render(static.build(env))
    assert props(body, "Distribution")["DistributionConfig"]["WebACLId"] == {"Fn::GetAtt": ["CloudfrontWebAcl", "Arn"]}
    assert "CloudFrontWebAclArn" not in body["Parameters"]
    assert props(body, "Cloudfront5xxRateAlarm")["Dimensions"][0] == {"Name": "DistributionId", "Value": {"Ref": "Distribution"}}


def test_without_monitoring_the_companion_alarm_notifies_nobody_and_without_alarms_or_waf_there_is_no_companion():
    body = render(static.companions(make_env(static={"enabled": True}))["static-cloudfront"])
    assert "AlarmActions" not in props(body, "Cloudfront5xxRateAlarm")
    assert resources_of_type(body, "AWS::SNS::Topic") == {}
    assert static.companions(make_env(static={"enabled": True, "alarms": {"enabled": False}})) == {}


def test_prod_runs_cloudfronts_waf():
    from generator.build.config import load_config
    from tests.helpers import REPO

    assert load_config(REPO / "parameters" / "prod.yaml").static.waf.enabled


def test_the_companion_lints_and_scans_clean(tmp_path):
    from tests.helpers import checkov_failures, lint_findings

    envs = {
        "edge-waf-alarm": make_env(static={"enabled": True, **WAF}, monitoring={"enabled": True, "alarm_emails": ["a@b.co"]}),
        "edge-count": make_env(static={"enabled": True, "waf": {"enabled": True, "mode": "count"}}),
    }
    built = {name: (static.companions(env)["static-cloudfront"], "us-east-1") for name, env in envs.items()}
    assert lint_findings(built) == []
    assert checkov_failures({n: t for n, (t, _) in built.items()}, tmp_path) == []


# --- behind CloudFront, the load balancer checks a secret header -------------------------

def test_cloudfront_sends_the_secret_header_the_restricted_load_balancer_checks():
    body = build(api_path_pattern="/api/*", env={"web": {"enabled": True, "listener": "http"}})
    (origin,) = [o for o in props(body, "Distribution")["DistributionConfig"]["Origins"] if "Fn::If" in o]
    alb = origin["Fn::If"][1]
    assert alb["OriginCustomHeaders"] == [{"HeaderName": "X-Origin-Verify",
                                           "HeaderValue": {"Fn::Sub": "{{resolve:secretsmanager:${OriginVerifySecretArn}}}"}}]
    assert "Default" not in body["Parameters"]["OriginVerifySecretArn"]  # the web layer's output, by name
    open_alb = build(api_path_pattern="/api/*", env={"web": {"enabled": True, "listener": "http", "cloudfront_only": False}})
    assert "OriginVerifySecretArn" not in open_alb["Parameters"]
