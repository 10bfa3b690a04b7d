"""The entry points: each runs investigation queries through an engine and returns a
:class:`~torinvest.sources.sql.engine.SqlResult` — :func:`load_sql` (the events frame, or the
activity counted past ``max_rows``), :func:`per_ip_sql`, :func:`timeline_sql`,
:func:`sensitive_sql`, :func:`minted_keys_sql`, :func:`aggregate_sql` — and :func:`print_sql`
(what an engine would run, without running it).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from torinvest.addresses import canonical_column, canonical_ips, same_or_canonical
from torinvest.aws.ids import is_access_key_id
from torinvest.catalogue import load_catalogue
from torinvest.errors import DataIssue, InputError
from torinvest.grouping import TIMELINE_BUCKETS, bucket_origin, label_rank, pick_bucket
from torinvest.schema import PER_IP_COLUMNS, SENSITIVE_COLUMNS, empty_per_ip, utc_timestamp
from torinvest.sources.logs import MAX_DERIVED_PASSES
from torinvest.sources.records import (
    DerivedKey,
    derived_keys,
    frame_from_tables,
    untimed_issue,
)
from torinvest.sources.sql.engine import (
    Aggregates,
    Engine,
    SqlResult,
    _events_piece,
    _run,
)
from torinvest.sources.sql.queries import (
    IP_PIVOT_CALLER,
    MINTED_OUTPUT,
    PER_IP_LISTS,
    ROLLUP_OUTPUT,
    TIMELINE_OUTPUT,
    Query,
    Scope,
    events_query,
    ip_pivot_query,
    make_scope,
    minted_query,
    per_ip_query,
    rollup_query,
    sensitive_query,
    span_query,
    timeline_query,
)

log = logging.getLogger(__name__)

_UTC = "datetime64[us, UTC]"


def print_sql(engine: Engine, query: Query, *, file: TextIO | None = None) -> str:
    """Print (and return) the SQL ``engine`` would run for ``query``, in its dialect, without
    running it. An engine that fetches files before it runs (DuckDB over S3) shows them
    without fetching them (its ``preview_sql``): listed, and named by their ``s3://`` URL."""
    preview = getattr(engine, "preview_sql", engine.sql)
    sql: str = preview(query)
    print(sql, file=file or sys.stdout)
    return sql


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------
def load_sql(
    engine: Engine,
    *,
    access_keys: str | Iterable[str] | None = None,
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    follow_derived: bool = False,
    max_rows: int | None = None,
    catalogue: pd.DataFrame | None = None,
    user_name: str | None = None,
) -> SqlResult:
    """The events frame through ``engine``: the same columns, dtypes and rows as
    :func:`~torinvest.sources.logs.load_logs` with the same arguments (``source`` is the
    engine's name). ``follow_derived`` re-queries for keys minted by the keys, as load_logs
    re-reads the files (:data:`~torinvest.sources.logs.MAX_DERIVED_PASSES` passes at most).

    ``max_rows``: when the rows matched are more than this, the activity is counted in the
    engine instead, as :func:`aggregate_sql` does: ``aggregates`` is set and ``frame`` holds
    only the sensitive calls (``catalogue``). An engine that counts first (DuckDB, Athena) runs
    a count (span) query before each events query; others ask for one more row than is left, so
    that no more than ``max_rows + 1`` rows are ever held. ``user_name`` keeps the calls of
    that user as LookupEvents' ``Username`` does (:func:`.user_filter`)."""
    scope = make_scope(
        access_keys=access_keys,
        start=start,
        end=end,
        accounts=accounts,
        regions=regions,
        user_name=user_name,
    )
    if follow_derived and not scope.keys:
        raise InputError("follow_derived needs access_keys", hint="name the suspect access key")
    if max_rows is not None and max_rows < 0:
        raise InputError(f"invalid row limit {max_rows}", hint="a limit of 0 rows or more")
    result = SqlResult(pd.DataFrame(), engine.name)
    try:
        pieces = _load_pieces(engine, scope, result, follow_derived, max_rows)
    except _TooManyRows:
        log.info("%s: over %s rows, counting in the engine", engine.name, f"{max_rows:,}")
        result.derived = []
        _aggregate(engine, scope, result, follow_derived, catalogue, max_rows)
        _check_scanned(engine, scope, result)
        return result
    for piece in pieces:
        untimed = untimed_issues(piece)
        result.issues += untimed
        if result.counts is not None:  # those files were read with issues, as the loader says
            for issue in untimed:
                if issue.source not in result.counts.failed:
                    result.counts.with_issues.setdefault(issue.source, issue.problem)
    derived = {d.access_key_id for d in result.derived}
    result.frame = frame_from_tables(
        pieces, derived_keys=derived if scope.keys else None, consume=True, issues=result.issues
    )
    _check_scanned(engine, scope, result)
    log.info("%s: %d rows, %d issues", engine.name, len(result.frame), len(result.issues))
    return result


