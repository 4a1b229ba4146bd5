"""CloudWatch alarms, made one way.

A layer describes its alarms as `Spec`s, from a pure function of the
environment (`alarm_specs(env)` in the layer module), and raises them at the
end of its build with `raise_alarms`. The health layer reads the very same
specs to draw the dashboard, so a name or a title is never typed twice.

Every alarm:
- is named `<project>-<environment>-<layer>-<key>`, stable and derived from
  the environment (what `deploy.rollback_alarms` and the composite alarm name);
- notifies the environment's alarm topic, taken by name as the `AlarmTopicArn`
  parameter: the monitoring layer's output when it is on, else a root
  parameter that may stay empty (the alarms then notify nobody but still
  show on the dashboard and drive the composite alarm). A Service Catalog
  product launched alone still carries its alarms;
- says in its description what it watches, its threshold and how missing
  data counts, with the reason chosen for that metric.

A layer that raises alarms outputs their names as `<Layer>AlarmNames`
(comma-separated, from `Ref` of each alarm); the health layer takes them, which
orders its stack after every alarm it combines (CloudWatch refuses a
composite alarm whose alarms do not exist yet).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator
from troposphere import Equals, If, Join, Not, NoValue, Ref, Template, cloudwatch

from generator.cfn.naming import logical_id, physical_name
from generator.cfn.resources import output, parameter, suppress
from generator.cfn.sections import Section

ALARM_TOPIC = "AlarmTopicArn"
HAS_ALARM_TOPIC = "HasAlarmTopic"
TOPIC_PATTERN = r"^$|^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$"
MAX_DESCRIPTION = 1024

Missing = Literal["breaching", "notBreaching", "ignore", "missing"]
COMPARISONS = {
    ">=": "GreaterThanOrEqualToThreshold", ">": "GreaterThanThreshold",
    "<=": "LessThanOrEqualToThreshold", "<": "LessThanThreshold",
}
_MISSING_WORDS = {
    "breaching": "counts as breaching", "notBreaching": "counts as OK",
    "ignore": "keeps the alarm's state", "missing": "is not evaluated",
}


class Timing(Section):
    """Base of every layer's `alarms:` sub-section: on/off and how long a
    condition must hold. Each layer adds its thresholds as fields."""

    enabled: bool = True
    """Raise this layer's CloudWatch alarms (about $0.10 a month each, standard resolution)."""
    period_seconds: Literal[60, 300] = 60
    """Length of one evaluation period; every metric Strata alarms on is published each minute."""
    evaluation_periods: int = Field(default=5, ge=1, le=60)
    """Periods looked at for each evaluation."""
    datapoints_to_alarm: int = Field(default=3, ge=1, le=60)
    """Periods among `evaluation_periods` that must breach before the alarm fires (3 of 5: a single
    spike does not page anyone, a sustained problem does within minutes)."""

    @model_validator(mode="after")
    def _datapoints_fit(self) -> Timing:
        if self.datapoints_to_alarm > self.evaluation_periods:
            raise ValueError(
                f"datapoints_to_alarm ({self.datapoints_to_alarm}) cannot exceed evaluation_periods ({self.evaluation_periods})"
            )
        return self


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric: namespace, name, dimensions (name -> value,
    literal or intrinsic function) and the statistic taken over a period
    (`Average`, `Sum`, `Maximum`, `Minimum`, or a percentile like `p99`)."""

    namespace: str
    name: str
    dimensions: dict[str, Any]
    statistic: str = "Average"


@dataclass(frozen=True)
class Spec:
    """One alarm: `metric` (or `expression`, metric math over `inputs`)
    compared with `threshold`. `missing` is how a period without data counts,
    `missing_reason` why that is right for this metric. `region` is set for
    an alarm that must live elsewhere (CloudFront's metrics exist in
    us-east-1 only); empty means the environment's region."""

    key: str
    title: str
    threshold: float
    comparison: str
    missing: Missing
    missing_reason: str
    metric: Metric | None = None
    expression: str = ""
    inputs: dict[str, Metric] = field(default_factory=dict)
    unit: str = ""
    region: str = ""

    def __post_init__(self) -> None:
        if (self.metric is None) == (not self.expression):
            raise ValueError(f"alarm {self.key}: give a metric or an expression, not both or neither")
        if self.comparison not in COMPARISONS:
            raise ValueError(f"alarm {self.key}: comparison must be one of {', '.join(COMPARISONS)}")
        if not self.missing_reason.strip():
            raise ValueError(f"alarm {self.key}: say why missing data {_MISSING_WORDS[self.missing]}")


