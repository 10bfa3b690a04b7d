"""Listing log files (fetch): a local file or folder, an ``s3://`` prefix, narrowed by the key
layout before reading; several sources at once (:func:`list_logs`), and why none was found.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import stat
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from torinvest.aws import (
    AWS_CALL_ERRORS,
    DEFAULT_REGIONS,
    Aws,
    arn_partition,
    follow_pages,
    translate_error,
)
from torinvest.errors import AccessDeniedError, AwsError, DataIssue, InputError, TorinvestError
from torinvest.paths import FoundFile, walk_files
from torinvest.schema import utc_times
from torinvest.sniff import CLI_OUTPUT_DO, CLI_OUTPUTS, read_head, sniff
from torinvest.sources.empty import NO_LOGS_LOCAL as NO_LOGS_LOCAL
from torinvest.sources.empty import NO_LOGS_S3 as NO_LOGS_S3
from torinvest.sources.empty import NO_MATCH as NO_MATCH
from torinvest.sources.logs.archive import archived_issue, archived_state
from torinvest.sources.logs.coverage import (
    FILE_NAME_RE,
    Answer,
    Coverage,
    EnabledRegions,
    coverage_issues,
    dated_place,
    held_by,
    named_place,
)
from torinvest.sources.logs.digests import DIGEST, DigestFolders, LocalDigests, S3Digests
from torinvest.sources.logs.model import S3_THREADS, KeyLayout, LogFile, Narrowing
from torinvest.sources.logs.signatures import PublicKeys
from torinvest.sources.logs.versions import (
    GET_VERSION,
    Entry,
    Found,
    bucket_versioning,
    entries,
    etag_of,
    recover,
    version_issues,
    version_pages,
)
from torinvest.sources.logs.writes import write_issues
from torinvest.sources.records.documents import answer_regions, answer_scope, is_lookup_answer

LOG_SUFFIXES = (
    ".json",
    ".json.gz",
    ".jsonl",
    ".jsonl.gz",
    ".ndjson",
    ".ndjson.gz",
)
SKIP_FOLDERS = frozenset({"CloudTrail-Digest"})


ACCOUNT_RE = re.compile(r"\A[0-9]{12}\Z")
ORG_RE = re.compile(r"^o-[a-z0-9]{10,32}$")


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


def _digest_folder(key: str) -> tuple[str, str] | None:
    """``(…/CloudTrail-Digest/ folder, region)`` of a key in a trail's digest folder, or None."""
    at = ("/" + key).rfind(f"/{DIGEST}/")
    if at < 0:
        return None
    base = key[: at + len(DIGEST) + 1]
    region = key[len(base) :].partition("/")[0]
    return (base, region) if region else None


