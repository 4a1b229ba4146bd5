"""static layer: a private S3 bucket behind CloudFront, and the Lambda that
invalidates CloudFront's copy of an object when it changes.

Drawn in order: the access-log bucket, the origin access control and the
distribution (with the ALB as an optional second origin), the invalidation
function with its role, log group and dead-letter queue, the site bucket with
the S3 event notification that calls it, the bucket policy that lets only
this distribution read, and the alias records when the dns layer is on.

The bucket -> notification -> function -> role -> bucket chain is circular in
CloudFormation when written with Ref/GetAtt. It is broken without a custom
resource: the bucket's name is a pure function of the stack (`Fn::Sub` with
the stack id), so the role, the Lambda permission and the CloudFront origin
build the bucket's name and ARN themselves and never reference the bucket.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from awacs.aws import Condition, Principal, StringEquals
from pydantic import Field, field_validator
from troposphere import Equals, GetAtt, If, Not, NoValue, Ref, Select, Split, Sub, Template
from troposphere import awslambda, cloudfront, logs, s3, sqs

from generator.cfn import alarms
from generator.cfn.buckets import access_logging, block_public, sse_s3
from generator.cfn.iam import deny_s3_without_tls, grant, queue_policy, resource_policy, service_role
from generator.cfn.lambdas import function_code
from generator.cfn.naming import physical_name
from generator.cfn.resources import keep_data, output, parameter, retain_long_logs, strata_metadata, suppress
from generator.cfn.sections import LayerSection, LogRetentionDays
from generator.cfn.waf import WafConfig, web_acl
from templates import dns, monitoring, web

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "static"
DESCRIPTION = "Private S3 bucket behind CloudFront with cache invalidation on change"

FUNCTION = "cloudfront_invalidation"
# AWS-managed CloudFront policies: fixed ids, the same in every account.
CACHING_OPTIMIZED = "658327ea-f89d-4fab-a63d-7e88639e58f6"
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
ALL_VIEWER_EXCEPT_HOST_HEADER = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
SECURITY_HEADERS = "67f7725c-6f97-4210-82d7-5512b31e9d03"
# Route 53's alias zone for every CloudFront distribution (a global AWS constant).
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"
NOTIFICATION_EVENTS = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*", "s3:ObjectRestore:Completed")
S3_ORIGIN, ALB_ORIGIN = "s3", "alb"
# The bucket name ends in "-" and the first 8 hex digits of the stack id's UUID.
_STACK_SUFFIX_LENGTH = 9
_PATH_PATTERN = re.compile(r"^/?[A-Za-z0-9_\-.*$/~\"'@:+&]+$")

HAS_CERTIFICATE = "HasCloudFrontCertificate"
HAS_LOAD_BALANCER = "HasLoadBalancer"
HAS_WEB_ACL = "HasCloudFrontWebAcl"
HAS_DISTRIBUTION = "HasDistribution"
# CloudFront's WAF web ACLs and its metrics (hence its alarms) exist in us-east-1 only.
CLOUDFRONT_REGION = dns.CLOUDFRONT_CERTIFICATE_REGION
# Outside us-east-1: the companion template holding what must live there, and its output.
COMPANION = "static-cloudfront"
WEB_ACL_OUTPUT = "CloudFrontWebAclArn"


class Alarms(alarms.Timing):
    cloudfront_5xx_percent: float = Field(default=5, gt=0, le=100)
    """Share of viewer requests (%) CloudFront answers with a 5xx (its own or the origin's) before the alarm
    fires. CloudFront's metrics live in us-east-1, so this alarm does too (in the static-cloudfront
    companion outside us-east-1), with its own alarm topic there."""
    invalidation_errors: int = Field(default=1, ge=1)
    """Failed runs of the invalidation function in a period (each is retried, then parked)."""
    invalidation_throttles: int = Field(default=1, ge=1)
    """Throttled runs of the invalidation function in a period (its reserved concurrency is full)."""
    invalidation_event_age_seconds: int = Field(default=600, ge=1)
    """Age of the oldest S3 event waiting for the invalidation function (retries piling up)."""
    invalidation_dead_letters: int = Field(default=1, ge=1)
    """Events in the invalidation dead-letter queue: changed objects CloudFront may still serve stale."""


class Config(LayerSection):
    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"] = "PriceClass_100"
    """Edge locations CloudFront serves from: PriceClass_100 (North America and Europe, cheapest),
    PriceClass_200 (adds Asia, Middle East, Africa) or PriceClass_All (every location, fastest everywhere)."""
    default_root_object: str = "index.html"
    """Object CloudFront returns for a request to the root URL (`/`)."""
    noncurrent_version_days: int = Field(default=30, ge=1, le=3650)
    """Days S3 keeps an overwritten or deleted object's older versions before expiring them. Versioning
    stays on because the invalidation function tells an overwrite from a first upload by them."""
    invalidation_prefix: str = ""
    """Only objects whose key starts with this (e.g. `assets/`) trigger invalidation; empty: all."""
    invalidation_suffix: str = ""
    """Only objects whose key ends with this (e.g. `.html`) trigger invalidation; empty: all."""
    api_path_pattern: str | None = None
    """Path pattern (e.g. `/api/*`) CloudFront forwards to the ALB with caching disabled, every method
    and all viewer headers, cookies and query strings. The ALB's name comes from the `LoadBalancerDnsName`
    parameter (the web layer's output); while it is empty the pattern is not routed. CloudFront speaks
    the web layer's listener protocol: HTTPS, passing the viewer's Host header, which the ALB's
    certificate must match (so use it with the dns layer on), or HTTP with `web.listener: http`
    (an ALB's own *.elb.amazonaws.com name has no certificate). Null: no second origin."""
    log_retention_days: LogRetentionDays = 30
    """Days CloudWatch Logs keeps the invalidation function's log; one of the values it accepts."""
    access_logs: bool = True
    """Keep CloudFront's standard logs in a log bucket of this layer: CloudFront's log delivery needs ACLs
    on it (BucketOwnerPreferred), which the environment's log bucket does not allow. The S3 server access
    logs of this layer's buckets go to the environment's log bucket (monitoring layer)."""
    access_log_days: int = Field(default=90, ge=1, le=3650)
    """Days the log bucket keeps access logs before S3 expires them."""
    reserved_concurrency: int | None = Field(default=2, ge=1, le=1000)
    """Concurrent executions reserved for (and capping) the invalidation function, so a burst of uploads
    cannot exhaust the account's pool or CloudFront's invalidation rate. Null: no reservation (needed
    in accounts whose concurrency quota is still the new-account minimum of 10)."""
    waf: WafConfig = WafConfig()
    """AWS WAF in front of the distribution: a web ACL with scope CLOUDFRONT, which AWS keeps in us-east-1
    (outside it, the static-cloudfront companion template holds it and feeds `CloudFrontWebAclArn`).
    Off: an existing ACL can still be given as the `CloudFrontWebAclArn` parameter. On in prod."""
    alarms: Alarms = Alarms()
    """Alarms on the distribution and the invalidation function."""

    @field_validator("api_path_pattern")
    @classmethod
    def _valid_pattern(cls, pattern: str | None) -> str | None:
        if pattern is not None and (not _PATH_PATTERN.match(pattern) or pattern in ("*", "/*")):
            raise ValueError("must be a CloudFront path pattern like /api/* (the default behaviour already covers /*)")
        return pattern

    @field_validator("invalidation_prefix", "invalidation_suffix")
    @classmethod
    def _filter_value(cls, value: str) -> str:
        if len(value) > 1024 or any(c in value for c in "*?"):
            raise ValueError("is matched literally by S3: at most 1024 characters, no wildcards")
        return value


def build(env: EnvConfig) -> Template:
    cfg: Config = env.static
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    names = dns.record_names(env, "cloudfront")
    bucket_name = _bucket_name(env)
    log_bucket = _log_bucket(t, env) if cfg.access_logs else None
    origin_access = _origin_access_control(t, bucket_name)
    distribution = _distribution(t, env, cfg, bucket_name, origin_access, names, log_bucket)
    queue = _dead_letter_queue(t)
    function = _invalidation_function(t, cfg, bucket_name, distribution, queue)
    permission = _s3_permission(t, function, bucket_name)
    bucket = _bucket(t, env, bucket_name, function, permission)
    _bucket_policy(t, bucket, distribution)
    if names:
        for record in dns.alias_records(t, env, "cloudfront", GetAtt(distribution, "DomainName"), CLOUDFRONT_ZONE_ID):
            # Without the certificate the distribution has no aliases, and it would not answer for these names.
            record.Condition = HAS_CERTIFICATE
    _outputs(t, bucket, distribution)
    _alarms(t, env)
    return t


@dataclass(frozen=True)
class _BucketName:
    """The site bucket's name as an Fn::Sub pattern, so other strings (its
    ARN, its endpoint) can be built around it without referencing the bucket."""

    pattern: str
    variables: dict[str, Any]

    def sub(self, text: str = "<name>") -> Sub:
        """`text` with `<name>` replaced by the bucket's name."""
        return Sub(text.replace("<name>", self.pattern), **self.variables)

    def arn(self) -> Sub:
        return self.sub("arn:${AWS::Partition}:s3:::<name>")


def _bucket_name(env: EnvConfig) -> _BucketName:
    """`<project>-<env>-static-<8 hex digits of the stack id>`: known before
    the bucket exists (which breaks the dependency circle), unique per stack
    (a bucket Retained by a deleted stack never blocks a new one), and within
    S3's 63 characters."""
    prefix = physical_name(env.project, env.environment, "static", max_length=63 - _STACK_SUFFIX_LENGTH)
    stack_uuid = Select(0, Split("-", Select(2, Split("/", Ref("AWS::StackId")))))
    return _BucketName(f"{prefix}-${{StackUuid}}", {"StackUuid": stack_uuid})


def _log_bucket(t: Template, env: EnvConfig) -> s3.Bucket:
    """CloudFront's standard logs (under cloudfront/). CloudFront delivers
    through an ACL grant it adds itself, so this bucket keeps ACLs on
    (BucketOwnerPreferred: the bucket owner still owns every object);
    nothing here is public."""
    bucket = t.add_resource(s3.Bucket(
        "AccessLogBucket",
        BucketEncryption=sse_s3(),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=block_public(),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerPreferred")]),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(
            Id="ExpireLogs", Status="Enabled", ExpirationInDays=env.static.access_log_days,
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1),
        )]),
    ))
    keep_data(bucket, "Retain")
    access_logging(t, bucket, "static-cloudfront-logs", env.monitoring.enabled)
    t.add_resource(s3.BucketPolicy("AccessLogBucketPolicy", Bucket=Ref(bucket), PolicyDocument=resource_policy(
        [], deny=[deny_s3_without_tls(GetAtt(bucket, "Arn"), Sub("${AccessLogBucket.Arn}/*"))],
    )))
    return bucket


