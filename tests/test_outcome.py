"""Calls of unknown outcome: an event LookupEvents returned without a usable (or with a partial)
``CloudTrailEvent`` carries no error code, so nobody knows whether it succeeded. It is neither
succeeded nor failed anywhere: the events frame (``outcome_unknown``), the command's line, the
totals and per-IP counts, the sensitive calls and their signal, summary.json, the report. A
whole record is unchanged (succeeded without an error code, failed with one).

Through the local endpoints (tests/fake_aws: LookupEvents checked against botocore's model) and
a case folder's saved lookup-events answer."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.fake_aws import FakeAws
from torinvest import analysis, outcome, report
from torinvest.cli import main
from torinvest.sources.lookup import pacer as lk_pacer
from torinvest.sources.records import normalize_records, parse_records
from torinvest.sources.records.derived import derived_keys

KEY = "AKIATFQR7NSCUXC3DDDP"
SHAPES = Path(__file__).parent / "fixtures" / "guardduty" / "shapes"
ROOT = Path(__file__).resolve().parents[1]
IDENTITY = {
    "type": "IAMUser",
    "principalId": "AIDATFQR7NSC5AU2ZV3IE",
    "arn": "arn:aws:iam::123456789012:user/benjamin",
    "accountId": "123456789012",
    "accessKeyId": KEY,
    "userName": "benjamin",
}


def _record(i: int, name: str, when: str, **more: Any) -> dict[str, Any]:
    return {
        "eventVersion": "1.08",
        "eventID": f"aws-{i}",
        "eventTime": when,
        "eventName": name,
        "eventSource": "iam.amazonaws.com",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "185.220.101.34",
        "userAgent": "aws-cli/2.13.0",
        "eventType": "AwsApiCall",
        "recipientAccountId": "123456789012",
        "userIdentity": IDENTITY,
        **more,
    }


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def lookup(fake_aws: FakeAws, moto: str, monkeypatch: pytest.MonkeyPatch) -> FakeAws:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.set_lookup_rate(None)
    lk_pacer._PACERS.clear()
    return fake_aws


def _spoil(fake_aws: FakeAws, event_ids: dict[str, str | None]) -> None:
    """Replace the CloudTrailEvent of the stored events named (None: drop it)."""
    for _, _, event in fake_aws.cloudtrail("us-east-1")._events:
        if event["EventId"] in event_ids:
            value = event_ids[event["EventId"]]
            if value is None:
                del event["CloudTrailEvent"]
            else:
                event["CloudTrailEvent"] = value


# --------------------------------------------------------------------------------------------
# the command: `events --lookup`
# --------------------------------------------------------------------------------------------
def _events_cli(tmp_path: Path, now: pd.Timestamp) -> tuple[int, str, str, pd.DataFrame]:
    out = tmp_path / "ev.parquet"
    out.unlink(missing_ok=True)
    code, said, err = _run(
        "events", "--lookup", "--regions", "us-east-1", "--access-key", KEY,
        "--start", (now - pd.Timedelta(hours=6)).isoformat(),
        "--end", (now - pd.Timedelta(hours=1)).isoformat(), "--out", str(out), "--no-cache",
    )  # fmt: skip
    return code, said, err, pd.read_parquet(out) if out.exists() else pd.DataFrame()


def _recent(now: pd.Timestamp, names: list[str], **more: Any) -> list[dict[str, Any]]:
    return [
        _record(i, name, (now - pd.Timedelta(hours=3, minutes=i)).strftime("%Y-%m-%dT%H:%M:%SZ"))
        | more
        for i, name in enumerate(names)
    ]


def test_events_rebuilt_by_lookup_are_of_unknown_outcome_and_whole_ones_are_not(
    lookup: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rebuilt from LookupEvents' own fields (not JSON, missing, a JSON list) or partial (``{}``
    filled): outcome_unknown, said on the command's line and in the issues; a partial record
    with an error code failed; the whole records succeeded (or failed) as before."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    now = pd.Timestamp.now(tz="UTC")
    names = ["CreateAccessKey", "CreateUser", "ListUsers", "AttachUserPolicy", "GetUser"]
    records = _recent(now, names)
    records.append(_record(9, "DeleteUser", records[0]["eventTime"], errorCode="AccessDenied"))
    lookup.cloudtrail("us-east-1").add_records(records)
    code, said, err, rows = _events_cli(tmp_path, now)
    assert code == 0, err
    assert "unknown outcome" not in said and "issue" not in err, (said, err)  # all whole
    assert not rows["outcome_unknown"].any()
    partial_failed = json.dumps({"eventName": "DeleteUser", "errorCode": "AccessDenied"})
    _spoil(
        lookup,
        {
            "aws-0": "{not json",
            "aws-1": None,
            "aws-3": "[1, 2]",
            "aws-4": "{}",
            "aws-9": partial_failed,
        },
    )
    code, said, err, rows = _events_cli(tmp_path, now)
    assert code == 0, err
    assert said.startswith("6 events") and "4 of unknown outcome" in said, said
    assert "3 event(s) LookupEvents returned without a usable CloudTrailEvent" in err
    assert "their outcome (succeeded or failed" in err
    by_id = rows.set_index("event_id")
    assert by_id["outcome_unknown"].to_dict() == {
        "aws-0": True,
        "aws-1": True,
        "aws-2": False,  # whole: succeeded
        "aws-3": True,
        "aws-4": True,  # partial without an error code
        "aws-9": False,  # partial with one: failed
    }
    assert by_id.loc["aws-9", "error_code"] == "AccessDenied"
    assert by_id["error_code"].drop("aws-9").isna().all()


# --------------------------------------------------------------------------------------------
# the report: `investigate` against the fake APIs
# --------------------------------------------------------------------------------------------
def _finding(fake_aws: FakeAws, now: pd.Timestamp) -> dict[str, Any]:
    def ago(minutes: int) -> str:
        return (now - pd.Timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    raw = json.loads((SHAPES / "single_raw.json").read_text())
    raw["service"].update(eventFirstSeen=ago(50), eventLastSeen=ago(40))
    raw.update(createdAt=ago(30), updatedAt=ago(30))
    gd = fake_aws.guardduty("us-east-1")
    gd.add_detector(raw["service"]["detectorId"])
    gd.add_findings([raw])
    return raw


def _investigate(
    fake_aws: FakeAws,
    tmp_path: Path,
    now: pd.Timestamp,
    spoiled: dict[str, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[str, dict[str, Any], str]:
    raw = _finding(fake_aws, now)
    # the credentials are the finding's account's: LookupEvents asked in another account is
    # "could not look" in the finding's (tests/test_finding_account.py)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", str(raw["accountId"]))
    # the report's kernel imports the torinvest under test (this checkout's), not an installed one
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    )

    def ago(minutes: int) -> str:
        return (now - pd.Timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")

    records = [
        _record(0, "ListUsers", ago(50)),
        _record(
            1,
            "CreateAccessKey",
            ago(48),
            requestParameters={"userName": "svc-backup"},
            responseElements={"accessKey": {"accessKeyId": "AKIATFQR7NSCXLGMGTIH"}},
        ),
        _record(2, "CreateUser", ago(46), requestParameters={"userName": "svc-x"}),
    ]
    fake_aws.cloudtrail("us-east-1").add_records(records)
    _spoil(fake_aws, spoiled)
    out = tmp_path / "o"
    code, said, err = _run(
        "investigate", raw["id"], "--regions", "us-east-1", "--out", str(out),
        "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    data = report.check_summary(out / "summary.json")
    return said, data, (out / "report.html").read_text()


def _sensitive(data: dict[str, Any], name: str) -> dict[str, Any]:
    (item,) = [e for e in data["sensitive_events"] if e["event_name"] == name]
    return item


def test_a_persistence_call_of_unknown_outcome_is_never_said_to_have_succeeded(
    lookup: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CreateAccessKey and CreateUser returned by LookupEvents without their record: the
    summary counts them apart (events.outcome_unknown, source_ips[].outcome_unknown), each
    sensitive call's outcome is "unknown", the persistence signal says so (not "succeeded"),
    the command's line and the report say "of unknown outcome"."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    now = pd.Timestamp.now(tz="UTC").floor("s")
    said, data, page = _investigate(
        lookup, tmp_path, now, {"aws-1": "{trunc", "aws-2": None}, monkeypatch
    )
    assert data["events"]["total"] == 3
    assert data["events"]["failed"] == 0 and data["events"]["outcome_unknown"] == 2
    assert sum(ip["outcome_unknown"] for ip in data["source_ips"]) == 2
    assert _sensitive(data, "CreateAccessKey")["outcome"] == "unknown"
    assert _sensitive(data, "CreateUser")["outcome"] == "unknown"
    (persistence,) = [s for s in data["signals"] if s["name"] == "sensitive:persistence"]
    assert "outcome unknown (2 of 2" in persistence["detail"], persistence
    assert "succeeded" not in persistence["detail"].split("outcome unknown")[0], persistence
    assert any("without a usable CloudTrailEvent" in i["problem"] for i in data["data_issues"])
    assert "2 of unknown outcome" in said, said
    assert "calls of unknown outcome" in page and "2 of unknown outcome" in page
    assert "outcome unknown" in page  # the signal, and the sensitive calls' outcome column


def test_the_same_calls_with_their_records_succeeded(
    lookup: FakeAws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The normal path, unchanged: whole records without an error code succeeded."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    now = pd.Timestamp.now(tz="UTC").floor("s")
    said, data, page = _investigate(lookup, tmp_path, now, {}, monkeypatch)
    assert data["events"] == {
        "total": 3,
        "failed": 0,
        "outcome_unknown": 0,
        "from_tor": data["events"]["from_tor"],
        "tor_unknown": data["events"]["tor_unknown"],
    }
    assert _sensitive(data, "CreateAccessKey")["outcome"] == "succeeded"
    (persistence,) = [s for s in data["signals"] if s["name"] == "sensitive:persistence"]
    assert "2 of 2 succeeded" in persistence["detail"]
    assert "outcome" not in persistence["detail"]
    assert "unknown outcome" not in said and "calls of unknown outcome" not in page


# --------------------------------------------------------------------------------------------
# a case folder's saved lookup-events answer
# --------------------------------------------------------------------------------------------
def _export(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"Events": events}).encode()


def _listed(record: dict[str, Any], **more: Any) -> dict[str, Any]:
    """An event as `aws cloudtrail lookup-events --output json` writes it."""
    return {
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": "false",
        "AccessKeyId": KEY,
        "EventTime": record["eventTime"],
        "EventSource": record["eventSource"],
        "Username": "benjamin",
        "Resources": [],
        "CloudTrailEvent": json.dumps(record),
        **more,
    }


def test_a_saved_lookup_answer_rebuilds_with_an_issue_and_an_unknown_outcome() -> None:
    """The export's events without a usable CloudTrailEvent (missing: it was rebuilt with no
    issue and read as succeeded; not JSON: it was dropped) are kept from the fields beside it,
    named, of unknown outcome; a partial one is filled and of unknown outcome; whole ones are
    unchanged."""
    recs = [_record(i, n, f"2024-05-01T10:0{i}:00Z") for i, n in enumerate(["A", "B", "C", "D"])]
    events = [
        _listed(recs[0]),
        {k: v for k, v in _listed(recs[1]).items() if k != "CloudTrailEvent"},
        _listed(recs[2], CloudTrailEvent="{cut"),
        _listed(recs[3], CloudTrailEvent=json.dumps({"eventVersion": "1.08"})),
    ]
    records, issues = parse_records(_export(events), where="case/lookup.json")
    problems = " | ".join(i.problem for i in issues)
    assert "2 of 4 Events have no usable CloudTrailEvent" in problems
    assert "aws-1 (B): its CloudTrailEvent is missing" in problems
    assert "aws-2 (C): its CloudTrailEvent is not JSON" in problems
    assert "their outcome (succeeded or failed" in problems
    assert "1 of 4 Events have a CloudTrailEvent lacking fields" in problems
    assert [outcome.record_outcome(r) for r in records] == [
        "succeeded",
        "unknown",
        "unknown",
        "unknown",
    ]
    frame = normalize_records(records, source="logs", origin="case/lookup.json")
    by_id = frame.set_index("event_id")
    assert by_id["outcome_unknown"].to_dict() == {
        "aws-0": False,
        "aws-1": True,
        "aws-2": True,
        "aws-3": True,
    }
    assert by_id.loc["aws-3", "event_name"] == "D"  # filled from the fields beside it
    assert by_id["event_time"].notna().all()
    table = analysis.per_ip(frame)
    # the rebuilt ones have no source IP (LookupEvents lists none): a row of their own
    assert table[["events", "failed", "outcome_unknown"]].to_numpy().tolist() == [
        [1, 0, 0],
        [3, 0, 3],
    ]


# --------------------------------------------------------------------------------------------
# the class: one reader of the outcome
# --------------------------------------------------------------------------------------------
def _frame(*rows: tuple[str, str | None, bool]) -> pd.DataFrame:
    """Events frame rows (name, error code, rebuilt) through the records path."""
    recs = []
    for i, (name, error, rebuilt) in enumerate(rows):
        r = _record(i, name, f"2024-05-01T10:{i:02d}:00Z")
        if error:
            r["errorCode"] = error
        if rebuilt:
            r[outcome.OUTCOME_UNKNOWN_MARK] = "rebuilt"
        recs.append(r)
    return normalize_records(recs, source="lookup", origin="lookup:us-east-1")


def test_succeeded_failed_and_unknown_split_every_call_once() -> None:
    frame = _frame(
        ("CreateUser", None, False),
        ("CreateUser", "AccessDenied", False),
        ("CreateAccessKey", None, True),
        ("CreateAccessKey", "AccessDenied", True),  # an error code: failed, whole or not
    )
    assert outcome.outcome_labels(frame).tolist() == ["succeeded", "failed", "unknown", "failed"]
    calls, failed, unknown = outcome.outcome_counts(frame)
    assert (calls.sum(), failed.sum(), unknown.sum()) == (4, 2, 1)
    found = analysis.sensitive_events(frame)
    assert outcome.outcome_labels(found).tolist() == ["succeeded", "failed", "unknown", "failed"]
    assert outcome.call_results(frame).tolist() == [
        "ok",
        "AccessDenied",
        "outcome unknown",
        "AccessDenied",
    ]


@pytest.mark.parametrize(
    ("rows", "said", "weight"),
    [
        ([("CreateAccessKey", None, True)], "outcome unknown (1 of 1", 25),
        ([("CreateAccessKey", None, False)], "1 of 1 succeeded", 25),
        ([("CreateAccessKey", "AccessDenied", False)], "all failed (attempted)", 12),
        (
            [("CreateAccessKey", None, True), ("CreateUser", "AccessDenied", False)],
            "0 of 2 succeeded, 1 of unknown outcome",
            25,
        ),
    ],
)
def test_the_persistence_signal_says_what_is_known(
    rows: list[tuple[str, str | None, bool]], said: str, weight: int
) -> None:
    """A signal triggered only by calls of unknown outcome says so, never "succeeded"; it is
    weighed as a call that may have succeeded (not halved as a failed attempt)."""
    (signal,) = [s for s in analysis.signals(_frame(*rows)) if s.name == "sensitive:persistence"]
    assert said in signal.detail and signal.weight == weight, signal


def test_a_mint_of_unknown_outcome_is_not_said_to_have_succeeded() -> None:
    issues: list[Any] = []
    frame = _frame(("AssumeRole", None, True))
    assert derived_keys(frame, issues=issues) == []
    (issue,) = issues
    assert "is of unknown outcome" in issue.problem and "succeeded but" not in issue.problem


# --------------------------------------------------------------------------------------------
# the engines: files, DuckDB (rows, and counted in the engine) and Athena count them alike
# --------------------------------------------------------------------------------------------
SAMPLE_ACCOUNT = "123837392027"  # the sample case's finding and records (STORY.md)
SAMPLE_FINDING = "6dde0a8f8d46f6acad893b30f905e97c"  # of KEY, in the sample case
MINTED_BY_UNKNOWN = ("AKIATFQR7NSCZZZZ0001", "ASIATFQR7NSCZZZZ0002")


def _sample_record(i: int, name: str, when: str, **more: Any) -> dict[str, Any]:
    identity = IDENTITY | {
        "accountId": SAMPLE_ACCOUNT,
        "arn": f"arn:aws:iam::{SAMPLE_ACCOUNT}:user/benjamin",
    }
    return _record(i, name, when, recipientAccountId=SAMPLE_ACCOUNT, userIdentity=identity) | {
        "eventID": f"unk-{i}",
        **more,
    }


def _saved_answer() -> bytes:
    """A lookup-events answer in the sample case's window: a CreateUser without its record
    (rebuilt: unknown), a CreateAccessKey and an AssumeRole whose records are partial (no
    eventID: unknown) and name the keys they minted, a whole ListUsers (succeeded) and a
    partial CreateUser with an error code (failed)."""
    when = "2023-07-10T12:30:0{}Z".format
    create_user = _sample_record(1, "CreateUser", when(1), requestParameters={"userName": "x"})
    create_key = _sample_record(
        2,
        "CreateAccessKey",
        when(2),
        requestParameters={"userName": "x"},
        responseElements={"accessKey": {"accessKeyId": MINTED_BY_UNKNOWN[0]}},
    )
    assume = _sample_record(
        3,
        "AssumeRole",
        when(3),
        eventSource="sts.amazonaws.com",
        requestParameters={"roleArn": f"arn:aws:iam::{SAMPLE_ACCOUNT}:role/x"},
        responseElements={"credentials": {"accessKeyId": MINTED_BY_UNKNOWN[1]}},
    )
    whole = _sample_record(4, "ListUsers", when(4))
    denied = _sample_record(5, "CreateUser", when(5), errorCode="AccessDenied")

    def partial(r: dict[str, Any]) -> dict[str, Any]:
        return _listed(
            r, CloudTrailEvent=json.dumps({k: v for k, v in r.items() if k != "eventID"})
        )

    no_record = {k: v for k, v in _listed(create_user).items() if k != "CloudTrailEvent"}
    events = [no_record, partial(create_key), partial(assume), _listed(whole), partial(denied)]
    return _export(events)


@pytest.fixture
def saved_case(tmp_path: Path) -> Path:
    """The sample case with a saved lookup-events answer beside its log files."""
    from torinvest.case import sample_case

    root = tmp_path / "case"
    shutil.copytree(sample_case().root, root)
    (root / "cloudtrail" / "lookup-events.json").write_bytes(_saved_answer())
    return root


def _summary_outcomes(case: Path, kind: str, max_rows: int | None = None) -> dict[str, Any]:
    """What summary.json says of the calls' outcomes, investigating with engine ``kind``."""
    from torinvest.case import Case
    from torinvest.investigation import investigate, summary
    from torinvest.options import EngineOptions
    from torinvest.parameters import Sources

    engine = EngineOptions(kind=kind, max_rows=max_rows)
    inv = investigate(SAMPLE_FINDING, Sources(case=Case.open(case), engine=engine))
    assert inv.counted == (max_rows is not None)
    data = report.summary.check_summary_data(summary(inv))
    problems = [i["problem"] for i in data["data_issues"]]
    assert not [p for p in problems if "as not failed" in p or "--engine files" in p], problems
    return {
        "events": {k: data["events"][k] for k in ("total", "failed", "outcome_unknown")},
        "source_ips": sorted(
            (ip["ip"] or "", ip["events"], ip["failed"], ip["outcome_unknown"])
            for ip in data["source_ips"]
        ),
        "sensitive": sorted(
            (e["event_time"] or "", e["event_name"], e["outcome"], e["error_code"] or "")
            for e in data["sensitive_events"]
        ),
        "derived_keys": data["derived_keys"],
        "may_not_exist": sorted(
            (i["source"], i["problem"])
            for i in data["data_issues"]
            if "may not exist" in i["problem"]
        ),
        # the signals that read the outcome (others differ when counted: no rows to read)
        "signals": {s["name"]: s["detail"] for s in data["signals"] if "sensitive" in s["name"]},
    }


