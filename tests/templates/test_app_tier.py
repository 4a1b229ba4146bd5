"""The app tier reaches its data tier: connection settings by one convention
(generator/cfn/connections.py), rights that follow the wiring, the shared
file system mounted, for dev, prod and a held variant with every layer on;
the instances' boot script run with fake `dnf` and `mount`; and a deploy of
dev with the instances on against moto, reading the settings back from
Parameter Store."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import boto3
import pytest
import yaml

from generator.build import constraints
from generator.build.compose import build_layers, compose_root
from generator.build.config import EnvConfig, load_config
from generator.cfn.connections import CONNECTIONS, ENV_FILE, Connection, table_connection
from generator.cfn.naming import logical_id
from templates import compute_boot
from tests.helpers import REPO, merge, render, resources_of_type

DATA_LAYERS = ("database", "cache", "messaging", "static", "storage")


def _shipped(name: str) -> dict:
    return yaml.safe_load((REPO / "parameters" / f"{name}.yaml").read_text())


def _everything() -> dict:
    """prod with every optional part of the app tier on: two tables, both tiers
    writing the static bucket, the bastion, the Instance Connect Endpoint, a
    key pair and the user's own script."""
    return merge(_shipped("prod"), {
        "cache": {"tables": {"user-prefs": {"partition_key": {"name": "user_id"}}}},
        "compute": {"static_write": True, "key_name": "ops", "instance_connect_endpoint": True,
                    "bastion": {"enabled": True}, "user_data": "#!/bin/bash\nsystemctl enable --now app\n",
                    "instance_role_grants": [{"actions": ["cloudwatch:PutMetricData"], "resources": ["*"],
                                              "wildcard_reason": "PutMetricData has no resource type"}]},
        "containers": {"static_write": True, "file_system_path": "/srv/files"},
    })


def _dev_with_instances() -> dict:
    return merge(_shipped("dev"), {
        "compute": {"enabled": True, "min_size": 1, "desired_capacity": 1, "max_size": 2},
        "containers": {"path_patterns": ["/api/*"]},
    })


VARIANTS = {
    "dev": lambda: _shipped("dev"),
    "prod": lambda: _shipped("prod"),
    "everything": _everything,
    "dev-with-instances": _dev_with_instances,
}


def _env(name: str) -> EnvConfig:
    env = EnvConfig.model_validate(VARIANTS[name]())
    assert constraints.check(env) == [], constraints.check(env)
    return env


def _built(name: str):
    env = _env(name)
    layers = build_layers(env)
    return env, {k: render(t) for k, t in layers.nested.items()}, render(compose_root(env, layers))


def _expected(env: EnvConfig, nested: dict[str, dict]) -> dict[str, Connection]:
    """output -> Connection for every Output an enabled data layer produces
    that the convention names, found from the built templates themselves."""
    known = {c.output: c for c in CONNECTIONS}
    known.update({table_connection(name).output: table_connection(name) for name in env.cache.tables})
    produced = [o for layer in DATA_LAYERS for o in nested.get(layer, {}).get("Outputs", {})]
    assert all(o in known for o in produced if o.endswith("TableName")), "every table has its setting"
    return {o: known[o] for o in produced if o in known}


def _fed_from_producer(root: dict, consumer: str, output: str, producer: str) -> bool:
    """The root feeds the consumer's Parameter `output` from the producer's Output of that name."""
    fed = root["Resources"][logical_id(consumer)]["Properties"]["Parameters"][output]
    return fed == {"Fn::GetAtt": [logical_id(producer), f"Outputs.{output}"]}


