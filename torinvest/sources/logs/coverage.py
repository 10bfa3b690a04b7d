"""What the dated trail layout (``AWSLogs/[<o-org>/]<account>/CloudTrail/<region>/YYYY/MM/DD/``)
says a source holds: the regions that have a folder, and the UTC days that have log files.

A region asked that has no folder in a ``…/CloudTrail/`` folder, and a day of the window with no
log file in a region that has one, are data issues (:func:`coverage_issues`): the events there,
if any, were not read — never "read, no events". With no region asked, the regions enabled for
the account (:class:`EnabledRegions`: a trail on S3, the credentials at hand) are asked too: one
with no folder is the same issue, unless the trail's digest folder for it shows it logged; and
so are the regions an investigation knows the key called (the finding's:
:class:`~torinvest.sources.logs.model.KnownRegions`), in the folders of the finding's account,
offline too. A folder of another account than the credentials' is judged by the credentials'
enabled regions, saying so, and by the partition's opt-in regions they lack (not known there).
Built from the keys the listing already has (:class:`Coverage`, one entry per log file listed,
nothing per event).

Log files outside the dated layout whose names are CloudTrail's
(``<account>_CloudTrail_<region>_<YYYYMMDD>T<HHmm>Z_<unique>.json.gz``: a flat folder of files
downloaded from the trail's bucket) are judged the same way from their names, per account of a
source (:class:`Flat`): the regions with such a file stand for the region folders, the days in
their names for the day folders. The digest files beside them named like CloudTrail's
(``<account>_CloudTrail-Digest_<region>_<trail>_<home region>_<end>.json.gz``) are read as the
trail's digest folder is, by region and the day their name ends (:meth:`~torinvest.sources.logs.
digests.DigestFolders.flat_folder`): missing and altered log files, quiet days. Files named
otherwise (exports, JSON lines) say nothing of their coverage and are left out of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import pandas as pd

from torinvest.errors import DataIssue
from torinvest.sources.logs.model import KnownRegions, Narrowing

TRAIL_MARK = "AWSLogs/"
CLOUDTRAIL = "CloudTrail"
#: At most this many day ranges named in one issue (the rest counted).
MAX_RANGES = 6
_NAME_TIME = re.compile(r"_(\d{8}T\d{4}Z)_")
#: A CloudTrail log file's name (AWS: "CloudTrail log file name format"):
#: ``<account>_CloudTrail_<region>_<YYYYMMDD>T<HHmm>Z_<unique>.json.gz``; an organization
#: trail's files are named for the member account whose events they hold.
FILE_NAME_RE = re.compile(
    r"^(?P<account>\d{12})_CloudTrail_(?P<region>[a-z0-9-]+)_(?P<day>\d{8})T\d{4,6}Z_"
)


def name_time(name: str) -> datetime | None:
    """The time in a log file's name (``…_YYYYMMDDTHHmmZ_…``): AWS documents it as the minute
    CloudTrail delivered the file. None when the name has none."""
    m = _NAME_TIME.search(name)
    if m is None:
        return None
    t = m.group(1)  # YYYYMMDDTHHmmZ, digits where the pattern says (strptime: 6x the time)
    try:
        return datetime(
            int(t[:4]), int(t[4:6]), int(t[6:8]), int(t[9:11]), int(t[11:13]), tzinfo=UTC
        )
    except ValueError:
        return None


def dated_place(location: str) -> tuple[str, str, date] | None:
    """``(…/CloudTrail/ folder, region, day)`` of a log file in the dated trail layout (its
    last ``AWSLogs/``), or None for any other place."""
    loc = location.replace("\\", "/")
    at = ("/" + loc).rfind("/" + TRAIL_MARK)
    if at < 0:
        return None
    head = loc[: at + len(TRAIL_MARK)]
    rest = loc[at + len(TRAIL_MARK) :].split("/")
    if rest and rest[0].startswith("o-"):
        head, rest = head + rest[0] + "/", rest[1:]
    if len(rest) < 7 or not rest[0].isdigit() or len(rest[0]) != 12 or rest[1] != CLOUDTRAIL:
        return None
    try:
        day = date(int(rest[3]), int(rest[4]), int(rest[5]))
    except ValueError:
        return None
    return f"{head}{rest[0]}/{CLOUDTRAIL}/", rest[2], day


def folder_account(folder: str) -> str:
    """The account of a ``…/AWSLogs/[<o-org>/]<account>/CloudTrail/`` folder."""
    return folder.rstrip("/").rsplit("/", 2)[-2]


def named_place(location: str) -> tuple[str, str, date] | None:
    """``(account, region, day)`` a log file's name gives when it is CloudTrail's (the day it
    was delivered, UTC: the day folder CloudTrail writes it to), or None."""
    name = location.replace("\\", "/").rpartition("/")[2]
    m = FILE_NAME_RE.match(name)
    if m is None:
        return None
    d = m["day"]
    try:
        day = date(int(d[:4]), int(d[4:6]), int(d[6:]))
    except ValueError:
        return None
    return m["account"], m["region"], day


#: Said of every issue of a :class:`Flat` group of log files.
FLAT_WORDS = (
    "a folder outside the trail's AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/ layout: "
    "the regions and days come from the log files' CloudTrail names, and the digest files' "
    "(<account>_CloudTrail-Digest_…) from theirs"
)


@dataclass(frozen=True, slots=True)
class Flat:
    """The log files of one account, outside the dated layout, named like CloudTrail's, under
    one source (``root``, as given): judged as a ``…/CloudTrail/`` folder of ``account`` is,
    from their names (:data:`FLAT_WORDS`)."""

    root: str
    account: str

    @property
    def place(self) -> str:
        """Where its issues are (the source, and which files: its key in :class:`Coverage`)."""
        return f"{self.root} ({self.account}_CloudTrail_* files)"

    def region_place(self, region: str) -> str:
        """Where the issues of one region's files are."""
        return f"{self.root} ({self.account}_CloudTrail_{region}_* files)"


