"""Every layer's alarms, family by family: the metric, its dimensions wired to
the right resource of the layer's own template, the threshold from the
parameter file, the missing-data treatment, and the alarm topic. Then, over
whole environments: names derived from the environment and unique, every
alarm notifying the topic and listed in its layer's `<Layer>AlarmNames`."""

from __future__ import annotations

import pytest

from generator.build.compose import build_layers
from generator.cfn.alarms import GIB, MIB
from templates import cache, compute, containers, database, messaging, monitoring, network, static, storage, web
from tests.helpers import make_env, render, resources_of_type

TOPIC = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
ALB = {"Fn::GetAtt": ["LoadBalancer", "LoadBalancerFullName"]}
ECS = [{"Name": "ClusterName", "Value": {"Ref": "Cluster"}}, {"Name": "ServiceName", "Value": {"Fn::GetAtt": ["Service", "Name"]}}]


def node(n: int) -> list:
    return [{"Name": "CacheClusterId", "Value": {"Fn::Join": ["-", [{"Ref": "CacheReplicationGroup"}, f"{n:03d}"]]}},
            {"Name": "CacheNodeId", "Value": "0001"}]


SIMPLE = [
    # layer, sections, alarm, (namespace, metric, statistic), dimensions, threshold, comparison, missing
    (network, {"network": {"nat": "per_az", "alarms": {"packets_dropped": 7}}}, "Nat2PacketsDroppedAlarm",
     ("AWS/NATGateway", "PacketsDropCount", "Sum"), [{"Name": "NatGatewayId", "Value": {"Ref": "NatGateway2"}}], 7, ">=", "notBreaching"),
    (network, {"network": {"alarms": {"port_allocation_errors": 3}}}, "Nat1PortAllocationErrorsAlarm",
     ("AWS/NATGateway", "ErrorPortAllocation", "Sum"), [{"Name": "NatGatewayId", "Value": {"Ref": "NatGateway1"}}], 3, ">=", "notBreaching"),
    (web, {"web": {"alarms": {"elb_5xx_count": 25}}}, "Elb5xxAlarm",
     ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "Sum"), [{"Name": "LoadBalancer", "Value": ALB}], 25, ">=", "notBreaching"),
    (web, {"web": {"alarms": {"p95_response_seconds": 0.4}}}, "P95ResponseTimeAlarm",
     ("AWS/ApplicationELB", "TargetResponseTime", "p95"), [{"Name": "LoadBalancer", "Value": ALB}], 0.4, ">=", "notBreaching"),
    (web, {"web": {"alarms": {"p99_response_seconds": 1.5}}}, "P99ResponseTimeAlarm",
     ("AWS/ApplicationELB", "TargetResponseTime", "p99"), [{"Name": "LoadBalancer", "Value": ALB}], 1.5, ">=", "notBreaching"),
    (web, {"web": {"alarms": {"rejected_connections": 4}}}, "RejectedConnectionsAlarm",
     ("AWS/ApplicationELB", "RejectedConnectionCount", "Sum"), [{"Name": "LoadBalancer", "Value": ALB}], 4, ">=", "notBreaching"),
    (web, {"web": {"alarms": {"unhealthy_hosts": 2}}}, "UnhealthyHostsAlarm",
     ("AWS/ApplicationELB", "UnHealthyHostCount", "Maximum"),
     [{"Name": "TargetGroup", "Value": {"Fn::GetAtt": ["TargetGroup", "TargetGroupFullName"]}}, {"Name": "LoadBalancer", "Value": ALB}],
     2, ">=", "notBreaching"),
    (web, {"web": {"alarms": {"unhealthy_hosts": 2}}, "compute": {"enabled": True}, "containers": {"enabled": True, "path_patterns": ["/api/*"]}},
     "ContainerUnhealthyHostsAlarm", ("AWS/ApplicationELB", "UnHealthyHostCount", "Maximum"),
     [{"Name": "TargetGroup", "Value": {"Fn::GetAtt": ["ContainerTargetGroup", "TargetGroupFullName"]}}, {"Name": "LoadBalancer", "Value": ALB}],
     2, ">=", "notBreaching"),
    (containers, {"containers": {"alarms": {"cpu_percent": 70}}}, "CpuHighAlarm", ("AWS/ECS", "CPUUtilization", "Average"), ECS, 70, ">=", "notBreaching"),
    (containers, {"containers": {"alarms": {"memory_percent": 90}}}, "MemoryHighAlarm", ("AWS/ECS", "MemoryUtilization", "Average"), ECS, 90, ">=", "notBreaching"),
    (database, {"database": {"alarms": {"cpu_percent": 75}}}, "CpuHighAlarm", ("AWS/RDS", "CPUUtilization", "Maximum"),
     [{"Name": "DBClusterIdentifier", "Value": {"Ref": "DatabaseCluster"}}], 75, ">=", "notBreaching"),
    (database, {"database": {"alarms": {"freeable_memory_mib": 512}}}, "FreeableMemoryLowAlarm", ("AWS/RDS", "FreeableMemory", "Minimum"),
     [{"Name": "DBClusterIdentifier", "Value": {"Ref": "DatabaseCluster"}}], 512 * MIB, "<", "notBreaching"),
    (database, {"database": {"alarms": {"connections": 900}}}, "ConnectionsHighAlarm", ("AWS/RDS", "DatabaseConnections", "Maximum"),
     [{"Name": "DBClusterIdentifier", "Value": {"Ref": "DatabaseCluster"}}], 900, ">=", "notBreaching"),
    (database, {"database": {"alarms": {"free_local_storage_gib": 5}}}, "FreeLocalStorageLowAlarm", ("AWS/RDS", "FreeLocalStorage", "Minimum"),
     [{"Name": "DBClusterIdentifier", "Value": {"Ref": "DatabaseCluster"}}], 5 * GIB, "<", "notBreaching"),
    (database, {"database": {"readers": 2, "alarms": {"replica_lag_seconds": 1.5}}}, "Instance3ReplicaLagAlarm",
     ("AWS/RDS", "AuroraReplicaLag", "Maximum"), [{"Name": "DBInstanceIdentifier", "Value": {"Ref": "DatabaseInstance3"}}],
     1500, ">=", "notBreaching"),
    (cache, {"cache": {"cluster": {"replicas": 1}, "alarms": {"cpu_percent": 85}}}, "Node2CpuAlarm",
     ("AWS/ElastiCache", "CPUUtilization", "Maximum"), node(2), 85, ">=", "notBreaching"),
    (cache, {"cache": {"alarms": {"engine_cpu_percent": 70}}}, "Node1EngineCpuAlarm",
     ("AWS/ElastiCache", "EngineCPUUtilization", "Maximum"), node(1), 70, ">=", "notBreaching"),
    (cache, {"cache": {"alarms": {"memory_percent": 60}}}, "Node1MemoryAlarm",
     ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "Maximum"), node(1), 60, ">=", "notBreaching"),
    (cache, {"cache": {"alarms": {"evictions": 5}}}, "Node1EvictionsAlarm", ("AWS/ElastiCache", "Evictions", "Sum"), node(1), 5, ">=", "notBreaching"),
    (cache, {"cache": {"cluster": {"replicas": 2}, "alarms": {"replication_lag_seconds": 3}}}, "Node3ReplicationLagAlarm",
     ("AWS/ElastiCache", "ReplicationLag", "Maximum"), node(3), 3, ">=", "notBreaching"),
    (cache, {"cache": {"alarms": {"rotation_errors": 2}}}, "TokenRotationErrorsAlarm", ("AWS/Lambda", "Errors", "Sum"),
     [{"Name": "FunctionName", "Value": {"Ref": "TokenRotationFunction"}}], 2, ">=", "notBreaching"),
    (messaging, {"messaging": {"alarms": {"oldest_message_seconds": 120}}}, "OldestMessageAgeAlarm",
     ("AWS/SQS", "ApproximateAgeOfOldestMessage", "Maximum"), [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["Queue", "QueueName"]}}],
     120, ">=", "ignore"),
    (messaging, {"messaging": {"alarms": {"dead_letter_messages": 10}}}, "DeadLetterQueueAlarm",
     ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum"),
     [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}], 10, ">=", "ignore"),
    (messaging, {"messaging": {"alarms": {"worker_errors": 3}}}, "WorkerErrorsAlarm", ("AWS/Lambda", "Errors", "Sum"),
     [{"Name": "FunctionName", "Value": {"Ref": "WorkerFunction"}}], 3, ">=", "notBreaching"),
    (messaging, {"messaging": {"alarms": {"worker_throttles": 2}}}, "WorkerThrottlesAlarm", ("AWS/Lambda", "Throttles", "Sum"),
     [{"Name": "FunctionName", "Value": {"Ref": "WorkerFunction"}}], 2, ">=", "notBreaching"),
    (static, {"static": {"alarms": {"invalidation_event_age_seconds": 60}}}, "InvalidationEventAgeAlarm",
     ("AWS/Lambda", "AsyncEventAge", "Maximum"), [{"Name": "FunctionName", "Value": {"Ref": "InvalidationFunction"}}],
     60_000, ">=", "notBreaching"),
    (static, {"static": {"alarms": {"invalidation_dead_letters": 2}}}, "InvalidationDeadLettersAlarm",
     ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum"),
     [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["InvalidationDeadLetterQueue", "QueueName"]}}], 2, ">=", "ignore"),
    (static, {"region": "us-east-1", "static": {"alarms": {"cloudfront_5xx_percent": 2}}}, "Cloudfront5xxRateAlarm",
     ("AWS/CloudFront", "5xxErrorRate", "Average"),
     [{"Name": "DistributionId", "Value": {"Ref": "Distribution"}}, {"Name": "Region", "Value": "Global"}], 2, ">=", "notBreaching"),
    (storage, {"storage": {"throughput_mode": "bursting", "alarms": {"burst_credit_gib": 50}}}, "BurstCreditsLowAlarm",
     ("AWS/EFS", "BurstCreditBalance", "Minimum"), [{"Name": "FileSystemId", "Value": {"Ref": "FileSystem"}}], 50 * GIB, "<", "notBreaching"),
]
OPERATORS = {">=": "GreaterThanOrEqualToThreshold", "<": "LessThanThreshold"}


