"""Bad catalog settings: each one clear `file:line field: message`, exit 1,
and nothing written to out/."""

from __future__ import annotations

import datetime

import pytest

from generator import catalog_history_file
from generator.build import versions
from generator.cli import main
from tests.helpers import write_params

BASE = """\
project: demo
environment: dev
region: eu-west-1
network:
  enabled: true
security:
  enabled: true
storage:
  enabled: true
messaging:
  enabled: true
catalog:
  enabled: true
{catalog}"""

PUBLISHED = versions.History(environment="dev", products={"network": [
    versions.Version(name=name, sha256=c * 64, date=datetime.date(2025, 6, 2),
                     url=f"https://b.s3.eu-west-1.amazonaws.com/dev/catalog/network-{c * 64}.json")
    for name, c in (("1.0.0", "a"), ("1.0.1", "b"))
]})

# (catalog block, the line's marker, field, message fragment)
CASES = {
    "unknown layer": ("  products:\n    network: {}\n    netwerk: {}\n", "netwerk", "catalog.products.netwerk",
                      "unknown layer (layers: network, security"),
    "layer not enabled": ("  products:\n    network: {}\n    database: {}\n", "database", "catalog.products.database",
                          "the database layer is not enabled in this environment"),
    "no products": ("  description: nothing yet\n", "catalog:", "catalog",
                    "catalog.enabled needs at least one layer in catalog.products"),
    "malformed principal": ("  products: [network]\n  principals:\n    - arn:aws:iam::12345:role/x\n", "12345",
                            "catalog.principals.0", "is not an IAM role, user or group ARN"),
    "pattern typed as IAM": ("  products: [network]\n  principals:\n    - {arn: 'arn:aws:iam:::role/team-*', type: IAM}\n",
                             "team-*", "catalog.principals.0", "has no account id: it is an IAM_PATTERN name"),
    "wildcard outside a pattern": ("  products: [network]\n  principals:\n    - arn:aws:iam::111122223333:role/team-*\n",
                                   "team-*", "catalog.principals.0", "wildcards are for IAM_PATTERN names"),
    "malformed OU id": ("  products: [network]\n  share:\n    organization_nodes: [ou-123]\n", "ou-123",
                        "catalog.share.organization_nodes", "'ou-123' is not an organization id (o-xxxxxxxxxx) or an "
                                                            "organizational unit id (ou-xxxx-xxxxxxxx)"),
    "malformed account id": ("  products: [network]\n  share:\n    accounts: ['12345']\n", "12345",
                             "catalog.share.accounts", "'12345' is not a 12-digit account id"),
    "principals shared without Organizations": ("  products: [network]\n  share:\n    principals: true\n", "share:",
                                                "catalog.share", "shares principals with Organizations recipients only"),
    "principals shared without a pattern": (
        "  products: [network]\n  principals: [role/admin]\n  share:\n    organization_nodes: [o-abcdefghij]\n"
        "    principals: true\n", "catalog:", "catalog", "only IAM_PATTERN names mean something in another account"),
    "bad tag key": ("  products: [network]\n  tag_options:\n    'aws:team': [a]\n", "tag_options", "catalog.tag_options",
                    "'aws:team' is not a tag key"),
    "bad version name": ("  products:\n    network: {version: latest}\n", "version: latest", "catalog.products.network.version",
                         "'latest' is not a version name like 1.4.2"),
    "deprecate and remove one version": ("  products:\n    network: {deprecate: [1.0.0], remove: [1.0.0]}\n",
                                         "network: {", "catalog.products.network", "1.0.0 listed in both deprecate and remove"),
    "unknown version deprecated": ("  products:\n    network:\n      deprecate: [1.0.0, 0.9.0]\n", "deprecate",
                                   "catalog.products.network.deprecate.1",
                                   "0.9.0 is not a published version of network (published: 1.0.0, 1.0.1)"),
    "nothing published yet": ("  products:\n    network: {}\n    storage:\n      remove: [1.0.0]\n", "remove",
                              "catalog.products.storage.remove.0", "1.0.0 is not a published version of storage "
                                                                   "(nothing is published yet)"),
    "allowed values of a parameter the product lacks": (
        "  products:\n    network: {}\n    storage:\n      allowed_values:\n        InstanceType: [t3.micro]\n",
        "InstanceType", "catalog.products.storage.allowed_values.InstanceType", "not a parameter of the storage product"),
    "Lambda code without a named bucket": ("  products: [network, messaging]\n", "products:", "catalog.products.messaging",
                                           "runs Lambda code that launching accounts read from the template bucket"),
}


def _line(text: str, marker: str) -> int:
    return text[:text.index(marker)].count("\n") + 1


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_catalog_settings_name_file_line_field_and_write_nothing(tmp_path, capsys, case):
    block, marker, field, fragment = CASES[case]
    text = BASE.format(catalog=block)
    param_file = write_params(tmp_path, text)
    versions.save(catalog_history_file(param_file), PUBLISHED)
    out = tmp_path / "out"
    code = main(["build", "--env", "dev", "--params-dir", str(param_file.parent), "--out", str(out)])
    assert code == 1
    error = capsys.readouterr().err
    lines = error.strip().splitlines()
    assert lines[0] == "strata build: failed" and len(lines) == 2, error
    assert lines[1].startswith(f"{param_file}:{_line(text, marker)} {field}: "), error
    assert fragment in lines[1], error
    assert not (out / "dev").exists()


def test_a_layer_whose_records_name_the_domain_is_refused_as_a_product(tmp_path):
    from generator.build.config import ConfigError, load_config

    text = BASE.format(catalog="  products: [network, web]\n").replace(
        "storage:\n  enabled: true\n", "dns:\n  enabled: true\n  domain: example.com\nweb:\n  enabled: true\n")
    with pytest.raises(ConfigError, match=r"dev.yaml:\d+ catalog.products.web: the web layer creates records under "
                                          r"example.com \(app.example.com\), which a launching team's account does not own"):
        load_config(write_params(tmp_path, text))


def test_a_bad_stackset_target_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["publish", "--env", "prod", "--launch-role-stackset", "ou-nope"])
    assert exit_.value.code == 2
    assert "'ou-nope' is not an organizational unit id (ou-xxxx-xxxxxxxx) or a root id (r-xxxx)" in capsys.readouterr().err
