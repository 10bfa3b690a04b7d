"""A trail's digest files tell a quiet day from a lost one. A day of the window with no log file
in a region folder is an issue — unless the trail's hourly digest files (log file integrity
validation) cover every hour of it and name no log file: then nothing was logged there, and the
reading is complete. Digests that name log files the folder lacks make a sharper issue; hours no
readable digest covers, an unreadable or forged digest, or no digest folder leave the issue as
it was. Days that hold log files are compared with the digests too: log files deleted from
them (the digests name them) are the same sharper issue. Catalogue: docs/hostile-inputs.md, "Regions and days not there".
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.client
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.cli_run import issues, run
from tests.fake_aws import FakeAws
from tests.moto_s3 import put_objects
from torinvest.case import sample_case
from torinvest.sources.logs import load_logs

CASE = sample_case()
ACCOUNT = "218007301253"
KEY = "AKIATFQR7NSCUXC3DDDP"  # 64 calls in the sample case, all on 2023-07-10
TRAIL = "management-events"
WINDOW = ("--start", "2023-07-08", "--end", "2023-07-11")  # log files on 2023-07-10 only
FOLDER = f"AWSLogs/{ACCOUNT}/CloudTrail/"
GAP = (
    "nothing was logged there those days, or logging stopped, or the files are not here; "
    "the events of those days, if any, were not read"
)


def delivered(key: str) -> datetime:
    """When CloudTrail delivered a log file (the time in its name)."""
    stamp = key.rsplit("/", 1)[-1].split("_")[3]
    return datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)


#: The trail's home region (a multi-region trail: the same in every region's digest names).
HOME = "us-east-1"


def digest_key(region: str, end: datetime, backfill: bool = False) -> str:
    return (
        f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}/{end:%Y/%m/%d}/{ACCOUNT}_CloudTrail-Digest_"
        f"{region}_{TRAIL}_{HOME}_{end:%Y%m%dT%H%M%SZ}{'_backfill' if backfill else ''}.json.gz"
    )


def digest(
    region: str,
    start: datetime,
    end: datetime,
    logs: Iterable[str],
    sums: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """A digest file as CloudTrail writes it (its documented fields); ``sums``: the SHA-256 of
    each log file's content (what the trail delivered)."""
    stamp = "%Y-%m-%dT%H:%M:%SZ"
    return {
        "awsAccountId": ACCOUNT,
        "digestStartTime": f"{start:{stamp}}",
        "digestEndTime": f"{end:{stamp}}",
        "digestS3Bucket": "org-trail",
        "digestS3Object": digest_key(region, end),
        "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": None,
        "oldestEventTime": None,
        "previousDigestS3Bucket": "org-trail",
        "previousDigestS3Object": digest_key(region, start),
        "previousDigestHashValue": "a" * 64,
        "previousDigestHashAlgorithm": "SHA-256",
        "previousDigestSignature": "b" * 512,
        "logFiles": [
            {
                "s3Bucket": "org-trail",
                "s3Object": key,
                "hashValue": (sums or {}).get(key, "c" * 64),
                "hashAlgorithm": "SHA-256",
                "newestEventTime": f"{delivered(key) - timedelta(minutes=1):{stamp}}",
                "oldestEventTime": f"{delivered(key) - timedelta(minutes=5):{stamp}}",
            }
            for key in sorted(logs)
        ],
    }


def write_digests(
    root: Path,
    region: str,
    logs: Iterable[str] = (),
    *,
    first: date = date(2023, 7, 8),
    last: date = date(2023, 7, 11),
    skip_hours: Iterable[datetime] = (),
) -> list[Path]:
    """Hourly digests of ``region`` (ending at hh:01:31) covering ``first`` to ``last`` whole
    (the last one in the next day's folder), each naming the ``logs`` delivered in its hour."""
    when = [(k, delivered(k)) for k in logs]  # each name parsed once (not once an hour)
    skip = set(skip_hours)
    end = datetime(first.year, first.month, first.day, 0, 1, 31, tzinfo=UTC)
    stop = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1, hours=1)
    written = []
    while end <= stop:
        start = end - timedelta(hours=1)
        if start.replace(minute=0, second=0) not in skip:
            named = [k for k, t in when if start <= t < end]
            here = {k: root / k[k.rfind("AWSLogs/") :] for k in named}  # a copy: below AWSLogs/
            sums = {k: content_hash(p) for k, p in here.items() if p.is_file()}
            path = root / digest_key(region, end)
            path.parent.mkdir(parents=True, exist_ok=True)
            doc = digest(region, start, end, named, sums)
            path.write_bytes(gzip.compress(json.dumps(doc).encode()))
            written.append(path)
        end += timedelta(hours=1)
    return written


def content_hash(path: Path) -> str:
    """A log file's ``hashValue``: the SHA-256 of its content, decompressed."""
    return hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest()


def present(root: Path, region: str) -> list[str]:
    """The keys of ``region``'s log files in the trail under ``root``."""
    return [p.relative_to(root).as_posix() for p in (root / FOLDER / region).rglob("*.json.gz")]


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    """The sample case's trail (log files on 2023-07-10 only) with no digest yet."""
    shutil.copytree(CASE.cloudtrail, tmp_path / "ct")
    return tmp_path / "ct"


#: The trail's signing key (CloudTrail's region key; one for every region here).
SIGNER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
FINGERPRINT = "31e8b5433410dfb61a9dc45cc65b22ff"  # the digests' digestPublicKeyFingerprint
REGIONS = ("ap-southeast-1", "eu-west-1", "us-east-1")


def public_der(key: rsa.RSAPrivateKey) -> bytes:
    """The public half as ListPublicKeys' ``Value`` holds it: DER, PKCS #1 RSAPublicKey."""
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.PKCS1)


