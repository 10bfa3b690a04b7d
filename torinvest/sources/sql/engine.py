"""What a SQL engine is and what it gives back: the :class:`Engine` protocol, an engine's
:class:`Output` (typed Arrow columns) and :class:`QueryStats`, :func:`make_engine` (an engine
by name), and the results the entry points (:mod:`.run`) return — :class:`SqlResult`, with
:class:`Aggregates` when the activity was counted in the engine — with Arrow → pandas
(``_frame``, ``_events_piece``, ``_run``: the package's own, used by :mod:`.run`).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from torinvest.aws import Aws
from torinvest.catalogue import GAP_ENDING_CALLS
from torinvest.errors import DataIssue, InputError
from torinvest.options import EngineOptions
from torinvest.outcome import OUTCOME_UNKNOWN_COLUMN
from torinvest.schema import utc_timestamp
from torinvest.sources.empty import NOTHING_SCANNED as NOTHING_SCANNED
from torinvest.sources.logs import DEFAULT_MAX_FILE_BYTES, FileCounts
from torinvest.sources.records import ID_HASH, TABLE_SCHEMA, DerivedKey, event_id_hash
from torinvest.sources.records.origin import Mint
from torinvest.sources.sql.queries import Query, Scope

DUCKDB = "duckdb"
ATHENA = "athena"
#: The engines by name: the module and class of each, imported only when one is made
#: (:func:`make_engine`), so that DuckDB is imported by those who run it and no engine module
#: (each imports this one) is imported here. A new engine is a module with a class that follows
#: :class:`Engine` and has a ``from_settings`` classmethod, and a row here.
ENGINE_CLASSES: Mapping[str, tuple[str, str]] = {
    DUCKDB: ("torinvest.sources.sql.duckdb", "DuckDBEngine"),
    ATHENA: ("torinvest.sources.sql.athena", "AthenaEngine"),
}
ENGINES: tuple[str, ...] = tuple(ENGINE_CLASSES)


#: Athena's price (USD per TB scanned), for cost estimates (see torinvest.sources.sql.athena).
PRICE_PER_TB_USD = 5.0


_UTC = "datetime64[us, UTC]"
_TIME = pa.timestamp("us", tz="UTC")
_STR = pa.large_string()


# --------------------------------------------------------------------------------------------
# engines
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class QueryStats:
    """One query run: engine, query ID (Athena), the SQL sent, wall time, rows returned, bytes
    scanned (Athena's DataScannedInBytes; for DuckDB the compressed bytes of the files read)
    and the cost estimate in USD (Athena only)."""

    engine: str
    kind: str
    sql: str
    seconds: float
    rows: int
    bytes_scanned: int
    query_id: str | None = None
    cost_usd: float | None = None
    files: int | None = None


@dataclass(slots=True)
class Output:
    """What an engine returns for a query: typed Arrow columns (those of ``query.columns``),
    the origins (``file_index`` → origin, or one origin for every row), issues, stats."""

    table: pa.Table
    origins: list[str]
    stats: QueryStats
    kinds: Mapping[str, str] = field(default_factory=dict)
    issues: list[DataIssue] = field(default_factory=list)
    files_skipped: int = 0
    counts: FileCounts | None = None  # the log files behind it (DuckDB)
    notes: list[str] = field(default_factory=list)
    asides: list[str] = field(default_factory=list)  # no issue (days digests show quiet)
    #: columns of ``events`` the engine's records could not give (a table lacking a column
    #: they read: NULL in every row; ``issues`` says so)
    unread: frozenset[str] = frozenset()


class Engine(Protocol):
    """A SQL engine over CloudTrail records: renders a :class:`Query` in its dialect and runs
    it. ``name`` is the ``source`` of the rows it returns."""

    name: str
    dialect: str
    #: With a row limit, count the rows first (True) or ask for one row over the limit (False:
    #: the limit's rows are held to find out)
    count_first: bool

    def sql(self, query: Query) -> str: ...

    def run(self, query: Query) -> Output: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What :func:`make_engine` was asked for. Each engine class's ``from_settings`` reads the
    settings it needs (DuckDB: ``sources``, ``aws``, ``max_file_bytes``; Athena: ``database``,
    ``table``, ``workgroup``, ``output_location``, ``region``, ``aws``), raises InputError naming
    a missing one, and ignores the others."""

    sources: str | Path | Sequence[str | Path] | None = None
    database: str | None = None
    table: str | None = None
    workgroup: str | None = None
    output_location: str | None = None
    region: str | None = None
    aws: Aws | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES


def make_engine(
    kind: str,
    *,
    sources: str | Path | Sequence[str | Path] | None = None,
    database: str | None = None,
    table: str | None = None,
    workgroup: str | None = None,
    output_location: str | None = None,
    region: str | None = None,
    aws: Aws | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> Engine:
    """An engine by name (:data:`ENGINE_CLASSES`, its module imported now): ``duckdb`` (needs
    ``sources``) or ``athena`` (needs ``database``)."""
    if kind in ENGINE_CLASSES:
        module, name = ENGINE_CLASSES[kind]
        engine_class = getattr(importlib.import_module(module), name)
        settings = EngineSettings(
            sources, database, table, workgroup, output_location, region, aws, max_file_bytes
        )
        engine: Engine = engine_class.from_settings(settings)
        return engine
    raise InputError(f"unknown engine {kind!r}", hint=f"one of {', '.join(ENGINES)}")


def engine_for(
    options: EngineOptions, logs: Sequence[str | Path] = (), aws: Aws | None = None
) -> Engine:
    """The engine ``options`` names (``duckdb`` over ``logs``, or ``athena``), as every reader
    of the trail opens it: the same table, workgroup, output, region and file-size limit."""
    return make_engine(
        options.kind,
        sources=list(logs) or None,
        database=options.athena_database,
        table=options.athena_table,
        workgroup=options.athena_workgroup,
        output_location=options.athena_output,
        region=options.athena_region,
        aws=aws,
        max_file_bytes=options.max_file_bytes,
    )


# --------------------------------------------------------------------------------------------
# Arrow → frames
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class SqlResult:
    """A frame computed by an engine, what kept it from being complete, and the queries run."""

    frame: pd.DataFrame
    engine: str
    issues: list[DataIssue] = field(default_factory=list)
    derived: list[DerivedKey] = field(default_factory=list)
    #: the records that minted the keys (who minted them): not rows of ``frame``
    mints: list[Mint] = field(default_factory=list)
    queries: list[QueryStats] = field(default_factory=list)
    files_skipped: int = 0
    counts: FileCounts | None = None  # the log files read (DuckDB), as the file loader counts
    notes: list[str] = field(default_factory=list)
    asides: list[str] = field(default_factory=list)
    aggregates: Aggregates | None = None
    spans: dict[Scope, pd.DataFrame] = field(default_factory=dict, repr=False)
    #: where the engine could not look for the account sought (``load_sql(account=…)``): its
    #: table holds no record of that account in the window (Athena), else None
    account_gap: str | None = None
    #: data events (any principal's) in what the engine read: DuckDB counts them in its files
    #: (``counts.data_events``); Athena says whether its table holds one in the window (1: at
    #: least one, 0: none; None: not asked, or not known — ``data_events_unknown`` says why)
    data_events: int | None = None
    data_events_unknown: str | None = None
    #: columns of ``events`` a query could not read (:attr:`Output.unread`)
    unread: set[str] = field(default_factory=set)
    #: the MFA of the console sign-ins read (event ID → ``additionalEventData.MFAUsed``)
    mfa_used: dict[str, str] = field(default_factory=dict)

    @property
    def bytes_scanned(self) -> int:
        return sum(q.bytes_scanned for q in self.queries)

    @property
    def cost_usd(self) -> float | None:
        costs = [q.cost_usd for q in self.queries if q.cost_usd is not None]
        return sum(costs) if costs else None

    @property
    def query_ids(self) -> list[str]:
        return [q.query_id for q in self.queries if q.query_id]

    def summary(self) -> str:
        """One line for the analyst: rows, queries (Athena IDs), bytes scanned, cost estimate."""
        n = len(self.queries)
        agg = self.aggregates
        rows = f"{len(self.frame):,} rows"
        if agg is not None:
            ending = _gap_ending_rows(self.frame)
            rows = (
                f"{agg.total:,} events counted in the engine, "
                f"{len(self.frame) - ending:,} sensitive as rows"
                + (
                    f" (and {ending:,} trail call(s) that end a gap in the logging)"
                    if ending
                    else ""
                )
            )
        text = f"{self.engine}: {rows} from {n} quer{'y' if n == 1 else 'ies'}"
        text += f", {self.bytes_scanned / 1e6:,.1f} MB scanned"
        if self.cost_usd is not None:
            text += f" (~${self.cost_usd:.4f} at ${PRICE_PER_TB_USD:g}/TB, 10 MB minimum each)"
        if self.query_ids:
            text += f"; query IDs {', '.join(self.query_ids)}"
        if self.issues:
            text += f"; {len(self.issues)} data issue(s)"
        return text

    def _add(self, out: Output) -> None:
        self.queries.append(out.stats)
        self.issues += [i for i in out.issues if i not in self.issues]
        self.files_skipped = max(self.files_skipped, out.files_skipped)
        self.notes += [n for n in out.notes if n not in self.notes]
        self.asides += [n for n in out.asides if n not in self.asides]
        self.unread |= out.unread
        # the widest listing, latest failures (the derived-key passes share the first's files)
        if out.counts is not None and (
            self.counts is None or out.counts.listed >= self.counts.listed
        ):
            self.counts = out.counts


def _no_empty(arr: pa.ChunkedArray) -> pa.ChunkedArray:
    text = arr.cast(_STR)
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, _STR), text)


