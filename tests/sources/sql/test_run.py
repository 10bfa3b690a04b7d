"""The entry points: counts made in the engine are the analysis of the loaded frame; print_sql;
empty inputs give frames of the contract.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlglot

from tests.fake_aws import AthenaRegion
from tests.sources.sql.helpers import END, INVICTUS, KEY, SAMPLE, START, SUSPECT
from torinvest.analysis import per_ip, sensitive_events
from torinvest.aws import Aws
from torinvest.schema import EVENTS_COLUMNS, conform
from torinvest.sources.logs import load_logs
from torinvest.sources.sql.athena import AthenaEngine
from torinvest.sources.sql.duckdb import DuckDBEngine
from torinvest.sources.sql.queries import events_query, make_scope
from torinvest.sources.sql.run import load_sql, per_ip_sql, print_sql, sensitive_sql, timeline_sql

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
            unknown=frame["outcome_unknown"],
        )
        .groupby(["bucket_start", "source_ip"], dropna=False)
        .agg(
            events=("event_id", "size"),
            failed=("failed", "sum"),
            outcome_unknown=("unknown", "sum"),
        )
        .reset_index()
    )
    got = got.sort_values(["bucket_start", "source_ip"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected.astype(got.dtypes.to_dict()), check_names=False)
    assert open_window.frame["events"].sum() == len(load_logs(SAMPLE, progress=False).frame)
    assert [q.kind for q in open_window.queries] == ["span", "timeline"]


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


def test_no_files_and_no_rows_give_empty_frames_of_the_contract(
    tmp_path: Path, fake_athena: AthenaRegion
) -> None:
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
    assert athena.frame.empty  # the fake answers no rows (and no columns) unless seeded
    assert len(fake_athena.executions) == len(athena.queries) >= 1
    assert (athena.frame.dtypes.astype(str) == contract.astype(str)).all()


def test_print_sql_over_s3_lists_the_files_without_downloading_them(moto: str) -> None:
    aws = Aws()
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="trail-bucket")
    for f in sorted(SAMPLE.rglob("*.json.gz")):
        s3.put_object(Bucket="trail-bucket", Key=f"ct/{f.relative_to(SAMPLE)}", Body=f.read_bytes())
    scope = make_scope(access_keys=KEY, start=START, end=END)
    with DuckDBEngine("s3://trail-bucket/ct", aws=aws) as engine:
        text = print_sql(engine, events_query(scope), file=io.StringIO())
        assert engine._workdir is None  # nothing downloaded
    assert '"s3://trail-bucket/ct/AWSLogs/' in text
    assert "FROM log_files" in text
