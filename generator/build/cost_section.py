"""The `cost` section of a parameter file: the usage the monthly estimate
assumes. Nothing is built from it; it changes no template, only
`out/<env>/cost.json` and `cost.md`.

    cost:
      nat_gb: 500          # GB a month through the NAT gateways
      endpoint_gb: 200     # GB a month through the interface endpoints

Fixed charges (hours of a NAT gateway, an endpoint, an instance, a node)
come from the templates; these settings only size what AWS bills by use.
Each default is deliberately small: an idle environment's bill is mostly
the fixed part, and the estimate says which lines are usage.
"""

from __future__ import annotations

from pydantic import Field

from generator.cfn.sections import Section


class CostConfig(Section):
    """Usage assumptions of the monthly cost estimate (`strata cost`)."""

    hours_per_month: float = Field(default=730, gt=0, le=744)
    """Hours in a billing month. 730 is AWS's own (8,760 hours a year / 12, what the AWS Pricing Calculator
    uses); seed 000 used 720 (30 days) for its endpoint figure."""
    gb_per_tb: int = Field(default=1024, ge=1000, le=1024)
    """GB in a TB when a usage is quoted in TB (the NAT-versus-endpoint table): 1024 as AWS's pricing tiers
    count (seed 000's NAT figure), or 1000 (seed 000's endpoint figure)."""
    nat_gb: float = Field(default=100, ge=0)
    """GB a month processed by the NAT gateways, all of them together (seed 000's example: 100)."""
    endpoint_gb: float = Field(default=100, ge=0)
    """GB a month processed by the interface endpoints, all of them together."""
    alb_lcu: float = Field(default=1, ge=0)
    """Average load balancer capacity units per load balancer (1 LCU: 25 new connections/s, 3,000 active
    connections, 1 GB/hour processed or 1,000 rule evaluations/s, whichever is highest)."""
    spot_discount_percent: float = Field(default=70, ge=0, lt=100)
    """Discount of Spot capacity (EC2 Spot instances, Fargate Spot tasks) below the on-demand price. Spot prices
    move with demand and have no list price; AWS quotes up to 90% off, 70% is typical for burstable types."""
    cloudfront_gb: float = Field(default=100, ge=0)
    """GB a month CloudFront sends to viewers, per distribution."""
    cloudfront_requests_millions: float = Field(default=1, ge=0)
    """Million HTTPS requests a month per distribution."""
    lambda_requests_millions: float = Field(default=1, ge=0)
    """Million invocations a month per Lambda function."""
    lambda_duration_ms: float = Field(default=200, ge=0)
    """Average duration of one invocation (ms); billed with the function's memory as GB-seconds."""
    sqs_requests_millions: float = Field(default=1, ge=0)
    """Million requests a month per queue (send, receive and delete each count; 64 KB chunks)."""
    sns_publishes_millions: float = Field(default=1, ge=0)
    """Million publishes a month per topic (deliveries to SQS and Lambda are free)."""
    dynamodb_reads_millions: float = Field(default=1, ge=0)
    """Million read request units a month per on-demand table."""
    dynamodb_writes_millions: float = Field(default=1, ge=0)
    """Million write request units a month per on-demand table."""
    dynamodb_storage_gb: float = Field(default=1, ge=0)
    """GB stored per table."""
    s3_storage_gb: float = Field(default=10, ge=0)
    """GB stored per bucket (S3 Standard)."""
    efs_storage_gb: float = Field(default=10, ge=0)
    """GB stored per file system (EFS Standard)."""
    aurora_storage_gb: float = Field(default=10, ge=0)
    """GB stored per Aurora cluster."""
    aurora_io_millions: float = Field(default=10, ge=0)
    """Million I/O requests a month per Aurora cluster (Aurora Standard storage bills them)."""
    log_ingest_gb: float = Field(default=1, ge=0)
    """GB a month written to each CloudWatch log group (flow logs, functions, containers)."""
    ecr_storage_gb: float = Field(default=1, ge=0)
    """GB of images kept per ECR repository."""
    waf_requests_millions: float = Field(default=1, ge=0)
    """Million requests a month inspected per WAF web ACL."""
    build_minutes: float = Field(default=100, ge=0)
    """CodeBuild minutes a month per project."""
    pipeline_action_minutes: float = Field(default=100, ge=0)
    """CodePipeline (V2) action execution minutes a month per pipeline."""
