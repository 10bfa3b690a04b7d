"""Hostile windows, options and notebook parameters (catalogue: docs/hostile-inputs.md, section
"Windows, options and arguments").

Each test asserts the outcome a user relies on (the events kept, or a clear one-line error with
the right exit status) and that no valid record was lost. The sample case's key made 64 calls on
2023-07-10 (11:42:18Z → 12:27:46Z): a date-only window of that day must hold all of them.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import nbformat
import numpy as np
import pandas as pd
import pytest

from tests.cli_run import run
from tests.fake_aws import FakeAws
from torinvest import investigation
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.errors import InputError
from torinvest.events import EngineOptions, load_activity
from torinvest.investigation import InvestigateParameters, TriageParameters
from torinvest.schema import time_window, window_bound
from torinvest.sources import lookup as lk
from torinvest.sources.logs import load_logs
from torinvest.sources.lookup import pacer as lk_pacer
from torinvest.sources.sql import DuckDBEngine, events_query, load_sql, make_scope, print_sql

KEY = "AKIATFQR7NSCUXC3DDDP"
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
ROOT = Path(__file__).resolve().parents[2]
DAY = "2023-07-10"
CALLS_THAT_DAY = 64
CASE = sample_case()
SHAPES = Path(__file__).resolve().parent.parent / "fixtures" / "guardduty" / "shapes"


def one_error_line(err: str) -> str:
    """The single error line of a failed command (and no traceback)."""
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(lines) == 1, err
    return lines[0]


def records_of_key() -> list[dict[str, Any]]:
    out = []
    for f in sorted(CASE.cloudtrail.rglob("*.json.gz")):
        for r in json.loads(gzip.decompress(f.read_bytes()))["Records"]:
            if (r.get("userIdentity") or {}).get("accessKeyId") == KEY:
                out.append(r)
    return out


def ids_between(first: str, last: str) -> set[str]:
    lo, hi = pd.Timestamp(first), pd.Timestamp(last)
    return {r["eventID"] for r in records_of_key() if lo <= pd.Timestamp(r["eventTime"]) <= hi}


THAT_DAY = ids_between("2023-07-10T00:00:00Z", "2023-07-10T23:59:59.999999Z")


def test_the_sample_key_made_64_calls_that_day() -> None:
    assert len(THAT_DAY) == CALLS_THAT_DAY


# --------------------------------------------------------------------------------------------
# a date-only end is the end of that day, at every entry point
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_events_date_only_window_is_the_whole_day(engine: str, tmp_path: Path) -> None:
    out = tmp_path / "ev.parquet"
    code, stdout, err = run(
        "events", "--case", str(CASE.root), "--access-key", KEY, "--engine", engine,
        "--start", DAY, "--end", DAY, "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert stdout.startswith(f"{CALLS_THAT_DAY} events from ")
    assert "hold no event" not in err
    assert set(pd.read_parquet(out)["event_id"]) == THAT_DAY


@pytest.mark.parametrize(
    ("start", "end", "first", "last"),
    [
        # an offset is converted: 13:42:30+02:00 is 11:42:30Z
        (
            "2023-07-10T13:42:30+02:00",
            "2023-07-10T14:20+02:00",
            "2023-07-10T11:42:30Z",
            "2023-07-10T12:20:00Z",
        ),
        # naive is UTC; an end with a time is that instant, inclusive
        (
            "2023-07-10T11:42:18",
            "2023-07-10T11:42:18",
            "2023-07-10T11:42:18Z",
            "2023-07-10T11:42:18Z",
        ),
        # basic ISO 8601 dates, and a month alone (the whole month)
        ("20230710", "20230710", "2023-07-10T00:00:00Z", "2023-07-10T23:59:59.999999Z"),
        ("2023-07", "2023-07", "2023-07-01T00:00:00Z", "2023-07-31T23:59:59.999999Z"),
    ],
    ids=["offset", "naive-instant", "basic-date", "month"],
)
def test_events_window_forms(start: str, end: str, first: str, last: str, tmp_path: Path) -> None:
    out = tmp_path / "ev.parquet"
    code, _, err = run(
        "events", "--case", str(CASE.root), "--access-key", KEY,
        "--start", start, "--end", end, "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    want = ids_between(first, last)
    assert want  # each window holds calls
    assert set(pd.read_parquet(out)["event_id"]) == want


@pytest.mark.parametrize(
    "end",
    [DAY, date(2023, 7, 10), "20230710"],
    ids=["text", "date-object", "basic"],
)
def test_python_api_date_only_end(end: object) -> None:
    res = load_logs(str(CASE.cloudtrail), access_keys=KEY, start=DAY, end=end)
    assert set(res.frame["event_id"]) == THAT_DAY
    act = load_activity(logs=[str(CASE.cloudtrail)], access_key=KEY, start=DAY, end=end)
    assert set(act.frame["event_id"]) == THAT_DAY
    duck = load_activity(
        logs=[str(CASE.cloudtrail)],
        access_key=KEY,
        start=DAY,
        end=end,
        engine=EngineOptions(kind="duckdb", max_rows=None),
    )
    assert set(duck.frame["event_id"]) == THAT_DAY


def test_python_api_a_datetime_at_midnight_is_an_instant() -> None:
    # a datetime (not a date) names an instant: midnight ends the window before the day
    res = load_logs(
        str(CASE.cloudtrail), access_keys=KEY, start=DAY, end=datetime(2023, 7, 10, 0, 0)
    )
    assert len(res.frame) == 0
    assert window_bound(datetime(2023, 7, 10), "end") == pd.Timestamp("2023-07-10T00:00Z")


@pytest.mark.parametrize(
    ("value", "bound", "expected"),
    [
        (pd.Timestamp("2023-07-10T12:00:00.000000001Z"), "start", "2023-07-10T12:00:00.000001Z"),
        (pd.Timestamp("2023-07-10T12:00:00.000000999Z"), "end", "2023-07-10T12:00:00Z"),
        (np.datetime64("2023-07-10T12:00:00.000000500"), "start", "2023-07-10T12:00:00.000001Z"),
        ("2023-07-10T12:00:00.0000001Z", "start", "2023-07-10T12:00:00.000001Z"),
        ("2023-07-10T12:00:00.9999999Z", "end", "2023-07-10T12:00:00.999999Z"),
        ("2023-07-10T12:00:00.1234560Z", "start", "2023-07-10T12:00:00.123456Z"),
        ("2023-07-10T17:30:00.0000001+05:30", "start", "2023-07-10T12:00:00.000001Z"),
        (pd.Timestamp("2023-07-10T12:00:00Z").as_unit("ns"), "start", "2023-07-10T12:00:00Z"),
    ],
)
def test_a_bound_between_two_microseconds_is_the_one_events_can_meet(
    value: object, bound: Literal["start", "end"], expected: str
) -> None:
    """Events' times are microseconds (every engine's): a start between two is the next, an
    end the previous, in microseconds (the SQL engines' literals print six digits: a start
    left in nanoseconds was cut down there and kept an event the file loader left out)."""
    got = window_bound(value, bound)
    assert got == pd.Timestamp(expected) and got is not None and got.unit == "us"


def test_sql_scope_and_load_sql_take_date_only_text() -> None:
    scope = make_scope(access_keys=KEY, start=DAY, end=DAY)
    assert scope.end == pd.Timestamp("2023-07-10T23:59:59.999999Z")
    engine = DuckDBEngine([str(CASE.cloudtrail)])
    try:
        sql = print_sql(engine, events_query(scope), file=io.StringIO())
        assert "2023-07-10 23:59:59.999999" in sql
        res = load_sql(engine, access_keys=KEY, start=DAY, end=DAY, max_rows=None)
    finally:
        engine.close()
    assert set(res.frame["event_id"]) == THAT_DAY


@pytest.mark.parametrize("engine", ["duckdb", "athena"])
def test_print_sql_includes_the_whole_end_day(engine: str, tmp_path: Path) -> None:
    args = ["events", "--engine", engine, "--access-key", KEY, "--start", DAY, "--end", DAY]
    args += ["--case", str(CASE.root)] if engine == "duckdb" else ["--athena-database", "sec"]
    code, sql, err = run(*args, "--print-sql", "--out", str(tmp_path / "x.parquet"))
    assert code == 0, err
    assert "2023-07-10 00:00:00.000000 UTC" in sql
    assert "2023-07-10 23:59:59.999999 UTC" in sql
    if engine == "athena":  # the date partitions read include the day (±1 as the file loader)
        assert "\"date\" BETWEEN '2023/07/09' AND '2023/07/11'" in sql


@pytest.fixture
def trail(fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    """The sample case's records behind LookupEvents, in their regions."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    for f in sorted(CASE.cloudtrail.rglob("*.json.gz")):
        recs = json.loads(gzip.decompress(f.read_bytes()))["Records"]
        for r in recs:
            fake_aws.cloudtrail(r["awsRegion"]).add_records([r])
    fake_aws.set_lookup_rate(None)
    lk_pacer._PACERS.clear()
    return fake_aws


