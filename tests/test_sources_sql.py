"""The investigation queries through SQL (torinvest.sources.sql and .athena).

DuckDB runs over the embedded sample case (account layout), an organization-layout copy of it
built in ``tmp_path``, the invictus fixtures (a flat folder with a derived key) and an S3 prefix in
moto; its frames are compared with the file loader's on the same files. Athena runs against moto's
Athena endpoint (results injected through moto's API) for the request/poll/results flow and the
interrupt, and against botocore's Stubber (on the client torinvest builds) for what moto cannot
do: paged results and a FAILED query.
"""

from __future__ import annotations

import gzip
import json
import shutil
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
import sqlglot
from botocore.stub import Stubber

from torinvest.analysis import per_ip, sensitive_events
from torinvest.aws import Aws
from torinvest.case import sample_case
from torinvest.errors import AwsError, InputError
from torinvest.schema import EVENTS_COLUMNS, conform
from torinvest.sources.athena import (
    INPUT_FORMAT,
    SERDE,
    AthenaEngine,
    Polling,
    athena_cost_usd,
    athena_ddl,
)
from torinvest.sources.logs import load_logs, subset
from torinvest.sources.records import derived_keys
from torinvest.sources.sql import (
    DuckDBEngine,
    events_query,
    iter_queries,
    load_sql,
    make_engine,
    make_scope,
    minted_keys_sql,
    per_ip_sql,
    print_sql,
    sensitive_sql,
    timeline_sql,
)

SAMPLE = sample_case().cloudtrail
INVICTUS = Path(__file__).parent / "fixtures" / "cloudtrail" / "invictus"
ACCOUNT = "218007301253"
ORG = "o-abc123def4"
KEY = "AKIATFQR7NSCUXC3DDDP"  # an IAM user key of the sample case
SUSPECT = "AKIATFQR7NSC8Q4X20BJ"  # invictus: mints six ASIA keys (AssumeRole)
START, END = "2023-07-10T12:10:00Z", "2023-07-10T12:30:00Z"
REGION = "us-east-1"

LOADS: dict[str, dict[str, Any]] = {
    "everything": {},
    "key": {"access_keys": KEY},
    "key-window": {"access_keys": KEY, "start": START, "end": END},
    "window-region": {"start": START, "end": END, "regions": ["us-east-1"]},
}


def same_frames(got: pd.DataFrame, ref: pd.DataFrame, *, strict: bool = False) -> None:
    """The same rows and dtypes; ``source`` aside. ``strict`` also compares category order."""
    assert list(got.columns) == [c.name for c in EVENTS_COLUMNS]
    got, ref = got.drop(columns="source"), ref.drop(columns="source")  # "logs" or the engine
    assert (got.dtypes == ref.dtypes).all(), got.dtypes[got.dtypes != ref.dtypes]
    contract = conform([], EVENTS_COLUMNS).drop(columns="source").dtypes
    assert (got.dtypes.astype(str) == contract.astype(str)).all()
    pd.testing.assert_frame_equal(got, ref, check_categorical=strict)


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
    assert got.issues == ref.issues == []
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


def test_unreadable_and_other_shapes_are_issues_not_silence(tmp_path: Path) -> None:
    good = sorted(SAMPLE.rglob("*.json.gz"))[:5]
    for f in good:
        shutil.copy(f, tmp_path / f.name)
    truncated = tmp_path / f"{ACCOUNT}_CloudTrail_{REGION}_20230710T1200Z_truncated0000.json.gz"
    truncated.write_bytes(gzip.compress(b'{"Records":[{"eventVersion":"1.08"' * 10)[:-20])
    lookup = tmp_path / "lookup-events.json"
    lookup.write_text(json.dumps({"Events": []}))
    reference = tmp_path.parent / "reference"
    reference.mkdir()
    for f in good:
        shutil.copy(f, reference / f.name)
    ref = load_logs(reference, progress=False).frame
    with DuckDBEngine(tmp_path) as engine:
        got = load_sql(engine)
    frame = got.frame

    def names(origin: pd.Series) -> pd.Series:
        return origin.astype("string").str.rsplit("/", n=1).str[-1].astype("category")

    frame["origin"], ref["origin"] = names(frame["origin"]), names(ref["origin"])
    same_frames(frame, ref)
    problems = {Path(i.source).name: i.problem for i in got.issues}
    assert set(problems) == {truncated.name, lookup.name}
    assert "files engine" in problems[lookup.name]