def _is_flat_digest(key: str) -> bool:
    """A digest file named like CloudTrail's outside a ``CloudTrail-Digest/`` folder."""
    path = "/" + key.replace("\\", "/")
    return "/CloudTrail-Digest/" not in path and "_CloudTrail-Digest_" in path.rpartition("/")[2]


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
    or region folder was found in the trail). ``left_out``: the log files left out by the
    region narrowing, counted by region; ``unlisted``: the folders where only the regions asked
    were listed (files of other regions there were not seen, so not counted). ``coverage``:
    the regions and days the dated trail layout shows (:mod:`.coverage`)."""

    files: list[LogFile] = field(default_factory=list)
    skipped: int = 0
    left_out: Counter[str] = field(default_factory=Counter)
    unlisted: list[str] = field(default_factory=list)
    trails: list[str] = field(default_factory=list)
    note: str | None = None
    planned: bool = False
    prefixes: int = 0
    issues: list[DataIssue] = field(default_factory=list)
    coverage: Coverage = field(default_factory=Coverage)
    #: what the bucket's versions show (:mod:`.versions`): deleted and rewritten log files, one
    #: issue per region folder and kind; ``version_notes``: what could not be looked at there
    versions: list[DataIssue] = field(default_factory=list)
    version_notes: list[str] = field(default_factory=list)
    #: listed with ListObjectVersions (the bucket keeps versions, and listing them was allowed)
    versioned: bool = False
    #: digest files outside the trail's ``CloudTrail-Digest/`` folders named like CloudTrail's (a
    #: flat folder of downloads): read beside the log files named like CloudTrail's there
    #: (:meth:`~torinvest.sources.logs.digests.DigestFolders.add_flat`)
    flat_digests: list[str] = field(default_factory=list)
    #: the ``CloudTrail-Digest/`` folders an S3 prefix listed whole holds entirely (their
    #: location → the regions with a digest file there): whether the trail logged a region is
    #: known without listing them again (:meth:`~.digests.DigestFolders.listed`)
    digest_regions: dict[str, frozenset[str]] = field(default_factory=dict)


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
    listing.flat_digests = [path for path, rel in walk.passed if _is_flat_digest(rel)]
    top = str(root)
    trails: set[str] = set()
    for found in [*walk.files, *_by_content(walk.passed, listing)]:
        rel = found.rel
        listing.coverage.add(found.path, top, narrowing)
        if rel:  # a file given by name ("" below its root) is read whatever its layout
            trail = _trail_of(rel)
            if trail is not None:  # every trail below the root is read (and named)
                trails.add(os.path.join(top, trail.rstrip("/")))
            layout = key_layout(rel) if narrowing.active else None
            if layout is not None and not narrowing.accepts(layout):
                _skip(listing, layout, narrowing)
                continue
        written = None if found.mtime is None else datetime.fromtimestamp(found.mtime, UTC)
        listing.files.append(LogFile(found.path, found.size, written=written))
    listing.trails = sorted(trails)
    if listing.coverage.flat:
        listing.coverage.answers, unopened = _answers(listing.files)
        if unopened:
            note = (
                f"{unopened:,} file(s) beside the log files named like CloudTrail's were not "
                f"opened to look for saved LookupEvents answers (past {MAX_ANSWERS_OPENED} "
                f"files or {MAX_ANSWERS_BYTES // 2**20} MB opened): the regions they may hold "
                "stay named missing"
            )
            listing.note = f"{listing.note}; {note}" if listing.note else note
    return listing


#: Beside a flat group of log files (:class:`~torinvest.sources.logs.coverage.Flat`), at most
#: this many other local files, and this many bytes of them on disk, are opened to tell saved
#: LookupEvents answers and their regions (past them, the others are not looked at: the
#: regions they hold stay "no log file named for" them).
MAX_ANSWERS_OPENED = 100
MAX_ANSWERS_BYTES = 128 * 1024 * 1024
_REGION_IN_NAME = re.compile(r"(?<![a-z])([a-z]{2}(?:-gov)?-[a-z]+-\d{1,2})(?![0-9])")
_ANSWER_KEY = re.compile(rb'"AccessKeyId"\s*:\s*"([A-Z0-9]{16,128})"')
_ANSWER_ACCOUNT = re.compile(rb'\\?"recipientAccountId\\?"\s*:\s*\\?"(\d{12})\\?"')


def _answers(files: Sequence[LogFile]) -> tuple[list[Answer], int]:
    """The saved LookupEvents answers among the local ``files`` that are neither in the dated
    layout nor named like CloudTrail's (bounded: :data:`MAX_ANSWERS_OPENED`), each with the
    regions it holds events of (none: the region its path names) and its records' accounts;
    and how many such files were not opened (past the bounds)."""
    out: list[Answer] = []
    opened, budget = 0, MAX_ANSWERS_BYTES
    others = [
        f for f in files if not (f.bucket or dated_place(f.location) or named_place(f.location))
    ]
    for n, f in enumerate(others):
        if opened >= MAX_ANSWERS_OPENED or f.size > budget:
            return out, len(others) - n
        opened, budget = opened + 1, budget - f.size
        try:
            with open(f.location, "rb") as fh:
                head = fh.read(2)
                fh.seek(0)
                data = (
                    gzip.GzipFile(fileobj=fh).read(MAX_ANSWERS_BYTES + 1)
                    if head == b"\x1f\x8b"
                    else fh.read(MAX_ANSWERS_BYTES + 1)
                )
        except (OSError, EOFError, zlib.error):
            continue  # the reading names it
        if len(data) > MAX_ANSWERS_BYTES or not is_lookup_answer(data):
            continue
        regions = answer_regions(data) or frozenset(
            m.group(1) for m in _REGION_IN_NAME.finditer(f.location.lower())
        )
        accounts = frozenset(m.decode() for m in _ANSWER_ACCOUNT.findall(data))
        scope = answer_scope(data)
        only = None if scope is None else (scope.attribute, scope.value, scope.events)
        if regions:
            key_ids = frozenset(m.decode() for m in _ANSWER_KEY.findall(data))
            first, last = _answer_span(data)
            out.append(Answer(f.location, regions, accounts, only, key_ids, first, last))
    return out, 0


#: A record's ``eventTime`` in a saved LookupEvents answer (inside its escaped
#: ``CloudTrailEvent`` text, or a record of its own).
_ANSWER_TIME = re.compile(rb'eventTime\\?"\s*:\s*\\?"([0-9][0-9T:.+\-]{9,40}Z?)\\?"')


def _answer_span(data: bytes) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The times of the first and last records of a saved LookupEvents answer (None, None:
    none with a usable time)."""
    times = utc_times(m.decode() for m in _ANSWER_TIME.findall(data)).dropna()
    if not len(times):
        return None, None
    return times.min(), times.max()


#: At most this many files not named like log files are looked at in one folder (the rest are
#: counted in a note).
MAX_SNIFFED = 2000
#: At most this many files named in a note or issue about files not named like log files.
MAX_NAMED_FILES = 5


def _by_content(passed: list[tuple[str, str]], listing: Listing) -> list[FoundFile]:
    """The files of a folder not named like log files (``passed`` by the walk) that hold
    CloudTrail JSON (:func:`torinvest.sniff.sniff`): read as log files, and said in a note.
    One issue per kind names those that may hold events and are not read (an archive, another
    compression, a CSV of CloudTrail events); other files (notes, images…) say nothing."""
    taken: list[FoundFile] = []
    unread: dict[str, list[str]] = {}
    looked = 0
    for path, rel in passed:
        if _is_digest(rel) or rel.rpartition("/")[2].startswith("."):
            continue
        if looked == MAX_SNIFFED:
            listing.issues.append(
                DataIssue(
                    os.path.dirname(path) or path,
                    f"more than {MAX_SNIFFED:,} files not named like log files: the others "
                    "were not looked at (a log file among them under another name was not "
                    "read); name log files *.json.gz, *.json, *.jsonl or *.ndjson",
                    unread=True,
                )
            )
            break
        looked += 1
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                continue  # a pipe or device is never opened
            found = sniff(read_head(path))
        except OSError:
            continue  # cannot be opened: nothing is known of it (the walk names broken links)
        if found is None or found.kind in ("findings", "findings-text"):
            continue
        if found.kind == "cloudtrail" and found.compression in (None, "gzip"):
            taken.append(FoundFile(path, st.st_size, rel, st.st_mtime))
            unread.setdefault("cloudtrail", []).append(path)
        elif found.kind == "cloudtrail":  # bzip2, xz: the log reader inflates gzip only
            unread.setdefault(f"compressed with {found.compression}", []).append(path)
        else:
            unread.setdefault(found.what, []).append(path)
    read = unread.pop("cloudtrail", [])
    if read:
        note = (
            f"{len(read):,} file(s) not named like log files hold CloudTrail JSON and were read "
            f"({_named(read)})"
        )
        listing.note = f"{listing.note}; {note}" if listing.note else note
    for what, paths in sorted(unread.items()):
        listing.issues.append(
            DataIssue(
                paths[0] if len(paths) == 1 else os.path.commonpath(paths),
                f"{len(paths):,} file(s) {_UNREAD[what]} ({_named(paths)}): not read, so their "
                f"events, if any, are missing; {_UNREAD_DO[what]}",
                unread=True,
            )
        )
    return taken


