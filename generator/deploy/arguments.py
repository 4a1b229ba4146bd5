"""Checks of the deploy-side command-line arguments, before any AWS call:
each bad value gets one message that says what is wrong and what to do.

- `--endpoint-url` must be an http(s) URL with a host (an argparse type,
  so a bad one is a usage error, exit 2);
- `--region` must be a region AWS has, and the parameter file's own: the
  build's templates, lint and bucket are all for that region, so a deploy
  elsewhere would ship templates checked for another region;
- `--parameter` must be NAME=VALUE (the name is checked against the
  stacks' parameters once the build is read: `Environment.check_overrides`);
- `--no-build` and `package` only use an `out/<env>/` that is what a build
  of the parameter file would write now (the build's up-to-date fingerprint).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlparse

from generator.build import awsdata
from generator.deploy.errors import DeployError


def endpoint_url(text: str) -> str:
    """argparse type of --endpoint-url: http(s)://host[:port][/path], a host
    botocore accepts (it raises a bare ValueError on the first call otherwise)."""
    from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

    try:
        parsed = urlparse(text)
        valid = parsed.scheme in ("http", "https") and bool(parsed.hostname) and (parsed.port or 1) < 65536
    except ValueError:
        valid = False
    if not valid or not (is_valid_endpoint_url(text) or is_valid_ipv6_endpoint_url(text)):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an endpoint URL: expected http(s)://host[:port], e.g. http://localhost:4566")
    return text


def check_region(region: str | None, env_region: str, param_file: Path) -> str:
    """The region to use: the parameter file's; `--region` must agree with it."""
    if region is None:
        return env_region
    problem = awsdata.unknown_region(region)
    if problem:
        raise DeployError(problem)
    if region != env_region:
        raise DeployError(
            f"--region {region} contradicts {param_file}: region: {env_region} (the templates, the lint and the "
            f"template bucket are all for {env_region}); change the file's region, or leave --region out")
    return region


def parameters(items: list[str]) -> dict[str, str]:
    """--parameter NAME=VALUE items as a dict (the last one of a name wins)."""
    values = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise DeployError(f"--parameter {item}: expected NAME=VALUE (e.g. ContainerImageTag=v42)")
        values[name.strip()] = value
    return values


def check_fresh(out_root: Path, environment: str, param_file: Path, warn) -> None:
    """Refuse an `out/<env>/` older than its parameter file or Strata's
    sources. One built elsewhere (no build record here) is used as it is,
    with a warning: its manifest still proves it is what was built."""
    from generator.build import uptodate

    folder = out_root / environment
    if not (folder / "manifest.json").is_file():
        raise DeployError(f"{folder} has no build: run `strata build --env {environment}` first")
    if not (out_root / ".cache" / f"build-{environment}.json").is_file():
        warn(f"warning: {folder} was not built here (no build record), so Strata cannot tell whether it is "
             f"up to date with {param_file}; using it as it is")
        return
    if not uptodate.is_up_to_date(out_root, environment, param_file):
        raise DeployError(
            f"{folder} is out of date: {param_file} or Strata's sources changed since it was built (or a file in "
            f"it was edited); run `strata build --env {environment}` (or leave out --no-build)")
