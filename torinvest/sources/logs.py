"""CloudTrail log files in a folder or an S3 prefix → the events frame (fetch → normalize).

:func:`load_logs` reads every shape of ``CASE/cloudtrail/``: log files (``*.json.gz`` /
``*.json``, ``{"Records": [...]}``) in the S3 key layout or flat, ``aws cloudtrail lookup-events``
output (``{"Events": [...]}``), and JSON lines of records (``.jsonl`` / ``.ndjson``, gzipped or
not, with extra keys such as Logstash's ``@timestamp``). Sources are a local file or folder, or
``s3://bucket/prefix``.

Key layouts (both are narrowed by account, region and day *before* reading; S3 lists only the
day prefixes needed)::

    AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<time>_<id>.json.gz
    AWSLogs/<o-org>/<account>/CloudTrail/<region>/YYYY/MM/DD/...        (organization trail)

``CloudTrail-Digest/`` is skipped. Flat folders are narrowed by the file names CloudTrail gives.
A day folder is read when it is within the window ±1 day (records arrive late into the next
day's folder). A source above its trail (a bucket root, ``s3://bucket/some/``, a case folder)
is searched for every ``AWSLogs/`` folder below it, and each is narrowed (S3: Delimiter
listings, :data:`DISCOVERY_MAX_DEPTH` levels; the folders found are named). A source that gives
no file to read is an issue saying why: no CloudTrail log file there at all (:data:`NO_LOGS_S3`,
:data:`NO_LOGS_LOCAL`), or none in the window/regions (:data:`NO_MATCH`) — never "no events".
An object that cannot be downloaded is an issue saying what it needs (:func:`download_problem`:
``s3:GetObject``, ``kms:Decrypt`` for an SSE-KMS bucket); :class:`FileCounts` counts the files
listed, read, failed (and why) and left out by the narrowing.

Filtering to access keys searches the decompressed bytes before parsing: in a compact
``{"Records":[...]}`` file whose end is whole only the records that contain the key are parsed
(none when the key's bytes are not in it). The rows are those a full parse would give
(``userIdentity.accessKeyId`` is one of the keys): a cut that does not parse as one whole
record makes the file be parsed whole. (The one case the cut cannot tell apart is a record that
embeds a list of complete CloudTrail records, each opening with ``{"eventVersion":``, in its own
fields; CloudTrail writes none.) Files of other shapes (lookup-events output, JSON lines) and
log files whose end is not whole are parsed whole, so that a key-filtered read reports every
problem a full read reports: a file that could not be read cannot be shown not to hold the key.
(The one damage only a full read sees: a log file whose opening and end are whole but whose
middle is not JSON, or holds entries that are not records, away from the key's records — a
gzip file's CRC catches bytes changed after it was written, so it was written so.)

Many files are decompressed and parsed in worker processes that return Arrow pieces (a log
file straight from its bytes, :func:`~torinvest.sources.records.log_file_table`; other shapes
and the records a key filter keeps through :func:`~torinvest.sources.records.records_table`); a
few files are read in this process. The pieces come back as Arrow IPC through a private folder
in ``/dev/shm`` (through the result pipe where there is none).
Nothing valid is lost because something beside it is bad; each problem is one
:class:`~torinvest.errors.DataIssue` naming the file (the line for JSON lines, the event IDs for
records):

- a path in a folder that cannot be looked at (:func:`torinvest.paths.walk_files`: a link to a
  missing target or that loops, a folder that cannot be listed, a named pipe);
- a file that cannot be read, a truncated or corrupt gzip, a document that is not CloudTrail,
  invalid JSON (the whole records of a damaged ``{"Records": [...]}`` file are kept:
  :func:`~torinvest.sources.records.salvage_log_file`);
- a file larger than ``max_file_bytes`` (:data:`DEFAULT_MAX_FILE_BYTES`) once decompressed: not
  read (inflation stops at the limit; a local or S3 file larger on disk is not read at all), so
  that a decompression bomb cannot exhaust memory;
- invalid UTF-8 bytes: replaced with U+FFFD, the records kept and named
  (:func:`~torinvest.sources.records.repair_utf8`);
- records without a usable ``eventTime``: kept with an NA time whatever the window (they cannot
  be shown to be outside it) and named;
- different records sharing an ``eventID``: all kept and named
  (:func:`~torinvest.sources.records.duplicate_issues`); copies of one record are kept once.

The frame is the events frame of :mod:`torinvest.sources.records` (columns: event_time,
event_id, event_name, event_source, aws_region, source_ip, user_agent, error_code,
error_message, read_only, event_type, access_key_id, principal_id, user_type, user_name, arn,
account_id, recipient_account_id, session_issuer_arn, mfa_authenticated, request_parameters,
response_elements, derived, source = ``logs``, origin = the file path or ``s3://`` URL).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import hashlib
import logging
import mmap
import multiprocessing
import os
import re
import shutil
import stat
import sys
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
from tqdm import tqdm  # text bars on a terminal only (tqdm.auto would put widgets in reports)

from torinvest.aws import AWS_CALL_ERRORS, Aws, translate_error
from torinvest.errors import AccessDeniedError, AwsError, DataIssue, InputError, TorinvestError
from torinvest.paths import walk_files
from torinvest.schema import time_window
from torinvest.sources.records import (
    DerivedKey,
    derived_keys,
    filter_keys,
    filter_window,
    frame_from_tables,
    is_record,
    log_file_records,
    log_file_table,
    log_records_table,
    parse_records,
    records_table,
    repair_utf8,
    untimed_issue,
    utf8_issue,
)

try:  # ISA-L inflates gzip about twice as fast as zlib; same API, optional
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - depends on the environment
    _inflate = zlib  # type: ignore[assignment]

log = logging.getLogger(__name__)

SOURCE = "logs"
LOG_SUFFIXES = (
    ".json",
    ".json.gz",
    ".jsonl",
    ".jsonl.gz",
    ".ndjson",
    ".ndjson.gz",
)
SKIP_FOLDERS = frozenset({"CloudTrail-Digest"})
#: Margin around the window for day folders: CloudTrail delivers late into the next day's folder.
DAY_MARGIN = timedelta(days=1)
#: Below these totals files are read in this process (starting workers would cost more).
SEQUENTIAL_MAX_FILES = 3
SEQUENTIAL_MAX_BYTES = 4 << 20
#: Work for one worker task (compressed bytes), and how many tasks per worker at least.
BATCH_BYTES = 4 << 20
TASKS_PER_WORKER = 8
S3_THREADS = 16
#: RAM-backed folder where worker processes leave their pieces (:func:`_read_batch_packed`).
SPILL_ROOT = "/dev/shm"  # noqa: S108 - a private folder is made in it (mkdtemp)
#: The most bytes one log file may hold once decompressed (a file past it is a data issue, not
#: read: a decompression bomb cannot exhaust memory). CloudTrail writes a file per region about
#: every 5 minutes: tens of MB at the busiest; raise it with ``max_file_bytes`` for big exports.
DEFAULT_MAX_FILE_BYTES = 512 << 20
#: How many times :func:`load_logs` re-reads the files for keys minted by minted keys.
MAX_DERIVED_PASSES = 3

ACCOUNT_RE = re.compile(r"^\d{12}$")
ORG_RE = re.compile(r"^o-[a-z0-9]{10,32}$")
FILE_NAME_RE = re.compile(
    r"^(?P<account>\d{12})_CloudTrail_(?P<region>[a-z0-9-]+)_(?P<day>\d{8})T\d{4,6}Z_"
)
_GZIP_MAGIC = b"\x1f\x8b"
_RECORDS_HEAD = re.compile(rb'\s*\{\s*"Records"\s*:\s*\[\s*(?=\{"eventVersion":)')
_RECORD_START = b'{"eventVersion":'
_RECORDS_KEY = re.compile(rb'\s*\{\s*"Records"\s*:')
_INFLATE_ERRORS: tuple[type[BaseException], ...] = tuple(
    {zlib.error, getattr(_inflate, "error", zlib.error), EOFError}
)


# --------------------------------------------------------------------------------------------
# results and options
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class LogsResult:
    """The events frame from log files, and what kept it from being complete.

    ``files_read`` files were opened or tried (downloaded); ``counts`` says how many of them
    were read and which failed, and why (:class:`FileCounts`); ``files_skipped`` log files were
    seen in a listing but left out by the account/region/window narrowing (folders never listed
    are not counted); ``files_matched`` of those read held one of the keys (None for an
    unfiltered load). ``derived`` lists the keys minted by the keys (with ``follow_derived``).
    ``issues`` lists what kept it from being complete (module docstring: paths that could not
    be looked at, files that could not be read, records kept with a caveat). A source that gave
    no file to read is an issue saying why (no log file there, or none in the window); ``notes``
    name the ``AWSLogs/`` folders found below a source, and so on.
    """

    frame: pd.DataFrame
    issues: list[DataIssue] = field(default_factory=list)
    files_read: int = 0
    files_skipped: int = 0
    files_matched: int | None = None
    bytes_read: int = 0
    sources: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    keys: frozenset[str] | None = None
    derived: list[DerivedKey] = field(default_factory=list)
    counts: FileCounts = field(default_factory=lambda: FileCounts())
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Narrowing:
    """Which log files to read, judged from their key layout or name alone."""

    accounts: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None

    @property
    def active(self) -> bool:
        return bool(self.accounts or self.regions or self.start is not None or self.end is not None)

    @property
    def first_day(self) -> date | None:
        return None if self.start is None else (self.start - DAY_MARGIN).date()

    @property
    def last_day(self) -> date | None:
        return None if self.end is None else (self.end + DAY_MARGIN).date()

    def days(self) -> list[date] | None:
        """Day folders to read: the window ±1 day (None when the window is open-ended)."""
        if self.first_day is None or self.last_day is None:
            return None
        n = (self.last_day - self.first_day).days
        return [self.first_day + timedelta(days=i) for i in range(n + 1)]

    def accepts(self, layout: KeyLayout) -> bool:
        if self.accounts and layout.account and layout.account not in self.accounts:
            return False
        if self.regions and layout.region and layout.region not in self.regions:
            return False
        if layout.day is not None:
            if self.first_day is not None and layout.day < self.first_day:
                return False
            if self.last_day is not None and layout.day > self.last_day:
                return False
        return True


@dataclass(frozen=True, slots=True)
class KeyLayout:
    """What a log file's key (or name) says: account, region, day, organization."""

    account: str | None
    region: str | None
    day: date | None
    org: str | None = None


