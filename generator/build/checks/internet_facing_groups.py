"""E9009: a security group open to the internet belongs to an internet-facing load balancer and to nothing else.

E9003 keeps world-open ingress to TCP 80/443; this rule checks who wears
such a group. Used by an instance, a task or a function it would expose them
directly, bypassing the load balancer. Read across layers: on the security
layer alone the group has no user yet, so the rule only reports users it
sees (the whole environment shows them all).
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.build.intrinsics import references

OPEN = {"0.0.0.0/0", "::/0"}


def _is_open(rule: dict) -> bool:
    return any(isinstance(rule.get(k), str) and rule[k] in OPEN for k in ("CidrIp", "CidrIpv6"))


def _open_groups(cfn) -> set[str]:
    groups = set()
    for name, group in cfn.get_resources(["AWS::EC2::SecurityGroup"]).items():
        for rule in group.get("Properties", {}).get("SecurityGroupIngress", []) or []:
            if isinstance(rule, dict) and _is_open(rule):
                groups.add(name)
    for ingress in cfn.get_resources(["AWS::EC2::SecurityGroupIngress"]).values():
        props = ingress.get("Properties", {})
        if _is_open(props):
            groups |= references(props.get("GroupId")) & set(cfn.get_resources(["AWS::EC2::SecurityGroup"]))
    return groups


def _users(resource: dict) -> set[str]:
    props = resource.get("Properties", {})
    kind = resource.get("Type")
    if kind == "AWS::ElasticLoadBalancingV2::LoadBalancer":
        return references(props.get("SecurityGroups"))
    if kind in ("AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
        return set()  # naming a group as a rule's source or destination does not wear it
    return references({k: v for k, v in props.items() if "SecurityGroup" in k or k in ("NetworkConfiguration", "LaunchTemplateData", "VpcConfig", "NetworkInterfaces")})


class InternetFacingGroups(CloudFormationLintRule):
    id = "E9009"
    shortdesc = "Internet-open security group on something other than the load balancer"
    description = "A security group with ingress from 0.0.0.0/0 or ::/0 is used only by internet-facing load balancers"
    source_url = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-update-security-groups.html"
    tags = ["strata", "security-groups", "cross-layer"]

    def match(self, cfn):
        open_groups = _open_groups(cfn)
        matches = []
        for name, resource in cfn.get_resources().items():
            used = _users(resource) & open_groups
            if not used:
                continue
            internet_lb = (resource.get("Type") == "AWS::ElasticLoadBalancingV2::LoadBalancer"
                           and resource.get("Properties", {}).get("Scheme", "internet-facing") == "internet-facing")
            if not internet_lb:
                matches.append(RuleMatch(["Resources", name], f"{name} ({resource.get('Type')}) uses {', '.join(sorted(used))}, "
                                                              "which admits the whole internet: give it a group reached from the load balancer only"))
        return matches
