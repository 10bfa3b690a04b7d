"""What the log reader passes around: the load's result, the narrowing, a listed file, the read
options, a worker's answer, the files counted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
import pyarrow as pa

from torinvest.addresses import canonical_ip
from torinvest.errors import DataIssue
from torinvest.inflate import DEFAULT_LIMIT
from torinvest.sources.records import (
    LOG_GROUP_NOTE,
    OLD_VERSIONS_ISSUE,
    DerivedKey,
    LookupScope,
    filter_keys,
)
from torinvest.sources.records.origin import Mint
from torinvest.sources.records.passwords import SignIn, user_needles

SOURCE = "logs"
#: Margin around the window for day folders: CloudTrail delivers late into the next day's folder.
DAY_MARGIN = timedelta(days=1)
S3_THREADS = 16
#: The most bytes one log file may hold once decompressed (a file past it is a data issue, not
#: read: a decompression bomb cannot exhaust memory). CloudTrail writes a file per region about
#: every 5 minutes: tens of MB at the busiest; raise it with ``max_file_bytes`` for big exports.
DEFAULT_MAX_FILE_BYTES = DEFAULT_LIMIT


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
    name the ``AWSLogs/`` folders found below a source, and so on; ``asides`` facts that are
    no issue (the days the trail's digest files show quiet).
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
    #: the records read that minted the keys (who minted them): not rows of ``frame``
    mints: list[Mint] = field(default_factory=list)
    counts: FileCounts = field(default_factory=lambda: FileCounts())
    notes: list[str] = field(default_factory=list)
    asides: list[str] = field(default_factory=list)
    #: the calls of ``load_logs``' ``watch`` names made by anyone but the keys and the keys
    #: minted, in the window (an events frame); None when not asked
    watched: pd.DataFrame | None = None
    #: the console sign-ins (ConsoleLogin) read of the users the keys set a console password
    #: for (with ``follow_derived``): not rows of ``frame``
    sign_ins: list[SignIn] = field(default_factory=list)
    #: the users whose sign-ins were searched for in the files read (none: not searched), and
    #: their console sessions' calls (followed as derived keys: ``derived``)
    sign_ins_searched: frozenset[str] = frozenset()
    #: the users a password was set for whose sign-ins were not searched for, and why (a
    #: password set from a console session found past the sign-in passes' limit)
    sign_ins_unread: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class KnownRegions:
    """Regions an investigation knows the key called, each with why (``reasons``: (region,
    why) pairs; the finding's region: GuardDuty raises a finding in the region of the call),
    that a ``…/CloudTrail/`` folder of ``account`` (None: of any account) judged for every
    region (no ``--regions``) must have a folder for: one it lacks is the "no folder" issue
    (:func:`~torinvest.sources.logs.coverage.coverage_issues`), saying why it was expected. They
    narrow nothing: which files are read stays the narrowing's."""

    reasons: tuple[tuple[str, str], ...]
    account: str | None = None

    @property
    def names(self) -> frozenset[str]:
        return frozenset(region for region, _why in self.reasons)

    def why(self, region: str) -> str:
        """Why ``region`` is known (its reasons, joined)."""
        return "; ".join(w for r, w in self.reasons if r == region)

    def applies_to(self, account: str) -> bool:
        """Whether a ``CloudTrail/`` folder of ``account`` must have these regions."""
        return self.account is None or self.account == account


@dataclass(frozen=True, slots=True)
class Narrowing:
    """Which log files to read, judged from their key layout or name alone; and the regions
    the key is known to have called (``known``: judged, not read only them)."""

    accounts: frozenset[str] | None = None
    regions: frozenset[str] | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    known: KnownRegions | None = None
    #: the access keys sought (None: every caller): judged only, narrowing nothing — a saved
    #: LookupEvents answer exported for another key stands for no region's calls of these
    #: (:meth:`~torinvest.sources.logs.coverage.Answer.stands_for`); not compared: the same
    #: files are listed for the keys and those they minted (one listing, the engines' cache)
    keys: frozenset[str] | None = field(default=None, compare=False)
    # the day folders of the window ±1 day, worked out once (asked for every file listed)
    _first: date | None = field(default=None, init=False, compare=False, repr=False)
    _last: date | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        first = None if self.start is None else (self.start - DAY_MARGIN).date()
        last = None if self.end is None else (self.end + DAY_MARGIN).date()
        object.__setattr__(self, "_first", first)
        object.__setattr__(self, "_last", last)

    @property
    def active(self) -> bool:
        return bool(self.accounts or self.regions or self.start is not None or self.end is not None)

    @property
    def first_day(self) -> date | None:
        return self._first

    @property
    def last_day(self) -> date | None:
        return self._last

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
    #: The S3 archive storage class (``GLACIER``, ``DEEP_ARCHIVE``) of an object the listing
    #: says cannot be read until restored (:mod:`.archive`): it is not downloaded.
    archived: str | None = None
    #: A restore of that archived object is in progress.
    restoring: bool = False
    #: What the trail's digest file says it holds: (SHA-256 of its content, the digest's path).
    sha256: tuple[str, str] | None = None
    #: When it was written where it was listed (UTC): S3's ``LastModified``, or a local file's
    #: modification time (None: not known); compared with the time in its name (:mod:`.writes`).
    written: datetime | None = None
    #: The S3 version to read (None: the current object): the first version of a log file
    #: deleted or rewritten in a versioned bucket (:mod:`.versions`), what CloudTrail delivered.
    version: str | None = None
    #: S3's ETag of the object (None: a local file, or not given): with its name and size,
    #: what tells a copy of the same content listed elsewhere (:func:`~.listing.read_once`)
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """What the readers keep: the keys (None = every record), the window, the source name;
    and the most bytes one file may hold once decompressed. ``mints``: keys whose minting
    records are kept too (a key's bytes are in the record that minted it: the byte prefilter
    finds it), for :func:`~torinvest.sources.records.origin.mints_of`; the loader takes them
    out of the frame."""

    keys: frozenset[str] | None = None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    source: str = SOURCE
    max_bytes: int = DEFAULT_MAX_FILE_BYTES  # per file, decompressed (see too_large)
    ips: frozenset[str] | None = None  # keep the records from these sourceIPAddress values
    #: keep the records that minted these keys too (who minted the key: the first pass only)
    mints: frozenset[str] = frozenset()
    #: event names whose records of ANY principal are kept apart (``BatchOut.watched``: calls
    #: that impair logging, made by someone else than the keys; the first pass only)
    watch: frozenset[str] = frozenset()
    #: keep the console sign-ins (ConsoleLogin) of these IAM users too: users a key set a
    #: console password for (:mod:`~torinvest.sources.records.passwords`; a pass of their own)
    users: frozenset[str] = frozenset()
    #: files that may be copies of one another (locations: :func:`~.listing.twin_candidates`):
    #: each is fingerprinted as read (``BatchOut.prints``; the first pass only)
    twins: frozenset[str] = frozenset()

    @property
    def filtered(self) -> bool:
        """Whether records are kept by caller (keys, sign-ins of users) rather than all read."""
        return bool(self.keys or self.users)

    @property
    def key_bytes(self) -> tuple[bytes, ...]:
        return tuple(sorted(k.encode() for k in self.keys or ()))

    @property
    def needles(self) -> tuple[bytes, ...]:
        """The bytes a kept record holds: a key's, else a source IP's as a JSON string."""
        if self.keys or self.users:
            return tuple(sorted(self.key_bytes + user_needles(self.users)))
        out = set()
        for ip in self.ips or ():
            out.add(b'"' + ip.encode() + b'"')
            if "." in ip and ":" not in ip:  # an IPv4 address written as IPv6: ::ffff:1.2.3.4
                out.add(b":" + ip.encode() + b'"')
        return tuple(sorted(out))

    @property
    def ips_v6(self) -> frozenset[str]:
        """The IPv6 addresses among ``ips`` (spelled many ways: see :mod:`.prefilter`)."""
        return frozenset(ip for ip in self.ips or () if ":" in ip)

    @property
    def ips_v4(self) -> frozenset[str]:
        """The IPv4 addresses among ``ips`` (also written as IPv6 in hex: ``::ffff:b9dc:6522``
        is ``185.220.101.34``; see :mod:`.prefilter`)."""
        return frozenset(ip for ip in self.ips or () if ":" not in ip)

    def keep(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The records of the keys and, with ``ips`` (canonical form), from those source IPs
        however the record writes them."""
        kept: list[Any] = (
            filter_keys(records, self.keys or (), self.mints, self.users)
            if self.filtered
            else records
        )
        if self.ips:
            ips = self.ips
            kept = [r for r in kept if _from(r.get("sourceIPAddress"), ips)]
        return kept


def _from(value: object, ips: frozenset[str]) -> bool:
    """Whether a ``sourceIPAddress`` is one of ``ips`` (text as is; an IPv6 spelling, or an
    IPv4 address written as IPv6, in canonical form)."""
    if value in ips:
        return True
    return isinstance(value, str) and ":" in value and canonical_ip(value) in ips


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
    #: records that are data events in the batch's files, any principal's
    #: (:func:`~torinvest.sources.logs.read.count_data_events`)
    data_events: int = 0
    spilled: tuple[str, list[tuple[int, int]]] | None = None
    #: the batch's files that are saved LookupEvents answers (locations:
    #: :func:`~torinvest.sources.records.is_lookup_answer`)
    answers: list[str] = field(default_factory=list)
    #: the regions of the events each of them holds (location → regions: empty, none)
    answer_regions: dict[str, frozenset[str]] = field(default_factory=dict)
    #: those of them whose every event shares one lookup attribute's value (location →
    #: :class:`~torinvest.sources.records.LookupScope`)
    scoped: dict[str, LookupScope] = field(default_factory=dict)
    #: the batch's files that are a trail's CloudWatch Logs copy (location → its kind:
    #: :func:`~torinvest.sources.records.log_group_copy`)
    copies: dict[str, str] = field(default_factory=dict)
    #: those of them holding records of an event version before 1.05
    #: (:func:`~torinvest.sources.records.has_old_versions`)
    old_copies: list[str] = field(default_factory=list)
    #: of the batch's files in ``ReadOptions.twins``, location → (the
    #: :func:`~.listing.fingerprint` of its content, its data events)
    prints: dict[str, tuple[str, int]] = field(default_factory=dict)
    #: the records of ``ReadOptions.watch``'s event names in the batch's files, not of the keys
    #: (:func:`~torinvest.sources.logs.prefilter.watched_records`), with their file
    watched: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass(slots=True)
class FileCounts:
    """The log files of a load, counted: ``listed`` passed the narrowing (to read), ``failed``
    gave nothing at all (location → why: not downloaded, not inflated, not JSON, not
    CloudTrail, too large), ``with_issues`` were read but not cleanly (location → the first
    issue: records without a time, a damaged file whose whole records were kept, invalid UTF-8
    replaced, entries skipped), ``skipped`` were outside the narrowing (counted where a listing
    saw them), ``trails`` the ``AWSLogs/`` folders found; ``accounts`` the accounts the files
    read are of, as their layout says (``AWSLogs/<account>/`` or ``<account>_CloudTrail_…``),
    ``unplaced`` how many files read name none (they may hold any account); ``data_events``
    how many records of the files read are data events (``eventCategory`` ``Data``), whoever
    made them: none says the trail may not record data events (a key's S3 object reads would
    not be in its log files); ``lookup_answers`` how many of the files read are saved
    LookupEvents answers (``aws cloudtrail lookup-events`` output, in a case folder): they hold
    management events only, never data events, whatever the trail records."""

    listed: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    trails: list[str] = field(default_factory=list)
    with_issues: dict[str, str] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)
    unplaced: int = 0
    data_events: int = 0
    lookup_answers: int = 0
    #: the saved LookupEvents answers read (location → the regions of the events it holds:
    #: Event history is kept per region, an answer holds the region it was asked in)
    lookup_regions: dict[str, frozenset[str]] = field(default_factory=dict)
    #: the saved LookupEvents answers read whose every event shares one lookup attribute's
    #: value (location → :class:`~torinvest.sources.records.LookupScope`): exported for it,
    #: they hold nothing else (:func:`~torinvest.sources.logs.scoped_answer_issues`)
    lookup_scoped: dict[str, LookupScope] = field(default_factory=dict)
    #: the files read that are a trail's CloudWatch Logs copy (location → its kind:
    #: :func:`~torinvest.sources.records.log_group_copy`): they lack the trail's events larger
    #: than 256 KB (:meth:`log_group_note`)
    log_group_copies: dict[str, str] = field(default_factory=dict)
    #: those of them holding records of an event version before 1.05: the events of those
    #: versions larger than 256 KB are not in them
    log_group_old: list[str] = field(default_factory=list)
    #: the names of the trails whose digest files were listed beside the log files (empty: not
    #: known which trail the files are of), :meth:`DigestFolders.trail_names
    #: <torinvest.sources.logs.digests.DigestFolders.trail_names>`
    trail_names: list[str] = field(default_factory=list)

    @property
    def read(self) -> int:
        """Files read (listed, less those that failed; those read with issues included)."""
        return self.listed - len(self.failed)

    def add(self, other: FileCounts) -> None:
        self.listed += other.listed
        self.skipped += other.skipped
        self.failed.update(other.failed)
        self.with_issues.update(other.with_issues)
        for location in self.failed:
            self.with_issues.pop(location, None)
        self.trails += [t for t in other.trails if t not in self.trails]
        self.accounts = sorted({*self.accounts, *other.accounts})
        self.unplaced += other.unplaced
        self.data_events += other.data_events
        self.lookup_answers += other.lookup_answers
        self.lookup_regions.update(other.lookup_regions)
        self.lookup_scoped.update(other.lookup_scoped)
        self.log_group_copies.update(other.log_group_copies)
        self.log_group_old += [o for o in other.log_group_old if o not in self.log_group_old]
        self.trail_names += [t for t in other.trail_names if t not in self.trail_names]

    def log_group_note(self) -> tuple[str, bool] | None:
        """What the trail's CloudWatch Logs copies read lack, said once, and whether it is an
        issue (events may be missing: some records are of a version before 1.05) or said beside
        the sources (none is missing for that); None when no copy was read."""
        if not self.log_group_copies:
            return None
        n = len(self.log_group_copies)
        said = f"{n:,} file(s) read are a copy of the trail's CloudWatch Logs log group: "
        if self.log_group_old:
            return said + OLD_VERSIONS_ISSUE, True
        return said + LOG_GROUP_NOTE, False

    def _only_scoped(self) -> bool:
        """Whether every file read is a saved answer of one attribute's value (a LookupEvents
        answer or a log group's copy: nothing read holds anything else — no log file, no whole
        export)."""
        return bool(self.lookup_scoped) and self.read <= len(self.lookup_scoped)

    def scope_gaps(
        self, *, key: str | None, user: str | None, minted_unseen: Sequence[str]
    ) -> list[DataIssue]:
        """What the saved answers read (LookupEvents answers, log group copies) cannot hold,
        when they are all that was read (:attr:`lookup_scoped`): the key's calls of other APIs or services, when none is
        of the key (or its ``user``) and some are of one API or service; the calls of the keys
        it minted (``minted_unseen``: none of their calls was read) that no answer is of. An
        issue each: the activity was not read whole."""
        if not self._only_scoped():
            return []
        scopes = self.lookup_scoped
        whose = {("AccessKeyId", key), ("Username", user)}
        issues = []
        if key is not None and not any((s.attribute, s.value) in whose for s in scopes.values()):
            for loc, s in sorted(scopes.items()):
                if s.attribute in ("EventName", "EventSource"):
                    issues.append(
                        DataIssue(
                            loc,
                            f"{s.what()} in which {s.describe()}: it was exported for that "
                            f"{s.attribute} ({s.how(s.attribute, s.value)}), so the key's calls "
                            "of other APIs and services are not in it; export the key's events "
                            f"({s.how('AccessKeyId', key)}) into the case",
                        )
                    )
        of_keys = {s.value for s in scopes.values() if s.attribute == "AccessKeyId"}
        unseen = [k for k in minted_unseen if k not in of_keys]
        if unseen:
            loc, s = sorted(scopes.items())[0]
            more = f" (and {len(scopes) - 1:,} more such answer(s))" if len(scopes) > 1 else ""
            shown = ", ".join(unseen[:5]) + (
                f" and {len(unseen) - 5:,} more" if len(unseen) > 5 else ""
            )
            issues.append(
                DataIssue(
                    loc,
                    f"{s.what()} in which {s.describe()}{more}, and nothing else was read: "
                    f"the key minted {len(unseen):,} key(s) ({shown}) whose calls are not in "
                    "what was read — an answer exported for one key, user, API or service "
                    "holds no other's; export each minted key's events "
                    f"({s.how('AccessKeyId', unseen[0])}) into the case, or read the trail's "
                    "log files",
                )
            )
        return issues

    def scope_gap_for_addresses(self) -> list[DataIssue]:
        """The issue of a search for every caller from some addresses (the IP pivot) when all
        that was read is saved answers of one attribute's value each (LookupEvents answers, log
        group copies): they hold no other caller (empty otherwise)."""
        if not self._only_scoped():
            return []
        loc, s = sorted(self.lookup_scoped.items())[0]
        n = len(self.lookup_scoped)
        more = f" (and {n - 1:,} more such answer(s))" if n > 1 else ""
        return [
            DataIssue(
                loc,
                f"{s.what()} in which {s.describe()}{more}, and nothing else was read: other "
                "callers from these addresses are not in it, so who else called from them is "
                "not known; read the trail's log files (or "
                + (
                    "a LookupEvents export of the window without --lookup-attributes)"
                    if s.kind == "lookup-events"
                    else "an export of the log group over the window without a filter pattern)"
                ),
            )
        ]

    def reasons(self) -> str:
        """Why files failed, counted by reason: ``8 could not be downloaded: AccessDenied``."""
        return _counted(self.failed)

    def issue_reasons(self) -> str:
        """What the files read with issues had, counted: ``2 with records without a usable
        time; 1 damaged (its whole records loaded)``."""
        return _counted(self.with_issues)

    def describe(self) -> str:
        """One line: ``62 log file(s) listed, 54 read, 8 failed (8 could not be downloaded:
        AccessDenied), 1 read with issues (1 with invalid UTF-8 replaced), 120 outside the
        window/region narrowing``."""
        text = f"{self.listed:,} log file(s) listed, {self.read:,} read"
        if self.failed:
            text += f", {len(self.failed):,} failed ({self.reasons()})"
        if self.with_issues:
            text += f", {len(self.with_issues):,} read with issues ({self.issue_reasons()})"
        if self.skipped:
            text += f", {self.skipped:,} outside the window/region narrowing"
        return text


def _counted(problems: dict[str, str]) -> str:
    counts: dict[str, int] = {}
    for problem in problems.values():
        reason = _reason(problem)
        counts[reason] = counts.get(reason, 0) + 1
    return "; ".join(f"{n:,} {r}" for r, n in counts.items())


#: Problems said in a few words (a text the problem holds → the words), for the counts.
_KINDS: tuple[tuple[str, str], ...] = (
    ("limit for one log file", "over the size limit (--max-file-mb)"),  # too_large()
    ("not read until restored", "archived in S3 Glacier (not read until restored)"),  # .archive
    ("without a usable eventTime", "with records without a usable time"),
    ("invalid UTF-8", "with invalid UTF-8 replaced"),
    ("CloudTrailEvent text(s) repaired", "with CloudTrailEvent texts repaired"),
    ("of a lone UTF-16 surrogate", "with lone surrogate escapes replaced"),
    ("JSON has no word for", "with NaN or Infinity numbers kept as text"),
    ("whole record(s) in it were loaded", "damaged (its whole records loaded)"),
    ("an HTML page, not JSON", "HTML pages, not JSON"),
    ("an XML document", "XML documents, not JSON"),
    ("output (--output ", "AWS CLI output other than JSON"),
    ("(the AWS CLI's --output yaml or table?)", "YAML or tables, not JSON"),
    ("entries are not CloudTrail records", "with entries that are not records"),
    ("have no parsable CloudTrailEvent", "with entries that are not records"),
    ("log events are not CloudTrail records", "with log events that are not records"),
    ("lines are not CloudTrail records", "with log events that are not records"),
    ("rows are not CloudTrail records", "with log events that are not records"),
    ("Logs Insights rows have no @message", "with Logs Insights rows without @message"),
    ("one page of ONE log stream", "holding one log stream's page"),
    ("message text(s) repaired", "with log event messages repaired"),
    ("have no usable CloudTrailEvent", "with events kept without their record (outcome unknown)"),
    ("have a CloudTrailEvent lacking fields", "with partial events filled (outcome unknown)"),
    ("the other lines were loaded", "with bad JSON lines"),
    ("succeeded but its minted key is not recorded", "with a mint whose key is not recorded"),
    ("if it succeeded, its minted key is not recorded", "with a mint whose key is not recorded"),
    ("is not an access key ID: not followed", "with a minted value that is not a key"),
)
_REASON = re.compile(r"could not be downloaded: [\w.]+|[^:(]+")
_LINE = re.compile(r"line \d+: ")
_COUNT = re.compile(r"[\d,]+(?: of [\d,]+)? ")


def _reason(problem: str) -> str:
    """A problem in a few words, without its numbers (it is counted by file)."""
    for text, words in _KINDS:
        if text in problem:
            return words
    problem = _LINE.sub("", problem, count=1)
    m = _REASON.match(problem)
    reason = (m.group(0) if m else problem).strip()
    reason = _COUNT.sub("", reason, count=1) if _COUNT.match(reason) else reason
    return reason[:80] or "unreadable"
