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
    known for bundled lists (from ``INDEX.json``).
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

    def __len__(self) -> int:
        return len(self.observations)

    def combine(self, *others: ExitLists) -> ExitLists:
        """These lists and ``others`` together."""
        parts = [self, *others]
        return ExitLists(
            observations=_concat([p.observations for p in parts]),
            sources=[s for p in parts for s in p.sources],
            issues=[i for p in parts for i in p.issues],
            notes=[n for p in parts for n in p.notes],
        )

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
        if self.issues:
            lines.append(f"{len(self.issues)} file(s) could not be read (see .issues)")
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
    obs = lists.observations
    first = obs["first_seen"].dt.as_unit("us").array.asi8
    last = obs["last_seen"].dt.as_unit("us").array.asi8
    return first - tol, last + tol


def coverage(
    lists: ExitLists, *, tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The time ranges where :func:`tor_status` answers True/False (elsewhere NA), merged, sorted.

    Each observation covers [first - tolerance, last + tolerance]; ``tolerance=0`` gives the spans
    the lists observe themselves.
    """
    starts, ends = _segments(*_padded(lists, _check_tolerance(tolerance)))
    return list(zip(_utc_from_us(starts), _utc_from_us(ends), strict=True))