def _events_piece(out: Output, source: str) -> pa.Table:
    """One piece of :data:`~torinvest.sources.records.TABLE_SCHEMA` from an events query."""
    t = out.table
    n = t.num_rows
    arrays: list[pa.Array | pa.ChunkedArray] = []
    for f in TABLE_SCHEMA:
        if f.name == "source":
            arrays.append(_constant(source, n))
        elif f.name == "origin":
            arrays.append(_origins(t.column("file_index"), out.origins, n))
        elif f.name == OUTCOME_UNKNOWN_COLUMN:  # as the engine's reader decided; never null
            arrays.append(pc.fill_null(t.column(f.name).cast(pa.bool_()), False))
        elif f.name == ID_HASH:  # the file loader's hash: pieces of both dedupe together
            arrays.append(event_id_hash(_no_empty(t.column("event_id")).combine_chunks()))
        elif pa.types.is_dictionary(f.type):
            arrays.append(pc.dictionary_encode(_no_empty(t.column(f.name))))
        elif f.type == _STR:
            arrays.append(_no_empty(t.column(f.name)))
        else:
            arrays.append(t.column(f.name).cast(f.type))
    return pa.Table.from_arrays(arrays, schema=TABLE_SCHEMA)


def _constant(value: str, n: int) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], type=_STR)
    )


