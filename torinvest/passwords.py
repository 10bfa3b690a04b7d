"""Console passwords the key (or a key it minted) set, and whether they were used: a credential
the key minted as much as a key is (AWS: "assume every credential is compromised").

A successful ``CreateLoginProfile``/``UpdateLoginProfile`` made with the key or a derived key
gives user U a console password at T (:func:`~torinvest.sources.records.console_passwords`).
Its use is U's console sign-ins after T (``ConsoleLogin``: no access key, so a reading by key
never holds them; the log files read them in a pass of their own,
:attr:`torinvest.events.Activity.sign_ins`). :func:`password_uses` says, per password, whether
they were read (``read``: the sign-ins found, none being "none in the sources read"), ``not
read`` (which source could not, and the command that reads them) or ``not followed``
(``follow_derived`` off); :func:`password_issues` the data issues: sign-ins not read, and the
calls of console sessions that signed in, which the activity does not hold.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from torinvest.errors import DataIssue
from torinvest.events import Activity
from torinvest.safety import prose_safe
from torinvest.schema import utc_or_none
from torinvest.sources.records.passwords import (
    SIGN_IN_EVENT,
    ConsolePassword,
    SignIn,
    UnnamedPassword,
    after,
    console_passwords,
    sign_ins_command,
    unnamed_passwords,
    user_sign_ins_command,
)

if TYPE_CHECKING:  # the package imports the Tor lists' parsers (stem): only where one is read
    from torinvest.tor import ExitLists

#: ``summary.json``'s ``console_passwords[].sign_ins_search.status`` values (docs/DESIGN.md).
SIGN_IN_STATUSES = ("read", "not read", "not followed")
#: Why the sign-ins were not read when no source read them (LookupEvents, an engine's table).
NOT_FOLLOWED_WHY = (
    "follow_derived was off (--no-follow-derived): the credentials the key set were not followed"
)
NOT_READ_WHY = (
    "only the trail's log files and the SQL engines are searched for console sign-ins "
    "(ConsoleLogin records hold no access key, so LookupEvents by AccessKeyId never returns "
    "them), and neither read them"
)


#: The data issues' source of a console password set for a user the call does not name.
UNNAMED_SOURCE = "console password of a user not named"


def issue_source(user: str) -> str:
    """The data issues' source of user ``user``'s console password."""
    return f"console password of {user}"


@dataclass(frozen=True, slots=True)
class PasswordUse:
    """A console password the key set and what was read of its use: ``status`` (one of
    :data:`SIGN_IN_STATUSES`), ``why`` (not read, not followed: null when read) and the
    sign-ins read at or after it was set (each with its Tor status then)."""

    password: ConsolePassword
    status: str
    why: str | None = None
    sign_ins: list[SignIn] = field(default_factory=list)
    #: whether the calls of the user's console sessions were read (followed as derived keys:
    #: ``sessions`` their keys)
    sessions_read: bool = False
    sessions: list[str] = field(default_factory=list)
    #: the end of the window the sign-ins were read to (None: not known, or not read): a
    #: sign-in after it is not in what was read
    until: pd.Timestamp | None = None

    def none_read(self) -> str:
        """What a search that read the sign-ins and found none says: none in the sources read,
        and — the window ending before now — none read after its end, with the command that
        reads on (the sign-ins were read over the window only: "unused" is never said of the
        time after it)."""
        return "no console sign-in of that user after it in the sources read" + self.read_to()

    def read_to(self, *, command: bool = True) -> str:
        """What a search that read the sign-ins says of the window it read them over: "" when
        it has no end or ends still to come, else `` up to the window's end (T): a sign-in after
        that was not read`` and (``command``) the command that reads on."""
        return read_to(self.until, [self.command()] if command else [])

    @property
    def read_until(self) -> pd.Timestamp | None:
        """The end of the window the sign-ins were read to, when they were read (else None)."""
        return self.until if self.status == "read" else None

    @property
    def signed_in(self) -> list[SignIn]:
        """The successful sign-ins read."""
        return [s for s in self.sign_ins if s.succeeded]

    def command(self) -> str:
        """The command that reads the user's sign-ins and console sessions' calls (the sources
        are the analyst's: ``…``)."""
        return sign_ins_command(self.password)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.password.to_dict(),
            "sign_ins_search": {
                "status": self.status,
                "why": self.why,
                "until": None if self.read_until is None else _when(self.read_until),
            },
            "sign_ins": [s.to_dict() for s in self.sign_ins],
            "signed_in": len(self.signed_in),
            "sessions_read": self.sessions_read,
            "sessions": list(self.sessions),
        }


