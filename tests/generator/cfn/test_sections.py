"""The rules every section shares, and the shared value types, on a section
written here the way a new layer would write one: the rules hold for fields
nobody wrote a validator for."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import Field, ValidationError

from generator.cfn.sections import (
    MAX_USER_TAGS, CacheNodeType, Description, Ec2InstanceType, EndpointService, Ipv4Cidr, LayerSection, Name,
    OfferedIn, Section, Tags, Text, markers,
)


class Alarm(Section):
    name: Name(32) = "errors"
    threshold: int = 1
    description: Description = ""


class NewLayer(LayerSection):
    label: str = "x"
    labels: list[str] = []
    settings: dict[str, str] = {}
    script: Annotated[str, Text(max_length=100, multiline=True, any_plane=True)] | None = None
    tags: Tags = {}
    alarms: list[Alarm] = []
    big: int = Field(default=0, le=4294967295)
    ratio: float = 1.0
    mode: Literal["a", "b"] = "a"
    instance_type: Ec2InstanceType | None = None
    node_types: list[CacheNodeType] = []
    cidr: Ipv4Cidr = "10.0.0.0/16"
    endpoint: EndpointService = "logs"


def errors(**fields) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        NewLayer(**fields)
    return [(".".join(map(str, e["loc"])), e["msg"].removeprefix("Value error, ")) for e in caught.value.errors()]


@pytest.mark.parametrize("fields, where", [
    ({"label": "a\x07b"}, "label"),
    ({"labels": ["ok", "tab\tin"]}, "labels.1"),
    ({"settings": {"KEY": "zero\u200bwidth"}}, "settings.KEY"),
    ({"settings": {"K\x1b[31m": "v"}}, "settings.K\x1b[31m"),
    ({"alarms": [{"description": "bidi \u202e"}]}, "alarms.0.description"),
])
def test_control_and_format_characters_are_refused_at_their_exact_path(fields, where):
    ((loc, message),) = errors(**fields)
    assert loc == where and "only printable characters are allowed on one line" in message


def test_characters_beyond_the_bmp_are_refused_unless_the_field_takes_any_plane():
    ((loc, message),) = errors(label="launch 🚀")
    assert loc == "label" and message.startswith("contains U+1F680 (rocket) at position 8, outside the Basic Multilingual Plane")
    assert NewLayer(script="#!/bin/sh\necho 🚀\n").script.endswith("🚀\n")


def test_lengths_are_bounded_by_default_and_by_the_field():
    assert errors(label="x" * 2049) == [("label", "is 2049 characters long; at most 2048")]
    assert errors(script="x" * 101) == [("script", "is 101 characters long; at most 100")]
    assert errors(alarms=[{"description": "d" * 1025}]) == [("alarms.0.description", "is 1025 characters long; at most 1024")]


def test_integers_fit_cloudformation_unless_the_field_allows_more():
    assert errors(alarms=[{"threshold": 2**31}]) == [
        ("alarms.0.threshold", "2147483648 is beyond the integers CloudFormation takes (at most 2147483647)")]
    assert NewLayer(big=4294967295).big == 4294967295


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_numbers_are_finite(value):
    assert errors(ratio=value) == [("ratio", "Input should be a finite number")]


@pytest.mark.parametrize("tags, where, message", [
    ({"aws:team": "x"}, "tags.aws:team.[key]", "tag keys starting with aws: are reserved for AWS"),
    ({"AWS:team": "x"}, "tags.AWS:team.[key]", "tag keys starting with aws: are reserved for AWS"),
    ({"Name": "x"}, "tags.Name.[key]", "is a tag Strata sets itself (on the resources that have a name); remove it"),
    ({"Owner": ""}, "tags.Owner", "a tag value is 1 to 255 characters; this one has 0"),
    ({"Owner": "ü" * 256}, "tags.Owner", "a tag value is 1 to 255 characters; this one has 256"),
    ({"Owner": "a;b"}, "tags.Owner", "a tag value may hold letters, digits, spaces and _ . : / = + - @ only, not ';'"),
    ({f"T{i}": "v" for i in range(MAX_USER_TAGS + 1)}, "tags", "48 tags: AWS takes 50 per resource and Strata sets 3 "
                                                               "(Project, Environment, Name), so at most 47"),
])
def test_tags(tags, where, message):
    assert errors(tags=tags) == [(where, message)]


def test_tags_accept_what_aws_accepts():
    tags = {"Cost Center": "R+D", "team:owner": "équipe@example.com", "k": "a/b=c_d-e.f"}
    assert NewLayer(tags=tags).tags == tags


@pytest.mark.parametrize("name", ["", "Upper", "1st", "end-", "dou--ble", "x" * 33, "snake_case"])
def test_names_are_lower_case_words_with_single_hyphens(name):
    ((loc, message),) = errors(alarms=[{"name": name}])
    assert loc == "alarms.0.name" and message.startswith("must be 1 to 32 lower-case letters")


@pytest.mark.parametrize("cidr, message", [
    ("2001:db8::/56", "2001:db8::/56 is an IPv6 CIDR; this field takes an IPv4 block like 10.0.0.0/16"),
    ("10.0.0.1/16", "not a valid IPv4 network CIDR: 10.0.0.1/16 has host bits set"),
])
def test_ipv4_cidrs(cidr, message):
    ((_, found),) = errors(cidr=cidr)
    assert found.startswith(message)


def test_endpoint_service_names():
    assert NewLayer(endpoint="ecr.dkr").endpoint == "ecr.dkr"
    ((_, message),) = errors(endpoint="a" * 65)
    assert "at most 64 characters" in message


def test_markers_are_found_inside_optional_and_list_annotations():
    fields = NewLayer.model_fields
    assert markers(fields["instance_type"], OfferedIn) == [OfferedIn("ec2")]
    assert markers(fields["node_types"], OfferedIn) == [OfferedIn("elasticache")]
    assert markers(fields["script"], Text) == [Text(max_length=100, multiline=True, any_plane=True)]
    assert markers(fields["label"], Text) == []


def test_the_tag_limits_hold_for_every_resource_type_strata_tags():
    """The strictest key and value lengths in cfn-lint's schemas of the resource types in the golden output."""
    import json

    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    from generator.cfn.sections import TAG_KEY_MAX, TAG_VALUE_MAX
    from tests.golden import GOLDEN

    types = {r["Type"] for f in GOLDEN.rglob("*.json") for r in json.loads(f.read_text()).get("Resources", {}).values()}
    keys, values = [], []
    for kind in types:
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", kind).schema
        tags = schema["properties"].get("Tags", {}).get("items", {})
        tag = schema.get("definitions", {}).get(tags.get("$ref", "").split("/")[-1], tags)
        keys.append(tag.get("properties", {}).get("Key", {}).get("maxLength", 128))
        values.append(tag.get("properties", {}).get("Value", {}).get("maxLength", 256))
    assert (TAG_KEY_MAX, TAG_VALUE_MAX) == (min(keys), min(values))
