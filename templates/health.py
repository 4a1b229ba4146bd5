"""health layer: the environment's dashboard and its "environment unhealthy" alarm.

Drawn from the enabled layers themselves: every layer module with an
`alarm_specs(env)` function describes its alarms once, and this layer reads
the same list, so the dashboard shows exactly the alarms that exist, under
the names they really have.

- The composite alarm `<project>-<environment>-unhealthy` is in ALARM while
  any alarm of the environment's region is. `deploy.rollback_alarms` can
  name it, so a deploy that makes the environment sick rolls back. It
  notifies nobody itself (its alarms already did). CloudWatch combines
  alarms of one region only, so CloudFront's alarm (us-east-1) is on the
  dashboard but not in it when the environment lives elsewhere.
- The dashboard `<project>-<environment>` has the composite alarm on top and
  one row per layer: the layer's alarm states, then each alarm's metric
  graphed with its threshold.

The composite alarm's rule is built from the `<Layer>AlarmNames` outputs of
the layers, taken as parameters: that is also what orders this stack after
them (CloudWatch refuses a composite alarm whose alarms do not exist yet).
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import TYPE_CHECKING

from pydantic import Field
from troposphere import Join, Ref, Sub, Template, cloudwatch

from generator.cfn import alarms
from generator.cfn.naming import physical_name
from generator.cfn.resources import output, parameter
from generator.cfn.sections import LayerSection

if TYPE_CHECKING:
    from generator.build.config import EnvConfig

NAME = "health"
DESCRIPTION = "CloudWatch dashboard (one row per layer) and the composite alarm \"environment unhealthy\""

MAX_RULE = 10240  # CloudWatch's limit on a composite alarm's rule
GRID = 24         # dashboard columns
GRAPH_WIDTH, GRAPH_HEIGHT = 6, 6


class Config(LayerSection):
    time_range_hours: int = Field(default=3, ge=1, le=2160)
    """Hours of history the dashboard shows when opened (its `start`); the time picker changes it."""


def alarm_layers(env: EnvConfig) -> list[tuple[ModuleType, list[alarms.Spec]]]:
    """(layer module, its alarm specs) for every enabled layer that raises
    alarms, in the registry's order."""
    from templates import all_layers

    rows = []
    for layer in all_layers():
        specs_of = getattr(layer, "alarm_specs", None)
        if specs_of is None or not env.section(layer.NAME).enabled:
            continue
        specs = specs_of(env)
        if specs:
            rows.append((layer, specs))
    return rows


def health_alarm_name(env: EnvConfig) -> str:
    return physical_name(env.project, env.environment, "unhealthy", max_length=255)


def dashboard_name(env: EnvConfig) -> str:
    return physical_name(env.project, env.environment, max_length=255)


def build(env: EnvConfig) -> Template:
    t = Template(Description=f"{env.project} {env.environment}: {DESCRIPTION}")
    rows = alarm_layers(env)
    composite = _composite_alarm(t, env, rows)
    dashboard = _dashboard(t, env, rows)
    output(t, "HealthAlarmName", Ref(composite), "Composite alarm in ALARM while any alarm of the environment is (for deploy.rollback_alarms)")
    output(t, "DashboardName", Ref(dashboard), "CloudWatch dashboard of the environment")
    return t


def _composite_alarm(t: Template, env: EnvConfig, rows) -> cloudwatch.CompositeAlarm:
    clauses, length = [], 0
    for layer, specs in rows:
        local = alarms.in_region(specs, env.region)
        if not local:
            continue
        names = parameter(
            t, alarms.names_output(layer.NAME), "CommaDelimitedList",
            f"Names of the {layer.NAME} layer's alarms (its {alarms.names_output(layer.NAME)} output)",
        )
        clauses.append(Join("", ['ALARM("', Join('") OR ALARM("', Ref(names)), '")']))
        length += sum(len(f'ALARM("{alarms.alarm_name(env.project, env.environment, layer.NAME, s.key)}") OR ') for s in local)
    if not clauses:
        raise ValueError("the health layer needs at least one layer raising alarms in the environment's region")
    if length > MAX_RULE:
        raise ValueError(f"the composite alarm's rule would be {length} characters; CloudWatch allows {MAX_RULE}")
    return t.add_resource(cloudwatch.CompositeAlarm(
        "EnvironmentUnhealthyAlarm",
        AlarmName=health_alarm_name(env),
        AlarmDescription=(
            f"{env.project} {env.environment} is unhealthy: at least one of its alarms in {env.region} is in ALARM. "
            "Name it in deploy.rollback_alarms to roll a deploy back on it."
        ),
        AlarmRule=Join(" OR ", clauses),
    ))


def _arn(env: EnvConfig, name: str, region: str = "") -> str:
    where = region if region and region != env.region else "${AWS::Region}"
    return f"arn:${{AWS::Partition}}:cloudwatch:{where}:${{AWS::AccountId}}:alarm:{name}"


def widgets(env: EnvConfig, rows) -> list[dict]:
    """The dashboard's widgets, top to bottom: the composite alarm, then per
    layer a title, its alarms' states and one graph per alarm (the alarm's
    own metric with its threshold, in the alarm's region)."""
    made = [{
        "type": "alarm", "x": 0, "y": 0, "width": GRID, "height": 2,
        "properties": {"title": f"{env.project} {env.environment}: environment health",
                       "alarms": [_arn(env, health_alarm_name(env))]},
    }]
    y = 2
    for layer, specs in rows:
        names = [(s, alarms.alarm_name(env.project, env.environment, layer.NAME, s.key)) for s in specs]
        made.append({"type": "text", "x": 0, "y": y, "width": GRID, "height": 1,
                     "properties": {"markdown": f"### {layer.NAME}: {layer.DESCRIPTION}"}})
        y += 1
        local = [_arn(env, name) for s, name in names if (s.region or env.region) == env.region]
        if local:  # an alarm status widget shows alarms of the dashboard's region
            made.append({"type": "alarm", "x": 0, "y": y, "width": GRID, "height": 2, "properties": {
                "title": f"{layer.NAME} alarms", "sortBy": "stateUpdatedTimestamp", "alarms": local,
            }})
            y += 2
        for index, (spec, name) in enumerate(names):
            made.append({
                "type": "metric", "width": GRAPH_WIDTH, "height": GRAPH_HEIGHT,
                "x": (index * GRAPH_WIDTH) % GRID, "y": y + (index * GRAPH_WIDTH) // GRID * GRAPH_HEIGHT,
                "properties": {
                    "title": spec.title, "view": "timeSeries", "stacked": False,
                    "region": spec.region or "${AWS::Region}",
                    "annotations": {"alarms": [_arn(env, name, spec.region)]},
                },
            })
        y += -(-len(names) * GRAPH_WIDTH // GRID) * GRAPH_HEIGHT
    return made


def _dashboard(t: Template, env: EnvConfig, rows) -> cloudwatch.Dashboard:
    body = {"start": f"-PT{env.health.time_range_hours}H", "periodOverride": "auto", "widgets": widgets(env, rows)}
    return t.add_resource(cloudwatch.Dashboard(
        "Dashboard", DashboardName=dashboard_name(env),
        DashboardBody=Sub(json.dumps(body, sort_keys=True, separators=(",", ":"))),
    ))