def _origin_access_control(t: Template, bucket_name: _BucketName) -> cloudfront.OriginAccessControl:
    return t.add_resource(cloudfront.OriginAccessControl(
        "OriginAccessControl",
        OriginAccessControlConfig=cloudfront.OriginAccessControlConfig(
            # Names are unique per account; the bucket's name already is.
            Name=bucket_name.sub(),
            Description="CloudFront signs every request to the static bucket (SigV4)",
            OriginAccessControlOriginType="s3",
            SigningBehavior="always",
            SigningProtocol="sigv4",
        ),
    ))


def _distribution(
    t: Template, env: EnvConfig, cfg: Config, bucket_name: _BucketName,
    origin_access: cloudfront.OriginAccessControl, names: list[str], log_bucket: s3.Bucket | None,
) -> cloudfront.Distribution:
    origins = [cloudfront.Origin(
        Id=S3_ORIGIN,
        # The regional endpoint built from the name, not GetAtt: the
        # distribution must not depend on the bucket (see the module docstring).
        DomainName=bucket_name.sub("<name>.s3.${AWS::Region}.${AWS::URLSuffix}"),
        OriginAccessControlId=GetAtt(origin_access, "Id"),
        # Empty identity: the legacy OAI is off, the origin access control signs instead.
        S3OriginConfig=cloudfront.S3OriginConfig(OriginAccessIdentity=""),
    )]
    config = dict(
        Comment=f"{env.project} {env.environment} static site",
        Enabled=True,
        DefaultRootObject=cfg.default_root_object,
        HttpVersion="http2and3",
        IPV6Enabled=True,
        PriceClass=cfg.price_class,
        DefaultCacheBehavior=cloudfront.DefaultCacheBehavior(
            TargetOriginId=S3_ORIGIN,
            ViewerProtocolPolicy="redirect-to-https",
            AllowedMethods=["GET", "HEAD"],
            CachedMethods=["GET", "HEAD"],
            Compress=True,
            CachePolicyId=CACHING_OPTIMIZED,
            ResponseHeadersPolicyId=SECURITY_HEADERS,
        ),
        ViewerCertificate=_viewer_certificate(t, env, names),
        WebACLId=_web_acl(t, env),
    )
    if log_bucket is not None:
        config["Logging"] = cloudfront.Logging(
            Bucket=GetAtt(log_bucket, "DomainName"), Prefix="cloudfront/", IncludeCookies=False,
        )
    if names:
        config["Aliases"] = If(HAS_CERTIFICATE, names, NoValue)
    if cfg.api_path_pattern:
        alb_origin, behavior = _alb_origin(t, env, cfg)
        origins.append(If(HAS_LOAD_BALANCER, alb_origin, NoValue))
        config["CacheBehaviors"] = If(HAS_LOAD_BALANCER, [behavior], NoValue)
    distribution = t.add_resource(cloudfront.Distribution(
        "Distribution", DistributionConfig=cloudfront.DistributionConfig(Origins=origins, **config),
    ))
    if names:
        tls_reason = ("TLSv1.2_2021 is set once CloudFrontCertificateArn gives the domain's certificate; until then "
                      "the distribution answers on *.cloudfront.net, whose certificate's minimum CloudFront fixes")
    else:
        tls_reason = ("No dns layer here: the distribution answers on *.cloudfront.net with CloudFront's own "
                      "certificate, whose minimum protocol CloudFront fixes and nobody can change")
    suppress(distribution, "CKV_AWS_174", tls_reason)
    if log_bucket is None:
        suppress(distribution, "CKV_AWS_86", "static.access_logs is false in this environment's parameter file")
    return distribution


