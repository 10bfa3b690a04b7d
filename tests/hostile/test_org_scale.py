"""Hostile inputs and faults at organization scale: S3 log prefixes, the DuckDB and Athena
engines, the credentials named, and the options of ``torinvest events``.

Every AWS request goes through :class:`~tests.fake_aws.recording_proxy.RecordingProxy` in front of moto
(S3, STS) and the GuardDuty/CloudTrail/Athena fake: the tests read *as whom* each call was
signed (the access key in its ``Authorization`` header, the key STS AssumeRole handed out) and
make S3 deny chosen objects (``AccessDenied``, a KMS denial). Each test asserts the outcome (a
one-line error and its exit status, or a flagged partial result naming what is missing) and
that no valid record was lost. The catalogue is docs/hostile-inputs.md, "S3, DuckDB and
Athena (organization scale)".
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gzip
import json
import re
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pandas as pd
import pytest
import sqlglot

from tests.cli_run import issues, run
from tests.fake_aws import FakeAws
from tests.fake_aws.recording_proxy import RecordingProxy, Seen
from tests.moto_s3 import put_objects
from tests.offline_regions import SAMPLE_REGIONS
from torinvest import display, investigation
from torinvest.case import sample_case
from torinvest.errors import EXIT_COULD_NOT_LOOK, DataIssue, OptionsError, group_issues
from torinvest.events import EngineOptions, load_activity
from torinvest.sources import logs as logs_module
from torinvest.sources.logs import listing as logs_listing
from torinvest.sources.logs import load_logs

CASE = sample_case()
#: the sample trail's regions, named: no other region's folder is missing
TRAIL_REGIONS = ",".join(SAMPLE_REGIONS)
ACCOUNT = "218007301253"
KEY = "AKIATFQR7NSCUXC3DDDP"  # 64 calls in the sample case, all on 2023-07-10
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"  # the sample finding naming KEY
ROLE = "arn:aws:iam::123456789012:role/torinvest-audit"
PROFILE_KEY = "AKIAPROFILEAUDIT0001"
SHELL_KEY = "testing"  # the shell's default credentials (tests/conftest.py)
WINDOW = ("--start", "2023-07-10T00:00:00Z", "--end", "2023-07-10T23:59:59Z")
INVICTUS = Path(__file__).parent.parent / "fixtures" / "cloudtrail" / "invictus"
AWSDOCS = Path(__file__).parent.parent / "fixtures" / "cloudtrail" / "awsdocs"


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("torinvest: error:")]


def case_files() -> list[Path]:
    return sorted(CASE.cloudtrail.rglob("*.json.gz"))


def reference(**kwargs: Any) -> pd.DataFrame:
    """The sample case read from its folder: what every other path must give (read once per
    process for each set of arguments; each caller gets a copy of its own)."""
    return _reference(tuple(sorted(kwargs.items()))).copy()


@functools.cache
def _reference(kwargs: tuple[tuple[str, Any], ...]) -> pd.DataFrame:
    return load_logs(CASE.cloudtrail, progress=False, **dict(kwargs)).frame


def same_events(got: pd.DataFrame, ref: pd.DataFrame) -> None:
    """The same events (every column but where they came from), none lost, none added."""
    cols = [c for c in ref.columns if c not in ("source", "origin")]
    a = got[cols].sort_values("event_id").reset_index(drop=True)
    b = ref[cols].sort_values("event_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_categorical=False, check_dtype=False)


# --------------------------------------------------------------------------------------------
# fixtures: moto and the fake behind a recording proxy
# --------------------------------------------------------------------------------------------
@pytest.fixture
def proxy(
    moto: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RecordingProxy]:
    """Every AWS call of the code under test goes through the proxy to moto (Athena: to the
    fake), with credentials of the sample trail's account (moto's STS answers 218007301253:
    its enabled regions are the fake's DescribeRegions, not another account's)."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    with RecordingProxy({"*": moto, "athena": fake_aws.url}) as p:
        monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
        monkeypatch.setenv("AWS_ENDPOINT_URL_ATHENA", p.url)
        yield p


@pytest.fixture
def proxy_and_fake(
    moto: str, fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RecordingProxy, FakeAws]]:
    """The same, with GuardDuty, CloudTrail (LookupEvents) and Athena routed to the fake."""
    routes = {"*": moto, "guardduty": fake_aws.url, "cloudtrail": fake_aws.url}
    routes["athena"] = fake_aws.url
    with RecordingProxy(routes) as p:
        for name in (
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT_URL_GUARDDUTY",
            "AWS_ENDPOINT_URL_CLOUDTRAIL",
            "AWS_ENDPOINT_URL_ATHENA",
        ):
            monkeypatch.setenv(name, p.url)
        yield p, fake_aws


def direct_s3(moto: str) -> Any:
    """An S3 client straight to moto (set-up calls are not the code under test)."""
    return boto3.client("s3", endpoint_url=moto, region_name="us-east-1")


def upload(moto: str, bucket: str, files: dict[str, bytes]) -> None:
    s3 = direct_s3(moto)
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda kv: s3.put_object(Bucket=bucket, Key=kv[0], Body=kv[1]), files.items())
        )


def case_objects(prefix: str = "") -> dict[str, bytes]:
    """The sample case's 62 log files as a trail writes them, below ``prefix``."""
    return {
        f"{prefix}{f.relative_to(CASE.cloudtrail).as_posix()}": f.read_bytes() for f in case_files()
    }


