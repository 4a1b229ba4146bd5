"""What each resource type Strata emits is billed for, read off the template.

One function per billable type, each turning one resource of the flattened
environment (`generator.build.environment`) into cost lines: what is billed,
how many units a month, at which price of the region's table. Quantities
come from the template itself (the subnets an endpoint sits in, the ASG's
desired capacity, the task definition's CPU and memory); only what AWS bills
by use comes from the parameter file's `cost` section (`CostConfig`).
Types that cost nothing by themselves are listed in FREE; any other type is
"not priced" (see `cost.estimate`), never silently zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

from generator.build.cost_section import CostConfig
from generator.build.environment import View
from generator.build.intrinsics import Resolver, dead_letter_queues

FREE = frozenset({
    "AWS::CloudFormation::Stack", "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::RouteTable", "AWS::EC2::Route",
    "AWS::EC2::InternetGateway", "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::SubnetRouteTableAssociation",
    "AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress",
    "AWS::EC2::FlowLog", "AWS::EC2::LaunchTemplate", "AWS::EC2::InstanceConnectEndpoint", "AWS::EC2::PrefixList",
    "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::InstanceProfile",
    "AWS::AutoScaling::ScalingPolicy", "AWS::AutoScaling::ScheduledAction", "AWS::AutoScaling::LifecycleHook",
    "AWS::ApplicationAutoScaling::ScalableTarget", "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::ElasticLoadBalancingV2::Listener",
    "AWS::ElasticLoadBalancingV2::ListenerRule", "AWS::ECS::Cluster", "AWS::ECS::TaskDefinition",
    "AWS::ECS::ClusterCapacityProviderAssociations", "AWS::CertificateManager::Certificate",
    "AWS::CloudFront::OriginAccessControl", "AWS::RDS::DBSubnetGroup", "AWS::RDS::DBClusterParameterGroup",
    "AWS::RDS::DBParameterGroup", "AWS::ElastiCache::SubnetGroup", "AWS::ElastiCache::ParameterGroup",
    "AWS::KMS::Alias", "AWS::Lambda::EventInvokeConfig", "AWS::Lambda::EventSourceMapping", "AWS::Lambda::Permission",
    "AWS::SNS::Subscription", "AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy",
    "AWS::SSM::Parameter", "AWS::EFS::AccessPoint", "AWS::EFS::MountTarget", "AWS::Route53::RecordSet",
    "AWS::Route53::RecordSetGroup", "AWS::CodeStarConnections::Connection", "AWS::CodeConnections::Connection",
    "AWS::CodeStarNotifications::NotificationRule", "AWS::Events::Rule", "AWS::WAFv2::WebACLAssociation",
    "AWS::WAFv2::IPSet", "AWS::SecretsManager::RotationSchedule", "AWS::SecretsManager::ResourcePolicy",
    "AWS::ServiceCatalog::Portfolio", "AWS::ServiceCatalog::CloudFormationProduct",
    "AWS::ServiceCatalog::PortfolioProductAssociation", "AWS::ServiceCatalog::PortfolioPrincipalAssociation",
    "AWS::ServiceCatalog::LaunchRoleConstraint", "AWS::ServiceCatalog::TagOption",
    "AWS::ServiceCatalog::TagOptionAssociation", "AWS::ServiceCatalog::PortfolioShare",
    "AWS::ServiceCatalog::AcceptedPortfolioShare", "AWS::ServiceCatalog::LaunchTemplateConstraint",
    "AWS::Backup::BackupSelection",
    # WAF's request logs are billed as CloudWatch Logs ingestion into their log group, priced there
    "AWS::WAFv2::LoggingConfiguration",
})


@dataclass(frozen=True)
class Line:
    """One billed item of one resource; `monthly` is None when the region's table has no price for it."""

    layer: str
    resource: str
    type: str
    item: str
    quantity: float
    unit: str
    price: str
    monthly: float | None
    usage: bool = False  # sized by the `cost` section rather than by the template

    def to_dict(self) -> dict:
        return {
            "layer": self.layer, "resource": self.resource, "type": self.type, "item": self.item,
            "quantity": round(self.quantity, 4), "unit": self.unit, "price": self.price,
            "monthly": None if self.monthly is None else round(self.monthly, 2), "usage": self.usage,
        }


