"""Versioned trail buckets: log files deleted or rewritten there are still there, and read.

AWS recommends S3 Versioning on a trail's bucket: a DeleteObject then only adds a delete marker,
and a PutObject over a key keeps the version it replaces. An attacker holding a key with write
access to the bucket (a Tor key often is an admin's) who deletes the log files holding their
calls, or rewrites them without those calls, leaves the genuine files in the bucket's versions.
ListObjectsV2 lists only current versions: the deleted files are absent, the rewritten ones read
in their forged version.

On S3 the listing asks the bucket's versioning once (GetBucketVersioning, per bucket and run,
:func:`bucket_versioning`). Never enabled: it lists as before, with ListObjectsV2. Enabled or
suspended (versions may be kept): it lists the same day folders with ListObjectVersions instead
(:func:`version_pages`): one listing gives what ListObjectsV2 gives (size, ``LastModified``,
storage class, restore status: ``OptionalObjectAttributes``) plus the versions and delete
markers, in pages of 1,000 entries — a bucket where nothing was deleted or rewritten lists in
as many calls. Per key (:func:`entries`):

- one version, current: read as before (no VersionId: s3:GetObject alone);
- a delete marker current over kept versions: **deleted** — its first version (what CloudTrail
  delivered) is read as the trail's file, by VersionId (s3:GetObjectVersion), at the same
  location: coverage and the digests count it as present, its hash is checked, its write time
  is the original's;
- more than one version: **rewritten** — CloudTrail writes a log file once, so every version
  after the first is not CloudTrail's: the first is read (not the current one, whose records,
  where they differ, are the forgery: read beside the first they would add forged events, or a
  second record of one eventID). The current (newest) version is downloaded once to be compared
  (:func:`compare`): how many events it lacks, adds and changes;
- delete markers only (the versions expired — a lifecycle rule's NoncurrentVersionExpiration —
  or were deleted by version): **lost**, said, not read.

:func:`version_issues` says each once per region folder. Refusals say what could not be looked
at, never pass in silence: GetBucketVersioning refused is one note (listed as before);
ListObjectVersions refused, one note (the listing goes on with ListObjectsV2); GetObjectVersion
refused, one issue naming the files and the permission (the deleted files are not read, the
rewritten ones are read in their current version, saying so).
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from torinvest.aws import AWS_CALL_ERRORS, Aws, follow_pages, translate_error
from torinvest.errors import AccessDeniedError, DataIssue, TorinvestError
from torinvest.sources.logs.archive import archived_state
from torinvest.sources.logs.coverage import dated_place
from torinvest.sources.logs.model import S3_THREADS

#: GetBucketVersioning's ``Status`` values under which the bucket keeps (or kept) versions.
KEEPS_VERSIONS = frozenset({"Enabled", "Suspended"})
#: The next-page token of a ListObjectVersions page (its two markers), for the page trail.
_NEXT = "torinvest:next"
#: At most this many rewritten files compared with their first version per source (two
#: downloads each); past it the first versions are read all the same, the rest not compared.
MAX_COMPARED = 50
#: The most bytes a version compared may hold once decompressed.
MAX_COMPARED_BYTES = 256 << 20
#: At most this many files named in one issue.
MAX_NAMED = 3
_STAMP = "%Y-%m-%dT%H:%M:%SZ"
#: What reading an earlier version needs.
GET_VERSION = "s3:GetObjectVersion"


@dataclass(frozen=True, slots=True)
class Versioning:
    """Whether a bucket keeps versions (``on``; None: it could not be asked, ``why`` says)."""

    on: bool | None
    why: str = ""


def bucket_versioning(aws: Aws, client: Any, bucket: str) -> Versioning:
    """The bucket's versioning (GetBucketVersioning, s3:GetBucketVersioning), asked once per
    bucket for the life of ``aws`` (a run: every listing of every engine)."""

    def ask() -> Versioning:
        try:
            got = client.get_bucket_versioning(Bucket=bucket)
        except AWS_CALL_ERRORS as e:
            err = translate_error(
                e, service="s3", operation="GetBucketVersioning", resource=f"s3://{bucket}"
            )
            return Versioning(None, err.message)
        return Versioning(got.get("Status") in KEEPS_VERSIONS)

    return aws.remembered(("s3", "GetBucketVersioning", bucket), ask)


def version_pages(client: Any, bucket: str, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
    """The pages of one ListObjectVersions listing (botocore's paginator), stopped by the page
    trail like every other listing (:func:`~torinvest.aws.follow_pages`: a marker pair that
    comes back, or the page cap, raises EndpointError). Raises AwsError (translated, naming
    the bucket and prefix) when refused or failing."""
    where = f"s3://{bucket}/{kwargs.get('Prefix', '')}"
    paginator = client.get_paginator("list_object_versions")

    def marked() -> Iterator[Mapping[str, Any]]:
        for page in paginator.paginate(Bucket=bucket, **kwargs):
            yield {**page, _NEXT: (page.get("NextKeyMarker"), page.get("NextVersionIdMarker"))}

    try:
        yield from follow_pages(
            marked(),
            _NEXT,
            "s3",
            "ListObjectVersions",
            region=client.meta.region_name,
            resource=where,
            more_key="IsTruncated",
        )
    except AWS_CALL_ERRORS as e:
        raise translate_error(
            e, service="s3", operation="ListObjectVersions", resource=where
        ) from e


@dataclass(frozen=True, slots=True)
class History:
    """What a key's versions say (only for a key deleted or written more than once):
    ``versions`` kept (not delete markers), ``deleted`` the time of the delete marker that is
    current (None: a version is current), ``rewritten`` when its second version was written,
    ``first`` the first version's ID (None: no version kept), ``newest`` the newest version's
    ID, size and write time, and whether it is the current object (``newest_current``)."""

    versions: int
    deleted: datetime | None
    rewritten: datetime | None
    first: str | None
    newest: str | None
    newest_current: bool
    newest_size: int = 0
    newest_written: datetime | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One key of a listing as the readers need it: the version to read (``version``: None, the
    current object), its size, write time, archive class and restore state; ``history`` when the
    key was deleted or rewritten. A key with delete markers only has ``version`` None and
    ``history.first`` None: nothing to read."""

    key: str
    size: int
    written: datetime | None
    archived: str | None
    restoring: bool
    version: str | None = None
    history: History | None = None
    #: S3's ETag of the object listed (its quotes removed; None: not given): with its name
    #: and size, what tells a copy of the same content (:func:`~.listing.read_once`)
    etag: str | None = None

    @property
    def lost(self) -> bool:
        """Deleted, and no version of it kept: nothing to read."""
        return self.history is not None and self.history.first is None


def _utc(value: object) -> datetime | None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        return None
    return value.astimezone(UTC)


def entries(pages: Iterable[Mapping[str, Any]]) -> list[Entry]:
    """Each key of ListObjectVersions ``pages``, what to read of it (:class:`Entry`). S3 lists
    a key's versions newest first; equal write times keep that order."""
    versions: dict[str, list[Mapping[str, Any]]] = {}
    markers: dict[str, list[Mapping[str, Any]]] = {}
    for page in pages:
        for v in page.get("Versions", []) or []:
            versions.setdefault(v["Key"], []).append(v)
        for m in page.get("DeleteMarkers", []) or []:
            markers.setdefault(m["Key"], []).append(m)
    out: list[Entry] = []
    for key in sorted({*versions, *markers}):
        kept = versions.get(key, [])
        marks = markers.get(key, [])
        # oldest first: by write time, then S3's order reversed (newest first within a key)
        order = sorted(
            range(len(kept)),
            key=lambda i: (
                _utc(kept[i].get("LastModified")) or datetime.min.replace(tzinfo=UTC),
                -i,
            ),
        )
        ordered = [kept[i] for i in order]
        current_marker = next((m for m in marks if m.get("IsLatest")), None)
        deleted = _utc(current_marker.get("LastModified")) if current_marker else None
        if not ordered:
            history = History(0, deleted or _latest(marks), None, None, None, False)
            out.append(Entry(key, 0, None, None, False, None, history))
            continue
        first, newest = ordered[0], ordered[-1]
        if current_marker is None and len(ordered) == 1:
            out.append(_entry(key, first, None))
            continue
        history = History(
            versions=len(ordered),
            deleted=deleted,
            rewritten=_utc(ordered[1].get("LastModified")) if len(ordered) > 1 else None,
            first=str(first.get("VersionId") or "null"),
            newest=str(newest.get("VersionId") or "null"),
            newest_current=current_marker is None,
            newest_size=int(newest.get("Size", 0)),
            newest_written=_utc(newest.get("LastModified")),
        )
        out.append(_entry(key, first, history.first, history))
    return out


def _latest(marks: Sequence[Mapping[str, Any]]) -> datetime | None:
    times = [t for t in (_utc(m.get("LastModified")) for m in marks) if t is not None]
    return max(times) if times else None


def _entry(
    key: str, v: Mapping[str, Any], version: str | None, history: History | None = None
) -> Entry:
    archived, restoring = archived_state(v)
    return Entry(
        key,
        int(v.get("Size", 0)),
        _utc(v.get("LastModified")),
        archived,
        restoring,
        version,
        history,
        etag=etag_of(v),
    )


def etag_of(listed: Mapping[str, Any]) -> str | None:
    """The ``ETag`` of a listed object or version, its quotes removed (None: none given)."""
    tag = listed.get("ETag")
    if not isinstance(tag, str):
        return None
    return tag.strip('"') or None


# --------------------------------------------------------------------------------------------
# the first version against the newest
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Compared:
    """A rewritten file's newest version against its first: events (by eventID) the newest
    lacks, adds, and holds changed; ``why`` when they could not be compared."""

    lacks: int = 0
    adds: int = 0
    changed: int = 0
    why: str = ""


class VersionRefused(TorinvestError):
    """GetObject of an earlier version refused (s3:GetObjectVersion)."""


def _records(data: bytes) -> dict[str, str]:
    """eventID → the record's content (a hash) of a log file's bytes. Raises ValueError."""
    if data[:2] == b"\x1f\x8b":
        try:
            d = zlib.decompressobj(wbits=31)
            data = d.decompress(data, MAX_COMPARED_BYTES + 1)
        except zlib.error as e:
            raise ValueError(f"cannot decompress: {e}") from None
        if len(data) > MAX_COMPARED_BYTES:
            raise ValueError("too large to compare")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"not JSON ({e})") from None
    records = doc.get("Records") if isinstance(doc, Mapping) else None
    if not isinstance(records, list):
        raise ValueError("not a CloudTrail log file (no Records)")
    out: dict[str, str] = {}
    for n, r in enumerate(records):
        if not isinstance(r, Mapping):
            continue
        text = json.dumps(r, sort_keys=True, separators=(",", ":")).encode()
        out[str(r.get("eventID") or f"#{n}")] = hashlib.sha256(text).hexdigest()
    return out


