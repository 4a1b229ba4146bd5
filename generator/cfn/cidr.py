"""CIDR planning over `ipaddress`: the one place subnets are carved out."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


class CidrPlanError(ValueError):
    """A subnet plan that cannot fit; the message says what would."""


@dataclass(frozen=True)
class SubnetPlan:
    public: tuple[str, ...]
    private: tuple[str, ...]


def plan_subnets(vpc_cidr: str, az_count: int, new_prefix: int) -> SubnetPlan:
    """Carve `2 * az_count` equal subnets of size `/new_prefix` from the VPC
    block: public subnets first (one per AZ), then private ones, in address
    order, so adding nothing to a file never moves a subnet.

    AWS reserves 5 addresses in every subnet and accepts /16 to /28, hence the
    bounds checked here."""
    vpc = ipaddress.ip_network(vpc_cidr, strict=True)
    if not 16 <= vpc.prefixlen <= 28:
        raise CidrPlanError(f"VPC CIDR {vpc_cidr} must be between /16 and /28")
    if not vpc.prefixlen < new_prefix <= 28:
        raise CidrPlanError(
            f"subnet size /{new_prefix} must be smaller than the VPC (/{vpc.prefixlen}) and at most /28"
        )
    needed = 2 * az_count
    available = 2 ** (new_prefix - vpc.prefixlen)
    if needed > available:
        fits = vpc.prefixlen + (needed - 1).bit_length()
        raise CidrPlanError(
            f"{needed} subnets of /{new_prefix} do not fit in {vpc_cidr} (room for {available}); "
            f"use subnet_prefix /{fits} or larger number, or a bigger VPC CIDR"
        )
    subnets = [str(s) for s in vpc.subnets(new_prefix=new_prefix)][:needed]
    return SubnetPlan(public=tuple(subnets[:az_count]), private=tuple(subnets[az_count:]))


def check_subnets(vpc_cidr: str, subnets: list[str]) -> None:
    """Explicit subnet CIDRs must lie inside the VPC and not overlap each other."""
    vpc = ipaddress.ip_network(vpc_cidr)
    nets = [ipaddress.ip_network(s, strict=True) for s in subnets]
    for net in nets:
        if not net.subnet_of(vpc):
            raise CidrPlanError(f"subnet {net} is outside the VPC CIDR {vpc}")
    for i, a in enumerate(nets):
        for b in nets[i + 1 :]:
            if a.overlaps(b):
                raise CidrPlanError(f"subnets {a} and {b} overlap")
