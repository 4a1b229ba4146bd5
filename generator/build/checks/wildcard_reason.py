"""E9010: every IAM statement allowing actions on Resource "*" names why, in the role's Metadata.

Some actions have no resource-level permissions (ecr:GetAuthorizationToken,
xray:PutTraceSegments, ...) and need "*"; anything else is a grant wider
than the resource it is for. `generator.cfn.iam.service_role` records each
grant's `wildcard_reason` under `Metadata.WildcardResources`
(`[{Actions, Reason}]`); this rule checks that every wildcard statement of a
role, or of a policy attached to it, is covered there with a non-empty reason.
A managed policy (attached by its `Roles` or by a role's `ManagedPolicyArns`)
may carry the reasons for its own statements in its own Metadata instead:
the catalog's launch role splits its grants over several.
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.build.intrinsics import references


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _wildcard_actions(document) -> list[list[str]]:
    found = []
    for statement in _as_list((document or {}).get("Statement", [])):
        if isinstance(statement, dict) and statement.get("Effect") == "Allow" and "*" in _as_list(statement.get("Resource")):
            found.append(sorted(str(a) for a in _as_list(statement.get("Action"))))
    return found


def _reasoned(role: dict) -> list[list[str]]:
    entries = (role.get("Metadata") or {}).get("WildcardResources", []) or []
    return [sorted(str(a) for a in _as_list(e.get("Actions"))) for e in entries
            if isinstance(e, dict) and str(e.get("Reason", "")).strip()]


class WildcardReason(CloudFormationLintRule):
    id = "E9010"
    shortdesc = "Wildcard IAM resource without a reason"
    description = 'Every Allow statement on Resource "*" of a role or its policies has a reason in the role\'s Metadata.WildcardResources'
    source_url = "https://docs.aws.amazon.com/IAM/latest/UserGuide/best-practices.html#grant-least-privilege"
    tags = ["strata", "iam"]

    def match(self, cfn):
        roles = cfn.get_resources(["AWS::IAM::Role"])
        documents: dict[str, list] = {name: [p.get("PolicyDocument") for p in r.get("Properties", {}).get("Policies", []) or []
                                             if isinstance(p, dict)] for name, r in roles.items()}
        matches = []
        for name, policy in cfn.get_resources(["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"]).items():
            attached = (references(policy.get("Properties", {}).get("Roles")) & set(roles)) | {
                role for role, body in roles.items()
                if name in references(body.get("Properties", {}).get("ManagedPolicyArns"))}
            document = policy.get("Properties", {}).get("PolicyDocument")
            unexplained = [a for a in _wildcard_actions(document) if a not in _reasoned(policy)]
            if not attached and unexplained:
                matches.append(RuleMatch(["Resources", name], f'{name} allows actions on "*" and is attached to no role of this template that records why'))
            for role in attached:
                documents[role].append({"Statement": [
                    s for s in _as_list((document or {}).get("Statement", []))
                    if not (isinstance(s, dict) and sorted(str(a) for a in _as_list(s.get("Action"))) in _reasoned(policy))
                ]})
        for name, role in roles.items():
            reasons = _reasoned(role)
            for actions in (a for d in documents[name] for a in _wildcard_actions(d)):
                if actions not in reasons:
                    matches.append(RuleMatch(["Resources", name], f'{name} allows {", ".join(actions)} on "*" without a reason '
                                                                  "in Metadata.WildcardResources (grant(..., wildcard_reason=...))"))
        return matches
