"""DuckDB over log files gives the file loader's frame (account and organization layouts,
S3, derived keys), and unreadable files are issues.
"""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.offline_regions import SAMPLE_REGIONS, offline_unfolded
from tests.sources.sql.helpers import (
    ACCOUNT,
    END,
    INVICTUS,
    KEY,
    LOADS,
    ORG,
    REGION,
    SAMPLE,
    START,
    SUSPECT,
    same_frames,
)
from torinvest.aws import Aws
from torinvest.sources.logs import load_logs
from torinvest.sources.records import derived_keys, records_table
from torinvest.sources.sql.duckdb import DuckDBEngine
from torinvest.sources.sql.run import load_sql, minted_keys_sql


@pytest.fixture(scope="module")
def org_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case's logs as an organization trail writes them: AWSLogs/<o-id>/<acct>/…"""
    root = tmp_path_factory.mktemp("org") / "cloudtrail"
    for f in sorted(SAMPLE.rglob("*.json.gz")):
        rel = f.relative_to(SAMPLE).parts
        target = root.joinpath(rel[0], ORG, *rel[1:])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, target)
    return root


# --------------------------------------------------------------------------------------------
# DuckDB = the file loader
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["account", "organization"])
@pytest.mark.parametrize("load", list(LOADS))
def test_duckdb_rows_are_the_file_loaders(layout: str, load: str, org_layout: Path) -> None:
    folder = SAMPLE if layout == "account" else org_layout
    kwargs = LOADS[load]
    ref = load_logs(folder, progress=False, **kwargs)
    with DuckDBEngine(folder) as engine:
        got = load_sql(engine, **kwargs)
    assert len(got.frame) == len(ref.frame) > 0
    same_frames(got.frame, ref.frame, strict=load in ("everything", "key"))
    assert set(got.frame["source"]) == {"duckdb"}
    assert got.issues == ref.issues
    # a read for every region (offline), with a window or none: the partition's regions
    # without a folder (with no window, no day is judged)
    every = not kwargs.get("regions")
    trail = f"{folder}/AWSLogs/" + (f"{ORG}/" if layout == "organization" else "")
    problem = offline_unfolded(windowed="start" in kwargs)
    unfolded = [(f"{trail}{ACCOUNT}/CloudTrail/", problem)] if every else []
    assert [(i.source, i.problem) for i in ref.issues] == unfolded
    assert got.queries[0].files == ref.files_read
    assert got.files_skipped == ref.files_skipped
    if layout == "organization":
        assert all(f"/AWSLogs/{ORG}/{ACCOUNT}/" in o for o in got.frame["origin"].unique())


def test_duckdb_follows_derived_keys_as_the_file_loader() -> None:
    ref = load_logs(INVICTUS, access_keys=SUSPECT, follow_derived=True, progress=False)
    with DuckDBEngine(INVICTUS) as engine:
        got = load_sql(engine, access_keys=SUSPECT, follow_derived=True)
        minted = minted_keys_sql(engine, access_keys=SUSPECT)
    same_frames(got.frame, ref.frame)
    assert got.derived == ref.derived
    assert len(ref.derived) == 6
    assert got.frame["derived"].sum() == ref.frame["derived"].sum() > 0
    assert minted.derived == derived_keys(ref.frame, SUSPECT)
    assert list(minted.frame["access_key_id"]) == [d.access_key_id for d in ref.derived]


