"""`strata publish` against the moto server, with Strata's compatibility layer
(as `--local` runs it): the launch role stack, then the catalog stack, each
through a change set; the version history growing only when a product's
template changes; a declined or refused publish leaving the history as it
was; the command line.

What moto cannot show: its CloudFormation creates no AWS::ServiceCatalog::*
resource (it reports the catalog stack complete and answers its outputs
with a placeholder), and its Service Catalog API has no provisioning
artifacts, SearchProvisionedProducts, UpdatePortfolioShare or
DescribePortfolioShareStatus. Deprecation, the in-use check and share
updates are therefore tested with botocore's Stubber in test_portfolio.py,
with the response shapes of the Service Catalog API reference.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import boto3
import pytest

from generator import catalog_history_file
from generator.cli import main
from generator.deploy import local
from generator.deploy.errors import DeployError, Refused
from generator.deploy.package import ensure_bucket, package
from generator.deploy.publish import Publisher, catalog_stack, launch_role_stack
from generator.deploy.session import Aws
from tests.generator.deploy.deploy_support import REGION, stubbed
from tests.helpers import write_params

pytestmark = pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
BUCKET = "publish-test-templates"
DAY = datetime.date(2025, 6, 2)
PARAMS = """\
project: demo
environment: dev
region: eu-west-1
network: {enabled: true, cidr: 10.0.0.0/16, az_count: 2, nat: single}
security: {enabled: true}
storage: {enabled: true, transition_to_ia_days: 30}
catalog:
  enabled: true
  products:
    network: {}
    security: {}
    storage: {}
  principals: [arn:aws:iam:::role/team-*]
