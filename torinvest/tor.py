"""Tor exit lists as timed observations: load, refresh, and "was this IP a Tor exit at time T".

An exit list says that an address was a Tor exit at some time. Every list read here becomes rows
of one frame, :attr:`ExitLists.observations`:

=============  =====================  ==========================================================
column         dtype                  meaning
=============  =====================  ==========================================================
``ip``         string                 exit address, normalized (IPv6 compressed, lower case;
                                      IPv4-mapped IPv6 as IPv4)
``first_seen`` datetime64[us, UTC]    start of the observation
``last_seen``  datetime64[us, UTC]    end of the observation (== ``first_seen`` for a point)
``list``       string                 the list it came from: ``<kind>:<name>`` (see below)
=============  =====================  ==========================================================

How each format becomes observations:

* TorDNSEL / CollecTor exit lists (``ExitNode`` / ``Published`` / ``LastStatus`` /
  ``ExitAddress IP TIME``, with or without the ``@type tordnsel 1.0`` header, such as a saved
  https://check.torproject.org/exit-addresses): parsed with ``stem``; each ``ExitAddress`` line is a
  point observation at its own time.
* plain IP lists (the bulk exit list https://check.torproject.org/torbulkexitlist, dan.me.uk
  daily lists): one address per line, ``#`` comments skipped. The date comes from a ``YYYY-MM-DD``
  in the file name or is given (``observed=``). A date alone means "listed at some moment of that
  UTC day" and becomes the interval [00:00, 24:00) of the day; a full timestamp is a point.
* interval files, CSV ``ip,first_seen_utc,last_seen_utc[,n_snapshots]``: each row is an
  observation throughout [first, last].
* ``.gz`` / ``.xz`` / ``.bz2`` files of any of these, folders of them (searched recursively), and
  tar archives such as CollecTor's monthly ``exit-list-YYYY-MM.tar.xz`` (read member by member,
  nothing extracted to disk; an (address, time) repeated by consecutive hourly lists is kept once).
  TorDNSEL members of archives go through a line parser that keeps exactly what stem keeps (the
  tests compare them on every bundled list): stem needs ~30 s for a month of hourly lists, the
  line parser ~1 s.
* PROVENANCE*, LICENSE*, README*, COPYING*, NOTICE*, ``INDEX.json``, ``*.md``, ``*.rst`` and
  hidden files are skipped. A file that cannot be read becomes a
  :class:`~torinvest.errors.DataIssue` naming it (in an archive: ``archive:member``); the other
  files still load.

Where lists come from (``kind``, the prefix of ``list``): ``bundled`` (real historical lists
shipped in ``torinvest/data/tor``, described by its ``INDEX.json``), ``case`` (paths passed in,
e.g. a case's ``tor/`` folder), ``cache`` (lists in a cache folder), ``refreshed`` (the list that
:func:`refresh` downloaded in this run). :attr:`ExitLists.sources` says which were used and what
time each covers.

:func:`tor_status` answers, for every row of an events frame, with the rule of the run report:

* ``True``  the row's ``source_ip`` has an observation within ``tolerance`` of its ``event_time``
  (for an interval: ``first - tolerance <= t <= last + tolerance``);
* ``False`` the loaded lists cover ``t`` (some observation of any address is within
  ``tolerance`` of it) and do not list the address near it. An address that was an exit years
  before or after is ``False``. So is a source that is not an IP address (``AWS Internal``,
  ``iam.amazonaws.com``: AWS services calling on the principal's behalf, never Tor);
* ``NA``    no loaded list covers ``t``, or the row has no time or no source address.

The check is a sorted merge (``pandas.merge_asof`` by address, then ``numpy.searchsorted`` on
the merged coverage), not a loop over rows.
"""

from __future__ import annotations

import bz2
import csv
import functools
import gzip
import http.client
import io
import ipaddress
import json
import logging
import lzma
import os
import re
import ssl
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import stem.descriptor

from torinvest import __version__
from torinvest.errors import DataIssue, InputError
from torinvest.schema import UTC_TIME, Column

log = logging.getLogger(__name__)

#: Default distance between an event and an observation for "the IP was an exit then".
DEFAULT_TOLERANCE = pd.Timedelta(hours=24)
#: The current TorDNSEL exit list (measured exit addresses of the last ~24 hours).
EXIT_ADDRESSES_URL = "https://check.torproject.org/exit-addresses"
#: CollecTor's monthly archive of hourly exit lists.
COLLECTOR_ARCHIVE_URL = (
    "https://collector.torproject.org/archive/exit-lists/exit-list-{month}.tar.xz"
)
#: Seconds to wait for the network in :func:`refresh`.
DOWNLOAD_TIMEOUT = 30.0
TORDNSEL_TYPE = "tordnsel 1.0"

EXIT_OBSERVATIONS_COLUMNS: tuple[Column, ...] = (
    Column("ip", "string", "exit address (IPv6 compressed, lower case)"),
    Column("first_seen", UTC_TIME, "start of the observation"),
    Column("last_seen", UTC_TIME, "end of the observation (== first_seen for a point)"),
    Column("list", "string", "list it came from: <kind>:<name>"),
)

