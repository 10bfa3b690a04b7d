"""The investigation queries: what each looks at (:class:`Scope`, :func:`make_scope`), its SQL
over ``events`` in DuckDB's dialect (:class:`Query`, the ``*_query`` builders, :func:`render`)
and its translation for Athena (:func:`to_trino`, Trino's dialect).

Plain text: nothing here imports DuckDB or talks to AWS. An engine (:mod:`.engine`) renders a
query over its own ``records`` and runs it; :func:`iter_queries` lists every query for a scope.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from torinvest.aws import validate_region
from torinvest.aws.ids import access_key_set, check_user_name
from torinvest.catalogue import load_catalogue
from torinvest.errors import InputError
from torinvest.schema import MAX_LIST_ITEMS, SENSITIVE_COLUMNS, TOP_EVENT_NAMES, time_window
from torinvest.sources.logs import ACCOUNT_RE, KnownRegions, Narrowing
from torinvest.sources.records import MINTING_EVENTS
from torinvest.sources.records.passwords import SIGN_IN_EVENT
from torinvest.sources.sql.projection import (
    BASE_COLUMNS,
    CONSOLE_COLUMNS,
    CONSOLE_SESSION,
    CONTENT_KEY,
    EVENT_COLUMNS,
    EVENTS_OUTPUT,
    EXTRA_PROJECTION,
    MFA_USED,
    ORDER_COLUMNS,
    PROJECTION,
    SOURCE_DIALECT,
    TRINO_DIALECT,
    content_key_sql,
    projection_sql,
    sql_literal,
    sql_literals,
)

if TYPE_CHECKING:  # sqlglot is imported by the translation only (to_trino)
    from sqlglot import exp


# --------------------------------------------------------------------------------------------
# scope and queries
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Scope:
    """What a query looks at: the keys (None = every caller), the window (UTC, inclusive), the
    accounts and regions (None = all; ``regions`` narrows the files or partitions read and keeps
    the records of those regions, or without one), which of the keys were minted by the
    others, and the caller's user name (None = any; LookupEvents' ``Username``: the IAM user
    name, the session name of a role or federated session, ``root`` for the root user)."""

    keys: frozenset[str] | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    accounts: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    derived: frozenset[str] = frozenset()
    user_name: str | None = None
    known: KnownRegions | None = None  # judged by the log files' coverage, narrowing nothing
    #: the records that minted the keys too (who minted them: :func:`mint_condition`)
    mints: bool = False
    console: frozenset[str] = frozenset()

    @property
    def narrowing(self) -> Narrowing:
        """The files or partitions to read: accounts, regions, and the window's days ±1 (and
        the regions the key is known to have called, :class:`KnownRegions`)."""
        return Narrowing(
            self.accounts, self.regions, self.start, self.end, self.known, keys=self.keys
        )

    def with_keys(self, keys: Collection[str], derived: Collection[str] = ()) -> Scope:
        return replace(self, keys=frozenset(keys), derived=frozenset(derived))


def make_scope(
    *,
    access_keys: str | Iterable[str] | None = None,
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    user_name: str | None = None,
    known: KnownRegions | None = None,
    console: Iterable[str] = (),
) -> Scope:
    """A checked :class:`Scope` (times UTC when naive). Raises InputError for a malformed key,
    account, region or user name, or a window that ends before it starts."""
    keys = None
    if access_keys is not None:
        keys = access_key_set(access_keys)
    account_set = frozenset(accounts) if accounts else None
    bad_accounts = sorted(a for a in account_set or () if not ACCOUNT_RE.match(a))
    if bad_accounts:
        raise InputError(f"invalid account IDs {bad_accounts!r}", hint="12 digits each")
    region_set = frozenset(validate_region(r) for r in regions) if regions else None
    first, last = time_window(start, end, names=("start", "end"))
    if user_name is not None:
        check_user_name(user_name)
    users = frozenset(console)  # names read in records (attacker-written): literals, as any
    return Scope(
        keys, first, last, account_set, region_set, user_name=user_name, known=known, console=users
    )


@dataclass(frozen=True, slots=True)
class Query:
    """One investigation query: its scope, its own CTEs and final SELECT over ``events``
    (DuckDB SQL), and the kind of each output column (time, text, bool, int).

    ``prefilter`` narrows the scope's rows before copies of an event are dropped (copies are
    the same record: a condition on its fields keeps or drops them all), so that the dropping,
    which holds every row it numbers, holds only those. ``uses`` names the columns of
    ``events`` the query reads: only those are projected (and read from the files)."""

    kind: str
    scope: Scope
    select: str
    columns: Mapping[str, str]
    ctes: tuple[tuple[str, str], ...] = ()
    prefilter: str | None = None  # a condition on the rows before duplicates are dropped
    uses: tuple[str, ...] | None = None  # the columns of ``events`` it reads (None: all)

    @property
    def event_columns(self) -> tuple[str, ...]:
        """The columns ``events`` holds for this query (in :data:`EVENT_COLUMNS` order, and
        :data:`~.projection.CONSOLE_COLUMNS` last for a scope of console sessions)."""
        if self.uses is None:
            return (*EVENT_COLUMNS, *CONSOLE_COLUMNS) if self.scope.console else EVENT_COLUMNS
        wanted = {*BASE_COLUMNS, *self.uses}
        if self.prefilter:
            wanted |= {"event_name", "event_source"}
        if self.scope.regions:
            wanted.add("aws_region")
        if self.scope.user_name is not None:
            wanted |= {"user_name", "user_type"}
        if self.scope.console:
            wanted |= {"user_name", "user_type", "event_name", CONSOLE_SESSION}
        return tuple(c for c in (*EVENT_COLUMNS, *CONSOLE_COLUMNS) if c in wanted)


def _time_literal(ts: pd.Timestamp) -> str:
    return f"TIMESTAMPTZ '{ts.tz_convert('UTC'):%Y-%m-%d %H:%M:%S.%f} UTC'"


def user_filter(name: str) -> str:
    """The condition keeping the calls of user ``name`` as LookupEvents' ``Username`` does: the
    ``user_name`` column (``userIdentity.userName``, else the session name of an assumed-role
    or federated session) is ``name``; ``root`` also matches the root user (no userName)."""
    literal = sql_literal(name)
    if name == "root":
        return f"(user_name = {literal} OR (user_name IS NULL AND user_type = 'Root'))"
    return f"user_name = {literal}"


def console_filter(users: Collection[str]) -> str:
    """The console sign-ins of IAM ``users`` and their console sessions' calls, as the file
    loader keeps them (:func:`~torinvest.sources.records.passwords.signs_in`,
    :func:`~torinvest.sources.records.passwords.console_call`): ``userIdentity.type`` IAMUser
    and ``userName`` one of them, and either a ConsoleLogin or a call made with a temporary key
    (``ASIA…``) a console sign-in gave (:data:`~.projection.CONSOLE_SESSION`)."""
    return (
        f"(user_type = 'IAMUser' AND user_name IN ({sql_literals(users)})"
        f" AND (event_name = {sql_literal(SIGN_IN_EVENT)}"
        f" OR ({CONSOLE_SESSION} AND access_key_id LIKE 'ASIA%')))"
    )


def _filters(scope: Scope, prefilter: str | None = None) -> str:
    parts = [f"({prefilter})"] if prefilter else []
    if scope.keys is not None and scope.mints:
        keys = sql_literals(scope.keys)
        parts.append(f"(access_key_id IN ({keys}) OR {mint_condition(scope.keys)})")
    elif scope.keys is not None:
        parts.append(f"access_key_id IN ({sql_literals(scope.keys)})")
    if scope.regions:
        parts.append(f"(aws_region IS NULL OR aws_region IN ({sql_literals(scope.regions)}))")
    if scope.user_name is not None:
        parts.append(user_filter(scope.user_name))
    if scope.console:
        parts.append(console_filter(scope.console))
    # a record without a usable time cannot be shown to be outside the window: kept, as the
    # file loader keeps it (records.filter_window), and reported (run.untimed_issues)
    if scope.start is not None:
        parts.append(f"(event_time IS NULL OR event_time >= {_time_literal(scope.start)})")
    if scope.end is not None:
        parts.append(f"(event_time IS NULL OR event_time <= {_time_literal(scope.end)})")
    return " AND ".join(parts) or "TRUE"


def mint_condition(keys: Collection[str]) -> str:
    """The records that minted one of ``keys``: a minting call whose response holds it
    (``responseElements.credentials.accessKeyId``; CreateAccessKey's
    ``responseElements.accessKey.accessKeyId``), as the file loader keeps them
    (:func:`~torinvest.sources.records.mints_one`)."""
    literals = sql_literals(keys)
    return (
        f"(event_name IN ({sql_literals(MINTING_EVENTS)}) AND ("
        f"json_extract_string(response_elements, '$.credentials.accessKeyId') IN ({literals})"
        f" OR json_extract_string(response_elements, '$.accessKey.accessKeyId') IN ({literals})))"
    )


#: The count of calls of unknown outcome (:mod:`torinvest.outcome`: no error code, a record not
#: whole) beside ``count(error_code)`` (failed) in every count: succeeded = calls - both.
UNKNOWN_COUNT = "count(*) FILTER (WHERE outcome_unknown)"


def failed_flag(prefix: str = "") -> str:
    """A call's ``failed``: TRUE (an error code), NULL (of unknown outcome), FALSE (succeeded),
    as :func:`torinvest.outcome.failed_flags` reads the events frame."""
    return (
        f"CASE WHEN {prefix}error_code IS NOT NULL THEN TRUE"
        f" WHEN {prefix}outcome_unknown THEN NULL ELSE FALSE END"
    )


def _derived_flag(scope: Scope) -> str:
    if scope.keys is None:
        return "CAST(NULL AS BOOLEAN)"
    if not scope.derived:
        return "FALSE"
    return f"access_key_id IN ({sql_literals(scope.derived)})"


def shared_ctes(
    scope: Scope,
    prefilter: str | None = None,
    columns: Sequence[str] = EVENT_COLUMNS,
    projected_rows: str | None = None,
    unread: Collection[str] = (),
) -> list[tuple[str, str]]:
    """``projected`` (records → the frame's ``columns``), ``numbered`` (the scope's rows — those
    of ``prefilter`` too —, copies of a record — the same event_id and content — numbered in
    file order) and ``events`` (the first copy of each; different records sharing an event_id
    are all kept). ``projected_rows``: a SELECT of rows already projected (the same columns,
    content key and order keys), added to ``projected`` (the DuckDB engine's rows of the files
    the file loader read for it). ``unread``: columns the engine's records cannot give (a
    table lacking a column they read: :func:`~.projection.projection_sql`), NULL."""
    projection = ",\n  ".join(
        f"{projection_sql(name, unread)} AS {name}"
        for name, _ in (*PROJECTION, *EXTRA_PROJECTION)
        if name in columns
    )
    listed = ", ".join((*columns, "derived", *ORDER_COLUMNS))
    projected = (
        f"SELECT\n  {projection},\n  {content_key_sql(unread)} AS {CONTENT_KEY},\n"
        "  file_index, record_index\nFROM records"
    )
    if projected_rows:
        projected += f"\nUNION ALL\n{projected_rows}"
    return [
        ("projected", projected),
        (
            "numbered",
            f"SELECT *, {_derived_flag(scope)} AS derived,\n"
            f"  row_number() OVER (PARTITION BY event_id, {CONTENT_KEY}\n"
            "    ORDER BY file_index, record_index) AS copy_number\n"
            f"FROM projected\nWHERE {_filters(scope, prefilter)}",
        ),
        ("events", f"SELECT {listed}\nFROM numbered\nWHERE copy_number = 1 OR event_id IS NULL"),
    ]


def render(
    query: Query,
    source: Sequence[tuple[str, str]],
    *,
    materialized: Collection[str] = (),
    projected_rows: str | None = None,
    unread: Collection[str] = (),
) -> str:
    """The whole query in DuckDB SQL: the engine's ``source`` CTEs (ending with ``records``),
    the shared ones, the query's own, and its SELECT. Each query reads ``events`` once.
    ``materialized`` CTEs are computed once (DuckDB's ``AS MATERIALIZED``), not inlined;
    ``projected_rows`` and ``unread`` as in :func:`shared_ctes`."""
    shared = shared_ctes(query.scope, query.prefilter, query.event_columns, projected_rows, unread)
    ctes = [*source, *shared, *query.ctes]
    body = ",\n".join(
        f"{name} AS {'MATERIALIZED ' if name in materialized else ''}(\n{_indent(sql)}\n)"
        for name, sql in ctes
    )
    return f"WITH {body}\n{query.select}"


def _indent(sql: str) -> str:
    return "\n".join("  " + line for line in sql.splitlines())


def events_query(
    scope: Scope, *, limit: int | None = None, catalogue: pd.DataFrame | None = None
) -> Query:
    """(a) The events of the scope's keys in its window: one row per record, the frame's columns
    and ``file_index`` (the file each row came from), in file order where the engine knows it
    (as the file loader reads them: the frame is then the same to its categories' order), else
    by event_time; the frame is sorted by event_time when it is built.

    ``limit``: at most this many rows (the first in that order). ``catalogue``: only the calls
    of a sensitive-actions catalogue (:func:`torinvest.catalogue.load_catalogue`), matched on
    event name and source. A scope of console sessions adds :data:`~.projection.MFA_USED`
    (the sign-ins' MFA, no column of the frame)."""
    columns = ", ".join((*EVENT_COLUMNS, *((MFA_USED,) if scope.console else ()), "file_index"))
    where, ctes, prefilter = "", (), None
    if catalogue is not None:
        ctes = (("catalogue", _catalogue_values(catalogue)),)
        prefilter = _catalogue_prefilter(catalogue)
        where = (
            "\nWHERE EXISTS (SELECT 1 FROM catalogue AS c WHERE c.event_name = events.event_name"
            " AND c.event_source = events.event_source)"
        )
    select = (
        f"SELECT {columns}\nFROM events{where}\n"
        "ORDER BY file_index, record_index, event_time NULLS LAST, event_id"
    )
    if limit is not None:
        if limit < 0:
            raise InputError(f"invalid row limit {limit}", hint="a limit of 0 rows or more")
        select += f"\nLIMIT {int(limit)}"
    output = {**EVENTS_OUTPUT, MFA_USED: "text"} if scope.console else EVENTS_OUTPUT
    return Query("events", scope, select, output, ctes, prefilter)


def watched_query(scope: Scope, names: Collection[str], *, limit: int | None = None) -> Query:
    """The events of ``names`` (``eventName``) in the scope, whoever made them (``scope.keys``
    None: every caller) — the calls that impair logging, read of anyone else than the key as
    the file loader reads them in the same pass (``load_logs(watch=…)``): the events query's
    rows and columns, narrowed to those names before copies are dropped."""
    if not names:
        raise InputError("no event name to look for", hint="name at least one call")
    query = events_query(scope, limit=limit)
    return replace(query, kind="watched", prefilter=f"event_name IN ({sql_literals(names)})")


#: per-IP value lists: (kind, column, how many values per IP), and GROUPING() ids.
PER_IP_LISTS: tuple[tuple[str, str, int], ...] = (
    ("regions", "aws_region", MAX_LIST_ITEMS),
    ("user_agents", "user_agent", MAX_LIST_ITEMS),
    ("access_keys", "access_key_id", MAX_LIST_ITEMS),
    ("event_names", "event_name", TOP_EVENT_NAMES),
)
_ALL_GROUPED = (1 << len(PER_IP_LISTS)) - 1


def _grouping_id(position: int) -> int:
    """GROUPING(a, b, c, d) of the set grouped by the column at ``position`` (a = 0)."""
    return _ALL_GROUPED ^ (1 << (len(PER_IP_LISTS) - 1 - position))


PER_IP_OUTPUT: dict[str, str] = {
    "kind": "text",
    "source_ip": "text",
    "value": "text",
    "events": "int",
    "failed": "int",
    "outcome_unknown": "int",
    "first_seen": "time",
    "last_seen": "time",
    "derived": "bool",
    "distinct_values": "int",
}


def per_ip_query(scope: Scope, whole: Collection[str] = ()) -> Query:
    """(b) Per source IP in one scan (GROUPING SETS): totals (kind ``ip``) and, per list of
    :data:`PER_IP_LISTS`, each IP's most frequent values (ties by value) with their counts and
    ``distinct_values``: how many distinct values the IP had in that list's column, all of them
    (counted over the grouped rows, one per distinct value, before the list is cut: a cut list
    reads "50 of N").
    Grouped by the text as written; for the ``source_ip`` values in ``whole`` (spellings of an
    address written more than one way) every value is given, not only the most frequent, so
    that the caller can sum the spellings' rows and rank the values of the address."""
    columns = ", ".join(column for _, column, _ in PER_IP_LISTS)
    sets = ", ".join(["(source_ip)", *(f"(source_ip, {c})" for _, c, _ in PER_IP_LISTS)])
    kinds = " ".join(
        f"WHEN {_grouping_id(i)} THEN {sql_literal(kind)}"
        for i, (kind, _, _) in enumerate(PER_IP_LISTS)
    )
    limits = " ".join(
        f"WHEN {_grouping_id(i)} THEN {limit}" for i, (_, _, limit) in enumerate(PER_IP_LISTS)
    )
    grouped = (
        f"SELECT source_ip, GROUPING({columns}) AS grouping_id,\n"
        f"  COALESCE({columns}) AS value,\n"
        "  count(*) AS events, count(error_code) AS failed,\n"
        f"  {UNKNOWN_COUNT} AS outcome_unknown,\n"
        "  min(event_time) AS first_seen, max(event_time) AS last_seen,\n"
        "  COALESCE(bool_or(derived), FALSE) AS derived\n"
        f"FROM events\nGROUP BY GROUPING SETS ({sets})"
    )
    every = f" OR source_ip IN ({sql_literals(set(whole))})" if whole else ""
    ranked = (
        "SELECT *, row_number() OVER (PARTITION BY source_ip, grouping_id"
        " ORDER BY value IS NULL, events DESC, value) AS value_rank,\n"
        "  count(value) OVER (PARTITION BY source_ip, grouping_id) AS distinct_values\n"
        "FROM grouped"
    )
    select = (
        f"SELECT CASE grouping_id {kinds} ELSE 'ip' END AS kind,\n"
        "  source_ip, value, events, failed, outcome_unknown, first_seen, last_seen, derived,\n"
        "  distinct_values\n"
        f"FROM ranked\nWHERE grouping_id = {_ALL_GROUPED}"
        f" OR (value IS NOT NULL AND (value_rank <= CASE grouping_id {limits} END{every}))\n"
        "ORDER BY kind, source_ip, value_rank"
    )
    uses = ("source_ip", "error_code", "outcome_unknown", *(c for _, c, _ in PER_IP_LISTS))
    ctes = (("grouped", grouped), ("ranked", ranked))
    return Query("per_ip", scope, select, PER_IP_OUTPUT, ctes, uses=uses)


TIMELINE_OUTPUT: dict[str, str] = {
    "source_ip": "text",
    "bucket": "int",
    "events": "int",
    "failed": "int",
    "outcome_unknown": "int",
}


def timeline_query(scope: Scope, *, origin: pd.Timestamp, bucket: pd.Timedelta) -> Query:
    """(e) Calls, failed calls and calls of unknown outcome per (source IP, bucket); bucket n
    starts at origin + n×bucket."""
    seconds = int(bucket.total_seconds())
    if seconds <= 0:
        raise InputError(f"invalid bucket {bucket}", hint="a bucket of at least one second")
    zero = int(origin.timestamp())
    select = (
        "SELECT source_ip,\n"
        f"  CAST(floor((epoch(event_time) - {zero}) / {seconds}) AS BIGINT) AS bucket,\n"
        "  count(*) AS events, count(error_code) AS failed,\n"
        f"  {UNKNOWN_COUNT} AS outcome_unknown\n"
        "FROM events\nWHERE event_time IS NOT NULL\nGROUP BY 1, 2\nORDER BY 2, 1"
    )
    uses = ("source_ip", "error_code", "outcome_unknown")
    return Query("timeline", scope, select, TIMELINE_OUTPUT, uses=uses)


#: The rollup's grouping sets (besides source_ip): kind → the columns grouped with the IP.
ROLLUP_SETS: dict[str, tuple[str, ...]] = {
    "time": ("bucket", "event_name", "access_key_id"),
    "user_agent": ("user_agent",),
    "region": ("aws_region",),
}
_ROLLUP_COLUMNS: tuple[str, ...] = (
    "bucket",
    "event_name",
    "access_key_id",
    "user_agent",
    "aws_region",
)

ROLLUP_OUTPUT: dict[str, str] = {
    "kind": "text",
    "source_ip": "text",
    "bucket": "int",
    "event_name": "text",
    "access_key_id": "text",
    "user_agent": "text",
    "aws_region": "text",
    "calls": "int",
    "failed": "int",
    "outcome_unknown": "int",
    "first_seen": "time",
    "last_seen": "time",
}


def _rollup_grouping_id(grouped: Collection[str]) -> int:
    """GROUPING(bucket, event_name, …, aws_region) of a set grouping ``grouped``."""
    n = len(_ROLLUP_COLUMNS)
    return sum(1 << (n - 1 - i) for i, c in enumerate(_ROLLUP_COLUMNS) if c not in grouped)


def rollup_query(scope: Scope, *, origin: pd.Timestamp, bucket: pd.Timedelta) -> Query:
    """(f) What the charts count, in one scan (GROUPING SETS): calls, failed calls and calls of
    unknown outcome per
    (source IP, time bucket, event name, access key) — kind ``time``, bucket n starting at origin +
    n×bucket —, per (source IP, user agent) — ``user_agent`` — and per (source IP, region) —
    ``region``. Each kind counts every event once; each row has its first and last event time
    (the per-IP table is made of these rows: :func:`.per_ip_from_rollup`)."""
    seconds = int(bucket.total_seconds())
    if seconds <= 0:
        raise InputError(f"invalid bucket {bucket}", hint="a bucket of at least one second")
    zero = int(origin.timestamp())
    bucketed = (
        "SELECT source_ip, event_name, access_key_id, user_agent, aws_region, error_code,\n"
        "  outcome_unknown, event_time,\n"
        f"  CAST(floor((epoch(event_time) - {zero}) / {seconds}) AS BIGINT) AS bucket\n"
        "FROM events"
    )
    columns = ", ".join(_ROLLUP_COLUMNS)
    sets = ", ".join(f"(source_ip, {', '.join(cols)})" for cols in ROLLUP_SETS.values())
    kinds = " ".join(
        f"WHEN {_rollup_grouping_id(cols)} THEN {sql_literal(kind)}"
        for kind, cols in ROLLUP_SETS.items()
    )
    select = (
        f"SELECT CASE GROUPING({columns}) {kinds} END AS kind,\n"
        f"  source_ip, {columns},\n"
        "  count(*) AS calls, count(error_code) AS failed,\n"
        f"  {UNKNOWN_COUNT} AS outcome_unknown,\n"
        "  min(event_time) AS first_seen, max(event_time) AS last_seen\n"
        f"FROM bucketed\nGROUP BY GROUPING SETS ({sets})\n"
        f"ORDER BY 1, 2, {columns}"
    )
    uses = ("source_ip", "event_name", "user_agent", "aws_region", "error_code", "outcome_unknown")
    return Query("rollup", scope, select, ROLLUP_OUTPUT, (("bucketed", bucketed),), uses=uses)


SPAN_OUTPUT: dict[str, str] = {"first": "time", "last": "time", "events": "int", "untimed": "int"}


def span_query(scope: Scope) -> Query:
    """The first and last event time of the scope (to pick a timeline bucket), how many
    events it holds (copies dropped: the rows the events query would return) and how many of
    them have no usable time (``untimed``)."""
    select = (
        "SELECT min(event_time) AS first, max(event_time) AS last, count(*) AS events,\n"
        "  count(*) FILTER (WHERE event_time IS NULL) AS untimed\nFROM events"
    )
    return Query("span", scope, select, SPAN_OUTPUT, uses=())


SENSITIVE_OUTPUT: dict[str, str] = {
    **{c: "text" for c in SENSITIVE_COLUMNS if c not in ("tor",)},
    "event_time": "time",
    "failed": "bool",
    "derived": "bool",
}


CATALOGUE_KEYS: tuple[str, ...] = (
    "event_name",
    "event_source",
    "category",
    "mitre_technique",
    "note",
)


def _catalogue_values(catalogue: pd.DataFrame | None) -> str:
    """The sensitive-actions catalogue as a VALUES list (its texts as literals)."""
    cat = load_catalogue() if catalogue is None else catalogue
    if cat.empty:
        raise InputError("the sensitive-actions catalogue is empty")
    rows = ",\n".join(
        "(" + ", ".join("NULL" if pd.isna(v) else sql_literal(str(v)) for v in row) + ")"
        for row in cat[list(CATALOGUE_KEYS)].itertuples(index=False)
    )
    return f"SELECT * FROM (VALUES\n{rows}\n) AS c({', '.join(CATALOGUE_KEYS)})"  # noqa: S608


def _catalogue_prefilter(catalogue: pd.DataFrame | None) -> str:
    """The catalogue's event names and sources as IN lists: a superset of its (name, source)
    pairs, checked before copies are dropped (the exact pairs are joined after)."""
    cat = load_catalogue() if catalogue is None else catalogue
    names = sql_literals({str(v) for v in cat["event_name"].dropna()})
    sources = sql_literals({str(v) for v in cat["event_source"].dropna()})
    return f"event_name IN ({names}) AND event_source IN ({sources})"


def sensitive_query(scope: Scope, catalogue: pd.DataFrame | None = None) -> Query:
    """(c) The calls in the sensitive-actions catalogue (joined as a VALUES list on event name and
    source), oldest first, with category, MITRE technique and note; ``failed`` is NULL for a
    call of unknown outcome (:func:`torinvest.outcome.failed_flags`)."""
    picked = ", ".join(f"e.{c}" for c in SENSITIVE_COLUMNS[:10])
    select = (
        f"SELECT {picked}, {failed_flag('e.')} AS failed, e.derived,\n"
        "  c.category, c.mitre_technique, c.note\n"
        "FROM events AS e\n"
        "JOIN catalogue AS c ON e.event_name = c.event_name AND e.event_source = c.event_source\n"
        "ORDER BY e.event_time NULLS LAST, e.event_id NULLS LAST"
    )
    ctes = (("catalogue", _catalogue_values(catalogue)),)
    prefilter = _catalogue_prefilter(catalogue)
    uses = (*SENSITIVE_COLUMNS[:10], "outcome_unknown")
    return Query("sensitive", scope, select, SENSITIVE_OUTPUT, ctes, prefilter, uses)


MINTED_OUTPUT: dict[str, str] = {
    "access_key_id": "text",
    "minted_by": "text",
    "event_name": "text",
    "event_time": "time",
    "event_id": "text",
    "source_ip": "text",
    "role_arn": "text",
    "expiration": "text",
    "outcome_unknown": "bool",
    "file_index": "int",
}


def minted_query(scope: Scope) -> Query:
    """(d) Keys minted by the scope's keys: the calls of
    :data:`~torinvest.sources.records.MINTING_EVENTS` that did not fail (no ``errorCode``: a
    failed call minted nothing), oldest first, with the key they minted
    (``responseElements.credentials.accessKeyId``; CreateAccessKey's ``responseElements.
    accessKey.accessKeyId``) — NULL when the record does not hold it (a data issue) — and
    ``outcome_unknown``: the call may not have succeeded, its key may not exist
    (:mod:`torinvest.outcome`); ``file_index``: the file it came from (NULL on Athena)."""
    minted = (
        "NULLIF(CASE WHEN event_name = 'CreateAccessKey'"
        " THEN json_extract_string(response_elements, '$.accessKey.accessKeyId')"
        " ELSE json_extract_string(response_elements, '$.credentials.accessKeyId') END, '')"
    )
    select = (
        f"SELECT {minted} AS access_key_id, access_key_id AS minted_by, event_name,\n"
        "  event_time, event_id, source_ip,\n"
        "  json_extract_string(request_parameters, '$.roleArn') AS role_arn,\n"
        "  json_extract_string(response_elements, '$.credentials.expiration') AS expiration,\n"
        "  outcome_unknown, file_index\n"
        f"FROM events\nWHERE event_name IN ({sql_literals(MINTING_EVENTS)})"
        " AND error_code IS NULL\n"
        "ORDER BY event_time NULLS LAST, event_id NULLS LAST"
    )
    uses = (
        "event_name",
        "error_code",
        "outcome_unknown",
        "source_ip",
        "request_parameters",
        "response_elements",
    )
    return Query("minted", scope, select, MINTED_OUTPUT, uses=uses)


IP_PIVOT_OUTPUT: dict[str, str] = {
    "access_key_id": "text",
    "user_name": "text",
    "arn": "text",
    "account_id": "text",
    "source_ip": "text",
    "calls": "int",
    "failed": "int",
    "outcome_unknown": "int",
    "first_seen": "time",
    "last_seen": "time",
}
#: What identifies a caller in :func:`ip_pivot_query` (with the source IP).
IP_PIVOT_CALLER: tuple[str, ...] = ("access_key_id", "user_name", "arn", "account_id")


def ip_condition(source_ips: Collection[str]) -> str:
    """The rows that may be from ``source_ips``: the addresses as written and, as an address
    has other spellings (``2001:0470:0001::9001``, upper case, ``::ffff:1.2.3.4``), every
    row whose IP holds a colon (IPv6 addresses: every one; IPv4 ones: those written as
    IPv6, dotted or in hex). The caller keeps the rows whose address is one of them (compared in canonical
    form, :func:`torinvest.addresses.canonical_ip`)."""
    literal = f"source_ip IN ({sql_literals(set(source_ips))})"
    if any(":" in ip for ip in source_ips):
        return f"({literal} OR strpos(source_ip, ':') > 0)"
    # an IPv4 address as IPv6: ::ffff:185.220.101.34, or in hex ::ffff:b9dc:6522
    mapped = "(strpos(source_ip, '.') > 0 OR strpos(lower(source_ip), 'ffff:') > 0)"
    return f"({literal} OR (strpos(source_ip, ':') > 0 AND {mapped}))"


def ip_pivot_query(scope: Scope, source_ips: Collection[str]) -> Query:
    """(g) Who called from these addresses: per (access key, user name, ARN, account, source
    IP) of every caller in the scope (``scope.keys`` None: every caller) whose source IP may be
    one of ``source_ips`` (:func:`ip_condition`: other spellings too, to be narrowed by the
    caller), the calls, failed calls, calls of unknown outcome (:data:`UNKNOWN_COUNT`: neither
    succeeded nor failed) and first and last call."""
    if not source_ips:
        raise InputError("no source IP to look for", hint="name at least one address")
    caller = ", ".join((*IP_PIVOT_CALLER, "source_ip"))
    select = (
        f"SELECT {caller},\n"
        "  count(*) AS calls, count(error_code) AS failed,\n"
        f"  {UNKNOWN_COUNT} AS outcome_unknown,\n"
        "  min(event_time) AS first_seen, max(event_time) AS last_seen\n"
        f"FROM events\nGROUP BY {caller}\n"
        "ORDER BY calls DESC, access_key_id NULLS LAST, arn NULLS LAST, source_ip"
    )
    prefilter = ip_condition(source_ips)
    uses = (*IP_PIVOT_CALLER, "source_ip", "error_code", "outcome_unknown")
    return Query("ip_pivot", scope, select, IP_PIVOT_OUTPUT, (), prefilter, uses)


# --------------------------------------------------------------------------------------------
# dialects
# --------------------------------------------------------------------------------------------
def _trino_content_key(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``hash`` of values (:func:`content_key_sql`) in Trino: xxhash64 of their text,
    each as ``<length>:<text>`` (``-`` for NULL), an encoding that tells every tuple apart."""
    from sqlglot import exp

    if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
        parts = [_length_prefixed(e) for e in node.expressions]
        text = exp.func("to_utf8", exp.Concat(expressions=parts))
        return exp.Anonymous(this="xxhash64", expressions=[text])
    return node


def _trino_fixes(node: exp.Expression) -> exp.Expression:
    """Where Trino needs another function than the transpiled one: CloudTrail's ISO 8601 times
    (``…T12:05:00Z``) are read by from_iso8601_timestamp, not by a cast."""
    from sqlglot import exp

    if (
        isinstance(node, exp.TryCast)
        and node.to.is_type(exp.DataType.Type.TIMESTAMPTZ)
        and not isinstance(node.this, exp.Literal)
    ):
        parse = exp.Anonymous(this="from_iso8601_timestamp", expressions=[node.this.copy()])
        return exp.func("TRY", parse)
    return node


def _length_prefixed(value: exp.Expression) -> exp.Expression:
    from sqlglot import exp

    text = exp.cast(value.copy(), exp.DataType.Type.VARCHAR)
    length = exp.cast(exp.Length(this=text.copy()), exp.DataType.Type.VARCHAR)
    tagged = exp.Concat(expressions=[length, exp.Literal.string(":"), text])
    return exp.Coalesce(this=tagged, expressions=[exp.Literal.string("-")])


def to_trino(sql: str, *, pretty: bool = True) -> str:
    """A query written in DuckDB SQL, in Athena's (Trino's) dialect."""
    import sqlglot

    tree = sqlglot.parse_one(sql, read=SOURCE_DIALECT)
    # the tree is this call's own: changed in place, not deep-copied by each transform (the
    # copies were a third of the translation's time, for every query sent to Athena)
    tree = tree.transform(_trino_content_key, copy=False).transform(_trino_fixes, copy=False)
    return tree.sql(TRINO_DIALECT, pretty=pretty)


def iter_queries(scope: Scope, catalogue: pd.DataFrame | None = None) -> Iterable[Query]:
    """Every query of this module for ``scope`` (tests check each one translates)."""
    yield events_query(scope)
    yield per_ip_query(scope)
    yield span_query(scope)
    yield sensitive_query(scope, catalogue)
    yield minted_query(scope)
    yield events_query(scope, limit=10, catalogue=catalogue)
    yield ip_pivot_query(scope, ("185.220.101.34", "2001:db8::1"))
    if scope.start is not None:
        origin, bucket = scope.start.floor("D"), pd.Timedelta(minutes=5)
        yield timeline_query(scope, origin=origin, bucket=bucket)
        yield rollup_query(scope, origin=origin, bucket=bucket)