def test_duckdb_reads_an_s3_prefix_downloading_only_the_windows_files(moto: str) -> None:
    aws = Aws()
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="trail-bucket")
    for f in sorted(SAMPLE.rglob("*.json.gz")):
        s3.put_object(Bucket="trail-bucket", Key=f"ct/{f.relative_to(SAMPLE)}", Body=f.read_bytes())
    # a day far outside the window: listed by nobody, downloaded by nobody
    s3.put_object(
        Bucket="trail-bucket",
        Key=f"ct/AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/2023/01/01/x.json.gz",
        Body=b"not read",
    )
    kwargs = {"access_keys": KEY, "start": START, "end": END}
    ref = load_logs("s3://trail-bucket/ct", aws=aws, progress=False, **kwargs)
    with DuckDBEngine("s3://trail-bucket/ct", aws=aws) as engine:
        got = load_sql(engine, **kwargs)
        workdir = engine._workdir
        assert workdir is not None
        downloaded = list(workdir.iterdir())
    same_frames(got.frame, ref.frame)
    assert got.frame["origin"].str.startswith("s3://trail-bucket/ct/AWSLogs/").all()
    assert len(downloaded) == ref.files_read == got.queries[0].files
    assert not workdir.exists()  # close() deleted the copies


def test_unreadable_and_other_shapes_are_read_by_the_file_loader(tmp_path: Path) -> None:
    """Files DuckDB cannot read are read by the file loader for it: a truncated gzip is its
    issue (counted as failed), a lookup-events export's events are rows (its copies of the log
    files' records are one row each)."""
    good = sorted(SAMPLE.rglob("*.json.gz"))[:5]
    for f in good:
        shutil.copy(f, tmp_path / f.name)
    truncated = tmp_path / f"{ACCOUNT}_CloudTrail_{REGION}_20230710T1200Z_truncated0000.json.gz"
    truncated.write_bytes(gzip.compress(b'{"Records":[{"eventVersion":"1.08"' * 10)[:-20])
    other = json.loads(gzip.decompress(sorted(SAMPLE.rglob("*.json.gz"))[5].read_bytes()))
    lookup = tmp_path / "lookup-events.json"
    events = [{"EventId": r["eventID"], "CloudTrailEvent": json.dumps(r)} for r in other["Records"]]
    lookup.write_text(json.dumps({"Events": events}))
    reference = tmp_path.parent / "reference"
    reference.mkdir()
    for f in good:
        shutil.copy(f, reference / f.name)
    shutil.copy(lookup, reference / lookup.name)
    ref = load_logs(reference, progress=False).frame
    with DuckDBEngine(tmp_path) as engine:  # the files' regions named: no other is missing
        got = load_sql(engine, regions=list(SAMPLE_REGIONS))
    frame = got.frame

    def names(origin: pd.Series) -> pd.Series:
        return origin.astype("string").str.rsplit("/", n=1).str[-1].astype("category")

    frame["origin"], ref["origin"] = names(frame["origin"]), names(ref["origin"])
    assert sorted(frame["event_id"]) == sorted(ref["event_id"])
    assert len(frame) == len(ref) > len(other["Records"])
    problems = {Path(i.source).name: i.problem for i in got.issues}
    assert set(problems) == {truncated.name}
    assert problems[truncated.name].startswith("cannot decompress")
    assert got.counts is not None and list(got.counts.failed) == [str(truncated)]


#: eventTime values → the time both engines give (None: no usable time, an issue in both).
TIMES = {
    "2023-07-10T12:00:00Z": "2023-07-10T12:00:00Z",
    "2023-07-10T12:00:00.123Z": "2023-07-10T12:00:00.123Z",
    "2023-07-10T12:00:00+02:00": "2023-07-10T10:00:00Z",
    "2023-07-10 12:00:00": "2023-07-10T12:00:00Z",
    "20230710T120000Z": None,  # ISO 8601's basic form: CloudTrail never writes it
    "20230710T120000": None,
    "2023-W28-1T12:00:00Z": None,
    "2023-191T12:00:00Z": None,
    "2023-07-10T12:00:00+02": "2023-07-10T10:00:00Z",
    "2023-07-10T12:00:00+0530": "2023-07-10T06:30:00Z",
    "2023-07-10T12:00:00-12:00": "2023-07-11T00:00:00Z",
    "2023-07-10T12:00:00.5+00:00": "2023-07-10T12:00:00.5Z",
    "2023-07-10T12:00": "2023-07-10T12:00:00Z",
    "2023-07-10": "2023-07-10T00:00:00Z",
    # each engine's own parser reads some of these (shifted, or as a zone name): neither does
    "2023-07-10T12:00:00+24:00": None,
    "2023-07-10T12:00:00-24:00": None,
    "2023-07-10T12:00:00+99:00": None,
    "2023-07-10T24:00:00Z": None,
    "2023-07-10T12:00:00+02:00:30": None,
    "2023-07-10T12:00:00 UTC": None,
    "2023-07-10T12:00:00 America/New_York": None,
    "2023-07-10T12:00:00 +02:00": None,
    "2023-07-10T12:00:00.Z": None,
    "2023-07-10T12:00:00Z ": None,
    " 2023-07-10T12:00:00Z": None,
    "2023-07-10T12Z": None,
}


