"""web layer: the internet-facing Application Load Balancer.

Drawn in the order a person would: the load balancer in the public subnets
(optionally writing access logs to its own bucket), the target groups the
application tier registers in, the listeners, and the alias records that
give it a name.

One target group per kind of backend, because a target group has exactly one
target type: `instance` for the compute layer's Auto Scaling group, `ip` for
the containers layer's Fargate tasks (awsvpc tasks have no instance). When
both layers are on, the compute group is the listener's default action and
the containers' group gets a listener rule for `containers.path_patterns`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from awacs.aws import Principal
from pydantic import Field, field_validator, model_validator
from troposphere import Equals, GetAtt, Not, Ref, Sub, Template, elasticloadbalancingv2 as elb, s3, secretsmanager, wafv2

from generator.cfn import alarms
from generator.cfn.buckets import access_logging
from generator.cfn.iam import deny_s3_without_tls, grant, resource_policy
from generator.cfn.resources import keep_data, output, parameter, suppress
from generator.cfn.sections import LayerSection, Section
from generator.cfn.waf import WafConfig, web_acl
from templates.dns import alias_records, record_names

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "web"
DESCRIPTION = "Internet-facing Application Load Balancer with HTTPS and target groups"

# Listener policies that offer TLS 1.3 and refuse anything older than TLS 1.2.
TLS13_POLICIES = (
    "ELBSecurityPolicy-TLS13-1-2-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
    "ELBSecurityPolicy-TLS13-1-3-2021-06",
    "ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
    "ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
)

# Regions that opened before August 2022 deliver ALB access logs from an
# AWS-owned Elastic Load Balancing account (AWS publishes these ids); newer
# regions use the log-delivery service principal instead.
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021", "us-east-2": "033677994240", "us-west-1": "027434742980",
    "us-west-2": "797873946194", "af-south-1": "098369216593", "ap-east-1": "754344448648",
    "ap-southeast-3": "589379963580", "ap-south-1": "718504428378", "ap-northeast-3": "383597477331",
    "ap-northeast-2": "600734575887", "ap-southeast-1": "114774131450", "ap-southeast-2": "783225319266",
    "ap-northeast-1": "582318560864", "ca-central-1": "985666609251", "eu-central-1": "054676820928",
    "eu-west-1": "156460612806", "eu-west-2": "652711504416", "eu-south-1": "635631232127",
    "eu-west-3": "009996457667", "eu-north-1": "897822967062", "me-south-1": "076674570225",
    "sa-east-1": "507241528517", "us-gov-west-1": "048591011584", "us-gov-east-1": "190560391635",
    "cn-north-1": "638102146993", "cn-northwest-1": "037604701340",
}
LOG_DELIVERY_PRINCIPAL = "logdelivery.elasticloadbalancing.amazonaws.com"
LOG_PREFIX = "alb"

CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$")

# Priority of the listener rule sending `containers.path_patterns` to the containers.
CONTAINER_RULE_PRIORITY = 10
# pipeline.deployment: blue_green: requests with this header reach the new revision
# (ECS's test listener rule) before production traffic does; evaluated first.
CONTAINER_TEST_RULE_PRIORITY = 5
TEST_HEADER = ("X-Strata-Test", "green")

# With the load balancer restricted to CloudFront: the rule forwarding what carries the origin header.
ORIGIN_RULE_PRIORITY = 100
# The header CloudFront adds to every request it sends to the load balancer;
# its value is a secret generated in Secrets Manager (OriginVerifySecret).
ORIGIN_HEADER = "X-Origin-Verify"
ORIGIN_SECRET_OUTPUT = "OriginVerifySecretArn"

# AWS's managed prefix list com.amazonaws.global.cloudfront.origin-facing
# (CloudFront's addresses towards origins) has a different id in every
# region; CloudFormation cannot look it up by name. These are the ids AWS
# gives it (`aws ec2 describe-managed-prefix-lists --filters
# Name=prefix-list-name,Values=com.amazonaws.global.cloudfront.origin-facing`);
# elsewhere set web.cloudfront_prefix_list_id.
CLOUDFRONT_PREFIX_LISTS = {
    "ap-northeast-1": "pl-58a04531", "ap-northeast-2": "pl-22a6434b", "ap-south-1": "pl-9aa247f3",
    "ap-southeast-1": "pl-31a34658", "ap-southeast-2": "pl-b8a742d1", "ca-central-1": "pl-38a64351",
    "eu-central-1": "pl-a3a144ca", "eu-north-1": "pl-fab65393", "eu-west-1": "pl-4fa04526",
    "eu-west-2": "pl-93a247fa", "eu-west-3": "pl-75b1541c", "sa-east-1": "pl-5da64334",
    "us-east-1": "pl-3b927c52", "us-east-2": "pl-b6a144df", "us-west-1": "pl-4ea04527",
    "us-west-2": "pl-82a045eb",
}
_PREFIX_LIST = re.compile(r"^pl-[0-9a-f]{8,17}$")


class HealthCheck(Section):
    path: str = "/"
    """Path the load balancer requests on every target; the answer must match `success_codes`."""
    interval_seconds: int = Field(default=30, ge=5, le=300)
    """Seconds between two health checks of one target."""
    timeout_seconds: int = Field(default=5, ge=2, le=120)
    """Seconds without an answer that count as a failed check; must be shorter than the interval."""
    healthy_threshold: int = Field(default=3, ge=2, le=10)
    """Consecutive successes before a target receives traffic."""
    unhealthy_threshold: int = Field(default=3, ge=2, le=10)
    """Consecutive failures before a target stops receiving traffic (seed 004: three misses and it is out;
    an Auto Scaling group with ELB health checks then replaces the instance)."""
    success_codes: str = "200-399"
    """HTTP codes that mean healthy: a code, a list (200,302) or a range (200-399)."""

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        if not re.fullmatch(r"/[\x21-\x7e]{0,1023}", path):
            raise ValueError("must start with / and contain no spaces (e.g. /health)")
        return path

    @field_validator("success_codes")
    @classmethod
    def _codes(cls, codes: str) -> str:
        if not re.fullmatch(r"[1-5]\d\d(-[1-5]\d\d|(,[1-5]\d\d)*)", codes):
            raise ValueError("must be an HTTP code, a comma-separated list or a range like 200-399")
        return codes

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> HealthCheck:
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError(
                f"timeout_seconds ({self.timeout_seconds}) must be shorter than interval_seconds ({self.interval_seconds})"
            )
        return self


class AccessLogs(Section):
    enabled: bool = False
    """Write one log line per request to an S3 bucket made for it (SSE-S3: the only encryption ALB log
    delivery supports). Costs S3 storage only."""
    retention_days: int = Field(default=90, ge=1, le=3650)
    """Days the access logs are kept before S3 expires them."""


class Alarms(alarms.Timing):
    target_5xx_percent: float = Field(default=5, gt=0, le=100)
    """Share of requests (%) the targets answer with a 5xx in a period before the alarm fires."""
    elb_5xx_count: int = Field(default=10, ge=1)
    """5xx responses the load balancer itself returns in a period (502, 503, 504: no healthy target, a
    target that closed the connection or timed out). A count, not a share: ELB counts requests only once
    a target is chosen, so when none is healthy the share would have nothing to divide by."""
    p95_response_seconds: float = Field(default=1.0, gt=0)
    """95th percentile of the targets' response time (seconds) before the alarm fires."""
    p99_response_seconds: float = Field(default=2.5, gt=0)
    """99th percentile of the targets' response time (seconds) before the alarm fires."""
    unhealthy_hosts: int = Field(default=1, ge=1)
    """Targets failing their health checks, per target group, before the alarm fires."""
    rejected_connections: int = Field(default=1, ge=1)
    """Connections the load balancer refused in a period because it reached its connection limit."""


