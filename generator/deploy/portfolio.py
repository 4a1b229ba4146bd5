"""What `strata publish` does to the catalog through Service Catalog's API,
because CloudFormation cannot: deprecate versions, share with
Organizations, and see which versions provisioned products still use.

- A version's Guidance (DEFAULT or DEPRECATED) and Active flag are not
  properties of AWS::ServiceCatalog::CloudFormationProduct, so they are set
  with UpdateProvisioningArtifact after the stack update, from the
  parameter file (`catalog.products.<layer>.deprecate`,
  `deactivate_deprecated`): a version no longer listed goes back to DEFAULT.
- AWS::ServiceCatalog::PortfolioShare takes account ids only; the
  organization and OUs are shared with CreatePortfolioShare and an
  OrganizationNode, kept in line with `catalog.share.organization_nodes`
  (created, updated when the tag-option or principal sharing changed,
  deleted when no longer listed), then waited for.
- Before a version is dropped from the catalog, SearchProvisionedProducts
  tells which provisioned products still run it; those block the removal.
  It sees the publishing account's provisioned products only: Service
  Catalog shows an owner nothing of what recipient accounts launched.

Every call takes the boto3 `servicecatalog` client it is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from generator.deploy.errors import DeployError, Refused, error_message

DEPRECATED, DEFAULT = "DEPRECATED", "DEFAULT"
ORGANIZATION_TYPES = ("ORGANIZATION", "ORGANIZATIONAL_UNIT")
_SHARE_DONE = {"COMPLETED", "COMPLETED_WITH_ERRORS", "ERROR"}


@dataclass(frozen=True)
class Artifact:
    """One version of a product as Service Catalog has it."""

    id: str
    name: str
    active: bool
    guidance: str
    created: str = ""

    @property
    def deprecated(self) -> bool:
        return self.guidance == DEPRECATED


def artifacts(sc, product_id: str) -> list[Artifact]:
    """The product's versions, oldest first (ListProvisioningArtifacts)."""
    found = sc.list_provisioning_artifacts(ProductId=product_id).get("ProvisioningArtifactDetails", [])
    return [
        Artifact(a["Id"], a.get("Name", ""), bool(a.get("Active", True)), a.get("Guidance", DEFAULT),
                 str(a.get("CreatedTime", "")))
        for a in sorted(found, key=lambda a: str(a.get("CreatedTime", "")))
    ]


def provisioned_on(sc, product_id: str, artifact_ids: set[str]) -> list[dict]:
    """Provisioned products of this account that run one of `artifact_ids` of the product."""
    found, token = [], None
    while True:
        page = sc.search_provisioned_products(
            AccessLevelFilter={"Key": "Account", "Value": "self"},
            Filters={"SearchQuery": [f"productId:{product_id}"]}, PageSize=100,
            **({"PageToken": token} if token else {}),
        )
        found += [p for p in page.get("ProvisionedProducts", []) if p.get("ProvisioningArtifactId") in artifact_ids]
        token = page.get("NextPageToken")
        if not token:
            return found


def refuse_removals_in_use(sc, product_ids: dict[str, str], removals: dict[str, list[str]]) -> None:
    """Raise Refused when a version to be removed (layer -> names) still runs
    a provisioned product; versions already gone are fine."""
    blocked = []
    for layer, names in sorted(removals.items()):
        if not names or layer not in product_ids:
            continue
        ids = {a.id: a.name for a in artifacts(sc, product_ids[layer]) if a.name in names}
        for used in provisioned_on(sc, product_ids[layer], set(ids)):
            blocked.append(f"{layer} {ids[used['ProvisioningArtifactId']]}: provisioned product "
                           f"{used.get('Name', '?')} ({used.get('Id', '?')}, {used.get('Status', '?')})")
    if blocked:
        raise Refused(
            "refused: these versions are still in use, so they stay in the catalog:\n  " + "\n  ".join(blocked)
            + "\nupdate those provisioned products to a newer version first, or deprecate the version instead of "
              "removing it (catalog.products.<layer>.deprecate)"
        )


def apply_guidance(sc, product_id: str, deprecate: list[str], deactivate: bool) -> list[str]:
    """Mark `deprecate` DEPRECATED (and inactive with `deactivate`), every other
    version DEFAULT and active; returns what changed, one line each."""
    changed = []
    for artifact in artifacts(sc, product_id):
        guidance = DEPRECATED if artifact.name in deprecate else DEFAULT
        active = not (deactivate and guidance == DEPRECATED)
        if (artifact.guidance, artifact.active) == (guidance, active):
            continue
        sc.update_provisioning_artifact(ProductId=product_id, ProvisioningArtifactId=artifact.id,
                                        Guidance=guidance, Active=active)
        changed.append(f"{artifact.name}: {guidance.lower()}{'' if active else ', inactive'}")
    return changed


