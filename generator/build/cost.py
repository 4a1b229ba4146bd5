"""The monthly cost estimate of one environment, read off its templates.

`estimate(bodies, region, usage)` flattens the environment
(`generator.build.environment`), bills every resource with its type's meter
(`generator.build.cost_meters`) at the prices of the region's table
(`generator/build/prices/<region>.yaml`, kept in the repository, never
fetched), and sums per layer. A resource type with no meter, or a price the
region's table lacks, is listed under "not priced" and left out of the sums,
so a total is never quietly short.

The same meters answer seed 000's question, NAT gateway or interface
endpoint for a given amount of traffic (`nat_vs_endpoint`), and what
switching `network.nat` (or `network.endpoint_az_count`, where the network
layer has it) would change (`network_alternatives`, which rebuilds the
network layer with the other setting and prices it the same way).

`delta(old, new)` compares two estimates (two builds' cost.json) per layer:
`strata plan` and `deploy` print it for the deployed build against the new one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from generator.build.cost_meters import FREE, METERS, Line, Meter
from generator.build.cost_section import CostConfig
from generator.build.environment import flatten

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

PRICES_DIR = Path(__file__).resolve().parent / "prices"
COST_JSON, COST_MD = "cost.json", "cost.md"


@lru_cache(maxsize=None)
def prices(region: str) -> dict[str, dict]:
    """The region's price table: key -> {usd, unit, page (URL), read (date)}; {} for a region without one."""
    path = PRICES_DIR / f"{region}.yaml"
    if not path.is_file():
        return {}
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    pages = data.get("pages", {})
    return {
        key: {"usd": float(p["usd"]), "unit": p["unit"], "page": pages.get(p["page"], p["page"]), "read": str(p["read"])}
        for key, p in data.get("prices", {}).items()
    }


@dataclass
class Estimate:
    environment: str
    region: str
    usage: CostConfig
    lines: list[Line]
    unpriced_types: list[tuple[str, str, str]]  # (layer, resource, type) of types with no meter
    alternatives: list[dict] = field(default_factory=list)

    @property
    def layers(self) -> dict[str, float]:
        sums: dict[str, float] = {}
        for line in self.lines:
            sums[line.layer] = sums.get(line.layer, 0.0) + (line.monthly or 0.0)
        return {k: round(v, 2) for k, v in sorted(sums.items())}

    @property
    def total(self) -> float:
        """The sum of the layers as shown (each rounded to cents), so the table adds up."""
        return round(sum(self.layers.values()), 2)

    @property
    def not_priced(self) -> list[dict]:
        missing = [{"layer": layer, "resource": rid, "type": kind, "why": "no meter for this type"}
                   for layer, rid, kind in self.unpriced_types]
        missing += [{"layer": line.layer, "resource": line.resource, "type": line.type,
                     "why": f"no price '{line.price}' in prices/{self.region}.yaml"}
                    for line in self.lines if line.monthly is None]
        return missing

    def to_dict(self) -> dict:
        table = prices(self.region)
        used = sorted({line.price for line in self.lines if line.price in table})
        return {
            "environment": self.environment, "region": self.region, "currency": "USD",
            "total_monthly": self.total, "layers": self.layers,
            "lines": [line.to_dict() for line in self.lines], "not_priced": self.not_priced,
            "usage": self.usage.model_dump(), "alternatives": self.alternatives,
            "nat_vs_endpoint": nat_vs_endpoint(table, self.usage),
            "prices": {key: table[key] for key in used},
        }


def _meter(bodies: dict[str, dict], region: str, usage: CostConfig) -> tuple[list[Line], list[tuple[str, str, str]]]:
    view = flatten(bodies)
    meter = Meter(view, prices(region), usage)
    unpriced = []
    for rid, resource in view.resources.items():
        kind = resource.get("Type", "")
        if not meter.resolver.exists(rid) or kind in FREE:
            continue
        if kind in METERS:
            METERS[kind](meter, rid)
        else:
            file, logical_id = view.origin[rid]
            unpriced.append((file.removesuffix(".json"), logical_id, kind))
    _traffic(meter)
    return meter.lines, unpriced


def _traffic(meter: Meter) -> None:
    """Data processed by the NAT gateways and interface endpoints: once per
    environment (`cost.nat_gb`, `cost.endpoint_gb`), on the first of them."""
    view = meter.view
    nats = sorted(view.of_type("AWS::EC2::NatGateway"))
    endpoints = sorted(k for k in view.of_type("AWS::EC2::VPCEndpoint")
                       if meter.prop(k, "VpcEndpointType") == "Interface")
    if nats:
        meter.bill(nats[0], "data processed by all NAT gateways (cost.nat_gb)", meter.usage.nat_gb, "nat_gateway_gb", True)
    if endpoints:
        meter.bill(endpoints[0], "data processed by all interface endpoints (cost.endpoint_gb)",
                   meter.usage.endpoint_gb, "interface_endpoint_gb", True)


