"""What the data-tier tests (database, cache, messaging, storage) share:
cutting from a template the resources moto's CloudFormation does not build,
and picking the parameters a template takes."""

from __future__ import annotations

import copy

import boto3

REGION = "eu-west-1"


def client(aws: str, service: str):
    return boto3.client(service, endpoint_url=aws, region_name=REGION)


def _mentions(node, names: set[str]) -> bool:
    if isinstance(node, dict):
        if node.get("Ref") in names or (isinstance(node.get("Fn::GetAtt"), list) and node["Fn::GetAtt"][0] in names):
            return True
        if isinstance(node.get("Fn::Sub"), str) and any(f"${{{n}" in node["Fn::Sub"] for n in names):
            return True
        return any(_mentions(v, names) for v in node.values())
    if isinstance(node, list):
        return any(_mentions(v, names) for v in node)
    return False


def without_types(body: dict, types: set[str]) -> tuple[dict, list[str]]:
    """The template without the resources of `types`, the resources that
    read them (transitively), and the outputs that do; with the cut names,
    so a test can say exactly what it did not deploy."""
    result = copy.deepcopy(body)
    resources = result["Resources"]
    cut = {name for name, r in resources.items() if r["Type"] in types}
    while True:
        more = {name for name, r in resources.items() if name not in cut and _mentions(r.get("Properties", {}), cut)}
        if not more:
            break
        cut |= more
    for name in cut:
        del resources[name]
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if depends is not None:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in cut]
            if kept:
                resource["DependsOn"] = kept
            else:
                del resource["DependsOn"]
    result["Outputs"] = {k: v for k, v in result.get("Outputs", {}).items() if not _mentions(v, cut)}
    return result, sorted(cut)


def stack_parameters(body: dict, available: dict[str, str]) -> dict[str, str]:
    """The values of `available` the template takes as parameters."""
    return {k: v for k, v in available.items() if k in body.get("Parameters", {})}
