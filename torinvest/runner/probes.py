"""Probes: a read before a change that tells "already done" (key already inactive, deny
already in place, finding already archived, rule already there).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import orjson
import pandas as pd

from torinvest.actions import REVOKE_POLICY_NAME, Action
from torinvest.actions.plan import iam_key
from torinvest.safety import cli_option

#: How far a resource's CreateDate may be from the activity's create call and still be the same.
SAME_RESOURCE_TOLERANCE = pd.Timedelta(minutes=5)
#: The deny's operations (an inline ``AWSRevokeOlderSessions`` on a user or a role).
DENY_OPERATIONS = ("PutUserPolicy", "PutRolePolicy")


def call_time() -> pd.Timestamp:
    """Now, in UTC: the cutoff of a deny made now (a function of its own: tests pin it)."""
    return pd.Timestamp.now(tz="UTC")


def is_deny(action: Action) -> bool:
    """``action`` is a call that puts the deny (``AWSRevokeOlderSessions``) on a user or role."""
    return (
        not action.manual
        and action.operation in DENY_OPERATIONS
        and action.params.get("PolicyName") == REVOKE_POLICY_NAME
    )


def cut_off_now(action: Action) -> Action:
    """``action`` as it is made now: a deny (a Put of ``AWSRevokeOlderSessions``) gets the time
    of its call as its ``aws:TokenIssueTime``, rounded up to the second. The plan's is when the
    plan was built, and a token issued since (a console sign-in with the actor's password before
    its DeleteLoginProfile ran, a session the key minted before UpdateAccessKey made it inactive)
    would outlive a deny the run says ended it; IAM's ``DateLessThan`` is strict, so a cutoff
    rounded down would spare the tokens of its own second. Every other action as it is."""
    p = action.params
    if not is_deny(action):
        return action
    raw = p.get("PolicyDocument")
    try:  # a copy: the plan's action keeps its own
        document = orjson.loads(raw if isinstance(raw, str | bytes) else orjson.dumps(raw))
    except (orjson.JSONDecodeError, TypeError):
        return action
    planned = _token_issue_time(document)
    have = _as_utc(planned) if planned else None
    now = call_time().tz_convert("UTC").ceil("s")
    if have is None or have >= now:
        return action
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for st in _statements(document):
        if st.get("Effect") == "Deny" and _issue_cutoff(st):
            st["Condition"]["DateLessThan"]["aws:TokenIssueTime"] = stamp
    put = orjson.dumps(document).decode() if isinstance(raw, str | bytes) else document
    return replace(action, params={**p, "PolicyDocument": put})


# probes: is a change already done?
# --------------------------------------------------------------------------------------------
Check = Callable[[Mapping[str, Any] | None], tuple[str, str] | None]


def _probe(action: Action) -> tuple[Action, Check] | None:
    """A read that tells whether ``action`` is already done, and how to read its answer: the
    check returns ``("already-done" | "left-alone", why)``, ``("replace", why)`` (go ahead, saying
    why what is there is not enough), ``("compare", why)`` (something of that name is there: read
    it and compare, :func:`filter_probe`), ``("no-user" | "not-listed", why)`` (the suspect key is
    not under its user's name: the run looks it up by its ID) or None (go ahead). A None answer
    means the probe found nothing ("no such entity")."""
    p = action.params
    op = action.operation

    def read(operation: str, params: Mapping[str, Any], why: str) -> Action:
        return Action(
            action.service,
            operation,
            dict(params),
            why=why,
            region=action.region,
            changes_aws=False,
            targets=action.targets,
        )

    if op == "UpdateAccessKey" and p.get("Status") == "Inactive":
        user, key = p["UserName"], p["AccessKeyId"]

        def key_check(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
            keys = {k.get("AccessKeyId"): k for k in (resp or {}).get("AccessKeyMetadata") or []}
            if resp is None:  # no user of that name: renamed or deleted? (the run looks)
                return "no-user", f"could not look at user {user} (renamed or deleted?)"
            if (
                key not in keys
            ):  # deleted, or its user renamed and this is a newcomer (the run looks)
                return "not-listed", f"user {user} does not list key {key}"
            if keys[key].get("Status") == "Inactive":
                return "already-done", f"key {key} of {user} is already inactive"
            return None

        return read("ListAccessKeys", {"UserName": user}, f"is {key} already inactive?"), key_check
    if op in ("PutUserPolicy", "PutRolePolicy") and p.get("PolicyName") == REVOKE_POLICY_NAME:
        who = {k: v for k, v in p.items() if k in ("UserName", "RoleName")}
        name = next(iter(who.values()))

        needed = _token_issue_time(p.get("PolicyDocument"))

        def revoke_check(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
            if resp is None:
                return None
            stamp = _revokes_all_before((resp or {}).get("PolicyDocument"), needed)
            if stamp:
                return (
                    "already-done",
                    f"{REVOKE_POLICY_NAME} is already on {name} (denies everything to tokens "
                    f"issued before {stamp})",
                )
            return (
                "replace",
                f"the {REVOKE_POLICY_NAME} already on {name} does not deny everything (Action "
                f'"*", Resource "*") to tokens issued before {needed or "now"}: it is replaced',
            )

        get = "GetUserPolicy" if op == "PutUserPolicy" else "GetRolePolicy"
        return (
            read(get, {**who, "PolicyName": REVOKE_POLICY_NAME}, f"is the deny on {name} there?"),
            revoke_check,
        )
    if op == "ArchiveFindings":
        ids = set(p["FindingIds"])

        def archived(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
            found = {
                f.get("Id"): f for f in (resp or {}).get("Findings") or [] if isinstance(f, dict)
            }
            if (
                ids
                and set(found) >= ids
                and all((found[i].get("Service") or {}).get("Archived") for i in ids)
            ):
                return "already-done", f"finding {', '.join(sorted(ids))} is already archived"
            return None

        return read("GetFindings", p, "is the finding already archived?"), archived
    if op == "CreateFilter":
        name = p["Name"]

        def exists(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
            if name in ((resp or {}).get("FilterNames") or []):  # a name only: compare it
                return "compare", f"a suppression rule named {name} exists"
            return None

        return (
            read("ListFilters", {"DetectorId": p["DetectorId"]}, f"does rule {name} exist?"),
            exists,
        )
    return None


def filter_probe(action: Action) -> tuple[Action, Check]:
    """The read (GetFilter) of the rule already named as ``action`` (a CreateFilter) would name
    it, and its check: "already-done" only when its Action and FindingCriteria are exactly the
    planned ones; otherwise "left-alone", naming what differs (a name alone never says done)."""
    p = action.params
    name = p["Name"]
    read = Action(
        action.service,
        "GetFilter",
        {"DetectorId": p["DetectorId"], "FilterName": name},
        why=f"is rule {name} this rule?",
        region=action.region,
        changes_aws=False,
        targets=action.targets,
    )

    def same(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
        if resp is None:
            return (
                "left-alone",
                f"rule {name} is listed but could not be read to compare it with this rule: "
                "check it",
            )
        differs = [
            f"{field} is {_compact(resp.get(field))}, not {_compact(p.get(field))}"
            for field, norm in (("Action", _same), ("FindingCriteria", criteria_meaning))
            if norm(resp.get(field)) != norm(p.get(field))
        ]
        if not differs:
            return (
                "already-done",
                f"suppression rule {name} already exists with this action and these criteria",
            )
        return (
            "left-alone",
            f"a rule named {name} exists but is not this rule: {'; '.join(differs)}; review it "
            f"(aws guardduty get-filter {cli_option('--detector-id', p['DetectorId'])} "
            f"{cli_option('--filter-name', name)}), "
            "then fix or delete it and re-run",
        )

    return read, same


#: GuardDuty's two spellings of each condition (the older short one and the newer long one):
#: an answer may carry either, or both.
_CONDITION_SPELLINGS = {
    "Eq": "Equals",
    "Neq": "NotEquals",
    "Gt": "GreaterThan",
    "Gte": "GreaterThanOrEqual",
    "Lt": "LessThan",
    "Lte": "LessThanOrEqual",
}


def _same(value: Any) -> Any:
    return value


def criteria_meaning(criteria: Any) -> Any:
    """FindingCriteria as what they match: each field's conditions under one spelling (``Eq``
    and ``Equals`` are one condition; empty ones dropped); a condition given twice with two
    values stays as both (so it never compares equal to one). Anything not of that shape is
    returned as it is (and compares as it is)."""
    crit = criteria.get("Criterion") if isinstance(criteria, Mapping) else None
    if not isinstance(crit, Mapping) or set(criteria) != {"Criterion"}:
        return criteria
    meaning: dict[str, Any] = {}
    for field, cond in crit.items():
        if not isinstance(cond, Mapping):
            return criteria
        conds: dict[str, list[Any]] = {}
        for op, value in cond.items():
            if value is None or value == []:
                continue
            name = _CONDITION_SPELLINGS.get(op, op)
            if value not in conds.setdefault(name, []):
                conds[name].append(value)
        meaning[field] = conds
    return meaning


def _compact(value: Any) -> str:
    """``value`` as compact JSON (at most 300 characters) for a sentence."""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return text if len(text) <= 300 else text[:299] + "…"


#: How each kind of created thing is read, and where its creation date is in the answer:
#: kind → (read, its parameter, the answer's object, what it is called in a sentence).
_IDENTITY_READS: dict[str, tuple[str, str, str, str]] = {
    "User": ("GetUser", "UserName", "User", "user"),
    "Role": ("GetRole", "RoleName", "Role", "role"),
    "Group": ("GetGroup", "GroupName", "Group", "group"),
    "Policy": ("GetPolicy", "PolicyArn", "Policy", "managed policy"),
    "LoginProfile": ("GetLoginProfile", "UserName", "LoginProfile", "the login profile of user"),
}


#: Kinds of things IAM can rename (UpdateUser, UpdateGroup): "no such entity" for the name
#: alone does not say it is gone.
RENAMEABLE = frozenset({"User", "Group"})


def principal(action: Action) -> tuple[str, str] | None:
    """``(kind, name)`` of what the activity created that ``action`` acts on (an undo step with
    ``identity`` and ``created_at``), the name folded to lower case as IAM compares names (one
    check per thing and run); else None."""
    if action.manual or not action.identity:
        return None
    kind, name = action.identity[0], action.identity[1]
    if kind == "RoleId":
        return iam_key(kind, f"{name} {action.identity[2]}")
    if not action.created_at:
        return None
    return iam_key(kind, name) if kind in _IDENTITY_READS else None


def identity_probe(action: Action) -> tuple[Action, Check] | None:
    """The read that tells whether what ``action`` acts on (a user, role, group, managed policy
    or login profile the activity created) is the one the activity created (its CreateDate
    within :data:`SAME_RESOURCE_TOLERANCE` of the create call): checked before ANY undo step on
    it — login profile, keys, policies, groups, MFA, the delete — and all of them are left alone
    when it is another (same-named) one."""
    if principal(action) is None or action.identity is None:
        return None
    if action.identity[0] == "RoleId":
        return _role_id_probe(*action.identity[1:3])
    kind, name = action.identity[0], action.identity[1]
    operation, param, field_name, called = _IDENTITY_READS[kind]
    what = f"{called} {name}"
    made = _as_utc(str(action.created_at))
    if made is None:
        return None

    def same(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
        if resp is None and kind in RENAMEABLE:  # deleted, or renamed: the run looks by its ID
            return "not-by-name", f"no {called} named {name} now"
        if resp is None:  # a role or a managed policy is never renamed
            return "already-done", f"{what} no longer exists"
        created = (resp.get(field_name) or {}).get("CreateDate")
        when = _as_utc(str(created)) if created is not None else None
        if when is None:
            return (
                "left-alone",
                f"{what}: AWS did not say when it was created, so it may not be "
                "the one the activity created: left alone, check it by hand",
            )
        if abs(when - made) > SAME_RESOURCE_TOLERANCE:
            return (
                "left-alone",
                f"{what} was created at {when:%Y-%m-%d %H:%M:%S}Z, not by the "
                f"activity's Create{kind} at {made:%Y-%m-%d %H:%M:%S}Z: left alone (nothing "
                "undone on it), check it by hand",
            )
        return None

    read = Action(
        "iam",
        operation,
        {param: name},
        why=f"is {what} the one the actor made? (before any undo step on it)",
        changes_aws=False,
        targets=(name,),
    )
    return read, same


def user_id_probe(action: Action) -> tuple[Action, Check] | None:
    """For the deny on the finding's user (``identity`` ``("UserId", name, AIDA…)``): GetUser on
    the user it now names, and a check that its UserId is the finding's principal ID — never a
    same-named user made after the suspect one was renamed or deleted. None for other actions."""
    if not action.identity or action.identity[0] != "UserId" or len(action.identity) < 3:
        return None
    user_id = action.identity[2]
    name = str(action.params.get("UserName") or action.identity[1])

    def same(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
        if resp is None:
            return (
                "left-alone",
                f"user {name} is not there (renamed or deleted?): the finding's user {user_id} "
                "was not found under that name; find it (aws iam list-users) and revoke there",
            )
        have = (resp.get("User") or {}).get("UserId")
        if have != user_id:
            return (
                "left-alone",
                f"user {name} here is {have or 'of an unknown ID'}, not the finding's user "
                f"{user_id} (a same-named user made later?): left alone (nothing denied on it); "
                "find the finding's user (aws iam list-users, renamed?) and revoke there",
            )
        return None

    read = Action(
        "iam",
        "GetUser",
        {"UserName": name},
        why=f"is user {name} the finding's user {user_id}? (before the deny)",
        changes_aws=False,
        targets=(name,),
    )
    return read, same


def _role_id_probe(name: str, role_id: str) -> tuple[Action, Check]:
    """GetRole ``name``: is it role ``role_id`` (the finding's principal), or a same-named role
    of someone else?"""

    def same(resp: Mapping[str, Any] | None) -> tuple[str, str] | None:
        if resp is None:
            return (
                "left-alone",
                f"role {name} is not in this account: the session's role ({role_id}) is "
                "elsewhere; find it in CloudTrail (sessionIssuer) and revoke there",
            )
        have = (resp.get("Role") or {}).get("RoleId")
        if have != role_id:
            return (
                "left-alone",
                f"role {name} here is {have or 'of an unknown ID'}, not the finding's role "
                f"{role_id}: left alone (its sessions were not revoked); find the session's role "
                "in CloudTrail (sessionIssuer) and revoke there",
            )
        return None

    read = Action(
        "iam",
        "GetRole",
        {"RoleName": name},
        why=f"is role {name} the finding's role {role_id}? (before the deny)",
        changes_aws=False,
        targets=(name,),
    )
    return read, same


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        try:
            document = orjson.loads(document)
        except orjson.JSONDecodeError:
            return []
    if not isinstance(document, Mapping):
        return []
    statements = document.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    return [st for st in statements if isinstance(st, Mapping)]


def _issue_cutoff(st: Mapping[str, Any]) -> str | None:
    """The ``aws:TokenIssueTime`` of a statement's ``DateLessThan``, if it has one."""
    cond = st.get("Condition")
    dlt = cond.get("DateLessThan") if isinstance(cond, Mapping) else None
    if isinstance(dlt, Mapping) and dlt.get("aws:TokenIssueTime"):
        return str(dlt["aws:TokenIssueTime"])
    return None


def _token_issue_time(document: Any) -> str | None:
    """The first Deny's token issue cutoff in ``document`` (the plan's own deny)."""
    for st in _statements(document):
        if st.get("Effect") == "Deny" and _issue_cutoff(st):
            return _issue_cutoff(st)
    return None


def _is_star(value: Any) -> bool:
    return value == "*" or (isinstance(value, list) and "*" in value)


def _as_utc(text: str) -> pd.Timestamp | None:
    try:
        t = pd.Timestamp(text)
    except (ValueError, TypeError):
        return None
    if pd.isna(t):
        return None
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _revokes_all_before(document: Any, needed: str | None) -> str | None:
    """The cutoff of a statement of ``document`` that revokes as much as the planned deny: Deny,
    Action "*", Resource "*", no other condition than ``DateLessThan aws:TokenIssueTime`` at or
    after ``needed``; None when no statement does (too narrow, too early, or unreadable)."""
    want = _as_utc(needed) if needed else None
    for st in _statements(document):
        if st.get("Effect") != "Deny" or "NotAction" in st or "NotResource" in st:
            continue
        if not (_is_star(st.get("Action")) and _is_star(st.get("Resource"))):
            continue
        cond = st.get("Condition")
        stamp = _issue_cutoff(st)
        if (
            not stamp
            or set(cond) != {"DateLessThan"}
            or set(cond["DateLessThan"]) != {"aws:TokenIssueTime"}
        ):
            continue
        have = _as_utc(stamp)
        if have is not None and (want is None or have >= want):
            return stamp
    return None


# --------------------------------------------------------------------------------------------