def _named(paths: list[str]) -> str:
    shown = ", ".join(os.path.basename(p) for p in paths[:MAX_NAMED_FILES])
    return shown + (
        f" and {len(paths) - MAX_NAMED_FILES:,} more" if len(paths) > MAX_NAMED_FILES else ""
    )


_UNREAD: Mapping[str, str] = {
    "a zip archive": "are zip archives",
    "a 7-Zip archive": "are 7-Zip archives",
    "a RAR archive": "are RAR archives",
    "a tar archive": "are tar archives",
    **{
        f"a tar archive ({c}-compressed)": f"are tar archives ({c}-compressed)"
        for c in ("gzip", "bzip2", "xz")
    },
    "compressed with bzip2": "are compressed with bzip2",
    "compressed with xz": "are compressed with xz",
    "compressed with zstd": "are compressed with zstd",
    "a CSV of CloudTrail events": "are CSV tables of CloudTrail events",
    **{what: f"are {what}" for what in CLI_OUTPUTS},
}
_EXTRACT = "extract them into the folder (torinvest does not open archives) and re-run"
_UNREAD_DO: Mapping[str, str] = {
    **{what: _EXTRACT for what in _UNREAD if "archive" in what},
    **{
        what: "decompress them in the folder (or gzip them: *.json.gz is read) and re-run"
        for what in _UNREAD
        if what.startswith("compressed")
    },
    **{what: CLI_OUTPUT_DO for what in CLI_OUTPUTS},
    "a CSV of CloudTrail events": (
        "a table lacks the records' request, response and user agent — export the events as "
        "JSON (the console's Event history: Download events → JSON; `aws cloudtrail "
        "lookup-events --output json`; the trail's log files) into the folder and re-run"
    ),
}


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
    versioning = bucket_versioning(aws, client, bucket)
    lister = _S3Lister(client, bucket, versions=bool(versioning.on))
    coverage = lister.coverage
    prefixes = lister.plan(prefix, narrowing) if narrowing.active else None
    listing = Listing(
        note=lister.note,
        planned=prefixes is not None,
        prefixes=len(prefixes or ()),
        coverage=coverage,
    )
    if prefixes is None:
        prefixes = [prefix]
    trails = set(lister.trails)
    digest_regions: dict[str, set[str]] = {}  # a prefix listed whole: its digest folders seen
    kept: dict[str, Entry] = {}  # deleted or rewritten: location → what the versions say
    lost: dict[str, Entry] = {}
    with ThreadPoolExecutor(min(S3_THREADS, max(1, len(prefixes)))) as pool:
        for objects in pool.map(lister.objects, prefixes):
            for entry in objects:
                key = entry.key
                if _is_flat_digest(key) and not entry.lost:
                    listing.flat_digests.append(f"s3://{bucket}/{key}")
                digest = _digest_folder(key) if not listing.planned else None
                if digest is not None:  # deleted ones too: the trail logged that region
                    digest_regions.setdefault(digest[0], set()).add(digest[1])
                if not _is_log_name(key) or _is_digest(key):
                    continue
                trail = _trail_of(key)
                if trail is not None:
                    trails.add(trail)
                location = f"s3://{bucket}/{key}"
                # a file deleted is the deletion's issue, not a gap's
                coverage.add(location, f"s3://{bucket}/{prefix}", narrowing)
                if entry.lost:  # deleted, no version kept: nothing to read
                    layout = key_layout(key)
                    if layout is None or narrowing.accepts(layout):
                        lost[location] = entry
                    continue
                layout = key_layout(key)
                if layout is not None and not narrowing.accepts(layout):
                    _skip(listing, layout, narrowing)
                    continue
                if entry.history is not None:
                    kept[location] = entry
                listing.files.append(
                    LogFile(
                        location,
                        entry.size,
                        bucket,
                        key,
                        entry.archived,
                        entry.restoring,
                        written=entry.written,
                        version=entry.version,
                        etag=entry.etag,
                    )
                )
    if kept or lost:
        found: Found = recover(client, bucket, kept, lost)
        if found.refused is not None:  # the first versions cannot be read
            listing.files = _unversioned(listing.files, kept)
        listing.versions = version_issues(found)
    listing.version_notes = _version_notes(bucket, versioning.why, lister.versions_refused)
    listing.versioned = lister.versions and lister.versions_refused is None
    for folder in coverage.unknown():  # one listing of the folder, only where it tells
        key = folder.removeprefix(f"s3://{bucket}/")
        names = [p[len(key) :].strip("/") for p in lister.folders(key)]
        coverage.judge(folder, coverage.scope[folder], names)
    if not listing.planned:  # each trail folder's digest folder, when the prefix held it
        for folder in coverage.scope:
            if folder in coverage.flat or not folder.endswith("/CloudTrail/"):
                continue  # a flat group's digest files are its own (add_flat)
            base = folder.removeprefix(f"s3://{bucket}/").removesuffix("CloudTrail/") + DIGEST + "/"
            if folder.startswith(f"s3://{bucket}/") and base.startswith(prefix):
                regions = frozenset(digest_regions.get(base, ()))
                listing.digest_regions[f"s3://{bucket}/{base}"] = regions
    listing.files.sort(key=lambda f: f.location)
    listing.trails = [f"s3://{bucket}/{t}" for t in sorted(trails)]
    listing.left_out.update(lister.left_out)
    listing.unlisted = [f"s3://{bucket}/{p}" for p in lister.unlisted]
    return listing


