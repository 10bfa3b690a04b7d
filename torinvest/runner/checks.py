"""Before a change, what exists now: whether the principal an undo step acts on is the one the
activity created (by its creation time, and by its unique ID when it is not under its name), the
finding's user, where the suspect key went (its user renamed), what a group still holds before
its delete; then the change itself, unless a probe shows it done (:func:`_change`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from torinvest.actions import Action
from torinvest.runner.confirm import unconfirmed
from torinvest.runner.probes import (
    _probe,
    cut_off_now,
    filter_probe,
    identity_probe,
    principal,
    user_id_probe,
)
from torinvest.runner.recorder import CallResult, Runner
from torinvest.safety import cli_option


def _identity(runner: Runner, action: Action) -> tuple[str, str] | None:
    """The identity check of the principal ``action`` acts on (once per principal and run):
    ``("left-alone" | "already-done", why)``, or None when it is the one the activity made."""
    found = principal(action)
    probe = identity_probe(action)
    if found is None or probe is None:
        return None
    if found not in runner.identities:
        read, check = probe
        seen = runner.call(read, verb="CHECK", probe=True)
        if seen.status == "read":
            runner.identities[found] = _absent_by_name(runner, action, seen, check(seen.response))
        else:
            said = seen.error.message if seen.error else "no answer"
            kind, name = (action.identity or found)[:2]
            runner.identities[found] = (
                "left-alone",
                f"{kind.lower()} {name}: could not check that it is the one the activity "
                f"created ({said}): left alone, re-run or check it by hand",
            )
    return runner.identities[found]


def _absent_by_name(
    runner: Runner, action: Action, seen: CallResult, verdict: tuple[str, str] | None
) -> tuple[str, str] | None:
    """The identity check's reading when nothing answers to the name: a user or group (or the
    user of a login profile) may have been renamed — it keeps what the activity gave it — so
    "no such entity" is "already done" only when a lookup by the unique ID the activity's create
    call gave it (``ListUsers``/``ListGroups``) finds it nowhere; ``verdict`` otherwise."""
    assert action.identity is not None
    kind, name = action.identity[0], action.identity[1]
    said = seen.error.message if seen.error is not None else ""
    if kind == "LoginProfile" and seen.response is None and "login profile" not in said.lower():
        return _not_found(runner, "User", name, None)  # the user is not there: not the profile
    if verdict is None or verdict[0] != "not-by-name":
        return verdict
    uid = action.identity[2] if len(action.identity) > 2 else None
    return _not_found(runner, kind, name, uid)


def _not_found(runner: Runner, kind: str, name: str, uid: str | None) -> tuple[str, str]:
    """``(status, why)`` for a user or group with no ``name`` now: "already-done" when a lookup
    by its unique ID ``uid`` finds it nowhere in the account; else "left-alone", saying what it
    is now (renamed: its new name) or that it may have been deleted or renamed."""
    called = kind.lower()
    listing = f"aws iam list-{called}s"
    if not uid:
        return (
            "left-alone",
            f"no {called} named {name} now; it may have been deleted or renamed (a renamed "
            f"{called} keeps what the activity gave it) and the activity's Create{kind} does not "
            f"give its {called} ID to look it up by: check ({listing}; CloudTrail Update{kind} "
            f"on {name}) and undo under its current name by hand",
        )
    field_name = f"{kind}s"
    read = Action(
        "iam",
        f"List{kind}s",
        {},
        why=f"where is {called} {uid} now? (no {called} named {name})",
        changes_aws=False,
        targets=(uid,),
    )
    seen = runner.call(read, verb="CHECK", probe=True)
    listed = (seen.response or {}).get(field_name) if seen.status == "read" else None
    if not isinstance(listed, list):
        said = seen.error.message if seen.error else "no answer"
        return (
            "left-alone",
            f"no {called} named {name} now, and looking {called} {uid} up by its ID failed "
            f"({said}): deleted or renamed? check ({listing}) and undo by hand",
        )
    now = [
        str(e.get(f"{kind}Name"))
        for e in listed
        if isinstance(e, Mapping) and e.get(f"{kind}Id") == uid
    ]
    if not now:
        return (
            "already-done",
            f"{called} {name} no longer exists: no {called} in this account has its ID {uid} "
            f"(from the activity's Create{kind}; {listing})",
        )
    return (
        "left-alone",
        f"{called} {name} was renamed {now[0]} (the same {called} ID {uid}, from the activity's "
        f"Create{kind}): nothing undone under either name; review {now[0]} with its owner and "
        f"undo by hand there (aws iam get-{called} {cli_option(f'--{called}-name', now[0])})",
    )


def _change(runner: Runner, action: Action, *, looked: bool = False) -> CallResult:
    """One change: the records it is justified by confirmed with CloudTrail
    (:mod:`~torinvest.runner.confirm`), the identity check of a principal the activity created
    (before any undo step on it), its probe (when one can tell it is done), then the call. A
    deny's cutoff is the time of its call (:func:`~torinvest.runner.probes.cut_off_now`)."""
    action = cut_off_now(action)
    same = (
        unconfirmed(runner, action)
        or _identity(runner, action)
        or _finding_user(runner, action)
        or _group_holds(runner, action)
    )
    if same is not None:
        return runner.skipped(action, *same)
    action = gone_user(runner, action)
    probe = _probe(action)
    if probe is not None:
        read, check = probe
        seen = _guards_read(runner, action, read) or runner.call(read, verb="CHECK", probe=True)
        verdict = check(seen.response) if seen.status == "read" else None
        if action.operation == "UpdateAccessKey" and _lists_key(seen, action):
            runner.holders.add(str(action.params["UserName"]).casefold())
        if verdict is not None and verdict[0] in ("no-user", "not-listed"):
            if looked:
                return runner.skipped(action, "left-alone", f"{verdict[1]}: check it by hand")
            return _find_key_owner(runner, action, verdict[1])
        if verdict is not None and verdict[0] == "compare":  # a name only: read the rule
            read, check = filter_probe(action)
            seen = runner.call(read, verb="CHECK", probe=True)
            verdict = (
                check(seen.response)
                if seen.status == "read"
                else ("left-alone", f"{verdict[1]} but could not be read to compare it: check it")
            )
        if verdict is not None and verdict[0] == "replace":
            runner.echo(f"  replacing: {verdict[1]}")
        elif verdict is not None:
            return runner.skipped(action, *verdict)
    read_back = action.operation == "ArchiveFindings"
    result = runner.call(action, verb="EXECUTE", read_back=read_back)
    if result.status == "done" and read_back:
        return _read_back_archived(runner, result)
    return result


