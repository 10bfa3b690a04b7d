"""The evidence: what the activity created, changed and read — each undo step, each manual
step naming its target, each secret to rotate.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from torinvest.actions.plan import Action, _present, iam_key
from torinvest.aws.regions import REGION_RE
from torinvest.targets import MORE_KIND, SECRET_READS, read_names, row_targets, targets_text
from torinvest.targets import json_object as _params
from torinvest.targets import scalar_text as _text

_LAMBDA_SUFFIX = re.compile(r"\d{8}(v\d+)?$")


# the evidence: what the activity created, changed and read
# --------------------------------------------------------------------------------------------
def _base_name(name: str, source: str) -> str:
    """Lambda's versioned event names (CreateFunction20150331) without the version suffix."""
    return _LAMBDA_SUFFIX.sub("", name) if source == "lambda.amazonaws.com" else name


def _undo(
    op: str,
    params: Mapping[str, Any],
    why: str,
    targets: Iterable[str],
    *,
    service: str = "iam",
    region: str | None = None,
    created_at: str | None = None,
) -> Action:
    return Action(
        service,
        op,
        dict(params),
        why=why,
        region=region,
        targets=tuple(targets),
        absent_ok=True,
        created_at=created_at,
    )


def _unverifiable(action: Action, reason: str) -> Action:
    """``action`` as a manual step: what it deletes cannot be checked to be what the activity
    made (a same-named one made at another time may be someone else's)."""
    return Action(
        action.service,
        action.operation,
        {},
        why=f"{action.why} — not checkable, left to you",
        region=action.region,
        manual=f"{reason}: check it by hand (its owner, CloudTrail), and only if it is: "
        f"{action.cli()}",
        targets=action.targets,
    )


def _in_a_region(action: Action) -> Action:
    """``action``, or a manual step when the region its event names is not a region name (a
    damaged or forged record): no call is made to a region nobody can check."""
    if not action.region or REGION_RE.match(action.region):
        return action
    if action.manual:  # a manual step already: say the region is not one too
        return replace(
            action,
            why=f"{action.why} — the event's region is not a region name",
            manual=f"the event names region {action.region!r}, which is not an AWS region name "
            f"(a damaged or forged record): find where it happened; {action.manual}",
        )
    return Action(
        action.service,
        action.operation,
        {},
        why=f"{action.why} — the event's region is not a region name",
        manual=f"the event names region {action.region!r}, which is not an AWS region name (a "
        "damaged or forged record): find where it happened, then: "
        + replace(action, region="REGION").cli(),
        targets=action.targets,
    )


def _manual(
    op: str, what: str, why: str, targets: Iterable[str], *, service: str = "iam"
) -> Action:
    return Action(service, op, {}, why=why, manual=what, targets=tuple(targets))


