"""One region, all regions (:func:`lookup_events`): regions pulled concurrently, each failure a
named issue, the pages to the events frame.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd
import pyarrow as pa
from tqdm import tqdm  # text bars on a terminal only (tqdm.auto would put widgets in reports)

from torinvest.aws import REPAIRED_KEY, Aws, global_regions_missing, translate_error
from torinvest.aws.ids import check_access_key_id
from torinvest.errors import AwsError, BeyondRetention, DataIssue, InputError
from torinvest.jsonread import JsonRepairs
from torinvest.jsonread import dumps as json_dumps
from torinvest.jsonread import loads as read_json
from torinvest.schema import iso_utc, time_window
from torinvest.sources.lookup.cache import PageCache, cache_rows, default_cache_dir
from torinvest.sources.lookup.fetch import IncompleteRegion, Query, fetch_pages, lookup_client
from torinvest.sources.lookup.pacer import (
    LOOKUP_RATE_PER_REGION,
    full_collections_deferred,
    pacer_for,
)
from torinvest.sources.records import (
    DerivedKey,
    cloudtrail_event_repairs,
    early_use_issues,
    filled_record,
    follow_minted,
    frame_from_tables,
    json_bytes,
    record_from_lookup_fields,
    records_table,
)

log = logging.getLogger(__name__)


#: IAM, STS and CloudFront events are recorded in us-east-1 (since Nov 2021) in the commercial
#: partition; other partitions: :func:`torinvest.aws.global_events_region`.
GLOBAL_EVENTS_REGION = "us-east-1"
#: LookupEvents keeps 90 days of management events.
RETENTION = pd.Timedelta(days=90)
#: Events reach LookupEvents within about 15 minutes; a window ending later than now minus this
#: margin is pulled but not marked as covered in the cache.
DELIVERY_MARGIN = pd.Timedelta(minutes=20)


# --------------------------------------------------------------------------------------------
# one region, all regions
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class RegionPull:
    """What one region gave: CloudTrailEvent JSON strings, pages pulled, cache use, problem."""

    region: str
    events: list[str] = field(default_factory=list)
    #: Arrow pieces (:func:`~torinvest.sources.records.records_table`) already made of the last
    #: of ``events``, as many as their rows: each page pulled, made in the region's thread as
    #: it came in, while the pacer held the next request (:func:`_tables` makes the rest: the
    #: cached events)
    tables: list[pa.Table] = field(default_factory=list)
    pages: int = 0
    pulled: int = 0
    cached: int = 0
    issue: DataIssue | None = None
    #: events whose CloudTrailEvent was unusable (kept from LookupEvents' own fields), named
    unusable: list[str] = field(default_factory=list)
    #: events whose CloudTrailEvent lacked fields LookupEvents lists beside it (filled), named
    filled: list[str] = field(default_factory=list)
    #: events whose CloudTrailEvent names another access key than the one looked up (left
    #: out: not the key's activity), named
    foreign: list[str] = field(default_factory=list)
    #: events whose CloudTrailEvent text was repaired to be read (lone surrogate escapes, NaN
    #: or Infinity: :func:`torinvest.jsonread.loads`), and what was repaired
    repaired: list[tuple[JsonRepairs, dict[str, Any]]] = field(default_factory=list)
    #: events of an answer whose own text was made valid (a lone surrogate escape in a field
    #: beside CloudTrailEvent, e.g. Username: :func:`torinvest.aws.answers.repair_answer`),
    #: and what was replaced in their page
    answer_repaired: list[tuple[JsonRepairs, dict[str, Any]]] = field(default_factory=list)

    @property
    def flawed(self) -> bool:
        """Whether an answer was not taken as given (a re-run pulls and names it again: such a
        window is not cached)."""
        return bool(
            self.unusable or self.filled or self.foreign or self.repaired or self.answer_repaired
        )


def pull_region(
    aws: Aws,
    account: str,
    region: str,
    query: Query,
    *,
    cache: PageCache | None,
    rate: float = LOOKUP_RATE_PER_REGION,
    progress: tqdm | None = None,
    now: pd.Timestamp | None = None,
    stop: threading.Event | None = None,
) -> RegionPull:
    """Every event of ``query`` in one region: from the cache where covered, else LookupEvents.

    A cache that cannot be read or written (another version's, damaged, on a full or read-only
    disk) is a miss, warned: it never costs the events pulled from AWS."""
    out = RegionPull(region=region)
    gaps = [(query.start, query.end)]
    if cache:
        out.events, gaps = _cache_lookup(cache, account, region, query)
        out.cached = len(out.events)
    client = lookup_client(aws, region)
    attempts = aws.configured_attempts()  # the chain's retries (AWS_MAX_ATTEMPTS…), or ours
    pacer = pacer_for(account, region, rate)
    horizon = (now or pd.Timestamp.now(tz="UTC")) - DELIVERY_MARGIN

    def on_page(n: int) -> None:
        out.pages += 1
        out.pulled += n
        if progress is not None:
            progress.update(n)
            progress.set_postfix_str(f"{region}: {out.pages} pages")

    for i, (start, end) in enumerate(gaps):
        gap = Query(query.attribute, query.value, start, end)
        pages: list[list[dict[str, Any]]] = []
        pieces: list[pa.Table] = []  # the pages' (joining out.tables with their events)
        rows: list[pa.Table | None] = []  # the pages' cache rows, made as pieces are
        try:
            for page in fetch_pages(
                client, gap, pacer, attempts=attempts, on_page=on_page, stop=stop
            ):
                records: list[dict[str, Any] | None] = []
                pages.append(_kept_events(page, query, out, records))
                pieces.append(_page_table(pages[-1], records, region))
                if cache:
                    rows.append(_cache_rows(pages[-1]))
        except AwsError as e:
            out.events.extend(ev["CloudTrailEvent"] for p in pages for ev in p)
            out.tables.extend(_joined(pieces))
            err = IncompleteRegion(e, pages) if pages or out.events else e
            unread = [(start, _oldest(pages) or end), *gaps[i + 1 :]]
            out.issue = DataIssue(f"lookup:{region}", f"{err}; {_unread_text(unread)}")
            return out
        got = [ev for p in pages for ev in p]
        out.events.extend(ev["CloudTrailEvent"] for ev in got)
        out.tables.extend(_joined(pieces))
        if cache and start < horizon and not out.flawed:  # re-pulled and re-named next run
            made = [r for r in rows if r is not None]
            table = pa.concat_tables(made) if made and len(made) == len(rows) else None
            span = (start, min(end, horizon))
            _cache_write(cache, account, region, query, span, got if table is None else table)
    return out


def _kept_events(
    page: list[dict[str, Any]],
    query: Query,
    pull: RegionPull,
    records: list[dict[str, Any] | None] | None = None,
) -> list[dict[str, Any]]:
    """The events of a page that are ``query``'s: in its window, each with a usable record
    (:func:`_usable_event`), none recorded with another access key than the one looked up
    (named in ``pull.foreign``: an answer that is not the key's is not the key's activity).
    ``records``, when given, gets for each event kept the record its ``CloudTrailEvent`` text
    was read into (None where that text was rewritten: repaired, filled, made of LookupEvents'
    own fields), so that the text is not read twice (:func:`_page_table`)."""
    kept = []
    for ev in page:
        outer = None
        if REPAIRED_KEY in ev:  # the answer's text was made valid where this event is
            ev = dict(ev)
            outer = ev.pop(REPAIRED_KEY)
        if not _in_window(ev, query):
            continue
        record, repairs = _as_record(ev.get("CloudTrailEvent"))
        other = _other_key(record, query) if isinstance(record, dict) else None
        if other is not None:
            pull.foreign.append(f"{ev.get('EventId')} ({ev.get('EventName')}): key {other}")
            continue
        if repairs and isinstance(record, dict):
            pull.repaired.append((repairs, record))  # kept as read: the repaired text
            ev = {**ev, "CloudTrailEvent": json_bytes(record).decode()}
        if outer is not None:
            pull.answer_repaired.append((outer, ev))
        usable = _usable_event(ev, record, pull)
        kept.append(usable)
        if records is not None:  # the text as read, unchanged: its record is the one read
            same = usable is ev and not repairs and isinstance(record, dict)
            records.append(record if same else None)
    return kept


def _page_table(
    page: list[dict[str, Any]], records: Sequence[dict[str, Any] | None], region: str
) -> pa.Table:
    """The Arrow piece of a page's kept events (:func:`_kept_events`), as :func:`_tables` makes
    it of their ``CloudTrailEvent`` texts: the records already read, the rewritten texts read
    (each a record: :func:`_usable_event`)."""
    rows = [
        r if r is not None else _as_record(ev["CloudTrailEvent"])[0]
        for ev, r in zip(page, records, strict=True)
    ]
    return records_table(rows, source="lookup", origin=f"lookup:{region}")


def _joined(pieces: list[pa.Table]) -> list[pa.Table]:
    """The pages' pieces as one table of one chunk (none when there is none): a frame of 200
    pages' pieces took 3–5× as long to make as one of a piece per region (measured: 0.15 s
    against 0.03–0.05 s for 10,000 events), the last step before the file is written."""
    return [pa.concat_tables(pieces).combine_chunks()] if pieces else []


def _other_key(record: dict[str, Any], query: Query) -> str | None:
    """The access key an event's record names when it is not the key looked up (None when the
    record names it, names none, or the query is not for a key)."""
    if query.attribute != "AccessKeyId":
        return None
    identity = record.get("userIdentity")
    key = identity.get("accessKeyId") if isinstance(identity, dict) else None
    if isinstance(key, str) and key and key != query.value:
        return key[:40]
    return None


def _in_window(ev: dict[str, Any], query: Query) -> bool:
    """Whether an event LookupEvents returned lies in the window asked (an endpoint that answers
    outside it is not trusted there: the cache, the log files and a re-run leave such events
    out too). One without a usable ``EventTime`` is kept."""
    when = ev.get("EventTime")
    if not isinstance(when, datetime):
        return True
    at = pd.Timestamp(when)
    if at.tzinfo is None:
        at = at.tz_localize("UTC")
    return bool(query.start <= at <= query.end)


def _oldest(pages: list[list[dict[str, Any]]]) -> pd.Timestamp | None:
    """The oldest ``EventTime`` of the pages pulled (LookupEvents answers newest first: what is
    older was not reached), None when there is none."""
    times = [
        ev["EventTime"] for p in pages for ev in p if isinstance(ev.get("EventTime"), datetime)
    ]
    return pd.Timestamp(min(times)) if times else None


def _unread_text(spans: Sequence[tuple[pd.Timestamp, pd.Timestamp]]) -> str:
    """The part of the window a region's failure left unread, as the issue says it."""
    said = ", ".join(f"{iso_utc(s)} to {iso_utc(e)}" for s, e in spans)
    return (
        f"not read: {said} (LookupEvents answers newest first; this region's events there are "
        "not in the results — run it again for them)"
    )