def gone_user(runner: Runner, action: Action) -> Action:
    """``action`` (a deny on a user the activity deleted after its password was set:
    :attr:`~torinvest.actions.Action.deleted_by`) with "no such user" taken as its answer
    (``absent_ok``: "user gone: no session to end", not "failed") once CloudTrail confirms that
    DeleteUser (:mod:`~torinvest.runner.confirm`); as it is otherwise (unconfirmed, a NoSuchEntity
    is a failure: the user may be gone for another reason the run cannot vouch for)."""
    if action.deleted_by is None or action.absent_ok:
        return action
    check = replace(action, records=(action.deleted_by,), any_record=False)
    if unconfirmed(runner, check) is not None:
        runner.echo(
            f"  the {action.deleted_by.event_name} of {_targets_of(action)} could not be "
            "confirmed with CloudTrail: a NoSuchEntity on this deny is a failure"
        )
        return action
    return replace(action, absent_ok=True)


def _targets_of(action: Action) -> str:
    return ", ".join(action.targets) or "its user"


def _guards_read(runner: Runner, action: Action, read: Action) -> CallResult | None:
    """The archive guard's GetFindings answer for ``action`` (an ArchiveFindings of the same
    region, detector and findings), taken once: the finding was read right before this archive
    (held, the same finding, not changed since the verdict, and whether it is archived), so it
    is not read twice for one check. None for any other change, or when it is already taken."""
    if action.operation != "ArchiveFindings":
        return None
    ids = tuple(str(i) for i in action.params.get("FindingIds") or [])
    held = runner.finding_reads.pop(
        (action.region, str(action.params.get("DetectorId")), ids), None
    )
    if held is None:
        return None
    runner.echo(
        f"{'CHECK':<8} is the finding already archived? (from the GetFindings answer above, read "
        "right before this archive: not asked again)"
    )
    return CallResult(read, "read", response=held)