def _web_acl(t: Template, env: EnvConfig):
    """The distribution's AWS WAF web ACL (scope CLOUDFRONT, which lives in
    us-east-1): built here in us-east-1; elsewhere taken as the
    `CloudFrontWebAclArn` parameter, fed by the static-cloudfront companion
    when `static.waf` is on, or an existing ACL's ARN; empty: none."""
    if env.static.waf.enabled and env.region == CLOUDFRONT_REGION:
        return GetAtt(web_acl(t, env, "cloudfront", "CLOUDFRONT", env.static.waf, "static.waf"), "Arn")
    source = (f"the {COMPANION} companion's {WEB_ACL_OUTPUT} output (deployed in {CLOUDFRONT_REGION} by strata deploy)"
              if env.static.waf.enabled else "an existing ACL")
    arn = parameter(
        t, WEB_ACL_OUTPUT, "String",
        f"ARN of an AWS WAF (v2) web ACL with scope CLOUDFRONT (in us-east-1): {source}; empty: no WAF",
        Default="",
        AllowedPattern=r"^$|^arn:aws[a-z-]*:wafv2:us-east-1:[0-9]{12}:global/webacl/[A-Za-z0-9_-]+/[0-9a-f-]{36}$",
        ConstraintDescription="empty, or the ARN of a WAFv2 web ACL in us-east-1 with scope CLOUDFRONT",
    )
    t.add_condition(HAS_WEB_ACL, Not(Equals(Ref(arn), "")))
    return If(HAS_WEB_ACL, Ref(arn), NoValue)


