"""AWS WAF (v2) web ACLs, made one way for the load balancer and for CloudFront.

One ACL per protected entry point, default action allow, with AWS's managed
rule groups in this order (cheapest, most decisive first):
1. Amazon IP reputation list: addresses AWS's threat intelligence saw
   attacking (25 WCU);
2. the core rule set: the OWASP top ten's common exploits (700 WCU);
3. known bad inputs: request patterns of known exploits, Log4Shell
   included (200 WCU);
4. a rate limit per client IP over a window, from the parameter file.
Together 927 of the 1,500 capacity units an ACL has before the price rises.
Requests are logged to a CloudWatch log group (WAF requires the
`aws-waf-logs-` name prefix) with the credential-bearing headers redacted.

Costs, at list price: $5 per ACL and $1 per rule a month, $0.60 per million
requests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator
from troposphere import GetAtt, Sub, Template, logs, wafv2

from generator.cfn.naming import logical_id, physical_name
from generator.cfn.resources import retain_long_logs, suppress
from generator.cfn.sections import LogRetentionDays, Section

MANAGED_GROUPS = ("AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")
# Headers that carry credentials: never written to the request log.
REDACTED_HEADERS = ("authorization", "cookie")


class WafConfig(Section):
    enabled: bool = False
    """Put an AWS WAF web ACL in front: AWS's managed IP reputation list, core rule set and known bad inputs
    rules, and a rate limit per client IP. About $9 a month plus $0.60 per million requests."""
    mode: Literal["block", "count"] = "block"
    """`block` refuses what the rules match; `count` only counts and logs it (to try the rules on real
    traffic before they block anything)."""
    rate_limit: int = Field(default=2000, ge=10, le=2_000_000_000)
    """Requests one client IP may send within `rate_limit_window_seconds` before WAF blocks it until its rate
    falls below the limit again."""
    rate_limit_window_seconds: Literal[60, 120, 300, 600] = 300
    """The window the rate limit counts over."""
    count_rules: list[str] = []
    """Rules of the managed groups that only count, never block (e.g. `SizeRestrictions_BODY`, which blocks
    request bodies above 8 KB, for an API that takes uploads)."""
    log_retention_days: LogRetentionDays = 30
    """Days CloudWatch Logs keeps the request log."""

    @field_validator("count_rules")
    @classmethod
    def _rule_names(cls, names: list[str]) -> list[str]:
        bad = [n for n in names if not n.replace("_", "").isalnum() or len(n) > 128]
        if bad:
            raise ValueError(f"not managed rule names like SizeRestrictions_BODY: {', '.join(bad)}")
        return names


def _visibility(metric: str) -> wafv2.VisibilityConfig:
    return wafv2.VisibilityConfig(CloudWatchMetricsEnabled=True, MetricName=metric, SampledRequestsEnabled=True)


def _rules(cfg: WafConfig, metric_prefix: str) -> list[wafv2.WebACLRule]:
    override = {"Count": {}} if cfg.mode == "count" else {"None": {}}
    made = []
    for priority, group in enumerate(MANAGED_GROUPS):
        statement = wafv2.ManagedRuleGroupStatement(VendorName="AWS", Name=group)
        if cfg.count_rules:
            statement.RuleActionOverrides = [
                wafv2.RuleActionOverride(Name=name, ActionToUse=wafv2.RuleAction(Count=wafv2.CountAction()))
                for name in cfg.count_rules
            ]
        made.append(wafv2.WebACLRule(
            Name=group, Priority=priority, OverrideAction=wafv2.OverrideAction(**override),
            Statement=wafv2.Statement(ManagedRuleGroupStatement=statement),
            VisibilityConfig=_visibility(f"{metric_prefix}-{group}"),
        ))
    action = wafv2.RuleAction(Count=wafv2.CountAction()) if cfg.mode == "count" else wafv2.RuleAction(Block=wafv2.BlockAction())
    made.append(wafv2.WebACLRule(
        Name="RateLimitPerIp", Priority=len(MANAGED_GROUPS), Action=action,
        Statement=wafv2.Statement(RateBasedStatement=wafv2.RateBasedStatement(
            Limit=cfg.rate_limit, AggregateKeyType="IP", EvaluationWindowSec=cfg.rate_limit_window_seconds,
        )),
        VisibilityConfig=_visibility(f"{metric_prefix}-RateLimitPerIp"),
    ))
    return made


def web_acl(t: Template, env: Any, layer: str, scope: Literal["REGIONAL", "CLOUDFRONT"], cfg: WafConfig,
            setting: str, redact: tuple[str, ...] = ()) -> wafv2.WebACL:
    """The web ACL of `layer` (named `<project>-<env>-<layer>`) with its
    request log. `setting` names the parameter-file field (e.g. `web.waf`),
    for the reasons recorded in Metadata. A CLOUDFRONT ACL must be created
    in us-east-1: put it in a template deployed there."""
    name = physical_name(env.project, env.environment, layer, max_length=128)
    acl = t.add_resource(wafv2.WebACL(
        logical_id(layer, "web", "acl"),
        Name=name, Scope=scope, DefaultAction=wafv2.DefaultAction(Allow=wafv2.AllowAction()),
        Description=f"{env.project} {env.environment} {layer}: AWS managed rules, rate limit per IP, set by {setting}",
        Rules=_rules(cfg, name), VisibilityConfig=_visibility(name),
    ))
    if cfg.mode == "count":
        suppress(acl, "CKV_AWS_192", f"{setting}.mode is count: the rules (Log4Shell's included) count and log, blocking nothing yet")
    group = t.add_resource(logs.LogGroup(
        logical_id(layer, "waf", "log", "group"),
        LogGroupName=f"aws-waf-logs-{name}", RetentionInDays=cfg.log_retention_days,
    ))
    retain_long_logs(group)
    suppress(group, "CKV_AWS_158", (
        f"WAF request logs with the {', '.join((*REDACTED_HEADERS, *redact))} headers redacted; "
        "CloudWatch Logs encrypts them at rest by default"
    ))
    t.add_resource(wafv2.LoggingConfiguration(
        logical_id(layer, "waf", "logging"),
        ResourceArn=GetAtt(acl, "Arn"),
        # The log group's ARN without the ":*" GetAtt adds: the form WAF accepts.
        LogDestinationConfigs=[Sub(f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:${{{group.title}}}")],
        RedactedFields=[wafv2.LoggingConfigurationFieldToMatch(SingleHeader=wafv2.SingleHeader(Name=h))
                        for h in (*REDACTED_HEADERS, *redact)],
    ))
    return acl

