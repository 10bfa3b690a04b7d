"""What a reading of a key's activity says about itself: the one place that computes it for
every command that reads events — ``torinvest events`` (and the Python API through
:func:`said_of`), ``torinvest investigate`` (:mod:`torinvest.investigation`) — so that "no
events", "not found" and "could not look" never read differently from one command to another.

Beyond the activity's own issues (:attr:`torinvest.events.Activity.issues`: a file, region or
day not read, a session of a role in an account not read, saved LookupEvents answers of some
regions only), a reading says:

- what the key impaired (:mod:`torinvest.impairment`): a trail it stopped is a gap in the log
  files read — a data issue —, a call on what the reading does not rely on a note
  (:func:`impaired_of`);
- who minted the key (:func:`key_origin`), or why that is not known;
- the console passwords the key (or a key it minted) set, and their use — the user's console
  sign-ins and console sessions read, or why not (:func:`passwords_of`: the data issues of
  those not read, and a note of each, as the report's card says them);
- without the finding (``events``), what it cannot judge (:func:`unjudged_note`): whether its
  sources hold the finding's account, whether they hold the calls GuardDuty saw, IAM's last use
  of the key — ``investigate`` judges them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pandas as pd

from torinvest.errors import DataIssue, group_issues
from torinvest.events import NOTES_SOURCE, Activity
from torinvest.impairment import Impairments, impairments, reading_basis
from torinvest.passwords import (
    PasswordUse,
    password_issues,
    password_notes,
    password_uses,
    unnamed_issues,
    unnamed_of,
)
from torinvest.sources.records import is_unfollowed
from torinvest.sources.records.origin import KeyOrigin, Mint, origin_phrase
from torinvest.sources.records.origin import key_origin as origin_of
from torinvest.verdict import (
    READING_COMPLETE,
    READING_COULD_NOT_LOOK,
    READING_INCOMPLETE,
    READING_NO_EVENTS,
)

#: Why the key's origin is "not searched" when no source that can find the mint was read.
NOT_SEARCHED = (
    "LookupEvents cannot search a call's response for the key it minted, and no log files or "
    "engine table were read: load the trail's log files (--logs) to find who minted the key"
)

#: Why it is "not searched" when the activity was counted in the engine (too many rows).
NOT_SEARCHED_COUNTED = (
    "the activity was counted in the engine (more rows than the row limit), and the record that "
    "minted the key was not looked for: re-run with a higher --max-rows to find who minted it"
)


def impaired_of(
    act: Activity,
    window: tuple[pd.Timestamp | None, pd.Timestamp | None] | None = None,
    *,
    access_key: str | None = None,
    events: pd.DataFrame | None = None,
    others: pd.DataFrame | None = None,
) -> Impairments:
    """The key's (and its derived keys') calls in ``act`` that impaired logging or detection,
    each with what it takes away from this reading (:func:`torinvest.impairment.impairments`
    over :func:`~torinvest.impairment.reading_basis`). ``events``: the activity's frame with
    its ``tor`` column (an investigation's: "from Tor IP …"); default the activity's frame —
    ``events`` reads no exit list, so its text says "from IP" where an investigation's says
    "from Tor IP". ``others``: other principals' calls of the watched names
    (:attr:`Activity.watched`, with their ``tor`` column), said naming who."""
    frame = act.frame if events is None else events
    basis = reading_basis(act, window, access_key=access_key or "")
    return impairments(frame, basis, others=others)


def activity_gaps(act: Activity, impaired: Impairments) -> list[DataIssue]:
    """What the key's activity read may lack, as data issues, as far as the reading alone can
    tell: the activity's issues (keys minted past the pass limit apart: a re-run follows the
    same) and the trail gaps the key made (:attr:`Impairments.activity_gaps`). An
    investigation adds what needs the finding (IAM's last use, GuardDuty's sightings)."""
    return [i for i in act.issues if not is_unfollowed(i)] + impaired.activity_gaps


def key_origin(
    act: Activity,
    key: str,
    *,
    start: pd.Timestamp | None,
    frame: pd.DataFrame | None = None,
    first_seen: pd.Timestamp | None = None,
    unread: Iterable[DataIssue] = (),
    mark: Callable[[list[Mint]], list[Mint]] | None = None,
) -> KeyOrigin:
    """Who minted ``key`` (:func:`torinvest.sources.records.origin.key_origin`) from the
    minting records ``act`` read, or why that is not known ("not in window", "not searched" —
    never "none"). ``frame``: the rows the key's first use is read from (default the
    activity's); ``first_seen``: a first use known otherwise (the finding's); ``unread``: what
    the reading may lack (said with "not found"); ``mark``: the mints' Tor status (an
    investigation's exit lists)."""
    mints = [m for m in act.mints if m.access_key_id == key]
    if mints and mark is not None:
        mints = mark(mints)
    frame = act.frame if frame is None else frame
    used = frame["event_time"][frame["access_key_id"] == key] if len(frame) else None
    first = used.min() if used is not None and len(used) else None
    if first is None or pd.isna(first):
        first = first_seen
    elif first_seen is not None:
        first = min(first, first_seen)
    sources = ", ".join(dict.fromkeys(i.source for i in group_issues(list(unread))))
    return origin_of(
        key,
        mints,
        searched=act.mints_searched,
        start=start,
        first_use=first,
        why_not_searched=NOT_SEARCHED_COUNTED if act.aggregates is not None else NOT_SEARCHED,
        unread=sources or None,
    )