class Config(LayerSection):
    listener: Literal["https", "http"] = "https"
    """`https`: HTTP:80 answers 301 to HTTPS:443 keeping host, path and query, and HTTPS:443 forwards to the
    targets with the certificate. `http`: HTTP:80 forwards to the targets unencrypted, for an environment
    without a domain or certificate (dev); it must be chosen explicitly."""
    certificate_arn: str | None = None
    """An existing ACM certificate in the environment's region for the HTTPS listener. Leave empty when the
    dns layer is on: its `CertificateArn` output is used."""
    ssl_policy: Literal[TLS13_POLICIES] = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # type: ignore[valid-type]
    """Security policy of the HTTPS listener: TLS 1.3 offered, nothing older than TLS 1.2 accepted."""
    deletion_protection: bool = False
    """Refuse to delete the load balancer (stack deletion fails until it is turned off). On in prod."""
    idle_timeout_seconds: int = Field(default=60, ge=1, le=4000)
    """Seconds a connection may stay idle before the load balancer closes it."""
    deregistration_delay_seconds: int = Field(default=30, ge=0, le=3600)
    """Seconds a target that is leaving (scale-in, deployment) keeps finishing its in-flight requests."""
    health_check: HealthCheck = HealthCheck()
    """How the load balancer decides a target is healthy."""
    access_logs: AccessLogs = AccessLogs()
    """Request logs to S3."""
    waf: WafConfig = WafConfig()
    """AWS WAF in front of the load balancer (REGIONAL web ACL). On in prod."""
    cloudfront_only: bool | None = None
    """Accept requests from the static layer's CloudFront distribution only: the security group admits
    CloudFront's origin-facing managed prefix list (on the listener's port, nothing else), and the listener
    answers 403 to any request without the secret header CloudFront adds (its value generated in Secrets
    Manager, never written in a file). Empty: on exactly when `static.api_path_pattern` sends a path here
    and no `dns.records` name points at the load balancer directly."""
    cloudfront_prefix_list_id: str | None = None
    """Id of the managed prefix list com.amazonaws.global.cloudfront.origin-facing in this region. Empty:
    Strata's table of AWS's ids (templates/web.py, 16 regions)."""
    alarms: Alarms = Alarms()
    """Alarms on the load balancer and its target groups."""

    @field_validator("cloudfront_prefix_list_id")
    @classmethod
    def _prefix_list(cls, value: str | None) -> str | None:
        if value is not None and not _PREFIX_LIST.match(value):
            raise ValueError("must be a managed prefix list id like pl-4fa04526")
        return value

    @field_validator("certificate_arn")
    @classmethod
    def _valid_certificate(cls, arn: str | None) -> str | None:
        if arn is not None and not CERTIFICATE_ARN.match(arn):
            raise ValueError("must be an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)")
        return arn

    @model_validator(mode="after")
    def _certificate_only_for_https(self) -> Config:
        if self.listener == "http" and self.certificate_arn:
            raise ValueError("certificate_arn is set but listener is http; choose listener: https to use it")
        return self