ListKind = Literal["bundled", "case", "cache", "refreshed"]
ListFormat = Literal["tordnsel", "plain", "interval", "archive"]
#: ``opener(request, timeout=seconds)`` returns a readable binary response usable in ``with``;
#: ``urllib.request.urlopen`` by default. Tests pass a fake.
Opener = Callable[..., Any]

BUNDLED_PACKAGE_DIR = ("data", "tor")
_ARCHIVE_SUFFIXES = (".tar", ".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz")
_DOC_NAME_RE = re.compile(r"^(provenance|licen[cs]e|readme|copying|notice)\b", re.IGNORECASE)
_DOC_SUFFIXES = (".md", ".rst")
_INDEX_NAME = "INDEX.json"
_DATE_RE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE = re.compile(rf"^{_OCTET}(?:\.{_OCTET}){{3}}\Z")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
# Patterns start with a literal newline (no ``^``) so that the regex engine can jump between
# candidates: 10x faster on a month of hourly lists. Run them on b"\n" + content.
_EXIT_ADDRESS_RE = re.compile(
    rb"\nExitAddress[ \t]+(\S+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)[ \t]*(?=\r?\n|\r?$)"
)
_EXIT_ADDRESS_LINE_RE = re.compile(rb"\nExitAddress(?=[ \t\r\n]|$)")
_EXIT_NODE_RE = re.compile(rb"\nExitNode(?=[ \t\r\n]|$)")
_GZIP_MAGIC = b"\x1f\x8b"
_XZ_MAGIC = b"\xfd7zXZ\x00"
_BZ2_MAGIC = re.compile(rb"^BZh[1-9]1AY&SY")
_BOM = b"\xef\xbb\xbf"
#: How much of a list is searched for a line that tells its format.
_SNIFF_BYTES = 1 << 20
_CHUNK = 1 << 16
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


# --------------------------------------------------------------------------------------------
# parsers: bytes → observations (and problems that did not stop the file)
# --------------------------------------------------------------------------------------------
#: Line numbers an issue names (the count says how many there are in all).
_LINE_EXAMPLES = 5
_TORDNSEL_TIME = rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
#: A well-formed TorDNSEL line (ExitAddress lines are checked further: address and time).
_TORDNSEL_LINE_RE = re.compile(
    rb"(?:@type \S.*|Downloaded " + _TORDNSEL_TIME + rb"|ExitNode [0-9A-Fa-f]{40}"
    rb"|(?:Published|LastStatus) "
    + _TORDNSEL_TIME
    + rb"|ExitAddress (\S+) ("
    + _TORDNSEL_TIME
    + rb")|#.*)?[ \t]*\r?"
)
_TORDNSEL_KEYWORDS = (
    b"\nExitNode ",
    b"\nExitAddress ",
    b"\nPublished ",
    b"\nLastStatus ",
    b"\n@type ",
    b"\nDownloaded ",
)


def skipped_lines_problem(
    count: int,
    total: int,
    why: str,
    lines: Iterable[int | str],
    first: str | None = None,
    *,
    unit: str = "lines",
) -> str:
    """The one problem a list with skipped lines reports: how many of how many, why, the first
    few line numbers and the first such line (``lines`` may be ``member:line`` in archives)."""
    shown = [str(n) for n in list(lines)[:_LINE_EXAMPLES]]
    more = "…" if count > len(shown) else ""
    where = f"line{'s' if count > 1 else ''} {', '.join(shown)}{more}"
    text = f"{count:,} of {total:,} {unit} skipped ({why}): {where}"
    return text + (f"; first: {first[:60]!r}" if first is not None else "")


def _line_count(data: bytes) -> int:
    if not data:
        return 0
    return data.count(b"\n") + (0 if data.endswith(b"\n") else 1)


@functools.lru_cache(maxsize=1 << 16)
def _exit_time_ok(text: bytes) -> bool:
    try:
        datetime.strptime(text.decode("ascii"), "%Y-%m-%d %H:%M:%S")
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _pair_ok(pair: tuple[bytes, bytes]) -> bool:
    return normalize_ip(pair[0].decode("ascii", "replace")) is not None and _exit_time_ok(pair[1])


def _tordnsel_bad_lines(data: bytes) -> tuple[list[int], str | None]:
    """Line numbers (1-based) of the lines a TorDNSEL parse skips, and the first such line:
    lines that are not TorDNSEL, ExitAddress lines before any ExitNode, and ExitAddress lines
    with an unreadable address or time."""
    bad: list[int] = []
    first: str | None = None
    in_node = False
    for number, line in enumerate(data.split(b"\n"), start=1):
        m = _TORDNSEL_LINE_RE.fullmatch(line)
        ok = m is not None
        if ok and line.startswith(b"ExitNode"):
            in_node = True
        elif ok and m is not None and m.group(1) is not None:
            ok = in_node and _pair_ok((m.group(1), m.group(2)))
        if not ok:
            bad.append(number)
            first = first if first is not None else line.decode("utf-8", "replace").strip()
    if data.endswith(b"\n") and bad and bad[-1] > _line_count(data):
        bad.pop()
    return bad, first


