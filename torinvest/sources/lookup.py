"""CloudTrail LookupEvents: a key's management events in every region, at the documented rate.

LookupEvents answers one region at a time, with one lookup attribute per call, 50 events a page,
and at most 2 requests per second per account per region. This module:

* paces each (account, region) to that limit with a shared :class:`Pacer`, regions concurrently;
* handles ``ThrottlingException`` (and transient 5xx/connection errors) itself, backing off and
  resuming from the same ``NextToken`` — the client is built with botocore retries off for this
  one API so that the pacing stays exact;
* reports a region that fails (access denied, opt-in region disabled, endpoint error) as a
  :class:`~torinvest.errors.DataIssue`, keeping the pages it already had and saying the region is
  incomplete — never silently empty;
* caches pulled pages as parquet keyed by account/region/attribute, with the time intervals they
  cover, so a re-run or a wider window pulls only what it has not pulled before.

Fetch (:func:`fetch_pages`, talks to AWS) is separate from normalize
(:func:`torinvest.sources.records.normalize_records`, pure), which returns the events frame.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from tqdm import tqdm  # text bars on a terminal only (tqdm.auto would put widgets in reports)

from torinvest.aws import AWS_CALL_ERRORS, Aws, answer, translate_error
from torinvest.errors import AwsError, DataIssue, EndpointError, InputError
from torinvest.paths import cache_root
from torinvest.schema import time_window
from torinvest.sources.records import (
    MAX_DERIVED_DEPTH,
    DerivedKey,
    derived_keys,
    frame_from_tables,
    records_table,
)

log = logging.getLogger(__name__)

#: Documented limit: 2 LookupEvents requests per second per account per region.
LOOKUP_RATE_PER_REGION = 2.0
PAGE_SIZE = 50
#: IAM, STS and CloudFront events are recorded in us-east-1 (since Nov 2021).
GLOBAL_EVENTS_REGION = "us-east-1"
#: LookupEvents keeps 90 days of management events.
RETENTION = pd.Timedelta(days=90)
#: Events reach LookupEvents within about 15 minutes; a window ending later than now minus this
#: margin is pulled but not marked as covered in the cache.
DELIVERY_MARGIN = pd.Timedelta(minutes=20)
MAX_RETRIES = 8
BACKOFF_BASE = 0.5
BACKOFF_CAP = 20.0
ATTRIBUTES = ("AccessKeyId", "Username", "EventName", "EventSource", "ResourceName", "EventId")
_THROTTLE_CODES = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
_TRANSIENT_CODES = frozenset({"InternalFailure", "ServiceUnavailable", "InternalServerError"})


def default_cache_dir() -> Path:
    """The LookupEvents page cache lives under :func:`torinvest.paths.cache_root`."""
    return cache_root()


# --------------------------------------------------------------------------------------------
# pacing
# --------------------------------------------------------------------------------------------
class Pacer:
    """Keeps calls within ``rate`` per second, measured the way the server measures them.

    Two rules: calls start at least ``1/rate`` seconds apart (a hair slower than the limit), and
    a call starts only once ``window`` seconds have passed since the *answer* to the call
    ``rate × window`` calls before it. A request reaches the server before its answer comes
    back, so the second rule keeps any ``window``-second span at the server within the limit
    whatever the network delay. Thread-safe; :meth:`push_back` delays the next call (backoff).
    """

    def __init__(
        self,
        rate: float,
        *,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.interval = 1.0 / rate * 1.03
        self.window = window
        self._done: deque[float] = deque(maxlen=max(1, int(rate * window)))
        self._next = 0.0
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def wait(self) -> None:
        """Block until the next call may start, and reserve that start."""
        with self._lock:
            now = self._clock()
            at = max(now, self._next)
            if len(self._done) == self._done.maxlen:
                at = max(at, self._done[0] + self.window * 1.02)
            self._next = at + self.interval
        if at > now:
            self._sleep(at - now)

    def done(self) -> None:
        """Record that the answer to a call has arrived."""
        with self._lock:
            self._done.append(self._clock())

    def push_back(self, seconds: float) -> None:
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


_PACERS: dict[tuple[str, str], Pacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(account: str, region: str, rate: float = LOOKUP_RATE_PER_REGION) -> Pacer:
    """The process-wide pacer of one (account, region): every lookup there shares the limit."""
    with _PACERS_LOCK:
        key = (account, region)
        if key not in _PACERS or _PACERS[key].rate != rate:
            _PACERS[key] = Pacer(rate)
        return _PACERS[key]


# --------------------------------------------------------------------------------------------
# fetch
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Query:
    """One LookupEvents query: a single attribute and a time window (UTC)."""

    attribute: str
    value: str
    start: pd.Timestamp
    end: pd.Timestamp

    def __post_init__(self) -> None:
        if self.attribute not in ATTRIBUTES:
            raise InputError(
                f"unknown lookup attribute {self.attribute!r}",
                hint=f"use one of {', '.join(ATTRIBUTES)}",
            )
        if self.start > self.end:
            raise InputError(
                f"the window starts ({self.start}) after it ends ({self.end})",
                hint="swap --start and --end",
            )

    def params(self) -> dict[str, Any]:
        return {
            "LookupAttributes": [{"AttributeKey": self.attribute, "AttributeValue": self.value}],
            "StartTime": self.start.to_pydatetime(),
            "EndTime": self.end.to_pydatetime(),
            "MaxResults": PAGE_SIZE,
        }


class IncompleteRegion(AwsError):
    """A region stopped part-way: ``pages`` holds what had been pulled before the failure."""

    def __init__(self, cause: AwsError, pages: list[list[dict[str, Any]]]) -> None:
        super().__init__(
            f"{cause.message}; stopped after {len(pages)} page(s), results for this region are "
            "incomplete",
            hint=cause.hint,
            service="cloudtrail",
            region=cause.region,
            operation="LookupEvents",
            code=cause.code,
        )
        self.pages = pages


def lookup_client(aws: Aws, region: str) -> Any:
    """A CloudTrail client whose retries are handled here (pacing must stay exact)."""
    return aws.client("cloudtrail", region, config=Config(retries={"total_max_attempts": 1}))


def fetch_pages(
    client: Any,
    query: Query,
    pacer: Pacer,
    *,
    on_page: Callable[[int], None] | None = None,
    max_retries: int = MAX_RETRIES,
    backoff_base: float | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield each page of ``Events`` for ``query``, paced, resuming from the same token on throttles.

    Raises AwsError when the region refuses (access denied, not enabled) or after ``max_retries``
    throttles/transient errors in a row on one page.
    """
    region = client.meta.region_name
    token: str | None = None
    failures = 0
    while True:
        pacer.wait()
        params = query.params()
        if token:
            params["NextToken"] = token
        try:
            resp = client.lookup_events(**params)
        except AWS_CALL_ERRORS as e:
            pacer.done()
            code = e.response.get("Error", {}).get("Code") if isinstance(e, ClientError) else None
            status = (
                e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                if isinstance(e, ClientError)
                else 0
            )
            retryable = (
                code in _THROTTLE_CODES
                or code in _TRANSIENT_CODES
                or status >= 500
                or isinstance(e, BotoConnectionError)
            )
            if not retryable or failures >= max_retries:
                raise translate_error(
                    e, service="cloudtrail", region=region, operation="LookupEvents"
                ) from e
            base = BACKOFF_BASE if backoff_base is None else backoff_base
            delay = min(BACKOFF_CAP, base * 2**failures) * (0.5 + random.random() / 2)  # noqa: S311
            failures += 1
            log.info("lookup %s: %s, retry %d in %.2fs", region, code or e, failures, delay)
            pacer.push_back(delay)
            continue
        pacer.done()
        failures = 0
        events = _events_of(resp, region)
        if on_page:
            on_page(len(events))
        yield events
        token = resp.get("NextToken")
        if not token:
            return