def test_lookup_events_date_only_end(trail: FakeAws, tmp_path: Path) -> None:
    result = lk.lookup_events(
        Aws(),
        KEY,
        start=DAY,  # type: ignore[arg-type]
        end=DAY,  # type: ignore[arg-type]
        regions=["us-east-1", "eu-west-1", "ap-southeast-1"],
        cache_dir=tmp_path,
        follow_derived=False,
        rate=200.0,
        now=pd.Timestamp("2023-07-12T00:00:00Z"),
    )
    assert result.issues == []
    assert set(result.frame["event_id"]) == THAT_DAY


def test_findings_date_only_end_keeps_that_days_updates() -> None:
    code, out, err = run("findings", "--case", str(CASE.root), "--end", DAY, "--json")
    assert code == 0, err
    assert {f["id"] for f in json.loads(out)} == {
        "6dde0a8f8d46f6acad893b30f905e97c",
        "7f176d541deef88b1ad653b9ed646f29",
    }


def test_findings_from_guardduty_date_only_end(fake_aws: FakeAws) -> None:
    base = json.loads((SHAPES / "single_raw.json").read_text())
    found = []
    for i, when in enumerate(["2023-07-09T23:59:59Z", "2023-07-10T00:00:00Z", "2023-07-10T23:59:59Z",
                              "2023-07-11T00:00:00Z"]):  # fmt: skip
        f = copy.deepcopy(base)
        f["id"] = f"a{i:031x}"
        f["region"] = "us-east-1"
        f["updatedAt"] = when
        found.append(f)
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector()
    gd.add_findings(found)
    code, out, err = run(
        "findings", "--regions", "us-east-1", "--start", DAY, "--end", DAY, "--json"
    )
    assert code == 0, err
    assert sorted(f["id"] for f in json.loads(out)) == [f"a{1:031x}", f"a{2:031x}"]


