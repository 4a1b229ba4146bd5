"""`strata publish` and `strata catalog`: the catalog from `out/<env>/` to
Service Catalog, and back as a listing.

Publishing is its own act, separate from deploying the environment: the
catalog is two stacks of their own, never nested in the root stack,

    <project>-<env>-catalog-launch-role   catalog-launch-role.json (first: a
                                          launch constraint needs the role)
    <project>-<env>-catalog               catalog.json (portfolio, products, ...)

`Publisher.publish` runs, in order:
1. package: the same content-addressed upload as `strata deploy` (the
   product templates land at `catalog/<layer>-<sha256>.json`);
2. record, in `catalog/<env>.versions.json`, a version of every product whose
   template bytes changed since its latest version (`--bump`, patch by
   default), rebuild (the history is an input: catalog.json now lists the
   version) and upload again (only catalog.json is new);
3. check every kept version's template is in the bucket, where the history
   says it is (a version CloudFormation cannot fetch fails the stack);
4. both stacks through a change set each, like `strata deploy`: the plan is
   shown, approved, executed, its events followed, a failure's root cause
   named. Before the catalog's change set runs, a version it would remove
   that a provisioned product still runs refuses the publish;
5. deprecations and Organizations shares (`generator.deploy.portfolio`);
6. with a StackSet target, the launch role to every account of an OU.
Until the catalog stack is updated, any failure puts the history file back
as it was: a version is recorded when it is published, not before.
"""

from __future__ import annotations

import datetime
import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from generator import catalog_history_file
from generator.build import versions
from generator.build.catalog import CATALOG_FILE, LAUNCH_ROLE_FILE
from generator.build.pipeline import build_envs
from generator.deploy import portfolio, stackset
from generator.deploy.changes import Plan
from generator.deploy.errors import DeployError
from generator.deploy.package import BuiltEnv, Packaged, read_build, s3_url
from generator.deploy.rollout import stack_name
from generator.deploy.session import Aws
from templates import LAYER_NAMES
from templates.catalog import artifact_file, product_file, product_id_output

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

# What a real portfolio's and product's ids look like; an endpoint that does
# not create Service Catalog resources (moto's CloudFormation) answers something else.
_PORTFOLIO_ID = re.compile(r"^port-[a-z0-9]+$")
_PRODUCT_ID = re.compile(r"^prod-[a-z0-9]+$")


def catalog_stack(env: EnvConfig) -> str:
    return f"{stack_name(env)}-catalog"


def launch_role_stack(env: EnvConfig) -> str:
    return f"{stack_name(env)}-catalog-launch-role"


def published_layers(env: EnvConfig) -> list[str]:
    return [name for name in LAYER_NAMES if name in env.catalog.products]


def today() -> datetime.date:
    return datetime.datetime.now(datetime.timezone.utc).date()


def record_versions(env: EnvConfig, build: BuiltEnv, packaged: Packaged, history: versions.History,
                    part: versions.Bump, date: datetime.date) -> tuple[versions.History, list[tuple[str, versions.Version]]]:
    """A new version of every product whose packaged template bytes differ
    from its latest version's; returns the history and what was added."""
    added = []
    for layer in published_layers(env):
        data = build.templates[product_file(layer)]
        history, version = versions.record(history, layer, hashlib.sha256(data).hexdigest(),
                                           packaged.url(product_file(layer)), date,
                                           env.catalog.products[layer].version, part)
        if version:
            added.append((layer, version))
    return history, added


def check_code_location(env: EnvConfig, build: BuiltEnv, packaged: Packaged) -> None:
    """Products with Lambda code read their zips from `deploy.bucket` and
    `deploy.prefix` (their templates' defaults); this publish must upload there."""
    from generator.cfn.resources import strata_metadata_of

    coded = [layer for layer in published_layers(env)
             if strata_metadata_of(build.body(product_file(layer)), "Artifacts")]
    expected = (env.deploy.bucket, env.deploy.prefix or f"{env.environment}/")
    if coded and (packaged.bucket, packaged.prefix) != expected:
        raise DeployError(f"{', '.join(coded)} read their Lambda code from s3://{expected[0]}/{expected[1]} "
                          f"(deploy.bucket, deploy.prefix), but this publish uploads to "
                          f"s3://{packaged.bucket}/{packaged.prefix}: leave out --bucket and --prefix")


