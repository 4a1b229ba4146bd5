"""E9013: every S3 bucket's policy denies requests without TLS, to the bucket and to its objects.

The statement `generator.cfn.iam.deny_s3_without_tls` writes: Effect Deny,
Principal "*", Condition Bool aws:SecureTransport false, on the bucket's ARN
and on `<arn>/*`. Without it, anyone the policy or an ACL admits may use
plain HTTP.
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.build.intrinsics import references


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _denies_plain_http(statement) -> bool:
    if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
        return False
    principal = statement.get("Principal")
    if principal not in ("*", {"AWS": "*"}):
        return False
    condition = (statement.get("Condition") or {}).get("Bool", {})
    return str(condition.get("aws:SecureTransport", "")).lower() == "false"


def _covers_objects(statement, bucket: str) -> bool:
    resources = _as_list(statement.get("Resource"))
    return len([r for r in resources if bucket in references(r)]) >= 2 or "*" in resources


class BucketTls(CloudFormationLintRule):
    id = "E9013"
    shortdesc = "Bucket reachable without TLS"
    description = "Every AWS::S3::Bucket has a bucket policy denying aws:SecureTransport false on the bucket and its objects"
    source_url = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/security-best-practices.html#transit"
    tags = ["strata", "s3", "encryption"]

    def match(self, cfn):
        guarded = set()
        for policy in cfn.get_resources(["AWS::S3::BucketPolicy"]).values():
            props = policy.get("Properties", {})
            for bucket in references(props.get("Bucket")):
                statements = _as_list((props.get("PolicyDocument") or {}).get("Statement", []))
                if any(_denies_plain_http(s) and _covers_objects(s, bucket) for s in statements):
                    guarded.add(bucket)
        return [
            RuleMatch(["Resources", name], f"{name} has no bucket policy denying requests without TLS "
                                           "(iam.deny_s3_without_tls on the bucket and its objects)")
            for name in cfn.get_resources(["AWS::S3::Bucket"]) if name not in guarded
        ]
