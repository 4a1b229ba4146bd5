"""E9011: the database secret is readable only by the roles wired to it.

RDS keeps the master credentials in a Secrets Manager secret
(`ManageMasterUserPassword`, `GetAtt <cluster>.MasterUserSecret.SecretArn`).
The app tier is handed that ARN by name through the root stack, and its
identities (the instance profile's role, the task's execution and task roles,
a function's role) get `secretsmanager:GetSecretValue` on exactly it. Any
other role that can read it, or any grant of GetSecretValue on "*" (which
includes it), is a finding. Read across layers: the consumers take the ARN as
a parameter, so on a layer alone the rule sees only grants on "*".
"""

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from generator.build.intrinsics import references

READ = {"secretsmanager:getsecretvalue", "secretsmanager:*", "secretsmanager:get*", "*"}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _reads(statement, clusters: set[str]) -> str | None:
    """'*' or the cluster whose secret an Allow statement lets someone read; None otherwise."""
    if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
        return None
    if not {str(a).lower() for a in _as_list(statement.get("Action"))} & READ:
        return None
    for resource in _as_list(statement.get("Resource")):
        if resource == "*":
            return "*"
        hit = references(resource) & clusters
        if hit and "MasterUserSecret" in str(resource):
            return sorted(hit)[0]
    return None


def _wired_roles(cfn) -> set[str]:
    """Roles of the app tier: instance profiles used by launch templates or
    instances, task definitions' execution and task roles, functions' roles."""
    resources = cfn.get_resources()
    profiles: set[str] = set()
    for launcher in cfn.get_resources(["AWS::EC2::LaunchTemplate", "AWS::EC2::Instance"]).values():
        props = launcher.get("Properties", {})
        profiles |= references(props.get("LaunchTemplateData", props).get("IamInstanceProfile"))
    wired = {role for p in profiles if p in resources for role in references(resources[p].get("Properties", {}).get("Roles"))}
    for r in cfn.get_resources(["AWS::ECS::TaskDefinition", "AWS::Lambda::Function"]).values():
        props = r.get("Properties", {})
        wired |= references([props.get("ExecutionRoleArn"), props.get("TaskRoleArn"), props.get("Role")])
    return wired


class DatabaseSecretReaders(CloudFormationLintRule):
    id = "E9011"
    shortdesc = "Database secret readable beyond its consumers"
    description = ("Only app-tier roles (instances, tasks, functions) may read an Aurora cluster's master secret, and "
                   "no role reads secrets on Resource \"*\"")
    source_url = "https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-secrets-manager.html"
    tags = ["strata", "iam", "database", "cross-layer"]

    def match(self, cfn):
        clusters = {n for n, c in cfn.get_resources(["AWS::RDS::DBCluster"]).items()
                    if c.get("Properties", {}).get("ManageMasterUserPassword") is True}
        roles = cfn.get_resources(["AWS::IAM::Role"])
        documents = {name: [p.get("PolicyDocument") for p in r.get("Properties", {}).get("Policies", []) or [] if isinstance(p, dict)]
                     for name, r in roles.items()}
        for policy in cfn.get_resources(["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"]).values():
            for role in references(policy.get("Properties", {}).get("Roles")) & set(roles):
                documents[role].append(policy.get("Properties", {}).get("PolicyDocument"))
        wired = _wired_roles(cfn)
        matches = []
        for name in sorted(roles):
            for statement in (s for d in documents[name] for s in _as_list((d or {}).get("Statement", []))):
                target = _reads(statement, clusters)
                if target == "*":
                    matches.append(RuleMatch(["Resources", name], f"{name} may read every secret (GetSecretValue on \"*\"), "
                                                                  "the database's included: grant the one secret ARN it needs"))
                elif target and name not in wired:
                    matches.append(RuleMatch(["Resources", name], f"{name} may read {target}'s master secret but is not the "
                                                                  "role of an instance, task or function wired to the database"))
        return matches