def s3_requests(p: RecordingProxy) -> list[Seen]:
    return [s for s in p.requests("s3")]


def profile_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A credentials file with profile ``audit`` (keys of its own, not the shell's)."""
    creds = tmp_path / "credentials"
    creds.write_text(
        f"[audit]\naws_access_key_id = {PROFILE_KEY}\naws_secret_access_key = secret\n"
    )
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))


# --------------------------------------------------------------------------------------------
# 1. credentials named are credentials used
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_role_arn_is_assumed_for_s3_logs(
    proxy: RecordingProxy, moto: str, tmp_path: Path, engine: str
) -> None:
    upload(moto, "trail", case_objects())
    code, _out, err = run(
        "events", "--logs", "s3://trail/AWSLogs/", "--role-arn", ROLE, "--engine", engine,
        "--access-key", KEY, *WINDOW, "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    (assumed,) = proxy.assumed_keys()  # one AssumeRole, signed with the shell's key
    signed = {(s.operation, s.access_key) for s in proxy.requests("sts")}
    assert signed == {("AssumeRole", SHELL_KEY), ("GetCallerIdentity", assumed)}  # whose regions
    assert s3_requests(proxy) and proxy.keys("s3") == {assumed} != {SHELL_KEY}
    same_events(pd.read_parquet(tmp_path / "e.parquet"), reference(access_keys=KEY))


def test_profile_is_used_for_s3_logs(
    proxy: RecordingProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile_file(tmp_path, monkeypatch)
    upload(moto, "trail", case_objects())
    code, _, err = run(
        "events", "--logs", "s3://trail/", "--profile", "audit", "--access-key", KEY, *WINDOW,
        "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    assert proxy.keys("s3") == {PROFILE_KEY}
    same_events(pd.read_parquet(tmp_path / "e.parquet"), reference(access_keys=KEY))


def test_an_unknown_profile_fails_before_any_request(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    upload(moto, "trail", case_objects())
    code, out, err = run(
        "events", "--logs", "s3://trail/", "--profile", "nosuchprofile", "--access-key", KEY,
        "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 1 and out == ""
    assert "nosuchprofile" in errors(err)[0] and "not found" in errors(err)[0]
    assert proxy.requests() == []
    assert not (tmp_path / "e.parquet").exists()


def test_athena_engine_uses_the_role(
    proxy: RecordingProxy, fake_aws: FakeAws, tmp_path: Path
) -> None:
    # the table's definition (GetTableMetadata: where its log files are, to look for archived
    # ones) is read with the role too
    fake_aws.athena("us-east-1").add_table(
        "security", "cloudtrail_logs", {"location": "s3://trail/AWSLogs/"}
    )
    code, out, err = run(
        "events", "--engine", "athena", "--athena-database", "security", "--role-arn", ROLE,
        "--access-key", KEY, *WINDOW, "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    (assumed,) = proxy.assumed_keys()
    athena = proxy.requests("athena")
    assert {s.operation for s in athena} >= {
        "StartQueryExecution",
        "GetQueryExecution",
        "GetTableMetadata",
    }
    assert proxy.keys("athena") == {assumed}
    assert all(s.status == 200 for s in athena)
    # the fake's Athena, unseeded, scans 0 bytes and matches nothing: as a table whose LOCATION or partition
    # projection leaves the window out answers. "Nothing was read", never "no events"
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    (error,) = errors(err)
    assert "athena:security.cloudtrail_logs: no event and 0 bytes scanned" in error
    assert "LOCATION" in error and "projection" in error and "2023/07/09" in error
    assert "not an access problem" not in err and "0 events" not in err
    assert not (tmp_path / "e.parquet").exists()


def test_print_sql_lists_s3_with_the_role(proxy: RecordingProxy, moto: str, tmp_path: Path) -> None:
    upload(moto, "trail", case_objects())
    code, out, err = run(
        "events", "--engine", "duckdb", "--logs", "s3://trail/AWSLogs/", "--role-arn", ROLE,
        "--access-key", KEY, *WINDOW, "--print-sql", "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    (assumed,) = proxy.assumed_keys()
    assert proxy.keys("s3") == {assumed}
    assert {s.operation.split()[0] for s in s3_requests(proxy)} == {"GET"}  # listed, not read
    # listings and the bucket's versioning (GET /trail?versioning: sources.logs.versions)
    assert all("list-type=2" in s.path or "?versioning" in s.path for s in s3_requests(proxy))
    assert "s3://trail/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10/" in out


def test_investigation_with_a_case_reads_s3_logs_as_the_role(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    """The notebook's sources (sources_from_parameters): findings from a case folder without
    logs, the activity from S3 with the role the analyst named."""
    case = tmp_path / "case"
    shutil.copytree(CASE.findings, case / "findings")
    upload(moto, "trail", case_objects())
    sources = investigation.sources_from_parameters(
        case_dir=str(case), logs=["s3://trail/"], role_arn=ROLE
    )
    inv = investigation.investigate(FINDING, sources, now=pd.Timestamp("2023-08-01", tz="UTC"))
    (assumed,) = proxy.assumed_keys()
    assert proxy.keys("s3") == {assumed}
    ref = reference(access_keys=KEY)
    assert set(ref["event_id"]) <= set(inv.events["event_id"])  # and the derived keys' calls
    assert inv.activity.files_read == 62


@pytest.mark.parametrize(
    "argv",
    [
        ["findings", "--regions", "us-east-1", "--role-arn", ROLE],
        [
            "verdict",
            FINDING,
            "--status",
            "malicious",
            "--analyst",
            "ana",
            "--rationale",
            "tor",
            "--regions",
            "us-east-1",
            "--role-arn",
            ROLE,
        ],
        ["actions", FINDING, "--plan", "archive", "--regions", "us-east-1", "--role-arn", ROLE],
    ],
    ids=["findings", "verdict", "actions"],
)
def test_every_command_calls_aws_as_the_role(
    proxy_and_fake: tuple[RecordingProxy, FakeAws], argv: list[str], tmp_path: Path
) -> None:
    p, fake = proxy_and_fake
    raw = json.loads((CASE.findings / "get-findings.json").read_text())["Findings"]
    recent = (pd.Timestamp.now(tz="UTC") - pd.Timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for f in raw:  # within LookupEvents' 90 days (verdict investigates through it)
        f["CreatedAt"] = f["UpdatedAt"] = recent
        f["Service"]["EventFirstSeen"] = f["Service"]["EventLastSeen"] = recent
    fake.guardduty("us-east-1").add_detector()
    fake.guardduty("us-east-1").add_findings([_camel(f) for f in raw])
    code, _, err = run(*argv)
    assert code == 0, err
    (assumed, *_) = p.assumed_keys()
    called = [s for s in p.requests() if s.operation != "AssumeRole"]
    assert {s.service for s in called} >= {"guardduty"}
    assert {s.access_key for s in called} <= set(p.assumed_keys())
    assert SHELL_KEY not in {s.access_key for s in called}
    assert assumed


def _camel(finding: dict[str, Any]) -> dict[str, Any]:
    """A GetFindings (PascalCase) finding in the wire's camelCase, as the fake stores them."""
    if isinstance(finding, dict):
        return {k[:1].lower() + k[1:]: _camel(v) for k, v in finding.items()}
    if isinstance(finding, list):
        return [_camel(v) for v in finding]
    return finding


@pytest.mark.parametrize(
    ("extra", "named"),
    [(["--profile", "audit"], "--profile"), (["--role-arn", ROLE], "--role-arn")],
)
def test_credentials_for_a_run_that_reads_no_aws_are_refused(
    tmp_path: Path, extra: list[str], named: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"  # the profile exists: the refusal is about the combination
    config.write_text("[profile audit]\nregion = us-east-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    code, out, err = run(
        "events", "--case", str(CASE.root), *extra, "--out", str(tmp_path / "e.parquet")
    )
    assert code == 2 and out == ""
    assert named in errors(err)[0] and "reads AWS" in errors(err)[0]


def test_notebook_credentials_without_an_aws_source_are_refused() -> None:
    with pytest.raises(OptionsError, match="profile"):
        investigation.sources_from_parameters(case_dir=str(CASE.root), profile="audit")


# --------------------------------------------------------------------------------------------
# 2. "no log files there" is its own answer
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    ["s3://trail/AWSLog/", "s3://trail/AWSLogs/999999999999/", "s3://empty/"],
    ids=["mistyped", "other-account", "empty-bucket"],
)
def test_an_s3_prefix_without_logs_is_not_no_events(
    proxy: RecordingProxy, moto: str, tmp_path: Path, url: str
) -> None:
    upload(moto, "trail", case_objects())
    upload(moto, "empty", {})
    code, out, err = run(
        "events", "--logs", url, "--access-key", KEY, *WINDOW, "--out", str(tmp_path / "e.csv")
    )
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    (line,) = errors(err)
    assert f"No CloudTrail log files under {url} (check the prefix)" in line
    assert "not an access problem" not in err and "hold no event" not in err
    assert not (tmp_path / "e.csv").exists()


@pytest.mark.parametrize("content", ["empty", "other-files"])
def test_a_local_folder_without_log_files_is_not_no_events(tmp_path: Path, content: str) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    if content == "other-files":
        (folder / "notes.txt").write_text("not a log")
        (folder / "export.csv").write_text("a,b\n1,2\n")
    code, out, err = run("events", "--logs", str(folder), "--out", str(tmp_path / "e.csv"))
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert f"No CloudTrail log files in {folder}" in errors(err)[0]
    assert "not an access problem" not in err


def test_logs_outside_the_window_say_so(tmp_path: Path) -> None:
    code, out, err = run(
        "events", "--case", str(CASE.root), "--start", "2024-01-01", "--end", "2024-01-02",
        "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    assert "no log file matched the window/region narrowing (62 log file(s) outside it)" in err
    assert "not an access problem" not in err


def test_s3_logs_outside_the_window_say_so(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    upload(moto, "trail", case_objects())
    code, _, err = run(
        "events", "--logs", "s3://trail/", "--start", "2024-01-01", "--end", "2024-01-02",
        "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == EXIT_COULD_NOT_LOOK
    (line,) = errors(err)
    assert "no log file matched the window/region narrowing" in line
    assert "2023/12/31–2024/01/03" in line and "s3://trail/AWSLogs/" in line


def test_an_empty_source_beside_a_good_one_is_an_issue(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, err = run(
        "events", "--case", str(CASE.root), "--logs", str(empty), "--access-key", KEY,
        "--regions", TRAIL_REGIONS, "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("64 events from 62 log file(s)")
    assert issues(err) == [f"torinvest: issue: {empty}: {logs_module.NO_LOGS_LOCAL}"]
    same_events(pd.read_parquet(tmp_path / "e.parquet"), reference(access_keys=KEY))


def test_zero_events_in_files_read_is_a_different_answer(tmp_path: Path) -> None:
    code, out, err = run(
        "events", "--case", str(CASE.root), "--access-key", "AKIAIOSFODNN7EXAMPLE",
        "--regions", TRAIL_REGIONS, "--out", str(tmp_path / "e.csv"),
    )  # fmt: skip
    assert code == 0
    assert out.startswith("0 events from 62 log file(s)")
    assert "not an access problem" in err and "No CloudTrail log files" not in err


def test_the_report_says_nothing_to_read(tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(CASE.findings, case / "findings")
    (case / "cloudtrail").mkdir()
    sources = investigation.sources_from_parameters(case_dir=str(case))
    inv = investigation.investigate(FINDING, sources, now=pd.Timestamp("2023-08-01", tz="UTC"))
    card = display.activity_status(inv).data
    assert "Nothing to read" in card and "No CloudTrail log files in" in card
    assert "No events" not in card.replace("No events read", "")
    summary = investigation.summary(inv)
    sources_of = [i["source"] for i in summary["data_issues"]]
    assert sources_of[0] == investigation.NOTHING_READ_SOURCE
    assert "No CloudTrail log files in" in summary["data_issues"][0]["problem"]
    assert "nothing to read" in display.sources_card(inv).data


def test_investigate_exits_1_when_no_activity_source_could_be_read(tmp_path: Path) -> None:
    case = tmp_path / "case"
    shutil.copytree(CASE.findings, case / "findings")
    (case / "cloudtrail").mkdir()
    code, _out, err = run("investigate", FINDING, "--case", str(case), "--out", str(tmp_path / "r"))
    assert code == EXIT_COULD_NOT_LOOK, err
    assert "no activity source could be read" in errors(err)[0]
    assert (tmp_path / "r" / "report.html").is_file()  # the report is written, and says why
    data = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert data["data_issues"][0]["source"] == "activity"


# --------------------------------------------------------------------------------------------
# 3. every AWSLogs/ below the prefix, each narrowed
# --------------------------------------------------------------------------------------------
def test_a_bucket_root_above_a_key_prefix_is_narrowed_by_day(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    upload(moto, "trail", case_objects("org/cloudtrail/"))
    code, _out, err = run(
        "events", "--logs", "s3://trail/", "--access-key", KEY, *WINDOW,
        "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    paths = [unquote(s.path) for s in s3_requests(proxy) if "list-type=2" in s.path]
    probes = [p for p in paths if "/CloudTrail-Digest/" in p]  # is there a digest folder?
    assert probes and all("max-keys=1" in p for p in probes)
    full = [p for p in paths if "delimiter" not in p and p not in probes]
    assert full and all("/2023/07/" in p for p in full)  # only day prefixes listed whole
    assert "s3://trail/org/cloudtrail/AWSLogs/" in err
    same_events(pd.read_parquet(tmp_path / "e.parquet"), reference(access_keys=KEY))


def test_a_root_with_two_trails_reads_both_and_names_them(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    files = case_files()
    first = {
        f"AWSLogs/{f.relative_to(CASE.cloudtrail / 'AWSLogs').as_posix()}": f.read_bytes()
        for f in files[:30]
    }
    second = {
        f"old/AWSLogs/{f.relative_to(CASE.cloudtrail / 'AWSLogs').as_posix()}": f.read_bytes()
        for f in files[30:]
    }
    upload(moto, "trail", {**first, **second})
    code, out, err = run(
        "events", "--logs", "s3://trail/", *WINDOW, "--out", str(tmp_path / "e.parquet")
    )
    assert code == 0, err
    assert "s3://trail/AWSLogs/" in err and "s3://trail/old/AWSLogs/" in err
    assert out.startswith("2,928 events from 62 log file(s)")
    same_events(pd.read_parquet(tmp_path / "e.parquet"), reference())


def test_a_local_folder_with_two_trails_reads_both(tmp_path: Path) -> None:
    files = case_files()
    for i, f in enumerate(files):
        where = tmp_path / ("a" if i % 2 else "b/deeper") / f.relative_to(CASE.cloudtrail)
        where.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, where)
    act = load_activity(
        logs=[tmp_path], access_key=KEY, start=pd.Timestamp("2023-07-10", tz="UTC"),
        end=pd.Timestamp("2023-07-10T23:59Z"),
    )  # fmt: skip
    assert act.file_counts is not None
    assert sorted(act.file_counts.trails) == [
        str(tmp_path / "a" / "AWSLogs"),
        str(tmp_path / "b" / "deeper" / "AWSLogs"),
    ]
    assert any("CloudTrail log folders found" in n for n in act.notes)
    same_events(act.frame, reference(access_keys=KEY))


def test_discovery_past_its_bounds_lists_whole_and_says_so(
    proxy: RecordingProxy, moto: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(logs_listing, "DISCOVERY_MAX_LISTINGS", 3)
    noise = {f"noise{i}/x/readme.txt": b"x" for i in range(5)}
    upload(moto, "trail", {**noise, **case_objects("deep/er/")})
    code, _out, err = run(
        "events", "--logs", "s3://trail/", "--access-key", KEY, *WINDOW,
        "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    assert "was listed whole" in err
    same_events(pd.read_parquet(tmp_path / "e.parquet"), reference(access_keys=KEY))


# --------------------------------------------------------------------------------------------
# 4. counts that tell the truth; 6. denials grouped, with what they need
# --------------------------------------------------------------------------------------------
def _deny(proxy: RecordingProxy, pattern: str, **kwargs: Any) -> None:
    proxy.fail(
        lambda s: s.service == "s3" and s.method == "GET" and "list-type" not in s.path
        and pattern in s.path,
        **kwargs,
    )  # fmt: skip


def _denied_files(pattern: str) -> list[Path]:
    return [f for f in case_files() if pattern in f.relative_to(CASE.cloudtrail).as_posix()]


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_some_objects_denied_are_counted_and_the_rest_loads(
    proxy: RecordingProxy, moto: str, tmp_path: Path, engine: str
) -> None:
    upload(moto, "trail", case_objects())
    pattern = "T122"  # the files of 12:20–12:29
    denied = _denied_files(pattern)
    assert 2 <= len(denied) < 62
    _deny(proxy, pattern)
    code, out, err = run(
        "events", "--logs", "s3://trail/", "--engine", engine, *WINDOW,
        "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    read = 62 - len(denied)
    assert f"from {read} of 62 log file(s)" in out
    assert f"{len(denied)} failed: {len(denied)} could not be downloaded: AccessDenied" in out
    (line,) = issues(err)  # one line for all of them
    assert (
        f"{len(denied)} objects could not be downloaded: AccessDenied (needs s3:GetObject; "
        "kms:Decrypt when the trail's bucket uses SSE-KMS) — e.g. " in line
    )
    kept = [f for f in case_files() if f not in denied]
    ref = load_logs(kept, progress=False).frame
    same_events(pd.read_parquet(tmp_path / "e.parquet"), ref)


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_every_object_denied_is_nothing_read_with_the_true_count(
    proxy: RecordingProxy, moto: str, tmp_path: Path, engine: str
) -> None:
    upload(moto, "trail", case_objects())
    _deny(proxy, "/AWSLogs/")
    code, out, err = run(
        "events", "--logs", "s3://trail/", "--engine", engine, *WINDOW,
        "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    (line,) = errors(err)
    assert "62 log file(s) listed, none read (62 could not be downloaded: AccessDenied)" in line
    assert "all 0" not in err
    assert len(issues(err)) == 1 and "62 objects could not be downloaded" in issues(err)[0]


def test_thousands_of_denials_are_one_line(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    body = gzip.compress(json.dumps({"Records": []}).encode())
    many = {
        f"AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2023/07/10/"
        f"{ACCOUNT}_CloudTrail_us-east-1_20230710T{i // 60 % 24:02d}{i % 60:02d}Z_{i:016d}.json.gz": body
        for i in range(1200)
    }
    upload(moto, "trail", case_objects())
    put_objects("trail", ((key, body, {}) for key, body in many.items()))
    _deny(proxy, "Z_0000")  # every one of the 1,200 (their names end in Z_0000…)
    code, out, err = run(
        "events", "--logs", "s3://trail/AWSLogs/", "--access-key", KEY, *WINDOW,
        "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    assert len(issues(err)) == 1
    assert "1,200 objects could not be downloaded: AccessDenied" in issues(err)[0]
    assert "from 62 of 1,262 log file(s)" in out
    same_events(pd.read_parquet(tmp_path / "e.parquet"), reference(access_keys=KEY))


def test_a_kms_denial_names_kms_decrypt(proxy: RecordingProxy, moto: str, tmp_path: Path) -> None:
    upload(moto, "trail", case_objects())
    _deny(
        proxy, "T123",
        message="User: arn:aws:sts::123456789012:assumed-role/audit/s is not authorized to "
        "perform: kms:Decrypt on the resource associated with this ciphertext",
    )  # fmt: skip
    code, _out, err = run(
        "events", "--logs", "s3://trail/", *WINDOW, "--out", str(tmp_path / "e.parquet")
    )
    assert code == 0, err
    (line,) = issues(err)
    assert "could not be downloaded: AccessDenied (needs kms:Decrypt on the KMS key" in line
    assert "SSE-KMS" in line


def test_an_object_deleted_after_listing_says_so(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    upload(moto, "trail", case_objects())
    _deny(
        proxy, "T1240Z", status=404, code="NoSuchKey", message="The specified key does not exist."
    )
    code, out, err = run(
        "events", "--logs", "s3://trail/", *WINDOW, "--out", str(tmp_path / "e.parquet")
    )  # fmt: skip
    assert code == 0, err
    (line,) = issues(err)
    assert "could not be downloaded: NoSuchKey (the object was deleted after it was listed)" in line
    assert "could not be downloaded: NoSuchKey)" in out  # counted among the failed files
    kept = [f for f in case_files() if "T1240Z" not in f.name]
    same_events(pd.read_parquet(tmp_path / "e.parquet"), load_logs(kept, progress=False).frame)


def _deny_listing(proxy: RecordingProxy, bucket: str) -> None:
    proxy.fail(lambda s: s.service == "s3" and s.path.startswith(f"/{bucket}?list-type=2"))


def test_a_listing_denied_is_one_line_naming_s3_listbucket(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    upload(moto, "trail", case_objects())
    _deny_listing(proxy, "trail")
    code, out, err = run("events", "--logs", "s3://trail/", "--out", str(tmp_path / "e.csv"))
    assert code == EXIT_COULD_NOT_LOOK and out == ""
    (line,) = errors(err)
    assert "access denied: ListObjectsV2 on s3://trail/" in line and "s3:ListBucket" in line
    assert "Traceback" not in err


def test_a_listing_denied_beside_a_readable_source_loses_nothing(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    upload(moto, "denied", case_objects())
    _deny_listing(proxy, "denied")
    code, out, err = run(
        "events", "--case", str(CASE.root), "--logs", "s3://denied/", "--access-key", KEY,
        "--regions", TRAIL_REGIONS, "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    (line,) = issues(err)
    assert line.startswith("torinvest: issue: s3://denied/: could not be listed: access denied")
    assert out.startswith("64 events from 62 log file(s)")
    assert "s3:ListBucket" in line
    same_events(pd.read_parquet(tmp_path / "e.parquet"), reference(access_keys=KEY))


def test_the_sources_card_and_summary_count_listed_read_failed(
    proxy: RecordingProxy, moto: str, tmp_path: Path
) -> None:
    case = tmp_path / "case"
    shutil.copytree(CASE.findings, case / "findings")
    upload(moto, "trail", case_objects())
    denied = _denied_files("T122")
    _deny(proxy, "T122")
    sources = investigation.sources_from_parameters(case_dir=str(case), logs=["s3://trail/"])
    inv = investigation.investigate(FINDING, sources, now=pd.Timestamp("2023-08-01", tz="UTC"))
    card = display.sources_card(inv).data
    n = len(denied)
    assert f"62 log file(s) listed, {62 - n} read, {n} failed ({n} could not be downloaded" in card
    assert "s3://trail/AWSLogs/" in card  # the trail folder found
    problems = [i["problem"] for i in investigation.summary(inv)["data_issues"]]
    assert sum("could not be downloaded" in p for p in problems) == 1  # grouped
    assert any(p.startswith(f"{n} objects could not be downloaded") for p in problems)
    html = display.data_issues(inv).data
    assert html.count("could not be downloaded") == 1
    # 49 of 62 files read: refused sources are named, the activity is not "not allowed to look"
    assert f"{n} source(s) refused access</b> (AccessDenied): their events were not read" in html
    assert "ot allowed to look" not in html and "ould not look" not in html


def test_group_issues_keeps_order_singles_and_examples() -> None:
    denied = [
        DataIssue(f"s3://b/AWSLogs/1/f{i}.gz", "could not be downloaded: X (y)") for i in range(5)
    ]
    other = DataIssue("lookup:eu-west-1", "access denied: LookupEvents")
    grouped = group_issues([denied[0], other, *denied[1:], denied[0]])
    assert [g.source for g in grouped] == ["s3://b/AWSLogs/1/…", "lookup:eu-west-1"]
    assert grouped[0].problem == (
        "5 objects could not be downloaded: X (y) — e.g. f0.gz, f1.gz, f2.gz, …"
    )
    assert grouped[1] == other
    assert group_issues([other]) == [other]


# --------------------------------------------------------------------------------------------
# 5. combinations that cannot mean what they say
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (
            ["--engine", "athena", "--athena-database", "db", "--logs", "/tmp"],
            ["--engine athena", "--logs"],
        ),
        (
            ["--engine", "athena", "--athena-database", "db", "--case", str(CASE.root)],
            ["--engine athena", "--case"],
        ),
        (["--engine", "duckdb", "--lookup", "--access-key", KEY], ["--engine duckdb", "--logs"]),
        (
            ["--case", str(CASE.root), "--athena-database", "db"],
            ["--athena-database", "--engine athena"],
        ),
        (
            ["--case", str(CASE.root), "--engine", "duckdb", "--athena-output", "s3://r/"],
            ["--athena-output"],
        ),
    ],
    ids=[
        "athena+logs",
        "athena+case",
        "duckdb-without-logs",
        "athena-option-files",
        "athena-option-duckdb",
    ],
)
def test_engine_combinations_are_refused(
    tmp_path: Path, argv: list[str], needles: list[str]
) -> None:
    code, out, err = run("events", *argv, "--out", str(tmp_path / "e.csv"))
    assert code == 2 and out == ""
    assert all(n in errors(err)[0] for n in needles), err
    assert not (tmp_path / "e.csv").exists()


def test_investigate_refuses_athena_with_log_files_before_starting(tmp_path: Path) -> None:
    code, _out, err = run(
        "investigate", FINDING, "--case", str(CASE.root), "--engine", "athena",
        "--athena-database", "db", "--out", str(tmp_path / "r"),
    )  # fmt: skip
    assert code == 2
    assert "--engine athena" in errors(err)[0] and "would not be read" in errors(err)[0]
    assert not (tmp_path / "r" / "report.ipynb").exists()  # no kernel was started


def test_notebook_parameters_refuse_athena_with_logs() -> None:
    with pytest.raises(OptionsError, match="--engine athena"):
        investigation.sources_from_parameters(
            regions="us-east-1", engine="athena", athena_database="db", logs=["s3://trail/"]
        )
    with pytest.raises(OptionsError, match="--engine duckdb"):
        investigation.sources_from_parameters(regions="us-east-1", engine="duckdb")


# --------------------------------------------------------------------------------------------
# 7. every option honoured on every source, or refused
# --------------------------------------------------------------------------------------------
def test_username_filters_log_files_as_lookup_events_does(
    moto: str, fake_aws: FakeAws, tmp_path: Path
) -> None:
    ref = reference()
    mine = ref[ref["user_name"] == "benjamin"]
    assert 0 < len(mine) < len(ref)
    for engine in ("files", "duckdb"):
        out_file = tmp_path / f"{engine}.parquet"
        code, out, err = run(
            "events", "--case", str(CASE.root), "--username", "benjamin", "--engine", engine,
            "--out", str(out_file),
        )  # fmt: skip
        assert code == 0, err
        assert out.startswith(f"{len(mine)} events") and " of benjamin;" in out
        got = pd.read_parquet(out_file)
        assert set(got["user_name"]) == {"benjamin"}
        same_events(got, mine)
    # LookupEvents' own Username answer over the same records: the same events
    records = [
        r for f in case_files() for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]
    ]
    fake_aws.cloudtrail("us-east-1").add_records(records)
    lookup = load_activity(
        lookup=_aws(), username="benjamin", regions=["us-east-1"],
        start=pd.Timestamp("2023-07-10", tz="UTC"), end=pd.Timestamp("2023-07-11", tz="UTC"),
        cache_dir=False, now=pd.Timestamp("2023-07-20", tz="UTC"),
    )  # fmt: skip
    assert set(lookup.frame["event_id"]) == set(mine["event_id"])


def _aws() -> Any:
    from torinvest.aws import Aws, AwsConfig

    return Aws(AwsConfig(max_workers=1))


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_username_matches_a_role_session_name(engine: str) -> None:
    ref = reference()
    session = "i-0dbc91f429e48eeed"  # an EC2 instance role's session (AssumedRole)
    mine = ref[ref["user_name"] == session]
    assert len(mine) == 15 and set(mine["user_type"]) == {"AssumedRole"}
    act = load_activity(
        logs=[CASE.cloudtrail], username=session, engine=EngineOptions(kind=engine, max_rows=None)
    )
    same_events(act.frame, mine)


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_username_root_matches_the_root_user(tmp_path: Path, engine: str) -> None:
    lines = (AWSDOCS / "awsdocs_cloudtrail_examples.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    (tmp_path / "log.json").write_text(json.dumps({"Records": records}))
    act = load_activity(
        logs=[tmp_path], username="root", engine=EngineOptions(kind=engine, max_rows=None)
    )
    roots = [r["eventID"] for r in records if (r.get("userIdentity") or {}).get("type") == "Root"]
    assert set(act.frame["event_id"]) == set(roots) and len(set(roots)) == 4


@pytest.mark.parametrize("name", ["a\u2028b", "sess\u2029", "c1\x85x"])
def test_a_user_name_holding_a_line_separator_is_found_by_every_engine(
    tmp_path: Path, name: str
) -> None:
    """A name holding a character that breaks lines (U+2028, U+2029, NEL) is one value in the
    SQL: DuckDB finds the records the file loader finds (it read "no event … not an access
    problem": the query was indented line by line, inside the literal too), and the Athena SQL
    keeps it on one line."""
    records = json.loads(
        (AWSDOCS / "awsdocs_cloudtrail_examples.jsonl").read_text().splitlines()[0]
    )
    records = [
        {**records, "eventID": f"e{i}", "userIdentity": {"type": "IAMUser", "userName": n}}
        for i, n in enumerate([name, name.replace(name[-1], "")])
    ]
    (tmp_path / "log.json").write_text(json.dumps({"Records": records}))
    got = {}
    for engine in ("files", "duckdb"):
        code, out, err = run(
            "events", "--logs", str(tmp_path), "--engine", engine, "--username", name,
            "--out", str(tmp_path / f"{engine}.csv"),
        )  # fmt: skip
        assert code == 0, err
        got[engine] = list(pd.read_csv(tmp_path / f"{engine}.csv")["event_id"])
    assert got == {"files": ["e0"], "duckdb": ["e0"]}
    code, out, err = run(
        "events", "--engine", "athena", "--athena-database", "security", "--username", name,
        *WINDOW, "--print-sql", "--out", str(tmp_path / "x.parquet"),
    )  # fmt: skip
    assert code == 0, err
    separator = next(c for c in name if not c.isprintable())
    assert separator not in out and "user_name =" in out
    assert re.search(rf"CHR\(\s*{ord(separator)}\)", out)


def test_athena_sql_has_the_user_filter(tmp_path: Path) -> None:
    code, out, err = run(
        "events", "--engine", "athena", "--athena-database", "security", "--username",
        "ben'; DROP TABLE x; --", *WINDOW, "--print-sql", "--out", str(tmp_path / "x.parquet"),
    )  # fmt: skip
    assert code == 0, err
    sql = "\n".join(ln for ln in out.splitlines() if not ln.startswith("--"))
    tree = sqlglot.parse_one(sql, read="trino")  # one statement: the name is a literal
    assert "'ben''; DROP TABLE x; --'" in tree.sql("trino")
    assert "user_name =" in sql


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_regions_without_lookup_narrow_every_source(tmp_path: Path, engine: str) -> None:
    recs = json.loads((INVICTUS / sorted(p.name for p in INVICTUS.iterdir())[0]).read_text())[
        "Records"
    ]
    other = copy.deepcopy(recs)
    for r in other:
        r["awsRegion"], r["eventID"] = "eu-west-1", "eu" + r["eventID"][2:]
    third = copy.deepcopy(recs)
    for r in third:
        r["awsRegion"], r["eventID"] = "ap-south-1", "ap" + r["eventID"][2:]
    (tmp_path / "flat.json").write_text(json.dumps({"Records": recs + other + third}))
    code, _out, err = run(
        "events", "--logs", str(tmp_path), "--regions", "eu-west-1", "--engine", engine,
        "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    got = pd.read_parquet(tmp_path / "e.parquet")
    assert set(got["aws_region"]) == {"eu-west-1", "us-east-1"}  # us-east-1: IAM/STS events
    assert len(got) == len(recs) + len(other)
    assert "us-east-1 is read with the regions asked" in err


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_regions_of_govcloud_keep_us_gov_west_1s_iam_events(tmp_path: Path, engine: str) -> None:
    """A GovCloud case narrowed to us-gov-east-1: its IAM and STS events are in us-gov-west-1
    (not us-east-1), and they are kept, with the note saying so."""
    recs = json.loads((INVICTUS / sorted(p.name for p in INVICTUS.iterdir())[0]).read_text())[
        "Records"
    ]
    west = copy.deepcopy(recs)
    for r in west:
        r["awsRegion"], r["eventID"] = "us-gov-west-1", "gw" + r["eventID"][2:]
    east = copy.deepcopy(recs)
    for r in east:
        r["awsRegion"], r["eventID"] = "us-gov-east-1", "ge" + r["eventID"][2:]
    (tmp_path / "flat.json").write_text(json.dumps({"Records": west + east + recs}))
    code, _out, err = run(
        "events", "--logs", str(tmp_path), "--regions", "us-gov-east-1", "--engine", engine,
        "--out", str(tmp_path / "e.parquet"),
    )  # fmt: skip
    assert code == 0, err
    got = pd.read_parquet(tmp_path / "e.parquet")
    assert set(got["aws_region"]) == {"us-gov-east-1", "us-gov-west-1"}
    assert len(got) == len(west) + len(east)
    assert "us-gov-west-1 is read with the regions asked" in err
    assert "us-east-1 is read" not in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--follow-derived"], "--follow-derived"),
        (["--username", "benjamin", "--follow-derived"], "--follow-derived"),
        (["--no-cache"], "--no-cache"),
        (["--max-workers", "4"], "--max-workers"),
        (["--access-key", KEY, "--username", "benjamin"], "--access-key and --username"),
        (["--external-id", "ext-id-42"], "--external-id"),
        (["--engine", "duckdb", "--print-sql", "--lookup", "--access-key", KEY], "--print-sql"),
        (["--print-sql"], "--print-sql"),
    ],
    ids=["follow-derived", "follow-derived-username", "no-cache", "max-workers",
         "key-and-user", "external-id", "print-sql-lookup", "print-sql-files"],
)  # fmt: skip
def test_options_no_source_would_honour_are_refused(
    tmp_path: Path, argv: list[str], needle: str
) -> None:
    code, out, err = run(
        "events", "--case", str(CASE.root), *argv, "--out", str(tmp_path / "e.csv")
    )
    assert code == 2 and out == ""
    assert needle in errors(err)[0]
    assert not (tmp_path / "e.csv").exists()


def test_print_sql_with_follow_derived_says_what_runs(tmp_path: Path) -> None:
    code, out, err = run(
        "events", "--case", str(CASE.root), "--engine", "duckdb", "--access-key", KEY,
        "--follow-derived", "--print-sql", "--out", str(tmp_path / "x.csv"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("-- --follow-derived: this query runs again for the keys minted")


@pytest.mark.parametrize(
    "argv",
    [
        ("--engine", "files", "--logs", str(CASE.cloudtrail)),
        ("--engine", "duckdb", "--logs", str(CASE.cloudtrail)),
        ("--engine", "athena", "--athena-database", "security", "--print-sql"),
        ("--lookup",),
    ],
)
@pytest.mark.parametrize("name", ["benjamin\n", "ben\x01", "x" * 129])
def test_a_user_name_with_a_control_character_is_a_usage_error_in_every_engine(
    tmp_path: Path, argv: tuple[str, ...], name: str
) -> None:
    """A pasted trailing newline or a control character is refused (exit 2) by every engine
    alike: the file loader read "no event of benjamin\\n", DuckDB refused it (exit 1)."""
    out_file = tmp_path / "x.csv"
    code, out, err = run("events", *argv, "--username", name, *WINDOW, "--out", str(out_file))
    assert code == 2, err
    assert errors(err) and "--username" in errors(err)[0] and not out and not out_file.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ("events", "--engine", "athena", "--athena-database", "security", "--print-sql",
         *WINDOW, "--out", "x.csv", "--athena-table"),
        ("events", "--engine", "athena", "--athena-table", "t", "--print-sql", *WINDOW,
         "--out", "x.csv", "--athena-database"),
        ("athena-ddl", "--bucket", "trail-logs", "--accounts", "123456789012", "--table"),
        ("athena-ddl", "--bucket", "trail-logs", "--accounts", "123456789012", "--database"),
    ],
)  # fmt: skip
def test_a_table_name_with_a_trailing_newline_is_refused(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """An Athena database or table name is only lower-case letters, digits and _: a trailing
    newline (which ``$`` let through) never reaches a FROM or a CREATE TABLE; a usage error."""
    with pytest.raises(SystemExit) as exited:
        run(*argv, "cloudtrail\n")
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert not captured.out and "invalid Athena name 'cloudtrail\\n'" in captured.err
