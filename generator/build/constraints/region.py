"""Rules that need the region: what it offers (cfn-lint's lists, in
`generator.build.awsdata`) and settings the templates could not carry."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from generator.build import awsdata
from generator.build.constraints.base import Problem, sections_of
from generator.cfn.sections import OfferedIn, Section, markers

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

def _offered(kind: str, region: str, section: Section) -> frozenset[str]:
    if kind == "ec2":
        return awsdata.instance_types(region)
    if kind == "elasticache":
        return awsdata.cache_node_types(region)
    return awsdata.db_instance_classes(region, getattr(section, "engine", ""))


def _types_offered_in_region(env: EnvConfig) -> list[Problem]:
    """Every field marked `OfferedIn` (instance types, DB classes, node types)
    names a type the region offers, by cfn-lint's lists; a region cfn-lint
    has no list for (the isolated ones) is not checked."""
    problems = []
    for loc, section in sections_of(env):
        for name, info in type(section).model_fields.items():
            for marker in dict.fromkeys(markers(info, OfferedIn)):  # X | list[X] marks it twice
                offered = _offered(marker.kind, env.region, section)
                value = getattr(section, name)
                items = enumerate(value) if isinstance(value, list) else [(None, value)]
                for index, item in items:
                    if offered and item is not None and item not in offered:
                        close = difflib.get_close_matches(item, offered, n=3)
                        problems.append((
                            (*loc, name) if index is None else (*loc, name, index),
                            f"{item} is not offered in {env.region} (cfn-lint's list of {marker.kind} types"
                            f"{' for ' + section.engine if marker.kind == 'rds' else ''})"
                            + (f"; did you mean {', '.join(close)}?" if close else ""),
                        ))
    return problems


def _azs_in_region(env: EnvConfig) -> list[Problem]:
    zones = awsdata.availability_zones().get(env.region)
    if env.network.enabled and zones and env.network.az_count > zones:
        return [(("network", "az_count"), f"{env.region} has {zones} availability zones; az_count "
                                          f"{env.network.az_count} cannot be spread over them")]
    return []


def _explicit_subnets_listed(env: EnvConfig) -> list[Problem]:
    """An empty list is not "plan them for me": that is leaving the field out."""
    return [
        (("network", name), f"lists no CIDRs: give one per AZ (az_count {env.network.az_count}), or leave "
                            f"{name} out for the automatic plan")
        for name in ("public_subnets", "private_subnets")
        if env.network.enabled and getattr(env.network, name) == []
    ]


def _records_have_targets(env: EnvConfig) -> list[Problem]:
    """A record the file asks for, pointing at a layer that is off, would simply not exist."""
    if not env.dns.enabled or "records" not in env.dns.model_fields_set:
        return []
    layer = {"alb": "web", "cloudfront": "static"}
    return [
        (("dns", "records", name), f"points at {target} but {layer[target]}.enabled is false, so the record would "
                                   f"not be created: enable {layer[target]} or remove the record")
        for name, target in env.dns.records.items() if not env.section(layer[target]).enabled
    ]


def _flow_logs_on(env: EnvConfig) -> list[Problem]:
    """Strata's lint gate refuses a VPC without flow logs (rule E9001, seeds 000/002/004): say so on the field."""
    if env.network.enabled and not env.network.flow_logs.enabled:
        return [(("network", "flow_logs", "enabled"), "must stay true: Strata's lint gate requires flow logs on "
                                                       "every VPC (rule E9001); lower retention_days to keep them cheap")]
    return []


RULES = [
    _types_offered_in_region,
    _azs_in_region,
    _explicit_subnets_listed,
    _records_have_targets,
    _flow_logs_on,
]