@dataclass
class Meter:
    """The context every pricing function reads: the environment, its prices, the usage settings."""

    view: View
    prices: dict[str, dict]
    usage: CostConfig
    resolver: Resolver = field(init=False)
    lines: list[Line] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.resolver = Resolver(self.view.template)

    @cached_property
    def dead_letter_queues(self) -> set[str]:
        return dead_letter_queues(self.view.template)

    @property
    def hours(self) -> float:
        return self.usage.hours_per_month

    def bill(self, rid: str, item: str, quantity: float, price: str, usage: bool = False, unit: str = "") -> None:
        entry = self.prices.get(price)
        file, logical_id = self.view.origin.get(rid, ("root.json", rid))
        monthly = None if entry is None else quantity * entry["usd"]
        self.lines.append(Line(
            file.removesuffix(".json"), logical_id, self.view.resources.get(rid, {}).get("Type", ""), item,
            quantity, unit or (entry or {}).get("unit", ""), price, monthly, usage,
        ))

    def prop(self, rid: str, *path: str, default: Any = None) -> Any:
        return self.resolver.prop(rid, *path, default=default)

    def target(self, value: Any) -> str | None:
        ids = self.resolver.ids(self.resolver.value(value))
        return ids[0] if ids else None


def _number(value: Any, default: float = 0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def nat_gateway(m: Meter, rid: str) -> None:
    m.bill(rid, "NAT gateway hours", m.hours, "nat_gateway_hour")


def eip(m: Meter, rid: str) -> None:
    m.bill(rid, "public IPv4 address hours", m.hours, "public_ipv4_hour")


def vpc_endpoint(m: Meter, rid: str) -> None:
    if m.prop(rid, "VpcEndpointType", default="Gateway") != "Interface":
        return  # gateway endpoints (S3, DynamoDB) cost nothing
    zones = m.resolver.items(m.prop(rid, "SubnetIds", default=[])) or []
    m.bill(rid, f"endpoint hours in {len(zones)} AZ(s)", len(zones) * m.hours, "interface_endpoint_hour")


def load_balancer(m: Meter, rid: str) -> None:
    m.bill(rid, "load balancer hours", m.hours, "alb_hour")
    m.bill(rid, f"LCU hours ({m.usage.alb_lcu:g} LCU, cost.alb_lcu)", m.usage.alb_lcu * m.hours, "alb_lcu_hour", True)


def _instance_type(m: Meter, launch_template: Any) -> tuple[str | None, int]:
    lt = m.target(launch_template.get("LaunchTemplateId") if isinstance(launch_template, dict) else None)
    data = m.prop(lt, "LaunchTemplateData", default={}) if lt else {}
    volume = sum(_number((b.get("Ebs") or {}).get("VolumeSize")) for b in data.get("BlockDeviceMappings", []) or [])
    return (data.get("InstanceType") if isinstance(data.get("InstanceType"), str) else None), int(volume)


def auto_scaling_group(m: Meter, rid: str) -> None:
    desired = int(_number(m.prop(rid, "DesiredCapacity"), _number(m.prop(rid, "MinSize"))))
    mixed = m.prop(rid, "MixedInstancesPolicy", default=None)
    spec = (mixed or {}).get("LaunchTemplate", {}).get("LaunchTemplateSpecification") if mixed else m.prop(rid, "LaunchTemplate", default={})
    kind, volume = _instance_type(m, spec or {})
    overrides = (mixed or {}).get("LaunchTemplate", {}).get("Overrides", []) or []
    kind = next((o["InstanceType"] for o in overrides if isinstance(o.get("InstanceType"), str)), kind)
    on_demand = desired
    if mixed:
        split = mixed.get("InstancesDistribution", {})
        base = min(desired, int(_number(split.get("OnDemandBaseCapacity"))))
        share = _number(split.get("OnDemandPercentageAboveBaseCapacity"), 100) / 100
        on_demand = base + math.ceil((desired - base) * share)
    spot = desired - on_demand
    key = f"ec2.{kind}" if kind else "ec2.(chosen by instance requirements)"
    m.bill(rid, f"{on_demand} on-demand {kind} (desired {desired})", on_demand * m.hours, key)
    if spot:
        factor = 1 - m.usage.spot_discount_percent / 100
        m.bill(rid, f"{spot} Spot {kind} at {m.usage.spot_discount_percent:g}% off", spot * m.hours * factor, key,
               unit="on-demand instance-hour equivalent")
    if volume:
        m.bill(rid, f"{desired} x {volume} GiB gp3 root volumes", desired * volume, "ebs_gp3_gb")


def instance(m: Meter, rid: str) -> None:
    kind = m.prop(rid, "InstanceType")
    m.bill(rid, f"{kind} instance hours", m.hours, f"ec2.{kind}")


def _fargate_split(strategy: list, desired: int) -> tuple[int, int]:
    """(regular, spot) tasks: the bases first, the rest by weight."""
    if not strategy:
        return desired, 0
    counts = {"FARGATE": 0, "FARGATE_SPOT": 0}
    remaining = desired
    for item in strategy:
        base = min(remaining, int(_number(item.get("Base"))))
        counts[item.get("CapacityProvider", "FARGATE")] = counts.get(item.get("CapacityProvider", "FARGATE"), 0) + base
        remaining -= base
    weights = {i.get("CapacityProvider", "FARGATE"): _number(i.get("Weight")) for i in strategy}
    total = sum(weights.values()) or 1
    spot = round(remaining * weights.get("FARGATE_SPOT", 0) / total)
    return counts["FARGATE"] + remaining - spot, counts["FARGATE_SPOT"] + spot


def ecs_service(m: Meter, rid: str) -> None:
    task = m.target(m.view.resources[rid]["Properties"].get("TaskDefinition"))
    if not task:
        return
    vcpu, gb = _number(m.prop(task, "Cpu")) / 1024, _number(m.prop(task, "Memory")) / 1024
    arch = (m.prop(task, "RuntimePlatform", default={}) or {}).get("CpuArchitecture", "X86_64")
    desired = int(_number(m.prop(rid, "DesiredCount"), 1))
    regular, spot = _fargate_split(m.prop(rid, "CapacityProviderStrategy", default=[]) or [], desired)
    factor = 1 - m.usage.spot_discount_percent / 100
    for count, what, scale in ((regular, "Fargate", 1.0), (spot, f"Fargate Spot at {m.usage.spot_discount_percent:g}% off", factor)):
        if count:
            m.bill(rid, f"{count} {what} task(s) x {vcpu:g} vCPU", count * vcpu * m.hours * scale, f"fargate.{arch}.vcpu_hour")
            m.bill(rid, f"{count} {what} task(s) x {gb:g} GB", count * gb * m.hours * scale, f"fargate.{arch}.gb_hour")


def db_instance(m: Meter, rid: str) -> None:
    engine, size = m.prop(rid, "Engine"), m.prop(rid, "DBInstanceClass")
    m.bill(rid, f"{size} instance hours", m.hours, f"rds.{engine}.{size}")


def db_cluster(m: Meter, rid: str) -> None:
    m.bill(rid, "storage (cost.aurora_storage_gb)", m.usage.aurora_storage_gb, "aurora_storage_gb", True)
    m.bill(rid, "I/O requests (cost.aurora_io_millions)", m.usage.aurora_io_millions, "aurora_io_million", True)
    if m.prop(rid, "ManageMasterUserPassword") is True:
        m.bill(rid, "master password secret (managed by RDS)", 1, "secret")


def replication_group(m: Meter, rid: str) -> None:
    nodes = m.prop(rid, "NumCacheClusters")
    if nodes is None:
        nodes = _number(m.prop(rid, "NumNodeGroups"), 1) * (_number(m.prop(rid, "ReplicasPerNodeGroup")) + 1)
    engine, size = str(m.prop(rid, "Engine", default="redis")).lower(), m.prop(rid, "CacheNodeType")
    m.bill(rid, f"{int(_number(nodes))} x {size} node hours", _number(nodes) * m.hours, f"elasticache.{engine}.{size}")


def table(m: Meter, rid: str) -> None:
    u = m.usage
    if m.prop(rid, "BillingMode") == "PAY_PER_REQUEST":
        m.bill(rid, "write requests (cost.dynamodb_writes_millions)", u.dynamodb_writes_millions, "dynamodb_write_million", True)
        m.bill(rid, "read requests (cost.dynamodb_reads_millions)", u.dynamodb_reads_millions, "dynamodb_read_million", True)
    else:
        throughput = m.prop(rid, "ProvisionedThroughput", default={}) or {}
        m.bill(rid, "provisioned write capacity", _number(throughput.get("WriteCapacityUnits")) * m.hours, "dynamodb_wcu_hour")
        m.bill(rid, "provisioned read capacity", _number(throughput.get("ReadCapacityUnits")) * m.hours, "dynamodb_rcu_hour")
    m.bill(rid, "storage (cost.dynamodb_storage_gb)", u.dynamodb_storage_gb, "dynamodb_storage_gb", True)


def queue(m: Meter, rid: str) -> None:
    if rid in m.dead_letter_queues:
        return  # holds only what failed: requests too few to estimate
    m.bill(rid, "requests (cost.sqs_requests_millions)", m.usage.sqs_requests_millions, "sqs_million", True)


def topic(m: Meter, rid: str) -> None:
    m.bill(rid, "publishes (cost.sns_publishes_millions)", m.usage.sns_publishes_millions, "sns_million", True)


def function(m: Meter, rid: str) -> None:
    u = m.usage
    memory_gb = _number(m.prop(rid, "MemorySize"), 128) / 1024
    arch = (m.prop(rid, "Architectures", default=["x86_64"]) or ["x86_64"])[0]
    m.bill(rid, "invocations (cost.lambda_requests_millions)", u.lambda_requests_millions, "lambda_million", True)
    seconds = u.lambda_requests_millions * 1e6 * u.lambda_duration_ms / 1000
    m.bill(rid, f"compute at {memory_gb * 1024:g} MB (cost.lambda_duration_ms)", seconds * memory_gb, f"lambda.{arch}.gb_second", True)


def distribution(m: Meter, rid: str) -> None:
    m.bill(rid, "transfer to viewers (cost.cloudfront_gb)", m.usage.cloudfront_gb, "cloudfront_gb", True)
    m.bill(rid, "HTTPS requests (cost.cloudfront_requests_millions)", m.usage.cloudfront_requests_millions, "cloudfront_https_million", True)


def bucket(m: Meter, rid: str) -> None:
    m.bill(rid, "storage (cost.s3_storage_gb)", m.usage.s3_storage_gb, "s3_standard_gb", True)


def file_system(m: Meter, rid: str) -> None:
    m.bill(rid, "storage (cost.efs_storage_gb)", m.usage.efs_storage_gb, "efs_standard_gb", True)


def log_group(m: Meter, rid: str) -> None:
    gb = m.usage.log_ingest_gb
    m.bill(rid, "ingestion (cost.log_ingest_gb)", gb, "logs_ingest_gb", True)
    months = min(_number(m.prop(rid, "RetentionInDays"), 3653) / 30, 12)
    m.bill(rid, f"stored, {months:.1f} months' worth kept", gb * months, "logs_storage_gb", True)


def alarm(m: Meter, rid: str) -> None:
    metrics = [x for x in m.prop(rid, "Metrics", default=[]) or [] if isinstance(x, dict) and "MetricStat" in x]
    m.bill(rid, "alarm metrics", max(1, len(metrics)), "alarm_metric")


def composite_alarm(m: Meter, rid: str) -> None:
    m.bill(rid, "composite alarm", 1, "composite_alarm")


def dashboard(m: Meter, rid: str) -> None:
    m.bill(rid, "dashboard", 1, "dashboard")


def kms_key(m: Meter, rid: str) -> None:
    m.bill(rid, "customer managed key", 1, "kms_key")


def secret(m: Meter, rid: str) -> None:
    m.bill(rid, "secret", 1, "secret")


def web_acl(m: Meter, rid: str) -> None:
    rules = m.prop(rid, "Rules", default=[]) or []
    m.bill(rid, "web ACL", 1, "waf_web_acl")
    m.bill(rid, f"{len(rules)} rule(s) and rule groups", len(rules), "waf_rule")
    m.bill(rid, "requests (cost.waf_requests_millions)", m.usage.waf_requests_millions, "waf_million", True)


def rule_group(m: Meter, rid: str) -> None:
    m.bill(rid, "rule group", 1, "waf_rule")


def pipeline(m: Meter, rid: str) -> None:
    if m.prop(rid, "PipelineType", default="V1") == "V2":
        m.bill(rid, "action minutes (cost.pipeline_action_minutes)", m.usage.pipeline_action_minutes, "codepipeline_v2_minute", True)
    else:
        m.bill(rid, "active pipeline", 1, "codepipeline_v1")


def build_project(m: Meter, rid: str) -> None:
    environment = m.prop(rid, "Environment", default={}) or {}
    key = f"codebuild.{environment.get('Type', 'LINUX_CONTAINER')}.{environment.get('ComputeType', 'BUILD_GENERAL1_SMALL')}"
    m.bill(rid, "build minutes (cost.build_minutes)", m.usage.build_minutes, key, True)


def hosted_zone(m: Meter, rid: str) -> None:
    m.bill(rid, "hosted zone", 1, "hosted_zone")


def repository(m: Meter, rid: str) -> None:
    m.bill(rid, "image storage (cost.ecr_storage_gb)", m.usage.ecr_storage_gb, "ecr_storage_gb", True)


METERS: dict[str, Callable[[Meter, str], None]] = {
    "AWS::EC2::NatGateway": nat_gateway, "AWS::EC2::EIP": eip, "AWS::EC2::VPCEndpoint": vpc_endpoint,
    "AWS::ElasticLoadBalancingV2::LoadBalancer": load_balancer, "AWS::AutoScaling::AutoScalingGroup": auto_scaling_group,
    "AWS::EC2::Instance": instance, "AWS::ECS::Service": ecs_service, "AWS::RDS::DBInstance": db_instance,
    "AWS::RDS::DBCluster": db_cluster, "AWS::ElastiCache::ReplicationGroup": replication_group,
    "AWS::DynamoDB::Table": table, "AWS::SQS::Queue": queue, "AWS::SNS::Topic": topic,
    "AWS::Lambda::Function": function, "AWS::CloudFront::Distribution": distribution, "AWS::S3::Bucket": bucket,
    "AWS::EFS::FileSystem": file_system, "AWS::Logs::LogGroup": log_group, "AWS::CloudWatch::Alarm": alarm,
    "AWS::CloudWatch::CompositeAlarm": composite_alarm, "AWS::CloudWatch::Dashboard": dashboard,
    "AWS::KMS::Key": kms_key, "AWS::SecretsManager::Secret": secret, "AWS::WAFv2::WebACL": web_acl,
    "AWS::WAFv2::RuleGroup": rule_group, "AWS::CodePipeline::Pipeline": pipeline,
    "AWS::CodeBuild::Project": build_project, "AWS::Route53::HostedZone": hosted_zone,
    "AWS::ECR::Repository": repository,
}