def read_to(until: pd.Timestamp | None, commands: Sequence[str] = ()) -> str:
    """`` up to the window's end (T): a sign-in after that was not read — run `…` to read on``
    for sign-ins read (none found) over a window that ended at ``until`` — "" when it has none
    (the sources' last file) or ends still to come: one sentence for the events notes, the
    report's card, the one-line summary (``summary.json``'s ``sign_ins_search.until``), the
    ticket answers and a deny's reason."""
    if until is None or pd.isna(until) or until >= pd.Timestamp.now(tz="UTC"):
        return ""
    run = " or ".join(f"`{c}`" for c in commands)
    return f" up to the window's end ({_when(until)}): a sign-in after that was not read" + (
        f" — run {run} to read on" if run else ""
    )


def password_uses(
    activity: Activity,
    events: pd.DataFrame,
    keys: Collection[str],
    lists: ExitLists | None,
    *,
    tolerance_hours: float,
    follow_derived: bool,
    why_not_followed: str = NOT_FOLLOWED_WHY,
    until: pd.Timestamp | None = None,
) -> list[PasswordUse]:
    """The console passwords ``keys`` set in ``events`` (the activity read) and their use
    (``why_not_followed``: what not following says, in the words of the command's option).
    ``lists`` None: no exit list was read, the sign-ins' Tor status is not known (and the Tor
    lists' parsers are not imported: ``torinvest events``)."""
    out = []
    found = _with_tor(activity.sign_ins, lists, tolerance_hours)
    for p in console_passwords(events, keys):
        if not follow_derived:
            out.append(PasswordUse(p, "not followed", why_not_followed))
        elif p.user_name in activity.sign_ins_searched:
            read = p.user_name in activity.sessions_read
            sessions = _sessions(activity, events, p.user_name) if read else []
            out.append(PasswordUse(p, "read", None, after(found, p), read, sessions, until))
        else:
            why = activity.sign_ins_unread.get(p.user_name, NOT_READ_WHY)
            out.append(PasswordUse(p, "not read", why))
    return out


def _sessions(activity: Activity, events: pd.DataFrame, user: str) -> list[str]:
    """The keys of ``user``'s console sessions followed as derived keys (minted by a
    ConsoleLogin: :func:`~torinvest.sources.records.console_sessions`)."""
    keys = {d.access_key_id for d in activity.derived if d.event_name == SIGN_IN_EVENT}
    if not keys or not len(events):
        return []
    rows = events[
        events["access_key_id"].isin(list(keys)).fillna(False).to_numpy(dtype=bool)
        & events["user_name"].astype("string").eq(user).fillna(False).to_numpy(dtype=bool)
    ]
    return sorted({str(k) for k in rows["access_key_id"].dropna()})


def _with_tor(
    found: Sequence[SignIn], lists: ExitLists | None, tolerance_hours: float
) -> list[SignIn]:
    if not found or lists is None:
        return list(found)
    from torinvest import tor  # the Tor lists' parsers (stem): only with an exit list

    said = tor.marked(
        [s.event_time for s in found],
        [s.source_ip for s in found],
        lists,
        pd.Timedelta(hours=tolerance_hours),
    )
    return [replace(s, tor=t, tor_caveat=c) for s, (t, c) in zip(found, said, strict=True)]


def password_issues(uses: Sequence[PasswordUse]) -> list[DataIssue]:
    """The data issues of the passwords' use: sign-ins not read (whether the password was used
    is not known), and the calls of the console sessions that signed in (not in the activity)."""
    issues = []
    for u in uses:
        p = u.password
        # the record's values are attacker-written: no backtick of theirs reads as a command
        name, event = prose_safe(p.event_name), prose_safe(p.event_id or "(no eventID)")
        user = prose_safe(p.user_name)
        what = f"{name} at {_when(p.event_time)} (event {event})"
        by = f" with key {prose_safe(p.set_by)}" if p.set_by else ""
        maybe = " — if it succeeded: its outcome is not known —" if p.unknown else ""
        if u.status == "not read":
            issues.append(
                DataIssue(
                    issue_source(p.user_name),
                    f"{what}{by} set a console password for user {user}{maybe}: whether "
                    f"it was used is not known — its sign-ins were not read ({u.why}): run "
                    f"`{u.command()}` over the trail's log files",
                )
            )
        elif u.status == "read" and u.signed_in and not u.sessions_read:
            first = u.signed_in[0]
            via = " (a Tor exit then)" if first.tor else ""
            issues.append(
                DataIssue(
                    issue_source(p.user_name),
                    f"user {user} signed in to the console {len(u.signed_in)} time(s) "
                    f"after {what}{by} set its password (first at {_when(first.event_time)} "
                    f"from {prose_safe(first.source_ip or '(no IP)')}{via}): the calls of those "
                    "console sessions (temporary keys, sessionCredentialFromConsole) are not in "
                    f"the activity — run `{u.command()}` to see them",
                )
            )
    return issues