def _distribution_arn(distribution: cloudfront.Distribution) -> Sub:
    # CloudFront is global: its ARNs have no region.
    return Sub(f"arn:${{AWS::Partition}}:cloudfront::${{AWS::AccountId}}:distribution/${{{distribution.title}}}")


def _viewer_certificate(t: Template, env: EnvConfig, names: list[str]):
    """The domain's certificate (SNI, TLS 1.2+) when there is one, else the
    *.cloudfront.net certificate (which CloudFront pins to TLSv1)."""
    if not names:
        return cloudfront.ViewerCertificate(CloudFrontDefaultCertificate=True)
    if env.region == dns.CLOUDFRONT_CERTIFICATE_REGION:
        source = "The dns layer's CloudFrontCertificateArn output (this region is us-east-1)."
    else:
        # Lifted to the root stack, so this is the text a deployer reads there.
        source = (
            f"Deploy out/{env.environment}/{dns.CLOUDFRONT_CERTIFICATE_TEMPLATE}.json as its own stack in "
            f"{dns.CLOUDFRONT_CERTIFICATE_REGION} with HostedZoneId = this root stack's HostedZoneId output, "
            f"then update this stack with this parameter = that stack's {dns.CLOUDFRONT_CERTIFICATE_OUTPUT} output."
        )
    arn = parameter(
        t, dns.CLOUDFRONT_CERTIFICATE_OUTPUT, "String",
        f"ACM certificate in us-east-1 for {', '.join(names)}. {source} "
        "Empty: no aliases, the site answers on *.cloudfront.net only.",
        Default="",
        AllowedPattern=r"^$|^arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/[0-9a-f-]{36}$",
        ConstraintDescription="empty, or an ACM certificate ARN in us-east-1",
    )
    t.add_condition(HAS_CERTIFICATE, Not(Equals(Ref(arn), "")))
    return If(
        HAS_CERTIFICATE,
        cloudfront.ViewerCertificate(
            AcmCertificateArn=Ref(arn), SslSupportMethod="sni-only", MinimumProtocolVersion="TLSv1.2_2021",
        ),
        cloudfront.ViewerCertificate(CloudFrontDefaultCertificate=True),
    )


