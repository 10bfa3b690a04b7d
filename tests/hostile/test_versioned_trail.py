"""A versioned trail bucket keeps what an attacker deletes or rewrites. On a bucket with S3
Versioning a DeleteObject only adds a delete marker and a PutObject over a key keeps the version
it replaces: the genuine log files are still there. The listing asks the bucket's versioning
once and, where it keeps versions, lists with ListObjectVersions: deleted log files are read
from their first version and said (the digests then find nothing missing), rewritten ones are
said and their first version read (the digests' hashes then match), counting what the rewrite
removed and added. Refusals are said. Catalogue: docs/hostile-inputs.md, "Log files deleted or
rewritten in a versioned bucket".
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pytest
from botocore.exceptions import ClientError

from tests.cli_run import issues, run
from tests.hostile.test_digests import (
    ACCOUNT,
    DELETED,
    FOLDER,
    KEY,
    digest_key,
    on_s3,
    present,
    restart,
    trail,  # noqa: F401 - the fixture
    write_digests,
)

US_FOLDER = f"{FOLDER}us-east-1/"
#: One day: the sample case's log files are all of 2023-07-10 (a short window: fewer objects).
DAY = ("--start", "2023-07-10", "--end", "2023-07-10")


def digested(root: Path) -> None:
    """The trail cut to the log files delivered at 12:15 and 12:20 (18 in 3 regions, the key's
    calls from 185.220.101.34 among them: fewer objects to put and read), and the digests of
    2023-07-10 12:01–13:01 naming them (each the first of its chain, as when validation is
    turned on)."""
    for path in (root / FOLDER).rglob("*.json.gz"):
        if "_20230710T1215Z_" not in path.name and "_20230710T1220Z_" not in path.name:
            path.unlink()
    skip = [datetime(2023, 7, 10, tzinfo=UTC) + timedelta(hours=h) for h in range(-1, 25)]
    for region in sorted(p.name for p in (root / FOLDER).iterdir()):
        written = write_digests(
            root, region, present(root, region), first=date(2023, 7, 10), last=date(2023, 7, 10),
            skip_hours=[t for t in skip if t != datetime(2023, 7, 10, 12, tzinfo=UTC)],
        )  # fmt: skip
        restart(written[0])


def key_events(source: str, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    """The key's events of 2023-07-10, every region."""
    return run(
        "events", "--logs", source, "--access-key", KEY, *DAY,
        "--out", str(tmp_path / "e.jsonl"), *extra,
    )  # fmt: skip


#: The key's events with every log file of the cut trail read (14 of them in the two files of
#: :data:`DELETED`).
ALL = "18 events from 18 log file(s)"


def s3_client(request: pytest.FixtureRequest) -> Any:
    return boto3.client("s3", endpoint_url=request.getfixturevalue("moto"), region_name="us-east-1")


