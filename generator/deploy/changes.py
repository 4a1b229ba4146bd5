"""What a plan is: the resource changes of a change set, classified for review.

Each change is classified once, here: replacing or removing a stateful
resource (STATEFUL_TYPES) loses data, and replacing a resource a data store
depends on (its VPC, subnets, security groups, subnet group, key...: see
`generator.deploy.dependencies`) puts it at risk; both are refused unless
the caller allows it. Security-sensitive changes (IAM, security group rules,
resource policies) are listed apart. From the change set only the names of
changed properties are kept, never values (they may be secrets); the
property-level lines come from Strata's own diff of the templates
(`generator.deploy.diff`), with secret values masked.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

# Resources whose replacement or removal loses data (or, for keys, secrets
# and zones, breaks what depends on them): the plan refuses them without
# --allow-replacement and the stack policy denies them.
STATEFUL_TYPES = frozenset({
    "AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::DocDB::DBCluster", "AWS::Neptune::DBCluster",
    "AWS::Redshift::Cluster", "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable",
    "AWS::ElastiCache::ReplicationGroup", "AWS::ElastiCache::CacheCluster", "AWS::ElastiCache::ServerlessCache",
    "AWS::MemoryDB::Cluster", "AWS::S3::Bucket", "AWS::EFS::FileSystem", "AWS::FSx::FileSystem",
    "AWS::EC2::Volume", "AWS::SQS::Queue", "AWS::Kinesis::Stream", "AWS::OpenSearchService::Domain",
    "AWS::ECR::Repository", "AWS::Logs::LogGroup", "AWS::SecretsManager::Secret", "AWS::KMS::Key",
    "AWS::Backup::BackupVault", "AWS::Cognito::UserPool", "AWS::Route53::HostedZone",
})

# Security-sensitive by type (label shown in the plan)...
SECURITY_TYPES = {
    "AWS::EC2::SecurityGroup": "security group", "AWS::EC2::SecurityGroupIngress": "security group rule",
    "AWS::EC2::SecurityGroupEgress": "security group rule", "AWS::EC2::NetworkAclEntry": "network ACL rule",
    "AWS::S3::BucketPolicy": "resource policy", "AWS::SQS::QueuePolicy": "resource policy",
    "AWS::SNS::TopicPolicy": "resource policy", "AWS::Lambda::Permission": "resource policy",
    "AWS::SecretsManager::ResourcePolicy": "resource policy", "AWS::KMS::Key": "key policy",
}
# ...and by the property that changes, on any type.
SECURITY_PROPERTIES = frozenset({
    "AssumeRolePolicyDocument", "PolicyDocument", "Policies", "ManagedPolicyArns", "PermissionsBoundary",
    "KeyPolicy", "SecurityGroupIngress", "SecurityGroupEgress", "SecurityGroupIds", "SecurityGroups",
    "GroupSet", "PublicAccessBlockConfiguration", "Role", "RoleArn", "ExecutionRoleArn", "TaskRoleArn",
    "IamInstanceProfile", "ServiceRole", "CidrIp", "CidrIpv6", "SourceSecurityGroupId",
})


_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|private_?key)(?!.*(arn|name|id)$)")




@dataclass(frozen=True)
class PropertyChange:
    """One changed property of a resource (or a resource attribute, or a root parameter)."""

    path: str                   # "CidrBlock", "Parameters.VpcId", "DeletionPolicy"
    before: str                 # shown values, masked where secret; "(none)" when absent
    after: str
    recreation: str = "Never"   # Always, Conditionally, Never (CloudFormation's RequiresRecreation)
    causes: tuple[str, ...] = ()  # for a change of what it reads: ("Network/Vpc is replaced",)
    certain: bool = True        # False when it changes only if what it reads is really replaced

    def describe(self) -> str:
        """`CidrBlock: "10.0.0.0/16" -> "10.1.0.0/16" (replaces)`, or for a change
        of what it reads `VpcId: !Ref Vpc, changes as Network/Vpc is replaced (replaces)`."""
        if self.causes:
            text = f"{self.path}: {self.after}, {'changes' if self.certain else 'may change'} as {', '.join(self.causes)}"
        else:
            text = f"{self.path}: {self.before} -> {self.after}"
        verdict = {"Always": "replaces", "Conditionally": "may replace"}.get(self.recreation)
        return f"{text} ({verdict})" if verdict else text

    def to_dict(self) -> dict:
        return {**asdict(self), "causes": list(self.causes), "line": self.describe()}


@dataclass(frozen=True)
class ResourceChange:
    """One row of the plan."""

    stack: str                 # "root", a nested path like "Database", or a companion label
    action: str                # Add, Modify, Remove, Import, Dynamic
    logical_id: str
    resource_type: str
    replacement: str = ""      # True, False, Conditional; "" when not reported
    triggers: tuple[str, ...] = ()
    stack_id: str = ""
    physical_id: str = ""
    properties: tuple[PropertyChange, ...] = ()  # from Strata's diff of the templates
    predicted: bool = False    # `replacement` predicted by Strata: the endpoint did not say
    depended_on: str = ""      # why data stores depend on it: "Database/AuroraCluster depends on it"

    @property
    def stateful(self) -> bool:
        return self.resource_type in STATEFUL_TYPES

    @property
    def may_replace(self) -> bool:
        """A Modify whose replacement is certain, conditional, or not reported (so not ruled out)."""
        return self.action == "Modify" and self.replacement not in ("False", "Never")

    @property
    def affects_data(self) -> bool:
        """A resource data stores depend on (not itself stateful), replaced or maybe replaced."""
        return bool(self.depended_on) and not self.stateful and self.may_replace

    @property
    def loses_data(self) -> bool:
        """A stateful resource removed, or modified with a replacement that is
        certain, conditional, or not reported (so not ruled out)."""
        if not self.stateful:
            return False
        return self.action == "Remove" or self.may_replace

    @property
    def security(self) -> str:
        """Why the change is security-sensitive, or ''."""
        if self.resource_type.startswith("AWS::IAM::"):
            return "IAM " + re.sub(r"(?<=[a-z])(?=[A-Z])", " ", self.resource_type.rsplit("::", 1)[1]).lower()
        if self.resource_type in SECURITY_TYPES:
            return SECURITY_TYPES[self.resource_type]
        touched = sorted({t.split(" ")[0].split(".")[-1] for t in self.triggers} & SECURITY_PROPERTIES)
        return f"changes {', '.join(touched)}" if touched else ""

    def to_dict(self) -> dict:
        data = asdict(self)
        data["triggers"] = list(self.triggers)
        data["properties"] = [p.to_dict() for p in self.properties]
        data.update(stateful=self.stateful, loses_data=self.loses_data, affects_data=self.affects_data,
                    security=self.security)
        return data


@dataclass
class Plan:
    """The reviewed change set of one stack."""

    label: str
    stack_name: str
    region: str
    change_set_id: str = ""
    change_set_type: str = ""
    stack_id: str = ""
    changes: list[ResourceChange] = field(default_factory=list)
    no_changes: bool = False
    deferred: str = ""         # why this stack cannot be planned yet
    parameters: dict[str, str] = field(default_factory=dict)

    @property
    def loses_data(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.loses_data]

    @property
    def affects_data(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.affects_data]

    @property
    def security(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.security]

    @property
    def executable(self) -> bool:
        return bool(self.change_set_id) and not self.no_changes

    def to_dict(self) -> dict:
        return {
            "stack": self.stack_name, "label": self.label, "region": self.region,
            "change_set": self.change_set_id or None, "type": self.change_set_type or None,
            "status": "deferred" if self.deferred else "no changes" if self.no_changes else "changes",
            "deferred": self.deferred or None, "parameters": self.parameters,
            "changes": [c.to_dict() for c in self.changes],
            "stateful_replacements": [f"{c.stack}/{c.logical_id}" for c in self.loses_data],
            "data_store_dependencies_replaced": [f"{c.stack}/{c.logical_id}" for c in self.affects_data],
            "security_sensitive": [f"{c.stack}/{c.logical_id}" for c in self.security],
        }


def masked(name: str, value: str) -> str:
    """Outputs and parameters whose name says secret are never printed."""
    return "****" if _SECRET_NAME.search(name) else value


def triggers(details: list[dict]) -> tuple[str, ...]:
    """What caused a Modify, as `Properties.Engine (replaces; DirectModification)`.
    Names only: BeforeValue/AfterValue are never read, they may be secrets."""
    found: list[str] = []
    for detail in details:
        target = detail.get("Target", {})
        name = ".".join(p for p in (target.get("Attribute"), target.get("Name")) if p) or "?"
        notes = []
        recreation = target.get("RequiresRecreation")
        if recreation == "Always":
            notes.append("replaces")
        elif recreation == "Conditionally":
            notes.append("may replace")
        source = detail.get("ChangeSource")
        if source:
            entity = detail.get("CausingEntity")
            notes.append(f"{source}: {entity}" if entity else source)
        text = f"{name} ({'; '.join(notes)})" if notes else name
        if text not in found:
            found.append(text)
    return tuple(found)


def automatic_only(raw: dict) -> bool:
    details = raw.get("Details", [])
    return raw.get("Action") == "Modify" and all(d.get("ChangeSource") == "Automatic" for d in details)