def _read_back_archived(runner: Runner, result: CallResult) -> CallResult:
    """After ArchiveFindings answered: GetFindings in the same detector must show every finding
    archived before the run says done (GuardDuty answers an archive of IDs its detector does not
    hold as if it were done). Else ``failed`` (not archived, or not there), or ``unknown`` (the
    read failed)."""
    action = result.action
    ids = [str(i) for i in action.params.get("FindingIds") or []]
    detector = action.params.get("DetectorId")
    read = Action(
        "guardduty",
        "GetFindings",
        dict(action.params),
        why="is the finding archived now? (read back before saying done)",
        region=action.region,
        changes_aws=False,
        targets=action.targets,
    )
    seen = runner.call(read, verb="CHECK", probe=True)
    if seen.status != "read":
        said = seen.error.message if seen.error else "no answer"
        return runner.unconfirmed(
            result,
            "unknown",
            f"ArchiveFindings {' '.join(ids)}: GuardDuty answered, but reading the finding back "
            f"failed ({said}): whether it is archived is unknown — check it (aws guardduty "
            f"get-findings {cli_option('--detector-id', detector)}), or re-run (a re-run checks first)",
        )
    found = {
        f.get("Id"): f
        for f in (seen.response or {}).get("Findings") or []
        if isinstance(f, Mapping)
    }
    missing = [i for i in ids if i not in found]
    unarchived = [
        i for i in ids if i in found and not (found[i].get("Service") or {}).get("Archived")
    ]
    if not missing and not unarchived:
        runner.echo(f"  done: ArchiveFindings (read back: {', '.join(ids)} archived)")
        return result
    said = "; ".join(
        [
            f"detector {detector} in region {action.region} does not hold finding {i}"
            for i in missing
        ]
        + [f"finding {i} is still not archived" for i in unarchived]
    )
    return runner.unconfirmed(
        result, "failed", f"ArchiveFindings answered, but GuardDuty's read-back says: {said}"
    )


#: What a group can still hold that stops its delete: (read, the answer's list, its item's name,
#: what it is called, the command that removes one).
_GROUP_HOLDINGS: tuple[tuple[str, str, str, str, str], ...] = (
    ("GetGroup", "Users", "UserName", "member(s)", "remove-user-from-group --user-name"),
    (
        "ListAttachedGroupPolicies",
        "AttachedPolicies",
        "PolicyArn",
        "attached policy(ies)",
        "detach-group-policy --policy-arn",
    ),
    (
        "ListGroupPolicies",
        "PolicyNames",
        "",
        "inline policy(ies)",
        "delete-group-policy --policy-name",
    ),
)