def passwords_gap(
    uses: Sequence[PasswordUse], unnamed: Sequence[UnnamedPassword] = ()
) -> str | None:
    """Why the credentials the key minted were not all followed, for
    ``derived_keys_search``: a password whose sign-ins were not read, or console sessions
    not read, or a password set for a user the call does not name (``unnamed``); None when
    every password's use was read (and none signed in)."""
    parts = [unnamed_said(u) for u in unnamed]
    for u in uses:
        user = u.password.user_name
        if u.status == "not read":
            parts.append(
                f"the console password set for user {user}: its sign-ins were not read ({u.why})"
            )
        elif u.status == "read" and u.signed_in and not u.sessions_read:
            parts.append(
                f"the console password set for user {user} was used to sign in "
                f"{len(u.signed_in)} time(s): those console sessions' calls were not read"
            )
    return "; ".join(parts) or None


def passwords_phrase(summary_data: Mapping[str, Any], *, commands: bool = True) -> str:
    """The console passwords of a ``summary.json`` (``console_passwords``) in a few words,
    after the derived keys ("" when the key set none, or the summary has none): ``, 1 console
    password set (SIGNED IN 2 time(s))``, ``(sign-ins of 1 not read)``, ``(sign-ins of 1 not
    followed)``, ``(no sign-in in what was read)`` (read, and none: never words that read as
    "not read") — read over a window that ended (``sign_ins_search.until``, in the past),
    ``(no sign-in in what was read up to the window's end (T): a sign-in after that was not
    read — run `torinvest events --username=U --start=T …` to read on)`` (``commands`` False:
    without the command, which the lines after it say). A summary written before ``until``
    has none: said as before."""
    uses = [u for u in summary_data.get("console_passwords") or [] if isinstance(u, Mapping)]
    unnamed = [
        u for u in summary_data.get("console_passwords_unnamed") or [] if isinstance(u, Mapping)
    ]
    said = (
        f", {len(unnamed)} console password(s) set for a user the call does not name (whose "
        "sign-ins to search is not known)"
        if unnamed
        else ""
    )
    if not uses:
        return said
    signed = sum(int(u.get("signed_in") or 0) for u in uses)
    status = [(u.get("sign_ins_search") or {}).get("status") for u in uses]
    unfollowed = status.count("not followed")
    unread = sum(s not in ("read", "not followed") for s in status)
    parts = [f"SIGNED IN {signed} time(s)"] if signed else []
    if unread:
        parts.append(f"sign-ins of {unread} not read")
    if unfollowed:
        parts.append(f"sign-ins of {unfollowed} not followed")
    if not parts:
        parts.append("no sign-in in what was read" + _phrase_read_to(uses, commands=commands))
    return f", {len(uses)} console password(s) set ({'; '.join(parts)}){said}"


def password_notes(
    uses: Sequence[PasswordUse], unnamed: Sequence[UnnamedPassword] = ()
) -> list[str]:
    """The console passwords and their use in plain text, for a terminal (``torinvest
    events``, which reads no Tor exit list: a sign-in's Tor status is said only when known):
    the count and use (:func:`passwords_phrase`'s words), then one line per password — the
    user, when and by what, and its sign-ins read, or that they were not read and why ("none"
    only when they were read), as the report's card says them; then each password set for a
    user the call does not name (``unnamed``: :func:`unnamed_said`)."""
    if not uses and not unnamed:
        return []
    head = passwords_phrase(
        {
            "console_passwords": [u.to_dict() for u in uses],
            "console_passwords_unnamed": [unnamed_dict(u) for u in unnamed],
        },
        commands=False,
    )  # each line below names its command
    out = [head.removeprefix(", ") + " (credentials the key minted, as keys are)"]
    for u in uses:
        p = u.password
        maybe = " (outcome unknown: set only if it succeeded)" if p.unknown else ""
        what = prose_safe(  # the record's values: no backtick of theirs reads as a command
            f"console password for user {p.user_name}, set with {p.event_name} at "
            f"{_when(p.event_time)} by {p.set_by or '(no key)'} from "
            f"{p.source_ip or '(no IP)'}{maybe}: "
        )
        if u.status == "not followed":
            use = f"its sign-ins were not followed ({u.why})"
        elif u.status == "not read":
            use = (
                f"its sign-ins were not read — whether it was used is not known ({u.why}); "
                f"run `{u.command()}`"
            )
        elif not u.sign_ins:
            use = u.none_read()
        else:
            signs = prose_safe(
                "; ".join(
                    f"{s.result or 'result not recorded'} at {_when(s.event_time)} from "
                    f"{s.source_ip or '(no IP)'} ({'Tor, ' if s.tor else ''}MFA "
                    f"{s.mfa_used or 'unknown'})"
                    for s in u.sign_ins
                )
            )
            use = f"{len(u.sign_ins)} console sign-in(s) of that user after it: {signs}"
            if u.signed_in and u.sessions_read:
                keys = ", ".join(u.sessions) or "none made"
                use += (
                    " — the calls of its console sessions are in the activity, followed as "
                    f"derived keys (minted by ConsoleLogin): {keys}"
                )
            elif u.signed_in:
                use += f" — the calls of those console sessions are not read: run `{u.command()}`"
        out.append(what + use)
    return out + [unnamed_said(u) for u in unnamed]