#: What not following says in ``events`` (its option is ``--follow-derived``).
EVENTS_NOT_FOLLOWED = (
    "--follow-derived was not given: the credentials the key set were not followed"
)


def passwords_of(
    act: Activity,
    access_key: str,
    *,
    follow_derived: bool,
    until: pd.Timestamp | None = None,
) -> list[PasswordUse]:
    """The console passwords ``access_key`` or a key it minted set in ``act`` and their use
    (:func:`torinvest.passwords.password_uses`), as an investigation reads them but without an
    exit list: a sign-in's Tor status is not known (``events`` reads none)."""
    keys = [access_key, *(d.access_key_id for d in act.derived)]
    return password_uses(
        act,
        act.frame,
        keys,
        None,
        tolerance_hours=0.0,
        follow_derived=follow_derived,
        why_not_followed=EVENTS_NOT_FOLLOWED,
        until=until,
    )


#: How :func:`unjudged_note` starts.
UNJUDGED = "not judged without the finding"


def unjudged_note(act: Activity) -> str:
    """What a reading of a key's activity without its finding (``torinvest events``) cannot
    judge, and why, in one line — what ``investigate`` says of the same reading once it knows
    the finding: whether the sources read hold the finding's account (sources of other
    accounts only are "could not look" there, never "no events"), whether they hold the calls
    GuardDuty saw the key make (none of them: the reading misses what the finding is about),
    and IAM's last use of the key (a use after the last call read: calls missing)."""
    account = (
        ""
        if act.account  # --account: judged (Activity.could_not_look)
        else f"whether the sources read hold the finding's account{_accounts(act)} (--account "
        "ID judges it: sources of other accounts only are 'could not look' there, not 'no "
        "events'), "
    )
    return (
        f"{UNJUDGED} (torinvest investigate FINDING_ID judges them): {account}whether they "
        "hold the calls GuardDuty saw the key make, and IAM's record of the key's last use (a "
        "later use: calls missing)"
    )


def _accounts(act: Activity) -> str:
    """Which accounts the reading holds, as far as it tells: those that recorded the events
    read, else those the log files read are of ("" when neither is known)."""
    f = act.frame
    if len(f) and "recipient_account_id" in f.columns:
        seen = sorted(str(a) for a in f["recipient_account_id"].dropna().astype(str).unique() if a)
        if seen:
            return f" (the events read were recorded in account(s) {', '.join(seen)})"
    c = act.file_counts
    if c is not None and c.read and c.accounts:
        return f" (the log files read are of account(s) {', '.join(c.accounts)})"
    return ""