# --------------------------------------------------------------------------------------------
# unreadable or contradictory windows: a clear error, never a silent guess
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    ["10/07/2023", "yesterday", "now", "2023-02-30", "2023-13", ""],
    ids=["us-date", "word", "now", "no-such-day", "no-such-month", "empty"],
)
def test_events_unreadable_time_is_a_usage_error(value: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["events", "--case", str(CASE.root), "--end", value, "--out", str(tmp_path / "x.csv")])
    assert exit_info.value.code == 2
    assert not (tmp_path / "x.csv").exists()


def test_unreadable_time_message_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["events", "--case", str(CASE.root), "--end", "10/07/2023", "--out", "x.csv"])
    err = capsys.readouterr().err
    assert "argument --end: not an ISO 8601 date or time: '10/07/2023'" in err
    assert "Traceback" not in err


#: Every command with --start/--end, with what else it needs (the sample case, an output).
WINDOW_COMMANDS = {
    "events": ["events", "--case", str(CASE.root), "--out", "OUT"],
    "events-lookup": ["events", "--lookup", "--access-key", KEY, "--out", "OUT"],
    "findings": ["findings", "--case", str(CASE.root)],
}


def window_command(name: str, tmp_path: Path, *window: str) -> list[str]:
    return [a.replace("OUT", str(tmp_path / "x.csv")) for a in WINDOW_COMMANDS[name]] + list(window)


