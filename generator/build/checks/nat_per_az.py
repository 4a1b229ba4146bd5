"""E9006: with a NAT gateway per AZ, each private route table uses the NAT gateway of its own AZ.

`nat: per_az` exists so that an AZ outage leaves the other AZs their way
out; a route table pointing at another AZ's NAT gateway silently brings the
single point of failure back (and pays cross-AZ transfer). With one NAT
gateway for the VPC (`nat: single`) the rule does not apply.
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.build.intrinsics import Resolver


class NatPerAz(CloudFormationLintRule):
    id = "E9006"
    shortdesc = "Private route table uses another AZ's NAT gateway"
    description = "With several NAT gateways, every route table's default route goes to the NAT gateway in its own AZ"
    source_url = "https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-basics.html"
    tags = ["strata", "network", "availability"]

    def match(self, cfn):
        resolver = Resolver(cfn.template)
        nats = cfn.get_resources(["AWS::EC2::NatGateway"])
        if len(nats) < 2:
            return []
        nat_zone = {name: _zone(resolver, resolver.prop(name, "SubnetId")) for name in nats}
        table_zones: dict[str, set] = {}
        for name in cfn.get_resources(["AWS::EC2::SubnetRouteTableAssociation"]):
            table = resolver.ids(resolver.value(cfn.template["Resources"][name]["Properties"].get("RouteTableId")))
            zone = _zone(resolver, resolver.prop(name, "SubnetId"))
            if table and zone is not None:
                table_zones.setdefault(table[0], set()).add(zone)
        matches = []
        for name, route in cfn.get_resources(["AWS::EC2::Route"]).items():
            props = route.get("Properties", {})
            nat = resolver.ids(resolver.value(props.get("NatGatewayId")))
            table = resolver.ids(resolver.value(props.get("RouteTableId")))
            if not (nat and table) or nat_zone.get(nat[0]) is None:
                continue
            zones = table_zones.get(table[0], set())
            if zones and zones != {nat_zone[nat[0]]}:
                matches.append(RuleMatch(["Resources", name], f"{name} sends {table[0]} (AZ {sorted(zones)}) to "
                                                              f"{nat[0]} in AZ {nat_zone[nat[0]]}: use its own AZ's NAT gateway"))
        return matches


def _zone(resolver: Resolver, subnet) -> int | None:
    zones = resolver.zones([subnet])
    return next(iter(zones)) if zones else None