def _check_scanned(engine: Engine, scope: Scope, result: SqlResult) -> None:
    """No event and 0 bytes scanned by an engine that bills bytes (Athena): it read nothing
    where it looked, an issue naming what to check (its ``nothing_scanned``), never "no
    events". DuckDB says so from its file listing (no file matched the narrowing) instead: its
    bytes are those of files holding the key, 0 when they were read and hold none."""
    nothing_scanned = getattr(engine, "nothing_scanned", None)
    if nothing_scanned is None or not result.queries:
        return
    total = result.aggregates.total if result.aggregates is not None else len(result.frame)
    if total or len(result.frame) or any(q.bytes_scanned for q in result.queries):
        return
    issue = nothing_scanned(scope)
    if issue not in result.issues:
        result.issues.append(issue)


def untimed_issues(piece: pa.Table) -> list[DataIssue]:
    """One issue per file (the piece's ``origin``) for its rows without a usable time, in the
    words of the file loader (:func:`~torinvest.sources.records.untimed_issue`)."""
    if not piece.num_rows or not piece.column("event_time").null_count:
        return []
    untimed = piece.filter(pc.is_null(piece.column("event_time")))
    origins = untimed.column("origin").combine_chunks()
    if isinstance(origins, pa.DictionaryArray):
        origins = origins.dictionary_decode()
    issues = []
    for origin in dict.fromkeys(origins.to_pylist()):
        rows = untimed.filter(pc.equal(origins, origin)) if origin is not None else untimed
        issue = untimed_issue(rows, origin or "(unknown file)")
        if issue is not None:
            issues.append(issue)
    return issues


def _load_pieces(
    engine: Engine, scope: Scope, result: SqlResult, follow_derived: bool, max_rows: int | None
) -> list[pa.Table]:
    left = max_rows
    count_first = getattr(engine, "count_first", False)

    def fetch(scope: Scope) -> pa.Table:
        nonlocal left
        if left is not None and count_first:
            if int(_span(engine, scope, result)["events"].iloc[0]) > left:
                raise _TooManyRows
            piece = _events(engine, scope, result)
        else:
            piece = _events(engine, scope, result, limit=left)
        if left is not None:
            left -= piece.num_rows
        return piece

    pieces = [fetch(scope)]
    if follow_derived:
        assert scope.keys is not None
        known = set(scope.keys)
        latest = pieces[0]
        for _ in range(MAX_DERIVED_PASSES):
            new = [
                d
                for d in derived_keys(frame_from_tables([latest]), known, issues=result.issues)
                if d.access_key_id not in known
            ]
            if not new:
                break
            result.derived += new
            fresh = {d.access_key_id for d in new}
            known |= fresh
            latest = fetch(scope.with_keys(fresh))
            pieces.append(latest)
    return pieces


