"""The console sign-ins and console sessions' calls of the users a key set a password for, through
the engines (:func:`torinvest.sources.sql.console_sql`): the rows the file loader's pass keeps
(:func:`~torinvest.sources.records.filter_keys` with ``users``), no more, no fewer — whatever
``sessionCredentialFromConsole`` holds (the text CloudTrail writes, a JSON ``true``, upper case,
``"false"``, absent), and in files only the file loader reads for DuckDB (UTF-16).

Record shapes: tests/test_console_passwords.py's (the CloudTrail documentation's ConsoleLogin,
benjamin's real console-session call of the sample re-attributed).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlglot

from tests.fake_aws import AthenaRegion
from tests.sources.sql.helpers import Recorder, athena_results
from tests.test_console_passwords import TOR_EXIT, USER, _console_call, _sign_in
from torinvest.sources.records import filter_keys
from torinvest.sources.sql import console_sql
from torinvest.sources.sql.athena import AthenaEngine
from torinvest.sources.sql.duckdb import DuckDBEngine
from torinvest.sources.sql.queries import events_query, make_scope

START, END = "2023-07-10T00:00:00Z", "2023-07-10T23:59:59Z"
OTHER = "benjamin"


def _records() -> list[dict[str, Any]]:
    """Sign-ins and calls of ``USER`` (kept) beside look-alikes that are not (dropped)."""
    kept = [
        _sign_in(USER, "2023-07-10T12:30:10Z", TOR_EXIT, n=1),
        _sign_in(USER, "2023-07-10T12:29:50Z", TOR_EXIT, result="Failure", n=2),
        _console_call(USER, "2023-07-10T12:31:30Z", TOR_EXIT, n=1),
        _console_call(USER, "2023-07-10T12:06:00Z", TOR_EXIT, "ASIATFQR7NSCCONSOLE0", n=2),
    ]
    as_bool = _console_call(USER, "2023-07-10T12:32:00Z", TOR_EXIT, n=3)
    as_bool["sessionCredentialFromConsole"] = True  # a JSON true: "true" as text, as read
    upper = _console_call(USER, "2023-07-10T12:33:00Z", TOR_EXIT, n=4)
    upper["sessionCredentialFromConsole"] = "TRUE"
    kept += [as_bool, upper]
    dropped = [
        _sign_in(OTHER, "2023-07-10T12:31:00Z", "10.248.16.43", n=5),  # another user
        _console_call(OTHER, "2023-07-10T12:34:00Z", TOR_EXIT, n=5),
    ]
    not_console = _console_call(USER, "2023-07-10T12:35:00Z", TOR_EXIT, n=6)
    not_console["sessionCredentialFromConsole"] = "false"
    absent = _console_call(USER, "2023-07-10T12:36:00Z", TOR_EXIT, n=7)
    del absent["sessionCredentialFromConsole"]
    long_term = _console_call(USER, "2023-07-10T12:37:00Z", TOR_EXIT, "AKIATFQR7NSCCONSOLE9", n=8)
    role = _console_call(USER, "2023-07-10T12:38:00Z", TOR_EXIT, n=9)
    role["userIdentity"]["type"] = "AssumedRole"  # a role session named as the user: no user
    dropped += [not_console, absent, long_term, role]
    return kept + dropped


def _folder(root: Path) -> Path:
    """The records in a compact gzipped log file and, a copy of two of them with one more
    of each kind, in a UTF-16 file (DuckDB leaves it to the file loader)."""
    recs = _records()
    body = json.dumps({"Records": recs[:8]}, separators=(",", ":")).encode()
    (root / "a.json.gz").write_bytes(gzip.compress(body))
    more = [
        _sign_in(USER, "2023-07-10T13:00:00Z", TOR_EXIT, n=11),
        _console_call(USER, "2023-07-10T13:01:00Z", TOR_EXIT, "ASIATFQR7NSCCONSOLE2", n=11),
        *recs[8:],
    ]
    (root / "b.json").write_bytes(json.dumps({"Records": more}).encode("utf-16"))
    return root


def _expected(folder: Path) -> list[str]:
    recs = [r for f in ("a.json.gz", "b.json") for r in _read(folder / f)]
    return sorted(r["eventID"] for r in filter_keys(recs, (), (), {USER}))


def _read(path: Path) -> list[dict[str, Any]]:
    raw = path.read_bytes()
    raw = gzip.decompress(raw) if path.suffix == ".gz" else raw
    text = raw.decode("utf-16") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode()
    return json.loads(text)["Records"]


def test_duckdb_reads_the_console_rows_the_file_loader_keeps(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    with DuckDBEngine(folder) as engine:
        got = console_sql(engine, [USER], start=START, end=END)
    assert got is not None
    assert sorted(got.frame["event_id"]) == _expected(folder)
    assert len(_expected(folder)) == 8  # 6 of the compact file, 2 of the UTF-16 one
    assert got.frame["derived"].isna().all()  # no key followed: the caller says which


def test_past_the_row_limit_nothing_is_loaded(tmp_path: Path) -> None:
    with DuckDBEngine(_folder(tmp_path)) as engine:
        assert console_sql(engine, [USER], start=START, end=END, max_rows=7) is None
        got = console_sql(engine, [USER], start=START, end=END, max_rows=8)
    assert got is not None and len(got.frame) == 8


def test_athena_selects_them_with_the_tables_column(
    tmp_path: Path, fake_athena: AthenaRegion
) -> None:
    """The Trino query reads ``sessioncredentialfromconsole`` (the column of AWS's table,
    athena_ddl's), and Athena's answer reads back into the frame DuckDB's gives."""
    athena = AthenaEngine(database="security", sleep=lambda _: None)
    sql = athena.sql(events_query(make_scope(start=START, end=END, console=[USER])))
    sqlglot.parse_one(sql, read="trino")
    assert "LOWER(sessioncredentialfromconsole) = 'true'" in sql
    assert f"user_name IN ('{USER}')" in sql and "access_key_id LIKE 'ASIA%'" in sql
    recorder = Recorder(DuckDBEngine(_folder(tmp_path)))
    with recorder.engine:
        duck = console_sql(recorder, [USER], start=START, end=END)  # type: ignore[arg-type]
    fake_athena.add_answers(*[athena_results(t, dict(q.columns)) for q, t in recorder.outputs])
    got = console_sql(athena, [USER], start=START, end=END)
    assert duck is not None and got is not None
    aside = ["origin", "source"]  # Athena's: its query; the engine's name
    pd.testing.assert_frame_equal(
        got.frame.drop(columns=aside), duck.frame.drop(columns=aside), check_categorical=False
    )
    assert len(got.frame) == 8


@pytest.mark.parametrize("user", ["a\nb", "x' OR 1=1 --", f"{USER}' OR TRUE OR 'a"])
def test_a_user_name_read_in_a_record_is_a_literal(tmp_path: Path, user: str) -> None:
    """The names come from records (``requestParameters.userName`` of CreateLoginProfile,
    attacker-written): each is a value compared, never SQL, nor a reason to fail the query."""
    with DuckDBEngine(_folder(tmp_path)) as engine:
        got = console_sql(engine, [user], start=START, end=END)
    assert got is not None and len(got.frame) == 0
