"""cfn-lint's lists of what each region offers, read from its data files without importing it."""

import subprocess
import sys

from generator.build import awsdata
from tests.helpers import REPO


def test_regions_are_the_ones_cfn_lint_lints_for():
    regions = awsdata.regions()
    assert list(regions) == sorted(regions)
    assert {"eu-west-1", "us-east-1", "us-gov-west-1", "me-south-1"} <= set(regions)
    assert "eu-west-9" not in regions


def test_zone_counts_resource_types_and_instance_lists():
    assert awsdata.availability_zones()["us-west-1"] == 2
    assert awsdata.availability_zones()["us-east-1"] == 6
    assert "AWS::CloudFront::Distribution" in awsdata.resource_types("eu-west-1")
    assert "AWS::CloudFront::Distribution" not in awsdata.resource_types("us-gov-west-1")
    assert awsdata.resource_types("me-south-1") is None  # no schemas: cfn-lint lints it with us-east-1's
    assert "t3.micro" in awsdata.instance_types("eu-west-1") and "t3.micro" not in awsdata.cache_node_types("eu-west-1")
    assert "cache.t4g.micro" in awsdata.cache_node_types("eu-west-1")
    assert "db.r6g.large" in awsdata.db_instance_classes("eu-west-1", "aurora-postgresql")
    assert awsdata.db_instance_classes("eu-west-1", "no-such-engine") == frozenset()


def test_reading_them_does_not_import_cfn_lint():
    code = ("import sys; from generator.build import awsdata; awsdata.regions(); awsdata.instance_types('eu-west-1'); "
            "print('cfnlint' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO).stdout.strip() == "False"
