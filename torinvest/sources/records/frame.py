"""Arrow pieces → the events frame (:func:`frame_from_tables`): copies of a record dropped,
different records sharing an event ID named, categoricals from the dictionary codes;
:func:`normalize_records`, from records to the frame in one call.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from torinvest.errors import DataIssue, InputError
from torinvest.jsonread import dumps as json_dumps
from torinvest.jsonread import parse as parse_json
from torinvest.safety import prose_safe
from torinvest.sources.records.columns import (
    _STR,
    BOOLEAN_COLUMNS,
    CATEGORY_COLUMNS,
    COLUMN_NAMES,
    ID_HASH,
    SAME_RECORD_COLUMNS,
    STRING_COLUMNS,
    TABLE_SCHEMA,
    NotCloudTrailError,
)
from torinvest.sources.records.documents import parse_records
from torinvest.sources.records.table import _named, records_table, shown_id

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Arrow pieces → the events frame
# --------------------------------------------------------------------------------------------
def empty_frame() -> pd.DataFrame:
    """An events frame with no rows and exactly the contract's dtypes."""
    return frame_from_tables([])


def frame_from_tables(
    tables: Sequence[pa.Table] | list[pa.Table],
    *,
    derived_keys: Collection[str] | None = None,
    consume: bool = False,
    issues: list[DataIssue] | None = None,
) -> pd.DataFrame:
    """The events frame from pieces made by :func:`records_table`: dedupe, sort, convert.

    Pieces are taken in order: of copies of one record (the same event_id and content) the
    first wins; different records sharing an event_id are all kept. ``derived_keys``
    fills the ``derived`` column (True where the row's access key is one of them); without it
    ``derived`` is NA. With ``consume`` the list ``tables`` is emptied, so that each column's
    pieces are freed as soon as it is converted (peak memory stays near one frame).
    ``issues``, when given, gets :func:`duplicate_issues` of the frame (found at no cost when
    no event_id is shared).
    """
    pieces = [t for t in tables if t.num_rows] or [TABLE_SCHEMA.empty_table()]
    table = pa.concat_tables(pieces)
    del pieces
    if consume and isinstance(tables, list):
        tables.clear()
    if table.num_rows >= THREADED_ROWS:
        # the order (from plain columns) in a second thread while Arrow unifies in this one
        # (unified in the second thread, the memory Arrow frees later stayed in that thread's
        # heap: a higher peak)
        with ThreadPoolExecutor(1, thread_name_prefix="torinvest-frame") as pool:
            ordered = pool.submit(_row_order, table)
            table = table.unify_dictionaries()
            order, conflicts = ordered.result()
    else:
        table = table.unify_dictionaries()
        order, conflicts = _row_order(table)
    columns = {name: table.column(name) for name in table.column_names}
    del table  # each column's pieces freed as soon as it is converted
    frame = _converted(columns, order, derived_keys)
    if conflicts and issues is not None:
        issues += duplicate_issues(frame)
    return frame


def _converted(
    columns: dict[str, pa.ChunkedArray],
    order: np.ndarray | None,
    derived_keys: Collection[str] | None,
) -> pd.DataFrame:
    """The events frame of a table's ``columns`` (its dictionaries unified; the dict is
    emptied as they are converted), its rows taken in ``order`` (None: as they are)."""
    columns.pop(ID_HASH, None)
    # Columns are taken into order one by one, each one's pieces freed as soon as it is
    # converted; on a large table a second thread builds the categoricals meanwhile (Arrow and
    # NumPy release the GIL), then helps with the text columns, largest first.
    categorical = [(name, columns.pop(name)) for name in CATEGORY_COLUMNS]
    plain = [(name, columns.pop(name)) for name in sorted(columns, key=lambda c: columns[c].nbytes)]

    def second() -> dict[str, Any]:
        return _convert_all(categorical, order) | _convert_all(plain, order)

    if order is not None and len(order) >= THREADED_ROWS:
        with ThreadPoolExecutor(1, thread_name_prefix="torinvest-frame") as pool:
            helper = pool.submit(second)
            data = _convert_all(plain, order)
            data |= helper.result()
    else:
        data = second()
    data["derived"] = _derived(data["access_key_id"], derived_keys)
    return pd.DataFrame({name: data[name] for name in COLUMN_NAMES}, copy=False)


