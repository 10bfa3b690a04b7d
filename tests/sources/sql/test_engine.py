"""Engines by name, and engine pieces that dedupe with the file loader's."""

from __future__ import annotations

import gzip

import pytest

from tests.sources.sql.helpers import END, SAMPLE, START
from torinvest.errors import InputError
from torinvest.sources.sql.athena import AthenaEngine
from torinvest.sources.sql.duckdb import DuckDBEngine
from torinvest.sources.sql.engine import make_engine
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