@dataclass(frozen=True, slots=True)
class Said:
    """What a reading of a key's activity without its finding says (``torinvest events``):
    ``issues`` (the activity's, its notes that say events may be missing —
    :attr:`~torinvest.events.Activity.gap_notes`, source ``events`` —, then the trail gaps the
    key made), ``notes`` (the activity's other notes and asides; what the key impaired that this
    reading does not rely on, or that blinds detection: ``events`` searches no finding),
    ``origin`` (who minted the key; None without a key) and its line
    (``origin_text``, "" when there is nothing to add), ``unjudged`` (:func:`unjudged_note`;
    "" without a key)."""

    issues: list[DataIssue]
    notes: list[str]
    origin: KeyOrigin | None
    origin_text: str
    unjudged: str
    impaired: Impairments
    #: Why the account sought (``--account``) could not be looked at: every source read is of
    #: other accounts (:attr:`torinvest.events.Activity.could_not_look`); None otherwise.
    could_not_look: str | None = None
    #: the console passwords the key set and their use (:func:`passwords_of`): their issues
    #: are in ``issues``, a note of each in ``notes``
    passwords: list[PasswordUse] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.issues

    def state(self, events: int) -> str:
        """The reading's state in ``summary.json``'s words (:data:`torinvest.verdict`'s
        ``READING_*``): ``could not look`` (the account sought not read: the events of others
        are written, the command fails), ``incomplete`` (a data issue), else ``no events`` or
        ``complete``; a reading that read nothing is an error, never written."""
        if self.could_not_look is not None:
            return READING_COULD_NOT_LOOK
        if self.issues:
            return READING_INCOMPLETE
        return READING_COMPLETE if events else READING_NO_EVENTS


def said_of(
    act: Activity,
    *,
    access_key: str | None = None,
    username: str | None = None,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    follow_derived: bool = False,
) -> Said:
    """What ``act`` (read for ``access_key`` or ``username`` from ``start`` to ``end``) says
    without the finding: the one computation behind ``torinvest events``' issues and notes
    (module docstring). What impaired the logging is read from the caller's calls: a reading of
    every caller (no key, no user) is a trail's, not a key's — another principal's StopLogging
    of a trail it made is no gap of it — and says none. ``follow_derived``: whether the keys
    it minted were followed (the console passwords it set are "not followed" otherwise)."""
    caller = bool(access_key or username)
    impaired = (
        impaired_of(act, (start, end), access_key=access_key, others=act.watched)
        if caller
        else Impairments()
    )
    gaps = [i for i in impaired.activity_gaps if i not in act.issues]
    # the notes that say events may be missing are issues, as an investigation says them
    missing = [DataIssue(NOTES_SOURCE, n) for n in act.gap_notes]
    notes = [n for n in act.notes if n not in act.gap_notes] + list(act.asides)
    notes += [n for n in impaired.notes if n not in act.asides]
    # detection blinded (GuardDuty): an issue of an investigation's related-findings search;
    # events searches no finding, so it is said beside the reading, never dropped
    notes += [i.problem for i in impaired.issues if i not in impaired.activity_gaps]
    origin = None
    uses: list[PasswordUse] = []
    unnamed: list[DataIssue] = []
    if access_key:
        origin = key_origin(act, access_key, start=start, unread=activity_gaps(act, impaired))
        uses = passwords_of(act, access_key, follow_derived=follow_derived, until=end)
        # a password set for a user the call does not name: whose sign-ins, not known
        unknown = unnamed_of(act.frame, [access_key, *(d.access_key_id for d in act.derived)])
        notes += password_notes(uses, unknown)
        unnamed = unnamed_issues(unknown)
    return Said(
        issues=[*act.issues, *missing, *gaps, *password_issues(uses), *unnamed],
        notes=notes,
        origin=origin,
        origin_text=origin_phrase(origin.to_dict()) if origin is not None else "",
        unjudged=unjudged_note(act) if access_key else "",
        impaired=impaired,
        could_not_look=act.could_not_look,
        passwords=uses,
    )