def built(layer, sections: dict) -> dict:
    sections = {**sections}
    region = sections.pop("region", None)
    section = sections.setdefault(layer.NAME, {})
    section["enabled"] = True
    env = make_env(**sections, **({"region": region} if region else {}))
    return render(layer.build(env))


@pytest.mark.parametrize("layer, sections, alarm, metric, dimensions, threshold, comparison, missing", SIMPLE,
                         ids=[f"{case[0].NAME}-{case[2]}" for case in SIMPLE])
def test_each_alarm_watches_its_metric_on_its_resource_with_the_threshold_from_the_parameters(
        layer, sections, alarm, metric, dimensions, threshold, comparison, missing):
    props = built(layer, sections)["Resources"][alarm]["Properties"]
    statistic = props.get("Statistic") or props.get("ExtendedStatistic")
    assert (props["Namespace"], props["MetricName"], statistic) == metric
    assert props["Dimensions"] == dimensions
    assert props["Threshold"] == threshold
    assert props["ComparisonOperator"] == OPERATORS[comparison]
    assert props["TreatMissingData"] == missing
    assert props["AlarmActions"] == props["OKActions"] == TOPIC
    assert "Missing data" in props["AlarmDescription"]


def queries(props: dict) -> dict:
    return {q["Id"]: q for q in props["Metrics"]}