def alarm_name(project: str, environment: str, layer: str, key: str) -> str:
    """`<project>-<environment>-<layer>-<key>`: CloudWatch alarm names are
    unique per account and region, and an environment's name is too."""
    return physical_name(project, environment, layer, key, max_length=255)


def in_region(specs: list[Spec], region: str) -> list[Spec]:
    """The specs whose alarm lives in `region` (the environment's by default)."""
    return [s for s in specs if (s.region or region) == region]


def names_output(layer: str) -> str:
    """The output (and the health layer's parameter) listing a layer's alarm names."""
    return logical_id(layer, "alarm", "names")


def topic_parameter(t: Template) -> Ref:
    """`AlarmTopicArn` and the `HasAlarmTopic` condition, declared identically
    by every layer that raises alarms (so compose lifts one root parameter
    when nothing produces it)."""
    topic = parameter(
        t, ALARM_TOPIC, "String",
        "SNS topic the alarms notify (the monitoring layer's output); empty: the alarms notify nobody",
        Default="", AllowedPattern=TOPIC_PATTERN,
        ConstraintDescription="empty, or the ARN of an SNS topic",
    )
    if HAS_ALARM_TOPIC not in t.conditions:
        t.add_condition(HAS_ALARM_TOPIC, Not(Equals(Ref(topic), "")))
    return Ref(topic)


def _operator_words(spec: Spec) -> str:
    return {">=": "at least", ">": "above", "<=": "at most", "<": "below"}[spec.comparison]


def describe(spec: Spec, timing: Timing) -> str:
    """The alarm's description: what, the threshold, how long, missing data and why."""
    unit = spec.unit.removesuffix("s") if spec.threshold == 1 and spec.unit.endswith("s") else spec.unit
    threshold = f"{spec.threshold:g}{(' ' + unit) if unit else ''}"
    text = (
        f"{spec.title}: {_operator_words(spec)} {threshold} in {timing.datapoints_to_alarm} of "
        f"{timing.evaluation_periods} periods of {timing.period_seconds}s. Missing data "
        f"{_MISSING_WORDS[spec.missing]}: {spec.missing_reason}"
    )
    if len(text) > MAX_DESCRIPTION:
        raise ValueError(f"alarm {spec.key}: description longer than {MAX_DESCRIPTION} characters")
    return text


def _dimensions(metric: Metric) -> list[cloudwatch.MetricDimension]:
    return [cloudwatch.MetricDimension(Name=k, Value=v) for k, v in metric.dimensions.items()]


def _statistic(metric: Metric) -> dict[str, str]:
    kind = "ExtendedStatistic" if metric.statistic.startswith("p") else "Statistic"
    return {kind: metric.statistic}


def _math(spec: Spec, period: int) -> list[cloudwatch.MetricDataQuery]:
    queries = [
        cloudwatch.MetricDataQuery(
            Id=query_id, ReturnData=False,
            MetricStat=cloudwatch.MetricStat(
                Metric=cloudwatch.Metric(Namespace=m.namespace, MetricName=m.name, Dimensions=_dimensions(m)),
                Period=period, Stat=m.statistic,
            ),
        )
        for query_id, m in spec.inputs.items()
    ]
    queries.append(cloudwatch.MetricDataQuery(Id="result", Expression=spec.expression, Label=spec.title, ReturnData=True))
    return queries


NO_ACTIONS = "no actions"
"""`raise_alarms(topic=NO_ACTIONS)`: alarms that notify nobody (no topic in that region)."""