def _alb_origin(t: Template, env: EnvConfig, cfg: Config) -> tuple[cloudfront.Origin, cloudfront.CacheBehavior]:
    dns_name = parameter(
        t, "LoadBalancerDnsName", "String",
        f"DNS name of the ALB serving {cfg.api_path_pattern} (the web layer's output); empty: not routed",
        Default="",
    )
    t.add_condition(HAS_LOAD_BALANCER, Not(Equals(Ref(dns_name), "")))
    https = env.web.listener == "https"
    origin = cloudfront.Origin(
        Id=ALB_ORIGIN,
        DomainName=Ref(dns_name),
        CustomOriginConfig=cloudfront.CustomOriginConfig(
            OriginProtocolPolicy="https-only" if https else "http-only",
            HTTPSPort=443, HTTPPort=80,
            OriginSSLProtocols=["TLSv1.2"],
        ),
    )
    if web.cloudfront_only(env):
        # The load balancer forwards only what carries this header's secret value (web.cloudfront_only).
        secret = parameter(t, web.ORIGIN_SECRET_OUTPUT, "String", f"Secret with the {web.ORIGIN_HEADER} value (the web layer's output)")
        origin.OriginCustomHeaders = [cloudfront.OriginCustomHeader(
            HeaderName=web.ORIGIN_HEADER, HeaderValue=Sub(f"{{{{resolve:secretsmanager:${{{secret.title}}}}}}}"),
        )]
    behavior = cloudfront.CacheBehavior(
        PathPattern=cfg.api_path_pattern,
        TargetOriginId=ALB_ORIGIN,
        ViewerProtocolPolicy="redirect-to-https",
        AllowedMethods=["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"],
        CachedMethods=["GET", "HEAD"],
        Compress=True,
        CachePolicyId=CACHING_DISABLED,
        # Over HTTPS the viewer's Host header (www.<domain>) is what the ALB's
        # certificate matches; over HTTP the ALB's own name is the honest Host.
        OriginRequestPolicyId=ALL_VIEWER if https else ALL_VIEWER_EXCEPT_HOST_HEADER,
        ResponseHeadersPolicyId=SECURITY_HEADERS,
    )
    return origin, behavior