def _tordnsel_looks_clean(data: bytes, exit_lines: int, kept: int) -> bool:
    """Whether every line of a TorDNSEL list starts with a keyword and every ``ExitAddress``
    line (all ``exit_lines`` of them after the first ExitNode) was ``kept``: a test at C speed
    (byte counts) that spares clean lists of a month's archive the line-by-line scan."""
    text = b"\n" + data
    lines = text.count(b"\n") - (1 if text.endswith(b"\n") else 0)
    keyword_lines = sum(text.count(k) for k in _TORDNSEL_KEYWORDS)
    return kept == exit_lines == text.count(b"\nExitAddress") and keyword_lines == lines


def _tordnsel_problems(data: bytes, bad: list[int], first: str | None) -> list[str]:
    if not bad:
        return []
    why = "not a TorDNSEL line, or an unreadable address or time"
    return [skipped_lines_problem(len(bad), _line_count(data), why, bad, first)]


def parse_tordnsel(data: bytes, *, list_name: str) -> tuple[pd.DataFrame, list[str]]:
    """TorDNSEL / CollecTor exit list → one point observation per ``ExitAddress`` line.

    Parsed with ``stem`` (``descriptor_type='tordnsel 1.0'``); the ``@type`` header is optional.
    A line stem cannot read makes the line parser (:func:`_exit_address_pairs`, which keeps
    what stem keeps) read the file instead. Every line skipped — not a TorDNSEL line, an
    ``ExitAddress`` before any ``ExitNode``, an unreadable address or time — is counted in
    one problem with its line numbers. Raises :class:`ExitListError` when nothing in it is an
    exit address.
    """
    bad, first = _tordnsel_bad_lines(data)
    try:
        descriptors = list(
            stem.descriptor.parse_file(
                io.BytesIO(data), descriptor_type=TORDNSEL_TYPE, validate=False
            )
        )
    except (ValueError, TypeError):
        pairs, _ = _exit_address_pairs(data)
        frame, _ = _pairs_frame([p for p in pairs if _pair_ok(p)], list_name)
    else:
        ips: list[str] = []
        times: list[datetime] = []
        for desc in descriptors:
            for address, when in desc.exit_addresses:
                norm = normalize_ip(address)
                if norm is not None:
                    ips.append(norm)
                    times.append(when)
        t = np.array(times, dtype="datetime64[us]").astype("int64")
        frame = _frame(ips, t, t, list_name)
    if not len(frame):
        problem = "not a Tor exit list: no readable ExitAddress line"
        if bad:
            problem += f" (first bad line {bad[0]}: {(first or '')[:40]!r})"
        raise ExitListError(list_name, problem)
    return frame, _tordnsel_problems(data, bad, first)