def _said(error: BaseException, err: TorinvestError) -> str:
    """An S3 error in a few words: its code and S3's message (one line, bounded)."""
    said = getattr(error, "response", {}).get("Error", {})
    code = str(said.get("Code") or getattr(err, "code", "") or type(error).__name__)
    message = " ".join(str(said.get("Message") or "").split())[:200]
    return f"{code}: {message}" if message else code


def _get(client: Any, bucket: str, key: str, version: str | None) -> bytes:
    extra = {"VersionId": version} if version is not None else {}
    try:
        body = client.get_object(Bucket=bucket, Key=key, **extra)["Body"]
        return bytes(body.read(MAX_COMPARED_BYTES + 1))
    except AWS_CALL_ERRORS as e:
        err = translate_error(
            e, service="s3", operation="GetObject", resource=f"s3://{bucket}/{key}"
        )
        if version is not None and isinstance(err, AccessDeniedError):
            raise VersionRefused(_said(e, err)) from None
        raise ValueError(f"could not be downloaded: {err.message}") from None


def compare(client: Any, bucket: str, key: str, history: History) -> Compared:
    """The first version of a rewritten ``key`` against its newest (one download each; the
    newest by plain GetObject when it is the current object). Raises :class:`VersionRefused`
    when reading the first version is refused."""
    try:
        first = _records(_get(client, bucket, key, history.first))
    except ValueError as e:
        return Compared(why=f"its first version: {e}")
    newest_id = None if history.newest_current else history.newest
    try:
        newest = _records(_get(client, bucket, key, newest_id))
    except (ValueError, VersionRefused) as e:
        return Compared(why=f"its newest version: {e}")
    changed = sum(1 for k in first.keys() & newest.keys() if first[k] != newest[k])
    return Compared(len(first.keys() - newest.keys()), len(newest.keys() - first.keys()), changed)


