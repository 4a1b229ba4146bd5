"""A local AWS endpoint: an in-process moto server for `strata local` and the
one-shot `--local` flag, plus the small compatibility layer that makes
moto's CloudFormation good enough for Strata's whole flow.

Nothing else in `generator/deploy/` knows about this
module: they talk to whatever endpoint they are given (AWS, LocalStack, or
this server) through boto3. The compatibility layer patches moto's
in-process classes, so it only affects a server running in this Python
process, and only while it is installed.

What the layer fixes (measured on moto 5.2.5; each fix has a test in
tests/generator/deploy/test_local.py that fails as soon as moto changes, either
because the gap is gone or because the patched code moved):

- a change set that only changes parameter values lists no changes (moto
  diffs the templates alone), so the update looks like "no changes" and is
  never run; the layer lists the resources that `Ref` a changed parameter,
  as moto's own UpdateStack path already does;
- a resource written without `Properties` is reported modified (and is
  replaced) on every update, because moto adds an empty `Properties` to
  the template it keeps; the layer compares templates as if both had it;
- a stack created or updated through a change set gets no Outputs and
  registers no Exports, and keeps its first parameters forever (so the next
  identical change set is not recognised as "no changes");
- `Fn::GetAtt [Nested, Outputs.X]` crashes the server with a 500 (moto's
  Stack has no `get_cfn_attribute`);
- updating a nested stack deletes and recreates it, which fails for any
  stack with route tables; the layer updates it in place, as AWS does;
- `Fn::GetAtt` of a resource moto left out (not emulated, or crashed, see
  below), of an attribute it does not implement, or of a model with no
  attributes at all fails the stack (500 or "references undefined
  resource"); an Output it cannot compute is silently dropped or shows a
  Python object's repr. The layer answers `NOT_EMULATED` instead, so every
  declared output exists and consumers get a value;
- a nested stack whose Outputs read `Fn::GetAtt` of a type moto does not
  emulate crashes the server (500) while validating those outputs; the
  layer skips the check for such types, as moto already does for their
  resources;
- moto's own handlers for some emulated types crash on valid templates
  (an AWS::KMS::Key with Tags: KeyError 'TagKey') or reject names moto
  generated itself (an RDS instance identifier over 63 characters), failing the
  whole stack; the layer logs the error and leaves that one resource out,
  as moto does for the types it does not emulate at all. CloudFormation's
  own errors (a missing parameter, a bad template) still fail the deploy;
- an AWS::SSM::Parameter with Tags (a map, as CloudFormation defines it)
  crashes moto's handler, which expects a list; the layer hands it a list,
  so the parameters the network and security layers publish exist locally;
- a route table created by a stack is never deleted with it (moto's
  RouteTable has no delete hook), so deleting any stack with a VPC fails
  with DependencyViolation, and a nested one silently vanishes;
- `UpdateTerminationProtection` is not implemented.

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

# The moto versions this layer was written against and tested with. Another
# version gets no patches (and a warning): guessing at its internals could
# hide a real difference behind a fake success.
TESTED_MOTO_VERSIONS = ("5.2.5",)

# The value of an attribute or output moto cannot compute: shaped like an ARN
# so that IAM policies built from it still validate.
NOT_EMULATED = "arn:aws:moto:::not-emulated"

DEFAULT_PORT = 4566

_installed: list[tuple[Any, str, Any]] = []
_log = logging.getLogger("strata.local")
_warned: set[tuple[str, str]] = set()
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
        from moto.ssm import models as ssm_models

        _set(parsing.ResourceMap, "build_resource_diff", _with_properties(parsing.ResourceMap.build_resource_diff))
        _set(models.ChangeSet, "diff", _change_set_diff)
        _set(models.Stack, "get_cfn_attribute", _stack_get_cfn_attribute)
        _set(models.Stack, "update_from_cloudformation_json", classmethod(_stack_update_in_place))
        _set(models.CloudFormationBackend, "execute_change_set",
             _after_execute(models.CloudFormationBackend.execute_change_set))
        _set(responses.CloudFormationResponse, "update_termination_protection", _update_termination_protection)
        _set(route_tables.RouteTable, "delete", _route_table_delete)
        _set(ssm_models.Parameter, "create_from_cloudformation_json",
             _tags_as_list(ssm_models.Parameter.__dict__["create_from_cloudformation_json"].__func__))
        _set(parsing.ResourceMap, "validate_outputs", _validate_outputs)
        _set(parsing.ResourceMap, "get", _resource_map_get)
        _set(parsing, "parse_output", _parse_output(parsing.parse_output))
        for name in ("parse_and_create_resource", "parse_and_update_resource"):
            _set(parsing, name, _tolerant(getattr(parsing, name)))
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


# --- the patches --------------------------------------------------------------

def _with_properties(original: Callable[..., Any]) -> Callable[..., Any]:
    def build_resource_diff(self: Any, other_template: dict, parameters: dict | None = None) -> Any:
        resources = {
            name: resource if "Properties" in resource else {**resource, "Properties": {}}
            for name, resource in other_template["Resources"].items()
        }
        return original(self, {**other_template, "Resources": resources}, parameters)

    return build_resource_diff


def _change_set_diff(self: Any) -> list:
    from moto.cloudformation.models import Change

    resource_map = self.stack.resource_map
    by_action = resource_map.build_resource_diff(self.template_dict, self.parameters)
    changes = []
    for action in ("Add", "Modify", "Remove"):
        for name in by_action[action]:
            source = resource_map._resource_json_map if action == "Remove" else self.template_dict["Resources"]
            changes.append(Change(action=action, logical_resource_id=name, resource_type=source[name]["Type"]))
    return changes


def _stack_get_cfn_attribute(self: Any, attribute_name: str) -> Any:
    from moto.cloudformation.exceptions import ValidationError

    key = attribute_name.removeprefix("Outputs.")
    if key == attribute_name or key not in self.output_map.outputs:
        raise ValidationError(message=f"Template error: stack {self.name} has no attribute {attribute_name}")
    output = self.output_map[key]
    return NOT_EMULATED if output is None else output.value


def _stack_update_in_place(cls: Any, original_resource: Any, new_resource_name: str, cloudformation_json: Any,
                           account_id: str, region_name: str) -> Any:
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.utilities.utils import get_partition

    properties = cloudformation_json["Properties"]
    body = get_stack_from_s3_url(properties["TemplateURL"], account_id=account_id,
                                 partition=get_partition(region_name))
    original_resource.update(body, parameters=properties.get("Parameters", {}))
    return original_resource


def _after_execute(original: Callable[..., None]) -> Callable[..., None]:
    def execute_change_set(self: Any, change_set_name: str, stack_name: str | None = None) -> None:
        original(self, change_set_name, stack_name)
        change_set = self.describe_change_set(change_set_name)
        stack = self.stacks[change_set.stack_id]
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.parameters = change_set.parameters
        for export in stack.exports:
            self.exports.pop(export.name, None)
        stack.output_map = stack._create_output_map()
        self._validate_export_uniqueness(stack)
        for export in stack.exports:
            self.exports[export.name] = export

    return execute_change_set


class _Attributes:
    """What Fn::GetAtt sees of a resource: its real attributes where moto
    has them, `NOT_EMULATED` where it does not (type left out, attribute not
    implemented, or a model without get_cfn_attribute at all)."""

    def __init__(self, resource: Any):
        self._resource = resource

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        try:
            value = self._resource.get_cfn_attribute(attribute_name)
        except Exception:  # noqa: BLE001 - any way moto fails to answer means "not emulated"
            return NOT_EMULATED
        return NOT_EMULATED if value is None else value


def _resource_map_get(self: Any, key: str, default: Any = None) -> Any:
    # clean_json reaches resources through .get() only for Fn::GetAtt
    try:
        value = self[key]
    except KeyError:
        return default
    if key in self._resource_json_map:
        return _Attributes(value)
    return value


def _parse_output(original: Callable[..., Any]) -> Callable[..., Any]:
    def parse_output(output_logical_id: str, output_json: Any, resources_map: Any) -> Any:
        from moto.cloudformation.parsing import Output

        condition = output_json.get("Condition")
        if condition and not resources_map.lazy_condition_map.get(condition):
            return None
        try:
            output = original(output_logical_id, output_json, resources_map)
        except Exception:  # noqa: BLE001 - an output moto cannot compute is not emulated, not fatal
            output = None
        if output is None or not isinstance(output.value, (str, int, float, list)):
            description = output_json.get("Description")
            return Output(output_logical_id, NOT_EMULATED, description if isinstance(description, str) else "")
        return output

    return parse_output


def _tolerant(original: Callable[..., Any]) -> Callable[..., Any]:
    def handler(logical_id: str, resource_json: dict, resources_map: Any, account_id: str, region_name: str) -> Any:
        from moto.cloudformation.exceptions import CloudFormationError

        try:
            return original(logical_id, resource_json, resources_map, account_id, region_name)
        except CloudFormationError:
            raise
        except Exception as exc:  # noqa: BLE001 - moto's resource handler failed, not the template
            # moto retries a resource it could not create each time it is referenced: say it once
            where = (resources_map["AWS::StackId"], logical_id)
            if where not in _warned:
                _warned.add(where)
                _log.warning("moto could not emulate %s (%s) in stack %s: %s: %s; left out", logical_id,
                             resource_json.get("Type"), resources_map["AWS::StackName"], type(exc).__name__, exc)
            return None

    handler.__name__ = original.__name__
    return handler


def _validate_outputs(self: Any) -> None:
    # moto 5.2.5's ResourceMap.validate_outputs, skipping types it does not emulate
    from moto.cloudformation.exceptions import UnsupportedAttribute, ValidationError
    from moto.cloudformation.parsing import resource_class_from_type

    for value in (self._template.get("Outputs") or {}).values():
        if "Condition" in value and not self.lazy_condition_map[value["Condition"]]:
            continue
        value = value.get("Value", {})
        if not isinstance(value, dict) or "Fn::GetAtt" not in value:
            continue
        resource_name, attr = value["Fn::GetAtt"][0], value["Fn::GetAtt"][1]
        resource = self._resource_json_map.get(resource_name)
        if resource is None:
            continue
        if "Condition" in resource and not self.lazy_condition_map[resource["Condition"]]:
            raise ValidationError(
                message=f"Unresolved resource dependencies [{resource_name}] in the Outputs block of the template"
            )
        resource_class = resource_class_from_type(resource["Type"])
        if resource_class is not None and not resource_class.has_cfn_attr(attr):
            raise UnsupportedAttribute(resource=resource["Type"].rsplit(":", 1)[1], attr=attr)


def _tags_as_list(original: Callable[..., Any]) -> classmethod:
    def create(cls: Any, name: str, cloudformation_json: Any, account_id: str, region_name: str, **kwargs: Any) -> Any:
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get("Tags"), dict):
            tags = [{"Key": k, "Value": v} for k, v in properties["Tags"].items()]
            cloudformation_json = {**cloudformation_json, "Properties": {**properties, "Tags": tags}}
        return original(cls, name, cloudformation_json, account_id, region_name, **kwargs)

    return classmethod(create)


def _route_table_delete(self: Any, account_id: str, region_name: str) -> None:
    self.ec2_backend.delete_route_table(self.id)


def _update_termination_protection(self: Any) -> Any:
    from moto.core.responses import ActionResult

    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    stack.enable_termination_protection = self._get_bool_param("EnableTerminationProtection", False)
    return ActionResult({"StackId": stack.stack_id})


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


@contextlib.contextmanager
def server(host: str = "127.0.0.1", port: int | None = None, quiet: bool = True) -> Iterator[str]:
    """A moto server in this process with the compatibility layer installed;
    yields its URL and stops it (and removes the layer) on exit."""
    from moto.server import ThreadedMotoServer

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