@dataclass(frozen=True, slots=True)
class EnabledRegions:
    """The regions enabled for the account (``names``), that a ``…/CloudTrail/`` folder judged
    for every region (no ``--regions``) should have, and where that list came from
    (``source``: ``ec2:DescribeRegions``, or why the partition's regions stand in).

    They are the enabled regions of the credentials' account (``account``; None: it could not
    be identified, ``unidentified`` says why). A folder of another account (a log-archive
    account reading its organization's trail) is judged by them all the same, saying whose
    they are; and the partition's (``partition``) opt-in regions (``opt_in``: those the
    credentials' account opted in to, and those it has not enabled — every region that is not
    opt-in is enabled for every account) that have no folder there are named as not known to
    be enabled for that account."""

    names: frozenset[str]
    source: str
    account: str | None = None
    unidentified: str = ""
    opt_in: frozenset[str] = frozenset()
    partition: str = "aws"
    #: enabled for every account (the partition's default regions, offline): ``account`` and
    #: ``opt_in`` say nothing; every folder is judged by them as its account's own
    everywhere: bool = False

    def theirs(self, account: str) -> bool:
        """Whether these are ``account``'s enabled regions (the credentials' account, or every
        account's: :attr:`everywhere`)."""
        return self.everywhere or self.account == account


@dataclass(frozen=True, slots=True)
class Answer:
    """A saved LookupEvents answer (``aws cloudtrail lookup-events --output json``) among the
    log files of a source holding a :class:`Flat` group: the regions it holds events of (or
    the region its path names, when it holds none) and the accounts of its records (none:
    not known). Event history is kept per region: the region's management events are in it,
    not its data events, and the time range it was asked for is not in it."""

    location: str
    regions: frozenset[str]
    accounts: frozenset[str] = frozenset()
    #: every event of it shares this value of a lookup attribute (``AccessKeyId``, ``Username``,
    #: ``EventName``, ``EventSource``) and how many events it holds: exported for that value (or
    #: nothing else was called there), it holds no other caller's, user's or API's events
    #: (None: its events share none; :func:`~torinvest.sources.records.answer_scope`)
    only: tuple[str, str, int] | None = None
    #: the access keys its events were made with (``AccessKeyId``)
    key_ids: frozenset[str] = frozenset()
    #: the times of its first and last events (None: it holds none with a usable time)
    first: pd.Timestamp | None = None
    last: pd.Timestamp | None = None

    def stands_for(self, keys: frozenset[str] | None, narrowing: Narrowing) -> bool:
        """Whether it holds every call of ``keys`` in its regions in the window of
        ``narrowing`` (:meth:`why_not`)."""
        return self.why_not(keys, narrowing) is None

    def why_not(self, keys: frozenset[str] | None, narrowing: Narrowing) -> str | None:
        """Why it does not hold every call of ``keys`` in its regions in the window (None: it
        does). Exported for another value of a lookup attribute — another key, a user none of
        ``keys`` called as, an API or a service, or any value when no key is sought —, it holds
        no other's calls (an answer of one of ``keys``, or of the user one of them called as,
        does); its events all before the window's start or all after its end, it was asked for
        another time (events on both sides, or in the window: the window was asked). One that
        holds no event with a time (a region where nothing matched, covered by its file's name
        only) does not show the time it was asked for: nothing says it was the window's (with
        no window, any time is the window's)."""
        if self.only is not None:
            attribute, value, n = self.only
            mine = keys is not None and (
                value in keys
                if attribute == "AccessKeyId"
                else attribute == "Username" and not keys.isdisjoint(self.key_ids)
            )
            if not mine:
                return (
                    f"every one of its {n:,} event(s) is of {attribute} {value}: exported for "
                    "another key, user, API or service than the key sought (or nothing else was "
                    "called there), it holds no other's calls"
                )
        start, end = narrowing.start, narrowing.end
        if self.first is None or self.last is None:
            if start is None and end is None:
                return None
            return (
                "it holds no event, and a LookupEvents answer does not hold the time it was "
                "asked for: whether nothing was called there in the window, or it was asked for "
                "another time, is not known"
            )
        if (start is not None and self.last < start) or (end is not None and self.first > end):
            return (
                f"its events are of {_iso(self.first)}–{_iso(self.last)}, none reaching the "
                "window: it was asked for another time"
            )
        return None