@dataclass(frozen=True, slots=True)
class LogFile:
    """One file to read: a local path or an S3 object."""

    location: str
    size: int
    bucket: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """What the readers keep: the keys (None = every record), the window, the source name;
    and the most bytes one file may hold once decompressed."""

    keys: frozenset[str] | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    source: str = SOURCE
    max_bytes: int = DEFAULT_MAX_FILE_BYTES  # per file, decompressed (see too_large)
    ips: frozenset[str] | None = None  # keep the records from these sourceIPAddress values

    @property
    def key_bytes(self) -> tuple[bytes, ...]:
        return tuple(sorted(k.encode() for k in self.keys or ()))

    @property
    def needles(self) -> tuple[bytes, ...]:
        """The bytes a kept record holds: a key's, else a source IP's as a JSON string."""
        if self.keys:
            return self.key_bytes
        return tuple(sorted(b'"' + ip.encode() + b'"' for ip in self.ips or ()))

    def keep(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records of the keys and, with ``ips``, from those source IPs."""
        kept: list[Any] = filter_keys(records, self.keys) if self.keys else records
        if self.ips:
            kept = [r for r in kept if r.get("sourceIPAddress") in self.ips]
        return kept


@dataclass(slots=True)
class BatchOut:
    """What a batch of files gave: one Arrow piece (or None), the issues, how many files held
    records (with a key filter: held one of the keys). ``first`` orders batches. From a worker
    process the piece comes ``packed`` or ``spilled`` to a file (:func:`_read_batch_packed`)."""

    first: int
    files: int
    table: pa.Table | None
    issues: list[DataIssue]
    matched: int
    packed: list[bytes] | None = None
    spilled: tuple[str, list[tuple[int, int]]] | None = None


# --------------------------------------------------------------------------------------------
# key layout
# --------------------------------------------------------------------------------------------
def key_layout(key: str) -> KeyLayout | None:
    """Account, region and day of a log file from its S3 key layout or its CloudTrail name."""
    parts = [p for p in key.replace("\\", "/").split("/") if p]
    if "AWSLogs" in parts:
        rest = parts[len(parts) - 1 - parts[::-1].index("AWSLogs") + 1 :]
        org = None
        if rest and ORG_RE.match(rest[0]):
            org, rest = rest[0], rest[1:]
        if len(rest) >= 2 and ACCOUNT_RE.match(rest[0]) and rest[1].startswith("CloudTrail"):
            region = rest[2] if len(rest) > 3 else None
            day = _day(rest[3:6]) if len(rest) > 6 else None
            return KeyLayout(account=rest[0], region=region, day=day, org=org)
    m = FILE_NAME_RE.match(parts[-1]) if parts else None
    if m:
        d = m["day"]
        return KeyLayout(m["account"], m["region"], _day([d[:4], d[4:6], d[6:]]))
    return None


def _day(parts: Sequence[str]) -> date | None:
    try:
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except (ValueError, IndexError):
        return None


def _is_digest(key: str) -> bool:
    return "/CloudTrail-Digest/" in key or "_CloudTrail-Digest_" in key


def _is_log_name(name: str) -> bool:
    return name.lower().endswith(LOG_SUFFIXES)


# --------------------------------------------------------------------------------------------
# listing (fetch)
# --------------------------------------------------------------------------------------------
#: Looking for ``AWSLogs/`` below a prefix that is not inside one: how many folder levels down,
#: and how many Delimiter listings at most (past either, the prefix is listed whole, as before).
DISCOVERY_MAX_DEPTH = 4
DISCOVERY_MAX_LISTINGS = 200
TRAIL_FOLDER = "AWSLogs"


@dataclass(slots=True)
class Listing:
    """The log files of one source: those to read, how many were left out by the narrowing,
    the ``AWSLogs/`` folders found (``trails``), and a note when the listing was not narrowed as
    it could have been. ``planned``: only the day folders of the window were listed (other days
    were not seen, so ``skipped`` does not count them), ``prefixes`` of them (none: no account
    or region folder was found in the trail)."""

    files: list[LogFile] = field(default_factory=list)
    skipped: int = 0
    trails: list[str] = field(default_factory=list)
    note: str | None = None
    planned: bool = False
    prefixes: int = 0
    issues: list[DataIssue] = field(default_factory=list)


def _wanted_log(rel: str) -> bool:
    name = rel.rpartition("/")[2]
    return _is_log_name(name) and "_CloudTrail-Digest_" not in name


def list_local(root: Path, narrowing: Narrowing) -> Listing:
    """The log files under a local folder (or the file itself), narrowed by their layout.

    Paths that cannot be looked at (a link to a missing target or that loops, a folder that
    cannot be listed, a named pipe…) are issues of the listing
    (:func:`torinvest.paths.walk_files`); every other file is listed."""
    try:
        walk = walk_files(root, wanted=_wanted_log, skip_folder=SKIP_FOLDERS.__contains__)
    except FileNotFoundError:
        raise InputError(
            f"{root}: no such file or folder",
            hint="pass the CloudTrail folder of the case, a log file, or s3://bucket/prefix",
        ) from None
    except OSError as e:
        raise InputError(
            f"{root}: cannot open: {e.strerror or e}",
            hint="check the path and its permissions",
        ) from None
    listing = Listing(issues=walk.issues)
    top = str(root)
    trails: set[str] = set()
    for found in walk.files:
        if found.path != top:  # a file given by name is read whatever its layout
            rel = os.path.relpath(found.path, top)
            trail = _trail_of(rel.replace(os.sep, "/"))
            if trail is not None:  # every trail below the root is read (and named)
                trails.add(os.path.join(top, trail.rstrip("/")))
            layout = key_layout(rel)
            if layout is not None and not narrowing.accepts(layout):
                listing.skipped += 1
                continue
        listing.files.append(LogFile(found.path, found.size))
    listing.trails = sorted(trails)
    return listing


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` → (bucket, prefix)."""
    if not url.startswith("s3://") or len(url) <= 5:
        raise InputError(f"not an S3 URL: {url!r}", hint="write s3://bucket/prefix")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise InputError(f"no bucket in {url!r}", hint="write s3://bucket/prefix")
    return bucket, prefix


def list_s3(aws: Aws, url: str, narrowing: Narrowing) -> Listing:
    """The log objects under an S3 prefix; with narrowing, only the day prefixes needed are listed.

    A prefix above the trail (the bucket root, ``s3://bucket/some/``) is searched for every
    ``AWSLogs/`` folder below it (:data:`DISCOVERY_MAX_DEPTH` levels, Delimiter listings), and
    each one found is narrowed by account, region and day; ``trails`` names them.

    Raises :class:`~torinvest.errors.AwsError` (with the IAM action needed) when listing fails.
    """
    bucket, prefix = parse_s3_url(url)
    client = aws.client("s3")
    lister = _S3Lister(client, bucket)
    prefixes = lister.plan(prefix, narrowing) if narrowing.active else None
    listing = Listing(note=lister.note, planned=prefixes is not None, prefixes=len(prefixes or ()))
    if prefixes is None:
        prefixes = [prefix]
    trails = set(lister.trails)
    with ThreadPoolExecutor(min(S3_THREADS, max(1, len(prefixes)))) as pool:
        for objects in pool.map(lister.objects, prefixes):
            for key, size in objects:
                if not _is_log_name(key) or _is_digest(key):
                    continue
                trail = _trail_of(key)
                if trail is not None:
                    trails.add(trail)
                layout = key_layout(key)
                if layout is not None and not narrowing.accepts(layout):
                    listing.skipped += 1
                    continue
                listing.files.append(LogFile(f"s3://{bucket}/{key}", size, bucket, key))
    listing.files.sort(key=lambda f: f.location)
    listing.trails = [f"s3://{bucket}/{t}" for t in sorted(trails)]
    return listing


def _trail_of(key: str) -> str | None:
    """The ``…/AWSLogs/`` folder a key is in (its last one), or None."""
    at = ("/" + key).rfind(f"/{TRAIL_FOLDER}/")
    return None if at < 0 else key[: at + len(TRAIL_FOLDER) + 1]


class _S3Lister:
    """ListObjectsV2 calls: folders (Delimiter) to discover the layout, then the day prefixes.

    ``trails`` collects the ``AWSLogs/`` folders the plan found; ``note`` says when the search for
    them stopped at its bounds (the prefix is then listed whole)."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket
        self.trails: list[str] = []
        self.note: str | None = None

    def _call(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        try:
            yield from self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, **kwargs
            )
        except AWS_CALL_ERRORS as e:
            raise translate_error(e, service="s3", operation="ListObjectsV2") from e

    def folders(self, prefix: str) -> list[str]:
        return [
            p["Prefix"]
            for page in self._call(Prefix=prefix, Delimiter="/")
            for p in page.get("CommonPrefixes", [])
        ]

    def objects(self, prefix: str) -> list[tuple[str, int]]:
        return [
            (o["Key"], int(o.get("Size", 0)))
            for page in self._call(Prefix=prefix)
            for o in page.get("Contents", [])
        ]

    def plan(self, prefix: str, narrowing: Narrowing) -> list[str] | None:
        """The prefixes to list for ``narrowing``, or None to list ``prefix`` whole (no trail
        found below it: a flat folder, or nothing)."""
        base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        if f"{TRAIL_FOLDER}/" in "/" + base:
            self.trails.append(_trail_of(base) or base)
            return self._plan_trail(base, narrowing)
        trails, cut = self.discover(prefix)  # as S3 reads it: "ct" finds ct/ and ctx/
        where = f"s3://{self.bucket}/{prefix}"
        if not trails:
            if cut:
                self.note = (
                    f"no {TRAIL_FOLDER}/ folder found under {where} within {cut}: the prefix "
                    f"was listed whole (slower; pass the prefix up to {TRAIL_FOLDER}/)"
                )
            return None  # a flat folder (or nothing): narrowed by the files' names
        if cut:
            self.note = (
                f"looked for {TRAIL_FOLDER}/ folders under {where} within {cut}: a trail "
                "beyond that was not searched (pass its prefix to read it)"
            )
        self.trails += trails
        return [p for trail in trails for p in self._plan_trail(trail, narrowing)]

    def discover(self, base: str) -> tuple[list[str], str | None]:
        """Every ``AWSLogs/`` folder below ``base`` (breadth first, one Delimiter listing per
        folder, not looking inside a trail), and which bound stopped the search (None: every
        folder was looked at)."""
        found: list[str] = []
        level = [base]
        listings = 0
        for _ in range(DISCOVERY_MAX_DEPTH):
            below: list[str] = []
            for folder in level:
                if listings >= DISCOVERY_MAX_LISTINGS:
                    return sorted(found), f"{DISCOVERY_MAX_LISTINGS} folder listings"
                listings += 1
                for child in self.folders(folder):
                    name = child.rstrip("/").rsplit("/", 1)[-1]
                    if name == TRAIL_FOLDER:
                        found.append(child)
                    elif name not in SKIP_FOLDERS:
                        below.append(child)
            if not below:
                return sorted(found), None
            level = below
        return sorted(found), f"{DISCOVERY_MAX_DEPTH} folder levels"

    def _plan_trail(self, base: str, narrowing: Narrowing) -> list[str]:
        """The prefixes to list in one trail (``base`` at or below an ``AWSLogs/`` folder)."""
        root, _, below = base.rpartition(f"{TRAIL_FOLDER}/")
        root += f"{TRAIL_FOLDER}/"
        parts = [p for p in below.split("/") if p]
        org = parts.pop(0) if parts and ORG_RE.match(parts[0]) else None
        top = root + (f"{org}/" if org else "")
        if not parts:
            return self._accounts(top, narrowing, org is not None)
        account = parts[0]
        if not ACCOUNT_RE.match(account) or (len(parts) > 1 and parts[1] != "CloudTrail"):
            return [base]
        if narrowing.accounts and account not in narrowing.accounts:
            return []
        trail = f"{top}{account}/CloudTrail/"
        if len(parts) <= 2:
            return self._regions(trail, narrowing)
        if len(parts) == 3:
            if narrowing.regions and parts[2] not in narrowing.regions:
                return []
            return self._days(f"{trail}{parts[2]}/", narrowing)
        return [base]

    def _accounts(self, prefix: str, narrowing: Narrowing, in_org: bool) -> list[str]:
        out: list[str] = []
        if in_org and narrowing.accounts:
            children = [f"{prefix}{a}/" for a in sorted(narrowing.accounts)]
        else:
            children = self.folders(prefix)
        for child in children:
            name = child[len(prefix) :].strip("/")
            if ORG_RE.match(name) and not in_org:
                out += self._accounts(child, narrowing, True)
            elif ACCOUNT_RE.match(name) and (not narrowing.accounts or name in narrowing.accounts):
                out += self._regions(f"{child}CloudTrail/", narrowing)
        return out

    def _regions(self, prefix: str, narrowing: Narrowing) -> list[str]:
        if narrowing.regions:
            children = [f"{prefix}{r}/" for r in sorted(narrowing.regions)]
        else:
            children = self.folders(prefix)
        return [p for child in children for p in self._days(child, narrowing)]

    def _days(self, prefix: str, narrowing: Narrowing) -> list[str]:
        days = narrowing.days()
        if days is None:
            return [prefix]
        return [f"{prefix}{d:%Y/%m/%d}/" for d in days]


# --------------------------------------------------------------------------------------------
# reading one file (pure: bytes → Arrow piece)
# --------------------------------------------------------------------------------------------
class FileTooLargeError(ValueError):
    """A file whose content (decompressed) is larger than the per-file limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes once decompressed")
        self.limit = limit


def gunzip(data: bytes, limit: int | None = None) -> bytes:
    """Inflate a gzip file (every member). Raises EOFError when it is truncated, and
    :class:`FileTooLargeError` once the inflated bytes pass ``limit`` (None: no limit): a
    decompression bomb never takes more than ``limit`` bytes of memory."""
    out: list[bytes] = []
    total = 0
    rest = data
    while rest:
        d = _inflate.decompressobj(wbits=31)
        if limit is None:
            piece = d.decompress(rest)
        else:
            piece = d.decompress(rest, limit - total + 1)
            if total + len(piece) > limit:
                raise FileTooLargeError(limit)
        total += len(piece)
        out.append(piece)
        if not d.eof:
            raise EOFError("the gzip stream ends early: the file is truncated")
        rest = d.unused_data
        if rest[:2] != _GZIP_MAGIC:
            break
    return out[0] if len(out) == 1 else b"".join(out)


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.0f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def too_large(name: str, limit: int, size: int | None = None) -> DataIssue:
    """The issue of a file past the per-file limit (``size``: its size on disk, when that alone
    is past it), saying how to raise the limit."""
    what = f"{_mib(size)} on disk" if size is not None else "its content, once decompressed, is"
    return DataIssue(
        name,
        f"not read: {what} more than the {_mib(limit)} limit for one log file (a "
        "decompression bomb, or a file far larger than CloudTrail writes); if it is genuine, "
        "raise the limit: --max-file-mb N (notebook parameter max_file_mb, "
        "Python max_file_bytes=…)",
    )


def _content(raw: bytes, name: str, options: ReadOptions) -> tuple[bytes | None, list[DataIssue]]:
    """A file's bytes decompressed (within the per-file limit) and made valid UTF-8 (see
    :func:`~torinvest.sources.records.repair_utf8`), or None and the issue that stopped it."""
    if raw[:2] == _GZIP_MAGIC:
        try:
            data = gunzip(raw, options.max_bytes)
        except FileTooLargeError:
            return None, [too_large(name, options.max_bytes)]
        except _INFLATE_ERRORS as e:
            return None, [DataIssue(name, f"cannot decompress: {e}")]
    elif len(raw) > options.max_bytes:
        return None, [too_large(name, options.max_bytes, len(raw))]
    else:
        data = raw
    return data, []


def read_log_records(
    raw: bytes, name: str, options: ReadOptions
) -> tuple[list[dict[str, Any]], list[DataIssue], bool]:
    """One file's bytes (gzip or not, any shape) → (records kept, issues, held records/a key).

    With ``options.keys`` only the records made with those keys are returned; the issues are
    those of a full read (a damaged file is reported whether or not it holds a key: a file
    that could not be read cannot be shown not to). The window is applied later, on the Arrow
    piece.
    """
    data, issues = _content(raw, name, options)
    if data is None:
        return [], issues, False
    data, bad = repair_utf8(data)
    records, more, held = _records_of(data, name, options)
    if bad:
        more.append(utf8_issue(name, bad, records_table(records, source="", origin=name)))
    return records, issues + more, held


def read_log_table(
    raw: bytes, name: str, options: ReadOptions
) -> tuple[pa.Table | None, list[DataIssue], bool]:
    """One file's bytes → (its Arrow piece or None, issues, held records/a key): the piece of
    :func:`read_log_records`' records. A whole log file (no key filter) is read straight from
    its bytes (:func:`~torinvest.sources.records.log_file_table`), other files through dicts.
    """
    data, issues = _content(raw, name, options)
    if data is None:
        return None, issues, False
    data, bad = repair_utf8(data)
    table, more, held = _table_of(data, name, options)
    if bad:
        more.append(utf8_issue(name, bad, table))
    return table, issues + more, held


def _table_of(
    data: bytes, name: str, options: ReadOptions
) -> tuple[pa.Table | None, list[DataIssue], bool]:
    if not options.keys and not options.ips and _RECORDS_KEY.match(data):
        table = log_file_table(data, source=options.source, origin=name)
        if table is not None:
            return (table if table.num_rows else None), [], table.num_rows > 0
    return _general_table(data, name, options)


def _general_table(
    data: bytes, name: str, options: ReadOptions
) -> tuple[pa.Table | None, list[DataIssue], bool]:
    """:func:`_table_of` through dicts (:func:`_records_of`, then
    :func:`~torinvest.sources.records.records_table`)."""
    records, issues, held = _records_of(data, name, options)
    if not records:
        return None, issues, held
    return records_table(records, source=options.source, origin=name), issues, held


def _records_of(
    data: bytes, name: str, options: ReadOptions
) -> tuple[list[dict[str, Any]], list[DataIssue], bool]:
    """The records of the keys (every record without keys), and the issues a full read gives.

    With keys, a compact log file (``{"Records":[{"eventVersion":…},…]}``) whose end is whole
    is not parsed: only the records around the key's bytes are (none when the bytes are not in
    it). Any other file — another shape, a damaged end, a cut that does not parse as whole
    records — is parsed whole and then filtered, so that its problems are reported as a full
    read reports them."""
    if not options.keys and not options.ips:
        records, issues = parse_records(data, where=name)
        return records, issues, bool(records)
    hits = _key_hits(data, options.needles)
    head = _RECORDS_HEAD.match(data)
    if head is not None and _ends_whole(data):
        if not hits:
            return [], [], False
        records = _parse_chunks(_record_chunks(data, hits, head.end()))
        if records is not None:
            return options.keep(records), [], True
    records, issues = parse_records(data, where=name)
    return options.keep(records), issues, bool(hits)


_ARRAY_END = re.compile(rb"\]\s*\}\s*\Z")


def _ends_whole(data: bytes) -> bool:
    """Whether a compact log file ends as a whole one does: its last record parses, and the
    array and the document close after it (a file cut after a whole record does not pass: its
    last cut then ends inside that record's own brackets, or is not followed by ``]}``)."""
    tail = _ARRAY_END.search(data, max(0, len(data) - 64))
    if tail is None:
        return False
    last = data.rfind(_RECORD_START, 0, tail.start())
    return last != -1 and _parse_chunks([data[last : tail.start()].rstrip()]) is not None


def _key_hits(data: bytes, keys: tuple[bytes, ...]) -> list[int]:
    hits: list[int] = []
    for key in keys:
        pos = data.find(key)
        while pos != -1:
            hits.append(pos)
            pos = data.find(key, pos + len(key))
    hits.sort()
    return hits


def _record_chunks(data: bytes, hits: list[int], first: int) -> list[bytes]:
    end_of_array = data.rfind(b"]")
    chunks: list[bytes] = []
    last_end = -1
    for pos in hits:
        if pos < last_end:
            continue  # same record as the previous hit
        start = data.rfind(_RECORD_START, first, pos)
        if start == -1:
            start = first
        end = data.find(_RECORD_START, pos)
        if end == -1:
            end = end_of_array
        chunks.append(data[start:end].rstrip(b" \t\r\n,"))
        last_end = end
    return chunks


def _parse_chunks(chunks: list[bytes]) -> list[dict[str, Any]] | None:
    records = []
    for chunk in chunks:
        try:
            rec = orjson.loads(chunk)
        except orjson.JSONDecodeError:
            return None
        if not is_record(rec):
            return None
        records.append(rec)
    return records


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Parsing allocates millions of dicts that all die together: don't let the GC scan them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_local(path: str, limit: int) -> bytes | DataIssue:
    """A local file's bytes, or the issue that kept them from being read: it cannot be opened
    (gone since it was listed, no permission), is not a regular file (a named pipe put there
    since: opened without blocking, never read), or is larger than ``limit``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        return DataIssue(path, f"cannot read: {e.strerror or e}")
    with open(fd, "rb", buffering=0) as f:
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return DataIssue(path, "not a regular file: not read")
            if st.st_size > limit:
                return too_large(path, limit, st.st_size)
            data = f.read(st.st_size + 1)  # a buffer of its size, not of the limit
            if len(data) > st.st_size:  # it grew since fstat: the rest, up to the limit
                data += f.read(limit + 1 - len(data))
        except OSError as e:
            return DataIssue(path, f"cannot read: {e.strerror or e}")
    if len(data) > limit:  # it grew since fstat
        return too_large(path, limit, len(data))
    return data


#: Records of consecutive log files made into one piece at a time (:class:`_LogGroup`): enough
#: that the fixed cost of a piece (about 1 ms) vanishes for small files, few enough that the
#: parsed records stay in the CPU's caches.
GROUP_RECORDS = 1024


def read_batch(batch: Sequence[tuple[int, str, bytes | None]], options: ReadOptions) -> BatchOut:
    """Worker task: files (local paths, or S3 bytes already fetched) → one Arrow piece.

    Whole log files of a full read are parsed one by one and their records made into pieces a
    group of files at a time (:class:`_LogGroup`, about :data:`GROUP_RECORDS` records);
    every other file (another shape, damage, invalid UTF-8, a key filter) is read alone, in
    its place. The piece holds the rows, and the issues are those, in the order, that reading
    each file alone gives (:func:`read_log_table`, :func:`untimed_issue`,
    :func:`~torinvest.sources.records.filter_window`).
    """
    tables: list[pa.Table] = []
    slots: list[list[DataIssue]] = []  # each file's issues, in file order
    matched = 0
    group = _LogGroup(options)
    with _gc_paused():
        for _, name, raw in batch:
            mine: list[DataIssue] = []
            slots.append(mine)
            if raw is None:
                raw = read_local(name, options.max_bytes)
                if isinstance(raw, DataIssue):
                    mine.append(raw)
                    continue
            data, problems = _content(raw, name, options)
            del raw
            if data is None:
                mine += problems
                continue
            data, bad = repair_utf8(data)
            read = _table_of
            if not options.keys and not options.ips and not bad and _RECORDS_KEY.match(data):
                recs = log_file_records(data)
                if recs is not None:  # a whole log file: into the group
                    if recs:
                        matched += 1
                        if group.add(name, data, recs, mine) >= GROUP_RECORDS:
                            tables += group.flush()
                    continue
                read = _general_table  # not one the fast path can read
            tables += group.flush()  # the files before this one come first
            table, more, held = read(data, name, options)
            if bad:
                more.append(utf8_issue(name, bad, table))
            del data
            mine += more
            matched += held
            if table is not None:
                tables += _windowed(table, name, options, mine)
        tables += group.flush()
    issues = [issue for mine in slots for issue in mine]
    table = pa.concat_tables(tables) if tables else None
    return BatchOut(batch[0][0] if batch else 0, len(batch), table, issues, matched)


def _windowed(
    table: pa.Table, name: str, options: ReadOptions, issues: list[DataIssue]
) -> list[pa.Table]:
    """One file's piece within the window (rows without a time kept and named in ``issues``)."""
    untimed = untimed_issue(table, name)
    if untimed is not None:
        issues.append(untimed)
    table = filter_window(table, options.start, options.end)
    return [table] if table.num_rows else []


@dataclass(slots=True)
class _LogGroup:
    """Whole log files parsed (:func:`~torinvest.sources.records.log_file_records`) and not yet
    made into a piece: :meth:`flush` makes one piece of all of them (``origin`` runs name each
    file's rows), the rows and issues that a piece per file gives."""

    options: ReadOptions
    names: list[str] = field(default_factory=list)
    datas: list[bytes] = field(default_factory=list)
    recs: list[Any] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    slots: list[list[DataIssue]] = field(default_factory=list)

    def add(self, name: str, data: bytes, recs: list[Any], issues: list[DataIssue]) -> int:
        """Add a file (its bytes, its records, where its issues go); the records held now."""
        self.names.append(name)
        self.datas.append(data)
        self.recs += recs
        self.counts.append(len(recs))
        self.slots.append(issues)
        return len(self.recs)

    def flush(self) -> list[pa.Table]:
        """The pieces of the files added (one, unless a value sends them back one by one), each
        within the window; the group is empty after."""
        if not self.names:
            return []
        source = self.options.source
        runs = list(zip(self.names, self.counts, strict=True))
        table = log_records_table(self.recs, source=source, origin=runs)
        files = list(zip(self.names, self.datas, self.counts, self.slots, strict=True))
        recs = self.recs
        self.names, self.datas, self.recs, self.counts, self.slots = [], [], [], [], []
        if table is None:  # a raw value that does not parse again: each file alone
            return self._one_by_one(files, recs)
        if table.column("event_time").null_count:  # the files with untimed records say so
            offset = 0
            for (
                name,
                _,
                count,
                issues,
            ) in files:
                untimed = untimed_issue(table.slice(offset, count), name)
                if untimed is not None:
                    issues.append(untimed)
                offset += count
        table = filter_window(table, self.options.start, self.options.end)
        return [table] if table.num_rows else []

    def _one_by_one(
        self, files: list[tuple[str, bytes, int, list[DataIssue]]], recs: list[Any]
    ) -> list[pa.Table]:
        tables: list[pa.Table] = []
        offset = 0
        for name, data, count, issues in files:
            mine = recs[offset : offset + count]
            offset += count
            table = log_records_table(mine, source=self.options.source, origin=name)
            if table is None:
                table, more, _ = _table_of(data, name, self.options)
                issues += more
            if table is not None:
                tables += _windowed(table, name, self.options, issues)
        return tables


def _read_batch_packed(
    batch: Sequence[tuple[int, str, bytes | None]], options: ReadOptions, folder: str | None
) -> BatchOut:
    """:func:`read_batch` in a worker process. The piece goes back as Arrow IPC, one stream
    per column: written straight into a file of ``folder`` (RAM-backed), which the main
    process maps without copying (:func:`_receive`), else packed through the result pipe (a
    piece of megabytes through the pipe costs both processes far more CPU time)."""
    out = read_batch(batch, options)
    if out.table is not None:
        table = out.table.combine_chunks()  # one batch per column: far cheaper IPC
        out.table = None
        out.spilled = _spill(table, folder, out.first)
        if out.spilled is None:
            out.packed = [p.to_pybytes() for p in _pack(table)]
    return out


def _write_column(sink: Any, table: pa.Table, i: int) -> None:
    column = table.select([i])
    with pa.ipc.new_stream(sink, column.schema) as writer:
        writer.write_table(column)


def _pack(table: pa.Table) -> list[pa.Buffer]:
    """A piece as one Arrow IPC stream per column: cheap to write and to read back, and each
    column still has memory of its own, freed as soon as the frame has converted it."""
    packed = []
    for i in range(table.num_columns):
        sink = pa.BufferOutputStream()
        _write_column(sink, table, i)
        packed.append(sink.getvalue())
    return packed


#: Each column's stream starts at a multiple of this in a spilled piece, so that the main
#: process maps each column on its own (and unmaps it once converted).
_MAP_ALIGN = mmap.ALLOCATIONGRANULARITY


def _spill(
    table: pa.Table, folder: str | None, first: int
) -> tuple[str, list[tuple[int, int]]] | None:
    """Write a piece into ``folder`` (one stream per column, each at an aligned offset): the
    file and each column's (offset, length); None when there is no folder or no room."""
    if folder is None:
        return None
    path = os.path.join(folder, f"{first}.arrows")
    spans: list[tuple[int, int]] = []
    try:
        with pa.OSFile(path, "wb") as sink:
            for i in range(table.num_columns):
                at = sink.tell()
                if at % _MAP_ALIGN:
                    sink.write(bytes(_MAP_ALIGN - at % _MAP_ALIGN))
                    at = sink.tell()
                _write_column(sink, table, i)
                spans.append((at, sink.tell() - at))
    except OSError:  # no room (a small /dev/shm): through the pipe
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    return path, spans


def _receive(out: BatchOut) -> None:
    """Unpack a worker's piece into ``out.table``: a spilled one is mapped, one column at a
    time (no copy; each mapping goes when its column's memory is freed), and its file
    removed."""
    if out.spilled is not None:
        path, spans = out.spilled
        out.spilled = None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            maps = [mmap.mmap(fd, n, offset=at, access=mmap.ACCESS_READ) for at, n in spans]
        finally:
            os.close(fd)
            os.unlink(path)
        out.table = _unpack([pa.py_buffer(m) for m in maps])
    if out.packed is not None:
        out.table, out.packed = _unpack(out.packed), None


def _unpack(packed: Sequence[bytes | pa.Buffer]) -> pa.Table:
    columns = [pa.ipc.open_stream(data).read_all() for data in packed]
    return pa.Table.from_arrays(
        [c.column(0) for c in columns], schema=pa.schema([c.schema.field(0) for c in columns])
    )


def _spill_folder() -> str | None:
    """A new folder in /dev/shm for the workers' pieces, or None (no /dev/shm)."""
    if not os.path.isdir(SPILL_ROOT):
        return None
    try:
        return tempfile.mkdtemp(prefix="torinvest-", dir=SPILL_ROOT)
    except OSError:
        return None


# --------------------------------------------------------------------------------------------
# running the reads
# --------------------------------------------------------------------------------------------
def _batches(files: Sequence[LogFile], workers: int) -> list[list[int]]:
    """File indexes grouped into tasks of about equal bytes (in file order), the last ones
    smaller."""
    total = sum(f.size for f in files)
    target = max(1, min(BATCH_BYTES, total // max(1, workers * TASKS_PER_WORKER)))
    batches: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i, f in enumerate(files):
        current.append(i)
        size += f.size
        if size >= target:
            batches.append(current)
            current, size = [], 0
    if current:
        batches.append(current)
    # the last tasks are halved, so that the workers run out of work close together
    last = 2 * workers
    halves = [h for b in batches[-last:] for h in (b[: len(b) // 2], b[len(b) // 2 :]) if h]
    return batches[:-last] + halves


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _mp_context() -> multiprocessing.context.BaseContext:
    # fork starts workers in milliseconds with everything imported; spawn elsewhere.
    method = "fork" if sys.platform == "linux" else "spawn"
    return multiprocessing.get_context(method)


#: glibc ``mallopt`` parameters (malloc.h) and the values set in worker processes.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
WORKER_MMAP_THRESHOLD = 64 << 20
WORKER_TRIM_THRESHOLD = 256 << 20


def _worker_started() -> None:
    """In each worker process: keep freed memory for the next file. By default glibc gives
    blocks of megabytes (a file's decompressed bytes…) back to the system as soon as they are
    freed, and taking them again costs a page fault per 4 KiB, a tenth of a worker's time."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, WORKER_MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, WORKER_TRIM_THRESHOLD)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


class _Runner:
    """Reads files sequentially or in worker processes; S3 bytes come from a thread pool."""

    def __init__(
        self,
        files: Sequence[LogFile],
        options: ReadOptions,
        *,
        workers: int,
        aws: Aws | None,
        spool: Path | None = None,
    ) -> None:
        self.files = files
        self.options = options
        self.aws = aws
        self.spool = spool  # S3 objects kept here once downloaded (passes after the first)
        total = sum(f.size for f in files)
        small = len(files) <= SEQUENTIAL_MAX_FILES or total <= SEQUENTIAL_MAX_BYTES
        self.workers = 1 if small else max(1, workers)

    def run(self, bar: Callable[[], Any]) -> list[BatchOut]:
        """Read every file; ``bar()`` makes the progress bar (after the workers are forked, so
        that its monitor thread is not running at the fork)."""
        if self.workers == 1:
            out = []
            with bar() as progress:
                for batch in self._inputs(_batches(self.files, 1)):
                    out.append(self._local(batch))
                    progress.update(len(batch))
            return out
        folder = _spill_folder()
        try:
            with ProcessPoolExecutor(
                self.workers, mp_context=_mp_context(), initializer=_worker_started
            ) as pool:
                pool.submit(int).result()  # fork the workers now, before any thread exists
                with bar() as progress:
                    return self._run_pool(pool, progress.update, folder)
        finally:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def _local(self, batch: list[tuple[int, str, Any]]) -> BatchOut:
        issues = [b[2] for b in batch if isinstance(b[2], DataIssue)]
        ready = [b for b in batch if not isinstance(b[2], DataIssue)]
        out = read_batch(ready, self.options) if ready else BatchOut(0, 0, None, [], 0)
        out.first, out.files = batch[0][0], len(batch)
        out.issues = issues + out.issues
        return out

    def _run_pool(
        self, pool: ProcessPoolExecutor, progress: Callable[[int], None], folder: str | None
    ) -> list[BatchOut]:
        results: list[BatchOut] = []
        pending: dict[Future[BatchOut], tuple[int, list[DataIssue]]] = {}

        def collect() -> None:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                n, issues = pending.pop(fut)
                out = fut.result()
                _receive(out)
                out.issues = issues + out.issues
                results.append(out)
                progress(n)

        for batch in self._inputs(_batches(self.files, self.workers)):
            issues = [b[2] for b in batch if isinstance(b[2], DataIssue)]
            ready = [b for b in batch if not isinstance(b[2], DataIssue)]
            if not ready:
                results.append(BatchOut(batch[0][0], len(batch), None, issues, 0))
                progress(len(batch))
                continue
            pending[pool.submit(_read_batch_packed, ready, self.options, folder)] = (
                len(batch),
                issues,
            )
            while len(pending) > 2 * self.workers:
                collect()
        while pending:
            collect()
        return results

    def _inputs(self, groups: list[list[int]]) -> Iterator[list[tuple[int, str, Any]]]:
        """Each group as (index, location, bytes | None | DataIssue); S3 bytes fetched ahead."""
        if all(f.bucket is None for f in self.files):
            for group in groups:
                yield [(i, self.files[i].location, None) for i in group]
            return
        with ThreadPoolExecutor(S3_THREADS, thread_name_prefix="torinvest-s3") as threads:
            ahead = (
                [threads.submit(self._fetch, self.files[i]) for i in groups[0]] if groups else []
            )
            for n, group in enumerate(groups):
                following = groups[n + 1] if n + 1 < len(groups) else []
                upcoming = [threads.submit(self._fetch, self.files[i]) for i in following]
                yield [
                    (i, self.files[i].location, fut.result())
                    for i, fut in zip(group, ahead, strict=True)
                ]
                ahead = upcoming

    def _fetch(self, f: LogFile) -> bytes | DataIssue | None:
        if f.bucket is None:
            return None  # a local file: the reader opens it
        if f.size > self.options.max_bytes:  # not downloaded at all
            return too_large(f.location, self.options.max_bytes, f.size)
        if self.spool is None:
            return _get_object(self.aws, f)
        # a flat name (hash of the URL): an S3 key cannot climb out of the spool folder
        kept = self.spool / hashlib.sha256(f.location.encode()).hexdigest()
        if kept.is_file():
            return kept.read_bytes()
        got = _get_object(self.aws, f)
        if isinstance(got, bytes):
            kept.write_bytes(got)
        return got


def _get_object(aws: Aws | None, f: LogFile) -> bytes | DataIssue:
    if aws is None or f.bucket is None or f.key is None:  # pragma: no cover - caller's bug
        raise ValueError(f"{f.location} is not an S3 object, or no Aws session was given")
    try:
        return aws.client("s3").get_object(Bucket=f.bucket, Key=f.key)["Body"].read()
    except AWS_CALL_ERRORS as e:
        return DataIssue(f.location, download_problem(e))


#: What reading a trail's objects needs, said when a download is denied.
GET_OBJECT_NEEDS = "needs s3:GetObject; kms:Decrypt when the trail's bucket uses SSE-KMS"
_KMS_WORDS = ("kms", "ciphertext", "master key")
_MESSAGE_CHARS = 200


def download_problem(error: BaseException) -> str:
    """Why an S3 object could not be downloaded, the same words for every object that failed
    alike (so that :func:`~torinvest.errors.group_issues` folds thousands into one line): the
    error code and what it needs — ``s3:GetObject``, and ``kms:Decrypt`` when S3 says KMS
    refused (an SSE-KMS trail bucket)."""
    err = translate_error(error, service="s3", operation="GetObject")
    message = " ".join(
        str(getattr(error, "response", {}).get("Error", {}).get("Message") or "").split()
    )
    if len(message) > _MESSAGE_CHARS:
        message = message[: _MESSAGE_CHARS - 1] + "…"
    code = err.code or type(error).__name__
    if isinstance(err, AccessDeniedError) or code.startswith("KMS."):
        if code.startswith("KMS.") or any(w in message.lower() for w in _KMS_WORDS):
            return (
                f"could not be downloaded: {code} (needs kms:Decrypt on the KMS key the trail's "
                f"bucket encrypts with (SSE-KMS), and s3:GetObject; S3 said: {message or '-'})"
            )
        return f"could not be downloaded: {code} ({GET_OBJECT_NEEDS})"
    if code == "NoSuchKey":
        return "could not be downloaded: NoSuchKey (the object was deleted after it was listed)"
    return f"could not be downloaded: {err}"


# --------------------------------------------------------------------------------------------
# the entry point
# --------------------------------------------------------------------------------------------
def _key_set(keys: str | Iterable[str] | None) -> frozenset[str] | None:
    if keys is None:
        return None
    found = frozenset({keys} if isinstance(keys, str) else keys)
    if not found or not all(isinstance(k, str) and k for k in found):
        raise InputError(
            f"invalid access key filter {sorted(found)!r}",
            hint="pass an access key ID such as AKIA… or ASIA…, or None for every record",
        )
    return found


@dataclass(slots=True)
class LogListing:
    """The log files of several sources (:func:`list_logs`): ``files`` to read (each once),
    ``skipped`` log files left out by the narrowing, the ``roots`` as given, the ``AWSLogs/``
    folders found (``trails``), ``empty``: one issue per source that gave no file to read and
    why (no log file there at all, or none in the window/regions), ``failed``: one issue per
    source that could not be listed (when another could), and ``notes``."""

    files: list[LogFile] = field(default_factory=list)
    skipped: int = 0
    roots: list[str] = field(default_factory=list)
    trails: list[str] = field(default_factory=list)
    empty: list[DataIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[DataIssue] = field(default_factory=list)
    unreadable: list[DataIssue] = field(default_factory=list)

    @property
    def issues(self) -> list[DataIssue]:
        """The sources that could not be listed, the paths in a folder that could not be looked
        at (:func:`list_local`), then the sources that gave no file."""
        return [*self.failed, *self.unreadable, *self.empty]


#: What a source holding no log file at all says (S3 prefix, local folder).
NO_LOGS_S3 = "no CloudTrail log files under this prefix (check the prefix)"
NO_LOGS_LOCAL = (
    "no CloudTrail log files in this folder (check the path; log files end in .json.gz, "
    ".json, .jsonl or .ndjson)"
)
NO_MATCH = "no log file matched the window/region narrowing"


def list_logs(
    sources: str | Path | Sequence[str | Path],
    narrowing: Narrowing | None = None,
    *,
    aws: Aws | None = None,
    issues: list[DataIssue] | None = None,
) -> LogListing:
    """The log files to read in ``sources`` (files, folders, ``s3://`` prefixes), and for each
    source that gave none, why (:class:`LogListing`). A source that cannot be listed (a missing
    path: InputError; an S3 listing refused: AwsError) is an issue when another source could be
    listed (its files are read); when none could, the first error is raised. Paths in a folder
    that cannot be looked at (:func:`list_local`) are in ``unreadable`` (and appended to
    ``issues`` when a list is given)."""
    roots = [sources] if isinstance(sources, str | Path) else list(sources)
    narrowing = narrowing or Narrowing()
    out = LogListing()
    files: list[LogFile] = []
    errors: list[TorinvestError] = []
    for root in roots:
        name = str(root)
        out.roots.append(name)
        try:
            if name.startswith("s3://"):
                aws = aws or Aws()
                listing = list_s3(aws, name, narrowing)
            else:
                listing = list_local(Path(root).expanduser(), narrowing)
                out.unreadable += listing.issues
        except (InputError, AwsError) as e:
            errors.append(e)
            out.failed.append(DataIssue(name, f"could not be listed: {e}"))
            continue
        files += listing.files
        out.skipped += listing.skipped
        out.trails += [t for t in listing.trails if t not in out.trails]
        if listing.note:
            out.notes.append(listing.note)
        inside = f"/{TRAIL_FOLDER}/" in name.rstrip("/") + "/"
        if len(listing.trails) > 1 or (listing.trails and name.startswith("s3://") and not inside):
            out.notes.append(
                f"CloudTrail log folders found under {name}: {', '.join(listing.trails)} "
                "(each narrowed by account, region and day)"
            )
        if not listing.files:
            out.empty.append(DataIssue(name, _empty_problem(name, listing, narrowing)))
    if errors and len(errors) == len(roots):
        raise errors[0]
    out.files = list({f.location: f for f in files}.values())
    if issues is not None:
        issues += out.unreadable
    return out


def _empty_problem(name: str, listing: Listing, narrowing: Narrowing) -> str:
    """Why a source gave no file to read: nothing CloudTrail there, or nothing in the window."""
    if listing.skipped:
        return f"{NO_MATCH} ({listing.skipped:,} log file(s) outside it)"
    if listing.planned and listing.trails and listing.prefixes:
        days = ""
        if narrowing.first_day is not None and narrowing.last_day is not None:
            days = f" {narrowing.first_day:%Y/%m/%d}–{narrowing.last_day:%Y/%m/%d}"
        return (
            f"{NO_MATCH} (the day folders{days} of the accounts and regions asked are empty in "
            f"{', '.join(listing.trails)}; other days were not listed)"
        )
    return NO_LOGS_S3 if name.startswith("s3://") else NO_LOGS_LOCAL


@dataclass(slots=True)
class FileCounts:
    """The log files of a load, counted: ``listed`` passed the narrowing (to read), ``failed``
    could not be read whole (location → why: not downloaded, not inflated, not CloudTrail…),
    ``skipped`` were outside the narrowing (counted where a listing saw them), ``trails`` the
    ``AWSLogs/`` folders found."""

    listed: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    trails: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Files read (listed, less those that failed)."""
        return self.listed - len(self.failed)

    def add(self, other: FileCounts) -> None:
        self.listed += other.listed
        self.skipped += other.skipped
        self.failed.update(other.failed)
        self.trails += [t for t in other.trails if t not in self.trails]

    def reasons(self) -> str:
        """Why files failed, counted by reason: ``8 could not be downloaded: AccessDenied``."""
        counts: dict[str, int] = {}
        for problem in self.failed.values():
            reason = _reason(problem)
            counts[reason] = counts.get(reason, 0) + 1
        return "; ".join(f"{n:,} {r}" for r, n in counts.items())

    def describe(self) -> str:
        """One line: ``62 log file(s) listed, 54 read, 8 failed (8 could not be downloaded:
        AccessDenied), 120 outside the window/region narrowing``."""
        text = f"{self.listed:,} log file(s) listed, {self.read:,} read"
        if self.failed:
            text += f", {len(self.failed):,} failed ({self.reasons()})"
        if self.skipped:
            text += f", {self.skipped:,} outside the window/region narrowing"
        return text


_REASON = re.compile(r"could not be downloaded: [\w.]+|[^:(]+")


def _reason(problem: str) -> str:
    if "limit for one log file" in problem:  # too_large()
        return "over the size limit (--max-file-mb)"
    m = _REASON.match(problem)
    reason = (m.group(0) if m else problem).strip()
    return reason[:80] or "unreadable"


def file_failures(issues: Iterable[DataIssue], files: Iterable[LogFile]) -> dict[str, str]:
    """The files an issue names whole (location → the first problem): those that could not be
    read. Issues of a part of a file (``path:line``) leave the file counted as read."""
    locations = {f.location for f in files}
    failed: dict[str, str] = {}
    for issue in issues:
        if issue.source in locations:
            failed.setdefault(issue.source, issue.problem)
    return failed


def load_logs(
    sources: str | Path | Sequence[str | Path],
    *,
    access_keys: str | Iterable[str] | None = None,
    start: datetime | str | pd.Timestamp | None = None,
    end: datetime | str | pd.Timestamp | None = None,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    follow_derived: bool = False,
    aws: Aws | None = None,
    workers: int | None = None,
    progress: bool | None = None,
    max_file_bytes: int | None = None,
    source_ips: Iterable[str] | None = None,
) -> LogsResult:
    """The events frame from CloudTrail log files in folders, files or ``s3://`` prefixes.

    ``source_ips`` keeps the records from those addresses (``sourceIPAddress``; files are
    searched for their bytes first, as for keys).

    ``access_keys`` keeps the records made with those keys (``userIdentity.accessKeyId``);
    ``start``/``end`` (UTC when naive) keep records in that window and, with ``accounts`` and
    ``regions``, narrow which files are read at all; ``regions`` also drops records of other
    regions (those without ``awsRegion`` are kept). ``follow_derived`` also loads the activity
    of temporary keys minted by the keys (GetSessionToken, AssumeRole…), re-reading the files
    for them (S3 objects are downloaded once, to a temporary folder deleted at the end); those
    rows have ``derived`` True. ``workers`` processes parse (default: one per
    core); ``progress`` shows a bar over files (default: only on a terminal).
    ``max_file_bytes`` is the most one file may hold once decompressed (default
    :data:`DEFAULT_MAX_FILE_BYTES`): a larger file is a data issue, not read.

    Raises :class:`~torinvest.errors.InputError` for a missing path and
    :class:`~torinvest.errors.AwsError` when an S3 prefix cannot be listed. Everything else is
    a data issue in the result, and the rest loads: a path in a folder that cannot be looked
    at, a file that cannot be read or decompressed, is damaged (what it held whole is
    loaded), is not CloudTrail or is past the size limit — whether or not it holds a key: a
    file that could not be read cannot be shown not to —; records without a usable time
    (kept, NA time, whatever the window); invalid UTF-8 bytes (replaced, the records kept);
    different records sharing an eventID (all kept).
    """
    keys = _key_set(access_keys)
    if follow_derived and not keys:
        raise InputError("follow_derived needs access_keys", hint="name the suspect access key")
    first, last = time_window(start, end, names=("start", "end"))  # a date-only end: its day
    narrowing = Narrowing(
        accounts=frozenset(accounts) if accounts else None,
        regions=frozenset(regions) if regions else None,
        start=first,
        end=last,
    )
    limit = DEFAULT_MAX_FILE_BYTES if max_file_bytes is None else max_file_bytes
    if limit <= 0:
        raise InputError(
            f"invalid file size limit {limit}", hint="a number of bytes > 0, e.g. 1073741824"
        )
    listing = list_logs(sources, narrowing, aws=aws)
    files, skipped, roots = listing.files, listing.skipped, listing.roots
    if any(f.bucket for f in files) and aws is None:
        aws = Aws()
    options = ReadOptions(keys=keys, start=narrowing.start, end=narrowing.end, max_bytes=limit)
    if source_ips is not None:
        ips = frozenset(source_ips)
        if not ips or not all(isinstance(ip, str) and ip for ip in ips):
            raise InputError(f"invalid source IP filter {sorted(ips)!r}", hint="name an address")
        options = replace(options, ips=ips)
    n_workers = workers or default_workers()
    with contextlib.ExitStack() as stack:
        spool = None
        if follow_derived and any(f.bucket for f in files):  # downloaded once, read per pass
            spool = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="torinvest-s3-")))
        pieces = _read_all(files, options, n_workers, aws, progress, spool)
        matched = sum(p.matched for p in pieces)  # files holding the keys (the first pass)
        minted: list[DerivedKey] = []
        if follow_derived:
            extra, minted = _follow(pieces, files, options, n_workers, aws, progress, spool)
            pieces += extra
    result = LogsResult(
        frame=pd.DataFrame(),
        files_read=len(files),
        files_skipped=skipped,
        files_matched=matched if keys else None,
        bytes_read=sum(f.size for f in files),
        sources=roots,
        files=[f.location for f in files],
        keys=keys,
        derived=minted,
    )
    ordered = sorted(pieces, key=lambda p: p.first)
    result.issues = listing.failed + listing.unreadable
    result.issues += list(dict.fromkeys(i for p in ordered for i in p.issues))
    result.issues += listing.empty
    result.notes = list(listing.notes)
    result.counts = FileCounts(
        listed=len(files),
        skipped=skipped,
        failed=file_failures(result.issues, files),
        trails=list(listing.trails),
    )
    tables = [p.table for p in ordered if p.table is not None]
    for p in ordered:
        p.table = None
    derived = {d.access_key_id for d in result.derived}
    result.frame = frame_from_tables(
        tables, derived_keys=derived if keys else None, consume=True, issues=result.issues
    )
    if narrowing.regions:
        result.frame = keep_regions(result.frame, narrowing.regions)
    log.info(
        "logs: %d files read, %d skipped, %d rows, %d issues",
        result.files_read,
        result.files_skipped,
        len(result.frame),
        len(result.issues),
    )
    return result


def keep_regions(frame: pd.DataFrame, regions: Iterable[str]) -> pd.DataFrame:
    """The rows of ``frame`` whose ``aws_region`` is one of ``regions`` (or unknown)."""
    region = frame["aws_region"]
    keep = region.isna() | region.isin(list(regions))
    return frame if bool(keep.all()) else subset(frame, keep.to_numpy(dtype=bool))


def subset(frame: pd.DataFrame, keep: Any) -> pd.DataFrame:
    """The rows of an events frame where ``keep`` is True, its categoricals holding only the
    values left (a category of a dropped row would show as an empty group)."""
    out = frame[keep].reset_index(drop=True)
    for name in out.columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].cat.remove_unused_categories()
    return out


def _read_all(
    files: Sequence[LogFile],
    options: ReadOptions,
    workers: int,
    aws: Aws | None,
    progress: bool | None,
    spool: Path | None = None,
) -> list[BatchOut]:
    runner = _Runner(files, options, workers=workers, aws=aws, spool=spool)
    disable = None if progress is None else not progress  # None: only on a terminal

    def bar() -> tqdm:
        return tqdm(total=len(files), unit="file", desc="CloudTrail logs", disable=disable)

    return runner.run(bar)


def _follow(
    pieces: list[BatchOut],
    files: Sequence[LogFile],
    options: ReadOptions,
    workers: int,
    aws: Aws | None,
    progress: bool | None,
    spool: Path | None,
) -> tuple[list[BatchOut], list[DerivedKey]]:
    """Re-read the files for keys minted by the keys, until no new key appears (S3 objects from
    ``spool``, where the first pass left them).

    Returns the pieces of the extra passes (indexes after the first pass's) and the keys found.
    """
    assert options.keys is not None
    known = set(options.keys)
    found: list[DerivedKey] = []
    extra: list[BatchOut] = []
    latest = pieces
    for n in range(1, MAX_DERIVED_PASSES + 1):
        frame = frame_from_tables([p.table for p in latest if p.table is not None])
        new = [d for d in derived_keys(frame, known) if d.access_key_id not in known]
        if not new:
            break
        found += new
        fresh = frozenset(d.access_key_id for d in new)
        known |= fresh
        pass_options = replace(options, keys=fresh)
        latest = _read_all(files, pass_options, workers, aws, progress, spool)
        for p in latest:
            p.first += n * len(files)
        extra += latest
    return extra, found