OP = "LookupEvents"


def _events_of(resp: Any, region: str) -> list[dict[str, Any]]:
    """The ``Events`` of a LookupEvents answer, checked: an answer without them, or with an entry
    that is not an event object, is an EndpointError, never "no events"."""
    events = answer(resp, "Events", list, service="cloudtrail", region=region, operation=OP)
    for ev in events:
        if not isinstance(ev, dict):
            raise EndpointError(
                f"{OP} on cloudtrail in {region}: the answer's Events hold "
                f"{type(ev).__name__} ({str(ev)[:60]}), not events",
                hint="a proxy or a wrong AWS_ENDPOINT_URL may be answering instead of AWS",
                service="cloudtrail",
                region=region,
                operation=OP,
                code="IncompleteResponse",
            )
    return events


# --------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------
_CACHE_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_time", pa.timestamp("us", tz="UTC")),
        ("cloudtrail_event", pa.string()),
    ]
)


@dataclass(slots=True)
class PageCache:
    """Pulled LookupEvents results on disk, per account/region/attribute, with covered intervals.

    Layout: ``ROOT/lookup/<account>/<region>/<attribute>=<sha1 of value>/`` holding
    ``manifest.json`` (``{"value": …, "intervals": [[start, end, file], …]}``) and one parquet file
    per pulled interval (columns event_id, event_time, cloudtrail_event).
    """

    root: Path

    def folder(self, account: str, region: str, query: Query) -> Path:
        digest = hashlib.sha1(query.value.encode(), usedforsecurity=False).hexdigest()[:16]
        return self.root / "lookup" / account / region / f"{query.attribute}={digest}"

    @contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _manifest(self, folder: Path) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
        path = folder / "manifest.json"
        if not path.exists():
            return []
        try:
            data = orjson.loads(path.read_bytes())
            return [(pd.Timestamp(s), pd.Timestamp(e), f) for s, e, f in data["intervals"]]
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError):
            log.warning("cache manifest %s unreadable; ignoring the cache there", path)
            return []

    def gaps(
        self, account: str, region: str, query: Query
    ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """The parts of the query's window not covered by the cache."""
        covered = sorted((s, e) for s, e, _ in self._manifest(self.folder(account, region, query)))
        gaps: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        cursor = query.start
        for s, e in covered:
            if e <= cursor:
                continue
            if s > query.end:
                break
            if s > cursor:
                gaps.append((cursor, min(s, query.end)))
            cursor = max(cursor, e)
            if cursor >= query.end:
                break
        if cursor < query.end:
            gaps.append((cursor, query.end))
        return gaps

    def read(self, account: str, region: str, query: Query) -> list[str]:
        """Cached CloudTrailEvent JSON strings that fall in the query's window."""
        folder = self.folder(account, region, query)
        out: list[str] = []
        seen: set[str] = set()
        for s, e, name in self._manifest(folder):
            if e < query.start or s > query.end:
                continue
            table = pq.read_table(folder / name)
            times = table.column("event_time").to_pylist()
            ids = table.column("event_id").to_pylist()
            events = table.column("cloudtrail_event").to_pylist()
            for t, i, ev in zip(times, ids, events, strict=True):
                if query.start <= pd.Timestamp(t) <= query.end and i not in seen:
                    seen.add(i)
                    out.append(ev)
        return out

    def write(
        self,
        account: str,
        region: str,
        query: Query,
        start: pd.Timestamp,
        end: pd.Timestamp,
        events: list[dict[str, Any]],
    ) -> None:
        """Store the events pulled for [start, end] and mark that interval covered."""
        if not all(isinstance(e.get("EventTime"), datetime) for e in events):
            log.info("lookup %s: events without EventTime: this interval is not cached", region)
            return
        folder = self.folder(account, region, query)
        with self._locked(folder):
            name = f"{start.value}-{end.value}.parquet"
            table = pa.table(
                {
                    "event_id": [e.get("EventId") for e in events],
                    "event_time": [
                        pd.Timestamp(e["EventTime"]).tz_convert("UTC")
                        if pd.Timestamp(e["EventTime"]).tzinfo
                        else pd.Timestamp(e["EventTime"], tz="UTC")
                        for e in events
                    ],
                    "cloudtrail_event": [e.get("CloudTrailEvent") for e in events],
                },
                schema=_CACHE_SCHEMA,
            )
            tmp = folder / f".{name}.tmp"
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, folder / name)
            intervals = self._manifest(folder)
            intervals.append((start, end, name))
            manifest = {
                "value": query.value,
                "attribute": query.attribute,
                "intervals": [[s.isoformat(), e.isoformat(), f] for s, e, f in intervals],
            }
            tmp_m = folder / ".manifest.json.tmp"
            tmp_m.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
            os.replace(tmp_m, folder / "manifest.json")


