"""CloudTrail through SQL: the investigation queries written once, run by DuckDB or Athena.

The queries are written once, in DuckDB's SQL, over one relation ``events`` (the events frame's
columns); :func:`to_trino` translates them with sqlglot for Athena (engine v3 is Trino). Each
engine only supplies ``records``, the CloudTrail records with the column names of AWS's Athena
table for CloudTrail (``eventtime``, ``useridentity.accesskeyid``…):

- :class:`DuckDBEngine` (embedded, the default): the ``{"Records": [...]}`` log files of a local
  folder or an ``s3://`` prefix. The files are those :func:`torinvest.sources.logs.list_logs`
  picks for the accounts, regions and days of the window (±1 day), in both key layouts
  (``AWSLogs/<acct>/…`` and ``AWSLogs/<o-id>/<acct>/…``); S3 objects are downloaded first (only
  those), to a folder the engine deletes on ``close()``. DuckDB reads their text from
  ``log_files(file_index, json)``, an Arrow stream inflated with ISA-L (files without a filter
  key's bytes are not handed over), and ``json_transform`` turns it into records.
- :class:`torinvest.sources.sql.athena.AthenaEngine`: the table of
  :func:`~torinvest.sources.sql.ddl.athena_ddl`; every query constrains its ``date`` partition
  to the window's days (±1 day).

The queries (each a :class:`Query`; :func:`print_sql` shows what an engine would run):

Every query's scope (:class:`Scope`) filters the records the same way on every engine: the
keys, the window, the regions (``awsRegion``; the files or partitions read are narrowed too) and
the caller's user name as LookupEvents' ``Username`` matches it (:func:`user_filter`). The
DuckDB engine counts its files as the file loader does (:class:`~torinvest.sources.logs.
FileCounts`: listed, read, failed and why, outside the narrowing).

- :func:`events_query` — the key's (or keys') events in the window → the events frame
  (:data:`torinvest.schema.EVENTS_COLUMNS`; ``source`` = ``duckdb``/``athena``, ``origin`` = the
  file path or ``s3://`` URL for DuckDB, ``athena:<query id>`` for Athena), the same columns,
  dtypes and rows as :func:`~torinvest.sources.logs.load_logs` gives on the same log files
  (copies of a record dropped, the first in file order winning — different records sharing an
  ``event_id`` are kept, as the file loader keeps them —; sorted by
  ``event_time``; without a window even the categories' order is the same). Files of other
  shapes, which only the file loader reads, are data issues;
- :func:`per_ip_query` — GROUP BY source IP (GROUPING SETS: one scan) → a frame with the columns
  of :func:`torinvest.analysis.per_ip`: ``source_ip``, ``events``, ``failed``,
  ``outcome_unknown``, ``first_seen``,
  ``last_seen``, ``regions``, ``user_agents``, ``access_keys`` (the :data:`~torinvest.schema.
  MAX_LIST_ITEMS` most frequent, sorted), ``event_names`` (the :data:`~torinvest.schema.
  TOP_EVENT_NAMES` most frequent → count) and ``derived`` are computed in the engine; ``tor``,
  ``tor_events``, the place columns (``ip_kind``, ``country``, ``asn``…) and ``new`` are NA (they need
  the Tor lists, GeoIP and history, which live outside the engine);
- :func:`timeline_query` — calls per (source IP, time bucket) → ``bucket_start`` (UTC),
  ``source_ip`` (string), ``events``, ``failed``, ``outcome_unknown`` (Int64); ``frame.attrs``
  holds ``bucket``
  (Timedelta) and ``bucket_name`` (the bucket of :func:`torinvest.grouping.pick_bucket`);
- :func:`sensitive_query` — calls in the sensitive-actions catalogue (joined as a VALUES list) →
  the columns of :func:`torinvest.analysis.sensitive_events` (``tor`` NA; ``failed`` NA for a
  call of unknown outcome);
- :func:`minted_query` — keys minted by the keys (GetSessionToken, AssumeRole…:
  ``responseElements.credentials.accessKeyId``) → :class:`~torinvest.sources.records.DerivedKey`
  (one minted by a call of unknown outcome is followed, with an issue: it may not exist).

Every query reads a call's outcome as :mod:`torinvest.outcome` does: ``events`` has
``outcome_unknown`` (a record the engine's reader found not whole, without an error code: the
rows of a saved lookup-events answer DuckDB's file loader reads; never Athena's, whose table
holds the trail's whole records); the per-IP, timeline and rollup counts split it from ``failed``.

Run them with :func:`load_sql`, :func:`per_ip_sql`, :func:`timeline_sql`, :func:`sensitive_sql`
and :func:`minted_keys_sql`; each returns a :class:`SqlResult` (the frame, data issues, derived
keys, and per query: engine, query id, SQL, seconds, rows, bytes scanned, cost estimate).

The package, one module per job (imports go down this list):

- :mod:`.projection` — the record structure and the projection to the events columns;
- :mod:`.queries` — :class:`Scope`, :class:`Query`, the ``*_query`` builders, Trino translation
  (plain text: no engine imported);
- :mod:`.engine` — the :class:`Engine` protocol, outputs and stats, :class:`SqlResult`,
  :class:`Aggregates`, Arrow → frames, :func:`make_engine`;
- :mod:`.duckdb`, :mod:`.athena` — the engines; :mod:`.ddl` — Athena's CloudTrail table;
- :mod:`.run` — the ``*_sql`` entry points and :func:`print_sql`.

This module re-exports their public API; the engines' classes (``DuckDBEngine``,
``AthenaEngine``) are imported on first use, so that importing it does not import DuckDB.
"""

