"""E9061: every SNS subscription has a dead-letter queue (RedrivePolicy)."""

from cfnlint.rules import CloudFormationLintRule, RuleMatch


class SubscriptionDeadLetterQueue(CloudFormationLintRule):
    id = "E9061"
    shortdesc = "SNS subscription without a dead-letter queue"
    description = ("Every AWS::SNS::Subscription needs a RedrivePolicy: a message SNS cannot deliver after its "
                   "retries is dropped otherwise")
    source_url = "https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html"
    tags = ["strata", "sns", "reliability"]

    def match(self, cfn):
        return [
            RuleMatch(["Resources", name, "Properties"], f"subscription {name} has no RedrivePolicy (dead-letter queue)")
            for name, resource in cfn.get_resources(["AWS::SNS::Subscription"]).items()
            if not resource.get("Properties", {}).get("RedrivePolicy")
        ]