def cloudfront_forwards(env: EnvConfig) -> bool:
    """The static layer's distribution sends a path (`static.api_path_pattern`) to this load balancer."""
    return env.static.enabled and bool(env.static.api_path_pattern)


def cloudfront_only(env: EnvConfig) -> bool:
    """Is the load balancer restricted to CloudFront (`web.cloudfront_only`, resolved)?"""
    if env.web.cloudfront_only is not None:
        return env.web.enabled and env.web.cloudfront_only
    return env.web.enabled and cloudfront_forwards(env) and not record_names(env, "alb")


def cloudfront_prefix_list(env: EnvConfig) -> str | None:
    """The origin-facing prefix list's id in the environment's region, if known."""
    return env.web.cloudfront_prefix_list_id or CLOUDFRONT_PREFIX_LISTS.get(env.region)


def listener_port(env: EnvConfig) -> int:
    """The port requests are forwarded on: 443 with HTTPS, 80 with `listener: http`."""
    return 443 if env.web.listener == "https" else 80


def build(env: EnvConfig) -> Template:
    cfg: Config = env.web
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    log_bucket = _access_log_bucket(t, env) if cfg.access_logs.enabled else None
    alb = _load_balancer(t, env, log_bucket)
    groups = _target_groups(t, env)
    default_group = groups.get("compute") or groups["containers"]
    secret = _origin_secret(t) if cloudfront_only(env) else None
    forwarding = _listeners(t, cfg, alb, default_group, secret)
    if env.pipeline.blue_green:
        _blue_green_rules(t, env, forwarding, groups["containers"], secret)
    elif "compute" in groups and "containers" in groups:
        _container_rule(t, env, forwarding, groups["containers"], secret)
    if secret is not None:
        _origin_rule(t, forwarding, default_group, secret)
    if cfg.waf.enabled:
        acl = web_acl(t, env, NAME, "REGIONAL", cfg.waf, "web.waf", redact=(ORIGIN_HEADER.lower(),))
        t.add_resource(wafv2.WebACLAssociation("WebAclAssociation", ResourceArn=Ref(alb), WebACLArn=GetAtt(acl, "Arn")))
    alias_records(t, env, "alb", GetAtt(alb, "DNSName"), GetAtt(alb, "CanonicalHostedZoneID"), ipv6=False)
    _outputs(t, alb, default_group, groups.get("containers"), forwarding, secret)
    _alarms(t, env)
    return t


