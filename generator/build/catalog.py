"""The catalog step of the build: built layer templates -> product templates,
the launch role and the portfolio template, under `out/<env>/`:

    catalog/<layer>.json        one product template per published layer
    catalog-launch-role.json    the role every launching account needs
    catalog.json                the portfolio stack (`strata publish` deploys it)

A product template is its layer's template, made to launch alone in another
team's account: an input that a published product writes to Parameter
Store (the network and security layers do, `publish_outputs`) becomes an
`AWS::SSM::Parameter::Value<...>` parameter defaulting to that name, so the
launch form is filled in for a team that launched the network product
first; Lambda code is read from the template bucket `deploy.bucket` names.
Everything else (labels, groups, descriptions) is the layer's own launch
form (`generator.cfn.resources.launch_form`); rule E9004 checks it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import TYPE_CHECKING

from generator.build import versions
from generator.build.output import RenderedTemplate, render
from generator.cfn.resources import FORM, TEMPLATE_BUCKET, TEMPLATE_PREFIX, apply_tags, strata_metadata_of
from templates import LAYER_NAMES
from templates import catalog as catalog_layer

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

CATALOG_FILE = "catalog.json"
LAUNCH_ROLE_FILE = "catalog-launch-role.json"
SSM_TYPE = "AWS::SSM::Parameter::Value<{}>"
# Settings that validate a parameter's value; an SSM-typed parameter's value is the parameter's name.
_VALUE_RULES = ("AllowedPattern", "AllowedValues", "ConstraintDescription", "MinLength", "MaxLength", "MinValue",
                "MaxValue")


class CatalogProblems(Exception):
    """Catalog settings that do not fit the built templates or the history: `(field path, message)` each."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        super().__init__("; ".join(message for _, message in problems))
        self.problems = problems


def rendered(file: str, body: dict) -> RenderedTemplate:
    """A template body as the build writes every template (sorted keys, two-space indent)."""
    return RenderedTemplate(file, json.dumps(body, indent=2, sort_keys=True) + "\n")


def _ssm_type(declared: str) -> str:
    if declared == "CommaDelimitedList":
        return SSM_TYPE.format("List<String>")
    return SSM_TYPE.format(declared)


def _parameter_store_sources(env: EnvConfig, bodies: dict[str, dict]) -> dict[str, tuple[str, str]]:
    """Output name -> (published layer that writes it to Parameter Store, the parameter's name)."""
    return {
        output: (layer, path)
        for layer, body in bodies.items() if layer in env.catalog.products
        for output, path in strata_metadata_of(body, "ParameterStore", {}).items()
    }


def product_body(env: EnvConfig, layer: str, body: dict, sources: dict[str, tuple[str, str]]) -> dict:
    """`layer`'s built template as a product: inputs another published product
    writes to Parameter Store read from there by default; the Lambda code
    location defaults to `deploy.bucket`/`deploy.prefix`."""
    product = copy.deepcopy(body)
    parameters = product.get("Parameters", {})
    moved: dict[str, list[str]] = {}
    for name, definition in parameters.items():
        producer, path = sources.get(name, (layer, ""))
        if producer == layer:
            continue
        parameters[name] = {
            **{k: v for k, v in definition.items() if k not in _VALUE_RULES},
            "Type": _ssm_type(definition["Type"]), "Default": path,
            "Description": f"{definition['Description']}. Read from Parameter Store, where the {producer} product "
                           "writes it; give another parameter name to use another one",
        }
        moved.setdefault(producer, []).append(name)
    if TEMPLATE_BUCKET in parameters and env.deploy.bucket:
        parameters[TEMPLATE_BUCKET]["Default"] = env.deploy.bucket
        parameters[TEMPLATE_PREFIX]["Default"] = env.deploy.prefix or f"{env.environment}/"
    metadata = product.setdefault("Metadata", {})
    if moved:
        form = metadata[FORM]
        groups = [{**g, "Parameters": [p for p in g["Parameters"] if not any(p in m for m in moved.values())]}
                  for g in form["ParameterGroups"]]
        stored = [{"Label": {"default": f"From the {producer} product (Parameter Store)"}, "Parameters": names}
                  for producer, names in sorted(moved.items(), key=lambda item: LAYER_NAMES.index(item[0]))]
        form["ParameterGroups"] = stored + [g for g in groups if g["Parameters"]]
    metadata.setdefault("Strata", {})["Catalog"] = "product"
    product["Description"] = f"{body.get('Description', layer)} (Service Catalog product)"
    return product


