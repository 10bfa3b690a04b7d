"""The Athena engine: cost estimate, request/poll/results against the Athena of tests/fake_aws
(in the protocol the installed botocore's model names), interrupt, a failed query, paged
results, text results read back as DuckDB's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from botocore.stub import ANY, Stubber

from tests.bounded import bounded
from tests.fake_aws import AthenaRegion, FakeAws
from tests.fake_aws.server import DEFAULT_ENABLED_REGION
from tests.sources.sql.helpers import (
    END,
    INVICTUS,
    KEY,
    REGION,
    SAMPLE,
    START,
    SUSPECT,
    Recorder,
    athena_results,
)
from torinvest.aws import Aws
from torinvest.errors import EXIT_COULD_NOT_LOOK, AwsError
from torinvest.sources.sql.athena import AthenaEngine, Polling, athena_cost_usd
from torinvest.sources.sql.duckdb import DuckDBEngine
from torinvest.sources.sql.queries import events_query, make_scope, span_query
from torinvest.sources.sql.run import (
    load_sql,
    minted_keys_sql,
    per_ip_sql,
    sensitive_sql,
    timeline_sql,
)


def test_cost_estimate() -> None:
    ten_mb = 10 * (1 << 20) / (1 << 40) * 5.0
    assert athena_cost_usd(0) == athena_cost_usd(1) == ten_mb
    assert athena_cost_usd(1 << 40) == 5.0
    assert athena_cost_usd(11 * (1 << 20) + 1) == pytest.approx(12 * ten_mb / 10)


# --------------------------------------------------------------------------------------------
# Athena flow
# --------------------------------------------------------------------------------------------


def test_athena_request_poll_results_flow(fake_athena: AthenaRegion) -> None:
    scope = make_scope(access_keys=KEY, start=START, end=END)
    with DuckDBEngine(SAMPLE) as duck:
        expected = load_sql(duck, access_keys=KEY, start=START, end=END).frame
        rows = duck.run(events_query(scope)).table
    fake_athena.add_answers(
        athena_results(rows, dict(events_query(scope).columns), scanned=3 << 30)
    )
    regions = sorted(set(rows.column("aws_region").to_pylist()))
    _probe(fake_athena, {(r, DAY): "1" for r in regions})  # every day of the events' regions
    fake_athena.set_polls(queued=2, running=2)
    Aws().client("athena").create_work_group(Name="investigations")
    sleeps: list[float] = []
    engine = AthenaEngine(
        database="security",
        workgroup="investigations",
        output_location="s3://athena-results/torinvest/",
        polling=Polling(first=1.0, factor=3.0, cap=4.0),
        sleep=sleeps.append,
    )
    got = load_sql(engine, access_keys=KEY, start=START, end=END)

    # QUEUED, QUEUED, RUNNING, RUNNING, SUCCEEDED: capped; the events query, then the probe,
    # then whether the table holds data events (torinvest.data_events)
    assert sleeps == [1.0, 3.0, 4.0, 4.0] * 3
    stats, probe, data = got.queries
    assert stats.query_id and probe.kind == "coverage" and not got.issues
    assert data.kind == "data events"
    assert got.query_ids == [stats.query_id, probe.query_id, data.query_id]
    assert stats.bytes_scanned == 3 << 30
    assert stats.cost_usd == athena_cost_usd(3 << 30) == pytest.approx(3 / 1024 * 5.0)
    assert probe.cost_usd == athena_cost_usd(0)  # billed 10 MB at least
    assert stats.query_id in got.summary()
    assert "~$0.0147" in got.summary()  # $0.0146 and the probe's 10 MB
    execution = engine.client.get_query_execution(QueryExecutionId=stats.query_id)["QueryExecution"]
    # the events query keeps the records that minted the key too (who minted it)
    assert execution["Query"] == stats.sql == engine.sql(events_query(replace(scope, mints=True)))
    assert execution["QueryExecutionContext"]["Database"] == "security"
    assert execution["WorkGroup"] == "investigations"
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(
        "s3://athena-results/torinvest/"
    )
    done, _, _ = fake_athena.executions
    assert done.state == "SUCCEEDED" and done.polls == 6  # 5 polls, and the look above

    frame = got.frame
    assert set(frame["source"]) == {"athena"}
    assert set(frame["origin"]) == {f"athena:{stats.query_id}"}
    same = [c for c in frame.columns if c not in ("source", "origin")]
    assert (frame[same].dtypes == expected[same].dtypes).all()
    pd.testing.assert_frame_equal(frame[same], expected[same], check_categorical=False)


def test_athena_interrupt_stops_the_query(fake_aws: FakeAws, fake_athena: AthenaRegion) -> None:
    fake_athena.set_polls(queued=1000)  # never finishes

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    engine = AthenaEngine(database="security", sleep=interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.execute("SELECT 1")
    (query_id,) = engine.client.list_query_executions()["QueryExecutionIds"]
    state = engine.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert state["Status"]["State"] == "CANCELLED"
    (stop,) = fake_aws.calls("StopQueryExecution", service="athena")
    assert stop.params == {"QueryExecutionId": query_id} and stop.status == 200


def test_athena_interrupt_while_starting_stops_the_query_athena_started(
    fake_aws: FakeAws, fake_athena: AthenaRegion
) -> None:
    """Ctrl-C while StartQueryExecution waits for its answer, after Athena started the query:
    the query is found by its ClientRequestToken (the call again answers the same ID, starting
    nothing new) and stopped — before, it ran on, billed, with nobody to read it."""
    fake_athena.set_polls(queued=1000)  # never finishes
    engine = AthenaEngine(database="security")
    interrupted: list[str] = []

    def ctrl_c_as_the_answer_comes(parsed: dict, **_: object) -> None:
        if not interrupted:
            interrupted.append(parsed["QueryExecutionId"])
            raise KeyboardInterrupt

    engine.client.meta.events.register(
        "after-call.athena.StartQueryExecution", ctrl_c_as_the_answer_comes
    )
    with pytest.raises(KeyboardInterrupt):
        engine.execute("SELECT 1")
    (execution,) = fake_athena.executions  # one query: the second call started nothing
    assert execution.query_id == interrupted[0] and execution.state == "CANCELLED"
    starts = fake_aws.calls("StartQueryExecution", service="athena")
    assert len(starts) == 2
    assert starts[0].params["ClientRequestToken"] == starts[1].params["ClientRequestToken"]
    (stop,) = fake_aws.calls("StopQueryExecution", service="athena")
    assert stop.params == {"QueryExecutionId": execution.query_id} and stop.status == 200


def test_athena_failed_query_on_the_endpoint_raises_with_athenas_reason(
    fake_athena: AthenaRegion,
) -> None:
    """A query Athena ends FAILED (after QUEUED and RUNNING polls): an AwsError with Athena's
    StateChangeReason and ErrorType, and no GetQueryResults asked."""
    reason = "COLUMN_NOT_FOUND: line 1:8: Column 'nope' cannot be resolved"
    fake_athena.add_failure(reason, error_type=1006)
    fake_athena.set_polls(queued=1, running=1)
    engine = AthenaEngine(database="security", sleep=lambda _: None)
    with pytest.raises(AwsError, match="COLUMN_NOT_FOUND") as raised:
        engine.execute("SELECT nope")
    (failed,) = fake_athena.executions
    assert f"Athena query {failed.query_id} failed: {reason}" in str(raised.value)
    assert raised.value.code == "1006"
    assert raised.value.operation == "GetQueryExecution"


def test_athena_results_are_paged_on_the_endpoint(
    fake_aws: FakeAws, fake_athena: AthenaRegion
) -> None:
    """GetQueryResults in pages of ``page_size`` (MaxResults, NextToken): every row once, the
    header row dropped from the first page only, NULLs kept."""
    rows = [[f"198.51.100.{i}", str(i)] for i in range(7)] + [["source_ip", None]]
    fake_athena.add_results([("source_ip", "varchar"), ("events", "bigint")], rows, scanned=42)
    engine = AthenaEngine(database="security", sleep=lambda _: None, page_size=3)
    run = engine.execute("SELECT source_ip, events FROM t")
    assert run.columns == ["source_ip", "events"] and run.types == ["varchar", "bigint"]
    assert run.rows == rows
    assert run.bytes_scanned == 42
    pages = fake_aws.calls("GetQueryResults", service="athena")
    assert [p.params.get("MaxResults") for p in pages] == [3, 3, 3]  # 1 header + 8 rows
    assert ["NextToken" in p.params for p in pages] == [False, True, True]


def stubbed_athena(**kwargs: Any) -> tuple[AthenaEngine, Stubber]:
    """An engine whose Athena client (the one torinvest builds) answers from a Stubber."""
    engine = AthenaEngine(database="security", region=REGION, sleep=lambda _: None, **kwargs)
    stubber = Stubber(engine.client)
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {
            "QueryString": "SELECT 1",
            "QueryExecutionContext": {"Database": "security"},
            "ClientRequestToken": ANY,
        },
    )
    return engine, stubber


def test_athena_failed_query_raises_with_athenas_reason() -> None:
    engine, stubber = stubbed_athena()
    reason = (
        "TABLE_NOT_FOUND: line 8:8: Table 'awsdatacatalog.security.cloudtrail_logs' does not exist"
    )
    for state in ("QUEUED", "FAILED"):
        status: dict[str, Any] = {"State": state}
        if state == "FAILED":
            status |= {"StateChangeReason": reason, "AthenaError": {"ErrorType": 1301}}
        stubber.add_response(
            "get_query_execution",
            {"QueryExecution": {"QueryExecutionId": "q-1", "Status": status}},
            {"QueryExecutionId": "q-1"},
        )
    with stubber, pytest.raises(AwsError, match="TABLE_NOT_FOUND") as raised:
        engine.execute("SELECT 1")
    assert "q-1 failed" in str(raised.value)
    assert raised.value.code == "1301"
    stubber.assert_no_pending_responses()


def test_athena_results_are_paged() -> None:
    engine, stubber = stubbed_athena(page_size=2)
    stubber.add_response(
        "get_query_execution",
        {
            "QueryExecution": {
                "QueryExecutionId": "q-1",
                "Status": {"State": "SUCCEEDED"},
                "Statistics": {"DataScannedInBytes": 3 << 30},
            }
        },
    )
    info = [{"Name": "source_ip", "Type": "varchar"}, {"Name": "events", "Type": "bigint"}]

    def row(*values: str | None) -> dict[str, Any]:
        return {"Data": [{} if v is None else {"VarCharValue": v} for v in values]}

    pages = [
        ([row("source_ip", "events"), row("198.51.100.7", "3")], "t1"),
        ([row("203.0.113.9", "2"), row(None, "1")], "t2"),
        ([row("source_ip", "4")], None),  # a value equal to the header is data after page 1
    ]
    for n, (rows, token) in enumerate(pages):
        response: dict[str, Any] = {
            "ResultSet": {"Rows": rows, "ResultSetMetadata": {"ColumnInfo": info}}
        }
        if token:
            response["NextToken"] = token
        params: dict[str, Any] = {"QueryExecutionId": "q-1", "MaxResults": 2}
        if n:
            params["NextToken"] = pages[n - 1][1]
        stubber.add_response("get_query_results", response, params)
    with stubber:
        run = engine.execute("SELECT 1")
    assert run.columns == ["source_ip", "events"]
    assert run.rows == [
        ["198.51.100.7", "3"],
        ["203.0.113.9", "2"],
        [None, "1"],
        ["source_ip", "4"],
    ]
    assert run.bytes_scanned == 3 << 30
    assert run.cost_usd == pytest.approx(3 / 1024 * 5.0)


@pytest.mark.parametrize("period", [2, None], ids=["cycle-of-2", "fresh-for-ever"])
def test_results_whose_pages_never_end_are_incomplete_not_a_frame(
    monkeypatch: pytest.MonkeyPatch,
    fake_aws: FakeAws,
    fake_athena: AthenaRegion,
    period: int | None,
) -> None:
    """GetQueryResults answering with next tokens in a cycle (botocore's paginator sees no
    repeat on consecutive pages) or fresh ones for ever (up to the page cap): an error saying
    the query's results are incomplete, never the rows read so far as a whole result.
    Bounded: a regression fails instead of hanging."""
    from torinvest.aws import pages

    monkeypatch.setitem(pages.MAX_PAGES, "GetQueryResults", 5)
    fake_athena.add_results([("events", "bigint")], [["1"]])
    fake_aws.loop_tokens("athena", "*", period=period, operation="GetQueryResults")
    engine = AthenaEngine(database="security", region=REGION, sleep=lambda _: None)
    with pytest.raises(AwsError) as raised:
        bounded(lambda: engine.execute("SELECT 1"))
    asked = fake_aws.calls("GetQueryResults", service="athena")
    assert len(asked) == (5 if period is None else period + 1)
    (query,) = fake_athena.executions
    problem = "returned the same next token twice" if period else "still returned a next token"
    assert str(raised.value).startswith(
        f"GetQueryResults on athena in {REGION} for query {query.query_id}: the endpoint {problem}"
    )
    assert f"stopped after {len(asked)} page(s), the results of this call are incomplete" in (
        str(raised.value)
    )
    assert raised.value.operation == "GetQueryResults"


GARBLED = {
    "other columns": (
        [{"Name": "_col0", "Type": "varchar"}],
        [["_col0"], ["1"]],
        r"without the query's column\(s\) first, last, events, untimed \(it named: _col0\)",
    ),
    "a count that is not a number": (
        [{"Name": n, "Type": "varchar"} for n in ("first", "last", "events", "untimed")],
        [["first", "last", "events", "untimed"], [None, None, "<html>", "0"]],
        r"with a value of column events that is not an integer: '<html>'",
    ),
    "a time that is not a time": (
        [{"Name": n, "Type": "varchar"} for n in ("first", "last", "events", "untimed")],
        [["first", "last", "events", "untimed"], ["yesterday", None, "1", "0"]],
        r"with a value of column first that is not a time: 'yesterday'",
    ),
}


@pytest.mark.parametrize("answer", GARBLED.values(), ids=GARBLED.keys())
def test_an_answer_that_is_not_the_querys_is_a_clean_error(
    answer: tuple[list[dict[str, str]], list[list[str | None]], str],
) -> None:
    """An endpoint that is not Athena (moto's default answer, a proxy) answers with other
    columns or values of another type: one AwsError naming the query and what is wrong."""
    info, rows, problem = answer
    engine = AthenaEngine(database="security", region=REGION, sleep=lambda _: None)
    stubber = Stubber(engine.client)
    stubber.add_response("start_query_execution", {"QueryExecutionId": "q-9"}, None)
    stubber.add_response(
        "get_query_execution",
        {"QueryExecution": {"QueryExecutionId": "q-9", "Status": {"State": "SUCCEEDED"}}},
    )
    result_rows = [{"Data": [{} if v is None else {"VarCharValue": v} for v in r]} for r in rows]
    stubber.add_response(
        "get_query_results",
        {"ResultSet": {"Rows": result_rows, "ResultSetMetadata": {"ColumnInfo": info}}},
    )
    with stubber, pytest.raises(AwsError, match=problem) as raised:
        engine.run(span_query(make_scope(access_keys=KEY, start=START, end=END)))
    assert str(raised.value).startswith("Athena answered query q-9 ")
    assert raised.value.operation == "GetQueryResults"


@pytest.mark.parametrize(
    "compute", [per_ip_sql, sensitive_sql, timeline_sql, minted_keys_sql], ids=lambda f: f.__name__
)
def test_athena_text_results_read_back_as_duckdbs(fake_athena: AthenaRegion, compute: Any) -> None:
    kwargs = {
        "access_keys": SUSPECT,
        "start": "2023-07-10T00:00:00Z",
        "end": "2023-07-11T00:00:00Z",
    }
    recorder = Recorder(DuckDBEngine(INVICTUS))
    with recorder.engine:
        expected = compute(recorder, **kwargs)
    results = [athena_results(table, dict(query.columns)) for query, table in recorder.outputs]
    fake_athena.add_answers(*results)
    got = compute(AthenaEngine(database="security", sleep=lambda _: None), **kwargs)
    assert len(got.queries) == len(recorder.outputs)
    assert not expected.frame.empty
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    assert got.derived == expected.derived
    assert got.frame.attrs == expected.frame.attrs


def _answering(athena: AthenaRegion, scanned: int) -> AthenaEngine:
    """An engine whose every query succeeds with no event (a span query's one row of zeros,
    an events query's no row) and ``scanned`` bytes scanned."""
    span = [(n, "varchar") for n in ("first", "last", "events", "untimed")]
    athena.add_results(span, [[None, None, "0", "0"]], scanned=scanned, match=r"AS untimed")
    athena.add_results([], scanned=scanned, match=r"")
    return AthenaEngine(database="security", region=REGION, sleep=lambda _: None)


@pytest.mark.parametrize("max_rows", [None, 1000], ids=["rows", "count-first"])
def test_no_event_and_0_bytes_scanned_is_nothing_read_not_no_events(
    fake_aws: FakeAws, max_rows: int | None
) -> None:
    """A table whose LOCATION is not the trail's, or whose partition projection leaves out the
    window's days, accounts or regions, answers every query with no row and 0 bytes scanned:
    an issue naming what to check, and the activity reads as "could not look"."""
    from torinvest.events import Activity, is_empty_source

    athena = fake_aws.athena(REGION)
    got = load_sql(_answering(athena, 0), access_keys=KEY, start=START, end=END, max_rows=max_rows)
    assert got.frame.empty
    (issue,) = got.issues
    assert issue.source == "athena:security.cloudtrail_logs"
    assert "0 bytes scanned" in issue.problem and "2023/07/09–2023/07/11" in issue.problem
    assert all(w in issue.problem for w in ("LOCATION", "projection", "--start/--end"))
    assert is_empty_source(issue)
    act = Activity(got.frame, issues=got.issues, sources=[issue.source], empty_sources=[issue])
    assert act.nothing_read and "0 bytes scanned" in act.why_nothing()

    fake_aws.reset()
    athena = fake_aws.athena(REGION)
    _probe(athena, {(None, DAY): "1"})  # the table holds a record that day
    scanned = load_sql(_answering(athena, 5 << 20), access_keys=KEY, start=START, end=END)
    assert scanned.frame.empty and not scanned.issues  # data was read: no events, truly
    act = Activity(scanned.frame, sources=["athena:security.cloudtrail_logs"])
    assert not act.nothing_read


def _probe(
    athena: AthenaRegion,
    held: dict[tuple[str | None, str], str],
    enabled: Iterable[str] = (DEFAULT_ENABLED_REGION,),
) -> None:
    """The answer of the coverage probe: a row per (region — None: any —, day) and its record
    count; each of the account's ``enabled`` regions (the fake's DescribeRegions: us-east-1)
    holds records over the window unless ``held`` says otherwise (``(region, "")``)."""
    columns = [("region", "varchar"), ("day", "varchar"), ("records", "bigint")]
    rows = [[r, d, n] for (r, d), n in held.items()]
    rows += [[r, "", "1"] for r in enabled if (r, "") not in held]
    athena.add_results(columns, rows, scanned=1 << 20, match="AS probe")


DAY = "2023/07/10"  # START–END's one UTC day


def _activity(athena: AthenaRegion, account: str | None, **kwargs: Any) -> Any:
    from torinvest.events import EngineOptions, load_activity

    kwargs.setdefault("start", START)
    kwargs.setdefault("end", END)
    return load_activity(
        access_key=KEY,
        engine=EngineOptions(kind="athena", athena_database="security", athena_region=REGION),
        account=account,
        **kwargs,
    )


@pytest.mark.parametrize("regions", [None, ["eu-west-1"]], ids=["all-regions", "regions"])
def test_a_table_of_other_accounts_is_could_not_look_not_no_events(
    fake_aws: FakeAws, regions: list[str] | None
) -> None:
    """A table that reads other accounts' logs (its LOCATION, or its projection.account.values,
    leaves out the finding's account): every query scans data and matches no event. One more
    query (one record at most, the window's days and regions, the finding's account) finds
    that it holds no record of that account: "could not look in account X", naming the table
    and what to do — never "no events"."""
    athena = fake_aws.athena(REGION)
    cells = ["eu-west-1", "us-east-1"] if regions else [None]
    _probe(athena, {(r, DAY): "0" for r in cells}, enabled=())  # nowhere a record
    _answering(athena, 5 << 20)
    act = _activity(athena, "999988887777", regions=regions)
    assert act.nothing_read
    gap = act.why_nothing()
    assert gap.startswith("could not look in account 999988887777 (the finding's)")
    assert "Athena table security.cloudtrail_logs holds no record of account 999988887777" in gap
    assert "2023/07/09–2023/07/11" in gap and "athena-ddl --accounts" in gap
    (sql,) = [e.sql for e in athena.executions if "AS probe" in e.sql]
    assert "account IN ('999988887777')" in sql and "LIMIT 1" in sql
    assert not act.issues  # no region issue besides: the account is not there at all
    assert "\"date\" BETWEEN '2023/07/09' AND '2023/07/11'" in sql
    if regions:
        assert "region IN ('eu-west-1', 'us-east-1')" in sql  # us-east-1 added, as every query
        assert "in region(s) eu-west-1, us-east-1" in gap


@pytest.mark.parametrize("account", ["123456789012", None], ids=["investigate", "events"])
def test_a_table_holding_records_every_day_with_no_event_is_no_events(
    fake_aws: FakeAws, account: str | None
) -> None:
    """The same table holding a record (of the finding's account, when one is sought) on every
    day of the window: read, no event — "no events", no issue. The probe runs with or without
    an account sought (`torinvest events`): before, it did not without one, and a day the table
    holds nothing was not said (see tests/hostile/test_coverage.py)."""
    athena = fake_aws.athena(REGION)
    _probe(athena, {(None, DAY): "1"})
    _answering(athena, 5 << 20)
    act = _activity(athena, account)
    assert not act.nothing_read and act.account_gap is None and not act.issues
    (sql,) = [e.sql for e in athena.executions if "AS probe" in e.sql]
    assert ("account IN ('123456789012')" in sql) == (account is not None)
    assert "WHERE \"date\" = '2023/07/10' LIMIT 1" in sql  # any region, the window's one day


@pytest.mark.parametrize("account", ["999988887777", "123837392027"])
def test_events_of_other_accounts_only_name_the_account_not_looked_at(
    fake_athena: AthenaRegion, account: str
) -> None:
    """Events found, every one recorded in another account (123837392027), and a table that
    holds no record of the finding's account: the activity loads and says it could not look
    in the finding's account (as the file loader says of its files). Events of the finding's
    account: the probe asks only of the days of their regions (held: no issue)."""
    from torinvest.events import Activity

    recorder = Recorder(DuckDBEngine(SAMPLE))
    with recorder.engine:
        expected = load_sql(recorder, access_keys=KEY, start=START, end=END)
    assert len(expected.frame)
    results = [athena_results(t, dict(q.columns), scanned=5 << 20) for q, t in recorder.outputs]
    regions = set(expected.frame["aws_region"])
    held = {(r, DAY): "1" for r in regions} if account == "123837392027" else {(None, DAY): "0"}
    _probe(fake_athena, held, enabled=regions if account == "123837392027" else ())
    fake_athena.add_answers(*results)
    engine = AthenaEngine(database="security", sleep=lambda _: None)
    got = load_sql(engine, access_keys=KEY, start=START, end=END, account=account)
    assert got.frame["event_id"].tolist() == expected.frame["event_id"].tolist()
    (sql,) = [e.sql for e in fake_athena.executions if "AS probe" in e.sql]
    assert f"account IN ('{account}')" in sql
    act = Activity(got.frame, sources=[engine.location], account=account, table_gap=got.account_gap)
    assert not act.nothing_read
    if account == "123837392027":
        assert got.account_gap is None and act.account_gap is None and not got.issues
        assert f"region IN ({', '.join(repr(r) for r in sorted(regions))})" in sql
    else:
        assert "region IN" not in sql  # the account's regions: none known, any region
        assert (act.account_gap or "").startswith("could not look in account 999988887777")


@pytest.mark.parametrize("account", ["123456789012", None], ids=["investigate", "events"])
def test_a_region_the_table_leaves_out_is_an_issue_not_read_and_empty(
    fake_aws: FakeAws, account: str | None
) -> None:
    """`--regions eu-west-1` over a table whose projection.region.values (or the trail) leave
    eu-west-1 out: the queries read us-east-1 (added: IAM, STS…) and match no event. The probe
    (one record at most per region) finds none in eu-west-1: an issue naming it ("were not
    read"), as a trail folder without that region's folder is; the rest stays read."""
    athena = fake_aws.athena(REGION)
    _probe(athena, {("eu-west-1", DAY): "0", ("us-east-1", DAY): "1"})
    _answering(athena, 5 << 20)
    act = _activity(athena, account, regions=["eu-west-1"])
    assert not act.nothing_read and act.account_gap is None
    (issue,) = act.issues
    assert issue.source == "athena:security.cloudtrail_logs:eu-west-1"
    assert "in region(s) eu-west-1 for days 2023/07/09–2023/07/11" in issue.problem
    assert "were not read" in issue.problem and "projection.region.values" in issue.problem
    assert ("of account 123456789012" in issue.problem) == (account is not None)
    (sql,) = [e.sql for e in athena.executions if "AS probe" in e.sql]
    assert "WHERE region = 'eu-west-1' AND \"date\" = '2023/07/10' LIMIT 1" in sql
    assert "WHERE region = 'us-east-1' AND \"date\" = '2023/07/10' LIMIT 1" in sql


#: The table's region that the key's calls were also (or only) made in, and that the table's
#: projection.region.values leaves out: enabled for the account (the fake's DescribeRegions).
LEFT_OUT = "ap-south-1"
#: The account of the sample's events (the finding's).
SAMPLE_ACCOUNT = "123837392027"


def _left_out_said(act: Any, account: str | None) -> None:
    """The reading names ap-south-1 as not read (INCOMPLETE), never "no events" there."""
    from torinvest.investigation import READING_INCOMPLETE, reading_of

    said = [i for i in act.issues if LEFT_OUT in i.source]
    assert len(said) == 1, act.issues
    (issue,) = said
    assert issue.source == f"athena:security.cloudtrail_logs:{LEFT_OUT}"
    of = f" of account {account}" if account else ""
    assert issue.problem.startswith(
        f"no record{of} in region(s) {LEFT_OUT} for days 2023/07/09–2023/07/11, enabled for "
        "the account (ec2:DescribeRegions) and not asked with --regions: the table holds "
        "nothing there (its projection.region.values or LOCATION"
    ), issue.problem
    assert "the key's events there, if any, were not read" in issue.problem
    assert not act.nothing_read and act.account_gap is None
    assert reading_of(act.issues, act.total_events)[0] == READING_INCOMPLETE


@pytest.mark.parametrize("account", ["123456789012", None], ids=["investigate", "events"])
def test_a_region_the_table_leaves_out_without_regions_is_not_read_not_no_events(
    fake_aws: FakeAws, account: str | None
) -> None:
    """No --regions (every region), a key whose calls were all in ap-south-1, a table whose
    projection.region.values leaves ap-south-1 out: the queries scan us-east-1's records and
    match nothing. The probe asks each of the account's enabled regions (EC2 DescribeRegions)
    over the window too, one record at most each: ap-south-1 holds none — an issue naming it,
    the reading INCOMPLETE. Before, the probe asked only "any region" by day (there was one):
    "no events", complete, ap-south-1 never said."""
    fake_aws.enabled_regions = [LEFT_OUT, "us-east-1"]
    athena = fake_aws.athena(REGION)
    _probe(athena, {(None, DAY): "1"}, enabled=["us-east-1"])
    _answering(athena, 5 << 20)
    act = _activity(athena, account)
    assert act.total_events == 0
    _left_out_said(act, account)
    (sql,) = [e.sql for e in athena.executions if "AS probe" in e.sql]
    assert f"WHERE region = '{LEFT_OUT}' LIMIT 1" in sql  # the whole window, one record
    assert "WHERE region = 'us-east-1' LIMIT 1" in sql
    assert "WHERE \"date\" = '2023/07/10' LIMIT 1" in sql  # any region, by day, as before
    assert "region IN" not in sql  # every region's partitions
    (regions,) = fake_aws.calls("DescribeRegions", service="ec2")
    assert regions.status == 200

    fake_aws.reset()  # the same table holding ap-south-1: read, no events there, no issue
    fake_aws.enabled_regions = [LEFT_OUT, "us-east-1"]
    athena = fake_aws.athena(REGION)
    _probe(athena, {(None, DAY): "1"}, enabled=[LEFT_OUT, "us-east-1"])
    _answering(athena, 5 << 20)
    act = _activity(athena, account)
    assert not act.issues and not act.nothing_read


@pytest.mark.parametrize("held", [False, True], ids=["left-out", "held"])
def test_a_region_left_out_beside_the_events_read_is_not_read(
    fake_athena: AthenaRegion, fake_aws: FakeAws, held: bool
) -> None:
    """Events read in the sample's regions, the key's calls in ap-south-1 as well, which the
    table leaves out: the events load, and ap-south-1 is named as not read (was: "N events",
    complete). The probe asks the events' regions by day (as before) and ap-south-1 over the
    window, from the partitions of all of them."""
    from torinvest.events import Activity

    recorder = Recorder(DuckDBEngine(SAMPLE))
    with recorder.engine:
        expected = load_sql(recorder, access_keys=KEY, start=START, end=END)
    results = [athena_results(t, dict(q.columns), scanned=5 << 20) for q, t in recorder.outputs]
    regions = sorted(set(expected.frame["aws_region"]))
    assert LEFT_OUT not in regions
    fake_aws.enabled_regions = [LEFT_OUT, *regions]
    _probe(fake_athena, {(r, DAY): "1" for r in regions}, enabled=[*regions] + [LEFT_OUT] * held)
    fake_athena.add_answers(*results)
    engine = AthenaEngine(database="security", sleep=lambda _: None)
    got = load_sql(engine, access_keys=KEY, start=START, end=END, account=SAMPLE_ACCOUNT)
    assert got.frame["event_id"].tolist() == expected.frame["event_id"].tolist()
    (sql,) = [e.sql for e in fake_athena.executions if "AS probe" in e.sql]
    assert f"region IN ({', '.join(repr(r) for r in sorted([LEFT_OUT, *regions]))})" in sql
    assert f"WHERE region = '{LEFT_OUT}' LIMIT 1" in sql
    assert all(f"WHERE region = '{r}' LIMIT 1" not in sql for r in regions)  # by day instead
    act = Activity(got.frame, issues=got.issues, sources=[engine.location], account=SAMPLE_ACCOUNT)
    if held:
        assert not got.issues
        return
    _left_out_said(act, SAMPLE_ACCOUNT)


@pytest.mark.parametrize("regions", [[], ["--regions", "all"]], ids=["default", "all"])
def test_events_without_regions_names_a_region_the_table_leaves_out(
    fake_aws: FakeAws, tmp_path: Any, regions: list[str]
) -> None:
    """`torinvest events --engine athena` with no --regions (or `--regions all`): a table that
    leaves out ap-south-1, enabled for the account, where the key made its calls — exit 0
    with the issue naming ap-south-1 and a partial-result note; it said "0 events … the
    sources were read and hold no event"."""
    import io

    from torinvest.cli import main

    fake_aws.enabled_regions = [LEFT_OUT, "us-east-1"]
    athena = fake_aws.athena(REGION)
    _probe(athena, {(None, DAY): "1"}, enabled=["us-east-1"])
    _answering(athena, 5 << 20)
    out, err = io.StringIO(), io.StringIO()
    argv = [
        "events", "--engine", "athena", "--athena-database", "security", *regions,
        "--access-key", KEY, "--start", START, "--end", END, "--out", str(tmp_path / "e.jsonl"),
    ]  # fmt: skip
    code = main(argv, out=out, err=err)
    said = err.getvalue()
    assert code == 0, said
    assert "hold no event" not in said
    (issue,) = [line for line in said.splitlines() if line.startswith("torinvest: issue:")]
    assert issue.startswith(
        f"torinvest: issue: athena:security.cloudtrail_logs:{LEFT_OUT}: no record in region(s) "
        f"{LEFT_OUT} for days 2023/07/09–2023/07/11, enabled for the account"
    ), issue
    assert "torinvest: note: partial result: " in said


def test_enabled_regions_that_cannot_be_listed_at_all_are_said(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeRegions answering that the credentials expired (no fallback list is taken: no
    region would answer them either): the events read stand, and one issue says the regions
    other than theirs were not checked and how to have them checked — never a silent
    "no events"."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.fail("ec2", "*", "RequestExpired", operation="DescribeRegions")
    athena = fake_aws.athena(REGION)
    _probe(athena, {(None, DAY): "1"})
    _answering(athena, 5 << 20)
    act = _activity(athena, "123456789012")
    (issue,) = act.issues
    assert issue.source == "athena:security.cloudtrail_logs (regions)"
    assert issue.problem.startswith("the account's enabled regions could not be listed (")
    assert "RequestExpired" in issue.problem
    assert issue.problem.endswith(
        "whether the table holds the regions other than those of the events read is not known "
        "— where it holds none, the key's events, if any, were not read; name the regions with "
        "--regions to have each checked"
    )


def test_the_partitions_regions_when_the_enabled_ones_cannot_be_listed(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DescribeRegions refused: the partition's CloudTrail regions are asked instead (as
    `findings` searches them), a note says why, and the issue says where the list came from."""
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    fake_aws.fail("ec2", "*", "UnauthorizedOperation", operation="DescribeRegions")
    athena = fake_aws.athena(REGION)
    _probe(athena, {(None, DAY): "1"}, enabled=["us-east-1"])
    _answering(athena, 5 << 20)
    act = _activity(athena, "123456789012")
    (issue,) = act.issues
    assert LEFT_OUT in issue.source.split(":")[-1].split(",") and "us-east-1" not in issue.source
    assert "enabled for the account (the partition's CloudTrail regions: the enabled ones " in (
        issue.problem
    )
    assert any("enabled regions unknown" in n and "UnauthorizedOperation" in n for n in act.notes)


def test_days_the_table_holds_nothing_are_an_issue_not_read_and_empty(fake_aws: FakeAws) -> None:
    """A three-day window whose middle day the table holds no record of the finding's account
    in us-east-1 (logging stopped, or the table's projection.date.range or LOCATION leave it
    out): the probe (one record at most per region and day) finds none there — an issue naming
    the day ("were not read"), as a region folder without that day's log files is."""
    athena = fake_aws.athena(REGION)
    days = {"2023/07/09": "1", "2023/07/10": "0", "2023/07/11": "1"}
    _probe(athena, {("us-east-1", d): n for d, n in days.items()})
    _answering(athena, 5 << 20)
    act = _activity(
        athena, "123456789012", regions=["us-east-1"], start="2023-07-09", end="2023-07-11"
    )
    assert not act.nothing_read
    (issue,) = act.issues
    assert issue.source == "athena:security.cloudtrail_logs:us-east-1"
    assert issue.problem == (  # the file loader's words for a region folder, "record" for file
        "no record of account 123456789012 for 2023-07-10 (1 of the window's 3 UTC day(s)): "
        "nothing was logged there those days, or logging stopped, or the table does not hold "
        "them (its LOCATION, projection.date.range), or their log files are archived in S3 "
        "Glacier (Athena skips a table's GLACIER and DEEP_ARCHIVE objects without a word, "
        "restored ones too unless the table's read_restored_glacier_objects is true; --logs "
        "s3://… names them); the events of those days, if any, were not read"
    )


@pytest.mark.parametrize(
    ("reason", "what"),
    [
        (
            "HIVE_CURSOR_ERROR: Row is not a valid JSON Object - JSONException: A JSONObject "
            "text must end with '}' at 2 [character 3 line 1]",
            "is not valid JSON",
        ),
        ("HIVE_CURSOR_ERROR: Unexpected end of input stream", "cannot be read"),
    ],
    ids=["not-json", "unreadable"],
)
def test_a_damaged_file_in_the_tables_location_says_what_it_is_and_what_to_do(
    fake_athena: AthenaRegion, tmp_path: Path, reason: str, what: str
) -> None:
    """One malformed object under the table's LOCATION fails every Athena query: `events`
    exits 1 with Athena's reason, the cause in words, and how to read the rest of the logs
    (DuckDB or the file loader over that location skip the file and report it) or find it."""
    import io

    from torinvest.cli import main

    fake_athena.add_failure(reason, error_type=100008)
    argv = [
        "events", "--engine", "athena", "--athena-database", "security", "--access-key", SUSPECT,
        "--start", START, "--end", END, "--out", str(tmp_path / "e.parquet"),
    ]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err)
    text = " ".join(err.getvalue().split())
    assert code == EXIT_COULD_NOT_LOOK and "Traceback" not in text, text
    (failed,) = fake_athena.executions
    assert f"Athena query {failed.query_id} failed: {reason}" in text
    assert f"a log file in the location of the Athena table security.cloudtrail_logs {what}" in text
    assert "SHOW CREATE TABLE security.cloudtrail_logs" in text
    assert "--engine duckdb --logs s3://" in text and "they report the damaged file" in text
    assert f"open query {failed.query_id} in the Athena console" in text
    assert not (tmp_path / "e.parquet").exists()


def test_a_query_error_keeps_the_table_advice(fake_athena: AthenaRegion) -> None:
    """An error of the query or the table (not of a file in it) is not said to be a file's."""
    fake_athena.add_failure("TABLE_NOT_FOUND: line 8:8: Table 'x' does not exist")
    engine = AthenaEngine(database="security", sleep=lambda _: None)
    with pytest.raises(AwsError) as raised:
        engine.execute("SELECT 1")
    assert "log file" not in str(raised.value) and "athena_ddl" in (raised.value.hint or "")


def test_a_coverage_query_that_fails_keeps_what_was_read_and_says_so(
    fake_aws: FakeAws, tmp_path: Any
) -> None:
    """`events --engine athena --regions eu-west-1` whose events query answers and whose
    coverage query fails (denied, a table error quoting its data): the run completes with the
    events read and one issue naming the check that failed and what it leaves unknown — it
    stopped the whole run (`investigate`: the report's activity cell) with the Athena error."""
    import io

    from torinvest.cli import main

    athena = fake_aws.athena(REGION)
    athena.add_failure("AccessDenied: not allowed \u202e<b>x</b>", match="AS probe")
    _answering(athena, 5 << 20)
    out, err = io.StringIO(), io.StringIO()
    code = main(
        [
            "events", "--engine", "athena", "--athena-database", "security",
            "--regions", "eu-west-1", "--access-key", KEY, "--start", START, "--end", END,
            "--out", str(tmp_path / "e.jsonl"),
        ],
        out=out,
        err=err,
    )  # fmt: skip
    said = err.getvalue()
    assert code == 0, said
    assert out.getvalue().startswith("0 events"), out.getvalue()
    (issue,) = [line for line in said.splitlines() if line.startswith("torinvest: issue:")]
    assert issue.startswith(
        "torinvest: issue: athena:security.cloudtrail_logs (coverage): the coverage query "
        "failed (Athena query "
    )
    assert issue.endswith(
        "): whether the table holds region(s) eu-west-1, us-east-1; the window's days is not "
        "known — where it holds none, events, if any, were not read"
    )
    assert "\\u202e<b>x</b>" in issue and "\u202e" not in said


def test_more_cells_than_the_probe_asks_is_per_region_and_said(
    fake_aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window whose (region, day) cells are more than MAX_PROBES: the probe asks per region
    only (one record at most each), and a note says the days of the window are not known —
    the reading is not said complete when nobody looked at its days."""
    from torinvest.sources.sql import athena as athena_module

    monkeypatch.setattr(athena_module, "MAX_PROBES", 2)
    athena = fake_aws.athena(REGION)
    _probe(athena, {("us-east-1", ""): "1"})
    _answering(athena, 5 << 20)
    act = _activity(athena, None, regions=["us-east-1"], start="2023-07-09", end="2023-07-11")
    (sql,) = [e.sql for e in athena.executions if "AS probe" in e.sql]
    assert "WHERE region = 'us-east-1' LIMIT 1" in sql and '"date" =' not in sql
    assert not act.issues
    (note,) = [n for n in act.notes if "coverage query" in n]
    assert note.startswith(
        "athena:security.cloudtrail_logs: the coverage query asked per region only (1 region(s) "
        "× 3 day(s) is more than 2 cells): a day of the window the table holds no record of"
    )
    assert "may not have been read" in note and "--start/--end" in note


def test_a_coverage_query_that_fails_beside_events_keeps_them_and_says_what_is_unknown(
    fake_athena: AthenaRegion,
) -> None:
    """Events found (no account sought, no --regions) and the coverage query failing: the events
    stay, and one issue says which regions' days are not known (those of the events)."""
    recorder = Recorder(DuckDBEngine(SAMPLE))
    with recorder.engine:
        expected = load_sql(recorder, access_keys=KEY, start=START, end=END)
    fake_athena.add_failure("AccessDenied: not allowed", match="AS probe")
    fake_athena.add_answers(
        *(athena_results(t, dict(q.columns), scanned=5 << 20) for q, t in recorder.outputs)
    )
    engine = AthenaEngine(database="security", sleep=lambda _: None)
    got = load_sql(engine, access_keys=KEY, start=START, end=END)
    assert got.frame["event_id"].tolist() == expected.frame["event_id"].tolist()
    (issue,) = got.issues
    regions = ", ".join(sorted(set(expected.frame["aws_region"])))
    assert issue.source == "athena:security.cloudtrail_logs (coverage)"
    assert issue.problem.endswith(
        f"whether the table holds region(s) {regions}; the window's days is not known — where "
        "it holds none, events, if any, were not read"
    )
