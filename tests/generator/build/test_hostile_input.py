"""Nothing a user writes crashes Strata: every class of bad parameter file
(and bad `--out` / `--params-dir`) gets one clear `file:line field: message`
per problem, exit 1 and an out/ that is byte-identical afterwards.

Each test is a small reproducer of one class, run through the real command
line against a copy of an out/ that a good build wrote (lint cache included).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from generator.build import source
from generator.cli import main
from templates import LAYER_NAMES
from tests.helpers import MINIMAL_PARAMS, REPO

GOOD = MINIMAL_PARAMS
FILE = "parameters/dev.yaml"


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """out/ after one good build of the minimal file."""
    root = tmp_path_factory.mktemp("seeded")
    (root / "parameters").mkdir()
    (root / FILE).write_text(GOOD)
    out = root / "out"
    assert main(["build", "--env", "dev", "--params-dir", str(root / "parameters"), "--out", str(out)]) == 0
    return out


@pytest.fixture
def project(tmp_path, seeded, monkeypatch) -> Path:
    shutil.copytree(seeded, tmp_path / "out")
    (tmp_path / "parameters").mkdir()
    (tmp_path / FILE).write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def build(*args: str) -> int:
    return main(["build", "--params-dir", "parameters", "--out", "out", *args])


def refused(capsys, content: str | bytes | None = None, *args: str) -> list[str]:
    """Write `content` as parameters/dev.yaml (unless None), build, and return
    the message lines, after checking exit 1, the one header line and an
    untouched out/."""
    if content is not None:
        Path(FILE).write_bytes(content.encode() if isinstance(content, str) else content)
    before = snapshot(Path("out"))
    capsys.readouterr()
    code = build(*(args or ("--env", "dev")))
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("strata build: failed\n") and "Traceback" not in err
    assert snapshot(Path("out")) == before
    return err.splitlines()[1:]


def one(capsys, content, *args) -> str:
    (message,) = refused(capsys, content, *args)
    return message


# --- paths ------------------------------------------------------------------

def test_a_parameter_path_that_is_a_folder(project, capsys):
    os.remove(FILE)
    os.mkdir(FILE)
    assert one(capsys, None) == f"{FILE}: is a folder, not a parameter file"


def test_a_dangling_link(project, capsys):
    os.remove(FILE)
    os.symlink("gone.yaml", FILE)
    assert one(capsys, None) == f"{FILE}: is a link to gone.yaml, which does not exist"


def test_a_parameters_folder_that_is_a_file(project, capsys):
    shutil.rmtree("parameters")
    Path("parameters").write_text("not a folder")
    assert one(capsys, None) == "--params-dir parameters: is a file, not a folder of parameter files"
    assert one(capsys, None, "--all") == "--params-dir parameters: is a file, not a folder of parameter files"


def test_out_that_is_a_file_is_refused_before_anything_is_built(project, capsys, monkeypatch):
    shutil.rmtree("out")
    Path("out").write_text("a file")
    monkeypatch.setattr("generator.build.lint.LintService.__init__", lambda *_: pytest.fail("lint started"))
    assert one(capsys, None) == "--out out: is a file, not a folder"
    assert Path("out").read_text() == "a file"


def test_a_yml_file_beside_the_missing_yaml_gets_the_hint(project, capsys):
    Path("parameters/qa.yml").write_text(GOOD.replace("environment: dev", "environment: qa"))
    assert one(capsys, None, "--env", "qa") == (
        "parameters/qa.yaml: no such parameter file, but qa.yml is there: Strata reads <env>.yaml files; "
        "rename it to qa.yaml")


def test_an_env_that_is_a_path(project, capsys):
    assert one(capsys, None, "--env", "../etc/passwd").startswith("--env ../etc/passwd: must be an environment name")


@functools.lru_cache(maxsize=None)
def _runs_strata(prefix: tuple[str, ...]) -> bool:
    """Whether `prefix` (another user) can import Strata from this checkout at all."""
    return subprocess.run([*prefix, sys.executable, "-c", "import generator"], cwd="/", capture_output=True,
                          timeout=60).returncode == 0


def as_nobody(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run strata without root's right to read and write anything: as nobody
    (through util-linux's setpriv) when the tests run as root, as containers often do."""
    prefix = []
    if os.getuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: permissions cannot be taken away")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        if not _runs_strata(tuple(prefix)):
            pytest.skip("nobody cannot read this checkout or its venv (a private folder such as mktemp -d's): "
                        "permissions cannot be tested from here")
    return subprocess.run([*prefix, sys.executable, "-m", "generator", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=120)


@pytest.fixture
def shared_folder():
    """A folder nobody can traverse (pytest's tmp_path is private to its user)."""
    with tempfile.TemporaryDirectory() as name:
        os.chmod(name, 0o755)
        folder = Path(name)
        (folder / "parameters").mkdir(mode=0o755)
        (folder / FILE).write_text(GOOD)
        (folder / "out").mkdir(mode=0o755)
        if os.getuid() == 0:
            os.chown(folder / "out", 65534, 65534)  # as_nobody's: only the permission under test is missing
        yield folder


@pytest.mark.parametrize("locked, reason", [(FILE, "permission denied"), ("parameters", "Permission denied")])
def test_an_unreadable_parameter_file_or_folder(shared_folder, locked, reason):
    (shared_folder / locked).chmod(0)
    result = as_nobody(["build", "--env", "dev"], shared_folder)
    (shared_folder / locked).chmod(0o755)
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"strata build: failed\n{FILE}: cannot be read: {reason}\n"


def test_an_out_folder_that_cannot_be_written_is_refused_before_linting(shared_folder):
    (shared_folder / "out").chmod(0o555)
    started = time.perf_counter()
    result = as_nobody(["build", "--env", "dev"], shared_folder)
    assert result.returncode == 1, result.stderr
    assert result.stderr == "strata build: failed\n--out out: is not writable\n"
    assert time.perf_counter() - started < 20  # refused up front, not after a lint
    assert list((shared_folder / "out").iterdir()) == []


# --- encodings and shapes -------------------------------------------------------

@pytest.mark.parametrize("content, expected", [
    (GOOD.encode("utf-16"), f"{FILE}: is UTF-16 encoded; save it as UTF-8"),
    (GOOD.encode("utf-16-le"), f"{FILE}:1: contains a NUL byte: a parameter file is UTF-8 text (is this UTF-16 or a binary file?)"),
    (GOOD.replace("demo", "démo").encode("latin-1"), f"{FILE}:1: is not UTF-8 (byte 0xE9 cannot start a character); save it as UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", f"{FILE}:3: contains a NUL byte: a parameter file is UTF-8 text (is this UTF-16 or a binary file?)"),
    (GOOD + "tags:\n  Owner: a\x00b\n", f"{FILE}:12: contains a NUL byte: a parameter file is UTF-8 text (is this UTF-16 or a binary file?)"),
    (GOOD + "tags:\n  Owner: a\x07b\n", f"{FILE}:12: character U+0007 is not allowed in YAML (write it as an escape in a double-quoted string if a value needs it)"),
    (GOOD + "---\nproject: other\n", f"{FILE}:11: holds more than one YAML document (another starts on line 11); a parameter file is one mapping"),
    ("- project: demo\n- environment: dev\n", f"{FILE}:1: must be a mapping of keys (project, environment, region, ...), not a list"),
    ("just a sentence\n", f"{FILE}:1: must be a mapping of keys (project, environment, region, ...), not the single value 'just a sentence'"),
    ("# only a comment\n", f"{FILE}: is empty; a parameter file is a mapping of project, environment, region and layers"),
    ("a: " + "x" * 200_000 + "\n", f"{FILE}: is larger than 128 KiB; a parameter file is a few kilobytes of settings"),
])
def test_files_that_are_not_one_utf8_yaml_mapping(project, capsys, content, expected):
    assert one(capsys, content) == expected


def test_a_utf8_byte_order_mark_is_accepted(project, capsys):
    Path(FILE).write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert build("--env", "dev") == 0


# --- hostile YAML ---------------------------------------------------------------

BOMB = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n" for i in range(9))


@pytest.mark.parametrize("content, expected", [
    (GOOD + "tags: &t {Owner: *t}\n", f"{FILE}:11: an alias refers to a value that contains it (a recursive structure); a parameter file is a tree"),
    (GOOD + "tags: " + "[" * 5000 + "]" * 5000 + "\n", f"{FILE}:11: nested more than 32 levels deep"),
    (GOOD + "tags:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 60)), f"{FILE}:42: nested more than 32 levels deep"),
    (GOOD + BOMB, f"{FILE}:15: holds more than 20000 values (aliases expanded); a parameter file has a few hundred"),
    (GOOD + "x: &x 1\ny: [" + ", ".join(["*x"] * 101) + "]\n", f"{FILE}:12: more than 100 aliases (*name); a parameter file has no need for that many"),
    (GOOD.replace("az_count: 2", "az_count: " + "9" * 5000), f"{FILE}:7: a number with 5000 digits is not a setting any field takes"),
    (GOOD.replace("nat: single", "nat: single\n  nat: none"), f"{FILE}:9: key 'nat' is given twice (first on line 8); keep one"),
    (GOOD + "project: again\n", f"{FILE}:11: key 'project' is given twice (first on line 1); keep one"),
    (GOOD + "tags: {a: x, a: y}\n", f"{FILE}:11: key 'a' is given twice (first on line 11); keep one"),
    (GOOD + "tags: !!python/object/apply:os.system [echo owned]\n", f"{FILE}:11: tag !!python/object/apply:os.system is refused: a parameter file holds plain values, never Python objects"),
    (GOOD + "tags: !!binary aGVsbG8=\n", f"{FILE}:11: tag !!binary is refused: use plain strings, numbers, true/false, lists and mappings"),
    (GOOD + "tags: !!set {a, b}\n", f"{FILE}:11: tag !!set is refused: use plain strings, numbers, true/false, lists and mappings"),
    (GOOD.replace("cidr: 10.0.0.0/16", "cidr: !Ref VpcCidr"), f"{FILE}:6: tag !Ref is not a parameter file value (CloudFormation functions like !Ref belong in templates); write the plain value, quoted if it starts with !"),
])
def test_hostile_yaml_is_refused_quickly_before_it_is_expanded(project, capsys, content, expected):
    started = time.perf_counter()
    assert one(capsys, content) == expected
    assert time.perf_counter() - started < 3


def test_anchors_aliases_and_merge_keys_are_still_plain_yaml(project, capsys):
    Path(FILE).write_text(GOOD.replace("  az_count: 2\n", "  az_count: &two 2\n")
                          + "tags:\n  <<: {Owner: platform, Team: web}\n  Team: core\n")
    assert build("--env", "dev") == 0
    vpc = json.loads(Path("out/dev/network.json").read_text())["Resources"]["Vpc"]["Properties"]
    assert {"Key": "Owner", "Value": "platform"} in vpc["Tags"] and {"Key": "Team", "Value": "core"} in vpc["Tags"]


# --- values the templates cannot carry ----------------------------------------------

def refusal(capsys, extra: str) -> str:
    return one(capsys, GOOD + extra)


@pytest.mark.parametrize("extra, expected", [
    ("tags:\n  Owner: team🚀\n", "12 tags.Owner: a tag value may hold letters, digits, spaces and _ . : / = + - @ only, not '🚀'"),
    ("tags:\n  🚀: team\n", "12 tags.🚀: a tag key may hold letters, digits, spaces and _ . : / = + - @ only, not '🚀'"),
    ("tags:\n  Owner: \"a\\x07b\"\n", "12 tags.Owner: a tag value may hold letters, digits, spaces and _ . : / = + - @ only, not U+0007"),
    ("tags:\n  Owner: \"\"\n", "12 tags.Owner: a tag value is 1 to 255 characters; this one has 0"),
    ("tags:\n  Owner: " + "v" * 256 + "\n", "12 tags.Owner: a tag value is 1 to 255 characters; this one has 256"),
    ("tags:\n  " + "k" * 128 + ": v\n", "12 tags." + "k" * 61 + "...: a tag key is 1 to 127 characters; this one has 128"),
    ("tags:\n  aws:owner: me\n", "12 tags.aws:owner: tag keys starting with aws: are reserved for AWS"),
    ("tags:\n  Project: other\n", "12 tags.Project: is a tag Strata sets itself (from project and environment); remove it"),
    ("tags:\n  Environment: other\n", "12 tags.Environment: is a tag Strata sets itself (from project and environment); remove it"),
    ("tags:\n" + "".join(f"  T{i}: v\n" for i in range(48)), "11 tags: 48 tags: AWS takes 50 per resource and Strata sets 3 (Project, Environment, Name), so at most 47"),
])
def test_a_bad_tag_is_one_schema_error_on_the_tag(project, capsys, extra, expected):
    # One bad tag lands on every taggable resource: it must never become a flood of lint lines.
    assert refusal(capsys, extra) == f"{FILE}:{expected}"


@pytest.mark.parametrize("extra, expected", [
    # Strings of any field, also those without a validator of their own (the general rule in sections.py).
    ("containers:\n  enabled: true\n  environment:\n    GREETING: hi🚀\n",
     "14 containers.environment.GREETING: contains U+1F680 (rocket) at position 3, outside the Basic Multilingual Plane (emoji and the like); AWS names and identifiers do not accept it"),
    ("containers:\n  enabled: true\n  environment:\n    GREETING: \"line\\nbreak\"\n",
     "14 containers.environment.GREETING: contains U+000A at position 5; only printable characters are allowed on one line"),
    ("containers:\n  enabled: true\n  environment:\n    GREETING: \"\\u202eevil\"\n",
     "14 containers.environment.GREETING: contains U+202E (right-to-left override) at position 1; only printable characters are allowed on one line"),
    ("containers:\n  enabled: true\n  environment:\n    GREETING: " + "x" * 3000 + "\n",
     "14 containers.environment.GREETING: is 3000 characters long; at most 2048"),
    ("network2: x\n".replace("network2: x\n", "compute:\n  scaling:\n    scheduled:\n      - name: rush🚀\n        recurrence: '0 8 * * *'\n        min_size: 1\n"),
     "14 compute.scaling.scheduled.0.name: must be lower case letters, digits and hyphens, starting with a letter"),
    # Names longer than AWS allows: a DNS name has at most 253 characters (its records' logical IDs would pass 255).
    ("dns:\n  enabled: true\n  domain: " + ".".join(["a" * 63] * 4) + ".com\n",
     "13 dns.domain: is 259 characters long; a DNS name has at most 253"),
])
def test_strings_a_template_cannot_carry_are_refused_on_their_field(project, capsys, extra, expected):
    assert refusal(capsys, extra) == f"{FILE}:{expected}"


def test_endpoint_service_names_are_bounded(project, capsys):
    text = GOOD.replace("  nat: single\n", f"  nat: single\n  interface_endpoints: [logs, {'a' * 65}]\n")
    assert one(capsys, text).startswith(f"{FILE}:9 network.interface_endpoints.1: 'aaaa")
    assert "at most 64 characters" in one(capsys, text)


@pytest.mark.parametrize("field, value, expected", [
    ("compute:\n  enabled: true\n  min_size: ", "10000000000000", "compute.min_size: 10000000000000 is beyond the integers CloudFormation takes (at most 2147483647)"),
    ("containers:\n  enabled: true\n  scaling:\n    target_value: ", ".inf", "containers.scaling.target_value: must be a finite number (.inf and .nan are not settings)"),
    ("containers:\n  enabled: true\n  scaling:\n    target_value: ", ".nan", "containers.scaling.target_value: must be a finite number (.inf and .nan are not settings)"),
])
def test_numbers_json_or_cloudformation_cannot_hold(project, capsys, field, value, expected):
    assert expected in one(capsys, GOOD + field + value + "\n")


# --- region, CIDRs, instance types, AZs -------------------------------------------------

def test_a_region_that_does_not_exist_is_refused_with_the_list(project, capsys):
    message = one(capsys, GOOD.replace("eu-west-1", "eu-west-9"))
    assert message.startswith(f"{FILE}:3 region: 'eu-west-9' is not an AWS region (known: af-south-1, ")
    assert "eu-west-1, eu-west-2" in message and "us-west-2" in message


def test_a_region_that_lacks_a_resource_type_the_layers_use_is_refused_with_the_regions_that_have_it(project, capsys):
    text = GOOD.replace("eu-west-1", "us-gov-west-1") + "static:\n  enabled: true\n  access_logs: false\n"
    message = one(capsys, text)
    assert message.startswith(f"{FILE}:3 region: us-gov-west-1 is not supported by the layers this file enables: "
                              "it has no AWS::CloudFront::Distribution, AWS::CloudFront::OriginAccessControl (used by "
                              "static); regions that offer every resource type they use: af-south-1, ")
    assert "us-gov-east-1" not in message.split("regions that offer")[1]


@pytest.mark.parametrize("old, new, expected", [
    ("cidr: 10.0.0.0/16", "cidr: 2001:db8::/56", "6 network.cidr: 2001:db8::/56 is an IPv6 CIDR; this field takes an IPv4 block"),
    ("  nat: single\n", "  nat: single\n  public_subnets: ['2001:db8::/64', 10.0.1.0/24]\n", "9 network.public_subnets.0: 2001:db8::/64 is an IPv6 CIDR"),
    ("security:\n  enabled: true\n", "security:\n  enabled: true\n  admin_cidr: '2001:db8::/48'\n", "11 security.admin_cidr: 2001:db8::/48 is an IPv6 CIDR"),
])
def test_ipv6_where_only_ipv4_works(project, capsys, old, new, expected):
    assert one(capsys, GOOD.replace(old, new)).startswith(f"{FILE}:{expected}")


@pytest.mark.parametrize("extra, expected", [
    ("compute:\n  enabled: true\n  instance_type: t3.gigantic\n",
     "13 compute.instance_type: t3.gigantic is not offered in eu-west-1 (cfn-lint's list of ec2 types)"),
    ("compute:\n  enabled: true\n  spot:\n    enabled: true\n    extra_instance_types: [t3a.micro, t3.nanoo]\n",
     "15 compute.spot.extra_instance_types.1: t3.nanoo is not offered in eu-west-1 (cfn-lint's list of ec2 types); did you mean t3.nano"),
    ("database:\n  enabled: true\n  instance_class: db.t4g.huge\n",
     "13 database.instance_class: db.t4g.huge is not offered in eu-west-1 (cfn-lint's list of rds types for aurora-postgresql)"),
    ("cache:\n  enabled: true\n  cluster:\n    node_type: cache.t4g.giant\n",
     "14 cache.cluster.node_type: cache.t4g.giant is not offered in eu-west-1 (cfn-lint's list of elasticache types)"),
])
def test_instance_and_node_types_must_exist_in_the_region(project, capsys, extra, expected):
    web = "web:\n  enabled: true\n  listener: http\n" if extra.startswith("compute") else ""
    messages = refused(capsys, GOOD + extra + web)
    assert any(m.startswith(f"{FILE}:{expected}") for m in messages), messages


def test_az_count_above_the_regions_zones(project, capsys):
    text = GOOD.replace("eu-west-1", "us-west-1").replace("az_count: 2", "az_count: 3")
    assert one(capsys, text) == f"{FILE}:7 network.az_count: us-west-1 has 2 availability zones; az_count 3 cannot be spread over them"


# --- CloudFormation quotas -------------------------------------------------------------

def tables(count: int) -> str:
    return "cache:\n  enabled: true\n  cluster:\n    enabled: false\n  tables:\n" + "".join(
        f"    t{i}:\n      partition_key: {{name: id}}\n" for i in range(count))


def test_a_layer_past_a_quota_is_named_instead_of_troposphere_raising(project, capsys):
    message = one(capsys, GOOD + tables(120))
    assert message == (f"{FILE}:11 cache: cache.json would pass CloudFormation's limit of 200 outputs per template: "
                       "these settings ask for too many")


def test_the_root_past_the_output_quota_is_strata_own_message(project, capsys):
    message = one(capsys, GOOD + tables(97))  # 195 outputs in cache.json, 8 in the other two
    assert message.startswith(f"{FILE}:1: the root stack would pass up 2")
    assert "over CloudFormation's limit of 200 per template" in message and "cache 195" in message


# --- a file that builds nothing, and settings nothing is built from -------------------------

def test_a_file_that_enables_no_layer(project, capsys):
    message = one(capsys, "project: demo\nenvironment: dev\nregion: eu-west-1\n")
    assert message == (f"{FILE}:1: enables no layer, so there is nothing to build: set enabled: true in at least one "
                       f"of {', '.join(LAYER_NAMES)}")


@pytest.mark.parametrize("extra, expected", [
    ("dns:\n  enabled: true\n  domain: example.com\n  records:\n    app: alb\n",
     "15 dns.records.app: points at alb but web.enabled is false, so the record would not be created: enable web or remove the record"),
    ("  private_subnets: []\n",
     "9 network.private_subnets: lists no CIDRs: give one per AZ (az_count 2), or leave private_subnets out for the automatic plan"),
])
def test_settings_that_would_silently_do_nothing_are_errors(project, capsys, extra, expected):
    text = GOOD.replace("  nat: single\n", "  nat: single\n" + extra) if extra.startswith("  ") else GOOD + extra
    assert one(capsys, text) == f"{FILE}:{expected}"


def test_settings_of_switched_off_sections_are_printed_as_warnings(project, capsys):
    Path(FILE).write_text(GOOD + "dns:\n  domain: example.com\ndatabase:\n  engine: aurora-mysql\n  readers: 2\n")
    capsys.readouterr()
    assert build("--env", "dev") == 0
    printed = capsys.readouterr().out
    assert f"  warning: {FILE}:12 dns.domain: domain is set but dns.enabled is false, so nothing is built from it" in printed
    assert (f"  warning: {FILE}:14 database.engine: engine, readers are set but database.enabled is false, so "
            "nothing is built from them") in printed


# --- YAML traps -------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("16.8", 'must be a string; YAML reads 16.8 unquoted as a number: quote it ("16.8")'),
    ("2024-05-01", 'must be a string; YAML reads 2024-05-01 unquoted as a date: quote it ("2024-05-01")'),
    ("no", 'must be a string; YAML reads no unquoted as false: quote it ("no")'),
    ("", "must be a string; an empty value is null in YAML: give the value, or remove the key"),
])
def test_unquoted_yaml_that_is_not_a_string_gets_the_quote_it_hint(project, capsys, value, expected):
    text = GOOD + f"database:\n  enabled: true\n  master_username: {value}\n".replace(": \n", ":\n")
    assert one(capsys, text) == f"{FILE}:13 database.master_username: {expected}"


