"""Not legitimate: contain the key and every credential it minted, read the user's
inventory, undo what the activity did, rotate what it read (:func:`plan_remediation`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import orjson
import pandas as pd

from torinvest.actions.archive import revoke_older_sessions_policy
from torinvest.actions.console import deny_console_sessions
from torinvest.actions.evidence import (
    event_account,
    failed_secret_reads,
    rotate_secrets,
    undo_persistence,
)
from torinvest.actions.ondelete import lift_before_delete
from torinvest.actions.plan import (
    INVENTORY_OPERATIONS,
    REVOKE_POLICY_NAME,
    Action,
    Plan,
    Record,
    _present,
    record_of,
    root_step,
)
from torinvest.actions.samename import spare_the_denies
from torinvest.aws import arn_partition
from torinvest.findings import KeyLocation
from torinvest.grouping import OR_ONLY_WORDS, weak_not_tor
from torinvest.outcome import failed_rows
from torinvest.safety import cli_option, prose_safe
from torinvest.schema import expiration_time
from torinvest.sources.records import MINTING_EVENTS, DerivedKey, derived_keys
from torinvest.sources.records.origin import KeyOrigin, Mint
from torinvest.targets import json_object

if TYPE_CHECKING:
    from torinvest.passwords import PasswordUse


# not legitimate: remediation
# --------------------------------------------------------------------------------------------
def _role_name(arn: str | None) -> str | None:
    if not arn or ":role/" not in arn:
        return None
    return arn.split(":role/", 1)[1].rsplit("/", 1)[-1]


def _arn_account(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None


def _user_name(arn: str | None) -> str | None:
    if not arn or ":user/" not in arn:
        return None
    return arn.split(":user/", 1)[1].rsplit("/", 1)[-1]


def partition_of(region: str | None) -> str:
    """The ARN partition of ``region`` (aws, aws-cn, aws-us-gov…): :func:`arn_partition`."""
    return arn_partition(region)


def _session_issuer(events: pd.DataFrame | None, key: str) -> str | None:
    """The ARN of the IAM principal behind temporary key ``key`` as its events name it: the
    session issuer (a role, or the user that called GetFederationToken), else the caller's own
    IAM user ARN (a GetSessionToken session); None when the events name none."""
    if events is None or not len(events):
        return None
    mine = events[events["access_key_id"] == key]
    for column in ("session_issuer_arn", "arn"):
        for arn in mine[column].dropna():
            if (_role_name(str(arn)) or _user_name(str(arn))) and ":iam::" in str(arn):
                return str(arn)
    return None


def _revoke(kind: str, name: str, policy: str, why: str, targets: Sequence[str]) -> Action:
    param = "UserName" if kind == "user" else "RoleName"
    return Action(
        "iam",
        "PutUserPolicy" if kind == "user" else "PutRolePolicy",
        {param: name, "PolicyName": REVOKE_POLICY_NAME, "PolicyDocument": policy},
        why=why,
        targets=(name, *targets),
    )


def _root_key_step(key: KeyLocation) -> Action:
    """The containment of a key of the account's root user: by hand only (no IAM call applies
    to root keys; no policy can be attached to root), never a call on an IAM user named like it."""
    kid = key.access_key_id
    if key.kind == "temporary":
        return root_step(
            "DeleteAccessKey",
            f"temporary key {kid} is a session of the account's root user: no call revokes it "
            "(it stays valid until it expires); sign in as root, delete the root access key "
            "that minted it, rotate the root password and MFA, then review the account's other "
            "principals",
            "root session key used from Tor",
            (kid,),
        )
    return root_step(
        "DeleteAccessKey",
        f"sign in as root, delete the root access key {kid} (deactivate it first if you must "
        "keep it a while), rotate the root password and MFA, then review the account's other "
        "principals",
        "root access key used from Tor",
        (kid,),
    )


def _root_mint(m_text: str, kid: str, minted_by: str | None) -> Action:
    """A session the account's root user minted (GetSessionToken…): no IAM policy can be put on
    root, so no deny revokes it — a manual step, never a deny on an IAM user."""
    by = f" with root key {minted_by}" if minted_by else ""
    return root_step(
        "PutUserPolicy",
        f"{m_text} was minted by the account's root user{by}: no call revokes it (it stays "
        "valid until it expires); sign in as root and delete the root access key that minted "
        "it",
        f"revoke the temporary credentials the root user minted: {m_text}",
        (kid, minted_by or ""),
    )


def _as_finding_user(action: Action, key: KeyLocation) -> Action:
    """``action`` (a deny on a user) marked to be checked, before it is made, against the
    finding's user ID (``identity`` ``("UserId", name, AIDA…)``) when it is on the finding's
    IAM user and the finding gives that user's unique ID (an IAMUser's principal ID; a session's
    has a colon); else ``action`` unchanged."""
    name = action.params.get("UserName")
    user_id = str(key.principal_id or "").strip()
    if (
        not isinstance(name, str)
        or key.user_type != "IAMUser"
        or not key.user_name
        or name.casefold() != key.user_name.casefold()
        or not user_id
        or ":" in user_id
    ):
        return action
    return replace(action, identity=("UserId", name, user_id))


def plan_remediation(
    key: KeyLocation,
    events: pd.DataFrame | None = None,
    *,
    now: pd.Timestamp | None = None,
    data_issues: int = 0,
    could_not_look: str | None = None,
    origin: KeyOrigin | None = None,
    passwords: Sequence[PasswordUse] | None = None,
) -> Plan:
    """The remediation plan for ``key`` (AWS guidance for its kind), following its activity:
    ``events`` is the events frame of the key and the keys it minted (see the module docstring
    for the order). ``data_issues``: how many data issues the investigation had (a log file
    that could not be read…): the plan's first note says it may miss changes.
    ``could_not_look``: why the finding's account's activity could not be read, when it could
    not — the first note (and :attr:`Plan.evidence`) says the plan holds only what the finding
    names, or (``events`` of other accounts only) what those events name.
    ``origin``: who minted the key (:func:`~torinvest.sources.records.origin.key_origin`): a
    note names the upstream principal, which revoking the key does not stop (no step: a human
    decides), or says why it is not known (:func:`origin_notes`).
    ``passwords``: the console passwords the key set and the sign-ins read with each
    (:attr:`~torinvest.investigation.Investigation.console_passwords`): the deny that ends the
    console sessions of each such user says them (:func:`deny_console_sessions`); None: not
    read, said so."""
    now = now or pd.Timestamp.now(tz="UTC")
    key, named = _with_user_from_events(key, events)
    policy = orjson.dumps(revoke_older_sessions_policy(now)).decode()
    plan = Plan(
        kind="remediate",
        finding_id=key.finding_id,
        account_id=key.account_id,
        region=key.region,
        access_key_id=key.access_key_id,
        first_tor=_first_tor(key),
    )
    #: one AWSRevokeOlderSessions per principal: (kind, name in lower case) → its index
    revokes: dict[tuple[str, str], int] = {}
    user = key.user_name
    if key.user_type == "Root":
        plan.actions.append(_root_key_step(key))
    elif key.kind == "long-term" and user:
        plan.actions.append(
            Action(
                "iam",
                "UpdateAccessKey",
                {"UserName": user, "AccessKeyId": key.access_key_id, "Status": "Inactive"},
                why="deactivate the suspect key first (delete only after the investigation)",
                targets=(user, key.access_key_id),
            )
        )
        revokes[("user", user.casefold())] = len(plan.actions)
        deny = _revoke(
            "user",
            user,
            policy,
            f"deny every session {user} minted before now (GetSessionToken, "
            "GetFederationToken keys)",
            (),
        )
        plan.actions.append(_as_finding_user(deny, key))
    elif key.kind == "temporary":
        _contain_session(plan, key, events, policy, revokes)
    elif key.kind == "long-term" and key.user_type in ("IAMUser", None, ""):
        plan.notes.append(
            f"the finding names no user for key {key.access_key_id}, and {named}: deactivate it "
            "by hand once you know its user (aws iam list-access-keys --user-name USER), then "
            "re-run"
        )
    else:
        plan.notes.append(
            f"no automatic remediation for a {key.kind} key of a {key.user_type or 'unknown'} "
            "principal: handle by hand"
        )
    if origin is not None:
        plan.notes += origin_notes(origin, key)
    _revoke_minted(plan, key, events, policy, revokes)
    if key.kind == "long-term" and user and key.user_type != "Root":
        plan.actions += inventory(user)
    plan.actions += undo_persistence(events, key.account_id)
    deny_console_sessions(
        plan,
        events,
        key.access_key_id,
        key.account_id,
        policy,
        revokes,
        passwords,
        mark=lambda a: _as_finding_user(a, key),
    )
    spare_the_denies(plan)  # the actor's policy named like the deny never deletes it
    lift_before_delete(plan)  # IAM deletes no user or role holding the deny (an inline policy)
    plan.actions += rotate_secrets(events, key.account_id)
    tried = failed_secret_reads(events)
    if tried:
        plan.notes.append(
            "the actor tried to read, and failed: " + ", ".join(tried) + " (nothing to rotate)"
        )
    if named and key.user_name and named.startswith("the finding names no user"):
        plan.notes.insert(0, named)
    elsewhere = bool(could_not_look and events is not None and len(events))
    if elsewhere:  # events read, all recorded in other accounts than the finding's
        plan.evidence = (
            f"COULD NOT LOOK at the key's activity in account {key.account_id}, the finding's "
            f"({could_not_look}): what it created, changed, minted or read there is not known — "
            f"the steps this plan takes from its activity come from the {len(events):,} "
            "event(s) read, recorded in other accounts; what is missing is not 'nothing to undo'"
        )
    elif could_not_look:
        plan.evidence = (
            f"COULD NOT LOOK at the key's activity ({could_not_look}): what it created, changed, "
            "minted or read is not known — no undo step, minted-key revocation or rotation is in "
            "this plan, which is not 'nothing to undo'"
        )
    if could_not_look:
        where = " in the finding's account" if elsewhere else ""
        plan.notes.insert(
            0,
            f"built without the key's activity{where}: {plan.evidence}; investigate with "
            "credentials that can read it (the finding's account: --profile or --role-arn; or "
            "--logs) and re-run",
        )
    elif data_issues:
        plan.evidence = (
            f"INCOMPLETE: {data_issues} data issue(s); changes in what could not be read are not "
            "in this plan"
        )
        plan.notes.insert(0, f"built from incomplete evidence: {plan.evidence.split(': ', 1)[1]}")
    return plan


def origin_notes(origin: KeyOrigin, key: KeyLocation) -> list[str]:
    """The plan's notes on who minted the key (read-only: no step acts on the upstream
    principal — a human decides). Found: one note per minting record, naming the principal,
    the call, the time and address (a Tor exit then, or not), that containing the key does not
    stop that principal minting new ones, and the command that follows an upstream key. Not
    found, not in the window read, not searched: what is not known, and why."""
    kid = origin.access_key_id
    contained = (
        "revoking the role's sessions"
        if key.kind == "temporary" and key.user_type == "AssumedRole"
        else "revoking this key"
        if key.kind == "temporary"
        else "deactivating this key"
    )
    if origin.status != "found":
        if key.kind != "temporary" and origin.status == "not in window":
            return [f"who created {kid} is not known: {origin.why}"]
        return [
            f"who minted {kid} is not known ({origin.status}: {origin.why}): whoever holds the "
            f"credential that minted it can mint new ones after {contained}"
        ]
    notes = []
    for m in origin.mints:
        ip = m.source_ip or "(no source IP)"
        head = f"{kid} was minted by {m.principal} with {m.event_name} at {_when(m.event_time)}"
        head += f" from {ip}{_tor_then(m)}"
        if m.instance_id:
            tail = (
                f": {contained} does not stop whoever holds that instance's role credentials "
                "(taken from its instance metadata, IMDS) getting new ones — investigate "
                f"instance {m.instance_id} (and require IMDSv2), and treat the role's keys as "
                "compromised"
            )
        elif m.service:
            tail = (
                f": an AWS service minted it for role {m.role_arn or '(not named)'} — find what "
                f"of {m.service} (a function, a task) runs with that role and how its "
                "credentials left it"
            )
        else:
            who = m.principal_arn or m.principal_user or "that principal"
            tail = (
                f": {contained} does not stop {who} minting new ones — investigate it and "
                "deactivate it too (it is compromised too when the mint came from Tor or is not "
                "the usual caller)"
            )
            if m.principal_key:
                tail += (
                    "; follow it: `torinvest events "
                    f"{cli_option('--access-key', m.principal_key)} --follow-derived …`"
                )
        notes.append(head + tail)
    return notes


def _tor_then(m: Mint) -> str:
    """What a minting record's source IP was then, for a note: a Tor exit, not one — with what
    that rests on when only lists of relays' OR addresses rule Tor out —, or nothing."""
    if m.tor:
        return " (a Tor exit then: that principal is compromised too)"
    if m.tor is not False:
        return ""
    weak = weak_not_tor(m.tor_caveat)
    return f" (not a Tor exit then, by {OR_ONLY_WORDS})" if weak else " (not a Tor exit then)"


