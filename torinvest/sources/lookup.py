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

import contextlib
import fcntl
import hashlib
import logging
import os
import random
import threading
import time
import weakref
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
@dataclass(slots=True)
class Slot:
    """One call as its :class:`Pacer` sees it: the start it was given, when its request left
    (None: not seen; the start stands for it), when its answer arrived (None: not yet)."""

    start: float
    sent: float | None = None
    answered: float | None = None

    @property
    def left(self) -> float:
        return self.start if self.sent is None else self.sent

    @property
    def round_trip(self) -> float | None:
        return None if self.answered is None else self.answered - self.left


class Pacer:
    """Keeps calls within ``rate`` per second as the server counts them: by the time each
    request *arrives*, over a sliding window.

    With ``C = rate × window`` calls allowed per window, a call may start once the call ``C``
    before it arrived at the server a full window ago. The client never sees arrival times, so
    they are bounded from what it measures, each call's round trip (request sent → answer back,
    stamped by :func:`lookup_client`'s hooks before botocore parses the answer):

    * **safe bound** — a request arrives before its answer comes back, so starting a window
      after the answer to the call ``C`` before is within the limit whatever the network does
      (a whole round trip lost per ``C`` calls: 0.3 s a second at 300 ms);
    * **measured bound** (once :data:`MIN_SAMPLES` round trips are known) — the fastest
      recent round trip (``floor``) is time every request spends on its way and at the server
      and every answer on its way back; the spread of the recent round trips (``jitter``, max
      − min) bounds how much faster than that one a request or an answer may travel. So a
      request arrives at the latest ``floor − jitter`` before its answer comes back, and after
      it left: a call may start ``floor − jitter`` earlier than the safe bound (never later).
      Both are measured on this pacer's own recent calls (:attr:`margins` keeps the margin
      each call was given over "a window after the call ``C`` before was sent"). The
      assumption: no request travels much faster than the recent ones did — a network whose
      one-way delay falls by more than its recent jitter from one call to the next can see a
      call refused, which the pacer then answers by keeping to the safe bound.

    A throttled call (:meth:`done` with ``throttled``) means the measured bound did not hold
    for this server: the pacer keeps to the safe bound from then on. Calls also start at
    least ``1/rate`` apart. Thread-safe: calls that share a pacer are reserved in order; a
    call whose bound depends on an answer still in flight waits for it.
    ``wait`` returns the call's :class:`Slot`; pass it to :meth:`sent` (optional) and
    :meth:`done` (``done()`` alone answers the oldest call still open).
    """

    #: The recent round trips the floor and the jitter are measured on, and how many are
    #: needed before the measured bound is used (2 was tried: on a machine loaded 6× over
    #: its cores, a few requests arrived up to 10 ms inside the window — the spread of two
    #: round trips is too thin a measure).
    SAMPLES = 16
    MIN_SAMPLES = 4
    #: Added to the measured bound: floating-point rounding of the clocks, so that a gap of
    #: exactly one window is never read as a hair under it (a microsecond; not a network guess).
    EPSILON = 1e-6

    def __init__(
        self,
        rate: float,
        *,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or window <= 0:
            raise ValueError(f"a pacer needs a positive rate and window, not {rate}/{window}")
        self.rate = rate
        self.capacity = max(1, int(rate * window + 1e-9))
        self.window = self.capacity / rate  # ≥ window: a rate under 1/window gets 1 call
        self.interval = 1.0 / rate
        self.safe = False
        self.margins: deque[float] = deque(maxlen=1000)
        self._slots: deque[Slot] = deque(maxlen=self.capacity)
        self._open: deque[Slot] = deque()
        self._round_trips: deque[float] = deque(maxlen=self.SAMPLES)
        self._next = 0.0
        self._reserving = threading.Lock()  # one reservation at a time (it may wait)
        self._state = threading.Condition()  # guards the rest; notified on each answer
        self._clock = clock
        self._sleep = sleep

    def wait(self) -> Slot:
        """Block until the next call may start; that call's slot."""
        with self._reserving, self._state:
            ref = self._slots[0] if len(self._slots) == self.capacity else None
            while ref is not None and ref.answered is None:
                self._state.wait()  # its answer bounds this start (every call ends in done)
            now = self._clock()
            at = max(now, self._next)
            if ref is not None:
                at = max(at, self._bound(ref))
            slot = Slot(at)
            self._slots.append(slot)
            self._open.append(slot)
            self._next = at + self.interval
        if at > now:
            self._sleep(at - now)
        return slot

    def _bound(self, ref: Slot) -> float:
        """The earliest start for the call ``capacity`` after ``ref`` (class docstring)."""
        assert ref.answered is not None
        safe = ref.answered + self.window
        if self.safe or len(self._round_trips) < self.MIN_SAMPLES:
            self.margins.append(safe - ref.left - self.window)
            return safe
        floor, jitter = min(self._round_trips), max(self._round_trips) - min(self._round_trips)
        bound = min(safe, ref.answered + self.window - floor + jitter + self.EPSILON)
        self.margins.append(bound - ref.left - self.window)
        return bound

    def sent(self, slot: Slot) -> None:
        """Record that the slot's request is leaving now (after it was signed)."""
        slot.sent = self._clock()

    def answered(self, slot: Slot) -> None:
        """Record that the slot's answer arrived now (before it is parsed)."""
        if slot.answered is None:
            slot.answered = self._clock()

    def done(self, slot: Slot | None = None, *, throttled: bool = False) -> None:
        """The call of ``slot`` (default: the oldest open one) is over; ``throttled``: the
        server refused it as over its rate (the pacer turns to the safe bound)."""
        with self._state:
            if slot is None:
                if not self._open:
                    return
                slot = self._open[0]
            with contextlib.suppress(ValueError):
                self._open.remove(slot)
            if slot.answered is None:
                slot.answered = self._clock()
            trip = slot.round_trip
            if trip is not None and trip >= 0:
                self._round_trips.append(trip)
            if throttled:
                self.safe = True
            self._state.notify_all()

    def push_back(self, seconds: float) -> None:
        with self._state:
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


_LOOKUP = "cloudtrail.LookupEvents"
#: The call on the wire in this thread: (pacer, slot), for the client hooks to stamp.
_ON_WIRE = threading.local()


def _stamp_sent(**_: Any) -> None:
    """botocore's before-send: the request leaves now (signed; retries are off)."""
    on_wire = getattr(_ON_WIRE, "call", None)
    if on_wire is not None:
        on_wire[0].sent(on_wire[1])


def _stamp_answered(**_: Any) -> None:
    """botocore's before-parse: the answer is here (parsing it is not the round trip)."""
    on_wire = getattr(_ON_WIRE, "call", None)
    if on_wire is not None:
        on_wire[0].answered(on_wire[1])


_CLIENTS: weakref.WeakKeyDictionary[Aws, dict[str, Any]] = weakref.WeakKeyDictionary()
_CLIENTS_LOCK = threading.Lock()


def lookup_client(aws: Aws, region: str) -> Any:
    """A CloudTrail client whose retries are handled here (pacing must stay exact), whose
    requests and answers are timed for the pacer; one per session and region."""
    with _CLIENTS_LOCK:
        clients = _CLIENTS.setdefault(aws, {})
        if region in clients:
            return clients[region]
    client = aws.client("cloudtrail", region, config=Config(retries={"total_max_attempts": 1}))
    client.meta.events.register(f"before-send.{_LOOKUP}", _stamp_sent)
    client.meta.events.register(f"before-parse.{_LOOKUP}", _stamp_answered)
    with _CLIENTS_LOCK:
        return _CLIENTS.setdefault(aws, {}).setdefault(region, client)


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
        params = query.params()
        if token:
            params["NextToken"] = token
        slot = pacer.wait()
        _ON_WIRE.call = (pacer, slot)
        try:
            resp = client.lookup_events(**params)
        except AWS_CALL_ERRORS as e:
            code = e.response.get("Error", {}).get("Code") if isinstance(e, ClientError) else None
            pacer.done(slot, throttled=code in _THROTTLE_CODES)
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
        except BaseException:
            pacer.done(slot)  # a call the pacer waits on always ends
            raise
        finally:
            _ON_WIRE.call = None
        pacer.done(slot)
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