def calls(request: pytest.FixtureRequest, refuse: Collection[str] = ()) -> Counter[str]:
    """Every S3 call the code under test makes, counted by operation (GetObject with a
    VersionId as ``GetObjectVersion``, HeadObject with one as ``HeadObjectVersion``);
    the operations in ``refuse`` answer AccessDenied, as IAM does."""
    counted: Counter[str] = Counter()
    real_call = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        name = operation
        if operation in ("GetObject", "HeadObject") and "VersionId" in params:
            name = operation.replace("Object", "ObjectVersion")
        if self.meta.service_model.service_name == "s3":
            counted[name] += 1
        if name in refuse:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, operation
            )
        return real_call(self, operation, params)

    request.getfixturevalue("monkeypatch").setattr(
        botocore.client.BaseClient, "_make_api_call", call
    )
    return counted


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_log_files_deleted_from_a_versioned_bucket_are_read_from_their_versions_and_said(
    trail: Path,  # noqa: F811
    tmp_path: Path,
    engine: str,
    request: pytest.FixtureRequest,
) -> None:
    """The attacker deletes the two log files holding their calls: the bucket keeps versions,
    so the files' versions are read (every event of the key is there) and one issue names
    them; the digests, which name them, find nothing missing."""
    digested(trail)
    source = on_s3(request, trail, versioned=True)
    s3 = s3_client(request)
    for key in DELETED:
        s3.delete_object(Bucket="trail", Key=key)
    counted = calls(request)
    code, out, err = key_events(source, tmp_path, "--engine", engine)
    assert code == 0, err
    assert out.startswith(ALL), out
    assert len(issues(err)) == 1, err
    [issue] = issues(err)
    # the two deletes may fall in one second ("written at T") or two ("written from T to U")
    assert issue.startswith(
        tuple(
            f"torinvest: issue: {source}/{US_FOLDER}: 2 log file(s) here were deleted (delete "
            f"marker(s) written {when} 20"
            for when in ("at", "from")
        )
    ), issue
    assert (
        f"; {DELETED[0].rpartition('/us-east-1/')[2]}, {DELETED[1].rpartition('/us-east-1/')[2]}"
        "): the bucket keeps versions, so each one's first version — what CloudTrail delivered "
        "— was read as the trail's file"
    ) in issue
    assert counted["GetObjectVersion"] == 2 and counted["GetBucketVersioning"] == 1
    assert counted["ListObjectsV2"] == 0 or counted["ListObjectVersions"] > 0


def forge(s3: Any, key: str) -> None:
    """Rewrite ``key`` as an attacker would: 2 records removed, 1 changed (another source
    address), 1 added (a new eventID)."""
    body = s3.get_object(Bucket="trail", Key=key)["Body"].read()
    records = json.loads(gzip.decompress(body))["Records"]
    kept = records[2:]
    kept[0] = {**kept[0], "sourceIPAddress": "198.51.100.7"}
    kept.append({**kept[-1], "eventID": "00000000-0000-4000-8000-000000000001"})
    forged = gzip.compress(json.dumps({"Records": kept}).encode())
    s3.put_object(Bucket="trail", Key=key, Body=forged)


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_log_file_rewritten_in_a_versioned_bucket_is_said_and_its_first_version_read(
    trail: Path,  # noqa: F811
    tmp_path: Path,
    engine: str,
    request: pytest.FixtureRequest,
) -> None:
    """The attacker rewrites a log file without two of their calls: CloudTrail writes a log
    file once, so the first version is read (every event of the key is there, its hash is the
    digest's: no "altered" issue), and one issue says it was rewritten and what the rewrite
    removed, changed and added."""
    digested(trail)
    source = on_s3(request, trail, versioned=True)
    forge(s3_client(request), DELETED[1])
    code, out, err = key_events(source, tmp_path, "--engine", engine)
    assert code == 0, err
    assert out.startswith(ALL), out
    assert len(issues(err)) == 1, err
    [issue] = issues(err)
    name = DELETED[1].rpartition("/us-east-1/")[2]
    assert issue.startswith(
        f"torinvest: issue: {source}/{US_FOLDER}: 1 log file(s) here were written more than "
        f"once ({name}: written 2 times, rewritten at 20"
    ), issue
    assert issue.endswith(
        "): CloudTrail writes a log file once, so every later version was put there since (its "
        "events may be forged); the first version of each — what CloudTrail delivered — was "
        "read, not the current one; compared with the first, the newest version lacks 2 "
        "event(s), adds 1 and changes 1 — the forgery"
    ), issue


