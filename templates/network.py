"""network layer: the VPC and everything that routes inside it.

Drawn in the order a person would: VPC, subnets per AZ, internet gateway and
the public route table, NAT gateways and the private route tables, gateway
endpoints, interface endpoints with their shared security group, flow logs.
"""

from __future__ import annotations

import ipaddress
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator
from awacs.aws import Action, Allow, Condition, PolicyDocument, Principal, Statement, StringEquals
from troposphere import GetAtt, GetAZs, Join, Ref, Select, Sub, Tags, Template, ec2, logs

from generator.cfn import alarms
from generator.cfn.cidr import CidrPlanError, check_subnets, plan_subnets
from generator.cfn.iam import grant, service_role
from generator.cfn.naming import logical_id
from generator.cfn.resources import NO_EGRESS, output, publish_outputs, retain_long_logs, suppress
from generator.cfn.sections import EndpointService, Ipv4Cidr, LayerSection, LogRetentionDays, Section, reject_repeats

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "network"
DESCRIPTION = "VPC, public and private subnets over 2-6 AZs, NAT strategy, VPC endpoints, flow logs"

ECR_LAYER_BUCKET = "arn:${AWS::Partition}:s3:::prod-${AWS::Region}-starport-layer-bucket/*"


class FlowLogs(Section):
    enabled: bool = True
    """Record the VPC's traffic in a CloudWatch log group (default on)."""
    retention_days: LogRetentionDays = 30
    """Days CloudWatch keeps the records; one of the values CloudWatch Logs accepts."""
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "ALL"
    """Which traffic to record: accepted, rejected or both."""


class Alarms(alarms.Timing):
    port_allocation_errors: int = Field(default=1, ge=1)
    """Connections a NAT gateway could not open in one period because it had no source port left (55,000
    simultaneous connections to one destination) before the alarm fires: any is a failed request."""
    packets_dropped: int = Field(default=100, ge=1)
    """Packets a NAT gateway dropped in one period before the alarm fires (a few during a deployment
    are normal; a steady stream means it is overloaded or unhealthy)."""


