"""The watched calls of the log files (``load_logs(..., watch=...)``: who else turned off the
logging) become one frame, made as the events frame is (``frame_from_tables`` over a piece a
file): copies of a record dropped within a file and across files (a copied trail:
tests/test_watched_copies.py), in time order, the events frame's dtypes. A frame a file, then
their concatenation, was 0.5-0.7 s of a 1 s ``torinvest events`` run on the sample trail (25
records in 11 files): the records are converted to pandas once.
"""

from __future__ import annotations

import copy
import gzip
import json
from typing import Any

import pandas as pd
import pytest

from torinvest.case import sample_case
from torinvest.sources.logs import load
from torinvest.sources.logs.model import Narrowing
from torinvest.sources.records import frame as frames
from torinvest.sources.records.columns import CATEGORY_COLUMNS
from torinvest.sources.records.table import records_table


def _records() -> list[dict[str, Any]]:
    """Records of the sample trail, of many callers, regions and services."""
    out: list[dict[str, Any]] = []
    for path in sorted(sample_case().cloudtrail.rglob("*.json.gz"))[:12]:
        out += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return out


def _watched() -> list[tuple[str, dict[str, Any]]]:
    """(file, record) as the loader gathers them: three files whose times interleave (each
    file's own out of order), a record in two files (a copied file: one kept), one twice in a
    file (one kept), one without a time (last)."""
    recs = _records()
    a, b, c = recs[0:30:3], recs[1:30:3], recs[2:30:3]
    a.reverse()
    b.append(copy.deepcopy(a[0]))  # in two files
    c.append(copy.deepcopy(c[1]))  # twice in one
    untimed = copy.deepcopy(recs[31])
    del untimed["eventTime"]
    b.insert(0, untimed)
    return [(name, r) for name, rs in (("f/a", a), ("f/b", b), ("f/c", c)) for r in rs]


def _events_frame(watched: list[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    """The events frame of the same records: a piece a file, in the loader's order."""
    by_file: dict[str, list[dict[str, Any]]] = {}
    for name, rec in watched:
        by_file.setdefault(name, []).append(rec)
    tables = [records_table(rs, source=load.SOURCE, origin=n) for n, rs in by_file.items()]
    return frames.frame_from_tables(tables)


def test_the_watched_calls_are_the_events_frame_of_their_records() -> None:
    watched = _watched()
    got = load._watched_frame(watched, frozenset(), Narrowing())
    pd.testing.assert_frame_equal(got, _events_frame(watched))
    for name in CATEGORY_COLUMNS:
        assert isinstance(got[name].dtype, pd.CategoricalDtype), name
    assert len(got) == len(watched) - 2  # the copy in one file and the one in two dropped
    assert got["event_time"].iloc[:-1].is_monotonic_increasing
    assert pd.isna(got["event_time"].iloc[-1])  # no time: last


def test_the_watched_calls_of_many_files_are_converted_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One categorical a column, not one a column and file."""
    calls: list[int] = []
    categorical = frames._categorical

    def counted(*args: Any) -> Any:
        calls.append(1)
        return categorical(*args)

    monkeypatch.setattr(frames, "_categorical", counted)
    load._watched_frame(_watched(), frozenset(), Narrowing())
    assert len(calls) == len(CATEGORY_COLUMNS)