def _origins(file_index: pa.ChunkedArray, origins: list[str], n: int) -> pa.DictionaryArray:
    if len(origins) == 1 or file_index.null_count == len(file_index):
        return _constant(origins[0] if origins else "", n)
    codes = pc.fill_null(file_index.cast(pa.int32()), 0).combine_chunks()
    return pa.DictionaryArray.from_arrays(codes, pa.array(origins, type=_STR))


def _frame(out: Output) -> pd.DataFrame:
    """A query's output as pandas: text as ``string``, times UTC, nullable ints and booleans."""
    t = out.table
    data: dict[str, Any] = {}
    for name in t.column_names:
        kind = out.kinds.get(name, "text")
        col = t.column(name)
        if kind == "time":
            data[name] = col.cast(_TIME).to_pandas().astype(_UTC).array
        elif kind == "int":
            data[name] = pd.Int64Dtype().__from_arrow__(col.cast(pa.int64()))
        elif kind == "bool":
            data[name] = pd.BooleanDtype().__from_arrow__(col.cast(pa.bool_()))
        else:
            data[name] = pd.StringDtype().__from_arrow__(_no_empty(col))
    return pd.DataFrame(data)


def _run(engine: Engine, query: Query, result: SqlResult) -> pd.DataFrame:
    out = engine.run(query)
    result._add(out)
    return _frame(out)


@dataclass(slots=True)
class Aggregates:
    """A key's activity counted in the engine, for inputs too large to load as rows.

    - ``per_ip``: the per-IP summary (columns of :func:`torinvest.analysis.per_ip`; tor,
      tor_events, geo and new are NA until the investigation fills what it can);
    - ``by_time``: a counts frame per (source IP, time bucket, event name, access key):
      ``event_time`` (the bucket's start, UTC; NaT for events without a time), ``source_ip``,
      ``event_name``, ``access_key_id``, ``calls``, ``failed``, ``outcome_unknown`` (Int64:
      calls neither succeeded nor failed, :mod:`torinvest.outcome`); ``attrs``: ``bucket``
      (Timedelta), ``bucket_name``;
    - ``by_agent``: ``source_ip``, ``user_agent``, ``calls``, ``failed``, ``outcome_unknown``;
    - ``by_region``: ``source_ip``, ``aws_region``, ``calls``, ``failed``, ``outcome_unknown``;
    - ``limit``: the row limit the matching rows exceeded (None when asked for directly).

    The charts of :mod:`torinvest.charts` take counts frames as they take the events frame (each
    row stands for ``calls`` events, ``failed`` of them failed, ``outcome_unknown`` of them of
    unknown outcome).
    """

    per_ip: pd.DataFrame
    by_time: pd.DataFrame
    by_agent: pd.DataFrame
    by_region: pd.DataFrame
    limit: int | None = None

    @property
    def total(self) -> int:
        return int(self.per_ip["events"].sum())

    @property
    def failed(self) -> int:
        return int(self.per_ip["failed"].sum())

    @property
    def outcome_unknown(self) -> int:
        return int(self.per_ip[OUTCOME_UNKNOWN_COLUMN].sum())

    @property
    def first_seen(self) -> pd.Timestamp | None:
        return utc_timestamp(self.per_ip["first_seen"].min()) if len(self.per_ip) else None

    @property
    def last_seen(self) -> pd.Timestamp | None:
        return utc_timestamp(self.per_ip["last_seen"].max()) if len(self.per_ip) else None


def _gap_ending_rows(frame: pd.DataFrame) -> int:
    """How many rows of a counted reading are the trail calls loaded beside the sensitive ones
    (:data:`~torinvest.catalogue.GAP_ENDING_CALLS`), not sensitive calls."""
    if frame.empty or "event_name" not in frame.columns or "event_source" not in frame.columns:
        return 0
    pairs = set(GAP_ENDING_CALLS)
    names = frame["event_name"].astype("string").fillna("")
    sources = frame["event_source"].astype("string").fillna("")
    return sum((n, s) in pairs for n, s in zip(names, sources, strict=True))
