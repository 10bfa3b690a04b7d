"""The Athena engine over a versioned trail bucket, and over regions the key is known to have
called. Athena reads each object's current version only: a log file deleted (a delete marker)
is absent from its table, one rewritten reads in its forged version. The day folders its queries
read are listed (as for archived files, :mod:`torinvest.sources.sql.archived`) with
ListObjectVersions where the bucket keeps versions, and what Athena could not see is said in the
words of :mod:`torinvest.sources.logs.versions`. The finding's region is probed as the file
loader judges it (:class:`~torinvest.sources.logs.KnownRegions`). Catalogue:
docs/hostile-inputs.md, "Log files deleted or rewritten in a versioned bucket" and "Regions and
days not there".
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pytest
from botocore.exceptions import ClientError

from tests.fake_aws import FakeAws
from tests.hostile.test_archived_logs import (
    REGIONS,
    TABLE,
    WINDOW,
    _athena_answers,
    case_files,
    key_of,
)
from torinvest.aws import Aws
from torinvest.investigation import READING_INCOMPLETE, reading_of
from torinvest.sources.logs import KnownRegions

US = "AWSLogs/218007301253/CloudTrail/us-east-1/"
FOLDER = f"s3://trail/{US}"
#: Two us-east-1 log files of 2023-07-10 (the key's calls from 185.220.101.34 among them).
TARGETS = [key_of(f) for f in case_files() if "us-east-1" in key_of(f)][:2]


def s3(moto: str) -> Any:
    return boto3.client("s3", endpoint_url=moto, region_name="us-east-1")


def upload(moto: str, *, versioned: bool) -> None:
    """The sample case's 62 log files in bucket ``trail`` (S3 Versioning enabled before any
    file is put, with ``versioned``)."""
    client = s3(moto)
    client.create_bucket(Bucket="trail")
    if versioned:
        client.put_bucket_versioning(Bucket="trail", VersioningConfiguration={"Status": "Enabled"})
    for f in case_files():
        client.put_object(Bucket="trail", Key=key_of(f), Body=f.read_bytes())


def forge(moto: str, key: str) -> None:
    """Rewrite ``key`` as an attacker would: 2 records removed, 1 changed, 1 added."""
    client = s3(moto)
    body = client.get_object(Bucket="trail", Key=key)["Body"].read()
    records = json.loads(gzip.decompress(body))["Records"]
    kept = records[2:]
    kept[0] = {**kept[0], "sourceIPAddress": "198.51.100.7"}
    kept.append({**kept[-1], "eventID": "00000000-0000-4000-8000-000000000001"})
    forged = gzip.compress(json.dumps({"Records": kept}).encode())
    client.put_object(Bucket="trail", Key=key, Body=forged)


def calls(monkeypatch: pytest.MonkeyPatch, refuse: set[str] | None = None) -> Counter[str]:
    """Every S3 call of the code under test, by operation (GetObject with a VersionId as
    GetObjectVersion); those in ``refuse`` answer AccessDenied, as IAM does."""
    counted: Counter[str] = Counter()
    real_call = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        name = operation
        if operation in ("GetObject", "HeadObject") and "VersionId" in params:
            name = operation.replace("Object", "ObjectVersion")
        if self.meta.service_model.service_name == "s3":
            counted[name] += 1
        if name in (refuse or set()):
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, operation
            )
        return real_call(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", call)
    return counted


def athena_over(fake_aws: FakeAws, tmp_path: Path, current: list[Path]) -> None:
    """The fake Athena answering as a table over the bucket's current objects (``current``:
    the sample case's files still there), its table's definition the trail's."""
    _athena_answers(fake_aws, current, tmp_path)
    fake_aws.athena("us-east-1").add_table("security", "cloudtrail_logs", TABLE)
    fake_aws.enabled_regions = list(REGIONS)


def load(known: KnownRegions | None = None, account: str | None = None) -> Any:
    from torinvest.sources.sql import load_sql
    from torinvest.sources.sql.athena import AthenaEngine

    engine = AthenaEngine(database="security", region="us-east-1", aws=Aws())
    return load_sql(engine, start=WINDOW[1], end=WINDOW[3], known=known, account=account)


def said(result: Any, words: str) -> list[Any]:
    return [i for i in result.issues if words in i.problem]


