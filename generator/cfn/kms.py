"""Customer managed KMS keys, made one way.

A layer needs its own key when AWS services must be let in by key policy
(S3 and CloudWatch publishing to an encrypted topic, SNS delivering to an
encrypted queue) or when the scan asks for a customer managed key. The key
is administered through the account's IAM policies, rotated yearly, and kept
when the stack goes: the data it protects (retained tables, snapshots) is
unreadable without it.
"""

from __future__ import annotations

from typing import Any

from awacs.aws import Principal
from troposphere import Ref, Sub, Template, kms

from generator.cfn.iam import Grant, grant, resource_policy
from generator.cfn.resources import keep_data

# In a key policy the resource "*" means the key the policy is attached to.
THIS_KEY = "in a key policy '*' is the key itself"


def account_principal() -> Principal:
    """The account: in a key policy, "IAM policies of this account decide"."""
    return Principal("AWS", Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root"))


def use_key(actions: list[str], **kwargs: Any) -> Grant:
    """`actions` on the key the policy belongs to."""
    return grant(actions, ["*"], wildcard_reason=THIS_KEY, **kwargs)


def customer_key(t: Template, title: str, description: str, users: list[tuple[Any, Grant]] = ()) -> kms.Key:  # type: ignore[assignment]
    """A rotated, retained key whose policy lets the account administer it
    through IAM and `users` (principal, grant) use it; plus an alias named
    after the stack so people find it in the console."""
    policy = resource_policy([(account_principal(), use_key(["kms:*"])), *users])
    key = t.add_resource(kms.Key(
        title, Description=description, EnableKeyRotation=True, KeyPolicy=policy, PendingWindowInDays=30,
    ))
    keep_data(key, "Retain")
    t.add_resource(kms.Alias(f"{title}Alias", AliasName=Sub(f"alias/${{AWS::StackName}}-{title}"), TargetKeyId=Ref(key)))
    return key
