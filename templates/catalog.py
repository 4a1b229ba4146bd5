"""catalog: the layers published as AWS Service Catalog products.

The third way Strata is used: other teams open Service Catalog in their own
account and launch a standard VPC, database or queue without Strata. Drawn
in the order an administrator sets it up in the console: the portfolio;
one product per published layer, listing every kept version; each product
in the portfolio, with a launch constraint naming the launch role by its
local name (so the same constraint works in every account the portfolio is
shared with) and template constraints bounding its choices; who may
launch (principals, including IAM_PATTERN names that match in every
recipient account); tag options; shares with accounts.

The catalog is not a layer of the root stack: publishing is a separate act
from deploying the environment, so `catalog.json` is a stack of its own,
`<project>-<environment>-catalog`, deployed by `strata publish` after the
product templates are uploaded (its artifact URLs must exist when
CloudFormation creates the versions). Every account that launches the
products needs the launch role, so the role is its own template too
(`catalog-launch-role.json`, see `launch_role`), deployed by `strata
publish` in the publishing account and rolled out to member accounts with
a service-managed StackSet.

Versions: CloudFormation gives a product exactly the provisioning artifacts
its template lists, so the template lists every kept version from the
committed history (`catalog/<env>.versions.json`, generator.build.versions);
deprecation and Organizations shares are API calls `strata publish` makes
after the stack update (generator.deploy.publish).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from awacs.aws import Condition, StringEquals
from pydantic import BeforeValidator, Field, field_validator, model_validator
from troposphere import GetAtt, Output, Ref, Sub, Template, encode_to_dict, iam, servicecatalog

from generator.cfn.iam import Grant, grant, policy_document, service_role
from generator.cfn.naming import logical_id, physical_name
from generator.cfn.permissions import permissions_for
from generator.cfn.resources import (
    TEMPLATE_BUCKET, TEMPLATE_PREFIX, launch_form, output, strata_metadata, strata_metadata_of, suppress,
    template_location_parameters, template_url,
)
from generator.cfn.sections import Section, reject_repeats

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "catalog"
DESCRIPTION = "Service Catalog portfolio: the layers as versioned products other teams launch themselves"

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
ORGANIZATION_ID = re.compile(r"^o-[a-z0-9]{10,32}$")
OU_ID = re.compile(r"^ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}$")
_IAM_ARN = re.compile(
    r"^arn:(?P<partition>aws|aws-cn|aws-us-gov):iam::(?P<account>\d{12})?:(?P<kind>role|user|group)/(?P<name>[\w+=,.@/*?-]+)$"
)
_LOCAL_NAME = re.compile(r"^(?P<kind>role|user|group)/(?P<name>[\w+=,.@/-]+)$")
_TAG_TEXT = re.compile(r"^[\w\s.:/=+\-@]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _semver(name: str) -> str:
    if not SEMVER.match(name):
        raise ValueError(f"'{name}' is not a version name like 1.4.2 (major.minor.patch)")
    return name


VersionName = Annotated[str, BeforeValidator(lambda v: str(v) if isinstance(v, (int, float)) else v)]


class Product(Section):
    name: str | None = None
    """Product name teams see in Service Catalog. Default: `<project> <layer>`, e.g. `strata network`."""
    owner: str | None = None
    """Who owns the product (shown to launching teams). Default: the portfolio's `provider`."""
    description: str | None = None
    """What the product builds. Default: the layer's one-line description."""
    distributor: str = ""
    """Distributor shown with the product (optional)."""
    support_email: str | None = None
    """Where launching teams ask for help (an e-mail address)."""
    support_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    """Support page for the product (an http(s) URL)."""
    support_description: str | None = None
    """How to get support, in a sentence."""
    version: VersionName = "1.0.0"
    """Version name of the first publish. Later publishes bump the latest published version (patch,
    or `strata publish --bump minor|major`); set this above the latest to jump to it."""
    deprecate: list[VersionName] = []
    """Published versions to mark deprecated after the stack update (UpdateProvisioningArtifact, Guidance
    DEPRECATED): teams can no longer launch them, but provisioned products on them can still be updated."""
    deactivate_deprecated: bool = False
    """Also set Active false on the deprecated versions: hidden from teams, who can then neither launch nor
    update to them. Off by default: deprecation alone keeps existing stacks manageable."""
    remove: list[VersionName] = []
    """Published versions to drop from the catalog (the stack update deletes them). Refused while a
    provisioned product of the publishing account still uses one; the history keeps the record."""
    allowed_values: dict[str, list[str]] = {}
    """Template constraint (AWS::ServiceCatalog::LaunchTemplateConstraint): parameter of the product's
    template -> the only values a launching team may choose, e.g. `InstanceType: [t3.small, t3.medium]`."""

    @field_validator("deprecate", "remove")
    @classmethod
    def _versions(cls, names: list[str]) -> list[str]:
        reject_repeats(names)
        return [_semver(n) for n in names]

    @field_validator("version")
    @classmethod
    def _version(cls, name: str) -> str:
        return _semver(name)

    @field_validator("support_email")
    @classmethod
    def _email(cls, address: str | None) -> str | None:
        if address is not None and not _EMAIL.match(address):
            raise ValueError(f"'{address}' is not an e-mail address")
        return address

    @field_validator("allowed_values")
    @classmethod
    def _choices(cls, choices: dict[str, list[str]]) -> dict[str, list[str]]:
        for parameter, values in choices.items():
            if not values:
                raise ValueError(f"{parameter}: list at least one allowed value")
            reject_repeats(values, parameter)
        return choices

    @model_validator(mode="after")
    def _deprecate_or_remove(self) -> Product:
        both = sorted(set(self.deprecate) & set(self.remove))
        if both:
            raise ValueError(f"{', '.join(both)} listed in both deprecate and remove (a removed version is gone)")
        return self


