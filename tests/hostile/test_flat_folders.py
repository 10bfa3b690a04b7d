"""A flat folder of log files named like CloudTrail's is judged by the regions and days of their
names, as a trail folder is by its folders.

An analyst downloads some of the trail's log files from the S3 console (or ``aws s3 cp`` of some
objects, a colleague's zip extracted) into one flat folder: the files keep CloudTrail's names,
``<account>_CloudTrail_<region>_<YYYYMMDD>T<HHmm>Z_<unique>.json.gz``. Read with only the
us-east-1 files there, it said "60 events from 60 log file(s)", complete, while the key's calls
in eu-west-1 and ap-southeast-1 had never been copied: files outside the trail's dated layout
were not judged at all. Now they are judged per account of the source, from their names (the
same issues as a trail folder's, saying the regions and days come from the names). Files named
otherwise (exports, JSON lines) still claim nothing. Catalogue: docs/hostile-inputs.md,
"Regions and days not there".
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import date
from pathlib import Path

import boto3
import pandas as pd
import pytest

from tests.cli_run import issues, run
from tests.fake_aws import FakeAws
from tests.hostile import test_digests as digest_helpers
from tests.hostile.test_digests import (
    LOCAL,
    SEAL_ALGORITHM,
    VERIFIED,
    present,
    publish_key,
    sign,
    write_digests,
)
from torinvest.aws import DEFAULT_REGIONS
from torinvest.case import sample_case
from torinvest.sources.logs import list_logs
from torinvest.sources.logs import listing as listing_module
from torinvest.sources.logs.coverage import FLAT_WORDS
from torinvest.sources.logs.model import KnownRegions, Narrowing

CASE = sample_case()
ACCOUNT = "218007301253"
KEY = "AKIATFQR7NSCUXC3DDDP"  # its calls: us-east-1, eu-west-1, ap-southeast-1 on 2023-07-10
NOBODY = "AKIANOBODY0000000000"
US_EAST_1 = sorted(CASE.cloudtrail.rglob(f"{ACCOUNT}_CloudTrail_us-east-1_*.json.gz"))
FLAT = f"{ACCOUNT}_CloudTrail_* files"


def _flat(tmp_path: Path, files: list[Path] = US_EAST_1) -> Path:
    """The files copied into one flat folder, keeping their names (as the S3 console saves)."""
    folder = tmp_path / "downloads"
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder


@pytest.fixture(params=["local", "s3"])
def flat(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The us-east-1 log files in a flat folder, or under a flat S3 prefix (no AWSLogs/)."""
    if request.param == "local":
        return str(_flat(tmp_path))
    moto = request.getfixturevalue("moto")
    request.getfixturevalue("monkeypatch").setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="evidence")
    for f in US_EAST_1:
        s3.put_object(Bucket="evidence", Key=f"case-42/{f.name}", Body=f.read_bytes())
    return "s3://evidence/case-42/"