def test_athena_names_the_log_files_deleted_from_a_versioned_bucket(
    moto: str, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two log files deleted (delete markers): Athena's table holds them no more and reads
    "complete"; the day folders' versions name them, and say to read the folder with the files
    engine (which reads each one's first version). Was: nothing said."""
    upload(moto, versioned=True)
    for key in TARGETS:
        s3(moto).delete_object(Bucket="trail", Key=key)
    athena_over(fake_aws, tmp_path, [f for f in case_files() if key_of(f) not in TARGETS])
    counted = calls(monkeypatch)
    result = load()
    assert len(result.frame) > 0
    [issue] = said(result, "were deleted")
    assert issue.source == FOLDER
    names = ", ".join(t.removeprefix(US) for t in TARGETS)
    assert issue.problem.startswith("2 log file(s) here were deleted (delete marker(s) written ")
    assert f"; {names}): the bucket keeps versions, but Athena reads only each object's " in (
        issue.problem
    )
    assert (
        "current version: the table does not hold them, so their events were not read; "
        "whoever deleted them had write access to the trail's bucket and may have hidden calls "
        "in them: read this folder with --logs and --engine files or duckdb (they read each "
        "one's first version — what CloudTrail delivered), and look at who deleted them (the "
        "bucket's data events, DeleteObject)"
    ) in issue.problem, issue.problem
    assert reading_of(result.issues, len(result.frame))[0] == READING_INCOMPLETE
    assert counted["GetBucketVersioning"] == 1 and counted["ListObjectVersions"] > 0
    assert counted["ListObjectsV2"] == 0 and counted["GetObjectVersion"] == 0


def test_athena_names_a_log_file_rewritten_in_a_versioned_bucket(
    moto: str, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log file rewritten (2 records removed, 1 changed, 1 added): Athena reads the forged
    version; the issue says so, and what the forgery changed (the first and newest versions
    compared). Was: nothing said, the forged records read as the trail's."""
    upload(moto, versioned=True)
    forge(moto, TARGETS[1])
    athena_over(fake_aws, tmp_path, case_files())  # its rows: not what is checked here
    counted = calls(monkeypatch)
    result = load()
    [issue] = said(result, "written more than once")
    assert issue.source == FOLDER
    assert issue.problem.startswith(
        f"1 log file(s) here were written more than once ({TARGETS[1].removeprefix(US)}: "
        "written 2 times, rewritten at 20"
    )
    assert issue.problem.endswith(
        "): CloudTrail writes a log file once, so every later version was put there since (its "
        "events may be forged); Athena reads only each object's current version: the events "
        "the rewrite removed were not read, and those it added or changed were read as the "
        "trail's; read this folder with --logs and --engine files or duckdb (they read the "
        "first version of each — what CloudTrail delivered); compared with the first, the "
        "newest version lacks 2 event(s), adds 1 and changes 1 — the forgery"
    ), issue.problem
    assert counted["GetObjectVersion"] == 1  # the first version, compared with the current


@pytest.mark.parametrize("refused", ["GetBucketVersioning", "ListObjectVersions"])
def test_athena_says_when_a_buckets_versions_could_not_be_looked_at(
    moto: str,
    fake_aws: FakeAws,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    refused: str,
) -> None:
    """Asking the bucket's versioning, or listing its versions, refused: an issue (never
    "complete") says deleted or rewritten log files were not looked for, and which permission
    would have them looked for; the archived files are still looked for (ListObjectsV2)."""
    upload(moto, versioned=True)
    s3(moto).delete_object(Bucket="trail", Key=TARGETS[0])
    athena_over(fake_aws, tmp_path, [f for f in case_files() if key_of(f) != TARGETS[0]])
    counted = calls(monkeypatch, {refused})
    result = load()
    assert not said(result, "were deleted")
    [issue] = said(result, "not looked for")
    assert issue.source == "s3://trail (versions)"
    permission = {"GetBucketVersioning": "s3:GetBucketVersioning"}.get(
        refused, "s3:ListBucketVersions"
    )
    assert f"({permission}: access denied: " in issue.problem, issue.problem
    assert "Athena reads only each object's current version" in issue.problem
    assert reading_of(result.issues, len(result.frame))[0] == READING_INCOMPLETE
    assert counted[refused] == 1 and counted["ListObjectsV2"] > 0


def test_athena_over_a_bucket_without_versions_says_nothing_new(
    moto: str, fake_aws: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bucket that never kept versions: one GetBucketVersioning, the day folders listed with
    ListObjectsV2 as before, nothing said of versions."""
    upload(moto, versioned=False)
    athena_over(fake_aws, tmp_path, case_files())
    counted = calls(monkeypatch)
    result = load()
    assert result.issues == [] and not [n for n in result.notes if "version" in n]
    assert counted["GetBucketVersioning"] == 1 and counted["ListObjectVersions"] == 0


def test_athena_judges_the_findings_region_the_table_holds_nothing_of(
    moto: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """The finding's region (ap-south-1: the key certainly called it) is not among the
    credentials' enabled regions (an opt-in region another account of the organization
    enabled): the coverage probe asks it too, and the table holding nothing there is the file
    loader's issue naming why it was expected. Was: not asked, the reading complete."""
    upload(moto, versioned=False)
    athena_over(fake_aws, tmp_path, case_files())
    why = "GuardDuty raised finding f1 there, the region of the call"
    known = KnownRegions((("ap-south-1", why),), "218007301253")
    result = load(known, account="218007301253")
    [issue] = said(result, "ap-south-1")
    assert issue.source == "athena:security.cloudtrail_logs:ap-south-1"
    assert issue.problem.startswith(
        "no record of account 218007301253 in region(s) ap-south-1 for days "
    )
    assert f"— and the key called it (ap-south-1: {why}); read that region's log files" in (
        issue.problem
    ), issue.problem
    assert reading_of(result.issues, len(result.frame))[0] == READING_INCOMPLETE
