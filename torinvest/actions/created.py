"""What the activity created (users, roles, groups, managed policies: each with the time of its
create call and its unique ID) and the undo steps tied to it: an undo call on something the
activity created carries what it is, for the runner's identity check; a step that may remove
what was there before, or that acts on a principal the activity renamed, is a manual one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from torinvest.actions.plan import Action, Record, iam_key, record_of
from torinvest.actions.undo import _unverifiable, event_account
from torinvest.safety import cli_option
from torinvest.targets import json_object as _params
from torinvest.targets import scalar_text as _text

#: Undo calls of writes that succeed the same when what they add was already there (an attach,
#: a group membership) or that overwrite what was there (a Put of an inline policy).
_IDEMPOTENT_UNDO = {
    "DetachUserPolicy": "attached",
    "DetachRolePolicy": "attached",
    "DetachGroupPolicy": "attached",
    "RemoveUserFromGroup": "member",
    "DeleteUserPolicy": "inline",
    "DeleteRolePolicy": "inline",
    "DeleteGroupPolicy": "inline",
}
_CREATES = {
    "CreateUser": ("User", "userName"),
    "CreateRole": ("Role", "roleName"),
    "CreateGroup": ("Group", "groupName"),
}
#: The parameter that names each kind of thing the activity can create, in the order an undo
#: step's identity is chosen (the principal before the policy).
_NAMED_BY = (
    ("User", "UserName"),
    ("Role", "RoleName"),
    ("Group", "GroupName"),
    ("Policy", "PolicyArn"),
)
#: The unique ID each create call's answer (responseElements) gives what it created.
_CREATED_IDS = {
    "User": ("user", "userId"),
    "Role": ("role", "roleId"),
    "Group": ("group", "groupId"),
}
#: What the activity created: (kind, name compared without case) → (name, time of the create
#: call or None when the record has no usable time, its unique ID or None when the record does
#: not give it, the create's record: confirmed with CloudTrail before a step relies on it).
Made = Mapping[tuple[str, str], tuple[str, pd.Timestamp | None, str | None, Record]]


def _made_by_activity(ok: pd.DataFrame, account: str | None = None) -> Made:
    """The users, roles, groups and managed policies the activity created (successful calls in
    ``account``, the finding's, when given), each with the time of its create call (None when
    no record of it has a usable time). IAM names are compared without regard to case."""
    made: dict[tuple[str, str], tuple[str, pd.Timestamp | None, str | None, Record]] = {}
    for row in ok.sort_values("event_time", kind="stable").to_dict("records"):
        name, t = str(row["event_name"]), row["event_time"]
        if str(row.get("event_source")) != "iam.amazonaws.com":
            continue
        if account is not None and event_account(row) != account:
            continue
        req, resp = _params(row.get("request_parameters")), _params(row.get("response_elements"))
        when = None if pd.isna(t) else t
        if name in _CREATES:
            kind, field_name = _CREATES[name]
            value = _text(req.get(field_name))
            if value:
                made.setdefault(
                    iam_key(kind, value),
                    (value, when, _created_id(kind, resp), record_of(row)),
                )
        elif name == "CreatePolicy" and isinstance(resp.get("policy"), dict):
            arn = _text(resp["policy"].get("arn"))
            if arn:
                made.setdefault(iam_key("Policy", arn), (arn, when, None, record_of(row)))
    return made


def _created_id(kind: str, resp: Mapping[str, Any]) -> str | None:
    """The unique ID (``AIDA…``, ``AROA…``, ``AGPA…``) a create call's answer gives what it
    created, when it gives one (an ID has no colon nor space)."""
    key, field_name = _CREATED_IDS[kind]
    made = resp.get(key)
    found = _text(made.get(field_name)) if isinstance(made, dict) else None
    return found if found and re.fullmatch(r"[A-Za-z0-9]{16,128}", found) else None


def _made_entity(
    action: Action, made: Made
) -> tuple[str, str, pd.Timestamp | None, str | None, Record | None] | None:
    """(kind, name, time, unique ID, the create's record) of the first thing the activity
    created that ``action`` acts on."""
    for kind, param in _NAMED_BY:
        value = action.params.get(param)
        if isinstance(value, str) and iam_key(kind, value) in made:
            name, when, uid, record = made[iam_key(kind, value)]
            return kind, name, when, uid, record
    return None


def _unless_preexisting(action: Action, row: Mapping[str, Any], made: Made) -> Action:
    """``action``, or a manual step when CloudTrail cannot tell whether what it removes existed
    before the actor's call: an attach or a group membership succeeds the same when already in
    place, and a Put overwrites an inline policy of the same name. It stays a call only when the
    activity created, before that call, the principal (or the group, or the managed policy), so
    nothing of it can have been there before."""
    what = _IDEMPOTENT_UNDO.get(action.operation)
    if what is None or action.manual:
        return action
    t = row["event_time"]
    p = action.params
    owners = [
        (kind, str(p[f"{kind}Name"])) for kind in ("User", "Role", "Group") if f"{kind}Name" in p
    ]
    if "PolicyArn" in p and what == "attached":
        owners.append(("Policy", str(p["PolicyArn"])))
    times = [made[iam_key(*o)][1] for o in owners if iam_key(*o) in made]
    if not pd.isna(t) and any(when is not None and when <= t for when in times):
        return action
    who = " ".join(f"{k.lower()} {n}" for k, n in owners if k != "Policy")
    stamp = "an unknown time" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}Z"
    if what == "inline":
        how = (
            f"CloudTrail does not say whether {who} already had inline policy {p['PolicyName']} "
            f"before {stamp} (a Put overwrites it, and no call brings the old one back): if it "
            f"did, restore its earlier document (IaC, a backup, AWS Config); if not: "
            f"{action.cli()}"
        )
    else:
        thing = p.get("PolicyArn") if what == "attached" else f"group {p.get('GroupName')}"
        had = "attached to" if what == "attached" else "a membership of"
        how = (
            f"could not tell whether {thing} was already {had} {who} before {stamp} (the call "
            "succeeds the same either way): check by hand (earlier CloudTrail, IaC, AWS Config) "
            f"and only if it was not: {action.cli()}"
        )
    return Action(
        action.service,
        action.operation,
        {},
        why=f"{action.why} — it may have been there before",
        region=action.region,
        manual=how,
        targets=action.targets,
    )


#: Undo calls made only on a principal the activity created (checked like it before the call):
#: on any other one, what they remove cannot be checked to be the actor's — each gives why.
_CREATOR_CHECKED: dict[str, Callable[[Action], str]] = {
    "DeactivateMFADevice": lambda a: (
        f"user {a.params.get('UserName')} was not created by the activity, and the run does not "
        f"check when MFA device {a.params.get('SerialNumber')} was enabled on it (a device of "
        "that serial enabled again later may be its owner's; aws iam list-mfa-devices "
        f"{cli_option('--user-name', a.params.get('UserName'))} shows its EnableDate)"
    ),
}


def _tie_to_creation(actions: list[Action], made: Made) -> list[Action]:
    """Every undo call on something the activity created (a user, role, group or managed policy,
    names compared without case) carries what it is and when it was created, like the delete:
    the runner checks that the one in AWS is that one before any of them. A login profile added
    to a user the activity did not create is checked by its own creation time. When the create
    call's record has no usable time, nothing can be checked: each step is a manual one."""
    out = []
    for a in actions:
        if a.manual or not a.absent_ok:
            out.append(a)
            continue
        found = _made_entity(a, made)
        if found is None and a.operation == "DeleteLoginProfile":
            user = str(a.params["UserName"])
            when = pd.Timestamp(a.created_at) if a.created_at else None
            found = ("LoginProfile", user, when, None, None)
        if found is None and a.operation in _CREATOR_CHECKED:
            out.append(_unverifiable(a, _CREATOR_CHECKED[a.operation](a)))
            continue
        if found is None:
            out.append(replace(a, created_at=None))
            continue
        kind, name, when, uid, record = found
        if when is None:
            what = (
                f"the login profile of user {name}"
                if kind == "LoginProfile"
                else f"{kind.lower()} {name}"
            )
            out.append(
                _unverifiable(
                    a,
                    f"the activity's Create{kind} of {what} has no usable time (eventTime), so "
                    f"it cannot be checked that {what} in AWS is the one it created",
                )
            )
            continue
        identity = (kind, name, uid) if uid else (kind, name)
        records = a.records if record is None or record in a.records else (*a.records, record)
        out.append(replace(a, created_at=when.isoformat(), identity=identity, records=records))
    return out


#: A rename the activity made: (kind, old name, new name, when; None: no usable eventTime).
Rename = tuple[str, str, str, pd.Timestamp | None]


def _renamed_by_activity(ok: pd.DataFrame, account: str | None = None) -> list[Rename]:
    """Users and groups the activity renamed (UpdateUser, UpdateGroup with a new name, in
    ``account`` when given), in event order (renames without a usable time last)."""
    rows = ok[ok["event_name"].isin(["UpdateUser", "UpdateGroup"])]
    renamed: list[Rename] = []
    for row in rows.sort_values("event_time", kind="stable").to_dict("records"):
        if account is not None and event_account(row) != account:
            continue
        req = _params(row.get("request_parameters"))
        kind = "User" if row["event_name"] == "UpdateUser" else "Group"
        old = _text(req.get(f"{kind.lower()}Name"))
        new = _text(req.get(f"new{kind}Name"))
        t = row["event_time"]
        if old and new and old.casefold() != new.casefold():
            renamed.append((kind, old, new, None if pd.isna(t) else t))
    return renamed


def _follow_renames(
    kind: str, name: str, since: pd.Timestamp | None, renames: list[Rename]
) -> tuple[list[str], str | None]:
    """The names ``kind`` ``name`` went by after ``since`` (the time of the event an undo step
    comes from), following the activity's renames in event order: ``[name, …, current]``; and
    why the current name cannot be told for sure (a rename of one of those names without a
    usable time, or an undo step whose own event has none), else None."""
    chain = [name]
    unsure: str | None = None
    for k, old, new, when in renames:
        if k != kind:
            continue
        touches = {old.casefold(), new.casefold()} & {n.casefold() for n in chain}
        if when is None or since is None:
            if touches:
                unsure = (
                    f"the activity renamed {kind.lower()} {old} to {new}"
                    + (" at a time its record does not give" if when is None else "")
                    + (", and this step's own event has no usable time" if since is None else "")
                    + f": it cannot be told what {kind.lower()} {name} is called now"
                )
            continue
        if when <= since:
            continue
        if old.casefold() == chain[-1].casefold():
            chain.append(new)
    return chain, unsure


def _after_renames(
    actions: list[Action],
    times: list[pd.Timestamp | None],
    renames: list[Rename],
) -> list[Action]:
    """Undo calls on a user or group the activity renamed after the event each comes from
    (``times``, one per action) are manual steps under its current name — the renames followed
    in event order (a→b, then b→c: c) — or, when the order cannot be told, manual steps saying
    so: under an old name a call finds nothing (and would say "already done"), or finds a newer,
    same-named principal that is someone else's."""
    out = []
    for a, since in zip(actions, times, strict=True):
        hit = None
        for kind in ("User", "Group"):
            value = a.params.get(f"{kind}Name")
            if a.manual or not isinstance(value, str):
                continue
            chain, unsure = _follow_renames(kind, value, since, renames)
            if len(chain) > 1 or unsure:
                hit = (kind, chain, unsure)
                break
        if hit is None:
            out.append(a)
            continue
        kind, chain, unsure = hit
        old, new = chain[0], chain[-1]
        if unsure:
            out.append(_unverifiable(a, f"{unsure}: find its current name ({_list_cmd(kind)})"))
            continue
        moved = replace(
            a,
            params={**a.params, f"{kind}Name": new},
            targets=tuple(new if t == old else t for t in a.targets),
        )
        path = " to ".join(chain)
        out.append(
            _unverifiable(
                moved,
                f"the activity renamed {kind.lower()} {path}, so this step is for {new} now "
                f"(and a {kind.lower()} named {old} today is not the one it acted on)",
            )
        )
    return out


def _list_cmd(kind: str) -> str:
    return f"aws iam list-{kind.lower()}s; CloudTrail Update{kind}"
