"""A key's activity from every source at once: log files, LookupEvents, or both, as one frame.

Each source (:mod:`torinvest.sources.logs`, :mod:`torinvest.sources.lookup`) returns the events
frame (:data:`torinvest.schema.EVENTS_COLUMNS`); :func:`combine_frames` joins them, keeping one row
per record (sources overlap: a log file and a lookup of the same period hold the same
events; the first source named wins; different records sharing an ``event_id`` are all kept and
reported), sorted by ``event_time``. :class:`Activity` carries the
frame together with everything that kept it from being complete.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
from pandas.api.types import union_categoricals

from torinvest.aws import DEFAULT_REGIONS, Aws, arn_partition, global_regions_missing
from torinvest.aws.ids import check_access_key_id, check_user_name, role_account
from torinvest.errors import BeyondRetention, DataIssue, InputError, OptionsError, TorinvestError
from torinvest.options import DEFAULT_MAX_ROWS as DEFAULT_MAX_ROWS
from torinvest.options import EngineOptions
from torinvest.outcome import unknown_rows
from torinvest.schema import EVENTS_COLUMNS, time_window
from torinvest.sources.empty import NO_LOGS_LOCAL, NO_LOGS_S3, NO_MATCH, NOTHING_SCANNED
from torinvest.sources.lookup import DELIVERY_MARGIN, lookup_events
from torinvest.sources.lookup.pull import PARTLY, RECENT_LOOKUP_NOTE
from torinvest.sources.records import (
    FOLLOW_SOURCE,
    DerivedKey,
    duplicate_issues,
    empty_frame,
    is_untimed_issue,
    later_copies,
    untimed_issue,
)
from torinvest.sources.records.origin import Mint, followed_sessions
from torinvest.sources.records.passwords import (
    ConsolePassword,
    SignIn,
    console_passwords,
    sign_ins,
)

if TYPE_CHECKING:
    from torinvest.sources.logs import FileCounts, KnownRegions, LogsResult
    from torinvest.sources.sql import Aggregates
    from torinvest.sources.sql.engine import Engine, SqlResult

log = logging.getLogger(__name__)

_STRING = pd.StringDtype()


@dataclass(slots=True)
class Activity:
    """The events frame and its provenance.

    ``sources`` names what was read (``logs:<path or s3 URL>``, ``duckdb:…``, ``athena:<db>.<table>``,
    ``lookup:<region>`` — a region read, `` (partly)`` added when only part of it could be;
    ``lookup_asked`` every region asked); ``files_read`` counts log files read (``file_counts``: listed, read,
    failed and why, outside the narrowing, the ``AWSLogs/`` folders found); ``issues`` lists
    each file or region that failed or is incomplete, and each source that gave no file to read
    (also in ``empty_sources``: "no CloudTrail log files there" is not "no events"); ``derived``
    the temporary keys minted by the key whose activity is included; ``notes`` anything else
    the analyst should know (a window cut to 90 days, …: each is a data issue of the
    investigation); ``asides`` a source not used because another one covers it (LookupEvents
    past its 90 days beside the trail's log files): said with the sources, not an issue.

    ``aggregates`` is set when the engine matched more rows than :attr:`EngineOptions.max_rows`:
    the activity was counted in the engine (:class:`torinvest.sources.sql.Aggregates`: per-IP
    summary, counts for the charts) and ``frame`` holds only the sensitive calls.
    """

    frame: pd.DataFrame
    issues: list[DataIssue] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    files_read: int = 0
    derived: list[DerivedKey] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    asides: list[str] = field(default_factory=list)
    engine_summary: str | None = None  # queries run, bytes scanned, cost (duckdb/athena)
    aggregates: Aggregates | None = None
    file_counts: FileCounts | None = None
    empty_sources: list[DataIssue] = field(default_factory=list)
    #: every LookupEvents region asked, read or not (``sources`` names only those read)
    lookup_asked: list[str] = field(default_factory=list)
    #: the account whose activity is sought (the finding's; None: any); see :attr:`account_gap`
    account: str | None = None
    #: the account LookupEvents was asked in (the credentials'), when it was asked
    lookup_account: str | None = None
    #: where the engine's table holds no record of :attr:`account` (Athena), when it was asked
    table_gap: str | None = None
    #: whether the engine's table holds data events in the window (Athena: 1 at least one, 0
    #: none, None not asked or not known — ``data_events_unknown`` says why); log files count
    #: theirs in :attr:`file_counts` (``FileCounts.data_events``). See :mod:`torinvest.data_events`
    table_data_events: int | None = None
    data_events_unknown: str | None = None
    #: the records read that minted the key (who minted it: :mod:`~torinvest.sources.records.origin`)
    mints: list[Mint] = field(default_factory=list)
    #: whether a source that can find those records was read (log files, an engine's table;
    #: LookupEvents cannot search responses): when False, "no mint found" is "not searched"
    mints_searched: bool = False
    #: The notes that say events may be missing from what was read (the window reaching the
    #: last minutes CloudTrail has not delivered yet, a CloudWatch Logs copy cut at 256 KB): a
    #: data issue (source :data:`NOTES_SOURCE`) in every command, ``events`` as ``investigate``
    #: (:mod:`torinvest.reading`); the other notes are said beside the reading there.
    gap_notes: list[str] = field(default_factory=list)
    #: the calls of ``load_activity``'s ``watch`` names made by anyone else (not the key, not
    #: the keys it minted) in the window, read with the key's in the same pass of the log
    #: files (file loader) or by one more query of the engine (DuckDB, Athena); None: not
    #: looked for (no ``watch``, LookupEvents only) or not read (``watched_unread`` says why)
    watched: pd.DataFrame | None = None
    #: why the ``watch`` calls were not read where a source tried (an engine's query failed,
    #: or matched more rows than the limit); None: read, or not looked for
    watched_unread: str | None = None
    #: the console sign-ins (ConsoleLogin) read of users the keys set a console password for
    #: (:mod:`~torinvest.sources.records.passwords`): not rows of ``frame``
    sign_ins: list[SignIn] = field(default_factory=list)
    #: the users whose sign-ins were searched for (the log files' pass, an engine's query by
    #: user name): a user not in it is "not read", never "no sign-in"
    sign_ins_searched: frozenset[str] = frozenset()
    #: why a user's sign-ins were not read where a source tried (user → why)
    sign_ins_unread: dict[str, str] = field(default_factory=dict)
    #: the users whose console sessions' calls were read (the log files' pass, an engine's
    #: query of their sign-ins: their session keys are in ``derived``, minted by ConsoleLogin);
    #: not when an engine counted the key's activity past the row limit
    sessions_read: frozenset[str] = frozenset()

    def _arn_partition(self) -> str:
        """The ARN partition of the LookupEvents regions asked (``aws-us-gov`` in GovCloud…)."""
        return arn_partition(self.lookup_asked[0] if self.lookup_asked else None)

    @property
    def account_gap(self) -> str | None:
        """Why no source read can hold :attr:`account`'s activity ("could not look in account
        X: …", naming the accounts read and what to do), or None: a source read covers it,
        or which account a source holds is not known (log files whose path names no account),
        or nothing was read at all (:attr:`nothing_read` says so). An Athena table holds the
        account when it holds any record of it in the window (:attr:`table_gap`)."""
        want = self.account
        if not want or self.answered == 0 or self._covers(want):
            return None
        places = []
        if self.lookup_account is not None and self._lookups_read():
            places.append(
                f"LookupEvents was asked in account {self.lookup_account} (the credentials' "
                "account), and it holds that account's CloudTrail only"
            )
        c = self.file_counts
        if c is not None and c.read and c.accounts:
            places.append(
                f"the {c.read:,} log file(s) read are of account(s) {', '.join(c.accounts)} "
                "(their records' recipientAccountId, or their AWSLogs/<account>/ folders or file "
                "names)"
            )
        if self.table_gap is not None:
            places.append(self.table_gap)
        hints = []
        if self.lookup_account is not None:
            hints.append(
                f"investigate with credentials of account {want} (--profile of that account, "
                f"or --role-arn arn:{self._arn_partition()}:iam::{want}:role/ROLE; notebook: "
                "profile, role_arn)"
            )
        if c is not None and c.accounts:
            hints.append(
                f"add account {want}'s CloudTrail logs (its AWSLogs/{want}/ folder, or the "
                "organization trail's) to CASE/cloudtrail/ or --logs"
            )
        if self.table_gap is not None:
            hints.append(
                f"query a table that holds account {want}'s logs (torinvest athena-ddl "
                f"--accounts with {want}, over the trail that logs it: the organization "
                "trail's, or its own), or read its log files (--engine files or duckdb with "
                f"--logs …/AWSLogs/{want}/)"
            )
        return (
            f"{ACCOUNT_GAP} {want} (the finding's): {'; '.join(places)}; none can hold a call "
            f"recorded in account {want}{self._read_elsewhere()}. This says nothing about "
            f"whether the key was used there: {' or '.join(hints)}"
        )

    def role_account_unread(self, derived: DerivedKey) -> str | None:
        """The account of the role whose session ``derived`` is (AssumeRole into another
        account), when no source read holds that account's CloudTrail — where every call made
        with the key is recorded —, or None: a key of the account read (or of an account a
        source read covers), or one whose role names no account."""
        role = role_account(derived.role_arn)
        if role is None or role == self.account or (not len(self.frame) and self.nothing_read):
            return None
        if self._covers(role):
            return None
        return role

    def minted_elsewhere_issues(self) -> list[DataIssue]:
        """One issue per key minted as a session of a role in an account no source read
        holds (:meth:`role_account_unread`): its calls are recorded there, so "0 calls" with it
        is not known — the actor's moves into that account are not in this reading."""
        issues = []
        read = self._recipients() or ([self.account] if self.account else [])
        where = f"account(s) {', '.join(read)}" if read else "other accounts"
        for d in self.derived:
            role = self.role_account_unread(d)
            if role is None:
                continue
            when = "" if d.event_time is None else f" at {d.event_time:%Y-%m-%d %H:%M:%SZ}"
            issues.append(
                DataIssue(
                    FOLLOW_SOURCE,
                    f"{d.access_key_id}, minted by {d.minted_by} with {d.event_name}{when} "
                    f"from {d.source_ip or 'an unknown address'}, is a session of role "
                    f"{d.role_arn} in account {role}: its calls are recorded in that "
                    f"account's CloudTrail, and the sources read hold {where} only — what was "
                    f"done with it is not in this reading (0 calls read is not 'not used'); "
                    f"read account {role}'s log files (the organization trail's "
                    f"AWSLogs/…/{role}/ folder, or its own trail's) or its Event history "
                    f"(--lookup with credentials of account {role}: --role-arn "
                    f"arn:{self._arn_partition()}:iam::{role}:role/ROLE)",
                    unread=True,
                )
            )
        return issues

    def _read_elsewhere(self) -> str:
        """What :attr:`account_gap` adds when events were read all the same (recorded in other
        accounts: an organization trail's copy of cross-account calls, the credentials'
        account): they are shown, and they are not the finding's account's ("" when none)."""
        total = self.total_events
        if not total:
            return ""
        where = self._recipients()
        said = f"account(s) {', '.join(where)}" if where else "other accounts"
        return (
            f" (the {total:,} event(s) read were recorded in {said}: they are shown, and say "
            f"what the key did there, not in account {self.account})"
        )

    def _recipients(self) -> list[str]:
        """The accounts that recorded the frame's events (recipientAccountId), sorted."""
        if not len(self.frame) or "recipient_account_id" not in self.frame.columns:
            return []
        seen = self.frame["recipient_account_id"].dropna().astype(str).unique()
        return sorted(str(a) for a in seen if str(a))

    @property
    def could_not_look(self) -> str | None:
        """Why the key's activity in :attr:`account` (the finding's) could not be looked at —
        the one place that decides it, for every reading of the activity (the report, the
        terminal, ``summary.json``, the index, a verdict's evidence, the archive gate): nothing
        could be read (:attr:`nothing_read`), or every source read is of other accounts
        (:attr:`account_gap`) even when the events recorded there were read (they are shown;
        they say nothing about the finding's account). None when a source read covers that
        account — its reading may be complete, incomplete or "no events"
        (:meth:`elsewhere_note` says when none of the events read was recorded there)."""
        if self.nothing_read:
            return self.why_nothing()
        return self.account_gap

    def elsewhere_note(self) -> str | None:
        """A source read covers :attr:`account` (the finding's) and holds none of the key's
        events, every one of which was recorded in another account: "no events" in that
        account, said beside the events — distinct from "could not look" there
        (:attr:`could_not_look`). None otherwise, and when the events were counted in the
        engine (the rows loaded are the sensitive calls only: which account recorded the
        rest is not known)."""
        want = self.account
        if not want or self.aggregates is not None or not len(self.frame):
            return None
        if self.account_gap is not None or self.frame.get("recipient_account_id") is None:
            return None
        recipients = self.frame["recipient_account_id"].astype("string")
        if recipients.isna().any() or recipients.eq(want).any():
            return None  # an event recorded in the account, or one whose account is not known
        return (
            f"no event in account {want} (the finding's): the sources read hold (or may hold) "
            f"its CloudTrail, and none of the key's {len(self.frame):,} event(s) read was "
            f"recorded there — all were recorded in account(s) {', '.join(self._recipients())} "
            "(calls the key made into them)"
        )

    def _whole_lookups(self) -> int:
        """LookupEvents regions read whole: a region that failed or stopped part-way is not
        (an issue about some of its events' detail, kept, does not make it one)."""
        whole = set(self.sources)
        return sum(f"lookup:{r}" in whole for r in self.lookup_regions)

    def _lookups_read(self) -> bool:
        return self._whole_lookups() > 0

    def _covers(self, account: str) -> bool:
        """Whether a source read holds (or may hold) ``account``'s CloudTrail."""
        if self.lookup_account is not None and self._lookups_read():
            if self.lookup_account == account:
                return True
        elif self._lookups_read():  # asked, account unknown
            return True
        if any(s.startswith("athena:") for s in self.sources) and self.table_gap is None:
            return True  # the table holds the account's records (or was not asked: events)
        c = self.file_counts
        if c is not None and c.read and (c.unplaced or not c.accounts or account in c.accounts):
            return True
        recipients = self.frame["recipient_account_id"] if len(self.frame) else None
        return recipients is not None and bool(recipients.astype("string").eq(account).any())

    @property
    def lookup_regions(self) -> list[str]:
        """Every LookupEvents region asked (read, partly read or failed)."""
        return list(self.lookup_asked)

    @property
    def answered(self) -> int:
        """Sources that were read: log files read, LookupEvents regions that answered, Athena
        tables queried."""
        failed = {i.source for i in self.issues}
        lookups = self._whole_lookups()
        athena = sum(s.startswith("athena:") and s not in failed for s in self.sources)
        return self.files_read + lookups + athena

    @property
    def nothing_read(self) -> bool:
        """No event, and no source could be read, or none read can hold the sought account's
        activity (:attr:`account_gap`): "could not look", never "no events"."""
        if self.total_events:
            return False
        return self.answered == 0 or self.account_gap is not None

    def why_nothing(self) -> str:
        """Why nothing could be read, in one line (for :attr:`nothing_read`)."""
        gap = self.account_gap
        if gap is not None:
            return gap
        parts = [empty_source_text(i) for i in self.empty_sources]
        c = self.file_counts
        if c is not None and c.listed:
            parts.append(f"{c.listed:,} log file(s) listed, none read ({c.reasons()})")
        if self.lookup_regions:
            parts.append(f"LookupEvents failed in all {len(self.lookup_regions)} region(s)")
        if len(parts) == 1 and self.empty_sources:
            return parts[0]
        if len(self.issues) == 1:  # one source, which failed: said whole (its name, its cause)
            return f"{NOTHING_READ}: {empty_source_text(self.issues[0])}"
        return f"{NOTHING_READ}: " + ("; ".join(parts) or "every source failed")

    def said_by_why(self) -> list[DataIssue]:
        """The issues :attr:`could_not_look` states whole (its text is theirs: one empty or
        failed source): said there once — as the reading's data issue (``activity``) — and not
        again under their own source, on any surface that lists both (empty otherwise)."""
        why = self.could_not_look
        if why is None:
            return []
        said = {why, why.removeprefix(f"{NOTHING_READ}: ")}
        return [i for i in self.issues if empty_source_text(i) in said]

    @property
    def total_events(self) -> int:
        """Every event matched: counted in the engine, or the frame's rows."""
        return self.aggregates.total if self.aggregates is not None else len(self.frame)

    @property
    def complete(self) -> bool:
        return not self.issues

    def summary(self) -> str:
        """One line: rows, files (listed, read, failed and why, outside the narrowing), lookup
        regions, time span, derived keys, the calls of unknown outcome (:mod:`torinvest.outcome`)."""
        f = self.frame
        read = []
        if any(s.startswith(("logs:", "duckdb:")) for s in self.sources):
            from torinvest.sources.logs import FileCounts  # log files were read: imported

            counts = self.file_counts or FileCounts(listed=self.files_read)
            if any(s.startswith("logs:") for s in self.sources):
                read.append(files_text(counts))
            if any(s.startswith("duckdb:") for s in self.sources):
                read.append(files_text(counts, " read by the DuckDB engine"))
        if any(s.startswith("athena:") for s in self.sources):
            read.append("the Athena engine")
        lookups = len(self.lookup_regions)
        if lookups:
            bad = lookups - self._whole_lookups()  # failed or stopped part-way
            partly = sum(f"lookup:{r}{PARTLY}" in self.sources for r in self.lookup_regions)
            said = [f"{bad - partly} failed"] if bad - partly else []
            said += [f"{partly} read in part"] if partly else []  # as the sources name it
            read.append(
                f"LookupEvents in {lookups} region(s)" + (f" ({', '.join(said)})" if said else "")
            )
        span = "no events"
        first, last = (f["event_time"].min(), f["event_time"].max()) if len(f) else (None, None)
        if self.aggregates is not None:
            first, last = self.aggregates.first_seen, self.aggregates.last_seen
        if first is not None and not pd.isna(first) and last is not None and not pd.isna(last):
            span = f"{first:%Y-%m-%d %H:%M:%S}Z → {last:%Y-%m-%d %H:%M:%S}Z"
        derived = f", {len(self.derived)} derived key(s)" if self.derived else ""
        unknown = int(unknown_rows(f).sum()) if len(f) else 0
        if unknown:  # never read as succeeded: said beside the count
            derived += f", {unknown:,} of unknown outcome (no record says whether they succeeded)"
        counted = ""
        if self.aggregates is not None:
            counted = f" (counted in the engine; {len(f):,} sensitive calls loaded as rows)"
        return (
            f"{self.total_events:,} events{counted} from {' and '.join(read) or 'no source'}, "
            f"{span}{derived}"
        )


#: The source of the data issue a note of the activity is (``events: …``): every note in an
#: investigation, the :attr:`Activity.gap_notes` in ``events`` too.
NOTES_SOURCE = "events"
#: How a source that gave no file to read, or an activity that read nothing, is said.
NOTHING_READ = "nothing could be loaded"
#: How :attr:`Activity.account_gap` starts: the sources read are of other accounts.
ACCOUNT_GAP = "could not look in account"


#: A region name in a file's path (``lookup-eu-west-1.json``): an answer holding no event
#: says which region it was asked in only so.
_REGION_IN_PATH = re.compile(r"(?<![a-z])([a-z]{2}(?:-gov)?-[a-z]+-\d{1,2})(?![0-9])")


def lookup_region_gaps(
    counts: FileCounts,
    regions: Sequence[str] | None,
    known: KnownRegions | None,
    account: str | None,
) -> list[DataIssue]:
    """The regions saved LookupEvents answers cannot hold, when they are all the log files
    read: Event history is kept per region, and ``aws cloudtrail lookup-events`` (the console's
    Event history) answers for the one region it is asked in. The regions expected are those
    asked (``regions``), else every region enabled in every account of the answers' partition
    (:data:`~torinvest.aws.DEFAULT_REGIONS`) and those the investigation knows the key called
    (``known``: the finding's); a region is held when an answer holds an event of it, or an
    answer holding no event names it in its path. One issue naming the missing regions (the
    opt-in ones the account may have enabled are not known offline: said)."""
    answers = counts.lookup_regions
    if not answers or counts.read > len(answers):
        return []  # log files were read too: the coverage of their folders says the rest
    held = {r for rs in answers.values() for r in rs}
    for location, rs in answers.items():
        if not rs:
            held.update(m.group(1) for m in _REGION_IN_PATH.finditer(location.lower()))
    partitions = {arn_partition(r) for r in held} or {"aws"}
    if regions:
        expected = set(regions)
    else:
        expected = {r for p in partitions for r in DEFAULT_REGIONS.get(p, frozenset())}
        if known is not None and (account is None or known.applies_to(account)):
            expected |= known.names
    missing = sorted(expected - held)
    if not missing:
        return []
    where = os.path.commonpath(list(answers)) if len(answers) > 1 else next(iter(answers))
    shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
    what = "the regions asked" if regions else "the regions enabled in every account"
    why = ""
    if known is not None and not regions:
        said = [f"{r} ({known.why(r)})" for r in missing if r in known.names]
        why = f"; among them {', '.join(said)}" if said else ""
    opt_in = "" if regions else " (and any opt-in region the account enabled: not known offline)"
    return [
        DataIssue(
            where,
            f"the {len(answers):,} saved LookupEvents answer(s) read hold region(s) "
            f"{', '.join(sorted(held)) or 'none that can be told (no event in them)'} only: "
            "Event history is kept per region and `aws cloudtrail lookup-events` (the "
            "console's Event history) answers for the one region it is asked in, so the key's "
            f"calls in {len(missing)} of {what} — {shown}{why}{opt_in} — are not in them "
            "(none read there is not 'no activity'); export each region into the folder "
            "(`aws cloudtrail lookup-events --region REGION … --output json > "
            "lookup-REGION.json` for every enabled region: `aws account list-regions "
            "--region-opt-status-contains ENABLED ENABLED_BY_DEFAULT`), or read the trail's "
            "log files",
            unread=True,
        )
    ]


def lookup_range_note(
    counts: FileCounts,
    times: Sequence[pd.Series],
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
) -> str | None:
    """What saved LookupEvents answers cannot say of themselves, when they are all the log
    files read: the time range each was asked for (``aws cloudtrail lookup-events
    --start-time/--end-time``, the console's filter) is not in the answer, and Event history
    keeps 90 days. ``times``: the event times read. A note naming the span the answers hold and
    the window they are read as covering, so "no call before A" is never read as known; None
    when no window was given or no answer was read."""
    answers = counts.lookup_regions
    if not answers or counts.read > len(answers) or (start is None and end is None):
        return None
    held = [t for t in times if len(t)]
    span = (
        f"hold the key's events from {_utc(min(t.min() for t in held))} to "
        f"{_utc(max(t.max() for t in held))}"
        if held
        else "hold no event of the key"
    )
    window = f"{_utc(start) if start is not None else 'the start'} to {_utc(end) if end is not None else 'now'}"
    asked = " ".join(
        part
        for part in (
            f"--start-time {_utc(start)}" if start is not None else "",
            f"--end-time {_utc(end)}" if end is not None else "",
        )
        if part
    )
    return (
        f"the {len(answers):,} saved LookupEvents answer(s) read do not record the time range "
        f"they were asked for: they {span}, and are read as the window's ({window}): the key's "
        "calls of the window outside what they hold are read as none, which is right only if "
        f"each was asked for the whole window (`aws cloudtrail lookup-events {asked} …`) and "
        "made within 90 days after the window's start (Event history keeps 90 days)"
    )


def _utc(t: pd.Timestamp) -> str:
    return pd.Timestamp(t).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def files_text(counts: FileCounts, by: str = "") -> str:
    """``54 of 62 log file(s)`` + ``by`` + ``(8 failed: 8 could not be downloaded: AccessDenied;
    1 read with issues: 1 with records without a usable time; 120 outside the window/region
    narrowing)``: what was listed, read (cleanly or with issues), failed, left out. Files that
    are all saved LookupEvents answers are called so (``2 saved LookupEvents answer file(s)``);
    some among log files are counted in the parenthesis."""
    answers = counts.lookup_answers  # saved LookupEvents answers are no trail's log files
    noun = (
        "saved LookupEvents answer file(s)" if answers and answers == counts.read else "log file(s)"
    )
    text = (
        f"{counts.read:,} of {counts.listed:,} {noun}"
        if counts.failed
        else (f"{counts.read:,} {noun}")
    )
    extra = []
    if answers and answers != counts.read:
        extra.append(f"{answers:,} of them saved LookupEvents answers")
    if counts.failed:
        extra.append(f"{len(counts.failed):,} failed: {counts.reasons()}")
    if counts.with_issues:
        extra.append(f"{len(counts.with_issues):,} read with issues: {counts.issue_reasons()}")
    if counts.skipped:
        extra.append(f"{counts.skipped:,} outside the window/region narrowing")
    return text + by + (f" ({'; '.join(extra)})" if extra else "")


#: What a trail's log files cannot hold yet when a window reaches the last minutes.
RECENT_LOGS_NOTE = (
    f"the window reaches the last {int(DELIVERY_MARGIN.total_seconds() // 60)} minutes: "
    "CloudTrail delivers a call's log file about 5 to 15 minutes after it, so the most recent "
    "calls may not be in the log files yet (run it again later for them)"
)


def is_empty_source(issue: DataIssue) -> bool:
    """Whether an issue says a source gave no file to read (none there, or none in the window;
    an Athena table that scanned 0 bytes)."""
    return (
        issue.problem in (NO_LOGS_S3, NO_LOGS_LOCAL)
        or issue.problem.startswith(NO_MATCH)
        or issue.problem.startswith(NOTHING_SCANNED)
    )


def empty_source_text(issue: DataIssue) -> str:
    """An empty source in one line: ``No CloudTrail log files under s3://… (check the prefix)``."""
    if issue.problem == NO_LOGS_S3:
        return f"No CloudTrail log files under {issue.source} (check the prefix)"
    if issue.problem == NO_LOGS_LOCAL:
        return f"No CloudTrail log files in {issue.source} " + NO_LOGS_LOCAL.split(" folder ", 1)[1]
    return f"{issue.source}: {issue.problem}"


def match_user(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of user ``name``, as LookupEvents' ``Username`` finds them: ``user_name``
    (``userIdentity.userName``, else the session name of a role or federated session) is
    ``name``; ``root`` also matches the root user's calls (no userName). The same rule as
    :func:`torinvest.sources.sql.user_filter`."""
    from torinvest.sources.logs import subset

    names = frame["user_name"].astype("string")
    keep = names.eq(name).fillna(False)
    if name == "root":
        keep |= names.isna() & frame["user_type"].astype("string").eq("Root").fillna(False)
    return frame if bool(keep.all()) else subset(frame, keep.to_numpy(dtype=bool))


def _keep_user(res: LogsResult, name: str) -> None:
    """The log files' reading narrowed to user ``name`` (:func:`match_user`), issues and counts
    too: records without a usable time and eventIDs shared by different records are said of the
    user's records alone, as a key's reading says them of the key's and the SQL engines of the
    user's (the file loader reads every record: it said them of every user's)."""
    from torinvest.sources.logs import file_states

    kept = match_user(res.frame, name)
    if kept is res.frame:
        return
    before = set(duplicate_issues(res.frame))
    issues = [i for i in res.issues if i not in before and not is_untimed_issue(i)]
    untimed = kept[kept["event_time"].isna()]
    for origin, rows in untimed.groupby(untimed["origin"].astype("string"), sort=False):
        table = pa.table(
            {
                "event_time": pa.array(rows["event_time"].to_numpy(), pa.timestamp("us", "UTC")),
                "event_id": pa.array(rows["event_id"].astype("object"), pa.string()),
            }
        )
        issue = untimed_issue(table, str(origin))
        if issue is not None:
            issues.append(issue)
    issues += duplicate_issues(kept)
    res.frame, res.issues = kept, issues
    res.counts.with_issues = file_states(issues, res.files)[1]


def with_global_region(regions: Sequence[str] | None) -> tuple[list[str] | None, list[str]]:
    """``regions`` with the regions where their partitions record IAM, STS and CloudFront
    events added (us-east-1; us-gov-west-1 in GovCloud, cn-north-1 in China: LookupEvents
    always asks it too), and the regions added."""
    if not regions:
        return None, []
    added = global_regions_missing(regions)
    return [*added, *regions], added


def check_activity_options(
    *,
    logs: Sequence[str | Path],
    lookup: bool,
    access_key: str | None,
    username: str | None,
    follow_derived: bool,
    engine: EngineOptions,
) -> None:
    """Refuse options that cannot mean what they say together (:class:`OptionsError`, the CLI's
    exit 2), rather than ignore one of them."""
    if not logs and not lookup and engine.kind != "athena":
        raise OptionsError("no source given", hint="use --case DIR, --logs PATH or --lookup")
    if access_key and username:
        raise OptionsError(
            "--access-key and --username both filter the caller: give one",
            hint="--access-key AKIA… for a key (and what it minted), --username for a user or "
            "role session",
        )
    if username is not None:
        try:
            check_user_name(username, name="--username")
        except InputError as e:
            raise OptionsError(e.message, hint=e.hint) from None
    if lookup and not (access_key or username):
        raise OptionsError(
            "LookupEvents needs an access key or a user name",
            hint="pass --access-key AKIA… (or --username for a role session)",
        )
    if follow_derived and not access_key:
        raise OptionsError(
            "--follow-derived follows the keys minted by --access-key: give --access-key",
            hint="or leave --follow-derived out",
        )
    if engine.kind == "athena" and logs:
        raise OptionsError(
            "--engine athena reads the CloudTrail table in Athena: the log files of "
            "--logs/--case (notebook: logs, case_dir's cloudtrail/) would not be read",
            hint="use --engine files or duckdb for log files, or leave --logs/--case out",
        )
    if engine.kind == "duckdb" and not logs:
        raise OptionsError(
            "--engine duckdb reads log files: give --logs or --case",
            hint="or use --engine athena for the CloudTrail table, or leave --engine out",
        )


def combine_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Join events frames, sorted by event_time (rows without a time last): copies of a record
    (the same event_id and content, :data:`~torinvest.sources.records.SAME_RECORD_COLUMNS`)
    are kept once (the first frame's wins); different records sharing an event_id are all
    kept (:func:`~torinvest.sources.records.duplicate_issues` names them)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_frame()
    if len(frames) == 1:
        return frames[0]
    columns: dict[str, object] = {}
    for col in EVENTS_COLUMNS:
        parts = [f[col.name] for f in frames]
        if col.dtype == "category":
            columns[col.name] = union_categoricals(
                [_string_categories(p) for p in parts], ignore_order=True
            )
        else:
            columns[col.name] = pd.concat(parts, ignore_index=True)
    df = pd.DataFrame(columns)
    df = df[~later_copies(df)]
    df = df.sort_values("event_time", kind="stable", na_position="last")
    return df.reset_index(drop=True)


def _string_categories(s: pd.Series) -> pd.Series:
    """The same categorical with string-dtype categories (union_categoricals needs one dtype)."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        return s.astype("string").astype("category")
    cats = s.cat.categories
    if cats.dtype == _STRING:
        return s
    return s.cat.rename_categories(cats.astype(_STRING))


def _load_with_engine(
    act: Activity,
    frames: list[pd.DataFrame],
    engine: EngineOptions,
    logs: Sequence[str | Path],
    access_key: str | None,
    username: str | None,
    start: pd.Timestamp | None,
    end: pd.Timestamp | None,
    regions: Sequence[str] | None,
    follow_derived: bool,
    aws: Aws | None,
    known: KnownRegions | None = None,
    watch: frozenset[str] = frozenset(),
) -> None:
    """Load the log files' events with the DuckDB or Athena engine into ``act``/``frames``;
    with ``act.account``, an Athena table that holds none of that account's records is
    ``act.table_gap``; with ``watch`` (and a key), anyone else's calls of those names are
    ``act.watched`` (:func:`_engine_watched`)."""
    from torinvest.sources.sql import load_sql
    from torinvest.sources.sql.engine import engine_for

    eng = engine_for(engine, logs, aws)
    try:
        res = load_sql(
            eng,
            access_keys=access_key,
            user_name=username,
            start=start,
            end=end,
            regions=regions,
            follow_derived=follow_derived and bool(access_key),
            max_rows=engine.max_rows,
            account=act.account,
            known=known,
        )
        sessions = None
        if follow_derived and access_key:  # a query of its own, only when a password was set
            keys = {access_key, *(d.access_key_id for d in res.derived)}
            passwords = console_passwords(res.frame, keys)
            if passwords:
                window = (start, end)
                sessions = _engine_sign_ins(
                    act, res, eng, passwords, window, regions, engine.max_rows
                )
        if watch and access_key:
            keys = {access_key, *(d.access_key_id for d in res.derived)}
            _engine_watched(act, res, eng, watch, keys, (start, end), regions, engine.max_rows)
    finally:
        eng.close()
    frames.append(res.frame)
    if sessions is not None:  # the console sessions' calls, followed as derived keys
        frames.append(sessions)
    act.aggregates = res.aggregates
    if res.aggregates is not None:
        act.notes.append(
            f"{res.aggregates.total:,} events matched, more than the {engine.max_rows:,}-row "
            "limit: the per-IP summary and the charts were computed in the engine, and only "
            f"the {len(res.frame):,} sensitive calls were loaded as rows"
        )
    act.issues += res.issues
    act.empty_sources += [i for i in res.issues if is_empty_source(i)]
    act.notes += res.notes
    act.asides += res.asides
    act.derived += res.derived
    act.mints += res.mints
    act.mints_searched = bool(access_key) and res.aggregates is None
    act.table_gap = res.account_gap
    act.table_data_events = res.data_events
    act.data_events_unknown = res.data_events_unknown
    if engine.kind == "athena":
        table = engine.athena_table or "cloudtrail_logs"
        act.sources.append(f"athena:{engine.athena_database}.{table}")
    else:
        act.sources += [f"{engine.kind}:{s}" for s in logs]
    if res.counts is not None:  # DuckDB's files, counted as the file loader counts them
        act.file_counts = res.counts
        act.files_read += res.counts.read
    act.engine_summary = res.summary()


def _engine_sign_ins(
    act: Activity,
    res: SqlResult,
    eng: Engine,
    passwords: Sequence[ConsolePassword],
    window: tuple[pd.Timestamp | None, pd.Timestamp | None],
    regions: Sequence[str] | None,
    max_rows: int | None,
) -> pd.DataFrame | None:
    """The console sign-ins of the users the keys set a password for, and their console
    sessions' calls, through the engine: one query for every such user over the window
    (:func:`~torinvest.sources.sql.console_sql`: ConsoleLogin records by user name, calls
    whose ``sessionCredentialFromConsole`` is ``"true"``), as the file loader's pass reads
    them. Its ConsoleLogin rows are ``act.sign_ins``, with their MFA (``additionalEventData.
    MFAUsed``: unknown on a table without that column); each
    session begun after a password is followed as a derived key (``res.derived``, minted by
    ConsoleLogin), and its calls returned (``derived`` True) — unless the key's own activity
    was counted in the engine (its rows are then the sensitive calls only: the sessions' calls
    are said not read), or the table lacks ``sessioncredentialfromconsole`` (the sessions'
    calls cannot be told apart: said not read; the engine's issue says why). A query that
    fails or matches more rows than the limit leaves the users' sign-ins not read, and why
    (``act.sign_ins_unread``)."""
    from torinvest.sources.sql import console_sql

    users = sorted({p.user_name for p in passwords})
    start, end = window
    try:
        got = console_sql(eng, users, start=start, end=end, regions=regions, max_rows=max_rows)
    except TorinvestError as e:
        for user in users:
            act.sign_ins_unread[user] = (
                f"the {eng.name} query of user {user}'s console sign-ins and sessions failed: {e}"
            )
        return None
    if got is None:
        for user in users:
            act.sign_ins_unread[user] = (
                f"user {user}'s console sign-ins and sessions' calls are more than the row "
                "limit: not loaded — re-run with a higher --max-rows"
            )
        return None
    res.queries += got.queries
    res.issues += [i for i in got.issues if i not in res.issues]  # a column the table lacks…
    found = sign_ins(got.frame, set(users))
    act.sign_ins += [  # MFA as the table holds it (additionaleventdata: unknown without it)
        replace(s, mfa_used=got.mfa_used[s.event_id])
        if s.event_id is not None and s.event_id in got.mfa_used
        else s
        for s in found
    ]
    act.sign_ins_searched |= set(users)
    if res.aggregates is not None:  # the key's activity counted, not rows: no rows beside it
        return None
    from torinvest.sources.sql.projection import CONSOLE_SESSION

    if CONSOLE_SESSION in got.unread:  # the table cannot tell the sessions' calls (an issue)
        return None
    sessions, calls = followed_sessions(got.frame, passwords, act.sign_ins, res.issues)
    known = {d.access_key_id for d in res.derived}
    res.derived += [d for d in sessions if d.access_key_id not in known]
    act.sessions_read |= set(users)
    if not len(calls):
        return None
    calls = calls.copy()
    calls["derived"] = calls["derived"].fillna(True).astype(calls["derived"].dtype)
    return calls


#: The source of the data issue of anyone else's logging calls an engine could not read.
WATCHED_SOURCE = "others' logging calls"
#: The fewest rows the engines' query of anyone else's logging calls may load (``--max-rows``
#: when higher): a few event names, never the key's activity — a row limit set to count that
#: activity in the engine does not leave them unread.
WATCHED_ROWS = 10_000


def _engine_watched(
    act: Activity,
    res: SqlResult,
    eng: Engine,
    watch: frozenset[str],
    keys: set[str],
    window: tuple[pd.Timestamp | None, pd.Timestamp | None],
    regions: Sequence[str] | None,
    max_rows: int | None,
) -> None:
    """Anyone else's calls of ``watch`` (not ``keys``: the key and the keys it minted) in the
    window, through the engine — one more query, of those event names only
    (:func:`~torinvest.sources.sql.watched_sql`) — as the file loader reads them in its pass
    (``act.watched``). A query that fails or matches more rows than the limit (``max_rows``,
    :data:`WATCHED_ROWS` at least) leaves them not read, and why (``act.watched_unread``)."""
    from torinvest.sources.sql import watched_sql

    start, end = window
    limit = None if max_rows is None else max(max_rows, WATCHED_ROWS)
    try:
        got = watched_sql(
            eng, watch, keys=keys, start=start, end=end, regions=regions, max_rows=limit
        )
    except TorinvestError as e:
        act.watched_unread = f"the {eng.name} query of those calls failed: {e}"
    else:
        if got is not None:
            res.queries += got.queries
            act.watched = got.frame
            return
        act.watched_unread = (
            f"the {eng.name} query of those calls matched more than {limit:,} rows: not loaded "
            "— re-run with a higher --max-rows"
        )
    res.issues.append(  # whether someone else turned off what the reading rests on: unknown
        DataIssue(
            WATCHED_SOURCE,
            "the calls of anyone else than the key that impair logging (StopLogging, "
            f"DeleteTrail, UpdateTrail, PutEventSelectors, GuardDuty disabled…) were not read: "
            f"{act.watched_unread}; whether another principal turned off what this reading "
            "rests on is not known (the file loader, --engine files, reads them in its pass)",
        )
    )


def load_activity(
    *,
    logs: Sequence[str | Path] = (),
    lookup: Aws | None = None,
    access_key: str | None = None,
    username: str | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    regions: Sequence[str] | None = None,
    follow_derived: bool = False,
    cache_dir: Path | bool | None = None,
    aws: Aws | None = None,
    now: pd.Timestamp | None = None,
    engine: EngineOptions | None = None,
    account: str | None = None,
    beyond_retention: str = "raise",
    known_regions: KnownRegions | None = None,
    watch: Iterable[str] = (),
) -> Activity:
    """Load a key's (or a user's) activity from log files (folders, files, ``s3://`` URLs), the
    DuckDB or Athena engine, and/or LookupEvents.

    ``lookup`` is the AWS access to use for LookupEvents (None: no lookup); ``aws`` the one for
    S3 log files and Athena (default: ``lookup``, else the configuration chain's): the
    credentials the caller named are the ones every call uses. ``access_key`` or ``username``
    (LookupEvents' ``Username``: :func:`match_user`) filter every source the same way; log
    files without either are loaded unfiltered. ``regions`` (us-east-1 added — us-gov-west-1 in
    GovCloud, cn-north-1 in China: IAM, STS and CloudFront events are recorded there) narrows
    every source and keeps its regions' events.

    Options that cannot mean what they say together raise :class:`OptionsError`
    (:func:`check_activity_options`). A source that fails as a whole (a missing folder, an S3
    prefix that cannot be listed) raises; a file or region that fails is a data issue, and so
    is a source that gave no file to read (:attr:`Activity.empty_sources`).

    ``account``: the account whose activity is sought (a finding's): when every source read
    is of another account (LookupEvents asked with another account's credentials, log files
    of other accounts only), the activity says it could not look there
    (:attr:`Activity.account_gap`), never "no events".

    ``beyond_retention``: what a window LookupEvents does not keep (it ended more than 90 days
    ago) does when LookupEvents is the only source: ``"raise"`` (:class:`BeyondRetention`, for
    ``events``: the analyst's window) or ``"issue"`` (an investigation of an old finding: a
    data issue that the activity could not be read, so the report says "could not look").

    ``known_regions``: the regions the key is known to have called (a finding's region): with
    no ``regions``, a trail folder of log files (of their account) with no folder for one is a
    data issue saying so (files and DuckDB engines; :class:`KnownRegions`). They narrow nothing.

    ``watch``: event names whose calls by anyone else than the key (and the keys it minted)
    are read apart, in the window (:attr:`Activity.watched`): by the file loader, in the same
    pass as the key's; by DuckDB and Athena, one more query of those names; not looked for by
    LookupEvents (``watched`` None).
    """
    engine = engine or EngineOptions()
    if access_key is not None:
        access_key = check_access_key_id(access_key, name="access_key")
    start, end = time_window(start, end, names=("start", "end"))  # a date-only end: its day
    check_activity_options(
        logs=logs,
        lookup=lookup is not None,
        access_key=access_key,
        username=username,
        follow_derived=follow_derived,
        engine=engine,
    )
    regions, added = with_global_region(regions)
    frames: list[pd.DataFrame] = []
    act = Activity(frame=empty_frame(), account=account or None)
    if added:
        act.notes.append(
            f"{', '.join(added)} {'is' if len(added) == 1 else 'are'} read with the regions "
            "asked: IAM, STS and CloudFront events are recorded there"
        )
    if engine.kind != "files":
        _load_with_engine(
            act,
            frames,
            engine,
            logs,
            access_key,
            username,
            start,
            end,
            regions,
            follow_derived,
            aws or lookup,
            known_regions,
            frozenset(watch),
        )
    elif logs:
        from torinvest.sources.logs import load_logs

        res = load_logs(
            list(logs),
            access_keys=access_key,
            start=start,
            end=end,
            regions=regions,
            follow_derived=follow_derived and bool(access_key),
            aws=aws or lookup,
            max_file_bytes=engine.max_file_bytes,
            known=known_regions,
            watch=watch if access_key else (),
        )
        if username:
            _keep_user(res, username)
        act.watched = res.watched
        frames.append(res.frame)
        act.issues += res.issues
        act.empty_sources += [i for i in res.issues if is_empty_source(i)]
        act.file_counts = res.counts
        act.files_read += res.counts.read
        act.sources += [f"logs:{s}" for s in res.sources]
        act.notes += res.notes
        act.asides += res.asides
        act.derived += res.derived
        act.mints += res.mints
        act.mints_searched = bool(access_key)
        act.sign_ins += res.sign_ins
        act.sign_ins_searched |= res.sign_ins_searched
        act.sessions_read |= res.sign_ins_searched
        act.sign_ins_unread.update(res.sign_ins_unread)
    if logs and engine.kind != "athena" and act.aggregates is None:
        # a region the trail folder lacks whose events other files held: how many were read
        # (said of log files only: LookupEvents alone imports none of their reading)
        from torinvest.sources.logs.coverage import read_elsewhere

        act.issues = read_elsewhere(act.issues, frames)
    copies = act.file_counts.log_group_note() if act.file_counts is not None else None
    if copies is not None:  # once, whichever engine read them: an issue when events may lack
        said, missing = copies
        (act.notes if missing else act.asides).append(said)
        if missing:  # events may lack: a gap of the reading in every command
            act.gap_notes.append(said)
    if act.file_counts is not None and not act.lookup_asked and engine.kind != "athena":
        act.issues += lookup_region_gaps(act.file_counts, regions, known_regions, account)
        ranged = lookup_range_note(act.file_counts, [f["event_time"] for f in frames], start, end)
        if ranged is not None:
            act.notes.append(ranged)
    if act.file_counts is not None and act.file_counts.lookup_scoped:
        seen = {k for f in frames for k in f["access_key_id"].dropna().unique()}
        act.issues += act.file_counts.scope_gaps(
            key=access_key,
            user=username,
            minted_unseen=[d.access_key_id for d in act.derived if d.access_key_id not in seen],
        )
    horizon = (now if now is not None else pd.Timestamp.now(tz="UTC")) - DELIVERY_MARGIN
    if (logs or engine.kind == "athena") and end is not None and end > horizon:
        act.notes.append(RECENT_LOGS_NOTE)  # "no event" there is not "none happened"
        act.gap_notes.append(RECENT_LOGS_NOTE)
    if lookup is not None and act.aggregates is not None:
        act.notes.append(
            "LookupEvents not used: the activity was counted in the engine over the trail's "
            "log files, and LookupEvents rows could not be merged into those counts"
        )
    elif lookup is not None:
        now = now if now is not None else pd.Timestamp.now(tz="UTC")
        try:
            res_l = lookup_events(
                lookup,
                access_key or str(username),
                attribute="AccessKeyId" if access_key else "Username",
                start=start if start is not None else now - pd.Timedelta(days=90),
                end=end if end is not None else now,
                regions=regions,
                follow_derived=follow_derived,
                cache_dir=False if cache_dir is False else (cache_dir or None),  # type: ignore[arg-type]
                now=now,
            )
        except InputError as e:
            if not logs and engine.kind != "athena":
                if beyond_retention != "issue" or not isinstance(e, BeyondRetention):
                    raise
                # the only source cannot serve the window: could not look, not "no events"
                act.issues.append(
                    DataIssue(
                        "LookupEvents",
                        f"not asked: {e.message}, so the key's activity in the window was not "
                        "read (this says nothing about whether it was used); "
                        f"{e.hint or 'load the trail log files of the window'}",
                        unread=True,
                    )
                )
            else:
                read = "the log files" if logs else "the Athena table"
                act.asides.append(f"LookupEvents not used: {e.message}; only {read} were read")
        else:
            frames.append(res_l.frame)
            act.issues += res_l.issues
            act.sources += res_l.sources
            act.lookup_asked += [r.removeprefix("lookup:") for r in res_l.asked]
            act.lookup_account = res_l.account
            act.notes += res_l.notes
            if end is not None and RECENT_LOOKUP_NOTE in res_l.notes:  # as the log files
                act.gap_notes.append(RECENT_LOOKUP_NOTE)
            known = {d.access_key_id for d in act.derived}
            act.derived += [d for d in res_l.derived if d.access_key_id not in known]
    act.frame = combine_frames(frames)
    if len(frames) > 1:  # eventIDs shared by different records, across the sources too
        per_source = {i for f in frames for i in duplicate_issues(f)}
        act.issues = [i for i in act.issues if i not in per_source]
        act.issues += duplicate_issues(act.frame)
    elsewhere = act.elsewhere_note()
    if elsewhere is not None:  # the account read, the key's events all of others: said
        act.asides.append(elsewhere)
    act.issues += act.minted_elsewhere_issues()  # sessions of roles in accounts not read
    return act
