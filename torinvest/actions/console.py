"""The console sessions of passwords the key set (:func:`deny_console_sessions`).

A successful ``CreateLoginProfile``/``UpdateLoginProfile`` made with the key (or a key it minted)
gives user X a console password (:func:`~torinvest.sources.records.console_passwords`). The
plan's undo (``DeleteLoginProfile``; a manual reset for ``UpdateLoginProfile``) stops new
sign-ins, but not a console session already signed in: it stays valid up to its session duration
(12 hours by default). So X gets the same ``AWSRevokeOlderSessions`` deny as the finding's user:
``DateLessThan aws:TokenIssueTime`` now.

AWS documents that deny for "the IAM user that created the temporary security credentials"
(IAM User Guide, "Disabling permissions for temporary security credentials", section "Denying
access to temporary security credentials issued before a specific time":
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_disable-perms.html):
``aws:TokenIssueTime`` is present only in requests signed with temporary credentials, so the
deny leaves the user's long-term keys alone. An IAM user's console session signs its calls with
temporary credentials (CloudTrail records them with an ``ASIA…`` key and
``sessionCredentialFromConsole``; :func:`~torinvest.sources.records.console_sessions` follows
them): the deny ends it. AWS does not say "console session" on that page in so many words:
the plan's step says what it relies on.

The deny rests on the password's record: the run confirms it with CloudTrail (LookupEvents by
event ID) before the call, as every step resting on a record (:mod:`torinvest.runner.confirm`);
unconfirmed, the step is left alone saying so. One deny per principal (the plan's ``revokes``
map): X already denied (the finding's user, a minting user) gets the password's sessions said
in that step. A user the plan deletes (the activity created it) loses the deny just before its
``DeleteUser`` (IAM refuses to delete a user with an inline policy), under the same checks: for
every principal the plan denies and deletes, :func:`~torinvest.actions.ondelete.lift_before_delete`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pandas as pd

from torinvest.actions.created import _after_renames, _renamed_by_activity
from torinvest.actions.plan import REVOKE_POLICY_NAME, Action, Plan, Record, _present, record_of
from torinvest.actions.undo import _unverifiable, event_account
from torinvest.outcome import succeeded_rows
from torinvest.safety import prose_safe
from torinvest.sources.records.passwords import (
    ConsolePassword,
    UnnamedPassword,
    console_passwords,
    unnamed_passwords,
)
from torinvest.targets import json_object

if TYPE_CHECKING:
    from torinvest.passwords import PasswordUse

#: What the deny on a password's user relies on (said in its step).
RELIES_ON = (
    "AWS: a deny on aws:TokenIssueTime applies to the temporary credentials the user was issued "
    "before it, and a console session's calls are signed with such credentials"
)


def deny_console_sessions(
    plan: Plan,
    events: pd.DataFrame | None,
    access_key_id: str,
    account: str | None,
    policy: str,
    revokes: dict[tuple[str, str], int],
    uses: Sequence[PasswordUse] | None = None,
    *,
    mark: Callable[[Action], Action] = lambda a: a,
) -> None:
    """Add to ``plan`` the deny of the console sessions of each user a console password was set
    for in ``events`` (the activity of ``access_key_id`` and the keys it minted). ``uses``: what
    the reading found of their sign-ins (:func:`~torinvest.passwords.password_uses`; None: not
    read here). ``mark``: applied to a new deny (the finding user's identity check). A password
    whose record has no event ID gets the deny all the same: the run leaves it alone, saying
    its record cannot be confirmed."""
    if events is None or not len(events):
        return
    # ``events`` is the activity of the key and the keys it minted (as undo_persistence, which
    # undoes each password's write, takes it): every key in it
    keys = {access_key_id, *(str(k) for k in events["access_key_id"].dropna())}
    renames = _renamed_by_activity(events[succeeded_rows(events)], account)
    for p in console_passwords(events, keys):
        row = _row(events, p)
        if row is not None and _roots_own(row):
            continue  # the root user's own password: a manual step of undo_persistence
        shown = _shown(p)  # its values in the words of a step (a forged record's)
        ref = _ref(shown)
        said = _sign_ins(p, uses, shown)
        here = event_account(row) if row is not None else None
        if account and row is not None and here != account:
            where = f"in account {here}" if here else "in the account the event names (none)"
            plan.actions.append(
                Action(
                    "iam",
                    "PutUserPolicy",
                    {},
                    why=f"end the console sessions of {shown.user_name}: {ref} set its "
                    f"password {where}",
                    manual=f"{where}: attach {REVOKE_POLICY_NAME} to user {shown.user_name} "
                    f"(it ends the console sessions signed in with the password {ref} set{said}); "
                    "run "
                    "`torinvest actions` there",
                    targets=(p.user_name,),
                )
            )
            continue
        record = _record(row, p)
        folded = ("user", p.user_name.casefold())
        if folded in revokes:
            i = revokes[folded]
            old = plan.actions[i]
            plan.actions[i] = replace(
                old,
                why=f"{old.why}; ends the console sessions signed in with the password {ref} "
                f"set{said}",
                # a deny the finding justifies stays without records; one that records justify
                # takes this one too (any one confirmed is enough)
                records=(*old.records, record) if old.records else old.records,
                ends_sessions_of=tuple(dict.fromkeys((*old.ends_sessions_of, p.user_name))),
            )
            continue
        why = (
            f"end the console sessions of {shown.user_name}: {ref} set its console password; "
            "deleting or resetting a password does not end a console session already signed "
            "in (valid up to its session duration, 12 h by default) — this denies every "
            f"session of {shown.user_name} issued before now, those signed in with that password "
            f"among them ({RELIES_ON}){said}"
        )
        deny = Action(
            "iam",
            "PutUserPolicy",
            {"UserName": p.user_name, "PolicyName": REVOKE_POLICY_NAME, "PolicyDocument": policy},
            why=why,
            targets=(p.user_name,),
            records=(record,),
            any_record=True,
            ends_sessions_of=(p.user_name,),
        )
        gone = _deleted_after(events, p, account)
        if gone is not None:  # the activity deleted the user since: its sessions went with it
            deny = replace(
                deny, why=f"{deny.why}; {_gone_said(shown.user_name, gone)}", deleted_by=gone
            )
        at = _after_password_step(plan.actions, p.user_name)
        moved = _after_renames([deny], [p.event_time], renames)[0]
        if moved.manual:  # renamed since: a call under the old name would end nothing
            _insert(plan.actions, revokes, at, moved)
            continue
        deny = mark(deny)
        delete = _delete_of(plan.actions, p.user_name)
        made = plan.actions[delete] if delete is not None else None
        if made is not None and made.manual:  # created by the activity, not checkable
            _insert(
                plan.actions,
                revokes,
                at,
                _unverifiable(deny, _why_unverifiable(made, shown.user_name)),
            )
            continue
        if delete is not None and made is not None:  # the deny is for the user it created only
            deny = replace(deny, created_at=made.created_at, identity=made.identity)
            at = min(at, delete)  # checked as its delete is (its creation date, its ID)
        _insert(plan.actions, revokes, at, deny)
        revokes[folded] = at
    plan.actions += [_unnamed_step(u) for u in unnamed_passwords(events, keys)]


def _unnamed_step(u: UnnamedPassword) -> Action:
    """The manual step of a password call whose target is not known (:class:`UnnamedPassword`):
    never a deny on a user named like the caller's session."""
    when = "an unknown time" if u.event_time is None else f"{u.event_time:%Y-%m-%d %H:%M:%S}Z"
    by = f", by {u.set_by}" if u.set_by else ""
    maybe = " (its outcome is not known: if it succeeded)" if u.unknown else ""
    ref = f"{u.event_name} at {when} (event {u.event_id or '(no eventID)'}{by}){maybe}"
    caller = (
        f"a caller of type {u.caller_type}" if u.caller_type else "a caller of no recorded type"
    )
    said = prose_safe(  # words around a forged record's values, no command: none reads as one
        f"{ref} names no user (requestParameters.userName) and was made by {caller} "
        f"({u.caller_arn or 'no ARN recorded'}), not an IAM user: whose console password it set "
        "is not known"
    )
    return Action(
        "iam",
        "PutUserPolicy",
        {},
        why=f"{said}: no deny is put on a user named like the caller",
        manual=f"{said} — the name at the end of that ARN is the session's, chosen by its "
        "caller, not a user's. Check the event in CloudTrail (its requestParameters and "
        "responseElements) and which user has a login profile created then (aws iam "
        "get-login-profile --user-name=USER, for the account's users: its CreateDate); if one "
        "got a password from it, delete it (aws iam delete-login-profile --user-name=USER) and "
        f"attach {REVOKE_POLICY_NAME} to that user (it ends the console sessions signed in "
        "with it)",
        targets=tuple(t for t in (u.set_by,) if t),
    )


def _deleted_after(events: pd.DataFrame, p: ConsolePassword, account: str | None) -> Record | None:
    """The record of the last successful ``DeleteUser`` of ``p``'s user (``userName``, compared
    as IAM does: without regard to case) the activity made at or after the password was set, in
    the finding's account; None when there is none."""
    rows = events[
        events["event_name"].eq("DeleteUser").fillna(False).to_numpy(dtype=bool)
        & succeeded_rows(events)
    ]
    found = None
    for row in rows.sort_values("event_time", kind="stable").to_dict("records"):
        named = json_object(row.get("request_parameters")).get("userName")
        if not isinstance(named, str) or named.casefold() != p.user_name.casefold():
            continue
        t = row.get("event_time")
        if p.event_time is not None and (t is None or pd.isna(t) or t < p.event_time):
            continue
        if account and event_account(row) != account:
            continue
        found = record_of(row)
    if found is not None and not any(f == "requestParameters.userName" for f, _ in found.fields):
        found = replace(found, fields=(*found.fields, ("requestParameters.userName", p.user_name)))
    return found


def _gone_said(user: str, gone: Record) -> str:
    """What the deny on a user the activity deleted since says of it."""
    return (
        f"the activity deleted user {user} after it ({gone_ref(gone)}): IAM ends a user's "
        f"console sessions with the user — if IAM has no user {user} when the run gets there, "
        "it says so (user gone: no session to end) once CloudTrail confirms that DeleteUser"
    )


def gone_ref(gone: Record) -> str:
    """``DeleteUser at T (event E)`` of a :attr:`Action.deleted_by` record."""
    when = gone.event_time or "an unknown time"
    return f"{gone.event_name} at {when} (event {gone.event_id or '(no eventID)'})"


def _row(events: pd.DataFrame, p: ConsolePassword) -> Mapping[str, Any] | None:
    if not p.event_id:
        return None
    rows = events[events["event_id"] == p.event_id]
    return rows.iloc[0].to_dict() if len(rows) else None


def _roots_own(row: Mapping[str, Any]) -> bool:
    named = json_object(row.get("request_parameters")).get("userName")
    return str(row.get("user_type")) == "Root" and not _present(named)


def _record(row: Mapping[str, Any] | None, p: ConsolePassword) -> Record:
    """The password's record, with the user the deny is on among what CloudTrail's copy must
    say (the request's userName, else the caller's own: userIdentity.userName)."""
    if row is None:
        return Record(
            event_id=p.event_id,
            region=None,
            event_name=p.event_name,
            access_key_id=p.set_by,
            source=None,
            event_time=None if p.event_time is None else p.event_time.isoformat(),
        )
    record = record_of(row)
    if not any(path == "requestParameters.userName" for path, _ in record.fields):
        record = replace(record, fields=(*record.fields, ("userIdentity.userName", p.user_name)))
    return record


def _ref(p: ConsolePassword) -> str:
    when = "an unknown time" if p.event_time is None else f"{p.event_time:%Y-%m-%d %H:%M:%S}Z"
    by = f", by {p.set_by}" if p.set_by else ""
    maybe = " (its outcome is not known: if it succeeded)" if p.unknown else ""
    return f"{p.event_name} at {when} (event {p.event_id or '(no eventID)'}{by}){maybe}"


def _shown(p: ConsolePassword) -> ConsolePassword:
    """``p`` with the values a step's words quote (attacker-written: a forged record's) made
    unable to read as a command there (:func:`~torinvest.safety.prose_safe`): for the words
    only, never for a call's parameters."""
    return replace(
        p,
        user_name=prose_safe(p.user_name),
        event_name=prose_safe(p.event_name),
        event_id=None if p.event_id is None else prose_safe(p.event_id),
        set_by=None if p.set_by is None else prose_safe(p.set_by),
        source_ip=None if p.source_ip is None else prose_safe(p.source_ip),
    )


def _sign_ins(
    p: ConsolePassword, uses: Sequence[PasswordUse] | None, shown: ConsolePassword
) -> str:
    """What the reading found of the sign-ins with ``p`` (the step's last words; ``shown``:
    ``p`` as they quote it, :func:`_shown`)."""
    use = next(
        (
            u
            for u in uses or ()
            if (p.event_id and u.password.event_id == p.event_id)
            or (not p.event_id and u.password == p)
        ),
        None,
    )
    if use is None or use.status != "read":
        why = f" ({use.why})" if use is not None and use.why else " here"
        return (
            f"; its sign-ins were not read{why}: console sessions signed in with it may be live, "
            "and the deny covers them"
        )
    signed = use.signed_in
    if not signed:
        # read over a window that ended: a sign-in after its end was not read (said, with
        # the command that reads on); the deny covers those too
        return (
            f"; no console sign-in of {shown.user_name} after it in the sources read"
            f"{use.read_to()} (the deny covers any they do not hold)"
        )
    first = signed[0]
    when = "(no time)" if first.event_time is None else f"{first.event_time:%Y-%m-%d %H:%M:%S}Z"
    tor = " (a Tor exit then)" if first.tor else ""
    return (
        f"; {shown.user_name} signed in to the console {len(signed)} time(s) after it (first "
        f"at {when} from {prose_safe(first.source_ip or '(no IP)')}{tor}): the deny ends those "
        "sessions"
    )


def _owns(action: Action, user: str, operations: tuple[str, ...]) -> bool:
    return (
        action.operation in operations
        and bool(action.targets)
        and action.targets[0].casefold() == user.casefold()
    )


def _after_password_step(actions: list[Action], user: str) -> int:
    """Where the deny goes: just after the last step undoing a password of ``user``
    (DeleteLoginProfile, the manual reset of UpdateLoginProfile); else at the end."""
    at = len(actions)
    for i, a in enumerate(actions):
        if _owns(a, user, ("DeleteLoginProfile", "UpdateLoginProfile")):
            at = i + 1
    return at


def _insert(
    actions: list[Action], revokes: dict[tuple[str, str], int], at: int, action: Action
) -> None:
    """``action`` inserted at ``at``; the ``revokes`` indices after it moved along."""
    actions.insert(at, action)
    for k, v in revokes.items():
        if v >= at:
            revokes[k] = v + 1


def _why_unverifiable(delete: Action, user: str) -> str:
    """Why ``delete`` (a manual DeleteUser) cannot be checked: its reason, else said plainly."""
    reason, found, _ = (delete.manual or "").partition(": check it by hand")
    if found and reason:
        return reason
    return (
        f"the activity created user {user}, and it cannot be checked that the {user} in AWS is "
        "that one (see the DeleteUser step on it)"
    )


def _delete_of(actions: list[Action], user: str) -> int | None:
    """The index of the plan's ``DeleteUser`` step on ``user`` (the activity created it: a call,
    or a manual step when it cannot be checked), if any."""
    return next(
        (i for i, a in enumerate(actions) if _owns(a, user, ("DeleteUser",))),
        None,
    )
