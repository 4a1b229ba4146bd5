"""security layer: the security-group chain of the web architecture.

Internet -> ALB SG (80, 443) -> app SG (app port, from the ALB SG only) ->
DB SG (DB port, from the app SG only); a bastion SG (22 from the admin CIDR
only, 22 on to the app SG, HTTPS out for Session Manager and the AWS APIs)
when compute has a bastion; an EC2 Instance Connect Endpoint SG (22 to the
app SG only) when compute has that endpoint. Rules between groups are separate
Ingress/Egress resources so the groups can reference each other without a
circular dependency.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from pydantic import Field, field_validator
from troposphere import GetAtt, Ref, Template, ec2

from generator.cfn.resources import NO_EGRESS, output, parameter, publish_outputs, suppress
from generator.cfn.sections import Ipv4Cidr, LayerSection
from templates import web

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "security"
DESCRIPTION = "Security-group chain: ALB -> app -> database, bastion from the admin CIDR only"

ANYWHERE = "0.0.0.0/0"


class Config(LayerSection):
    admin_cidr: Ipv4Cidr | None = None
    """Where SSH to the bastion may come from (e.g. an office's 203.0.113.0/24). Required when
    compute.bastion is enabled; a /0 is refused."""
    app_port: int = Field(default=8000, ge=1, le=65535)
    """Port the application listens on behind the ALB (seed 001's container port 8000)."""
    db_port: int = Field(default=5432, ge=1, le=65535)
    """Database port: 5432 for aurora-postgresql, 3306 for aurora-mysql."""

    @field_validator("admin_cidr")
    @classmethod
    def _not_open(cls, cidr: str | None) -> str | None:
        if cidr is None:
            return None
        try:
            network = ipaddress.ip_network(cidr, strict=True)
        except ValueError as exc:
            raise ValueError(f"not a valid CIDR: {exc}") from None
        if network.prefixlen == 0:
            raise ValueError("must not be open to the whole internet; give your office or VPN range")
        return cidr


def build(env: EnvConfig) -> Template:
    cfg: Config = env.security
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    vpc_id = parameter(t, "VpcId", "AWS::EC2::VPC::Id", "VPC the security groups belong to")
    alb = _alb_group(t, env, vpc_id)
    app = _group(t, "AppSecurityGroup", "Application instances and tasks", vpc_id)
    db = _group(t, "DbSecurityGroup", "Database: reached only from the application", vpc_id)
    _allow(t, "AlbToApp", alb, app, cfg.app_port, "ALB to the application port")
    _allow(t, "AppToDb", app, db, cfg.db_port, "Application to the database port")
    _app_egress_to_aws(t, app)
    groups = {"Alb": alb, "App": app, "Db": db}
    if env.compute.bastion.enabled:
        groups["Bastion"] = _bastion_group(t, cfg, vpc_id, app)
    if env.compute.enabled and env.compute.instance_connect_endpoint:
        groups["InstanceConnect"] = _instance_connect_group(t, vpc_id, app)
    for name, group in groups.items():
        output(t, f"{name}SecurityGroupId", GetAtt(group, "GroupId"), f"{name} security group id")
    # Also in Parameter Store, where the catalog's products read them by name.
    publish_outputs(t, env.project, env.environment, NAME)
    return t


def _group(t: Template, title: str, description: str, vpc_id, **kwargs) -> ec2.SecurityGroup:
    # Groups start with egress denied; each allowed flow is added as its own rule.
    return t.add_resource(ec2.SecurityGroup(
        title, GroupDescription=description, VpcId=Ref(vpc_id),
        SecurityGroupEgress=kwargs.pop("SecurityGroupEgress", [NO_EGRESS]), **kwargs,
    ))


def _alb_group(t: Template, env: EnvConfig, vpc_id) -> ec2.SecurityGroup:
    if web.cloudfront_only(env):
        return _cloudfront_only_alb_group(t, env, vpc_id)
    group = _group(
        t, "AlbSecurityGroup", "Internet-facing load balancer: HTTP and HTTPS from anywhere", vpc_id,
        SecurityGroupIngress=[
            ec2.SecurityGroupRule(IpProtocol="tcp", FromPort=port, ToPort=port, CidrIp=ANYWHERE, Description=why)
            for port, why in ((80, "HTTP from anywhere"), (443, "HTTPS from anywhere"))
        ],
    )
    if env.web.listener == "https":
        reason = "An internet-facing ALB takes HTTP only to answer it with a redirect to HTTPS (web.listener: https)"
    else:
        reason = "web.listener: http: port 80 serves the site itself, in plain HTTP, because this environment has no certificate"
    suppress(group, "CKV_AWS_260", reason)
    return group


def _cloudfront_only_alb_group(t: Template, env: EnvConfig, vpc_id) -> ec2.SecurityGroup:
    """Only CloudFront's origin-facing addresses, on the one port it uses.
    The managed prefix list counts as 55 rules against the group's quota of
    60, so it is referenced once, not once per port."""
    port = web.listener_port(env)
    prefix_list = parameter(
        t, "CloudFrontPrefixListId", "String",
        f"Managed prefix list com.amazonaws.global.cloudfront.origin-facing in {env.region}",
        Default=web.cloudfront_prefix_list(env) or "", AllowedPattern=r"^pl-[0-9a-f]{8,17}$",
        ConstraintDescription="a managed prefix list id like pl-4fa04526",
    )
    return _group(
        t, "AlbSecurityGroup", "Load balancer behind CloudFront: reached from CloudFront origin-facing addresses only", vpc_id,
        SecurityGroupIngress=[ec2.SecurityGroupRule(
            IpProtocol="tcp", FromPort=port, ToPort=port, SourcePrefixListId=Ref(prefix_list),
            Description=f"{'HTTPS' if port == 443 else 'HTTP'} from the CloudFront origin-facing prefix list (web.cloudfront_only)",
        )],
    )


def _allow(t: Template, name: str, source: ec2.SecurityGroup, target: ec2.SecurityGroup, port: int, why: str) -> None:
    """Traffic from `source` to `target` on `port`: ingress on the target and the matching egress on the source."""
    t.add_resource(ec2.SecurityGroupIngress(
        f"{name}Ingress", GroupId=GetAtt(target, "GroupId"), SourceSecurityGroupId=GetAtt(source, "GroupId"),
        IpProtocol="tcp", FromPort=port, ToPort=port, Description=why,
    ))
    t.add_resource(ec2.SecurityGroupEgress(
        f"{name}Egress", GroupId=GetAtt(source, "GroupId"), DestinationSecurityGroupId=GetAtt(target, "GroupId"),
        IpProtocol="tcp", FromPort=port, ToPort=port, Description=why,
    ))


def _app_egress_to_aws(t: Template, app: ec2.SecurityGroup) -> None:
    # HTTPS out reaches AWS APIs through the interface endpoints or the NAT,
    # and the package repositories; endpoint and NAT addresses are not known
    # here, so the destination cannot be narrower.
    t.add_resource(ec2.SecurityGroupEgress(
        "AppHttpsEgress", GroupId=GetAtt(app, "GroupId"), CidrIp=ANYWHERE,
        IpProtocol="tcp", FromPort=443, ToPort=443, Description="HTTPS to AWS APIs and package repositories",
    ))


def _bastion_group(t: Template, cfg: Config, vpc_id, app: ec2.SecurityGroup) -> ec2.SecurityGroup:
    bastion = _group(
        t, "BastionSecurityGroup", "Bastion host: SSH from the admin CIDR only", vpc_id,
        SecurityGroupIngress=[ec2.SecurityGroupRule(
            IpProtocol="tcp", FromPort=22, ToPort=22, CidrIp=cfg.admin_cidr, Description="SSH from the admin network",
        )],
    )
    _allow(t, "BastionToApp", bastion, app, 22, "SSH from the bastion to the application instances")
    # The SSM agent (Session Manager) and the AWS CLI (EC2 Instance Connect's
    # SendSSHPublicKey) speak HTTPS to public AWS endpoints or the VPC's
    # interface endpoints, whose addresses are not known here.
    t.add_resource(ec2.SecurityGroupEgress(
        "BastionHttpsEgress", GroupId=GetAtt(bastion, "GroupId"), CidrIp=ANYWHERE,
        IpProtocol="tcp", FromPort=443, ToPort=443, Description="HTTPS to AWS APIs (Session Manager, EC2 Instance Connect)",
    ))
    return bastion


def _instance_connect_group(t: Template, vpc_id, app: ec2.SecurityGroup) -> ec2.SecurityGroup:
    """The EC2 Instance Connect Endpoint's group: nothing comes in (callers
    reach the endpoint through the AWS API), SSH goes out to the app group only."""
    group = _group(t, "InstanceConnectSecurityGroup", "EC2 Instance Connect Endpoint: SSH to the application only", vpc_id)
    _allow(t, "InstanceConnectToApp", group, app, 22, "SSH through the EC2 Instance Connect Endpoint")
    return group