def _span(engine: Engine, scope: Scope, result: SqlResult) -> pd.DataFrame:
    """The scope's span query (first, last, events), run once per scope."""
    if scope not in result.spans:
        result.spans[scope] = _run(engine, span_query(scope), result)
    return result.spans[scope]


class _TooManyRows(Exception):
    """An events query matched more rows than the limit allows."""


def _events(
    engine: Engine,
    scope: Scope,
    result: SqlResult,
    *,
    limit: int | None = None,
    catalogue: pd.DataFrame | None = None,
) -> pa.Table:
    """An events query's rows as a piece; with ``limit``, _TooManyRows when there are more."""
    query = events_query(scope, limit=None if limit is None else limit + 1, catalogue=catalogue)
    out = engine.run(query)
    result._add(out)
    if limit is not None and out.table.num_rows > limit:
        raise _TooManyRows
    return _events_piece(out, engine.name)


def _scope_with_derived(
    engine: Engine, scope: Scope, follow_derived: bool, result: SqlResult
) -> Scope:
    """``scope`` widened to the keys minted by its keys (queried), when asked."""
    if not follow_derived:
        return scope
    if not scope.keys:
        raise InputError("follow_derived needs access_keys", hint="name the suspect access key")
    result.derived = _follow_minted(engine, scope, result)
    minted = {d.access_key_id for d in result.derived}
    return scope.with_keys(scope.keys | minted, minted)


def _follow_minted(engine: Engine, scope: Scope, result: SqlResult) -> list[DerivedKey]:
    assert scope.keys is not None
    known, frontier = set(scope.keys), set(scope.keys)
    found: list[DerivedKey] = []
    for _ in range(MAX_DERIVED_PASSES):
        rows = _derived_rows(
            _run(engine, minted_query(scope.with_keys(frontier)), result), result.issues
        )
        new: dict[str, DerivedKey] = {}
        for d in rows:
            if d.access_key_id not in known:
                new.setdefault(d.access_key_id, d)
        if not new:
            break
        found += new.values()
        frontier = set(new)
        known |= frontier
    return found


def _derived_rows(frame: pd.DataFrame, issues: list[DataIssue]) -> list[DerivedKey]:
    """The minted keys of a minted-keys query's rows; a value that is not an access key ID is
    an issue naming its event, not a key."""

    def text(v: Any) -> str | None:
        return None if pd.isna(v) else str(v)

    bad = ~frame["access_key_id"].map(is_access_key_id).astype(bool)
    for row in frame[bad].itertuples(index=False):
        issue = DataIssue(
            "follow-derived",
            f"{row.event_name} event {text(row.event_id) or '(no eventID)'}: responseElements."
            f"credentials.accessKeyId {str(row.access_key_id)[:60]!r} is not an access key ID: "
            "not followed",
        )
        if issue not in issues:
            issues.append(issue)
    frame = frame[~bad]
    return [
        DerivedKey(
            access_key_id=str(row.access_key_id),
            minted_by=text(row.minted_by),
            event_name=str(row.event_name),
            event_time=None if pd.isna(row.event_time) else row.event_time,
            event_id=text(row.event_id),
            source_ip=text(row.source_ip),
            role_arn=text(row.role_arn),
            expiration=text(row.expiration),
        )
        for row in frame.itertuples(index=False)
    ]