# --------------------------------------------------------------------------------------------
# aggregates in the engine = the analysis of the loaded frame
# --------------------------------------------------------------------------------------------
PER_IP_COMPUTED = [
    "source_ip",
    "events",
    "failed",
    "first_seen",
    "last_seen",
    "regions",
    "user_agents",
    "event_names",
    "access_keys",
    "derived",
]


@pytest.mark.parametrize(
    ("folder", "kwargs"),
    [
        (SAMPLE, {}),
        (SAMPLE, {"access_keys": KEY, "start": START, "end": END}),
        (INVICTUS, {"access_keys": SUSPECT, "follow_derived": True}),
    ],
)
def test_per_ip_and_sensitive_in_the_engine(folder: Path, kwargs: dict[str, Any]) -> None:
    frame = load_logs(folder, progress=False, **kwargs).frame
    with DuckDBEngine(folder) as engine:
        table = per_ip_sql(engine, **kwargs).frame
        found = sensitive_sql(engine, **kwargs).frame
    expected = per_ip(frame)
    assert list(table.columns) == list(expected.columns)
    assert (table.dtypes == expected.dtypes).all()
    pd.testing.assert_frame_equal(table[PER_IP_COMPUTED], expected[PER_IP_COMPUTED])
    assert table["tor"].isna().all()
    pd.testing.assert_frame_equal(found, sensitive_events(frame))


