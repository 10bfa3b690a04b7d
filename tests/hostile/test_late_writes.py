"""Log files written long after the time in their name. CloudTrail names a log file for the
minute it delivers it; whoever plants a file (or rewrites one) in the trail's bucket chooses its
name, not S3's write time (``LastModified``, in the listing) — nor, for a copy made with ``aws
s3 sync``, the local modification time. On hours the trail's digest files do not cover, a file
written more than an hour from its name's time, in a trail whose other files were written on
time, is an issue naming it; a trail whose files were all written late is a copy: on S3 one
note, locally nothing (a case folder's times are a copy's unless aws s3 sync made it).
Catalogue: docs/hostile-inputs.md, "Log files planted or rewritten".
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from tests.hostile.test_digests import (
    ACCOUNT,
    CASE,
    DELETED,
    FOLDER,
    PLANTED,
    REGIONS,
    US,
    delivered,
    digest_key,
    issues,
    key_events,
    plant,
    present,
    restart,
    unvouched_issue,
    write_digests,
)
from torinvest.sources.logs import list_logs, load_logs
from torinvest.sources.logs.writes import LATE_WRITE, write_issues

#: A file planted on a day the digests cover, at an hour they cover (called unvouched).
COVERED = f"{US}1530Z_planted111111111.json.gz"


def written_on_time(root: Path) -> None:
    """Each log file's modification time a minute after the time in its name, as ``aws s3
    sync`` leaves a trail CloudTrail delivered (S3's LastModified)."""
    for path in root.rglob("*_CloudTrail_*.json.gz"):
        if "_CloudTrail-Digest_" not in path.name:
            at = delivered(path.name) + timedelta(minutes=1)
            os.utime(path, (at.timestamp(), at.timestamp()))


def write_late(path: Path, after: timedelta) -> datetime:
    """Set ``path``'s modification time ``after`` the time in its name; that time."""
    at = delivered(path.name) + after
    os.utime(path, (at.timestamp(), at.timestamp()))
    return at


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    """The sample case's trail as ``aws s3 sync`` downloads it: every file's modification time
    its object's LastModified, a minute after the time in its name."""
    shutil.copytree(CASE.cloudtrail, tmp_path / "ct")
    written_on_time(tmp_path / "ct")
    return tmp_path / "ct"


def late_issue(source: Path | str, example: str, written: datetime, hours: str) -> str:
    name = example.rpartition("/")[2]
    return (
        f"torinvest: issue: {source}/{FOLDER}us-east-1/: 1 log file(s) here on 2023-07-10 were "
        f"written here more than 1.0 h after the time in their name (2023/07/10/{name} named "
        f"{delivered(name):%Y-%m-%dT%H:%MZ}, written {written:%Y-%m-%dT%H:%M:%SZ}: {hours} "
        "after), while most of the trail's 63 file(s) read were written within it: CloudTrail "
        "writes a log file in the minute its name gives, so these were put here or rewritten "
        "since (their events may be forged), or copied in from elsewhere; their events were "
        "read and cannot be trusted: compare them with the trail's digest files or the source "
        "bucket (or LookupEvents, --lookup) before relying on them (the write times are the "
        "files' modification times here: aws s3 cp and sync set them to S3's LastModified, but "
        "anyone can set them, so this is a weaker sign than S3's own)"
    )


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_file_planted_where_no_digest_covers_is_named_by_its_write_time(
    synced: Path, tmp_path: Path, engine: str
) -> None:
    """No digest files (validation off): the planted file's name says 12:25 on 2023-07-10, but
    it was written three days later; the trail's other files were written on time."""
    plant(synced, PLANTED)
    at = write_late(synced / PLANTED, timedelta(days=3))
    code, out, err = key_events(synced, tmp_path, "--engine", engine)
    assert code == 0, err
    assert out.startswith("69 events from 63 log file(s)")
    said = [i for i in issues(err) if "no log file for" not in i]  # the days without files
    assert said == [late_issue(synced, PLANTED, at, "3 days")]
    assert "partial result" in err
    assert "were written long after the times in their names" not in err


def test_files_written_within_the_hour_are_not_named(synced: Path) -> None:
    """A file written 50 minutes after its name (inside the hour) is not named, nor are the
    trail's other files: only the one written more than :data:`LATE_WRITE` after its name."""
    assert timedelta(minutes=50) < LATE_WRITE
    write_late(synced / DELETED[0], timedelta(minutes=50))
    plant(synced, PLANTED)
    write_late(synced / PLANTED, timedelta(hours=2))
    res = load_logs(synced)
    [issue] = [i for i in res.issues if "time in their name" in i.problem]
    assert issue.problem.startswith("1 log file(s) here on 2023-07-10 were written here more ")
    assert "_planted000000000.json.gz named 2023-07-10T12:25Z" in issue.problem
    assert ": 2.0 h after)" in issue.problem
    assert not [a for a in res.asides if "times in their names" in a]


def test_a_file_written_long_before_the_time_in_its_name_is_named(synced: Path) -> None:
    """A file whose name is a day later than when it was written: named for a time chosen."""
    plant(synced, PLANTED)
    write_late(synced / PLANTED, -timedelta(hours=30))
    res = load_logs(synced)
    [issue] = [i for i in res.issues if "time in their name" in i.problem]
    assert issue.source == f"{synced}/{FOLDER}us-east-1/"
    assert "were written here more than 1.0 h before the time in their name" in issue.problem
    assert "30.0 h before" in issue.problem


def test_a_local_folder_copied_without_its_write_times_says_nothing(tmp_path: Path) -> None:
    """Copied without keeping the write times (every file's modification time is the copy's,
    as in most case folders): they prove nothing — no issue, not even for a file planted among
    them, and no note on every reading (the README says the check needs aws s3 sync's folder)."""
    shutil.copytree(CASE.cloudtrail, tmp_path / "ct")
    trail = tmp_path / "ct"
    now = datetime.now(UTC).replace(microsecond=0)
    for path in trail.rglob("*.json.gz"):
        os.utime(path, (now.timestamp(), now.timestamp()))
    plant(trail, PLANTED)
    write_late(trail / PLANTED, timedelta(days=3))
    assert {f.written for f in list_logs(trail).files} == {
        now,
        delivered(PLANTED) + timedelta(days=3),
    }
    res = load_logs(trail)
    assert not [i for i in res.issues if "time in their name" in i.problem]
    assert not [a for a in res.asides if "times in their names" in a]


def test_files_the_digests_vouch_for_or_call_unvouched_are_not_named_again(
    synced: Path, tmp_path: Path
) -> None:
    """Digests cover 2023-07-10 but for 12:01–13:01 (validation off; its chain starts again).
    Three files written days late: one the digests name with its hash (of 11:45, copied again
    later: its content is what CloudTrail delivered, compared when read — not named), one
    they do not name in an hour they cover (the sharper unvouched issue only), one in the hour
    they do not cover (named by its write time)."""
    plant(synced, PLANTED)
    plant(synced, COVERED)
    vouched = next(k for k in present(synced, "us-east-1") if "T1145Z" in k)
    for region in ("ap-southeast-1", "eu-west-1"):
        write_digests(synced, region, present(synced, region))
    hour = datetime(2023, 7, 10, 12, tzinfo=UTC)
    genuine = [k for k in present(synced, "us-east-1") if k not in (PLANTED, COVERED)]
    write_digests(synced, "us-east-1", genuine, skip_hours=[hour])
    restart(synced / digest_key("us-east-1", datetime(2023, 7, 10, 14, 1, 31, tzinfo=UTC)))
    at = write_late(synced / PLANTED, timedelta(days=3))
    write_late(synced / COVERED, timedelta(days=3))
    write_late(synced / vouched, timedelta(days=3))
    code, _out, err = key_events(synced, tmp_path)
    assert code == 0, err
    assert issues(err) == [
        unvouched_issue(synced, 1, COVERED),
        late_issue(synced, PLANTED, at, "3 days").replace("63 file(s)", "64 file(s)"),
    ]


def test_write_issues_group_by_region_folder_and_show_a_few() -> None:
    """Five late files of one region folder, among forty on time: one issue, three shown."""
    from torinvest.sources.logs.model import LogFile

    base = f"s3://b/{FOLDER}eu-west-1/2025/01/02/{ACCOUNT}_CloudTrail_eu-west-1_20250102T"
    files = []
    for i in range(45):
        named = datetime(2025, 1, 2, i // 4, (i * 5) % 60, tzinfo=UTC)
        late = timedelta(hours=10 + i) if i >= 40 else timedelta(minutes=2)
        key = f"{base}{named:%H%M}Z_x{i:02d}.json.gz"
        files.append(LogFile(key, 1, "b", key[5:], written=named + late))
    [issue] = write_issues(files)
    assert issue.source == f"s3://b/{FOLDER}eu-west-1/"
    assert issue.problem.startswith(
        "5 log file(s) here on 2025-01-02 were written to the bucket more than 1.0 h after "
    )
    assert issue.problem.count(" named 2025-01-02T") == 3
    assert "; and 2 more)" in issue.problem
    assert "modification times here" not in issue.problem


# --------------------------------------------------------------------------------------------
# on S3: the write time is the object's LastModified (moto sets it when the object is put)
# --------------------------------------------------------------------------------------------
def recent_trail(moto: str, now: datetime, planted: datetime | None) -> str:
    """A trail bucket on moto: the sample case's us-east-1 files of 2023-07-10, named as if
    delivered in the last 50 minutes (so put on time), and a file named ``planted`` (put now:
    late by its name). Its URL."""
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="trail")
    sources = sorted((CASE.cloudtrail / FOLDER / "us-east-1").rglob("*.json.gz"))[:20]
    stamps = [(now - timedelta(minutes=2 + 2 * i), p) for i, p in enumerate(sources)]
    if planted is not None:
        stamps.append((planted, sources[0]))
    for n, (at, path) in enumerate(stamps):
        name = f"{ACCOUNT}_CloudTrail_us-east-1_{at:%Y%m%dT%H%MZ}_{n:016d}.json.gz"
        doc = json.loads(gzip.decompress(path.read_bytes()))
        key = f"{FOLDER}us-east-1/{at:%Y/%m/%d}/{name}"
        s3.put_object(Bucket="trail", Key=key, Body=gzip.compress(json.dumps(doc).encode()))
    return "s3://trail"


def test_on_s3_a_file_put_hours_after_its_name_is_named(moto: str) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    url = recent_trail(moto, now, now - timedelta(hours=6))
    res = load_logs(url)
    [issue] = [i for i in res.issues if "time in their name" in i.problem]
    assert issue.source == f"{url}/{FOLDER}us-east-1/"
    assert issue.problem.startswith(
        f"1 log file(s) here on {now - timedelta(hours=6):%Y-%m-%d} were written to the bucket "
        "more than 1.0 h after the time in their name ("
    )
    assert "_0000000000000020.json.gz named " in issue.problem
    assert "while most of the trail's 21 file(s) read were written within it" in issue.problem
    assert "modification times here" not in issue.problem


def test_on_s3_files_put_on_time_say_nothing(moto: str) -> None:
    """Each object's write time comes with the listing (no extra call): put on time, no file
    is named and no note is said."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    url = recent_trail(moto, now, None)
    listing = list_logs(url)
    assert len(listing.files) == 20
    for f in listing.files:
        assert f.written is not None
        assert timedelta(0) <= f.written - now <= timedelta(minutes=10)
    res = load_logs(url, regions=["us-east-1"])  # the trail's one region: nothing missing
    assert res.issues == []
    assert not [a for a in res.asides if "times in their names" in a]


def test_on_s3_a_copied_trail_is_one_note(moto: str, request: pytest.FixtureRequest) -> None:
    """The sample trail (2023) put in a bucket now: every object's LastModified is the copy's."""
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="copy")
    for path in sorted(CASE.cloudtrail.rglob("*.json.gz")):
        key = path.relative_to(CASE.cloudtrail).as_posix()
        s3.put_object(Bucket="copy", Key=key, Body=path.read_bytes())
    res = load_logs("s3://copy")
    assert not [i for i in res.issues if "time in their name" in i.problem]
    [note] = [a for a in res.asides if "times in their names" in a]
    assert note.startswith(f"s3://copy/{FOLDER}: its log files were written long after ")
    assert "so its S3 write times (LastModified) are the copy's" in note
    assert len(REGIONS) == 3  # one trail folder, one note, whatever its regions
