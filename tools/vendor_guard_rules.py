"""Vendor the AWS Guard rules Strata runs, from the pinned PyPI package that bundles them.

    pip download --no-deps -d /tmp/wheels cdklabs-cdk-validator-cfnguard==0.0.62
    python tools/vendor_guard_rules.py /tmp/wheels/cdklabs_cdk_validator_cfnguard-0.0.62-py3-none-any.whl

The package carries AWS Control Tower's proactive controls written for
CloudFormation Guard (`rules/control-tower/cfn-guard/<service>/*.guard`, with
their metadata), Apache-2.0. This copies, into generator/build/guard_rules/,
every rule that evaluates a resource type listed in STRATA_TYPES and is not
in generator.build.guard.EXCLUDED, plus an index (id, file, title, fix,
types) and the licence. Re-run it when the pin changes; review the diff.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from generator.build.guard import EXCLUDED, RULES_DIR  # noqa: E402

PACKAGE = "cdklabs-cdk-validator-cfnguard==0.0.62"
PREFIX = "package/rules/control-tower/"
STRATA_TYPES = {line.strip() for line in (REPO / "tools" / "strata_types.txt").read_text().splitlines() if line.strip()}


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as zipped:
        inner = next(n for n in zipped.namelist() if n.endswith(".jsii.tgz"))
        archive = tarfile.open(fileobj=io.BytesIO(zipped.read(inner)))
    members = {m.name: m for m in archive.getmembers() if m.isfile()}
    read = lambda name: archive.extractfile(members[name]).read()  # noqa: E731
    index = []
    for name in sorted(n for n in members if n.startswith(PREFIX + "metadata/") and n.endswith(".metadata.json")):
        meta = json.loads(read(name))
        types = sorted(meta["EvaluatedResourceTypes"])
        if meta["Id"] in EXCLUDED or not set(types) & STRATA_TYPES:
            continue
        service = name.split("/")[-2]
        rule_file = f"{service}/{name.rsplit('/', 1)[-1].replace('.metadata.json', '.guard')}"
        target = RULES_DIR / rule_file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read(PREFIX + "cfn-guard/" + rule_file))
        index.append({"id": meta["Id"], "file": rule_file, "title": meta["DisplayName"],
                      "fix": meta.get("RemediationMessage", ""), "types": types})
    (RULES_DIR / "index.json").write_text(json.dumps({"source": PACKAGE, "guard": json.loads(read("package/guard-version.json"))["version"],
                                                      "rules": index}, indent=1, sort_keys=True) + "\n")
    (RULES_DIR / "LICENSE").write_bytes(read("package/LICENSE"))
    print(f"vendored {len(index)} rules into {RULES_DIR.relative_to(REPO)}")


if __name__ == "__main__":
    main(sys.argv[1])