def test_the_hint_is_only_given_when_quoting_helps(project, capsys):
    assert one(capsys, GOOD.replace("nat: single", "nat: 7")) == f"{FILE}:8 network.nat: must be one of per_az, single, none"


# --- the last line of defence ------------------------------------------------------------

def test_an_unexpected_error_is_one_line_naming_a_bug_not_a_traceback(project, capsys, monkeypatch):
    import templates.network

    def broken(env):
        raise RuntimeError("boom")

    monkeypatch.setattr(templates.network, "build", broken)
    Path(FILE).write_text(GOOD.replace("az_count: 2", "az_count: 3"))
    (message,) = refused(capsys, None)
    assert message.startswith("internal error while building dev: RuntimeError: boom (a bug in Strata")


def test_a_template_refused_by_troposphere_is_named_by_its_layer(project, capsys, monkeypatch):
    import templates.security

    def refusing(env):
        raise ValueError("Security group description must be at most 255 characters")

    monkeypatch.setattr(templates.security, "build", refusing)
    Path(FILE).write_text(GOOD.replace("az_count: 2", "az_count: 3"))
    assert one(capsys, None) == (f"{FILE}:9 security: the security layer cannot be built from these settings: "
                                 "Security group description must be at most 255 characters")


def test_source_module_needs_nothing_heavy():
    # The lint service reads regions with it before the heavy imports.
    code = "import sys, generator.build.source; print(sorted(m for m in ('pydantic', 'troposphere', 'cfnlint') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO).stdout.strip() == "[]"
    assert source.MAX_BYTES == 128 * 1024
