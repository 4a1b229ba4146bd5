"""Compose layer templates into the root stack, wiring inputs to outputs by name.

A layer's Parameter `VpcId` is fed from the one other enabled layer whose
Output is named `VpcId` (`Fn::GetAtt [Network, Outputs.VpcId]`). There is
no wiring table to keep up to date; instead the build fails when an input
without a default has no producer, when an output name is produced twice, or
when the layers depend on each other in a circle. An input with a default
and no producer becomes a parameter of the root stack, so the console form
still offers it. `TemplateBucket` and `TemplatePrefix` are the root's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from types import ModuleType
from typing import TYPE_CHECKING

from troposphere import GetAtt, Parameter, Ref, Template, cloudformation

from generator.cfn.naming import logical_id
from generator.cfn.resources import (
    TEMPLATE_BUCKET, TEMPLATE_PREFIX, apply_tags, launch_form, parameter_interface, template_location_parameters,
    template_url,
)
from templates import LAYER_NAMES, all_layers

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

ROOT = "root"


class ComposeError(Exception):
    """The enabled layers cannot be wired together; the message says which input or output."""


class LayerBuildError(Exception):
    """A layer's `build` (or troposphere under it) refused the values it was
    given: `layer` says whose section they came from, `cause` what was refused."""

    def __init__(self, layer: str, cause: Exception):
        super().__init__(f"{layer}: {cause}")
        self.layer, self.cause = layer, cause


@dataclass
class Layers:
    """The built templates of one environment: nested layer templates in
    stack order, and companion templates deployed on their own (e.g. a
    certificate that must live in us-east-1)."""

    nested: dict[str, Template] = field(default_factory=dict)
    companions: dict[str, Template] = field(default_factory=dict)


def enabled_layers(env: EnvConfig) -> list[ModuleType]:
    return [layer for layer in all_layers() if env.section(layer.NAME).enabled]


def build_layers(env: EnvConfig) -> Layers:
    """Build every enabled layer (and its companions, when the module has a
    `companions(env)` function), tagged with the environment's tags, each
    parameter grouped and labelled for the console and Service Catalog
    launch forms by the layer that produces it (`launch_form`)."""
    built = Layers()
    owner: dict[str, str] = {}
    for layer in enabled_layers(env):
        try:
            built.nested[layer.NAME], owner[layer.NAME] = layer.build(env), layer.NAME
            for name, companion in getattr(layer, "companions", lambda _env: {})(env).items():
                built.companions[name], owner[name] = companion, layer.NAME
        except (ValueError, TypeError) as exc:  # troposphere's validators and limits raise these
            raise LayerBuildError(layer.NAME, exc) from exc
    everything = {**built.nested, **built.companions}
    produced_by = {out: owner[name] for name, t in everything.items() for out in t.outputs}
    for name, template in everything.items():
        apply_tags(template, env.all_tags)
        launch_form(template, {p: produced_by[p] for p in template.parameters
                               if produced_by.get(p, owner[name]) != owner[name]}, LAYER_NAMES)
    return built


def _root_fits(layers: Layers, lifted: int) -> None:
    """The root passes up every layer output and takes every lifted input:
    say so, per layer, before troposphere refuses the 201st."""
    from generator.build.output import MAX_OUTPUTS, MAX_PARAMETERS

    outputs = {name: len(t.outputs) for name, t in layers.nested.items()}
    if sum(outputs.values()) > MAX_OUTPUTS:
        shares = ", ".join(f"{name} {count}" for name, count in outputs.items() if count)
        raise ComposeError(
            f"the root stack would pass up {sum(outputs.values())} outputs ({shares}), over CloudFormation's "
            f"limit of {MAX_OUTPUTS} per template: fewer items in the layers with the most"
        )
    if lifted + 2 > MAX_PARAMETERS:
        raise ComposeError(f"the root stack would take {lifted + 2} parameters, over CloudFormation's limit of "
                           f"{MAX_PARAMETERS} per template")


def _producers(templates: dict[str, Template]) -> dict[str, str]:
    producers: dict[str, str] = {}
    for name, template in templates.items():
        for output_name in template.outputs:
            if output_name in producers:
                raise ComposeError(
                    f"output '{output_name}' is produced by both the {producers[output_name]} and {name} layers; "
                    "an output name must be unique so inputs can be wired by name"
                )
            producers[output_name] = name
    return producers


@dataclass
class _Wiring:
    sources: dict[str, dict[str, object]] = field(default_factory=dict)  # layer -> parameter -> value
    depends: dict[str, set[str]] = field(default_factory=dict)            # layer -> layers it reads from
    lifted: dict[str, tuple[str, Parameter]] = field(default_factory=dict)  # root parameter -> (first layer, definition)


def _wire(templates: dict[str, Template]) -> _Wiring:
    producers = _producers(templates)
    wiring = _Wiring()
    for name, template in templates.items():
        wiring.sources[name], wiring.depends[name] = {}, set()
        for param_name, param in template.parameters.items():
            wiring.sources[name][param_name] = _source(name, param_name, param, producers, wiring)
    return wiring


def _source(layer: str, param_name: str, param: Parameter, producers: dict[str, str], wiring: _Wiring) -> object:
    if param_name in (TEMPLATE_BUCKET, TEMPLATE_PREFIX):
        return Ref(param_name)
    producer = producers.get(param_name)
    if producer == layer:
        raise ComposeError(f"the {layer} layer takes '{param_name}' as a parameter and also outputs it")
    if producer:
        wiring.depends[layer].add(producer)
        return GetAtt(logical_id(producer), f"Outputs.{param_name}")
    if "Default" not in param.properties:
        raise ComposeError(
            f"the {layer} layer needs '{param_name}' but no enabled layer outputs it "
            "(enable the layer that produces it, or give the parameter a default)"
        )
    _lift(layer, param_name, param, wiring)
    return Ref(param_name)


def _lift(layer: str, param_name: str, param: Parameter, wiring: _Wiring) -> None:
    previous = wiring.lifted.get(param_name)
    if previous and previous[1].to_dict() != param.to_dict():
        raise ComposeError(
            f"the {previous[0]} and {layer} layers both take '{param_name}' with different definitions; "
            "rename one or make them agree"
        )
    wiring.lifted.setdefault(param_name, (layer, param))


def stack_order(templates: dict[str, Template], wiring: _Wiring) -> list[str]:
    """Producers before consumers; the registry order breaks ties, so the
    root template is the same on every run."""
    sorter = TopologicalSorter({name: wiring.depends[name] for name in templates})
    try:
        sorter.prepare()
    except CycleError as exc:
        raise ComposeError(f"layers depend on each other in a circle: {' -> '.join(exc.args[1])}") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=LAYER_NAMES.index)
        order.extend(ready)
        sorter.done(*ready)
    return order


def _root_properties(param: Parameter) -> dict:
    """A lifted input keeps its definition, except that an SSM-typed one
    (`AWS::SSM::Parameter::Value<...>`) is a plain String in the root: the
    root passes the parameter's *name* on and the nested stack resolves it
    (resolving it in the root would hand the nested stack a value, not a name)."""
    properties = dict(param.properties)
    if str(properties.get("Type", "")).startswith("AWS::SSM::Parameter::Value<"):
        properties["Type"] = "String"
    return properties


def compose_root(env: EnvConfig, layers: Layers) -> Template:
    """The root template: one AWS::CloudFormation::Stack per enabled layer,
    in dependency order, each Parameter fed by name; every layer output is
    passed up as a root Output of the same name."""
    wiring = _wire(layers.nested)
    _root_fits(layers, len(wiring.lifted))
    root = Template(Description=f"{env.project} {env.environment}: root stack nesting {', '.join(layers.nested)}")
    template_location_parameters(root)
    for param_name, (_, param) in sorted(wiring.lifted.items()):
        root.add_parameter(Parameter(param_name, **_root_properties(param)))
    for name in stack_order(layers.nested, wiring):
        stack = root.add_resource(cloudformation.Stack(logical_id(name), TemplateURL=template_url(f"{name}.json")))
        if wiring.sources[name]:
            stack.Parameters = {k: wiring.sources[name][k] for k in sorted(wiring.sources[name])}
        for output_name, nested_output in layers.nested[name].outputs.items():
            root.add_output(type(nested_output)(
                output_name, Value=GetAtt(stack, f"Outputs.{output_name}"),
                Description=nested_output.properties.get("Description", output_name),
            ))
    lifted_by_layer: dict[str, list[str]] = {}
    for param_name, (layer, _) in sorted(wiring.lifted.items()):
        lifted_by_layer.setdefault(f"{layer} layer", []).append(param_name)
    parameter_interface(root, {"Template location": [TEMPLATE_BUCKET, TEMPLATE_PREFIX], **lifted_by_layer})
    apply_tags(root, env.all_tags)
    return root
