"""Engines by name (the table, imported on demand: DuckDB only when asked for), and engine
pieces that dedupe with the file loader's.
"""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest

from tests.sources.sql.helpers import END, SAMPLE, START
from torinvest.errors import InputError
from torinvest.sources.sql.athena import AthenaEngine
from torinvest.sources.sql.duckdb import DuckDBEngine
from torinvest.sources.sql.engine import ENGINE_CLASSES, ENGINES, make_engine
from torinvest.sources.sql.queries import events_query, make_scope


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


@pytest.mark.parametrize("kind", list(ENGINE_CLASSES))
def test_every_engine_of_the_table_is_made_by_name(kind: str) -> None:
    """make_engine imports each engine's module from the table and makes it from the settings."""
    module, class_name = ENGINE_CLASSES[kind]
    engine = make_engine(kind, sources=SAMPLE, database="security", table="trail_logs")
    try:
        assert type(engine).__module__ == module
        assert type(engine).__name__ == class_name
        assert engine.name == kind
        if isinstance(engine, AthenaEngine):
            assert (engine.database, engine.table) == ("security", "trail_logs")
    finally:
        engine.close()
    assert tuple(ENGINE_CLASSES) == ENGINES


def test_duckdb_is_imported_only_by_those_who_run_it() -> None:
    """The queries, the entry points and the Athena engine do not import DuckDB; asking for the
    DuckDB engine does."""
    script = """
import sys
import torinvest.events, torinvest.investigation
import torinvest.sources.sql as sql
scope = sql.make_scope(access_keys="AKIATFQR7NSCUXC3DDDP", start="2023-07-10", end="2023-07-10")
athena = sql.make_engine("athena", database="security")
sql.print_sql(athena, sql.events_query(scope), file=open("/dev/null", "w"))
assert "duckdb" not in sys.modules, "imported before it was asked for"
assert sql.DuckDBEngine.__module__ == "torinvest.sources.sql.duckdb"
assert "duckdb" in sys.modules
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