# --------------------------------------------------------------------------------------------
# one region, all regions
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class RegionPull:
    """What one region gave: CloudTrailEvent JSON strings, pages pulled, cache use, problem."""

    region: str
    events: list[str] = field(default_factory=list)
    pages: int = 0
    pulled: int = 0
    cached: int = 0
    issue: DataIssue | None = None


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
) -> RegionPull:
    """Every event of ``query`` in one region: from the cache where covered, else LookupEvents."""
    out = RegionPull(region=region)
    gaps = cache.gaps(account, region, query) if cache else [(query.start, query.end)]
    if cache:
        out.events = cache.read(account, region, query)
        out.cached = len(out.events)
    client = lookup_client(aws, region)
    pacer = pacer_for(account, region, rate)
    horizon = (now or pd.Timestamp.now(tz="UTC")) - DELIVERY_MARGIN

    def on_page(n: int) -> None:
        out.pages += 1
        out.pulled += n
        if progress is not None:
            progress.update(n)
            progress.set_postfix_str(f"{region}: {out.pages} pages")

    for start, end in gaps:
        gap = Query(query.attribute, query.value, start, end)
        pages: list[list[dict[str, Any]]] = []
        try:
            for page in fetch_pages(client, gap, pacer, on_page=on_page):
                pages.append(page)
        except AwsError as e:
            got = [ev for p in pages for ev in p]
            out.events.extend(ev["CloudTrailEvent"] for ev in got if ev.get("CloudTrailEvent"))
            err = IncompleteRegion(e, pages) if pages or out.events else e
            out.issue = DataIssue.from_error(f"lookup:{region}", err)
            return out
        got = [ev for p in pages for ev in p]
        out.events.extend(ev["CloudTrailEvent"] for ev in got if ev.get("CloudTrailEvent"))
        if cache and start < horizon:
            cache.write(account, region, query, start, min(end, horizon), got)
    return out