def _container(nested: dict[str, dict]) -> dict:
    (definition,) = nested["containers"]["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    return definition


def _env_file_lines(compute_body: dict) -> dict[str, str]:
    """NAME -> value of the environment file the instances' user data writes."""
    user_data = compute_body["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    script = user_data["Fn::Sub"] if "Fn::Sub" in user_data else user_data["Fn::Join"][1][0]["Fn::Sub"]
    block = script.split(f"cat > {ENV_FILE} <<'{compute_boot.SETTINGS_END}'\n", 1)[1].split(f"\n{compute_boot.SETTINGS_END}\n")[0]
    return dict(line.split("=", 1) for line in block.splitlines())


# --- settings: every one of every enabled data layer, by name, from the producer --------------------

@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_tasks_get_every_setting_of_every_enabled_data_layer_from_the_producer(variant):
    env, nested, root = _built(variant)
    expected = _expected(env, nested)
    assert expected, "the variant has data layers"
    container = _container(nested)
    environment = {e["Name"]: e["Value"] for e in container["Environment"]}
    secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    for output, c in expected.items():
        if c.secret:
            assert secrets[c.variable] == {"Ref": output}, c
            assert environment[c.arn_variable] == {"Ref": output}, c
        else:
            assert environment[c.variable] == {"Ref": output}, c
        assert _fed_from_producer(root, "containers", output, c.layer), (output, c.layer)
    wired = {v for c in expected.values() for v in c.variables()}
    convention = {v for c in CONNECTIONS for v in c.variables()} | {n for n in environment if n.startswith("TABLE_")}
    assert (set(environment) | set(secrets)) & convention == wired


@pytest.mark.parametrize("variant", ["prod", "everything", "dev-with-instances"])
def test_instances_get_the_same_names_in_their_env_file_and_parameter_store(variant):
    env, nested, root = _built(variant)
    expected = _expected(env, nested)
    compute_body = nested["compute"]
    lines = _env_file_lines(compute_body)
    published = {c.arn_variable if c.secret else c.variable: output for output, c in expected.items()}
    assert lines == {variable: f"${{{output}}}" for variable, output in published.items()}
    assert not any(c.variable in lines for c in expected.values() if c.secret), "no secret value on disk"
    parameters = {p["Properties"]["Name"]: p["Properties"]["Value"]
                  for p in resources_of_type(compute_body, "AWS::SSM::Parameter").values()}
    assert parameters == {f"/{env.project}/{env.environment}/app/{variable}": {"Ref": output}
                          for variable, output in published.items()}
    for output, c in expected.items():
        assert _fed_from_producer(root, "compute", output, c.layer)


def test_a_disabled_data_layer_adds_no_name_and_no_input():
    data = merge(_everything(), {"messaging": {"enabled": False}, "storage": {"enabled": False}})
    data["cache"]["cluster"] = {"enabled": False}
    env = EnvConfig.model_validate(data)
    layers = build_layers(env)
    for tier in ("compute", "containers"):
        body = render(layers.nested[tier])
        text = json.dumps(body)
        for absent in ("QUEUE_URL", "TOPIC_ARN", "FILE_SYSTEM_ID", "CACHE_HOST", "CACHE_AUTH_TOKEN", "QueueArn", "FileSystemId",
                       "CachePrimaryEndpoint", "MessagingKeyArn", "amazon-efs-utils"):
            assert absent not in text, (tier, absent)
        assert {"DATABASE_HOST", "TABLE_SESSIONS", "TABLE_USER_PREFS"} <= set(re.findall(r"[A-Z_]{6,}", text))


def test_the_variables_a_user_may_not_redefine(tmp_path):
    data = merge(_shipped("dev"), {"containers": {"environment": {"QUEUE_URL": "mine"}, "database_secret_variable": "DATABASE_HOST"}})
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(data))
    from generator.build.config import ConfigError
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    message = str(raised.value)
    assert "containers.environment: QUEUE_URL filled by the wiring from the data layers" in message
    assert "containers.database_secret_variable: DATABASE_HOST is filled by the wiring already" in message


# --- rights follow the wiring -----------------------------------------------------------------------

def _statements(body: dict) -> list[tuple[str, dict]]:
    return [(name, s) for name, r in resources_of_type(body, "AWS::IAM::Role").items()
            for p in r["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_wired_statement_names_exact_resources_fed_by_their_layer(variant):
    env, nested, root = _built(variant)
    for tier in ("compute", "containers"):
        if tier not in nested:
            continue
        body = nested[tier]
        for role, statement in _statements(body):
            if statement["Resource"] == ["*"]:
                reasons = body["Resources"][role]["Metadata"]["WildcardResources"]
                assert any(r["Actions"] == statement["Action"] and r["Reason"] for r in reasons), (role, statement)
                continue
            assert "*" not in statement["Resource"]
            if "Sid" not in statement:
                continue  # not the wiring's (the parameter file's grants, ECR, logs)
            for resource in statement["Resource"]:
                name = _input_named(resource)
                if name is None:
                    assert ":parameter/" in resource["Fn::Sub"], resource  # the instances' own settings
                    continue
                # the wiring's producers are data layers; other statements with a Sid (the
                # blue/green infrastructure role's target groups) are fed by name the same way
                producer = next(layer for layer in (*DATA_LAYERS, *nested) if name in nested.get(layer, {}).get("Outputs", {}))
                assert _fed_from_producer(root, tier, name, producer), (tier, name)


def _input_named(resource) -> str | None:
    """The Parameter a statement's resource is built from: Ref X, or Sub "${X}/..."."""
    if isinstance(resource, dict) and "Ref" in resource:
        return resource["Ref"]
    match = re.match(r"^\$\{(\w+)\}", resource.get("Fn::Sub", "")) if isinstance(resource, dict) else None
    return match.group(1) if match else None


def test_the_grants_of_every_layer_on_in_full():
    env, nested, _ = _built("everything")
    task = {s.get("Sid"): s for role, s in _statements(nested["containers"]) if role == "TaskRole"}
    assert task["ReadSecrets"]["Resource"] == [{"Ref": "DatabaseSecretArn"}, {"Ref": "CacheAuthTokenSecretArn"}]
    assert task["UseCacheKey"] == {
        "Sid": "UseCacheKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [{"Ref": "CacheKeyArn"}],
        "Condition": {"StringEquals": {"kms:ViaService": [{"Fn::Sub": "dynamodb.${AWS::Region}.amazonaws.com"},
                                                          {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}]}},
    }
    assert task["ReadWriteTables"]["Resource"] == [{"Ref": "SessionsTableArn"}, {"Ref": "UserPrefsTableArn"}]
    assert "dynamodb:PutItem" in task["ReadWriteTables"]["Action"] and "dynamodb:DeleteTable" not in task["ReadWriteTables"]["Action"]
    assert task["UseQueue"]["Action"] == ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                                          "sqs:ReceiveMessage", "sqs:SendMessage"]
    assert task["UseQueue"]["Resource"] == [{"Ref": "QueueArn"}]
    assert task["PublishToTopic"] == {"Sid": "PublishToTopic", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": [{"Ref": "TopicArn"}]}
    assert task["UseMessagingKey"]["Resource"] == [{"Ref": "MessagingKeyArn"}]
    assert task["UseMessagingKey"]["Condition"] == {"StringEquals": {"kms:ViaService": [
        {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}, {"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}]}}
    assert task["ListStaticBucket"]["Resource"] == [{"Ref": "StaticBucketArn"}]
    assert task["WriteStaticBucket"]["Resource"] == [{"Fn::Sub": "${StaticBucketArn}/*"}]
    assert task["MountFileSystem"] == {
        "Sid": "MountFileSystem", "Effect": "Allow", "Action": ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite"],
        "Resource": [{"Ref": "FileSystemArn"}],
        "Condition": {"StringEquals": {"elasticfilesystem:AccessPointArn": {"Ref": "AccessPointArn"}}},
    }
    execution = {s.get("Sid"): s for role, s in _statements(nested["containers"]) if role == "TaskExecutionRole"}
    assert execution["ReadWiredSecrets"]["Resource"] == [{"Ref": "DatabaseSecretArn"}, {"Ref": "CacheAuthTokenSecretArn"}]
    assert execution["DecryptCacheToken"]["Resource"] == [{"Ref": "CacheKeyArn"}]
    assert execution["DecryptCacheToken"]["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}}}
    instance = {s.get("Sid"): s for role, s in _statements(nested["compute"]) if role == "InstanceRole"}
    assert {k: v for k, v in instance.items() if k in task} == task  # the same wiring for both tiers
    assert instance["ReadSettingsByPath"]["Resource"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/strata/prod/app"}]
    assert {"Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/strata/prod/app/QUEUE_URL"} \
        in instance["ReadSettings"]["Resource"]


def test_without_static_write_the_bucket_is_named_but_not_granted():
    env, nested, _ = _built("prod")
    assert "STATIC_BUCKET" in json.dumps(nested["containers"])
    assert "StaticBucketArn" not in nested["containers"]["Parameters"]


# --- the shared file system ---------------------------------------------------------------------------

def test_tasks_mount_the_file_system_through_the_access_point_with_tls_and_iam():
    _, nested, root = _built("everything")
    task = nested["containers"]["Resources"]["TaskDefinition"]["Properties"]
    volume = next(v for v in task["Volumes"] if v["Name"] == "files")
    assert volume["EFSVolumeConfiguration"] == {
        "FilesystemId": {"Ref": "FileSystemId"}, "TransitEncryption": "ENABLED",
        "AuthorizationConfig": {"AccessPointId": {"Ref": "AccessPointId"}, "IAM": "ENABLED"},
    }
    assert {"SourceVolume": "files", "ContainerPath": "/srv/files", "ReadOnly": False} in _container(nested)["MountPoints"]
    assert _fed_from_producer(root, "containers", "AccessPointId", "storage")
    policy = nested["storage"]["Resources"]["FileSystem"]["Properties"]["FileSystemPolicy"]["Statement"]
    assert {"Null": {"elasticfilesystem:AccessPointArn": True}} in [s["Condition"] for s in policy if s["Effect"] == "Deny"]
    assert not [s for s in policy if s["Effect"] == "Allow"], "no anonymous client gets in"


def test_instances_mount_it_at_boot_with_efs_utils_tls_and_the_access_point():
    _, nested, _ = _built("everything")
    user_data = nested["compute"]["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    strata, user_script, after = user_data["Fn::Join"][1]
    script = strata["Fn::Sub"]
    assert "dnf install -y amazon-efs-utils" in script
    assert "mount -t efs -o tls,iam,accesspoint=${AccessPointId} ${FileSystemId}:/ /mnt/shared" in script
    assert "${FileSystemId}:/ /mnt/shared efs _netdev,noresvport,tls,iam,accesspoint=${AccessPointId} 0 0" in script
    # the settings first, the mount next, the parameter file's script last and untouched by Fn::Sub
    assert script.index(ENV_FILE) < script.index("amazon-efs-utils") < script.index(compute_boot.USER_SCRIPT)
    assert user_script == "#!/bin/bash\nsystemctl enable --now app\n"
    assert after.endswith(f"{compute_boot.USER_SCRIPT}\n")


# --- the boot script, run ------------------------------------------------------------------------------

def _fake(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def _run_boot(tmp_path: Path, mount_failures: int = 0, user_script: str = "") -> subprocess.CompletedProcess:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    _fake(bin_dir, "dnf", f'echo "dnf $*" >> {log}\n')
    _fake(bin_dir, "sleep", f'echo "sleep $*" >> {log}\n')
    _fake(bin_dir, "mount", f'echo "mount $*" >> {log}\n'
                            f'n=$(grep -c "^mount" {log})\n[ "$n" -gt {mount_failures} ]\n')
    mount = compute_boot.Mount(str(tmp_path / "mnt" / "shared"), "fs-0123456789abcdef0", "fsap-0123456789abcdef0")
    settings = [("DATABASE_HOST", "db.cluster-abc.eu-west-1.rds.amazonaws.com"), ("DATABASE_PORT", "5432"),
                ("QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/111122223333/strata-dev-Queue")]
    script = compute_boot.boot_script(settings, mount, env_file=str(tmp_path / "etc" / "strata" / "app.env"),
                                      fstab=str(tmp_path / "fstab"))
    (tmp_path / "fstab").write_text("UUID=abc / xfs defaults 0 0\n")
    if user_script:
        before, after = compute_boot.user_script_part(user_script, str(tmp_path / "lib" / "user-data"))
        script += before + user_script + after
    (tmp_path / "boot.sh").write_text(script)
    return subprocess.run(["bash", str(tmp_path / "boot.sh")], capture_output=True, text=True, timeout=30,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)})


def test_the_boot_script_writes_the_settings_mounts_then_runs_the_users_script(tmp_path):
    user_script = f"#!/bin/bash\nset -a; . {tmp_path}/etc/strata/app.env\necho \"$QUEUE_URL ${{DATABASE_PORT}}\" > {tmp_path}/ran\n"
    run = _run_boot(tmp_path, user_script=user_script)
    assert run.returncode == 0, run.stderr
    env_file = tmp_path / "etc" / "strata" / "app.env"
    assert env_file.read_text() == ("DATABASE_HOST=db.cluster-abc.eu-west-1.rds.amazonaws.com\nDATABASE_PORT=5432\n"
                                    "QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/111122223333/strata-dev-Queue\n")
    assert oct(env_file.stat().st_mode & 0o777) == "0o644"
    mount_path = tmp_path / "mnt" / "shared"
    assert (tmp_path / "calls.log").read_text().splitlines() == [
        "dnf install -y amazon-efs-utils",
        f"mount -t efs -o tls,iam,accesspoint=fsap-0123456789abcdef0 fs-0123456789abcdef0:/ {mount_path}",
    ]
    assert (tmp_path / "fstab").read_text().splitlines()[1] == (
        f"fs-0123456789abcdef0:/ {mount_path} efs _netdev,noresvport,tls,iam,accesspoint=fsap-0123456789abcdef0 0 0")
    assert mount_path.is_dir()
    # the user's script ran last, as written (its ${...} left to the shell), and saw the settings
    assert (tmp_path / "ran").read_text() == "https://sqs.eu-west-1.amazonaws.com/111122223333/strata-dev-Queue 5432\n"


def test_the_boot_script_retries_a_mount_target_that_does_not_resolve_yet_then_gives_up(tmp_path):
    retried = tmp_path / "retried"
    retried.mkdir()
    assert _run_boot(retried, mount_failures=2).returncode == 0
    calls = (retried / "calls.log").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["dnf", "mount", "sleep", "mount", "sleep", "mount"]
    failed = tmp_path / "failed"
    failed.mkdir()
    run = _run_boot(failed, mount_failures=99)
    assert run.returncode == 1
    assert sum(c.startswith("mount") for c in (failed / "calls.log").read_text().splitlines()) == compute_boot.MOUNT_ATTEMPTS


def test_the_rendered_script_leaves_nothing_to_fn_sub_but_the_settings():
    _, nested, _ = _built("everything")
    user_data = nested["compute"]["Resources"]["LaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    script = user_data["Fn::Join"][1][0]["Fn::Sub"]
    placeholders = set(re.findall(r"\$\{([^}]+)\}", script))
    assert placeholders == set(nested["compute"]["Parameters"]) & placeholders
    assert placeholders <= {c.output for c in CONNECTIONS} | {"SessionsTableName", "UserPrefsTableName"}


def test_a_user_data_line_that_would_end_the_heredoc_is_refused():
    with pytest.raises(ValueError, match="would end the script early"):
        EnvConfig.model_validate(merge(_shipped("dev"), {"compute": {"user_data": f"echo\n{compute_boot.USER_DATA_END}\nrm -rf /\n"}}))


# --- deployed on moto --------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning")
def test_dev_with_instances_deployed_publishes_the_settings_with_the_deployed_values(aws, tmp_path):
    """dev as shipped plus the compute layer, built, packaged and deployed as
    one root stack through change sets (Strata's moto compatibility layer, as
    `strata deploy --local` runs it). Parameter Store then holds every
    published setting under /strata/dev/app with the value the producing
    layer's stack output; where moto creates the resource (queue, topic,
    table, bucket, file system) the value is the real one. Values moto
    cannot compute (Aurora and ElastiCache endpoints, CloudFront's name, the
    EFS access point) are the compatibility layer's `not-emulated`
    placeholder, which is still exactly what the producing stack output."""
    from generator.build.pipeline import build_envs
    from generator.deploy import local
    from generator.deploy.package import ensure_bucket, package
    from generator.deploy.rollout import Environment
    from generator.deploy.session import Aws

    params = tmp_path / "params"
    params.mkdir()
    (params / "dev.yaml").write_text(yaml.safe_dump(_dev_with_instances(), sort_keys=False))
    [build] = build_envs([params / "dev.yaml"], tmp_path / "out")
    out_dir = tmp_path / "out" / "dev"
    with local.compat():
        environment = Environment(build.env, Aws("eu-west-1", endpoint_url=aws, poll=0), lambda line: None)
        s3 = environment.aws.client("s3")
        ensure_bucket(s3, "app-tier-templates", "eu-west-1", tls_only=False)
        packaged = package(s3, out_dir, "app-tier-templates", "dev/", "eu-west-1")
        environment.deploy(packaged, out_dir, approve=lambda plan: True, show=lambda plan: None)
        # the root; beside it dev has CloudFront's us-east-1 companion (its 5xx alarm)
        [report] = [r for r in environment.status(out_dir) if r.label == "root"]
    assert report.status == "CREATE_COMPLETE"
    outputs = {k: v for k, v, _ in report.outputs}

    ssm = boto3.client("ssm", endpoint_url=aws, region_name="eu-west-1")
    stored = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path="/strata/dev/app"):
        stored.update({p["Name"].rsplit("/", 1)[1]: p["Value"] for p in page["Parameters"]})
    _, nested, _ = _built("dev-with-instances")
    expected = _expected(build.env, nested)
    published = {c.arn_variable if c.secret else c.variable: output for output, c in expected.items()}
    assert set(stored) == set(published)
    for variable, output in published.items():
        assert stored[variable] == outputs[output], variable

    queues = boto3.client("sqs", endpoint_url=aws, region_name="eu-west-1").list_queues()["QueueUrls"]
    assert stored["QUEUE_URL"].rsplit("/", 1)[1] in [q.rsplit("/", 1)[1] for q in queues]  # moto's host differs
    assert stored["TABLE_SESSIONS"] in boto3.client("dynamodb", endpoint_url=aws, region_name="eu-west-1").list_tables()["TableNames"]
    assert stored["FILE_SYSTEM_ID"].startswith("fs-")
    assert stored["FILE_SYSTEM_ACCESS_POINT_ID"] == local.NOT_EMULATED  # moto's CloudFormation skips EFS access points
    buckets = [b["Name"] for b in boto3.client("s3", endpoint_url=aws, region_name="eu-west-1").list_buckets()["Buckets"]]
    assert stored["STATIC_BUCKET"] in buckets
    assert stored["TOPIC_ARN"].startswith("arn:aws:sns:eu-west-1:")