@dataclass
class ShareChanges:
    notes: list[str] = field(default_factory=list)
    tokens: list[tuple[str, str]] = field(default_factory=list)  # (node, PortfolioShareToken)


def _node(value: str) -> dict[str, str]:
    return {"Type": "ORGANIZATION" if value.startswith("o-") else "ORGANIZATIONAL_UNIT", "Value": value}


def organization_shares(sc, portfolio_id: str) -> dict[str, dict]:
    """The portfolio's Organizations shares: node id -> DescribePortfolioShares detail."""
    shares: dict[str, dict] = {}
    for kind in ORGANIZATION_TYPES:
        token = None
        while True:
            page = sc.describe_portfolio_shares(PortfolioId=portfolio_id, Type=kind, **({"PageToken": token} if token else {}))
            for detail in page.get("PortfolioShareDetails", []):
                shares[detail["PrincipalId"]] = detail
            token = page.get("NextPageToken")
            if not token:
                break
    return shares


def reconcile_shares(sc, portfolio_id: str, nodes: list[str], tag_options: bool, principals: bool) -> ShareChanges:
    """Share the portfolio with exactly `nodes` (o-... or ou-...), sharing tag
    options and principals as asked."""
    from botocore.exceptions import ClientError

    changes = ShareChanges()
    existing = organization_shares(sc, portfolio_id)
    flags = {"ShareTagOptions": tag_options, "SharePrincipals": principals}
    try:
        for node in nodes:
            detail = existing.get(node)
            if detail is None:
                token = sc.create_portfolio_share(PortfolioId=portfolio_id, OrganizationNode=_node(node), **flags)
                changes.notes.append(f"shared with {node}")
            elif (bool(detail.get("ShareTagOptions")), bool(detail.get("SharePrincipals"))) != (tag_options, principals):
                token = sc.update_portfolio_share(PortfolioId=portfolio_id, OrganizationNode=_node(node), **flags)
                changes.notes.append(f"share with {node} updated (tag options {tag_options}, principals {principals})")
            else:
                continue
            if token.get("PortfolioShareToken"):
                changes.tokens.append((node, token["PortfolioShareToken"]))
        for node in sorted(set(existing) - set(nodes)):
            token = sc.delete_portfolio_share(PortfolioId=portfolio_id, OrganizationNode=_node(node))
            changes.notes.append(f"share with {node} removed (no longer in catalog.share.organization_nodes)")
            if token.get("PortfolioShareToken"):
                changes.tokens.append((node, token["PortfolioShareToken"]))
    except ClientError as exc:
        message = error_message(exc)
        if "organization" in message.lower() and "access" in message.lower():
            message += (" (turn on Service Catalog's AWS Organizations access once, from the management account: "
                        "aws servicecatalog enable-aws-organizations-access)")
        raise DeployError(f"sharing portfolio {portfolio_id} with the organization failed: {message}") from None
    return changes


def wait_for_shares(sc, tokens: list[tuple[str, str]], *, poll: float = 2.0, timeout: float = 900,
                    sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Wait until every share operation finished; returns one line per share,
    and raises DeployError naming the ones that failed."""
    lines, failed = [], []
    deadline = time.monotonic() + timeout
    for node, token in tokens:
        while True:
            status = sc.describe_portfolio_share_status(PortfolioShareToken=token)
            if status.get("Status") in _SHARE_DONE:
                break
            if time.monotonic() > deadline:
                raise DeployError(f"the share with {node} is still {status.get('Status')} after {timeout:.0f}s: "
                                  "Service Catalog carries on; check it with `strata catalog`")
            sleep(poll)
        errors = status.get("ShareDetails", {}).get("ShareErrors", [])
        detail = "; ".join(f"{e.get('Error', '')} {', '.join(e.get('Accounts', []))}".strip() for e in errors)
        lines.append(f"share with {node}: {status['Status']}{': ' + detail if detail else ''}")
        if status["Status"] != "COMPLETED":
            failed.append(lines[-1])
    if failed:
        raise DeployError("Service Catalog could not complete every share:\n  " + "\n  ".join(failed))
    return lines