class Config(LayerSection):
    cidr: Ipv4Cidr = "10.0.0.0/16"
    """The VPC's IPv4 block, /16 to /28."""
    az_count: int = Field(default=2, ge=2, le=6)
    """Availability zones to spread over (2-6), picked with Fn::GetAZs so no AZ name is written down.
    The region must have that many AZs available to the account."""
    subnet_prefix: int | None = None
    """Size of every subnet (/N). Default: the VPC's prefix + 4 (a /16 gives /20 subnets, 4091 usable
    addresses each: AWS reserves 5 per subnet)."""
    public_subnets: list[Ipv4Cidr] | None = None
    """Explicit public subnet CIDRs, one per AZ, instead of the automatic plan."""
    private_subnets: list[Ipv4Cidr] | None = None
    """Explicit private subnet CIDRs, one per AZ, instead of the automatic plan."""
    nat: Literal["per_az", "single", "none"] = "single"
    """Outbound internet for private subnets: `per_az` (one NAT gateway per AZ, survives an AZ outage,
    fixed cost times az_count), `single` (one shared NAT: cheaper, but an AZ outage cuts every
    private subnet off) or `none` (no default route at all: reach AWS through endpoints only)."""
    gateway_endpoints: list[Literal["s3", "dynamodb"]] = ["s3", "dynamodb"]
    """Gateway endpoints on every private route table. They cost nothing."""
    public_gateway_endpoints: bool = False
    """Put the gateway endpoints on the public route table too, so hosts in the public subnets (a bastion)
    reach S3 and DynamoDB without the internet path. Free."""
    interface_endpoints: list[EndpointService] = []
    """Interface endpoints (PrivateLink) with private DNS on, e.g. ecr.api, ecr.dkr, logs, secretsmanager,
    ssm, ssmmessages, ec2messages, sts, sqs, sns. Billed per endpoint, per AZ it sits in, per hour, plus
    per GB."""
    endpoint_az_count: int | None = Field(default=None, ge=1)
    """How many AZs (the first N private subnets) hold the interface endpoints. Empty: every AZ. 1 is seed
    000's choice: a fraction of the hourly cost, but clients in the other AZs cross an AZ to reach them
    (cross-AZ transfer is billed per GB) and an outage of that AZ cuts every AZ off the services behind
    them. Private DNS answers with the endpoint's addresses in the whole VPC either way."""
    endpoint_policies: dict[str, Literal["account"] | dict[str, Any]] = {}
    """Endpoint policies by service name (one of gateway_endpoints or interface_endpoints). `account`: only
    principals of this account may use the endpoint (aws:PrincipalAccount), seed 002's IAM control on
    endpoints; on `s3` it also admits reads of ECR's image-layer bucket, without which image pulls fail,
    but no other AWS-owned bucket (the Amazon Linux repositories: give a document then). A mapping is
    used as the policy document as written. Unlisted: AWS's default, full access."""
    flow_logs: FlowLogs = FlowLogs()
    """VPC flow logs to CloudWatch Logs."""
    alarms: Alarms = Alarms()
    """Alarms on each NAT gateway (none with `nat: none`)."""

    @field_validator("cidr")
    @classmethod
    def _valid_cidr(cls, cidr: str) -> str:
        try:
            network = ipaddress.IPv4Network(cidr, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a valid IPv4 network CIDR: {exc}") from None
        if not 16 <= network.prefixlen <= 28:
            raise ValueError("must be between /16 and /28 (the sizes AWS allows for a VPC)")
        return cidr

    @field_validator("interface_endpoints", "gateway_endpoints")
    @classmethod
    def _no_repeats(cls, names: list[str]) -> list[str]:
        reject_repeats(names)
        for name in names:
            if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)*", name):
                raise ValueError(f"'{name}' is not a service name like ecr.api or logs")
        return names

    @model_validator(mode="after")
    def _endpoint_settings(self) -> Config:
        if self.endpoint_az_count is not None and self.endpoint_az_count > self.az_count:
            raise ValueError(f"endpoint_az_count ({self.endpoint_az_count}) exceeds az_count ({self.az_count})")
        unknown = sorted(set(self.endpoint_policies) - set(self.gateway_endpoints) - set(self.interface_endpoints))
        if unknown:
            raise ValueError(f"endpoint_policies names endpoints not in gateway_endpoints or interface_endpoints: {', '.join(unknown)}")
        for name, policy in self.endpoint_policies.items():
            if isinstance(policy, dict) and not isinstance(policy.get("Statement"), list):
                raise ValueError(f"endpoint_policies.{name}: a policy document needs a Statement list")
        return self

    def endpoint_azs(self) -> int:
        """The AZs that hold the interface endpoints."""
        return self.endpoint_az_count or self.az_count

    @model_validator(mode="after")
    def _subnets_fit(self) -> Config:
        try:
            self.subnet_plan()
        except (CidrPlanError, ValueError) as exc:
            raise ValueError(str(exc)) from None
        return self

    def nat_count(self) -> int:
        return {"per_az": self.az_count, "single": 1, "none": 0}[self.nat]

    def subnet_plan(self) -> tuple[list[str], list[str]]:
        """(public, private) subnet CIDRs, one per AZ: explicit ones if given, else planned."""
        prefix = self.subnet_prefix or min(ipaddress.IPv4Network(self.cidr).prefixlen + 4, 28)
        plan = plan_subnets(self.cidr, self.az_count, prefix)
        public = self.public_subnets or list(plan.public)
        private = self.private_subnets or list(plan.private)
        for label, subnets in (("public_subnets", public), ("private_subnets", private)):
            if len(subnets) != self.az_count:
                raise ValueError(f"{label} lists {len(subnets)} CIDRs for az_count {self.az_count}")
        check_subnets(self.cidr, public + private)
        return public, private