def probe(client: Any, bucket: str, key: str, version: str) -> str | None:
    """Whether an earlier version can be read (HeadObject with VersionId: s3:GetObjectVersion):
    None when it can (or failed for another reason: the read says it), else why not."""
    try:
        client.head_object(Bucket=bucket, Key=key, VersionId=version)
    except AWS_CALL_ERRORS as e:
        err = translate_error(
            e, service="s3", operation="HeadObject", resource=f"s3://{bucket}/{key}"
        )
        if isinstance(err, AccessDeniedError) or err.code in ("403", "Forbidden"):
            return _said(e, err)  # a HEAD's refusal has no body: "403: Forbidden"
    return None


def recover(
    client: Any, bucket: str, kept: Mapping[str, Entry], lost: Mapping[str, Entry]
) -> Found:
    """What the versions of a listing's deleted and rewritten files (``kept``, by location) and
    of those deleted with no version kept (``lost``) show: the rewritten ones compared (at most
    :data:`MAX_COMPARED`, in threads), and whether their first versions can be read at all (a
    refusal of the first download, or of one HeadObject of a deleted file's first version when
    none was rewritten)."""
    found = Found({}, {}, {loc: e.history for loc, e in lost.items() if e.history is not None})
    rewritten = {loc: e for loc, e in kept.items() if e.history and e.history.versions > 1}
    for loc, e in kept.items():
        if e.history is not None and e.history.deleted is not None:
            found.recovered[loc] = e.history
    asked = sorted(rewritten)[:MAX_COMPARED]

    def one(location: str) -> Compared | VersionRefused:
        e = rewritten[location]
        assert e.history is not None
        try:
            return compare(client, bucket, e.key, e.history)
        except VersionRefused as refused:
            return refused

    with ThreadPoolExecutor(min(S3_THREADS, max(1, len(asked)))) as pool:
        results = dict(zip(asked, pool.map(one, asked), strict=True))
    for loc, e in sorted(rewritten.items()):
        got = results.get(loc)
        if isinstance(got, VersionRefused):
            found.refused = found.refused or str(got)
            got = None
        assert e.history is not None
        found.rewritten[loc] = (e.history, got)
    if found.refused is None and not rewritten and found.recovered:
        loc = min(found.recovered)
        h = found.recovered[loc]
        assert h.first is not None
        found.refused = probe(client, bucket, kept[loc].key, h.first)
    return found