def check_kept_templates(s3, env: EnvConfig, history: versions.History, packaged: Packaged) -> None:
    """Every version the catalog keeps must be where this publish's bucket and
    prefix put it, and still there: CloudFormation fetches each one."""
    from botocore.exceptions import ClientError

    problems = []
    for layer in published_layers(env):
        removed = env.catalog.products[layer].remove
        for version in history.products.get(layer, []):
            if version.name in removed:
                continue
            key = packaged.prefix + artifact_file(layer, version.sha256)
            expected = s3_url(packaged.bucket, packaged.region, key)
            if version.url != expected:
                problems.append(f"{layer} {version.name} was published to {version.url}, not under "
                                f"s3://{packaged.bucket}/{packaged.prefix}: publish every version from one bucket and "
                                "prefix (deploy.bucket, deploy.prefix), or remove that version")
                continue
            try:
                s3.head_object(Bucket=packaged.bucket, Key=key)
            except ClientError:
                problems.append(f"{layer} {version.name}: its template s3://{packaged.bucket}/{key} is missing "
                                "(content-addressed objects must never be deleted); restore it or remove the version")
    if problems:
        raise DeployError("\n".join(problems))


@dataclass
class ProductState:
    layer: str
    product_id: str
    listed: list[str]
    artifacts: list[portfolio.Artifact] | None = None


@dataclass
class CatalogState:
    """What `strata catalog` and the end of `strata publish` print."""

    stack: str
    region: str
    portfolio_id: str = ""
    products: list[ProductState] = field(default_factory=list)
    shares: dict[str, dict] = field(default_factory=dict)
    created: bool = False  # the endpoint made real Service Catalog resources

    def lines(self) -> list[str]:
        if not self.portfolio_id:
            return [f"{self.stack} ({self.region}): not deployed (strata publish deploys it)"]
        out = [f"{self.stack} ({self.region}): portfolio {self.portfolio_id}"]
        if not self.created:
            out.append("  this endpoint did not create the Service Catalog resources (moto's CloudFormation skips "
                       "them): the versions below are the history's, not read back from Service Catalog")
        width = max((len(p.layer) for p in self.products), default=0)
        for p in self.products:
            names = [a.name for a in p.artifacts] if p.artifacts is not None else p.listed
            deprecated = [a.name for a in p.artifacts or [] if a.deprecated]
            inactive = [a.name for a in p.artifacts or [] if not a.active]
            extra = (f"  deprecated {', '.join(deprecated)}" if deprecated else "") + \
                    (f"  inactive {', '.join(inactive)}" if inactive else "")
            current = names[-1] if names else "-"
            out.append(f"  {p.layer:<{width}}  {p.product_id}  current {current}  kept {', '.join(names) or '-'}{extra}")
        for node, detail in sorted(self.shares.items()):
            flags = [name for name, key in (("tag options", "ShareTagOptions"), ("principals", "SharePrincipals"))
                     if detail.get(key)]
            out.append(f"  shared with {node}{' (' + ', '.join(flags) + ')' if flags else ''}")
        return out