@functools.lru_cache(maxsize=4096)
def sign(inflated: bytes, key: rsa.RSAPrivateKey = SIGNER) -> str:
    """The hex signature CloudTrail puts in a digest object's ``x-amz-meta-signature``: of
    ``digestEndTime\\nbucket/key\\nhex(SHA-256 of the digest)\\npreviousDigestSignature``.
    Remembered (PKCS #1 v1.5 signatures are deterministic): the tests sign the same digests of
    the same trail again and again, ~3 ms each."""
    doc = json.loads(inflated)
    previous = doc["previousDigestSignature"]
    text = (
        f"{doc['digestEndTime']}\n{doc['digestS3Bucket']}/{doc['digestS3Object']}\n"
        f"{hashlib.sha256(inflated).hexdigest()}\n{'null' if previous is None else previous}"
    )
    return key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256()).hex()


def publish_key(fake: FakeAws, key: rsa.RSAPrivateKey = SIGNER, fp: str = FINGERPRINT) -> None:
    """``key`` as CloudTrail's public key of every region of the trail, valid in 2023."""
    for region in REGIONS:
        fake.cloudtrail(region).add_public_key(
            public_der(key), fp, datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
        )


def on_s3(
    request: pytest.FixtureRequest,
    trail: Path,
    seals: Mapping[str, Mapping[str, str]] | None = None,
    *,
    versioned: bool = False,
) -> str:
    """The trail (log and digest files) as objects of a bucket on moto: its URL. Each digest
    carries its signature (:data:`SIGNER`, published by the fake ListPublicKeys) as
    CloudTrail writes it, or the metadata ``seals`` gives for its name. Read with credentials
    of the trail's account (moto's STS answers it): the enabled regions are its own.
    ``versioned``: the bucket keeps versions (S3 Versioning enabled before any file)."""
    moto = request.getfixturevalue("moto")
    request.getfixturevalue("monkeypatch").setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    publish_key(request.getfixturevalue("fake_aws"))
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="trail")
    if versioned:
        s3.put_bucket_versioning(Bucket="trail", VersioningConfiguration={"Status": "Enabled"})
    objects = []
    for f in sorted(trail.rglob("*.json.gz")):
        body = f.read_bytes()
        meta: Mapping[str, str] = {}
        if "_CloudTrail-Digest_" in f.name:
            meta = {"signature": sign(gzip.decompress(body)), **SEAL_ALGORITHM}
            meta = (seals or {}).get(f.name, meta)
        objects.append((f.relative_to(trail).as_posix(), body, meta))
    put_objects("trail", objects)  # at once: one PutObject each cost seconds a test
    return "s3://trail"


SEAL_ALGORITHM = {"signature-algorithm": "SHA256withRSA"}
VERIFIED = "(their signatures verified)"
LOCAL = "not verified: a local copy has no S3 metadata, where the signature is"


