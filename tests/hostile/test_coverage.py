"""What the trail's dated layout says was not there: a region asked with no folder, and days of
the window with no log file in a region that has some, are issues (the events there, if any,
were not read) — never "the sources were read and hold no event". Local folders and S3 (moto),
the file loader and DuckDB. Catalogue: docs/hostile-inputs.md, "Regions and days not there".
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import boto3
import pytest

from torinvest.case import sample_case
from torinvest.cli import main

CASE = sample_case()
ACCOUNT = "218007301253"
KEY = "AKIATFQR7NSCUXC3DDDP"  # 64 calls in the sample case, all on 2023-07-10
NOBODY = "AKIANOBODY0000000000"  # in no record
FOLDER = f"AWSLogs/{ACCOUNT}/CloudTrail/"
READ_EMPTY = "the sources were read and hold no event"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def issues(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("torinvest: issue:")]


@pytest.fixture(params=["local", "s3"])
def trail(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The sample case's trail (us-east-1, eu-west-1, ap-southeast-1 on 2023-07-10 only): its
    folder, or the same objects on moto."""
    if request.param == "local":
        shutil.copytree(CASE.cloudtrail, tmp_path / "ct")
        return str(tmp_path / "ct")
    moto = request.getfixturevalue("moto")
    s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
    s3.create_bucket(Bucket="trail")
    for f in sorted(CASE.cloudtrail.rglob("*.json.gz")):
        key = f.relative_to(CASE.cloudtrail).as_posix()
        s3.put_object(Bucket="trail", Key=key, Body=f.read_bytes())
    return "s3://trail/"


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_region_asked_with_no_folder_is_an_issue_not_read_and_empty(
    trail: str, engine: str, tmp_path: Path
) -> None:
    code, out, err = run(
        "events", "--logs", trail, "--regions", "sa-east-1", "--access-key", NOBODY,
        "--start", "2023-07-10T16:00Z", "--end", "2023-07-10T17:00Z", "--engine", engine,
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("0 events from ")
    assert READ_EMPTY not in err and "not an access problem" not in err
    where = trail.rstrip("/") + "/" + FOLDER
    assert issues(err) == [
        f"torinvest: issue: {where}: no folder for region(s) sa-east-1: no log file of that "
        "region here at all, so its events, if any, were not read"
    ]


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_days_of_the_window_with_no_log_file_are_named(
    trail: str, engine: str, tmp_path: Path
) -> None:
    code, out, err = run(
        "events", "--logs", trail, "--regions", "us-east-1", "--access-key", KEY,
        "--start", "2023-07-01", "--end", "2023-07-11", "--engine", engine,
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith("60 events from ")  # what is there is read (us-east-1's)
    where = trail.rstrip("/") + "/" + FOLDER + "us-east-1/"
    assert issues(err) == [
        f"torinvest: issue: {where}: no log file for 2023-07-01–2023-07-09, 2023-07-11 (10 of "
        "the window's 11 UTC day(s)): nothing was logged there those days, or logging stopped, "
        "or the files are not here; the events of those days, if any, were not read"
    ]


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_region_with_its_day_folder_and_no_matching_event_is_read_and_empty(
    trail: str, engine: str, tmp_path: Path
) -> None:
    code, _out, err = run(
        "events", "--logs", trail, "--regions", "eu-west-1", "--access-key", NOBODY,
        "--start", "2023-07-10", "--end", "2023-07-10", "--engine", engine,
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == []
    assert READ_EMPTY in err


def test_without_regions_every_region_present_is_judged(tmp_path: Path) -> None:
    shutil.copytree(CASE.cloudtrail, tmp_path / "ct")
    code, _out, err = run(
        "events", "--logs", str(tmp_path / "ct"), "--access-key", KEY,
        "--start", "2023-07-10", "--end", "2023-07-11", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == [
        f"torinvest: issue: {tmp_path}/ct/{FOLDER}…: 3 folders: no log file for 2023-07-11 (1 of "
        "the window's 2 UTC day(s)): nothing was logged there those days, or logging stopped, "
        "or the files are not here; the events of those days, if any, were not read — e.g. ap-southeast-1/, eu-west-1/, us-east-1/"
    ]


def test_files_outside_the_dated_layout_claim_no_coverage(tmp_path: Path) -> None:
    """A flat folder of exports cannot say which days or regions it covers: nothing claimed."""
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in sorted(CASE.cloudtrail.rglob("*.json.gz")):
        shutil.copy(f, flat / f.name)
    code, _out, err = run(
        "events", "--logs", str(flat), "--regions", "eu-west-1", "--access-key", NOBODY,
        "--start", "2023-07-01", "--end", "2023-07-11", "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert issues(err) == []


def test_lookup_events_too_old_says_only_the_log_files_were_read(
    tmp_path: Path, fake_aws: object
) -> None:
    shutil.copytree(CASE.cloudtrail, tmp_path / "ct")
    code, _out, err = run(
        "events", "--logs", str(tmp_path / "ct"), "--lookup", "--regions", "us-east-1",
        "--access-key", KEY, "--start", "2023-07-01", "--end", "2023-07-31",
        "--out", str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert "cover the window" not in err
    assert "LookupEvents has no events that old; only the log files were read" in err
    gap = "no log file for 2023-07-01–2023-07-09, 2023-07-11–2023-07-31"
    assert any(gap in i for i in issues(err))


def test_new_values_against_a_history_not_completely_read_say_so() -> None:
    """The default window reaches 14 days back, where the case holds no log file: "3 IP(s) not
    seen before" holds only for what was read (3 regions without those days), and each "new" signal says the activity was not
    completely read; over a window the files cover, the same signals claim it plainly."""
    from tests.sample_window import COVERED
    from torinvest.investigation import investigate, sources_from_parameters

    src = sources_from_parameters(case_dir=str(CASE.root))
    gappy = {s.name: s for s in investigate("6dde0a8f8d46f6acad893b30f905e97c", src).signals}
    assert {"new_source_ip", "new_user_agent"} <= set(gappy)
    for name in ("new_source_ip", "new_user_agent"):
        # 3 region folders without those days: one data issue, as the reading counts it
        assert "the activity was not completely read (1 data issue(s)" in gappy[name].detail
        assert "an earlier call may be in what was not read" in gappy[name].detail
    assert "not completely read" not in gappy["tor_use"].detail
    covered = investigate("6dde0a8f8d46f6acad893b30f905e97c", src, **COVERED).signals
    assert not [s for s in covered if "not completely read" in s.detail]
    assert {"new_source_ip", "new_user_agent"} <= {s.name for s in covered}