@dataclass
class Publisher:
    env: EnvConfig
    aws: Aws
    param_file: Path
    out_root: Path
    echo: Callable[[str], None] = print
    approve: Callable[[Plan], bool] = lambda plan: True
    show: Callable[[Plan], None] = lambda plan: None
    date: Callable[[], datetime.date] = today

    @property
    def out_dir(self) -> Path:
        return self.out_root / self.env.environment

    @property
    def history_file(self) -> Path:
        return catalog_history_file(self.param_file)

    def history(self) -> versions.History:
        return versions.load(self.history_file, self.env.environment)

    @contextmanager
    def _history_restored_on_failure(self) -> Iterator[None]:
        before = self.history_file.read_bytes() if self.history_file.is_file() else None
        try:
            yield
        except BaseException:
            if before is None:
                self.history_file.unlink(missing_ok=True)
            else:
                self.history_file.write_bytes(before)
            self.echo(f"{self.history_file} left as it was: nothing was published")
            raise

    def publish(self, package: Callable[[], Packaged], part: versions.Bump = "patch",
                stackset_target: str | None = None) -> CatalogState:
        """The whole publish (see the module docstring); `package` uploads
        `out/<env>/` and says where it went (the deploy's packaging step)."""
        with self._history_restored_on_failure():
            packaged = package()
            check_code_location(self.env, read_build(self.out_dir), packaged)
            history, added = record_versions(self.env, read_build(self.out_dir), packaged, self.history(), part, self.date())
            for layer, version in added:
                self.echo(f"{layer}: new version {version.name} (template sha256 {version.sha256[:12]}...)")
            if added:
                versions.save(self.history_file, history)
                build_envs([self.param_file], self.out_root)
                packaged = package()
            else:
                self.echo("no product template changed since its latest version: no new version")
            check_kept_templates(self.aws.client("s3"), self.env, history, packaged)
            self._stack(launch_role_stack(self.env), packaged.url(LAUNCH_ROLE_FILE), {}, "launch role")
            self._stack(catalog_stack(self.env), packaged.url(CATALOG_FILE),
                        {"TemplateBucket": packaged.bucket, "TemplatePrefix": packaged.prefix}, "catalog",
                        before=self._refuse_removals_in_use)
        state = self.state()
        if state.created:
            self._after_stack_update(state)
            state = self.state()
        if stackset_target:
            for line in stackset.roll_out(self.aws.client("cloudformation"), launch_role_stack(self.env),
                                          packaged.url(LAUNCH_ROLE_FILE), stackset_target, self.env.region,
                                          tags=self.env.all_tags, echo=self.echo, poll=self.aws.poll):
                self.echo(line)
        return state

    def _stack(self, name: str, url: str, parameters: dict[str, str], label: str,
               before: Callable[[], None] | None = None) -> None:
        deployer = self.aws.deployer(echo=self.echo)
        plan = deployer.plan(name, label=label, template_url=url, parameters=parameters, tags=self.env.all_tags)
        self.show(plan)
        if not plan.executable:
            return
        try:
            if before:
                before()
            if not self.approve(plan):
                raise DeployError(f"not approved: {name} was not changed")
        except DeployError:
            deployer.discard(plan)
            raise
        self.echo(f"{name}: {deployer.execute(plan)}")

    def _outputs(self) -> dict[str, str]:
        stack = self.aws.deployer(echo=self.echo).stack(catalog_stack(self.env)) or {}
        return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs", []) or []}

    def _product_ids(self, outputs: dict[str, str]) -> dict[str, str]:
        ids = {layer: outputs.get(product_id_output(layer), "") for layer in published_layers(self.env)}
        return {layer: value for layer, value in ids.items() if _PRODUCT_ID.match(value)}

    def _refuse_removals_in_use(self) -> None:
        removals = {layer: self.env.catalog.products[layer].remove for layer in published_layers(self.env)}
        if any(removals.values()):
            portfolio.refuse_removals_in_use(self.aws.client("servicecatalog"), self._product_ids(self._outputs()), removals)

    def _after_stack_update(self, state: CatalogState) -> None:
        sc = self.aws.client("servicecatalog")
        for product in state.products:
            settings = self.env.catalog.products[product.layer]
            for line in portfolio.apply_guidance(sc, product.product_id, settings.deprecate, settings.deactivate_deprecated):
                self.echo(f"{product.layer} {line}")
        share = self.env.catalog.share
        changes = portfolio.reconcile_shares(sc, state.portfolio_id, share.organization_nodes, share.tag_options,
                                             share.principals)
        for line in changes.notes:
            self.echo(line)
        for line in portfolio.wait_for_shares(sc, changes.tokens, poll=self.aws.poll):
            self.echo(line)

    def state(self) -> CatalogState:
        """The catalog as deployed: its stack's outputs and, where Service
        Catalog has them, each product's versions and the portfolio's shares."""
        state = CatalogState(catalog_stack(self.env), self.env.region)
        outputs = self._outputs()
        state.portfolio_id = outputs.get("PortfolioId", "")
        if not state.portfolio_id:
            return state
        state.created = bool(_PORTFOLIO_ID.match(state.portfolio_id))
        history = self.history()
        ids = self._product_ids(outputs)
        sc = self.aws.client("servicecatalog") if state.created else None
        for layer in published_layers(self.env):
            listed = [v.name for v in history.products.get(layer, [])
                      if v.name not in self.env.catalog.products[layer].remove]
            found = portfolio.artifacts(sc, ids[layer]) if sc and layer in ids else None
            state.products.append(ProductState(layer, ids.get(layer, outputs.get(product_id_output(layer), "-")),
                                               listed, found))
        if sc:
            state.shares = portfolio.organization_shares(sc, state.portfolio_id)
        return state


def history_lines(env: EnvConfig, history: versions.History) -> list[str]:
    """The committed history, per product: every version with its date and sha256."""
    lines = [f"history ({env.environment}):"]
    for layer in published_layers(env):
        settings = env.catalog.products[layer]
        for v in history.products.get(layer, []):
            notes = [n for n, on in (("deprecated", v.name in settings.deprecate), ("removed", v.name in settings.remove)) if on]
            lines.append(f"  {layer:<10} {v.name:<8} {v.date}  sha256 {v.sha256[:12]}{'  ' + ', '.join(notes) if notes else ''}")
        if not history.products.get(layer):
            lines.append(f"  {layer:<10} nothing published yet")
    return lines


def require_catalog(env: EnvConfig, param_file: Path) -> None:
    if not env.catalog.enabled:
        raise DeployError(f"{param_file}: the catalog is not enabled (set catalog.enabled: true and list the layers "
                          "to publish in catalog.products)")


def state_dict(state: CatalogState) -> dict[str, Any]:
    return {
        "stack": state.stack, "region": state.region, "portfolio_id": state.portfolio_id or None,
        "created": state.created,
        "products": {p.layer: {"id": p.product_id, "kept": [a.name for a in p.artifacts] if p.artifacts is not None
                               else p.listed,
                               "deprecated": [a.name for a in p.artifacts or [] if a.deprecated]} for p in state.products},
        "shares": sorted(state.shares),
    }