def test_the_engines_count_calls_of_unknown_outcome_as_the_file_loader_does(
    saved_case: Path,
) -> None:
    """The same case (log files and a saved lookup-events answer whose events have no usable
    record) investigated with the file loader, the DuckDB engine loading rows and the DuckDB
    engine counting in the engine (past --max-rows): summary.json's totals, per-IP counts,
    sensitive calls' outcomes, minted keys and signals are the same. The DuckDB engine said the
    unknown ones succeeded (its counts had no outcome_unknown), with an issue saying it could
    not tell them apart."""
    files = _summary_outcomes(saved_case, "files")
    assert files["events"]["outcome_unknown"] == 3
    by_ip = {ip: (n, failed, unknown) for ip, n, failed, unknown in files["source_ips"]}
    assert by_ip["185.220.101.34"][2] == 2 and by_ip[""] == (1, 0, 1)  # the rebuilt: no IP
    late = [e for e in files["sensitive"] if e[0].startswith("2023-07-10T12:30")]
    assert late == [
        ("2023-07-10T12:30:01Z", "CreateUser", "unknown", ""),
        ("2023-07-10T12:30:02Z", "CreateAccessKey", "unknown", ""),
        ("2023-07-10T12:30:03Z", "AssumeRole", "unknown", ""),
        ("2023-07-10T12:30:05Z", "CreateUser", "failed", "AccessDenied"),
    ]
    # a key named by a call of unknown outcome: followed, and said to maybe not exist
    assert set(MINTED_BY_UNKNOWN) <= set(files["derived_keys"])
    assert [k for k in MINTED_BY_UNKNOWN if any(k in p for _, p in files["may_not_exist"])] == [
        *MINTED_BY_UNKNOWN
    ]
    assert "2 of unknown outcome" in files["signals"]["sensitive:persistence"]
    assert _summary_outcomes(saved_case, "duckdb") == files
    assert _summary_outcomes(saved_case, "duckdb", max_rows=1) == files


