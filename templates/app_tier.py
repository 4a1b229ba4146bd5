"""What the two application tiers share: the compute layer's instances and the
containers layer's Fargate tasks both reach the data tier the same way.

- **Settings**: for every data layer that is on, a Parameter per connection
  Output (named as `generator.cfn.connections` says), fed by compose from
  that layer; a layer that is off adds nothing. Which layers are on is known
  when the template is built, so there are no conditions: a standalone
  template asks for exactly the settings of the environment it was built for.
- **Rights that follow the wiring**: the grants a tier's role gets for the
  resources it was handed, each on exact ARNs taken from the producing
  layer's Outputs.
- **Role grants from the parameter file** (`containers.task_role_grants`,
  `compute.instance_role_grants`): one shape, `RoleGrant`.

Not a layer: nothing here is built on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from awacs.aws import Condition, StringEquals
from pydantic import field_validator, model_validator
from troposphere import Parameter, Ref, Sub, Template

from generator.cfn import connections
from generator.cfn.connections import Connection
from generator.cfn.iam import Grant, grant
from generator.cfn.naming import logical_id
from generator.cfn.resources import parameter
from generator.cfn.sections import Section

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
_MOUNT_PATH = re.compile(r"^(/[A-Za-z0-9._-]+)+$")
MOUNT_PATH = "/mnt/shared"
TABLE_ACTIONS = (
    "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem",
    "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan",
    "dynamodb:UpdateItem",
)
QUEUE_ACTIONS = (
    "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage",
)
# What a client needs of a customer managed key to read and write data it protects,
# and only through the services that hold the data (the keys' own policies say the same).
KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")


def use_key_via(key: Ref, sid: str, *services: str) -> Grant:
    via = [Sub(f"{service}.${{AWS::Region}}.amazonaws.com") for service in services]
    return grant(list(KEY_ACTIONS), [key], sid=sid, conditions=Condition(StringEquals("kms:ViaService", via)))


class RoleGrant(Section):
    actions: list[str]
    """IAM actions the application may call, e.g. [s3:GetObject]."""
    resources: list[str]
    """Exact ARNs (pseudo parameters like ${AWS::AccountId} allowed). '*' needs wildcard_reason."""
    wildcard_reason: str = ""
    """Why '*' is needed (some actions have no resource-level permissions); written into the role's Metadata."""

    @field_validator("actions")
    @classmethod
    def _actions(cls, actions: list[str]) -> list[str]:
        bad = [a for a in actions if not _ACTION.match(a)]
        if bad or not actions:
            raise ValueError(f"need service:Action names like s3:GetObject (bad: {', '.join(bad) or 'none given'})")
        return actions

    @model_validator(mode="after")
    def _wildcard(self) -> RoleGrant:
        if not self.resources:
            raise ValueError("resources must list at least one ARN")
        if "*" in self.resources and not self.wildcard_reason.strip():
            raise ValueError("a '*' resource needs wildcard_reason")
        return self


def check_mount_path(path: str) -> str:
    """A mount path for the storage layer's file system: absolute, plain characters, not a system directory."""
    if not _MOUNT_PATH.match(path):
        raise ValueError("must be an absolute path like /mnt/shared (letters, digits, '.', '_', '-')")
    if path.split("/")[1] in ("bin", "boot", "dev", "etc", "lib", "lib64", "proc", "run", "sbin", "sys", "tmp", "usr"):
        raise ValueError(f"{path} would hide a system directory; mount under /mnt, /srv or /data")
    return path


def pseudo_arn(value: str) -> Sub | str:
    """An ARN from the parameter file: substituted when it uses pseudo parameters."""
    return Sub(value) if "${" in value else value


def role_grant(g: RoleGrant) -> Grant:
    return grant(g.actions, [pseudo_arn(r) for r in g.resources], wildcard_reason=g.wildcard_reason)


# -- settings -------------------------------------------------------------------------------------


def enabled_connections(env: EnvConfig) -> list[Connection]:
    """The connection settings of every data layer this environment builds."""
    cache = env.cache
    return connections.for_layers({
        "database": env.database.enabled,
        "cache": cache.enabled, "cache.cluster": cache.enabled and cache.cluster.enabled,
        "cache.tables": cache.enabled and bool(cache.tables),
        "messaging": env.messaging.enabled,
        "static": env.static.enabled,
        "storage": env.storage.enabled,
    }, list(cache.tables) if cache.enabled else [])