def _undo_one(row: Mapping[str, Any]) -> list[Action]:
    """The calls (or manual steps) that undo one write of the activity; empty when none."""
    source = str(row.get("event_source") or "")
    name = _base_name(str(row["event_name"]), source)
    req = _params(row.get("request_parameters"))
    resp = _params(row.get("response_elements"))
    t = row["event_time"]
    stamp = "an unknown time" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}Z"  # no usable eventTime
    when = f"{row['event_name']} at {stamp} from {row.get('source_ip')}"
    created = None if pd.isna(t) else t.isoformat()
    region = str(row.get("aws_region")) if _present(row.get("aws_region")) else None
    user, role = _text(req.get("userName")), _text(req.get("roleName"))
    group = _text(req.get("groupName"))
    policy_arn, policy_name = _text(req.get("policyArn")), _text(req.get("policyName"))
    a: list[Action] = []
    if source == "iam.amazonaws.com":
        if name == "CreateUser" and user:
            a.append(
                _undo(
                    "DeleteUser",
                    {"UserName": user},
                    f"undo {when} (after its keys, policies and login profile)",
                    (user,),
                    created_at=created,
                )
            )
        elif name == "CreateGroup" and group:
            a.append(
                _undo(
                    "DeleteGroup",
                    {"GroupName": group},
                    f"undo {when} (after the members and policies the activity gave it)",
                    (group,),
                    created_at=created,
                )
            )
        elif name == "CreateAccessKey":
            made = resp.get("accessKey") if isinstance(resp.get("accessKey"), dict) else {}
            key_id, owner = _text(made.get("accessKeyId")), _text(made.get("userName")) or user
            if key_id and owner:
                a += [
                    _undo(
                        "UpdateAccessKey",
                        {"UserName": owner, "AccessKeyId": key_id, "Status": "Inactive"},
                        f"undo {when}: deactivate the key it created",
                        (owner, key_id),
                    ),
                    _undo(
                        "DeleteAccessKey",
                        {"UserName": owner, "AccessKeyId": key_id},
                        f"undo {when}: delete the key it created",
                        (owner, key_id),
                    ),
                ]
        elif name == "UpdateAccessKey" and req.get("status") == "Active" and user:
            key_id = _text(req.get("accessKeyId"))
            if key_id:
                a.append(
                    _undo(
                        "UpdateAccessKey",
                        {"UserName": user, "AccessKeyId": key_id, "Status": "Inactive"},
                        f"undo {when}: it re-activated the key",
                        (user, key_id),
                    )
                )
        elif name == "CreateLoginProfile" and user:
            a.append(
                _undo(
                    "DeleteLoginProfile",
                    {"UserName": user},
                    f"undo {when}",
                    (user,),
                    created_at=created,
                )
            )
        elif name == "AttachUserPolicy" and user and policy_arn:
            a.append(
                _undo(
                    "DetachUserPolicy",
                    {"UserName": user, "PolicyArn": policy_arn},
                    f"undo {when}",
                    (user, policy_arn),
                )
            )
        elif name == "PutUserPolicy" and user and policy_name:
            a.append(
                _undo(
                    "DeleteUserPolicy",
                    {"UserName": user, "PolicyName": policy_name},
                    f"undo {when}",
                    (user, policy_name),
                )
            )
        elif name == "AddUserToGroup" and user and group:
            a.append(
                _undo(
                    "RemoveUserFromGroup",
                    {"UserName": user, "GroupName": group},
                    f"undo {when}",
                    (user, group),
                )
            )
        elif name == "AttachGroupPolicy" and group and policy_arn:
            a.append(
                _undo(
                    "DetachGroupPolicy",
                    {"GroupName": group, "PolicyArn": policy_arn},
                    f"undo {when}",
                    (group, policy_arn),
                )
            )
        elif name == "PutGroupPolicy" and group and policy_name:
            a.append(
                _undo(
                    "DeleteGroupPolicy",
                    {"GroupName": group, "PolicyName": policy_name},
                    f"undo {when}",
                    (group, policy_name),
                )
            )
        elif name == "CreateRole" and role:
            a.append(
                _undo(
                    "DeleteRole",
                    {"RoleName": role},
                    f"undo {when} (after its policies; its sessions end with it)",
                    (role,),
                    created_at=created,
                )
            )
        elif name == "AttachRolePolicy" and role and policy_arn:
            a.append(
                _undo(
                    "DetachRolePolicy",
                    {"RoleName": role, "PolicyArn": policy_arn},
                    f"undo {when}",
                    (role, policy_arn),
                )
            )
        elif name == "PutRolePolicy" and role and policy_name:
            a.append(
                _undo(
                    "DeleteRolePolicy",
                    {"RoleName": role, "PolicyName": policy_name},
                    f"undo {when}",
                    (role, policy_name),
                )
            )
        elif name == "CreatePolicy":
            made = resp.get("policy") if isinstance(resp.get("policy"), dict) else {}
            arn = _text(made.get("arn"))
            if arn:
                a.append(
                    _undo(
                        "DeletePolicy",
                        {"PolicyArn": arn},
                        f"undo {when} (after it is detached everywhere)",
                        (arn,),
                        created_at=created,
                    )
                )
        elif name == "EnableMFADevice" and user and _text(req.get("serialNumber")):
            serial = str(req["serialNumber"])
            a.append(
                _undo(
                    "DeactivateMFADevice",
                    {"UserName": user, "SerialNumber": serial},
                    f"undo {when}: an MFA device the actor controls",
                    (user, serial),
                )
            )
        elif name == "CreateVirtualMFADevice":
            made = resp.get("virtualMFADevice")
            serial = _text(made.get("serialNumber")) if isinstance(made, dict) else None
            if serial:
                a.append(
                    _unverifiable(
                        _undo(
                            "DeleteVirtualMFADevice",
                            {"SerialNumber": serial},
                            f"undo {when}",
                            (serial,),
                        ),
                        f"IAM does not say when virtual MFA device {serial} was created, so it "
                        f"cannot be checked that it is the one {row['event_name']} made at {stamp}",
                    )
                )
        elif name == "UpdateAssumeRolePolicy" and role:
            a.append(
                _manual(
                    name,
                    f"restore the trust policy of role {role} as it was before {stamp}: the "
                    "actor set the policyDocument in this event's requestParameters (who may "
                    "assume the role now?)",
                    f"{when} changed the trust policy of role {role}",
                    (role,),
                )
            )
        elif name in ("UpdateUser", "UpdateGroup") and (user or group):
            kind, old = ("user", user) if name == "UpdateUser" else ("group", group)
            new = _text(req.get("newUserName" if kind == "user" else "newGroupName"))
            path = _text(req.get("newPath"))
            if new or path:
                now = new or old
                key = "User" if kind == "user" else "Group"
                back = Action(
                    "iam",
                    name,
                    {f"{key}Name": now, **({f"New{key}Name": old} if new else {})},
                    why="",
                ).cli()
                a.append(
                    _manual(
                        name,
                        f"the actor renamed {kind} {old}"
                        + (f" to {new}" if new else "")
                        + (f" (path {path})" if path else "")
                        + f" at {stamp}: it is {now} now — every step above on {old} may find "
                        f"nothing under that name; review it under {now} and rename it back "
                        f"with its owner ({back}, and --new-path as before)",
                        f"{when} renamed {kind} {old}",
                        tuple(t for t in (old, new) if t),
                    )
                )
        elif name == "UpdateLoginProfile" and user:
            a.append(
                _manual(
                    name,
                    f"reset the console password of {user} with its owner (the actor set it "
                    f"at {stamp}); sign out its console sessions",
                    f"{when} changed the console password of {user}",
                    (user,),
                )
            )
        elif name in ("CreatePolicyVersion", "SetDefaultPolicyVersion") and policy_arn:
            version = _text(req.get("versionId")) or _text(
                (resp.get("policyVersion") or {}).get("versionId")
                if isinstance(resp.get("policyVersion"), dict)
                else None
            )
            a.append(
                _manual(
                    name,
                    f"make the version of {policy_arn} that was the default before {stamp} the "
                    f"default again (set-default-policy-version), then delete version "
                    f"{version or '(the new one)'}",
                    f"{when} changed the permissions of {policy_arn}",
                    (policy_arn,),
                )
            )
    elif source == "lambda.amazonaws.com":
        fn = _text(req.get("functionName"))
        if name == "CreateFunction" and fn:
            a.append(
                _unverifiable(
                    _undo(
                        "DeleteFunction",
                        {"FunctionName": fn},
                        f"undo {when}: a function the actor created",
                        (fn,),
                        service="lambda",
                        region=region,
                    ),
                    f"Lambda does not say when function {fn} was created (LastModified changes "
                    f"with every update), so it cannot be checked that it is the one "
                    f"{row['event_name']} made at {stamp}",
                )
            )
        elif name == "AddPermission" and fn and _text(req.get("statementId")):
            sid = str(req["statementId"])
            qualifier = _text(req.get("qualifier"))  # a version's or alias's own policy
            scope = {"Qualifier": qualifier} if qualifier else {}
            a.append(
                _unverifiable(
                    _undo(
                        "RemovePermission",
                        {"FunctionName": fn, "StatementId": sid, **scope},
                        f"undo {when}: who may invoke {fn}",
                        (fn, sid),
                        service="lambda",
                        region=region,
                    ),
                    f"Lambda does not say when statement {sid} was added to the policy of "
                    f"function {fn} (nor when the function was created), so it cannot be checked "
                    f"that it is the one {row['event_name']} added at {stamp} (aws lambda "
                    f"get-policy --function-name {fn})",
                )
            )
    return a