def test_the_duckdb_engines_frames_carry_the_outcome_the_file_loader_reads(tmp_path: Path) -> None:
    """Frame by frame: the events (outcome_unknown), the per-IP, timeline and rollup counts,
    the sensitive calls' ``failed`` (NA when unknown) and the minted keys of the DuckDB engine
    are the file loader's, for a saved lookup-events answer and a log file (whose one record
    torinvest marked not whole, the file loader honouring the mark)."""
    from torinvest.sources.logs import load_logs
    from torinvest.sources.sql import (
        DuckDBEngine,
        aggregate_sql,
        load_sql,
        minted_keys_sql,
        per_ip_sql,
        sensitive_sql,
        timeline_sql,
    )

    (tmp_path / "lookup-events.json").write_bytes(_saved_answer())
    marked = _sample_record(6, "CreateUser", "2023-07-10T12:30:06Z")
    marked[outcome.OUTCOME_UNKNOWN_MARK] = "kept by hand"
    (tmp_path / "trail.json").write_text(json.dumps({"Records": [marked]}))
    window = {"start": "2023-07-10T12:00:00Z", "end": "2023-07-10T13:00:00Z"}
    files = load_logs(tmp_path, access_keys=[KEY], progress=False, follow_derived=True, **window)
    frame = files.frame
    with DuckDBEngine(tmp_path) as duck:
        loaded = load_sql(duck, access_keys=KEY, **window)
        per_ip = per_ip_sql(duck, access_keys=KEY, **window).frame
        timeline = timeline_sql(duck, access_keys=KEY, **window).frame
        sensitive = sensitive_sql(duck, access_keys=KEY, **window).frame
        minted = minted_keys_sql(duck, access_keys=KEY, **window)
        one_round = minted_keys_sql(duck, access_keys=KEY, transitive=False, **window)
        counted = aggregate_sql(duck, access_keys=KEY, **window)
    by_id = loaded.frame.set_index("event_id")["outcome_unknown"]
    assert by_id.to_dict() == frame.set_index("event_id")["outcome_unknown"].to_dict()
    assert by_id.to_dict() == {
        "unk-1": True,
        "unk-2": True,
        "unk-3": True,
        "unk-4": False,
        "unk-5": False,
        "unk-6": True,
    }
    assert not [i for i in loaded.issues if "as not failed" in i.problem]
    table = analysis.per_ip(frame)[["source_ip", "events", "failed", "outcome_unknown"]]
    for got in (per_ip, counted.aggregates.per_ip):
        pd.testing.assert_frame_equal(
            got[table.columns].sort_values("events").reset_index(drop=True),
            table.sort_values("events").reset_index(drop=True),
            check_dtype=False,
        )
    assert int(timeline["outcome_unknown"].sum()) == 4
    assert int(counted.aggregates.by_time["outcome_unknown"].sum()) == 4
    assert int(counted.aggregates.by_agent["outcome_unknown"].sum()) == 4
    assert int(counted.aggregates.by_region["outcome_unknown"].sum()) == 4
    expected = analysis.sensitive_events(frame).set_index("event_id")["failed"]
    got_failed = sensitive.set_index("event_id")["failed"]
    assert got_failed.to_dict() == expected.to_dict()
    assert got_failed.isna().sum() == 4 and outcome.outcome_of(got_failed["unk-5"]) == "failed"
    # minted by calls of unknown outcome: listed, each with an issue saying it may not exist
    assert sorted(minted.frame["access_key_id"]) == sorted(MINTED_BY_UNKNOWN)
    pd.testing.assert_frame_equal(one_round.frame, minted.frame)  # it raised TypeError
    said = [i.problem for i in minted.issues if "may not exist" in i.problem]
    assert [k for k in MINTED_BY_UNKNOWN if any(k in p for p in said)] == [*MINTED_BY_UNKNOWN]
    assert sorted(i.problem for i in files.issues if "may not exist" in i.problem) == sorted(said)


