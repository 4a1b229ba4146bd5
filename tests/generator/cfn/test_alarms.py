"""The alarm toolkit: a spec becomes one CloudWatch alarm, named from the
environment, described with its missing-data reason, notifying the alarm
topic parameter, and listed in the layer's `<Layer>AlarmNames` output."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from troposphere import Ref, Template

from generator.cfn import alarms
from tests.helpers import make_env, render

METRIC = alarms.Metric("AWS/SQS", "ApproximateNumberOfMessagesVisible", {"QueueName": "q"}, "Maximum")


def spec(**kwargs) -> alarms.Spec:
    fields = dict(key="dead-letters", title="Dead letters", threshold=3, comparison=">=", missing="ignore",
                  missing_reason="the queue goes quiet", metric=METRIC, unit="messages")
    return alarms.Spec(**{**fields, **kwargs})


def raised(specs, **kwargs) -> dict:
    t = Template()
    alarms.raise_alarms(t, make_env(), "messaging", alarms.Timing(), specs, **kwargs)
    return render(t)


def test_a_spec_becomes_one_named_alarm_notifying_the_topic_parameter():
    body = raised([spec()])
    alarm = body["Resources"]["DeadLettersAlarm"]["Properties"]
    assert alarm["AlarmName"] == "demo-test-messaging-dead-letters"
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"]) == ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum")
    assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": "q"}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (3, "GreaterThanOrEqualToThreshold", "ignore")
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (60, 5, 3)
    actions = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
    assert alarm["AlarmActions"] == alarm["OKActions"] == actions
    assert body["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}
    assert body["Parameters"]["AlarmTopicArn"]["Default"] == ""
    assert body["Outputs"]["MessagingAlarmNames"]["Value"] == {"Fn::Join": [",", [{"Ref": "DeadLettersAlarm"}]]}


def test_the_description_says_what_how_long_and_why_missing_data_counts_as_it_does():
    text = alarms.describe(spec(), alarms.Timing(evaluation_periods=10, datapoints_to_alarm=4))
    assert text == ("Dead letters: at least 3 messages in 4 of 10 periods of 60s. "
                    "Missing data keeps the alarm's state: the queue goes quiet")
    assert "at least 1 message in" in alarms.describe(spec(threshold=1), alarms.Timing())


def test_percentiles_are_extended_statistics_and_math_is_a_metric_query():
    p99 = raised([spec(key="slow", metric=alarms.Metric("AWS/ApplicationELB", "TargetResponseTime", {}, "p99"))])
    assert p99["Resources"]["SlowAlarm"]["Properties"]["ExtendedStatistic"] == "p99"
    assert "Statistic" not in p99["Resources"]["SlowAlarm"]["Properties"]
    math = raised([spec(key="rate", metric=None, expression="100 * a / b",
                        inputs={"a": METRIC, "b": alarms.Metric("AWS/SQS", "NumberOfMessagesSent", {"QueueName": "q"}, "Sum")})])
    queries = math["Resources"]["RateAlarm"]["Properties"]["Metrics"]
    assert [(q["Id"], q["ReturnData"]) for q in queries] == [("a", False), ("b", False), ("result", True)]
    assert queries[1]["MetricStat"] == {"Metric": {"Namespace": "AWS/SQS", "MetricName": "NumberOfMessagesSent",
                                                   "Dimensions": [{"Name": "QueueName", "Value": "q"}]},
                                        "Period": 60, "Stat": "Sum"}
    assert queries[2]["Expression"] == "100 * a / b"
    assert "MetricName" not in math["Resources"]["RateAlarm"]["Properties"]


def test_alarms_of_another_region_stay_out_and_a_given_topic_replaces_the_parameter():
    body = raised([spec(), spec(key="edge", region="us-east-1")])
    assert sorted(k for k in body["Resources"]) == ["DeadLettersAlarm"]
    t = Template()
    made = alarms.raise_alarms(t, make_env(), "static", alarms.Timing(), [spec(key="edge", region="us-east-1")],
                               region="us-east-1", topic=Ref("AlarmTopic"))
    edge = render(t)
    assert [a.title for a in made] == ["EdgeAlarm"]
    assert edge["Resources"]["EdgeAlarm"]["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert "Parameters" not in edge and "Outputs" not in edge  # not the environment's region: no names output
    quiet = Template()
    alarms.raise_alarms(quiet, make_env(), "static", alarms.Timing(), [spec()], topic=alarms.NO_ACTIONS)
    assert "AlarmActions" not in render(quiet)["Resources"]["DeadLettersAlarm"]["Properties"]


def test_alarms_off_raise_nothing():
    t = Template()
    assert alarms.raise_alarms(t, make_env(), "messaging", alarms.Timing(enabled=False), [spec()]) == []
    assert t.resources == {} and t.parameters == {}


@pytest.mark.parametrize("bad, message", [
    (dict(metric=None), "give a metric or an expression"),
    (dict(expression="a + b"), "give a metric or an expression"),
    (dict(comparison="=="), "comparison must be one of"),
    (dict(missing_reason=" "), "say why missing data keeps the alarm's state"),
])
def test_a_spec_must_be_complete(bad, message):
    with pytest.raises(ValueError, match=message):
        spec(**bad)


@pytest.mark.parametrize("timing, message", [
    (dict(evaluation_periods=2, datapoints_to_alarm=3), "cannot exceed evaluation_periods"),
    (dict(evaluation_periods=61, datapoints_to_alarm=1), "less than or equal to 60"),
    (dict(period_seconds=30), "60 or 300"),
])
def test_timing_is_checked(timing, message):
    with pytest.raises(ValidationError, match=message):
        alarms.Timing(**timing)


def test_names_derive_from_the_environment():
    assert alarms.alarm_name("strata", "prod", "web", "target-5xx-rate") == "strata-prod-web-target-5xx-rate"
    assert alarms.names_output("containers") == "ContainersAlarmNames"