#: Errors of the cache's files (unreadable, another version's, a disk full or read-only).
_CACHE_ERRORS = (OSError, ValueError, TypeError, KeyError, pa.ArrowException)


def _cache_lookup(
    cache: PageCache, account: str, region: str, query: Query
) -> tuple[list[str], list[tuple[pd.Timestamp, pd.Timestamp]]]:
    """:meth:`PageCache.lookup`, or a miss (the whole window to pull, warned) when it fails."""
    try:
        return cache.lookup(account, region, query)
    except _CACHE_ERRORS as e:
        log.warning(
            "lookup %s: the page cache under %s could not be read (%s: %s); pulling the window",
            region,
            cache.root,
            type(e).__name__,
            str(e)[:160],
        )
        return [], [(query.start, query.end)]


def _cache_rows(page: list[dict[str, Any]]) -> pa.Table | None:
    """A page's rows for the cache (:func:`~torinvest.sources.lookup.cache.cache_rows`), made
    in the region's thread while the pacer holds the next request, so that the cache write
    after the last answer only joins and writes them; None when they cannot be made here (the
    write then makes them of the events, and says why it could not)."""
    try:
        return cache_rows(page)
    except _CACHE_ERRORS:
        return None


def _cache_write(
    cache: PageCache,
    account: str,
    region: str,
    query: Query,
    span: tuple[pd.Timestamp, pd.Timestamp],
    events: list[dict[str, Any]] | pa.Table,
) -> None:
    """:meth:`PageCache.write`; a failure is warned, the pulled events are kept all the same."""
    try:
        cache.write(account, region, query, span[0], span[1], events)
    except _CACHE_ERRORS as e:
        log.warning(
            "lookup %s: the page cache under %s could not be written (%s: %s); the events "
            "pulled are used, a re-run pulls them again",
            region,
            cache.root,
            type(e).__name__,
            str(e)[:160],
        )