@dataclass(slots=True)
class Coverage:
    """For each ``…/CloudTrail/`` folder of a source: the regions judged (``scope``; None: every
    region it has), the regions known to have a folder (``regions``; None: not known yet — an
    S3 trail where only the regions asked were listed), the days with a log file per region
    (``days``: only the days the listing looked at), and the names of those log files per
    region and day of the window (``names``: compared with the names the trail's digest files
    give, :mod:`.digests`; within one region and day folder a log file's name is its path
    below ``AWSLogs/``, whatever bucket or prefix the trail was copied to)."""

    scope: dict[str, frozenset[str] | None] = field(default_factory=dict)
    regions: dict[str, set[str] | None] = field(default_factory=dict)
    days: dict[str, dict[str, set[date]]] = field(default_factory=dict)
    names: dict[str, dict[str, dict[date, set[str]]]] = field(default_factory=dict)
    #: the keys above that are no folder but a :class:`Flat` group of log files (its place)
    flat: dict[str, Flat] = field(default_factory=dict)
    #: of a :class:`Flat` group, where each of its log files is (name → location)
    located: dict[str, dict[str, str]] = field(default_factory=dict)
    #: saved LookupEvents answers beside :class:`Flat` groups (:meth:`answered`)
    answers: list[Answer] = field(default_factory=list)

    def answered(
        self, account: str, narrowing: Narrowing, *, standing: bool = True
    ) -> dict[str, list[Answer]]:
        """The regions the saved LookupEvents answers of the source hold events of, for the
        :class:`Flat` group of ``account`` (those whose records are its, or name no account):
        region → the answers. ``standing``: those that hold every call of the keys sought
        (``narrowing.keys``) there in the window (:meth:`Answer.stands_for`); else those that
        do not (exported for another key, a user, an API, or asked for another time)."""
        out: dict[str, list[Answer]] = {}
        keys = narrowing.keys
        for a in self.answers:
            if (not a.accounts or account in a.accounts) and a.stands_for(
                keys, narrowing
            ) == standing:
                for region in a.regions:
                    out.setdefault(region, []).append(a)
        return out

    def account(self, folder: str) -> str:
        """The account of a ``…/CloudTrail/`` folder or of a :class:`Flat` group."""
        flat = self.flat.get(folder)
        return flat.account if flat is not None else folder_account(folder)

    def region_place(self, folder: str, region: str) -> str:
        """Where the issues of ``region`` in ``folder`` are: its region folder."""
        flat = self.flat.get(folder)
        return flat.region_place(region) if flat is not None else f"{folder}{region}/"

    def judge(
        self, folder: str, scope: frozenset[str] | None, regions: Iterable[str] | None
    ) -> None:
        """Judge ``folder`` for ``scope``, its regions known (``regions``) or not (None)."""
        self.scope.setdefault(folder, scope)
        if regions is not None:
            self.regions[folder] = set(regions)
        else:
            self.regions.setdefault(folder, None)

    def add(self, location: str, base: str, narrowing: Narrowing) -> None:
        """Count a log file listed under the source ``base``: judged when ``base`` is at or
        above its ``CloudTrail/`` folder (every region asked, or every region), or is its
        region's folder (that region); a source inside a day folder says nothing of days."""
        place = dated_place(location)
        if place is None:
            self._add_flat(location, base, narrowing)
            return
        folder, region, day = place
        account = folder_account(folder)
        if narrowing.accounts and account not in narrowing.accounts:
            return
        base = base.replace("\\", "/")
        if folder.startswith(base):
            scope = narrowing.regions
        elif f"{folder}{region}/".startswith(base):
            scope = frozenset({region})
        else:
            return
        if folder not in self.scope:
            self.judge(folder, scope, ())
        elif scope is not None and self.scope[folder] is not None:
            self.scope[folder] = frozenset({*(self.scope[folder] or ()), *scope})
        known = self.regions.get(folder)
        if known is not None:
            known.add(region)
        self.days.setdefault(folder, {}).setdefault(region, set()).add(day)
        first, last = narrowing.first_day, narrowing.last_day
        if first is not None and last is not None and first <= day <= last:
            name = location.replace("\\", "/").rpartition("/")[2]
            by_day = self.names.setdefault(folder, {}).setdefault(region, {})
            by_day.setdefault(day, set()).add(name)

    def _add_flat(self, location: str, base: str, narrowing: Narrowing) -> None:
        """Count a log file outside the dated layout, below the source ``base`` (a folder or
        prefix: a file given by name is not judged), when its name is CloudTrail's."""
        named = named_place(location)
        if named is None:
            return
        account, region, day = named
        if narrowing.accounts and account not in narrowing.accounts:
            return
        loc, base = location.replace("\\", "/"), base.replace("\\", "/")
        if loc == base or not loc.startswith(base):
            return
        flat = Flat(base.rstrip("/") or base, account)
        folder = flat.place
        if folder not in self.scope:
            self.flat[folder] = flat
            self.judge(folder, narrowing.regions, ())
        known = self.regions.get(folder)
        if known is not None:
            known.add(region)
        self.days.setdefault(folder, {}).setdefault(region, set()).add(day)
        first, last = narrowing.first_day, narrowing.last_day
        if first is not None and last is not None and first <= day <= last:
            name = loc.rpartition("/")[2]
            by_day = self.names.setdefault(folder, {}).setdefault(region, {})
            by_day.setdefault(day, set()).add(name)
            self.located.setdefault(folder, {})[name] = location

    def unknown(self) -> list[str]:
        """The folders whose regions are not known and where a region judged has no log file
        listed (whether its folder exists is not known yet)."""
        return [
            f
            for f, known in self.regions.items()
            if known is None and any(r not in self.days.get(f, {}) for r in self.scope[f] or ())
        ]


def window_days(narrowing: Narrowing, today: date | None = None) -> list[date]:
    """The UTC days of the window up to ``today`` (none when it is open-ended). An end at
    exactly midnight after the start does not bring in the day it opens."""
    start, end = narrowing.start, narrowing.end
    if start is None or end is None:
        return []
    last = end.date()
    if end > start and end == end.normalize():
        last -= timedelta(days=1)
    last = min(last, today or datetime.now(UTC).date())
    first = pd.Timestamp(start).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_ranges(days: Iterable[date]) -> str:
    """``2025-12-01–2025-12-30, 2026-01-02`` (at most :data:`MAX_RANGES`, the rest counted)."""
    spans: list[tuple[date, date]] = []
    for d in sorted(days):
        if spans and d - spans[-1][1] == timedelta(days=1):
            spans[-1] = (spans[-1][0], d)
        else:
            spans.append((d, d))
    shown = [f"{a}" if a == b else f"{a}–{b}" for a, b in spans[:MAX_RANGES]]
    more = len(spans) - len(shown)
    return ", ".join(shown) + (f" and {more:,} more range(s)" if more else "")


@dataclass(slots=True)
class DayVerdict:
    """What the digests say of a region's days: of days without a log file, ``quiet`` (every
    hour covered, no log file delivered) and ``unproven`` (hours no readable digest covers);
    of any day, ``missing`` (day → the keys of the log files the digests name: delivered, not
    here); ``unchecked``: days with log files not compared with the digests (past the limit);
    the digest files that could not be read (``unreadable``: path → why), ``over_limit`` the
    bound past which days were not looked at (None: every day was); of the digests the verdict
    rests on, how many had their signature ``verified``, and why the others were not
    (``unverified``: why → how many; read as the trail's word, :mod:`.signatures`); of the log
    files held that they name, what they say each holds (``hashes``: the file's location →
    (SHA-256 of its content, the digest saying so)), checked when the file is read; of the log
    files held, those no digest names though digests cover when they were written
    (``unvouched``: day → names: :func:`~torinvest.sources.logs.digests.unvouched`); the
    digests read whose previous digest in the trail's chain is missing from a folder listed
    (``chain``: digest → the previous one's key); the days holding log files some of whose
    hours no digest read covers (``uncovered``: their files were not all compared)."""

    quiet: list[date] = field(default_factory=list)
    missing: dict[date, list[str]] = field(default_factory=dict)
    unproven: list[date] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    over_limit: str | None = None
    unchecked: list[date] = field(default_factory=list)
    verified: int = 0
    unverified: dict[str, int] = field(default_factory=dict)
    hashes: dict[str, tuple[str, str]] = field(default_factory=dict)
    unvouched: dict[date, list[str]] = field(default_factory=dict)
    chain: dict[str, str] = field(default_factory=dict)
    uncovered: list[date] = field(default_factory=list)


class Stopped(Protocol):
    """A region's digest files of a trail that stop (``last``, its newest: ``name``) while
    the trail's of other regions go on (``others``: region → the end of its newest)."""

    @property
    def trail(self) -> str: ...

    @property
    def last(self) -> datetime: ...

    @property
    def name(self) -> str: ...

    @property
    def others(self) -> Mapping[str, datetime]: ...