def reserved_variables(env: EnvConfig) -> set[str]:
    """Variable names the wiring fills in this environment (the parameter file may not define them again)."""
    return {name for c in enabled_connections(env) for name in c.variables()}


@dataclass(frozen=True)
class Setting:
    """One variable the application receives: `value` is a Ref to the Parameter fed by the producer."""

    variable: str
    value: Any
    connection: Connection
    secret_value: bool = False
    """True for the Fargate-only variable carrying a secret's value (its `value` is the secret's ARN)."""


def _input(t: Template, name: str, what: str, layer: str) -> Parameter:
    return parameter(t, name, "String", f"{what} (the {layer} layer's {name} output)", MinLength=1)


def settings(t: Template, env: EnvConfig) -> list[Setting]:
    """Declare the Parameter of every enabled connection and return the
    variables they fill: plain settings, and for a secret its `_ARN`
    variable plus the secret-value variable (for Fargate's `secrets`)."""
    found = []
    for c in enabled_connections(env):
        value = Ref(_input(t, c.output, c.description, c.layer))
        if c.secret:
            found.append(Setting(c.arn_variable, value, c))
            found.append(Setting(c.variable, value, c, secret_value=True))
        else:
            found.append(Setting(c.variable, value, c))
    return found


# -- rights ---------------------------------------------------------------------------------------


def secret_arns(t: Template, env: EnvConfig) -> list[Ref]:
    """The Secrets Manager ARNs the wiring hands the tier (database credentials, cache token)."""
    return [Ref(_input(t, c.output, c.description, c.layer)) for c in enabled_connections(env) if c.secret]


def cache_key_arn(t: Template) -> Ref:
    return Ref(_input(t, "CacheKeyArn", "KMS key of the cache token and tables", "cache"))


def cache_key(t: Template, env: EnvConfig) -> list[Grant]:
    """Decrypt and data keys of the cache layer's key, which encrypts its token and tables."""
    if not (env.cache.enabled and (env.cache.cluster.enabled or env.cache.tables)):
        return []
    return [use_key_via(cache_key_arn(t), "UseCacheKey", "dynamodb", "secretsmanager")]


def wired_grants(t: Template, env: EnvConfig, static_write: bool) -> list[Grant]:
    """What the application's own role (task role, instance role) needs for
    the resources the wiring hands it, on exactly their ARNs."""
    grants = []
    secrets = secret_arns(t, env)
    if secrets:
        grants.append(grant(["secretsmanager:GetSecretValue"], secrets, sid="ReadSecrets"))
    grants += cache_key(t, env)
    tables = [Ref(_input(t, logical_id(name, "table", "arn"), f"ARN of DynamoDB table '{name}'", "cache"))
              for name in sorted(env.cache.tables)] if env.cache.enabled else []
    if tables:
        grants.append(grant(list(TABLE_ACTIONS), tables, sid="ReadWriteTables"))
    if env.messaging.enabled:
        queue = _input(t, "QueueArn", "SQS queue the topic delivers to", "messaging")
        topic = _input(t, "TopicArn", "SNS topic to publish to", "messaging")
        key = _input(t, "MessagingKeyArn", "KMS key of the topic and queue", "messaging")
        grants += [
            grant(list(QUEUE_ACTIONS), [Ref(queue)], sid="UseQueue"),
            grant(["sns:Publish"], [Ref(topic)], sid="PublishToTopic"),
            use_key_via(Ref(key), "UseMessagingKey", "sns", "sqs"),
        ]
    if env.static.enabled and static_write:
        bucket = _input(t, "StaticBucketArn", "ARN of the site's bucket", "static")
        grants += [
            grant(["s3:ListBucket"], [Ref(bucket)], sid="ListStaticBucket"),
            grant(["s3:DeleteObject", "s3:GetObject", "s3:PutObject"], [Sub("${StaticBucketArn}/*")], sid="WriteStaticBucket"),
        ]
    if env.storage.enabled:
        grants.append(file_system_grant(t))
    return grants


def file_system_grant(t: Template) -> Grant:
    """NFS mount and write as this role, through the storage layer's access
    point only: the access point pins the POSIX user and the directory, so
    the application never needs root (`ClientRootAccess`) on the file system."""
    file_system = _input(t, "FileSystemArn", "EFS file system ARN", "storage")
    access_point = _input(t, "AccessPointArn", "EFS access point ARN", "storage")
    return grant(["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"], [Ref(file_system)],
                 sid="MountFileSystem",
                 conditions=Condition(StringEquals("elasticfilesystem:AccessPointArn", Ref(access_point))))