def test_both_engines_read_the_same_times(tmp_path: Path) -> None:
    """Both engines read exactly the forms of ``USABLE_TIME`` (the extended form; the basic
    form, offsets of 24 hours or more or with seconds, 24:00, zone names, spaces are no usable
    time in both: kept, and named in one issue), each record alone (the file loader's fast
    path) and all together."""
    day = tmp_path / "AWSLogs" / ACCOUNT / "CloudTrail" / REGION / "2023" / "07" / "10"
    day.mkdir(parents=True)
    records = [
        {
            "eventVersion": "1.08",
            "eventID": f"e{i}",
            "eventTime": when,
            "eventName": "ListUsers",
            "eventSource": "iam.amazonaws.com",
            "awsRegion": REGION,
            "sourceIPAddress": "198.51.100.7",
            "userIdentity": {"type": "IAMUser", "accessKeyId": KEY},
        }
        for i, when in enumerate(TIMES)
    ]
    name = f"{ACCOUNT}_CloudTrail_{REGION}_20230710T1200Z_times.json.gz"
    (day / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))
    # the folder's one region named: no other region's folder is missing
    files = load_logs(tmp_path, access_keys=KEY, regions=[REGION], workers=1)
    with DuckDBEngine(tmp_path) as engine:
        duck = load_sql(engine, access_keys=KEY, regions=[REGION])
    expected = [None if t is None else pd.Timestamp(t) for t in TIMES.values()]
    for frame in (files.frame, duck.frame):
        got = frame.set_index("event_id")["event_time"]
        assert [None if pd.isna(got[f"e{i}"]) else got[f"e{i}"] for i in range(len(TIMES))] == (
            expected
        )
    for record, when in zip(records, expected, strict=True):  # alone: Arrow's cast, unchecked
        (alone,) = records_table([record], source="logs", origin="x")["event_time"].to_pylist()
        assert (None if alone is None else pd.Timestamp(alone)) == when, record["eventTime"]
    untimed = sum(t is None for t in TIMES.values())
    for issues in (files.issues, duck.issues):
        (issue,) = issues
        assert issue.problem.startswith(f"{untimed} record(s) without a usable eventTime")


def test_duckdbs_own_progress_bar_is_off() -> None:
    """DuckDB draws a bar on stdout for a query past 2 s — into a pipe, amid `events`' answer,
    or into a report's output cell: the engine's connection has it off. Asked in a process of
    its own (under pytest DuckDB starts with it off, which would hide the default)."""
    import subprocess
    import sys

    code = (
        "import duckdb; from torinvest.sources.sql.duckdb import DuckDBEngine\n"
        "q = \"SELECT current_setting('enable_progress_bar')\"\n"
        f"with DuckDBEngine({str(SAMPLE)!r}) as e: print(e._con.execute(q).fetchone()[0])\n"
        "print(duckdb.connect().execute(q).fetchone()[0])\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    engine, default = ran.stdout.split()
    assert (engine, default) == ("False", "True")
