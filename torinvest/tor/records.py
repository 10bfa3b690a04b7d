"""The records: where a list came from (:class:`ListSource`), the loaded lists and their
observations frame (:class:`ExitLists`) and the times they cover (:func:`coverage`), a refresh's
outcome; addresses and times.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from torinvest.errors import DataIssue, InputError
from torinvest.schema import UTC_TIME, Column

#: Default distance between an event and an observation for "the IP was an exit then".
DEFAULT_TOLERANCE = pd.Timedelta(hours=24)
#: The fewest distinct addresses a list must name — in the file, for a single list (TorDNSEL,
#: plain); on a UTC day, for an archive or an interval CSV — to vouch for the whole exit
#: population then, and so to rule Tor out. Real consensus exit lists name ~1,000–2,500 exits
#: a day (the bundled ones: 869 to 2,387); an IOC list or a hand-made case list names a few.
MIN_EXITS = 300
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
    known for bundled lists (from ``INDEX.json``). ``rules_out`` is the "may rule out" flag:
    False for a list known to be incomplete (a file cut short, see
    :func:`torinvest.tor.parsers.cut_short`): its addresses still mark IPs as Tor, but it never
    vouches for the exit population, whatever its size (:meth:`ExitLists.partial_sources`).
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
        """The times the lists vouch for the whole exit population (unpadded closed segments,
        µs) and the lists that vouch for none (partial); computed once per observations frame."""
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
        self, *, tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE
    ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """See :func:`coverage`."""
        return coverage(self, tolerance=tolerance)

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
        """Which lists were used, by kind, and the time they span (one line per kind)."""
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
                        f"{kind}: {len(group)} list(s), {n_obs:,} observations, "
                        f"{_fmt(first)} → {_fmt(last)}"
                    )
            partial = self.partial_sources()
            lines += _partial_line([s for s in partial if s.rules_out], self.min_exits)
            lines += _cut_line([s for s in partial if not s.rules_out])
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
    """``value`` as a canonical IP string (IPv6 compressed, lower case), or None if not an IP."""
    if not isinstance(value, str):
        return None
    return _normalize_cached(value.strip())


@functools.lru_cache(maxsize=1 << 18)
def _normalize_cached(text: str) -> str | None:
    if not text or len(text) > 64:
        return None
    if _IPV4_RE.match(text):
        return text
    try:
        addr = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return addr.compressed


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
        s = pd.to_datetime(series, utc=True, errors="coerce", format="ISO8601")
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


def _padded(lists: ExitLists, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """Every observation's [first - tol, last + tol] in µs (what can mark an IP as Tor)."""
    obs = lists.observations
    first = obs["first_seen"].dt.as_unit("us").array.asi8
    last = obs["last_seen"].dt.as_unit("us").array.asi8
    return first - tol, last + tol


