"""Refresh: download the current exit list, or a past month's CollecTor archive, into the
cache (:func:`refresh`; the only network access, and only when asked).
"""

from __future__ import annotations

import bz2
import gzip
import http.client
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
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from torinvest import __version__
from torinvest.errors import InputError, OptionsError
from torinvest.inflate import compression
from torinvest.tor.lists import (
    _CHUNK,
    _bundled,
    _decompress,
    bundled_index,
    list_files,
    read_exit_list,
)
from torinvest.tor.parsers import cut_short, parse_tordnsel
from torinvest.tor.records import (
    MIN_EXITS,
    SHORT_SHARE,
    ExitListError,
    ExitLists,
    RefreshResult,
    short_lists,
)

log = logging.getLogger(__name__)


#: The current TorDNSEL exit list (measured exit addresses of the last ~24 hours).
EXIT_ADDRESSES_URL = "https://check.torproject.org/exit-addresses"
#: CollecTor's monthly archive of hourly exit lists.
COLLECTOR_ARCHIVE_URL = (
    "https://collector.torproject.org/archive/exit-lists/exit-list-{month}.tar.xz"
)
#: Seconds to wait for the network in :func:`refresh`.
DOWNLOAD_TIMEOUT = 30.0
#: ``opener(request, timeout=seconds)`` returns a readable binary response usable in ``with``;
#: ``urllib.request.urlopen`` by default. Tests pass a fake.
Opener = Callable[..., Any]
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
_STREAMS: dict[str, Callable[[Any], Any]] = {"gzip": gzip.open, "xz": lzma.open, "bzip2": bz2.open}
_ARCHIVE_ERRORS = (tarfile.TarError, OSError, EOFError, lzma.LZMAError, zlib.error)


# --------------------------------------------------------------------------------------------
# refresh
# --------------------------------------------------------------------------------------------
def _check_month(month: str | date, now: datetime | None = None) -> str:
    """``month`` as ``YYYY-MM``; OptionsError (a usage error: exit 2) when it is not a month or
    has not begun yet (CollecTor archives past months; the current month grows hour by hour)."""
    text = month.strftime("%Y-%m") if isinstance(month, date) else str(month).strip()
    m = _MONTH_RE.match(text)
    if not m or not 1 <= int(m.group(2)) <= 12:
        raise OptionsError(
            f"invalid month {str(month)[:20]!r}",
            hint="pass the month of the archive as YYYY-MM, e.g. 2018-11",
        )
    current = _utc(now).strftime("%Y-%m")
    if text > current:
        raise OptionsError(
            f"month {text} has not happened yet",
            hint=f"pass a month up to the current one, {current} in UTC",
        )
    return text


def _utc(now: datetime | None) -> pd.Timestamp:
    stamp = pd.Timestamp(now or datetime.now(UTC))
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


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


def archive_problem(path: Path) -> str | None:
    """Why the tar archive at ``path`` is not whole, or None when it is.

    Read to its end — every member, then the compressed stream to its end-of-stream marker —,
    so that a download that stopped early is seen (its first members read fine). A month
    decompresses in seconds.
    """
    try:
        with path.open("rb") as raw:
            kind = compression(raw.read(16))
            raw.seek(0)
            stream = _STREAMS[kind](raw) if kind else raw
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                members = sum(1 for _ in tar)  # a stream: each member's data read past
            if not members:
                return "the archive is empty"
            while stream.read(_CHUNK):
                pass
    except EOFError as e:
        return f"it is cut short: {e}"
    except _ARCHIVE_ERRORS as e:
        return f"not a tar.xz archive ({e or type(e).__name__})"
    return None


def _before_month_end(path: Path, month: str) -> str | None:
    """Why the cached archive of ``month`` at ``path`` may lack the month's end — it was saved
    before the month was over (the current month's archive grows hour by hour: a copy holds
    the lists up to its download) —, or None when it was saved after (or is not there)."""
    try:
        saved = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC")
    except OSError:
        return None
    end = pd.Timestamp(f"{month}-01", tz="UTC") + pd.offsets.MonthBegin(1)
    if saved >= end:
        return None
    return (
        f"was downloaded {saved:%Y-%m-%d %H:%M}Z, before the month ended: it holds the lists "
        "up to then"
    )


def _check_download(path: Path, url: str, month: str | None) -> pd.DataFrame | None:
    """Raise ExitListError unless the downloaded file is a whole exit list (or archive of them):
    an archive read to its end (:func:`archive_problem`), a list not cut short
    (:func:`~torinvest.tor.parsers.cut_short`). The current list's observations are returned
    (an archive's: None)."""
    if month is not None:
        problem = archive_problem(path)
        if problem is not None:
            raise ExitListError(url, problem)
        return None
    data = _decompress(path.read_bytes(), url)
    frame, _problems = parse_tordnsel(data, list_name="refresh")
    cut = cut_short(data, "tordnsel")
    if cut is not None:
        raise ExitListError(url, f"it is cut short: {cut}")
    return frame


