"""E9003: no ingress from the whole internet except HTTP/HTTPS (the ALB's 80 and 443)."""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

OPEN = {"0.0.0.0/0", "::/0"}
WEB_PORTS = {80, 443}


def _port(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _is_web_only(rule: dict) -> bool:
    start, end = _port(rule.get("FromPort")), _port(rule.get("ToPort"))
    return str(rule.get("IpProtocol")) == "tcp" and start == end and start in WEB_PORTS


def _is_open(rule: dict) -> bool:
    return any(isinstance(rule.get(k), str) and rule[k] in OPEN for k in ("CidrIp", "CidrIpv6"))


def _rules(cfn):
    for name, resource in cfn.get_resources(["AWS::EC2::SecurityGroup"]).items():
        for index, rule in enumerate(resource.get("Properties", {}).get("SecurityGroupIngress", []) or []):
            if isinstance(rule, dict):
                yield ["Resources", name, "Properties", "SecurityGroupIngress", index], rule
    for name, resource in cfn.get_resources(["AWS::EC2::SecurityGroupIngress"]).items():
        yield ["Resources", name, "Properties"], resource.get("Properties", {})


class OpenIngress(CloudFormationLintRule):
    id = "E9003"
    shortdesc = "Ingress open to the internet"
    description = "Only TCP 80 and 443 may be open to 0.0.0.0/0 or ::/0 (the internet-facing load balancer)"
    source_url = "https://docs.aws.amazon.com/vpc/latest/userguide/security-group-rules.html"
    tags = ["strata", "security-groups"]

    def match(self, cfn):
        return [
            RuleMatch(path, f"{path[1]} allows {rule.get('IpProtocol')} {rule.get('FromPort')}-{rule.get('ToPort')} "
                            "from the whole internet; only TCP 80/443 may be")
            for path, rule in _rules(cfn)
            if _is_open(rule) and not _is_web_only(rule)
        ]