@pytest.mark.parametrize("command", sorted(WINDOW_COMMANDS))
def test_every_command_says_a_start_after_the_end_alike(command: str, tmp_path: Path) -> None:
    """Both bounds shown, a usage error (exit 2) before any work, in every command."""
    argv = window_command(command, tmp_path, "--start", "2023-07-11", "--end", DAY)
    code, out, err = run(*argv)
    assert code == 2 and out == ""
    assert one_error_line(err) == (
        "torinvest: error: --start 2023-07-11T00:00:00Z is after --end "
        "2023-07-10T23:59:59.999999Z (swap them, or widen the window)"
    )
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("command", sorted(WINDOW_COMMANDS))
def test_a_start_in_the_future_is_said_as_such(command: str, tmp_path: Path) -> None:
    """No --end: the start is in the future, not "after" an end the analyst never gave."""
    future = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=400)).strftime("%Y-%m-%d")
    code, _, err = run(*window_command(command, tmp_path, "--start", future))
    line = one_error_line(err)
    assert code == 2
    assert f"--start {future}T00:00:00Z is in the future (now is " in line
    assert "after" not in line and "swap" not in line
    assert not (tmp_path / "x.csv").exists()


def test_lookup_events_says_a_future_start_is_in_the_future() -> None:
    from torinvest.sources.lookup import lookup_events

    now = pd.Timestamp("2026-12-04T22:21Z")
    with pytest.raises(InputError, match=r"^start 2027-01-01T00:00:00Z is in the future"):
        lookup_events(None, KEY, start="2027-01-01", end=now, now=now)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "hint"),
    [
        ("2023-W28", "that week is --start 2023-07-10 --end 2023-07-16"),
        ("2023W28", "that week is --start 2023-07-10 --end 2023-07-16"),
        ("2023-W28-3", "its day 3 is 2023-07-12"),
        ("2023-w28T12:00", "that week is --start 2023-07-10 --end 2023-07-16"),
    ],
)
def test_an_iso_week_is_refused_with_its_days(value: str, hint: str, tmp_path: Path) -> None:
    """Python reads 2023-W28 as its Monday: a window "of the week" would be one day."""
    for argv in (
        window_command("events", tmp_path, "--end", value),
        window_command("findings", tmp_path, "--start", value),
        ["tor", "check", "185.220.101.34", "--at", value],
    ):
        with pytest.raises(SystemExit) as exited:
            run(*argv)
        assert exited.value.code == 2
    with pytest.raises(InputError, match="is an ISO week date") as refused:
        time_window(None, value)
    assert hint in str(refused.value)
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("value", [5, 3.5, ["2023-07-10"], "10/07/2023"])
def test_python_api_refuses_what_is_not_a_time(value: object) -> None:
    with pytest.raises(InputError, match=r"^end: not an? (ISO 8601 )?date or time"):
        load_logs(str(CASE.cloudtrail), access_keys=KEY, start=DAY, end=value)


def test_python_api_window_that_ends_before_it_starts() -> None:
    with pytest.raises(InputError, match="start 2023-07-11T00:00:00Z is after end"):
        load_activity(logs=[str(CASE.cloudtrail)], access_key=KEY, start="2023-07-11", end=DAY)
    # the same day as start and end is the whole day, not an empty or reversed window
    assert time_window(DAY, DAY) == (
        pd.Timestamp("2023-07-10T00:00Z"),
        pd.Timestamp("2023-07-10T23:59:59.999999Z"),
    )


def test_tor_check_at_a_date() -> None:
    code, out, err = run("tor", "check", "185.220.101.34", "--at", DAY)
    assert code == 0, err
    assert out.startswith("185.220.101.34 at 2023-07-10 00:00Z")


# --------------------------------------------------------------------------------------------
# notebook parameters: papermill's -p gives text
# --------------------------------------------------------------------------------------------
def _papermill_env() -> dict[str, str]:
    """This interpreter's kernelspec first (a python3 kernel of another Python must not win)."""
    return {**os.environ, "JUPYTER_PATH": str(Path(sys.prefix) / "share" / "jupyter")}