def _usable_event(
    ev: dict[str, Any], why: dict[str, Any] | str, pull: RegionPull
) -> dict[str, Any]:
    """``ev`` with a ``CloudTrailEvent`` that is a JSON object. One that is missing, not JSON
    or not an object is replaced by a record made of the fields LookupEvents lists beside it
    (:func:`~torinvest.sources.records.record_from_lookup_fields`: the event is kept, never
    dropped, its outcome unknown) and noted in ``pull.unusable``. ``why``: the record
    (:func:`_as_record`), or why it is not one."""
    if isinstance(why, dict):
        return _filled_event(ev, why, pull)
    record = record_from_lookup_fields(ev, region=pull.region)
    pull.unusable.append(f"{ev.get('EventId')} ({ev.get('EventName')}): {why}")
    return {**ev, "CloudTrailEvent": json_dumps(record).decode()}


def _filled_event(ev: dict[str, Any], record: dict[str, Any], pull: RegionPull) -> dict[str, Any]:
    """``ev`` whose record lacks fields LookupEvents lists beside it (``{}``: no time, no ID):
    those filled from LookupEvents' own (its key too, when such a record names none; without an
    error code its outcome unknown: :func:`~torinvest.sources.records.filled_record`), and the
    event noted in ``pull.filled``; ``ev`` itself when nothing is missing (the usual case)."""
    filled, missing = filled_record(ev, record)
    if not missing:
        return ev
    pull.filled.append(f"{ev.get('EventId')} ({ev.get('EventName')}): no {missing}")
    return {**ev, "CloudTrailEvent": json_dumps(filled).decode()}