def _product_problems(env: EnvConfig, layer: str, product: dict) -> list[tuple[tuple, str]]:
    settings = env.catalog.products[layer]
    where = ("catalog", "products", layer)
    parameters = product.get("Parameters", {})
    problems = []
    if strata_metadata_of(product, "Artifacts") and not env.deploy.bucket:
        problems.append((where, f"the {layer} layer runs Lambda code that launching accounts read from the template "
                                "bucket: set deploy.bucket (and deploy.prefix) so the product can name it"))
    for name, allowed in settings.allowed_values.items():
        at = (*where, "allowed_values", name)
        definition = parameters.get(name)
        if definition is None:
            problems.append((at, f"not a parameter of the {layer} product (its parameters: {', '.join(sorted(parameters)) or 'none'})"))
            continue
        outside = [v for v in allowed if "AllowedValues" in definition and v not in map(str, definition["AllowedValues"])]
        if outside:
            problems.append((at, f"{', '.join(outside)} not among the values {name} accepts ({', '.join(map(str, definition['AllowedValues']))})"))
        if "Default" in definition and str(definition["Default"]) not in allowed:
            problems.append((at, f"the form's default {definition['Default']} is not allowed: list it too, so a launch "
                                 "that keeps the default is not refused"))
    return problems


def _version_problems(env: EnvConfig, layer: str, listed: list[versions.Listed],
                      history: versions.History) -> list[tuple[tuple, str]]:
    settings = env.catalog.products[layer]
    published = [v.name for v in history.products.get(layer, [])]
    pending = [v.name for v in listed if not v.published]
    latest = (pending or published or [""])[-1]
    problems = []
    for field in ("deprecate", "remove"):
        for index, name in enumerate(getattr(settings, field)):
            at = ("catalog", "products", layer, field, index)
            if name not in published:
                have = f"published: {', '.join(published)}" if published else "nothing is published yet"
                problems.append((at, f"{name} is not a published version of {layer} ({have})"))
            elif name == latest:
                problems.append((at, f"{name} is the latest version of {layer}: publish a newer one first"))
    return problems


def build_catalog(env: EnvConfig, bodies: dict[str, dict], history: versions.History) -> list[RenderedTemplate]:
    """The catalog's templates for `bodies` (layer -> built template). Raises
    CatalogProblems when a product's settings do not fit its template or history."""
    sources = _parameter_store_sources(env, bodies)
    products: dict[str, dict] = {}
    listings: dict[str, list[versions.Listed]] = {}
    problems: list[tuple[tuple, str]] = []
    for layer in (name for name in LAYER_NAMES if name in env.catalog.products):
        products[layer] = product_body(env, layer, bodies[layer], sources)
        sha256 = hashlib.sha256(rendered(catalog_layer.product_file(layer), products[layer]).data).hexdigest()
        settings = env.catalog.products[layer]
        listings[layer] = versions.listing(history, layer, sha256, settings.version, settings.remove)
        problems += _product_problems(env, layer, products[layer]) + _version_problems(env, layer, listings[layer], history)
    if problems:
        raise CatalogProblems(problems)
    role = catalog_layer.launch_role(env, products)
    portfolio = catalog_layer.build(env, {layer: [(v.name, v.sha256) for v in listed] for layer, listed in listings.items()})
    for template in (role, portfolio):
        apply_tags(template, env.all_tags)
    return [
        *(rendered(catalog_layer.product_file(layer), body) for layer, body in products.items()),
        render(LAUNCH_ROLE_FILE, role),
        render(CATALOG_FILE, portfolio),
    ]

