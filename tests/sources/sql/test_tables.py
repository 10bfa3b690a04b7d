"""The Athena tables analysts really have: made from an older CloudTrail DDL (AWS's manual
partitioning DDL of 2017–2020: no ``sessioncredentialfromconsole``, ``eventcategory``,
``tlsdetails``…, partitions ``region, year, month, day``) or without a day partition at all.

The kit reads the table's columns (GetTableMetadata) and adapts each query: what the table
lacks is projected NULL and said — what could not be read, and the statement that adds the
column —, never "none found". The console sign-ins' MFA (``additionaleventdata``) is read where
the table has it. Athena is the fake's (it answers seeded rows: DuckDB's answers to the same
queries, replayed)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pytest

from tests.fake_aws import AthenaRegion
from tests.sources.sql.helpers import Recorder, athena_results
from tests.test_console_passwords import SESSION, USER, signed_in_records
from torinvest.errors import AwsError, OptionsError
from torinvest.events import Activity, _engine_sign_ins
from torinvest.sources.records.passwords import ConsolePassword
from torinvest.sources.sql import console_sql, load_sql, run
from torinvest.sources.sql.athena import AthenaEngine, _failed
from torinvest.sources.sql.columns import TableColumns, type_fields
from torinvest.sources.sql.duckdb import DuckDBEngine
from torinvest.sources.sql.engine import SqlResult
from torinvest.sources.sql.projection import CONSOLE_SESSION, MFA_USED

START, END = "2023-07-10T12:00:00Z", "2023-07-10T13:00:00Z"
TABLE = "security.cloudtrail_logs"

#: The columns of AWS's manual-partitioning DDL for CloudTrail as it stood until 2020 (the
#: "Querying AWS CloudTrail logs" page then; the CloudTrail console's table had the same), as
#: Glue stores them: lower case, no spaces.
OLD_DDL_COLUMNS: list[tuple[str, str]] = [
    ("eventversion", "string"),
    (
        "useridentity",
        "struct<type:string,principalid:string,arn:string,accountid:string,invokedby:string,"
        "accesskeyid:string,username:string,sessioncontext:struct<attributes:struct<"
        "mfaauthenticated:string,creationdate:string>,sessionissuer:struct<type:string,"
        "principalid:string,arn:string,accountid:string,username:string>>>",
    ),
    ("eventtime", "string"),
    ("eventsource", "string"),
    ("eventname", "string"),
    ("awsregion", "string"),
    ("sourceipaddress", "string"),
    ("useragent", "string"),
    ("errorcode", "string"),
    ("errormessage", "string"),
    ("requestparameters", "string"),
    ("responseelements", "string"),
    ("additionaleventdata", "string"),
    ("requestid", "string"),
    ("eventid", "string"),
    ("resources", "array<struct<arn:string,accountid:string,type:string>>"),
    ("eventtype", "string"),
    ("apiversion", "string"),
    ("readonly", "string"),
    ("recipientaccountid", "string"),
    ("serviceeventdetails", "string"),
    ("sharedeventid", "string"),
    ("vpcendpointid", "string"),
]
OLD_PARTITIONS = ("region", "year", "month", "day")
LOCATION = {"location": "s3://org-trail/AWSLogs/218007301253/CloudTrail/"}


def test_a_glue_type_gives_every_struct_field_and_nothing_inside_arrays() -> None:
    fields = type_fields(dict(OLD_DDL_COLUMNS)["useridentity"])
    assert "sessioncontext.sessionissuer.arn" in fields and "accesskeyid" in fields
    assert "sessioncontext.sourceidentity" not in fields
    assert type_fields(dict(OLD_DDL_COLUMNS)["resources"]) == []
    assert type_fields("decimal(10,2)") == [] and type_fields("string") == []


def test_what_an_old_table_cannot_give_each_column_of_the_queries() -> None:
    old = TableColumns.from_metadata(
        {
            "Columns": [{"Name": n, "Type": t} for n, t in OLD_DDL_COLUMNS],
            "PartitionKeys": [{"Name": p, "Type": "string"} for p in OLD_PARTITIONS],
        }
    )
    assert old.partitions == OLD_PARTITIONS
    every = [*TableColumns.current().fields]
    assert TableColumns.current().unread(["event_time", CONSOLE_SESSION, MFA_USED]) == {}
    # only the console sessions' column: every other one the queries read, the old DDL has
    assert old.unread([*_event_columns(), CONSOLE_SESSION, MFA_USED]) == {
        CONSOLE_SESSION: ("sessioncredentialfromconsole",)
    }
    assert "eventcategory" not in old.fields and "eventcategory" in every


def _event_columns() -> list[str]:
    from torinvest.sources.sql.projection import EVENT_COLUMNS

    return list(EVENT_COLUMNS)


# --------------------------------------------------------------------------------------------
# the console sign-ins and sessions' calls through Athena, replayed from DuckDB
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trail(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One log file of the console test's records (sign-ins with MFAUsed, sessions' calls)."""
    root = tmp_path_factory.mktemp("trail")
    body = json.dumps({"Records": signed_in_records()}, separators=(",", ":"))
    (root / "console.json.gz").write_bytes(gzip.compress(body.encode()))
    return root


