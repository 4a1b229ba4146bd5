"""Getting onto the compute layer's instances.

Session Manager is the default way in: the instance role has
AmazonSSMManagedInstanceCore and nothing listens on a port (seed 004). Two
SSH paths are optional, and both work without long-lived keys because Amazon
Linux 2023 runs EC2 Instance Connect's `AuthorizedKeysCommand` (a key pushed
with `ec2-instance-connect:SendSSHPublicKey` is accepted for 60 seconds):

- an **EC2 Instance Connect Endpoint** in the first private subnet
  (`compute.instance_connect_endpoint`): `aws ec2-instance-connect ssh
  --instance-id <id> --connection-type eice` tunnels through AWS to port 22
  of a private instance; no bastion, no public IP. Its security group (the
  security layer's) may reach port 22 of the app group only;
- a **bastion** in the first public subnet (`compute.bastion`), reachable on
  port 22 from `security.admin_cidr` only, and itself able to reach port 22
  of the app group; its group allows HTTPS out for the SSM agent and the AWS
  APIs, so Session Manager works on it too.

`compute.key_name` adds a classic key pair to the app instances for teams
that keep one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from troposphere import GetAtt, Ref, Select, Sub, Tags, Template, ec2, iam

from generator.cfn.iam import service_role
from generator.cfn.resources import output, parameter, suppress

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

ROOT_DEVICE = "/dev/xvda"  # Amazon Linux 2023's root device name
BASTION_ROOT_GIB = 8  # the Amazon Linux 2023 image's own size: a jump host stores nothing


def root_volume(size: int) -> ec2.LaunchTemplateBlockDeviceMapping:
    return ec2.LaunchTemplateBlockDeviceMapping(
        DeviceName=ROOT_DEVICE,
        Ebs=ec2.EBSBlockDevice(VolumeType="gp3", VolumeSize=size, Encrypted=True, DeleteOnTermination=True),
    )


def login_hint(key_name: str | None) -> str:
    """How an SSH login to an instance is authenticated, in words."""
    pushed = "a key pushed for 60 seconds with `aws ec2-instance-connect send-ssh-public-key`"
    return f"key pair {key_name} or {pushed}" if key_name else pushed


def instance_connect_endpoint(t: Template) -> None:
    """An EC2 Instance Connect Endpoint in the first private subnet. Its
    security group (built by the security layer) reaches port 22 of the app
    group and nothing else; the client IP is not preserved, so the app group
    admits the endpoint's group, not the caller's address."""
    subnets = parameter(t, "PrivateSubnetIds", "List<AWS::EC2::Subnet::Id>", "Private subnets, one per AZ, for the instances")
    group = parameter(
        t, "InstanceConnectSecurityGroupId", "AWS::EC2::SecurityGroup::Id",
        "Security group of the EC2 Instance Connect Endpoint (SSH to the app group only)",
    )
    endpoint = t.add_resource(ec2.InstanceConnectEndpoint(
        "InstanceConnectEndpoint", SubnetId=Select(0, Ref(subnets)), SecurityGroupIds=[Ref(group)],
        PreserveClientIp=False, Tags=Tags(Name=Sub("${AWS::StackName}-instance-connect")),
    ))
    output(t, "InstanceConnectEndpointId", Ref(endpoint), (
        "EC2 Instance Connect Endpoint: aws ec2-instance-connect ssh --connection-type eice --instance-id <app instance> "
        "(needs ec2-instance-connect:OpenTunnel on it and SendSSHPublicKey on the instance)"
    ))


def bastion(t: Template, env: EnvConfig) -> None:
    cfg = env.compute.bastion
    image = parameter(
        t, "BastionImageId", "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "Public SSM parameter with the bastion's AMI id", Default=cfg.ami_parameter,
    )
    public = parameter(t, "PublicSubnetIds", "List<AWS::EC2::Subnet::Id>", "Public subnets; the bastion runs in the first")
    group = parameter(
        t, "BastionSecurityGroupId", "AWS::EC2::SecurityGroup::Id",
        "Security group of the bastion (SSH from the admin CIDR, SSH to the app group, HTTPS out)",
    )
    role = service_role(
        t, "BastionRole", "ec2.amazonaws.com",
        managed_policy_arns=[Sub("arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore")],
    )
    profile = t.add_resource(iam.InstanceProfile("BastionInstanceProfile", Roles=[Ref(role)]))
    data = ec2.LaunchTemplateData(
        ImageId=Ref(image), InstanceType=cfg.instance_type,
        IamInstanceProfile=ec2.IamInstanceProfile(Arn=GetAtt(profile, "Arn")),
        NetworkInterfaces=[ec2.NetworkInterfaces(
            DeviceIndex=0, AssociatePublicIpAddress=True, Groups=[Ref(group)],
            SubnetId=Select(0, Ref(public)), DeleteOnTermination=True,
        )],
        MetadataOptions=ec2.MetadataOptions(HttpTokens="required", HttpEndpoint="enabled", HttpPutResponseHopLimit=1),
        BlockDeviceMappings=[root_volume(BASTION_ROOT_GIB)],
        Monitoring=ec2.Monitoring(Enabled=True),
    )
    if cfg.key_name:
        data.KeyName = cfg.key_name
    template = t.add_resource(ec2.LaunchTemplate("BastionLaunchTemplate", LaunchTemplateData=data))
    suppress(template, "CKV_AWS_88", "The bastion is the one host meant to be reached from the admin CIDR; it needs a public IP")
    instance = t.add_resource(ec2.Instance(
        "Bastion",
        LaunchTemplate=ec2.LaunchTemplateSpecification(
            LaunchTemplateId=Ref(template), Version=GetAtt(template, "LatestVersionNumber"),
        ),
        Tags=Tags(Name=Sub("${AWS::StackName}-bastion")),
    ))
    output(t, "BastionInstanceId", Ref(instance),
           "Bastion instance: aws ssm start-session --target <this id> (Session Manager, no port needed)")
    output(t, "BastionPublicIp", GetAtt(instance, "PublicIp"), (
        f"Public IP of the bastion: SSH as ec2-user from {env.security.admin_cidr} only, with {login_hint(cfg.key_name)}; "
        f"from there port 22 of the app instances, with {login_hint(env.compute.key_name)}"
    ))