#: How long after its newest test a current list still says which addresses are exits now.
_CURRENT_FOR = pd.Timedelta(hours=24)
#: Observations dated up to this far after the clock are taken as the clock's drift.
_CLOCK_SLACK = pd.Timedelta(hours=1)


def _what_it_covers(frame: pd.DataFrame | None, now: pd.Timestamp) -> str:
    """What the current list just downloaded cannot say, in words (empty when it is a current,
    whole list): newest test older than :data:`_CURRENT_FOR` before this computer's clock (a
    stale copy, or a clock that is ahead), tests dated after the clock (a clock that is
    behind: they are not used until then), fewer than :data:`MIN_EXITS` distinct exits (taken
    as partial)."""
    if frame is None or not len(frame):
        return ""
    first, last = frame["first_seen"].min(), frame["last_seen"].max()
    span = f"it tested {frame['ip'].nunique():,} exit(s) {first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} UTC"
    said = []
    if last < now - _CURRENT_FOR:
        said.append(
            f"its newest test is {_age(now - last)} before this computer's clock "
            f"({now:%Y-%m-%d %H:%M} UTC): it does not say which addresses are exits now (a "
            "stale copy, or this computer's clock is ahead)"
        )
    if last > now + _CLOCK_SLACK:
        said.append(
            f"its tests are dated up to {_age(last - now)} after this computer's clock "
            f"({now:%Y-%m-%d %H:%M} UTC): the clock is behind, and observations dated after it "
            "are not used"
        )
    exits = int(frame["ip"].nunique())
    if exits < MIN_EXITS:
        said.append(
            f"it names {exits:,} exit(s), fewer than {MIN_EXITS}: it is taken as partial (it "
            "can mark IPs as Tor, not rule Tor out)"
        )
    return f" — {span}; " + "; ".join(said) if said else ""


def _age(delta: pd.Timedelta) -> str:
    hours = delta / pd.Timedelta(hours=1)
    return f"{hours:,.0f} h" if hours < 48 else f"{hours / 24:,.0f} days"


def _expected_length(response: Any) -> int | None:
    """The response's Content-Length, when it gives a readable one."""
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _framed(response: Any) -> bool:
    """Whether HTTP says where the response's body ends (a Content-Length, or a chunked body:
    urllib raises IncompleteRead when either stops early)."""
    headers = getattr(response, "headers", None)
    if headers is None:
        return False
    coding = headers.get("Transfer-Encoding") or ""
    return headers.get("Content-Length") is not None or "chunked" in coding.lower()


#: How many earlier downloads of the current list :func:`_short_download` reads, newest first,
#: to find one that may rule Tor out.
_PREVIOUS_READ = 3


def _short_download(path: Path, cache: Path, now: datetime | None) -> str | None:
    """Why the current list just downloaded to ``path`` is taken as cut at the end of a line
    (:func:`~torinvest.tor.records.short_lists`: far fewer exits than the cache's previous
    download, or the bundled copy of the same list), or None."""
    fresh = read_exit_list(path, kind="refreshed", name="download", now=now)
    previous = sorted(
        (f for f in cache.glob("exit-addresses-*") if f.is_file()), key=lambda f: f.name
    )
    parts = [fresh]
    for f in reversed(previous[-_PREVIOUS_READ:]):
        lists = read_exit_list(f, kind="cache", now=now)
        parts.append(lists)
        if any(s.rules_out and (s.ipv4 or 0) >= MIN_EXITS for s in lists.sources):
            break
    bundled = _bundled()
    single = [s for s in bundled.sources if s.format == "tordnsel"]
    names = {s.name for s in single}
    rows = bundled.observations["list"].isin(names).fillna(False).to_numpy(dtype=bool)
    parts.append(ExitLists(observations=bundled.observations[rows], sources=single))
    short = short_lists(ExitLists().combine(*parts))
    found = short.get("refreshed:download")
    if found is None:
        return None
    ref, exits, ref_exits = found
    return (
        f"it names {exits:,} IPv4 exit(s), fewer than {SHORT_SHARE:.0%} of the {ref_exits:,} "
        f"named by {ref.path if ref.kind == 'cache' else ref.name} "
        f"({ref.last_seen:%Y-%m-%d %H:%M}Z), the last list known for it: it is taken as cut "
        "short at the end of a line"
    )