def _as_record(text: Any) -> tuple[dict[str, Any] | str, JsonRepairs]:
    """A ``CloudTrailEvent`` value as its record, or why it is not a usable one, and what had
    to be repaired to read it (:func:`torinvest.jsonread.loads`: lone surrogate escapes, NaN
    or Infinity — the record is kept, the issue says so)."""
    none = JsonRepairs()
    if not isinstance(text, str) or not text:
        return "its CloudTrailEvent is missing", none
    try:
        record, repairs = read_json(text)
    except orjson.JSONDecodeError:
        return "its CloudTrailEvent is not JSON", none
    if not isinstance(record, dict):
        return f"its CloudTrailEvent is a JSON {type(record).__name__}, not a record", none
    return record, repairs


def _unusable_issue(pull: RegionPull) -> DataIssue | None:
    """One issue naming a region's events whose CloudTrailEvent was unusable (first few)."""
    if not pull.unusable:
        return None
    shown = "; ".join(pull.unusable[:3]) + ("; …" if len(pull.unusable) > 3 else "")
    return DataIssue(
        f"lookup:{pull.region}",
        f"{len(pull.unusable)} event(s) LookupEvents returned without a usable CloudTrailEvent "
        f"({shown}): kept with only the fields LookupEvents lists beside it (time, name, "
        "source, key, user name) — their outcome (succeeded or failed: LookupEvents lists no "
        "error code), source IP, user agent, request and response are not known",
    )