def events(trail: Path | str, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        "events", "--logs", str(trail), "--regions", "eu-west-1", "--access-key", KEY, *WINDOW,
        "--out", str(tmp_path / "e.jsonl"), *extra,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("where", "engine"), [("local", "files"), ("local", "duckdb"), ("s3", "files")]
)
def test_quiet_days_shown_by_empty_digests_are_no_issue(
    trail: Path, tmp_path: Path, where: str, engine: str, request: pytest.FixtureRequest
) -> None:
    for region in ("eu-west-1", "us-east-1"):  # us-east-1: read with any region asked
        write_digests(trail, region, present(trail, region))
    source = on_s3(request, trail) if where == "s3" else str(trail)
    code, out, err = events(source, tmp_path, "--engine", engine)
    assert code == 0, err
    assert out.startswith("62 events from ")
    assert issues(err) == []
    seals = VERIFIED if where == "s3" else f"({LOCAL} ("
    assert (
        f"torinvest: note: {source}/{FOLDER}: digest files show no log file was delivered on the "
        "window's days without one in eu-west-1 (3 day(s)), us-east-1 (3 day(s)): nothing was "
        f"logged there those days {seals}"
    ) in err


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_an_enabled_region_without_a_log_folder_that_digests_show_quiet_is_a_note(
    trail: Path, tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    """No --regions, on S3: ap-south-1 is enabled for the account and the trail has no log
    folder for it, but its digest folder shows it logged, every hour of the window with no log
    file delivered: quiet — no issue, said in the quiet-days note (not "no folder")."""
    fake = request.getfixturevalue("fake_aws")
    fake.enabled_regions = ["ap-south-1", *REGIONS]
    for region in REGIONS:
        write_digests(trail, region, present(trail, region))
    write_digests(trail, "ap-south-1")
    fake.cloudtrail("ap-south-1").add_public_key(
        public_der(SIGNER), FINGERPRINT, datetime(2023, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    source = on_s3(request, trail)
    code, out, err = run(
        "events", "--logs", source, "--access-key", KEY, *WINDOW, "--engine", engine,
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("64 events from ")
    assert issues(err) == []
    assert (
        f"torinvest: note: {source}/{FOLDER}: digest files show no log file was delivered on the "
        "window's days without one in ap-south-1 (4 day(s)), ap-southeast-1 (3 day(s)), "
        "eu-west-1 (3 day(s)), us-east-1 (3 day(s)): nothing was logged there those days "
        f"{VERIFIED}"
    ) in err


def test_an_enabled_region_whose_digests_do_not_cover_the_window_stays_an_issue(
    trail: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A digest folder for a region with no log folder shows the trail logged it — but only
    the days its digests cover are quiet; the others are the plain gap issue of that region,
    and its digests stopping while the other regions' go on is said too."""
    fake = request.getfixturevalue("fake_aws")
    fake.enabled_regions = ["ap-south-1", *REGIONS]
    for region in REGIONS:
        write_digests(trail, region, present(trail, region))
    write_digests(trail, "ap-south-1", first=date(2023, 7, 8), last=date(2023, 7, 8))
    fake.cloudtrail("ap-south-1").add_public_key(
        public_der(SIGNER), FINGERPRINT, datetime(2023, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    source = on_s3(request, trail)
    code, out, err = run(
        "events", "--logs", source, "--access-key", KEY, *WINDOW,
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("64 events from ")
    going = "ap-southeast-1 at least to 2023-07-10T23:01:31Z, eu-west-1 at least to 2023-07-10T23:01:31Z"
    assert issues(err) == [
        stops(source, "ap-south-1", at(9, 0), going),
        f"torinvest: issue: {source}/{FOLDER}ap-south-1/: no log file for 2023-07-09–2023-07-11 "
        f"(3 of the window's 4 UTC day(s)): {GAP}",
    ]


def at(day: int, hour: int) -> datetime:
    """The end of the digest of July ``day``, 2023, ending at ``hour``:01:31."""
    return datetime(2023, 7, day, hour, 1, 31, tzinfo=UTC)


def stops(source: Path | str, region: str, last: datetime, going: str) -> str:
    """The issue of ``region``'s digest files stopping at ``last`` while the trail's of other
    regions go on (``going``)."""
    t = f"{last:%Y-%m-%dT%H:%M:%SZ}"
    return (
        f"torinvest: issue: {source}/{FOLDER}{region}/: digest files of {region} stop at {t} "
        f"({source}/{digest_key(region, last)}) while the trail's ({TRAIL}) digest files of "
        f"other regions go on ({going}): CloudTrail writes one an hour for each region it logs, "
        "even with no log file; those hours' digest files (and any log files they named) were "
        f"deleted, or not copied here: the hours after {t} were not compared with the trail's "
        "word, so log files deleted then would not be noticed, and their events, if any, were "
        "not read"
    )


def test_load_logs_reads_completely_where_digests_show_quiet_days(trail: Path) -> None:
    write_digests(trail, "eu-west-1", present(trail, "eu-west-1"))
    res = load_logs(
        trail, access_keys=KEY, start="2023-07-08", end="2023-07-11", regions=["eu-west-1"]
    )
    assert res.issues == []
    assert len(res.frame) == 2
    assert any("eu-west-1 (3 day(s))" in a for a in res.asides)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_digests_naming_log_files_not_here_are_a_sharper_issue(
    trail: Path, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    """Deleted log files: the digests name them, so the day never reads as quiet."""
    gone = f"{FOLDER}us-east-1/2023/07/09/{ACCOUNT}_CloudTrail_us-east-1_20230709T0305Z_x1.json.gz"
    also = f"{FOLDER}us-east-1/2023/07/09/{ACCOUNT}_CloudTrail_us-east-1_20230709T2355Z_x2.json.gz"
    write_digests(trail, "eu-west-1", present(trail, "eu-west-1"))
    write_digests(trail, "us-east-1", [*present(trail, "us-east-1"), gone, also])
    source = on_s3(request, trail) if where == "s3" else str(trail)
    code, _out, err = events(source, tmp_path)
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {source}/{FOLDER}us-east-1/: the trail delivered 2 log file(s) here "
        f"on 2023-07-09 that are not in this folder (digest files name them, e.g. {gone}): "
        "their events were not read"
    ]
    assert "eu-west-1 (3 day(s)), us-east-1 (2 day(s))" in err


def test_hours_no_digest_covers_leave_the_day_an_issue(trail: Path, tmp_path: Path) -> None:
    write_digests(
        trail, "eu-west-1", present(trail, "eu-west-1"),
        skip_hours=[datetime(2023, 7, 9, h, tzinfo=UTC) for h in (5, 6)],
    )  # fmt: skip
    write_digests(trail, "us-east-1", present(trail, "us-east-1"), last=date(2023, 7, 10))
    code, _out, err = events(trail, tmp_path)
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {trail}/{FOLDER}eu-west-1/: no log file for 2023-07-09 (1 of the "
        f"window's 4 UTC day(s)): {GAP}",
        # us-east-1's digests end at 2023-07-11T00:01:31Z while eu-west-1's go on: its tail
        stops(trail, "us-east-1", at(11, 0), "eu-west-1 at least to 2023-07-12T00:01:31Z"),
        f"torinvest: issue: {trail}/{FOLDER}us-east-1/: no log file for 2023-07-11 (1 of the "
        f"window's 4 UTC day(s)): {GAP}",  # its last hour: in the next day's first digest
    ]


BAD_DIGESTS = {
    "damaged": lambda d: b"\x1f\x8b\x08\x00 not gzip",
    "not JSON": lambda d: gzip.compress(b"<html>AccessDenied</html>"),
    "another account": lambda d: gzip.compress(
        json.dumps({**d, "awsAccountId": "999999999999"}).encode()
    ),
    "a day-long period": lambda d: gzip.compress(
        json.dumps({**d, "digestStartTime": "2023-07-07T23:00:00Z"}).encode()
    ),
    "a log file elsewhere": lambda d: gzip.compress(
        json.dumps({**d, "logFiles": [{"s3Object": "exports/flat.json.gz"}]}).encode()
    ),
}


@pytest.mark.parametrize("kind", BAD_DIGESTS)
def test_an_unreadable_or_forged_digest_proves_nothing(
    trail: Path, tmp_path: Path, kind: str
) -> None:
    written = write_digests(trail, "eu-west-1", present(trail, "eu-west-1"))
    write_digests(trail, "us-east-1", present(trail, "us-east-1"))
    bad = next(p for p in written if "20230708T120131Z" in p.name)
    bad.write_bytes(BAD_DIGESTS[kind](json.loads(gzip.decompress(bad.read_bytes()))))
    code, _out, err = events(trail, tmp_path)
    assert code == 0, err
    [issue] = issues(err)
    assert issue.startswith(
        f"torinvest: issue: {trail}/{FOLDER}eu-west-1/: no log file for 2023-07-08 (1 of the "
        f"window's 4 UTC day(s)): {GAP} (1 digest file(s) there could not be read, so they "
        f"prove nothing: {bad}: "
    )
    assert "eu-west-1 (2 day(s)), us-east-1 (3 day(s))" in err


def test_without_digest_files_the_days_stay_an_issue(trail: Path, tmp_path: Path) -> None:
    write_digests(trail, "us-east-1", present(trail, "us-east-1"))
    code, _out, err = events(trail, tmp_path)
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {trail}/{FOLDER}eu-west-1/: no log file for 2023-07-08–2023-07-09, "
        f"2023-07-11 (3 of the window's 4 UTC day(s)): {GAP}"
    ]


def test_past_the_bound_on_digest_folders_the_days_stay_an_issue_saying_so(
    trail: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torinvest.sources.logs.digests import LocalDigests

    write_digests(trail, "eu-west-1", present(trail, "eu-west-1"))
    write_digests(trail, "us-east-1", present(trail, "us-east-1"))
    monkeypatch.setattr(LocalDigests, "max_folders", 3)  # 2023-07-08 and 09 of eu-west-1 only
    code, _out, err = events(trail, tmp_path)
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {trail}/{FOLDER}eu-west-1/: no log file for 2023-07-11 (1 of the "
        f"window's 4 UTC day(s)): {GAP} (the trail's digest files were not looked at for some "
        "of those days: past the limit of 3 digest day folders and 20,000 digest files per "
        "source)",
        f"torinvest: issue: {trail}/{FOLDER}us-east-1/: no log file for 2023-07-08–2023-07-09, "
        f"2023-07-11 (3 of the window's 4 UTC day(s)): {GAP} (the trail's digest files were not "
        "looked at for some of those days: past the limit of 3 digest day folders and 20,000 "
        "digest files per source)",
    ]
    assert "eu-west-1 (2 day(s))" in err


def test_quiet_days_are_said_on_every_surface_and_leave_the_reading_complete(
    tmp_path: Path,
) -> None:
    """`investigate` of the sample finding (a 22-day window, log files on one day) over a trail
    whose digest files show the other days quiet in every region: no data issue, exit 0 — and
    what that "complete" rests on (digests, their signatures not checked) is said where the
    reading is: the report's completeness line, summary.json's reading_notes, the answer and
    the terminal. Only the Sources card said it; the answer read "complete: every source was
    read." alone."""
    from torinvest import report
    from torinvest.post.answer import build_answer

    case = tmp_path / "case"
    shutil.copytree(CASE.root / "findings", case / "findings")
    shutil.copytree(CASE.cloudtrail, case / "cloudtrail")
    for region in ("ap-southeast-1", "eu-west-1", "us-east-1"):
        logs = present(case / "cloudtrail", region)
        write_digests(case / "cloudtrail", region, logs, first=date(2023, 6, 20), last=date(2023, 7, 20))  # fmt: skip
    out = tmp_path / "o"
    code, said, err = run(
        "investigate", "6dde0a8f8d46f6acad893b30f905e97c", "--case", str(case),
        "--out", str(out), "--ledger", str(tmp_path / "l.jsonl"), *trail_regions(case),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == [] and "DATA ISSUE" not in said
    note = (
        "digest files show no log file was delivered on the window's days without one in "
        "ap-southeast-1 (21 day(s)), eu-west-1 (21 day(s)), us-east-1 (21 day(s)): nothing was "
        f"logged there those days ({LOCAL}"
    )
    notes = [line for line in err.splitlines() if line.startswith("torinvest: note: ")]
    (printed,) = [line for line in notes if "digest files" in line]  # (and data events')
    assert note in printed
    data = report.check_summary(out / "summary.json")
    assert data["data_issues"] == []
    # (and the Tor status's: 167.99.201.43 is "not Tor" by OR-address lists only)
    (written,) = [n for n in data["reading_notes"] if "OR address" not in n]
    assert note in written
    text = build_answer(data).text
    assert "Reading: complete: every source was read." in text
    assert f"Reading notes: {case / 'cloudtrail'}/{FOLDER}: {note}" in text
    page = (out / "report.html").read_text(encoding="utf-8")
    state = page[page.index('class="ti-state ti-ok"') :].split("</div>", 1)[0]
    assert "Complete:" in state and "Note on the reading (under Sources used)" in state
    assert "digest files show no log file was delivered" in state


# --------------------------------------------------------------------------------------------
# days that hold log files: compared with the digests too
# --------------------------------------------------------------------------------------------
US = f"{FOLDER}us-east-1/2023/07/10/{ACCOUNT}_CloudTrail_us-east-1_20230710T"
#: The two log files holding the key's calls from 185.220.101.34 (9 and 4 events, 13 in all).
DELETED = (f"{US}1215Z_76NrDxD2pcArtwrw.json.gz", f"{US}1220Z_8PenhgTlc4zuSpOA.json.gz")
#: Delivered in the day's last hour: named by the first digest of the next day's folder.
LATE = f"{US}2355Z_late0000000000.json.gz"


def digested(root: Path) -> None:
    """Hourly digests naming every log file of every region of the trail under ``root``."""
    for region in sorted(p.name for p in (root / FOLDER).iterdir()):
        write_digests(root, region, present(root, region))


def trail_regions(source: Path | str) -> tuple[str, ...]:
    """The regions of the reading of every region of the trail: on S3 none named (the
    account's enabled regions are asked); a local copy names the trail's regions
    (:data:`REGIONS`), as an analyst who knows them does — else, with no account to ask, every
    region enabled in the partition is judged, and the 14 the trail has no folder for are a
    data issue (tests/hostile/test_coverage.py)."""
    return () if str(source).startswith("s3://") else ("--regions", ",".join(REGIONS))


def key_events(source: Path | str, tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    """The tester's reading: every region of the trail (:func:`trail_regions`), the key's
    events of 2023-07-08 to 2023-07-11."""
    return run(
        "events", "--logs", str(source), "--access-key", KEY, *WINDOW, *trail_regions(source),
        "--out", str(tmp_path / "e.jsonl"), *extra,
    )  # fmt: skip


def sharp(source: Path | str, days: str, n: int, example: str) -> str:
    return (
        f"torinvest: issue: {source}/{FOLDER}us-east-1/: the trail delivered {n} log file(s) here "
        f"on {days} that are not in this folder (digest files name them, e.g. {example}): their "
        "events were not read"
    )


@pytest.mark.parametrize(
    ("where", "engine"), [("local", "files"), ("local", "duckdb"), ("s3", "files")]
)
def test_log_files_deleted_from_a_day_that_still_holds_some_are_a_sharp_issue(
    trail: Path, tmp_path: Path, where: str, engine: str, request: pytest.FixtureRequest
) -> None:
    """An attacker deletes the two log files holding their calls: the day still holds 60 log
    files, but the digests read name the two, so the reading is not complete."""
    digested(trail)
    for key in DELETED:
        (trail / key).unlink()
    source = on_s3(request, trail) if where == "s3" else str(trail)
    code, out, err = key_events(source, tmp_path, "--engine", engine)
    assert code == 0, err
    assert out.startswith("50 events from 60 log file(s)")
    assert issues(err) == [sharp(source, "2023-07-10", 2, DELETED[0])]


def test_load_logs_is_incomplete_when_digests_name_log_files_deleted_from_a_day(
    trail: Path,
) -> None:
    digested(trail)
    for key in DELETED:
        (trail / key).unlink()
    res = load_logs(
        trail, access_keys=KEY, start="2023-07-08", end="2023-07-11", regions=list(REGIONS)
    )
    assert len(res.frame) == 50
    [issue] = res.issues
    assert issue.source == f"{trail}/{FOLDER}us-east-1/"
    assert issue.problem.startswith("the trail delivered 2 log file(s) here on 2023-07-10 ")
    assert f"e.g. {DELETED[0]})" in issue.problem


def test_a_file_of_the_days_last_hour_is_named_by_the_next_days_first_digest(
    trail: Path, tmp_path: Path
) -> None:
    write_digests(trail, "eu-west-1", present(trail, "eu-west-1"))
    write_digests(trail, "us-east-1", [*present(trail, "us-east-1"), LATE])  # never delivered here
    code, _out, err = key_events(trail, tmp_path)
    assert code == 0, err
    assert issues(err)[-1] == sharp(trail, "2023-07-10", 1, LATE)


def test_files_deleted_on_days_with_and_without_log_files_make_one_issue(
    trail: Path, tmp_path: Path
) -> None:
    gone = f"{FOLDER}us-east-1/2023/07/09/{ACCOUNT}_CloudTrail_us-east-1_20230709T0305Z_x1.json.gz"
    digested(trail)
    write_digests(trail, "us-east-1", [*present(trail, "us-east-1"), gone])
    (trail / DELETED[1]).unlink()
    code, _out, err = key_events(trail, tmp_path)
    assert code == 0, err
    assert issues(err) == [sharp(trail, "2023-07-09–2023-07-10", 2, gone)]


def test_digests_naming_exactly_the_files_held_under_another_prefix_are_no_issue(
    trail: Path, tmp_path: Path
) -> None:
    """The trail was copied from another bucket and prefix: the digests' s3Object keys start
    ``cloudtrail/AWSLogs/…``; compared below ``AWSLogs/``, every file they name is here."""
    for region in ("ap-southeast-1", "eu-west-1", "us-east-1"):
        write_digests(trail, region, [f"cloudtrail/{k}" for k in present(trail, region)])
    code, out, err = key_events(trail, tmp_path)
    assert code == 0, err
    assert out.startswith("64 events from 62 log file(s)")
    assert issues(err) == []
    assert "not compared" not in err


def test_without_digest_files_a_day_missing_some_log_files_reads_as_before(
    trail: Path, tmp_path: Path
) -> None:
    """No CloudTrail-Digest folder: nothing to compare with, nothing new said (the days
    without a log file stay the issue they were)."""
    _code, _out, whole = key_events(trail, tmp_path)
    for key in DELETED:
        (trail / key).unlink()
    code, out, err = key_events(trail, tmp_path)
    assert code == 0, err
    assert out.startswith("50 events from 60 log file(s)")

    def said(text: str) -> list[str]:
        # the data events' note counts the files it read; the deleted files held the console
        # password the key set (its note goes with them)
        return [
            line
            for line in text.splitlines()
            if "data events" not in line and "console password" not in line
        ]

    assert said(err) == said(whole)
    [issue] = issues(err)
    assert "3 folders: no log file for 2023-07-08–2023-07-09, 2023-07-11 (3 of" in issue


def test_past_the_bound_the_days_holding_log_files_not_compared_are_a_note_not_an_issue(
    trail: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The days without a log file are judged first; the days holding some that the bound
    leaves out are said (the files deleted there are not noticed), the reading stays whole."""
    from torinvest.sources.logs.digests import LocalDigests

    write_digests(trail, "eu-west-1", present(trail, "eu-west-1"))
    (trail / DELETED[0]).unlink()
    write_digests(trail, "us-east-1", [*present(trail, "us-east-1"), DELETED[0]])
    monkeypatch.setattr(LocalDigests, "max_folders", 7)  # 07-08 to 07-12 of eu-west-1, 2 more
    code, _out, err = events(trail, tmp_path)
    assert code == 0, err
    limit = "past the limit of 7 digest day folders and 20,000 digest files per source"
    assert issues(err) == [
        f"torinvest: issue: {trail}/{FOLDER}us-east-1/: no log file for 2023-07-09, 2023-07-11 "
        f"(2 of the window's 4 UTC day(s)): {GAP} (the trail's digest files were not looked at "
        f"for some of those days: {limit})"
    ]
    assert (
        f"torinvest: note: {trail}/{FOLDER}: the log files of some days were not compared with "
        "the trail's digest files (log files deleted those days would not be noticed): us-east-1 "
        f"on 2023-07-10: {limit}"
    ) in err.splitlines()


def test_an_unreadable_digest_of_a_day_holding_log_files_is_said(
    trail: Path, tmp_path: Path
) -> None:
    digested(trail)
    written = write_digests(trail, "us-east-1", present(trail, "us-east-1"))
    bad = next(p for p in written if "20230710T130131Z" in p.name)
    bad.write_bytes(b"\x1f\x8b\x08\x00 not gzip")
    code, _out, err = key_events(trail, tmp_path)
    assert code == 0, err
    assert issues(err) == []
    assert (
        f"the log files of some days were not compared with the trail's digest files (log files "
        f"deleted those days would not be noticed): us-east-1: 1 digest file(s) could not be "
        f"read ({bad}: not a readable gzip file"
    ) in err


# --------------------------------------------------------------------------------------------
# log files the digests do not name: put there since, not delivered by CloudTrail
# --------------------------------------------------------------------------------------------
#: A file an attacker with s3:PutObject on the trail's bucket adds: the key's 4 calls from
#: 185.220.101.34 made again, from an office address, under new event IDs.
PLANTED = f"{US}1225Z_planted000000000.json.gz"
#: A file added under a name that carries no time.
UNTIMED = f"{FOLDER}us-east-1/2023/07/10/notes.json.gz"


def plant(root: Path, key: str) -> None:
    doc = json.loads(gzip.decompress((root / DELETED[1]).read_bytes()))
    for n, record in enumerate(doc["Records"]):
        record["eventID"] = f"00000000-0000-4000-8000-{n:012d}"
        record["sourceIPAddress"] = "198.51.100.7"
    (root / key).write_bytes(gzip.compress(json.dumps(doc).encode()))


def unvouched_issue(source: Path | str, n: int, example: str) -> str:
    return (
        f"torinvest: issue: {source}/{FOLDER}us-east-1/: {n} log file(s) here on 2023-07-10 are "
        "not named by the trail's digest files, which cover when they were written (e.g. "
        f"2023/07/10/{example.rpartition('/')[2]}): CloudTrail did not deliver them to this "
        "trail — they were put here since (their events may be forged), or another trail "
        "without log file validation writes to this folder; their events were read and cannot "
        "be trusted: compare them with LookupEvents (--lookup) or the other trail's files "
        "before relying on them"
    )


@pytest.mark.parametrize(
    ("where", "engine"), [("local", "files"), ("local", "duckdb"), ("s3", "files")]
)
def test_log_files_no_digest_names_though_digests_cover_their_hour_are_an_issue(
    trail: Path, tmp_path: Path, where: str, engine: str, request: pytest.FixtureRequest
) -> None:
    """Digests name every file CloudTrail delivered; two files added since (one with a time
    in its name the digests cover, one without a time on a day they cover whole) are read
    and named: their events cannot be trusted."""
    digested(trail)
    plant(trail, PLANTED)
    plant(trail, UNTIMED)
    source = on_s3(request, trail) if where == "s3" else str(trail)
    code, out, err = key_events(source, tmp_path, "--engine", engine)
    assert code == 0, err
    assert out.startswith("69 events from 64 log file(s)")  # the two copies are one
    assert issues(err) == [unvouched_issue(source, 2, PLANTED)]
    assert "partial result" in err


def test_a_file_of_hours_no_digest_covers_is_not_called_unvouched(
    trail: Path, tmp_path: Path
) -> None:
    """Validation was off from 12:01 to 13:01 (no digest of that hour; the chain starts again
    after it, as CloudTrail starts it), and the last digest read ends at 23:01 (the next
    hour's not delivered yet): a file of either hour that no digest names proves nothing
    either way."""
    for region in ("ap-southeast-1", "eu-west-1"):
        write_digests(trail, region, present(trail, region))
    hours = [datetime(2023, 7, 10, h, tzinfo=UTC) for h in (12, 23)]
    hours += [datetime(2023, 7, 11, h, tzinfo=UTC) for h in range(24)]
    write_digests(trail, "us-east-1", present(trail, "us-east-1"), skip_hours=hours)
    restart(trail / digest_key("us-east-1", datetime(2023, 7, 10, 14, 1, 31, tzinfo=UTC)))
    plant(trail, PLANTED)
    plant(trail, LATE)
    code, _out, err = key_events(trail, tmp_path)
    assert code == 0, err
    assert "not named by the trail's digest files" not in err
    assert "previous digest" not in err
    assert (
        "us-east-1 on 2023-07-10: some hours are covered by no digest file read (validation was "
        "off, or digest files were deleted or not copied)"
    ) in err


def restart(path: Path) -> None:
    """Make the digest at ``path`` the first of a new chain (validation turned back on)."""
    doc = json.loads(gzip.decompress(path.read_bytes()))
    for field in ("S3Bucket", "S3Object", "HashValue", "HashAlgorithm", "Signature"):
        doc[f"previousDigest{field}"] = None
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))


@pytest.mark.parametrize(("where"), ["local", "s3"])
def test_log_files_deleted_with_the_digest_of_their_hour_break_the_chain(
    trail: Path, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    """An attacker deletes the two log files of their calls and the digest naming them: no
    digest left names the files, but the next digest names the deleted one (its chain), as
    `aws cloudtrail validate-logs` follows it. Before: 50 events, complete, nothing said."""
    digested(trail)
    for key in DELETED:
        (trail / key).unlink()
    gone = digest_key("us-east-1", datetime(2023, 7, 10, 13, 1, 31, tzinfo=UTC))
    (trail / gone).unlink()
    source = on_s3(request, trail) if where == "s3" else str(trail)
    code, out, err = key_events(source, tmp_path)
    assert code == 0, err
    assert out.startswith("50 events from 60 log file(s)")
    after = digest_key("us-east-1", datetime(2023, 7, 10, 14, 1, 31, tzinfo=UTC))
    named = f"{source}/{after}" if where == "s3" else str(trail / after)
    assert issues(err) == [
        f"torinvest: issue: {source}/{FOLDER}us-east-1/: 1 digest file(s) name a previous digest "
        f"file that is not in the trail's digest folder ({named} names {gone}): it was "
        "deleted, or not copied; the log files of the hour it covered were not compared with "
        "the trail's word, so log files deleted then would not be noticed"
    ]
    assert "partial result" in err


def test_a_file_named_in_the_next_hours_digest_is_vouched(trail: Path, tmp_path: Path) -> None:
    """A file written at 12:59 and delivered at 13:02 is named by the 13:01–14:01 digest:
    not an issue."""
    late = f"{US}1259Z_slowdelivery00000.json.gz"
    plant(trail, late)
    for region in REGIONS:
        write_digests(trail, region, present(trail, region))  # names it in the 12:01–13:01 hour
    shifted = trail / digest_key("us-east-1", datetime(2023, 7, 10, 14, 1, 31, tzinfo=UTC))
    early = trail / digest_key("us-east-1", datetime(2023, 7, 10, 13, 1, 31, tzinfo=UTC))
    docs = [json.loads(gzip.decompress(p.read_bytes())) for p in (early, shifted)]
    moved = [f for f in docs[0]["logFiles"] if f["s3Object"] == late]
    docs[0]["logFiles"] = [f for f in docs[0]["logFiles"] if f["s3Object"] != late]
    docs[1]["logFiles"] += moved
    for p, doc in zip((early, shifted), docs, strict=True):
        p.write_bytes(gzip.compress(json.dumps(doc).encode()))
    code, _out, err = key_events(trail, tmp_path)
    assert code == 0, err
    assert issues(err) == []


def test_an_archived_digest_is_not_downloaded_and_says_it_is_archived(
    trail: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A lifecycle rule moved a digest file to S3 Glacier Deep Archive: the listing says so, it
    is not asked for, and the day it would have shown quiet stays an issue saying why."""
    written = write_digests(trail, "eu-west-1", present(trail, "eu-west-1"))
    write_digests(trail, "us-east-1", present(trail, "us-east-1"))
    archived = next(p for p in written if "20230708T120131Z" in p.name)
    source = on_s3(request, trail)
    s3 = boto3.client("s3", endpoint_url=request.getfixturevalue("moto"), region_name="us-east-1")
    key = archived.relative_to(trail).as_posix()
    s3.copy_object(  # as a lifecycle transition does: the same object, another class
        Bucket="trail", Key=key, CopySource={"Bucket": "trail", "Key": key},
        StorageClass="DEEP_ARCHIVE", MetadataDirective="COPY",
    )  # fmt: skip
    asked: list[str] = []  # every GetObject's key
    real_call = botocore.client.BaseClient._make_api_call

    def call(self: Any, operation: str, params: dict[str, Any]) -> Any:
        if operation == "GetObject":
            asked.append(params["Key"])
        return real_call(self, operation, params)

    request.getfixturevalue("monkeypatch").setattr(
        botocore.client.BaseClient, "_make_api_call", call
    )
    code, _out, err = events(source, tmp_path)
    assert code == 0, err
    [issue] = issues(err)
    assert issue.startswith(
        f"torinvest: issue: {source}/{FOLDER}eu-west-1/: no log file for 2023-07-08 (1 of the "
        f"window's 4 UTC day(s)): {GAP} (1 digest file(s) there could not be read, so they "
        f"prove nothing: {source}/{key}: archived in S3 Glacier Deep Archive (DEEP_ARCHIVE): not "
        "read until restored: the hours it covers cannot be checked against it until it is "
        "restored"
    )
    assert key not in asked and any("_CloudTrail-Digest_" in k for k in asked)


# --------------------------------------------------------------------------------------------
# digests deleted at the tail: a region's digest files stop while the trail's other regions' go on
# --------------------------------------------------------------------------------------------
#: The key's calls are on the window's last day: hours deleted at its end leave no later
#: digest to name the deleted ones (no chain to break) and no day without a log file.
TO_JULY_10 = ("--start", "2023-07-08", "--end", "2023-07-10")


def end_of(path: Path) -> datetime:
    """The end of the digest file at ``path`` (the time in its name)."""
    stamp = path.name.split("_")[-1].split(".")[0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def cut(root: Path, regions: Iterable[str], after: datetime) -> None:
    """Delete the digest files of ``regions`` ending after ``after`` and the log files
    delivered since: what an attacker who deletes the last hours leaves — or a trail stopped
    then (the files were never written)."""
    for region in regions:
        for p in (root / f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}").rglob("*.json.gz"):
            if end_of(p) > after:
                p.unlink()
        for key in present(root, region):
            if delivered(key) >= after:
                (root / key).unlink()


def to_july_10(source: Path | str, tmp_path: Path) -> tuple[int, str, str]:
    """Every region of the trail (:func:`trail_regions`), 2023-07-08 to 2023-07-10."""
    return run(
        "events", "--logs", str(source), "--access-key", KEY, *TO_JULY_10, *trail_regions(source),
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip


@pytest.mark.parametrize("where", ["local", "s3"])
def test_digests_deleted_at_the_tail_of_a_region_while_the_others_go_on_are_an_issue(
    trail: Path, tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    """An attacker deletes us-east-1's log files from 12:01 on the window's last day (their
    calls) and every digest file of its region after them: no digest left names a deleted
    file or digest, and the folder reads as if the trail had stopped — but the trail's digest
    files of the other regions go on (CloudTrail writes one an hour for each region, even
    with no log file). Before: 43 events, complete, only the "not compared" note."""
    digested(trail)
    cut(trail, ["us-east-1"], at(10, 12))
    source = on_s3(request, trail) if where == "s3" else str(trail)
    code, out, err = to_july_10(source, tmp_path)
    assert code == 0, err
    assert out.startswith("43 events from 7 log file(s)")  # of 64: 12:05 to 12:40 deleted
    going = (
        "ap-southeast-1 at least to 2023-07-11T23:01:31Z, "
        "eu-west-1 at least to 2023-07-11T23:01:31Z"
    )
    assert issues(err) == [stops(source, "us-east-1", at(10, 12), going)]
    assert "partial result" in err


def other_trail(root: Path, region: str, after: datetime) -> None:
    """Make the digest files of ``region`` ending after ``after`` another trail's (a
    single-region trail ``audit`` of ``region`` writing to the same folder, its chain
    starting then)."""
    ours, theirs = f"_{TRAIL}_{HOME}_", f"_audit_{region}_"
    for p in (root / f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}").rglob("*.json.gz"):
        if end_of(p) > after:
            doc = json.loads(gzip.decompress(p.read_bytes()))
            for field in ("digestS3Object", "previousDigestS3Object"):
                doc[field] = doc[field].replace(ours, theirs)
            p.unlink()
            p = p.with_name(p.name.replace(ours, theirs))
            p.write_bytes(gzip.compress(json.dumps(doc).encode()))
            if end_of(p) <= after + timedelta(hours=1):
                restart(p)


def stopped_together(root: Path) -> None:
    """Logging stopped (or the trail was deleted) at 13:01 in every region."""
    cut(root, REGIONS, at(10, 13))


def made_single_region(root: Path) -> None:
    """The trail made single-region at 13:01: only its home region (us-east-1) goes on."""
    cut(root, ["ap-southeast-1", "eu-west-1"], at(10, 13))


def restarted(root: Path) -> None:
    """Validation off from 10:01 to 15:01 in every region, then on again: a new chain."""
    for region in REGIONS:
        hours = [datetime(2023, 7, 10, h, tzinfo=UTC) for h in range(10, 15)]
        write_digests(root, region, present(root, region), skip_hours=hours)
        for p in (root / f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}").rglob("*.json.gz"):
            if at(10, 11) <= end_of(p) <= at(10, 15):
                p.unlink()
        restart(root / digest_key(region, at(10, 16)))


def another_trail_goes_on(root: Path) -> None:
    """The trail stopped at 13:01 in every region; a single-region trail of eu-west-1 writing
    digest files to the same folder goes on: not this trail's."""
    other_trail(root, "eu-west-1", at(10, 13))
    cut(root, ["ap-southeast-1", "us-east-1"], at(10, 13))


@pytest.mark.parametrize(
    "change", [stopped_together, made_single_region, restarted, another_trail_goes_on]
)
def test_digests_that_stop_without_the_trail_going_on_elsewhere_are_no_issue(
    trail: Path, tmp_path: Path, change: Callable[[Path], None]
) -> None:
    """The trail stopped in every region at once (deleted, logging or validation turned off),
    was made single-region (its home region alone goes on), had validation turned off and on
    (a new chain), or only another trail's digest files go on: no region's digest files stop
    while the same trail's go on elsewhere — not an issue (the hours no digest covers stay in
    the "not compared" note)."""
    digested(trail)
    change(trail)
    code, _out, err = to_july_10(trail, tmp_path)
    assert code == 0, err
    assert issues(err) == []
    assert "some hours are covered by no digest file read" in err


def test_a_local_copy_without_the_other_regions_digest_folders_says_nothing_of_them(
    trail: Path, tmp_path: Path
) -> None:
    """Only us-east-1's digest folder was copied, its digests ending at 12:01: the other
    regions' digest folders are not here, which is not evidence the trail went on."""
    digested(trail)
    cut(trail, ["us-east-1"], at(10, 12))
    for region in ("ap-southeast-1", "eu-west-1"):
        shutil.rmtree(trail / f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/{region}")
    code, _out, err = run(
        "events", "--logs", str(trail), "--access-key", KEY, *TO_JULY_10,
        "--regions", "us-east-1", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == []
    assert "us-east-1 on 2023-07-10: some hours are covered by no digest file read" in err


def test_a_digest_files_name_gives_its_trail_home_region_and_end() -> None:
    from torinvest.sources.logs.digests import _named

    name = f"{ACCOUNT}_CloudTrail-Digest_eu-west-1_my_trail.v2_us-east-1_20230710T120131Z.json.gz"
    assert _named(f"s3://b/x/{name}", ACCOUNT, "eu-west-1") == ("my_trail.v2_us-east-1", at(10, 12))
    assert _named(name, ACCOUNT, "us-east-1") is None  # another region's
    assert _named(name, "999999999999", "eu-west-1") is None  # another account's
    assert _named(name.replace(".json.gz", "_backfill.json.gz"), ACCOUNT, "eu-west-1") is None