class DayJudge(Protocol):
    """Judges the days of one region folder by its trail's digest files
    (:class:`torinvest.sources.logs.digests.LocalDigests`): the days without a log file
    (``judge``), and the days with some, against the names of the log files held (``compare``)."""

    def judge(self, folder: str, region: str, days: list[date]) -> DayVerdict: ...

    def compare(self, folder: str, region: str, held: Mapping[date, set[str]]) -> DayVerdict: ...

    def tail(self, folder: str, region: str, until: datetime) -> Sequence[Stopped]:
        """The trails whose digest files of ``region`` stop before ``until`` while theirs of
        other regions go on (:meth:`torinvest.sources.logs.digests.DigestFolders.tail`)."""
        ...

    def has(self, folder: str, region: str) -> bool:
        """Whether the trail has a digest folder for ``region`` beside ``folder`` (False when
        it cannot be looked at)."""
        ...

    @property
    def altered(self) -> Mapping[str, str]:
        """The digest files whose signature does not verify (path → why)."""
        ...

    def flat_folder(self, root: str, account: str, logs: Mapping[str, str]) -> str | None:
        """The ``…/CloudTrail/`` folder standing for a :class:`Flat` group's log files (``logs``:
        name → location), judged by the digest files beside them; None when there is none
        (:meth:`torinvest.sources.logs.digests.DigestFolders.flat_folder`)."""
        ...

    #: why the digest files beside a :class:`Flat` group were not used ((its root, account) →
    #: why): another trail's, or of several trails and nothing to tell which
    flat_unused: dict[tuple[str, str], str]


#: At most this many digest files named as unreadable in one issue.
MAX_NAMED = 2
#: A log file a digest names is quoted up to this many characters.
MAX_EXAMPLE = 300


#: The regions and days of each account other sources hold log files of: account → region →
#: the days (:func:`held_by`).
Held = Mapping[str, Mapping[str, set[date]]]


def held_by(coverages: Iterable[Coverage]) -> dict[str, dict[str, set[date]]]:
    """The regions (with a log file, or a folder) and days with a log file of each account in
    ``coverages`` (other sources'), their trail folders and flat groups alike."""
    out: dict[str, dict[str, set[date]]] = {}
    for coverage in coverages:
        for folder in coverage.scope:
            regions = out.setdefault(coverage.account(folder), {})
            for region in coverage.regions.get(folder) or ():
                regions.setdefault(region, set())
            for region, days in coverage.days.get(folder, {}).items():
                regions.setdefault(region, set()).update(days)
    return out