def build(env: EnvConfig) -> Template:
    cfg: Config = env.network
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    vpc = _vpc(t, cfg)
    public, private = _subnets(t, cfg, vpc)
    public_table = _internet_gateway(t, vpc, public)
    private_tables = _private_route_tables(t, cfg, vpc, private, public)
    _gateway_endpoints(t, cfg, vpc, private_tables + ([public_table] if cfg.public_gateway_endpoints else []))
    _interface_endpoints(t, cfg, vpc, private)
    if cfg.flow_logs.enabled:
        _flow_logs(t, cfg, vpc)
    _outputs(t, vpc, public, private, private_tables)
    _alarms(t, env)
    # Also in Parameter Store, where the catalog's products read them by name.
    publish_outputs(t, env.project, env.environment, NAME)
    return t


def _vpc(t: Template, cfg: Config) -> ec2.VPC:
    # Interface endpoints with private DNS need both DNS settings on (seed 000).
    return t.add_resource(ec2.VPC("Vpc", CidrBlock=cfg.cidr, EnableDnsSupport=True, EnableDnsHostnames=True))


def _subnets(t: Template, cfg: Config, vpc: ec2.VPC) -> tuple[list[ec2.Subnet], list[ec2.Subnet]]:
    public_cidrs, private_cidrs = cfg.subnet_plan()
    tiers = {"public": public_cidrs, "private": private_cidrs}
    made: dict[str, list[ec2.Subnet]] = {"public": [], "private": []}
    for tier, cidrs in tiers.items():
        for index, cidr in enumerate(cidrs):
            made[tier].append(t.add_resource(ec2.Subnet(
                logical_id(tier, "subnet", index + 1),
                VpcId=Ref(vpc),
                CidrBlock=cidr,
                AvailabilityZone=Select(index, GetAZs("")),
                # Nothing gets a public IP by default; a bastion asks for one explicitly.
                MapPublicIpOnLaunch=False,
                Tags=Tags(Name=Sub(f"${{AWS::StackName}}-{tier}-{index + 1}")),
            )))
    return made["public"], made["private"]


def _internet_gateway(t: Template, vpc: ec2.VPC, public: list[ec2.Subnet]) -> ec2.RouteTable:
    igw = t.add_resource(ec2.InternetGateway("InternetGateway"))
    attachment = t.add_resource(ec2.VPCGatewayAttachment("InternetGatewayAttachment", VpcId=Ref(vpc), InternetGatewayId=Ref(igw)))
    table = t.add_resource(ec2.RouteTable("PublicRouteTable", VpcId=Ref(vpc), Tags=Tags(Name=Sub("${AWS::StackName}-public"))))
    t.add_resource(ec2.Route(
        "PublicDefaultRoute", RouteTableId=Ref(table), DestinationCidrBlock="0.0.0.0/0",
        GatewayId=Ref(igw), DependsOn=attachment.title,
    ))
    for index, subnet in enumerate(public):
        t.add_resource(ec2.SubnetRouteTableAssociation(
            logical_id("public", "subnet", index + 1, "route", "table", "association"),
            SubnetId=Ref(subnet), RouteTableId=Ref(table),
        ))
    return table


def _nat_gateways(t: Template, cfg: Config, public: list[ec2.Subnet]) -> list[ec2.NatGateway]:
    gateways = []
    for index in range(cfg.nat_count()):
        eip = t.add_resource(ec2.EIP(logical_id("nat", "eip", index + 1), Domain="vpc", DependsOn="InternetGatewayAttachment"))
        gateways.append(t.add_resource(ec2.NatGateway(
            logical_id("nat", "gateway", index + 1),
            AllocationId=GetAtt(eip, "AllocationId"),
            SubnetId=Ref(public[index]),
            Tags=Tags(Name=Sub(f"${{AWS::StackName}}-nat-{index + 1}")),
        )))
    return gateways