def estimate(bodies: dict[str, dict], region: str, usage: CostConfig | None = None, environment: str = "") -> Estimate:
    """Price every resource of an environment's templates (`file -> body`, root.json included)."""
    usage = usage or CostConfig()
    lines, unpriced = _meter(bodies, region, usage)
    return Estimate(environment, region, usage, lines, unpriced)


def layer_cost(bodies: dict[str, dict], region: str, usage: CostConfig) -> float:
    return round(sum(line.monthly or 0.0 for line in _meter(bodies, region, usage)[0]), 2)


def network_alternatives(env: EnvConfig, bodies: dict[str, dict]) -> list[dict]:
    """What the network layer would cost with each other `nat` mode (and
    `endpoint_az_count`, when the network layer has that setting): the layer
    is rebuilt with the setting changed and priced like the real one."""
    from generator.build.output import render
    from templates import network

    if "network.json" not in bodies:
        return []
    cfg = env.network
    current = layer_cost({"network.json": bodies["network.json"]}, env.region, env.cost)
    options: list[tuple[str, object]] = [("nat", mode) for mode in ("per_az", "single", "none") if mode != cfg.nat]
    if cfg.interface_endpoints:
        options += [("endpoint_az_count", n) for n in range(1, cfg.az_count + 1) if n != cfg.endpoint_azs()]
    found = []
    for setting, value in options:
        changed = env.model_copy(update={"network": cfg.model_copy(update={setting: value})})
        body = render("network.json", network.build(changed)).body
        monthly = layer_cost({"network.json": body}, env.region, env.cost)
        current_value = cfg.endpoint_azs() if setting == "endpoint_az_count" else getattr(cfg, setting)
        found.append({"setting": f"network.{setting}", "value": value, "current": current_value,
                      "network_monthly": monthly, "delta_monthly": round(monthly - current, 2)})
    return found


def nat_vs_endpoint(table: dict[str, dict], usage: CostConfig, gb_a_month: tuple[float, ...] | None = None,
                    endpoint_azs: int = 1) -> list[dict]:
    """Seed 000's comparison for this region: one NAT gateway against one
    interface endpoint in `endpoint_azs` AZs, for the GB a month given
    (default 100 GB, 1 TB and 100 TB, a TB being `usage.gb_per_tb` GB).
    Empty when a price is missing."""
    keys = ("nat_gateway_hour", "nat_gateway_gb", "interface_endpoint_hour", "interface_endpoint_gb")
    if not all(k in table for k in keys):
        return []
    rows = []
    for gb in gb_a_month or (100, usage.gb_per_tb, 100 * usage.gb_per_tb):
        rows.append({
            "gb": round(gb, 2),
            "nat_monthly": round(monthly_nat(table, usage.hours_per_month, gb), 2),
            "endpoint_monthly": round(monthly_endpoint(table, usage.hours_per_month, gb, endpoint_azs), 2),
        })
    return rows


def monthly_nat(table: dict[str, dict], hours: float, gb: float, count: int = 1) -> float:
    """NAT gateways: an hourly charge each, and every GB they process."""
    return count * hours * table["nat_gateway_hour"]["usd"] + gb * table["nat_gateway_gb"]["usd"]


def monthly_endpoint(table: dict[str, dict], hours: float, gb: float, azs: int = 1) -> float:
    """One interface endpoint: an hourly charge per AZ it sits in, and every GB it processes."""
    return azs * hours * table["interface_endpoint_hour"]["usd"] + gb * table["interface_endpoint_gb"]["usd"]


def for_build(env: EnvConfig, bodies: dict[str, dict]) -> Estimate:
    """The estimate a build writes: the environment's templates, its `cost`
    section, the NAT alternatives. The catalog's templates are left out:
    `strata deploy` never deploys them (teams launch the products in their
    own accounts, on their own bill)."""
    from generator.cfn.resources import is_catalog_template

    bodies = {file: body for file, body in bodies.items() if not is_catalog_template(body)}
    result = estimate(bodies, env.region, env.cost, env.environment)
    result.alternatives = network_alternatives(env, bodies)
    return result


def _money(value: float | None) -> str:
    return "not priced" if value is None else f"${value:,.2f}"