def coverage_issues(
    coverage: Coverage,
    narrowing: Narrowing,
    today: date | None = None,
    *,
    digests: DayJudge | None = None,
    asides: list[str] | None = None,
    hashes: dict[str, tuple[str, str]] | None = None,
    enabled: EnabledRegions | None = None,
    unvouched: set[tuple[str, str, str]] | None = None,
    elsewhere: Held | None = None,
    said: set[tuple[str, str, date | None]] | None = None,
) -> list[DataIssue]:
    """One issue per ``CloudTrail/`` folder lacking a region judged (no folder: no log file
    of it at all), and one per region folder lacking log files on days of the window. With
    ``digests``, those days are judged by the trail's digest files (:mod:`.digests`): the days
    they show quiet are no issue (said once per folder in ``asides``), the days whose log
    files they name are a sharper issue, the others stay as they were. Then the window's days
    that hold log files are compared with the digests (after every day without one, so a
    limit reached falls on them): log files the digests name and the folder lacks join the
    sharper issue; days not compared (past the limit) or digests unreadable there are said in
    ``asides`` (the reading of those days stays as it was without digests).

    ``enabled``: the regions enabled for the account. A folder judged for every region (no
    ``--regions``) lacking one is the same "no folder" issue, saying it was enabled and not
    asked — unless the trail has a digest folder for it (``digests``): that region was logged,
    and its days are judged by the digests as a region folder without log files is (quiet days
    a note, the others issues).

    ``narrowing.known``: the regions the key is known to have called (the finding's region). A
    folder of their account judged for every region lacking one is the "no folder" issue saying
    why (before, and instead of, the enabled regions' issue for that region); a digest folder
    for it is judged as for an enabled region.

    ``unvouched``: the log files called unvouched (one issue per region folder) are added to it
    as (``…/CloudTrail/`` folder, region, file name), so that nothing else names them again
    (:func:`~torinvest.sources.logs.writes.write_issues`).

    Several sources (:func:`~torinvest.sources.logs.listing.list_logs`): ``elsewhere``, what
    the other sources hold of each account (:func:`held_by`) — a region or day of the account
    they hold log files of was read there: no issue here —, and ``said``, the (account,
    region, None) and (account, region, day) an earlier source said lacking (not said again:
    one issue per account and region, whichever source; the ones said here are added)."""
    days = window_days(narrowing, today)
    windowed = narrowing.start is not None or narrowing.end is not None
    said = set() if said is None else said
    until = _window_end(narrowing) if days else None
    plan: list[tuple[str, list[DataIssue], list[tuple[str, list[date]]]]] = []
    trails = {folder_account(f) for f in coverage.scope if f not in coverage.flat}
    everywhere = digests
    #: the folder the digests judge each folder as: itself, or a flat group's stand-in (none:
    #: no digest file of its account beside it)
    at: dict[str, str] = {}
    for folder in sorted(coverage.scope):
        flat = folder in coverage.flat
        account = coverage.account(folder)
        if flat and account in trails:
            continue  # its account's trail folder in the same source is judged, not its copies
        digests = everywhere
        unused: str | None = None
        held = (elsewhere or {}).get(account, {})

        def fresh(region: str, account: str = account, held: Held = held) -> bool:
            """Not read from another source, nor said lacking by one."""
            return region not in held and (account, region, None) not in said

        answered = coverage.answered(account, narrowing) if flat else {}
        other = coverage.answered(account, narrowing, standing=False) if flat else {}
        if flat and digests is not None:
            group = coverage.flat[folder]
            stand_in = digests.flat_folder(group.root, account, coverage.located.get(folder, {}))
            unused = digests.flat_unused.get((group.root, account))
            digests = None if stand_in is None else digests
            if stand_in is not None:
                at[folder] = stand_in
        elif digests is not None:
            at[folder] = folder
        present = set(coverage.regions.get(folder) or coverage.days.get(folder, {}))
        scope = coverage.scope[folder]
        judged = sorted(scope if scope is not None else present)
        looked_up = {r for r in judged if r not in present and r in answered}
        missing = [r for r in judged if r not in present and r not in answered and fresh(r)]
        known = narrowing.known if scope is None else None
        expected: list[str] = []
        if known is not None and known.applies_to(account):
            for region in sorted(known.names - present):
                if not fresh(region):
                    continue
                if region in answered:
                    looked_up.add(region)
                elif digests is not None and digests.has(at[folder], region):
                    present.add(region)  # logged: its days are judged by its digests
                    judged.append(region)
                else:
                    expected.append(region)
            judged.sort()
        unfolded: list[str] = []
        unsure: list[str] = []  # opt-in regions another account's folder may lack rightly
        others = enabled is not None and not enabled.theirs(account)
        if enabled is not None and scope is None:
            extra = enabled.opt_in - enabled.names if others else frozenset()
            for region in sorted((enabled.names | extra) - present - set(expected)):
                if not fresh(region):
                    continue
                if region in answered:
                    looked_up.add(region)
                elif digests is not None and digests.has(at[folder], region):
                    present.add(region)  # logged: its days are judged by its digests
                    judged.append(region)
                else:
                    (unfolded if region in enabled.names else unsure).append(region)
            judged.sort()
        head = []
        if unused is not None and coverage.located.get(folder):
            head.append(DataIssue(folder, unused))  # the log files could not be checked
        elif unused is not None and asides is not None:
            asides.append(f"{folder}: {unused}")
        if missing:
            head.append(
                DataIssue(
                    folder,
                    f"{_lacks(missing, flat)}: no log file of "
                    f"{'that region' if len(missing) == 1 else 'those regions'} here at all, so "
                    "its events, if any, were not read",
                )
            )
        if expected and known is not None:
            head.append(DataIssue(folder, _known_problem(expected, known, flat=flat)))
        if others and enabled is not None:
            # a region that is not opt-in is enabled for every account: its folder is missing;
            # whether the folder's account enabled an opt-in one is not known: a note
            sure = [r for r in unfolded if r not in enabled.opt_in]
            maybe = sorted({*unsure, *(r for r in unfolded if r in enabled.opt_in)})
            if sure:
                problem = _others_problem(
                    account,
                    sure,
                    enabled,
                    flat=flat,
                    digested=digests is not None,
                    windowed=windowed,
                )
                head.append(DataIssue(folder, problem))
            if maybe and asides is not None:
                asides.append(f"{folder}: {_opt_in_note(account, maybe, enabled, flat=flat)}")
        elif unfolded:
            head.append(
                DataIssue(
                    folder,
                    _unfolded_problem(
                        unfolded,
                        enabled,
                        flat=flat,
                        digested=digests is not None,
                        windowed=windowed,
                    ),
                )
            )
        if flat:
            head = [DataIssue(i.source, f"{i.problem} ({FLAT_WORDS})") for i in head]
        if looked_up and asides is not None:
            asides.append(f"{folder}: {_looked_up_note(sorted(looked_up), answered)}")
        lacking = sorted(r for r in other if r not in answered and r not in present)
        if lacking and asides is not None:
            asides.append(f"{folder}: {_scoped_out_note(lacking, other, narrowing)}")
        said.update((account, r, None) for r in [*missing, *expected, *unfolded, *unsure])
        seen = coverage.days.get(folder, {})
        regions = [
            (
                r,
                [
                    d
                    for d in days
                    if d not in seen.get(r, ())
                    and d not in held.get(r, ())
                    and (account, r, d) not in said
                ],
            )
            for r in judged
            if r in present
        ]
        said.update((account, r, d) for r, gaps in regions for d in gaps)
        plan.append((folder, head, regions))
    digests = everywhere
    verdicts: dict[tuple[str, str], DayVerdict] = {}
    if digests is not None:
        for folder, _head, regions in plan:
            if folder not in at:
                continue
            for region, gaps in regions:
                if gaps:
                    verdicts[(folder, region)] = digests.judge(at[folder], region, gaps)
    checks: dict[tuple[str, str], DayVerdict] = {}
    if digests is not None:
        for folder, _head, regions in plan:
            if folder not in at:
                continue
            for region, _gaps in regions:
                names = coverage.names.get(folder, {}).get(region, {})
                held = {d: names[d] for d in days if d in names}
                if held:
                    checks[(folder, region)] = digests.compare(at[folder], region, held)
                    if hashes is not None:
                        hashes.update(checks[(folder, region)].hashes)
    out: list[DataIssue] = []
    for folder, head, regions in plan:
        out += head
        quiet: list[str] = []
        unsure: list[str] = []
        quiet_seals = DayVerdict()
        check_seals = DayVerdict()
        for region, gaps in regions:
            where = coverage.region_place(folder, region)
            verdict = verdicts.get((folder, region))
            check = checks.get((folder, region), DayVerdict())
            if verdict is None:
                if gaps and folder in coverage.flat:
                    out.append(DataIssue(where, f"{_gap_problem(gaps, len(days))} ({FLAT_WORDS})"))
                elif gaps:  # not judged by digests: as it was
                    out.append(DataIssue(where, _gap_problem(gaps, len(days))))
                verdict = DayVerdict()
            if verdict.quiet:
                quiet.append(f"{region} ({len(verdict.quiet):,} day(s))")
                _add_seals(quiet_seals, verdict)
            _add_seals(check_seals, check)
            lost = dict(sorted({**verdict.missing, **check.missing}.items()))
            if lost:
                out.append(DataIssue(where, _missing_problem(lost)))
            if check.unvouched:
                out.append(DataIssue(where, _unvouched_problem(check.unvouched)))
                if unvouched is not None:
                    unvouched.update(
                        (folder, region, n) for names in check.unvouched.values() for n in names
                    )
            if check.chain:
                out.append(DataIssue(where, _chain_problem(check.chain)))
            stopped = (
                digests.tail(at[folder], region, until)
                if digests is not None and until is not None and folder in at
                else ()
            )
            if stopped:
                out.append(DataIssue(where, _tail_problem(region, stopped)))
            if verdict.unproven:
                text = _gap_problem(verdict.unproven, len(days), verdict)
                if folder in coverage.flat:
                    text += f" ({FLAT_WORDS})"
                out.append(DataIssue(where, text))
            unsure += _unchecked(region, check)
        if asides is not None and quiet:  # one note: the days with log files' digests too
            _add_seals(quiet_seals, check_seals)
            asides.append(
                f"{folder}: digest files show no log file was delivered on the window's days "
                f"without one in {', '.join(quiet)}: nothing was logged there those days "
                f"({_seal_words(quiet_seals)})"
            )
        elif asides is not None and check_seals.unverified:
            asides.append(
                f"{folder}: the log files of the window's days were compared with digest files "
                f"whose signatures were {_seal_words(check_seals)}"
            )
        if asides is not None and unsure:
            asides.append(
                f"{folder}: the log files of some days were not compared with the trail's digest "
                f"files (log files deleted those days would not be noticed): {'; '.join(unsure)}"
            )
    altered = digests.altered if digests is not None else {}
    out += [DataIssue(path, _altered_problem(why)) for path, why in sorted(altered.items())]
    return out


