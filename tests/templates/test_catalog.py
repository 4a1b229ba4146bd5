"""catalog: the portfolio template, the launch role and the product templates, as rendered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from generator.build.catalog import CATALOG_FILE, LAUNCH_ROLE_FILE
from generator.build.output import write_env
from generator.build.pipeline import render_env
from generator.cfn.permissions import handler_permissions
from generator.deploy.package import layout, read_build, s3_url, template_key
from templates import catalog
from tests.helpers import assert_props, make_env, resources_of_type
from tests.templates.catalog_support import built, history, resolve, sections


def portfolio(published=None, **kwargs) -> dict:
    return built(published, **kwargs)[CATALOG_FILE]


def products(body: dict) -> dict[str, dict]:
    return resources_of_type(body, "AWS::ServiceCatalog::CloudFormationProduct")


def artifacts(body: dict, layer: str) -> list[dict]:
    return products(body)[f"{layer.capitalize()}Product"]["Properties"]["ProvisioningArtifactParameters"]


# --- the portfolio ---------------------------------------------------------------------------------

def test_one_product_per_published_layer_each_associated_with_the_portfolio():
    body = portfolio()
    assert sorted(products(body)) == ["NetworkProduct", "SecurityProduct", "StorageProduct"]
    for layer in ("Network", "Security", "Storage"):
        assert body["Resources"][f"{layer}ProductAssociation"]["Properties"] == {
            "PortfolioId": {"Ref": "Portfolio"}, "ProductId": {"Ref": f"{layer}Product"},
        }
        assert body["Outputs"][f"{layer}ProductId"]["Value"] == {"Ref": f"{layer}Product"}
    assert_props(body, "AWS::ServiceCatalog::Portfolio", {"DisplayName": "demo test", "ProviderName": "Platform team"})
    assert body["Metadata"]["Strata"]["Catalog"] == "portfolio"


def test_a_product_lists_every_kept_version_then_the_one_the_next_publish_adds():
    body = portfolio(history(network=["1.0.0", "1.0.1", "1.1.0"]),
                     products={"network": {"remove": ["1.0.0"]}, "security": {}, "storage": {}})
    listed = artifacts(body, "network")
    assert [a["Name"] for a in listed] == ["1.0.1", "1.1.0", "1.1.1"]  # 1.0.0 removed; 1.1.1 is the template as built
    for artifact in listed:
        assert artifact["Type"] == "CLOUD_FORMATION_TEMPLATE"
        sha = artifact["Info"]["LoadTemplateFromURL"]["Fn::Join"][1][-1].removeprefix("catalog/network-").removesuffix(".json")
        assert artifact["Description"] == f"network layer template, sha256 {sha}"
    # versions keep their ids when the product changes, so provisioned products stay on them
    assert products(body)["NetworkProduct"]["Properties"]["ReplaceProvisioningArtifacts"] is False


def test_artifact_urls_are_the_packaged_content_addressed_urls(tmp_path):
    published = history(network=["1.0.0"])
    env = make_env(**sections())
    build = render_env(env, published)
    write_env(tmp_path, "test", build.files())
    packaged = layout(read_build(tmp_path / "test"), "test/")
    body = json.loads((tmp_path / "test" / CATALOG_FILE).read_text())
    urls = [resolve(a["Info"]["LoadTemplateFromURL"], {"TemplateBucket": "b", "TemplatePrefix": "test/"})
            for a in artifacts(body, "network")]
    # the published version: exactly the URL the history recorded for it
    assert urls[0] == published.products["network"][0].url
    # the version this build adds: the key `strata package` uploads its product template to
    data = (tmp_path / "test" / catalog.product_file("network")).read_bytes()
    assert packaged.keys[catalog.product_file("network")] == template_key("test/", catalog.product_file("network"), data)
    assert urls[1] == s3_url("b", "eu-west-1", packaged.keys[catalog.product_file("network")])


def test_an_unchanged_template_adds_no_version():
    first = built()
    sha = first[CATALOG_FILE]["Resources"]["NetworkProduct"]["Properties"]["ProvisioningArtifactParameters"][0]["Info"]
    sha = sha["LoadTemplateFromURL"]["Fn::Join"][1][-1].removeprefix("catalog/network-").removesuffix(".json")
    published = history(network=["1.0.0"])
    published.products["network"][0] = published.products["network"][0].model_copy(update={"sha256": sha})
    assert [a["Name"] for a in artifacts(built(published)[CATALOG_FILE], "network")] == ["1.0.0"]


def test_the_latest_version_cannot_be_deprecated_or_removed():
    from generator.build.catalog import CatalogProblems

    first = built()
    join = artifacts(first[CATALOG_FILE], "network")[0]["Info"]["LoadTemplateFromURL"]["Fn::Join"][1][-1]
    published = history(network=["1.0.0", "1.0.1"])
    published.products["network"][1] = published.products["network"][1].model_copy(
        update={"sha256": join.removeprefix("catalog/network-").removesuffix(".json")})
    for field in ("deprecate", "remove"):
        with pytest.raises(CatalogProblems) as problems:
            built(published, products={"network": {field: ["1.0.1"]}, "security": {}, "storage": {}})
        assert problems.value.problems == [(("catalog", "products", "network", field, 0),
                                            "1.0.1 is the latest version of network: publish a newer one first")]
    # once the template changed, the next version is the latest: 1.0.1 may go
    changed = built(published, network={"az_count": 3}, products={"network": {"deprecate": ["1.0.1"]}, "security": {},
                                                                  "storage": {}})
    assert [a["Name"] for a in artifacts(changed[CATALOG_FILE], "network")] == ["1.0.0", "1.0.1", "1.0.2"]


def test_each_product_launches_with_the_role_of_the_launching_account():
    body = portfolio(launch_role_name="TeamLaunchRole")
    constraints = resources_of_type(body, "AWS::ServiceCatalog::LaunchRoleConstraint")
    assert sorted(constraints) == ["NetworkLaunchRoleConstraint", "SecurityLaunchRoleConstraint", "StorageLaunchRoleConstraint"]
    for name, constraint in constraints.items():
        layer = name.removesuffix("LaunchRoleConstraint")
        props = constraint["Properties"]
        assert props["LocalRoleName"] == "TeamLaunchRole" and "RoleArn" not in props
        assert props["ProductId"] == {"Ref": f"{layer}Product"} and props["PortfolioId"] == {"Ref": "Portfolio"}
        # a constraint needs the product in the portfolio first
        assert constraint["DependsOn"] == f"{layer}ProductAssociation"
    default = resources_of_type(portfolio(), "AWS::ServiceCatalog::LaunchRoleConstraint")
    assert {c["Properties"]["LocalRoleName"] for c in default.values()} == {"demo-test-catalog-launch"}


def test_template_constraints_bound_a_products_choices():
    body = portfolio(compute={"enabled": True}, products={
        "network": {}, "security": {}, "compute": {"allowed_values": {"InstanceType": ["t3.micro", "t3.small"]}},
    })
    (name, constraint), = resources_of_type(body, "AWS::ServiceCatalog::LaunchTemplateConstraint").items()
    assert name == "ComputeTemplateConstraint" and constraint["DependsOn"] == "ComputeProductAssociation"
    assert json.loads(constraint["Properties"]["Rules"]) == {"AllowedInstanceType": {"Assertions": [{
        "Assert": {"Fn::Contains": [["t3.micro", "t3.small"], {"Ref": "InstanceType"}]},
        "AssertDescription": "InstanceType must be one of t3.micro, t3.small",
    }]}}
    assert not resources_of_type(portfolio(), "AWS::ServiceCatalog::LaunchTemplateConstraint")


def test_principals_as_configured_patterns_and_own_account_roles():
    body = portfolio(principals=[
        "arn:aws:iam:::role/team-*", "arn:aws:iam::111122223333:group/Platform", "role/catalog-admin",
        {"arn": "arn:aws:iam:::user/ops-?", "type": "IAM_PATTERN"},
    ])
    found = {r["Properties"]["PrincipalType"] + " " + json.dumps(r["Properties"]["PrincipalARN"])
             for r in resources_of_type(body, "AWS::ServiceCatalog::PortfolioPrincipalAssociation").values()}
    assert found == {
        'IAM_PATTERN "arn:aws:iam:::role/team-*"',
        'IAM "arn:aws:iam::111122223333:group/Platform"',
        'IAM {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/catalog-admin"}',
        'IAM_PATTERN "arn:aws:iam:::user/ops-?"',
    }


def test_principals_that_differ_only_in_punctuation_get_distinct_stable_ids():
    one = resources_of_type(portfolio(principals=["arn:aws:iam:::role/team-*", "arn:aws:iam:::role/team*"]),
                            "AWS::ServiceCatalog::PortfolioPrincipalAssociation")
    two = resources_of_type(portfolio(principals=["arn:aws:iam:::role/team*", "arn:aws:iam:::role/team-*"]),
                            "AWS::ServiceCatalog::PortfolioPrincipalAssociation")
    assert len(one) == 2 and sorted(one) == sorted(two)


def test_tag_options_and_their_portfolio_associations():
    body = portfolio(tag_options={"CostCenter": ["web", "data"], "team": ["a"]})
    options = resources_of_type(body, "AWS::ServiceCatalog::TagOption")
    assert sorted((o["Properties"]["Key"], o["Properties"]["Value"]) for o in options.values()) == [
        ("CostCenter", "data"), ("CostCenter", "web"), ("team", "a")]
    associations = resources_of_type(body, "AWS::ServiceCatalog::TagOptionAssociation")
    assert sorted(a["Properties"]["TagOptionId"]["Ref"] for a in associations.values()) == sorted(options)
    assert {json.dumps(a["Properties"]["ResourceId"]) for a in associations.values()} == {'{"Ref": "Portfolio"}'}


def test_account_shares_in_the_stack_organization_shares_left_to_publish():
    body = portfolio(share={"accounts": ["111122223333", "444455556666"], "organization_nodes": ["o-abcdefghij"],
                            "tag_options": True})
    shares = resources_of_type(body, "AWS::ServiceCatalog::PortfolioShare")
    assert {s["Properties"]["AccountId"]: s["Properties"]["ShareTagOptions"] for s in shares.values()} == {
        "111122223333": True, "444455556666": True}
    assert "o-abcdefghij" not in json.dumps(body)  # CloudFormation shares with accounts only


# --- the launch role -------------------------------------------------------------------------------

def role_body(**kwargs) -> dict:
    return built(**kwargs)[LAUNCH_ROLE_FILE]


def all_statements(body: dict) -> list[dict]:
    role = body["Resources"]["LaunchRole"]["Properties"]
    found = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for policy in resources_of_type(body, "AWS::IAM::ManagedPolicy").values():
        found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def test_only_service_catalog_may_assume_the_launch_role_and_only_for_this_account():
    role = role_body()["Resources"]["LaunchRole"]["Properties"]
    assert role["RoleName"] == "demo-test-catalog-launch"
    assert role["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow", "Action": ["sts:AssumeRole"],
        "Principal": {"Service": ["servicecatalog.amazonaws.com"]},
        "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
    }]


@pytest.mark.parametrize("shape", [
    {},
    {"messaging": {"enabled": True}, "deploy": {"bucket": "code-bucket"}, "products": ["network", "messaging"]},
    {"compute": {"enabled": True}, "products": ["network", "security", "compute"]},
])
def test_the_launch_role_allows_exactly_what_its_products_resource_types_need(shape):
    files = built(**shape)
    body = files[LAUNCH_ROLE_FILE]
    product_bodies = [b for f, b in files.items() if f.startswith("catalog/")]
    types = {r["Type"] for b in product_bodies for r in b["Resources"].values()}
    assert body["Metadata"]["Strata"]["ResourceTypes"] == sorted(types)
    needed = {a for t in types for a in handler_permissions(t, "eu-west-1")}
    base = {*catalog.STACK_ACTIONS, *catalog.TEMPLATE_ACTIONS, "s3:GetObject", "ssm:GetParameters"}
    granted = {a for s in all_statements(body) for a in s["Action"]}
    assert granted - needed - base == set()  # nothing the products do not need
    assert needed <= granted                 # and everything they do
    assert "ec2:RunInstances" in granted if "AWS::EC2::LaunchTemplate" in types else "ec2:RunInstances" not in granted


def test_launch_role_resources_are_scoped_and_every_wildcard_has_its_reason():
    body = role_body()
    by_sid = {s["Sid"]: s for s in all_statements(body)}
    assert by_sid["ProductStacks"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/SC-*"}]
    assert by_sid["PassOwnRoles"] == {"Sid": "PassOwnRoles", "Effect": "Allow", "Action": ["iam:PassRole"],
                                      "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*"}]}
    assert by_sid["ServiceCatalogTemplateCopies"]["Condition"] == {
        "StringEquals": {"s3:ExistingObjectTag/servicecatalog:provisioning": "true"}}
    # the product templates' Parameter Store defaults, and nothing else
    assert sorted(r["Fn::Sub"] for r in by_sid["ResolveParameters"]["Resource"]) == sorted(
        f"arn:${{AWS::Partition}}:ssm:*:${{AWS::AccountId}}:parameter/demo/test/{path}"
        for path in ("network/PrivateSubnetIds", "network/VpcId", "security/AppSecurityGroupId"))
    wildcards = [s for s in all_statements(body) if "*" in s["Resource"]]
    reasons = {tuple(w["Actions"]) for r in body["Resources"].values() for w in r.get("Metadata", {}).get("WildcardResources", [])}
    assert wildcards and all(tuple(s["Action"]) in reasons for s in wildcards)


def test_products_with_lambda_code_let_the_role_read_exactly_their_zips():
    body = role_body(messaging={"enabled": True}, deploy={"bucket": "code-bucket", "prefix": "shared/"},
                     products=["network", "messaging"])
    (code,) = [s for s in all_statements(body) if s.get("Sid") == "LambdaCode"]
    (arn,) = code["Resource"]
    assert arn["Fn::Sub"].startswith("arn:${AWS::Partition}:s3:::code-bucket/shared/lambda/queue_worker-")


def test_the_launch_role_fits_iams_policy_size_limits():
    # the cache's token rotation is Lambda code, which launching accounts read from deploy.bucket
    body = built(**{k: {"enabled": True} for k in ("compute", "containers", "database", "cache")},
                 deploy={"bucket": "demo-test-templates", "prefix": "test/"},
                 products=["network", "security", "compute", "containers", "database", "cache", "storage"])[LAUNCH_ROLE_FILE]
    policies = resources_of_type(body, "AWS::IAM::ManagedPolicy")
    assert len(policies) <= 10  # IAM's default quota of managed policies per role
    for policy in policies.values():
        assert len(json.dumps(policy["Properties"]["PolicyDocument"], separators=(",", ":"))) <= catalog.MANAGED_POLICY_CHARACTERS
    inline = body["Resources"]["LaunchRole"]["Properties"]["Policies"]
    assert len(json.dumps(inline, separators=(",", ":"))) <= 10240


# --- the product templates -------------------------------------------------------------------------

def test_inputs_a_published_product_writes_to_parameter_store_default_to_its_names():
    product = built()["catalog/storage.json"]
    assert product["Parameters"]["VpcId"]["Type"] == "AWS::SSM::Parameter::Value<AWS::EC2::VPC::Id>"
    assert product["Parameters"]["VpcId"]["Default"] == "/demo/test/network/VpcId"
    assert product["Parameters"]["PrivateSubnetIds"]["Type"] == "AWS::SSM::Parameter::Value<List<AWS::EC2::Subnet::Id>>"
    assert product["Parameters"]["AppSecurityGroupId"] == {
        "Type": "AWS::SSM::Parameter::Value<AWS::EC2::SecurityGroup::Id>",
        "Default": "/demo/test/security/AppSecurityGroupId",
        "Description": "Application security group allowed to mount. Read from Parameter Store, where the security "
                       "product writes it; give another parameter name to use another one",
    }
    groups = [g["Label"]["default"] for g in product["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]]
    assert groups == ["From the network product (Parameter Store)", "From the security product (Parameter Store)"]
    assert product["Metadata"]["Strata"]["Catalog"] == "product"


def test_inputs_of_a_layer_that_is_not_published_stay_aws_specific_types():
    product = built(products=["storage"])["catalog/storage.json"]
    assert product["Parameters"]["VpcId"]["Type"] == "AWS::EC2::VPC::Id"
    assert "Default" not in product["Parameters"]["VpcId"]


def test_a_product_is_its_layer_template_plus_only_the_launch_form_changes():
    files = built()
    layer, product = files["storage.json"], files["catalog/storage.json"]
    assert product["Resources"] == layer["Resources"] and product["Outputs"] == layer["Outputs"]


def test_lambda_code_defaults_to_the_named_template_bucket():
    product = built(messaging={"enabled": True}, deploy={"bucket": "code-bucket"},
                    products=["network", "messaging"])["catalog/messaging.json"]
    assert product["Parameters"]["TemplateBucket"]["Default"] == "code-bucket"
    assert product["Parameters"]["TemplatePrefix"]["Default"] == "test/"


def test_the_shipped_prod_catalog_publishes_its_layers_with_bounded_choices():
    from generator.build.config import load_config

    env = load_config(Path(__file__).resolve().parents[2] / "parameters" / "prod.yaml")
    assert env.catalog.enabled
    files = {t.file: t.body for t in render_env(env).templates}
    assert sorted(f for f in files if f.startswith("catalog/")) == sorted(
        catalog.product_file(layer) for layer in env.catalog.products)
    constraints = resources_of_type(files[CATALOG_FILE], "AWS::ServiceCatalog::LaunchTemplateConstraint")
    assert sorted(constraints) == ["ComputeTemplateConstraint", "DatabaseTemplateConstraint"]


# --- lint and scan ---------------------------------------------------------------------------------

SHAPES = {
    "three-products": ({}, None),
    "everything-published": ({
        **{k: {"enabled": True} for k in ("compute", "containers", "database", "cache", "messaging")},
        "deploy": {"bucket": "code-bucket"},
        "products": {"network": {"deprecate": ["1.0.0"]}, "security": {}, "storage": {}, "compute": {
            "allowed_values": {"InstanceType": ["t3.micro", "t3.small"]}}, "containers": {}, "database": {
            "allowed_values": {"DatabaseInstanceClass": ["db.t4g.medium", "db.r6g.large"]}}, "cache": {}, "messaging": {}},
        "principals": ["arn:aws:iam:::role/team-*", "role/admin", "arn:aws:iam::111122223333:user/ops"],
        "tag_options": {"CostCenter": ["a", "b"]},
        "share": {"accounts": ["111122223333"], "organization_nodes": ["ou-ab12-cd34ef56"], "tag_options": True,
                  "principals": True},
    }, history(network=["1.0.0", "1.0.1"])),
}


def catalog_texts(shape: str) -> dict[str, str]:
    fields, published = SHAPES[shape]
    files = built(published, **fields)
    return {f"{shape}/{f}": json.dumps(b, indent=2, sort_keys=True) + "\n" for f, b in files.items()
            if f.startswith("catalog")}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_catalog_templates_lint_clean(shape):
    from generator.build.lint import lint_templates

    findings = lint_templates([(name, text, "eu-west-1") for name, text in catalog_texts(shape).items()])
    assert [str(f) for f in findings] == []


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_catalog_templates_scan_clean(shape, tmp_path):
    import subprocess

    from tests.helpers import CHECKOV

    assert CHECKOV.exists(), f"{CHECKOV} is missing: run `make test`, which installs checkov in its own venv"
    for name, text in catalog_texts(shape).items():
        (tmp_path / name.replace("/", "_")).write_text(text)
    run = subprocess.run([str(CHECKOV), "--quiet", "--compact", "--framework", "cloudformation", "--directory",
                          str(tmp_path), "--skip-download", "-o", "json"], capture_output=True, text=True, check=False)
    report = json.loads(run.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r.get("results", {}).get("failed_checks", [])]
    assert [f"{c['file_path']} {c['resource']} {c['check_id']}" for c in failed] == []
    assert sum(r["summary"]["passed"] for r in reports) > 0  # it did read the templates