@pytest.mark.parametrize("refused", [False, True])
def test_without_versioning_nothing_new_is_said_and_only_the_versioning_is_asked(
    trail: Path,  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
    refused: bool,
) -> None:
    """A bucket that never kept versions: one GetBucketVersioning, then the listing as before
    (ListObjectsV2), nothing said of versions. GetBucketVersioning refused: the same, and one
    note says deleted or rewritten files were not looked for."""
    digested(trail)
    source = on_s3(request, trail)
    counted = calls(request, refuse={"GetBucketVersioning"} if refused else set())
    code, out, err = key_events(source, tmp_path)
    assert code == 0, err
    assert out.startswith(ALL), out
    assert issues(err) == []
    said = [line for line in err.splitlines() if not line.lower().startswith("torinvest: info:")]
    versions = [line for line in said if "version" in line.lower()]
    if refused:
        assert versions == [
            "torinvest: note: s3://trail: whether the bucket keeps versions could not be asked "
            "(s3:GetBucketVersioning: access denied: GetBucketVersioning on s3://trail: Access "
            "Denied): log files deleted or rewritten there, if it does, were not looked for "
            "(their earlier versions were not read); grant s3:GetBucketVersioning, "
            "s3:ListBucketVersions and s3:GetObjectVersion to have them read"
        ], versions
    else:
        assert versions == [], versions
    assert counted["GetBucketVersioning"] == 1
    versioned = ("ListObjectVersions", "GetObjectVersion", "HeadObjectVersion")
    assert [counted[op] for op in versioned] == [0, 0, 0]
    assert counted["ListObjectsV2"] > 0


