"""Service Catalog calls `strata publish` makes after the stack update, and
the launch role's StackSet.

moto's Service Catalog has portfolios and Organizations shares (create,
describe for the organization, delete), which the share tests use; it has no
provisioning artifacts, SearchProvisionedProducts, UpdatePortfolioShare or
DescribePortfolioShareStatus, so those are botocore's Stubber with the
response shapes of the Service Catalog API reference. StackSets run on moto,
with an organization moto's Organizations API creates."""

from __future__ import annotations

import datetime
import json

import boto3
import pytest

from generator.deploy import portfolio, stackset
from generator.deploy.errors import DeployError, Refused
from tests.generator.deploy.deploy_support import REGION, stubbed

PRODUCT = "prod-abcdefghijklm"
PORTFOLIO = "port-abcdefghijklm"


def _artifact(artifact_id: str, name: str, guidance: str = "DEFAULT", active: bool = True, day: int = 1) -> dict:
    return {"Id": artifact_id, "Name": name, "Description": f"{name} template", "Type": "CLOUD_FORMATION_TEMPLATE",
            "CreatedTime": datetime.datetime(2025, 6, day), "Active": active, "Guidance": guidance}


def _artifacts(stub, *details: dict) -> None:
    stub.add_response("list_provisioning_artifacts", {"ProvisioningArtifactDetails": list(details)},
                      {"ProductId": PRODUCT})


def _updated(stub, artifact_id: str, guidance: str, active: bool) -> None:
    stub.add_response("update_provisioning_artifact", {
        "ProvisioningArtifactDetail": _artifact(artifact_id, "x", guidance, active), "Info": {}, "Status": "AVAILABLE",
    }, {"ProductId": PRODUCT, "ProvisioningArtifactId": artifact_id, "Guidance": guidance, "Active": active})


def test_a_deprecated_version_is_marked_through_update_provisioning_artifact():
    sc, stub = stubbed("servicecatalog")
    _artifacts(stub, _artifact("pa-1", "1.0.0", day=1), _artifact("pa-2", "1.0.1", day=2), _artifact("pa-3", "1.1.0", day=3))
    _updated(stub, "pa-1", "DEPRECATED", True)
    assert portfolio.apply_guidance(sc, PRODUCT, ["1.0.0"], deactivate=False) == ["1.0.0: deprecated"]
    stub.assert_no_pending_responses()


def test_active_false_only_on_request_and_a_version_no_longer_deprecated_goes_back_to_default():
    sc, stub = stubbed("servicecatalog")
    _artifacts(stub, _artifact("pa-1", "1.0.0", "DEPRECATED", True, 1), _artifact("pa-2", "1.0.1", "DEPRECATED", True, 2),
               _artifact("pa-3", "1.1.0", day=3))
    _updated(stub, "pa-1", "DEPRECATED", False)
    _updated(stub, "pa-2", "DEFAULT", True)
    assert portfolio.apply_guidance(sc, PRODUCT, ["1.0.0"], deactivate=True) == ["1.0.0: deprecated, inactive",
                                                                                "1.0.1: default"]
    stub.assert_no_pending_responses()


def test_versions_already_as_configured_are_left_alone():
    sc, stub = stubbed("servicecatalog")
    _artifacts(stub, _artifact("pa-1", "1.0.0", "DEPRECATED", day=1), _artifact("pa-2", "1.0.1", day=2))
    assert portfolio.apply_guidance(sc, PRODUCT, ["1.0.0"], deactivate=False) == []
    stub.assert_no_pending_responses()


def _search(stub, *provisioned: dict, token: str | None = None, next_token: str | None = None) -> None:
    expected = {"AccessLevelFilter": {"Key": "Account", "Value": "self"},
                "Filters": {"SearchQuery": [f"productId:{PRODUCT}"]}, "PageSize": 100}
    if token:
        expected["PageToken"] = token
    response = {"ProvisionedProducts": list(provisioned), "TotalResultsCount": len(provisioned)}
    if next_token:
        response["NextPageToken"] = next_token
    stub.add_response("search_provisioned_products", response, expected)


def _provisioned(name: str, artifact_id: str) -> dict:
    return {"Name": name, "Arn": f"arn:aws:servicecatalog:{REGION}:111122223333:stack/{name}/pp-{name}",
            "Type": "CFN_STACK", "Id": f"pp-{name}", "Status": "AVAILABLE", "ProductId": PRODUCT,
            "ProvisioningArtifactId": artifact_id}


