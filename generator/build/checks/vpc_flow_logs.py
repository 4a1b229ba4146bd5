"""E9001: every VPC has a flow log."""

from cfnlint.rules import CloudFormationLintRule, RuleMatch


def _refs(value) -> set:
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return {value["Ref"]}
        return set().union(*(_refs(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value)) if value else set()
    return set()


class VpcFlowLogs(CloudFormationLintRule):
    id = "E9001"
    shortdesc = "VPC without flow logs"
    description = "Every AWS::EC2::VPC must have an AWS::EC2::FlowLog whose ResourceId refers to it"
    source_url = "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs.html"
    tags = ["strata", "network", "logging"]

    def match(self, cfn):
        logged = set()
        for flow_log in cfn.get_resources(["AWS::EC2::FlowLog"]).values():
            logged |= _refs(flow_log.get("Properties", {}).get("ResourceId"))
        return [
            RuleMatch(["Resources", name], f"VPC {name} has no AWS::EC2::FlowLog (set network.flow_logs.enabled: true)")
            for name in cfn.get_resources(["AWS::EC2::VPC"])
            if name not in logged
        ]
