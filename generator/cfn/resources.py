"""Helpers every layer uses: parameters, outputs, tags, data-keeping policies,
scan suppressions and console labels. One place per concept, so a layer
module only says *what* it builds."""

from __future__ import annotations

import re
from typing import Any

from troposphere import AWSObject, Join, Output, Parameter, Ref, Tags, Template, autoscaling, ec2, logs, ssm

from generator.cfn.naming import logical_id, ssm_path

# Every nested template is fetched from here; the root stack and every
# template with Lambda code take the same two parameters.
TEMPLATE_BUCKET = "TemplateBucket"
TEMPLATE_PREFIX = "TemplatePrefix"

# A security group with no egress rule gets "allow all" from EC2; this rule
# matches no real traffic (ICMP type 252, code 86), which leaves none allowed.
NO_EGRESS = ec2.SecurityGroupRule(
    IpProtocol="icmp", FromPort=252, ToPort=86, CidrIp="255.255.255.255/32", Description="Disallow all traffic",
)


def parameter(template: Template, name: str, type: str, description: str, **kwargs: Any) -> Parameter:
    """Declare (once) an input of a layer. The name is the wiring contract:
    compose feeds it from the one enabled layer whose Output has that name.
    A Parameter with a `Default` may have no producer; it is then lifted to
    the root stack's own parameters."""
    if name in template.parameters:
        return template.parameters[name]
    return template.add_parameter(Parameter(name, Type=type, Description=description, **kwargs))


def output(template: Template, name: str, value: Any, description: str) -> Output:
    """Declare a result of a layer; its name is what consuming layers' Parameters match."""
    return template.add_output(Output(name, Value=value, Description=description))


def ssm_parameter(template: Template, title: str, name: Any, value: Any, description: str,
                  list_value: bool = False) -> ssm.Parameter:
    """Publish `value` in Parameter Store under `name` (see `naming.ssm_path`),
    so stacks, launch forms and applications find it by name instead of by
    literal. `list_value`: a comma-separated list (subnet ids), stored as
    StringList. SSM keeps Standard-tier String parameters free of charge; a
    value must be non-empty, so publish only values that always exist."""
    return template.add_resource(ssm.Parameter(
        title, Name=name, Type="StringList" if list_value else "String", Value=value,
        Description=description, Tier="Standard",
    ))


def publish_outputs(template: Template, project: str, environment: str, layer: str) -> dict[str, str]:
    """Write every Output of `template` to Parameter Store as well, under
    `/<project>/<environment>/<layer>/<OutputName>` (a comma-joined list as a
    StringList), and record the names in `Metadata.Strata.ParameterStore`.
    A template that reads the value can then take an
    `AWS::SSM::Parameter::Value<...>` parameter defaulting to that name: the
    Service Catalog products do, so a team launching them in an account
    picks nothing by hand. Call it last, once every Output exists; an Output
    with a Condition gets a parameter with the same Condition."""
    paths = {}
    for name, declared in list(template.outputs.items()):
        value = declared.properties["Value"]
        path = ssm_path(project, environment, layer, name)
        resource = ssm_parameter(
            template, logical_id(name, "parameter"), path, value,
            f"{layer} layer output {name}: {declared.properties.get('Description', name)}",
            list_value=isinstance(value, Join) and value.data["Fn::Join"][0] == ",",
        )
        if "Condition" in declared.properties:
            resource.Condition = declared.properties["Condition"]
        paths[name] = path
    strata_metadata(template, "ParameterStore", paths)
    return paths


def template_location_parameters(template: Template) -> tuple[Parameter, Parameter]:
    """`TemplateBucket` and `TemplatePrefix`: where `out/<env>/` was copied in S3."""
    bucket = parameter(
        template, TEMPLATE_BUCKET, "String",
        "S3 bucket holding the copied out/<env>/ folder (templates and Lambda zips).",
        AllowedPattern=r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$",
    )
    prefix = parameter(
        template, TEMPLATE_PREFIX, "String",
        "Key prefix of that folder inside the bucket, ending in '/' (empty for the bucket root).",
        Default="", AllowedPattern=r"^$|^[A-Za-z0-9!_.*'()/\-]*/$",
    )
    return bucket, prefix


def strata_metadata(template: Template, key: str, value: Any) -> None:
    """Set `Metadata.Strata.<key>`: what Strata's own later steps read from a
    template (the Lambda zips it needs, the region a companion deploys to)."""
    metadata = dict(template.metadata)
    metadata["Strata"] = {**metadata.get("Strata", {}), key: value}
    template.set_metadata(metadata)