def _no_file_named(regions: list[str], source: str) -> str:
    return (
        f"no log file named for region(s) {', '.join(regions)}: no log file of those regions "
        "here at all, so its events, if any, were not read; they are enabled for the account "
        f"({source}) and were not asked with --regions: the trail does not log them (a "
        "single-region trail, or one that leaves them out), or nothing was logged there in the "
        "window, or their files are not here; read those regions' log files from the trail that "
        "records them, or LookupEvents (--lookup), or name the key's regions with --regions "
        f"({FLAT_WORDS})"
    )


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_flat_folder_of_one_regions_files_names_the_regions_it_lacks(
    tmp_path: Path, engine: str
) -> None:
    """The reproduction: no --regions, offline: the partition's default regions are judged."""
    folder = _flat(tmp_path)
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--engine", engine,
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("60 events from 60 log file(s)")  # what is there is read
    missing = sorted(DEFAULT_REGIONS["aws"] - {"us-east-1"})
    offline = (
        "the regions enabled in every account of the aws partition; whether the account "
        "enabled an opt-in region is not known offline"
    )
    assert issues(err) == [
        f"torinvest: issue: {folder} ({FLAT}): " + _no_file_named(missing, offline)
    ]
    assert "partial result" in err


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_flat_folder_read_with_no_window_names_the_regions_it_lacks(
    tmp_path: Path, engine: str
) -> None:
    """No window, a mistyped key, 5 us-east-1 files copied flat: "the sources were read and hold
    no event" alone (complete) would be a confident wrong answer — the other regions were never
    copied. The regions are judged as with a window (days are not: there is no window)."""
    folder = _flat(tmp_path, US_EAST_1[:5])
    out_file = tmp_path / "e.csv"
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", NOBODY, "--engine", engine,
        "--out", str(out_file),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("0 events")
    assert "hold no event" not in err and "not an access problem" not in err
    assert f"no event of {NOBODY} in what could be read" in err
    missing = sorted(DEFAULT_REGIONS["aws"] - {"us-east-1"})
    offline = (
        "the regions enabled in every account of the aws partition; whether the account "
        "enabled an opt-in region is not known offline"
    )
    no_window = _no_file_named(missing, offline).replace("in the window", "at all")
    assert issues(err) == [f"torinvest: issue: {folder} ({FLAT}): " + no_window]
    said = json.loads((tmp_path / "e.csv.reading.json").read_text())
    assert said["state"] == "incomplete"
    assert "no log file for" not in json.dumps(said)  # days: not judged without a window


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_regions_asked_and_days_of_the_window_are_judged_by_the_names(
    flat: str, engine: str, tmp_path: Path
) -> None:
    """--regions: the regions asked (eu-west-1 has no file); the window's days per region with
    files (2023-07-11 has none). Local folders and S3 prefixes alike."""
    code, out, err = run(
        "events", "--logs", flat, "--access-key", KEY, "--regions", "us-east-1,eu-west-1",
        "--start", "2023-07-10", "--end", "2023-07-11", "--engine", engine,
        "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("60 events from ")
    root = flat.rstrip("/")
    assert issues(err) == [
        f"torinvest: issue: {root} ({FLAT}): no log file named for region(s) eu-west-1: no log "
        "file of that region here at all, so its events, if any, were not read "
        f"({FLAT_WORDS})",
        f"torinvest: issue: {root} ({ACCOUNT}_CloudTrail_us-east-1_* files): no log file for "
        "2023-07-11 (1 of the window's 2 UTC day(s)): nothing was logged there those days, or "
        "logging stopped, or the files are not here; the events of those days, if any, were "
        f"not read ({FLAT_WORDS})",
    ]


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_flat_s3_prefix_is_judged_by_the_accounts_enabled_regions(
    engine: str, fake_aws: FakeAws, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --regions, on S3: the enabled regions of the credentials' account (DescribeRegions),
    as a trail on S3 is judged."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="evidence")
    for f in US_EAST_1:
        s3.put_object(Bucket="evidence", Key=f"case-42/{f.name}", Body=f.read_bytes())
    fake_aws.enabled_regions = ["ap-southeast-1", "eu-west-1", "us-east-1"]
    code, out, err = run(
        "events", "--logs", "s3://evidence/case-42/", "--access-key", KEY, "--engine", engine,
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("60 events from ")
    assert issues(err) == [
        f"torinvest: issue: s3://evidence/case-42 ({FLAT}): "
        + _no_file_named(["ap-southeast-1", "eu-west-1"], "ec2:DescribeRegions")
    ]


def test_every_region_and_day_present_is_no_issue(tmp_path: Path) -> None:
    """The whole sample trail flattened, judged for its regions: nothing missing, nothing said."""
    folder = _flat(tmp_path, sorted(CASE.cloudtrail.rglob("*.json.gz")))
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY,
        "--regions", "us-east-1,eu-west-1,ap-southeast-1",
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("64 events from ")
    assert issues(err) == []


def _day(day: str) -> pd.Timestamp:
    return pd.Timestamp(day, tz="UTC")


def _named(folder: Path, *names: str) -> None:
    """Log files of those names (one record each: the listing reads names only)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        with gzip.open(folder / name, "wt") as f:
            json.dump({"Records": []}, f)


def test_a_mix_of_accounts_is_judged_per_account(tmp_path: Path) -> None:
    """Two accounts' files in one folder: each account is judged by its own regions and days
    (the other's files stand for nothing of it)."""
    folder = tmp_path / "mixed"
    _named(
        folder,
        "111122223333_CloudTrail_us-east-1_20230710T1205Z_AAAAAAAAAAAAAAAA.json.gz",
        "111122223333_CloudTrail_eu-west-1_20230710T1205Z_BBBBBBBBBBBBBBBB.json.gz",
        "444455556666_CloudTrail_us-east-1_20230711T0005Z_CCCCCCCCCCCCCCCC.json.gz",
    )
    narrowing = Narrowing(
        regions=frozenset({"us-east-1", "eu-west-1"}),
        start=_day("2023-07-10"),
        end=_day("2023-07-12"),
    )
    listing = list_logs(folder, narrowing)
    got = [(i.source, i.problem.split(":")[0].split(" (")[0]) for i in listing.gaps]
    assert got == [
        (f"{folder} (111122223333_CloudTrail_eu-west-1_* files)", "no log file for 2023-07-11"),
        (f"{folder} (111122223333_CloudTrail_us-east-1_* files)", "no log file for 2023-07-11"),
        (
            f"{folder} (444455556666_CloudTrail_* files)",
            "no log file named for region(s) eu-west-1",
        ),
        (f"{folder} (444455556666_CloudTrail_us-east-1_* files)", "no log file for 2023-07-10"),
    ]
    assert all(i.problem.endswith(f"({FLAT_WORDS})") for i in listing.gaps)


def test_the_findings_region_is_expected_of_a_flat_folder(tmp_path: Path) -> None:
    """The regions the key is known to have called (the finding's) are judged as in a trail
    folder of their account, with no --regions."""
    folder = tmp_path / "flat"
    _named(folder, f"{ACCOUNT}_CloudTrail_us-east-1_20230710T1205Z_AAAAAAAAAAAAAAAA.json.gz")
    known = KnownRegions((("ap-south-1", "the finding's region"),), ACCOUNT)
    narrowing = Narrowing(start=_day("2023-07-10"), end=_day("2023-07-10"), known=known)
    listing = list_logs(folder, narrowing)
    problems = [i.problem for i in listing.gaps if i.source == f"{folder} ({FLAT})"]
    assert problems[0].startswith(
        "no log file named for region(s) ap-south-1: no log file of that region here at all, so "
        "its events, if any, were not read — and the key called it (ap-south-1: the finding's "
        "region)"
    )
    assert problems[0].endswith(f"({FLAT_WORDS})")


def test_files_not_named_like_cloudtrails_claim_nothing(tmp_path: Path) -> None:
    """Exports and renamed files say nothing of regions or days: nothing is claimed of them."""
    folder = tmp_path / "exports"
    folder.mkdir()
    for i, f in enumerate(US_EAST_1):
        shutil.copy(f, folder / f"export-{i}.json.gz")
    code, _out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--regions", "eu-west-1",
        "--start", "2023-07-01", "--end", "2023-07-11", "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == []


def test_a_file_given_by_name_and_copies_beside_their_trail_are_not_judged_apart(
    tmp_path: Path,
) -> None:
    """One log file named on the command line is read whatever its name says; log files of an
    account copied beside its trail folder in the same source leave the judging to the trail
    folder (its issues, not a second set for the copies)."""
    code, _out, err = run(
        "events", "--logs", str(US_EAST_1[0]), "--access-key", KEY,
        "--start", "2023-07-10", "--end", "2023-07-11", "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == []
    root = tmp_path / "case"
    shutil.copytree(CASE.cloudtrail, root)
    for f in US_EAST_1[:2]:
        shutil.copy(f, root / f.name)
    code, _out, err = run(
        "events", "--logs", str(root), "--access-key", KEY, "--regions", "us-east-1,eu-west-1",
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "e2.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == []


# --------------------------------------------------------------------------------------------
# a flat folder of another account's records, not named like CloudTrail's
# --------------------------------------------------------------------------------------------
RECORDED = "123837392027"  # the sample records' recipientAccountId
OTHER = "111122223333"


def _exports_of(folder: Path, account: str, *, lookup: bool = False) -> Path:
    """The sample trail's log files as ``account`` recorded them (their records' account IDs),
    saved under export names that name no account; ``lookup``: as saved LookupEvents answers
    (``aws cloudtrail lookup-events --output json``: each record a ``CloudTrailEvent`` string)."""
    folder.mkdir()
    for i, f in enumerate(sorted(CASE.cloudtrail.rglob("*.json.gz"))):
        doc = json.loads(gzip.decompress(f.read_bytes()).decode().replace(RECORDED, account))
        if lookup:
            doc = {
                "Events": [
                    {
                        "EventId": r["eventID"],
                        "EventName": r["eventName"],
                        "EventTime": r["eventTime"],
                        "CloudTrailEvent": json.dumps(r),
                    }
                    for r in doc["Records"]
                ]
            }
        (folder / f"export-{i}.json.gz").write_bytes(gzip.compress(json.dumps(doc).encode()))
    return folder


@pytest.mark.parametrize(
    ("engine", "lookup"), [("files", False), ("duckdb", False), ("files", True)]
)
def test_exports_of_another_accounts_records_are_could_not_look_in_the_findings(
    tmp_path: Path, engine: str, lookup: bool
) -> None:
    """Files whose names give no account, all holding another account's records: what they
    hold is said (the records' account) and that the finding's account is not in it — "could
    not look in account …" (exit 3), as a trail folder of another account reads — never "no
    event in the finding's account" read from sources that may hold it."""
    folder = _exports_of(tmp_path / "exports", OTHER, lookup=lookup)
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--account", RECORDED,
        "--engine", engine, "--start", "2023-07-10", "--end", "2023-07-10",
        "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 3, err
    assert out.startswith("64 events from 62 ")
    assert (
        f"torinvest: error: could not look in account {RECORDED} (the finding's): the 62 log "
        f"file(s) read are of account(s) {OTHER} (their records' recipientAccountId, or their "
        "AWSLogs/<account>/ folders or file names); none can hold a call recorded in account "
        f"{RECORDED}"
    ) in err
    assert "no event in account" not in err


def test_exports_of_the_findings_account_or_naming_no_account_are_read_as_its(
    tmp_path: Path,
) -> None:
    """The same exports of the finding's own account are its reading (the key's events there);
    one record naming no account leaves its file unplaced: it may hold any account, so the
    reading is not "could not look"."""
    folder = _exports_of(tmp_path / "own", RECORDED)
    code, _out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--account", RECORDED,
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert "could not look" not in err
    folder = _exports_of(tmp_path / "other", OTHER)
    first = folder / "export-0.json.gz"
    doc = json.loads(gzip.decompress(first.read_bytes()))
    del doc["Records"][0]["recipientAccountId"]
    first.write_bytes(gzip.compress(json.dumps(doc).encode()))
    code, _out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--account", RECORDED,
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "e2.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert "could not look" not in err


# --------------------------------------------------------------------------------------------
# the digest files downloaded beside the log files
# --------------------------------------------------------------------------------------------
DIGEST_WINDOW = ("--start", "2023-07-08", "--end", "2023-07-11")  # log files on 2023-07-10 only


def _digested_flat(tmp_path: Path, extra: list[str] = ()) -> tuple[Path, Path]:
    """The sample trail with a digest an hour of us-east-1 (naming its log files, and the keys
    ``extra``: delivered, then deleted), its us-east-1 log and digest files flattened into one
    folder as the S3 console saves them: (the trail, the flat folder)."""
    trail = tmp_path / "trail"
    shutil.copytree(CASE.cloudtrail, trail)
    write_digests(trail, "us-east-1", [*present(trail, "us-east-1"), *extra])
    folder = tmp_path / "downloads"
    folder.mkdir()
    for f in [*US_EAST_1, *(trail / "AWSLogs").rglob("*_CloudTrail-Digest_*.json.gz")]:
        shutil.copy(f, folder / f.name)
    return trail, folder


def _digest_events(source: str, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        "events", "--logs", source, "--access-key", KEY, "--regions", "us-east-1",
        *DIGEST_WINDOW, "--out", str(tmp_path / "e.csv"), *extra,
    )  # fmt: skip


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_flat_digest_files_vouch_for_quiet_days(tmp_path: Path, engine: str) -> None:
    """The reproduction: the days without a log file read as a gap although the digest files
    downloaded with the log files show nothing was delivered then. Now they are read as a trail
    folder's: the quiet days are a note in the trail folder's words, and nothing is an issue."""
    _trail, folder = _digested_flat(tmp_path)
    code, out, err = _digest_events(str(folder), tmp_path, "--engine", engine)
    assert code == 0, err
    assert out.startswith("60 events from ")
    assert issues(err) == []
    assert (
        f"torinvest: note: {folder} ({FLAT}): digest files show no log file was delivered on "
        "the window's days without one in us-east-1 (3 day(s)): nothing was logged there those "
        f"days ({LOCAL} ("
    ) in err


def test_flat_digest_files_name_the_log_files_missing_from_the_folder(tmp_path: Path) -> None:
    """Log files the digests name that are not in the folder (deleted, or not downloaded): the
    trail folder's sharp issue, on the day they were delivered."""
    gone = (
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2023/07/09/{ACCOUNT}_CloudTrail_us-east-1_"
        "20230709T0305Z_x1.json.gz"
    )
    _trail, folder = _digested_flat(tmp_path, [gone])
    code, _out, err = _digest_events(str(folder), tmp_path)
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {folder} ({ACCOUNT}_CloudTrail_us-east-1_* files): the trail "
        f"delivered 1 log file(s) here on 2023-07-09 that are not in this folder (digest files "
        f"name them, e.g. {gone}): their events were not read"
    ]
    assert "us-east-1 (2 day(s))" in err  # the other days without a log file: quiet


def test_a_flat_log_file_altered_since_delivery_is_named(tmp_path: Path) -> None:
    """A log file whose content is not what the digest says CloudTrail delivered: named, as in
    a trail folder."""
    _trail, folder = _digested_flat(tmp_path)
    altered = folder / US_EAST_1[0].name
    doc = json.loads(gzip.decompress(altered.read_bytes()))
    doc["Records"][0]["sourceIPAddress"] = "198.51.100.7"
    altered.write_bytes(gzip.compress(json.dumps(doc).encode()))
    code, _out, err = _digest_events(str(folder), tmp_path)
    assert code == 0, err
    [issue] = issues(err)
    assert issue.startswith(
        f"torinvest: issue: {altered}: hash does not match the trail's digest file ({folder}/"
        f"{ACCOUNT}_CloudTrail-Digest_us-east-1_"
    )
    assert "this log file may have been altered since CloudTrail delivered it" in issue


def test_flat_digest_files_on_s3_are_verified(
    tmp_path: Path, request: pytest.FixtureRequest, fake_aws: FakeAws, moto: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A flat S3 prefix of downloads: the digests' signatures (their objects' metadata) are
    checked against CloudTrail's public keys, as in the trail's bucket."""
    _trail, folder = _digested_flat(tmp_path)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    publish_key(fake_aws)
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="evidence")
    for f in sorted(folder.iterdir()):
        meta = {}
        if "_CloudTrail-Digest_" in f.name:
            meta = {"signature": sign(gzip.decompress(f.read_bytes())), **SEAL_ALGORITHM}
        s3.put_object(
            Bucket="evidence", Key=f"case-42/{f.name}", Body=f.read_bytes(), Metadata=meta
        )
    code, _out, err = _digest_events("s3://evidence/case-42/", tmp_path)
    assert code == 0, err
    assert issues(err) == []
    assert (
        f"torinvest: note: s3://evidence/case-42 ({FLAT}): digest files show no log file was "
        "delivered on the window's days without one in us-east-1 (3 day(s)): nothing was "
        f"logged there those days {VERIFIED}"
    ) in err


def test_without_flat_digest_files_the_days_stay_an_issue(tmp_path: Path) -> None:
    """Digest files of another account (or none): the days without a log file stay the gap."""
    folder = _flat(tmp_path)
    code, _out, err = _digest_events(str(folder), tmp_path)
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {folder} ({ACCOUNT}_CloudTrail_us-east-1_* files): no log file for "
        "2023-07-08–2023-07-09, 2023-07-11 (3 of the window's 4 UTC day(s)): nothing was logged "
        "there those days, or logging stopped, or the files are not here; the events of those "
        f"days, if any, were not read ({FLAT_WORDS})"
    ]


def _another_trails_digests(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, logs: list[str], **days: date
) -> None:
    """Hourly us-east-1 digests of a second trail of the account (``data-events``, its own
    bucket), naming ``logs``, downloaded into the flat folder beside the first trail's files."""
    monkeypatch.setattr(digest_helpers, "TRAIL", "data-events")
    other = tmp_path / "other-trail"
    write_digests(other, "us-east-1", logs, **days)
    for f in other.rglob("*_CloudTrail-Digest_*.json.gz"):
        shutil.copy(f, folder / f.name)


GAP_DAYS = (
    "no log file for 2023-07-08–2023-07-09, 2023-07-11 (3 of the window's 4 UTC day(s)): "
    "nothing was logged there those days, or logging stopped, or the files are not here; the "
    f"events of those days, if any, were not read ({FLAT_WORDS})"
)


@pytest.mark.parametrize("span", ["window", "quiet-days"])
def test_another_trails_digest_files_vouch_for_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, span: str
) -> None:
    """The reproduction: us-east-1's log files in a flat folder beside the digest files of a
    second trail of the account (quiet: its digests name no log file). Over the window, the
    days without a log file were "nothing was logged there" and the 60 genuine files "not
    delivered by CloudTrail … their events may be forged"; with that trail's digests of those
    days only, no issue at all — though the first trail's files of those days were never
    downloaded. A flat folder's names say no trail: a trail's digests judge the files only when
    one of them names one of the files; otherwise that they could not is an issue (the files
    were not checked: another trail's digests, or files CloudTrail did not deliver)."""
    folder = _flat(tmp_path)
    if span == "window":
        _another_trails_digests(folder, tmp_path, monkeypatch, [])
    else:
        for day in (date(2023, 7, 8), date(2023, 7, 9), date(2023, 7, 11)):
            _another_trails_digests(folder, tmp_path, monkeypatch, [], first=day, last=day)
    code, out, err = _digest_events(str(folder), tmp_path)
    assert code == 0, err
    assert out.startswith("60 events from 60 log file(s)")
    assert issues(err) == [
        f"torinvest: issue: {folder} ({FLAT}): the digest files of {ACCOUNT} beside the log "
        "files (of trail(s) data-events) name none of the 60 log file(s) of the window here "
        "(their digests of those files' hours read, at most 24): they are another trail's (a "
        "second trail of the account), or these log files are not what CloudTrail delivered — "
        "they were not used: the days without a log file are judged without them, and the log "
        "files are not checked against them; download the digest files of the trail that "
        f"delivered these log files beside them ({FLAT_WORDS})",
        f"torinvest: issue: {folder} ({ACCOUNT}_CloudTrail_us-east-1_* files): {GAP_DAYS}",
    ]


def test_the_files_trails_digests_judge_them_beside_another_trails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The log files' own trail's digests and a second trail's (naming its own log files, not
    downloaded) in one flat folder: the files' trail judges them (quiet days, no issue); the
    second trail's files are not called missing from this folder."""
    _trail, folder = _digested_flat(tmp_path)
    theirs = (
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2023/07/09/{ACCOUNT}_CloudTrail_us-east-1_"
        "20230709T0305Z_dataevents01.json.gz"
    )
    _another_trails_digests(folder, tmp_path, monkeypatch, [theirs])
    code, _out, err = _digest_events(str(folder), tmp_path)
    assert code == 0, err
    assert issues(err) == []
    assert "us-east-1 (3 day(s))" in err  # the days without a log file: quiet, by its trail


# --------------------------------------------------------------------------------------------
# log files and saved LookupEvents answers in one flat folder
# --------------------------------------------------------------------------------------------
def _answer(files: list[Path], account: str = RECORDED) -> bytes:
    """The records of ``files`` as a saved LookupEvents answer holds them (``aws cloudtrail
    lookup-events --output json``: each record a ``CloudTrailEvent`` string), of ``account``."""
    events = []
    for f in files:
        text = gzip.decompress(f.read_bytes()).decode().replace(RECORDED, account)
        for r in json.loads(text)["Records"]:
            events.append(
                {
                    "EventId": r["eventID"],
                    "EventName": r["eventName"],
                    "ReadOnly": "true",
                    "AccessKeyId": r.get("userIdentity", {}).get("accessKeyId", ""),
                    "EventTime": r["eventTime"],
                    "EventSource": r["eventSource"],
                    "Username": "ci-deployer",
                    "Resources": [],
                    "CloudTrailEvent": json.dumps(r),
                }
            )
    return json.dumps({"Events": events}, indent=4).encode()


def _mixed(tmp_path: Path, account: str = ACCOUNT) -> Path:
    """us-east-1's log files under CloudTrail's names, and eu-west-1's and ap-southeast-1's
    events as saved LookupEvents answers of ``account`` (by default the one the log files'
    names give), in one flat folder."""
    folder = _flat(tmp_path)
    for region in ("eu-west-1", "ap-southeast-1"):
        files = sorted(CASE.cloudtrail.rglob(f"*_CloudTrail_{region}_*.json.gz"))
        (folder / f"lookup-{region}.json").write_bytes(_answer(files, account))
    return folder


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_regions_held_by_saved_lookupevents_answers_beside_the_log_files_are_covered(
    tmp_path: Path, engine: str
) -> None:
    """The reproduction: "no log file named for region(s) ap-southeast-1, eu-west-1" though
    the answers beside the log files hold those regions' management events. Coverage is judged
    by both: no issue; a note says which regions the answers stand for, and what they lack."""
    folder = _mixed(tmp_path)
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--engine", engine,
        "--regions", "us-east-1,eu-west-1,ap-southeast-1",
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("64 events from ")
    assert issues(err) == []
    assert (
        f"torinvest: note: {folder} ({FLAT}): no log file named for region(s) ap-southeast-1, "
        f"eu-west-1; the saved LookupEvents answer(s) beside them ({folder}/lookup-ap-southeast-1"
        f".json, {folder}/lookup-eu-west-1.json) hold their events and were read instead: those "
        "regions' management events only (LookupEvents holds no data events), as far as each "
        "answer was asked for (its time range is not in it)"
    ) in " ".join(err.split())


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_answers_past_the_bound_are_not_opened_and_that_is_said(
    tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A flat folder read with no window opens other files looking for saved answers: at most
    MAX_ANSWERS_OPENED (here 1); the one not opened is said, and its region stays missing."""
    monkeypatch.setattr(listing_module, "MAX_ANSWERS_OPENED", 1)
    folder = _mixed(tmp_path)
    code, _out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--engine", engine,
        "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    said = " ".join(err.split())
    assert (
        "1 file(s) beside the log files named like CloudTrail's were not opened to look for "
        "saved LookupEvents answers (past 1 files or 128 MB opened): the regions they may hold "
        "stay named missing"
    ) in said
    (issue,) = issues(err)
    lacking = issue.partition("no log file named for region(s) ")[2].partition(":")[0]
    assert "eu-west-1" in lacking.split(", ")  # the answer not opened: its region missing
    assert "ap-southeast-1" not in lacking.split(", ")  # the one opened stands for its region


def test_answers_of_another_account_do_not_cover_the_flat_files_account(tmp_path: Path) -> None:
    """Answers holding another account's records say nothing of this account's regions."""
    folder = _mixed(tmp_path, OTHER)
    listing = list_logs(
        folder,
        Narrowing(
            regions=frozenset({"us-east-1", "eu-west-1", "ap-southeast-1"}),
            start=_day("2023-07-10"),
            end=_day("2023-07-10"),
        ),
    )
    assert [i.problem.split(":")[0] for i in listing.gaps] == [
        "no log file named for region(s) ap-southeast-1, eu-west-1"
    ]


def _scoped_answer(
    folder: Path, region: str, *, keys: list[str], user: str, day: str = "2023-07-10"
) -> Path:
    """``region``'s events as a saved LookupEvents answer (of the flat files' account) whose
    events are made with ``keys`` in turn, every one by ``user``: as ``aws cloudtrail
    lookup-events --lookup-attributes AttributeKey=AccessKeyId,AttributeValue=…`` (one key) or
    ``AttributeKey=Username`` saves it; its events moved to ``day`` (asked for that day)."""
    files = sorted(CASE.cloudtrail.rglob(f"*_CloudTrail_{region}_*.json.gz"))
    doc = json.loads(_answer(files, ACCOUNT))
    for n, ev in enumerate(doc["Events"]):
        key = keys[n % len(keys)]
        record = json.loads(ev["CloudTrailEvent"])
        record["userIdentity"]["accessKeyId"] = key
        record["userIdentity"]["userName"] = user
        record["eventTime"] = record["eventTime"].replace("2023-07-10", day)
        ev.update(
            AccessKeyId=key,
            Username=user,
            EventTime=record["eventTime"],
            CloudTrailEvent=json.dumps(record),
        )
    path = folder / f"lookup-{region}.json"
    path.write_text(json.dumps(doc, indent=4))
    return path


OTHER_KEY = "AKIAOTHERKEY00000000"
THIRD_KEY = "AKIATHIRDKEY00000000"


@pytest.mark.parametrize("engine", ["files", "duckdb"])
@pytest.mark.parametrize(
    ("keys", "user", "day", "why"),
    [
        (
            [OTHER_KEY],
            "someone-else",
            "2023-07-10",
            f"every one of its 2 event(s) is of AccessKeyId {OTHER_KEY}: exported for another "
            "key, user, API or service than the key sought (or nothing else was called there), "
            "it holds no other's calls",
        ),
        (
            [OTHER_KEY, THIRD_KEY],
            "someone-else",
            "2023-07-10",
            "every one of its 2 event(s) is of Username someone-else: exported for another",
        ),
        (
            [KEY],
            "ci-deployer",
            "2023-06-10",
            "its events are of 2023-06-10T12:12:37Z–2023-06-10T12:13:20Z, none reaching the "
            "window: it was asked for another time",
        ),
    ],
    ids=["another-key", "another-user", "another-time"],
)
def test_answers_of_another_key_or_time_do_not_stand_for_the_keys_calls(
    tmp_path: Path, engine: str, keys: list[str], user: str, day: str, why: str
) -> None:
    """The reproduction: a flat folder of us-east-1's log files beside a saved answer of
    eu-west-1 exported for another key (every event of it made with AKIAOTHER…): "60 events",
    no issue, a complete result, though the key's two eu-west-1 calls were not in anything
    read — the answer stood for the region as if it held every caller's calls. An answer whose
    every event shares another key, user, API or service holds no other's, and one whose events
    are all of another month was asked for another time (the key's own, of June): the region is
    the issue it is without it, and a note says why the answer did not count."""
    folder = _flat(tmp_path)
    answer = _scoped_answer(folder, "eu-west-1", keys=keys, user=user, day=day)
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--engine", engine,
        "--regions", "us-east-1,eu-west-1",
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("60 events from ")
    assert [i.split(": no log file of")[0] for i in issues(err)] == [
        f"torinvest: issue: {folder} ({FLAT}): no log file named for region(s) eu-west-1"
    ]
    assert "partial result" in err
    said = " ".join(err.split())
    assert (
        f"torinvest: note: {folder} ({FLAT}): no log file named for region(s) eu-west-1, and the "
        "saved LookupEvents answer(s) beside them of that region do not stand for its events of "
        f"the key in the window ({answer}: {why}"
    ) in said


def test_an_answer_holding_no_event_does_not_stand_for_its_region_in_a_window(
    tmp_path: Path,
) -> None:
    """The reproduction: beside us-east-1's log files, ``lookup-eu-west-1.json`` saved as
    ``{"Events": []}`` (nothing matched, whenever it was asked) made eu-west-1 read "complete,
    0 events" for the window: its region came from its name, and an answer without events was
    never checked for time. A LookupEvents answer does not hold the time it was asked for, so
    an empty one cannot say it was the window's: the region is the issue it is without it, and
    a note says why, and how to read it (--lookup asks for the window itself)."""
    folder = _flat(tmp_path)
    answer = folder / "lookup-eu-west-1.json"
    answer.write_text(json.dumps({"Events": []}))
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--regions", "us-east-1,eu-west-1",
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("60 events from ")
    assert [i.split(": no log file of")[0] for i in issues(err)] == [
        f"torinvest: issue: {folder} ({FLAT}): no log file named for region(s) eu-west-1"
    ]
    assert "partial result" in err
    said = " ".join(err.split())
    assert (
        f"do not stand for its events of the key in the window ({answer}: it holds no event, and "
        "a LookupEvents answer does not hold the time it was asked for: whether nothing was "
        "called there in the window, or it was asked for another time, is not known)"
    ) in said
    assert "read that region with --lookup instead, which asks for the window itself" in said
    # without a window, any time it was asked for is the window's: it stands for the region
    listing = list_logs(folder, Narrowing(regions=frozenset({"us-east-1", "eu-west-1"})))
    assert listing.gaps == []


def test_an_answer_of_the_keys_user_stands_for_its_region(tmp_path: Path) -> None:
    """An answer exported for the key's user (every event of one Username, some of them the
    key's) holds every call of the key there: it stands for the region, as one of the key's
    own does."""
    folder = _flat(tmp_path)
    _scoped_answer(folder, "eu-west-1", keys=[KEY, OTHER_KEY], user="ci-deployer")
    code, out, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--regions", "us-east-1,eu-west-1",
        "--start", "2023-07-10", "--end", "2023-07-10", "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("61 events from ")  # the key's one eu-west-1 call of the two
    assert issues(err) == []


def test_a_flat_log_file_no_digest_names_is_unvouched(tmp_path: Path) -> None:
    """A log file put in the folder since, on an hour the digests cover without naming it:
    the trail folder's unvouched issue, once."""
    _trail, folder = _digested_flat(tmp_path)
    planted = f"{ACCOUNT}_CloudTrail_us-east-1_20230709T0305Z_planted0000000.json.gz"
    _named(folder, planted)
    code, _out, err = _digest_events(str(folder), tmp_path)
    assert code == 0, err
    [issue] = issues(err)
    assert issue.startswith(
        f"torinvest: issue: {folder} ({ACCOUNT}_CloudTrail_us-east-1_* files): 1 log file(s) "
        "here on 2023-07-09 are not named by the trail's digest files, which cover when they "
        f"were written (e.g. 2023/07/09/{planted}): CloudTrail did not deliver them"
    )


# --------------------------------------------------------------------------------------------
# a log file given twice (flat beside the trail's layout, a folder given as two paths, the
# same files in two sources) is read and counted once; each account's regions judged once
# --------------------------------------------------------------------------------------------
REGIONS_FLAG = ("--regions", "us-east-1,eu-west-1,ap-southeast-1")
COPIED = US_EAST_1[:5]


def _events(tmp_path: Path, *argv: str) -> tuple[str, str]:
    code, out, err = run(
        "events", *argv, "--access-key", KEY, "--start", "2023-07-10", "--end", "2023-07-10",
        "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0, err
    return out, err


def _twice_note(err: str) -> str:
    [note] = [n for n in err.splitlines() if "given twice, read once" in n]
    return note


def _trail_with_copies(tmp_path: Path) -> Path:
    """The sample trail (62 log files) with 5 of its us-east-1 files also downloaded flat at
    its top, beside ``AWSLogs/``."""
    trail = tmp_path / "trail"
    shutil.copytree(CASE.cloudtrail, trail)
    for f in COPIED:
        shutil.copy(f, trail / f.name)
    return trail


@pytest.fixture(params=["local", "s3"])
def two_sources(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """The sample trail, and a flat folder of 5 of its us-east-1 files elsewhere: (the trail's
    source, the flat folder's). Locally (the trail with the copies beside its layout too), or
    under two S3 prefixes."""
    if request.param == "local":
        return str(_trail_with_copies(tmp_path)), str(_flat(tmp_path, COPIED))
    moto = request.getfixturevalue("moto")
    request.getfixturevalue("monkeypatch").setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="evidence")
    for f in sorted(CASE.cloudtrail.rglob("*.json.gz")):
        key = f.relative_to(CASE.cloudtrail).as_posix()
        s3.put_object(Bucket="evidence", Key=f"trail/{key}", Body=f.read_bytes())
    for f in COPIED:
        s3.put_object(Bucket="evidence", Key=f"downloads/{f.name}", Body=f.read_bytes())
    return "s3://evidence/trail/", "s3://evidence/downloads/"


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_log_files_copied_beside_the_trail_layout_are_counted_once(
    tmp_path: Path, engine: str
) -> None:
    """The reproduction: 5 log files downloaded flat beside the trail's ``AWSLogs/`` layout
    said "64 events from 67 log file(s)" (the events de-duplicated, the files not). Each is
    read once, counted once, and a note says so."""
    trail = str(_trail_with_copies(tmp_path))
    out, err = _events(tmp_path, "--logs", trail, *REGIONS_FLAG, "--engine", engine)
    assert out.startswith("64 events from 62 log file(s)")
    note = _twice_note(err)
    assert note.startswith("torinvest: note: 5 log file(s) given twice, read once — ")
    assert f"{COPIED[0].name} is " in note and "/AWSLogs/" in note  # the layout's is read
    assert issues(err) == []
    assert "the 62 log file(s) read hold no data events" in err


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_the_same_files_in_two_sources_are_counted_once_and_judged_once(
    two_sources: tuple[str, str], tmp_path: Path, engine: str
) -> None:
    """A flat folder of 5 us-east-1 files given beside the trail (``--logs TRAIL --logs
    DOWNLOADS``): its files are the trail's, and the regions it lacks are the trail's: no issue
    (was: "no log file named for region(s) ap-southeast-1, eu-west-1" of the flat folder, whose
    account's files in those regions were read from the trail). Without --regions, what both
    lack is one issue (the first source's), not one per source."""
    trail, flat = two_sources
    out, err = _events(tmp_path, "--logs", trail, "--logs", flat, *REGIONS_FLAG, "--engine", engine)
    assert out.startswith("64 events from 62 log file(s)")
    copies = 5 if trail.startswith("s3://") else 10  # locally, 5 beside the layout too
    assert f"{copies} log file(s) given twice, read once" in _twice_note(err)
    assert issues(err) == []
    if trail.startswith("s3://"):
        return  # on S3 the enabled regions are asked (tests above): local suffices here
    out, err = _events(tmp_path, "--logs", trail, "--logs", flat)
    [issue] = issues(err)
    assert issue.startswith(f"torinvest: issue: {trail}/AWSLogs/{ACCOUNT}/CloudTrail/: no folder")


DATA_FILE = f"{ACCOUNT}_CloudTrail_us-east-1_20230710T1300Z_DataEvents000000.json.gz"


def _data_log_file() -> bytes:
    """A log file of two data events (S3 GetObject by anyone: not the key's), compact as
    CloudTrail writes it."""
    records = [
        {
            "eventVersion": "1.09",
            "eventID": f"d{n}000000-0000-0000-0000-000000000000",
            "eventTime": f"2023-07-10T13:0{n}:00Z",
            "eventSource": "s3.amazonaws.com",
            "eventName": "GetObject",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "10.0.0.1",
            "eventCategory": "Data",
            "managementEvent": False,
            "readOnly": True,
            "recipientAccountId": ACCOUNT,
            "userIdentity": {"type": "AWSService", "invokedBy": "s3.amazonaws.com"},
        }
        for n in (1, 2)
    ]
    return gzip.compress(json.dumps({"Records": records}, separators=(",", ":")).encode())


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_copies_under_another_etag_are_read_but_counted_once(
    moto: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine: str
) -> None:
    """The reproduction: 6 of the trail's log files copied to another prefix by a multipart
    upload (``aws s3 cp`` of a large file, a copy re-encrypted with SSE-KMS: another ETag) were
    not told as copies before reading: "64 events from 69 log file(s)", and the trail "records
    data events (4 in the 69 log file(s) read)" — the copied file's two counted twice (its
    events were counted once: the frame keeps one of each record). The files that may be copies
    (a name another file listed has) are fingerprinted as read: the copies are counted once —
    files, events, data events — and a note names them."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="evidence")
    day = f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2023/07/10"
    for f in sorted(CASE.cloudtrail.rglob("*.json.gz")):
        key = f.relative_to(CASE.cloudtrail).as_posix()
        s3.put_object(Bucket="evidence", Key=f"trail/{key}", Body=f.read_bytes())
    s3.put_object(Bucket="evidence", Key=f"trail/{day}/{DATA_FILE}", Body=_data_log_file())
    for name, body in [*((f.name, f.read_bytes()) for f in COPIED), (DATA_FILE, _data_log_file())]:
        key = f"downloads/{name}"
        upload = s3.create_multipart_upload(Bucket="evidence", Key=key)["UploadId"]
        part = s3.upload_part(Bucket="evidence", Key=key, UploadId=upload, PartNumber=1, Body=body)
        s3.complete_multipart_upload(
            Bucket="evidence", Key=key, UploadId=upload,
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )  # fmt: skip
    assert s3.head_object(Bucket="evidence", Key=f"downloads/{DATA_FILE}")["ETag"].endswith('-1"')
    trail, flat = "s3://evidence/trail/", "s3://evidence/downloads/"
    out, err = _events(tmp_path, "--logs", trail, "--logs", flat, *REGIONS_FLAG, "--engine", engine)
    assert out.startswith("64 events from 63 log file(s)")
    said = " ".join(err.split())
    assert (
        "torinvest: note: 6 log file(s) hold the same content as another log file read, under "
        "another ETag or compression (a multipart or re-encrypted S3 copy, a file gunzipped; "
        f"e.g. {flat}{COPIED[0].name} is {trail}AWSLogs/"
    ) in said
    assert "the trail records data events (2 in the 63 log file(s) read)" in said
    assert issues(err) == []


def test_a_folder_given_twice_as_two_paths_is_read_and_judged_once(tmp_path: Path) -> None:
    """The same folder as two ``--logs`` (``DIR`` and ``DIR/../trail``): 124 files counted
    and the regions it lacks said twice (grouped as "several sources: 2 folders"); now 62, the
    issue once, a note."""
    trail = tmp_path / "trail"
    shutil.copytree(CASE.cloudtrail, trail)
    again = tmp_path / "trail" / ".." / "trail"
    out, err = _events(tmp_path, "--logs", str(trail), "--logs", str(again))
    assert out.startswith("64 events from 62 log file(s)")
    assert _twice_note(err).startswith("torinvest: note: 62 log file(s) given twice, read once")
    [issue] = issues(err)
    assert issue.startswith(f"torinvest: issue: {trail}/AWSLogs/{ACCOUNT}/CloudTrail/: no folder")


def test_a_file_of_the_same_name_with_another_content_is_read(tmp_path: Path) -> None:
    """Same name, same size, other bytes: not a copy — both read (their events kept)."""
    first, second = tmp_path / "a", tmp_path / "b"
    name = f"{ACCOUNT}_CloudTrail_us-east-1_20230710T1205Z_AAAAAAAAAAAAAAAA.json"
    for folder, event in ((first, "11111111"), (second, "22222222")):
        folder.mkdir()
        record = {"eventVersion": "1.08", "eventID": f"{event}-aaaa", "eventName": "GetUser"}
        (folder / name).write_text(json.dumps({"Records": [record]}))
    listing = list_logs([first, second], Narrowing())
    assert sorted(f.location for f in listing.files) == [str(first / name), str(second / name)]
    assert not [n for n in listing.asides if "given twice" in n]