def _answer_issues(pull: RegionPull) -> list[DataIssue]:
    """A region's issues of answers not taken as given: unusable records, records filled from
    LookupEvents' own fields, events recorded with another key (each: one issue, first few)."""
    issues = [i for i in (_unusable_issue(pull),) if i is not None]
    if pull.answer_repaired:
        every = JsonRepairs(
            tuple(
                o
                for r in {id(r): r for r, _ in pull.answer_repaired}.values()
                for o in r.surrogates
            )
        )
        events = [ev for _, ev in pull.answer_repaired]
        names = [f"event {ev.get('EventId')} ({ev.get('EventName')})" for ev in events]
        issues.append(
            DataIssue(
                f"lookup:{pull.region}",
                f"LookupEvents' answer: {every.issue_text(events, names)}",
            )
        )
    if pull.repaired:
        issues.append(
            DataIssue(
                f"lookup:{pull.region}",
                f"LookupEvents returned {cloudtrail_event_repairs(pull.repaired)}",
            )
        )
    if pull.filled:
        issues.append(
            DataIssue(
                f"lookup:{pull.region}",
                f"{len(pull.filled)} event(s) LookupEvents returned with a CloudTrailEvent "
                f"lacking fields it lists beside it ({_first(pull.filled)}): those were taken "
                "from LookupEvents' own (EventTime, EventId, EventName, EventSource, "
                "AccessKeyId); the rest "
                "of each record is as written — a record without an error code is of unknown "
                "outcome (a partial record's silence proves no success)",
            )
        )
    if pull.foreign:
        issues.append(
            DataIssue(
                f"lookup:{pull.region}",
                f"{len(pull.foreign)} event(s) LookupEvents returned for the key looked up "
                f"whose CloudTrailEvent names another access key ({_first(pull.foreign)}): left "
                "out — an answer that is not the key's is not the key's activity",
            )
        )
    return issues


def _first(named: Sequence[str]) -> str:
    return "; ".join(named[:3]) + ("; …" if len(named) > 3 else "")


def lookup_regions(aws: Aws, regions: Sequence[str] | None) -> list[str]:
    """The regions to search: those asked (or every enabled one), with the region where their
    partition records IAM and STS events always in (us-east-1; us-gov-west-1 in GovCloud,
    cn-north-1 in China: :func:`~torinvest.aws.regions.global_events_region`)."""
    names = list(aws.regions("cloudtrail", regions))
    return [*global_regions_missing(names), *names]


def clamp_window(
    start: pd.Timestamp, end: pd.Timestamp, now: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp, str | None]:
    """Clamp a window to LookupEvents' 90 days; return a note when it was cut."""
    floor = now - RETENTION
    if end < floor:
        raise BeyondRetention(
            f"the window ends {end:%Y-%m-%d}, more than 90 days ago: LookupEvents has no events "
            "that old",
            hint="load the trail's log files instead (--logs s3://bucket/prefix or a folder)",
        )
    if start < floor:
        return (
            floor,
            end,
            (
                f"LookupEvents keeps 90 days: the window was cut to start {floor:%Y-%m-%d %H:%M}Z; "
                "load the trail's log files for older events"
            ),
        )
    return start, end, None


#: What LookupEvents cannot answer yet when a window reaches the last minutes: a gap of the
#: reading (``events`` says it as a data issue, as it says the log files' own), never a note
#: beside a complete "no event".
RECENT_LOOKUP_NOTE = (
    f"the window reaches the last {int(DELIVERY_MARGIN.total_seconds() // 60)} minutes: events "
    "reach LookupEvents up to about 15 minutes after they happen, so the most recent ones may "
    "not have arrived yet (run it again later for them)"
)


def recent_notes(end: pd.Timestamp, now: pd.Timestamp) -> tuple[pd.Timestamp, list[str]]:
    """The window's end, never after now, and the notes a window reaching the last
    :data:`DELIVERY_MARGIN` needs: when its end was cut to now, and that the latest events may
    not have reached LookupEvents yet (so "no event" there is not "none happened")."""
    notes = []
    if end > now:
        notes.append(
            f"the window ends {iso_utc(end)}, after now: LookupEvents was asked up to now "
            f"({iso_utc(now.floor('s'))})"
        )
        end = now
    if end > now - DELIVERY_MARGIN:
        notes.append(RECENT_LOOKUP_NOTE)
    return end, notes


