"""Log files archived in S3 Glacier (a lifecycle rule) or an Intelligent-Tiering archive tier:
not downloaded when the listing says so, said once per region folder, never "access denied" nor
"no events"; a restored file reads normally.

Every request goes through :class:`~tests.fake_aws.recording_proxy.RecordingProxy` in front of
moto: the tests count the GetObject calls made. moto stores ``StorageClass`` (PutObject), lists
it, and refuses GetObject of an archived object not restored (403 ``InvalidObjectState``), as
S3 does; it does not answer ListObjectsV2's ``OptionalObjectAttributes=["RestoreStatus"]``, so
the proxy adds the ``RestoreStatus`` element S3 writes for a restored object, from moto's own
HeadObject ``Restore`` header. The catalogue is docs/hostile-inputs.md, "Log files archived in
S3 Glacier".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import pytest

from tests.cli_run import issues, run
from tests.fake_aws import FakeAws
from tests.fake_aws.recording_proxy import RecordingProxy, Seen
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.errors import EXIT_COULD_NOT_LOOK, DataIssue
from torinvest.sources.logs import fold_archived, list_logs, load_logs, pool
from torinvest.sources.logs.archive import archived_issue

CASE = sample_case()
WINDOW = ("--start", "2023-07-10T00:00:00Z", "--end", "2023-07-10T23:59:59Z")
REGIONS = ("ap-southeast-1", "eu-west-1", "us-east-1")


def case_files() -> list[Path]:
    return sorted(CASE.cloudtrail.rglob("*.json.gz"))


def key_of(f: Path) -> str:
    return f.relative_to(CASE.cloudtrail).as_posix()


@pytest.fixture
def proxy(
    moto: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RecordingProxy]:
    """Every AWS call of the code under test goes through the proxy to moto (EC2's
    DescribeRegions too)."""
    with RecordingProxy({"*": moto}) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
        yield p


def direct_s3(moto: str) -> Any:
    """An S3 client straight to moto (set-up calls are not the code under test)."""
    return boto3.client("s3", endpoint_url=moto, region_name="us-east-1")


def upload(moto: str, classes: dict[str, str]) -> None:
    """The sample case's 62 log files in bucket ``trail``, each in the storage class of the
    first pattern of ``classes`` its key holds (else STANDARD)."""
    s3 = direct_s3(moto)
    s3.create_bucket(Bucket="trail")
    for f in case_files():
        key = key_of(f)
        storage = next((c for p, c in classes.items() if p in key), "STANDARD")
        s3.put_object(Bucket="trail", Key=key, Body=f.read_bytes(), StorageClass=storage)


def gets(p: RecordingProxy) -> list[str]:
    """The objects the code under test asked for (GetObject; not the listings, nor the
    bucket's versioning, GET /bucket?versioning)."""
    return [
        s.path.split("?")[0]
        for s in p.requests("s3")
        if s.method == "GET" and "list-type" not in s.path and "?versioning" not in s.path
    ]


def _as_values(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``frame`` with ``columns`` as plain values, a missing one None (NaN in a categorical, NA
    in a string column): pandas compares a categorical one boxed value at a time (seconds for
    a few thousand rows), plain values at once."""
    out = frame.copy()
    for c in columns:
        values = out[c].astype(object)
        out[c] = values.where(values.notna(), None)
    return out


def same_events(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    """The same events, value for value (a categorical column as its values)."""
    drop = ["origin", "source"]
    cols = [c for c in ref.columns if c not in drop]
    a = got[cols].sort_values("event_id").reset_index(drop=True)
    b = ref[cols].sort_values("event_id").reset_index(drop=True)
    cats = [c for c in cols if any(isinstance(f[c].dtype, pd.CategoricalDtype) for f in (a, b))]
    a, b = _as_values(a, cats), _as_values(b, cats)
    assert len(a) == len(b) > 0
    pd.testing.assert_frame_equal(a, b, check_categorical=False, check_dtype=False)


def read_all(tmp_path: Path, engine: str) -> tuple[int, str, str, Path]:
    out = tmp_path / "e.parquet"
    code, stdout, err = run(
        "events", "--logs", "s3://trail/", "--engine", engine, *WINDOW, "--out", str(out)
    )
    return code, stdout, err, out


# --------------------------------------------------------------------------------------------
# archived beside readable
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_archived_files_are_not_downloaded_and_are_one_issue_per_region_folder(
    proxy: RecordingProxy, moto: str, tmp_path: Path, engine: str
) -> None:
    # 12:20–12:29 moved to Glacier, 12:30–12:39 to Deep Archive, two regions' folders whole;
    # 12:10–12:19 to Instant Retrieval
    classes = {
        "CloudTrail/ap-southeast-1/": "GLACIER",
        "CloudTrail/eu-west-1/": "DEEP_ARCHIVE",
        "T122": "GLACIER",
        "T123": "DEEP_ARCHIVE",
        "T121": "GLACIER_IR",
    }
    upload(moto, classes)
    archived = [f for f in case_files() if any(p in key_of(f) for p in list(classes)[:4])]
    instant = [f for f in case_files() if "T121" in f.name and f not in archived]
    assert len(archived) >= 6 and instant
    code, out, err, parquet = read_all(tmp_path, engine)
    assert code == 0, err
    n = len(archived)
    assert f"from {62 - n} of 62 log file(s)" in out
    assert f"({n} failed: {n} archived in S3 Glacier (not read until restored))" in out
    lines = issues(err)
    folders = sorted({f.parts[-5] for f in archived})
    assert len(folders) == 3 and len(lines) == 3  # one issue per region folder, nothing else
    names = {
        "GLACIER": "S3 Glacier Flexible Retrieval (GLACIER)",
        "DEEP_ARCHIVE": "S3 Glacier Deep Archive (DEEP_ARCHIVE)",
    }
    for region, line in zip(folders, lines, strict=True):
        mine = [f for f in archived if f.parts[-5] == region]
        assert f"s3://trail/AWSLogs/218007301253/CloudTrail/{region}/: " in line
        assert f"{len(mine)} log file(s) of the window are archived in " in line
        stored = {next(c for p, c in classes.items() if p in key_of(f)) for f in mine}
        assert all(names[c] in line for c in stored)
        assert "they cannot be read until restored, so their events, if any, were not read" in line
        assert "aws s3api restore-object --bucket trail --key AWSLogs/" in line
        assert "by their names; day(s) 2023-07-10)" in line  # the span
        assert sorted(f.name for f in mine)[0] in line  # named
    assert "2023-07-10 12:20Z → 2023-07-10 12:3" in lines[-1]  # us-east-1's span
    assert "denied" not in err.lower() and "AccessDenied" not in out
    # no GetObject of an archived file; the Instant Retrieval ones were read
    asked = gets(proxy)
    assert not [p for p in asked if "T122" in p or "T123" in p]
    assert all(any(key_of(f) in p for p in asked) for f in instant)
    kept = [f for f in case_files() if f not in archived]
    same_events(pd.read_parquet(parquet), load_logs(kept, progress=False).frame)


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_every_file_archived_is_could_not_look(
    proxy: RecordingProxy, moto: str, tmp_path: Path, engine: str
) -> None:
    upload(moto, {"AWSLogs/": "DEEP_ARCHIVE"})
    code, out, err, _ = read_all(tmp_path, engine)
    assert code == EXIT_COULD_NOT_LOOK and out == "", (out, err)
    assert (
        "62 log file(s) listed, none read (62 archived in S3 Glacier (not read until restored))"
        in err
    )
    assert len(issues(err)) == len(REGIONS)
    assert "not an access problem" not in err and "0 events" not in err
    assert gets(proxy) == []


# --------------------------------------------------------------------------------------------
# restored, restoring, and what the listing cannot tell
# --------------------------------------------------------------------------------------------
_CONTENTS = re.compile(rb"<Contents>.*?</Contents>", re.S)


def add_restore_status(status: dict[str, bytes]) -> Any:
    """An edit of ListObjectsV2's answer adding S3's ``RestoreStatus`` element to the objects of
    ``status`` (key → the element's content) when the request asked for it."""

    def edit(seen: Seen, answer: bytes) -> bytes:
        if seen.header("x-amz-optional-object-attributes") != "RestoreStatus":
            return answer

        def one(m: re.Match[bytes]) -> bytes:
            entry = m.group(0)
            key = re.search(rb"<Key>([^<]+)</Key>", entry)
            inner = status.get(key.group(1).decode()) if key else None
            if inner is None:
                return entry
            return entry.replace(
                b"</Contents>", b"<RestoreStatus>" + inner + b"</RestoreStatus></Contents>"
            )

        return _CONTENTS.sub(one, answer)

    return edit


def _is_listing(seen: Seen) -> bool:
    return seen.service == "s3" and seen.method == "GET" and "list-type=2" in seen.path


def test_a_restored_file_is_read_and_one_being_restored_is_not(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    upload(moto, {"T122": "GLACIER", "T123": "DEEP_ARCHIVE"})
    s3 = direct_s3(moto)
    restored = [f for f in case_files() if "T122" in f.name]
    restoring = [f for f in case_files() if "T123" in f.name]
    status: dict[str, bytes] = {}
    for f in restored:
        s3.restore_object(Bucket="trail", Key=key_of(f), RestoreRequest={"Days": 1})
        restore = s3.head_object(Bucket="trail", Key=key_of(f))["Restore"]
        assert 'ongoing-request="false"' in restore  # moto restores at once
        status[key_of(f)] = (
            b"<IsRestoreInProgress>false</IsRestoreInProgress>"
            b"<RestoreExpiryDate>2030-01-01T00:00:00.000Z</RestoreExpiryDate>"
        )
    for f in restoring:  # a restore asked, not done yet (Deep Archive: up to 48 hours)
        status[key_of(f)] = b"<IsRestoreInProgress>true</IsRestoreInProgress>"
    proxy.rewrite(_is_listing, add_restore_status(status))
    code, out, err, parquet = read_all(tmp_path, "files")
    assert code == 0, err
    n = len(restoring)
    assert f"from {62 - n} of 62 log file(s)" in out
    assert f"({n} failed: {n} archived in S3 Glacier (not read until restored))" in out
    text = " ".join(issues(err))
    assert "a restore is in progress for" in text and "re-run once it completes" in text
    assert all(f.name not in text for f in restored)
    asked = gets(proxy)
    assert all(any(key_of(f) in p for p in asked) for f in restored)  # read
    assert not [p for p in asked if "T123" in p]  # never asked for
    listings = [  # the day folders' listings (not the digest probes: digests are read apart)
        s
        for s in proxy.requests("s3")
        if _is_listing(s) and "delimiter" not in s.path and "Digest" not in s.path
    ]
    assert listings and all(
        s.header("x-amz-optional-object-attributes") == "RestoreStatus" for s in listings
    )
    kept = [f for f in case_files() if f not in restoring]
    same_events(pd.read_parquet(parquet), load_logs(kept, progress=False).frame)


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_an_intelligent_tiering_file_in_an_archive_tier_is_archived_not_denied(
    proxy: RecordingProxy, moto: str, tmp_path: Path, engine: str
) -> None:
    """The listing says INTELLIGENT_TIERING whatever the tier: the download is tried, and S3's
    ``InvalidObjectState`` (with the ``AccessTier``) says the file is archived."""
    upload(moto, {"T122": "INTELLIGENT_TIERING"})
    tiered = [f for f in case_files() if "T122" in f.name]
    proxy.fail(
        lambda s: s.service == "s3" and s.method == "GET" and "list-type" not in s.path
        and "T122" in s.path,
        code="InvalidObjectState",
        message="The operation is not valid for the object's access tier",
        extra="<AccessTier>DEEP_ARCHIVE_ACCESS</AccessTier>",
    )  # fmt: skip
    code, out, err, parquet = read_all(tmp_path, engine)
    assert code == 0, err
    n = len(tiered)
    assert f"({n} failed: {n} archived in S3 Glacier (not read until restored))" in out
    text = " ".join(issues(err))
    assert "S3 Intelligent-Tiering Deep Archive Access (DEEP_ARCHIVE_ACCESS)" in text
    assert "denied" not in text.lower() and "could not be downloaded" not in text
    kept = [f for f in case_files() if f not in tiered]
    same_events(pd.read_parquet(parquet), load_logs(kept, progress=False).frame)


def test_a_file_archived_after_it_was_listed_is_archived_not_a_download_failure(
    moto: str, tmp_path: Path
) -> None:
    """The listing said STANDARD (or a restored copy that expired since): GetObject's
    ``InvalidObjectState`` from moto itself says the same as the listing would have."""
    upload(moto, {})
    s3 = direct_s3(moto)
    moved = [f for f in case_files() if "T124" in f.name]
    aws = Aws()
    listing = list_logs("s3://trail/", aws=aws)
    for f in moved:  # a lifecycle transition between the listing and the download
        s3.copy_object(
            Bucket="trail", Key=key_of(f), CopySource={"Bucket": "trail", "Key": key_of(f)},
            StorageClass="GLACIER",
        )  # fmt: skip
    got = [pool._get_object(aws, lf) for lf in listing.files if "T124" in lf.location]
    assert len(got) == len(moved) and all(isinstance(g, DataIssue) for g in got)
    assert {g.problem for g in got if isinstance(g, DataIssue)} == {
        "archived in S3 Glacier Flexible Retrieval (GLACIER): not read until restored"
    }


# --------------------------------------------------------------------------------------------
# the issue: one per region folder
# --------------------------------------------------------------------------------------------
def test_fold_says_each_region_folder_once_and_keeps_other_issues_in_place() -> None:
    base = "s3://t/AWSLogs/111122223333/CloudTrail/"
    a = [
        archived_issue(f"{base}us-east-1/2023/07/{d:02d}/111122223333_CloudTrail_us-east-1_"
                       f"202307{d:02d}T{h:02d}05Z_x{d}{h}.json.gz", "DEEP_ARCHIVE")
        for d in (9, 10) for h in (0, 23)
    ]  # fmt: skip
    b = archived_issue(
        f"{base}eu-west-1/2023/07/10/111122223333_CloudTrail_eu-west-1_20230710T1200Z_y.json.gz",
        "GLACIER",
        restoring=True,
    )
    other = DataIssue(f"{base}us-east-1/2023/07/10/z.json.gz", "cannot decompress: …", unread=True)
    folded = fold_archived([a[0], other, b, *a[1:], a[0]])
    assert [i.source for i in folded] == [f"{base}us-east-1/", other.source, f"{base}eu-west-1/"]
    first = folded[0].problem
    assert first.startswith("4 log file(s) of the window are archived in S3 Glacier Deep Archive")
    assert (
        "(2023-07-09 00:05Z → 2023-07-10 23:05Z by their names; day(s) 2023-07-09, 2023-07-10)"
        in first
    )
    assert "a restore is in progress for 1 of them" in folded[2].problem
    assert folded[1] is other


# --------------------------------------------------------------------------------------------
# Athena: it skips archived objects without a word; the table's day folders are listed
# --------------------------------------------------------------------------------------------
TABLE = {
    "location": "s3://trail/AWSLogs/",
    "storage.location.template": "s3://trail/AWSLogs/${account}/CloudTrail/${region}/${date}",
    "projection.enabled": "true",
    "projection.account.values": "218007301253",
    "projection.date.format": "yyyy/MM/dd",
}


def _athena_answers(fake: FakeAws, kept: list[Path], tmp_path: Path) -> None:
    """The fake Athena answering as Athena would over the trail: the files it reads are those
    not archived (what DuckDB answers over them, in the order Athena runs the queries); the
    coverage probe: every (region, day) cell of those files holds records."""
    from tests.sources.sql.helpers import Recorder, athena_results
    from torinvest.sources.sql import load_sql
    from torinvest.sources.sql.duckdb import DuckDBEngine

    folder = tmp_path / "readable"
    for f in kept:
        target = folder / key_of(f)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(f.read_bytes())
    athena = fake.athena("us-east-1")
    cells = [[r, d, "1"] for r in REGIONS for d in ("2023/07/10", "")]
    columns = [("region", "varchar"), ("day", "varchar"), ("records", "bigint")]
    athena.add_results(columns, cells, scanned=1 << 20, match="AS probe")
    recorder = Recorder(DuckDBEngine(str(folder)))
    recorder.count_first = True  # type: ignore[attr-defined]  # as Athena: a count first
    with recorder.engine:
        load_sql(recorder, start=WINDOW[1], end=WINDOW[3])  # type: ignore[arg-type]
    athena.add_answers(
        *(athena_results(t, dict(q.columns), scanned=5 << 20) for q, t in recorder.outputs)
    )


def _athena_load(regions: list[str] | None = None) -> Any:
    from torinvest.sources.sql import load_sql
    from torinvest.sources.sql.athena import AthenaEngine

    engine = AthenaEngine(database="security", region="us-east-1", aws=Aws())
    return load_sql(engine, start=WINDOW[1], end=WINDOW[3], regions=regions)


def test_athena_names_the_archived_files_of_its_tables_day_folders(
    moto: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """Half of 2023-07-10 archived: Athena reads the other half (records on that day: no
    coverage issue), and the day folders its queries read are listed — the archived files
    named per region folder, never downloaded."""
    upload(moto, {"T122": "GLACIER", "T123": "DEEP_ARCHIVE"})
    archived = [f for f in case_files() if "T122" in f.name or "T123" in f.name]
    kept = [f for f in case_files() if f not in archived]
    _athena_answers(fake_aws, kept, tmp_path)
    fake_aws.athena("us-east-1").add_table("security", "cloudtrail_logs", TABLE)
    fake_aws.enabled_regions = list(REGIONS)  # the folders of the account's enabled regions
    result = _athena_load()
    assert len(result.frame) == len(load_logs(kept, progress=False).frame) > 0
    said = [i for i in result.issues if "archived in" in i.problem]
    folders = sorted({f.parts[-5] for f in archived})  # one per region folder holding some
    assert [i.source for i in said] == [
        f"s3://trail/AWSLogs/218007301253/CloudTrail/{r}/" for r in folders
    ]
    for issue in said:
        region = issue.source.split("/")[-2]
        n = len([f for f in archived if f.parts[-5] == region])
        assert issue.problem.startswith(f"{n} log file(s) of the window are archived in ")
        assert (
            "were not read (Athena skips archived objects without a word: restored, they are "
            "read once the table's read_restored_glacier_objects property is true)" in issue.problem
        )
    assert not [n for n in result.notes if "archived in S3 Glacier" in n]


def test_athena_says_when_archived_files_could_not_be_looked_for(
    moto: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    """The table's definition unreadable, or its LOCATION not listable: a note says whether
    log files are archived is not known; the events read stand."""
    upload(moto, {"T122": "GLACIER"})
    kept = [f for f in case_files() if "T122" not in f.name]
    _athena_answers(fake_aws, kept, tmp_path)
    result = _athena_load()  # no table added: GetTableMetadata answers MetadataException
    assert len(result.frame) > 0
    assert not [i for i in result.issues if "archived in" in i.problem]
    (note,) = [n for n in result.notes if "archived in S3 Glacier" in n]
    assert note.startswith(
        "athena:security.cloudtrail_logs: whether log files of the window are archived in S3 "
        "Glacier (Athena skips them without a word: their days read as fewer records, or none), "
        "or deleted or rewritten in a bucket keeping versions (Athena reads current versions "
        "only), is not known: the table's definition could not be read ("
    )
    _athena_answers(fake_aws, kept, tmp_path / "again")
    fake_aws.athena("us-east-1").add_table(
        "security", "cloudtrail_logs", {**TABLE, "storage.location.template":
        "s3://nosuchbucket/AWSLogs/${account}/CloudTrail/${region}/${date}"}
    )  # fmt: skip
    result = _athena_load()
    (note,) = [n for n in result.notes if "archived in S3 Glacier" in n]
    assert "is not known: its LOCATION could not be listed (" in note and "nosuchbucket" in note