def _arn_account(arn: Any) -> str | None:
    parts = str(arn).split(":") if _present(arn) else []
    return parts[4] if len(parts) > 5 and parts[4].isdigit() else None


def event_account(row: Mapping[str, Any]) -> str | None:
    """The account an event happened in: its ``recipientAccountId``, else the account in its
    caller's ARNs (``userIdentity.arn``, the session issuer), else ``userIdentity.accountId``;
    None when it names none."""
    recipient = row.get("recipient_account_id")
    if _present(recipient) and str(recipient).strip().isdigit():
        return str(recipient).strip()
    for arn in (row.get("arn"), row.get("session_issuer_arn")):
        found = _arn_account(arn)
        if found:
            return found
    caller = row.get("account_id")
    return str(caller).strip() if _present(caller) and str(caller).strip().isdigit() else None


def _elsewhere(action: Action, account: str | None) -> Action:
    """``action`` as a manual step in ``account`` (another account than the finding's, or an
    unknown one): never a call with the finding account's credentials."""
    where = f"in account {account}" if account else "in the account the event names (none)"
    how = action.manual if action.manual else f"by hand: {action.cli()}"
    return Action(
        action.service,
        action.operation,
        {},
        why=f"{action.why} — {where}, not the finding's account",
        region=action.region,
        manual=f"{where}: {how}",
        targets=action.targets,
    )


