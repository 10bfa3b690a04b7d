"""The page cache: pulled pages as parquet keyed by account/region/attribute, with the time
intervals they cover.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from torinvest.paths import cache_root
from torinvest.sources.lookup.fetch import Query

log = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """The LookupEvents page cache lives under :func:`torinvest.paths.cache_root`."""
    return cache_root()


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
    #: the files found unreadable in this run: warned once, their intervals pulled again and
    #: their manifest entries replaced on the next write
    broken: set[Path] = field(default_factory=set)
    warned: set[Path] = field(default_factory=set)

    def folder(self, account: str, region: str, query: Query) -> Path:
        """The entry's folder; a ValueError for an account or region that is not one (an
        endpoint's answer is never a path: ``../..`` would leave the cache)."""
        if not re.fullmatch(r"\d{12}", account) or not re.fullmatch(
            r"[a-z][a-z0-9-]{1,30}", region
        ):
            raise ValueError(
                f"account {account[:40]!r} / region {region[:40]!r} cannot key the cache"
            )
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

    def _warn(self, path: Path, message: str) -> None:
        """Log ``message`` once per file and run."""
        if path not in self.warned:
            self.warned.add(path)
            log.warning("%s", message)

    def _manifest(self, folder: Path) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
        path = folder / "manifest.json"
        if not path.exists():
            return []
        try:
            data = orjson.loads(path.read_bytes())
            return [_interval(s, e, f) for s, e, f in data["intervals"]]
        except (OSError, orjson.JSONDecodeError, KeyError, ValueError, TypeError):
            self._warn(path, f"cache manifest {path} unreadable; ignoring the cache there")
            return []

    def lookup(
        self, account: str, region: str, query: Query
    ) -> tuple[list[str], list[tuple[pd.Timestamp, pd.Timestamp]]]:
        """Cached CloudTrailEvent JSON strings that fall in the query's window, and the parts of
        the window the cache does not cover (to pull). An entry whose file cannot be read
        (deleted, damaged) is a cache miss: warned once naming the file, its interval a gap."""
        folder = self.folder(account, region, query)
        out: list[str] = []
        seen: set[str] = set()
        covered: list[tuple[pd.Timestamp, pd.Timestamp]] = []
        for s, e, name in self._manifest(folder):
            if e < query.start or s > query.end:
                continue
            rows = self._rows(folder / name)
            if rows is None:
                continue
            covered.append((s, e))
            for t, i, ev in rows:
                if query.start <= pd.Timestamp(t) <= query.end and i not in seen:
                    seen.add(i)
                    out.append(ev)
        return out, _gaps(query, covered)

    def _rows(self, path: Path) -> list[tuple[Any, Any, Any]] | None:
        """A cache file's (event_time, event_id, cloudtrail_event) rows; None when it cannot be
        read (warned once, remembered in :attr:`broken`)."""
        try:
            table = pq.read_table(path)
            cols = [table.column(c).to_pylist() for c in _CACHE_SCHEMA.names]
        except (OSError, pa.ArrowException, KeyError, ValueError) as e:
            self.broken.add(path)
            self._warn(
                path,
                f"cache file {path} unreadable ({type(e).__name__}: {str(e)[:120]}); "
                "pulling its interval again",
            )
            return None
        ids, times, events = cols
        return list(zip(times, ids, events, strict=True))

    def gaps(
        self, account: str, region: str, query: Query
    ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
        """The parts of the query's window not covered by readable cache entries."""
        return self.lookup(account, region, query)[1]

    def read(self, account: str, region: str, query: Query) -> list[str]:
        """Cached CloudTrailEvent JSON strings that fall in the query's window."""
        return self.lookup(account, region, query)[0]

    def write(
        self,
        account: str,
        region: str,
        query: Query,
        start: pd.Timestamp,
        end: pd.Timestamp,
        events: list[dict[str, Any]] | pa.Table,
    ) -> None:
        """Store the events pulled for [start, end] and mark that interval covered: LookupEvents'
        answer entries, or their rows already made (:func:`cache_rows`, page by page as they
        came in: :func:`~torinvest.sources.lookup.pull.pull_region`)."""
        table = events if isinstance(events, pa.Table) else cache_rows(events)
        if table is None:
            log.info("lookup %s: events without EventTime: this interval is not cached", region)
            return
        folder = self.folder(account, region, query)
        with self._locked(folder):
            name = f"{start.value}-{end.value}.parquet"
            tmp = folder / f".{name}.tmp"
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, folder / name)
            intervals = [
                (s, e, f)
                for s, e, f in self._manifest(folder)
                if f != name and folder / f not in self.broken
            ]
            intervals.append((start, end, name))
            for path in {folder / f for _, _, f in self._manifest(folder)} & self.broken:
                if path.name != name:
                    path.unlink(missing_ok=True)
            manifest = {
                "value": query.value,
                "attribute": query.attribute,
                "intervals": [[s.isoformat(), e.isoformat(), f] for s, e, f in intervals],
            }
            tmp_m = folder / ".manifest.json.tmp"
            tmp_m.write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
            os.replace(tmp_m, folder / "manifest.json")


def cache_rows(events: Sequence[dict[str, Any]]) -> pa.Table | None:
    """The cache file's rows (:data:`_CACHE_SCHEMA`) of LookupEvents' answer entries; None when
    one has no ``EventTime`` datetime (an interval holding such an event is not cached).

    Each time is its instant in UTC (a naive one read as UTC), converted by Arrow from the
    datetimes themselves: the values a ``pd.Timestamp`` of each gave (tested), without making
    one per event (13 ms a region of 2,500 events, paid after its last answer when the rows
    were made at the write)."""
    times = [e.get("EventTime") for e in events]
    if not all(isinstance(t, datetime) for t in times):
        return None
    return pa.table(
        {
            "event_id": [e.get("EventId") for e in events],
            "event_time": pa.array(times, _CACHE_SCHEMA.field("event_time").type),
            "cloudtrail_event": [e.get("CloudTrailEvent") for e in events],
        },
        schema=_CACHE_SCHEMA,
    )


def _interval(start: Any, end: Any, name: Any) -> tuple[pd.Timestamp, pd.Timestamp, str]:
    """One manifest entry, checked: UTC-aware times in order and a file name in the folder; a
    ValueError for anything else (a manifest of another version, or edited)."""
    s, e = pd.Timestamp(start), pd.Timestamp(end)
    if s.tzinfo is None or e.tzinfo is None or s > e:
        raise ValueError(f"interval {start!r}–{end!r} is not an interval of UTC times")
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".parquet"):
        raise ValueError(f"{name!r} is not a cache file name")
    return s, e, name


def _gaps(
    query: Query, covered: list[tuple[pd.Timestamp, pd.Timestamp]]
) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The parts of the query's window outside the ``covered`` intervals."""
    gaps: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    cursor = query.start
    for s, e in sorted(covered):
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