def test_versions_that_cannot_be_listed_are_a_note_and_the_listing_goes_on(
    trail: Path,  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """s3:ListBucketVersions refused: listed with ListObjectsV2 as before (the digests say the
    deleted files are missing), and a note says deleted or rewritten files were not looked for."""
    digested(trail)
    source = on_s3(request, trail, versioned=True)
    s3 = s3_client(request)
    for key in DELETED:
        s3.delete_object(Bucket="trail", Key=key)
    counted = calls(request, refuse={"ListObjectVersions"})
    code, out, err = key_events(source, tmp_path)
    assert code == 0, err
    assert out.startswith("4 events from 16 log file(s)"), out
    [issue] = issues(err)
    assert (
        "the trail delivered 2 log file(s) here on 2023-07-10 that are not in this folder" in issue
    )
    assert (
        "torinvest: note: s3://trail: the bucket keeps versions, but listing them was refused "
        "(s3:ListBucketVersions: "
    ) in err
    assert "log files deleted or rewritten there were not looked for" in err
    assert counted["ListObjectVersions"] == 1  # refused once: not asked again


@pytest.mark.parametrize("rewritten", [True, False])
def test_earlier_versions_that_cannot_be_read_are_an_issue_naming_the_permission(
    trail: Path,  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
    rewritten: bool,
) -> None:
    """s3:GetObjectVersion refused: the deleted file is not read (one issue names it and the
    permission; the digests' "missing" issue does not name it again), the rewritten one is read
    in its current version, saying so (its hash then does not match the digest's). The refusal
    is learnt once: from the rewritten file's first download, else from one HeadObject of the
    deleted file's first version."""
    digested(trail)
    source = on_s3(request, trail, versioned=True)
    s3 = s3_client(request)
    s3.delete_object(Bucket="trail", Key=DELETED[0])
    if rewritten:
        forge(s3, DELETED[1])
    counted = calls(request, refuse={"GetObjectVersion", "HeadObjectVersion"})
    code, out, err = key_events(source, tmp_path)
    assert code == 0, err
    assert out.startswith("8 events from 17 log file(s)" if rewritten else "9 events from 17 "), out
    said = issues(err)
    assert len(said) == (3 if rewritten else 1), err
    deleted = said[1] if rewritten else said[0]
    assert deleted.startswith(
        f"torinvest: issue: {source}/{US_FOLDER}: 1 log file(s) here were deleted (delete "
    ), deleted
    assert deleted.endswith(
        "the bucket keeps versions, but reading them was refused (s3:GetObjectVersion: "
        "AccessDenied: Access Denied): their events, if any, were not read; grant "
        "s3:GetObjectVersion on the trail's bucket and re-run"
    ), deleted
    assert "not in this folder" not in err
    if rewritten:
        altered, _, current = said
        assert (
            "the first versions could not be read (s3:GetObjectVersion: AccessDenied: Access "
            "Denied), so the current ones were read: their events cannot be trusted"
        ) in current
        assert altered.startswith(f"torinvest: issue: {source}/{DELETED[1]}: hash does not match")
        assert (counted["GetObjectVersion"], counted["HeadObjectVersion"]) == (1, 0)
    else:
        assert (counted["GetObjectVersion"], counted["HeadObjectVersion"]) == (0, 1)


def digest_of_hour(region: str, hour: int) -> str:
    """The key of ``region``'s digest of 2023-07-10 ``hour``:01 to ``hour + 1``:01."""
    return digest_key(region, datetime(2023, 7, 10, hour + 1, 1, 31, tzinfo=UTC))


def test_digest_files_deleted_or_rewritten_are_said_and_their_first_versions_used(
    trail: Path,  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The attacker deletes the two log files, rewrites the digest of their hour without them
    (today: an "altered" digest, and the hour not compared) and deletes eu-west-1's of the same
    hour: the digests' first versions are read (their signatures verify, they name the files,
    which are read from their versions); an issue says each."""
    digested(trail)
    source = on_s3(request, trail, versioned=True)
    s3 = s3_client(request)
    for key in DELETED:
        s3.delete_object(Bucket="trail", Key=key)
    rewritten = digest_of_hour("us-east-1", 12)
    doc = json.loads(gzip.decompress(s3.get_object(Bucket="trail", Key=rewritten)["Body"].read()))
    doc["logFiles"] = [f for f in doc["logFiles"] if f["s3Object"] not in DELETED]
    s3.put_object(Bucket="trail", Key=rewritten, Body=gzip.compress(json.dumps(doc).encode()))
    s3.delete_object(Bucket="trail", Key=digest_of_hour("eu-west-1", 12))
    code, out, err = key_events(source, tmp_path)
    assert code == 0, err
    assert out.startswith(ALL), out
    said = issues(err)
    assert len(said) == 3, err
    digest_folder = f"{source}/AWSLogs/{ACCOUNT}/CloudTrail-Digest/"
    assert said[0].startswith(
        f"torinvest: issue: {source}/{US_FOLDER}: 2 log file(s) here were deleted"
    )
    assert said[1].startswith(
        f"torinvest: issue: {digest_folder}eu-west-1/: 1 digest file(s) here were deleted "
        "(delete marker(s) written at 20"
    ), said[1]
    assert said[1].endswith(
        "CloudTrail never deletes a digest file — whoever did had write access to the trail's "
        "bucket, and may have been hiding the log files of those hours; the bucket keeps "
        "versions, so each one's first version is what the checks read"
    ), said[1]
    assert said[2].startswith(
        f"torinvest: issue: {digest_folder}us-east-1/: 1 digest file(s) here were written more "
        f"than once ({rewritten.rpartition('/us-east-1/')[2]}: the first written 2 times, "
        "rewritten at 20"
    ), said[2]
    assert "altered" not in err and "not in this folder" not in err


def test_a_log_file_deleted_with_every_version_is_said_once(
    trail: Path,  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """The attacker deletes a log file, then its version (or a lifecycle rule expired it): the
    delete marker is all that is left. One issue says it was deleted and not read (the digests,
    which name it, do not say it again)."""
    digested(trail)
    source = on_s3(request, trail, versioned=True)
    s3 = s3_client(request)
    [version] = s3.list_object_versions(Bucket="trail", Prefix=DELETED[0])["Versions"]
    s3.delete_object(Bucket="trail", Key=DELETED[0])
    s3.delete_object(Bucket="trail", Key=DELETED[0], VersionId=version["VersionId"])
    code, out, err = key_events(source, tmp_path)
    assert code == 0, err
    assert out.startswith("9 events from 17 log file(s)"), out
    [issue] = issues(err)
    assert issue.startswith(
        f"torinvest: issue: {source}/{US_FOLDER}: 1 log file(s) here were deleted (delete "
        f"marker(s) written at 20"
    ), issue
    assert issue.endswith(
        f"; {DELETED[0].rpartition('/us-east-1/')[2]}) and no version of them is kept (a "
        "lifecycle rule expiring noncurrent versions, or the versions were deleted too): their "
        "events, if any, were not read; read them from a replica or backup of the bucket, or "
        "LookupEvents (--lookup)"
    ), issue
