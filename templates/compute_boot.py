"""The compute layer's user data: what an instance does at first boot, before
the parameter file's own script (`compute.user_data`).

1. Write the data tier's connection settings to `/etc/strata/app.env`, one
   `NAME=value` line each, for `EnvironmentFile=` in a systemd unit or
   `docker run --env-file`. CloudFormation fills in the values (`Fn::Sub` of
   the Parameters compose feeds from the data layers' Outputs), so a changed
   endpoint changes the launch template and the rolling update replaces the
   instances. Secrets appear by ARN only (`DATABASE_SECRET_ARN`): no secret
   value is written to disk, and the application reads the current one.
2. Mount the storage layer's EFS file system with amazon-efs-utils, through
   its access point, over TLS, authorized as the instance role (the file
   system policy refuses anything else), and record it in /etc/fstab for
   reboots. The package comes from the Amazon Linux repositories, which are
   served from S3 (the S3 gateway endpoint is enough without a NAT).
3. Run `compute.user_data` as written (any interpreter its first line names).

`boot_script` renders the text; tests run it with fake `dnf` and `mount`.
The same settings are published in Parameter Store under
`/<project>/<environment>/app/<VARIABLE>` for whatever reads them at run time.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from troposphere import Base64, Join, Sub, Template

from generator.cfn.connections import ENV_FILE, SETTINGS_BRANCH
from generator.cfn.iam import Grant, grant
from generator.cfn.naming import logical_id, ssm_path
from generator.cfn.resources import ssm_parameter

if TYPE_CHECKING:
    from generator.build.config import EnvConfig
    from templates.app_tier import Setting

SETTINGS_END = "STRATA_SETTINGS"
USER_DATA_END = "STRATA_USER_DATA"
USER_SCRIPT = "/var/lib/strata/user-data"
FSTAB = "/etc/fstab"
MOUNT_ATTEMPTS = 6  # a new mount target's DNS name can take a minute to resolve


@dataclass(frozen=True)
class Mount:
    """The file system to mount at `path`: its id and the access point's id, as text for the script."""

    path: str
    file_system: str
    access_point: str

    def options(self) -> str:
        return f"tls,iam,accesspoint={self.access_point}"


def boot_script(settings: list[tuple[str, str]], mount: Mount | None, *,
                env_file: str = ENV_FILE, fstab: str = FSTAB) -> str:
    """The bash text of steps 1 and 2: `settings` are (variable, value) in
    order, `mount` the file system or None. Values are written as given
    (CloudFormation substitutes `${Name}` placeholders before the instance
    sees them); the script itself uses no `${` so `Fn::Sub` leaves it alone."""
    lines = [
        "#!/bin/bash",
        "# Strata (compute layer), first boot: the data tier's connection settings, the shared",
        "# file system, then compute.user_data from the parameter file.",
        "set -euo pipefail",
    ]
    if settings:
        lines += [
            "",
            "# Connection settings for EnvironmentFile= or docker run --env-file (see the README's table).",
            f"install -d -m 0755 {posixpath.dirname(env_file)}",
            f"cat > {env_file} <<'{SETTINGS_END}'",
            *(f"{name}={value}" for name, value in settings),
            SETTINGS_END,
            f"chmod 0644 {env_file}",
        ]
    if mount:
        entry = f"{mount.file_system}:/ {mount.path} efs _netdev,noresvport,{mount.options()} 0 0"
        lines += [
            "",
            "# The storage layer's EFS file system: through its access point, over TLS, as this",
            "# instance's role (the file system policy requires all three).",
            "dnf install -y amazon-efs-utils",
            f"install -d -m 0755 {mount.path}",
            f"grep -q ' {mount.path} efs ' {fstab} || echo '{entry}' >> {fstab}",
            "attempt=1",
            f"until mount -t efs -o {mount.options()} {mount.file_system}:/ {mount.path}; do",
            f'  if [ "$attempt" -ge {MOUNT_ATTEMPTS} ]; then exit 1; fi',
            "  attempt=$((attempt + 1))",
            "  sleep 10",
            "done",
        ]
    return "\n".join(lines) + "\n"


def user_script_part(script: str, path: str = USER_SCRIPT) -> tuple[str, str]:
    """The text around the parameter file's script (step 3): written to `path`
    as is and run. Returned as (before, after) so the script itself never
    goes through Fn::Sub (its `${...}` belong to the shell)."""
    before = "\n".join([
        "",
        "# compute.user_data from the parameter file, run as written.",
        f"install -d -m 0700 {posixpath.dirname(path)}",
        f"cat > {path} <<'{USER_DATA_END}'",
        "",
    ])
    after = ("" if script.endswith("\n") else "\n") + "\n".join([USER_DATA_END, f"chmod 0700 {path}", path]) + "\n"
    return before, after


def user_data(settings: list[tuple[str, str]], mount: Mount | None, script: str | None) -> Any:
    """The launch template's UserData: the parameter file's script alone when
    Strata has nothing to do first (no data layer, no file system), else the
    boot script with the values left to Fn::Sub, then that script."""
    if not settings and not mount:
        return Base64(script) if script else None
    strata = boot_script(settings, mount)
    if not script:
        return Base64(Sub(strata))
    before, after = user_script_part(script)
    return Base64(Join("", [Sub(strata + before), script, after]))


# -- the compute layer's side ---------------------------------------------------------------------


def published(wired: list[Setting]) -> list[Setting]:
    """The settings instances receive: every plain one and each secret's ARN, never a secret's value."""
    return sorted((s for s in wired if not s.secret_value), key=lambda s: s.variable)


def boot_user_data(env: EnvConfig, wired: list[Setting]) -> Any:
    """The launch template's UserData for this environment: every published
    setting as `${<Output>}` for Fn::Sub, the file system when storage is on."""
    settings = [(s.variable, f"${{{s.connection.output}}}") for s in published(wired)]
    mount = Mount(env.compute.file_system_path, "${FileSystemId}", "${AccessPointId}") if env.storage.enabled else None
    return user_data(settings, mount, env.compute.user_data)


def settings_path(env: EnvConfig, *variable: str) -> str:
    return ssm_path(env.project, env.environment, SETTINGS_BRANCH, *variable)


def settings_parameters(t: Template, env: EnvConfig, wired: list[Setting]) -> None:
    """The published settings in Parameter Store, `/<project>/<env>/app/<VARIABLE>`:
    the same names and values as the environment file."""
    for s in published(wired):
        what = f"ARN of the secret holding: {s.connection.description}" if s.connection.secret else s.connection.description
        ssm_parameter(
            t, logical_id("setting", s.variable), settings_path(env, s.variable), s.value,
            f"{what} (the {s.connection.layer} layer's {s.connection.output})",
        )


def _parameter_arn(name: str) -> Sub:
    return Sub(f"arn:${{AWS::Partition}}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter{name}")


def settings_read_grants(env: EnvConfig, wired: list[Setting]) -> list[Grant]:
    """Reading those parameters back: GetParametersByPath is authorized
    against the path asked for, GetParameter(s) against each name."""
    if not wired:
        return []
    return [
        grant(["ssm:GetParametersByPath"], [_parameter_arn(settings_path(env))], sid="ReadSettingsByPath"),
        grant(["ssm:GetParameter", "ssm:GetParameters"],
              [_parameter_arn(settings_path(env, s.variable)) for s in published(wired)], sid="ReadSettings"),
    ]