def _when(t: pd.Timestamp | None) -> str:
    return "(no time)" if t is None else pd.Timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def _contain_session(
    plan: Plan,
    key: KeyLocation,
    events: pd.DataFrame | None,
    policy: str,
    revokes: dict[tuple[str, str], int],
) -> None:
    """The deny that revokes a temporary key, on the principal that issued it — taken from the
    issuer ARN its events name, and only when that ARN is in the finding's account and partition
    (a same-named principal here may be someone else's): else a manual step in that account.
    Without an issuer ARN, a role session's role is taken from the finding only with its role ID
    (the ``AROA…`` of the principal ID), which the run checks (GetRole) before the deny."""
    kid = key.access_key_id
    arn = _session_issuer(events, kid)
    if arn is not None:
        kind = "role" if _role_name(arn) else "user"
        name = _role_name(arn) or _user_name(arn) or ""
        account, partition = _arn_account(arn), arn.split(":")[1]
        if account != key.account_id or partition != partition_of(key.region):
            where = f"in account {account or '(none named)'}" + (
                f" (partition {partition})" if partition != partition_of(key.region) else ""
            )
            plan.actions.append(
                Action(
                    "iam",
                    "PutRolePolicy" if kind == "role" else "PutUserPolicy",
                    {},
                    why=f"revoke {kid}: its issuer is {arn}, not in the finding's account "
                    f"{key.account_id}",
                    manual=f"{where}: attach {REVOKE_POLICY_NAME} to {kind} {name} (the issuer "
                    f"of {kid}); run `torinvest actions` there or use the IAM console's "
                    "'Revoke active sessions'",
                    targets=(name, kid),
                )
            )
            return
        revokes[(kind, name.casefold())] = len(plan.actions)
        why = (
            f"revoke every session of role {name} issued before now (AWSRevokeOlderSessions)"
            if kind == "role"
            else f"a session key of IAM user {name} ({arn}): deny the sessions it minted before now"
        )
        deny = _revoke(kind, name, policy, why, (kid,))
        plan.actions.append(_as_finding_user(deny, key) if kind == "user" else deny)
        if kind == "user":
            plan.notes.append(
                f"this temporary key was minted by {name}: find the long-term key that minted it "
                "(GetSessionToken or GetFederationToken in the activity) and deactivate it too"
            )
        return
    role_id = str(key.principal_id or "").split(":", 1)[0]
    if key.user_type == "AssumedRole" and key.user_name and role_id.startswith("AROA"):
        revokes[("role", key.user_name.casefold())] = len(plan.actions)
        action = _revoke(
            "role",
            key.user_name,
            policy,
            f"revoke every session of role {key.user_name} issued before now, once GetRole shows "
            f"it is role {role_id} (the finding's principal)",
            (kid,),
        )
        plan.actions.append(replace(action, identity=("RoleId", key.user_name, role_id)))
        return
    if key.user_type == "IAMUser" and key.user_name:
        revokes[("user", key.user_name.casefold())] = len(plan.actions)
        deny = _revoke(
            "user",
            key.user_name,
            policy,
            "a session key of an IAM user: deny sessions it minted before now",
            (kid,),
        )
        plan.actions.append(_as_finding_user(deny, key))
        plan.notes.append(
            "this temporary key was minted by a long-term key of the user: find it "
            "(GetSessionToken in the activity) and deactivate it too"
        )
        return
    plan.notes.append(
        f"the principal behind temporary key {kid} is unknown (no event names its session issuer"
        f"{'' if key.user_type != 'AssumedRole' else ', and the finding names no role ID'}): find "
        "it in CloudTrail (userIdentity.sessionContext.sessionIssuer.arn) and attach "
        f"{REVOKE_POLICY_NAME} to it in its account"
    )