def _private_route_tables(
    t: Template, cfg: Config, vpc: ec2.VPC, private: list[ec2.Subnet], public: list[ec2.Subnet]
) -> list[ec2.RouteTable]:
    """One route table per AZ, so per_az NAT can keep each AZ's traffic in its AZ;
    with `nat: none` they get no default route at all."""
    gateways = _nat_gateways(t, cfg, public)
    tables = []
    for index, subnet in enumerate(private):
        table = t.add_resource(ec2.RouteTable(
            logical_id("private", "route", "table", index + 1), VpcId=Ref(vpc),
            Tags=Tags(Name=Sub(f"${{AWS::StackName}}-private-{index + 1}")),
        ))
        t.add_resource(ec2.SubnetRouteTableAssociation(
            logical_id("private", "subnet", index + 1, "route", "table", "association"),
            SubnetId=Ref(subnet), RouteTableId=Ref(table),
        ))
        if gateways:
            gateway = gateways[index] if cfg.nat == "per_az" else gateways[0]
            t.add_resource(ec2.Route(
                logical_id("private", "default", "route", index + 1), RouteTableId=Ref(table),
                DestinationCidrBlock="0.0.0.0/0", NatGatewayId=Ref(gateway),
            ))
        tables.append(table)
    return tables


def _gateway_endpoints(t: Template, cfg: Config, vpc: ec2.VPC, tables: list[ec2.RouteTable]) -> None:
    for service in cfg.gateway_endpoints:
        endpoint = t.add_resource(ec2.VPCEndpoint(
            logical_id(service, "gateway", "endpoint"),
            VpcId=Ref(vpc), VpcEndpointType="Gateway",
            ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
            RouteTableIds=[Ref(table) for table in tables],
        ))
        _endpoint_policy(cfg, service, endpoint)


def _endpoint_policy(cfg: Config, service: str, endpoint: ec2.VPCEndpoint) -> None:
    policy = cfg.endpoint_policies.get(service)
    if policy is None:
        return
    if policy != "account":
        endpoint.PolicyDocument = policy
        return
    everything = [Action("*")]
    statements = [Statement(
        Sid="ThisAccountOnly", Effect=Allow, Principal=Principal("*"), Action=everything, Resource=["*"],
        Condition=Condition(StringEquals("aws:PrincipalAccount", Ref("AWS::AccountId"))),
    )]
    if service == "s3":
        # ECR hands out image layers from its own bucket, read by ECR's principal, not this account's.
        statements.append(Statement(
            Sid="EcrImageLayers", Effect=Allow, Principal=Principal("*"), Action=[Action("s3", "GetObject")],
            Resource=[Sub(ECR_LAYER_BUCKET)],
        ))
    endpoint.PolicyDocument = PolicyDocument(Version="2012-10-17", Statement=statements)


def _interface_endpoints(t: Template, cfg: Config, vpc: ec2.VPC, private: list[ec2.Subnet]) -> None:
    """In the first `endpoint_azs()` private subnets, behind one shared group."""
    if not cfg.interface_endpoints:
        return
    group = t.add_resource(ec2.SecurityGroup(
        "EndpointSecurityGroup",
        GroupDescription="Interface endpoints: HTTPS from inside the VPC",
        VpcId=Ref(vpc),
        SecurityGroupIngress=[ec2.SecurityGroupRule(
            IpProtocol="tcp", FromPort=443, ToPort=443, CidrIp=GetAtt(vpc, "CidrBlock"),
            Description="HTTPS to AWS service endpoints from the VPC",
        )],
        # Endpoints only answer; they never open connections.
        SecurityGroupEgress=[NO_EGRESS],
    ))
    for service in cfg.interface_endpoints:
        endpoint = t.add_resource(ec2.VPCEndpoint(
            logical_id(service, "endpoint"),
            VpcId=Ref(vpc), VpcEndpointType="Interface",
            ServiceName=Sub(f"com.amazonaws.${{AWS::Region}}.{service}"),
            SubnetIds=[Ref(subnet) for subnet in private[:cfg.endpoint_azs()]],
            SecurityGroupIds=[Ref(group)],
            PrivateDnsEnabled=True,
        ))
        _endpoint_policy(cfg, service, endpoint)