def _catalogue() -> pd.DataFrame:
    from torinvest.analysis import load_catalogue

    return load_catalogue()


#: Catalogue categories whose writes are left to a manual step when no undo call is known.
_MANUAL_CATEGORIES = frozenset(
    {"persistence", "privilege-escalation", "defense-evasion", "exfiltration", "impact"}
)


def undo_persistence(events: pd.DataFrame | None, account: str | None = None) -> list[Action]:
    """Undo calls for every successful write in ``events`` that created or changed something,
    newest first; writes the sensitive-actions catalogue knows but no call can safely undo
    become manual steps naming their target.

    ``account`` is the finding's (where the run's calls go): a write made in another account
    (:func:`event_account`), or in none the event names, is a manual step naming that account,
    never a call here."""
    if events is None or not len(events):
        return []
    ok = events[events["error_code"].isna()]
    rows = ok.sort_values("event_time", ascending=False, kind="stable")
    cat = _catalogue()
    known = {
        (str(r.event_name), str(r.event_source)): r
        for r in cat.itertuples(index=False)
        if r.category in _MANUAL_CATEGORIES
    }
    made = _made_by_activity(ok, account)
    out: list[Action] = []
    for row in rows.to_dict("records"):
        here = event_account(row)
        local = account is None or here == account
        undo = [_in_a_region(_unless_preexisting(a, row, made)) for a in _undo_one(row)]
        if undo:
            out += undo if local else [_elsewhere(a, here) for a in undo]
            continue
        entry = known.get((str(row["event_name"]), str(row.get("event_source"))))
        if entry is None or row["event_name"] in SECRET_READS or row.get("read_only") is True:
            continue
        found = row_targets(row)
        target = targets_text(found)
        t = row["event_time"]
        stamp = "an unknown time" if pd.isna(t) else f"{t:%Y-%m-%d %H:%M:%S}Z"
        where = f" in {row.get('aws_region')}" if _present(row.get("aws_region")) else ""
        in_account = "" if local else f"in account {here or '(none named)'}: "
        out.append(
            _manual(
                str(row["event_name"]),
                f"{in_account}review and undo {row['event_name']}{where} on "
                f"{target or '(see the event)'} at {stamp}: {entry.note}",
                f"{row['event_name']} at {stamp} from {row.get('source_ip')} ({entry.category})",
                tuple(t.value for t in found if t.kind != MORE_KIND),
                service=str(row.get("event_source") or "").split(".")[0] or "iam",
            )
        )
    return _after_renames(_tie_to_creation(out, made), _renamed_by_activity(ok, account))


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
#: not give it).
Made = Mapping[tuple[str, str], tuple[str, pd.Timestamp | None, str | None]]


def _made_by_activity(ok: pd.DataFrame, account: str | None = None) -> Made:
    """The users, roles, groups and managed policies the activity created (successful calls in
    ``account``, the finding's, when given), each with the time of its create call (None when
    no record of it has a usable time). IAM names are compared without regard to case."""
    made: dict[tuple[str, str], tuple[str, pd.Timestamp | None, str | None]] = {}
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
                made.setdefault(iam_key(kind, value), (value, when, _created_id(kind, resp)))
        elif name == "CreatePolicy" and isinstance(resp.get("policy"), dict):
            arn = _text(resp["policy"].get("arn"))
            if arn:
                made.setdefault(iam_key("Policy", arn), (arn, when, None))
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
) -> tuple[str, str, pd.Timestamp | None, str | None] | None:
    """(kind, name, time, unique ID) of the first thing the activity created that ``action``
    acts on."""
    for kind, param in _NAMED_BY:
        value = action.params.get(param)
        if isinstance(value, str) and iam_key(kind, value) in made:
            name, when, uid = made[iam_key(kind, value)]
            return kind, name, when, uid
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
        f"--user-name {a.params.get('UserName')} shows its EnableDate)"
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
            found = ("LoginProfile", user, when, None)
        if found is None and a.operation in _CREATOR_CHECKED:
            out.append(_unverifiable(a, _CREATOR_CHECKED[a.operation](a)))
            continue
        if found is None:
            out.append(replace(a, created_at=None))
            continue
        kind, name, when, uid = found
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
        out.append(replace(a, created_at=when.isoformat(), identity=identity))
    return out


