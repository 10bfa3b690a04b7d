"""The entry points: each runs investigation queries through an engine and returns a
:class:`~torinvest.sources.sql.engine.SqlResult` — :func:`load_sql` (the events frame, or the
activity counted past ``max_rows``), :func:`per_ip_sql`, :func:`timeline_sql`,
:func:`sensitive_sql`, :func:`minted_keys_sql`, :func:`aggregate_sql` — and :func:`print_sql`
(what an engine would run, without running it).

The counts become frames in :mod:`~torinvest.sources.sql.frames` (pure);
:func:`per_ip_from_rollup` is importable from here as before.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, TextIO

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from torinvest.addresses import canonical_ips
from torinvest.aws.ids import is_access_key_id
from torinvest.aws.regions import REGION_RE
from torinvest.catalogue import load_catalogue, with_gap_ending_calls
from torinvest.errors import AwsError, DataIssue, InputError
from torinvest.grouping import TIMELINE_BUCKETS, bucket_origin, pick_bucket
from torinvest.schema import SENSITIVE_COLUMNS, utc_timestamp
from torinvest.sources.logs import ACCOUNT_RE, KnownRegions
from torinvest.sources.logs.coverage import window_days
from torinvest.sources.records import (
    MAX_DERIVED_ROUNDS,
    DerivedKey,
    early_use_issues,
    follow_minted,
    frame_from_tables,
    unfollowed_issue,
    unknown_mint_issue,
    unrecorded_issue,
    untimed_issue,
)
from torinvest.sources.records.origin import mints_of, own_rows
from torinvest.sources.sql.archived import unseen_in_table
from torinvest.sources.sql.engine import (
    Aggregates,
    Engine,
    SqlResult,
    _events_piece,
    _frame,
    _run,
)
from torinvest.sources.sql.frames import (
    _UTC,
    _ip_rows,
    _per_address,
    _per_ip_frame,
    _rollup_frames,
    _shared_spellings,
    _timeline_frame,
)
from torinvest.sources.sql.frames import per_ip_from_rollup as per_ip_from_rollup
from torinvest.sources.sql.projection import MFA_USED
from torinvest.sources.sql.queries import (
    MINTED_OUTPUT,
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
    watched_query,
)

log = logging.getLogger(__name__)


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
    account: str | None = None,
    known: KnownRegions | None = None,
) -> SqlResult:
    """The events frame through ``engine``: the same columns, dtypes and rows as
    :func:`~torinvest.sources.logs.load_logs` with the same arguments (``source`` is the
    engine's name). ``follow_derived`` re-queries for keys minted by the keys, as load_logs
    re-reads the files (:data:`~torinvest.sources.records.MAX_DERIVED_ROUNDS` rounds at most).

    ``max_rows``: when the rows matched are more than this, the activity is counted in the
    engine instead, as :func:`aggregate_sql` does: ``aggregates`` is set and ``frame`` holds
    only the sensitive calls (``catalogue``) and the trail calls that end a gap in the logging
    (:data:`~torinvest.catalogue.GAP_ENDING_CALLS`). An engine that counts first (DuckDB, Athena) runs
    a count (span) query before each events query; others ask for one more row than is left, so
    that no more than ``max_rows + 1`` rows are ever held. ``user_name`` keeps the calls of
    that user as LookupEvents' ``Username`` does (:func:`.user_filter`).

    ``account``: the account whose activity is sought (a finding's). When the engine can tell
    (Athena: one more query after the read, one record at most per region and UTC day of the
    window — :func:`_check_account`), the days and regions its table holds no record of (of
    that account, when given) are issues, and when no event of that account matched and the
    table holds none of its records, ``account_gap`` says where it could not look (a table of
    other accounts: "could not look", never "no events").

    ``known``: the regions the key is known to have called (a finding's), that the log files'
    coverage judges (:func:`~torinvest.sources.logs.load_logs`); they narrow nothing."""
    scope = make_scope(
        access_keys=access_keys,
        start=start,
        end=end,
        accounts=accounts,
        regions=regions,
        user_name=user_name,
        known=known,
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
        _check_account(engine, scope, result, account)
        _check_data_events(engine, scope, result, account)
        _check_unseen(engine, scope, result, account)
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
    if scope.keys:  # the records that minted the keys: who minted them, not their activity
        result.mints = mints_of(result.frame, scope.keys)
        result.frame = own_rows(result.frame, scope.keys | derived)
    result.issues += early_use_issues(result.frame, result.derived)
    _check_scanned(engine, scope, result)
    _check_account(engine, scope, result, account)
    _check_data_events(engine, scope, result, account)
    _check_unseen(engine, scope, result, account)
    log.info("%s: %d rows, %d issues", engine.name, len(result.frame), len(result.issues))
    return result


def console_sql(
    engine: Engine,
    users: Iterable[str],
    *,
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    regions: Iterable[str] | None = None,
    max_rows: int | None = None,
) -> SqlResult | None:
    """The console sign-ins (ConsoleLogin) of IAM ``users`` and their console sessions' calls
    (``sessionCredentialFromConsole``: :func:`~.queries.console_filter`) in the window, as the
    file loader's pass for them reads them: one events query (and its count, before it, on an
    engine that counts first); ``derived`` NA, no key being followed. None when they are more
    than ``max_rows`` (not loaded: the caller says they were not read)."""
    scope = make_scope(start=start, end=end, regions=regions, console=users)
    if max_rows is not None and max_rows < 0:
        raise InputError(f"invalid row limit {max_rows}", hint="a limit of 0 rows or more")
    result = SqlResult(pd.DataFrame(), engine.name)
    try:
        pieces = _load_pieces(engine, scope, result, False, max_rows)
    except _TooManyRows:
        return None
    for piece in pieces:
        result.issues += untimed_issues(piece)
    result.frame = frame_from_tables(pieces, consume=True, issues=result.issues)
    return result


def watched_sql(
    engine: Engine,
    names: Iterable[str],
    *,
    keys: Iterable[str],
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    regions: Iterable[str] | None = None,
    max_rows: int | None = None,
) -> SqlResult | None:
    """The calls of ``names`` made by anyone else than ``keys`` (the key and the keys it
    minted) in the window — what ``load_logs(watch=…)`` reads apart, the same rows: one events
    query narrowed to those names (:func:`~.queries.watched_query`), at most ``max_rows + 1``
    rows; ``derived`` NA. None when they are more than ``max_rows`` (not loaded: the caller
    says they were not read)."""
    scope = make_scope(start=start, end=end, regions=regions)
    if max_rows is not None and max_rows < 0:
        raise InputError(f"invalid row limit {max_rows}", hint="a limit of 0 rows or more")
    result = SqlResult(pd.DataFrame(), engine.name)
    limit = None if max_rows is None else max_rows + 1
    out = engine.run(watched_query(scope, frozenset(names), limit=limit))
    result._add(out)
    if max_rows is not None and out.table.num_rows > max_rows:
        return None
    pieces = [_events_piece(out, engine.name)]
    result.issues += untimed_issues(pieces[0])
    frame = frame_from_tables(pieces, consume=True)
    mine = frame["access_key_id"].isin(list(keys)).fillna(False).to_numpy(dtype=bool)
    result.frame = frame[~mine].reset_index(drop=True) if mine.any() else frame
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


def _check_account(engine: Engine, scope: Scope, result: SqlResult, account: str | None) -> None:
    """What an engine that can tell (its ``coverage``: Athena) read holds, when it read data —
    one more query, one record at most per (region, UTC day) of the window, run whether events
    matched or not (a day the trail logged nothing beside days of events is as unread as any):

    - with an account sought (a finding's) and no event recorded in it (none at all, or only
      other accounts' — as the file loader judges its files), whether the table holds any
      record of that account in the window (``result.account_gap`` when none);
    - which regions asked (``--regions``) hold none, and per region, which UTC days of the
      window hold none (issues naming them, in the words the file loader uses for a trail
      folder without a region's folder or a day's log files). Without ``--regions`` the
      regions are those of the events read (of the account sought; any region when none):
      the probe cannot list the regions a table holds without reading it whole; the
      account's enabled regions and those the key is known to have called (``scope.known``:
      the finding's, as the file loader judges its folders) are asked over the whole window,
      one the table holds nothing of an issue (a known one saying why it was expected).

    Nothing read at all is said already (:func:`_check_scanned`); an account that is not 12
    digits is not asked for. Past :data:`~torinvest.sources.sql.athena.MAX_PROBES` cells it
    asks per region only, and a note says the days are not known."""
    coverage = getattr(engine, "coverage", None)
    if coverage is None or not result.queries or not result.bytes_scanned:
        return
    sought = account if account and ACCOUNT_RE.match(account) else None
    rows = result.frame
    if sought is not None and len(rows):
        rows = rows[rows["recipient_account_id"].astype("string").eq(sought).fillna(False)]
    has_events = sought is not None and bool(len(rows))  # its records are there
    probe = scope
    others: frozenset[str] = frozenset()
    enabled = ""
    if not scope.regions:
        regions = _regions_of(rows)
        if result.aggregates is not None and sought is None:  # the rows: sensitive calls only
            regions |= _regions_of(result.aggregates.by_region)
        probe = replace(scope, regions=frozenset(regions) or None)
        others, enabled = _enabled_regions(engine, result)
        others |= _known_regions(scope, sought)
    if (
        not window_days(scope.narrowing)
        and not scope.regions
        and not others
        and (sought is None or has_events)
    ):
        return  # no day of the window to ask about, nor a region or an account
    try:
        held, stats = coverage(probe, sought, others)
    except AwsError as e:  # a side check: what the queries read stays; what it asks, unknown
        result.issues.append(_coverage_failed(engine, probe, sought, e, others))
        return
    result.queries.append(stats)
    if sought is not None and not held and not has_events:
        result.account_gap = engine.account_missing(scope, sought)  # type: ignore[attr-defined]
        return
    asked = bool(scope.regions)
    gaps = engine.gaps(  # type: ignore[attr-defined]
        probe, held, sought, asked=asked, others=others, enabled=enabled, known=scope.known
    )
    for issue in gaps:
        if issue not in result.issues:
            result.issues.append(issue)
    note = engine.days_unprobed(probe)  # type: ignore[attr-defined]
    if note is not None and note not in result.notes:
        result.notes.append(note)


def _check_data_events(
    engine: Engine, scope: Scope, result: SqlResult, account: str | None
) -> None:
    """Whether the table an engine that can tell (its ``data_events``: Athena) read holds any
    data event in the window — of the account sought, any principal's: the trail records data
    events, or may not (``result.data_events``). Asked only when the queries read data (the
    table holds the account's records: :func:`_check_account` found them, or no account was
    sought). A query that fails is a side check: ``data_events_unknown`` says why."""
    probe = getattr(engine, "data_events", None)
    if probe is None or not result.queries or not result.bytes_scanned:
        return
    if result.account_gap is not None:
        return  # no record of the account: nothing to say of its trail's data events
    lacks = getattr(engine, "table_lacks", None)
    why = lacks("eventcategory") if lacks is not None else None
    if why is not None:  # a table from an older DDL: the question cannot be asked of it
        result.data_events_unknown = f"not asked: {why}"
        return
    sought = account if account and ACCOUNT_RE.match(account) else None
    try:
        found, stats = probe(scope, sought)
    except AwsError as e:
        result.data_events_unknown = f"the data-events query failed: {e.message}"
        return
    result.queries.append(stats)
    result.data_events = found
    if found is None:
        result.data_events_unknown = "the data-events query answered no row"


def _check_unseen(engine: Engine, scope: Scope, result: SqlResult, account: str | None) -> None:
    """An engine whose reads skip archived log files without a word, and read each object's
    current version only (Athena: its ``coverage``): the day folders its queries read are
    listed for log files archived in S3 Glacier, or deleted or rewritten in a bucket keeping
    versions (:func:`~torinvest.sources.sql.archived.unseen_in_table`), whether events
    matched or not — a half-archived day holds records. The regions: those asked, else those
    of the events read and the account's enabled ones; the accounts: those asked, else the one
    sought (else the table's projection says). Issues name them; a note says when they could
    not be looked for."""
    if getattr(engine, "coverage", None) is None or not result.queries:
        return
    regions = set(scope.regions or ())
    if not regions:
        regions = _regions_of(result.frame)
        if result.aggregates is not None:
            regions |= _regions_of(result.aggregates.by_region)
        with contextlib.suppress(AwsError):  # said by the coverage check: the events' regions
            regions |= set(engine.enabled_regions().names)  # type: ignore[attr-defined]
        regions |= _known_regions(scope, account if account and ACCOUNT_RE.match(account) else None)
    accounts = set(scope.accounts or ())
    if not accounts and account and ACCOUNT_RE.match(account):
        accounts = {account}
    issues, note = unseen_in_table(engine, scope.narrowing, regions, accounts)
    for issue in issues:
        if issue not in result.issues:
            result.issues.append(issue)
    if note is not None and note not in result.notes:
        result.notes.append(note)


def _regions_of(frame: pd.DataFrame) -> set[str]:
    """The region names in ``frame``'s ``aws_region`` (values not shaped as one left out)."""
    if "aws_region" not in frame.columns or not len(frame):
        return set()
    values = frame["aws_region"].dropna().astype("string").unique()
    return {str(v) for v in values if REGION_RE.match(str(v))}


def _known_regions(scope: Scope, sought: str | None) -> frozenset[str]:
    """The regions the key is known to have called (``scope.known``: the finding's) that a
    reading of every region (no ``--regions``) must find in the table as the file loader must
    find their folders — of the account sought, or of any account when none is
    (:meth:`~torinvest.sources.logs.KnownRegions.applies_to`)."""
    known = scope.known
    if known is None or scope.regions:
        return frozenset()
    if sought is not None and not known.applies_to(sought):
        return frozenset()
    return known.names


def _enabled_regions(engine: Engine, result: SqlResult) -> tuple[frozenset[str], str]:
    """The regions a key could have called that an engine reading every region (no
    ``--regions``) asks its table about — the account's enabled regions (its
    ``enabled_regions``: Athena) — and where that list came from. When they cannot be listed
    (credentials refused: the fallback list is not taken there), an issue says the regions
    other than those of the events read were not checked. Engines without it: none."""
    enabled_regions = getattr(engine, "enabled_regions", None)
    if enabled_regions is None:
        return frozenset(), ""
    try:
        listed = enabled_regions()
    except AwsError as e:
        result.issues.append(
            DataIssue(
                f"{engine.location} (regions)",  # type: ignore[attr-defined]
                f"the account's enabled regions could not be listed ({e.message}): whether the "
                "table holds the regions other than those of the events read is not known — "
                "where it holds none, the key's events, if any, were not read; name the "
                "regions with --regions to have each checked",
            )
        )
        return frozenset(), ""
    if listed.note and listed.note not in result.notes:
        result.notes.append(f"{engine.location}: {listed.note}")  # type: ignore[attr-defined]
    source = (
        "ec2:DescribeRegions"
        if listed.source == "ec2:DescribeRegions"
        else ("the partition's CloudTrail regions: the enabled ones could not be listed")
    )
    return frozenset(listed.names), source


def _coverage_failed(
    engine: Engine,
    scope: Scope,
    sought: str | None,
    e: AwsError,
    others: frozenset[str] = frozenset(),
) -> DataIssue:
    """The issue of a coverage query that failed (denied, a table error): the events the
    queries read are kept — the report was lost to a side check — and what it would have told
    (the account's records, regions and days the table holds) is not known."""
    asked = [f"account {sought}'s records"] if sought else []
    regions = sorted((scope.regions or frozenset()) | others)
    if regions:
        asked.append(f"region(s) {', '.join(regions)}")
    asked.append("the window's days")
    return DataIssue(
        f"{engine.location} (coverage)",  # type: ignore[attr-defined]
        f"the coverage query failed ({e.message}): whether the table holds "
        f"{'; '.join(asked)} is not known — where it holds none, events, if any, were not read",
    )


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

    def fetch(scope: Scope, mints: bool = False) -> pa.Table:
        """The scope's rows; ``mints``: the records that minted its keys too (counted by the
        span without them; within the LIMIT of an engine that does not count first)."""
        nonlocal left
        read = replace(scope, mints=True) if mints else scope
        if left is not None and count_first:
            if int(_span(engine, scope, result)["events"].iloc[0]) > left:
                raise _TooManyRows
            piece = _events(engine, read, result)
        else:
            piece = _events(engine, read, result, limit=left)
        if left is not None:
            left -= piece.num_rows
        return piece

    # the first read keeps the records that minted the keys too (who minted them): taken out
    # of the frame by load_sql; the span counted, and following minted keys, without them
    pieces = [fetch(scope, mints=scope.keys is not None)]
    if follow_derived:
        assert scope.keys is not None

        def fetch_minted(new: list[DerivedKey]) -> pd.DataFrame:
            pieces.append(fetch(scope.with_keys({d.access_key_id for d in new})))
            return frame_from_tables([pieces[-1]])

        first = own_rows(frame_from_tables([pieces[0]]), scope.keys)
        result.derived += follow_minted(first, scope.keys, fetch_minted, result.issues)
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
    if MFA_USED in out.table.column_names and MFA_USED not in out.unread:
        ids, mfa = (out.table.column(c).to_pylist() for c in ("event_id", MFA_USED))
        result.mfa_used.update(
            {i: m for i, m in zip(ids, mfa, strict=True) if i is not None and m is not None}
        )
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
    for n in range(MAX_DERIVED_ROUNDS + 1):  # as follow_minted does, from the minted rows
        rows = _minted_rows(engine, scope.with_keys(frontier), result)
        new: dict[str, DerivedKey] = {}
        for d in rows:
            if d.access_key_id not in known:
                new.setdefault(d.access_key_id, d)
        if not new:
            break
        if n == MAX_DERIVED_ROUNDS:
            result.issues.append(unfollowed_issue(list(new.values())))
            break
        found += new.values()
        frontier = set(new)
        known |= frontier
    return found


def _is_true(value: Any) -> bool:
    """A boolean cell (True, False, NA) is True."""
    return bool(pd.notna(value) and value)


def _minted_rows(engine: Engine, scope: Scope, result: SqlResult) -> list[DerivedKey]:
    """The keys the minted-keys query of ``scope`` finds (:func:`_derived_rows`), each issue
    naming the file (or Athena query) its event came from, as the file loader names it."""
    out = engine.run(minted_query(scope))
    result._add(out)
    frame = _frame(out)
    index = frame["file_index"].astype("Int64")
    origins = out.origins
    frame["origin"] = [
        origins[0]
        if len(origins) == 1
        else origins[int(i)]
        if pd.notna(i) and 0 <= int(i) < len(origins)
        else None
        for i in index
    ]
    return _derived_rows(frame, result.issues)


def _derived_rows(frame: pd.DataFrame, issues: list[DataIssue]) -> list[DerivedKey]:
    """The minted keys of a minted-keys query's rows; a value that is not an access key ID is
    an issue naming its event, not a key, and so is a mint whose key is not recorded. A key
    minted by a call of unknown outcome is a key (followed) and an issue saying it may not
    exist (:func:`~torinvest.sources.records.derived.unknown_mint_issue`), as the file loader
    says it."""

    def text(v: Any) -> str | None:
        return None if pd.isna(v) else str(v)

    missing = frame["access_key_id"].isna().to_numpy(dtype=bool)
    for row in frame[missing].itertuples(index=False):
        issue = unrecorded_issue(
            str(row.event_name),
            row.event_time,
            text(row.event_id),
            text(getattr(row, "origin", None)),
            text(row.role_arn),
            unknown=_is_true(row.outcome_unknown),
        )
        if issue not in issues:
            issues.append(issue)
    frame = frame[~missing]
    bad = ~frame["access_key_id"].map(is_access_key_id).astype(bool)
    for row in frame[bad].itertuples(index=False):
        field = "accessKey" if row.event_name == "CreateAccessKey" else "credentials"
        issue = DataIssue(
            "follow-derived",
            f"{row.event_name} event {text(row.event_id) or '(no eventID)'}: responseElements."
            f"{field}.accessKeyId {str(row.access_key_id)[:60]!r} is not an access key ID: "
            "not followed",
        )
        if issue not in issues:
            issues.append(issue)
    frame = frame[~bad]
    keys = []
    for row in frame.itertuples(index=False):
        key = DerivedKey(
            access_key_id=str(row.access_key_id),
            minted_by=text(row.minted_by),
            event_name=str(row.event_name),
            event_time=None if pd.isna(row.event_time) else row.event_time,
            event_id=text(row.event_id),
            source_ip=text(row.source_ip),
            role_arn=text(row.role_arn),
            expiration=text(row.expiration),
        )
        if _is_true(row.outcome_unknown):
            issue = unknown_mint_issue(key, text(getattr(row, "origin", None)))
            if issue not in issues:
                issues.append(issue)
        keys.append(key)
    return keys


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
    to :data:`~torinvest.sources.records.MAX_DERIVED_ROUNDS` rounds). ``frame``: access_key_id,
    minted_by, event_name, event_time, event_id, source_ip, role_arn, expiration; ``derived``:
    the same as :class:`~torinvest.sources.records.DerivedKey`, oldest first. A key named by a
    call of unknown outcome is among them, and an issue says it may not exist."""
    scope = make_scope(
        access_keys=access_keys, start=start, end=end, accounts=accounts, regions=regions
    )
    result = SqlResult(pd.DataFrame(), engine.name)
    if transitive:
        result.derived = _follow_minted(engine, scope, result)
    else:
        result.derived = list(
            {d.access_key_id: d for d in reversed(_minted_rows(engine, scope, result))}.values()
        )[::-1]
    columns = [c for c in MINTED_OUTPUT if c not in ("outcome_unknown", "file_index")]
    result.frame = pd.DataFrame([d.to_dict() for d in result.derived], columns=columns).astype(
        {c: "string" for c in columns if c != "event_time"}
    )
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


def ip_pivot_sql(
    engine: Engine,
    *,
    source_ips: Iterable[str],
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    known: KnownRegions | None = None,
) -> SqlResult:
    """Who called from ``source_ips`` in the window, every caller: one row per (access key, user
    name, ARN, account, source IP) with calls, failed, outcome_unknown (calls neither succeeded
    nor failed), first_seen and last_seen (the columns of
    :data:`~torinvest.sources.sql.queries.IP_PIVOT_OUTPUT`), computed in the engine by
    :func:`~torinvest.sources.sql.queries.ip_pivot_query`. ``known``: as :func:`load_sql`'s."""
    scope = make_scope(start=start, end=end, accounts=accounts, regions=regions, known=known)
    result = SqlResult(pd.DataFrame(), engine.name)
    ips = canonical_ips(source_ips)
    result.frame = _ip_rows(_run(engine, ip_pivot_query(scope, sorted(ips)), result), ips)
    return result


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
    default, and of :data:`~torinvest.catalogue.GAP_ENDING_CALLS`). Queries: the keys minted (``follow_derived``), the per-IP summary, the rollup
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
    # with the trail calls that end a gap in the logging (StartLogging…): the reading's span
    pieces = [_events(engine, scope, result, catalogue=with_gap_ending_calls(cat))]
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
