"""The bundled exit lists, parsed once per installation: a snapshot of the parsed observations
and their sources on disk (``<cache root>/bundled/tor-<key>.parquet``).

Parsing the bundled history (about 120,000 observations from 9 lists) costs about 0.9 s, and
every process that checks Tor status paid it: each ``investigate`` and ``tor check``, and each
report's kernel. The snapshot reads back in a few tens of milliseconds.

The key is a SHA-256 of everything the parsed result depends on: the snapshot format, the
package version, where the bundled files are (their paths are in the sources), the bytes of
``INDEX.json`` and of every bundled list, and the source of the modules that parse them. A
snapshot that does not match its key, does not read back, or whose rows do not add up to its
sources' counts is ignored (and replaced); one that cannot be written (read-only cache) is
skipped. Neither is ever an error: the lists are then parsed, as without a snapshot.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import torinvest
from torinvest.paths import cache_root, write_atomic
from torinvest.tor.records import EXIT_OBSERVATIONS_COLUMNS, ExitLists, ListSource

log = logging.getLogger(__name__)

#: Bump when what is stored changes shape (the key also changes with the parsing code).
FORMAT = 2
_SOURCES_KEY = b"torinvest.sources"
_KEY_KEY = b"torinvest.key"
_PARSING_MODULES = ("lists.py", "parsers.py", "records.py", "snapshot.py")


def snapshot_dir() -> Path:
    """``<cache root>/bundled`` (not the Tor cache folder: every file there is read as a list)."""
    return cache_root() / "bundled"


def snapshot_key(files: Iterable[Path], where: str) -> str:
    """The key of the lists parsed from ``files`` (bundled, found at ``where``)."""
    digest = hashlib.sha256(f"{FORMAT}\0{torinvest.__version__}\0{where}\0".encode())
    here = Path(__file__).parent
    for path in [*files, *(here / m for m in _PARSING_MODULES)]:
        data = path.read_bytes()
        digest.update(f"{path.name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def _path(key: str) -> Path:
    return snapshot_dir() / f"tor-{key[:32]}.parquet"


def read_snapshot(key: str) -> ExitLists | None:
    """The lists stored under ``key``, or None (none stored, or not readable as they were)."""
    path = _path(key)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        return None
    except (OSError, pa.ArrowException) as e:
        log.debug("bundled exit lists: snapshot %s not read (%s); parsing them", path, e)
        return None
    meta = table.schema.metadata or {}
    try:
        if meta.get(_KEY_KEY, b"").decode() != key:
            raise ValueError("another key")
        sources = [_source(d) for d in json.loads(meta[_SOURCES_KEY])]
        frame = table.to_pandas()
        dtypes = [(str(c), str(t)) for c, t in frame.dtypes.items()]
        if dtypes != [(c.name, c.dtype) for c in EXIT_OBSERVATIONS_COLUMNS]:
            raise ValueError(f"columns {dtypes}")
        if len(frame) != sum(s.observations for s in sources):
            raise ValueError("rows do not add up to the sources' counts")
    except (KeyError, TypeError, ValueError, pa.ArrowException) as e:
        log.debug("bundled exit lists: snapshot %s ignored (%s); parsing them", path, e)
        return None
    return ExitLists(observations=frame, sources=sources)


def write_snapshot(key: str, lists: ExitLists) -> Path | None:
    """Store ``lists`` under ``key`` (the oldest beyond :data:`KEEP` removed); None when it
    cannot be."""
    folder = snapshot_dir()
    path = _path(key)
    table = pa.Table.from_pandas(lists.observations, preserve_index=False)
    meta = {
        **(table.schema.metadata or {}),
        _KEY_KEY: key.encode(),
        _SOURCES_KEY: json.dumps([s.to_dict() for s in lists.sources]).encode(),
    }
    sink = pa.BufferOutputStream()
    pq.write_table(table.replace_schema_metadata(meta), sink, compression="zstd")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, sink.getvalue().to_pybytes(), durable=False)  # a cache
        _prune(folder)
    except OSError as e:
        log.debug("bundled exit lists: snapshot not written to %s (%s)", folder, e)
        return None
    return path


#: Snapshots kept (the newest): installations that share a cache (two virtual environments,
#: an upgrade and a rollback) each keep theirs instead of replacing each other's in turn.
KEEP = 3


def _prune(folder: Path) -> None:
    """Remove all but the :data:`KEEP` newest snapshots in ``folder``."""
    found = []
    for p in folder.glob("tor-*.parquet"):
        with contextlib.suppress(OSError):
            found.append((p.stat().st_mtime_ns, p))
    for _, old in sorted(found, reverse=True)[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()


def _source(d: dict[str, object]) -> ListSource:
    fields = dict(d)
    for name in ("first_seen", "last_seen"):
        fields[name] = pd.Timestamp(str(fields[name]))
    return ListSource(**fields)  # type: ignore[arg-type]
