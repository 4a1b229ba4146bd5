"""IAM written with awacs, in two shapes: "a role this service may assume"
and "these actions on exactly these resources". A wildcard resource is
refused unless a reason is given; the reason is written into the role's
Metadata so a reviewer sees it next to the grant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from awacs.aws import Action, Allow, ArnLike, Bool, Condition, Deny, PolicyDocument, Principal, Statement, StringEquals
from awacs.sts import AssumeRole
from troposphere import GetAtt, Ref, Sub, Template, iam, sqs


@dataclass(frozen=True)
class Grant:
    """`actions` (e.g. "s3:ListBucketVersions") on exactly `resources`
    (ARNs or intrinsic functions). `resources=["*"]` needs `wildcard_reason`:
    some actions (ecr:GetAuthorizationToken, logs:CreateLogDelivery...) have
    no resource-level permissions at all."""

    actions: tuple[str, ...]
    resources: tuple[Any, ...]
    conditions: dict[str, Any] | None = None
    wildcard_reason: str = ""
    sid: str = ""
    """Optional statement id, so a reviewer (and a test) can name the statement."""

    def __post_init__(self) -> None:
        if "*" in self.resources and not self.wildcard_reason:
            raise ValueError(f"grant of {self.actions} on '*' needs a wildcard_reason")


def grant(actions: list[str] | tuple[str, ...], resources: list[Any] | tuple[Any, ...], **kwargs: Any) -> Grant:
    return Grant(tuple(actions), tuple(resources), **kwargs)


def _statement(g: Grant) -> Statement:
    actions = [Action(*a.split(":", 1)) for a in g.actions]
    kwargs: dict[str, Any] = {"Effect": Allow, "Action": actions, "Resource": list(g.resources)}
    if g.conditions:
        kwargs["Condition"] = Condition(**g.conditions) if not isinstance(g.conditions, Condition) else g.conditions
    if g.sid:
        kwargs["Sid"] = g.sid
    return Statement(**kwargs)


def policy_document(grants: list[Grant]) -> PolicyDocument:
    """An identity policy granting exactly `grants`."""
    return PolicyDocument(Version="2012-10-17", Statement=[_statement(g) for g in grants])


# Services whose documentation names aws:SourceAccount and aws:SourceArn for
# the role they assume (confused-deputy protection), with the ARN of what may
# act for this account: VPC flow logs, ECS tasks, RDS enhanced monitoring.
# Lambda's and EC2's documentation names no such keys for execution and
# instance roles, so their trust stays the service principal alone.
SOURCE_ARNS = {
    "vpc-flow-logs.amazonaws.com": "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-flow-log/*",
    "ecs-tasks.amazonaws.com": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*",
    "monitoring.rds.amazonaws.com": "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:*",
}


def assume_role_document(service: str, source_account: bool = False) -> PolicyDocument:
    """Trust policy letting one AWS service principal (e.g. "lambda.amazonaws.com")
    assume the role; for the services in SOURCE_ARNS only on behalf of this
    account's own resources. `source_account`: for another service acting for
    many customers (Service Catalog), at least only on behalf of this account
    (`aws:SourceAccount`)."""
    statement: dict[str, Any] = {"Effect": Allow, "Action": [AssumeRole], "Principal": Principal("Service", [service])}
    if service in SOURCE_ARNS:
        statement["Condition"] = Condition([
            StringEquals("aws:SourceAccount", Ref("AWS::AccountId")),
            ArnLike("aws:SourceArn", Sub(SOURCE_ARNS[service])),
        ])
    elif source_account:
        statement["Condition"] = Condition(StringEquals("aws:SourceAccount", Ref("AWS::AccountId")))
    return PolicyDocument(Version="2012-10-17", Statement=[Statement(**statement)])


def service_role(
    template: Template,
    title: str,
    service: str,
    grants: list[Grant] = (),  # type: ignore[assignment]
    managed_policy_arns: list[Any] = (),  # type: ignore[assignment]
    policy_name: str = "least-privilege",
    source_account: bool = False,
) -> iam.Role:
    """A role `service` may assume, with `grants` as one inline policy and
    optional AWS managed policies (ARNs built with `${AWS::Partition}` by the
    caller). `source_account`: see `assume_role_document`."""
    kwargs: dict[str, Any] = {"AssumeRolePolicyDocument": assume_role_document(service, source_account)}
    if grants:
        kwargs["Policies"] = [iam.Policy(PolicyName=policy_name, PolicyDocument=policy_document(list(grants)))]
    if managed_policy_arns:
        kwargs["ManagedPolicyArns"] = list(managed_policy_arns)
    role = template.add_resource(iam.Role(title, **kwargs))
    reasons = [{"Actions": list(g.actions), "Reason": g.wildcard_reason} for g in grants if "*" in g.resources]
    if reasons:
        role.Metadata = {**(getattr(role, "Metadata", {}) or {}), "WildcardResources": reasons}
    return role


def resource_policy(statements: list[tuple[Any, Grant]], deny: list[tuple[Any, Grant]] = ()) -> PolicyDocument:  # type: ignore[assignment]
    """A resource policy (queue, topic, key, file system): each `(principal, grant)`
    lets an awacs `Principal` do `grant`; `deny` statements come after, for
    guards such as "never without TLS". A "*" resource needs the grant's
    wildcard_reason as everywhere else (in a key policy "*" means "this key")."""
    def statement(principal: Any, g: Grant, effect: Any) -> Statement:
        return Statement(**{**_statement(g).properties, "Effect": effect, "Principal": principal})

    return PolicyDocument(
        Version="2012-10-17",
        Statement=[statement(p, g, Allow) for p, g in statements] + [statement(p, g, Deny) for p, g in deny],
    )


def deny_without_tls(service: str, resources: list[Any]) -> tuple[Principal, Grant]:
    """For a resource policy's `deny` list: any `service` request to
    `resources` that does not use TLS is refused, whoever makes it."""
    return Principal("*"), grant(
        [f"{service}:*"], resources, conditions=Condition(Bool("aws:SecureTransport", "false")), sid="DenyWithoutTls",
    )


def deny_s3_without_tls(bucket_arn: Any, objects_arn: Any) -> tuple[Principal, Grant]:
    """For a bucket policy's `deny` list: the bucket and its objects only over TLS."""
    return deny_without_tls("s3", [bucket_arn, objects_arn])


def queue_policy(template: Template, title: str, queue: Any, senders: list[tuple[Any, Grant]] = ()) -> sqs.QueuePolicy:  # type: ignore[assignment]
    """The one policy of a queue: `senders` (principal, grant) allowed, and
    every request without TLS denied (SQS, like S3, accepts plain HTTP
    otherwise)."""
    return template.add_resource(sqs.QueuePolicy(
        title, Queues=[Ref(queue)],
        PolicyDocument=resource_policy(list(senders), deny=[deny_without_tls("sqs", [GetAtt(queue, "Arn")])]),
    ))