def covered_segments(lists: ExitLists, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """The times (µs, merged closed segments) the lists can rule Tor out at: the vouched
    observations (:meth:`ExitLists.vouching`), each padded by ``tol``."""
    v = lists.vouching()
    return _segments(v.starts - tol, v.ends + tol)


def coverage(
    lists: ExitLists, *, tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The time ranges where :func:`tor_status` can answer False (elsewhere a listed IP is True
    and every other NA), merged, sorted.

    Only lists that vouch for the whole exit population count (:data:`MIN_EXITS`): each of
    their observations covers [first - tolerance, last + tolerance]; ``tolerance=0`` gives the
    spans the lists observe themselves.
    """
    starts, ends = covered_segments(lists, _check_tolerance(tolerance))
    return list(zip(_utc_from_us(starts), _utc_from_us(ends), strict=True))


# --------------------------------------------------------------------------------------------
# vouching: which lists can rule Tor out, and when
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Vouching:
    """Unpadded closed segments (µs) the lists vouch for, and the names of partial lists."""

    starts: np.ndarray
    ends: np.ndarray
    partial: frozenset[str]
    mark: tuple[int, int, int]


def _vouch(lists: ExitLists, mark: tuple[int, int, int]) -> _Vouching:
    """A single list (TorDNSEL, plain) vouches for every time it observes when it names
    ``min_exits`` distinct addresses; an archive or interval list for the UTC days on which it
    does (its observations clipped to those days)."""
    obs = lists.observations
    empty = np.empty(0, "int64")
    if not len(obs):
        return _Vouching(empty, empty, frozenset(), mark)
    first = obs["first_seen"].dt.as_unit("us").array.asi8
    last = obs["last_seen"].dt.as_unit("us").array.asi8
    floor = lists.min_exits
    per_day = {s.name for s in lists.sources if s.format in _PER_DAY_FORMATS}
    cut = {s.name for s in lists.sources if not s.rules_out}  # never vouch: partial
    # distinct addresses per single list: its source says; rows of no source are counted
    ips = {s.name: s.ips for s in lists.sources if s.name not in per_day}
    list_codes, names = pd.factorize(obs["list"], use_na_sentinel=True)
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    partial: set[str] = set()
    whole: list[int] = []
    for code, name in enumerate(map(str, names)):
        if name in cut:
            partial.add(name)
            continue
        if name not in per_day:
            rows = None if name in ips else list_codes == code
            count = ips[name] if rows is None else int(obs["ip"][rows].nunique())
            (whole.append(code) if count >= floor else partial.add(name))
            continue
        rows = list_codes == code
        s, e = _vouched_days(obs["ip"][rows], first[rows], last[rows], floor)
        if not len(s):
            partial.add(name)
        starts.append(s)
        ends.append(e)
    keep = np.isin(list_codes, whole)
    seg = _segments(np.concatenate([first[keep], *starts]), np.concatenate([last[keep], *ends]))
    return _Vouching(seg[0], seg[1], frozenset(partial), mark)


def _vouched_days(
    ips: pd.Series, first: np.ndarray, last: np.ndarray, floor: int
) -> tuple[np.ndarray, np.ndarray]:
    """One archive's or interval list's observations clipped to the UTC days on which it names
    at least ``floor`` distinct addresses (closed µs segments, not merged)."""
    ip_codes, _ = pd.factorize(ips, use_na_sentinel=True)
    d0, d1 = first // _US_PER_DAY, last // _US_PER_DAY
    day_start, day_end = _full_days(ip_codes, d0, d1, floor)
    if not len(day_start):
        return day_start, day_end
    # observations whose every day is full are kept whole (the usual case); others clipped
    j = np.searchsorted(day_start, d0, side="right") - 1
    inside = (j >= 0) & (d1 <= day_end[np.clip(j, 0, None)])
    a = _segments(first[~inside], last[~inside])
    days = (day_start * _US_PER_DAY, (day_end + 1) * _US_PER_DAY - 1)
    s, e = _intersect(a, days) if len(a[0]) else a
    return np.concatenate([first[inside], s]), np.concatenate([last[inside], e])


def _full_days(
    ip_codes: np.ndarray, d0: np.ndarray, d1: np.ndarray, floor: int
) -> tuple[np.ndarray, np.ndarray]:
    """The runs of UTC days (day numbers, closed, sorted, merged) on which at least ``floor``
    distinct addresses are observed: an observation counts on every day from ``d0`` to ``d1``,
    an address once a day."""
    frame = pd.DataFrame({"ip": ip_codes, "d0": d0, "d1": d1}).sort_values(
        ["ip", "d0"], kind="stable"
    )
    # one address's overlapping day ranges merged, so that it counts once a day
    reach = frame.groupby("ip", sort=False)["d1"].cummax()
    before = reach.groupby(frame["ip"], sort=False).shift()
    new = (before.isna() | (frame["d0"] > before)).to_numpy()
    run = np.cumsum(new) - 1
    run_start = frame["d0"].to_numpy()[new]
    run_end = pd.Series(reach.to_numpy()).groupby(run).max().to_numpy()
    # a sweep over the days: +1 where a run starts, -1 the day after it ends
    days, inverse = np.unique(np.concatenate([run_start, run_end + 1]), return_inverse=True)
    delta = np.concatenate([np.ones(len(run_start)), -np.ones(len(run_end))])
    count = np.cumsum(np.bincount(inverse, weights=delta, minlength=len(days)))
    full = np.flatnonzero(count[:-1] >= floor)
    if not len(full):
        return full, full
    # consecutive full stretches [days[i], days[i + 1] - 1] merged into runs
    joined = np.r_[False, full[1:] == full[:-1] + 1]
    heads = full[~joined]
    tails = full[np.r_[~joined[1:], True]]
    return days[heads], days[tails + 1] - 1


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