def test_papermill_logs_as_one_path_and_a_bool_as_text(tmp_path: Path) -> None:
    """A real papermill run: `-p logs PATH` (text) is that one folder, `-p follow_derived false`
    is False — not the characters of the path walked from /, not a truthy string."""
    case = tmp_path / "case"
    shutil.copytree(CASE.root, case, ignore=shutil.ignore_patterns("cloudtrail"))
    summary = tmp_path / "summary.json"
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("papermill")),
            str(ROOT / "notebooks" / "investigate.ipynb"),
            str(tmp_path / "out.ipynb"),
            "-p",
            "finding_id",
            FINDING,
            "-p",
            "case_dir",
            str(case),
            "-p",
            "logs",
            str(CASE.cloudtrail),
            "-p",
            "follow_derived",
            "false",
            "-p",
            "ledger",
            str(tmp_path / "ledger.jsonl"),
            "-p",
            "summary_path",
            str(summary),
            "--no-progress-bar",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
        env=_papermill_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(summary.read_text())
    assert data["events"]["total"] == 64  # every call of the key, from that one folder
    assert data["derived_keys"] == []  # not followed
    assert not any(i["source"] == "/" for i in data["data_issues"])


def test_papermill_wrong_typed_parameter_names_it(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(Path(sys.executable).with_name("papermill")),
            str(ROOT / "notebooks" / "triage.ipynb"),
            str(tmp_path / "out.ipynb"),
            "-p",
            "case_dir",
            str(CASE.root),
            "-p",
            "include_archived",
            "maybe",
            "--no-progress-bar",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=tmp_path,
        env=_papermill_env(),
    )
    assert proc.returncode != 0
    assert "parameter include_archived: expected true or false, got str 'maybe'" in proc.stderr
    nb = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    ran = [c for c in nb.cells if c.cell_type == "code" and c.get("execution_count")]
    assert "TriageParameters.check" in ran[-1].source  # stopped there, before any source


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/data/logs", ["/data/logs"]),
        ("/a, s3://bucket/AWSLogs/ ,/b", ["/a", "s3://bucket/AWSLogs/", "/b"]),
        ("", []),
        (None, []),
        (["/a", "/b,c"], ["/a", "/b,c"]),
    ],
    ids=["one-path", "comma-list", "empty", "none", "a-list"],
)
def test_list_parameters_given_text(given: object, expected: list[str]) -> None:
    assert InvestigateParameters.check({"logs": given, "exit_lists": given}).logs == expected
    assert investigation.param_list("exit_lists", given) == expected


def test_a_path_with_a_comma_that_exists_is_one_item(tmp_path: Path) -> None:
    odd = tmp_path / "logs,2023"
    odd.mkdir()
    assert investigation.param_list("logs", str(odd)) == [str(odd)]
    sources = investigation.sources_from_parameters(case_dir=str(CASE.root), logs=str(odd))
    assert sources.logs == [str(odd)]


