"""What the tests of the SQL engines (torinvest.sources.sql) share.

DuckDB runs over the embedded sample case (account layout), an organization-layout copy of it
built in ``tmp_path``, the invictus fixtures (a flat folder with a derived key) and an S3 prefix in
moto; its frames are compared with the file loader's on the same files. Athena runs against the
Athena of tests/fake_aws (``fake_athena``: answers seeded with :func:`athena_results`) in the
protocol the installed botocore speaks, and against botocore's Stubber (on the client torinvest
builds) for answers no Athena gives (garbled results, pages that never end).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from tests.fake_aws import AthenaAnswer
from torinvest.case import sample_case
from torinvest.schema import EVENTS_COLUMNS, conform
from torinvest.sources.sql.duckdb import DuckDBEngine

SAMPLE = sample_case().cloudtrail
INVICTUS = Path(__file__).parents[2] / "fixtures" / "cloudtrail" / "invictus"
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


ATHENA_TYPES = {"time": "timestamp with time zone", "bool": "boolean", "int": "integer"}


def athena_text(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"VarCharValue": "true" if value else "false"}
    if isinstance(value, datetime):
        return {"VarCharValue": f"{value:%Y-%m-%d %H:%M:%S.%f}"[:-3] + " UTC"}
    return {"VarCharValue": str(value)}


def athena_results(table: pa.Table, kinds: dict[str, str], *, scanned: int = 0) -> AthenaAnswer:
    """A query's rows as Athena returns them, for the fake to answer: text values and the
    columns' Athena types (the fake sends the header row first)."""
    names = table.column_names
    rows = [[athena_text(row[n]).get("VarCharValue") for n in names] for row in table.to_pylist()]
    columns = [(n, ATHENA_TYPES.get(kinds.get(n, ""), "varchar")) for n in names]
    return AthenaAnswer(columns, rows, scanned)


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
