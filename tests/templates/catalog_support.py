"""What the catalog tests share: an environment that publishes some layers,
built the way `strata build` builds it, and version histories to feed it."""

from __future__ import annotations

import datetime
import hashlib

from generator.build import versions
from generator.build.pipeline import render_env
from templates import LAYER_NAMES
from tests.helpers import make_env

CATALOG = {
    "storage": {"enabled": True},
    "catalog": {
        "enabled": True,
        "products": ["network", "security", "storage"],
        "principals": ["arn:aws:iam:::role/team-*"],
    },
}


def sections(**catalog) -> dict:
    """CATALOG with `catalog` fields merged over its catalog section (other keys are whole sections)."""
    result = {k: dict(v) for k, v in CATALOG.items()}
    for key, value in catalog.items():
        if key in (*LAYER_NAMES, "deploy"):
            result[key] = value
        else:
            result["catalog"][key] = value
    return result


def built(history: versions.History | None = None, **catalog) -> dict[str, dict]:
    """file -> rendered body of every template the environment builds."""
    env = make_env(**sections(**catalog))
    return {t.file: t.body for t in render_env(env, history).templates}


def fake_sha(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def history(**products: list[str]) -> versions.History:
    """A history in which each product (layer=[version names]) was published
    with made-up template bytes, to bucket `b` under prefix `test/`."""
    return versions.History(environment="test", products={
        layer: [
            versions.Version(
                name=name, sha256=fake_sha(f"{layer}{name}"), date=datetime.date(2025, 1, 1 + i),
                url=f"https://b.s3.eu-west-1.amazonaws.com/test/catalog/{layer}-{fake_sha(f'{layer}{name}')}.json",
            )
            for i, name in enumerate(names)
        ]
        for layer, names in products.items()
    })


def resolve(value, parameters: dict[str, str]):
    """An intrinsic built from Ref and Fn::Join, resolved with `parameters` (and pseudo parameters)."""
    pseudo = {"AWS::Region": "eu-west-1", "AWS::URLSuffix": "amazonaws.com", **parameters}
    if isinstance(value, dict) and "Ref" in value:
        return pseudo[value["Ref"]]
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(resolve(p, parameters) for p in parts)
    return value