def minted_keys_sql(
    engine: Engine,
    *,
    access_keys: str | Iterable[str],
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    transitive: bool = True,
) -> SqlResult:
    """Keys minted by ``access_keys`` in the window (with ``transitive``, by those keys too, up
    to :data:`~torinvest.sources.logs.MAX_DERIVED_PASSES` rounds). ``frame``: access_key_id,
    minted_by, event_name, event_time, event_id, source_ip, role_arn, expiration; ``derived``:
    the same as :class:`~torinvest.sources.records.DerivedKey`, oldest first."""
    scope = make_scope(
        access_keys=access_keys, start=start, end=end, accounts=accounts, regions=regions
    )
    result = SqlResult(pd.DataFrame(), engine.name)
    if transitive:
        result.derived = _follow_minted(engine, scope, result)
    else:
        result.derived = list(
            {
                d.access_key_id: d
                for d in reversed(_derived_rows(_run(engine, minted_query(scope), result)))
            }.values()
        )[::-1]
    result.frame = pd.DataFrame(
        [d.to_dict() for d in result.derived], columns=list(MINTED_OUTPUT)
    ).astype({c: "string" for c in MINTED_OUTPUT if c != "event_time"})
    result.frame["event_time"] = pd.to_datetime(result.frame["event_time"], utc=True).astype(_UTC)
    return result


def per_ip_sql(
    engine: Engine,
    *,
    access_keys: str | Iterable[str] | None = None,
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    follow_derived: bool = False,
) -> SqlResult:
    """The per-IP summary computed in the engine (for when the rows are too many to load): the
    columns of :func:`torinvest.analysis.per_ip`, with tor, tor_events, the place columns
    (ip_kind, country, asn, … — :func:`torinvest.analysis.per_ip_counted` fills them) and new
    NA. One row per address in canonical form, as :func:`torinvest.analysis.per_ip` groups
    (the engine groups text: the spellings' rows are summed here). One query (plus one per
    derived-key round with ``follow_derived``, and a second one, every value of the spellings
    given, when an address is written more than one way)."""
    scope = make_scope(
        access_keys=access_keys, start=start, end=end, accounts=accounts, regions=regions
    )
    result = SqlResult(pd.DataFrame(), engine.name)
    scope = _scope_with_derived(engine, scope, follow_derived, result)
    long = _run(engine, per_ip_query(scope), result)
    spellings = _shared_spellings(long)
    if spellings:  # the lists were cut per spelling: asked again whole to rank them per address
        long = _run(engine, per_ip_query(scope, whole=spellings), result)
    result.frame = _per_ip_frame(_per_address(long))
    return result


def _shared_spellings(long: pd.DataFrame) -> frozenset[str]:
    """The ``source_ip`` values of the per-IP query's totals that share their address with
    another value (``2001:0470:…`` and ``2001:470:…``; ``::ffff:1.2.3.4`` and ``1.2.3.4``)."""
    totals = long.loc[long["kind"] == "ip", "source_ip"].dropna().astype("string")
    if totals.empty:
        return frozenset()
    addresses = canonical_column(totals)
    shared = addresses.duplicated(keep=False).to_numpy(dtype=bool)
    return frozenset(totals[shared].tolist())


def _per_address(long: pd.DataFrame) -> pd.DataFrame:
    """The per-IP query's rows with one ``source_ip`` per address (canonical form): the totals
    of its spellings summed (first and last seen: the earliest and latest), each list's values
    counted over them and cut again to the list's length (most frequent first, ties by value)."""
    if long.empty:
        return long
    addresses = canonical_column(long["source_ip"])
    if addresses.equals(long["source_ip"].astype("string")):
        return long  # every address written once, in canonical form: rows as they are
    rows = long.assign(source_ip=addresses)
    totals = rows[rows["kind"] == "ip"]
    summed = (
        totals.groupby("source_ip", dropna=False, sort=False)
        .agg(
            events=("events", "sum"),
            failed=("failed", "sum"),
            first_seen=("first_seen", "min"),
            last_seen=("last_seen", "max"),
            derived=("derived", "any"),
        )
        .reset_index()
        .assign(kind="ip", value=pd.NA)
    )
    parts = [summed]
    for kind, _, limit in PER_IP_LISTS:
        listed = rows[rows["kind"] == kind]
        counted = (
            listed.groupby(["source_ip", "value"], dropna=False, sort=False)["events"]
            .sum()
            .reset_index()
            .sort_values(["source_ip", "events", "value"], ascending=[True, False, True])
            .assign(kind=kind)
        )
        parts.append(counted[counted.groupby("source_ip", dropna=False).cumcount() < limit])
    return pd.concat(parts, ignore_index=True)[list(long.columns)]


