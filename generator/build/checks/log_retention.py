"""E9008: every log group has a retention, and every Lambda function writes to one of the template's log groups.

A log group without RetentionInDays keeps its events forever (and bills for
them). A function without `LoggingConfig.LogGroup` writes to
`/aws/lambda/<name>`, which Lambda creates on first use with no retention.
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.build.intrinsics import Resolver


class LogRetention(CloudFormationLintRule):
    id = "E9008"
    shortdesc = "Logs kept forever"
    description = "Every AWS::Logs::LogGroup sets RetentionInDays; every Lambda function logs to a log group of the template"
    source_url = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/Working-with-log-groups-and-streams.html"
    tags = ["strata", "logging"]

    def match(self, cfn):
        resolver = Resolver(cfn.template)
        groups = cfn.get_resources(["AWS::Logs::LogGroup"])
        matches = [
            RuleMatch(["Resources", name], f"{name} keeps its events forever: set RetentionInDays")
            for name, group in groups.items() if "RetentionInDays" not in group.get("Properties", {})
        ]
        for name, function in cfn.get_resources(["AWS::Lambda::Function"]).items():
            target = (function.get("Properties", {}).get("LoggingConfig") or {}).get("LogGroup")
            if not set(resolver.ids(resolver.value(target))) & set(groups):
                matches.append(RuleMatch(["Resources", name], f"{name} logs to a log group Lambda creates without a "
                                                              "retention: set LoggingConfig.LogGroup to a log group of this template"))
        return matches