def test_removing_a_version_a_provisioned_product_runs_is_refused_naming_it():
    sc, stub = stubbed("servicecatalog")
    _artifacts(stub, _artifact("pa-1", "1.0.0", day=1), _artifact("pa-2", "1.0.1", day=2))
    _search(stub, _provisioned("other", "pa-2"), next_token="page2")
    _search(stub, _provisioned("teamvpc", "pa-1"), token="page2")
    with pytest.raises(Refused) as refused:
        portfolio.refuse_removals_in_use(sc, {"network": PRODUCT}, {"network": ["1.0.0"]})
    assert "network 1.0.0: provisioned product teamvpc (pp-teamvpc, AVAILABLE)" in str(refused.value)
    assert "other" not in str(refused.value)
    stub.assert_no_pending_responses()


def test_removing_a_version_nobody_runs_goes_ahead():
    sc, stub = stubbed("servicecatalog")
    _artifacts(stub, _artifact("pa-1", "1.0.0", day=1), _artifact("pa-2", "1.0.1", day=2))
    _search(stub, _provisioned("teamvpc", "pa-2"))
    portfolio.refuse_removals_in_use(sc, {"network": PRODUCT}, {"network": ["1.0.0"]})
    stub.assert_no_pending_responses()


# --- Organizations shares ------------------------------------------------------------------------

def test_organization_shares_follow_the_parameter_file_on_moto(aws):
    sc = boto3.client("servicecatalog", endpoint_url=aws, region_name=REGION)
    portfolio_id = sc.create_portfolio(DisplayName="demo", ProviderName="platform", IdempotencyToken="t1")[
        "PortfolioDetail"]["Id"]
    changes = portfolio.reconcile_shares(sc, portfolio_id, ["o-abcdefghij"], tag_options=True, principals=True)
    assert changes.notes == ["shared with o-abcdefghij"] and len(changes.tokens) == 1
    (detail,) = sc.describe_portfolio_shares(PortfolioId=portfolio_id, Type="ORGANIZATION")["PortfolioShareDetails"]
    assert (detail["PrincipalId"], detail["ShareTagOptions"], detail["SharePrincipals"]) == ("o-abcdefghij", True, True)
    assert portfolio.reconcile_shares(sc, portfolio_id, ["o-abcdefghij"], True, True).notes == []
    removed = portfolio.reconcile_shares(sc, portfolio_id, [], True, True)
    assert removed.notes == ["share with o-abcdefghij removed (no longer in catalog.share.organization_nodes)"]
    assert sc.describe_portfolio_shares(PortfolioId=portfolio_id, Type="ORGANIZATION")["PortfolioShareDetails"] == []


def _shares(stub, kind: str, *details: dict) -> None:
    stub.add_response("describe_portfolio_shares", {"PortfolioShareDetails": list(details)},
                      {"PortfolioId": PORTFOLIO, "Type": kind})


def test_an_ou_share_whose_settings_changed_is_updated():
    sc, stub = stubbed("servicecatalog")
    _shares(stub, "ORGANIZATION")
    _shares(stub, "ORGANIZATIONAL_UNIT", {"PrincipalId": "ou-ab12-cd34ef56", "Type": "ORGANIZATIONAL_UNIT",
                                          "Accepted": True, "ShareTagOptions": False, "SharePrincipals": False})
    stub.add_response("update_portfolio_share", {"PortfolioShareToken": "share-token-1"}, {
        "PortfolioId": PORTFOLIO, "OrganizationNode": {"Type": "ORGANIZATIONAL_UNIT", "Value": "ou-ab12-cd34ef56"},
        "ShareTagOptions": True, "SharePrincipals": False})
    changes = portfolio.reconcile_shares(sc, PORTFOLIO, ["ou-ab12-cd34ef56"], tag_options=True, principals=False)
    assert changes.tokens == [("ou-ab12-cd34ef56", "share-token-1")]
    stub.add_response("describe_portfolio_share_status", {"PortfolioShareToken": "share-token-1",
                                                          "PortfolioId": PORTFOLIO, "OrganizationNodeValue": "ou-ab12-cd34ef56",
                                                          "Status": "IN_PROGRESS"}, {"PortfolioShareToken": "share-token-1"})
    stub.add_response("describe_portfolio_share_status", {"PortfolioShareToken": "share-token-1",
                                                          "PortfolioId": PORTFOLIO, "OrganizationNodeValue": "ou-ab12-cd34ef56",
                                                          "Status": "COMPLETED", "ShareDetails": {"SuccessfulShares": ["111122223333"]}},
                      {"PortfolioShareToken": "share-token-1"})
    assert portfolio.wait_for_shares(sc, changes.tokens, poll=0) == ["share with ou-ab12-cd34ef56: COMPLETED"]
    stub.assert_no_pending_responses()