@pytest.mark.parametrize(
    "compute",
    ["per_ip_sql", "sensitive_sql", "timeline_sql", "minted_keys_sql", "aggregate_sql"],
)
def test_athena_reads_the_outcome_counts_back_as_duckdbs(
    tmp_path: Path, fake_athena: Any, compute: str
) -> None:
    """Athena's text answers (the fake's, replaying DuckDB's rows) are read back with the
    outcome columns: counts of unknown outcome, ``failed`` NULL, minted keys' outcome."""
    from tests.sources.sql.helpers import Recorder, athena_results
    from torinvest.sources import sql
    from torinvest.sources.sql.athena import AthenaEngine

    (tmp_path / "lookup-events.json").write_bytes(_saved_answer())
    run = getattr(sql, compute)
    kwargs = {"access_keys": KEY, "start": "2023-07-10T12:00:00Z", "end": "2023-07-10T13:00:00Z"}
    recorder = Recorder(sql.DuckDBEngine(tmp_path))
    with recorder.engine:
        expected = run(recorder, **kwargs)
    fake_athena.add_answers(*(athena_results(t, dict(q.columns)) for q, t in recorder.outputs))
    got = run(AthenaEngine(database="security", sleep=lambda _: None), **kwargs)
    provenance = [c for c in ("source", "origin") if c in got.frame.columns]  # each engine's
    pd.testing.assert_frame_equal(
        got.frame.drop(columns=provenance), expected.frame.drop(columns=provenance)
    )
    assert got.derived == expected.derived
    frames = [got.frame]
    if got.aggregates is not None:
        frames += [got.aggregates.per_ip, got.aggregates.by_time]
    unknown = [
        int(f["outcome_unknown"].sum()) if "outcome_unknown" in f.columns else None for f in frames
    ]
    if compute == "sensitive_sql":
        assert int(got.frame["failed"].isna().sum()) == 3
    elif compute == "minted_keys_sql":
        assert sum("may not exist" in i.problem for i in got.issues) == 2
    else:
        assert unknown[0] == 3 and all(u in (None, 3) for u in unknown), unknown


