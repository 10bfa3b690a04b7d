"""The watched calls of the log files (``load_logs(..., watch=...)``: who else turned off the
logging) become one frame: each file's records by themselves (their copies dropped, in time
order), the files one after the other, as ``pd.concat`` of a frame a file gave (dtypes too). A
frame a file, then their concatenation, was 0.5-0.7 s of a 1 s ``torinvest events`` run on the
sample trail (25 records in 11 files): the records are now converted to pandas once.
"""

from __future__ import annotations

import copy
import gzip
import json
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from torinvest.case import sample_case
from torinvest.sources.logs import load
from torinvest.sources.logs.model import Narrowing
from torinvest.sources.records import frame as frames
from torinvest.sources.records import normalize_records
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
    file's own out of order), a record in two files (a copied file: kept in both, as before),
    one twice in a file (one kept), one without a time (last of its file)."""
    recs = _records()
    a, b, c = recs[0:30:3], recs[1:30:3], recs[2:30:3]
    a.reverse()
    b.append(copy.deepcopy(a[0]))  # in two files
    c.append(copy.deepcopy(c[1]))  # twice in one
    untimed = copy.deepcopy(recs[31])
    del untimed["eventTime"]
    b.insert(0, untimed)
    return [(name, r) for name, rs in (("f/a", a), ("f/b", b), ("f/c", c)) for r in rs]


def _frame_a_file(watched: list[tuple[str, dict[str, Any]]]) -> pd.DataFrame:
    """What the loader did: a frame a file, concatenated."""
    by_file: dict[str, list[dict[str, Any]]] = {}
    for name, rec in watched:
        by_file.setdefault(name, []).append(rec)
    parts = [normalize_records(rs, source=load.SOURCE, origin=n) for n, rs in by_file.items()]
    return pd.concat(parts, ignore_index=True)


def _same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(got, expected)
    for name in CATEGORY_COLUMNS:  # categorical or not as before; categories in the same order
        if isinstance(expected[name].dtype, pd.CategoricalDtype):
            assert list(got[name].cat.categories) == list(expected[name].cat.categories), name


def test_the_watched_calls_are_the_frames_of_their_files_one_after_another() -> None:
    watched = _watched()
    got = load._watched_frame(watched, frozenset(), Narrowing())
    _same(got, _frame_a_file(watched))
    assert len(got) == len(watched) - 1  # the copy in one file dropped, the other kept


def _tables(files: int, recs: list[dict[str, Any]]) -> list[pa.Table]:
    return [records_table(recs[i::3][::-1], source="s", origin=f"o{i}") for i in range(files)]


@pytest.mark.parametrize("files", [0, 1, 2, 3])
def test_frames_one_after_another_is_the_concatenation_of_their_frames(files: int) -> None:
    """Of 2 tables (records of one caller and account each), some categorical columns hold
    the same values in both (they stay categorical), others not (text)."""
    recs = _records()[:6] if files == 2 else _records()
    tables = _tables(files, recs)
    got = frames.frames_one_after_another(tables)
    parts = [frames.frame_from_tables([t]) for t in tables]
    if len(parts) > 1:
        expected = pd.concat(parts, ignore_index=True)
    else:
        expected = parts[0] if parts else frames.empty_frame()
    _same(got, expected)


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
