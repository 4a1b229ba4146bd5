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

from awacs.aws import ArnEquals, Condition, Principal, StringEquals
from pydantic import Field, field_validator
from troposphere import Equals, GetAtt, If, Not, NoValue, Ref, Select, Split, Sub, Template
from troposphere import awslambda, cloudfront, logs, s3, sqs

from generator.cfn.iam import deny_s3_without_tls, grant, resource_policy, service_role
from generator.cfn.lambdas import function_code
from generator.cfn.naming import physical_name
from generator.cfn.resources import keep_data, output, parameter, suppress
from generator.cfn.sections import LayerSection, LogRetentionDays
from templates import dns

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
    """Keep CloudFront's standard logs and S3's server access logs of the site bucket, in a separate
    log bucket (CloudFront's log delivery needs ACLs on it, so it cannot be the site bucket)."""
    access_log_days: int = Field(default=90, ge=1, le=3650)
    """Days the log bucket keeps access logs before S3 expires them."""
    reserved_concurrency: int | None = Field(default=2, ge=1, le=1000)
    """Concurrent executions reserved for (and capping) the invalidation function, so a burst of uploads
    cannot exhaust the account's pool or CloudFront's invalidation rate. Null: no reservation (needed
    in accounts whose concurrency quota is still the new-account minimum of 10)."""


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
    log_bucket = _log_bucket(t, cfg, bucket_name) if cfg.access_logs else None
    origin_access = _origin_access_control(t, bucket_name)
    distribution = _distribution(t, env, cfg, bucket_name, origin_access, names, log_bucket)
    queue = _dead_letter_queue(t)
    function = _invalidation_function(t, cfg, bucket_name, distribution, queue)
    permission = _s3_permission(t, function, bucket_name)
    bucket = _bucket(t, cfg, bucket_name, function, permission, log_bucket)
    _bucket_policy(t, bucket, distribution)
    if names:
        for record in dns.alias_records(t, env, "cloudfront", GetAtt(distribution, "DomainName"), CLOUDFRONT_ZONE_ID):
            # Without the certificate the distribution has no aliases, and it would not answer for these names.
            record.Condition = HAS_CERTIFICATE
    _outputs(t, bucket, distribution)
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


def _log_bucket(t: Template, cfg: Config, site_bucket_name: _BucketName) -> s3.Bucket:
    """CloudFront's standard logs (under cloudfront/) and the site bucket's
    S3 server access logs (under s3/). CloudFront delivers through an ACL grant
    it adds itself, so this bucket keeps ACLs on (BucketOwnerPreferred: the
    bucket owner still owns every object); nothing here is public."""
    bucket = t.add_resource(s3.Bucket(
        "AccessLogBucket",
        BucketEncryption=_sse_s3(),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=_private(),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerPreferred")]),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(
            Id="ExpireLogs", Status="Enabled", ExpirationInDays=cfg.access_log_days,
            NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1),
        )]),
    ))
    keep_data(bucket, "Retain")
    suppress(bucket, "CKV_AWS_18", "This is the access-log bucket; logging it into itself would log its own log writes")
    writes_access_logs = grant(
        ["s3:PutObject"], [Sub("${AccessLogBucket.Arn}/s3/*")], sid="S3ServerAccessLogsOfTheSiteBucket",
        conditions=Condition([
            ArnEquals({"aws:SourceArn": site_bucket_name.arn()}),
            StringEquals({"aws:SourceAccount": Ref("AWS::AccountId")}),
        ]),
    )
    t.add_resource(s3.BucketPolicy("AccessLogBucketPolicy", Bucket=Ref(bucket), PolicyDocument=resource_policy(
        [(Principal("Service", ["logging.s3.amazonaws.com"]), writes_access_logs)],
        deny=[deny_s3_without_tls(GetAtt(bucket, "Arn"), Sub("${AccessLogBucket.Arn}/*"))],
    )))
    return bucket


def _sse_s3() -> s3.BucketEncryption:
    # SSE-S3: CloudFront's origin access control and its log delivery both
    # work with it without a KMS key policy naming CloudFront.
    return s3.BucketEncryption(ServerSideEncryptionConfiguration=[s3.ServerSideEncryptionRule(
        ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256"),
    )])


def _private() -> s3.PublicAccessBlockConfiguration:
    return s3.PublicAccessBlockConfiguration(
        BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True,
    )


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
        WebACLId=_web_acl(t),
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
    suppress(distribution, "CKV_AWS_174", (
        "TLSv1.2_2021 is set whenever the distribution has the domain's certificate; on *.cloudfront.net "
        "CloudFront's own certificate fixes the minimum and it cannot be changed"
    ))
    if log_bucket is None:
        suppress(distribution, "CKV_AWS_86", "static.access_logs is false in this environment's parameter file")
    return distribution


def _web_acl(t: Template):
    """An optional AWS WAF web ACL. CloudFront's must be created in us-east-1
    (scope CLOUDFRONT) and is billed per ACL, rule and request, so it is
    attached by ARN rather than built here; empty: none."""
    arn = parameter(
        t, "CloudFrontWebAclArn", "String",
        "ARN of an AWS WAF (v2) web ACL with scope CLOUDFRONT (created in us-east-1); empty: no WAF",
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
    # The queue holds the events that failed every retry: evidence to replay, not to lose with the stack.
    return keep_data(queue, "Retain")


def _invalidation_function(
    t: Template, cfg: Config, bucket_name: _BucketName, distribution: cloudfront.Distribution, queue: sqs.Queue
) -> awslambda.Function:
    log_group = t.add_resource(logs.LogGroup("InvalidationLogGroup", RetentionInDays=cfg.log_retention_days))
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
    return t.add_resource(awslambda.Permission(
        "InvalidationFunctionS3Permission",
        Action="lambda:InvokeFunction",
        FunctionName=Ref(function),
        Principal="s3.amazonaws.com",
        SourceAccount=Ref("AWS::AccountId"),
        SourceArn=bucket_name.arn(),
    ))


def _bucket(
    t: Template, cfg: Config, bucket_name: _BucketName, function: awslambda.Function,
    permission: awslambda.Permission, log_bucket: s3.Bucket | None,
) -> s3.Bucket:
    rules = [s3.Rules(Name=name, Value=value) for name, value in (
        ("prefix", cfg.invalidation_prefix), ("suffix", cfg.invalidation_suffix)) if value]
    key_filter = {"Filter": s3.Filter(S3Key=s3.S3Key(Rules=rules))} if rules else {}
    logging = {"LoggingConfiguration": s3.LoggingConfiguration(
        DestinationBucketName=Ref(log_bucket), LogFilePrefix="s3/")} if log_bucket else {}
    bucket = t.add_resource(s3.Bucket(
        "StaticBucket",
        DependsOn=[permission.title],
        BucketName=bucket_name.sub(),
        BucketEncryption=_sse_s3(),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        PublicAccessBlockConfiguration=_private(),
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
        **logging,
    ))
    if log_bucket is None:
        suppress(bucket, "CKV_AWS_18", "static.access_logs is false in this environment's parameter file")
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
