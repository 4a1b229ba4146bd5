"""A local AWS endpoint: an in-process moto server for `strata local` and the
one-shot `--local` flag, plus the small compatibility layer that makes
moto's CloudFormation good enough for Strata's whole flow.

Nothing else in `generator/deploy/` knows about this
module: they talk to whatever endpoint they are given (AWS, LocalStack, or
this server) through boto3. The compatibility layer patches moto's
in-process classes, so it only affects a server running in this Python
process, and only while it is installed.

What the layer fixes is listed in `generator.deploy.moto_patches`, one
function per gap.

What it does not fix, and Strata tells the user instead: change sets carry
no Replacement/Scope/Details and no nested change sets; failures come back
as API errors without rollback or per-resource events; about 30 resource
types are skipped while the stack still reports CREATE_COMPLETE
(`not_emulated()` lists the ones in a build).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from generator.deploy.moto_patches import NOT_EMULATED, updatable  # noqa: F401 - part of this module's API

# The moto versions this layer was written against and tested with. Another
# version gets no patches (and a warning): guessing at its internals could
# hide a real difference behind a fake success.
TESTED_MOTO_VERSIONS = ("5.2.5",)

DEFAULT_PORT = 4566

_installed: list[tuple[Any, str, Any]] = []
_lock = threading.Lock()


def moto_version() -> str:
    import moto

    return moto.__version__


def supported() -> bool:
    """True when the installed moto is one this layer was tested with."""
    return moto_version() in TESTED_MOTO_VERSIONS


def installed() -> bool:
    return bool(_installed)


def _set(owner: Any, name: str, value: Any) -> None:
    _installed.append((owner, name, owner.__dict__.get(name)))
    setattr(owner, name, value)


def install() -> bool:
    """Patch moto's in-process CloudFormation (idempotent). Returns False,
    patching nothing, when the installed moto is not a tested version."""
    with _lock:
        if _installed:
            return True
        if not supported():
            logging.getLogger(__name__).warning(
                "moto %s is not one of %s: Strata's local compatibility layer is off, so stacks "
                "deployed through change sets will show no outputs", moto_version(), ", ".join(TESTED_MOTO_VERSIONS),
            )
            return False
        from moto.cloudformation import models, parsing, responses
        from moto.ec2.models import route_tables
        from moto.ssm.models import Parameter

        from generator.deploy import moto_patches as fix

        _set(parsing.ResourceMap, "build_resource_diff", fix._with_properties(parsing.ResourceMap.build_resource_diff))
        _set(parsing.ResourceMap, "update", fix._forget_removed(parsing.ResourceMap.update))
        _set(models.ChangeSet, "diff", fix._change_set_diff)
        _set(models.Stack, "get_cfn_attribute", fix._stack_get_cfn_attribute)
        _set(models.Stack, "update_from_cloudformation_json", classmethod(fix._stack_update_in_place))
        _set(models.CloudFormationBackend, "execute_change_set",
             fix._after_execute(models.CloudFormationBackend.execute_change_set))
        _set(responses.CloudFormationResponse, "update_termination_protection", fix._update_termination_protection)
        _set(route_tables.RouteTable, "delete", fix._route_table_delete)
        _set(Parameter, "create_from_cloudformation_json", fix._tags_as_list(Parameter.create_from_cloudformation_json))
        _set(parsing.ResourceMap, "validate_outputs", fix._validate_outputs)
        _set(parsing.ResourceMap, "get", fix._resource_map_get)
        _set(parsing, "parse_output", fix._parse_output(parsing.parse_output))
        _set(parsing, "parse_and_create_resource", fix._tolerant(parsing.parse_and_create_resource))
        _set(parsing, "parse_and_update_resource",
             fix._tolerant(fix._keep_when_not_updatable(parsing.parse_and_update_resource)))
        return True


def uninstall() -> None:
    """Put moto back exactly as it was."""
    with _lock:
        while _installed:
            owner, name, original = _installed.pop()
            if original is None:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


@contextlib.contextmanager
def compat() -> Iterator[bool]:
    """The compatibility layer for the duration of a `with` block."""
    already = installed()
    active = install()
    try:
        yield active
    finally:
        if not already:
            uninstall()


# --- what moto does not emulate --------------------------------------------------

def emulated_types() -> frozenset[str]:
    """The resource types moto's CloudFormation creates (read from moto itself)."""
    from moto.cloudformation import parsing

    return frozenset(parsing.get_model_map()) | frozenset(parsing.NULL_MODELS)


