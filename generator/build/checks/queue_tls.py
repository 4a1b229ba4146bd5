"""E9060: every SQS queue has a queue policy that denies requests without TLS."""

from cfnlint.rules import CloudFormationLintRule, RuleMatch


def _names(value) -> set:
    """Logical ids a Ref or GetAtt in `value` points at."""
    if isinstance(value, dict):
        if "Ref" in value and isinstance(value["Ref"], str):
            return {value["Ref"]}
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return {target[0] if isinstance(target, list) else str(target).split(".", 1)[0]}
        return set().union(*(_names(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_names(v) for v in value)) if value else set()
    return set()


def _denies_plain_http(document) -> bool:
    for statement in (document or {}).get("Statement", []) if isinstance(document, dict) else []:
        condition = statement.get("Condition", {}) if isinstance(statement, dict) else {}
        secure = condition.get("Bool", {}).get("aws:SecureTransport") if isinstance(condition, dict) else None
        if statement.get("Effect") == "Deny" and str(secure).lower() == "false":
            return True
    return False


class QueueTls(CloudFormationLintRule):
    id = "E9060"
    shortdesc = "SQS queue accepts requests without TLS"
    description = ("Every AWS::SQS::Queue needs an AWS::SQS::QueuePolicy denying requests with "
                   "aws:SecureTransport false (SQS accepts plain HTTP otherwise)")
    source_url = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-security-best-practices.html"
    tags = ["strata", "sqs", "encryption"]

    def match(self, cfn):
        guarded = set()
        for policy in cfn.get_resources(["AWS::SQS::QueuePolicy"]).values():
            props = policy.get("Properties", {})
            if _denies_plain_http(props.get("PolicyDocument")):
                guarded |= _names(props.get("Queues"))
        return [
            RuleMatch(["Resources", name], f"queue {name} has no queue policy denying aws:SecureTransport false")
            for name in cfn.get_resources(["AWS::SQS::Queue"])
            if name not in guarded
        ]