def template_url(file_name: str) -> Join:
    """Virtual-hosted-style S3 URL of a file copied under TemplatePrefix; the
    bucket must be in the stack's region (CloudFormation fetches from there)."""
    return Join("", [
        "https://", Ref(TEMPLATE_BUCKET), ".s3.", Ref("AWS::Region"), ".", Ref("AWS::URLSuffix"), "/",
        Ref(TEMPLATE_PREFIX), file_name,
    ])


def strata_metadata_of(body: dict, key: str, default: Any = None) -> Any:
    """`Metadata.Strata.<key>` of a rendered template, or `default`."""
    return body.get("Metadata", {}).get("Strata", {}).get(key, default)


def is_catalog_template(body: dict) -> bool:
    """A template of the catalog's (a product, the launch role, the
    portfolio): `strata publish` deploys it, never the environment's rollout,
    so the environment's cost, diagram and cross-layer view leave it out."""
    return bool(strata_metadata_of(body, "Catalog"))


def deploy_region(body: dict, default: str) -> str:
    """The region a rendered template deploys to: `Metadata.Strata.Region`
    when it names one (a companion pinned to us-east-1), else `default`."""
    return strata_metadata_of(body, "Region", default)


def keep_data(resource: AWSObject, policy: str = "Retain") -> AWSObject:
    """Stateful resources keep their data when deleted or replaced: both
    DeletionPolicy and UpdateReplacePolicy, always together (`Snapshot` for
    databases that support it, `Retain` otherwise)."""
    resource.DeletionPolicy = policy
    resource.UpdateReplacePolicy = policy
    return resource


# A log group kept longer than this holds records someone chose to keep (a
# year of flow logs, an audit trail), not a debugging aid: deleting or
# replacing the stack must not delete them. Rule E9062 checks the same number.
RETAIN_LOGS_ABOVE_DAYS = 90


def retain_long_logs(group: logs.LogGroup) -> logs.LogGroup:
    """Retain `group` (DeletionPolicy and UpdateReplacePolicy) when its
    retention is above RETAIN_LOGS_ABOVE_DAYS; shorter-lived operational logs
    go with their stack."""
    days = group.properties.get("RetentionInDays")
    if isinstance(days, int) and days > RETAIN_LOGS_ABOVE_DAYS:
        keep_data(group, "Retain")
    return group


# checkov checks and the AWS Guard rules (Control Tower proactive controls)
# that test the same property: suppressing the checkov check for a reason
# suppresses its twin for the same reason, so a layer states each exception once.
GUARD_TWINS = {
    "CKV_AWS_2": "CT.ELASTICLOADBALANCING.PR.1",   # HTTP listener instead of HTTPS / redirect
    "CKV_AWS_65": "CT.ECS.PR.2",                   # Container Insights
    "CKV_AWS_86": "CT.CLOUDFRONT.PR.5",            # CloudFront access logs
    "CKV_AWS_88": "CT.EC2.PR.9",                   # public IP on launch
    "CKV_AWS_91": "CT.ELASTICLOADBALANCING.PR.6",  # load balancer access logs
    "CKV_AWS_117": "CT.LAMBDA.PR.3",               # function inside a VPC
    "CKV_AWS_118": "CT.RDS.PR.2",                  # RDS enhanced monitoring
    "CKV_AWS_158": "CT.CLOUDWATCH.PR.3",           # log group encrypted with a customer-managed key
    "CKV_AWS_336": "CT.ECS.PR.6",                  # read-only root file system
}


def suppress(resource: AWSObject, check_id: str, reason: str) -> AWSObject:
    """Record in the resource's Metadata that a scan check does not apply, and
    why. checkov reads `Metadata.checkov.skip`; cfn-lint (and Strata's own
    rules, which run inside cfn-lint) read `Metadata.cfn-lint.config.ignore_checks`;
    AWS's Guard rules (`CT.*`, generator.build.guard) read
    `Metadata.guard.SuppressedRules` (the Guard rules registry's convention),
    with the reasons beside them."""
    if not reason.strip():
        raise ValueError(f"suppressing {check_id} on {resource.title} needs a reason")
    metadata = dict(getattr(resource, "Metadata", {}) or {})
    if check_id.startswith("CKV"):
        skips = list(metadata.get("checkov", {}).get("skip", []))
        skips.append({"id": check_id, "comment": reason})
        metadata["checkov"] = {"skip": sorted(skips, key=lambda s: s["id"])}
    elif check_id.startswith("CT."):
        guard = metadata.get("guard", {})
        metadata["guard"] = {
            "SuppressedRules": sorted({*guard.get("SuppressedRules", []), check_id}),
            "Reasons": {**guard.get("Reasons", {}), check_id: reason},
        }
    else:
        config = dict(metadata.get("cfn-lint", {}).get("config", {}))
        config["ignore_checks"] = sorted({*config.get("ignore_checks", []), check_id})
        reasons = dict(metadata.get("cfn-lint", {}).get("reasons", {}))
        reasons[check_id] = reason
        metadata["cfn-lint"] = {"config": config, "reasons": reasons}
    resource.Metadata = metadata
    if check_id in GUARD_TWINS:
        suppress(resource, GUARD_TWINS[check_id], reason)
    return resource