def not_emulated(templates: dict[str, dict]) -> dict[str, list[tuple[str, str]]]:
    """Per template file, the (logical id, type) of every resource moto skips
    while still reporting the stack complete."""
    known = emulated_types()
    found: dict[str, list[tuple[str, str]]] = {}
    for file, body in sorted(templates.items()):
        skipped = [
            (logical, resource["Type"]) for logical, resource in sorted(body.get("Resources", {}).items())
            if resource["Type"] not in known and not resource["Type"].startswith("Custom::")
        ]
        if skipped:
            found[file] = skipped
    return found


def is_moto(endpoint_url: str, timeout: float = 1.0) -> bool:
    """True when `endpoint_url` answers moto's own config API (so the plan can
    say what it does not emulate); False for AWS, LocalStack or no answer."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{endpoint_url.rstrip('/')}/moto-api/config", timeout=timeout) as response:
            return 200 <= response.status < 300 and response.headers.get_content_type() == "application/json"
    except (urllib.error.URLError, OSError, ValueError):
        return False


# --- the server -------------------------------------------------------------------

@contextlib.contextmanager
def _quiet(quiet: bool) -> Iterator[None]:
    # werkzeug logs every request and moto warns about every skipped type (its
    # logger says the same as the Python warning, once); in a one-shot
    # command the deploy output already says what matters.
    loggers = [logging.getLogger(name) for name in ("werkzeug", "moto")] if quiet else []
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tried to parse .* but it's not supported", category=UserWarning)
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def check_port(host: str, port: int) -> None:
    """Refuse a port something already listens on: moto's threaded server
    would fail inside its thread and leave the caller waiting forever."""
    import errno

    from generator.deploy.errors import DeployError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server will
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise DeployError(f"port {port} on {host} is already in use (another `strata local`, LocalStack?): "
                                  "stop it, or serve on another port with --port") from None
            raise DeployError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def server(host: str = "127.0.0.1", port: int | None = None, quiet: bool = True) -> Iterator[str]:
    """A moto server in this process with the compatibility layer installed;
    yields its URL and stops it (and removes the layer) on exit."""
    from moto.server import ThreadedMotoServer

    if port:
        check_port(host, port)
    moto_server = ThreadedMotoServer(ip_address=host, port=port or free_port(host), verbose=False)
    with _quiet(quiet), compat():
        moto_server.start()
        try:
            bound_host, bound_port = moto_server.get_host_and_port()
            yield f"http://{bound_host}:{bound_port}"
        finally:
            moto_server.stop()


def serve(host: str = "127.0.0.1", port: int = DEFAULT_PORT, stop: threading.Event | None = None,
          echo: Callable[[str], None] = lambda line: print(line, flush=True)) -> None:
    """`strata local`: serve until Ctrl-C (or until `stop` is set)."""
    stop = stop or threading.Event()
    with server(host, port, quiet=False) as url:
        state = "on" if installed() else f"OFF (moto {moto_version()} is untested)"
        echo(f"moto {moto_version()} serving AWS APIs on {url} (Strata compatibility layer {state})")
        echo(f"in another terminal: strata deploy --env dev --endpoint-url {url} --yes")
        echo("stop with Ctrl-C; everything it holds is in memory and is gone when it stops")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            echo("stopped")