def _exit_address_pairs(data: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
    """(address, time) of every well-formed ``ExitAddress`` line after the first ``ExitNode``, and
    how many ``ExitAddress`` lines there are.

    The line-level equivalent of stem's parser (the same lines kept; the tests check it against
    stem on every bundled list), used for archives: stem takes ~45 ms per hourly list, ~30 s for
    a month of them.
    """
    text = b"\n" + data
    start = _EXIT_NODE_RE.search(text)
    if start is None:
        return [], 0
    body = text[start.start() :]
    return _EXIT_ADDRESS_RE.findall(body), len(_EXIT_ADDRESS_LINE_RE.findall(body))


def _pairs_frame(pairs: Iterable[tuple[bytes, bytes]], list_name: str) -> tuple[pd.DataFrame, int]:
    """Observations from (address, time) byte pairs, oldest first, and how many were unreadable."""
    pairs = list(pairs)
    addresses = np.array([a for a, _ in pairs], dtype=object)
    times = np.array([t for _, t in pairs], dtype=object)
    a_codes, a_uniques = pd.factorize(addresses)
    ips = np.array([normalize_ip(a.decode("ascii", "replace")) for a in a_uniques] + [None])
    ips = ips[a_codes]
    t_codes, t_uniques = pd.factorize(times)
    parsed = pd.to_datetime(
        pd.Series([t.decode("ascii") for t in t_uniques], dtype=object),
        format="%Y-%m-%d %H:%M:%S",
        utc=True,
        errors="coerce",
    )
    t_us, t_ok = _us(parsed)
    t = t_us[t_codes]
    ok = pd.notna(ips) & t_ok[t_codes]
    frame = _frame(ips[ok], t[ok], t[ok], list_name)
    frame = frame.sort_values(["first_seen", "ip"], kind="stable").reset_index(drop=True)
    return frame, int((~ok).sum())


def parse_plain_list(
    data: bytes, *, observed: date | datetime | str, list_name: str
) -> tuple[pd.DataFrame, list[str]]:
    """A list of addresses, one a line (``#`` comments skipped), all observed at ``observed``.

    ``observed`` is a date (the list's UTC day: observations span that day) or a time (a point).
    A line that is not an address, wherever it is, is skipped and counted (one problem with the
    first line numbers). Raises :class:`ExitListError` when no line is an address.
    """
    first, last = _observed_span(observed, list_name)
    ips: list[str] = []
    bad: list[int] = []
    first_bad: str | None = None
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        norm = normalize_ip(text.split()[0])
        if norm is None:
            bad.append(number)
            first_bad = first_bad if first_bad is not None else text
            continue
        ips.append(norm)
    if not ips:
        if bad:
            raise ExitListError(
                list_name,
                f"not a Tor exit list: none of its {len(bad):,} lines is an IP address "
                f"(first: {(first_bad or '')[:40]!r})",
            )
        raise ExitListError(list_name, "no address in the list (empty or only comments)")
    problems = []
    if bad:
        total = len(ips) + len(bad)
        problems.append(skipped_lines_problem(len(bad), total, "not an IP address", bad, first_bad))
    n = len(ips)
    return (
        _frame(ips, np.full(n, first, "int64"), np.full(n, last, "int64"), list_name),
        problems,
    )


_INTERVAL_NEEDS = "ip, first_seen_utc, last_seen_utc"


def _interval_header(row: list[str]) -> tuple[int, int, int] | None:
    """Column positions of ip, first seen and last seen in a header row, or None."""
    cols = {c.strip().lower(): i for i, c in enumerate(row)}
    ip = cols.get("ip")
    first = cols.get("first_seen_utc", cols.get("first_seen"))
    last = cols.get("last_seen_utc", cols.get("last_seen"))
    if ip is None or first is None or last is None:
        return None
    return ip, first, last


def parse_intervals(data: bytes, *, list_name: str) -> tuple[pd.DataFrame, list[str]]:
    """CSV ``ip,first_seen_utc,last_seen_utc[,n_snapshots]``: each row an observation throughout.

    ``first_seen``/``last_seen`` are accepted as column names too. Lines before the header,
    rows with too few cells, an unreadable address or time, or ``first > last`` are skipped and
    counted in one problem with their line numbers.
    """
    text = data.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    header: tuple[int, int, int] | None = None
    before: list[tuple[int, str]] = []
    ips_raw: list[str] = []
    firsts: list[str] = []
    lasts: list[str] = []
    numbers: list[int] = []
    short: list[tuple[int, str]] = []
    try:
        for row in reader:
            number = reader.line_num
            if not row or not "".join(row).strip():
                continue
            if header is None:
                header = _interval_header(row)
                if header is None:
                    before.append((number, ",".join(row)))
                continue
            if len(row) <= max(header):
                short.append((number, ",".join(row)))
                continue
            ips_raw.append(row[header[0]])
            firsts.append(row[header[1]])
            lasts.append(row[header[2]])
            numbers.append(number)
    except csv.Error as e:
        raise ExitListError(list_name, f"not a readable CSV: {e}") from None
    if header is None:
        raise ExitListError(
            list_name, f"not a Tor exit list: an interval file needs the columns {_INTERVAL_NEEDS}"
        )
    codes, uniques = pd.factorize(pd.Series(ips_raw, dtype=object))
    normalized = np.array([normalize_ip(u) for u in uniques] + [None], dtype=object)
    ips = normalized[codes]  # code -1 (missing) picks the trailing None
    first, ok_first = _us(pd.Series(firsts, dtype=object).replace("", None))
    last, ok_last = _us(pd.Series(lasts, dtype=object).replace("", None))
    ok = pd.notna(ips) & ok_first & ok_last
    ok &= np.where(ok, first <= last, False)
    rejected = [(numbers[i], f"{ips_raw[i]},{firsts[i]},{lasts[i]}") for i in np.flatnonzero(~ok)]
    bad = sorted([*before, *short, *rejected])
    if not ok.any():
        problem = "not a Tor exit list: no row with a readable address and times"
        if bad:
            problem += f" ({len(bad):,} bad row(s), first at line {bad[0][0]}: {bad[0][1][:40]!r})"
        raise ExitListError(list_name, problem)
    problems = []
    if bad:
        total = len(numbers) + len(before) + len(short)
        why = "bad address or times"
        if before or short:
            why = "not a row of ip, first and last seen, or a bad address or time"
        problems.append(
            skipped_lines_problem(len(bad), total, why, [n for n, _ in bad], bad[0][1], unit="rows")
        )
    return _frame(ips[ok], first[ok], last[ok], list_name), problems


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
def _is_archive(name: str) -> bool:
    return name.lower().endswith(_ARCHIVE_SUFFIXES)


def _skipped(name: str) -> bool:
    """Documentation, licences and hidden files are not lists."""
    base = Path(name).name
    return (
        base.startswith(".")
        or base == _INDEX_NAME
        or base.lower().endswith(_DOC_SUFFIXES)
        or bool(_DOC_NAME_RE.match(base))
    )


def _decompress(data: bytes, where: str) -> bytes:
    """gzip / xz / bzip2 content (recognized by its magic bytes) decompressed; other bytes as is."""
    try:
        if data.startswith(_GZIP_MAGIC):
            return gzip.decompress(data)
        if data.startswith(_XZ_MAGIC):
            return lzma.decompress(data)
        if _BZ2_MAGIC.match(data):
            return bz2.decompress(data)
    except (OSError, EOFError, lzma.LZMAError, zlib.error, ValueError) as e:
        raise ExitListError(where, f"damaged compressed file: {e}") from None
    return data


def _sniff(data: bytes) -> Literal["tordnsel", "plain", "interval"] | None:
    """The format of a list, from its first line that tells (lines that tell nothing, such as a
    bad first line, are passed over: the parser counts them); None when none does."""
    seen = 0
    for size in (_CHUNK, _SNIFF_BYTES):
        for raw in data[seen:size].splitlines():
            fmt = _line_format(raw.strip())
            if fmt is not None:
                return fmt
        seen = size
        if len(data) <= size:
            break
        seen = data.rfind(b"\n", 0, size) + 1  # the cut line is read again, whole
    return None


def _line_format(text: bytes) -> Literal["tordnsel", "plain", "interval"] | None:
    if not text or text.startswith(b"#"):
        return None
    if text.startswith((b"@type tordnsel", b"ExitNode ", b"ExitAddress ", b"Downloaded ")):
        return "tordnsel"
    low = text.lower()
    if low.startswith(b"ip,") and b"first_seen" in low:
        return "interval"
    try:
        first = text.decode("ascii").split()[0]
    except (UnicodeDecodeError, IndexError):
        return None
    return "plain" if normalize_ip(first) is not None else None


def _prepare(data: bytes, where: str) -> tuple[bytes, Literal["tordnsel", "plain", "interval"]]:
    """Decompressed content and its format; ExitListError when it is not an exit list."""
    data = _decompress(data, where).removeprefix(_BOM)
    if not data.strip():
        raise ExitListError(where, "empty file")
    fmt = _sniff(data)
    if fmt is None:
        raise ExitListError(
            where,
            "not a Tor exit list (no ExitNode/ExitAddress lines, not one IP address a line, "
            "not an ip,first_seen_utc,last_seen_utc CSV)",
        )
    return data, fmt


def _parse(
    data: bytes,
    fmt: Literal["tordnsel", "plain", "interval"],
    *,
    where: str,
    list_name: str,
    observed: date | datetime | str | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    if fmt == "tordnsel":
        return parse_tordnsel(data, list_name=list_name)
    if fmt == "interval":
        return parse_intervals(data, list_name=list_name)
    when = observed if observed is not None else _date_from_name(where)
    if when is None:
        raise ExitListError(
            where,
            "a plain IP list without a date",
            hint="put the list's UTC date (YYYY-MM-DD) in its file name, or pass observed=",
        )
    return parse_plain_list(data, observed=when, list_name=list_name)


def _read_archive(path: Path, list_name: str) -> tuple[pd.DataFrame, list[DataIssue]]:
    """Every list inside a tar archive (read member by member, nothing extracted), deduplicated.

    TorDNSEL members (CollecTor's hourly lists) go through :func:`_exit_address_pairs`; the same
    (address, time) repeats in consecutive hourly lists and is kept once.
    """
    pairs: set[tuple[bytes, bytes]] = set()
    bad_pairs: set[tuple[bytes, bytes]] = set()
    frames: list[pd.DataFrame] = []
    issues: list[DataIssue] = []
    bad_lines = 0
    total_lines = 0
    examples: list[str] = []
    first_bad: str | None = None
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                if not member.isfile() or _skipped(member.name):
                    continue
                where = f"{path}:{member.name}"
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                try:
                    data, fmt = _prepare(handle.read(), member.name)
                    if fmt != "tordnsel":
                        frame, problems = _parse(data, fmt, where=member.name, list_name=list_name)
                        frames.append(frame)
                        issues.extend(DataIssue(where, p) for p in problems)
                        continue
                except ExitListError as e:
                    issues.append(e.issue(where))
                    continue
                found, lines = _exit_address_pairs(data)
                member_pairs = set(found)
                fresh = member_pairs - pairs  # hourly lists repeat most of the previous one
                if bad_pairs:
                    fresh -= bad_pairs
                newly_bad = {p for p in fresh if not _pair_ok(p)}
                bad_pairs |= newly_bad
                kept = len(found) if not bad_pairs else len(member_pairs - bad_pairs)
                if not kept:
                    problem = "not a Tor exit list: no readable ExitAddress line"
                    issues.append(DataIssue(where, problem))
                    continue
                total_lines += _line_count(data)
                if not (
                    _tordnsel_looks_clean(data, lines, len(found))
                    and (not bad_pairs or member_pairs.isdisjoint(bad_pairs))
                ):
                    bad, first = _tordnsel_bad_lines(data)
                    bad_lines += len(bad)
                    examples += [f"{member.name}:{n}" for n in bad[:_LINE_EXAMPLES]]
                    first_bad = first_bad if first_bad is not None else first
                pairs |= fresh - newly_bad
    except (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error) as e:
        issues.append(DataIssue(str(path), f"damaged archive: {e}"))
    if bad_lines:
        why = "not a TorDNSEL line, or an unreadable address or time"
        problem = skipped_lines_problem(bad_lines, total_lines, why, examples, first_bad)
        issues.append(DataIssue(str(path), problem))
    if pairs:
        frame, _ = _pairs_frame(pairs, list_name)
        frames.append(frame)
    return _dedupe(_concat(frames)), issues


def read_exit_list(
    path: str | Path,
    *,
    observed: date | datetime | str | None = None,
    kind: ListKind = "case",
    name: str | None = None,
) -> ExitLists:
    """One exit-list file or archive, whatever its format. Never raises for bad content.

    ``observed`` dates a plain IP list whose file name has no ``YYYY-MM-DD``. ``name`` (default:
    the file name) becomes ``<kind>:<name>`` in the ``list`` column.
    """
    p = Path(path)
    list_name = f"{kind}:{name or p.name}"
    if _is_archive(p.name):
        frame, issues = _read_archive(p, list_name)
        fmt: ListFormat = "archive"
    else:
        try:
            data, fmt = _prepare(p.read_bytes(), str(p))
            frame, problems = _parse(
                data, fmt, where=str(p), list_name=list_name, observed=observed
            )
        except OSError as e:
            return ExitLists(issues=[DataIssue(str(p), f"cannot read the file: {e}")])
        except ExitListError as e:
            return ExitLists(issues=[e.issue(str(p))])
        issues = [DataIssue(str(p), pr) for pr in problems]
    if not len(frame):
        return ExitLists(issues=issues)
    return ExitLists(
        observations=frame, sources=[_source(frame, list_name, kind, fmt, p)], issues=issues
    )


def _source(
    frame: pd.DataFrame, list_name: str, kind: ListKind, fmt: ListFormat, path: Path
) -> ListSource:
    return ListSource(
        name=list_name,
        kind=kind,
        format=fmt,
        path=str(path),
        observations=len(frame),
        ips=int(frame["ip"].nunique()),
        first_seen=frame["first_seen"].min(),
        last_seen=frame["last_seen"].max(),
    )


def list_files(path: Path, issues: list[DataIssue] | None = None) -> Iterator[Path]:
    """The list files at ``path``: the file itself, or every non-document file below a folder
    that is not hidden (:func:`torinvest.paths.walk_files`: symbolic links followed). A path
    that cannot be looked at (a link to a missing target or that loops, a folder that cannot be
    listed, a named pipe…) is appended to ``issues`` when a list is given."""
    from torinvest.paths import walk_files

    def wanted(rel: str) -> bool:
        parts = rel.split("/")
        return not any(part.startswith(".") for part in parts) and not _skipped(parts[-1])

    try:
        walk = walk_files(path, wanted=wanted, skip_folder=lambda name: name.startswith("."))
    except OSError as e:
        if issues is not None:
            issues.append(DataIssue(str(path), f"cannot read: {e.strerror or e}"))
        return
    if issues is not None:
        issues += walk.issues
    yield from sorted(Path(f.path) for f in walk.files)


def _read_tree(path: Path, kind: ListKind, exclude: Path | None = None) -> ExitLists:
    if not path.exists():
        return ExitLists(issues=[DataIssue(str(path), "no such file or folder")])
    parts = []
    unreadable: list[DataIssue] = []
    for f in list_files(path, unreadable):
        if exclude is not None and f.resolve() == exclude:
            continue
        name = f.relative_to(path).as_posix() if path.is_dir() else f.name
        parts.append(read_exit_list(f, kind=kind, name=name))
    return ExitLists(issues=unreadable).combine(*parts)


# --------------------------------------------------------------------------------------------
# bundled history
# --------------------------------------------------------------------------------------------
def bundled_dir() -> Path:
    """The folder of the bundled lists (``torinvest/data/tor``)."""
    return Path(str(resources.files("torinvest").joinpath(*BUNDLED_PACKAGE_DIR)))


def bundled_index() -> list[dict[str, Any]]:
    """The entries of ``INDEX.json``: path, format, upstream, licence, coverage of each list."""
    doc = json.loads((bundled_dir() / "INDEX.json").read_text(encoding="utf-8"))
    return list(doc["lists"])


@functools.cache
def _bundled() -> ExitLists:
    root = bundled_dir()
    parts = []
    for entry in bundled_index():
        lists = read_exit_list(root / entry["path"], kind="bundled", name=entry["path"])
        lists.sources[:] = [
            replace(s, upstream=entry.get("upstream"), licence=entry.get("licence"))
            for s in lists.sources
        ]
        parts.append(lists)
    return ExitLists().combine(*parts)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def load_exit_lists(
    *paths: str | Path,
    bundled: bool = True,
    cache_dir: str | Path | None = None,
    refreshed: RefreshResult | None = None,
) -> ExitLists:
    """Every exit list to use: ``paths`` (files, folders, archives), the cache, the bundled history.

    ``paths`` are read as kind ``case``; every list in ``cache_dir`` as ``cache``, except the file
    that ``refreshed`` (the result of :func:`refresh`) saved, which is ``refreshed``, and whose
    note is kept in ``notes``. Bad files become issues; nothing here raises for bad content.
    """
    parts: list[ExitLists] = [_read_tree(Path(p).expanduser(), "case") for p in paths]
    fresh = (
        refreshed.path.resolve() if refreshed and refreshed.downloaded and refreshed.path else None
    )
    if fresh is not None:
        parts.append(read_exit_list(fresh, kind="refreshed"))
    if cache_dir is not None and Path(cache_dir).expanduser().is_dir():
        parts.append(_read_tree(Path(cache_dir).expanduser(), "cache", exclude=fresh))
    if bundled:
        parts.append(_bundled())
    lists = ExitLists().combine(*parts)
    if refreshed is not None:
        lists.notes.append(refreshed.note)
    for line in lists.describe().splitlines():
        log.info("tor exit lists: %s", line)
    for issue in lists.issues:
        log.warning("tor exit list %s: %s", issue.source, issue.problem)
    return lists


# --------------------------------------------------------------------------------------------
# status
# --------------------------------------------------------------------------------------------
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


def _event_codes(source_ip: pd.Series, known: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Per row: position of its normalized address in ``known`` (-1 if absent), and an NA mask.

    Only the distinct values are normalized (a categorical's categories, or ``pd.factorize``).
    """
    if isinstance(source_ip.dtype, pd.CategoricalDtype):
        codes = source_ip.cat.codes.to_numpy()
        values = source_ip.cat.categories
    else:
        codes, values = pd.factorize(source_ip, use_na_sentinel=True)
    normalized = pd.Index([normalize_ip(str(v)) or "" for v in values], dtype="object")
    # one extra slot for NA rows (code -1)
    to_known = np.append(known.get_indexer(normalized), -1)
    return to_known[codes], codes < 0


def tor_status(
    events: pd.DataFrame,
    lists: ExitLists,
    tolerance: pd.Timedelta | timedelta | str = DEFAULT_TOLERANCE,
) -> pd.Series:
    """Per event row: was ``source_ip`` a listed Tor exit within ``tolerance`` of ``event_time``?

    Returns a ``boolean`` Series named ``tor`` on ``events.index``: True (listed near that time),
    False (the lists cover that time and do not list it near it; also for non-IP sources such as
    ``AWS Internal``), NA (no loaded list covers that time, or no time/source on the row).
    """
    missing_cols = {"event_time", "source_ip"} - set(events.columns)
    if missing_cols:
        raise InputError(
            f"events frame lacks {', '.join(sorted(missing_cols))}",
            hint="pass the events frame of torinvest.sources (see torinvest.schema.EVENTS_COLUMNS)",
        )
    tol = _check_tolerance(tolerance)
    n = len(events)
    t, t_ok = _us(events["event_time"])
    starts, ends = _padded(lists, tol)

    # covered: t falls inside the union of every observation's padded interval
    seg_start, seg_end = _segments(starts, ends)
    j = np.searchsorted(seg_start, t, side="right") - 1
    covered = t_ok & (j >= 0) & (t <= seg_end[np.clip(j, 0, None)] if len(seg_end) else False)

    # listed: some padded interval of the same address contains t (merge_asof by address)
    obs_codes, known = pd.factorize(lists.observations["ip"])
    ev_code, ip_missing = _event_codes(events["source_ip"], pd.Index(known, dtype="object"))
    listed = np.zeros(n, dtype=bool)
    pick = np.flatnonzero(covered & (ev_code >= 0))
    if len(pick):
        right = (
            pd.DataFrame({"code": obs_codes, "start": starts, "end": ends})
            .groupby(["code", "start"], sort=True)["end"]
            .max()
            .reset_index()
        )
        right["reach"] = right.groupby("code", sort=False)["end"].cummax()
        right = right.sort_values("start", kind="stable")[["code", "start", "reach"]]
        left = pd.DataFrame({"code": ev_code[pick], "t": t[pick], "row": pick}).sort_values(
            "t", kind="stable"
        )
        merged = pd.merge_asof(
            left, right, left_on="t", right_on="start", by="code", direction="backward"
        )
        reach = merged["reach"].to_numpy(dtype="float64", na_value=np.nan)
        hit = reach >= merged["t"].to_numpy(dtype="float64")
        listed[merged["row"].to_numpy()[hit]] = True

    known_mask = covered & ~ip_missing
    values = pd.arrays.BooleanArray(listed & known_mask, ~known_mask)
    return pd.Series(values, index=events.index, name="tor")


# --------------------------------------------------------------------------------------------
# refresh
# --------------------------------------------------------------------------------------------
def _check_month(month: str | date) -> str:
    text = month.strftime("%Y-%m") if isinstance(month, date) else str(month).strip()
    m = _MONTH_RE.match(text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise InputError(
            f"invalid month {str(month)[:20]!r}",
            hint="pass the month of the archive as YYYY-MM, e.g. 2018-11",
        )
    return text


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(error, urllib.error.URLError):
        return str(error.reason)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _fallback(cache: Path) -> str:
    """'using cached/bundled lists dated …' for a refresh that saved nothing."""
    names = [f.name for f in list_files(cache)] if cache.is_dir() else []
    cached = sorted({m.group(0) for n in names if (m := re.search(r"\d{4}-\d{2}(-\d{2})?", n))})
    bundled = [e for e in bundled_index() if e.get("first_observation")]
    parts = []
    if cached:
        parts.append(f"cached lists dated {cached[0]} … {cached[-1]}")
    if bundled:
        first = min(e["first_observation"] for e in bundled)[:10]
        last = max(e["last_observation"] for e in bundled)[:10]
        parts.append(f"bundled lists dated {first} … {last}")
    return "using " + " and ".join(parts) if parts else "no other list is available"


def _check_download(path: Path, url: str, month: str | None) -> None:
    """Raise ExitListError unless the downloaded file is an exit list (or archive of them)."""
    if month is not None:
        try:
            with tarfile.open(path, mode="r:*") as tar:
                first = tar.next()  # the first member only: a month is ~700 files
                if first is None:
                    raise ExitListError(url, "the archive is empty")
        except (tarfile.TarError, OSError, EOFError, lzma.LZMAError) as e:
            raise ExitListError(url, f"not a tar.xz archive ({e})") from None
        return
    parse_tordnsel(_decompress(path.read_bytes(), url), list_name="refresh")


def _copy(response: Any, out: Any, cache: Path) -> None:
    """The download into the cache file: a failed read is the network's, a failed write the
    cache's (a full or read-only disk: :class:`InputError`, not a network note)."""
    while True:
        chunk = response.read(_CHUNK)
        if not chunk:
            return
        view = memoryview(chunk)
        try:
            while view:
                view = view[out.write(view) :]
        except OSError as e:
            raise _cache_unwritable(cache, e) from None


def _cache_unwritable(cache: Path, error: OSError) -> InputError:
    return InputError(
        f"cannot write the Tor list cache {cache}: {error.strerror or error}",
        hint="free space there, or point TORINVEST_CACHE to a writable folder",
    )


def refresh(
    cache_dir: str | Path,
    *,
    month: str | date | None = None,
    opener: Opener | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
    now: datetime | None = None,
) -> RefreshResult:
    """Download the current exit list, or CollecTor's archive of a past ``month``, into the cache.

    Without ``month``: https://check.torproject.org/exit-addresses saved as
    ``exit-addresses-YYYY-MM-DDTHHMMSSZ`` (UTC time of the download). With ``month`` (``YYYY-MM``):
    ``exit-list-YYYY-MM.tar.xz`` from CollecTor's archive, kept if already cached (past months do
    not change). The file is written atomically (temporary file, then rename) and only if it is an
    exit list. Never raises when the network cannot be reached or answers with something else: the
    result's ``note`` says so and which cached/bundled lists remain. ``opener`` replaces
    ``urllib.request.urlopen`` (tests pass a fake).
    """
    cache = Path(cache_dir).expanduser()
    month_text = _check_month(month) if month is not None else None
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(
            f"cannot create the Tor list cache {cache}: {e}", hint="pass a writable cache_dir"
        ) from None
    if month_text is not None:
        url = COLLECTOR_ARCHIVE_URL.format(month=month_text)
        target = cache / f"exit-list-{month_text}.tar.xz"
        if target.is_file():
            return RefreshResult(True, url, target, f"{target.name} already cached; not downloaded")
    else:
        url = EXIT_ADDRESSES_URL
        stamp = pd.Timestamp(now or datetime.now(UTC))
        stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
        target = cache / f"exit-addresses-{stamp.strftime('%Y-%m-%dT%H%M%SZ')}"

    request = urllib.request.Request(url, headers={"User-Agent": f"torinvest/{__version__}"})  # noqa: S310 (fixed https URL)
    open_url = opener or urllib.request.urlopen
    try:
        fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=f".{target.name}.", suffix=".part")
    except OSError as e:
        raise _cache_unwritable(cache, e) from None
    tmp = Path(tmp_name)
    try:
        try:
            with (
                os.fdopen(fd, "wb", buffering=0) as out,
                open_url(request, timeout=timeout) as response,
            ):
                _copy(response, out, cache)
        except (
            urllib.error.URLError,
            TimeoutError,
            ConnectionError,
            http.client.HTTPException,
            ssl.SSLError,
        ) as e:
            note = f"could not reach {url} ({_reason(e)}); {_fallback(cache)}"
            log.warning("%s", note)
            return RefreshResult(False, url, None, note)
        try:
            _check_download(tmp, url, month_text)
        except ExitListError as e:
            note = f"{url} did not return an exit list ({e.problem}); {_fallback(cache)}"
            log.warning("%s", note)
            return RefreshResult(False, url, None, note)
        try:
            os.replace(tmp, target)
        except OSError as e:
            raise _cache_unwritable(cache, e) from None
    finally:
        tmp.unlink(missing_ok=True)
    note = f"downloaded {url} to {target}"
    log.info("%s", note)
    return RefreshResult(True, url, target, note, downloaded=True)


__all__ = [
    "COLLECTOR_ARCHIVE_URL",
    "DEFAULT_TOLERANCE",
    "EXIT_ADDRESSES_URL",
    "EXIT_OBSERVATIONS_COLUMNS",
    "ExitListError",
    "ExitLists",
    "ListSource",
    "RefreshResult",
    "bundled_dir",
    "bundled_index",
    "coverage",
    "list_files",
    "load_exit_lists",
    "normalize_ip",
    "parse_intervals",
    "parse_plain_list",
    "parse_tordnsel",
    "read_exit_list",
    "refresh",
    "tor_status",
]