def _scoped_out_note(
    regions: list[str], other: Mapping[str, list[Answer]], narrowing: Narrowing
) -> str:
    """Regions with no log file named for them whose saved LookupEvents answers beside the log
    files do not hold the key's calls in the window (:meth:`Answer.why_not`): why they were
    not taken for the regions' events."""
    found = sorted({a for r in regions for a in other[r]}, key=lambda a: a.location)
    shown = "; ".join(
        f"{a.location}: {a.why_not(narrowing.keys, narrowing)}" for a in found[:MAX_NAMED]
    ) + (f"; and {len(found) - MAX_NAMED:,} more" if len(found) > MAX_NAMED else "")
    one = len(regions) == 1
    empty = any(a.first is None for a in found)
    return (
        f"no log file named for region(s) {', '.join(regions)}, and the saved LookupEvents "
        f"answer(s) beside them of {'that region' if one else 'those regions'} do not stand for "
        f"{'its' if one else 'their'} events of the key in the window ({shown}); export the "
        "key's events there over the window (aws cloudtrail lookup-events --lookup-attributes "
        "AttributeKey=AccessKeyId,AttributeValue=KEY --start-time START --end-time END "
        "--region REGION --output json) into the folder and re-run"
        + (
            " (an answer that holds no event never shows its time: read "
            f"{'that region' if one else 'those regions'} with --lookup instead, which asks "
            "for the window itself, or add its log files)"
            if empty
            else ""
        )
    )


def _iso(t: pd.Timestamp) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _looked_up_note(regions: list[str], answered: Mapping[str, list[Answer]]) -> str:
    """Regions judged with no log file named for them, whose events saved LookupEvents answers
    beside the log files hold."""
    answers = sorted({a.location for r in regions for a in answered[r]})
    shown = ", ".join(answers[:MAX_NAMED]) + (
        f" and {len(answers) - MAX_NAMED:,} more" if len(answers) > MAX_NAMED else ""
    )
    one = len(regions) == 1
    whose = "that region's" if one else "those regions'"
    return (
        f"no log file named for region(s) {', '.join(regions)}; the saved LookupEvents "
        f"answer(s) beside them ({shown}) hold {'its' if one else 'their'} events and were read "
        f"instead: {whose} management events only "
        "(LookupEvents holds no data events), as far as each answer was asked for (its time "
        "range is not in it)"
    )


def _lacks(regions: Sequence[str], flat: bool = False) -> str:
    """How an issue of regions without a folder (of a :class:`Flat` group: without a log file
    named for them) opens."""
    what = "log file named for" if flat else "folder for"
    return f"no {what} region(s) {', '.join(regions)}"


def _known_problem(regions: list[str], known: KnownRegions, *, flat: bool = False) -> str:
    """Regions the key is known to have called (the finding's), with no folder (nor digest
    folder) here."""
    one = len(regions) == 1
    return (
        f"{_lacks(regions, flat)}: no log file of "
        f"{'that region' if one else 'those regions'} here at all, so its events, if any, were "
        f"not read — {known_called(regions, known)}"
    )


def known_called(regions: Sequence[str], known: KnownRegions) -> str:
    """What a source holding nothing of regions the key is known to have called adds: why they
    were expected, and where else to read them (the Athena engine's words too)."""
    one = len(regions) == 1
    it = "it" if one else "them"
    whose = "that region's" if one else "those regions'"
    why = "; ".join(f"{r}: {known.why(r)}" for r in regions)
    return (
        f"and the key called {it} ({why}); read {whose} log files from the trail that records "
        f"{it}, or LookupEvents (--lookup)"
    )


def _reader(enabled: EnabledRegions) -> str:
    """Whose enabled regions were listed: the credentials' account, or why it is not known."""
    if enabled.account is not None:
        return f"account {enabled.account}, the credentials'"
    return f"the credentials' account (not identified: {enabled.unidentified})"


def _others_problem(
    account: str,
    regions: list[str],
    enabled: EnabledRegions,
    *,
    flat: bool = False,
    digested: bool = False,
    windowed: bool = True,
) -> str:
    """A folder of another account (``account``) than the credentials' (or one not identified)
    lacking regions that are not opt-in (enabled for every account: for the folder's too)."""
    one = len(regions) == 1
    whose = (
        f"every account, {account}'s too ({'it is not an opt-in region' if one else 'they are '}"
        f"{'' if one else 'not opt-in regions'}; listed for {_reader(enabled)}"
    )
    return _unfolded_problem(
        regions,
        enabled,
        whose=whose,
        after=")",
        flat=flat,
        digested=digested,
        windowed=windowed,
    )


def _opt_in_note(
    account: str, regions: list[str], enabled: EnabledRegions, *, flat: bool = False
) -> str:
    """A folder of another account (``account``) than the credentials' (or one not
    identified) without folders for the partition's opt-in regions, which that account may not
    have enabled."""
    one = len(regions) == 1
    it = "it" if one else "them"
    reader = _reader(enabled)
    opted = sorted(set(regions) & enabled.names)
    listed = f", which opted in to {', '.join(opted)}" if opted else f", which has not enabled {it}"
    what = "log file named for" if flat else "folder for"
    whose = "whose log files these are" if flat else "whose folder this is"
    return (
        f"no {what} the {enabled.partition} partition's opt-in region(s) "
        f"{', '.join(regions)}: whether account {account}, {whose}, enabled {it} is "
        f"not known (the enabled regions listed are those of {reader}{listed}) — "
        f"where it did, the key's events there, if any, were not read; aws account list-regions "
        f"--account-id {account}, run from the organization's management account, lists its "
        "enabled regions: name the key's regions with --regions to have each checked"
    )