"""


@pytest.fixture
def endpoint(aws):
    with local.compat():
        yield aws


def _publisher(endpoint: str, tmp_path: Path, text: str, lines: list[str], approve=lambda plan: True) -> Publisher:
    from generator.build.config import load_config

    param_file = write_params(tmp_path, text)
    env = load_config(param_file)
    return Publisher(env, Aws(REGION, endpoint_url=endpoint, poll=0), param_file, tmp_path / "out",
                     echo=lines.append, approve=approve, date=lambda: DAY)


def _publish(publisher: Publisher, **kwargs):
    from generator.build.pipeline import build_envs

    build_envs([publisher.param_file], publisher.out_root)
    s3 = publisher.aws.client("s3")
    ensure_bucket(s3, BUCKET, REGION, tls_only=False)
    return publisher.publish(lambda: package(s3, publisher.out_dir, BUCKET, "dev/", REGION), **kwargs)


def _history(publisher: Publisher) -> dict[str, list[str]]:
    return {layer: [v.name for v in vs] for layer, vs in publisher.history().products.items()}


def test_publish_deploys_the_launch_role_then_the_catalog_and_records_each_version(endpoint, tmp_path):
    lines: list[str] = []
    publisher = _publisher(endpoint, tmp_path, PARAMS, lines)
    state = _publish(publisher)
    assert _history(publisher) == {"network": ["1.0.0"], "security": ["1.0.0"], "storage": ["1.0.0"]}
    recorded = publisher.history().products["storage"][0]
    assert recorded.date == DAY
    assert recorded.url == f"https://{BUCKET}.s3.{REGION}.amazonaws.com/dev/catalog/storage-{recorded.sha256}.json"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    assert s3.get_object(Bucket=BUCKET, Key=f"dev/catalog/storage-{recorded.sha256}.json")["Body"].read() == \
        (tmp_path / "out" / "dev" / "catalog" / "storage.json").read_bytes()

    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    stacks = {s["StackName"]: s["StackStatus"] for s in cfn.describe_stacks()["Stacks"]}
    assert stacks == {launch_role_stack(publisher.env): "CREATE_COMPLETE", catalog_stack(publisher.env): "CREATE_COMPLETE"}
    role = boto3.client("iam", endpoint_url=endpoint, region_name=REGION).get_role(RoleName="demo-dev-catalog-launch")["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["servicecatalog.amazonaws.com"]}
    # the catalog stack's template lists the recorded versions at their URLs
    body = cfn.get_template(StackName=catalog_stack(publisher.env))["TemplateBody"]
    body = json.loads(body) if isinstance(body, str) else body
    artifact = body["Resources"]["StorageProduct"]["Properties"]["ProvisioningArtifactParameters"][0]
    assert artifact["Name"] == "1.0.0" and recorded.sha256 in json.dumps(artifact)
    assert not state.created  # moto's CloudFormation made no portfolio
    assert state.lines()[0] == f"demo-dev-catalog ({REGION}): portfolio {local.NOT_EMULATED}"
    assert any(line.startswith("  storage") and "current 1.0.0  kept 1.0.0" in line for line in state.lines())


def test_publishing_again_adds_nothing_and_a_changed_layer_adds_one_version_to_its_product(endpoint, tmp_path):
    lines: list[str] = []
    _publish(_publisher(endpoint, tmp_path, PARAMS, lines))
    before = catalog_history_file(tmp_path / "parameters" / "dev.yaml").read_text()
    lines.clear()
    _publish(_publisher(endpoint, tmp_path, PARAMS, lines))
    assert "no product template changed since its latest version: no new version" in lines
    assert catalog_history_file(tmp_path / "parameters" / "dev.yaml").read_text() == before
    publisher = _publisher(endpoint, tmp_path, PARAMS.replace("transition_to_ia_days: 30", "transition_to_ia_days: 60"), lines)
    _publish(publisher, part="minor")
    assert _history(publisher) == {"network": ["1.0.0"], "security": ["1.0.0"], "storage": ["1.0.0", "1.1.0"]}
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    assert cfn.describe_stacks(StackName="demo-dev-catalog")["Stacks"][0]["StackStatus"] == "UPDATE_COMPLETE"


def test_a_declined_publish_records_nothing(endpoint, tmp_path):
    lines: list[str] = []
    publisher = _publisher(endpoint, tmp_path, PARAMS, lines, approve=lambda plan: plan.stack_name != "demo-dev-catalog")
    with pytest.raises(DeployError, match="not approved: demo-dev-catalog was not changed"):
        _publish(publisher)
    assert not publisher.history_file.exists()
    assert f"{publisher.history_file} left as it was: nothing was published" in lines
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    assert [s["StackName"] for s in cfn.describe_stacks()["Stacks"]] == ["demo-dev-catalog-launch-role"]


def test_a_version_still_in_use_is_not_removed(endpoint, tmp_path, monkeypatch):
    """The catalog stack is real (moto); its product ids, which moto's
    CloudFormation cannot produce, are the ones Service Catalog would give,
    and Service Catalog itself is botocore's Stubber answering with the API
    reference's shapes: version 1.0.0 of network still runs a provisioned product."""
    lines: list[str] = []
    _publish(_publisher(endpoint, tmp_path, PARAMS, lines))
    changed = PARAMS.replace("cidr: 10.0.0.0/16", "cidr: 10.1.0.0/16")
    _publish(_publisher(endpoint, tmp_path, changed, lines))
    removing = _publisher(endpoint, tmp_path, changed.replace("    network: {}\n", "    network: {remove: [1.0.0]}\n"), lines)
    history_before = removing.history_file.read_text()
    monkeypatch.setattr(Publisher, "_outputs", lambda self: {"PortfolioId": "port-abcdefghijklm",
                                                            "NetworkProductId": "prod-networkabcdef"})
    sc, stub = stubbed("servicecatalog")
    stub.add_response("list_provisioning_artifacts", {"ProvisioningArtifactDetails": [
        {"Id": "pa-old0000000001", "Name": "1.0.0", "Type": "CLOUD_FORMATION_TEMPLATE", "Active": True, "Guidance": "DEFAULT",
         "CreatedTime": datetime.datetime(2025, 6, 2)},
        {"Id": "pa-new0000000002", "Name": "1.0.1", "Type": "CLOUD_FORMATION_TEMPLATE", "Active": True, "Guidance": "DEFAULT",
         "CreatedTime": datetime.datetime(2025, 6, 3)},
    ]}, {"ProductId": "prod-networkabcdef"})
    stub.add_response("search_provisioned_products", {"ProvisionedProducts": [
        {"Name": "team-a-vpc", "Id": "pp-teama0000001", "Type": "CFN_STACK", "Status": "AVAILABLE",
         "ProductId": "prod-networkabcdef", "ProvisioningArtifactId": "pa-old0000000001"},
    ], "TotalResultsCount": 1}, {"AccessLevelFilter": {"Key": "Account", "Value": "self"},
                                 "Filters": {"SearchQuery": ["productId:prod-networkabcdef"]}, "PageSize": 100})
    original = Aws.client
    monkeypatch.setattr(Aws, "client", lambda self, service, region=None: sc if service == "servicecatalog"
                        else original(self, service, region))
    with pytest.raises(Refused, match=r"network 1.0.0: provisioned product team-a-vpc \(pp-teama0000001, AVAILABLE\)"):
        _publish(removing)
    stub.assert_no_pending_responses()
    assert removing.history_file.read_text() == history_before
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    pending = [c for c in cfn.list_change_sets(StackName="demo-dev-catalog")["Summaries"]
               if c["StackName"] == "demo-dev-catalog" and c.get("ExecutionStatus") == "AVAILABLE"]
    assert pending == []  # the reviewed change set was discarded, not left to run
    template = cfn.get_template(StackName="demo-dev-catalog")["TemplateBody"]
    assert "1.0.0" in json.dumps(template)  # the version is still listed


