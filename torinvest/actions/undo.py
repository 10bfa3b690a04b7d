"""One write of the activity → the steps that undo it, per kind of thing it made or changed
(IAM users, groups, access keys, login profiles, policies, roles, MFA devices; Lambda functions
and permissions), and when a step is a manual one instead of a call: what it removes cannot be
checked, the event's region is not a region name, the event is in another account
(:func:`event_account`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from torinvest.actions.plan import REVOKE_POLICY_NAME, Action, _present
from torinvest.aws.regions import REGION_RE
from torinvest.safety import cli_option, prose_safe
from torinvest.targets import json_object as _params
from torinvest.targets import scalar_text as _text

_LAMBDA_SUFFIX = re.compile(r"\d{8}(v\d+)?$")


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
    # the record's values (a forged one's): no backtick of theirs reads as a command
    when = prose_safe(f"{row['event_name']} at {stamp} from {row.get('source_ip')}")
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
                    f"at {stamp}): this resets the password only — the {REVOKE_POLICY_NAME} deny "
                    "step on it ends its console sessions already signed in",
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
                    f"get-policy {cli_option('--function-name', fn)})",
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