def _unfolded_problem(
    regions: list[str],
    enabled: EnabledRegions | None,
    *,
    whose: str = "the account",
    after: str = "",
    flat: bool = False,
    digested: bool = False,
    windowed: bool = True,
) -> str:
    """Regions enabled for the account (``whose``: for which account; ``after``: what that
    leaves unknown), not asked, with no folder (nor digest folder) here; of a :class:`Flat`
    group (``flat``), no log file named for them (nor, ``digested``: no digest file, when
    some of its account are beside it). ``windowed``: a window was given (else nothing was
    logged there at all, as far as these files go)."""
    one = len(regions) == 1
    it = "it" if one else "them"
    their = "that region's" if one else "those regions'"
    source = enabled.source if enabled is not None else ""
    digest = f", and no digest folder (CloudTrail-Digest/) shows {it} logged"
    if flat:
        digest = f", and no digest file named for {it} shows {it} logged" if digested else ""
    return (
        f"{_lacks(regions, flat)}: no log file of "
        f"{'that region' if one else 'those regions'} here at all, so its events, if any, were "
        f"not read; {'it is' if one else 'they are'} enabled for {whose} ({source}){after} and "
        f"{'was' if one else 'were'} not asked with --regions: the trail does not log {it} (a "
        f"single-region trail, or one that leaves {it} out), or nothing was logged there "
        f"{'in the window' if windowed else 'at all'}, or {'its' if one else 'their'} files are "
        f"not here{digest}; read "
        f"{their} log files from the trail that records "
        f"{it}, or LookupEvents (--lookup), or name the key's regions with --regions"
    )


def _add_seals(into: DayVerdict, verdict: DayVerdict) -> None:
    into.verified += verdict.verified
    for why, n in verdict.unverified.items():
        into.unverified[why] = into.unverified.get(why, 0) + n


def _seal_words(seals: DayVerdict) -> str:
    """What the signatures of the digests a note rests on say."""
    if not seals.unverified:
        return "their signatures verified"
    n = sum(seals.unverified.values())
    (why, _), *more = sorted(seals.unverified.items(), key=lambda kv: (-kv[1], kv[0]))
    also = f"; and {len(more):,} more reason(s)" if more else ""
    return f"not verified: {why}{also} ({n:,} digest file(s), read as the trail's word)"


def _altered_problem(why: str) -> str:
    """A digest whose signature does not verify."""
    return (
        f"{why}: this digest may have been altered; the files it names cannot be trusted (it "
        "was not used: the hours it covers are not proven quiet, the log files it names not "
        "compared)"
    )


def _unchecked(region: str, check: DayVerdict) -> list[str]:
    """Why log files of ``region`` held on some days were not compared with the digests."""
    said = []
    if check.unchecked:
        said.append(
            f"{region} on {day_ranges(check.unchecked)}: past the limit of {check.over_limit} "
            "per source"
        )
    if check.unreadable:
        path, why = sorted(check.unreadable.items())[0]
        more = len(check.unreadable) - 1
        said.append(
            f"{region}: {len(check.unreadable):,} digest file(s) could not be read ({path}: "
            f"{why}{f'; and {more:,} more' if more else ''})"
        )
    if check.uncovered:
        said.append(
            f"{region} on {day_ranges(check.uncovered)}: some hours are covered by no digest "
            "file read (validation was off, or digest files were deleted or not copied)"
        )
    return said


def _gap_problem(gaps: list[date], total: int, verdict: DayVerdict | None = None) -> str:
    """Days with no log file, no digest showing them quiet (why, when digests were looked at)."""
    text = (
        f"no log file for {day_ranges(gaps)} ({len(gaps):,} of the window's "
        f"{total:,} UTC day(s)): nothing was logged there those days, or logging stopped, or the "
        "files are not here; "
        "the events of those days, if any, were not read"
    )
    if verdict is None:
        return text
    if verdict.unreadable:
        shown = sorted(verdict.unreadable.items())[:MAX_NAMED]
        more = len(verdict.unreadable) - len(shown)
        named = "; ".join(f"{p}: {why}" for p, why in shown) + (
            f"; and {more:,} more" if more else ""
        )
        text += (
            f" ({len(verdict.unreadable):,} digest file(s) there could not be read, so they "
            f"prove nothing: {named})"
        )
    if verdict.over_limit:
        text += (
            " (the trail's digest files were not looked at for some of those days: past the "
            f"limit of {verdict.over_limit} per source)"
        )
    return text


def _unvouched_problem(extra: dict[date, list[str]]) -> str:
    """Log files held that the trail's digests, covering when they were written, do not name."""
    n = sum(len(names) for names in extra.values())
    day, names = next(iter(extra.items()))
    example = f"{day:%Y/%m/%d}/{names[0]}"
    if len(example) > MAX_EXAMPLE:  # a name in the folder: bounded
        example = example[:MAX_EXAMPLE] + "…"
    return (
        f"{n:,} log file(s) here on {day_ranges(extra)} are not named by the trail's digest files, "
        f"which cover when they were written (e.g. {example}): CloudTrail did not deliver them "
        "to this trail — they were put here since (their events may be forged), or another "
        "trail without log file validation writes to this folder; their events were read and "
        "cannot be trusted: compare them with LookupEvents (--lookup) or the other trail's "
        "files before relying on them"
    )


def _chain_problem(chain: dict[str, str]) -> str:
    """Digests read whose previous digest (``previousDigestS3Object``) is not in its folder."""
    digest, previous = sorted(chain.items())[0]
    more = f"; and {len(chain) - 1:,} more" if len(chain) > 1 else ""
    if len(previous) > MAX_EXAMPLE:  # the digest's text: bounded
        previous = previous[:MAX_EXAMPLE] + "…"
    return (
        f"{len(chain):,} digest file(s) name a previous digest file that is not in the trail's "
        f"digest folder ({digest} names {previous}{more}): it was deleted, or not copied; the "
        "log files of the hour it covered were not compared with the trail's word, so log files "
        "deleted then would not be noticed"
    )


def _window_end(narrowing: Narrowing) -> datetime | None:
    """The end of the window, in UTC (None: open-ended)."""
    if narrowing.end is None:
        return None
    end = pd.Timestamp(narrowing.end)
    end = end.tz_localize(UTC) if end.tzinfo is None else end.tz_convert(UTC)
    return end.to_pydatetime()


def _stamp(t: datetime) -> str:
    return f"{t:%Y-%m-%dT%H:%M:%SZ}"