def _dead_letter_queue(t: Template) -> sqs.Queue:
    queue = t.add_resource(sqs.Queue(
        "InvalidationDeadLetterQueue",
        # AWS-managed key: no key to pay for, and its key policy already lets
        # this account's principals (the function's role) use it through SQS.
        KmsMasterKeyId="alias/aws/sqs",
        MessageRetentionPeriod=14 * 24 * 3600,  # the longest SQS keeps a message
    ))
    # Lambda sends with the function's role, which IAM already allows; the policy only refuses plain HTTP.
    queue_policy(t, "InvalidationDeadLetterQueuePolicy", queue)
    # The queue holds the events that failed every retry: evidence to replay, not to lose with the stack.
    return keep_data(queue, "Retain")


def _invalidation_function(
    t: Template, cfg: Config, bucket_name: _BucketName, distribution: cloudfront.Distribution, queue: sqs.Queue
) -> awslambda.Function:
    log_group = retain_long_logs(t.add_resource(logs.LogGroup("InvalidationLogGroup", RetentionInDays=cfg.log_retention_days)))
    suppress(log_group, "CKV_AWS_158", "The log holds object keys and invalidation ids; CloudWatch Logs encrypts it at rest by default")
    role = service_role(t, "InvalidationFunctionRole", "lambda.amazonaws.com", [
        grant(["logs:CreateLogStream", "logs:PutLogEvents"], [GetAtt(log_group, "Arn")]),
        grant(["cloudfront:CreateInvalidation"], [_distribution_arn(distribution)]),
        grant(["s3:ListBucketVersions"], [bucket_name.arn()]),
        grant(["sqs:SendMessage"], [GetAtt(queue, "Arn")]),
    ])
    function = t.add_resource(awslambda.Function(
        "InvalidationFunction",
        Description="Invalidates CloudFront's copy of changed S3 objects (lambda_src/cloudfront_invalidation)",
        Runtime="python3.13",
        Architectures=["arm64"],
        Handler="handler.handler",
        Code=function_code(t, FUNCTION),
        Role=GetAtt(role, "Arn"),
        MemorySize=128,
        Timeout=60,
        Environment=awslambda.Environment(Variables={"DISTRIBUTION_ID": Ref(distribution)}),
        LoggingConfig=awslambda.LoggingConfig(LogGroup=Ref(log_group)),
        DeadLetterConfig=awslambda.DeadLetterConfig(TargetArn=GetAtt(queue, "Arn")),
        **({"ReservedConcurrentExecutions": cfg.reserved_concurrency} if cfg.reserved_concurrency else {}),
    ))
    suppress(function, "CKV_AWS_117", "Runs outside the VPC on purpose: CloudFront has no VPC endpoint (seed 000)")
    suppress(function, "CKV_AWS_173", "The only variable is the distribution id, not a secret; Lambda encrypts it at rest")
    if not cfg.reserved_concurrency:
        suppress(function, "CKV_AWS_115", "static.reserved_concurrency is null: the account's quota leaves nothing to reserve")
    # S3 invokes asynchronously: two retries, then the event goes to the dead-letter queue.
    t.add_resource(awslambda.EventInvokeConfig(
        "InvalidationFunctionInvokeConfig",
        FunctionName=Ref(function), Qualifier="$LATEST",
        MaximumRetryAttempts=2, MaximumEventAgeInSeconds=6 * 3600,
    ))
    return function