def _access_log_bucket(t: Template, env: EnvConfig) -> s3.Bucket:
    cfg = env.web.access_logs
    bucket = t.add_resource(s3.Bucket(
        "AccessLogBucket",
        BucketEncryption=s3.BucketEncryption(ServerSideEncryptionConfiguration=[
            s3.ServerSideEncryptionRule(ServerSideEncryptionByDefault=s3.ServerSideEncryptionByDefault(SSEAlgorithm="AES256")),
        ]),
        PublicAccessBlockConfiguration=s3.PublicAccessBlockConfiguration(
            BlockPublicAcls=True, BlockPublicPolicy=True, IgnorePublicAcls=True, RestrictPublicBuckets=True,
        ),
        OwnershipControls=s3.OwnershipControls(Rules=[s3.OwnershipControlsRule(ObjectOwnership="BucketOwnerEnforced")]),
        VersioningConfiguration=s3.VersioningConfiguration(Status="Enabled"),
        LifecycleConfiguration=s3.LifecycleConfiguration(Rules=[s3.LifecycleRule(
            Id="expire-access-logs", Status="Enabled",
            ExpirationInDays=cfg.retention_days, NoncurrentVersionExpiration=s3.NoncurrentVersionExpiration(NoncurrentDays=1),
            AbortIncompleteMultipartUpload=s3.AbortIncompleteMultipartUpload(DaysAfterInitiation=1),
        )]),
    ))
    keep_data(bucket, "Retain")
    access_logging(t, bucket, "web-alb-logs", env.monitoring.enabled)
    account = ELB_LOG_ACCOUNTS.get(env.region)
    writer = (
        Principal("AWS", [Sub(f"arn:${{AWS::Partition}}:iam::{account}:root")]) if account
        else Principal("Service", [LOG_DELIVERY_PRINCIPAL])
    )
    objects = Sub(f"${{{bucket.title}.Arn}}/*")
    t.add_resource(s3.BucketPolicy(
        "AccessLogBucketPolicy",
        Bucket=Ref(bucket),
        PolicyDocument=resource_policy(
            [(writer, grant(["s3:PutObject"], [Sub(f"${{{bucket.title}.Arn}}/{LOG_PREFIX}/AWSLogs/${{AWS::AccountId}}/*")]))],
            deny=[deny_s3_without_tls(GetAtt(bucket, "Arn"), objects)],
        ),
    ))
    return bucket