#: Frames of at least this many rows are built in two threads.
THREADED_ROWS = 100_000


def _convert_all(
    columns: list[tuple[str, pa.ChunkedArray]], order: np.ndarray | None
) -> dict[str, Any]:
    """Convert the columns popped from the end of ``columns`` (a list threads may share),
    letting go of each one's pieces as soon as it is converted."""
    out: dict[str, Any] = {}
    while True:
        try:
            taken = [columns.pop()]
        except IndexError:
            return out
        name = taken[0][0]
        out[name] = _convert(taken, order)


def _convert(columns: list[tuple[str, pa.ChunkedArray]], order: np.ndarray | None) -> Any:
    name, column = columns.pop()  # the list held the only reference
    if name in CATEGORY_COLUMNS:
        return _categorical(column, order)
    size = column.nbytes
    out = _plain(column, order, name)
    del column
    if size > 1 << 20:
        _release_freed_memory()
    return out


def _release_freed_memory() -> None:
    """Give freed heap memory back to the OS (glibc keeps it otherwise), so that the peak while
    converting column by column stays near one frame. A no-op where there is no glibc."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None


_MALLOC_TRIM = _malloc_trim()
#: Large copies while building the frame come from the system allocator, where the freed
#: pieces they replace live (mimalloc would not reuse that memory).
_COPY_POOL = pa.system_memory_pool()


def _row_order(table: pa.Table) -> tuple[np.ndarray | None, bool]:
    """Rows to keep, in event_time order (stable: ties keep load order), without later copies
    of a record; None when the table already is that. Rows without a time go last. And whether
    different records share an event_id (then all are kept).

    Copies (the same record: :data:`SAME_RECORD_COLUMNS`) are found through the hash of the IDs
    computed with each piece; rows whose hash is shared are then compared exactly (ID and
    content), so the result is exact and only they are compared here. Rows that share an ID
    but differ are all kept.
    """
    n = table.num_rows
    if n < 2:
        return None, False
    ids = table.column("event_id")
    crc = pc.fill_null(table.column(ID_HASH), 0).to_numpy()
    valid = pc.is_valid(ids).to_numpy(zero_copy_only=False)
    shared = pd.Series(crc).duplicated(keep=False).to_numpy() & valid
    keep = np.ones(n, dtype=bool)
    conflicts = False
    if shared.any():
        rows = np.flatnonzero(shared)
        taken = table.select(["event_id", *SAME_RECORD_COLUMNS]).take(pa.array(rows))
        candidates = taken.to_pandas()
        copies = later_copies(candidates)
        keep[rows[copies]] = False
        conflicts = bool(candidates["event_id"][~copies].duplicated().any())
    times = pc.fill_null(table.column("event_time").cast(pa.int64()), np.iinfo(np.int64).max)
    t = times.to_numpy()
    if keep.all():
        if bool(np.all(t[1:] >= t[:-1])):
            return None, conflicts
        return np.argsort(t, kind="stable"), conflicts
    rows = np.flatnonzero(keep)
    return rows[np.argsort(t[rows], kind="stable")], conflicts


def later_copies(frame: pd.DataFrame) -> np.ndarray:
    """Which rows of ``frame`` (event_id and :data:`SAME_RECORD_COLUMNS`) repeat an earlier row:
    the same event_id and the same values, missing equal to missing. Rows without an event_id
    are never copies. ``request_parameters``/``response_elements`` are JSON: rows that still
    share an event_id after the exact comparison (rare) are compared again with those parsed
    (:func:`json_key`: key order and ``1.0``/``1`` do not count), so that a copy saved with
    sorted keys (``jq -S``, SIEM exports) is the same record."""
    ids = frame["event_id"]
    candidates = (ids.notna() & ids.duplicated(keep=False)).to_numpy()
    out = np.zeros(len(frame), dtype=bool)
    if candidates.any():
        rows = np.flatnonzero(candidates)
        sub = frame.loc[candidates, ["event_id", *SAME_RECORD_COLUMNS]]
        copies = sub.duplicated(keep="first").to_numpy()
        out[rows[copies]] = True
        left = sub[~copies]
        still = left["event_id"].duplicated(keep=False).to_numpy()
        if still.any():
            rest = left[still].astype(object)
            for name in JSON_COLUMNS:
                rest[name] = [json_key(v) for v in rest[name]]
            again = rest.duplicated(keep="first").to_numpy()
            out[rows[~copies][still][again]] = True
    return out


#: Columns holding JSON text, compared parsed where rows sharing an event_id differ.
JSON_COLUMNS: tuple[str, ...] = ("request_parameters", "response_elements")


def json_key(value: Any) -> Any:
    """JSON text as a value that ignores key order and ``1.0`` vs ``1`` (the text itself when
    it does not parse; missing stays missing)."""
    if not isinstance(value, str):
        return value
    try:
        parsed = parse_json(value)
    except orjson.JSONDecodeError:
        return value
    return json_dumps(_whole_floats(parsed), sort_keys=True).decode()


def _whole_floats(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_floats(v) for v in value]
    return value


#: How many event IDs shared by different records are reported one by one.
NAMED_CONFLICTS = 20
#: The records of one shared eventID a data issue names (then how many more: 100,000 records
#: forged with one eventID made an 8 MB issue).
NAMED_COPIES = 5


def duplicate_issues(frame: pd.DataFrame) -> list[DataIssue]:
    """One issue per event_id that several *different* records of an events frame share (after
    copies of the same record were dropped, only those remain): it names the ID, each record
    (event name, time, where it came from) and the columns in which they differ. Both are in
    the frame: a log file was altered, or two sources disagree, and only the analyst can
    tell which one is true. Past :data:`NAMED_CONFLICTS` IDs, one more issue counts the rest."""
    if not len(frame):
        return []
    ids = frame["event_id"]
    shared = ids.notna() & ids.duplicated(keep=False)
    if not shared.any():
        return []
    rows = frame.loc[shared]
    issues: list[DataIssue] = []
    by_id = rows["event_id"].astype(str)
    groups = list(rows.groupby(by_id, sort=False))
    # the compared values made once for all the rows, not once per group and column
    compared = dict(list(_compared(rows).groupby(by_id, sort=False)))
    for event_id, group in groups[:NAMED_CONFLICTS]:
        values = compared[event_id]
        differ = [c for c in SAME_RECORD_COLUMNS if _distinct(values[c]) > 1]
        copies = "; ".join(_describe_row(r) for r in group.head(NAMED_COPIES).itertuples())
        if len(group) > NAMED_COPIES:
            copies += f"; … (+{len(group) - NAMED_COPIES:,} more)"
        issues.append(
            DataIssue(
                str(group["origin"].iloc[0]),
                f"eventID {shown_id(event_id)} is shared by {len(group):,} different records: "
                f"{copies}. "
                f"All are kept (they differ in {', '.join(differ)}): a log file was altered "
                "or two sources disagree; check the originals",
            )
        )
    if len(groups) > NAMED_CONFLICTS:
        rest = [str(e) for e, _ in groups[NAMED_CONFLICTS:]]
        issues.append(
            DataIssue(
                str(rows["origin"].iloc[0]),
                f"{len(rest)} more eventIDs are shared by different records ({_named(rest)}); "
                "all are kept",
            )
        )
    return issues


def _compared(rows: pd.DataFrame) -> pd.DataFrame:
    """The columns that tell records apart (:data:`SAME_RECORD_COLUMNS`) as the values compared:
    plain objects, a JSON column by its :func:`json_key`."""
    out = {}
    for name in SAME_RECORD_COLUMNS:
        values = rows[name].astype(object)
        values = values.map(json_key) if name in JSON_COLUMNS else values
        out[name] = values.to_numpy(dtype=object)
    return pd.DataFrame(out, index=rows.index)


def _distinct(values: pd.Series) -> int:
    return int(values.nunique(dropna=False))


def _describe_row(row: Any) -> str:
    """A record as a data issue names it (its event name and key: a forged record's text, cut
    and with its backticks escaped — no command in it)."""
    when = "unknown time" if pd.isna(row.event_time) else f"{row.event_time:%Y-%m-%dT%H:%M:%SZ}"
    name = "?" if pd.isna(row.event_name) else shown_id(row.event_name)
    key = "" if pd.isna(row.access_key_id) else f" by {shown_id(row.access_key_id)}"
    return f"{name}{key} at {when} in {prose_safe(row.origin)}"


def _plain(column: pa.ChunkedArray, order: np.ndarray | None, name: str) -> Any:
    if order is not None:
        column = pc.take(column, pa.array(order), memory_pool=_COPY_POOL)
    if name in STRING_COLUMNS:
        return pd.StringDtype().__from_arrow__(column)
    if name in BOOLEAN_COLUMNS:
        return pd.BooleanDtype().__from_arrow__(column)
    return column.to_pandas().array


def _categorical(column: pa.ChunkedArray, order: np.ndarray | None) -> pd.Categorical:
    """A pandas Categorical from the dictionary codes (categories of the ``string`` dtype).

    The chunks must share one dictionary (``Table.unify_dictionaries``). Unused categories are
    dropped.
    """
    if column.num_chunks:
        dictionary = column.chunk(0).dictionary
        indices = pa.concat_arrays([c.indices for c in column.chunks])
        codes = pc.fill_null(indices, -1).to_numpy().astype(np.int32, copy=False)
    else:
        dictionary = pa.array([], type=_STR)
        codes = np.zeros(0, dtype=np.int32)
    if order is not None:
        codes = codes[order]
    used = np.zeros(len(dictionary) + 1, dtype=bool)
    used[codes + 1] = True
    used = used[1:]
    if not used.all():
        remap = np.cumsum(used, dtype=np.int32) - 1
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1).astype(np.int32)
        dictionary = dictionary.filter(pa.array(used))
    categories = pd.Index(pd.StringDtype().__from_arrow__(pa.chunked_array([dictionary], _STR)))
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(categories), validate=False)


def _derived(keys: pd.Categorical, derived_keys: Collection[str] | None) -> pd.arrays.BooleanArray:
    n = len(keys)
    if derived_keys is None:
        return pd.arrays.BooleanArray(np.zeros(n, dtype=bool), np.ones(n, dtype=bool))
    wanted = set(derived_keys)
    hit = np.fromiter(
        (c in wanted for c in keys.categories), dtype=bool, count=len(keys.categories)
    )
    codes = np.asarray(keys.codes)
    values = np.append(hit, False)[codes] if n else np.zeros(0, dtype=bool)
    return pd.arrays.BooleanArray(values, np.zeros(n, dtype=bool))


def normalize_records(
    records: Iterable[Mapping[str, Any]] | bytes | str,
    *,
    source: str = "records",
    origin: str = "records",
    derived_keys: Collection[str] | None = None,
) -> pd.DataFrame:
    """The events frame from CloudTrail records (dicts) or raw JSON (bytes/str, any shape).

    Raw JSON with a problem (invalid, not CloudTrail) raises :class:`NotCloudTrailError` or
    :class:`~torinvest.errors.InputError`; sources that must go on past a bad file use
    :func:`parse_records` and keep the issues.
    """
    if isinstance(records, bytes | str):
        data = records.encode() if isinstance(records, str) else records
        recs, issues = parse_records(data, where=origin)
        if issues and not recs:
            raise NotCloudTrailError(f"{issues[0].source}: {issues[0].problem}")
        if issues:
            raise InputError(f"{issues[0].source}: {issues[0].problem}")
    else:
        recs = [r for r in records]
    return frame_from_tables(
        [records_table(recs, source=source, origin=origin)], derived_keys=derived_keys
    )
