"""E9062: a log group kept longer than 90 days is retained with its stack."""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

# The same threshold as generator.cfn.resources.RETAIN_LOGS_ABOVE_DAYS
# (the rules are loaded by cfn-lint from this folder, without Strata's imports).
RETAIN_LOGS_ABOVE_DAYS = 90


class LongLogsRetained(CloudFormationLintRule):
    id = "E9062"
    shortdesc = "Long-kept log group deleted with its stack"
    description = ("An AWS::Logs::LogGroup with RetentionInDays above 90 holds records someone chose to keep: "
                   "it needs DeletionPolicy and UpdateReplacePolicy Retain")
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html"
    tags = ["strata", "logs", "retention"]

    def match(self, cfn):
        matches = []
        for name, resource in cfn.get_resources(["AWS::Logs::LogGroup"]).items():
            days = resource.get("Properties", {}).get("RetentionInDays")
            if not isinstance(days, int) or days <= RETAIN_LOGS_ABOVE_DAYS:
                continue
            if resource.get("DeletionPolicy") != "Retain" or resource.get("UpdateReplacePolicy") != "Retain":
                matches.append(RuleMatch(
                    ["Resources", name],
                    f"log group {name} keeps records {days} days but would be deleted with its stack: "
                    "set DeletionPolicy and UpdateReplacePolicy to Retain",
                ))
        return matches