def _s3_permission(t: Template, function: awslambda.Function, bucket_name: _BucketName) -> awslambda.Permission:
    """S3 may invoke the function for this bucket in this account only; the
    bucket's ARN is built from its name, so the permission exists before the
    bucket (S3 checks it when the notification is set)."""
    permission = t.add_resource(awslambda.Permission(
        "InvalidationFunctionS3Permission",
        Action="lambda:InvokeFunction",
        FunctionName=Ref(function),
        Principal="s3.amazonaws.com",
        SourceAccount=Ref("AWS::AccountId"),
        SourceArn=bucket_name.arn(),
    ))
    return suppress(permission, "CT.LAMBDA.PR.2", "SourceAccount is this account (Ref AWS::AccountId) and SourceArn this "
                                                  "stack's bucket; the rule accepts them only as literal strings")


def _bucket(
    t: Template, env: EnvConfig, bucket_name: _BucketName, function: awslambda.Function,
    permission: awslambda.Permission,
) -> s3.Bucket:
    cfg: Config = env.static
    rules = [s3.Rules(Name=name, Value=value) for name, value in (
        ("prefix", cfg.invalidation_prefix), ("suffix", cfg.invalidation_suffix)) if value]
    key_filter = {"Filter": s3.Filter(S3Key=s3.S3Key(Rules=rules))} if rules else {}
    bucket = t.add_resource(s3.Bucket(
        "StaticBucket",
        DependsOn=[permission.title],
        BucketName=bucket_name.sub(),
        # SSE-S3: CloudFront's origin access control reads it without a KMS key policy naming CloudFront.
        BucketEncryption=sse_s3(),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=block_public(),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[
            s3.LifecycleRule(
                Id="ExpireOldVersions", Status="Enabled",
                NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=cfg.noncurrent_version_days),
                ExpiredObjectDeleteMarker=True,
            ),
            s3.LifecycleRule(
                Id="AbortIncompleteUploads", Status="Enabled",
                AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=7),
            ),
        ]),
        NotificationConfiguration=s3.NotificationConfiguration(LambdaConfigurations=[
            s3.LambdaConfigurations(Event=event, Function=GetAtt(function, "Arn"), **key_filter)
            for event in NOTIFICATION_EVENTS
        ]),
    ))
    access_logging(t, bucket, "static-site", env.monitoring.enabled)
    return keep_data(bucket, "Retain")


def _bucket_policy(t: Template, bucket: s3.Bucket, distribution: cloudfront.Distribution) -> s3.BucketPolicy:
    """Only this distribution reads (the origin access control signs as the
    CloudFront service, and the condition pins it to our distribution's ARN);
    any request without TLS is denied, whoever makes it."""
    objects = Sub("${StaticBucket.Arn}/*")
    reads = grant(
        ["s3:GetObject"], [objects], sid="CloudFrontReadsThroughOriginAccessControl",
        conditions=Condition(StringEquals({"AWS:SourceArn": _distribution_arn(distribution)})),
    )
    document = resource_policy(
        [(Principal("Service", ["cloudfront.amazonaws.com"]), reads)],
        deny=[deny_s3_without_tls(GetAtt(bucket, "Arn"), objects)],
    )
    return t.add_resource(s3.BucketPolicy("StaticBucketPolicy", Bucket=Ref(bucket), PolicyDocument=document))


def _outputs(t: Template, bucket: s3.Bucket, distribution: cloudfront.Distribution) -> None:
    output(t, "DistributionId", Ref(distribution), "CloudFront distribution id")
    output(t, "DistributionDomainName", GetAtt(distribution, "DomainName"), "CloudFront's own name (*.cloudfront.net)")
    output(t, "DistributionArn", _distribution_arn(distribution), "CloudFront distribution ARN")
    output(t, "StaticBucketName", Ref(bucket), "Bucket holding the site's files (upload here)")
    output(t, "StaticBucketArn", GetAtt(bucket, "Arn"), "ARN of the site's bucket")


