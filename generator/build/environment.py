"""One environment as one template: every nested layer inlined into the root.

Cost, the diagram and the cross-layer checks all need to follow a reference
from one layer into another: the web layer's load balancer sits in
`Split(",", Ref PublicSubnetIds)`, and only the network layer knows those are
two subnets in two AZs. `flatten` inlines every nested stack of the root
(and each companion template) into one CloudFormation-shaped dict:

- each resource, condition and parameter of a layer gets the layer's stack
  logical id as a prefix (`Network` + `Vpc` -> `NetworkVpc`);
- a layer's Parameter is replaced by what the root feeds it: another layer's
  Output value (itself inlined), a root Parameter, or a literal;
- `origin` maps every inlined logical id back to (template file, logical id),
  so a finding or a cost line names the file a person opens.

`generator.build.intrinsics.Resolver` evaluates the intrinsic functions of
the result (or of any one template). Standard library only.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

ROOT_FILE = "root.json"
STACK_TYPE = "AWS::CloudFormation::Stack"
_SHA_SUFFIX = re.compile(r"-[0-9a-f]{64}\.json$")
_SUB_VAR = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass
class View:
    """The flattened environment: `template` has Parameters, Conditions and
    Resources; `origin[id] = (file, logical id)`; `layers[file] = prefix`."""

    template: dict
    origin: dict[str, tuple[str, str]] = field(default_factory=dict)
    layers: dict[str, str] = field(default_factory=dict)

    @property
    def resources(self) -> dict[str, dict]:
        return self.template["Resources"]

    def of_type(self, *types: str) -> dict[str, dict]:
        return {k: r for k, r in self.resources.items() if r.get("Type") in types}

    def file_of(self, logical_id: str) -> str:
        return self.origin[logical_id][0]


def template_file(url: Any) -> str | None:
    """The file a nested stack's TemplateURL names: the last part of its
    Fn::Join (`network.json`, or a packaged `network-<sha256>.json`)."""
    parts = url.get("Fn::Join", [None, None])[1] if isinstance(url, dict) else None
    if isinstance(url, str):
        parts = [url.rsplit("/", 1)[-1]]
    if not (isinstance(parts, list) and parts and isinstance(parts[-1], str)):
        return None
    return _SHA_SUFFIX.sub(".json", parts[-1])


class _Flattener:
    def __init__(self, bodies: dict[str, dict]):
        self.bodies = bodies
        self.root = bodies.get(ROOT_FILE, {"Resources": {}})
        self.stacks = {
            name: r for name, r in self.root.get("Resources", {}).items() if r.get("Type") == STACK_TYPE
        }
        self.view = View({"Parameters": {}, "Conditions": {}, "Resources": {}})
        self.outputs: dict[str, dict[str, Any]] = {}
        self._busy: set[str] = set()

    def run(self) -> View:
        for name, definition in self.root.get("Parameters", {}).items():
            self.view.template["Parameters"][name] = copy.deepcopy(definition)
        for name in sorted(self.stacks):
            self._stack(name)
        nested = {template_file(s.get("Properties", {}).get("TemplateURL")) for s in self.stacks.values()}
        for file in sorted(set(self.bodies) - nested - {ROOT_FILE}):
            prefix = "".join(p.capitalize() for p in re.split(r"[^A-Za-z0-9]+", file.removesuffix(".json")) if p)
            self._inline(file, prefix, None)
        return self.view

    def _stack(self, name: str) -> dict[str, Any]:
        if name in self.outputs:
            return self.outputs[name]
        if name in self._busy:
            raise ValueError(f"nested stacks feed each other in a circle through {name}")
        self._busy.add(name)
        props = self.stacks[name].get("Properties", {})
        file = template_file(props.get("TemplateURL"))
        fed = {k: self._root_value(v) for k, v in (props.get("Parameters") or {}).items()}
        self.outputs[name] = self._inline(file, name, fed) if file in self.bodies else {}
        self._busy.discard(name)
        return self.outputs[name]

    def _root_value(self, value: Any) -> Any:
        """What the root passes a nested stack, with GetAtt Stack.Outputs.X inlined."""
        if isinstance(value, dict) and len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Fn::GetAtt":
                target, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                if target in self.stacks and str(attribute).startswith("Outputs."):
                    return copy.deepcopy(self._stack(target).get(str(attribute)[len("Outputs."):], UNKNOWN_VALUE))
            return {key: self._root_value(arg)}
        if isinstance(value, list):
            return [self._root_value(v) for v in value]
        return value

    def _inline(self, file: str, prefix: str, fed: dict[str, Any] | None) -> dict[str, Any]:
        body = self.bodies[file]
        self.view.layers[file] = prefix
        resources = body.get("Resources", {})
        scope = _Scope(prefix, set(resources), set(body.get("Conditions", {})), {})
        for name, definition in body.get("Parameters", {}).items():
            if fed is not None and name in fed:
                scope.params[name] = fed[name]
            elif fed is not None and name in self.view.template["Parameters"]:
                scope.params[name] = {"Ref": name}  # lifted to the root under its own name
            else:
                self.view.template["Parameters"][prefix + name] = copy.deepcopy(definition)
                scope.params[name] = {"Ref": prefix + name}
        for name, condition in body.get("Conditions", {}).items():
            self.view.template["Conditions"][prefix + name] = scope.rewrite(condition)
        for name, resource in resources.items():
            flat_id = prefix + name
            if flat_id in self.view.resources:
                raise ValueError(f"{file}: {name} collides with {flat_id} of {self.view.origin[flat_id][0]}")
            self.view.resources[flat_id] = scope.resource(resource)
            self.view.origin[flat_id] = (file, name)
        return {name: scope.rewrite(o.get("Value")) for name, o in body.get("Outputs", {}).items()}


UNKNOWN_VALUE = {"Fn::Strata::Unknown": "an output no layer produces"}


@dataclass
class _Scope:
    prefix: str
    resources: set[str]
    conditions: set[str]
    params: dict[str, Any]

    def resource(self, resource: dict) -> dict:
        out = {k: copy.deepcopy(v) for k, v in resource.items() if k not in ("Properties", "Condition", "DependsOn")}
        if "Properties" in resource:
            out["Properties"] = self.rewrite(resource["Properties"])
        if "Condition" in resource:
            out["Condition"] = self.prefix + resource["Condition"]
        if "DependsOn" in resource:
            depends = resource["DependsOn"]
            out["DependsOn"] = self.prefix + depends if isinstance(depends, str) else [self.prefix + d for d in depends]
        return out

    def rewrite(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.rewrite(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, arg = next(iter(value.items()))
            if key == "Ref" and isinstance(arg, str):
                if arg in self.params:
                    return copy.deepcopy(self.params[arg])
                return {"Ref": self.prefix + arg} if arg in self.resources else value
            if key == "Fn::GetAtt":
                target, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return {"Fn::GetAtt": [self.prefix + target if target in self.resources else target, attribute]}
            if key == "Fn::Sub":
                return {"Fn::Sub": self._sub(arg)}
            if key == "Fn::If" and isinstance(arg, list) and arg:
                return {"Fn::If": [self.prefix + arg[0], *self.rewrite(arg[1:])]}
            if key == "Condition" and isinstance(arg, str) and arg in self.conditions:
                return {"Condition": self.prefix + arg}
        return {k: self.rewrite(v) for k, v in value.items()}

    def _sub(self, arg: Any) -> list:
        text, variables = (arg[0], dict(arg[1])) if isinstance(arg, list) else (arg, {})
        variables = {k: self.rewrite(v) for k, v in variables.items()}

        def replace(match: re.Match) -> str:
            name = match.group(1)
            head = name.split(".", 1)[0]
            if name in variables or head.startswith("AWS::"):
                return match.group(0)
            if head in self.resources:
                return "${" + self.prefix + name + "}"
            if name in self.params:
                variables[self.prefix + name] = copy.deepcopy(self.params[name])
                return "${" + self.prefix + name + "}"
            return match.group(0)

        return [_SUB_VAR.sub(replace, text), variables]


def flatten(bodies: dict[str, dict]) -> View:
    """Inline every nested template of `bodies` (file name -> template body,
    `root.json` included) into one View; templates the root does not nest
    (companions) are inlined with their own parameters."""
    return _Flattener(bodies).run()
