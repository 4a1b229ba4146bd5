"""Where the deploy side talks to AWS: boto3 clients for one environment,
from the standard credential chain, an optional profile and an optional
endpoint (LocalStack, `strata local`, or a throwaway `--local` moto server)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from generator import __version__
from generator.deploy.stacks import Deployer


def _loopback(url: str) -> bool:
    from urllib.parse import urlparse

    return (urlparse(url).hostname or "") in ("localhost", "127.0.0.1", "::1")


class Aws:
    """boto3 clients for one environment: the standard credential chain, an
    optional profile, and an optional endpoint (LocalStack, `strata local`)."""

    def __init__(self, region: str, profile: str | None = None, endpoint_url: str | None = None,
                 poll: float = 2.0, timeout: float = 3 * 3600):
        self.region, self.profile, self.endpoint_url = region, profile, endpoint_url
        self.poll, self.timeout = poll, timeout
        self._session: Any = None

    def client(self, service: str, region: str | None = None) -> Any:
        import boto3
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.Session(profile_name=self.profile)
        options: dict[str, Any] = {"user_agent_extra": f"strata/{__version__}"}
        credentials: dict[str, str] = {}
        if self.endpoint_url:
            # a local endpoint does not throttle, and retrying a non-idempotent
            # call it failed (ExecuteChangeSet) would only repeat the failure
            options.update(retries={"max_attempts": 1}, s3={"addressing_style": "path"})
            if _loopback(self.endpoint_url) and self._session.get_credentials() is None:
                # moto and LocalStack accept any key; a new user has none yet
                credentials = {"aws_access_key_id": "strata-local", "aws_secret_access_key": "strata-local"}
        return self._session.client(service, region_name=region or self.region, endpoint_url=self.endpoint_url,
                                    config=Config(**options), **credentials)

    def deployer(self, region: str | None = None, echo: Callable[[str], None] = print) -> Deployer:
        region = region or self.region
        return Deployer(self.client("cloudformation", region), region=region, poll=self.poll,
                        timeout=self.timeout, echo=echo)

    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]


@contextlib.contextmanager
def endpoint(endpoint_url: str | None, local: bool, echo: Callable[[str], None]) -> Iterator[str | None]:
    """The endpoint a command talks to: `endpoint_url` as given (None: AWS),
    or with `local`, a moto server started for this command only."""
    if not local:
        yield endpoint_url
        return
    from generator.deploy import local as local_endpoint

    with local_endpoint.server() as url:
        echo(f"--local: a moto server for this command only at {url}; it forgets everything when the command ends")
        yield url