def _unversioned(files: list[LogFile], kept: Mapping[str, Entry]) -> list[LogFile]:
    """``files`` when the earlier versions of ``kept`` cannot be read: a rewritten file is read
    in its current version (as without versions), a deleted one is not read."""
    out = []
    for f in files:
        entry = kept.get(f.location)
        if entry is None or entry.history is None:
            out.append(f)
        elif entry.history.newest_current:
            h = entry.history
            out.append(replace(f, version=None, size=h.newest_size, written=h.newest_written))
    return out


def _version_notes(bucket: str, unasked: str, refused: str | None) -> list[str]:
    """What could not be looked at of a bucket's versions (:mod:`.versions`)."""
    notes = []
    if unasked:
        notes.append(
            f"s3://{bucket}: whether the bucket keeps versions could not be asked "
            f"(s3:GetBucketVersioning: {unasked}): log files deleted or rewritten there, if it "
            "does, were not looked for (their earlier versions were not read); grant "
            "s3:GetBucketVersioning, s3:ListBucketVersions and s3:GetObjectVersion to have "
            "them read"
        )
    if refused is not None:
        notes.append(
            f"s3://{bucket}: the bucket keeps versions, but listing them was refused "
            f"(s3:ListBucketVersions: {refused}): log files deleted or rewritten there were not "
            "looked for (listed with ListObjectsV2: current versions only, earlier versions not "
            f"read); grant s3:ListBucketVersions and {GET_VERSION} to have them read"
        )
    return notes