def _replay(trail: Path, athena: AthenaRegion, *, old: bool) -> None:
    """DuckDB's answers to the console query, as Athena's: over an old table, only the
    sign-ins (its records cannot say which calls are a console session's)."""
    recorder = Recorder(DuckDBEngine(trail))
    with recorder.engine:
        console_sql(recorder, [USER], start=START, end=END)
    for query, table in recorder.outputs:
        if old:
            table = table.filter(pc.equal(table.column("event_name"), "ConsoleLogin"))
        athena.add_answers(athena_results(table, dict(query.columns), scanned=1 << 20))


def _engine() -> AthenaEngine:
    return AthenaEngine(database="security", sleep=lambda _: None)


def test_a_table_of_todays_ddl_gives_the_sign_ins_mfa_and_the_sessions(
    trail: Path, fake_athena: AthenaRegion
) -> None:
    fake_athena.add_table("security", "cloudtrail_logs", LOCATION)
    _replay(trail, fake_athena, old=False)
    got = console_sql(_engine(), [USER], start=START, end=END)
    assert got is not None and not got.issues and not got.unread
    (sql,) = [e.sql for e in fake_athena.executions]
    assert "sessioncredentialfromconsole" in sql and "additionaleventdata" in sql
    assert "\"date\" BETWEEN '2023/07/09' AND '2023/07/11'" in sql
    signs = got.frame[got.frame["event_name"] == "ConsoleLogin"]
    assert {got.mfa_used[i] for i in signs["event_id"]} == {"No"}
    assert SESSION in set(got.frame["access_key_id"].dropna())


def test_an_old_table_reads_the_sign_ins_and_says_the_sessions_calls_were_not_read(
    trail: Path, fake_athena: AthenaRegion
) -> None:
    """The old DDL has no sessioncredentialfromconsole: the query no longer names it (Athena
    would fail it: COLUMN_NOT_FOUND, and the sign-ins read "not read"), reads the sign-ins by
    the old partitions, and says the sessions' calls were not read and how to add the column."""
    fake_athena.add_table(
        "security", "cloudtrail_logs", LOCATION, columns=OLD_DDL_COLUMNS, partitions=OLD_PARTITIONS
    )
    _replay(trail, fake_athena, old=True)
    got = console_sql(_engine(), [USER], start=START, end=END)
    assert got is not None and got.unread == {CONSOLE_SESSION}
    (sql,) = [e.sql for e in fake_athena.executions]
    assert "sessioncredentialfromconsole" not in sql.lower()
    assert '"date" BETWEEN' not in sql
    assert "\"year\" = '2023' AND \"month\" = '07' AND \"day\" = '10'" in sql
    # no account partition: the records' account stands for it (the region is a partition)
    assert "recipientaccountid AS account" in sql and "awsregion AS region" not in sql
    [issue] = got.issues
    assert issue.source == "athena:security.cloudtrail_logs"
    assert "lacks column sessioncredentialfromconsole" in issue.problem
    assert "sessions' calls were not read" in issue.problem
    assert (
        f"ALTER TABLE {TABLE} ADD COLUMNS (sessioncredentialfromconsole STRING) (`torinvest "
        "athena-ddl --add-columns sessioncredentialfromconsole --database security --table "
        "cloudtrail_logs` prints it)" in issue.problem
    )
    # the sign-ins are read, their MFA too (the old DDL has additionaleventdata)
    assert list(got.frame["event_name"].unique()) == ["ConsoleLogin"]
    assert set(got.mfa_used.values()) == {"No"}


def _password() -> ConsolePassword:
    when = pd.Timestamp("2023-07-10T12:17:19Z")
    return ConsolePassword(USER, "CreateLoginProfile", when, "e1", "AKIAX", "1.2.3.4")


def test_the_investigation_says_sessions_not_read_and_keeps_the_sign_ins(
    trail: Path, fake_athena: AthenaRegion
) -> None:
    """What the activity holds: the sign-ins (searched, with MFA), not the sessions (not
    read), and the table's issue among the data issues."""
    fake_athena.add_table(
        "security", "cloudtrail_logs", LOCATION, columns=OLD_DDL_COLUMNS, partitions=OLD_PARTITIONS
    )
    _replay(trail, fake_athena, old=True)
    act, res = Activity(frame=pd.DataFrame()), SqlResult(pd.DataFrame(), "athena")
    window = (pd.Timestamp(START), pd.Timestamp(END))
    calls = _engine_sign_ins(act, res, _engine(), [_password()], window, None, None)
    assert calls is None and USER in act.sign_ins_searched and USER not in act.sessions_read
    assert [(s.result, s.mfa_used) for s in act.sign_ins] == [
        ("Success", "No"),
        ("Failure", "No"),
        ("Success", "No"),
    ]
    assert any("sessioncredentialfromconsole" in i.problem for i in res.issues)


