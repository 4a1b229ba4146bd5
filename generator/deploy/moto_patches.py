"""The patches of Strata's moto compatibility layer (installed by
`generator.deploy.local.install`), one function per gap.

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
- an AWS::SSM::Parameter with Tags (a map in CloudFormation) crashes
  moto's handler, which reads them as a Key/Value list after storing the
  value; the layer hands it the list;
- a route table created by a stack is never deleted with it (moto's
  RouteTable has no delete hook), so deleting any stack with a VPC fails
  with DependencyViolation, and a nested one silently vanishes;
- `UpdateTerminationProtection` is not implemented;
- a resource removed from a stack stays in moto's cache of the stack's
  resources, so adding it back later "creates" the deleted one: a layer
  disabled and enabled again points at a nested stack that no longer
  exists, and every later deploy, status and destroy fails with "Stack with
  id ... does not exist"; the layer forgets removed resources;
- an update of a type moto cannot update in place (no update handler: a
  VPC, a subnet, a security group...) drops the resource, so every output
  and attribute reading it turns into a placeholder and the next plan sees
  nothing to fix; the layer keeps the resource as it was and logs it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

# The value of an attribute or output moto cannot compute: shaped like an ARN
# so that IAM policies built from it still validate.
NOT_EMULATED = "arn:aws:moto:::not-emulated"

_log = logging.getLogger("strata.local")
_warned: set[tuple[str, str]] = set()


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
    def create(cls: Any, name: str, cloudformation_json: dict, *args: Any, **kwargs: Any) -> Any:
        properties = cloudformation_json.get("Properties", {})
        if isinstance(properties.get("Tags"), dict):
            tags = [{"Key": k, "Value": v} for k, v in properties["Tags"].items()]
            cloudformation_json = {**cloudformation_json, "Properties": {**properties, "Tags": tags}}
        return original(name, cloudformation_json, *args, **kwargs)

    return classmethod(create)


def _route_table_delete(self: Any, account_id: str, region_name: str) -> None:
    self.ec2_backend.delete_route_table(self.id)


def _update_termination_protection(self: Any) -> Any:
    from moto.core.responses import ActionResult

    stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
    stack.enable_termination_protection = self._get_bool_param("EnableTerminationProtection", False)
    return ActionResult({"StackId": stack.stack_id})


def _forget_removed(original: Callable[..., None]) -> Callable[..., None]:
    def update(self: Any, template: dict, parameters: dict | None = None) -> None:
        removed = self.build_resource_diff(template, parameters)["Remove"]
        original(self, template, parameters)
        for name in removed:
            self._parsed_resources.pop(name, None)

    return update


def _keep_when_not_updatable(original: Callable[..., Any]) -> Callable[..., Any]:
    def parse_and_update_resource(logical_id: str, resource_json: dict, resources_map: Any, account_id: str,
                                  region_name: str) -> Any:
        updated = original(logical_id, resource_json, resources_map, account_id, region_name)
        if updated is None:
            kept = resources_map._parsed_resources.get(logical_id)
            if kept is not None:
                _log.warning("moto cannot update %s (%s) in stack %s in place: kept as it was", logical_id,
                             resource_json.get("Type"), resources_map["AWS::StackName"])
                return kept
        return updated

    parse_and_update_resource.__name__ = original.__name__
    return parse_and_update_resource


def updatable(resource_type: str) -> bool:
    """Whether moto's CloudFormation can update a resource of this type in place."""
    from moto.cloudformation.parsing import resource_class_from_type

    model = resource_class_from_type(resource_type)
    return model is not None and not hasattr(model.update_from_cloudformation_json, "__isabstractmethod__")