def test_a_share_that_completes_with_errors_fails_the_publish_naming_the_accounts():
    sc, stub = stubbed("servicecatalog")
    stub.add_response("describe_portfolio_share_status", {
        "PortfolioShareToken": "t", "Status": "COMPLETED_WITH_ERRORS",
        "ShareDetails": {"ShareErrors": [{"Accounts": ["111122223333"], "Message": "m", "Error": "AccessDenied"}]},
    }, {"PortfolioShareToken": "t"})
    with pytest.raises(DeployError, match="share with ou-ab12-cd34ef56: COMPLETED_WITH_ERRORS: AccessDenied 111122223333"):
        portfolio.wait_for_shares(sc, [("ou-ab12-cd34ef56", "t")], poll=0)


def test_organizations_access_not_turned_on_says_how_to_turn_it_on():
    sc, stub = stubbed("servicecatalog")
    _shares(stub, "ORGANIZATION")
    _shares(stub, "ORGANIZATIONAL_UNIT")
    stub.add_client_error("create_portfolio_share", "InvalidStateException",
                          "AWSOrganizationsAccess is not enabled: enable organization access first")
    with pytest.raises(DeployError, match="aws servicecatalog enable-aws-organizations-access"):
        portfolio.reconcile_shares(sc, PORTFOLIO, ["o-abcdefghij"], False, False)


# --- the launch role StackSet --------------------------------------------------------------------

ROLE_TEMPLATE = {"Resources": {"LaunchRole": {"Type": "AWS::IAM::Role", "Properties": {
    "RoleName": "demo-dev-catalog-launch", "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": ["sts:AssumeRole"], "Principal": {"Service": ["servicecatalog.amazonaws.com"]}}]}}}}}


def test_the_launch_role_reaches_every_account_of_the_ou_through_a_service_managed_stackset(aws):
    org = boto3.client("organizations", endpoint_url=aws, region_name=REGION)
    org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name="teams")["OrganizationalUnit"]["Id"]
    account = org.create_account(AccountName="team-a", Email="team-a@example.com")["CreateAccountStatus"]["AccountId"]
    org.move_account(AccountId=account, SourceParentId=root, DestinationParentId=ou)
    s3 = boto3.client("s3", endpoint_url=aws, region_name=REGION)
    s3.create_bucket(Bucket="stackset-templates", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="stackset-templates", Key="role.json", Body=json.dumps(ROLE_TEMPLATE))
    url = f"https://stackset-templates.s3.{REGION}.amazonaws.com/role.json"
    cfn = boto3.client("cloudformation", endpoint_url=aws, region_name=REGION)
    lines: list[str] = []
    done = stackset.roll_out(cfn, "demo-dev-catalog-launch-role", url, ou, REGION, echo=lines.append, poll=0)
    assert done[0] == "StackSet demo-dev-catalog-launch-role created (service-managed, automatic deployment on)"
    described = cfn.describe_stack_set(StackSetName="demo-dev-catalog-launch-role")["StackSet"]
    assert described["PermissionModel"] == "SERVICE_MANAGED"
    instances = cfn.list_stack_instances(StackSetName="demo-dev-catalog-launch-role")["Summaries"]
    assert [(i["Account"], i["Region"]) for i in instances] == [(account, REGION)]
    again = stackset.roll_out(cfn, "demo-dev-catalog-launch-role", url, ou, REGION, echo=lines.append, poll=0)
    assert again == ["StackSet demo-dev-catalog-launch-role updated to the packaged template",
                     f"StackSet demo-dev-catalog-launch-role: launch role in every account of {ou} ({REGION})"]
    assert len(cfn.list_stack_instances(StackSetName="demo-dev-catalog-launch-role")["Summaries"]) == 1


@pytest.mark.parametrize("value", ["ou-ab12-cd34ef56", "r-ab12"])
def test_stackset_targets_are_ous_or_the_root(value):
    assert stackset.check_target(value) == value


@pytest.mark.parametrize("value", ["ou-123", "o-abcdefghij", "123456789012", ""])
def test_other_stackset_targets_are_refused(value):
    with pytest.raises(ValueError, match="is not an organizational unit id"):
        stackset.check_target(value)
