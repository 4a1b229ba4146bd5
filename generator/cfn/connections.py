"""The app tier's connection settings: one naming convention, written down once.

A data layer publishes what a client needs as Outputs (`DatabaseWriterEndpoint`,
`QueueUrl`, ...). The app tier (Fargate tasks, EC2 instances) declares a
Parameter of the same name, which compose feeds from that Output, and hands
the value to the application as an environment variable named here
(`DATABASE_HOST`, `QUEUE_URL`, ...). The containers layer, the compute
layer (its Parameter Store entries and the environment file its user data
writes) and the README's table all read this module, so a name is spelled
in one place.

A *secret* setting's Output is a Secrets Manager ARN. Fargate injects the
secret's value as `variable` (through the task definition's `secrets`) and
both tiers get the ARN as `<variable>_ARN`, so an application can read the
secret again after a rotation; instances get only the ARN, never a secret
value on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.cfn.naming import logical_id

# Where the compute layer writes the settings, as NAME=value lines, for
# `EnvironmentFile=` in a systemd unit or `docker run --env-file`.
ENV_FILE = "/etc/strata/app.env"
# The Parameter Store branch under /<project>/<environment>/ that holds them.
SETTINGS_BRANCH = "app"


@dataclass(frozen=True)
class Connection:
    """One setting: the producing `layer`'s Output `output` reaches the
    application as the variable `variable`."""

    output: str
    variable: str
    layer: str
    description: str
    secret: bool = False
    """The Output is a Secrets Manager ARN: Fargate receives the secret's value as `variable`."""
    feature: str = ""
    """A part of the layer that must be on besides the layer itself (e.g. `cluster` of cache)."""

    @property
    def arn_variable(self) -> str:
        """The variable carrying the secret's ARN (secret settings only)."""
        return f"{self.variable}_ARN"

    def variables(self) -> list[str]:
        """Every variable this setting fills, in either tier."""
        return [self.variable, self.arn_variable] if self.secret else [self.variable]


CONNECTIONS: tuple[Connection, ...] = (
    Connection("DatabaseWriterEndpoint", "DATABASE_HOST", "database", "Aurora cluster endpoint: always the writer"),
    Connection("DatabaseReaderEndpoint", "DATABASE_READER_HOST", "database",
               "Aurora reader endpoint: balanced over the readers (the writer when there is none)"),
    Connection("DatabasePort", "DATABASE_PORT", "database", "Port of both endpoints"),
    Connection("DatabaseName", "DATABASE_NAME", "database", "Database created in the cluster"),
    Connection("DatabaseSecretArn", "DATABASE_SECRET", "database",
               "JSON with `username` and `password` only (the RDS-managed secret, rotated by RDS)", secret=True),
    Connection("CachePrimaryEndpoint", "CACHE_HOST", "cache", "Valkey/Redis primary endpoint (writes; TLS only)",
               feature="cluster"),
    Connection("CacheReaderEndpoint", "CACHE_READER_HOST", "cache", "Reader endpoint, balanced over the replicas",
               feature="cluster"),
    Connection("CachePort", "CACHE_PORT", "cache", "Port of both cache endpoints", feature="cluster"),
    Connection("CacheAuthTokenSecretArn", "CACHE_AUTH_TOKEN", "cache",
               "The AUTH token the client sends after connecting over TLS", secret=True, feature="cluster"),
    Connection("QueueUrl", "QUEUE_URL", "messaging", "SQS queue the topic delivers to"),
    Connection("TopicArn", "TOPIC_ARN", "messaging", "SNS topic to publish to"),
    Connection("StaticBucketName", "STATIC_BUCKET", "static", "S3 bucket behind CloudFront (upload the site's files here)"),
    Connection("DistributionDomainName", "STATIC_DOMAIN", "static", "CloudFront's own name (*.cloudfront.net)"),
    Connection("FileSystemId", "FILE_SYSTEM_ID", "storage", "EFS file system (mounted for the application)"),
    Connection("AccessPointId", "FILE_SYSTEM_ACCESS_POINT_ID", "storage", "EFS access point the application mounts through"),
)

# DynamoDB tables are named in the parameter file (cache.tables); each one
# gets its own setting, built by `table_connection`.
TABLE_OUTPUT = "<Name>TableName"
TABLE_VARIABLE = "TABLE_<NAME>"


def table_connection(name: str) -> Connection:
    """The setting of DynamoDB table `name` (`user-prefs` -> UserPrefsTableName -> TABLE_USER_PREFS);
    the Output is the cache layer's, named `logical_id(name, "table", "name")` there too."""
    variable = "TABLE_" + name.upper().replace("-", "_")
    return Connection(logical_id(name, "table", "name"), variable, "cache", f"DynamoDB table '{name}'", feature="tables")


def for_layers(enabled: dict[str, bool], tables: list[str]) -> list[Connection]:
    """The settings whose producer is on: `enabled` maps a layer name (or
    `layer.feature`, e.g. `cache.cluster`) to whether it is built, `tables`
    names the DynamoDB tables. A layer that is off contributes nothing."""
    found = [c for c in CONNECTIONS if enabled.get(c.layer) and (not c.feature or enabled.get(f"{c.layer}.{c.feature}"))]
    if enabled.get("cache"):
        found += [table_connection(name) for name in sorted(tables)]
    return found


def reference_table() -> str:
    """Markdown: every variable, its value, and the layer and Output that supply it (for the README)."""
    rows = ["| variable | value | supplied by (Output) | Fargate | instances |", "|---|---|---|---|---|"]
    tables = Connection(TABLE_OUTPUT, TABLE_VARIABLE, "cache",
                        "DynamoDB table name, one per `cache.tables` entry (`user-prefs`: `TABLE_USER_PREFS`)")
    for c in (*CONNECTIONS, tables):
        source = f"{c.layer}{' (' + c.feature + ')' if c.feature else ''}: `{c.output}`"
        if c.secret:
            rows.append(f"| `{c.variable}` | {c.description} | {source} | `secrets` | - (by ARN) |")
            rows.append(f"| `{c.arn_variable}` | ARN of the `{c.variable}` secret, to read it again after a rotation | {source} "
                        "| environment | env file, Parameter Store |")
        else:
            rows.append(f"| `{c.variable}` | {c.description} | {source} | environment | env file, Parameter Store |")
    return "\n".join(rows) + "\n"