def _tail_problem(region: str, stopped: Sequence[Stopped]) -> str:
    """A region's digest files that stop while the trail's of other regions go on."""
    first = stopped[0]
    trail = first.trail if len(first.trail) <= MAX_EXAMPLE else first.trail[:MAX_EXAMPLE] + "…"
    others = sorted(first.others.items(), key=lambda kv: (-kv[1].timestamp(), kv[0]))
    going = ", ".join(f"{r} at least to {_stamp(t)}" for r, t in others)
    more = f"; and {len(stopped) - 1:,} more trail(s)" if len(stopped) > 1 else ""
    return (
        f"digest files of {region} stop at {_stamp(first.last)} ({first.name}) while the "
        f"trail's ({trail}) digest files of other regions go on ({going}){more}: CloudTrail "
        "writes one an hour for each region it logs, even with no log file; those hours' "
        "digest files (and any log files they named) were deleted, or not copied here: the "
        f"hours after {_stamp(first.last)} were not compared with the trail's word, so log "
        "files deleted then would not be noticed, and their events, if any, were not read"
    )


def _missing_problem(missing: dict[date, list[str]]) -> str:
    """Days whose log files the trail's digests name and the folder does not hold."""
    n = sum(len(keys) for keys in missing.values())
    example = next(iter(missing.values()))[0]
    if len(example) > MAX_EXAMPLE:  # the digest's text: bounded
        example = example[:MAX_EXAMPLE] + "…"
    return (
        f"the trail delivered {n:,} log file(s) here on {day_ranges(missing)} that are not in "
        f"this folder (digest files name them, e.g. {example}): their events were not read"
    )


#: The issue of regions with no log file in a folder (:func:`coverage_issues`: ``_lacks``,
#: then what it says of their events); the part :func:`read_elsewhere` says again.
_LACKING = re.compile(
    r"^no (?:folder|log file named) for region\(s\) (?P<regions>[a-z0-9-]+(?:, [a-z0-9-]+)*): "
    r"no log file of (?:that region|those regions) here at all(?P<unread>, so its events, if "
    r"any, were not read)"
)
#: The account of a :class:`Flat` group's place (:attr:`Flat.place`).
_FLAT_ACCOUNT = re.compile(r"\((\d{12})_CloudTrail_\* files\)$")


def read_elsewhere(issues: Sequence[DataIssue], frames: Sequence[pd.DataFrame]) -> list[DataIssue]:
    """``issues`` with each issue of regions with no log file in a folder (:func:`coverage_issues`)
    saying how many of those regions' events were read from other files, and which — files
    outside the trail's layout and names (a CloudWatch Logs export, JSON lines, a LookupEvents
    answer that does not stand for the region), whose events ``frames`` hold (their ``origin``,
    ``aws_region``, ``recipient_account_id``: the folder's account, or none said). Those files
    do not show the time they cover: the rest of the regions' events, if any, were not read,
    and the issue stays one. Said once: an issue already saying it is kept as it is."""
    lacking = {
        r for i in issues if (m := _LACKING.match(i.problem)) for r in m["regions"].split(", ")
    }
    columns = ["origin", "aws_region", "recipient_account_id"]
    rows: list[pd.DataFrame] = []
    for f in frames:
        if not lacking or not len(f) or not set(columns) <= set(f.columns):
            continue
        mask = f["aws_region"].isin(lacking).to_numpy(dtype=bool, copy=True)
        origins = f["origin"][mask]
        # the files the coverage was judged from (a trail's layout or names) and looked-up
        # rows are not "other files" (judged once per file, not per row)
        placed = [
            o
            for o in origins.dropna().unique()
            if str(o).startswith("lookup:") or _trail_file(str(o))
        ]
        mask &= f["origin"].notna().to_numpy(dtype=bool)
        mask &= ~f["origin"].isin(placed).to_numpy(dtype=bool)
        if mask.any():
            rows.append(f.loc[mask, columns].astype(object))
    if not rows:
        return list(issues)
    read = pd.concat(rows, ignore_index=True)
    read["origin"] = read["origin"].astype(str)
    out: list[DataIssue] = []
    for issue in issues:
        m = _LACKING.match(issue.problem)
        if m is None:
            out.append(issue)
            continue
        regions = m["regions"].split(", ")
        account = _issue_account(issue.source)
        mine = read[read["aws_region"].isin(regions)]
        if account is not None:
            theirs = mine["recipient_account_id"]
            mine = mine[(theirs.isna() | (theirs.astype(str) == account)).to_numpy(dtype=bool)]
        if mine.empty:
            out.append(issue)
            continue
        said = _read_elsewhere_words(regions, mine)
        problem = issue.problem[: m.start("unread")] + said + issue.problem[m.end("unread") :]
        out.append(DataIssue(issue.source, problem, unread=issue.unread))
    return out


def _trail_file(location: str) -> bool:
    """Whether ``location`` is a log file in the trail's dated layout or named as CloudTrail
    names its log files (the files :class:`Coverage` judges)."""
    return dated_place(location) is not None or named_place(location) is not None


def _issue_account(source: str) -> str | None:
    """The account of a coverage issue's source: a ``…/CloudTrail/`` folder's, a
    :class:`Flat` group's; None when it names none."""
    flat = _FLAT_ACCOUNT.search(source)
    if flat is not None:
        return flat.group(1)
    if source.rstrip("/").endswith(f"/{CLOUDTRAIL}"):
        account = folder_account(source)
        return account if account.isdigit() and len(account) == 12 else None
    return None


def _read_elsewhere_words(regions: Sequence[str], rows: pd.DataFrame) -> str:
    """What replaces "so its events, if any, were not read" in a region issue whose regions'
    events ``rows`` (origin, aws_region) were read from other files."""
    one = len(regions) == 1
    parts: list[str] = []
    for region in regions:
        here = rows[rows["aws_region"] == region]
        if here.empty:
            continue
        counts = here["origin"].astype(str).value_counts()
        files = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        named = ", ".join(f"{loc}: {n:,}" for loc, n in files[:MAX_NAMED]) + (
            f", and {len(files) - MAX_NAMED:,} more file(s)" if len(files) > MAX_NAMED else ""
        )
        parts.append(named if one else f"{region}: {len(here):,} ({named})")
    its = "its" if one else "their"
    return (
        f"; {len(rows):,} event(s) sought in {'that region' if one else 'those regions'} were read "
        f"from other files ({'; '.join(parts)}), which do not show the time they cover: {its} "
        "other events, if any, were not read"
    )
