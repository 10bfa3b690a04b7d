"""`torinvest events --engine duckdb|athena`, `--print-sql` and `torinvest athena-ddl`."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
import sqlglot

from torinvest.case import sample_case
from torinvest.cli import main

CASE = str(sample_case().root)
KEY = "AKIATFQR7NSCUXC3DDDP"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_duckdb_engine_gives_the_file_loaders_frame(tmp_path: Path) -> None:
    files, duck = tmp_path / "f.parquet", tmp_path / "d.parquet"
    common = ["--case", CASE, "--access-key", KEY, "--follow-derived"]
    assert run("events", *common, "--out", str(files))[0] == 0
    code, out, err = run("events", *common, "--engine", "duckdb", "--out", str(duck))
    assert code == 0
    assert "the DuckDB engine" in out
    assert "duckdb: 71 rows" in err
    a, b = pd.read_parquet(files), pd.read_parquet(duck)
    cols = [c for c in a.columns if c not in ("source", "origin")]
    pd.testing.assert_frame_equal(
        a[cols].reset_index(drop=True), b[cols].reset_index(drop=True), check_categorical=False
    )


def test_print_sql_for_athena_is_trino_and_bounded_by_date(tmp_path: Path) -> None:
    code, out, _ = run(
        "events",
        "--engine",
        "athena",
        "--athena-database",
        "security",
        "--access-key",
        KEY,
        "--start",
        "2023-07-10",
        "--end",
        "2023-07-11",
        "--print-sql",
        "--out",
        str(tmp_path / "x.parquet"),
    )
    assert code == 0
    assert not (tmp_path / "x.parquet").exists()
    sql = "\n".join(ln for ln in out.splitlines() if not ln.startswith("--"))
    sqlglot.parse_one(sql, read="trino")
    assert '"date"' in sql
    assert "2023/07/09" in sql or "2023-07-09" in sql
    assert KEY in sql


def test_print_sql_needs_an_sql_engine(tmp_path: Path) -> None:
    code, _, err = run("events", "--case", CASE, "--print-sql", "--out", str(tmp_path / "x.csv"))
    assert code == 2  # a usage error: the file loader runs no SQL
    assert "--engine duckdb or athena" in err


def test_athena_ddl_org_trail() -> None:
    code, out, _ = run(
        "athena-ddl",
        "--bucket",
        "org-trail",
        "--org-id",
        "o-abcdefghij",
        "--accounts",
        "111122223333,444455556666",
        "--regions",
        "us-east-1,eu-west-1",
        "--database",
        "security",
    )
    assert code == 0
    assert "CREATE EXTERNAL TABLE" in out
    assert "projection.enabled" in out
    assert "o-abcdefghij" in out
    assert "111122223333,444455556666" in out


def test_athena_ddl_add_columns_prints_the_alter_table_of_the_columns_a_table_lacks() -> None:
    """What an issue of a table made from an older DDL names: the columns of today's DDL
    added in place (no bucket nor accounts needed); a name not of that DDL is a usage error."""
    cols = "sessioncredentialfromconsole,eventcategory"
    code, out, _ = run("athena-ddl", "--add-columns", cols, "--database", "security")
    assert code == 0
    assert out == (
        "ALTER TABLE security.cloudtrail_logs ADD COLUMNS "
        "(eventcategory STRING, sessioncredentialfromconsole STRING)\n"
    )
    with pytest.raises(SystemExit) as exited:
        run("athena-ddl", "--add-columns", "sourceidentity")  # a struct's field, not a column
    assert exited.value.code == 2
    code, _, err = run("athena-ddl", "--database", "security")
    assert code == 2 and "athena-ddl needs --bucket and --accounts" in err


def test_the_row_limit_is_for_investigations_not_exports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from torinvest.cli import build_parser, engine_from_args, run_options
    from torinvest.events import DEFAULT_MAX_ROWS

    parser = build_parser()
    events = parser.parse_args(["events", "--case", CASE, "--engine", "duckdb", "--out", "x.csv"])
    assert engine_from_args(events).max_rows is None  # an export holds every matching row
    finding = "6dde0a8f8d46f6acad893b30f905e97c"
    default = parser.parse_args(["investigate", finding, "--case", CASE, "--out", "o"])
    assert run_options(default).max_rows == DEFAULT_MAX_ROWS
    chosen = ["investigate", finding, "--case", CASE, "--out", "o", "--max-rows", "250_000"]
    assert run_options(parser.parse_args(chosen)).max_rows == 250_000
    never = ["investigate", finding, "--case", CASE, "--out", "o", "--max-rows", "0"]
    assert run_options(parser.parse_args(never)).max_rows is None
    with pytest.raises(SystemExit) as exited:
        run("investigate", finding, "--case", CASE, "--out", "o", "--max-rows", "-1")
    assert exited.value.code == 2
    assert (
        "argument --max-rows: -1 is less than 0 (give a whole number of rows"
        in capsys.readouterr().err
    )


def test_the_file_size_limit_reaches_the_loader_from_every_entry_point(tmp_path: Path) -> None:
    import papermill as pm

    from torinvest.cli import build_parser, engine_from_args, run_options
    from torinvest.investigation import sources_from_parameters
    from torinvest.report import notebook_path, parameters
    from torinvest.sources.logs import DEFAULT_MAX_FILE_BYTES

    parser = build_parser()
    events = parser.parse_args(["events", "--case", CASE, "--out", "x.csv"])
    assert engine_from_args(events).max_file_bytes == DEFAULT_MAX_FILE_BYTES
    raised = parser.parse_args(["events", "--case", CASE, "--max-file-mb", "2048", "--out", "x"])
    assert engine_from_args(raised).max_file_bytes == 2048 << 20
    finding = "6dde0a8f8d46f6acad893b30f905e97c"
    investigate = ["investigate", finding, "--case", CASE, "--out", "o", "--max-file-mb", "64"]
    options = run_options(parser.parse_args(investigate))
    assert parameters(finding, tmp_path, options)["max_file_mb"] == 64
    assert sources_from_parameters(case_dir=CASE, max_file_mb=64).engine.max_file_bytes == 64 << 20
    notebook = pm.inspect_notebook(str(notebook_path("investigate")))
    assert notebook["max_file_mb"]["default"] == str(DEFAULT_MAX_FILE_BYTES >> 20)