def _flow_logs(t: Template, cfg: Config, vpc: ec2.VPC) -> None:
    group = retain_long_logs(t.add_resource(logs.LogGroup("FlowLogGroup", RetentionInDays=cfg.flow_logs.retention_days)))
    suppress(group, "CKV_AWS_158", "Flow log records carry no secrets; CloudWatch Logs encrypts them at rest by default")
    role = service_role(
        t, "FlowLogRole", "vpc-flow-logs.amazonaws.com",
        [grant(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], [GetAtt(group, "Arn")])],
    )
    t.add_resource(ec2.FlowLog(
        "VpcFlowLog", ResourceId=Ref(vpc), ResourceType="VPC", TrafficType=cfg.flow_logs.traffic_type,
        LogDestinationType="cloud-watch-logs", LogGroupName=Ref(group), DeliverLogsPermissionArn=GetAtt(role, "Arn"),
    ))


def _outputs(
    t: Template, vpc: ec2.VPC, public: list[ec2.Subnet], private: list[ec2.Subnet], private_tables: list[ec2.RouteTable]
) -> None:
    output(t, "VpcId", Ref(vpc), "VPC id")
    output(t, "VpcCidr", GetAtt(vpc, "CidrBlock"), "VPC IPv4 CIDR block")
    output(t, "PublicSubnetIds", Join(",", [Ref(s) for s in public]), "Public subnet ids, one per AZ, comma-separated")
    output(t, "PrivateSubnetIds", Join(",", [Ref(s) for s in private]), "Private subnet ids, one per AZ, comma-separated")
    output(t, "PrivateRouteTableIds", Join(",", [Ref(r) for r in private_tables]), "Private route table ids, comma-separated")
    if "EndpointSecurityGroup" in t.resources:
        output(t, "EndpointSecurityGroupId", Ref(t.resources["EndpointSecurityGroup"]), "Security group of the interface endpoints")
    eips = [r for r in t.resources.values() if isinstance(r, ec2.EIP)]
    if eips:
        output(t, "NatPublicIps", Join(",", [Ref(eip) for eip in eips]),
               "Public IPs the private subnets' internet traffic leaves from (for partners' allow-lists), comma-separated")


DEFAULT_SECURITY_GROUP_NOTE = (
    "the VPC's default security group keeps the rules AWS gives it (all traffic from itself, all traffic out), "
    "which Security Hub EC2.2 and CIS 5.4 flag; nothing is placed in it and rule E9002 keeps it so. "
    "CloudFormation cannot remove them without a custom resource: strip them account-wide with AWS Config "
    "(README, \"The VPC's default security group\")"
)


def alarm_specs(env: EnvConfig) -> list[alarms.Spec]:
    """Per NAT gateway: connections it could not open, packets it dropped."""
    cfg: Config = env.network
    if not cfg.alarms.enabled:
        return []
    nothing = "a period without a datapoint has nothing to count"
    specs = []
    for index in range(1, cfg.nat_count() + 1):
        dims = {"NatGatewayId": Ref(logical_id("nat", "gateway", index))}
        specs += [
            alarms.Spec(
                f"nat-{index}-port-allocation-errors", f"NAT gateway {index}: connections refused for want of a source port",
                cfg.alarms.port_allocation_errors, ">=", "notBreaching", nothing,
                alarms.Metric("AWS/NATGateway", "ErrorPortAllocation", dims, "Sum"), unit="errors",
            ),
            alarms.Spec(
                f"nat-{index}-packets-dropped", f"NAT gateway {index}: packets dropped",
                cfg.alarms.packets_dropped, ">=", "notBreaching", nothing,
                alarms.Metric("AWS/NATGateway", "PacketsDropCount", dims, "Sum"), unit="packets",
            ),
        ]
    return specs


def _alarms(t: Template, env: EnvConfig) -> None:
    alarms.raise_alarms(t, env, NAME, env.network.alarms, alarm_specs(env))