def lookup_regions(aws: Aws, regions: Sequence[str] | None) -> list[str]:
    """The regions to search: those asked (or every enabled one), with us-east-1 always in."""
    names = list(aws.regions("cloudtrail", regions))
    if GLOBAL_EVENTS_REGION not in names and aws.partition == "aws":
        names.insert(0, GLOBAL_EVENTS_REGION)
    return names


def clamp_window(
    start: pd.Timestamp, end: pd.Timestamp, now: pd.Timestamp
) -> tuple[pd.Timestamp, pd.Timestamp, str | None]:
    """Clamp a window to LookupEvents' 90 days; return a note when it was cut."""
    floor = now - RETENTION
    if end < floor:
        raise InputError(
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


@dataclass(slots=True)
class LookupResult:
    """Events pulled with LookupEvents, as the events frame, and what kept it from complete.

    ``regions`` holds one :class:`RegionPull` per (region, query); ``issues`` one entry per region
    that failed or stopped early; ``derived`` the temporary keys minted by the key whose activity
    was pulled too; ``note`` says when the window was cut to LookupEvents' 90 days.
    """

    frame: pd.DataFrame
    issues: list[DataIssue] = field(default_factory=list)
    regions: list[RegionPull] = field(default_factory=list)
    derived: list[DerivedKey] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

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
    with tqdm(desc=f"LookupEvents {label}", unit="event", disable=None, leave=False) as bar:
        outcomes = aws.map_regions(
            lambda r: pull_region(
                aws, account, r, query, cache=cache, rate=rate, progress=bar, now=now
            ),
            regions,
        )
    pulls: list[RegionPull] = []
    for region, outcome in outcomes:
        if isinstance(outcome, BaseException):
            err = translate_error(outcome, service="cloudtrail", region=region)
            pulls.append(RegionPull(region, issue=DataIssue.from_error(f"lookup:{region}", err)))
        else:
            pulls.append(outcome)
    return pulls


def _tables(pulls: Sequence[RegionPull]) -> list[pa.Table]:
    tables = []
    for pull in pulls:
        records = [orjson.loads(text) for text in pull.events]
        tables.append(records_table(records, source="lookup", origin=f"lookup:{pull.region}"))
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
    in [start, end], in every region to search (us-east-1 always included).

    With ``follow_derived``, temporary keys minted by the key (GetSessionToken, AssumeRole,
    GetFederationToken) are looked up too, from their minting time, and flagged ``derived``.
    ``cache_dir=False`` turns the on-disk page cache off; ``None`` uses
    :func:`default_cache_dir`.
    """
    now = now or pd.Timestamp.now(tz="UTC")
    start, end = time_window(start, end, names=("start", "end"))
    if start is None or end is None:
        raise InputError("LookupEvents needs a start and an end", hint="pass start= and end=")
    start, end, note = clamp_window(start, end, now)
    names = lookup_regions(aws, regions)
    account = aws.account_id()
    cache = None if cache_dir is False else PageCache(cache_dir or default_cache_dir())
    result = LookupResult(frame=frame_from_tables([]), notes=[note] if note else [])
    query = Query(attribute, value, start, end)
    pulls = _pull_all(aws, account, names, query, cache=cache, rate=rate, label=value, now=now)
    tables = _tables(pulls)
    result.regions.extend(pulls)
    done = {value}
    derived: list[DerivedKey] = []
    if follow_derived:
        frontier = frame_from_tables(tables)
        for _ in range(MAX_DERIVED_DEPTH):
            new = [d for d in derived_keys(frontier, done) if d.access_key_id not in done]
            if not new:
                break
            round_tables: list[pa.Table] = []
            for d in new:
                done.add(d.access_key_id)
                q = Query("AccessKeyId", d.access_key_id, max(start, d.event_time or start), end)
                pulled = _pull_all(
                    aws, account, names, q, cache=cache, rate=rate, label=d.access_key_id, now=now
                )
                result.regions.extend(pulled)
                round_tables.extend(_tables(pulled))
            derived.extend(new)
            tables.extend(round_tables)
            frontier = frame_from_tables(round_tables)
    result.derived = derived
    result.frame = frame_from_tables(tables, derived_keys={d.access_key_id for d in derived})
    result.issues = [p.issue for p in result.regions if p.issue is not None]
    result.sources = [f"lookup:{r}" for r in names]
    log.info(
        "lookup %s: %d events, %d pages pulled, %d events from cache, %d issues",
        value,
        len(result.frame),
        result.pages,
        result.cached,
        len(result.issues),
    )
    return result
