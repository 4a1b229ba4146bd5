"""Trust policies: a service principal, and for the services whose
documentation names them, aws:SourceAccount and aws:SourceArn, so the
service assumes the role only on behalf of this account's own resources."""

from __future__ import annotations

import pytest
from troposphere import Template

from generator.cfn.iam import SOURCE_ARNS, service_role
from tests.helpers import render


def trust(service: str) -> dict:
    t = Template()
    service_role(t, "Role", service)
    (statement,) = render(t)["Resources"]["Role"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    return statement


@pytest.mark.parametrize("service, arn", [
    ("vpc-flow-logs.amazonaws.com", "arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:vpc-flow-log/*"),
    ("ecs-tasks.amazonaws.com", "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:*"),
    ("monitoring.rds.amazonaws.com", "arn:${AWS::Partition}:rds:${AWS::Region}:${AWS::AccountId}:db:*"),
])
def test_services_that_support_it_assume_the_role_for_this_account_only(service, arn):
    statement = trust(service)
    assert statement["Principal"] == {"Service": [service]} and statement["Action"] == ["sts:AssumeRole"]
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {"aws:SourceArn": {"Fn::Sub": arn}},
    }


@pytest.mark.parametrize("service", ["lambda.amazonaws.com", "ec2.amazonaws.com"])
def test_services_that_document_no_such_keys_keep_the_principal_alone(service):
    assert "Condition" not in trust(service)
    assert service not in SOURCE_ARNS
