"""E9002: nothing adds rules to a VPC's default security group."""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

_RULE_TYPES = ["AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"]


def _is_default_group(value) -> bool:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        attribute = target[1] if isinstance(target, list) else str(target).split(".", 1)[-1]
        return attribute == "DefaultSecurityGroup"
    return False


class DefaultSecurityGroupRules(CloudFormationLintRule):
    id = "E9002"
    shortdesc = "Rule added to the default security group"
    description = "The VPC's default security group must stay without added rules; use a dedicated group"
    source_url = "https://docs.aws.amazon.com/vpc/latest/userguide/default-security-group.html"
    tags = ["strata", "network", "security-groups"]

    def match(self, cfn):
        matches = []
        for name, resource in cfn.get_resources(_RULE_TYPES).items():
            props = resource.get("Properties", {})
            for key in ("GroupId", "SourceSecurityGroupId", "DestinationSecurityGroupId"):
                if _is_default_group(props.get(key)):
                    matches.append(RuleMatch(
                        ["Resources", name, "Properties", key],
                        f"{name} uses the VPC's default security group; give the resource its own group",
                    ))
        return matches