def alarm_specs(env: EnvConfig) -> list[alarms.Spec]:
    """The invalidation function's failures, throttles and waiting events,
    its dead-letter queue, and CloudFront's 5xx rate (an alarm in us-east-1,
    where CloudFront's metrics are)."""
    cfg: Alarms = env.static.alarms
    if not cfg.enabled:
        return []
    function = Ref("InvalidationFunction")
    specs = alarms.lambda_specs("invalidation", function, cfg.invalidation_errors, cfg.invalidation_throttles,
                                "Invalidation function")
    specs += [
        alarms.Spec(
            "invalidation-event-age", "Invalidation function: age of the oldest waiting S3 event",
            cfg.invalidation_event_age_seconds * 1000, ">=", "notBreaching",
            "Lambda publishes it only for periods in which it invoked the function from its event queue",
            alarms.Metric("AWS/Lambda", "AsyncEventAge", {"FunctionName": function}, "Maximum"), unit="ms",
        ),
        alarms.queue_depth_spec("invalidation-dead-letters", "Invalidation events that failed every retry",
                                GetAtt("InvalidationDeadLetterQueue", "QueueName"), cfg.invalidation_dead_letters),
    ]
    here = env.region == CLOUDFRONT_REGION
    distribution = Ref("Distribution") if here else Ref("DistributionId")
    specs.append(alarms.Spec(
        "cloudfront-5xx-rate", "CloudFront: share of viewer requests answered with a 5xx", cfg.cloudfront_5xx_percent,
        ">=", "notBreaching", "CloudFront publishes the rate only for periods with requests: none, nothing failed",
        alarms.Metric("AWS/CloudFront", "5xxErrorRate", {"DistributionId": distribution, "Region": "Global"}, "Average"),
        unit="%", region=CLOUDFRONT_REGION,
    ))
    return specs


def _alarms(t: Template, env: EnvConfig) -> None:
    alarms.raise_alarms(t, env, NAME, env.static.alarms, alarm_specs(env))


def companions(env: EnvConfig) -> dict[str, Template]:
    """Outside us-east-1: a template to deploy there with what CloudFront
    needs in that region: the WAF web ACL (`static.waf`, output
    `CloudFrontWebAclArn`, which `strata deploy` feeds to the root stack's
    parameter of that name) and CloudFront's 5xx alarm (on the
    `DistributionId` the root stack outputs), notifying an alarm topic of its
    own (an SNS topic takes alarms of its own region only), with the
    monitoring layer's subscriptions."""
    cfg: Config = env.static
    specs = [s for s in alarm_specs(env) if s.region == CLOUDFRONT_REGION]
    if env.region == CLOUDFRONT_REGION or not (cfg.waf.enabled or specs):
        return {}
    t = Template(Description=(
        f"{env.project} {env.environment}: CloudFront's resources that must live in {CLOUDFRONT_REGION} "
        f"(WAF web ACL, 5xx alarm). Deploy this stack in {CLOUDFRONT_REGION}; strata deploy does, and passes "
        f"its {WEB_ACL_OUTPUT} output to the root stack and the root stack's DistributionId output to it"
    ))
    strata_metadata(t, "Region", CLOUDFRONT_REGION)  # strata deploy and the lint gate read it
    if cfg.waf.enabled:
        acl = web_acl(t, env, "cloudfront", "CLOUDFRONT", cfg.waf, "static.waf")
        output(t, WEB_ACL_OUTPUT, GetAtt(acl, "Arn"), "WAF web ACL for the distribution (the root stack's parameter of that name)")
    if specs:
        distribution = parameter(
            t, "DistributionId", "String",
            f"The {env.environment} root stack's DistributionId output; empty until the root stack exists (no alarm then)",
            Default="",
        )
        t.add_condition(HAS_DISTRIBUTION, Not(Equals(Ref(distribution), "")))
        topic = Ref(monitoring.alarm_topic(t, env)) if env.monitoring.enabled else alarms.NO_ACTIONS
        for alarm in alarms.raise_alarms(t, env, NAME, cfg.alarms, specs, region=CLOUDFRONT_REGION, topic=topic):
            alarm.Condition = HAS_DISTRIBUTION
    return {COMPANION: t}