def _load_balancer(t: Template, env: EnvConfig, log_bucket: s3.Bucket | None) -> elb.LoadBalancer:
    cfg: Config = env.web
    subnets = parameter(t, "PublicSubnetIds", "List<AWS::EC2::Subnet::Id>", "Public subnets, one per AZ, for the load balancer")
    group = parameter(t, "AlbSecurityGroupId", "AWS::EC2::SecurityGroup::Id", "Security group of the load balancer")
    attributes = {
        "deletion_protection.enabled": str(cfg.deletion_protection).lower(),
        # Requests with header names that are not valid HTTP are dropped, not passed to the targets.
        "routing.http.drop_invalid_header_fields.enabled": "true",
        "routing.http.desync_mitigation_mode": "defensive",
        "idle_timeout.timeout_seconds": str(cfg.idle_timeout_seconds),
        "access_logs.s3.enabled": str(log_bucket is not None).lower(),
    }
    if log_bucket is not None:
        attributes["access_logs.s3.bucket"] = Ref(log_bucket)
        attributes["access_logs.s3.prefix"] = LOG_PREFIX
    alb = t.add_resource(elb.LoadBalancer(
        "LoadBalancer",
        Type="application", Scheme="internet-facing", IpAddressType="ipv4",
        Subnets=Ref(subnets), SecurityGroups=[Ref(group)],
        LoadBalancerAttributes=[elb.LoadBalancerAttributes(Key=k, Value=v) for k, v in attributes.items()],
    ))
    if log_bucket is not None:
        # The load balancer tests that it may write to the bucket when logging is switched on.
        alb.DependsOn = ["AccessLogBucketPolicy"]
    else:
        suppress(alb, "CKV_AWS_91", "Access logs are off for this environment (web.access_logs.enabled: false)")
    if not cfg.deletion_protection:
        suppress(alb, "CT.ELASTICLOADBALANCING.PR.5", "web.deletion_protection is false in this environment's parameter file")
    return alb


def _target_group(t: Template, env: EnvConfig, title: str, target_type: str) -> elb.TargetGroup:
    cfg: Config = env.web
    vpc = parameter(t, "VpcId", "AWS::EC2::VPC::Id", "VPC of the targets")
    check = cfg.health_check
    return t.add_resource(elb.TargetGroup(
        title,
        TargetType=target_type, Protocol="HTTP", ProtocolVersion="HTTP1", Port=env.security.app_port, VpcId=Ref(vpc),
        HealthCheckEnabled=True, HealthCheckProtocol="HTTP", HealthCheckPath=check.path,
        HealthCheckIntervalSeconds=check.interval_seconds, HealthCheckTimeoutSeconds=check.timeout_seconds,
        HealthyThresholdCount=check.healthy_threshold, UnhealthyThresholdCount=check.unhealthy_threshold,
        Matcher=elb.Matcher(HttpCode=check.success_codes),
        TargetGroupAttributes=[elb.TargetGroupAttribute(
            Key="deregistration_delay.timeout_seconds", Value=str(cfg.deregistration_delay_seconds),
        )],
    ))


def _target_groups(t: Template, env: EnvConfig) -> dict[str, elb.TargetGroup]:
    """`compute` (instance targets) unless only the containers layer serves;
    `containers` (ip targets) when the containers layer is on."""
    groups = {}
    if env.compute.enabled or not env.containers.enabled:
        groups["compute"] = _target_group(t, env, "TargetGroup", "instance")
    if env.containers.enabled:
        groups["containers"] = _target_group(t, env, "ContainerTargetGroup", "ip")
    return groups


def _forward(group: elb.TargetGroup) -> elb.Action:
    return elb.Action(Type="forward", TargetGroupArn=Ref(group))