def ip_pivot_sql(
    engine: Engine,
    *,
    source_ips: Iterable[str],
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
) -> SqlResult:
    """Who called from ``source_ips`` in the window, every caller: one row per (access key, user
    name, ARN, account, source IP) with calls, failed, first_seen and last_seen (the columns of
    :data:`~torinvest.sources.sql.queries.IP_PIVOT_OUTPUT`), computed in the engine by
    :func:`~torinvest.sources.sql.queries.ip_pivot_query`."""
    scope = make_scope(start=start, end=end, accounts=accounts, regions=regions)
    result = SqlResult(pd.DataFrame(), engine.name)
    ips = canonical_ips(source_ips)
    result.frame = _ip_rows(_run(engine, ip_pivot_query(scope, sorted(ips)), result), ips)
    return result


def _ip_rows(frame: pd.DataFrame, ips: frozenset[str]) -> pd.DataFrame:
    """The query's rows whose address is one of ``ips`` (any spelling), one row per (caller,
    address in canonical form): a caller seen under two spellings of one address is one row."""
    if frame.empty:
        return frame
    addresses = canonical_column(frame["source_ip"])
    if addresses.equals(frame["source_ip"].astype("string")) and addresses.isin(ips).all():
        return frame  # the query's rows as they are: every one an address asked, as written
    rows = frame.assign(source_ip=addresses)[addresses.isin(ips).fillna(False).to_numpy()]
    keys = [*IP_PIVOT_CALLER, "source_ip"]
    out = (
        rows.groupby(keys, dropna=False, sort=False)
        .agg(
            calls=("calls", "sum"),
            failed=("failed", "sum"),
            first_seen=("first_seen", "min"),
            last_seen=("last_seen", "max"),
        )
        .reset_index()
    )
    for k in keys:
        out[k] = out[k].astype("string")
    for c in ("calls", "failed"):
        out[c] = out[c].astype(frame[c].dtype)
    out = out.sort_values(
        ["calls", "access_key_id", "arn", "source_ip"],
        ascending=[False, True, True, True],
        na_position="last",
        kind="stable",
    )
    return out[list(frame.columns)].reset_index(drop=True)


def _per_ip_frame(long: pd.DataFrame) -> pd.DataFrame:
    totals = long[long["kind"] == "ip"].reset_index(drop=True)
    if totals.empty:
        return empty_per_ip()
    table = empty_per_ip().reindex(range(len(totals)))
    for c in ("source_ip", "events", "failed", "first_seen", "last_seen", "derived"):
        table[c] = totals[c].array
    ip_key = totals["source_ip"].fillna("\0").to_numpy(dtype=object)
    for kind, _, _ in PER_IP_LISTS:
        rows = long[long["kind"] == kind]
        keys = rows["source_ip"].fillna("\0").to_numpy(dtype=object)
        grouped: dict[str, list[tuple[str, int]]] = {}
        for k, v, n in zip(keys, rows["value"].tolist(), rows["events"].tolist(), strict=True):
            grouped.setdefault(k, []).append((v, int(n)))
        if kind == "event_names":
            table[kind] = [dict(grouped.get(k, [])) for k in ip_key]
        else:
            table[kind] = [sorted(v for v, _ in grouped.get(k, [])) for k in ip_key]
    table = table.sort_values(["first_seen", "source_ip"], na_position="last", kind="stable")
    return table[list(PER_IP_COLUMNS)].reset_index(drop=True)