def _first_tor(key: KeyLocation) -> str | None:
    """When the first Tor call was: the finding's first sighting (``service.eventFirstSeen``),
    ISO 8601 UTC; None when the finding does not give a usable one."""
    try:
        t = pd.Timestamp(key.first_seen) if _present(key.first_seen) else None
    except (ValueError, TypeError):
        return None
    if t is None or pd.isna(t):
        return None
    return (t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")).isoformat()


def _with_user_from_events(
    key: KeyLocation, events: pd.DataFrame | None
) -> tuple[KeyLocation, str]:
    """``key`` with its user taken from the events made with it when the finding names none and
    they all name the same IAM user (``userIdentity.userName``, written by AWS); and what was
    found, said for a note."""
    if key.user_name or key.kind != "long-term" or key.user_type not in ("IAMUser", None, ""):
        return key, ""
    if events is None or not len(events):
        return key, "no event made with it is in the evidence"
    mine = events[events["access_key_id"] == key.access_key_id]
    spelled = {str(n).casefold(): str(n) for n in mine["user_name"].dropna() if str(n).strip()}
    names = sorted(spelled.values())  # IAM names: one user whatever the case
    if len(names) == 1:
        found = replace(key, user_name=names[0], user_type=key.user_type or "IAMUser")
        return found, (
            f"the finding names no user: {names[0]} is the user of {key.access_key_id} in all "
            f"{len(mine)} CloudTrail event(s) made with it (userIdentity.userName, written by AWS)"
        )
    if not names:
        return key, "the events made with it name none"
    return key, f"the events made with it name several ({', '.join(names)})"


def inventory(user: str) -> list[Action]:
    """The read-only calls that take stock of ``user``'s credentials and permissions."""
    return [
        Action("iam", op, {"UserName": user}, why=why, changes_aws=False, targets=(user,))
        for op, why in INVENTORY_OPERATIONS
    ]


def minted_credentials(events: pd.DataFrame | None, key: str | None = None) -> list[DerivedKey]:
    """Keys minted in ``events`` (by ``key`` and what it minted, when given): temporary ones,
    and long-term ones CreateAccessKey returned."""
    if events is None or not len(events):
        return []
    ok = events[~failed_rows(events)]  # succeeded, or of unknown outcome: it may have minted
    return derived_keys(ok, key) if key else derived_keys(ok)


def _minter(events: pd.DataFrame, minted: DerivedKey) -> tuple[str | None, str | None, str | None]:
    """(user name, account, userIdentity.type) of the principal whose call minted ``minted``."""
    rows = events[events["event_id"] == minted.event_id] if minted.event_id else events.iloc[0:0]
    if not len(rows):
        rows = events[events["access_key_id"] == minted.minted_by]
    if not len(rows):
        return None, None, None
    row = rows.iloc[0]
    name, kind = row.get("user_name"), row.get("user_type")
    return (
        str(name) if _present(name) else None,
        event_account(row.to_dict()),
        str(kind) if _present(kind) else None,
    )


def _minting_record(events: pd.DataFrame, minted: DerivedKey) -> Record:
    """The record of the call that minted ``minted`` (confirmed with CloudTrail before the deny
    it justifies: a forged AssumeRole must not revoke a production role's sessions)."""
    rows = events[events["event_id"] == minted.event_id] if minted.event_id else events.iloc[0:0]
    if len(rows):
        return record_of(rows.iloc[0].to_dict())
    return Record(
        event_id=minted.event_id,
        region=None,
        event_name=minted.event_name,
        access_key_id=minted.minted_by,
        source=None,
    )


def _minted_text(m: DerivedKey) -> str:
    when = f" at {m.event_time:%Y-%m-%d %H:%M:%S}Z" if m.event_time is not None else ""
    expires = expiration_time(m.expiration)  # CloudTrail: "Jul 12, 2023, 12:20:04 AM" (UTC)
    until = (
        f", valid until {expires:%Y-%m-%d %H:%M:%S}Z"
        if expires is not None
        else f", valid until {m.expiration}"
        if m.expiration
        else ""
    )
    src = f" from {m.source_ip}" if m.source_ip else ""
    # the record's values (a forged one's): no backtick of theirs reads as a command
    return prose_safe(f"{m.access_key_id} ({m.event_name}{when}{src}{until})")


def _revoke_minted(
    plan: Plan,
    key: KeyLocation,
    events: pd.DataFrame | None,
    policy: str,
    revokes: dict[tuple[str, str], int],
) -> None:
    """Temporary credentials minted in the activity outlive the deactivated key: deny every token
    their principal was issued before now (the minting user's for GetSessionToken and
    GetFederationToken, the role's for AssumeRole*)."""
    found = minted_credentials(events, key.access_key_id)
    _unrecorded_mints(plan, events, key, found, revokes)
    for m in found:
        assert events is not None
        if m.event_name == "CreateAccessKey":  # a long-term key: undo_persistence deletes it
            continue
        if m.event_name.startswith("AssumeRole"):
            role, account = _role_name(m.role_arn), _arn_account(m.role_arn)
            if not role:
                plan.notes.append(f"{_minted_text(m)}: the role is unknown; revoke by hand")
                continue
            partition = str(m.role_arn).split(":")[1] if str(m.role_arn).count(":") > 1 else ""
            if key.account_id and (
                account != key.account_id or partition != partition_of(key.region)
            ):
                account = f"{account or '(none named)'}" + (
                    f" (partition {partition})" if partition != partition_of(key.region) else ""
                )
                plan.actions.append(
                    Action(
                        "iam",
                        "PutRolePolicy",
                        {},
                        why=f"revoke sessions of {prose_safe(m.role_arn)} minted by the key",
                        manual=f"in account {account}: attach {REVOKE_POLICY_NAME} to role "
                        f"{prose_safe(role)} (it revokes {_minted_text(m)}); run `torinvest "
                        "actions` there or use the IAM console's 'Revoke active sessions'",
                        targets=(role, m.access_key_id),
                    )
                )
                continue
            target = ("role", role)
            why = f"revoke sessions of role {prose_safe(role)} minted by the key: {_minted_text(m)}"
        else:  # GetSessionToken, GetFederationToken: the user's deny covers them
            name, account, caller = _minter(events, m)
            if caller == "Root" or (caller is None and key.user_type == "Root"):
                plan.actions.append(_root_mint(_minted_text(m), m.access_key_id, m.minted_by))
                continue
            name = name or key.user_name
            if not name:
                plan.notes.append(f"{_minted_text(m)}: the minting user is unknown")
                continue
            if key.account_id and account != key.account_id:
                where = f"in account {account}" if account else "in the account that minted it"
                plan.actions.append(
                    Action(
                        "iam",
                        "PutUserPolicy",
                        {},
                        why=f"revoke the temporary credentials {prose_safe(name)} minted {where}",
                        manual=f"{where}: attach {REVOKE_POLICY_NAME} to user "
                        f"{prose_safe(name)} (it "
                        f"revokes {_minted_text(m)}); run `torinvest actions` there",
                        targets=(name, m.access_key_id),
                    )
                )
                continue
            target = ("user", name)
            why = f"revoke the temporary credentials {prose_safe(name)} minted: {_minted_text(m)}"
        minting = _minting_record(events, m)
        folded = (target[0], target[1].casefold())  # IAM names: case-insensitive
        if folded in revokes:
            i = revokes[folded]
            old = plan.actions[i]
            plan.actions[i] = replace(  # its identity check (role ID, user ID) kept
                old,
                why=f"{old.why}; revokes {_minted_text(m)}",
                targets=(*old.targets, m.access_key_id),
                # a deny the finding justifies stays without records; one that minting records
                # justify takes this one too (any one confirmed is enough)
                records=(*old.records, minting) if old.records else old.records,
            )
        else:
            revokes[folded] = len(plan.actions)
            deny = replace(
                _revoke(target[0], target[1], policy, why, (m.access_key_id,)),
                records=(minting,),
                any_record=True,
            )
            plan.actions.append(_as_finding_user(deny, key) if target[0] == "user" else deny)


# --------------------------------------------------------------------------------------------


def _unrecorded_mints(
    plan: Plan,
    events: pd.DataFrame | None,
    key: KeyLocation,
    found: Sequence[DerivedKey],
    revokes: dict[tuple[str, str], int],
) -> None:
    """A manual step for each call of the key (or a key it minted) that mints temporary
    credentials whose record holds no minted key (``responseElements`` null or omitted; an event
    rebuilt from LookupEvents' own fields; a key ID that is not one): they are valid all the same,
    and no deny in the plan may cover them — never silence, which reads as "no key minted".
    GetSessionToken and GetFederationToken of a user the plan already denies are covered (said
    in that deny's step); an AssumeRole* is revoked on its role, named when the request names
    it."""
    if events is None or not len(events):
        return
    callers = {key.access_key_id, *(m.access_key_id for m in found)}
    known = {m.event_id for m in found if m.event_id}
    rows = events[
        events["event_name"].isin(list(MINTING_EVENTS - {"CreateAccessKey"})).to_numpy(bool)
        & ~failed_rows(events)  # succeeded, or of unknown outcome: it may have minted
        & events["access_key_id"].isin(list(callers)).to_numpy(bool)
    ]
    out = plan.actions
    for row in rows.sort_values("event_time", kind="stable").to_dict("records"):
        event_id = row.get("event_id")
        if _present(event_id) and event_id in known:
            continue
        name = str(row["event_name"])
        t = row["event_time"]
        stamp = "an unknown time" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}Z"
        ref = (
            f"{name} at {stamp} (event {event_id if _present(event_id) else '(no eventID)'}, "
            f"by {row['access_key_id']})"
        )
        said = f"{ref} minted credentials its record does not name"
        caller = row.get("user_type") if _present(row.get("user_type")) else None
        if not name.startswith("AssumeRole") and (
            caller == "Root" or (caller is None and key.user_type == "Root")
        ):
            out.append(_root_mint(f"the unnamed key of {ref}", "", str(row["access_key_id"])))
            continue
        if not name.startswith("AssumeRole"):
            user = row.get("user_name") if _present(row.get("user_name")) else key.user_name
            covering = revokes.get(("user", str(user).casefold())) if user else None
            if covering is not None:  # the deny on the user's older tokens covers it: said there
                old = plan.actions[covering]
                plan.actions[covering] = replace(
                    old, why=f"{old.why}; revokes the unnamed key of {ref}"
                )
                continue
            whose = f"user {user}" if user else "the user that called it"
            out.append(
                Action(
                    "iam",
                    "PutUserPolicy",
                    {},
                    why=said,
                    manual=f"{said}: attach {REVOKE_POLICY_NAME} to {whose} (its tokens issued "
                    "before now), in the account the event names",
                    targets=tuple(str(t) for t in (user, row["access_key_id"]) if t),
                )
            )
            continue
        arn = json_object(row.get("request_parameters")).get("roleArn")
        role = _role_name(str(arn)) if isinstance(arn, str) else None
        what = (
            f"attach {REVOKE_POLICY_NAME} to role {role} ({arn}): it revokes every session of "
            "it issued before now"
            if role
            else "the role it assumed is not recorded either: find it in CloudTrail (the "
            f"event's requestParameters.roleArn) and attach {REVOKE_POLICY_NAME} to it"
        )
        out.append(
            Action(
                "iam",
                "PutRolePolicy",
                {},
                why=said,
                manual=f"{said}: {what}",
                targets=tuple(str(t) for t in (role, row["access_key_id"]) if t),
            )
        )