def _origin_secret(t: Template) -> secretsmanager.Secret:
    """The value CloudFront sends in ORIGIN_HEADER, generated by Secrets
    Manager; CloudFormation resolves it into the listener rule here and into
    the distribution's origin in the static layer, so it is in no file."""
    secret = t.add_resource(secretsmanager.Secret(
        "OriginVerifySecret",
        Description=f"Value of the {ORIGIN_HEADER} header CloudFront adds to requests for the load balancer",
        GenerateSecretString=secretsmanager.GenerateSecretString(PasswordLength=32, ExcludePunctuation=True),
    ))
    return suppress(secret, "CKV_AWS_149", (
        "Read only by CloudFormation, to write it into the listener rule and CloudFront's origin header, where "
        "anyone allowed to describe either sees it; a customer managed key would not narrow that"
    ))


def _origin_value(secret: secretsmanager.Secret) -> Sub:
    return Sub(f"{{{{resolve:secretsmanager:${{{secret.title}}}}}}}")


def _first_action(group: elb.TargetGroup, secret: secretsmanager.Secret | None) -> elb.Action:
    """Forward, or with the CloudFront restriction a 403 for anything without the origin header."""
    if secret is None:
        return _forward(group)
    return elb.Action(Type="fixed-response", FixedResponseConfig=elb.FixedResponseConfig(
        StatusCode="403", ContentType="text/plain", MessageBody="Forbidden",
    ))


def _origin_condition(secret: secretsmanager.Secret) -> elb.Condition:
    return elb.Condition(Field="http-header", HttpHeaderConfig=elb.HttpHeaderConfig(
        HttpHeaderName=ORIGIN_HEADER, Values=[_origin_value(secret)],
    ))


def _listeners(t: Template, cfg: Config, alb: elb.LoadBalancer, group: elb.TargetGroup,
               secret: secretsmanager.Secret | None) -> elb.Listener:
    """The listener that forwards to the targets: HTTPS, or HTTP when chosen explicitly."""
    if cfg.listener == "http":
        listener = t.add_resource(elb.Listener(
            "HttpListener", LoadBalancerArn=Ref(alb), Port=80, Protocol="HTTP",
            DefaultActions=[_first_action(group, secret)],
        ))
        suppress(listener, "CKV_AWS_2", "web.listener: http chosen in the parameter file: no certificate in this environment")
        suppress(listener, "CKV_AWS_103", "Plain HTTP listener chosen explicitly (web.listener: http); no TLS to configure")
        return listener
    certificate = parameter(
        t, "CertificateArn", "String", "ACM certificate (same region) for the HTTPS listener",
        Default=cfg.certificate_arn or "", AllowedPattern=r"^$|^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$",
    )
    t.add_rule("CertificateRequired", {
        "Assertions": [{
            "Assert": Not(Equals(Ref(certificate), "")),
            "AssertDescription": "CertificateArn is required: the HTTPS listener needs an ACM certificate in this region",
        }],
    })
    t.add_resource(elb.Listener(
        "HttpListener", LoadBalancerArn=Ref(alb), Port=80, Protocol="HTTP",
        DefaultActions=[elb.Action(Type="redirect", RedirectConfig=elb.RedirectConfig(
            Protocol="HTTPS", Port="443", Host="#{host}", Path="/#{path}", Query="#{query}", StatusCode="HTTP_301",
        ))],
    ))
    return t.add_resource(elb.Listener(
        "HttpsListener", LoadBalancerArn=Ref(alb), Port=443, Protocol="HTTPS", SslPolicy=cfg.ssl_policy,
        Certificates=[elb.Certificate(CertificateArn=Ref(certificate))], DefaultActions=[_first_action(group, secret)],
    ))


def _container_rule(t: Template, env: EnvConfig, listener: elb.Listener, group: elb.TargetGroup,
                    secret: secretsmanager.Secret | None) -> None:
    conditions = [elb.Condition(Field="path-pattern", PathPatternConfig=elb.PathPatternConfig(
        Values=list(env.containers.path_patterns),
    ))]
    if secret is not None:
        conditions.append(_origin_condition(secret))
    t.add_resource(elb.ListenerRule(
        "ContainerListenerRule", ListenerArn=Ref(listener), Priority=CONTAINER_RULE_PRIORITY, Conditions=conditions,
        Actions=[elb.ListenerRuleAction(Type="forward", TargetGroupArn=Ref(group))],
    ))