def apply_tags(template: Template, tags: dict[str, str]) -> None:
    """Tag every taggable resource with `tags`, keeping tags a resource set
    itself (a `Name`, say) on top. Auto Scaling groups get
    PropagateAtLaunch so instances carry the tags too."""
    for resource in template.resources.values():
        kind = resource.props.get("Tags", (None,))[0]
        if kind is None:
            continue
        own = resource.properties.get("Tags")
        if kind is dict:
            resource.Tags = {**tags, **(own or {})}
            continue
        merged = {**tags, **_tag_dict(own)}
        tag_class = autoscaling.Tags if isinstance(resource, autoscaling.AutoScalingGroup) else Tags
        resource.Tags = tag_class(**merged)


def _tag_dict(own: Any) -> dict[str, Any]:
    if own is None:
        return {}
    items = own.to_dict() if hasattr(own, "to_dict") else own
    return {t["Key"]: t["Value"] for t in items}


# Words a parameter name spells in CamelCase that a form shows in capitals.
_ACRONYMS = {
    "Acl": "ACL", "Alb": "ALB", "Ami": "AMI", "Arn": "ARN", "Arns": "ARNs", "Cidr": "CIDR", "Db": "DB",
    "Dns": "DNS", "Ecr": "ECR", "Efs": "EFS", "Http": "HTTP", "Https": "HTTPS", "Id": "ID", "Ids": "IDs",
    "Kms": "KMS", "Sns": "SNS", "Sqs": "SQS", "Ssm": "SSM", "Tls": "TLS", "Url": "URL", "Vpc": "VPC", "Waf": "WAF",
}
_WORDS = re.compile(r"CloudFront|CloudWatch|DynamoDB|[A-Z]+(?![a-z])|[A-Z][a-z0-9]*|[a-z0-9]+")
FORM = "AWS::CloudFormation::Interface"


def label(name: str) -> str:
    """The console label of a parameter: its CamelCase name as words, acronyms
    in capitals ("VpcId" -> "VPC ID", "PrivateSubnetIds" -> "Private Subnet IDs")."""
    return " ".join(_ACRONYMS.get(word, word) for word in _WORDS.findall(name))


def parameter_interface(template: Template, groups: dict[str, list[str]]) -> None:
    """`AWS::CloudFormation::Interface`: the console (and a Service Catalog
    launch form) shows parameters in these groups, labelled by `label`."""
    names = [n for members in groups.values() for n in members]
    metadata = dict(template.metadata)
    metadata[FORM] = {
        "ParameterGroups": [
            {"Label": {"default": group}, "Parameters": members} for group, members in groups.items() if members
        ],
        "ParameterLabels": {n: {"default": label(n)} for n in sorted(names)},
    }
    template.set_metadata(metadata)


def launch_form(template: Template, producers: dict[str, str], order: tuple[str, ...] = ()) -> None:
    """Group and label every Parameter of `template` for the console: inputs
    another layer produces (`producers`: parameter -> that layer) under "From
    the <layer> layer", then the layer's own settings, then the template
    location. Groups and labels a layer wrote itself are kept; parameters
    they leave out are added. Producer groups follow `order` (the layers in
    drawing order). Run by the build on every layer template, so a parameter
    added to any layer is labelled without anyone listing it."""
    if not template.parameters:
        return
    own = template.metadata.get(FORM, {})
    groups: dict[str, list[str]] = {
        g["Label"]["default"]: list(g["Parameters"]) for g in own.get("ParameterGroups", [])
    }
    placed = {n for members in groups.values() for n in members}
    derived: dict[str, list[str]] = {}
    rank = {f"From the {p} layer": i for i, p in enumerate(order)}
    for name in template.parameters:
        if name in placed:
            continue
        if name in (TEMPLATE_BUCKET, TEMPLATE_PREFIX):
            group = "Template location"
        elif name in producers:
            group = f"From the {producers[name]} layer"
        else:
            group = "Settings"
        derived.setdefault(group, []).append(name)
    ordered = sorted(derived, key=lambda g: (g == "Template location", g == "Settings", rank.get(g, len(rank)), g))
    parameter_interface(template, {**groups, **{g: derived[g] for g in ordered}})
    written = template.metadata[FORM]["ParameterLabels"]
    written.update(own.get("ParameterLabels", {}))
