"""E9007: every resource holding data keeps it: DeletionPolicy and UpdateReplacePolicy Retain or Snapshot.

CloudFormation deletes a resource when its stack is deleted or when an update
replaces it, unless both policies say otherwise (`generator.cfn.resources.
keep_data` sets them together). Aurora instances inside a cluster hold no
data of their own (the cluster's storage does) and are left out; queues hold
messages for days and are guarded by the plan's data-loss review instead.
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

KEEPS = {"Retain", "RetainExceptOnCreate", "Snapshot"}
STATEFUL = [
    "AWS::RDS::DBCluster", "AWS::RDS::DBInstance", "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable",
    "AWS::ElastiCache::ReplicationGroup", "AWS::ElastiCache::CacheCluster", "AWS::S3::Bucket",
    "AWS::EFS::FileSystem", "AWS::FSx::FileSystem", "AWS::EC2::Volume", "AWS::ECR::Repository", "AWS::KMS::Key",
    "AWS::Neptune::DBCluster", "AWS::DocDB::DBCluster", "AWS::OpenSearchService::Domain",
]


class KeepData(CloudFormationLintRule):
    id = "E9007"
    shortdesc = "Stateful resource without Retain/Snapshot"
    description = "Databases, tables, caches, buckets, file systems, volumes, repositories and keys set both DeletionPolicy and UpdateReplacePolicy to Retain or Snapshot"
    source_url = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-deletionpolicy.html"
    tags = ["strata", "data"]

    def match(self, cfn):
        matches = []
        for name, resource in cfn.get_resources(STATEFUL).items():
            if resource["Type"] == "AWS::RDS::DBInstance" and "DBClusterIdentifier" in resource.get("Properties", {}):
                continue
            missing = [k for k in ("DeletionPolicy", "UpdateReplacePolicy") if resource.get(k) not in KEEPS]
            if missing:
                matches.append(RuleMatch(["Resources", name], f"{name} ({resource['Type']}) loses its data on delete or "
                                                              f"replacement: set {' and '.join(missing)} to Retain or Snapshot"))
        return matches