def test_timeline_buckets_in_the_engine() -> None:
    frame = load_logs(SAMPLE, start=START, end=END, progress=False).frame
    with DuckDBEngine(SAMPLE) as engine:
        result = timeline_sql(engine, start=START, end=END)
        open_window = timeline_sql(engine)  # the bucket comes from the data's span
    got = result.frame
    size = got.attrs["bucket"]
    assert (size, got.attrs["bucket_name"]) == (pd.Timedelta(minutes=1), "1 minute")
    origin = pd.Timestamp(START).floor(size)
    expected = (
        frame.assign(
            bucket_start=origin + ((frame["event_time"] - origin) // size) * size,
            source_ip=frame["source_ip"].astype("string"),
            failed=frame["error_code"].notna(),
        )
        .groupby(["bucket_start", "source_ip"], dropna=False)
        .agg(events=("event_id", "size"), failed=("failed", "sum"))
        .reset_index()
    )
    got = got.sort_values(["bucket_start", "source_ip"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected.astype(got.dtypes.to_dict()), check_names=False)
    assert open_window.frame["events"].sum() == len(load_logs(SAMPLE, progress=False).frame)
    assert [q.kind for q in open_window.queries] == ["span", "timeline"]


# --------------------------------------------------------------------------------------------
# Athena SQL and table
# --------------------------------------------------------------------------------------------
def test_every_query_translates_to_athena_and_reads_only_the_windows_days() -> None:
    engine = AthenaEngine(database="security", workgroup="investigations")
    scope = make_scope(
        access_keys=[KEY, SUSPECT], start=START, end=END, accounts=[ACCOUNT], regions=[REGION]
    )
    queries = list(iter_queries(scope))
    assert {q.kind for q in queries} == {
        "events",
        "per_ip",
        "span",
        "sensitive",
        "minted",
        "timeline",
        "rollup",
    }
    for query in queries:
        sql = engine.sql(query)
        sqlglot.parse_one(sql, read="trino")
        assert "\"date\" BETWEEN '2023/07/09' AND '2023/07/11'" in sql  # the window ±1 day
        assert f"account IN ('{ACCOUNT}')" in sql
        assert f"region IN ('{REGION}')" in sql
        assert f"access_key_id IN ('{SUSPECT}', '{KEY}')" in sql
        assert "FROM_ISO8601_TIMESTAMP(eventtime)" in sql
        assert "read_json" not in sql
    with pytest.raises(InputError, match="window"):
        engine.sql(events_query(make_scope(access_keys=KEY)))


@pytest.mark.parametrize("name", ["benjamin", "root"])
def test_the_user_and_region_filters_are_in_every_query_of_both_dialects(name: str) -> None:
    """--username and --regions are filters on the records, written once, in both dialects."""
    engine = AthenaEngine(database="security")
    scope = make_scope(start=START, end=END, regions=[REGION], user_name=name)
    for query in iter_queries(scope):
        assert {"user_name", "user_type", "aws_region"} <= set(query.event_columns)
        trino = engine.sql(query)
        sqlglot.parse_one(trino, read="trino")
        assert f"user_name = '{name}'" in trino
        assert f"aws_region IN ('{REGION}')" in trino
        assert ("user_type = 'Root'" in trino) == (name == "root")
    with DuckDBEngine(SAMPLE) as duck:
        got = load_sql(duck, user_name="benjamin", start=START, end=END, regions=[REGION]).frame
    ref = load_logs(SAMPLE, start=START, end=END, regions=[REGION], progress=False).frame
    ref = subset(ref, (ref["user_name"] == "benjamin").to_numpy())
    assert len(got) == len(ref) > 0
    same_frames(got, ref)
    with pytest.raises(InputError, match="user name"):
        make_scope(user_name="bad\nname")


def test_print_sql_shows_what_each_engine_would_run(capsys: pytest.CaptureFixture[str]) -> None:
    scope = make_scope(access_keys=KEY, start=START, end=END)
    with DuckDBEngine(SAMPLE) as engine:
        text = print_sql(engine, events_query(scope))
        files = engine.files(scope).paths
    assert capsys.readouterr().out.strip() == text.strip()
    assert "FROM log_files" in text
    assert all(f'"{p}"' in text for p in files)  # named in the header comment
    athena = print_sql(AthenaEngine(database="security"), events_query(scope))
    assert '"security"."cloudtrail_logs"' in athena
    sqlglot.parse_one(athena, read="trino")


def test_ddl_account_trail() -> None:
    ddl = athena_ddl(
        "trail-bucket", "ct", accounts=[ACCOUNT, "111122223333"], regions=[REGION, "eu-west-1"]
    )
    assert ddl.startswith("CREATE EXTERNAL TABLE IF NOT EXISTS `cloudtrail_logs` (")
    assert f"ROW FORMAT SERDE '{SERDE}'" in ddl
    assert f"STORED AS INPUTFORMAT '{INPUT_FORMAT}'" in ddl
    assert "LOCATION 's3://trail-bucket/ct/AWSLogs/'" in ddl
    for prop in (
        "'projection.enabled'='true'",
        "'projection.account.type'='enum'",
        "'projection.account.values'='111122223333,218007301253'",
        "'projection.region.type'='enum'",
        "'projection.region.values'='eu-west-1,us-east-1'",
        "'projection.date.type'='date'",
        "'projection.date.format'='yyyy/MM/dd'",
        "'projection.date.range'='2013/11/01,NOW'",
        "'storage.location.template'="
        "'s3://trail-bucket/ct/AWSLogs/${account}/CloudTrail/${region}/${date}'",
    ):
        assert prop in ddl
    for column in ("`account` STRING", "`region` STRING", "`date` STRING", "accesskeyid: STRING"):
        assert column in ddl


def test_ddl_organization_trail() -> None:
    ddl = athena_ddl(
        "trail-bucket", org_id=ORG, accounts=[ACCOUNT], regions=[REGION], database="security"
    )
    assert "EXISTS `security`.`cloudtrail_logs`" in ddl
    assert f"LOCATION 's3://trail-bucket/AWSLogs/{ORG}/'" in ddl
    assert (
        f"'storage.location.template'='s3://trail-bucket/AWSLogs/{ORG}/"
        "${account}/CloudTrail/${region}/${date}'"
    ) in ddl
    all_regions = athena_ddl("trail-bucket", accounts=[ACCOUNT])
    assert "us-east-1" in all_regions
    assert "eu-west-3" in all_regions
    with pytest.raises(InputError):
        athena_ddl("trail-bucket", org_id="org-1", accounts=[ACCOUNT])
    with pytest.raises(InputError):
        athena_ddl("trail-bucket", accounts=[])
    with pytest.raises(InputError):
        athena_ddl("trail-bucket", accounts=[ACCOUNT], table="x; DROP TABLE y")


def test_cost_estimate() -> None:
    ten_mb = 10 * (1 << 20) / (1 << 40) * 5.0
    assert athena_cost_usd(0) == athena_cost_usd(1) == ten_mb
    assert athena_cost_usd(1 << 40) == 5.0
    assert athena_cost_usd(11 * (1 << 20) + 1) == pytest.approx(12 * ten_mb / 10)


# --------------------------------------------------------------------------------------------
# Athena flow
# --------------------------------------------------------------------------------------------
ATHENA_TYPES = {"time": "timestamp with time zone", "bool": "boolean", "int": "integer"}


def athena_text(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"VarCharValue": "true" if value else "false"}
    if isinstance(value, datetime):
        return {"VarCharValue": f"{value:%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC"}
    return {"VarCharValue": str(value)}


def athena_results(table: pa.Table, kinds: dict[str, str]) -> dict[str, Any]:
    """An events query's rows as Athena returns them: text, a header row first."""
    names = table.column_names
    header = {"Data": [{"VarCharValue": n} for n in names]}
    rows = [{"Data": [athena_text(row[n]) for n in names]} for row in table.to_pylist()]
    info = [
        {"Name": n, "Label": n, "Type": ATHENA_TYPES.get(kinds.get(n, ""), "varchar")}
        for n in names
    ]
    return {"rows": [header, *rows], "column_info": info}


def moto_post(url: str, body: dict[str, Any]) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with opener.open(request, timeout=10):
        pass


@pytest.fixture
def slow_athena(moto: str) -> Iterator[Any]:
    """moto's Athena with queries that take ``times`` polls per state change (set it)."""

    def set_times(times: int) -> None:
        moto_post(
            f"{moto}/moto-api/state-manager/set-transition",
            {
                "model_name": "athena::execution",
                "transition": {"progression": "manual", "times": times},
            },
        )

    yield set_times
    moto_post(
        f"{moto}/moto-api/state-manager/unset-transition", {"model_name": "athena::execution"}
    )


def test_athena_request_poll_results_flow(moto: str, slow_athena: Any) -> None:
    scope = make_scope(access_keys=KEY, start=START, end=END)
    with DuckDBEngine(SAMPLE) as duck:
        expected = load_sql(duck, access_keys=KEY, start=START, end=END).frame
        rows = duck.run(events_query(scope)).table
    moto_post(
        f"{moto}/moto-api/static/athena/query-results",
        {"results": [athena_results(rows, dict(events_query(scope).columns))]},
    )
    slow_athena(2)
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

    assert sleeps == [1.0, 3.0, 4.0]  # QUEUED, QUEUED, RUNNING, RUNNING, SUCCEEDED: capped
    (stats,) = got.queries
    assert stats.query_id
    assert got.query_ids == [stats.query_id]
    assert stats.cost_usd == athena_cost_usd(0)  # moto scans nothing: the 10 MB minimum
    assert stats.query_id in got.summary()
    assert "~$0.0000" in got.summary()
    execution = engine.client.get_query_execution(QueryExecutionId=stats.query_id)["QueryExecution"]
    assert execution["Query"] == stats.sql == engine.sql(events_query(scope))
    assert execution["QueryExecutionContext"]["Database"] == "security"
    assert execution["ResultConfiguration"]["OutputLocation"].startswith(
        "s3://athena-results/torinvest/"
    )

    frame = got.frame
    assert set(frame["source"]) == {"athena"}
    assert set(frame["origin"]) == {f"athena:{stats.query_id}"}
    same = [c for c in frame.columns if c not in ("source", "origin")]
    assert (frame[same].dtypes == expected[same].dtypes).all()
    pd.testing.assert_frame_equal(frame[same], expected[same], check_categorical=False)


def test_athena_interrupt_stops_the_query(moto: str, slow_athena: Any) -> None:
    slow_athena(1000)  # never finishes

    def interrupted(_: float) -> None:
        raise KeyboardInterrupt

    engine = AthenaEngine(database="security", sleep=interrupted)
    with pytest.raises(KeyboardInterrupt):
        engine.execute("SELECT 1")
    (query_id,) = engine.client.list_query_executions()["QueryExecutionIds"]
    state = engine.client.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert state["Status"]["State"] == "CANCELLED"


def stubbed_athena(**kwargs: Any) -> tuple[AthenaEngine, Stubber]:
    """An engine whose Athena client (the one torinvest builds) answers from a Stubber."""
    engine = AthenaEngine(database="security", region=REGION, sleep=lambda _: None, **kwargs)
    stubber = Stubber(engine.client)
    stubber.add_response(
        "start_query_execution",
        {"QueryExecutionId": "q-1"},
        {"QueryString": "SELECT 1", "QueryExecutionContext": {"Database": "security"}},
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


def test_engines_by_name() -> None:
    duck = make_engine("duckdb", sources=SAMPLE)
    assert duck.name == "duckdb"
    duck.close()
    athena = make_engine("athena", database="security", workgroup="wg")
    assert isinstance(athena, AthenaEngine)
    with pytest.raises(InputError):
        make_engine("athena")
    with pytest.raises(InputError):
        make_engine("duckdb")
    with pytest.raises(InputError):
        make_engine("spark", sources=SAMPLE)
    with pytest.raises(InputError):
        make_scope(access_keys="AKIA' OR 1=1 --")
    with pytest.raises(InputError):
        make_scope(start=END, end=START)


def test_no_files_and_no_rows_give_empty_frames_of_the_contract(tmp_path: Path, moto: str) -> None:
    with DuckDBEngine(tmp_path) as engine:
        empty = load_sql(engine, access_keys=KEY)
        table = per_ip_sql(engine).frame
    assert empty.frame.empty
    assert list(empty.frame.columns) == [c.name for c in EVENTS_COLUMNS]
    contract = conform([], EVENTS_COLUMNS).dtypes
    assert (empty.frame.dtypes.astype(str) == contract.astype(str)).all()
    assert table.empty
    assert list(table.columns) == list(per_ip(empty.frame).columns)
    athena = load_sql(AthenaEngine(database="security"), access_keys=KEY, start=START, end=END)
    assert athena.frame.empty  # moto answers no rows (and no columns) by default
    assert (athena.frame.dtypes.astype(str) == contract.astype(str)).all()


class Recorder:
    """A DuckDB engine that keeps every query's output (to replay them as Athena results)."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, engine: DuckDBEngine) -> None:
        self.engine = engine
        self.outputs: list[tuple[Any, pa.Table]] = []

    def sql(self, query: Any) -> str:
        return self.engine.sql(query)

    def run(self, query: Any) -> Any:
        out = self.engine.run(query)
        self.outputs.append((query, out.table))
        return out

    def close(self) -> None:
        self.engine.close()


@pytest.mark.parametrize(
    "compute", [per_ip_sql, sensitive_sql, timeline_sql, minted_keys_sql], ids=lambda f: f.__name__
)
def test_athena_text_results_read_back_as_duckdbs(moto: str, compute: Any) -> None:
    kwargs = {
        "access_keys": SUSPECT,
        "start": "2023-07-10T00:00:00Z",
        "end": "2023-07-11T00:00:00Z",
    }
    recorder = Recorder(DuckDBEngine(INVICTUS))
    with recorder.engine:
        expected = compute(recorder, **kwargs)
    results = [athena_results(table, dict(query.columns)) for query, table in recorder.outputs]
    moto_post(f"{moto}/moto-api/static/athena/query-results", {"results": results})
    got = compute(AthenaEngine(database="security", sleep=lambda _: None), **kwargs)
    assert len(got.queries) == len(recorder.outputs)
    assert not expected.frame.empty
    pd.testing.assert_frame_equal(got.frame, expected.frame)
    assert got.derived == expected.derived
    assert got.frame.attrs == expected.frame.attrs


def test_engine_and_file_loader_pieces_dedupe_together() -> None:
    """An engine's Arrow piece carries the file loader's event-ID hash: the same events read by
    both come out once when their pieces are joined."""
    from torinvest.sources.records import frame_from_tables, log_file_table
    from torinvest.sources.sql.engine import _events_piece

    path = sorted(SAMPLE.rglob("*.json.gz"))[0]
    loader_piece = log_file_table(gzip.decompress(path.read_bytes()), source="logs", origin="f")
    assert loader_piece is not None and loader_piece.num_rows > 1
    with DuckDBEngine(path) as engine:
        out = engine.run(events_query(make_scope()))
    engine_piece = _events_piece(out, "duckdb")
    hashes = [sorted(p.column("_event_id_hash").to_pylist()) for p in (engine_piece, loader_piece)]
    assert hashes[0] == hashes[1]
    both = frame_from_tables([engine_piece, loader_piece])
    assert len(both) == loader_piece.num_rows
    assert set(both["source"]) == {"duckdb"}  # the first piece's copy wins