def _origin_rule(t: Template, listener: elb.Listener, group: elb.TargetGroup, secret: secretsmanager.Secret) -> None:
    """What carries CloudFront's header goes to the default target group; the rest gets the default 403."""
    t.add_resource(elb.ListenerRule(
        "OriginListenerRule", ListenerArn=Ref(listener), Priority=ORIGIN_RULE_PRIORITY,
        Conditions=[_origin_condition(secret)],
        Actions=[elb.ListenerRuleAction(Type="forward", TargetGroupArn=Ref(group))],
    ))


def _blue_green_rules(t: Template, env: EnvConfig, listener: elb.Listener, primary: elb.TargetGroup,
                      secret: secretsmanager.Secret | None) -> None:
    """What ECS's own blue/green deployment (pipeline.deployment: blue_green)
    shifts: a second `ip` target group for the new revision, the production
    rule (the containers' paths, or every path when the containers are the
    only backend) and a test rule for requests carrying TEST_HEADER, both
    forwarding to the two groups by weight. ECS rewrites the weights on every
    deployment; the template only sets where the first deployment starts.
    With the load balancer restricted to CloudFront both rules also require
    its origin header, so neither opens a way around the restriction."""
    alternate = _target_group(t, env, "ContainerAlternateTargetGroup", "ip")
    both = elb.ListenerRuleAction(Type="forward", ForwardConfig=elb.ForwardConfig(TargetGroups=[
        elb.TargetGroupTuple(TargetGroupArn=Ref(primary), Weight=100),
        elb.TargetGroupTuple(TargetGroupArn=Ref(alternate), Weight=0),
    ]))
    origin = [_origin_condition(secret)] if secret is not None else []
    production = t.add_resource(elb.ListenerRule(
        "ContainerListenerRule", ListenerArn=Ref(listener), Priority=CONTAINER_RULE_PRIORITY,
        Conditions=[elb.Condition(Field="path-pattern", PathPatternConfig=elb.PathPatternConfig(
            Values=list(env.containers.path_patterns) or ["/*"],
        )), *origin],
        Actions=[both],
    ))
    header, value = TEST_HEADER
    test = t.add_resource(elb.ListenerRule(
        "ContainerTestListenerRule", ListenerArn=Ref(listener), Priority=CONTAINER_TEST_RULE_PRIORITY,
        Conditions=[elb.Condition(Field="http-header", HttpHeaderConfig=elb.HttpHeaderConfig(HttpHeaderName=header, Values=[value])),
                    *origin],
        Actions=[both],
    ))
    output(t, "ContainerAlternateTargetGroupArn", Ref(alternate), "Second target group (ip) of ECS blue/green deployments")
    output(t, "ContainerListenerRuleArn", Ref(production), "Production listener rule ECS blue/green shifts")
    output(t, "ContainerTestListenerRuleArn", Ref(test), f"Listener rule for test traffic ({header}: {value}) to the new revision")