def test_target_5xx_is_a_share_of_requests_and_the_albs_own_5xx_a_count():
    props = built(web, {"web": {"alarms": {"target_5xx_percent": 2}}})["Resources"]["Target5xxRateAlarm"]["Properties"]
    found = queries(props)
    assert found["result"]["Expression"] == "100 * FILL(errors, 0) / requests"
    assert found["errors"]["MetricStat"]["Metric"]["MetricName"] == "HTTPCode_Target_5XX_Count"
    assert found["requests"]["MetricStat"]["Metric"]["MetricName"] == "RequestCount"
    assert found["errors"]["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "LoadBalancer", "Value": ALB}]
    assert props["Threshold"] == 2 and props["AlarmActions"] == TOPIC


def test_in_service_below_min_follows_the_groups_own_minimum():
    props = built(compute, {"compute": {"alarms": {"in_service_shortfall": 2}}})["Resources"]["InServiceBelowMinAlarm"]["Properties"]
    found = queries(props)
    assert found["result"]["Expression"] == "min_size - FILL(in_service, 0)"
    dims = [{"Name": "AutoScalingGroupName", "Value": {"Ref": "AutoScalingGroup"}}]
    assert [(found[k]["MetricStat"]["Metric"]["MetricName"], found[k]["MetricStat"]["Metric"]["Dimensions"]) for k in ("min_size", "in_service")] == [
        ("GroupMinSize", dims), ("GroupInServiceInstances", dims)]
    assert props["Threshold"] == 2 and props["AlarmActions"] == TOPIC


def test_running_below_desired_needs_container_insights():
    body = built(containers, {"containers": {"alarms": {"running_shortfall": 1}}})
    found = queries(body["Resources"]["RunningBelowDesiredAlarm"]["Properties"])
    assert found["result"]["Expression"] == "desired - FILL(running, 0)"
    assert found["desired"]["MetricStat"]["Metric"] == {"Namespace": "ECS/ContainerInsights", "MetricName": "DesiredTaskCount", "Dimensions": ECS}
    off = built(containers, {"containers": {"container_insights": "disabled"}})
    assert "RunningBelowDesiredAlarm" not in off["Resources"] and "CpuHighAlarm" in off["Resources"]


@pytest.mark.parametrize("layer, sections, absent", [
    (database, {"database": {"readers": 0}}, "Instance1ReplicaLagAlarm"),
    (cache, {"cache": {"cluster": {"replicas": 0}}}, "Node1ReplicationLagAlarm"),
    (cache, {"cache": {"cluster": {"auth_token_rotation_days": None}}}, "TokenRotationErrorsAlarm"),
    (messaging, {"messaging": {"worker": {"enabled": False}}}, "WorkerErrorsAlarm"),
    (storage, {"storage": {"throughput_mode": "elastic"}}, "BurstCreditsLowAlarm"),
    (network, {"network": {"nat": "none"}}, "Nat1PacketsDroppedAlarm"),
    (static, {}, "Cloudfront5xxRateAlarm"),  # eu-west-1: CloudFront's alarm lives in the us-east-1 companion
])
def test_an_alarm_exists_only_where_its_metric_can(layer, sections, absent):
    assert absent not in built(layer, sections)["Resources"]


def test_replica_lag_is_watched_on_every_instance_because_failover_moves_the_writer():
    body = built(database, {"database": {"readers": 2}})
    assert sorted(k for k in body["Resources"] if k.endswith("ReplicaLagAlarm")) == [
        "Instance1ReplicaLagAlarm", "Instance2ReplicaLagAlarm", "Instance3ReplicaLagAlarm"]


@pytest.mark.parametrize("layer", [network, web, compute, containers, database, cache, messaging, static, storage, monitoring])
def test_alarms_off_means_none(layer):
    sections = {"alarms": {"enabled": False}}
    if layer is storage:
        sections["throughput_mode"] = "bursting"
    if layer is monitoring:
        sections["alarm_emails"] = ["ops@example.com"]
    body = built(layer, {layer.NAME: sections})
    named = [k for k, a in resources_of_type(body, "AWS::CloudWatch::Alarm").items() if "AlarmName" in a["Properties"]]
    assert named == []
    assert f"{layer.NAME.capitalize()}AlarmNames" not in body.get("Outputs", {})


FULL = {
    "monitoring": {"enabled": True, "alarm_emails": ["ops@example.com"]},
    "dns": {"enabled": True, "domain": "example.com"},
    "static": {"enabled": True},
    "web": {"enabled": True},
    "compute": {"enabled": True},
    "containers": {"enabled": True, "path_patterns": ["/api/*"]},
    "database": {"enabled": True, "readers": 1},
    "cache": {"enabled": True, "cluster": {"replicas": 1}},
    "messaging": {"enabled": True},
    "storage": {"enabled": True, "throughput_mode": "bursting"},
    "health": {"enabled": True},
}


def test_every_alarm_of_an_environment_is_named_from_it_notifies_the_topic_and_is_listed():
    layers = build_layers(make_env(**FULL))
    names = []
    for layer, template in layers.nested.items():
        body = render(template)
        found = resources_of_type(body, "AWS::CloudWatch::Alarm")
        topic = [{"Ref": "AlarmTopic"}] if layer == "monitoring" else TOPIC
        # compute's step-scaling alarms drive its scaling policies, nobody's pager
        scaling = {k for k, a in found.items() if isinstance(a["Properties"]["AlarmActions"], list)
                   and a["Properties"]["AlarmActions"][0]["Ref"].startswith("Step")}
        assert scaling == ({"CpuHighAlarm", "CpuLowAlarm"} if layer == "compute" else set())
        found = {k: a for k, a in found.items() if k not in scaling}
        for logical, alarm in found.items():
            props = alarm["Properties"]
            assert props["AlarmName"].startswith(f"demo-test-{layer}-"), logical
            assert props["AlarmActions"] == props["OKActions"] == topic, logical
            names.append(props["AlarmName"])
        if found:
            listed = body["Outputs"][f"{layer.capitalize()}AlarmNames"]["Value"]["Fn::Join"][1]
            assert sorted(r["Ref"] for r in listed) == sorted(found)
    assert len(names) == len(set(names)) > 40