# --- the command line --------------------------------------------------------------------------

def _cli(tmp_path: Path, endpoint: str, *args: str) -> int:
    return main([*args, "--env", "dev", "--params-dir", str(tmp_path / "parameters"), "--out", str(tmp_path / "out"),
                 "--endpoint-url", endpoint])


def test_strata_publish_then_strata_catalog(endpoint, tmp_path, capsys):
    write_params(tmp_path, PARAMS)
    assert _cli(tmp_path, endpoint, "publish", "--yes", "--bucket", BUCKET) == 1  # a named bucket must exist
    assert f"bucket {BUCKET} does not exist" in capsys.readouterr().err
    assert _cli(tmp_path, endpoint, "publish", "--yes") == 0
    out = capsys.readouterr().out
    assert "network: new version 1.0.0" in out and "demo-dev-catalog: CREATE_COMPLETE" in out
    assert out.splitlines()[-1].startswith("  storage") and "current 1.0.0" in out.splitlines()[-1]
    assert _cli(tmp_path, endpoint, "catalog") == 0
    listing = capsys.readouterr().out
    assert "history (dev):" in listing and "  storage    1.0.0    " in listing
    assert _cli(tmp_path, endpoint, "catalog", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["history"]["network"][0]["name"] == "1.0.0" and document["stack"] == "demo-dev-catalog"


def test_publish_without_a_catalog_says_how_to_turn_it_on(endpoint, tmp_path, capsys):
    write_params(tmp_path, PARAMS.split("catalog:")[0])
    assert _cli(tmp_path, endpoint, "publish", "--yes") == 1
    assert "the catalog is not enabled (set catalog.enabled: true" in capsys.readouterr().err


def test_products_with_lambda_code_are_published_where_their_templates_read_it(endpoint, tmp_path):
    text = PARAMS.replace("storage: {enabled: true, transition_to_ia_days: 30}\n",
                          "storage: {enabled: true}\nmessaging: {enabled: true}\ndeploy: {bucket: code-bucket}\n")
    text = text.replace("    storage: {}\n", "    messaging: {}\n")
    publisher = _publisher(endpoint, tmp_path, text, [])
    with pytest.raises(DeployError, match=r"messaging read their Lambda code from s3://code-bucket/dev/ .*but this "
                                          rf"publish uploads to s3://{BUCKET}/dev/"):
        _publish(publisher)
    assert not publisher.history_file.exists()