# --------------------------------------------------------------------------------------------
# the other queries and checks on the tables analysts have
# --------------------------------------------------------------------------------------------
def test_the_data_events_question_is_not_asked_of_a_table_without_eventcategory(
    fake_athena: AthenaRegion, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the archived files' listing of the LOCATION: another test's (tests/hostile)
    monkeypatch.setattr(run, "unseen_in_table", lambda *a: ([], None))
    fake_athena.add_table(
        "security", "cloudtrail_logs", LOCATION, columns=OLD_DDL_COLUMNS, partitions=OLD_PARTITIONS
    )
    probe = [("region", "varchar"), ("day", "varchar"), ("records", "bigint")]
    fake_athena.add_results(probe, [[None, "2023/07/10", "1"]], scanned=1 << 20, match="AS probe")
    fake_athena.add_results([], scanned=5 << 20, match="")  # the events query: none, data read
    result = load_sql(_engine(), access_keys="AKIATFQR7NSCUXC3DDDP", start=START, end=END)
    assert not [e for e in fake_athena.executions if "data_probe" in e.sql]
    why = result.data_events_unknown or ""
    assert why.startswith(
        "not asked: the table security.cloudtrail_logs lacks column eventcategory"
    )
    assert f"ALTER TABLE {TABLE} ADD COLUMNS (eventcategory STRING)" in why


def test_a_table_without_a_day_partition_is_refused_before_any_query(
    fake_athena: AthenaRegion,
) -> None:
    """The table of AWS's first CloudTrail SerDe example (no partition): every query would read
    the trail's whole history — refused, naming the table and the statement that makes one."""
    fake_athena.add_table(
        "security", "cloudtrail_logs", LOCATION, columns=OLD_DDL_COLUMNS, partitions=()
    )
    with pytest.raises(OptionsError) as caught:  # exit 2
        load_sql(_engine(), access_keys="AKIATFQR7NSCUXC3DDDP", start=START, end=END)
    assert "security.cloudtrail_logs has no day partition (partitions: none)" in str(caught.value)
    assert "torinvest athena-ddl" in (caught.value.hint or "")
    assert fake_athena.executions == []


def test_an_unreadable_definition_leaves_the_queries_as_they_were(
    fake_athena: AthenaRegion,
) -> None:
    """GetTableMetadata refused (no such table in the fake): today's columns are assumed, and a
    query that names a column the table lacks fails naming it (below)."""
    engine = _engine()
    assert engine.columns() is None
    sql, unread = engine._render(_console_query())
    assert "sessioncredentialfromconsole" in sql and '"date" BETWEEN' in sql and not unread


def _console_query() -> Any:
    from torinvest.sources.sql.queries import events_query, make_scope

    return events_query(make_scope(start=START, end=END, console=[USER]))


def test_a_query_failing_on_a_missing_column_names_it_and_the_statement_that_adds_it() -> None:
    reason = (
        "COLUMN_NOT_FOUND: line 24:5: Column 'sessioncredentialfromconsole' cannot be resolved "
        "or requester is not authorized to access requested resources"
    )
    status = {"StateChangeReason": reason, "AthenaError": {"ErrorType": 1006}}
    error = _failed("q-1", "FAILED", status, "us-east-1", TABLE)
    assert isinstance(error, AwsError)
    assert f"the Athena table {TABLE} has no column sessioncredentialfromconsole" in error.message
    assert f"ALTER TABLE {TABLE} ADD COLUMNS (sessioncredentialfromconsole STRING)" in (
        error.hint or ""
    )


def test_print_sql_shows_the_query_over_todays_ddl_without_reading_the_table() -> None:
    sql = _engine().sql(_console_query())
    assert "sessioncredentialfromconsole" in sql and '"date" BETWEEN' in sql


def test_a_query_failing_on_a_missing_partition_says_so_without_an_alter_table() -> None:
    """The definition could not be read, and the table is partitioned otherwise (no ``date``):
    no ALTER TABLE adds a partition — the error says what to grant or create instead."""
    reason = "COLUMN_NOT_FOUND: line 3:1: Column 'date' cannot be resolved"
    status = {"StateChangeReason": reason, "AthenaError": {"ErrorType": 1006}}
    error = _failed("q-2", "FAILED", status, "us-east-1", TABLE)
    assert f"the Athena table {TABLE} has no partition date" in error.message
    assert "ALTER TABLE" not in (error.hint or "") and "athena:GetTableMetadata" in (
        error.hint or ""
    )