# --------------------------------------------------------------------------------------------
# the issues
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Found:
    """What a listing's versions showed, by the location of each file: ``recovered`` deleted
    files whose first version is read; ``rewritten`` files written more than once (and how
    the newest compares, when it was); ``lost`` deleted files no version of which is kept;
    ``refused`` why reading earlier versions was refused (None: it was not)."""

    recovered: dict[str, History]
    rewritten: dict[str, tuple[History, Compared | None]]
    lost: dict[str, History]
    refused: str | None = None


_DIGEST_FOLDER = re.compile(r"^(?P<folder>.*/CloudTrail-Digest/[^/]+/)")


def _folder(location: str) -> str:
    """The region folder of a log file (``…/CloudTrail/<region>/``) or digest file
    (``…/CloudTrail-Digest/<region>/``); another file's own folder."""
    place = dated_place(location)
    if place is not None:
        return f"{place[0]}{place[1]}/"
    m = _DIGEST_FOLDER.match(location)
    return m["folder"] if m else location.rpartition("/")[0] + "/"


def _shown(location: str, folder: str) -> str:
    return location[len(folder) :] if location.startswith(folder) else location


def _by_folder(items: Mapping[str, object]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for location in sorted(items):
        out.setdefault(_folder(location), []).append(location)
    return out


def _times(ts: Iterable[datetime | None]) -> str:
    known = sorted(t for t in ts if t is not None)
    if not known:
        return "at a time S3 does not give"
    first, last = f"{known[0]:{_STAMP}}", f"{known[-1]:{_STAMP}}"
    return f"at {first}" if first == last else f"from {first} to {last}"


def _examples(locations: Sequence[str], folder: str) -> str:
    shown = ", ".join(_shown(loc, folder) for loc in locations[:MAX_NAMED])
    more = len(locations) - MAX_NAMED
    return shown + (f" and {more:,} more" if more > 0 else "")


#: What a reader of current objects only (``version_issues``' ``reader``) should do instead.
READ_FIRST = "read this folder with --logs and --engine files or duckdb"


def version_issues(
    found: Found, kind: str = "log", *, reader: str | None = None
) -> list[DataIssue]:
    """One issue per region folder for each kind: deleted files read from their first version
    (or not read: reading versions refused), rewritten files, deleted files no version of which
    is kept. ``kind``: ``log`` files or ``digest`` files (which the digest checks read).

    ``reader``: the engine that read the folder, when it reads each object's current version
    only (``Athena``: a table over the bucket) — the deleted files were not read, the rewritten
    ones were read in their newest version; the issues say so, and to read the folder with
    the files engine, which reads the first versions."""
    if kind == "digest":
        return _digest_issues(found)
    out: list[DataIssue] = []
    for folder, locs in _by_folder(found.recovered).items():
        head = f"{len(locs):,} log file(s) here were deleted ({_deleted(found.recovered, locs, folder)}): the bucket keeps versions, "
        if reader is not None:
            tail = (
                f"but {reader} reads only each object's current version: the table does not hold "
                "them, so their events were not read; whoever deleted them had write access to "
                "the trail's bucket and may have hidden calls in them: "
                f"{READ_FIRST} (they read each one's first version — what CloudTrail "
                "delivered), and look at who deleted them (the bucket's data events, "
                "DeleteObject)" + _refused_too(found)
            )
        elif found.refused is None:
            tail = (
                "so each one's first version — what CloudTrail delivered — was read as the "
                "trail's file; whoever deleted them had write access to the trail's bucket and "
                "may have hidden calls in them: look at who deleted them (the bucket's data "
                "events, DeleteObject) and treat the key as able to change the trail"
            )
        else:
            tail = (
                f"but reading them was refused ({GET_VERSION}: {found.refused}): their events, "
                f"if any, were not read; grant {GET_VERSION} on the trail's bucket and re-run"
            )
        out.append(DataIssue(folder, head + tail))
    for folder, locs in _by_folder(found.rewritten).items():
        out.append(DataIssue(folder, _rewritten_problem(found, folder, locs, reader)))
    for folder, locs in _by_folder(found.lost).items():
        out.append(
            DataIssue(
                folder,
                f"{len(locs):,} log file(s) here were deleted ({_deleted(found.lost, locs, folder)}) "
                "and no version of them is kept (a lifecycle rule expiring noncurrent versions, "
                "or the versions were deleted too): their events, if any, were not read; read "
                "them from a replica or backup of the bucket, or LookupEvents (--lookup)",
            )
        )
    return out


def _deleted(histories: Mapping[str, History], locs: list[str], folder: str) -> str:
    when = _times(histories[loc].deleted for loc in locs)
    return f"delete marker(s) written {when}; {_examples(locs, folder)}"


def _digest_issues(found: Found) -> list[DataIssue]:
    """Digest files deleted or rewritten: CloudTrail does neither."""
    out: list[DataIssue] = []
    for folder, locs in _by_folder(found.recovered).items():
        out.append(
            DataIssue(
                folder,
                f"{len(locs):,} digest file(s) here were deleted "
                f"({_deleted(found.recovered, locs, folder)}): CloudTrail never deletes a digest "
                "file — whoever did had write access to the trail's bucket, and may have been "
                "hiding the log files of those hours; the bucket keeps versions, so each one's "
                "first version is what the checks read",
            )
        )
    for folder, locs in _by_folder(found.rewritten).items():
        h, _ = found.rewritten[locs[0]]
        at = f", rewritten at {h.rewritten:{_STAMP}}" if h.rewritten is not None else ""
        out.append(
            DataIssue(
                folder,
                f"{len(locs):,} digest file(s) here were written more than once "
                f"({_examples(locs, folder)}: the first written {h.versions:,} times{at}): "
                "CloudTrail writes a digest file once, so every later version was put there "
                "since; the first version of each is what the checks read",
            )
        )
    for folder, locs in _by_folder(found.lost).items():
        out.append(
            DataIssue(
                folder,
                f"{len(locs):,} digest file(s) here were deleted "
                f"({_deleted(found.lost, locs, folder)}) and no version of them is kept: the "
                "hours they covered could not be checked against them (log files deleted then "
                "would not be noticed by the digests)",
            )
        )
    return out


def _refused_too(found: Found) -> str:
    """For a reader of current objects: reading the first versions is refused as well."""
    if found.refused is None:
        return ""
    return (
        f"; reading earlier versions is refused to these credentials ({GET_VERSION}: "
        f"{found.refused}): grant {GET_VERSION} on the trail's bucket to read them so"
    )


def _rewritten_problem(
    found: Found, folder: str, locs: list[str], reader: str | None = None
) -> str:
    n = len(locs)
    first_loc = locs[0]
    h, _ = found.rewritten[first_loc]
    example = (
        f"{_shown(first_loc, folder)}: written {h.versions:,} times, rewritten at "
        f"{h.rewritten:{_STAMP}}"
        if h.rewritten is not None
        else _shown(first_loc, folder)
    )
    more = f"; and {n - 1:,} more" if n > 1 else ""
    compared = [c for _, c in (found.rewritten[loc] for loc in locs) if c is not None and not c.why]
    failed = [c.why for _, c in (found.rewritten[loc] for loc in locs) if c is not None and c.why]
    text = (
        f"{n:,} log file(s) here were written more than once ({example}{more}): CloudTrail writes "
        "a log file once, so every later version was put there since (its events may be forged); "
    )
    if reader is not None:
        text += (
            f"{reader} reads only each object's current version: the events the rewrite removed "
            "were not read, and those it added or changed were read as the trail's; "
            f"{READ_FIRST} (they read the first version of each — what CloudTrail delivered)"
            + _refused_too(found)
        )
    elif found.refused is None:
        text += (
            "the first version of each — what CloudTrail delivered — was read, not the current one"
        )
    else:
        text += (
            f"the first versions could not be read ({GET_VERSION}: {found.refused}), so the "
            "current ones were read: their events cannot be trusted, and those the rewrite "
            f"removed were not read; grant {GET_VERSION} on the trail's bucket and re-run"
        )
    if compared:
        lacks = sum(c.lacks for c in compared)
        adds = sum(c.adds for c in compared)
        changed = sum(c.changed for c in compared)
        verbs = (
            ("versions lack", "add", "change", "hold")
            if len(compared) > 1
            else ("version lacks", "adds", "changes", "holds")
        )
        if lacks or adds or changed:
            text += (
                f"; compared with the first, the newest {verbs[0]} {lacks:,} event(s), "
                f"{verbs[1]} {adds:,} and {verbs[2]} {changed:,} — the forgery"
            )
        else:  # a file deleted and put back as it was, or rewritten alike
            text += f"; the newest {verbs[3]} the same events as the first (by eventID and content)"
    if failed:
        text += f"; {len(failed):,} could not be compared ({failed[0]})"
    skipped = sum(1 for loc in locs if found.rewritten[loc][1] is None)
    if skipped and found.refused is None:
        text += f"; {skipped:,} not compared (past {MAX_COMPARED} per source)"
    return text
