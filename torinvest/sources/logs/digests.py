"""CloudTrail digest files: what a trail says it delivered, to tell a quiet day from a lost one.

With log file integrity validation on, CloudTrail delivers a digest file every hour for each
region to ``AWSLogs/[<o-org>/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/`` (the day of
the digest's end), even when no log file was delivered that hour: its ``logFiles`` is then
empty; otherwise it names each log file delivered in its period (``digestStartTime`` to
``digestEndTime``). A day of the window with no log file in a region folder
(:func:`~torinvest.sources.logs.coverage.coverage_issues`) is judged by the digest files of that
day and the next (the last hour of a day is in the next day's first digest,
:func:`judge_days`): every hour covered by digests naming no log file of it is a quiet day (not
an issue); a day whose log files the digests name is a day whose files are missing (a sharper
issue); anything else — hours no readable digest covers — stays an issue as before. Then the
window's days that hold log files, in a region that has a digest folder
(:meth:`DigestFolders.compare`): a log file the digests of the day (and the next day's first)
name that is not among the names listed in the region's day folder is missing too (the same
sharper issue); a region without a digest folder is looked at once and reads as before.
A region whose digest files stop before the window's end while the same trail's of other regions
go on (:meth:`DigestFolders.tail`) had its last hours' digests deleted (an issue).

Only the digest day folders of the window's days (and the next) are looked at (never walked: a bounded number of
folders and files per source, :class:`LocalDigests`), never per event. Each digest read is
checked as AWS documents it (:mod:`.signatures`): on S3 its signature (the object's metadata)
against the region's public keys (``ListPublicKeys``, once per region). A digest whose
signature does not verify is ``altered`` (a sharp issue: it is not used); one that cannot be
verified for a reason in the bucket (no signature, an unknown key) proves nothing, as an
unreadable one; one that cannot be verified for a reason outside it (a local copy has no S3
metadata; the keys could not be listed) is read as the trail's word, and the reading says so
(``unverified``).
"""

from __future__ import annotations

import gzip
import json
import os
import re
import zlib
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from torinvest.aws import AWS_CALL_ERRORS, follow_pages, translate_error
from torinvest.errors import AccessDeniedError, DataIssue, TorinvestError
from torinvest.sources.logs.archive import archived_problem, archived_problem_of, archived_state
from torinvest.sources.logs.coverage import DayVerdict, dated_place, name_time, named_place
from torinvest.sources.logs.model import S3_THREADS
from torinvest.sources.logs.signatures import Altered, PublicKeys, Seal, Unverified, check_seal
from torinvest.sources.logs.versions import Found, History, entries, version_issues, version_pages

DIGEST = "CloudTrail-Digest"
DIGEST_MARK = "_CloudTrail-Digest_"
#: The folder below a source that stands for its digest and log files outside the dated layout
#: (:meth:`DigestFolders.flat_folder`): no trail writes it, no file is looked for in it.
FLAT_FOLDER = "(flat)"
#: A digest covers about an hour; one claiming more is not taken as proof of anything.
MAX_PERIOD = timedelta(hours=2)
#: Gaps this short between digest periods (and at the day's edges) are not holes.
SLACK = timedelta(minutes=5)
#: A digest file larger than this (compressed or not) is not read.
MAX_DIGEST_BYTES = 32 * 1024 * 1024
#: At most this many digest day folders looked at, and digest files read, per source.
MAX_DIGEST_FOLDERS = 2_000
MAX_DIGEST_FILES = 20_000
#: On S3, at most this many digest day folders listed, and digests downloaded, per source.
MAX_S3_FOLDERS = 400
MAX_S3_FILES = 5_000
DAY = timedelta(days=1)
_SHA256 = re.compile(r"\A[0-9a-fA-F]{64}\Z")


class DigestError(ValueError):
    """A digest file that cannot be taken as the trail's word (unreadable, not a digest, or
    not this account's and region's): it proves nothing."""


@dataclass(frozen=True, slots=True)
class Digest:
    """One digest file: its period and the log files it names (their S3 keys); ``location``
    where it was read, ``unverified`` why its signature was not checked (None: verified)."""

    start: datetime
    end: datetime
    logs: tuple[str, ...]
    location: str = ""
    unverified: str | None = None
    hashes: tuple[str, ...] = ()  # each log file's hashValue (SHA-256 hex; "" when none)
    days: tuple[date | None, ...] = ()  # each log file's day folder (read once, with the keys)
    #: the digest before it in the trail's chain (``previousDigestS3Object``), when it is in the
    #: same bucket and below the same prefix ("" otherwise: the first, or the trail moved)
    previous: str = ""

    @property
    def log_days(self) -> tuple[date | None, ...]:
        """Each named log file's day folder (None: not in the dated layout)."""
        if len(self.days) == len(self.logs):
            return self.days
        return tuple(map(_day_of, self.logs))


#: A digest's bytes and its object's signature (None: a local file, no S3 metadata).
Fetched = tuple[bytes, Seal | None]


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise DigestError(f"no {name}")
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise DigestError(f"{name} {value[:40]!r} is not a time") from None
    if t.tzinfo is None:
        raise DigestError(f"{name} {value[:40]!r} has no time zone")
    return t.astimezone(UTC)


def parse_digest(data: bytes, account: str, region: str, day: date) -> Digest:
    """The digest in ``data`` (gzip or plain JSON), found in ``account``'s ``region`` digest
    folder of ``day``. Raises :class:`DigestError` saying why it is not usable: not JSON, a
    field missing or of the wrong type, another account, a period longer than
    :data:`MAX_PERIOD` or not ending on ``day``, a log file named outside this account's
    ``region`` folder."""
    return read_digest(data, account, region, day)[0]


