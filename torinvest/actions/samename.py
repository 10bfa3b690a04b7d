"""The actor's own inline policy named like the plan's deny (:func:`spare_the_denies`).

The plan ends sessions with an inline policy named ``AWSRevokeOlderSessions`` (AWS's name) on a
user or role. The activity may have put an inline policy of that very name on the same principal
(``PutUserPolicy``/``PutRolePolicy``: the name is the actor's to choose, and a backdoor named
like AWS's revoke looks harmless). Its undo is ``DeleteUserPolicy``/``DeleteRolePolicy`` of that
name: made after the plan's deny, or followed by hand after the run, it deletes the deny — the
sessions it ended live again while the run says them ended. So, on a principal the plan denies:

* an undo call (a principal the activity created) runs just before the deny, never after it;
* the manual undo (CloudTrail cannot say whether the name was there before the actor's call)
  no longer says to delete the policy: the deny overwrites the actor's document; it says to
  check the policy holds the deny, and to delete it only if it does not.
"""

from __future__ import annotations

from dataclasses import replace

from torinvest.actions.plan import REVOKE_POLICY_NAME, Action, Plan
from torinvest.safety import cli_option

#: (the deny's operation, the undo's, the read, the principal's parameter, its kind)
_KINDS = (
    ("PutUserPolicy", "DeleteUserPolicy", "get-user-policy", "UserName", "user"),
    ("PutRolePolicy", "DeleteRolePolicy", "get-role-policy", "RoleName", "role"),
)


def _denied(actions: list[Action]) -> dict[tuple[str, str], int]:
    """(kind, name in lower case) → index of the plan's deny call on that principal."""
    out: dict[tuple[str, str], int] = {}
    for i, a in enumerate(actions):
        for put, _, _, param, kind in _KINDS:
            name = a.params.get(param)
            if (
                a.operation == put
                and not a.manual
                and a.params.get("PolicyName") == REVOKE_POLICY_NAME
                and isinstance(name, str)
            ):
                out.setdefault((kind, name.casefold()), i)
    return out


def _actors_undo(a: Action) -> tuple[str, str, str, str] | None:
    """(kind, name, the deny's operation, read command) when ``a`` undoes the activity's Put of an inline policy named
    :data:`REVOKE_POLICY_NAME` in the finding's account (a call or a manual step)."""
    if len(a.targets) < 2 or a.targets[1] != REVOKE_POLICY_NAME or not a.why.startswith("undo "):
        return None
    if "not the finding's account" in a.why:  # another account's principal: not the one denied
        return None
    for put, delete, read, _, kind in _KINDS:
        if a.operation == delete:
            return kind, a.targets[0], put, read
    return None


def spare_the_denies(plan: Plan) -> None:
    """Keep each deny of ``plan`` from being deleted by the undo of the actor's same-named inline
    policy on its principal (see the module docstring)."""
    denied = _denied(plan.actions)
    if not denied:
        return
    i = 0
    while i < len(plan.actions):
        a = plan.actions[i]
        hit = _actors_undo(a)
        at = denied.get((hit[0], hit[1].casefold())) if hit else None
        if hit is None or at is None:
            i += 1
            continue
        kind, name, put, read = hit
        if a.manual:
            plan.actions[i] = replace(
                a,
                manual=f"the actor put an inline policy named {REVOKE_POLICY_NAME} on {kind} "
                f"{name} — the name of this plan's deny on it, whose {put} overwrites "
                "the actor's document: do NOT delete that policy (it would delete the "
                f"deny, and the sessions it ends would work again). Check it holds the deny "
                f"(aws iam {read} {cli_option(f'--{kind}-name', name)} --policy-name="
                f"{REVOKE_POLICY_NAME}: Effect Deny, Action *, Resource *, DateLessThan "
                "aws:TokenIssueTime); if it does not (the deny step was left alone or failed), the "
                "actor's document may still be there: replace it with the deny (the deny step's "
                "command, or re-run with --execute). CloudTrail does not say "
                f"whether {name} had a policy of that name before the actor's: if it did, its "
                "document is lost — restore it under another name (IaC, a backup, AWS Config)",
            )
            i += 1
            continue
        if i < at:  # already before the deny: the deny overwrites nothing of the actor's after
            i += 1
            continue
        # after the deny: moved just before it (the deny then follows the actor's removal)
        plan.actions.pop(i)
        plan.actions.insert(at, a)
        denied = _denied(plan.actions)
        i += 1
