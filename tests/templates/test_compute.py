"""compute layer: the rendered template, the schema, the lint gate and a deploy of web + compute on moto."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from pydantic import ValidationError

from generator.build.config import EnvConfig
from generator.build.output import render as render_text
from templates import compute, web
from tests.helpers import BASE_ENV, build_shapes, checkov_failures, config_error, deploy_network_and_security, deploy_stack, lint_findings, make_env, merge, only_resource, render, resources_of_type

WEB = {"enabled": True, "listener": "http"}


def build(compute_fields=None, **sections) -> dict:
    sections.setdefault("web", WEB)
    return render(compute.build(make_env(compute={"enabled": True, **(compute_fields or {})}, **sections)))


def props(body: dict, logical_id: str) -> dict:
    return body["Resources"][logical_id]["Properties"]


def template_data(body: dict) -> dict:
    return props(body, "LaunchTemplate")["LaunchTemplateData"]


def policy_statements(role: dict) -> list[dict]:
    return [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


# --- launch template --------------------------------------------------------------

def test_ami_comes_from_the_public_ssm_parameter_never_a_literal_id():
    body = build()
    assert body["Parameters"]["ImageId"] == {
        "Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
        "Default": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64",
        "Description": "Public SSM parameter with the instances' AMI id",
    }
    assert template_data(body)["ImageId"] == {"Ref": "ImageId"}
    assert not re.search(r"ami-[0-9a-f]{8}", json.dumps(body))


def test_launch_template_requires_imdsv2_has_no_public_ip_and_an_encrypted_gp3_root():
    body = build({"root_volume_gib": 30})
    data = template_data(body)
    assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1}
    assert data["NetworkInterfaces"] == [{
        "DeviceIndex": 0, "AssociatePublicIpAddress": False, "Groups": [{"Ref": "AppSecurityGroupId"}],
        "DeleteOnTermination": True,
    }]
    assert data["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {
        "VolumeType": "gp3", "VolumeSize": 30, "Encrypted": True, "DeleteOnTermination": True,
    }}]
    assert data["IamInstanceProfile"] == {"Arn": {"Fn::GetAtt": ["InstanceProfile", "Arn"]}}
    # the instance type is a parameter defaulting to the configured one (a launch form can choose it)
    assert data["InstanceType"] == {"Ref": "InstanceType"}
    assert body["Parameters"]["InstanceType"]["Default"] == "t3.micro"
    assert "UserData" not in data and "KeyName" not in data


def test_user_data_from_parameters_is_passed_as_written():
    script = "#!/bin/bash\necho ${NOT_A_CFN_VARIABLE} > /tmp/x\n"
    assert template_data(build({"user_data": script}))["UserData"] == {"Fn::Base64": script}


def test_instances_running_containers_get_one_more_metadata_hop_and_ecr_pull():
    body = build({"ecr_pull": True}, containers={"enabled": True})
    assert template_data(body)["MetadataOptions"]["HttpPutResponseHopLimit"] == 2
    statements = policy_statements(body["Resources"]["InstanceRole"])
    assert statements == [
        {"Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": ["*"]},
        {"Effect": "Allow", "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
         "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/demo-test-app"}]},
    ]
    (reason,) = body["Resources"]["InstanceRole"]["Metadata"]["WildcardResources"]
    assert reason["Actions"] == ["ecr:GetAuthorizationToken"] and "no resource-level" in reason["Reason"]


# --- role ------------------------------------------------------------------------------

def test_instance_role_uses_session_manager_and_nothing_else_by_default():
    role = build()["Resources"]["InstanceRole"]
    assert role["Properties"]["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}
    ]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": ["ec2.amazonaws.com"]}
    assert "Policies" not in role["Properties"]


def test_without_session_manager_the_role_has_no_managed_policy():
    assert "ManagedPolicyArns" not in props(build({"session_manager": False}), "InstanceRole")


def test_without_a_data_layer_nothing_is_wired_and_no_condition_is_left():
    body = build()
    # the only condition left is the alarms' (is there a topic to notify?), none of the wiring's
    assert "DatabaseSecretArn" not in body["Parameters"] and set(body.get("Conditions", {})) <= {"HasAlarmTopic"}
    assert not resources_of_type(body, "AWS::SSM::Parameter")


def test_the_database_secret_is_read_on_exactly_its_arn_when_the_database_is_on():
    body = build(database={"enabled": True})
    assert body["Parameters"]["DatabaseSecretArn"]["Type"] == "String" and "Default" not in body["Parameters"]["DatabaseSecretArn"]
    assert {"Sid": "ReadSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
            "Resource": [{"Ref": "DatabaseSecretArn"}]} in policy_statements(body["Resources"]["InstanceRole"])


def test_instance_role_grants_have_the_task_role_grants_shape():
    body = build({"instance_role_grants": [
        {"actions": ["s3:GetObject"], "resources": ["arn:${AWS::Partition}:s3:::reports-${AWS::AccountId}/*"]},
        {"actions": ["cloudwatch:PutMetricData"], "resources": ["*"], "wildcard_reason": "PutMetricData has no resource type"},
    ]})
    assert policy_statements(body["Resources"]["InstanceRole"]) == [
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:s3:::reports-${AWS::AccountId}/*"}]},
        {"Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": ["*"]},
    ]
    assert body["Resources"]["InstanceRole"]["Metadata"]["WildcardResources"] == [
        {"Actions": ["cloudwatch:PutMetricData"], "Reason": "PutMetricData has no resource type"}]
    from templates import containers
    assert compute.Config.model_fields["instance_role_grants"].annotation == containers.Config.model_fields["task_role_grants"].annotation


def test_an_optional_key_pair_for_the_app_instances():
    assert template_data(build({"key_name": "team-ops"}))["KeyName"] == "team-ops"


# --- the group ---------------------------------------------------------------------------

def test_group_in_private_subnets_behind_the_target_group_with_elb_health_checks():
    body = build({"min_size": 2, "desired_capacity": 3, "max_size": 6, "health_check_grace_period_seconds": 200})
    group = props(body, "AutoScalingGroup")
    assert group["VPCZoneIdentifier"] == {"Ref": "PrivateSubnetIds"}
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == ("2", "3", "6")
    assert group["TargetGroupARNs"] == [{"Ref": "TargetGroupArn"}]
    assert group["HealthCheckType"] == "ELB" and group["HealthCheckGracePeriod"] == 200
    assert group["MetricsCollection"] == [{"Granularity": "1Minute"}]
    assert group["LaunchTemplate"] == {
        "LaunchTemplateId": {"Ref": "LaunchTemplate"}, "Version": {"Fn::GetAtt": ["LaunchTemplate", "LatestVersionNumber"]},
    }
    assert body["Parameters"]["PrivateSubnetIds"]["Type"] == "List<AWS::EC2::Subnet::Id>"


def test_without_the_web_layer_the_group_uses_ec2_health_checks_and_no_target_group():
    body = build(web={"enabled": False})
    group = props(body, "AutoScalingGroup")
    assert group["HealthCheckType"] == "EC2" and "TargetGroupARNs" not in group
    assert "TargetGroupArn" not in body["Parameters"]


def test_rolling_updates_keep_capacity_and_do_not_undo_scheduled_sizes():
    policy = build({"min_size": 2, "desired_capacity": 3, "max_size": 6, "rolling_update_batch_size": 2})[
        "Resources"]["AutoScalingGroup"]["UpdatePolicy"]
    rolling = policy["AutoScalingRollingUpdate"]
    assert (rolling["MaxBatchSize"], rolling["MinInstancesInService"]) == (2, 2)
    assert "ScheduledActions" in rolling["SuspendProcesses"]
    assert policy["AutoScalingScheduledAction"] == {"IgnoreUnmodifiedGroupSizeProperties": True}


def test_min_instances_in_service_stays_below_max_size():
    rolling = build({"min_size": 2, "desired_capacity": 2, "max_size": 2})["Resources"]["AutoScalingGroup"][
        "UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert rolling["MinInstancesInService"] == 1


@pytest.mark.parametrize(("policy", "expected"), [
    ("prioritize_availability", {"MinHealthyPercentage": 100, "MaxHealthyPercentage": 110}),
    ("control_costs", {"MinHealthyPercentage": 90, "MaxHealthyPercentage": 100}),
    ("flexible", {"MinHealthyPercentage": 90, "MaxHealthyPercentage": 110}),
])
def test_instance_maintenance_policy(policy, expected):
    assert props(build({"maintenance_policy": policy}), "AutoScalingGroup")["InstanceMaintenancePolicy"] == expected


def test_no_maintenance_policy_keeps_the_default_behaviour():
    assert "InstanceMaintenancePolicy" not in props(build({"maintenance_policy": "none"}), "AutoScalingGroup")


def test_spot_mix_has_an_on_demand_base_and_a_spot_share_over_several_types():
    group = props(build({"spot": {"enabled": True, "on_demand_base_capacity": 2, "spot_percentage": 70,
                                  "extra_instance_types": ["t3a.micro", "t2.micro"]}}), "AutoScalingGroup")
    assert "LaunchTemplate" not in group and group["CapacityRebalance"] is True
    policy = group["MixedInstancesPolicy"]
    assert policy["InstancesDistribution"] == {
        "OnDemandBaseCapacity": 2, "OnDemandPercentageAboveBaseCapacity": 30,
        "SpotAllocationStrategy": "price-capacity-optimized",
    }
    assert policy["LaunchTemplate"]["Overrides"] == [
        {"InstanceType": {"Ref": "InstanceType"}}, {"InstanceType": "t3a.micro"}, {"InstanceType": "t2.micro"},
    ]


def test_instance_requirements_let_auto_scaling_pick_types_by_vcpu_and_memory():
    body = build({"instance_type": None, "instance_requirements": {
        "vcpu_min": 2, "vcpu_max": 8, "memory_mib_min": 4096, "memory_mib_max": None, "burstable": "excluded"}})
    assert "InstanceType" not in template_data(body)
    policy = props(body, "AutoScalingGroup")["MixedInstancesPolicy"]
    assert policy["LaunchTemplate"]["Overrides"] == [{"InstanceRequirements": {
        "VCpuCount": {"Min": 2, "Max": 8}, "MemoryMiB": {"Min": 4096}, "BurstablePerformance": "excluded",
    }}]
    assert policy["InstancesDistribution"] == {"OnDemandBaseCapacity": 0, "OnDemandPercentageAboveBaseCapacity": 100}


# --- scaling ---------------------------------------------------------------------------

def test_target_tracking_holds_cpu_at_fifty_percent_by_default():
    _, policy = only_resource(
        {"Resources": {k: v for k, v in build()["Resources"].items() if v["Properties"].get("PolicyType") == "TargetTrackingScaling"}},
        "AWS::AutoScaling::ScalingPolicy",
    )
    assert policy["Properties"]["TargetTrackingConfiguration"] == {
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
        "TargetValue": 50.0, "DisableScaleIn": False,
    }


def test_target_tracking_on_requests_per_target_reads_the_alb_and_target_group_names():
    body = build({"scaling": {"target_tracking": {"metric": "request_count", "target_value": 800}}})
    spec = props(body, "TargetTrackingPolicy")["TargetTrackingConfiguration"]["PredefinedMetricSpecification"]
    assert spec == {
        "PredefinedMetricType": "ALBRequestCountPerTarget",
        "ResourceLabel": {"Fn::Join": ["/", [{"Ref": "LoadBalancerFullName"}, {"Ref": "TargetGroupFullName"}]]},
    }


def test_step_scaling_adds_two_from_seventy_and_four_from_ninety_percent():
    body = build()
    high = props(body, "CpuHighAlarm")
    assert (high["Threshold"], high["ComparisonOperator"], high["MetricName"], high["Namespace"]) == (
        70.0, "GreaterThanOrEqualToThreshold", "CPUUtilization", "AWS/EC2")
    assert high["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": {"Ref": "AutoScalingGroup"}}]
    assert high["AlarmActions"] == [{"Ref": "StepScaleOutPolicy"}]
    out = props(body, "StepScaleOutPolicy")
    assert (out["PolicyType"], out["AdjustmentType"]) == ("StepScaling", "ChangeInCapacity")
    assert out["StepAdjustments"] == [
        {"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 20.0, "ScalingAdjustment": 2},
        {"MetricIntervalLowerBound": 20.0, "ScalingAdjustment": 4},
    ]
    low = props(body, "CpuLowAlarm")
    assert (low["Threshold"], low["ComparisonOperator"], low["AlarmActions"]) == (
        30.0, "LessThanOrEqualToThreshold", [{"Ref": "StepScaleInPolicy"}])
    assert props(body, "StepScaleInPolicy")["StepAdjustments"] == [{"MetricIntervalUpperBound": 0, "ScalingAdjustment": -1}]


def test_step_scaling_thresholds_and_periods_from_parameters():
    body = build({"scaling": {"step_scaling": {
        "scale_out": [{"cpu_above": 60, "add_instances": 1}, {"cpu_above": 75, "add_instances": 2}, {"cpu_above": 95, "add_instances": 5}],
        "scale_in_below": 20, "remove_instances": 2, "period_seconds": 300, "evaluation_periods": 2}}})
    assert [s["ScalingAdjustment"] for s in props(body, "StepScaleOutPolicy")["StepAdjustments"]] == [1, 2, 5]
    assert props(body, "StepScaleOutPolicy")["StepAdjustments"][1] == {
        "MetricIntervalLowerBound": 15.0, "MetricIntervalUpperBound": 35.0, "ScalingAdjustment": 2}
    assert (props(body, "CpuHighAlarm")["Period"], props(body, "CpuHighAlarm")["EvaluationPeriods"]) == (300, 2)
    assert props(body, "StepScaleInPolicy")["StepAdjustments"][0]["ScalingAdjustment"] == -2


def test_scaling_policies_can_be_turned_off():
    body = build({"scaling": {"target_tracking": {"enabled": False}, "step_scaling": {"enabled": False}}})
    assert not resources_of_type(body, "AWS::AutoScaling::ScalingPolicy")
    # only the health alarm on instances in service is left, no scaling alarm
    assert list(resources_of_type(body, "AWS::CloudWatch::Alarm")) == ["InServiceBelowMinAlarm"]


def test_scheduled_actions_with_cron_time_zone_and_sizes():
    body = build({"min_size": 2, "desired_capacity": 3, "max_size": 6, "scaling": {"scheduled": [
        {"name": "business-hours", "recurrence": "0 8 * * 1-5", "time_zone": "Asia/Seoul", "min_size": 3, "desired_capacity": 4},
        {"name": "night", "recurrence": "50 22 * * *", "desired_capacity": 3},
    ]}})
    actions = resources_of_type(body, "AWS::AutoScaling::ScheduledAction")
    assert actions["BusinessHoursScheduledAction"]["Properties"] == {
        "AutoScalingGroupName": {"Ref": "AutoScalingGroup"}, "Recurrence": "0 8 * * 1-5", "TimeZone": "Asia/Seoul",
        "MinSize": 3, "DesiredCapacity": 4,
    }
    assert actions["NightScheduledAction"]["Properties"]["TimeZone"] == "UTC"
    assert "MinSize" not in actions["NightScheduledAction"]["Properties"]


def test_predictive_scaling_is_optional_and_forecasts_only_unless_told():
    assert not [r for r in build()["Resources"].values() if r["Properties"].get("PolicyType") == "PredictiveScaling"]
    body = build({"scaling": {"predictive": {"enabled": True, "target_cpu": 40}}})
    config = props(body, "PredictiveScalingPolicy")["PredictiveScalingConfiguration"]
    assert config == {"Mode": "ForecastOnly", "MetricSpecifications": [{
        "TargetValue": 40.0, "PredefinedMetricPairSpecification": {"PredefinedMetricType": "ASGCPUUtilization"}}]}
    mode = props(build({"scaling": {"predictive": {"enabled": True, "mode": "ForecastAndScale"}}}), "PredictiveScalingPolicy")
    assert mode["PredictiveScalingConfiguration"]["Mode"] == "ForecastAndScale"


# --- bastion ---------------------------------------------------------------------------

def test_no_bastion_by_default():
    body = build()
    assert not resources_of_type(body, "AWS::EC2::Instance")
    assert "BastionSecurityGroupId" not in body["Parameters"] and "PublicSubnetIds" not in body["Parameters"]


def test_bastion_in_the_first_public_subnet_with_a_public_ip_and_the_bastion_group():
    body = build({"bastion": {"enabled": True, "key_name": "ops"}}, security={"admin_cidr": "203.0.113.0/24"})
    data = props(body, "BastionLaunchTemplate")["LaunchTemplateData"]
    assert data["NetworkInterfaces"] == [{
        "DeviceIndex": 0, "AssociatePublicIpAddress": True, "Groups": [{"Ref": "BastionSecurityGroupId"}],
        "SubnetId": {"Fn::Select": [0, {"Ref": "PublicSubnetIds"}]}, "DeleteOnTermination": True,
    }]
    assert data["MetadataOptions"]["HttpTokens"] == "required" and data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert data["KeyName"] == "ops" and data["ImageId"] == {"Ref": "BastionImageId"}
    skip = body["Resources"]["BastionLaunchTemplate"]["Metadata"]["checkov"]["skip"]
    assert [s["id"] for s in skip] == ["CKV_AWS_88"] and "admin CIDR" in skip[0]["comment"]
    assert props(body, "BastionRole")["ManagedPolicyArns"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"}]
    assert {"BastionInstanceId", "BastionPublicIp"} <= set(body["Outputs"])


def test_bastion_outputs_say_only_what_is_true():
    """Session Manager works (the bastion's group allows HTTPS out, see the
    security layer), SSH only from the admin CIDR with what the instances accept."""
    body = build({"bastion": {"enabled": True}}, security={"admin_cidr": "203.0.113.0/24"})
    assert "aws ssm start-session" in body["Outputs"]["BastionInstanceId"]["Description"]
    ip = body["Outputs"]["BastionPublicIp"]["Description"]
    assert "from 203.0.113.0/24 only" in ip and "key pair" not in ip
    assert ip.count("aws ec2-instance-connect send-ssh-public-key") == 2  # the bastion's login, then the app's
    keyed = build({"key_name": "app-key", "bastion": {"enabled": True, "key_name": "ops"}},
                  security={"admin_cidr": "203.0.113.0/24"})["Outputs"]["BastionPublicIp"]["Description"]
    assert "with key pair ops or" in keyed and "with key pair app-key or" in keyed


def test_instance_connect_endpoint_in_the_first_private_subnet_with_the_security_layers_group():
    assert not resources_of_type(build(), "AWS::EC2::InstanceConnectEndpoint")
    body = build({"instance_connect_endpoint": True})
    _, endpoint = only_resource(body, "AWS::EC2::InstanceConnectEndpoint")
    assert endpoint["Properties"]["SubnetId"] == {"Fn::Select": [0, {"Ref": "PrivateSubnetIds"}]}
    assert endpoint["Properties"]["SecurityGroupIds"] == [{"Ref": "InstanceConnectSecurityGroupId"}]
    assert endpoint["Properties"]["PreserveClientIp"] is False
    assert body["Parameters"]["InstanceConnectSecurityGroupId"]["Type"] == "AWS::EC2::SecurityGroup::Id"
    assert "--connection-type eice" in body["Outputs"]["InstanceConnectEndpointId"]["Description"]
    assert "PublicSubnetIds" not in body["Parameters"]  # no bastion, nothing public


def test_outputs_and_determinism():
    env = make_env(web=WEB, compute={"enabled": True, "spot": {"enabled": True}})
    assert set(render(compute.build(env))["Outputs"]) == {"AutoScalingGroupName", "LaunchTemplateId", "InstanceRoleArn", "ComputeAlarmNames"}
    assert render_text("c.json", compute.build(env)).text == render_text("c.json", compute.build(env)).text


# --- schema ----------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "path", "fragment"), [
    ({"min_size": 3, "desired_capacity": 2, "max_size": 6}, "compute", "desired_capacity (2) is below min_size (3)"),
    ({"min_size": 2, "desired_capacity": 8, "max_size": 6}, "compute", "desired_capacity (8) exceeds max_size (6)"),
    ({"min_size": 7, "desired_capacity": 7, "max_size": 6}, "compute", "min_size (7) must not exceed max_size (6)"),
    ({"scaling": {"scheduled": [{"name": "peak", "recurrence": "0 9 * * *", "desired_capacity": 9}]}},
     "compute", "scaling.scheduled 'peak': desired_capacity (9) exceeds max_size (2)"),
    ({"scaling": {"scheduled": [{"name": "peak", "recurrence": "0 9 * *"}]}}, "compute.scaling.scheduled.0.recurrence", "five-field cron"),
    ({"scaling": {"scheduled": [{"name": "peak", "recurrence": "0 9 * * *", "time_zone": "Mars/Olympus", "min_size": 1}]}},
     "compute.scaling.scheduled.0.time_zone", "IANA time zone"),
    ({"scaling": {"scheduled": [{"name": "peak", "recurrence": "0 9 * * *"}]}}, "compute.scaling.scheduled.0", "at least one of"),
    ({"scaling": {"step_scaling": {"scale_out": [{"cpu_above": 90, "add_instances": 4}, {"cpu_above": 70, "add_instances": 2}]}}},
     "compute.scaling.step_scaling", "rising cpu_above"),
    ({"scaling": {"step_scaling": {"scale_in_below": 80}}}, "compute.scaling.step_scaling", "must be below the first scale-out step"),
    ({"instance_requirements": {"vcpu_min": 2}}, "compute", "either instance_type or instance_requirements"),
    ({"instance_type": "t4g.small"}, "compute", "t4g.small need(s) an arm64 AMI"),
    ({"instance_type": "m5 large"}, "compute.instance_type", "not an EC2 instance type"),
    ({"spot": {"spot_percentage": 120}}, "compute.spot.spot_percentage", "less than or equal to 100"),
    ({"maintenance_policy": "fast"}, "compute.maintenance_policy", "must be one of"),
    ({"bastion": {"enabled": True, "instance_type": "t4g.nano"}}, "compute.bastion", "arm64 AMI"),
    ({"spot": {"extra_instance_types": ["t3a.micro"]}}, "compute", "needs spot.enabled: true"),
    ({"scaling": {"target_tracking": {"target_value": 150}}}, "compute.scaling.target_tracking", "must be below 100"),
    ({"instance_role_grants": [{"actions": ["s3:GetObject"], "resources": ["*"]}]}, "compute.instance_role_grants.0", "wildcard_reason"),
    ({"instance_role_grants": [{"actions": ["GetObject"], "resources": ["arn:aws:s3:::b/*"]}]}, "compute.instance_role_grants.0.actions", "service:Action"),
    ({"file_system_path": "relative/path"}, "compute.file_system_path", "absolute path"),
    ({"file_system_path": "/etc/app"}, "compute.file_system_path", "would hide a system directory"),
    ({"key_name": ""}, "compute.key_name", "key pair name"),
])
def test_bad_compute_fields_name_the_field(tmp_path, fields, path, fragment):
    data = merge(BASE_ENV, {"compute": {"enabled": True, **fields}})
    message = config_error(tmp_path, data)
    assert f" {path}: " in message and fragment in message, message


def test_graviton_types_with_the_arm64_image_are_accepted():
    env = make_env(compute={"enabled": True, "instance_type": "m7g.large",
                            "ami_parameter": "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"})
    assert env.compute.instance_type == "m7g.large"


def test_root_stack_passes_the_ami_parameter_name_for_the_nested_stack_to_resolve():
    """The nested template resolves `AWS::SSM::Parameter::Value<...>`; a root
    parameter of that type would hand it an AMI id instead of a name."""
    from generator.build.compose import build_layers, compose_root

    env = make_env(web=WEB, compute={"enabled": True})
    root = render(compose_root(env, build_layers(env)))
    assert root["Parameters"]["ImageId"]["Type"] == "String"
    assert root["Parameters"]["ImageId"]["Default"] == compute.DEFAULT_AMI_PARAMETER
    assert root["Resources"]["Compute"]["Properties"]["Parameters"]["ImageId"] == {"Ref": "ImageId"}


def test_seed_sizes_two_three_six_are_accepted():
    env = EnvConfig.model_validate(merge(BASE_ENV, {"compute": {"enabled": True, "min_size": 2, "desired_capacity": 3, "max_size": 6}}))
    assert (env.compute.min_size, env.compute.desired_capacity, env.compute.max_size) == (2, 3, 6)


def test_bad_sizes_are_refused_before_anything_is_built():
    with pytest.raises(ValidationError, match="exceeds max_size"):
        EnvConfig.model_validate(merge(BASE_ENV, {"compute": {"enabled": True, "desired_capacity": 5, "max_size": 4}}))


# --- lint and scan -----------------------------------------------------------------------

SHAPES = {
    "plain": dict(web=WEB, compute={"enabled": True}),
    "alone": dict(compute={"enabled": True, "session_manager": False}),
    "full": dict(
        web=WEB, security={"admin_cidr": "203.0.113.0/24"}, containers={"enabled": True},
        compute={"enabled": True, "ecr_pull": True, "user_data": "#!/bin/bash\ndnf -y install nginx\n",
                 "spot": {"enabled": True, "extra_instance_types": ["t3a.micro"]}, "bastion": {"enabled": True},
                 "maintenance_policy": "flexible",
                 "scaling": {"target_tracking": {"metric": "request_count"}, "predictive": {"enabled": True},
                             "scheduled": [{"name": "am", "recurrence": "0 8 * * 1-5", "min_size": 2, "desired_capacity": 2}]}},
    ),
    "requirements": dict(web=WEB, compute={"enabled": True, "instance_type": None, "instance_requirements": {},
                                           "spot": {"enabled": True}, "maintenance_policy": "none"}),
    "wired": dict(
        web=WEB, security={"admin_cidr": "203.0.113.0/24"}, static={"enabled": True}, database={"enabled": True},
        cache={"enabled": True, "tables": {"sessions": {"partition_key": {"name": "id"}}}}, messaging={"enabled": True},
        storage={"enabled": True},
        compute={"enabled": True, "static_write": True, "instance_connect_endpoint": True, "key_name": "ops",
                 "bastion": {"enabled": True}, "user_data": "#!/bin/bash\nsystemctl start app\n",
                 "instance_role_grants": [{"actions": ["cloudwatch:PutMetricData"], "resources": ["*"],
                                           "wildcard_reason": "PutMetricData has no resource type"}]},
    ),
}


def test_lint_clean_in_every_shape():
    assert lint_findings(build_shapes(compute, SHAPES)) == []


def test_security_scan_clean_in_every_shape(tmp_path):
    assert checkov_failures({name: t for name, (t, _) in build_shapes(compute, SHAPES).items()}, tmp_path) == []


# --- deploy web + compute on moto -----------------------------------------------------

CERT_DOMAIN = "app.example.com"


def test_web_and_compute_deploy_through_change_sets(aws):
    """What moto shows: the ALB with HTTP:80 answering 301 to HTTPS:443 and
    the HTTPS listener (TLS 1.3 policy, the certificate) forwarding to the
    instance target group; the launch template (the AMI resolved from the
    public SSM parameter, IMDSv2, encrypted gp3, no public IP, the app
    group); the Auto Scaling group at 2/3/6 in the private subnets with its
    three instances registered in the target group; the scheduled action.

    What moto does not emulate: AWS::AutoScaling::ScalingPolicy and
    AWS::CloudWatch::Alarm (target tracking, step scaling and predictive
    policies are skipped by moto's CloudFormation), the instance maintenance
    and rolling update policies, real health checks (moto reports every
    target healthy), load balancer and target group attributes, and stack
    Outputs of change-set-created stacks."""
    env = make_env(
        web={"enabled": True, "listener": "https", "certificate_arn":
             "arn:aws:acm:eu-west-1:111122223333:certificate/12345678-1234-1234-1234-123456789012"},
        compute={"enabled": True, "min_size": 2, "desired_capacity": 3, "max_size": 6, "scaling": {"scheduled": [
            {"name": "business-hours", "recurrence": "0 8 * * 1-5", "time_zone": "Europe/Dublin", "min_size": 3, "desired_capacity": 4},
        ]}},
    )
    ids = deploy_network_and_security(aws, env)
    acm = boto3.client("acm", endpoint_url=aws, region_name="eu-west-1")
    certificate = acm.request_certificate(DomainName=CERT_DOMAIN)["CertificateArn"]

    web_resources = deploy_stack(aws, "web", render(web.build(env)), {
        "VpcId": ids["VpcId"], "PublicSubnetIds": ids["PublicSubnetIds"], "AlbSecurityGroupId": ids["AlbSecurityGroupId"],
        "CertificateArn": certificate,
    })
    target_group = web_resources["TargetGroup"]["PhysicalResourceId"]
    compute_resources = deploy_stack(aws, "compute", render(compute.build(env)), {
        "PrivateSubnetIds": ids["PrivateSubnetIds"], "AppSecurityGroupId": ids["AppSecurityGroupId"], "TargetGroupArn": target_group,
    })

    elb = boto3.client("elbv2", endpoint_url=aws, region_name="eu-west-1")
    listeners = {l["Port"]: l for l in elb.describe_listeners(
        LoadBalancerArn=web_resources["LoadBalancer"]["PhysicalResourceId"])["Listeners"]}
    assert listeners[80]["DefaultActions"] == [{"Type": "redirect", "RedirectConfig": {
        "Protocol": "HTTPS", "Port": "443", "Host": "#{host}", "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301"}}]
    assert listeners[443]["Protocol"] == "HTTPS" and listeners[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert listeners[443]["Certificates"] == [{"CertificateArn": certificate}]
    assert listeners[443]["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": target_group}]

    ec2 = boto3.client("ec2", endpoint_url=aws, region_name="eu-west-1")
    ssm = boto3.client("ssm", endpoint_url=aws, region_name="eu-west-1")
    (version,) = ec2.describe_launch_template_versions(
        LaunchTemplateId=compute_resources["LaunchTemplate"]["PhysicalResourceId"])["LaunchTemplateVersions"]
    data = version["LaunchTemplateData"]
    ami = ssm.get_parameter(Name=env.compute.ami_parameter)["Parameter"]["Value"]
    assert data["ImageId"] == ami
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["BlockDeviceMappings"][0]["Ebs"] == {"Encrypted": True, "DeleteOnTermination": True, "VolumeSize": 20, "VolumeType": "gp3"}
    assert data["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
    assert data["NetworkInterfaces"][0]["Groups"] == [ids["AppSecurityGroupId"]]

    autoscaling = boto3.client("autoscaling", endpoint_url=aws, region_name="eu-west-1")
    (group,) = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (2, 3, 6)
    assert group["TargetGroupARNs"] == [target_group] and group["HealthCheckType"] == "ELB"
    assert set(group["VPCZoneIdentifier"].split(",")) == set(ids["PrivateSubnetIds"].split(","))
    instances = {i["InstanceId"] for i in group["Instances"]}
    assert len(instances) == 3
    registered = {t["Target"]["Id"] for t in elb.describe_target_health(TargetGroupArn=target_group)["TargetHealthDescriptions"]}
    assert registered == instances
    described = ec2.describe_instances(InstanceIds=sorted(instances))["Reservations"]
    assert {i["SubnetId"] for r in described for i in r["Instances"]} <= set(ids["PrivateSubnetIds"].split(","))

    (action,) = autoscaling.describe_scheduled_actions(AutoScalingGroupName=group["AutoScalingGroupName"])["ScheduledUpdateGroupActions"]
    assert (action["Recurrence"], action["TimeZone"], action["MinSize"], action["DesiredCapacity"]) == (
        "0 8 * * 1-5", "Europe/Dublin", 3, 4)
    assert "MaxSize" not in action
