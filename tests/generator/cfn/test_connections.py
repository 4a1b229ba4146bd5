"""The one naming convention of the app tier's connection settings."""

from __future__ import annotations

from generator.cfn import connections
from generator.cfn.connections import CONNECTIONS, table_connection
from templates import cache, database, messaging, static, storage
from tests.helpers import make_env, render


def test_the_documented_names_map_the_data_layers_outputs():
    by_variable = {c.variable: (c.layer, c.output) for c in CONNECTIONS}
    assert by_variable == {
        "DATABASE_HOST": ("database", "DatabaseWriterEndpoint"),
        "DATABASE_READER_HOST": ("database", "DatabaseReaderEndpoint"),
        "DATABASE_PORT": ("database", "DatabasePort"),
        "DATABASE_NAME": ("database", "DatabaseName"),
        "DATABASE_SECRET": ("database", "DatabaseSecretArn"),
        "CACHE_HOST": ("cache", "CachePrimaryEndpoint"),
        "CACHE_READER_HOST": ("cache", "CacheReaderEndpoint"),
        "CACHE_PORT": ("cache", "CachePort"),
        "CACHE_AUTH_TOKEN": ("cache", "CacheAuthTokenSecretArn"),
        "QUEUE_URL": ("messaging", "QueueUrl"),
        "TOPIC_ARN": ("messaging", "TopicArn"),
        "STATIC_BUCKET": ("static", "StaticBucketName"),
        "STATIC_DOMAIN": ("static", "DistributionDomainName"),
        "FILE_SYSTEM_ID": ("storage", "FileSystemId"),
        "FILE_SYSTEM_ACCESS_POINT_ID": ("storage", "AccessPointId"),
    }
    assert {c.variable for c in CONNECTIONS if c.secret} == {"DATABASE_SECRET", "CACHE_AUTH_TOKEN"}
    assert [c.arn_variable for c in CONNECTIONS if c.secret] == ["DATABASE_SECRET_ARN", "CACHE_AUTH_TOKEN_ARN"]


def test_every_named_output_is_one_its_layer_really_produces():
    env = make_env(database={"enabled": True}, cache={"enabled": True, "tables": {"user-prefs": {"partition_key": {"name": "id"}}}},
                   messaging={"enabled": True}, static={"enabled": True}, storage={"enabled": True})
    produced = {layer.NAME: set(render(layer.build(env))["Outputs"]) for layer in (database, cache, messaging, static, storage)}
    for c in CONNECTIONS:
        assert c.output in produced[c.layer], c
    assert table_connection("user-prefs").output in produced["cache"]
    assert table_connection("user-prefs").variable == "TABLE_USER_PREFS"


def test_a_layer_that_is_off_contributes_nothing():
    on = {"database": True, "cache": True, "cache.cluster": False, "cache.tables": True, "messaging": False}
    found = connections.for_layers(on, ["sessions"])
    assert {c.layer for c in found} == {"database", "cache"}
    assert [c.variable for c in found if c.layer == "cache"] == ["TABLE_SESSIONS"]
    assert connections.for_layers({}, ["sessions"]) == []


def test_the_readme_table_lists_every_variable():
    table = connections.reference_table()
    for c in CONNECTIONS:
        for variable in c.variables():
            assert f"| `{variable}` |" in table
    assert "| `TABLE_<NAME>` |" in table