def _principal_from_text(value: Any) -> Any:
    return {"arn": value} if isinstance(value, str) else value


class Principal(Section):
    arn: str
    """An IAM role, user or group: a full ARN (arn:aws:iam::111122223333:role/Platform), `role/Name` for one
    in the catalog's own account, or an ARN without account and with wildcards for IAM_PATTERN
    (arn:aws:iam:::role/team-*: matching names in every account the portfolio is shared with)."""
    type: Literal["IAM", "IAM_PATTERN"] | None = None
    """IAM or IAM_PATTERN; inferred from the ARN when empty (no account in the ARN: IAM_PATTERN)."""

    @model_validator(mode="after")
    def _valid(self) -> Principal:
        local = _LOCAL_NAME.match(self.arn)
        found = _IAM_ARN.match(self.arn)
        if not (local or found):
            raise ValueError(
                f"'{self.arn}' is not an IAM role, user or group ARN (arn:aws:iam::111122223333:role/Name), "
                "a name pattern without account (arn:aws:iam:::role/team-*) or role/Name"
            )
        pattern = bool(found) and not found.group("account")
        if self.type == "IAM_PATTERN" and not pattern:
            raise ValueError(f"IAM_PATTERN takes an ARN without account id (arn:aws:iam:::role/name-*), not {self.arn}")
        if self.type == "IAM" and pattern:
            raise ValueError(f"{self.arn} has no account id: it is an IAM_PATTERN name, or give the full ARN")
        if not pattern and "*" in self.arn or not pattern and "?" in self.arn:
            raise ValueError(f"{self.arn}: wildcards are for IAM_PATTERN names (an ARN without account id)")
        return self

    @property
    def principal_type(self) -> str:
        found = _IAM_ARN.match(self.arn)
        return "IAM_PATTERN" if found and not found.group("account") else "IAM"

    def value(self) -> Any:
        """The ARN as the template writes it (`role/Name` becomes this account's ARN)."""
        if _LOCAL_NAME.match(self.arn):
            return Sub(f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:{self.arn}")
        return self.arn


class Share(Section):
    accounts: list[str] = []
    """Account ids to share the portfolio with (AWS::ServiceCatalog::PortfolioShare in the stack); each
    account accepts the share once (or imports it) before its teams see the products."""
    organization_nodes: list[str] = []
    """The organization (o-...) or organizational units (ou-...) to share with. `strata publish` shares
    through CreatePortfolioShare after the stack update (CloudFormation shares with account ids only);
    Service Catalog's Organizations access must be on (once, from the management account)."""
    tag_options: bool = False
    """Share the portfolio's tag options with the recipients, so their launches carry them too."""
    principals: bool = False
    """Share the principal associations with Organizations recipients, so IAM_PATTERN names (e.g.
    role/team-*) get access in every account of the organization or OU without a local association."""

    @field_validator("accounts")
    @classmethod
    def _accounts(cls, accounts: list[str]) -> list[str]:
        for account in accounts:
            if not ACCOUNT_ID.match(str(account)):
                raise ValueError(f"'{account}' is not a 12-digit account id")
        return reject_repeats(accounts)

    @field_validator("organization_nodes")
    @classmethod
    def _nodes(cls, nodes: list[str]) -> list[str]:
        for node in nodes:
            if not (ORGANIZATION_ID.match(node) or OU_ID.match(node)):
                raise ValueError(f"'{node}' is not an organization id (o-xxxxxxxxxx) or an organizational unit id "
                                 "(ou-xxxx-xxxxxxxx)")
        return reject_repeats(nodes)

    @model_validator(mode="after")
    def _principals_need_organization(self) -> Share:
        if self.principals and not self.organization_nodes:
            raise ValueError("principals: true shares principals with Organizations recipients only; "
                             "add organization_nodes or turn it off")
        return self


class Config(Section):
    """Service Catalog portfolio: the layers as versioned products other teams launch themselves."""

    enabled: bool = False
    """Build the catalog (catalog.json, catalog-launch-role.json and a product template per published layer
    under catalog/) for `strata publish`. It is a stack of its own, never nested in the root stack."""
    name: str | None = None
    """Portfolio name shown in the console. Default: `<project> <environment>`."""
    description: str = "Standard infrastructure layers, versioned: launch them in your own account."
    """Portfolio description shown to launching teams."""
    provider: str = "Platform team"
    """Who provides the portfolio (shown to launching teams)."""
    products: Annotated[
        dict[str, Product], BeforeValidator(lambda v: {name: {} for name in v} if isinstance(v, list) else v)
    ] = {}
    """Published layers: layer name -> product settings (a list of layer names takes every default). Each
    must be an enabled layer of this environment."""
    principals: list[Annotated[Principal, BeforeValidator(_principal_from_text)]] = []
    """Who may launch the products: IAM roles, users or groups (ARN strings, or {arn, type})."""
    tag_options: dict[str, list[str]] = {}
    """Tag options: tag key -> the values a launching team picks from; they tag everything a product creates."""
    share: Share = Share()
    """Who else sees the portfolio: accounts, and the organization or OUs."""
    launch_role_name: str | None = Field(default=None, pattern=r"^[\w+=,.@-]{1,64}$")
    """Name of the launch role Service Catalog assumes to create the products' resources; the same name in
    every account (LaunchRoleConstraint LocalRoleName). Default: `<project>-<environment>-catalog-launch`."""

    @field_validator("tag_options")
    @classmethod
    def _tag_options(cls, options: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, values in options.items():
            if not (1 <= len(key) <= 128 and _TAG_TEXT.match(key)) or key.lower().startswith("aws:"):
                raise ValueError(f"'{key}' is not a tag key (1-128 letters, digits, spaces and _.:/=+-@; not aws:)")
            if not values:
                raise ValueError(f"{key}: list at least one value")
            for value in values:
                if not (1 <= len(str(value)) <= 256 and _TAG_TEXT.match(str(value))):
                    raise ValueError(f"{key}: '{value}' is not a tag value (1-256 letters, digits, spaces, _.:/=+-@)")
            reject_repeats(values, key)
        return options

    @model_validator(mode="after")
    def _products_when_enabled(self) -> Config:
        if self.enabled and not self.products:
            raise ValueError("catalog.enabled needs at least one layer in catalog.products")
        if self.share.principals and not any(p.principal_type == "IAM_PATTERN" for p in self.principals):
            raise ValueError("share.principals shares principal names, and only IAM_PATTERN names mean something in "
                             "another account: list one (an ARN without account id, e.g. arn:aws:iam:::role/team-*)")
        return self


def portfolio_name(env: EnvConfig) -> str:
    return env.catalog.name or f"{env.project} {env.environment}"


def launch_role_name(env: EnvConfig) -> str:
    return env.catalog.launch_role_name or physical_name(env.project, env.environment, "catalog", "launch", max_length=64)


def product_file(layer: str) -> str:
    """Where the build writes a layer's product template in `out/<env>/`."""
    return f"catalog/{layer}.json"


def artifact_file(layer: str, sha256: str) -> str:
    """The content-addressed file one version of a product is uploaded as, under
    TemplatePrefix: `strata package`'s key for `product_file(layer)` with
    those bytes (`generator.deploy.package.template_key`)."""
    return f"catalog/{layer}-{sha256}.json"


def product_id_output(layer: str) -> str:
    return logical_id(layer, "product", "id")


def _unique(ids: list[tuple[str, str]]) -> dict[str, str]:
    """key -> logical id; ids two keys would share get the key's short sha256, so neither depends on order."""
    counts: dict[str, int] = {}
    for _, lid in ids:
        counts[lid] = counts.get(lid, 0) + 1
    return {key: lid if counts[lid] == 1 else lid + hashlib.sha256(key.encode()).hexdigest()[:8] for key, lid in ids}


# -- the portfolio template -----------------------------------------------------------------------

def build(env: EnvConfig, versions: dict[str, list[tuple[str, str]]]) -> Template:
    """The catalog stack: `versions` is layer -> [(version name, template sha256)], oldest first, every
    version the product keeps (products with none are left out: CloudFormation needs one)."""
    cfg: Config = env.catalog
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    template_location_parameters(t)
    portfolio = t.add_resource(servicecatalog.Portfolio(
        "Portfolio", DisplayName=portfolio_name(env), ProviderName=cfg.provider, Description=cfg.description,
    ))
    for layer, kept in versions.items():
        if kept:
            _product(t, env, layer, kept, portfolio)
    _principals(t, cfg, portfolio)
    _tag_options(t, cfg, portfolio)
    for account in cfg.share.accounts:
        t.add_resource(servicecatalog.PortfolioShare(
            logical_id("share", account), PortfolioId=Ref(portfolio), AccountId=account,
            ShareTagOptions=cfg.share.tag_options,
        ))
    output(t, "PortfolioId", Ref(portfolio), "Service Catalog portfolio id")
    strata_metadata(t, "Catalog", "portfolio")
    launch_form(t, {})
    return t


def _product(t: Template, env: EnvConfig, layer: str, kept: list[tuple[str, str]], portfolio) -> None:
    cfg: Config = env.catalog
    settings = cfg.products[layer]
    from templates import all_layers  # the layers' descriptions; catalog is not one of them

    described = {module.NAME: module.DESCRIPTION for module in all_layers()}
    optional = {k: v for k, v in (("SupportEmail", settings.support_email), ("SupportUrl", settings.support_url),
                                  ("SupportDescription", settings.support_description),
                                  ("Distributor", settings.distributor)) if v}
    product = t.add_resource(servicecatalog.CloudFormationProduct(
        logical_id(layer, "product"),
        Name=settings.name or f"{env.project} {layer}",
        Owner=settings.owner or cfg.provider,
        Description=settings.description or described[layer],
        # off: a version keeps its id when the product changes, so provisioned products stay on it
        ReplaceProvisioningArtifacts=False,
        ProvisioningArtifactParameters=[
            servicecatalog.ProvisioningArtifactProperties(
                Name=name, Description=f"{layer} layer template, sha256 {sha256}",
                Info=servicecatalog.Info(LoadTemplateFromURL=template_url(artifact_file(layer, sha256))),
                Type="CLOUD_FORMATION_TEMPLATE", DisableTemplateValidation=False,
            )
            for name, sha256 in kept
        ],
        **optional,
    ))
    association = t.add_resource(servicecatalog.PortfolioProductAssociation(
        logical_id(layer, "product", "association"), PortfolioId=Ref(portfolio), ProductId=Ref(product),
    ))
    # Constraints apply to a product in a portfolio: the association comes first.
    t.add_resource(servicecatalog.LaunchRoleConstraint(
        logical_id(layer, "launch", "role", "constraint"), PortfolioId=Ref(portfolio), ProductId=Ref(product),
        LocalRoleName=launch_role_name(env), DependsOn=association.title,
        Description=f"Launch as {launch_role_name(env)}, the role of the launching account",
    ))
    if settings.allowed_values:
        t.add_resource(servicecatalog.LaunchTemplateConstraint(
            logical_id(layer, "template", "constraint"), PortfolioId=Ref(portfolio), ProductId=Ref(product),
            Rules=json.dumps(template_rules(settings.allowed_values), sort_keys=True), DependsOn=association.title,
            Description=f"Allowed values of {', '.join(sorted(settings.allowed_values))}",
        ))
    t.add_output(Output(product_id_output(layer), Value=Ref(product), Description=f"Product id of the {layer} layer"))


def template_rules(allowed: dict[str, list[str]]) -> dict[str, Any]:
    """LaunchTemplateConstraint rules: each parameter's value must be one of its allowed values."""
    return {
        logical_id("allowed", name): {"Assertions": [{
            "Assert": {"Fn::Contains": [list(values), {"Ref": name}]},
            "AssertDescription": f"{name} must be one of {', '.join(values)}",
        }]}
        for name, values in sorted(allowed.items())
    }


def _principals(t: Template, cfg: Config, portfolio) -> None:
    ids = _unique([(p.arn, logical_id("principal", *re.findall(r"[A-Za-z0-9]+", p.arn.split(":")[-1])))
                   for p in cfg.principals])
    for principal in cfg.principals:
        t.add_resource(servicecatalog.PortfolioPrincipalAssociation(
            ids[principal.arn], PortfolioId=Ref(portfolio), PrincipalARN=principal.value(),
            PrincipalType=principal.principal_type,
        ))


def _tag_options(t: Template, cfg: Config, portfolio) -> None:
    pairs = [(key, str(value)) for key, values in cfg.tag_options.items() for value in values]
    ids = _unique([(f"{k}={v}", logical_id("tag", "option", k, v)) for k, v in pairs])
    for key, value in pairs:
        option = t.add_resource(servicecatalog.TagOption(ids[f"{key}={value}"], Key=key, Value=value, Active=True))
        t.add_resource(servicecatalog.TagOptionAssociation(
            f"{option.title}Association", ResourceId=Ref(portfolio), TagOptionId=Ref(option),
        ))


# -- the launch role --------------------------------------------------------------------------------

SERVICE_CATALOG = "servicecatalog.amazonaws.com"
# IAM counts a managed policy's size without whitespace; 6,144 characters is its limit.
MANAGED_POLICY_CHARACTERS = 6144
# What Service Catalog does with the launch role itself: run the product's
# stack (docs: "Step 6: Add a launch constraint to assign an IAM role", plus
# the change-set actions of provisioned product plans), on its stacks only.
STACK_ACTIONS = (
    "cloudformation:CreateStack", "cloudformation:DeleteStack", "cloudformation:DescribeStackEvents",
    "cloudformation:DescribeStacks", "cloudformation:SetStackPolicy", "cloudformation:UpdateStack",
    "cloudformation:CreateChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:ExecuteChangeSet",
    "cloudformation:DeleteChangeSet",
)
TEMPLATE_ACTIONS = ("cloudformation:GetTemplateSummary", "cloudformation:ValidateTemplate")
# checkov's IAM checks for unscoped write, permissions management, privilege
# escalation, credentials exposure and data exfiltration: what a launch role
# that creates IAM roles, functions, buckets and keys for its products does.
IAM_SCAN_CHECKS = ("CKV_AWS_107", "CKV_AWS_108", "CKV_AWS_109", "CKV_AWS_110", "CKV_AWS_111")
# Service Catalog copies every version's template into a bucket it owns and tags the copies so.
PROVISIONING_TAG = "s3:ExistingObjectTag/servicecatalog:provisioning"


def launch_role(env: EnvConfig, products: dict[str, dict]) -> Template:
    """`catalog-launch-role.json`: the role Service Catalog assumes to launch
    `products` (layer -> rendered product template), allowed exactly what
    they create. The actions come from the products' resource types
    (`generator.cfn.permissions`: the registry schemas' handler permissions),
    never from a hand list; plus running Service Catalog's stacks, reading its
    template copies, the Parameter Store names the products' parameters
    default to, and the Lambda code they read from the template bucket."""
    t = Template(Description=f"{env.project} {env.environment}: Service Catalog launch role of the catalog's products")
    types = sorted({r["Type"] for body in products.values() for r in body.get("Resources", {}).values()})
    needs = permissions_for(types, env.region)
    managed = _managed_policies(t, needs)
    role = service_role(t, "LaunchRole", SERVICE_CATALOG, _launch_grants(products), source_account=True,
                        managed_policy_arns=[Ref(p) for p in managed], policy_name="provision-products")
    role.RoleName = launch_role_name(env)
    role.Description = f"Service Catalog launches the {env.project} {env.environment} products with this role"
    output(t, "LaunchRoleArn", GetAtt(role, "Arn"), "ARN of the Service Catalog launch role")
    output(t, "LaunchRoleName", Ref(role), "Name every launch constraint uses (LocalRoleName)")
    strata_metadata(t, "Catalog", "launch-role")
    strata_metadata(t, "ResourceTypes", types)
    return t


def _launch_grants(products: dict[str, dict]) -> list[Grant]:
    grants = [
        grant(STACK_ACTIONS, [Sub("arn:${AWS::Partition}:cloudformation:*:${AWS::AccountId}:stack/SC-*")], sid="ProductStacks"),
        grant(TEMPLATE_ACTIONS, ["*"], sid="ReadTemplates",
              wildcard_reason="GetTemplateSummary and ValidateTemplate have no resource-level permissions"),
        grant(["s3:GetObject"], ["*"], sid="ServiceCatalogTemplateCopies",
              conditions=Condition(StringEquals(PROVISIONING_TAG, "true")),
              wildcard_reason="Service Catalog keeps its copies of the templates in a bucket of its own whose name it "
                              "does not publish; the tag condition limits the read to those copies"),
    ]
    names = sorted({d["Default"] for body in products.values() for d in body.get("Parameters", {}).values()
                    if str(d.get("Type", "")).startswith("AWS::SSM::Parameter::Value<") and d.get("Default")})
    if names:
        grants.append(grant(["ssm:GetParameters"], [_parameter_arn(n) for n in names], sid="ResolveParameters"))
    code = sorted({_code_arn(body, key) for body in products.values()
                   for key in strata_metadata_of(body, "Artifacts", [])})
    if code:
        grants.append(grant(["s3:GetObject"], [Sub(arn) for arn in code], sid="LambdaCode"))
    return grants


def _parameter_arn(name: str) -> Sub:
    # AWS's public parameters (/aws/service/...) have no account in their ARN
    account = "" if name.startswith("/aws/") else "${AWS::AccountId}"
    return Sub(f"arn:${{AWS::Partition}}:ssm:*:{account}:parameter{name}")


def _code_arn(body: dict, key: str) -> str:
    """The zip's object ARN, for `Fn::Sub` (a string, so equal ARNs are one)."""
    parameters = body["Parameters"]
    bucket, prefix = parameters[TEMPLATE_BUCKET]["Default"], parameters[TEMPLATE_PREFIX].get("Default", "")
    return f"arn:${{AWS::Partition}}:s3:::{bucket}/{prefix}{key}"


def _managed_policies(t: Template, needs: dict[str, tuple[str, ...]]) -> list[iam.ManagedPolicy]:
    """The resource types' actions, one statement per service, packed into
    managed policies under IAM's size limit (a role's inline policies share
    10,240 characters; each managed policy has 6,144)."""
    by_service: dict[str, set[str]] = {}
    for actions in needs.values():
        for action in actions:
            by_service.setdefault(action.split(":", 1)[0], set()).add(action)
    wildcards = sorted({a for actions in needs.values() for a in actions if "*" in a})
    sources = {a: sorted(t_ for t_, actions in needs.items() if a in actions) for a in wildcards}
    grants = []
    for service, actions in sorted(by_service.items()):
        passing = sorted(a for a in actions if a == "iam:PassRole")
        rest = sorted(actions - set(passing))
        if rest:
            grants.append(grant(rest, ["*"], sid=logical_id(service),
                                wildcard_reason="the products create their resources in any account the role is "
                                                "deployed to, named by CloudFormation at launch"))
        if passing:
            # the only roles a product passes are the ones it creates in this account
            grants.append(grant(passing, [Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:role/*")], sid="PassOwnRoles"))
    policies: list[list[Grant]] = [[]]
    for g in grants:
        if policies[-1] and _characters(policies[-1] + [g]) > MANAGED_POLICY_CHARACTERS - 200:
            policies.append([])
        policies[-1].append(g)
    made = []
    for index, members in enumerate(policies, start=1):
        policy = t.add_resource(iam.ManagedPolicy(
            logical_id("resource", "types", "policy", index), PolicyDocument=policy_document(members),
            Description=f"Actions CloudFormation needs for the products' resource types ({index} of {len(policies)})",
        ))
        policy.Metadata = {"WildcardResources": [{"Actions": list(g.actions), "Reason": g.wildcard_reason}
                                                 for g in members if "*" in g.resources]}
        if wildcards:
            policy.Metadata["WildcardActions"] = [
                {"Action": a, "Reason": f"listed by the registry schema of {', '.join(sources[a])}"}
                for a in wildcards if any(a in g.actions for g in members)
            ]
        services = sorted({a.split(":", 1)[0] for g in members for a in g.actions})
        for check in IAM_SCAN_CHECKS:
            suppress(policy, check, f"Service Catalog launch role: the actions CloudFormation's handlers call to create, "
                                    f"update and delete the products' resources ({', '.join(services)}), which are named "
                                    "at launch in any account the role is deployed to; teams run it only through the "
                                    "products' fixed templates")
        made.append(policy)
    return made


def _characters(grants: list[Grant]) -> int:
    return len(json.dumps(encode_to_dict(policy_document(grants)), separators=(",", ":")))