def _group_holds(runner: Runner, action: Action) -> tuple[str, str] | None:
    """Before DeleteGroup (the group the activity created, checked): its members and policies,
    read now. What the activity added was removed by the steps above; anything left the run did
    not see it add (someone else's, or a step above not made): ``("left-alone", why)`` naming it
    and the commands, never a delete that takes it along. None: it holds nothing, go ahead."""
    if action.operation != "DeleteGroup":
        return None
    group = str(action.params["GroupName"])
    held: list[str] = []
    for operation, field_name, item, called, command in _GROUP_HOLDINGS:
        read = Action(
            "iam",
            operation,
            {"GroupName": group},
            why=f"does group {group} still hold {called}? (before its delete)",
            changes_aws=False,
            targets=(group,),
        )
        seen = runner.call(read, verb="CHECK", probe=True)
        listed = (seen.response or {}).get(field_name) if seen.status == "read" else None
        if seen.status == "read" and seen.response is None:
            return None  # no such group now: the delete says so
        if not isinstance(listed, list):
            said = seen.error.message if seen.error else "no answer"
            return (
                "left-alone",
                f"group {group}: could not read its {called} ({said}): not deleted; check it "
                f"(aws iam get-group {cli_option('--group-name', group)}) and re-run",
            )
        names = [str(e.get(item) if item and isinstance(e, Mapping) else e) for e in listed]
        if names:
            held.append(
                f"{called} {', '.join(names)} (aws iam {command} NAME "
                f"{cli_option('--group-name', group)})"
            )
    if not held:
        return None
    return (
        "left-alone",
        f"group {group} still holds what the run did not see the activity add: "
        + "; ".join(held)
        + f": not deleted — review them with their owner, remove them by hand, then aws iam "
        f"delete-group {cli_option('--group-name', group)}",
    )


def _lists_key(seen: CallResult, action: Action) -> bool:
    """Whether the ListAccessKeys answer ``seen`` lists the suspect key of ``action``."""
    listed = (seen.response or {}).get("AccessKeyMetadata") if seen.status == "read" else None
    key = action.params.get("AccessKeyId")
    return any(isinstance(k, Mapping) and k.get("AccessKeyId") == key for k in listed or [])


def _finding_user(runner: Runner, action: Action) -> tuple[str, str] | None:
    """Before the deny on the finding's user: unless this run saw that user hold the suspect
    key, GetUser must show the finding's user ID (not a same-named user made later). None: go
    ahead; else ``("left-alone", why)``."""
    probe = user_id_probe(action)
    user = action.params.get("UserName")
    if probe is None or not isinstance(user, str) or user.casefold() in runner.holders:
        return None
    read, check = probe
    seen = runner.call(read, verb="CHECK", probe=True)
    if seen.status == "read":
        return check(seen.response)
    said = seen.error.message if seen.error else "no answer"
    return (
        "left-alone",
        f"user {user}: could not check that it is the finding's user ({said}): left alone, "
        "re-run or check it by hand",
    )


def _find_key_owner(runner: Runner, action: Action, missing: str) -> CallResult:
    """The suspect key is not under its user's name (no such user, or a user of that name that
    does not list it: renamed, and a newcomer took the name?): look the key up by its ID
    (``GetAccessKeyLastUsed`` names its user; it answers for this account's keys only) and act
    on that user — a key never moves to another user, so it is the same principal renamed. Only
    "no such entity" for the key itself means it no longer exists."""
    user, key = str(action.params["UserName"]), str(action.params["AccessKeyId"])
    read = Action(
        "iam",
        "GetAccessKeyLastUsed",
        {"AccessKeyId": key},
        why=f"whose is {key} now? ({missing})",
        changes_aws=False,
        targets=(key,),
    )
    seen = runner.call(read, verb="CHECK", probe=True)
    if seen.status == "read" and seen.response is None:
        return runner.skipped(
            action,
            "already-done",
            f"{missing}; key {key} does not exist in this account (GetAccessKeyLastUsed: no "
            "such key)",
        )
    owner = (seen.response or {}).get("UserName") if seen.status == "read" else None
    if not isinstance(owner, str) or not owner or owner.casefold() == user.casefold():
        said = (
            f"it names {owner or 'no user'}"
            if seen.status == "read"
            else (seen.error.message if seen.error else "no answer")
        )
        return runner.skipped(
            action,
            "left-alone",
            f"{missing}: looking key {key} up by its ID did not find its user ({said}): check "
            f"by hand (aws iam get-access-key-last-used {cli_option('--access-key-id', key)})",
        )
    runner.renamed[user.casefold()] = owner
    runner.echo(f"  {missing}: key {key} belongs to {owner} (renamed): acting on {owner}")
    return _change(runner, runner.retarget(action), looked=True)
