"""The records: where a list came from (:class:`ListSource`), the loaded lists and their
observations frame (:class:`ExitLists`) and the times they cover (:func:`coverage`), a refresh's
outcome; addresses and times.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from torinvest.addresses import canonical_ip
from torinvest.errors import DataIssue, InputError
from torinvest.schema import UTC_TIME, Column, utc_times

#: Default distance between an event and an observation for "the IP was an exit then".
DEFAULT_TOLERANCE = pd.Timedelta(hours=24)
#: The fewest distinct addresses a list must name — in the file, for a single list (TorDNSEL,
#: plain); on a UTC day, for an archive or an interval CSV — to vouch for the whole exit
#: population then, and so to rule Tor out. Real consensus exit lists name ~1,000–2,500 exits
#: a day (the bundled ones: 869 to 2,387); an IOC list or a hand-made case list names a few.
MIN_EXITS = 300
#: A single list (TorDNSEL, plain) that names fewer than this share of the IPv4 exits of the
#: single list nearest it in time (the larger of the nearest earlier and nearest later one) is
#: taken as cut short at the end of a line (:func:`short_lists`). Measured on the bundled history
#: (dan.me.uk's daily exits, 2018-03 → 2024-02): a day never names fewer than 0.70 of the largest
#: earlier day, nor 0.80 of the day before; lists of one day from different sources (TorDNSEL,
#: bulk, dan.me.uk) name 0.83–1.0 of each other's IPv4 exits.
SHORT_SHARE = 0.6
#: Formats of single lists (one snapshot): compared with each other by :func:`short_lists`.
SINGLE_FORMATS = frozenset({"tordnsel", "plain"})
#: Formats whose lists are read day by day for :data:`MIN_EXITS` (many snapshots in one list).
_PER_DAY_FORMATS = frozenset({"archive", "interval"})

EXIT_OBSERVATIONS_COLUMNS: tuple[Column, ...] = (
    Column("ip", "string", "exit address (IPv6 compressed, lower case)"),
    Column("first_seen", UTC_TIME, "start of the observation"),
    Column("last_seen", UTC_TIME, "end of the observation (== first_seen for a point)"),
    Column("list", "string", "list it came from: <kind>:<name>"),
)

ListKind = Literal["bundled", "case", "cache", "refreshed"]
ListFormat = Literal["tordnsel", "plain", "interval", "archive"]
#: What a list's addresses are (:attr:`ListSource.names`): ``exit_addresses``, the addresses
#: exits' traffic was measured leaving from (TorDNSEL's ``ExitAddress``: check.torproject.org's
#: exit-addresses and bulk exit list, CollecTor's exit lists); ``or_addresses``, relays named by
#: their OR address (dan.me.uk's lists, lists derived from the consensus or Onionoo's
#: ``or_addresses``) — an exit whose traffic leaves from another address is not in such a list.
ListNames = Literal["exit_addresses", "or_addresses"]
LIST_NAMES: tuple[str, ...] = ("exit_addresses", "or_addresses")
#: A plain list is taken as the measured bulk exit list only when its file name says so.
_BULK_NAME_RE = re.compile(r"bulk[-_]?exit[-_]?list", re.IGNORECASE)
#: An address family: 4 (IPv4) or 6 (IPv6).
Family = Literal[4, 6]
_DATE_RE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE = re.compile(rf"^{_OCTET}(?:\.{_OCTET}){{3}}\Z")
_US_PER_DAY = 86_400_000_000


class ExitListError(InputError):
    """A file that cannot be read as a Tor exit list (``path`` names it, ``problem`` says why)."""

    def __init__(self, path: str, problem: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {problem}", hint=hint)
        self.path = path
        self.problem = problem

    def issue(self, source: str) -> DataIssue:
        """This error as a data issue of ``source`` (the hint, if any, in parentheses)."""
        return DataIssue(source, f"{self.problem} ({self.hint})" if self.hint else self.problem)


# --------------------------------------------------------------------------------------------
# records
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ListSource:
    """One list that was loaded: where from, what kind, and the time its observations span.

    ``name`` is the value of the ``list`` column for its rows. ``upstream`` and ``licence`` are
    known for bundled lists (from ``INDEX.json``); ``ipv4``, of a single list (TorDNSEL, plain),
    how many distinct IPv4 addresses it names (what :func:`short_lists` compares).
    ``rules_out`` is the "may rule out" flag: False for a list known to be incomplete (a file
    cut short, see :func:`torinvest.tor.parsers.cut_short`), or taken as cut at the end of a
    line (it names far fewer exits than the list nearest it in time, :func:`short_lists`:
    ``short_of`` names that list): its addresses still mark IPs as Tor, but it never vouches
    for the exit population, whatever its size (:meth:`ExitLists.partial_sources`).
    ``names`` says what its addresses are (:data:`ListNames`, :func:`names_of`): where only
    lists of ``or_addresses`` rule Tor out, "not Tor" misses exits whose traffic leaves from
    another address than their OR address (:func:`~torinvest.tor.status.or_only`).
    """

    name: str
    kind: ListKind
    format: ListFormat
    path: str
    observations: int
    ips: int
    first_seen: pd.Timestamp
    last_seen: pd.Timestamp
    upstream: str | None = None
    licence: str | None = None
    rules_out: bool = True
    short_of: str | None = None
    ipv4: int | None = None
    names: ListNames = "exit_addresses"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "format": self.format,
            "path": self.path,
            "observations": self.observations,
            "ips": self.ips,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "upstream": self.upstream,
            "licence": self.licence,
            "rules_out": self.rules_out,
            "short_of": self.short_of,
            "ipv4": self.ipv4,
            "names": self.names,
        }


@dataclass(slots=True)
class ExitLists:
    """Exit-list observations (columns: :data:`EXIT_OBSERVATIONS_COLUMNS`) and what they came from.

    ``sources`` lists every list used; ``issues`` the files that could not be read; ``notes``
    what the analyst should know (e.g. that a refresh could not reach the network).
    """

    observations: pd.DataFrame = field(default_factory=lambda: _empty_observations())
    sources: list[ListSource] = field(default_factory=list)
    issues: list[DataIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: The floor of :data:`MIN_EXITS`: lists naming fewer distinct exits (in the file, or on a
    #: day of an archive or interval list) are partial: they can mark IPs as Tor, never rule it out.
    min_exits: int = MIN_EXITS
    _vouching: _Vouching | None = field(default=None, init=False, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.observations)

    def combine(self, *others: ExitLists) -> ExitLists:
        """These lists and ``others`` together (with this one's ``min_exits``)."""
        parts = [self, *others]
        return ExitLists(
            observations=_concat([p.observations for p in parts]),
            sources=[s for p in parts for s in p.sources],
            issues=[i for p in parts for i in p.issues],
            notes=[n for p in parts for n in p.notes],
            min_exits=self.min_exits,
        )

    def vouching(self) -> _Vouching:
        """The lists that vouch for no time (partial), and the times the others rule Tor out
        at (:func:`coverage`, per tolerance and address family); computed once per
        observations frame."""
        obs = self.observations
        mark = (id(obs), len(obs), self.min_exits)
        if self._vouching is None or self._vouching.mark != mark:
            self._vouching = _vouch(self, mark)
        return self._vouching

    def partial_sources(self) -> list[ListSource]:
        """The lists taken as partial: too few distinct exits (:data:`MIN_EXITS`) anywhere to
        vouch for the exit population, or cut short (``rules_out`` False): they can mark IPs as
        Tor, not rule Tor out."""
        partial = self.vouching().partial
        return [s for s in self.sources if s.name in partial]

    def observations_for(self, ip: str) -> pd.DataFrame:
        """Every observation of ``ip`` (any notation), oldest first."""
        norm = normalize_ip(ip)
        if norm is None:
            raise InputError(
                f"{str(ip)[:80]!r} is not an IP address",
                hint="pass an IPv4 or IPv6 address such as 185.220.101.34",
            )
        obs = self.observations
        rows = obs[(obs["ip"] == norm).fillna(False).to_numpy(dtype=bool)]
        return rows.sort_values(["first_seen", "list"], kind="stable").reset_index(drop=True)

    def coverage(
        self,
        *,
        tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE,
        family: Family = 4,
    ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """See :func:`coverage`."""
        return coverage(self, tolerance=tolerance, family=family)

    def sources_frame(self) -> pd.DataFrame:
        """One row per list used: kind, name, format, observations, IPs, first/last seen."""
        cols = ["kind", "name", "format", "observations", "ips", "first_seen", "last_seen"]
        cols += ["upstream", "licence", "path"]
        if not self.sources:
            return pd.DataFrame({c: pd.Series([], dtype="object") for c in cols})
        frame = pd.DataFrame([s.to_dict() for s in self.sources])[cols]
        for c in ("first_seen", "last_seen"):
            frame[c] = pd.to_datetime(frame[c], utc=True, format="ISO8601").dt.as_unit("us")
        return frame

    def describe(self) -> str:
        """Which lists were used, by kind, and the time they span (one line per kind); a kind
        with lists of relays' OR addresses (``names`` ``or_addresses``: dan.me.uk-style) says how
        many (:func:`_or_mark`): where only they rule Tor out, "not Tor" misses exits whose
        traffic leaves from another address."""
        if not self.sources:
            lines = ["no Tor exit list loaded: every tor status will be NA"]
        else:
            lines = []
            for kind in ("case", "refreshed", "cache", "bundled"):
                group = [s for s in self.sources if s.kind == kind]
                if group:
                    first = min(s.first_seen for s in group)
                    last = max(s.last_seen for s in group)
                    n_obs = sum(s.observations for s in group)
                    lines.append(
                        f"{kind}: {len(group)} list(s){_or_mark(group)}, {n_obs:,} observations, "
                        f"{_fmt(first)} → {_fmt(last)}"
                    )
            partial = self.partial_sources()
            lines += _partial_line([s for s in partial if s.rules_out], self.min_exits)
            lines += _cut_line([s for s in partial if not s.rules_out and not s.short_of])
            lines += _short_line([s for s in partial if s.short_of])
        lines += _issue_lines(self.issues, self.sources)
        return "\n".join([*lines, *self.notes])


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What :func:`refresh` did.

    ``ok``: the list asked for is in the cache at ``path`` (None otherwise); ``downloaded``: it
    was downloaded by this call (not already cached); ``note``: one line for the analyst.
    """

    ok: bool
    url: str
    path: Path | None
    note: str
    downloaded: bool = False


# --------------------------------------------------------------------------------------------
# addresses and times
# --------------------------------------------------------------------------------------------
def normalize_ip(value: object) -> str | None:
    """``value`` as a canonical IP string (:func:`torinvest.addresses.canonical_ip`: IPv6
    compressed, lower case, a zone dropped; IPv4-mapped IPv6 as IPv4), or None if not an IP."""
    if not isinstance(value, str):
        return None
    return _normalize_cached(value.strip())


@functools.lru_cache(maxsize=1 << 18)
def _normalize_cached(text: str) -> str | None:
    if _IPV4_RE.match(text):  # the common case, without ipaddress
        return text
    return canonical_ip(text)  # one reading of an address for the whole kit (a zone dropped)


def _utc_from_us(values: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(values, dtype="int64").astype("datetime64[us]")).tz_localize(
        "UTC"
    )


def _us(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """int64 microseconds since the epoch (UTC) and a mask of the non-missing values.

    Naive times are taken as UTC; text is parsed as ISO 8601 (unreadable text counts as missing).
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        s = series.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(series.dtype):
        s = series.dt.tz_localize("UTC")
    else:
        s = utc_times(series)
    s = s.dt.as_unit("us")
    ok = s.notna().to_numpy()
    return s.array.asi8.copy(), ok


def _check_tolerance(tolerance: pd.Timedelta | timedelta | str) -> int:
    """Tolerance in microseconds; InputError unless it is a duration >= 0."""
    try:
        tol = pd.Timedelta(tolerance)
    except (ValueError, TypeError):
        tol = pd.NaT
    if tol is pd.NaT or pd.isna(tol) or tol < pd.Timedelta(0):
        raise InputError(
            f"invalid tolerance {tolerance!r}",
            hint="pass a duration of zero or more, e.g. pd.Timedelta(hours=24) or '24h'",
        )
    return int(tol // pd.Timedelta(microseconds=1))


def _observed_span(observed: object, where: str) -> tuple[int, int]:
    """[first, last] in µs for a plain list's time: a date is its whole UTC day, a time a point."""
    if isinstance(observed, str):
        text = observed.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            observed = date.fromisoformat(text)
        else:
            try:
                observed = pd.Timestamp(text)
            except ValueError:
                raise ExitListError(where, f"unreadable list time {text[:40]!r}") from None
    if isinstance(observed, datetime):
        ts = pd.Timestamp(observed)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        t = _ts_us(ts)
        return t, t
    if isinstance(observed, date):
        start = _ts_us(pd.Timestamp(observed, tz="UTC"))
        return start, start + _US_PER_DAY - 1
    raise ExitListError(where, f"unreadable list time {observed!r}")


def _ts_us(ts: pd.Timestamp) -> int:
    """Microseconds since the epoch of a tz-aware timestamp."""
    return int(
        ts.tz_convert("UTC")
        .tz_localize(None)
        .to_datetime64()
        .astype("datetime64[us]")
        .view("int64")
    )


def _date_from_name(name: str) -> date | None:
    matches = _DATE_RE.findall(Path(name).name)
    if not matches:
        return None
    y, m, d = matches[-1]
    try:
        return date(int(y), int(m), int(d))
    except ValueError:
        return None


def names_of(fmt: ListFormat, file_name: str) -> ListNames:
    """What a list of format ``fmt`` read from ``file_name`` names (:data:`ListNames`), when
    nothing else says: a TorDNSEL list, or an archive of them (CollecTor), measured exit
    addresses; a plain list whose name says it is the bulk exit list
    (``torbulkexitlist``: check.torproject.org makes it from the measured addresses) too; any
    other plain list (dan.me.uk's, an IOC list: the content cannot tell) and an interval CSV
    (made from dan.me.uk's lists) relays' OR addresses — the weaker reading, so that "not Tor"
    never rests on more than it has."""
    if fmt in ("tordnsel", "archive"):
        return "exit_addresses"
    if fmt == "plain" and _BULK_NAME_RE.search(Path(file_name).name):
        return "exit_addresses"
    return "or_addresses"


def _fmt(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%d %H:%M")


# --------------------------------------------------------------------------------------------
# frames
# --------------------------------------------------------------------------------------------
def _empty_observations() -> pd.DataFrame:
    return _frame([], np.empty(0, "int64"), np.empty(0, "int64"), "")


def _frame(
    ips: list[str] | np.ndarray, first: np.ndarray, last: np.ndarray, list_name: str
) -> pd.DataFrame:
    n = len(ips)
    return pd.DataFrame(
        {
            "ip": pd.array(ips, dtype="string"),
            "first_seen": _utc_from_us(first),
            "last_seen": _utc_from_us(last),
            "list": pd.array([list_name] * n, dtype="string"),
        }
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty_observations()
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    return pd.concat(frames, ignore_index=True)


def _dedupe(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop_duplicates(["ip", "first_seen", "last_seen"]).reset_index(drop=True)


def _segments(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of the intervals [starts[i], ends[i]] as sorted disjoint [seg_start, seg_end]."""
    if not len(starts):
        return np.empty(0, "int64"), np.empty(0, "int64")
    order = np.argsort(starts, kind="stable")
    s = starts[order]
    reach = np.maximum.accumulate(ends[order])
    new = np.empty(len(s), dtype=bool)
    new[0] = True
    new[1:] = s[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.r_[first[1:] - 1, len(s) - 1]
    return s[first], reach[last]


def _padded(obs: pd.DataFrame, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """Every observation's [first - tol, last + tol] in µs (what can mark an IP as Tor), of an
    observations frame (:attr:`ExitLists.observations`)."""
    first = obs["first_seen"].dt.as_unit("us").array.asi8
    last = obs["last_seen"].dt.as_unit("us").array.asi8
    return first - tol, last + tol


def covered_segments(
    lists: ExitLists, tol: int, family: Family = 4, *, exit_addresses: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The times (µs, merged closed segments) the lists can rule Tor out at for addresses of
    ``family`` (4 or 6) with tolerance ``tol`` µs: see :func:`coverage`. ``exit_addresses``:
    by the lists that name measured exit addresses only (:attr:`ListSource.names`)."""
    return lists.vouching().segments(lists, tol, family, exit_addresses=exit_addresses)


def coverage(
    lists: ExitLists,
    *,
    tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE,
    family: Family = 4,
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The time ranges where :func:`tor_status` can answer False for an address of ``family``
    (4: IPv4, 6: IPv6; elsewhere a listed IP is True and every other NA), merged, sorted.

    A list rules Tor out at T only where a positive match of every exit it lists would hold
    at T too; tolerance pads positive matches, never the span where Tor is ruled out:

    * a single list (a TorDNSEL snapshot, a bulk or dan.me.uk list): where *every* address it
      names has an observation within ``tolerance`` of T, and within the span the list observes
      (its oldest to its newest observation). For a TorDNSEL snapshot, whose addresses were
      tested at different times, that is T within ``tolerance`` of both its oldest and its
      newest observation (empty when they are more than ``tolerance`` apart); for a dated bulk
      list, its UTC day;
    * an interval list: its observations (unpadded) on the UTC days it names enough exits;
    * an archive of snapshots: the UTC days it names enough exits, from its oldest to its
      newest observation (unpadded).

    A list counts for a family only where it names :attr:`ExitLists.min_exits` distinct
    addresses of that family (in the file, or on the day): a list of IPv4 exits says nothing
    about IPv6 sources.
    """
    starts, ends = covered_segments(lists, _check_tolerance(tolerance), family)
    return list(zip(_utc_from_us(starts), _utc_from_us(ends), strict=True))


# --------------------------------------------------------------------------------------------
# vouching: which lists can rule Tor out, and when
# --------------------------------------------------------------------------------------------
def ipv4_count(frame: pd.DataFrame) -> int:
    """How many distinct IPv4 addresses an observations frame names."""
    v4 = ~frame["ip"].str.contains(":", regex=False).fillna(True).to_numpy(dtype=bool)
    return int(frame["ip"][v4].nunique())


def short_lists(lists: ExitLists) -> dict[str, tuple[ListSource, int, int]]:
    """The single lists (TorDNSEL, plain) taken as cut short at the end of a line — a cut that
    :func:`~torinvest.tor.parsers.cut_short` cannot see —: name → (the list it is compared
    with, its IPv4 exits, that list's).

    Each single list that may rule Tor out (``rules_out``, at least :attr:`ExitLists.min_exits`
    distinct IPv4 addresses) is compared with the others of that kind nearest it in time (by
    newest observation: the nearest earlier and the nearest later one, whichever names more
    IPv4 exits): naming fewer than :data:`SHORT_SHARE` of that list's, it is taken as cut. IPv4
    addresses are counted because lists differ most in the IPv6 ones (dan.me.uk's list names
    them, TorDNSEL's and the bulk list seldom do).
    """
    floor = lists.min_exits
    single = [s for s in lists.sources if s.format in SINGLE_FORMATS and s.rules_out]
    if len(single) < 2:
        return {}
    counts = {s.name: s.ipv4 for s in single if s.ipv4 is not None}
    uncounted = {s.name for s in single} - set(counts)
    if uncounted:  # sources made by hand: counted from their rows
        obs = lists.observations
        rows = obs[obs["list"].isin(uncounted).fillna(False).to_numpy(dtype=bool)]
        for name, group in rows.groupby("list", observed=True):
            counts[str(name)] = ipv4_count(group)
    whole = [s for s in single if counts.get(s.name, 0) >= floor]
    at: dict[pd.Timestamp, list[ListSource]] = {}
    for s in sorted(whole, key=lambda r: r.last_seen):
        at.setdefault(s.last_seen, []).append(s)
    times = list(at)
    short: dict[str, tuple[ListSource, int, int]] = {}
    for i, when in enumerate(times):
        before = at[times[i - 1]] if i else []
        after = at[times[i + 1]] if i + 1 < len(times) else []
        for s in at[when]:
            # the nearest earlier: others of the same time, else the time before; the next later
            near = ([r for r in at[when] if r is not s] or before) + after
            if not near:
                continue
            ref = max(near, key=lambda r: counts[r.name])
            if counts[s.name] < SHORT_SHARE * counts[ref.name]:
                short[s.name] = (ref, int(counts[s.name]), int(counts[ref.name]))
    return short


@dataclass(frozen=True, slots=True)
class _Vouching:
    """The names of partial lists, and the covered segments per (tolerance, family), computed
    once each per observations frame."""

    partial: frozenset[str]
    mark: tuple[int, int, int]
    _segments: dict[tuple[int, int, bool], tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict
    )
    _per_list: dict[tuple[int, int], dict[str, tuple[np.ndarray, np.ndarray]]] = field(
        default_factory=dict
    )
    #: per tolerance: what :func:`~torinvest.tor.status.tor_status` matches rows against (each
    #: listed address's padded observations), built once for every frame asked about
    observed: dict[int, Any] = field(default_factory=dict)
    #: the observations' columns every question reads (:func:`_columns`), read once
    columns: dict[str, Any] = field(default_factory=dict)

    def segments(
        self, lists: ExitLists, tol: int, family: Family, *, exit_addresses: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Merged closed µs segments where ``lists`` rule Tor out for ``family`` (see
        :func:`coverage`); ``exit_addresses``: by lists of measured exit addresses only (each
        list's segments computed once, merged per question)."""
        key = (tol, family, exit_addresses)
        if key not in self._segments:
            if (tol, family) not in self._per_list:
                self._per_list[(tol, family)] = _vouched_segments(lists, tol, family, self.columns)
            per_list = self._per_list[(tol, family)]
            weak = {s.name for s in lists.sources if s.names != "exit_addresses"}
            # relays by OR address miss exits whose traffic leaves elsewhere
            kept = [v for n, v in per_list.items() if not (exit_addresses and n in weak)]
            empty = np.empty(0, "int64")
            self._segments[key] = _segments(
                np.concatenate([empty, *(s for s, _ in kept)]),
                np.concatenate([empty, *(e for _, e in kept)]),
            )
        return self._segments[key]


#: What one list says by itself — the UTC days a per-day list names ``min_exits`` addresses
#: on, the segments where it rules Tor out per tolerance and family (:func:`_vouched_segments`)
#: — by the list's :class:`ListSource` (the object, kept in the entry: the same object is the
#: same loaded rows), the question and the floor: the bundled history, loaded once per process,
#: is in every investigation's lists, and is not worked through again for each. The oldest
#: entries go past :data:`_KEPT_LISTS`.
_PER_LIST: dict[tuple[int, Any], tuple[ListSource, Any]] = {}
_KEPT_LISTS = 256
_PER_LIST_LOCK = threading.Lock()


def _per_list(source: ListSource | None, rows: int, question: tuple[Any, ...], answer: Any) -> Any:
    """What ``answer()`` says of one list, asked ``question``, from :data:`_PER_LIST` when the
    same list (``source``: the very object, naming ``rows`` observations, as many as the
    lists hold of it) was asked before; None for ``source``: a list without its own source
    (made by hand, or a name two sources share), asked afresh."""
    if source is None or rows != source.observations:
        return answer()
    key = (id(source), question)
    kept = _PER_LIST.get(key)
    if kept is not None and kept[0] is source:
        return kept[1]
    found = answer()
    with _PER_LIST_LOCK:  # investigations in threads: one change of the dict at a time
        _PER_LIST.pop(key, None)
        _PER_LIST[key] = (source, found)
        while len(_PER_LIST) > _KEPT_LISTS:
            del _PER_LIST[next(iter(_PER_LIST))]
    return found


def _sources_by_name(lists: ExitLists) -> dict[str, ListSource | None]:
    """Each list's source by name; None for a name that several sources share."""
    by_name: dict[str, ListSource | None] = {}
    for s in lists.sources:
        by_name[s.name] = None if s.name in by_name else s
    return by_name


def _columns(obs: pd.DataFrame, kept: dict[str, Any], name: str) -> Any:
    """One of the observations' columns as the vouching reads it, read once into ``kept``:
    ``first``/``last`` (µs), ``lists`` (each row's list code and the names), ``v6`` (rows of
    IPv6 addresses)."""
    if name not in kept:
        if name in ("first", "last"):
            column = obs["first_seen" if name == "first" else "last_seen"]
            kept[name] = column.dt.as_unit("us").array.asi8
        elif name == "lists":
            kept[name] = pd.factorize(obs["list"], use_na_sentinel=True)
        else:
            kept[name] = obs["ip"].str.contains(":", regex=False).fillna(False).to_numpy(bool)
    return kept[name]


def _vouch(lists: ExitLists, mark: tuple[int, int, int]) -> _Vouching:
    """The partial lists: a single list (TorDNSEL, plain) naming fewer than ``min_exits``
    distinct addresses, an archive or interval list naming that many on no UTC day."""
    obs = lists.observations
    if not len(obs):
        return _Vouching(frozenset(), mark)
    columns: dict[str, Any] = {}
    first, last = _columns(obs, columns, "first"), _columns(obs, columns, "last")
    floor = lists.min_exits
    per_day = {s.name for s in lists.sources if s.format in _PER_DAY_FORMATS}
    cut = {s.name for s in lists.sources if not s.rules_out}  # never vouch: partial
    # distinct addresses per single list: its source says; rows of no source are counted
    ips = {s.name: s.ips for s in lists.sources if s.name not in per_day}
    list_codes, names = _columns(obs, columns, "lists")
    sources = _sources_by_name(lists)
    partial: set[str] = set()
    for code, name in enumerate(map(str, names)):
        if name in cut:
            partial.add(name)
            continue
        rows = list_codes == code
        if name in per_day:

            def some_day(rows: np.ndarray = rows) -> bool:
                ip_codes, _ = pd.factorize(obs["ip"][rows], use_na_sentinel=True)
                d0, d1 = first[rows] // _US_PER_DAY, last[rows] // _US_PER_DAY
                return bool(len(_at_least(ip_codes, d0, d1, floor)[0]))

            said = _per_list(sources.get(name), int(rows.sum()), ("day", floor), some_day)
            count = floor if said else 0
        else:
            count = ips[name] if name in ips else int(obs["ip"][rows].nunique())
        if count < floor:
            partial.add(name)
    return _Vouching(frozenset(partial), mark, columns=columns)


def _vouched_segments(
    lists: ExitLists, tol: int, family: Family, columns: dict[str, Any] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per list (by name): the closed µs segments where it rules Tor out for ``family``
    (:func:`coverage`); lists that rule it out nowhere are left out. ``columns``: the
    observations' columns already read (:func:`_columns`)."""
    obs = lists.observations
    if not len(obs):
        return {}
    columns = {} if columns is None else columns
    v6 = _columns(obs, columns, "v6")
    fam = v6 if family == 6 else ~v6
    first, last = _columns(obs, columns, "first"), _columns(obs, columns, "last")
    floor = lists.min_exits
    formats = {s.name: s.format for s in lists.sources}
    cut = {s.name for s in lists.sources if not s.rules_out}  # a list cut short: never
    list_codes, names = _columns(obs, columns, "lists")
    sources = _sources_by_name(lists)
    per_list: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for code, name in enumerate(map(str, names)):
        if name in cut:
            continue
        mine = list_codes == code
        rows = mine & fam
        if not rows.any():
            continue
        kind = formats.get(name, "tordnsel")

        def segments(
            rows: np.ndarray = rows, kind: str = kind
        ) -> tuple[np.ndarray, np.ndarray] | None:
            ip_codes, uniques = pd.factorize(obs["ip"][rows], use_na_sentinel=True)
            f, lt = first[rows], last[rows]
            if kind == "interval":
                return _vouched_days(ip_codes, f, lt, floor)
            if kind == "archive":
                d0, d1 = _at_least(ip_codes, f // _US_PER_DAY, lt // _US_PER_DAY, floor)
                days = (d0 * _US_PER_DAY, (d1 + 1) * _US_PER_DAY - 1)
                return _intersect(days, (np.array([f.min()]), np.array([lt.max()])))
            if len(uniques) >= floor:
                # every address it names matches at T, within the span the list observes
                s, e = _at_least(ip_codes, f - tol, lt + tol, len(uniques))
                return _intersect((s, e), (np.array([f.min()]), np.array([lt.max()])))
            return None

        question = ("segments", kind, floor, tol, family)
        said = _per_list(sources.get(name), int(mine.sum()), question, segments)
        if said is not None:
            per_list[name] = said
    return per_list


def _vouched_days(
    ip_codes: np.ndarray, first: np.ndarray, last: np.ndarray, floor: int
) -> tuple[np.ndarray, np.ndarray]:
    """One interval list's observations clipped to the UTC days on which it names at least
    ``floor`` distinct addresses (closed µs segments, merged)."""
    d0, d1 = first // _US_PER_DAY, last // _US_PER_DAY
    day_start, day_end = _at_least(ip_codes, d0, d1, floor)
    if not len(day_start):
        return day_start, day_end
    days = (day_start * _US_PER_DAY, (day_end + 1) * _US_PER_DAY - 1)
    return _intersect(_segments(first, last), days)


def _at_least(
    codes: np.ndarray, lo: np.ndarray, hi: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """The closed segments (sorted, merged; in the unit of ``lo``/``hi``) where at least ``k``
    distinct ``codes`` have a span [lo, hi] covering the point: each code's overlapping spans
    merged first, so that it counts once."""
    empty = np.empty(0, "int64")
    if not len(codes) or k < 1:
        return empty, empty
    frame = pd.DataFrame({"code": codes, "lo": lo, "hi": hi}).sort_values(
        ["code", "lo"], kind="stable"
    )
    # one code's overlapping (or touching) spans merged, so that it counts once at any point
    reach = frame.groupby("code", sort=False)["hi"].cummax()
    before = reach.groupby(frame["code"], sort=False).shift()
    new = (before.isna() | (frame["lo"] > before + 1)).to_numpy()
    run = np.cumsum(new) - 1
    run_start = frame["lo"].to_numpy()[new]
    run_end = pd.Series(reach.to_numpy()).groupby(run).max().to_numpy()
    # a sweep: +1 where a run starts, -1 just after it ends
    points, inverse = np.unique(np.concatenate([run_start, run_end + 1]), return_inverse=True)
    delta = np.concatenate([np.ones(len(run_start)), -np.ones(len(run_end))])
    count = np.cumsum(np.bincount(inverse, weights=delta, minlength=len(points)))
    full = np.flatnonzero(count[:-1] >= k)
    if not len(full):
        return empty, empty
    # consecutive stretches [points[i], points[i + 1] - 1] merged into runs
    joined = np.r_[False, full[1:] == full[:-1] + 1]
    heads = full[~joined]
    tails = full[np.r_[~joined[1:], True]]
    return points[heads].astype("int64"), (points[tails + 1] - 1).astype("int64")


def _intersect(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """The intersection of two sets of sorted disjoint closed segments (µs)."""
    points = np.concatenate([a[0], a[1] + 1, b[0], b[1] + 1])
    delta = np.concatenate([np.ones(len(a[0])), -np.ones(len(a[1])), np.ones(len(b[0]))])
    delta = np.concatenate([delta, -np.ones(len(b[1]))])
    where, inverse = np.unique(points, return_inverse=True)
    count = np.cumsum(np.bincount(inverse, weights=delta, minlength=len(where)))
    both = np.flatnonzero(count[:-1] >= 2)
    return where[both], where[both + 1] - 1


#: How :meth:`ExitLists.describe` marks lists of relays' OR addresses.
OR_LISTS_WORDS = "of relays' OR addresses (dan.me.uk-style, not measured exit addresses)"


def _or_mark(group: list[ListSource]) -> str:
    """``, all of relays' OR addresses (…)`` or ``, N of relays' OR addresses (…)`` for a kind's
    line of :meth:`ExitLists.describe`, or nothing when none of ``group`` is."""
    n = sum(s.names == "or_addresses" for s in group)
    if not n:
        return ""
    return f", {'all' if n == len(group) else f'{n:,}'} {OR_LISTS_WORDS}"


def _partial_line(partial: list[ListSource], floor: int) -> list[str]:
    """'N list(s) taken as partial (…)' for :meth:`ExitLists.describe`, or nothing."""
    if not partial:
        return []
    ips = sum(s.ips for s in partial)
    names = ", ".join(s.name for s in partial[:3]) + (", …" if len(partial) > 3 else "")
    it = "it" if len(partial) == 1 else "they"
    return [
        f"{len(partial)} list{'s' if len(partial) > 1 else ''} taken as partial "
        f"({ips:,} address{'es' if ips != 1 else ''}, fewer than {floor:,} distinct exits in a "
        f"file or a day: {names}): "
        f"{it} can mark IPs as Tor, not rule Tor out"
    ]


def _cut_line(cut: list[ListSource]) -> list[str]:
    """'N list(s) cut short (…)' for :meth:`ExitLists.describe`, or nothing."""
    if not cut:
        return []
    names = ", ".join(s.name for s in cut[:3]) + (", …" if len(cut) > 3 else "")
    it = "it" if len(cut) == 1 else "they"
    return [
        f"{len(cut)} list{'s' if len(cut) > 1 else ''} cut short (the end of the file is "
        f"missing: {names}): {it} can mark IPs as Tor, not rule Tor out"
    ]


def _short_line(short: list[ListSource]) -> list[str]:
    """'N list(s) naming far fewer exits than …' for :meth:`ExitLists.describe`, or nothing."""
    if not short:
        return []
    names = "; ".join(f"{s.name}, vs {s.short_of}" for s in short[:3])
    names += "; …" if len(short) > 3 else ""
    it = "it" if len(short) == 1 else "they"
    return [
        f"{len(short)} list{'s' if len(short) > 1 else ''} taken as cut at the end of a line "
        f"(far fewer exits than the list nearest in time: {names}): {it} can mark IPs as Tor, "
        "not rule Tor out"
    ]


def _issue_lines(issues: list[DataIssue], sources: list[ListSource]) -> list[str]:
    """How many files could not be read, and how many were read with issues (lines skipped)."""
    if not issues:
        return []
    loaded = {s.path for s in sources}
    files = {_issue_file(i.source, loaded) for i in issues}
    read = len(files & loaded)
    lines = []
    if len(files) - read:
        lines.append(f"{len(files) - read} file(s) could not be read")
    if read:
        lines.append(f"{read} file(s) read with issues (some lines or observations not used)")
    return lines


def _issue_file(source: str, loaded: set[str]) -> str:
    """The file an issue is about: its source, or the loaded archive a ``archive:member`` is in."""
    if source in loaded:
        return source
    for path in loaded:
        if source.startswith(path + ":"):
            return path
    return source