def markdown(document: dict) -> str:
    """cost.md: per layer, every line, what is not priced, the NAT choices, the prices used."""
    out = [f"# Monthly cost estimate: {document['environment']} ({document['region']})", "",
           f"**About {_money(document['total_monthly'])} a month**, at list prices (USD, before tax and free tiers) "
           f"for the usage in the parameter file's `cost` section ({document['usage']['hours_per_month']:g} hours "
           "a month). Lines marked *usage* scale with that usage; the others are fixed by the templates.", "",
           "| layer | monthly |", "|---|---:|"]
    out += [f"| {layer} | {_money(value)} |" for layer, value in document["layers"].items()]
    out += ["", "| layer | resource | item | quantity | unit | monthly |", "|---|---|---|---:|---|---:|"]
    for line in document["lines"]:
        usage = " *usage*" if line["usage"] else ""
        out.append(f"| {line['layer']} | {line['resource']} | {line['item']}{usage} | {line['quantity']:,.2f} | "
                   f"{line['unit']} | {_money(line['monthly'])} |")
    if document["not_priced"]:
        out += ["", "## Not priced (left out of the totals)", ""]
        out += [f"- {n['layer']}/{n['resource']} ({n['type']}): {n['why']}" for n in document["not_priced"]]
    if document["alternatives"]:
        out += ["", "## Other network settings", "", "| setting | now | instead | network layer | change |",
                "|---|---|---|---:|---:|"]
        out += [f"| {a['setting']} | {a['current']} | {a['value']} | {_money(a['network_monthly'])} | "
                f"{a['delta_monthly']:+,.2f} |" for a in document["alternatives"]]
    if document["nat_vs_endpoint"]:
        out += ["", "## One NAT gateway or one interface endpoint (seed 000)", "",
                "| GB a month | NAT gateway | interface endpoint (1 AZ) |", "|---:|---:|---:|"]
        out += [f"| {r['gb']:,.0f} | {_money(r['nat_monthly'])} | {_money(r['endpoint_monthly'])} |"
                for r in document["nat_vs_endpoint"]]
    out += ["", "## Prices used", "", "| price | USD | unit | read | page |", "|---|---:|---|---|---|"]
    out += [f"| {k} | {p['usd']:g} | {p['unit']} | {p['read']} | {p['page']} |" for k, p in document["prices"].items()]
    return "\n".join(out) + "\n"


def files(result: Estimate) -> dict[str, bytes]:
    document = result.to_dict()
    return {COST_JSON: (json.dumps(document, indent=2, sort_keys=True) + "\n").encode(), COST_MD: markdown(document).encode()}


def summary(document: dict) -> list[str]:
    """A few lines for `strata build`: the total, the layers, what is not priced, the NAT choices."""
    layers = ", ".join(f"{k} {_money(v)}" for k, v in document["layers"].items() if v)
    lines = [f"about {_money(document['total_monthly'])}/month ({layers})"]
    if document["not_priced"]:
        lines.append(f"not priced: {', '.join(sorted({n['type'] for n in document['not_priced']}))}")
    for a in document["alternatives"]:
        lines.append(f"{a['setting']}: {a['value']} instead of {a['current']} would change it by {a['delta_monthly']:+,.2f}/month")
    return lines


def table(document: dict) -> str:
    """`strata cost`: every line, then the layer sums and the total."""
    rows = [("layer", "resource", "item", "monthly")]
    rows += [(l["layer"], l["resource"], l["item"] + (" (usage)" if l["usage"] else ""), _money(l["monthly"]))
             for l in document["lines"]]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    out = ["  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3].rjust(12) for r in rows]
    out.append("")
    out += [f"{layer:<{widths[0]}}  {_money(value):>12}" for layer, value in document["layers"].items()]
    out.append(f"{'total':<{widths[0]}}  {_money(document['total_monthly']):>12}  per month")
    out += [f"not priced: {n['layer']}/{n['resource']} ({n['type']}): {n['why']}" for n in document["not_priced"]]
    out += [f"{a['setting']}: {a['value']} instead of {a['current']}: {a['delta_monthly']:+,.2f}/month"
            for a in document["alternatives"]]
    return "\n".join(out)


def delta(old: dict | None, new: dict) -> list[str]:
    """Per layer, the monthly change from `old` (the deployed build's estimate,
    None before a first deploy) to `new`, then the total; only what changed."""
    before = (old or {}).get("layers", {})
    after = new.get("layers", {})
    lines = []
    for layer in sorted(set(before) | set(after)):
        a, b = before.get(layer, 0.0), after.get(layer, 0.0)
        if round(b - a, 2):
            lines.append(f"  {layer}: {_money(a)} -> {_money(b)} ({b - a:+,.2f})")
    total_before, total_after = (old or {}).get("total_monthly", 0.0), new.get("total_monthly", 0.0)
    head = (f"monthly cost: {_money(total_before)} -> {_money(total_after)} ({total_after - total_before:+,.2f})"
            if lines else f"monthly cost: {_money(total_after)}, unchanged")
    return [head, *lines]