def _copy(response: Any, out: Any, cache: Path) -> int:
    """The download into the cache file (how many bytes): a failed read is the network's, a
    failed write the cache's (a full or read-only disk: :class:`InputError`, not a network
    note)."""
    written = 0
    while True:
        chunk = response.read(_CHUNK)
        if not chunk:
            return written
        written += len(chunk)
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
    accept_short: bool = False,
) -> RefreshResult:
    """Download the current exit list, or CollecTor's archive of a past ``month``, into the cache.

    Without ``month``: https://check.torproject.org/exit-addresses saved as
    ``exit-addresses-YYYY-MM-DDTHHMMSSZ`` (UTC time of the download). With ``month`` (``YYYY-MM``):
    ``exit-list-YYYY-MM.tar.xz`` from CollecTor's archive, kept if already cached after the month
    ended (past months do not change; a copy saved before — the current month's archive grows —
    is downloaded again, as a damaged one is); a month after the current one (of ``now``, default the current time) is an
    :class:`~torinvest.errors.OptionsError`. The file is written atomically (temporary file, then rename) and only if it is an
    exit list, whole as far as can be told: a current list naming far fewer IPv4 exits than the
    last one known for it (the cache's previous download, else the bundled copy:
    :func:`~torinvest.tor.records.short_lists`) is taken as cut at the end of a line and not
    saved (the note says so, and whether HTTP framing could have told). Never raises when the
    network cannot be reached or answers with something else: the result's ``note`` says so
    and which cached/bundled lists remain. ``accept_short`` saves such a list anyway (the Tor
    network really shrank), saying so: loaded beside the larger list before it, it is still
    taken as cut until a later download names as many exits. ``opener`` replaces
    ``urllib.request.urlopen`` (tests pass a fake).
    """
    cache = Path(cache_dir).expanduser()
    month_text = _check_month(month, now) if month is not None else None
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(
            f"cannot create the Tor list cache {cache}: {e.strerror or e}",
            hint="point TORINVEST_CACHE to a writable folder: the lists go in its tor/ folder",
        ) from None
    if month_text is not None:
        url = COLLECTOR_ARCHIVE_URL.format(month=month_text)
        target = cache / f"exit-list-{month_text}.tar.xz"
        damaged = archive_problem(target) if target.is_file() else None
        early = _before_month_end(target, month_text) if damaged is None else None
        if target.is_file() and damaged is None and early is None:
            return RefreshResult(True, url, target, f"{target.name} already cached; not downloaded")
        if damaged is not None:
            damaged = f"the cached {target.name} was damaged ({damaged})"
            log.info("%s: downloading it again", damaged)
        elif early is not None:
            damaged = f"the cached {target.name} {early}"
            log.info("%s: downloading it again", damaged)
    else:
        damaged = None
        url = EXIT_ADDRESSES_URL
        stamp = _utc(now)
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
                written = _copy(response, out, cache)
                expected = _expected_length(response)
                framed = _framed(response)
        except http.client.IncompleteRead as e:  # a chunked (or sized) body that stopped early
            note = (
                f"{url} did not return an exit list (it is cut short: the connection closed "
                f"before the end of the response, {e!r}); {_fallback(cache)}"
            )
            note += f"; {damaged}" if damaged else ""
            log.info("%s", note)  # the caller says it (the CLI as a note)
            return RefreshResult(False, url, None, note)
        except (
            urllib.error.URLError,
            TimeoutError,
            ConnectionError,
            http.client.HTTPException,
            ssl.SSLError,
        ) as e:
            note = f"could not reach {url} ({_reason(e)}); {_fallback(cache)}"
            note += f"; {damaged}" if damaged else ""
            log.info("%s", note)  # the caller says it (the CLI as a note)
            return RefreshResult(False, url, None, note)
        try:
            if expected is not None and written < expected:
                raise ExitListError(url, f"it is cut short: {written:,} of {expected:,} bytes")
            observed = _check_download(tmp, url, month_text)
        except ExitListError as e:
            note = f"{url} did not return an exit list ({e.problem}); {_fallback(cache)}"
            note += f"; {damaged}" if damaged else ""
            log.info("%s", note)  # the caller says it (the CLI as a note)
            return RefreshResult(False, url, None, note)
        short = _short_download(tmp, cache, now) if month_text is None else None
        accepted = ""
        if short is not None and accept_short:
            accepted = (
                f" (saved with --accept-short though {short}: loaded beside the larger list "
                "before it, it still cannot rule Tor out until a later download names as many "
                "exits)"
            )
        elif short is not None:  # never saved: the cache keeps the lists it had
            http_says = (
                "the server sent neither a Content-Length nor a chunked body, so HTTP gives no "
                "way to tell whether the download is whole"
                if not framed
                else "HTTP says the download is whole: the server sent a short list"
            )
            note = (
                f"{url} returned a suspect exit list ({short}; {http_says}); not saved: "
                f"{_fallback(cache)}; run `torinvest tor refresh` again later (if the Tor "
                "network really shrank: `torinvest tor refresh --accept-short`)"
            )
            log.info("%s", note)  # the caller says it (the CLI as a note)
            return RefreshResult(False, url, None, note)
        try:
            os.replace(tmp, target)
        except OSError as e:
            raise _cache_unwritable(cache, e) from None
    finally:
        tmp.unlink(missing_ok=True)
    note = f"downloaded {url} to {target}" + (f" ({damaged})" if damaged else "") + accepted
    note += _what_it_covers(observed, _utc(now))
    log.info("%s", note)
    return RefreshResult(True, url, target, note, downloaded=True)