def timeline_sql(
    engine: Engine,
    *,
    access_keys: str | Iterable[str] | None = None,
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    bucket: pd.Timedelta | None = None,
    follow_derived: bool = False,
) -> SqlResult:
    """Calls per (source IP, time bucket) computed in the engine: ``bucket_start`` (UTC),
    ``source_ip``, ``events``, ``failed``. The bucket is :func:`torinvest.grouping.pick_bucket`
    of the window (of the data's span when the window is open: one more query); buckets start
    at the window start floored to the bucket (to the day beyond a day), as the timeline's do."""
    scope = make_scope(
        access_keys=access_keys, start=start, end=end, accounts=accounts, regions=regions
    )
    result = SqlResult(pd.DataFrame(), engine.name)
    scope = _scope_with_derived(engine, scope, follow_derived, result)
    first, last = scope.start, scope.end
    if first is None or last is None:
        span = _run(engine, span_query(scope), result)
        first = first if first is not None else utc_timestamp(span["first"].iloc[0])
        last = last if last is not None else utc_timestamp(span["last"].iloc[0])
    if first is None or last is None:  # no events at all
        size, name = TIMELINE_BUCKETS[0]
        frame = _timeline_frame(pd.DataFrame(columns=list(TIMELINE_OUTPUT)), _EPOCH, size)
    else:
        size, name = (bucket, str(bucket)) if bucket is not None else pick_bucket(last - first)
        origin = bucket_origin(first, size)
        counts = _run(engine, timeline_query(scope, origin=origin, bucket=size), result)
        frame = _timeline_frame(counts, origin, size)
    frame.attrs.update(bucket=size, bucket_name=name)
    result.frame = frame
    return result


_EPOCH = pd.Timestamp(0, tz="UTC")


def _timeline_frame(counts: pd.DataFrame, origin: pd.Timestamp, size: pd.Timedelta) -> pd.DataFrame:
    buckets = counts["bucket"].astype("Int64").to_numpy(dtype=np.int64, na_value=0)
    starts = pd.DatetimeIndex(origin + size * buckets).astype(_UTC) if len(counts) else []
    return pd.DataFrame(
        {
            "bucket_start": pd.Series(starts, dtype=_UTC),
            "source_ip": pd.Series(counts["source_ip"].array, dtype="string"),
            "events": pd.Series(counts["events"].array, dtype="Int64"),
            "failed": pd.Series(counts["failed"].array, dtype="Int64"),
        }
    )


def sensitive_sql(
    engine: Engine,
    *,
    access_keys: str | Iterable[str] | None = None,
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    catalogue: pd.DataFrame | None = None,
    follow_derived: bool = False,
) -> SqlResult:
    """The sensitive calls computed in the engine: the columns of
    :func:`torinvest.analysis.sensitive_events` (``tor`` NA)."""
    scope = make_scope(
        access_keys=access_keys, start=start, end=end, accounts=accounts, regions=regions
    )
    result = SqlResult(pd.DataFrame(), engine.name)
    scope = _scope_with_derived(engine, scope, follow_derived, result)
    found = _run(engine, sensitive_query(scope, catalogue), result)
    found["tor"] = pd.Series(pd.NA, index=found.index, dtype="boolean")
    result.frame = found[list(SENSITIVE_COLUMNS)]
    return result


def aggregate_sql(
    engine: Engine,
    *,
    access_keys: str | Iterable[str] | None = None,
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    follow_derived: bool = False,
    catalogue: pd.DataFrame | None = None,
    user_name: str | None = None,
) -> SqlResult:
    """The activity counted in the engine (:class:`Aggregates`), and as rows only its sensitive
    calls (``frame``: the events frame of the calls in ``catalogue``, the shipped one by
    default). Queries: the keys minted (``follow_derived``), the per-IP summary, the rollup
    (its time bucket is :func:`torinvest.grouping.pick_bucket` of the activity's span, from the
    first to the last call, as the timeline of the rows would pick), and the sensitive rows."""
    scope = make_scope(
        access_keys=access_keys,
        start=start,
        end=end,
        accounts=accounts,
        regions=regions,
        user_name=user_name,
    )
    result = SqlResult(pd.DataFrame(), engine.name)
    _aggregate(engine, scope, result, follow_derived, catalogue, None)
    _check_scanned(engine, scope, result)
    return result