def test_athenas_records_are_whole_said_in_its_sql() -> None:
    """Athena's records are the trail's own (whole): its SQL says the not-whole flag is FALSE,
    outright, and every count splits the calls of unknown outcome from the failed ones."""
    import sqlglot
    from sqlglot import exp

    from torinvest.sources.sql import iter_queries, make_scope
    from torinvest.sources.sql.athena import AthenaEngine
    from torinvest.sources.sql.projection import NOT_WHOLE

    engine = AthenaEngine(database="security")
    scope = make_scope(access_keys=KEY, start="2023-07-10", end="2023-07-11")
    for query in iter_queries(scope):
        tree = sqlglot.parse_one(engine.sql(query), read="trino")
        (records,) = [c for c in tree.find_all(exp.CTE) if c.alias == "records"]
        (flag,) = [e for e in records.this.expressions if e.alias_or_name == NOT_WHOLE]
        assert flag.this == exp.false(), flag.sql("trino")
        final = [a for a in tree.expressions if isinstance(a, exp.Alias)]
        said = {a.alias: a.this for a in final}
        if query.kind in ("per_ip", "timeline", "rollup", "ip_pivot"):  # apart from the failed
            counted = [a for a in tree.find_all(exp.Alias) if a.alias == "outcome_unknown"]
            assert any(isinstance(a.this, exp.Filter) for a in counted), query.kind
        if query.kind == "sensitive":  # NULL: neither failed nor succeeded
            case = said["failed"]
            assert isinstance(case, exp.Case) and case.find(exp.Null) is not None
            assert "outcome_unknown" in case.sql("trino")