def _outputs(
    t: Template, alb: elb.LoadBalancer, default_group: elb.TargetGroup, container_group: elb.TargetGroup | None,
    forwarding: elb.Listener, secret: secretsmanager.Secret | None,
) -> None:
    output(t, "LoadBalancerArn", Ref(alb), "Load balancer ARN")
    output(t, "LoadBalancerDnsName", GetAtt(alb, "DNSName"), "Load balancer DNS name (answers when no domain is set)")
    output(t, "LoadBalancerHostedZoneId", GetAtt(alb, "CanonicalHostedZoneID"), "Hosted zone of the load balancer's name, for alias records")
    output(t, "LoadBalancerFullName", GetAtt(alb, "LoadBalancerFullName"), "app/<name>/<id>, the CloudWatch dimension")
    output(t, "HttpListenerArn", Ref(t.resources["HttpListener"]), "HTTP:80 listener (redirect to HTTPS, or forward when listener is http)")
    if forwarding.title == "HttpsListener":
        output(t, "HttpsListenerArn", Ref(forwarding), "HTTPS:443 listener")
    output(t, "TargetGroupArn", Ref(default_group), "Target group of the listener's default action")
    output(t, "TargetGroupFullName", GetAtt(default_group, "TargetGroupFullName"), "targetgroup/<name>/<id>, the CloudWatch dimension")
    if container_group is not None:
        output(t, "ContainerTargetGroupArn", Ref(container_group), "Target group (ip) the containers' service registers in")
        output(t, "ContainerTargetGroupFullName", GetAtt(container_group, "TargetGroupFullName"),
               "targetgroup/<name>/<id> of the containers' target group")
    if secret is not None:
        output(t, ORIGIN_SECRET_OUTPUT, Ref(secret), f"Secret holding the {ORIGIN_HEADER} value CloudFront must send")


def alarm_specs(env: EnvConfig) -> list[alarms.Spec]:
    """The load balancer's errors, latency and rejected connections, and the
    unhealthy targets of each target group."""
    cfg: Alarms = env.web.alarms
    if not cfg.enabled:
        return []
    ns, lb = "AWS/ApplicationELB", {"LoadBalancer": GetAtt("LoadBalancer", "LoadBalancerFullName")}
    idle = "the load balancer publishes request metrics only for periods with requests: none, nothing failed or waited"
    only_errors = "the count is published only for periods that had one"
    specs = [
        alarms.Spec(
            "target-5xx-rate", "Targets: share of requests answered with a 5xx", cfg.target_5xx_percent, ">=",
            "notBreaching", idle, expression="100 * FILL(errors, 0) / requests", unit="%",
            inputs={"errors": alarms.Metric(ns, "HTTPCode_Target_5XX_Count", lb, "Sum"),
                    "requests": alarms.Metric(ns, "RequestCount", lb, "Sum")},
        ),
        alarms.Spec("elb-5xx", "Load balancer: 5xx returned by the load balancer itself", cfg.elb_5xx_count, ">=",
                    "notBreaching", only_errors, alarms.Metric(ns, "HTTPCode_ELB_5XX_Count", lb, "Sum"), unit="errors"),
        alarms.Spec("p95-response-time", "Targets: 95th percentile response time", cfg.p95_response_seconds, ">=",
                    "notBreaching", idle, alarms.Metric(ns, "TargetResponseTime", lb, "p95"), unit="s"),
        alarms.Spec("p99-response-time", "Targets: 99th percentile response time", cfg.p99_response_seconds, ">=",
                    "notBreaching", idle, alarms.Metric(ns, "TargetResponseTime", lb, "p99"), unit="s"),
        alarms.Spec("rejected-connections", "Load balancer: connections rejected at its connection limit",
                    cfg.rejected_connections, ">=", "notBreaching", only_errors,
                    alarms.Metric(ns, "RejectedConnectionCount", lb, "Sum"), unit="connections"),
    ]
    groups = [("", "TargetGroup", "instances")] if env.compute.enabled or not env.containers.enabled else []
    if env.containers.enabled:
        groups.append(("container-", "ContainerTargetGroup", "containers"))
    for prefix, title, what in groups:
        specs.append(alarms.Spec(
            f"{prefix}unhealthy-hosts", f"Target group ({what}): targets failing health checks", cfg.unhealthy_hosts,
            ">=", "notBreaching",
            "the count is published each minute while targets are registered; with none there is nothing "
            "unhealthy, and the compute and containers layers' capacity alarms report the missing capacity",
            alarms.Metric(ns, "UnHealthyHostCount", {"TargetGroup": GetAtt(title, "TargetGroupFullName"), **lb}, "Maximum"),
            unit="targets",
        ))
    return specs


def _alarms(t: Template, env: EnvConfig) -> None:
    alarms.raise_alarms(t, env, NAME, env.web.alarms, alarm_specs(env))
