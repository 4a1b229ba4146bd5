"""Hypothesis strategies that mutate a shipped parameter file: a value of
another type, a string too long or with characters AWS refuses, a key
removed, an unknown key added. Used by test_hostile_input.py; also handy
for a longer run by hand:

    .venv/bin/python -m tests.generator.build.mutants 2000   # load + render only, no lint
"""

from __future__ import annotations

import datetime
import sys
from typing import Any

import yaml
from hypothesis import strategies as st

# Characters that broke builds before the schema refused them: emoji (non-BMP),
# controls, bidirectional and zero-width marks, a combining accent, a NUL.
AWKWARD = ["\U0001F680", "\x07", "\x1b", "\u202e", "\u200b", "\u0301", "\x00", "\ufeff", "\t", "\n", "é", " ", ":", "*",
           "/", "'", '"', "{", "}", "-", "."]

# Values that look right in some field and are wrong in many: regions that do
# not exist or lack services, IPv6 and host-bit CIDRs, instance types of the
# wrong family or region, reserved tag keys, YAML's unquoted traps.
PLAUSIBLE = [
    "us-east-1", "us-iso-east-1", "me-south-1", "cn-north-1", "eu-west-9", "us-gov-west-1", "ap-east-2",
    "2001:db8::/56", "10.0.0.0/8", "10.0.0.1/16", "192.168.0.0/28", "t3.nano", "t2.micro", "m7g.large",
    "db.t3.micro", "db.r7g.large", "cache.t2.micro", "a1.medium", "0.0.0.0/0", "/api/*", "*", "x", "",
    "16.10", "no", "on", "aws:x", "Project", "Name", "Environment", "arn:aws:s3:::b/k.env",
]

scalars = st.one_of(
    st.sampled_from(PLAUSIBLE),
    st.integers(min_value=-3, max_value=70_000),
    st.sampled_from([0, 1, 2, 7, 30, 100, 2**31, 2**63, 10**40]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
    st.text(alphabet=st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-."), min_size=1, max_size=70),
    st.builds(lambda n, c: c * n, st.sampled_from([64, 129, 257, 300, 5000]), st.sampled_from(["a", "Z", "0"])),
    st.dates(min_value=datetime.date(2000, 1, 1), max_value=datetime.date(2030, 1, 1)),
)
values = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(min_size=1, max_size=8), scalars, max_size=3),
)


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value in `data` (mapping keys and list indexes)."""
    found = []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, item in items:
        found.append((*prefix, key))
        found += paths(item, (*prefix, key))
    return found


def _parent(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _perturbed(text: str, draw) -> str:
    how = draw(st.sampled_from(["insert", "repeat", "empty", "upper", "pad"]))
    if how == "insert":
        at = draw(st.integers(min_value=0, max_value=len(text)))
        return text[:at] + draw(st.sampled_from(AWKWARD)) + text[at:]
    if how == "repeat":
        return text * draw(st.sampled_from([3, 20, 200]))
    if how == "upper":
        return text.upper()
    if how == "pad":
        return f" {text} "
    return ""


@st.composite
def mutated(draw, base: dict) -> tuple[dict, list[str]]:
    """A deep copy of `base` with one to three mutations, and what they were."""
    data = yaml.safe_load(yaml.safe_dump(base))
    done = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        all_paths = paths(data)
        if not all_paths:
            break
        # Half the time a string leaf: names, tags and identifiers are where values break templates.
        strings = [p for p in all_paths if isinstance(_parent(data, p)[p[-1]], str)]
        path = draw(st.sampled_from(strings if strings and draw(st.booleans()) else all_paths))
        parent, key = _parent(data, path), path[-1]
        kind = draw(st.sampled_from(["replace", "replace", "perturb", "delete", "unknown_key", "enable"]))
        if kind == "perturb" and isinstance(parent[key], str):
            parent[key] = _perturbed(parent[key], draw)
        elif kind == "delete":
            del parent[key]
        elif kind == "unknown_key" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["enabled", "name", "x", "Tags", "nat_mode", "🚀", "a" * 200]))] = draw(scalars)
        elif kind == "enable" and isinstance(parent, dict):
            parent["enabled"] = draw(st.booleans())
        else:
            kind = "replace"
            parent[key] = draw(values)
        done.append(f"{kind} {'.'.join(map(str, path))}")
    return data, done


def dump(data: dict) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _offline(count: int) -> int:  # pragma: no cover - run by hand
    """Load and render `count` mutants of each shipped file; print any that
    neither load cleanly nor fail with messages naming the file."""
    import tempfile
    import time
    from pathlib import Path

    from hypothesis import HealthCheck, given, settings

    from generator.build.config import ConfigError
    from generator.build.pipeline import BuildError, _load_and_render

    repo = Path(__file__).resolve().parents[3]
    bad = 0
    for env in ("dev", "prod"):
        base = yaml.safe_load((repo / "parameters" / f"{env}.yaml").read_text())
        folder = Path(tempfile.mkdtemp())

        @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(mutated(base))
        def run(case):
            nonlocal bad
            data, done = case
            path = folder / f"{env}.yaml"
            path.write_text(dump(data), encoding="utf-8")
            started = time.perf_counter()
            try:
                _load_and_render(path)
                outcome = "ok"
            except (ConfigError, BuildError) as exc:
                outcome = "refused"
                if not all(m.startswith(str(path)) for m in exc.messages) or "cannot be built" in str(exc):
                    bad += 1
                    print("BAD MESSAGE", done, exc.messages[:3], sep="\n  ")
            except Exception as exc:  # noqa: BLE001
                bad += 1
                print("CRASH", done, f"{type(exc).__name__}: {str(exc)[:300]}", sep="\n  ")
                return
            if time.perf_counter() - started > 2:
                bad += 1
                print("SLOW", done, outcome, f"{time.perf_counter() - started:.1f}s", sep="\n  ")

        run()
    return 1 if bad else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_offline(int(sys.argv[1]) if len(sys.argv) > 1 else 500))
