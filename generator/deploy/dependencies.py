"""What the data stores of an environment depend on, read from its templates.

Replacing a database loses data; replacing what a database sits in can be
as bad. A new VPC (after a `network.cidr` change) means new subnets and new
security groups, and CloudFormation then tries to move Aurora's subnet
group, the cache's subnet group and EFS's mount targets into them: RDS,
ElastiCache and EFS refuse to move a running store to another VPC, and the
update fails half way with the stores still attached to the old network.
A new KMS key re-encrypts nothing; the store keeps the old key or is
replaced too.

So a resource a data store depends on is guarded like the store itself: its
replacement is listed apart, refused without `--allow-replacement`, and the
stack policy denies it. "Depends on" is derived from the templates: it is
what a data store (a resource of `STATEFUL_TYPES`) reads, directly or
through other resources, parameters, outputs and the root's by-name wiring
(`generator.deploy.references`), plus what the store's attachments read
(resources that exist to place one store and name it: an EFS mount target
names its file system, the file system does not name its mount targets).
The walk stays inside what a store sits in: resources of the store's own
service (subnet groups, parameter groups, mount targets), the network (EC2)
and keys (KMS). It does not follow a bucket's notification into the Lambda
function it calls, nor that function into the CDN it invalidates: replacing
those moves no data.
"""

from __future__ import annotations

from collections import deque

from generator.deploy.changes import STATEFUL_TYPES
from generator.deploy.references import Node, Stacks

# Resources that attach a network placement to one data store and name it in
# a property that cannot change (`FileSystemId`, `VolumeId`): the only
# reverse edges of the graph.
ATTACHMENT_TYPES = frozenset({"AWS::EFS::MountTarget", "AWS::EC2::VolumeAttachment"})
# Services every store may sit in, besides its own: the network and keys.
PLACEMENT_SERVICES = frozenset({"EC2", "KMS"})

Key = tuple[str, str]  # (stack label, logical id)


def _name(key: Key) -> str:
    return f"{key[0]}/{key[1]}"


def data_dependencies(stacks: Stacks) -> dict[Key, tuple[str, ...]]:
    """Every resource (not itself stateful) that a data store depends on ->
    the stores that do ("Database/AuroraCluster"), sorted."""
    stores = [(label, logical_id) for label, logical_id, resource in stacks.all_resources()
              if resource.get("Type") in STATEFUL_TYPES]
    attached: dict[Key, list[Key]] = {}
    for label, logical_id, resource in stacks.all_resources():
        if resource.get("Type") in ATTACHMENT_TYPES:
            for node in stacks.reads(label, resource.get("Properties", {})):
                if node[1] == "resource" and stacks.resources(node[0])[node[2]].get("Type") in STATEFUL_TYPES:
                    attached.setdefault((node[0], node[2]), []).append((label, logical_id))
    found: dict[Key, set[str]] = {}
    for store in stores:
        starts = [store, *attached.get(store, [])]
        services = PLACEMENT_SERVICES | {_service(stacks.resources(store[0])[store[1]].get("Type", ""))}
        for key in _reached(stacks, [(label, "resource", logical_id) for label, logical_id in starts], services):
            resource = stacks.resources(key[0]).get(key[1], {})
            if key != store and resource.get("Type") not in STATEFUL_TYPES:
                found.setdefault(key, set()).add(_name(store))
    return {key: tuple(sorted(names)) for key, names in sorted(found.items())}


def _service(resource_type: str) -> str:
    return resource_type.split("::")[1] if resource_type.count("::") == 2 else ""


def _reached(stacks: Stacks, starts: list[Node], services: frozenset[str]) -> set[Key]:
    """The resources reachable from `starts` over "reads" edges (the starts
    included), entering only resources of `services`."""
    seen: set[Node] = set(starts)
    queue = deque(starts)
    while queue:
        node = queue.popleft()
        for nxt in stacks.edges(node):
            label, kind, name = nxt
            if kind == "resource" and _service(stacks.resources(label)[name].get("Type", "")) not in services:
                continue
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return {(label, name) for label, kind, name in seen if kind == "resource"}


def by_stack(dependencies: dict[Key, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """The same, as stack label -> logical ids (what a stack policy names)."""
    grouped: dict[str, list[str]] = {}
    for label, logical_id in dependencies:
        grouped.setdefault(label, []).append(logical_id)
    return {label: tuple(sorted(ids)) for label, ids in sorted(grouped.items())}


def reason(stores: tuple[str, ...]) -> str:
    """'Database/AuroraCluster depends on it', shortened past two stores."""
    shown = ", ".join(stores[:2]) + (f" and {len(stores) - 2} more" if len(stores) > 2 else "")
    return f"{shown} {'depends' if len(stores) == 1 else 'depend'} on it"