def _renamed_by_activity(
    ok: pd.DataFrame, account: str | None = None
) -> dict[tuple[str, str], tuple[str, str]]:
    """Users and groups the activity renamed (UpdateUser, UpdateGroup with a new name, in
    ``account`` when given): (kind, old name folded) → (old name, new name)."""
    rows = ok[ok["event_name"].isin(["UpdateUser", "UpdateGroup"])]
    renamed: dict[tuple[str, str], tuple[str, str]] = {}
    for row in rows.to_dict("records"):
        if account is not None and event_account(row) != account:
            continue
        req = _params(row.get("request_parameters"))
        kind = "User" if row["event_name"] == "UpdateUser" else "Group"
        old = _text(req.get(f"{kind.lower()}Name"))
        new = _text(req.get(f"new{kind}Name"))
        if old and new:
            renamed[iam_key(kind, old)] = (old, new)
    return renamed


def _after_renames(
    actions: list[Action], renamed: Mapping[tuple[str, str], tuple[str, str]]
) -> list[Action]:
    """Undo calls on a user or group the activity renamed are manual steps under its new name:
    under the old one a call finds nothing (and would say "already done"), or finds a newer,
    same-named principal that is someone else's."""
    out = []
    for a in actions:
        hit = next(
            (
                (kind, *renamed[iam_key(kind, str(a.params[f"{kind}Name"]))])
                for kind in ("User", "Group")
                if not a.manual
                and isinstance(a.params.get(f"{kind}Name"), str)
                and iam_key(kind, str(a.params[f"{kind}Name"])) in renamed
            ),
            None,
        )
        if hit is None:
            out.append(a)
            continue
        kind, old, new = hit
        moved = replace(a, params={**a.params, f"{kind}Name": new})
        out.append(
            _unverifiable(
                moved,
                f"the activity renamed {kind.lower()} {old} to {new}, so this step is for {new} "
                f"now (and a {kind.lower()} named {old} today is not the one it acted on)",
            )
        )
    return out


def rotate_secrets(events: pd.DataFrame | None, account: str | None = None) -> list[Action]:
    """One manual rotation step per secret or parameter the activity read successfully (naming
    its account when it is not ``account``, the finding's)."""
    if events is None or not len(events):
        return []
    rows = events[events["event_name"].isin(list(SECRET_READS)) & events["error_code"].isna()]
    seen: dict[tuple[str, str, str | None], pd.Timestamp] = {}
    for row in rows.sort_values("event_time", kind="stable").to_dict("records"):
        region = str(row.get("aws_region")) if _present(row.get("aws_region")) else None
        here = event_account(row)
        if account is not None and here != account:
            region = f"{region or '?'} of account {here or '(none named)'}"
        kind = "secret" if str(row["event_name"]).endswith("SecretValue") else "parameter"
        for n in read_names(str(row["event_name"]), _params(row.get("request_parameters"))):
            seen.setdefault((kind, n, region), row["event_time"])
    out = []
    for (kind, n, region), when in seen.items():
        where = f" in {region}" if region else ""
        if kind == "secret":
            how = (
                f"rotate secret {n}{where}: change it at its source, then store the new value "
                f"(aws secretsmanager put-secret-value, or rotate-secret if rotation is set up)"
            )
            op, service = "RotateSecret", "secretsmanager"
        else:
            how = (
                f"rotate parameter {n}{where}: change it at its source, then store the new value "
                "(aws ssm put-parameter --overwrite)"
            )
            op, service = "PutParameter", "ssm"
        out.append(
            Action(
                service,
                op,
                {},
                why=f"the actor read {kind} {n} at {when:%Y-%m-%d %H:%M:%S}Z",
                region=region,
                manual=how,
                targets=(n,),
            )
        )
    return out


def failed_secret_reads(events: pd.DataFrame | None) -> list[str]:
    """Secrets and parameters the activity tried to read and was refused or did not find."""
    if events is None or not len(events):
        return []
    rows = events[events["event_name"].isin(list(SECRET_READS)) & events["error_code"].notna()]
    out: list[str] = []
    for row in rows.to_dict("records"):
        for n in read_names(str(row["event_name"]), _params(row.get("request_parameters"))):
            text = f"{n} ({row['error_code']})"
            if text not in out:
                out.append(text)
    return out