def _aggregate(
    engine: Engine,
    scope: Scope,
    result: SqlResult,
    follow_derived: bool,
    catalogue: pd.DataFrame | None,
    limit: int | None,
) -> None:
    scope = _scope_with_derived(engine, scope, follow_derived, result)
    span = _span(engine, scope, result)
    first, last = utc_timestamp(span["first"].iloc[0]), utc_timestamp(span["last"].iloc[0])
    if first is None or last is None:  # no events, or none with a time
        size, name = TIMELINE_BUCKETS[0]
        origin = _EPOCH
        long = pd.DataFrame({c: pd.Series([], dtype="string") for c in ROLLUP_OUTPUT})
        if int(span["events"].iloc[0]):
            long = _run(engine, rollup_query(scope, origin=origin, bucket=size), result)
    else:
        size, name = pick_bucket(last - first)
        origin = bucket_origin(first, size)
        long = _run(engine, rollup_query(scope, origin=origin, bucket=size), result)
    untimed = int(span["untimed"].iloc[0] or 0)
    if untimed:
        result.issues.append(
            DataIssue(
                engine.name,
                f"{untimed:,} record(s) without a usable eventTime (missing, or not an ISO 8601 "
                "time), counted with an unknown time: they cannot be placed in the window, nor "
                "shown to be outside it (the sensitive ones are listed among the calls)",
            )
        )
    per_ip = per_ip_from_rollup(long, scope)
    by_time, by_agent, by_region = _rollup_frames(long, origin, size)
    by_time.attrs.update(bucket=size, bucket_name=name)
    result.aggregates = Aggregates(per_ip, by_time, by_agent, by_region, limit)
    cat = load_catalogue() if catalogue is None else catalogue
    pieces = [_events(engine, scope, result, catalogue=cat)]
    derived = {d.access_key_id for d in result.derived}
    result.frame = frame_from_tables(
        pieces, derived_keys=derived if scope.keys else None, consume=True, issues=result.issues
    )
    log.info(
        "%s: %d events counted, %d sensitive rows",
        engine.name,
        result.aggregates.total,
        len(result.frame),
    )


