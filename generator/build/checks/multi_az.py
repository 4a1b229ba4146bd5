"""E9005: the load balancer, the Auto Scaling group, the ECS service and the database span at least 2 AZs.

Read across layers: a layer names its subnets through a parameter
(`PrivateSubnetIds`), so on a layer template alone the rule cannot tell and
says nothing; on the environment as a whole (the build inlines every layer,
`generator.build.environment`) it follows the parameter to the network
layer's subnets and their `Fn::Select [i, Fn::GetAZs]`. A database cluster
with readers must also not keep them all in the writer's AZ.
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.build.intrinsics import Resolver, Zone

MINIMUM = 2
SUBNETS = {
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("Subnets",),
    "AWS::AutoScaling::AutoScalingGroup": ("VPCZoneIdentifier",),
    "AWS::ECS::Service": ("NetworkConfiguration", "AwsvpcConfiguration", "Subnets"),
    "AWS::RDS::DBSubnetGroup": ("SubnetIds",),
    "AWS::ElastiCache::SubnetGroup": ("SubnetIds",),
}


class MultiAz(CloudFormationLintRule):
    id = "E9005"
    shortdesc = "Single-AZ tier"
    description = ("Load balancers, Auto Scaling groups, ECS services and database/cache subnet groups span at least "
                   "2 AZs; a cluster's instances are not all in one AZ")
    source_url = "https://docs.aws.amazon.com/whitepapers/latest/real-time-communication-on-aws/high-availability-and-scalability-on-aws.html"
    tags = ["strata", "availability", "cross-layer"]

    def match(self, cfn):
        resolver = Resolver(cfn.template)
        matches = []
        for name, resource in cfn.get_resources(list(SUBNETS)).items():
            zones = resolver.zones(resolver.prop(name, *SUBNETS[resource["Type"]]))
            if zones is not None and len(zones) < MINIMUM:
                matches.append(RuleMatch(["Resources", name], f"{name} ({resource['Type']}) spans {len(zones)} AZ; "
                                                              f"it needs subnets in at least {MINIMUM}"))
        matches += _instances_in_one_zone(cfn, resolver)
        return matches


def _instances_in_one_zone(cfn, resolver: Resolver) -> list:
    clusters: dict[str, list[tuple[str, object]]] = {}
    for name in cfn.get_resources(["AWS::RDS::DBInstance"]):
        cluster = resolver.ids(resolver.value(cfn.template["Resources"][name].get("Properties", {}).get("DBClusterIdentifier")))
        if cluster:
            clusters.setdefault(cluster[0], []).append((name, resolver.prop(name, "AvailabilityZone")))
    matches = []
    for cluster, members in sorted(clusters.items()):
        zones = {zone for _, zone in members}
        if len(members) > 1 and all(isinstance(z, Zone) for z in zones) and len(zones) < MINIMUM:
            matches.append(RuleMatch(["Resources", cluster], f"{cluster}: all {len(members)} instances are in one AZ; "
                                                             "a reader in another AZ is what a failover promotes"))
    return matches