def read_digest(
    data: bytes, account: str, region: str, day: date
) -> tuple[Digest, Mapping[str, Any], bytes]:
    """:func:`parse_digest`, with the digest's JSON document and decompressed bytes (what its
    signature covers)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise DigestError(f"not a readable gzip file ({e})") from None
    if len(data) > MAX_DIGEST_BYTES:
        raise DigestError(f"larger than {MAX_DIGEST_BYTES // 2**20} MiB uncompressed")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise DigestError(f"not JSON ({e})") from None
    if not isinstance(doc, Mapping):
        raise DigestError("not a JSON object")
    if doc.get("awsAccountId") != account:
        raise DigestError(f"awsAccountId is {str(doc.get('awsAccountId'))[:40]!r}, not {account}")
    start = _time(doc.get("digestStartTime"), "digestStartTime")
    end = _time(doc.get("digestEndTime"), "digestEndTime")
    if not start < end <= start + MAX_PERIOD:
        raise DigestError(
            f"its period {start:%Y-%m-%dT%H:%M:%SZ}–{end:%Y-%m-%dT%H:%M:%SZ} is not an hour or so"
        )
    if end.date() != day:
        raise DigestError(f"its period ends on {end.date()}, not on its folder's day {day}")
    files = doc.get("logFiles")
    if not isinstance(files, list):
        raise DigestError("logFiles is not a list")
    keys: list[str] = []
    sums: list[str] = []
    days: list[date | None] = []
    for entry in files:
        key = entry.get("s3Object") if isinstance(entry, Mapping) else None
        place = dated_place(key) if isinstance(key, str) else None
        if place is None or place[1] != region or f"/{account}/" not in "/" + place[0]:
            raise DigestError(
                f"names a log file outside {account}'s {region} folder: {str(key)[:120]!r}"
            )
        keys.append(key)  # type: ignore[arg-type]
        days.append(place[2])
        value = entry.get("hashValue")
        sums.append(value.lower() if isinstance(value, str) and _SHA256.match(value) else "")
    digest = Digest(
        start, end, tuple(keys), hashes=tuple(sums), days=tuple(days), previous=_previous(doc)
    )
    return digest, doc, data


def _previous(doc: Mapping[str, Any]) -> str:
    """The S3 key of the digest before ``doc`` in its trail's chain, when it was delivered to
    the same bucket below the same prefix as ``doc`` (else "": the chain's first digest, or
    the trail's bucket or prefix changed in between)."""
    previous, own = doc.get("previousDigestS3Object"), doc.get("digestS3Object")
    if not isinstance(previous, str) or not isinstance(own, str):
        return ""
    if doc.get("previousDigestS3Bucket") != doc.get("digestS3Bucket"):
        return ""
    mark = f"/{DIGEST}/"
    if mark not in "/" + previous or ("/" + previous).split(mark)[0] != ("/" + own).split(mark)[0]:
        return ""
    return previous


def _covered(day: date, periods: Iterable[tuple[datetime, datetime]]) -> bool:
    """Whether the union of ``periods`` covers ``day`` (00:00–24:00 UTC), gaps up to
    :data:`SLACK` allowed."""
    at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return _spans(at, at + DAY, periods)


#: How long after an hour ends its digest may still be on its way.
DIGEST_DELAY = timedelta(hours=2)


def _covered_until(day: date, periods: Iterable[tuple[datetime, datetime]], now: datetime) -> bool:
    """Whether ``periods`` cover ``day`` up to what can be digested by ``now``
    (:data:`DIGEST_DELAY` before it)."""
    at = datetime(day.year, day.month, day.day, tzinfo=UTC)
    stop = min(at + DAY, now - DIGEST_DELAY)
    return stop <= at or _spans(at, stop, periods)


def _spans(at: datetime, stop: datetime, periods: Iterable[tuple[datetime, datetime]]) -> bool:
    """Whether the union of ``periods`` covers ``at`` to ``stop``, gaps up to :data:`SLACK`."""
    for start, end in sorted(periods):
        if end <= at:
            continue
        if start > at + SLACK:
            return False
        at = max(at, end)
        if at + SLACK >= stop:
            return True
    return at + SLACK >= stop


def judge_days(days: Iterable[date], digests: Iterable[Digest]) -> DayVerdict:
    """Sort ``days`` (days with no log file in one region folder) by ``digests`` (that region's,
    read from those days' and the next days' folders): a day whose log files a digest names
    is ``missing`` them, else a day wholly covered is ``quiet``, else ``unproven``."""
    found = list(digests)
    named: dict[date, list[str]] = {}
    for d in found:
        for key, day in zip(d.logs, d.log_days, strict=True):
            if day is not None:
                named.setdefault(day, []).append(key)
    periods = [(d.start, d.end) for d in found]
    out = DayVerdict()
    for day in sorted(set(days)):
        if day in named:
            out.missing[day] = sorted(set(named[day]))
        elif _covered(day, periods):
            out.quiet.append(day)
        else:
            out.unproven.append(day)
    return out


def _day_of(key: str) -> date | None:
    """The day folder of a log file a digest names."""
    place = dated_place(key)
    return None if place is None else place[2]


#: How far a log file's delivery may stray from the time in its name: a file is only called
#: unvouched when the digests read cover this much on either side of that time.
DELIVERY_LAG = timedelta(minutes=15)


def unvouched(day: date, held: Iterable[str], digests: Iterable[Digest]) -> list[str]:
    """The log files of ``day`` (names ``held``) that no digest of ``digests`` (read from the
    day's folder and the next's) names though the digests cover when each was written: the
    whole day, or :data:`DELIVERY_LAG` either side of the time in its name. CloudTrail did not
    deliver them (put there since, or by another trail that writes no digest). A file of an
    hour no digest read covers (validation turned on or off that day, the hour not yet
    digested) is not one."""
    found = list(digests)
    if not found:
        return []
    named = {k.replace("\\", "/").rpartition("/")[2] for d in found for k in d.logs}
    periods = [(d.start, d.end) for d in found]
    whole = _covered(day, periods)
    out = []
    for name in sorted(set(held) - named):
        t = name_time(name)
        if whole or (t is not None and _spans(t - DELIVERY_LAG, t + DELIVERY_LAG, periods)):
            out.append(name)
    return out


#: A digest file's name: ``<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<end>``
#: (``.json.gz``); a backfill digest (``…_backfill.json.gz``) does not match.
_DIGEST_NAME = re.compile(
    r"\A(\d{12})_CloudTrail-Digest_([a-z0-9-]+)_(.{1,128})_([a-z0-9-]+)_(\d{8}T\d{6}Z)"
    r"\.json(?:\.gz)?\Z"
)
#: At most this many other regions named as going on in one :class:`Tail`.
MAX_OTHERS = 3
#: At most this many digest files of one trail are read to tell whether a flat folder's log
#: files are that trail's (:meth:`DigestFolders._flat_trails`).
MAX_PROBED = 24


def _named(name: str, account: str, region: str) -> tuple[str, datetime] | None:
    """``(trail and home region, end)`` of a digest file named ``name`` in ``account``'s
    ``region`` folder, from its name alone (None: not a digest's name, or another account's or
    region's)."""
    m = _DIGEST_NAME.match(name.replace("\\", "/").rpartition("/")[2])
    if m is None or m.group(1) != account or m.group(2) != region:
        return None
    try:
        end = datetime.strptime(m.group(5), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return f"{m.group(3)}_{m.group(4)}", end


@dataclass(frozen=True, slots=True)
class Tail:
    """A region's digest files of a trail stopping (``last``: the end of its newest, named
    ``name``) while the same trail's digest files of other regions go on (``others``: region →
    the end of its newest found, more than :data:`DIGEST_DELAY` later)."""

    trail: str
    home: str
    last: datetime
    name: str
    others: dict[str, datetime]


class DigestFolders:
    """The digest files of a trail, read per region and day folder (each folder at most once,
    at most ``max_folders`` folders and ``max_files`` files per source); where they are is
    the subclass's (:class:`LocalDigests`, :class:`S3Digests`)."""

    max_folders = MAX_DIGEST_FOLDERS
    max_files = MAX_DIGEST_FILES

    def __init__(self, keys: PublicKeys | None = None) -> None:
        self._folders: dict[str, tuple[list[Digest], dict[str, str]]] = {}
        self._listed: dict[str, set[str]] = {}  # each folder read: the names of its digests
        self._files = 0
        self._refused: DigestError | None = None
        self._regions: dict[str, bool] = {}
        self._digest_regions: dict[str, frozenset[str]] = {}
        self._named: set[str] = set()  # day folders listed for their names only (:meth:`tail`)
        #: digest files outside the trail's layout, named like CloudTrail's (a flat folder of
        #: downloads): account → name → location (:meth:`add_flat`)
        self._flat: dict[str, dict[str, str]] = {}
        #: the stand-in ``…/CloudTrail-Digest/`` folders of flat groups → the digest files that
        #: judge them (name → location: those of the trails whose digests are of its log files)
        self._flat_tops: dict[str, dict[str, str]] = {}
        #: why the flat digest files of a group were not used (``root``, account → why)
        self.flat_unused: dict[tuple[str, str], str] = {}
        #: the stand-in ``…/CloudTrail/`` folders of flat groups → the log files there (name →
        #: location): where a digest's hash of one is checked
        self._flat_logs: dict[str, Mapping[str, str]] = {}
        self.keys = keys or PublicKeys(None)
        #: Digests whose signature does not verify (path → why): not used, a sharp issue.
        self.altered: dict[str, str] = {}

    def add_flat(self, locations: Iterable[str]) -> None:
        """Digest files of this source outside the trail's dated layout, named like CloudTrail's
        (``<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<end>.json.gz``, as the S3
        console saves them): each account's are read as its trail's digest folder would be
        (:meth:`flat_folder`), grouped by region and by the day their name ends."""
        for where in locations:
            name = where.replace("\\", "/").rpartition("/")[2]
            m = _DIGEST_NAME.match(name)
            if m is not None:
                self._flat.setdefault(m.group(1), {}).setdefault(name, where)

    def flat_folder(self, root: str, account: str, logs: Mapping[str, str]) -> str | None:
        """The ``…/CloudTrail/`` folder that stands for ``account``'s log files outside the
        dated layout under the source ``root`` (``logs``: their names → locations), to judge
        them by the digest files of that account found beside them (:meth:`add_flat`) as a
        trail folder is by its digest folder; None when there is none."""
        if account not in self._flat:
            return None
        theirs = self._flat_trails(root, account, logs)
        if not theirs:
            return None
        folder = f"{root.rstrip('/')}/{FLAT_FOLDER}/AWSLogs/{account}/CloudTrail/"
        self._flat_tops[f"{folder[: -len('CloudTrail/')]}{DIGEST}/"] = theirs
        self._flat_logs[folder] = logs
        return folder

    def _flat_trails(self, root: str, account: str, logs: Mapping[str, str]) -> dict[str, str]:
        """The flat digest files of ``account`` (name → location) of the trails whose digests
        are of the log files ``logs`` (names → locations): a flat folder's names say no trail,
        and another trail's digests (a second trail of the account, downloaded beside them)
        would vouch for days it was quiet and call these files undelivered. A trail's are
        taken when one of its digests read names one of the log files (:meth:`_names_any`), or
        when it is the only trail and no log file is there to tell; otherwise none is, and
        :attr:`flat_unused` says why."""
        trails: dict[str, dict[str, str]] = {}
        for name, where in self._flat[account].items():
            m = _DIGEST_NAME.match(name)
            if m is not None:
                trails.setdefault(f"{m.group(3)}_{m.group(4)}", {})[name] = where
        if not logs and len(trails) == 1:
            return next(iter(trails.values()))
        theirs: dict[str, str] = {}
        for names in trails.values():
            if logs and self._names_any(account, names, logs):
                theirs.update(names)
        if not theirs:
            shown = ", ".join(sorted({n.rpartition("_")[0] for n in trails}))
            self.flat_unused[(root, account)] = (
                f"the digest files of {account} beside the log files (of trail(s) {shown}) "
                + (
                    f"name none of the {len(logs):,} log file(s) of the window here (their "
                    f"digests of those files' hours read, at most {MAX_PROBED}): they are "
                    "another trail's (a second trail of the account), or these log files are "
                    "not what CloudTrail delivered"
                    if logs
                    else "are of more than one trail, and no log file of the window is here to "
                    "tell which trail's the folder's are"
                )
                + " — they were not used: the days without a log file are judged without them, "
                "and the log files are not checked against them; download the digest files of "
                "the trail that delivered these log files beside them"
            )
        return theirs

    def _names_any(self, account: str, names: Mapping[str, str], logs: Mapping[str, str]) -> bool:
        """Whether a digest among ``names`` (one trail's, name → location) names one of the
        log files ``logs`` (by name): for each log file, the trail's digest of its region whose
        period ends first after the time in its name is read (at most :data:`MAX_PROBED`)."""
        ends: dict[str, list[tuple[datetime, str]]] = {}
        for name in names:
            m = _DIGEST_NAME.match(name)
            got = None if m is None else _named(name, account, m.group(2))
            if m is not None and got is not None:
                ends.setdefault(m.group(2), []).append((got[1], name))
        wanted: dict[str, str] = {}  # digest location → its region
        for log in sorted(logs):
            place = named_place(log)
            t = name_time(log)
            if place is None or t is None:
                continue
            after = sorted(e for e in ends.get(place[1], []) if e[0] >= t)
            if after:
                wanted.setdefault(names[after[0][1]], place[1])
            if len(wanted) >= MAX_PROBED:
                break
        held = set(logs)
        where = list(wanted)
        for location, got in zip(where, self._fetch(where), strict=True):
            if isinstance(got, DigestError):
                continue
            region = wanted[location]
            m = _DIGEST_NAME.match(location.replace("\\", "/").rpartition("/")[2])
            if m is None:
                continue
            end = datetime.strptime(m.group(5), "%Y%m%dT%H%M%SZ").date()
            try:
                digest = read_digest(got[0], account, region, end)[0]
            except DigestError:
                continue
            if any(k.replace("\\", "/").rpartition("/")[2] in held for k in digest.logs):
                return True
        return False

    def _flat_of(self, path: str) -> tuple[dict[str, str], list[str]] | None:
        """The flat digest files (name → location) of the stand-in digest folder ``path`` is in,
        and the rest of ``path`` below that folder (region, year, month, day); None when
        ``path`` is a real folder."""
        for top, names in self._flat_tops.items():
            if path.startswith(top):
                return names, [p for p in path[len(top) :].split("/") if p]
        return None

    def _flat_names(self, names: dict[str, str], rest: list[str]) -> list[str]:
        """The names of ``names`` in the stand-in folder ``rest`` (region, and day) below."""
        out = []
        for name in sorted(names):
            m = _DIGEST_NAME.match(name)
            if m is None or (rest and m.group(2) != rest[0]):
                continue
            if len(rest) >= 4 and m.group(5)[:8] != "".join(rest[1:4]):
                continue
            out.append(name)
        return out

    def _list_at(self, path: str) -> list[str]:
        """:meth:`_list`, of a stand-in flat folder too (the locations of its digest files)."""
        flat = self._flat_of(path)
        if flat is None:
            return self._list(path)
        names, rest = flat
        return [names[n] for n in self._flat_names(names, rest)] if len(rest) >= 4 else []

    def _exists_at(self, path: str) -> bool:
        """:meth:`_exists`, of a stand-in flat folder too."""
        flat = self._flat_of(path)
        if flat is None:
            return self._exists(path)
        return bool(self._flat_names(*flat))

    def _children_at(self, path: str) -> list[str]:
        """:meth:`_children`, of a stand-in flat ``CloudTrail-Digest/`` folder too (its
        regions)."""
        flat = self._flat_of(path)
        if flat is None:
            return self._children(path)
        names, rest = flat
        if rest:
            return []
        return sorted({m.group(2) for n in names if (m := _DIGEST_NAME.match(n)) is not None})

    def _location(self, path: str, name: str) -> str:
        """Where the digest file ``name`` listed in the folder ``path`` is."""
        flat = self._flat_of(path)
        return flat[0].get(name, f"{path}{name}") if flat is not None else f"{path}{name}"

    def trail_names(self) -> list[str]:
        """The names of the trails whose digest files were listed (from the files' names:
        ``<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<end>``), sorted: which
        trail the log files beside them are of (:mod:`torinvest.impairment` matches a call's
        trail with them)."""
        names = set()
        for listed in self._listed.values():
            for name in listed:
                m = _DIGEST_NAME.match(name)
                if m is not None:
                    names.add(m.group(3))
        return sorted(names)

    def judge(self, folder: str, region: str, days: list[date]) -> DayVerdict:
        """:class:`DayVerdict` of ``days`` in ``region`` of the ``…/CloudTrail/`` ``folder``."""
        root = folder.rstrip("/")
        account = root.rsplit("/", 2)[-2]
        base = f"{root[: -len('CloudTrail')]}{DIGEST}/{region}/"
        digests: dict[int, Digest] = {}
        unreadable: dict[str, str] = {}
        looked: list[date] = []
        over = False
        for day in days:
            wanted = [d for d in (day, day + DAY) if f"{base}{d:%Y/%m/%d}/" not in self._folders]
            if len(self._folders) + len(wanted) > self.max_folders or self._files >= self.max_files:
                over = True
                break
            looked.append(day)
            for d in (day, day + DAY):
                got, bad = self._day(f"{base}{d:%Y/%m/%d}/", account, region, d)
                digests.update((id(g), g) for g in got)
                unreadable.update(bad)
        verdict = judge_days(looked, digests.values())
        verdict.unproven = sorted([*verdict.unproven, *(d for d in days if d not in looked)])
        verdict.unreadable = unreadable
        _seals(verdict, digests.values())
        if over or self._files >= self.max_files:
            verdict.over_limit = (
                f"{self.max_folders:,} digest day folders and {self.max_files:,} digest files"
            )
        return verdict

    def compare(self, folder: str, region: str, held: Mapping[date, set[str]]) -> DayVerdict:
        """The log files the digests of each day of ``held`` (and of the next day's folder:
        a day's last hour) name that are not among ``held[day]`` (the names of the log files
        the listing holds in ``region``'s folder that day), as ``missing``. Nothing when the
        trail has no digest folder for ``region`` (one look, not one per day); the days past
        the limit are ``unchecked``."""
        root = folder.rstrip("/")
        account = root.rsplit("/", 2)[-2]
        base = f"{root[: -len('CloudTrail')]}{DIGEST}/{region}/"
        out = DayVerdict()
        try:
            if not self._has(base):
                return out
        except DigestError as e:
            out.unreadable[base] = str(e)
            return out
        days = sorted(held)
        used: dict[int, Digest] = {}
        now = datetime.now(UTC)
        for i, day in enumerate(days):
            wanted = [d for d in (day, day + DAY) if f"{base}{d:%Y/%m/%d}/" not in self._folders]
            if len(self._folders) + len(wanted) > self.max_folders or self._files >= self.max_files:
                out.unchecked = days[i:]
                out.over_limit = (
                    f"{self.max_folders:,} digest day folders and {self.max_files:,} digest files"
                )
                break
            named: set[str] = set()
            read: list[Digest] = []
            for d in (day, day + DAY):
                got, bad = self._day(f"{base}{d:%Y/%m/%d}/", account, region, d)
                read += got
                named.update(
                    k for g in got for k, on in zip(g.logs, g.log_days, strict=True) if on == day
                )
                today = [g for g in got if day in g.log_days]
                used.update((id(g), g) for g in today)
                _hashes(out, folder, today, day, held[day], self._flat_logs.get(folder))
                out.unreadable.update(bad)
            gone = sorted(
                k for k in named if k.replace("\\", "/").rpartition("/")[2] not in held[day]
            )
            if gone:
                out.missing[day] = gone
            extra = unvouched(day, held[day], read)
            if extra:
                out.unvouched[day] = extra
            if not _covered_until(day, [(g.start, g.end) for g in read], now):
                out.uncovered.append(day)
            for g in read:
                gone = self._link_gone(base, g)
                if gone:
                    out.chain[g.location] = gone
        _seals(out, used.values())
        return out

    def _link_gone(self, base: str, digest: Digest) -> str | None:
        """The key of the digest before ``digest`` in the chain when its day folder (below
        ``base``, the region's digest folder) was listed and does not hold it: deleted, or
        never copied. None when it is there, or its folder was not looked at."""
        previous = digest.previous.replace("\\", "/")
        head, name = previous.rpartition("/")[::2]
        parts = head.rsplit("/", 3)
        if len(parts) < 4 or not all(p.isdigit() for p in parts[1:]):
            return None
        folder = f"{base}{parts[1]}/{parts[2]}/{parts[3]}/"
        listed = self._listed.get(folder)
        if listed is None or name in listed:
            return None
        return previous

    def tail(self, folder: str, region: str, until: datetime) -> list[Tail]:
        """For each trail whose digest files of ``region`` were listed (the window's day
        folders and the next, by :meth:`judge` and :meth:`compare`): its newest there, when it
        ends before ``until`` (the window's end, and :data:`DIGEST_DELAY` before now) and the
        same trail's digest files of other regions beside it go on more than
        :data:`DIGEST_DELAY` past it. CloudTrail writes a digest an hour for each region a
        trail logs, even with no log file: the region's later ones were deleted, or not copied
        here. Only from file names (one listing of at most two day folders per other region,
        none downloaded). Not said: when the trail stopped in every region together (deleted,
        logging or validation turned off), when only the trail's home region goes on (a trail
        made single-region), of regions whose digest folders are not here, and when a day
        folder of ``region`` after its newest digest was not listed (past the limit, refused)."""
        until = min(until, datetime.now(UTC) - DIGEST_DELAY)
        root = folder.rstrip("/")
        account = root.rsplit("/", 2)[-2]
        top = f"{root[: -len('CloudTrail')]}{DIGEST}/"
        base = f"{top}{region}/"
        newest: dict[str, tuple[datetime, str]] = {}
        for path, names in self._listed.items():
            if not path.startswith(base):
                continue
            for name in names:
                got = _named(name, account, region)
                if got is not None and (got[0] not in newest or got[1] > newest[got[0]][0]):
                    newest[got[0]] = (got[1], self._location(path, name))
        out: list[Tail] = []
        for key, (last, name) in sorted(newest.items()):
            if last + SLACK >= until or not self._all_listed(base, last.date(), until.date()):
                continue
            trail, _, home = key.rpartition("_")
            others = self._going_on(top, account, region, key, last)
            if others:
                out.append(Tail(trail, home, last, name, others))
        return out

    def _all_listed(self, base: str, first: date, last: date) -> bool:
        """Whether every day folder of ``base`` from ``first`` to the day after ``last`` was
        listed (a digest after the newest seen would be in one of them)."""
        n = (last - first).days + 2
        return all(f"{base}{first + DAY * i:%Y/%m/%d}/" in self._listed for i in range(n))

    def _going_on(
        self, top: str, account: str, region: str, key: str, last: datetime
    ) -> dict[str, datetime]:
        """The other regions (below the ``CloudTrail-Digest/`` folder ``top``) whose digest
        files of the trail ``key`` (``<trail>_<home region>``) go on more than
        :data:`DIGEST_DELAY` past ``last``: the end of the newest found in the day folders of
        ``last`` and the next (listed once, names only). The trail's home region is not one
        when ``region`` is not it (a trail made single-region goes on there alone)."""
        if top not in self._digest_regions:
            try:
                self._digest_regions[top] = frozenset(self._children_at(top))
            except DigestError:
                self._digest_regions[top] = frozenset()
        home = key.rpartition("_")[2]
        found: dict[str, datetime] = {}
        for other in sorted(self._digest_regions[top] - {region}):
            if other == home or len(found) >= MAX_OTHERS:
                continue
            ends = []
            for day in (last.date(), last.date() + DAY):
                path = f"{top}{other}/{day:%Y/%m/%d}/"
                if path not in self._listed:
                    if self._refused is not None:
                        return found  # one refusal stands for the others: not asked again
                    if len(self._folders) + len(self._named) >= self.max_folders:
                        return found
                    try:
                        names = self._list_at(path)
                    except DigestError:
                        return found  # cannot be looked at: nothing claimed from it
                    self._named.add(path)
                    self._listed[path] = {
                        n.replace("\\", "/").rpartition("/")[2]
                        for n in names
                        if DIGEST_MARK in n.rpartition("/")[2]
                    }
                for name in self._listed[path]:
                    got = _named(name, account, other)
                    if got is not None and got[0] == key:
                        ends.append(got[1])
            if ends and max(ends) > last + DIGEST_DELAY:
                found[other] = max(ends)
        return found

    def has(self, folder: str, region: str) -> bool:
        """Whether the trail has a digest folder for ``region`` beside the ``…/CloudTrail/``
        ``folder``: it logged that region. The ``CloudTrail-Digest/`` folder's region folders
        are looked at once per ``folder`` (one listing); none when it cannot be looked at
        (nothing shown)."""
        root = folder.rstrip("/")
        base = f"{root[: -len('CloudTrail')]}{DIGEST}/"
        if base not in self._digest_regions:
            try:
                self._digest_regions[base] = frozenset(self._children_at(base))
            except DigestError:
                self._digest_regions[base] = frozenset()
        return region in self._digest_regions[base]

    def listed(self, folders: Mapping[str, frozenset[str]]) -> None:
        """The region folders of ``CloudTrail-Digest/`` folders (its location → its regions)
        the log listing already saw (a prefix listed whole, the digest folders in it):
        :meth:`has` asks no listing of them again."""
        for base, regions in folders.items():
            self._digest_regions.setdefault(base, regions)

    def _has(self, base: str) -> bool:
        """Whether the trail has a digest folder ``base`` (looked at once)."""
        if base not in self._regions:
            if self._refused is not None:
                raise self._refused
            try:
                self._regions[base] = self._exists_at(base)
            except DigestError as e:
                self._refused = e
                raise
        return self._regions[base]

    def _day(
        self, path: str, account: str, region: str, day: date
    ) -> tuple[list[Digest], dict[str, str]]:
        if path in self._folders:
            return self._folders[path]
        digests: list[Digest] = []
        bad: dict[str, str] = {}
        try:
            if self._refused is not None:  # one refusal stands for the others: not asked again
                raise self._refused
            names = [n for n in self._list_at(path) if DIGEST_MARK in n.rpartition("/")[2]]
            self._listed[path] = {n.replace("\\", "/").rpartition("/")[2] for n in names}
        except DigestError as e:
            self._refused = e
            names, bad[path] = [], str(e)
        names = sorted(names)[: max(0, self.max_files - self._files)]
        self._files += len(names)
        for where, got in zip(names, self._fetch(names), strict=True):
            try:
                if isinstance(got, DigestError):
                    raise got
                data, seal = got
                if len(data) > MAX_DIGEST_BYTES:
                    raise DigestError(f"larger than {MAX_DIGEST_BYTES // 2**20} MiB")
                digest, doc, inflated = read_digest(data, account, region, day)
                why = self._check(doc, inflated, where, seal, region)
                digests.append(replace(digest, location=where, unverified=why))
            except DigestError as e:
                bad[where] = str(e)
            except Altered as e:
                self.altered[where] = str(e)
        self._folders[path] = (digests, bad)
        return digests, bad

    def _check(
        self, doc: Mapping[str, Any], inflated: bytes, where: str, seal: Seal | None, region: str
    ) -> str | None:
        """None when the digest's signature verifies; why not, when it may still be read as
        the trail's word. Raises :class:`Altered`, or DigestError when it proves nothing."""
        try:
            check_seal(doc, inflated, where, seal, region, self.keys)
        except Unverified as e:
            if not e.proof:
                raise DigestError(f"not verified: {e}") from None
            return str(e)
        return None

    def _exists(self, path: str) -> bool:
        """Whether anything is in the folder ``path``; DigestError when it cannot be looked at."""
        raise NotImplementedError

    def _children(self, path: str) -> list[str]:
        """The names of the folders in the folder ``path`` (none when it does not exist);
        DigestError when it cannot be listed."""
        raise NotImplementedError

    def _list(self, path: str) -> list[str]:
        """The files in the folder ``path`` (none when it does not exist); DigestError when it
        cannot be listed."""
        raise NotImplementedError

    def _fetch(self, locations: list[str]) -> list[Fetched | DigestError]:
        """The bytes of each file (at most :data:`MAX_DIGEST_BYTES` + 1) and its signature,
        or why not."""
        raise NotImplementedError


def _hashes(
    out: DayVerdict,
    folder: str,
    digests: Iterable[Digest],
    day: date,
    held: set[str],
    flat: Mapping[str, str] | None = None,
) -> None:
    """What ``digests`` say the log files of ``day`` held in ``folder`` (names ``held``) hold:
    their location in this source → (SHA-256, the digest's path), into ``out.hashes``;
    ``flat``: the folder stands for log files outside the dated layout (name → location)."""
    for g in digests:
        for key, value, on in zip(g.logs, g.hashes, g.log_days, strict=False):
            path = key.replace("\\", "/")
            name = path.rpartition("/")[2]
            if not value or on != day or name not in held:
                continue
            if flat is not None:
                if name in flat:
                    out.hashes[flat[name]] = (value, g.location)
            else:
                out.hashes[f"{folder}{path.rpartition('/CloudTrail/')[2]}"] = (value, g.location)


def _seals(verdict: DayVerdict, used: Iterable[Digest]) -> None:
    """What the signatures of the digests a verdict rests on (``used``) say: how many were
    verified, why the others were not (why → how many)."""
    for d in used:
        if d.unverified is None:
            verdict.verified += 1
        else:
            verdict.unverified[d.unverified] = verdict.unverified.get(d.unverified, 0) + 1


class LocalDigests(DigestFolders):
    """The digest files of a trail in a local folder."""

    def _exists(self, path: str) -> bool:
        return os.path.isdir(path)

    def _children(self, path: str) -> list[str]:
        try:
            with os.scandir(path) as it:
                return [e.name for e in it if e.is_dir()]
        except OSError:
            return []

    def _list(self, path: str) -> list[str]:
        try:
            with os.scandir(path) as it:
                return [path + e.name for e in it if e.is_file()]
        except OSError:
            return []  # no digest folder that day: nothing proven (the day stays an issue)

    def _fetch(self, locations: list[str]) -> list[Fetched | DigestError]:
        out: list[Fetched | DigestError] = []
        for where in locations:
            try:
                with open(where, "rb") as f:
                    out.append((f.read(MAX_DIGEST_BYTES + 1), None))
            except OSError as e:
                out.append(DigestError(f"cannot be read: {e.strerror or e}"))
        return out


class S3Digests(DigestFolders):
    """The digest files of a trail on S3: one ListObjectsV2 per digest day folder, one
    GetObject per digest (in threads), fewer of both than locally (:data:`MAX_S3_FOLDERS`,
    :data:`MAX_S3_FILES`): past them, the days stay issues, saying so."""

    max_folders = MAX_S3_FOLDERS
    max_files = MAX_S3_FILES

    def __init__(
        self, client: Any, keys: PublicKeys | None = None, *, versions: bool = False
    ) -> None:
        super().__init__(keys)
        self.client = client
        #: digest files the listing says are archived in S3 Glacier (location → why): not
        #: downloaded (:mod:`.archive`)
        self._archived: dict[str, str] = {}
        #: the bucket keeps versions (:mod:`.versions`): listed with ListObjectVersions (until
        #: refused), a digest deleted or rewritten read in its first version (location → ID)
        self.versions = versions
        self._version: dict[str, str] = {}
        self.found = Found({}, {}, {})

    def _versions(
        self, path: str, **options: Any
    ) -> tuple[str, str, list[Mapping[str, Any]]] | None:
        """The bucket, the prefix and every ListObjectVersions page of ``path``; None when the
        bucket keeps no versions or listing them was refused (then not asked again: the log
        listing's note says so)."""
        if not self.versions:
            return None
        bucket, _, prefix = path.removeprefix("s3://").partition("/")
        try:
            return (
                bucket,
                prefix,
                list(version_pages(self.client, bucket, Prefix=prefix, **options)),
            )
        except AccessDeniedError:
            self.versions = False
            return None
        except TorinvestError as e:
            raise DigestError(f"the digest folder could not be listed: {e}") from None

    def version_issues(self) -> list[DataIssue]:
        """The digest files deleted or rewritten in the bucket (:mod:`.versions`): one issue per
        region folder and kind."""
        return version_issues(self.found, kind="digest")

    def _pages(self, path: str, **delimiter: Any) -> tuple[str, str, list[Mapping[str, Any]]]:
        """The bucket, the prefix and every ListObjectsV2 page of ``path`` (``Delimiter`` as
        given); DigestError when it cannot be listed."""
        bucket, _, prefix = path.removeprefix("s3://").partition("/")
        try:
            pages = follow_pages(
                self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=bucket, Prefix=prefix, **delimiter
                ),
                "NextContinuationToken",
                "s3",
                "ListObjectsV2",
                region=self.client.meta.region_name,
                resource=path,
                more_key="IsTruncated",
            )
            return bucket, prefix, list(pages)
        except AWS_CALL_ERRORS as e:
            error = translate_error(e, service="s3", operation="ListObjectsV2", resource=path)
            raise DigestError(f"the digest folder could not be listed: {error}") from None
        except TorinvestError as e:
            raise DigestError(f"the digest folder could not be listed: {e}") from None

    def _list(self, path: str) -> list[str]:
        options: dict[str, Any] = {"OptionalObjectAttributes": ["RestoreStatus"]}
        versioned = self._versions(path, **options)
        if versioned is not None:
            return self._list_versions(*versioned)
        bucket, prefix, pages = self._pages(path, **options)
        out = []
        for o in (o for page in pages for o in page.get("Contents", [])):
            if "/" in o["Key"][len(prefix) :]:
                continue
            location = f"s3://{bucket}/{o['Key']}"
            code, restoring = archived_state(o)
            if code is not None:
                self._archived[location] = _archived_digest(archived_problem(code, restoring))
            out.append(location)
        return out

    def _list_versions(self, bucket: str, prefix: str, pages: list[Mapping[str, Any]]) -> list[str]:
        """:meth:`_list` from ListObjectVersions pages: a digest deleted or rewritten is listed,
        read in its first version and said (:attr:`found`); one deleted with no version kept is
        not listed (its hour is not covered), and said."""
        out = []
        for e in entries(pages):
            if "/" in e.key[len(prefix) :] or DIGEST_MARK not in e.key.rpartition("/")[2]:
                continue
            location = f"s3://{bucket}/{e.key}"
            h: History | None = e.history
            if h is not None and h.first is None:
                self.found.lost[location] = h
                continue
            if h is not None and e.version is not None:
                self._version[location] = e.version
                if h.deleted is not None:
                    self.found.recovered[location] = h
                if h.versions > 1:
                    self.found.rewritten[location] = (h, None)
            if e.archived is not None:
                self._archived[location] = _archived_digest(
                    archived_problem(e.archived, e.restoring)
                )
            out.append(location)
        return out

    def _children(self, path: str) -> list[str]:
        versioned = self._versions(path, Delimiter="/")
        if versioned is not None:
            _, prefix, pages = versioned
            found = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", []) or []]
            return [p[len(prefix) :].strip("/") for p in found]
        _, prefix, pages = self._pages(path, Delimiter="/")
        found = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
        return [p[len(prefix) :].strip("/") for p in found]

    def _exists(self, path: str) -> bool:
        bucket, _, prefix = path.removeprefix("s3://").partition("/")
        if self.versions:  # a folder whose every digest was deleted still holds their versions
            try:
                page = self.client.list_object_versions(Bucket=bucket, Prefix=prefix, MaxKeys=1)
                return bool(page.get("Versions") or page.get("DeleteMarkers"))
            except AWS_CALL_ERRORS as e:
                error = translate_error(
                    e, service="s3", operation="ListObjectVersions", resource=path
                )
                if not isinstance(error, AccessDeniedError):
                    raise DigestError(f"the digest folder could not be listed: {error}") from None
                self.versions = False
        try:
            page = self.client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1)
        except AWS_CALL_ERRORS as e:
            error = translate_error(e, service="s3", operation="ListObjectsV2", resource=path)
            raise DigestError(f"the digest folder could not be listed: {error}") from None
        return bool(page.get("Contents"))

    def _get(self, location: str) -> Fetched | DigestError:
        if location in self._archived:
            return DigestError(self._archived[location])
        bucket, _, key = location.removeprefix("s3://").partition("/")
        version = self._version.get(location)
        extra = {"VersionId": version} if version is not None else {}
        try:
            got = self.client.get_object(Bucket=bucket, Key=key, **extra)
            data = bytes(got["Body"].read(MAX_DIGEST_BYTES + 1))
            return data, Seal.of(got.get("Metadata") or {})
        except AWS_CALL_ERRORS as e:
            archived = archived_problem_of(e)
            if archived is not None:
                return DigestError(_archived_digest(archived))
            error = translate_error(e, service="s3", operation="GetObject", resource=location)
            if version is not None and isinstance(error, AccessDeniedError):
                return DigestError(
                    "its first version (the digest was deleted or rewritten in the bucket) could "
                    f"not be downloaded: {error} (needs s3:GetObjectVersion)"
                )
            return DigestError(f"could not be downloaded: {error}")

    def _fetch(self, locations: list[str]) -> list[Fetched | DigestError]:
        if len(locations) <= 1:
            return [self._get(w) for w in locations]
        with ThreadPoolExecutor(max_workers=min(S3_THREADS, len(locations))) as pool:
            return list(pool.map(self._get, locations))


def _archived_digest(problem: str) -> str:
    """Why an archived digest file was not read (:func:`~.archive.archived_problem`)."""
    return f"{problem}: the hours it covers cannot be checked against it until it is restored"
