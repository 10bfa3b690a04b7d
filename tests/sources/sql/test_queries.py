"""The queries: each one translates to Athena's dialect, reading only the window's days, and
the user and region filters are in every query of both dialects.
"""

from __future__ import annotations

import duckdb
import pytest
import sqlglot

from tests.sources.sql.helpers import ACCOUNT, END, KEY, REGION, SAMPLE, START, SUSPECT, same_frames
from torinvest.errors import InputError
from torinvest.sources.logs import load_logs, subset
from torinvest.sources.sql.athena import AthenaEngine
from torinvest.sources.sql.duckdb import DuckDBEngine
from torinvest.sources.sql.queries import events_query, iter_queries, make_scope, to_trino
from torinvest.sources.sql.run import load_sql


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
        "ip_pivot",
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


@pytest.mark.parametrize(
    "value",
    [
        "",
        "plain",
        "it's",
        "''",
        "a\\'b",  # a backslash is no escape in DuckDB or Trino
        "x'; DROP TABLE events; --",
        "line\nbreak\r\ttab",
        "nul\x00byte",
        "é 漢字 \u2028 \U0001f600",
        "\n",
        "trailing\n",
        "c1\x85\u2029",
        '"double" $$dollar$$',
    ],
)
def test_sql_literal_is_what_sqlglot_writes_and_reads_back(value: str) -> None:
    """Values are quoted without sqlglot (building the queries does not import it): printable
    text exactly as sqlglot writes a string in DuckDB's and Trino's dialects; control
    characters and line separators as chr() (one line: indenting the query keeps it). DuckDB
    reads the literal, and its Trino translation, back as the same value."""
    from torinvest.sources.sql.projection import sql_literal

    literal = sql_literal(value)
    assert len(literal.splitlines()) == 1 and literal.isprintable()
    if value.isprintable():
        for dialect in ("duckdb", "trino"):
            assert literal == sqlglot.exp.Literal.string(value).sql(dialect)
    trino = to_trino(f"SELECT {literal} AS v", pretty=False)
    back = sqlglot.transpile(trino, read="trino", write="duckdb")[0]
    for sql in (f"SELECT {literal} AS v", back):
        assert duckdb.sql(sql).fetchall() == [(value,)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"regions": ["us-east-1\n"]},
        {"regions": ["us-east-\u0661"]},  # an Arabic-Indic digit: \d matched it
        {"accounts": ["123456789012\n"]},
        {"accounts": ["\u0661" * 12]},
        {"user_name": "benjamin\n"},
    ],
)
def test_a_scope_value_that_only_looks_right_is_refused(kwargs: dict[str, list[str]]) -> None:
    """A trailing newline (which ``$`` let through) or a non-ASCII digit is not a region,
    account or user name: refused, never a literal matching no partition or record."""
    with pytest.raises(InputError):
        make_scope(start=START, end=END, **kwargs)  # type: ignore[arg-type]