def metric_alarm(t: Template, spec: Spec, name: str, timing: Timing, actions: Any) -> cloudwatch.Alarm:
    """The AWS::CloudWatch::Alarm for `spec`; `actions` (a list or an
    intrinsic) are notified when it goes to ALARM and back to OK."""
    kwargs: dict[str, Any] = {}
    if spec.metric is not None:
        kwargs.update(
            Namespace=spec.metric.namespace, MetricName=spec.metric.name, Dimensions=_dimensions(spec.metric),
            Period=timing.period_seconds, **_statistic(spec.metric),
        )
    else:
        kwargs["Metrics"] = _math(spec, timing.period_seconds)
    if actions is not None:
        kwargs.update(AlarmActions=actions, OKActions=actions)
    return t.add_resource(cloudwatch.Alarm(
        logical_id(spec.key, "alarm"),
        AlarmName=name,
        AlarmDescription=describe(spec, timing),
        Threshold=spec.threshold,
        ComparisonOperator=COMPARISONS[spec.comparison],
        EvaluationPeriods=timing.evaluation_periods,
        DatapointsToAlarm=timing.datapoints_to_alarm,
        TreatMissingData=spec.missing,
        **kwargs,
    ))


def raise_alarms(t: Template, env: Any, layer: str, timing: Timing, specs: list[Spec],
                 region: str | None = None, topic: Any = None) -> list[cloudwatch.Alarm]:
    """Add the alarms of `specs` that live in `region` (default: the
    environment's) to `t` and, in the environment's region, output their
    names as `<Layer>AlarmNames`. They notify the environment's alarm topic
    (the `AlarmTopicArn` parameter), or `topic` when given (a topic of the
    same template), or nobody with NO_ACTIONS. Nothing when the layer's
    alarms are off."""
    region = region or env.region
    local = in_region(specs, region) if timing.enabled else []
    if not local:
        return []
    if topic is None:
        actions: Any = If(HAS_ALARM_TOPIC, [topic_parameter(t)], NoValue)
    else:
        actions = None if topic == NO_ACTIONS else [topic]
    made = [metric_alarm(t, s, alarm_name(env.project, env.environment, layer, s.key), timing, actions) for s in local]
    if topic is None or topic == NO_ACTIONS:
        for alarm in made:
            suppress(alarm, "CT.CLOUDWATCH.PR.1", _no_fixed_action(env, topic))
    if region == env.region:
        output(t, names_output(layer), Join(",", [Ref(a) for a in made]),
               f"Names of the {layer} layer's CloudWatch alarms (the health layer's composite alarm combines them)")
    return made


def _no_fixed_action(env: Any, topic: Any) -> str:
    """Why an alarm has no action Guard can see, for the configuration at hand."""
    if topic == NO_ACTIONS or not env.monitoring.enabled:
        return ("monitoring.enabled is false: the environment has no alarm topic, so the alarm notifies no one "
                "(it shows on the dashboard and in the console)")
    return ("notifies the AlarmTopicArn parameter's topic, which the root stack feeds from the monitoring layer; the "
            "actions are conditional (Fn::If on an empty parameter) only so the template also deploys alone, and "
            "Guard cannot evaluate that")


# --- small builders the layers share ------------------------------------------------

MIB, GIB = 1024 ** 2, 1024 ** 3


def lambda_specs(prefix: str, function: Any, errors: float, throttles: float, title: str) -> list[Spec]:
    """Errors and throttles of one function. No invocation, no datapoint:
    Lambda publishes these counts only for periods with invocations."""
    dims = {"FunctionName": function}
    quiet = "Lambda publishes the count only for periods with invocations; no invocation, nothing failed"
    return [
        Spec(f"{prefix}-errors", f"{title}: invocations that failed", errors, ">=", "notBreaching", quiet,
             Metric("AWS/Lambda", "Errors", dims, "Sum"), unit="errors"),
        Spec(f"{prefix}-throttles", f"{title}: invocations throttled", throttles, ">=", "notBreaching", quiet,
             Metric("AWS/Lambda", "Throttles", dims, "Sum"), unit="throttles"),
    ]


def queue_depth_spec(key: str, title: str, queue_name: Any, threshold: float) -> Spec:
    """Visible messages in a dead-letter queue."""
    return Spec(
        key, title, threshold, ">=", "ignore",
        "SQS stops publishing metrics of a queue idle for six hours, and a dead-letter queue is idle by "
        "design: a quiet period must not turn an alarm about messages still waiting back to OK",
        Metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": queue_name}, "Maximum"),
        unit="messages",
    )