def _clients_made(aws: Aws, names: Sequence[str]) -> None:
    """Each region's LookupEvents client (:func:`lookup_client`, kept per session and region),
    made before the pulls start, while STS names the account (:meth:`Aws.account_id_soon`):
    building one costs 20–50 ms of CPU (botocore's models), in the time to the first request.
    A client that cannot be made here fails again in its region's pull, which says so."""
    for region in names:
        with contextlib.suppress(Exception):
            lookup_client(aws, region)


@dataclass(slots=True)
class LookupResult:
    """Events pulled with LookupEvents, as the events frame, and what kept it from complete.

    ``regions`` holds one :class:`RegionPull` per (region, query); ``issues`` one entry per region
    that failed or stopped early; ``sources`` the regions read (``lookup:<region>``, `` (partly)``
    added when only part of it could be), ``asked`` every region asked; ``derived`` the temporary keys minted by the key whose activity
    was pulled too; ``note`` says when the window was cut to LookupEvents' 90 days.
    """

    frame: pd.DataFrame
    issues: list[DataIssue] = field(default_factory=list)
    regions: list[RegionPull] = field(default_factory=list)
    derived: list[DerivedKey] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: every region asked (read or not), as ``lookup:<region>``; ``sources`` only those read
    asked: list[str] = field(default_factory=list)
    #: the account LookupEvents was asked in (the credentials'): it holds that account's
    #: CloudTrail only
    account: str | None = None

    @property
    def pages(self) -> int:
        return sum(p.pages for p in self.regions)

    @property
    def cached(self) -> int:
        return sum(p.cached for p in self.regions)


def _pull_all(
    aws: Aws,
    account: str,
    regions: Sequence[str],
    query: Query,
    *,
    cache: PageCache | None,
    rate: float,
    label: str,
    now: pd.Timestamp,
) -> list[RegionPull]:
    with (
        full_collections_deferred(),
        tqdm(desc=f"LookupEvents {label}", unit="event", disable=None, leave=False) as bar,
    ):
        stop = threading.Event()  # set on Ctrl-C: each region stops before its next call
        outcomes = aws.map_regions(
            lambda r: pull_region(
                aws, account, r, query, cache=cache, rate=rate, progress=bar, now=now, stop=stop
            ),
            regions,
            on_interrupt=stop.set,
        )
    pulls: list[RegionPull] = []
    for region, outcome in outcomes:
        if isinstance(outcome, BaseException):
            err = translate_error(outcome, service="cloudtrail", region=region)
            pulls.append(RegionPull(region, issue=DataIssue.from_error(f"lookup:{region}", err)))
        else:
            pulls.append(outcome)
    return pulls


#: Appended to a region's source when only part of it could be read (its issue says why).
PARTLY = " (partly)"


def read_sources(names: Sequence[str], pulls: Sequence[RegionPull]) -> list[str]:
    """``lookup:<region>`` for each region read: whole, or with :data:`PARTLY` when one of its
    pulls stopped part-way (pages or cached events kept) or failed beside one that was read. A
    region nothing could be read from is not a source read: its issue says why."""
    out: list[str] = []
    for name in names:
        mine = [p for p in pulls if p.region == name]
        failed = [p for p in mine if p.issue is not None]
        got = [p for p in mine if p.issue is None or p.pages or p.cached or p.events]
        if not got:
            continue
        out.append(f"lookup:{name}" + (PARTLY if failed else ""))
    return out


def _tables(pulls: Sequence[RegionPull], issues: list[DataIssue]) -> list[pa.Table]:
    """Each pull's records as tables, in the order of its events: those its pages were already
    made into (:attr:`RegionPull.tables`: the pages pulled) are taken as they are, the others
    (the cached events) read now. A cached text that is not a record (a cache written by an
    older version) is left out and named in ``issues``, never a crash."""
    tables = []
    for pull in pulls:
        records = []
        bad = 0
        made = sum(t.num_rows for t in pull.tables)
        for text in pull.events[: len(pull.events) - made]:
            record, _ = _as_record(text)  # a cached text was read whole when it was pulled
            if isinstance(record, dict):
                records.append(record)
            else:
                bad += 1
        if bad:
            issues.append(
                DataIssue(
                    f"lookup:{pull.region}",
                    f"{bad} cached event(s) are not CloudTrail records (a cache written by an "
                    "older version): left out; run again with --no-cache to pull them",
                )
            )
        tables.append(records_table(records, source="lookup", origin=f"lookup:{pull.region}"))
        tables.extend(pull.tables)
    return tables


