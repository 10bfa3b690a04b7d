"""Athena's CloudTrail table: the DDL of an account trail and of an organization trail."""

from __future__ import annotations

import pytest

from tests.sources.sql.helpers import ACCOUNT, ORG, REGION
from torinvest.errors import InputError, OptionsError
from torinvest.sources.sql.ddl import INPUT_FORMAT, SERDE, athena_ddl


def test_ddl_account_trail() -> None:
    ddl = athena_ddl(
        "trail-bucket", "ct", accounts=[ACCOUNT, "111122223333"], regions=[REGION, "eu-west-1"]
    )
    assert ddl.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `cloudtrail_logs` (")
    assert f"ROW FORMAT SERDE '{SERDE}'" in ddl
    assert f"STORED AS INPUTFORMAT '{INPUT_FORMAT}'" in ddl
    assert "LOCATION 's3://trail-bucket/ct/AWSLogs/'" in ddl
    for prop in (
        "'projection.enabled'='true'",
        "'projection.account.type'='enum'",
        "'projection.account.values'='111122223333,218007301253'",
        "'projection.region.type'='enum'",
        "'projection.region.values'='eu-west-1,us-east-1'",
        "'projection.date.type'='date'",
        "'projection.date.format'='yyyy/MM/dd'",
        "'projection.date.range'='2013/11/01,NOW'",
        "'storage.location.template'="
        "'s3://trail-bucket/ct/AWSLogs/${account}/CloudTrail/${region}/${date}'",
    ):
        assert prop in ddl
    for column in ("`account` STRING", "`region` STRING", "`date` STRING", "accesskeyid: STRING"):
        assert column in ddl


def test_ddl_organization_trail() -> None:
    ddl = athena_ddl(
        "trail-bucket", org_id=ORG, accounts=[ACCOUNT], regions=[REGION], database="security"
    )
    assert "EXISTS `security`.`cloudtrail_logs`" in ddl
    assert f"LOCATION 's3://trail-bucket/AWSLogs/{ORG}/'" in ddl
    assert (
        f"'storage.location.template'='s3://trail-bucket/AWSLogs/{ORG}/"
        "${account}/CloudTrail/${region}/${date}'"
    ) in ddl
    all_regions = athena_ddl("trail-bucket", accounts=[ACCOUNT])
    assert "us-east-1" in all_regions
    assert "eu-west-3" in all_regions
    with pytest.raises(InputError):
        athena_ddl("trail-bucket", org_id="org-1", accounts=[ACCOUNT])
    with pytest.raises(InputError):
        athena_ddl("trail-bucket", accounts=[])
    with pytest.raises(InputError):
        athena_ddl("trail-bucket", accounts=[ACCOUNT], table="x; DROP TABLE y")


@pytest.mark.parametrize(
    "prefix",
    ["../", "logs/../other", "./AWSLogs", "a//b", "${date}", "x/${account}", "a'b", "a\\b",
     "a b", "a%2Fb", "a?b", "a#b", "x" * 201],
    ids=lambda p: p[:12],
)  # fmt: skip
def test_a_prefix_no_trail_has_is_refused(prefix: str) -> None:
    with pytest.raises(OptionsError, match="key prefix") as raised:
        athena_ddl("trail-bkt", prefix, accounts=[ACCOUNT])
    assert "--prefix" in (raised.value.hint or "")


@pytest.mark.parametrize(
    ("prefix", "location"),
    [("", "trail-bkt/AWSLogs/"), ("/ct/", "trail-bkt/ct/AWSLogs/"),
     ("org=1/ct.v2_(x)", "trail-bkt/org=1/ct.v2_(x)/AWSLogs/"), ("ct/AWSLogs", "trail-bkt/ct/AWSLogs/")],
)  # fmt: skip
def test_a_trail_prefix_is_kept(prefix: str, location: str) -> None:
    ddl = athena_ddl("trail-bkt", prefix, accounts=[ACCOUNT])
    assert f"LOCATION 's3://{location}'" in ddl
    assert ddl.count("${date}") == 1
