"""E9012: every SQS queue has a dead-letter queue, except the dead-letter queues themselves.

Without a redrive policy a message that cannot be processed is received
again and again until its retention ends, then lost. A queue that is the
target of a redrive policy, a function's DeadLetterConfig, an event source
mapping's or invoke config's on-failure destination, or a subscription's
redrive policy is a dead-letter queue and needs none.
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.build.intrinsics import dead_letter_queues, references


def _subscription_dlqs(cfn) -> set[str]:
    found = set()
    for subscription in cfn.get_resources(["AWS::SNS::Subscription", "AWS::Lambda::EventInvokeConfig"]).values():
        props = subscription.get("Properties", {})
        found |= references(props.get("RedrivePolicy")) | references(props.get("DestinationConfig"))
    return found


class QueueDeadLetter(CloudFormationLintRule):
    id = "E9012"
    shortdesc = "Queue without a dead-letter queue"
    description = "Every AWS::SQS::Queue that is not itself a dead-letter queue has a RedrivePolicy with a deadLetterTargetArn"
    source_url = "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html"
    tags = ["strata", "messaging"]

    def match(self, cfn):
        dlqs = dead_letter_queues(cfn.template) | _subscription_dlqs(cfn)
        return [
            RuleMatch(["Resources", name], f"{name} has no dead-letter queue: set RedrivePolicy.deadLetterTargetArn")
            for name, queue in cfn.get_resources(["AWS::SQS::Queue"]).items()
            if name not in dlqs and "deadLetterTargetArn" not in (queue.get("Properties", {}).get("RedrivePolicy") or {})
        ]