def lookup_events(
    aws: Aws,
    value: str,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    regions: Sequence[str] | None = None,
    attribute: str = "AccessKeyId",
    follow_derived: bool = True,
    cache_dir: Path | Literal[False] | None = None,
    rate: float = LOOKUP_RATE_PER_REGION,
    now: pd.Timestamp | None = None,
) -> LookupResult:
    """Everything ``value`` (an access key ID, or a user name with ``attribute="Username"``) did
    in [start, end], in every region to search (its partition's global-events region always included:
    :func:`lookup_regions`).

    With ``follow_derived``, keys minted by the key (GetSessionToken, AssumeRole,
    GetFederationToken, CreateAccessKey) are looked up too, over the whole window as the log
    sources read them (a call before its key's mint is kept, and is a data issue), and flagged
    ``derived``; round after round, as :func:`~torinvest.sources.records.follow_minted` says.
    ``cache_dir=False`` turns the on-disk page cache off; ``None`` uses
    :func:`default_cache_dir`.
    """
    if attribute == "AccessKeyId":
        value = check_access_key_id(value, name="access key")
    now = now or pd.Timestamp.now(tz="UTC")
    start, end = time_window(start, end, names=("start", "end"), now=now)  # not in the future
    if start is None or end is None:
        raise InputError("LookupEvents needs a start and an end", hint="pass start= and end=")
    start, end, note = clamp_window(start, end, now)
    end, recent = recent_notes(end, now)
    query = Query(attribute, value, start, end)
    names = lookup_regions(aws, regions)
    aws.account_id_soon()  # STS answers while the regions' clients are made
    _clients_made(aws, names)
    account = aws.account_id()
    cache = None if cache_dir is False else PageCache(cache_dir or default_cache_dir())
    pulls = _pull_all(aws, account, names, query, cache=cache, rate=rate, label=value, now=now)
    result = LookupResult(  # its frame is made below, of the pulls' tables (an empty events
        # frame made here cost 20–45 ms, before the first request when it came first)
        frame=pd.DataFrame(),
        notes=[*([note] if note else []), *recent],
        account=account,
    )
    malformed: list[DataIssue] = []
    tables = _tables(pulls, malformed)
    result.regions.extend(pulls)
    derived: list[DerivedKey] = []
    if follow_derived:

        def fetch(new: list[DerivedKey]) -> pd.DataFrame:
            # from the window's start, not the mint time: the log sources keep a call made
            # before its key's mint (clock skew, a forged record) and so does this
            round_tables: list[pa.Table] = []
            for d in new:
                q = Query("AccessKeyId", d.access_key_id, start, end)
                pulled = _pull_all(
                    aws, account, names, q, cache=cache, rate=rate, label=d.access_key_id, now=now
                )
                result.regions.extend(pulled)
                round_tables.extend(_tables(pulled, malformed))
            tables.extend(round_tables)
            return frame_from_tables(round_tables)

        derived = follow_minted(frame_from_tables(tables), {value}, fetch, malformed)
    result.derived = derived
    result.frame = frame_from_tables(tables, derived_keys={d.access_key_id for d in derived})
    result.issues = [p.issue for p in result.regions if p.issue is not None]
    result.issues += [i for p in result.regions for i in _answer_issues(p)]
    result.issues += list(dict.fromkeys(malformed))
    result.issues += early_use_issues(result.frame, derived)
    result.sources = read_sources(names, result.regions)
    result.asked = [f"lookup:{r}" for r in names]
    log.info(
        "lookup %s: %d events, %d pages pulled, %d events from cache, %d issues",
        value,
        len(result.frame),
        result.pages,
        result.cached,
        len(result.issues),
    )
    return result
