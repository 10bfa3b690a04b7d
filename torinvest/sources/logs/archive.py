"""Log files archived in S3 Glacier (a lifecycle rule, Intelligent-Tiering's archive tiers):
known from the listing or from a refused download, never downloaded, one issue per folder.

A trail's log files are often moved to S3 Glacier Flexible Retrieval (``GLACIER``) or Glacier
Deep Archive (``DEEP_ARCHIVE``) after some days; S3 Intelligent-Tiering moves objects it holds
(``INTELLIGENT_TIERING``) to its Archive Access and Deep Archive Access tiers. Such an object
cannot be read until it is restored: GetObject answers 403 ``InvalidObjectState``, with the
``StorageClass`` (or the Intelligent-Tiering ``AccessTier``) in the error. ``GLACIER_IR``
(Instant Retrieval) reads like any other class.

ListObjectsV2 gives each object's storage class, and its restore status when asked
(``OptionalObjectAttributes=["RestoreStatus"]``: no status means never restored, or the restored
copy expired): an object archived and not restored (:func:`archived_state`) is not downloaded
(each try would be a refused call); one restored reads normally. An Intelligent-Tiering
object's tier is not in the listing: its download is tried, and ``InvalidObjectState`` says the
same (:func:`archived_problem_of`).

Each such file is an issue of its own while the files are counted (:data:`ARCHIVED_MARK`:
:class:`~torinvest.sources.logs.model.FileCounts` counts it as failed, "archived (not read
until restored)"); :func:`fold_archived` then says them once per region folder: how many, the
storage classes, the days and hours their names span, a few named, and how to restore them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from torinvest.errors import DataIssue

#: Storage classes whose objects cannot be read until restored, and their names.
ARCHIVE_CLASSES: Mapping[str, str] = {
    "GLACIER": "S3 Glacier Flexible Retrieval",
    "DEEP_ARCHIVE": "S3 Glacier Deep Archive",
}
#: S3 Intelligent-Tiering's archive tiers (an ``InvalidObjectState`` error's ``AccessTier``).
ARCHIVE_TIERS: Mapping[str, str] = {
    "ARCHIVE_ACCESS": "S3 Intelligent-Tiering Archive Access",
    "DEEP_ARCHIVE_ACCESS": "S3 Intelligent-Tiering Deep Archive Access",
}
#: What every archived file's own issue says (after the class): how they are told apart from
#: other failed downloads (:func:`fold_archived`, the counts' reasons).
ARCHIVED_MARK = "not read until restored"
RESTORING_MARK = "a restore is in progress"
#: At most this many files named in a folder's issue, days listed.
ARCHIVED_EXAMPLES = 3
ARCHIVED_DAYS = 8

_PROBLEM = re.compile(
    r"^archived in (?P<name>.+) \((?P<code>[A-Z_]+)\)(?P<restoring>: " + RESTORING_MARK + ")?"
)
_FILE_TIME = re.compile(r"_(?P<day>\d{8})T(?P<hour>\d{2})(?P<minute>\d{2})\d{0,2}Z_")
_REGION_FOLDER = re.compile(r"^(?P<folder>.*/CloudTrail/[^/]+/)\d{4}/\d{2}/\d{2}/[^/]+$")


def archived_state(entry: Mapping[str, Any]) -> tuple[str | None, bool]:
    """What a ListObjectsV2 entry says of an object: (its archive storage class, or None when it
    can be read or the listing cannot tell; whether a restore of it is in progress).

    An object in an archive class whose restore status (asked with the listing) shows a
    completed restore can be read (None); with no status it was never restored (or the copy
    expired), and with a restore in progress it cannot be read yet."""
    code = str(entry.get("StorageClass") or "")
    if code not in ARCHIVE_CLASSES:
        return None, False
    status = entry.get("RestoreStatus")
    if isinstance(status, Mapping):
        if status.get("IsRestoreInProgress"):
            return code, True
        return None, False  # restored: the copy reads until RestoreExpiryDate
    return code, False


def archived_problem(code: str, restoring: bool = False) -> str:
    """One archived file's problem: the same words for every file of one class (counted and
    folded by them)."""
    name = ARCHIVE_CLASSES.get(code) or ARCHIVE_TIERS.get(code) or "an S3 archive storage class"
    if restoring:
        return f"archived in {name} ({code}): {RESTORING_MARK}, {ARCHIVED_MARK}"
    return f"archived in {name} ({code}): {ARCHIVED_MARK}"


def archived_issue(location: str, code: str, restoring: bool = False) -> DataIssue:
    """The issue of one archived file, not downloaded (counted as failed: ``unread``)."""
    return DataIssue(location, archived_problem(code, restoring), unread=True)


def archived_problem_of(error: BaseException) -> str | None:
    """The archived file's problem when a download failed because the object is archived (403
    ``InvalidObjectState``, its ``StorageClass`` or ``AccessTier`` in the error), else None."""
    response = getattr(error, "response", None)
    if not isinstance(response, Mapping):
        return None
    err = response.get("Error") or {}
    if err.get("Code") != "InvalidObjectState":
        return None
    code = str(
        err.get("AccessTier") or err.get("StorageClass") or response.get("StorageClass") or ""
    )
    return archived_problem(code or "ARCHIVED")


@dataclass(slots=True)
class _Folder:
    source: str
    locations: list[str] = field(default_factory=list)
    classes: dict[str, int] = field(default_factory=dict)
    restoring: int = 0


def fold_archived(issues: Sequence[DataIssue], reader: str = "") -> list[DataIssue]:
    """``issues`` with the archived files' issues (:func:`archived_problem`'s) said once per region
    folder (``…/CloudTrail/<region>/``; a file outside the trail layout: its folder), in the
    place of the folder's first one; every other issue as it was. ``reader`` says more of
    what read around them (Athena: that it skips them without a word)."""
    folders: dict[str, _Folder] = {}
    out: list[DataIssue | _Folder] = []
    for issue in issues:
        m = _PROBLEM.match(issue.problem) if issue.unread else None
        if m is None:
            out.append(issue)
            continue
        where = _folder_of(issue.source)
        folder = folders.get(where)
        if folder is None:
            folder = folders[where] = _Folder(where)
            out.append(folder)
        if issue.source in folder.locations:
            continue
        folder.locations.append(issue.source)
        name = f"{m['name']} ({m['code']})"
        folder.classes[name] = folder.classes.get(name, 0) + 1
        folder.restoring += bool(m["restoring"])
    return [x if isinstance(x, DataIssue) else _folded(x, reader) for x in out]


def _folder_of(location: str) -> str:
    m = _REGION_FOLDER.match(location)
    return m["folder"] if m else location.rpartition("/")[0] + "/"


def _folded(folder: _Folder, reader: str = "") -> DataIssue:
    n = len(folder.locations)
    if len(folder.classes) == 1:
        classes = next(iter(folder.classes))
    else:
        classes = ", ".join(f"{name}: {k:,}" for name, k in folder.classes.items())
    names = sorted(loc.rpartition("/")[2] for loc in folder.locations)
    shown = ", ".join(names[:ARCHIVED_EXAMPLES]) + (", …" if n > ARCHIVED_EXAMPLES else "")
    span = _span(names)
    restoring = ""
    if folder.restoring:
        restoring = (
            f"; a restore is in progress for {folder.restoring:,} of them: re-run once it completes"
        )
    first = min(folder.locations)
    bucket, _, key = first.removeprefix("s3://").partition("/")
    how = (
        f"restore them (aws s3api restore-object --bucket {bucket} --key {key} "
        '--restore-request \'{"Days":7,"GlacierJobParameters":{"Tier":"Bulk"}}\' for each '
        "file — an Intelligent-Tiering one without Days —, or S3 Batch Operations' Restore for "
        "many) and re-run"
    )
    return DataIssue(
        folder.source,
        f"{n:,} log file(s) of the window are archived in {classes}{span} — e.g. {shown}: they "
        f"cannot be read until restored, so their events, if any, were not read{reader}"
        f"{restoring}; "
        f"{how}",
    )


def _span(names: Sequence[str]) -> str:
    """The days and times the files' CloudTrail names give (``" (2023-07-10 12:10Z →
    2023-07-11 03:05Z; days 2023-07-10, 2023-07-11)"``), or "" when none gives one."""
    times = []
    for name in names:
        m = _FILE_TIME.search(name)
        if m:
            d = m["day"]
            times.append((f"{d[:4]}-{d[4:6]}-{d[6:]}", f"{m['hour']}:{m['minute']}Z"))
    if not times:
        return ""
    times.sort()
    days = sorted({day for day, _ in times})
    listed = ", ".join(days[:ARCHIVED_DAYS]) + (
        f" and {len(days) - ARCHIVED_DAYS:,} more" if len(days) > ARCHIVED_DAYS else ""
    )
    first, last = times[0], times[-1]
    return f" ({' '.join(first)} → {' '.join(last)} by their names; day(s) {listed})"