def per_ip_from_rollup(long: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    """The per-IP summary (as :func:`per_ip_sql` computes it) from the rollup's rows: totals,
    first/last seen and keys and event names from the ``time`` rows, user agents and regions
    from theirs; ``derived``: a call made with one of ``scope.derived``. One row per address in
    canonical form (its spellings' rows summed, as :func:`torinvest.analysis.per_ip` groups).
    Grouped on integer codes: the rollup can hold about as many rows as there were events."""
    time_rows = long[long["kind"] == "time"]
    if time_rows.empty:
        return empty_per_ip()
    raw_codes, raw_labels = pd.factorize(time_rows["source_ip"], use_na_sentinel=False)
    # one row per address however written: each spelling (a distinct value) mapped once
    to_ip, ip_labels = pd.factorize(
        pd.Series([same_or_canonical(v) for v in raw_labels], dtype=object), use_na_sentinel=False
    )
    ip_codes = to_ip[raw_codes]
    n_ips = len(ip_labels)
    calls = time_rows["calls"].to_numpy(dtype=np.int64, na_value=0)
    failed = time_rows["failed"].to_numpy(dtype=np.int64, na_value=0)
    derived = time_rows["access_key_id"].isin(list(scope.derived)).to_numpy(dtype=bool)
    firsts = pd.Series(time_rows["first_seen"].array).groupby(ip_codes).min()
    lasts = pd.Series(time_rows["last_seen"].array).groupby(ip_codes).max()
    labels = pd.array(ip_labels, dtype="string")
    parts = [
        pd.DataFrame(
            {
                "kind": "ip",
                "source_ip": labels,
                "value": pd.array([pd.NA] * n_ips, dtype="string"),
                "events": pd.array(np.bincount(ip_codes, calls, n_ips), dtype="Int64"),
                "failed": pd.array(np.bincount(ip_codes, failed, n_ips), dtype="Int64"),
                "first_seen": firsts.reindex(range(n_ips)).array,
                "last_seen": lasts.reindex(range(n_ips)).array,
                "derived": pd.array(np.bincount(ip_codes, derived, n_ips) > 0, dtype="boolean"),
            }
        )
    ]
    sources = {
        "regions": ("region", "aws_region"),
        "user_agents": ("user_agent", "user_agent"),
        "access_keys": ("time", "access_key_id"),
        "event_names": ("time", "event_name"),
    }
    raw_index = pd.Index(raw_labels)
    for kind, _, limit in PER_IP_LISTS:
        part_kind, column = sources[kind]
        part = long[(long["kind"] == part_kind) & long[column].notna()]
        ips = to_ip[raw_index.get_indexer(part["source_ip"])]  # the time rows name every IP
        values, value_labels = pd.factorize(part[column])
        rank = label_rank(value_labels)
        pair, inverse = np.unique(
            ips.astype(np.int64) * len(value_labels) + values, return_inverse=True
        )
        weight = part["calls"].to_numpy(dtype=np.int64, na_value=0)
        total = np.bincount(inverse.ravel(), weight, len(pair)).astype(np.int64)
        pair_ip, pair_value = pair // max(len(value_labels), 1), pair % max(len(value_labels), 1)
        by = np.lexsort((rank[pair_value], -total, pair_ip))
        pair_ip, pair_value, total = pair_ip[by], pair_value[by], total[by]
        starts = np.r_[0, np.flatnonzero(np.diff(pair_ip)) + 1] if len(pair_ip) else pair_ip
        position = np.arange(len(pair_ip)) - np.repeat(starts, np.diff(np.r_[starts, len(pair_ip)]))
        keep = position < limit
        parts.append(
            pd.DataFrame(
                {
                    "kind": kind,
                    "source_ip": labels[pair_ip[keep]],
                    "value": pd.array(np.asarray(value_labels)[pair_value[keep]], dtype="string"),
                    "events": pd.array(total[keep], dtype="Int64"),
                }
            )
        )
    out = pd.concat(parts, ignore_index=True)
    for c in ("first_seen", "last_seen"):
        out[c] = pd.to_datetime(out[c], utc=True).astype(_UTC)
    return _per_ip_frame(out)


def _rollup_frames(
    long: pd.DataFrame, origin: pd.Timestamp, size: pd.Timedelta
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The rollup's rows split by kind: by_time, by_agent, by_region (see :class:`Aggregates`)."""

    def part(kind: str, columns: Sequence[str]) -> pd.DataFrame:
        rows = long[long["kind"] == kind]
        out = {c: pd.Series(rows[c].array, dtype="string") for c in columns}
        out["calls"] = pd.Series(rows["calls"].array, dtype="Int64")
        out["failed"] = pd.Series(rows["failed"].array, dtype="Int64")
        return pd.DataFrame(out)

    rows = long[long["kind"] == "time"]
    bucket = pd.Series(rows["bucket"].array, dtype="Int64")
    starts = pd.Series(pd.NaT, index=bucket.index, dtype=_UTC)
    valid = bucket.notna().to_numpy()
    if valid.any():
        numbers = bucket[valid].to_numpy(dtype=np.int64)
        starts[valid] = pd.DatetimeIndex(origin + size * numbers).astype(_UTC)
    by_time = part("time", ("source_ip", "event_name", "access_key_id"))
    by_time.insert(0, "event_time", starts.array)
    return (
        by_time,
        part("user_agent", ("source_ip", "user_agent")),
        part("region", ("source_ip", "aws_region")),
    )