def _utc(value: object) -> datetime | None:
    """An object's ``LastModified`` (botocore parses it to an aware datetime) in UTC."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    return value.astimezone(UTC)


@dataclass(slots=True)
class Under:
    """What listing some ``s3://`` folders found (:func:`listed_under`): ``archived``, one issue
    per log file archived in S3 Glacier and not restored (:func:`~.archive.archived_issue`);
    ``found``, per bucket keeping versions, the log files deleted or rewritten there
    (:class:`~.versions.Found`); ``unlooked``, per bucket, what could not be asked of its
    versions — (bucket, the permission refused or failing, why)."""

    archived: list[DataIssue] = field(default_factory=list)
    found: dict[str, Found] = field(default_factory=dict)
    unlooked: list[tuple[str, str, str]] = field(default_factory=list)


def listed_under(aws: Aws, urls: Sequence[str], *, versions: bool = False) -> Under:
    """The log files under each ``s3://`` prefix of ``urls`` (one listing per prefix, its pages
    of 1,000, in threads): those the listing says are archived in S3 Glacier and not restored,
    and — with ``versions`` — those deleted or rewritten in a bucket that keeps versions (each
    bucket's versioning asked once per run, :func:`~.versions.bucket_versioning`; where it
    keeps them, ListObjectVersions in the place of ListObjectsV2, as :func:`list_s3` lists;
    the rewritten files compared with their first version, at most
    :data:`~.versions.MAX_COMPARED` per bucket, :func:`~.versions.recover`). A refusal of the
    versions is said in ``unlooked`` and the listing goes on with ListObjectsV2. Raises
    :class:`~torinvest.errors.AwsError` (naming the bucket and prefix) when a prefix cannot be
    listed."""
    client = aws.client("s3")
    parsed = [parse_s3_url(url) for url in urls]
    out = Under()
    listers: dict[str, _S3Lister] = {}
    for bucket in dict.fromkeys(b for b, _ in parsed):
        keeps = False
        if versions:
            versioning = bucket_versioning(aws, client, bucket)
            if versioning.why:
                out.unlooked.append((bucket, "s3:GetBucketVersioning", versioning.why))
            keeps = bool(versioning.on)
        listers[bucket] = _S3Lister(client, bucket, versions=keeps)
    kept: dict[str, dict[str, Entry]] = {b: {} for b in listers}
    lost: dict[str, dict[str, Entry]] = {b: {} for b in listers}

    def one(where: tuple[str, str]) -> tuple[str, list[Entry]]:
        bucket, prefix = where
        return bucket, listers[bucket].objects(prefix)

    # each bucket's first folder alone: a refusal of its versions is learnt once, not per folder
    firsts = {bucket: (bucket, prefix) for bucket, prefix in reversed(parsed)}
    listed = [one(where) for where in firsts.values()]
    rest = [where for where in parsed if where not in firsts.values()]
    with ThreadPoolExecutor(min(S3_THREADS, max(1, len(rest)))) as pool:
        listed += pool.map(one, rest)
    for bucket, objects in listed:
        for e in objects:
            if not _is_log_name(e.key) or _is_digest(e.key):
                continue
            location = f"s3://{bucket}/{e.key}"
            if e.lost:
                lost[bucket][location] = e
                continue
            if e.history is not None:
                kept[bucket][location] = e
                if e.history.deleted is not None:
                    continue  # not there: its deletion is said, not its storage class
            if e.archived:
                out.archived.append(archived_issue(location, e.archived, e.restoring))
    for bucket, lister in listers.items():
        if lister.versions_refused is not None:
            out.unlooked.append((bucket, "s3:ListBucketVersions", lister.versions_refused))
        if kept[bucket] or lost[bucket]:
            out.found[bucket] = recover(client, bucket, kept[bucket], lost[bucket])
    return out


def archived_under(aws: Aws, urls: Sequence[str]) -> list[DataIssue]:
    """The log files under each ``s3://`` prefix of ``urls`` that the listing (ListObjectsV2)
    says are archived in S3 Glacier and not restored: one issue each
    (:func:`~.archive.archived_issue`, folded by :func:`~.archive.fold_archived`)."""
    return listed_under(aws, urls).archived


def _skip(listing: Listing, layout: KeyLayout, narrowing: Narrowing) -> None:
    """Count a log file left out by the narrowing (by region when its region was not asked)."""
    listing.skipped += 1
    if narrowing.regions and layout.region and layout.region not in narrowing.regions:
        listing.left_out[layout.region] += 1


def _trail_of(key: str) -> str | None:
    """The ``…/AWSLogs/`` folder a key is in (its last one), or None."""
    at = ("/" + key).rfind(f"/{TRAIL_FOLDER}/")
    return None if at < 0 else key[: at + len(TRAIL_FOLDER) + 1]


class _S3Lister:
    """ListObjectsV2 calls: folders (Delimiter) to discover the layout, then the day prefixes;
    ListObjectVersions calls instead (``versions``: the bucket keeps versions, :mod:`.versions`),
    until one is refused (``versions_refused`` says why: ListObjectsV2 from then on).

    ``trails`` collects the ``AWSLogs/`` folders the plan found; ``note`` says when the search for
    them stopped at its bounds (the prefix is then listed whole)."""

    def __init__(self, client: Any, bucket: str, *, versions: bool = False) -> None:
        self.client = client
        self.bucket = bucket
        self.versions = versions
        self.versions_refused: str | None = None
        self.trails: list[str] = []
        self.note: str | None = None
        #: regions whose folder was named in the prefix and left out (no file counted)
        self.left_out: Counter[str] = Counter()
        #: ``…/CloudTrail/`` folders where only the regions asked were listed
        self.unlisted: list[str] = []
        #: the ``…/CloudTrail/`` folders planned and what is known of their regions
        self.coverage = Coverage()

    def _call(self, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
        """The pages of one listing; an error names the bucket and prefix listed. A listing
        whose continuation token comes back, or that passes its page cap, raises EndpointError
        (:mod:`torinvest.aws.pages`): the prefix could not be listed completely."""
        where = f"s3://{self.bucket}/{kwargs.get('Prefix', '')}"
        try:
            yield from follow_pages(
                self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, **kwargs),
                "NextContinuationToken",
                "s3",
                "ListObjectsV2",
                region=self.client.meta.region_name,
                resource=where,
                more_key="IsTruncated",
            )
        except AWS_CALL_ERRORS as e:
            raise translate_error(e, service="s3", operation="ListObjectsV2", resource=where) from e

    def _versions(self, **kwargs: Any) -> list[Mapping[str, Any]] | None:
        """Every ListObjectVersions page of one listing, or None when versions are not listed
        (the bucket keeps none, or a listing of them was refused: noted, not asked again)."""
        if not self.versions or self.versions_refused is not None:
            return None
        try:
            return list(version_pages(self.client, self.bucket, **kwargs))
        except AccessDeniedError as e:
            self.versions_refused = e.message
            return None

    def folders(self, prefix: str) -> list[str]:
        """The folders in ``prefix``: with versions, those holding only deleted files too."""
        pages = self._versions(Prefix=prefix, Delimiter="/")
        if pages is None:
            pages = list(self._call(Prefix=prefix, Delimiter="/"))
        return [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", []) or []]

    def objects(self, prefix: str) -> list[Entry]:
        """Each object's key, size, ``LastModified`` (S3's write time, in the listing: no extra
        call; None when the answer has none), archive storage class (None: it can be read) and
        whether a restore of it is in progress (:func:`~.archive.archived_state`: the restore
        status is asked with the listing). With versions (:mod:`.versions`), the version to read
        of a key deleted or rewritten, and its history."""
        options: dict[str, Any] = {"OptionalObjectAttributes": ["RestoreStatus"]}
        pages = self._versions(Prefix=prefix, **options)
        if pages is not None:
            return entries(pages)
        return [
            Entry(
                o["Key"],
                int(o.get("Size", 0)),
                _utc(o.get("LastModified")),
                *archived_state(o),
                etag=etag_of(o),
            )
            for page in self._call(Prefix=prefix, **options)
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
                self.left_out[parts[2]] += 0  # named, not listed: no file counted
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
        folder = f"s3://{self.bucket}/{prefix}"
        if narrowing.regions:  # the other regions' folders are not listed (nor counted)
            self.unlisted.append(prefix)
            children = [f"{prefix}{r}/" for r in sorted(narrowing.regions)]
            self.coverage.judge(folder, narrowing.regions, None)  # listed if one has no file
        else:
            children = self.folders(prefix)
            self.coverage.judge(folder, None, [c[len(prefix) :].strip("/") for c in children])
        return [p for child in children for p in self._days(child, narrowing)]

    def _days(self, prefix: str, narrowing: Narrowing) -> list[str]:
        days = narrowing.days()
        if days is None:
            return [prefix]
        return [f"{prefix}{d:%Y/%m/%d}/" for d in days]


@dataclass(slots=True)
class LogListing:
    """The log files of several sources (:func:`list_logs`): ``files`` to read (each once),
    ``skipped`` log files left out by the narrowing, the ``roots`` as given, the ``AWSLogs/``
    folders found (``trails``), ``empty``: one issue per source that gave no file to read and
    why (no log file there at all, or none in the window/regions), ``failed``: one issue per
    source that could not be listed (when another could), ``notes``, and ``asides``: facts
    that are no issue (the days a trail's digest files show quiet, :mod:`.digests`)."""

    files: list[LogFile] = field(default_factory=list)
    skipped: int = 0
    roots: list[str] = field(default_factory=list)
    trails: list[str] = field(default_factory=list)
    empty: list[DataIssue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failed: list[DataIssue] = field(default_factory=list)
    unreadable: list[DataIssue] = field(default_factory=list)
    gaps: list[DataIssue] = field(default_factory=list)
    asides: list[str] = field(default_factory=list)
    #: What the trail's digests say log files to read hold: location → (SHA-256, digest).
    hashes: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: The names of the trails whose digest files were listed beside the log files (empty:
    #: none was: which trail they are of is not known)
    trail_names: list[str] = field(default_factory=list)

    @property
    def issues(self) -> list[DataIssue]:
        """The sources that could not be listed, the paths in a folder that could not be looked
        at (:func:`list_local`), the sources that gave no file, then the regions and days with
        no log file (``gaps``: :func:`~torinvest.sources.logs.coverage.coverage_issues`)."""
        return [*self.failed, *self.unreadable, *self.empty, *self.gaps]


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
    ``issues`` when a list is given). A file given twice (:func:`read_once`) is listed once,
    and an aside says so; the sources' coverage is judged together, per account
    (:func:`~torinvest.sources.logs.coverage.coverage_issues`' ``elsewhere`` and ``said``)."""
    roots = [sources] if isinstance(sources, str | Path) else list(sources)
    narrowing = narrowing or Narrowing()
    out = LogListing()
    files: list[LogFile] = []
    errors: list[TorinvestError] = []
    listed: list[tuple[str, Listing]] = []
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
        listed.append((name, listing))
    # the regions and days of each account a source holds: what one lacks, another may hold
    # (an account's files read from another source were read), and what all lack is said once
    said: set[tuple[str, str, date | None]] = set()
    for at, (name, listing) in enumerate(listed):
        files += listing.files
        out.skipped += listing.skipped
        out.notes += [n for n in listing.version_notes if n not in out.notes]
        out.trails += [t for t in listing.trails if t not in out.trails]
        if listing.note:
            out.notes.append(listing.note)
        left_out = _region_note(name, listing, narrowing)
        if left_out:
            out.notes.append(left_out)
        inside = f"/{TRAIL_FOLDER}/" in name.rstrip("/") + "/"
        if len(listing.trails) > 1 or (listing.trails and name.startswith("s3://") and not inside):
            out.notes.append(
                f"CloudTrail log folders found under {name}: {', '.join(listing.trails)} "
                "(each narrowed by account, region and day)"
            )
        if not listing.files:
            out.empty.append(DataIssue(name, _empty_problem(name, listing, narrowing)))
        digests = _digests(name, aws, narrowing, versions=listing.versioned)
        digests.add_flat(listing.flat_digests)
        digests.listed(listing.digest_regions)
        enabled = None  # no --regions: every region of a trail on S3, the enabled ones too
        every = any(scope is None for scope in listing.coverage.scope.values())
        if aws is not None and name.startswith("s3://") and not narrowing.regions and every:
            enabled = _enabled_regions(aws, name, out)
        elif not name.startswith("s3://") and not narrowing.regions and every:
            enabled = offline_regions(listing.coverage)
        unvouched: set[tuple[str, str, str]] = set()
        gaps = listing.versions + coverage_issues(
            listing.coverage,
            narrowing,
            digests=digests,
            asides=out.asides,
            hashes=out.hashes,
            enabled=enabled,
            unvouched=unvouched,
            elsewhere=held_by([c.coverage for i, (_, c) in enumerate(listed) if i != at]),
            said=said,
        )
        if isinstance(digests, S3Digests):
            gaps += digests.version_issues()
        gaps += write_issues(
            listing.files, vouched=out.hashes, unvouched=unvouched, asides=out.asides
        )
        seen = {_same_issue(g) for g in out.gaps}  # a folder given twice: its issues once
        out.gaps += [g for g in gaps if _same_issue(g) not in seen]
        out.trail_names += [t for t in digests.trail_names() if t not in out.trail_names]
    if errors and len(errors) == len(roots):
        raise errors[0]
    once, twice = read_once(files)
    out.files = [
        replace(f, sha256=out.hashes[f.location]) if f.location in out.hashes else f for f in once
    ]
    if twice:  # counted once, read once: said (nothing is missing)
        out.asides.append(given_twice_note(twice))
    if issues is not None:
        issues += out.unreadable
    return out


def read_once(files: Sequence[LogFile]) -> tuple[list[LogFile], list[tuple[str, str]]]:
    """``files`` with each file once, and the (location not read, location read) of the others:
    one listed twice (sources that overlap: a folder and a folder in it), the same file by
    another path (a folder given as two paths: relative and absolute, a link — compared by
    resolved path; an S3 object by its key and version), or a copy of the same content (a
    log file downloaded flat beside the trail's ``AWSLogs/`` layout, or in both of two
    sources): the same name and size, and the same content — its SHA-256 (local files; only
    those sharing a name and size are hashed), its ETag (S3; an object read from an earlier
    version is never taken for a copy). Of copies, the one in the dated layout is read (its
    digest checks it). Their events are the same: read twice, they were counted twice."""
    out: list[LogFile] = []
    at: dict[tuple[str, ...], int] = {}
    twice: list[tuple[str, str]] = []
    folders: dict[str, str] = {}  # resolved once per folder (a trail's files share a few)
    for f in files:
        place = _place(f, folders)
        if place in at:
            twice.append((f.location, out[at[place]].location))
            continue
        at[place] = len(out)
        out.append(f)
    alike: dict[tuple[str, int], list[int]] = {}
    for i, f in enumerate(out):
        alike.setdefault((_base_name(f.location), f.size), []).append(i)
    dropped: set[int] = set()
    for group in alike.values():
        if len(group) < 2:
            continue
        kept: dict[str, int] = {}
        for i in sorted(group, key=lambda i: (dated_place(out[i].location) is None, i)):
            content = _content(out[i])
            if content is None:
                continue
            if content in kept:
                dropped.add(i)
                twice.append((out[i].location, out[kept[content]].location))
            else:
                kept[content] = i
    return [f for i, f in enumerate(out) if i not in dropped], twice


#: At most this many files named in the note on files given twice.
MAX_TWICE_NAMED = 2


def given_twice_note(twice: Sequence[tuple[str, str]]) -> str:
    """The note of :func:`read_once`'s files not read again (nothing is missing)."""
    shown = "; ".join(
        f"{a} listed twice" if a == b else f"{a} is {b}" for a, b in twice[:MAX_TWICE_NAMED]
    )
    more = len(twice) - MAX_TWICE_NAMED
    return (
        f"{len(twice):,} log file(s) given twice, read once — the same file listed twice, "
        "by another path, or a copy with the same name and content (e.g. "
        f"{shown}{f'; and {more:,} more' if more > 0 else ''}): each is counted once"
    )


def twin_candidates(files: Sequence[LogFile]) -> frozenset[str]:
    """The locations of ``files`` (each given once: :func:`read_once`) that may still be copies
    of one another: those sharing a name (less ``.gz``) with another. A copy :func:`read_once`
    cannot tell before reading — an S3 object whose ETag is not its content's MD5 (a multipart
    upload or copy, SSE-KMS), a file gunzipped beside its ``.json.gz`` — is told as it is read:
    each of these is fingerprinted (:func:`~.read.fingerprint`) and :func:`content_twins` pairs them."""
    names: dict[str, list[str]] = {}
    for f in files:
        names.setdefault(_base_name(f.location).removesuffix(".gz"), []).append(f.location)
    return frozenset(loc for locs in names.values() if len(locs) > 1 for loc in locs)


def content_twins(prints: Mapping[str, str], files: Sequence[LogFile]) -> list[tuple[str, str]]:
    """The (copy, file kept) of ``files`` whose inflated content (``prints``: location → its
    :func:`~.read.fingerprint`; files without one are none) is another's: read, their events are that
    file's (the frame keeps one of each record), so each is counted once — of copies, the one
    in the dated layout is kept, as :func:`read_once` keeps it."""
    kept: dict[str, str] = {}
    out: list[tuple[str, str]] = []
    ranked = sorted(range(len(files)), key=lambda i: (dated_place(files[i].location) is None, i))
    for i in ranked:
        location = files[i].location
        print_ = prints.get(location)
        if print_ is None:
            continue
        if print_ in kept:
            out.append((location, kept[print_]))
        else:
            kept[print_] = location
    return out


def twins_note(twins: Sequence[tuple[str, str]]) -> str:
    """The note of :func:`content_twins`'s copies (nothing is missing, nothing counted twice)."""
    shown = "; ".join(f"{a} is {b}" for a, b in twins[:MAX_TWICE_NAMED])
    more = len(twins) - MAX_TWICE_NAMED
    return (
        f"{len(twins):,} log file(s) hold the same content as another log file read, under "
        "another ETag or compression (a multipart or re-encrypted S3 copy, a file gunzipped; "
        f"e.g. {shown}{f'; and {more:,} more' if more > 0 else ''}): read, but counted once — "
        "their events, the files and their data events"
    )


def _base_name(location: str) -> str:
    return location.replace("\\", "/").rpartition("/")[2]


def _place(f: LogFile, folders: dict[str, str]) -> tuple[str, ...]:
    """Where ``f`` is: its S3 key and version, or its local path with its folder resolved
    (``folders``: those resolved so far)."""
    if f.bucket is not None:
        return ("s3", f.location, f.version or "")
    folder, name = os.path.split(f.location)
    if folder not in folders:
        try:
            folders[folder] = os.path.normcase(os.path.realpath(folder or "."))
        except (OSError, ValueError):
            folders[folder] = folder
    return ("local", folders[folder], os.path.normcase(name))


def _content(f: LogFile) -> str | None:
    """What tells ``f``'s content: its S3 ETag (None: an earlier version is read, or no
    ETag), or the SHA-256 of a local file's bytes (None: it cannot be read — its reading says
    why)."""
    if f.bucket is not None:
        return None if f.version is not None or not f.etag else f"etag:{f.etag}"
    digest = hashlib.sha256()
    try:
        with open(f.location, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return f"sha256:{digest.hexdigest()}"


def _same_issue(issue: DataIssue) -> tuple[str, str]:
    """An issue of a local folder with its path resolved: a folder given as two paths says its
    issues once."""
    source = issue.source
    if source.startswith("s3://"):
        return source, issue.problem
    path, sep, rest = source.partition(" (")
    tail = "/" if path.endswith(("/", os.sep)) else ""
    with contextlib.suppress(OSError, ValueError):  # as given, when it cannot be resolved
        path = os.path.normcase(os.path.realpath(path)) + tail
    return path + sep + rest, issue.problem


def offline_regions(coverage: Coverage) -> EnabledRegions | None:
    """The regions a local trail copy judged for every region should have a folder for, with
    no account to ask: those enabled in every account of its partition (the regions launched
    before March 20, 2019: :data:`~torinvest.aws.DEFAULT_REGIONS`), whose folder a multi-region
    trail writes whenever anything happens there. The account's opt-in regions cannot be
    known offline. None when the folders' regions name no one partition."""
    present = {r for regions in coverage.days.values() for r in regions}
    present |= {r for regions in coverage.regions.values() if regions for r in regions}
    partitions = {arn_partition(r) for r in present}
    if len(partitions) != 1:
        return None
    (partition,) = partitions
    names = DEFAULT_REGIONS.get(partition)
    if not names:
        return None
    return EnabledRegions(
        names,
        "the regions enabled in every account of the "
        f"{partition} partition; whether the account enabled an opt-in region is not known "
        "offline",
        partition=partition,
        everywhere=True,
    )


def _digests(
    name: str, aws: Aws | None, narrowing: Narrowing, *, versions: bool = False
) -> DigestFolders:
    """The digest folders of the source ``name``: on S3 their signatures are checked against
    CloudTrail's public keys of the window's days (:mod:`.signatures`); ``versions``: the
    bucket's versions were listed (:mod:`.versions`), its digests' are too."""
    if aws is None or not name.startswith("s3://"):
        return LocalDigests()
    first, last = narrowing.first_day, narrowing.last_day
    start = end = None
    if first is not None and last is not None:
        start = datetime(first.year, first.month, first.day, tzinfo=UTC)
        end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=2)
    keys = PublicKeys(lambda region: aws.client("cloudtrail", region), start, end)
    return S3Digests(aws.client("s3"), keys, versions=versions)


def _enabled_regions(aws: Aws, name: str, out: LogListing) -> EnabledRegions | None:
    """The regions enabled for the account of ``aws``'s credentials (asked once per
    :class:`Aws`, as the Athena engine asks them), that a trail on S3 read with no region
    named should have a folder for (:func:`~.coverage.coverage_issues`). DescribeRegions refused
    or failing: the partition's CloudTrail regions stand in, and a note says so; credentials
    that cannot list them at all: an issue says the regions without a folder are not known
    (None).

    They are the enabled regions of the credentials' account (STS GetCallerIdentity, asked once
    per :class:`Aws`; not identified: said in the issue of every folder judged): a folder of
    another account is judged by them saying so, and by the partition's opt-in regions
    (DescribeRegions' ``OptInStatus`` of the enabled ones, botocore's endpoint data for the
    others, which the credentials' account has not enabled: every region that is not opt-in
    is enabled for every account)."""
    try:
        listed = aws.enabled_regions("cloudtrail")
    except AwsError as e:
        issue = DataIssue(
            f"{name} (regions)",
            f"the account's enabled regions could not be listed ({e.message}): whether the "
            "trail has a folder for every region the key could have called is not known — "
            "where it has none, the key's events there, if any, were not read; name the "
            "regions with --regions to have each checked",
        )
        if issue not in out.gaps:
            out.gaps.append(issue)
        return None
    if listed.note:
        note = f"{name}: {listed.note}"
        if note not in out.notes:
            out.notes.append(note)
    account, unidentified = None, ""
    try:
        account = aws.account_id()
    except AwsError as e:
        unidentified = f"sts:GetCallerIdentity failed: {e.message}"
    partition = aws.partition
    if listed.source == "ec2:DescribeRegions":
        every = aws.session.get_available_regions("cloudtrail", partition_name=partition)
        return EnabledRegions(
            frozenset(listed.names),
            "ec2:DescribeRegions",
            account=account,
            unidentified=unidentified,
            opt_in=frozenset(listed.opted_in) | (frozenset(every) - frozenset(listed.names)),
            partition=partition,
        )
    return EnabledRegions(
        frozenset(listed.names),
        "the partition's CloudTrail regions: the enabled ones could not be listed",
        account=account,
        unidentified=unidentified,
        partition=partition,
    )


#: At most this many folders named in a note on the region narrowing.
MAX_NAMED_FOLDERS = 3


def _region_note(name: str, listing: Listing, narrowing: Narrowing) -> str | None:
    """What the region narrowing left out of one source: the log files of other regions seen
    and not read (counted by region), and the folders where only the regions asked were listed
    (their other regions' files were not seen, so not counted). None when it left nothing out
    that could be said."""
    if not narrowing.regions:
        return None
    asked = ", ".join(sorted(narrowing.regions))
    parts = []
    if listing.left_out:
        regions = ", ".join(
            f"{r} ({n:,} file(s))" if n else r for r, n in sorted(listing.left_out.items())
        )
        parts.append(f"log files of region(s) {regions} were left out")
    if listing.unlisted:
        shown = listing.unlisted[:MAX_NAMED_FOLDERS]
        more = len(listing.unlisted) - len(shown)
        where = ", ".join(shown) + (f" and {more:,} more" if more else "")
        parts.append(
            f"only the {asked} folder(s) of {where} were listed: the log files of any other "
            "region there were left out (not listed, so not counted)"
        )
    if not parts:
        return None
    return (
        f"{name}: the region narrowing (--regions {asked}) kept only those regions' log files; "
        + "; ".join(parts)
    )


def _empty_problem(name: str, listing: Listing, narrowing: Narrowing) -> str:
    """Why a source gave no file to read: nothing CloudTrail there, or nothing in the window."""
    if listing.skipped:
        return f"{NO_MATCH} ({listing.skipped:,} log file(s) outside it)"
    if listing.left_out:  # a region folder named in the prefix, not asked
        return f"{NO_MATCH} (region(s) {', '.join(sorted(listing.left_out))} not asked)"
    if listing.planned and listing.trails and listing.prefixes:
        days = ""
        if narrowing.first_day is not None and narrowing.last_day is not None:
            days = f" {narrowing.first_day:%Y/%m/%d}–{narrowing.last_day:%Y/%m/%d}"
        return (
            f"{NO_MATCH} (the day folders{days} of the accounts and regions asked are empty in "
            f"{', '.join(listing.trails)}; other days were not listed)"
        )
    return NO_LOGS_S3 if name.startswith("s3://") else NO_LOGS_LOCAL