import importlib
from typing import Any

from torinvest.options import DEFAULT_MAX_ROWS
from torinvest.sources.sql.engine import (
    ATHENA,
    DUCKDB,
    ENGINE_CLASSES,
    ENGINES,
    PRICE_PER_TB_USD,
    Aggregates,
    Engine,
    EngineSettings,
    Output,
    QueryStats,
    SqlResult,
    make_engine,
)
from torinvest.sources.sql.projection import (
    EVENT_COLUMNS,
    SOURCE_DIALECT,
    TRINO_DIALECT,
    sql_literal,
    sql_literals,
)
from torinvest.sources.sql.queries import (
    Query,
    Scope,
    events_query,
    iter_queries,
    make_scope,
    minted_query,
    per_ip_query,
    render,
    rollup_query,
    sensitive_query,
    span_query,
    timeline_query,
    to_trino,
    user_filter,
)
from torinvest.sources.sql.run import (
    aggregate_sql,
    console_sql,
    load_sql,
    minted_keys_sql,
    per_ip_from_rollup,
    per_ip_sql,
    print_sql,
    sensitive_sql,
    timeline_sql,
    watched_sql,
)

__all__ = [
    "ATHENA",
    "DEFAULT_MAX_ROWS",
    "DUCKDB",
    "ENGINES",
    "ENGINE_CLASSES",
    "EVENT_COLUMNS",
    "PRICE_PER_TB_USD",
    "SOURCE_DIALECT",
    "TRINO_DIALECT",
    "Aggregates",
    "AthenaEngine",
    "DuckDBEngine",
    "Engine",
    "EngineSettings",
    "Output",
    "Query",
    "QueryStats",
    "Scope",
    "SqlResult",
    "aggregate_sql",
    "console_sql",
    "events_query",
    "iter_queries",
    "load_sql",
    "make_engine",
    "make_scope",
    "minted_keys_sql",
    "minted_query",
    "per_ip_from_rollup",
    "per_ip_query",
    "per_ip_sql",
    "print_sql",
    "render",
    "rollup_query",
    "sensitive_query",
    "sensitive_sql",
    "span_query",
    "sql_literal",
    "sql_literals",
    "timeline_query",
    "timeline_sql",
    "to_trino",
    "user_filter",
    "watched_sql",
]


def __getattr__(name: str) -> Any:
    """``DuckDBEngine`` and ``AthenaEngine``, from their modules (:data:`ENGINE_CLASSES`)."""
    for module, class_name in ENGINE_CLASSES.values():
        if name == class_name:
            return getattr(importlib.import_module(module), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