def unnamed_of(events: pd.DataFrame | None, keys: Collection[str]) -> list[UnnamedPassword]:
    """The password calls ``keys`` made in ``events`` that name no user, made by a caller that
    is no IAM user (:func:`~torinvest.sources.records.unnamed_passwords`): whose password they
    set, and so whose sign-ins to search, is not known."""
    if events is None or not len(events):
        return []
    return unnamed_passwords(events, keys)


def unnamed_said(u: UnnamedPassword) -> str:
    """What a console password set for a user the call does not name says, in the same words
    in every place (data issue, ``events`` note, report card, summary.json): who set it and
    when, that whose sign-ins to search is not known — so "no console password set" and "no
    sign-in" are not complete — and what to check."""
    # the record's values are attacker-written: no backtick of theirs reads as a command
    who = prose_safe(
        u.caller_arn or f"a caller of type {u.caller_type or '(not recorded)'} (no ARN recorded)"
    )
    maybe = " — if it succeeded: its outcome is not known —" if u.unknown else ""
    key = f", key {prose_safe(u.set_by)}" if u.set_by else ""
    start = "" if u.event_time is None else f" --start {_when(u.event_time)}"
    event = prose_safe(u.event_id or "(no eventID)")
    return (
        f"a password was set by {who} at {_when(u.event_time)} for a user the call does not "
        f"name{maybe}: whose sign-ins to search is not known — {prose_safe(u.event_name)} "
        f"(event {event}{key}) has no requestParameters.userName and its caller "
        f"is {_a(prose_safe(u.caller_type))}, not an IAM user (the name at "
        "the end of its ARN is the session's, not a user's), so what is said of console "
        "passwords and sign-ins leaves that user out: check the event in CloudTrail (its responseElements) "
        "and which user's login profile was created then (aws iam get-login-profile "
        f"--user-name USER: its CreateDate), then run `torinvest events --username USER{start} "
        "…` for that user's sign-ins"
    )


def _a(caller_type: str | None) -> str:
    """``an AssumedRole``, ``a FederatedUser``: the caller's type with its article."""
    if not caller_type:
        return "a caller of no recorded type"
    return f"{'an' if caller_type[:1] in 'AEIOU' else 'a'} {caller_type}"


def unnamed_issues(unnamed: Sequence[UnnamedPassword]) -> list[DataIssue]:
    """One data issue per console password set for a user the call does not name."""
    return [DataIssue(UNNAMED_SOURCE, unnamed_said(u)) for u in unnamed]


def unnamed_dict(u: UnnamedPassword) -> dict[str, Any]:
    """``summary.json``'s ``console_passwords_unnamed[]`` (docs/DESIGN.md)."""
    return {
        "event_name": u.event_name,
        "event_time": None if u.event_time is None else _when(u.event_time),
        "event_id": u.event_id,
        "set_by": u.set_by,
        "caller_type": u.caller_type,
        "caller_arn": u.caller_arn,
        "outcome": "unknown" if u.unknown else "succeeded",
        "said": unnamed_said(u),
    }


def _phrase_read_to(uses: Sequence[Mapping[str, Any]], *, commands: bool) -> str:
    """:func:`read_to` of the passwords of a ``summary.json`` read (none found): the earliest
    window's end (``sign_ins_search.until``) of them, the commands that read each on."""
    ends: list[pd.Timestamp] = []
    runs: list[str] = []
    for u in uses:
        until = utc_or_none((u.get("sign_ins_search") or {}).get("until"))
        if until is None:
            continue
        ends.append(until)
        user = u.get("user_name")
        if commands and isinstance(user, str) and user:
            runs.append(user_sign_ins_command(user, utc_or_none(u.get("event_time"))))
    if not ends:
        return ""
    return read_to(min(ends), list(dict.fromkeys(runs)))


def _when(t: pd.Timestamp | None) -> str:
    return "(no time)" if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")