@pytest.mark.parametrize(
    ("values", "converted"),
    [
        (
            {"follow_derived": "false", "suppress": "Yes"},
            {"follow_derived": False, "suppress": True},
        ),
        ({"lookback_days": "30", "max_rows": "1_000"}, {"lookback_days": 30.0, "max_rows": 1000}),
        ({"regions": ["us-east-1", "eu-west-1"]}, {"regions": "us-east-1,eu-west-1"}),
    ],
    ids=["bools-as-text", "numbers-as-text", "regions-list"],
)
def test_unambiguous_parameters_are_converted(values: dict, converted: dict) -> None:
    checked = InvestigateParameters.check(values)
    assert {k: getattr(checked, k) for k in converted} == converted


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"case_dir": 5}, "parameter case_dir: expected text, got int '5'"),
        ({"finding_id": 12345678}, "parameter finding_id: expected text, got int"),
        ({"logs": 3}, "parameter logs: expected a list of paths or one path, got int"),
        ({"exit_lists": ["/a", 7]}, "parameter exit_lists: every item must be text"),
        ({"follow_derived": "nope"}, "parameter follow_derived: expected true or false"),
        ({"lookback_days": "two weeks"}, "parameter lookback_days: not a number: 'two weeks'"),
        ({"max_rows": -1}, "parameter max_rows: -1 is less than 0"),
    ],
    ids=[
        "number-for-path",
        "number-for-id",
        "number-for-list",
        "number-in-list",
        "bad-bool",
        "bad-number",
        "negative-rows",
    ],
)
def test_wrong_typed_parameters_name_the_parameter(values: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        InvestigateParameters.check(values)


def test_triage_parameters() -> None:
    checked = TriageParameters.check({"include_archived": "False", "out_dir": "reports"})
    assert (checked.include_archived, checked.out_dir) == (False, "reports")


# --------------------------------------------------------------------------------------------
# athena-ddl --bucket: S3's general purpose bucket naming rules, the one broken named
# --------------------------------------------------------------------------------------------
BAD_BUCKETS = [
    ("a.b..c", "two adjacent periods"),
    ("192.168.1.1", "formatted as an IP address"),
    ("xn--foo", "starts with xn--"),
    ("sthree-logs", "starts with sthree-"),
    ("amzn-s3-demo-bucket", "starts with amzn-s3-demo-"),
    ("logs-s3alias", "ends with -s3alias"),
    ("logs--ol-s3", "ends with --ol-s3"),
    ("logs.mrap", "ends with .mrap"),
    ("logs--x-s3", "ends with --x-s3"),
    ("ab", "2 characters long"),
    ("a" * 64, "64 characters long"),
    ("-logs", "begin and end with a letter or digit"),
    ("logs.", "begin and end with a letter or digit"),
    ("Logs", "'L' is not allowed"),
    ("my_logs", "'_' is not allowed"),
]


@pytest.mark.parametrize(("bucket", "rule"), BAD_BUCKETS)
def test_athena_ddl_refuses_a_bucket_name_s3_forbids_naming_the_rule(
    bucket: str, rule: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["athena-ddl", f"--bucket={bucket}", "--accounts", "111122223333"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --bucket: invalid bucket name" in err and rule in err


@pytest.mark.parametrize("bucket", ["abc", "my.trail-logs.2024", "1-2", "a" * 63, "xn-logs"])
def test_athena_ddl_takes_every_bucket_name_s3_allows(bucket: str) -> None:
    out = io.StringIO()
    argv = ["athena-ddl", "--bucket", bucket, "--accounts", "111122223333"]
    assert main(argv, out=out, err=io.StringIO()) == 0
    assert f"LOCATION 's3://{bucket}/AWSLogs/'" in out.getvalue()


# --------------------------------------------------------------------------------------------
# every invalid argument value, in every command: a usage error (exit 2) naming the argument
# --------------------------------------------------------------------------------------------
ROLE_11 = "arn:aws:iam::12383739202:role/ir"  # an 11-digit account
UPPER = FINDING.upper()
BAD_VALUES = [
    (["athena-ddl", "--bucket", "b-1", "--accounts", "1111222233"], "--accounts"),
    (["athena-ddl", "--bucket", "B_1", "--accounts", "111122223333"], "--bucket"),
    (["athena-ddl", "--bucket", "b-1", "--accounts", "111122223333", "--org-id", "x"], "--org-id"),
    (["athena-ddl", "--bucket", "b-1", "--accounts", "111122223333", "--prefix", "a//b"], "--prefix"),
    (["athena-ddl", "--bucket", "b-1", "--accounts", "111122223333", "--regions", "mars-1"], "--regions"),
    (["athena-ddl", "--bucket", "b-1", "--accounts", "111122223333", "--table", "T"], "--table"),
    (["findings", "--account", "12383739202"], "--account"),
    (["findings", "--regions", ""], "--regions"),
    (["findings", "--role-arn", ROLE_11], "--role-arn"),
    (["findings", "--role-arn", "arn:aws:iam::123456789012:user/ir"], "--role-arn"),
    (["findings", "--role-arn", "arn:aws:iam::123456789012:role/x", "--external-id", "a b"], "--external-id"),
    (["events", "--access-key", "akia", "--out", "OUT.csv"], "--access-key"),
    (["events", "--lookup", "--role-arn", ROLE_11, "--access-key", KEY, "--out", "OUT.csv"], "--role-arn"),
    (["investigate", FINDING, "--out", "OUT", "--regions", "mars-1"], "--regions"),
    (["investigate", FINDING, "--out", "OUT", "--role-arn", ROLE_11], "--role-arn"),
    (["investigate", UPPER, "--out", "OUT"], "FINDING_ID"),
    (["investigate", FINDING, "--out", "OUT", "--verdict", "Malicious"], "--verdict"),
    (["investigate", FINDING, "--out", "OUT", "--verdict", "malicious", "--analyst", "a"], "--rationale"),
    (["notebook", UPPER, "--case", "CASE", "--out", "OUT"], "FINDING_ID"),
    (["notebook", FINDING, "--role-arn", ROLE_11, "--out", "OUT"], "--role-arn"),
    (["verdict", UPPER, "--status", "malicious", "--analyst", "a", "--rationale", "r"], "FINDING_ID"),
    (["verdict", FINDING + "!", "--status", "pending"], "FINDING_ID"),
    (["verdict", FINDING, "--status", "malicious", "--rationale", "r"], "--analyst"),
    (["verdict", FINDING, "--status", "malicious", "--role-arn", ROLE_11, "--analyst", "a", "--rationale", "r"], "--role-arn"),
    (["verdicts", "--finding", UPPER], "--finding"),
    (["actions", UPPER, "--plan", "archive"], "FINDING_ID"),
    (["actions", FINDING, "--plan", "archive", "--role-arn", ROLE_11], "--role-arn"),
    (["actions", FINDING, "--plan", "archive", "--regions", "all,us-east-1"], "--regions"),
    (["tor", "check", "1.2.3"], "IP"),
    (["tor", "refresh", "--month", "2023-13"], "month"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "option"), BAD_VALUES, ids=[" ".join(a)[:60] for a, _ in BAD_VALUES]
)
def test_every_invalid_argument_value_is_a_usage_error_naming_it(
    argv: list[str], option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whether argparse's type or a check after parsing refuses it, a bad value exits 2 with
    one error line naming the argument, before anything is read or written."""
    paths = {
        "OUT": str(tmp_path / "out"),
        "OUT.csv": str(tmp_path / "o.csv"),
        "CASE": str(CASE.root),
    }
    argv = [paths.get(a, a) for a in argv]
    err = io.StringIO()
    try:
        code = main(
            [*argv, "--ledger", str(tmp_path / "l.jsonl")]
            if argv[0] in ("verdict", "verdicts", "actions")
            else argv,
            out=io.StringIO(),
            err=err,
        )
        text = err.getvalue()
    except SystemExit as exited:
        code, text = exited.code, capsys.readouterr().err
    assert code == 2, text
    line = one_error_line(text)
    assert option in line
    assert not (tmp_path / "out").exists() and not (tmp_path / "l.jsonl").exists()


def test_a_finding_id_is_trimmed_and_upper_case_is_refused_with_its_spelling(
    tmp_path: Path,
) -> None:
    ledger = str(tmp_path / "l.jsonl")
    code, _, err = run("verdict", UPPER, "--status", "pending", "--ledger", ledger)
    assert code == 2 and f"did you mean {FINDING}?" in one_error_line(err)
    code, out, err = run(
        "verdict", f" {FINDING} ", "--status", "malicious", "--analyst", "a", "--rationale", "r",
        "--ledger", ledger,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(Path(ledger).read_text())["finding_id"] == FINDING
    code, out, _ = run("verdicts", "--finding", f" {FINDING}\t", "--ledger", ledger, "--json")
    assert [r["finding_id"] for r in json.loads(out)] == [FINDING]


def test_a_ledger_verdict_on_an_upper_case_id_is_a_data_issue(tmp_path: Path) -> None:
    """Written before IDs were checked: no finding has that ID, so no action sees the verdict;
    the ledger's reader says so, with the ID to record it under."""
    ledger = tmp_path / "l.jsonl"
    ledger.write_text(
        json.dumps({"kind": "verdict", "finding_id": UPPER, "recorded_at": "2024-01-01T00:00:00Z",
                    "status": "malicious", "analyst": "a", "rationale": "r"}) + "\n"
    )  # fmt: skip
    code, _, err = run("verdicts", "--ledger", str(ledger))
    assert code == 0
    assert f"matches no finding, and no action sees it (record it again as {FINDING})" in err
