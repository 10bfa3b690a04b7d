"""A principal the plan both denies and deletes: the deny removed just before the delete
(:func:`lift_before_delete`).

The plan puts ``AWSRevokeOlderSessions`` on a principal whose sessions must end (a role the
activity assumed, a user whose key minted a session, a user whose console password it set) and
deletes what the activity created (``DeleteUser``, ``DeleteRole``). When both are the same
principal, IAM refuses the delete with ``DeleteConflict`` while the deny — an inline policy — is
attached ("You must delete the items attached to the user manually": the DeleteUser reference;
DeleteRole's says the same of a role's inline policies): the actor's user or role would survive
the run. So the deny comes off (``DeleteUserPolicy``/``DeleteRolePolicy``) just before the
delete, under the delete's own checks (its creation date, its unique ID, its records: left alone
when the delete would be). When the delete then does not succeed, the run puts the deny back at
once (:mod:`torinvest.runner.keep`).
"""

from __future__ import annotations

from dataclasses import replace

from torinvest.actions.plan import REVOKE_POLICY_NAME, Action, Plan

#: What a principal is called in each kind's calls: kind → (its name parameter, its word).
KINDS = {"User": ("UserName", "user"), "Role": ("RoleName", "role")}


def principal_of(action: Action) -> tuple[str, str] | None:
    """(``User``/``Role``, name) of the principal a user or role call names, else None."""
    for kind, (param, _) in KINDS.items():
        name = action.params.get(param)
        if isinstance(name, str) and name:
            return kind, name
    return None


def puts_deny(action: Action) -> bool:
    """``action`` is a call putting the deny on a user or role (the plan's, or its put-back)."""
    return (
        not action.manual
        and action.operation in ("PutUserPolicy", "PutRolePolicy")
        and action.params.get("PolicyName") == REVOKE_POLICY_NAME
        and bool(action.params.get("PolicyDocument"))
    )


def removes_deny(action: Action) -> bool:
    """``action`` is a call removing the deny from a user or role."""
    return (
        not action.manual
        and action.operation in ("DeleteUserPolicy", "DeleteRolePolicy")
        and action.params.get("PolicyName") == REVOKE_POLICY_NAME
    )


def deletes(action: Action) -> tuple[str, str] | None:
    """(kind, name) when ``action`` is a ``DeleteUser``/``DeleteRole`` call, else None."""
    if action.manual or action.operation not in ("DeleteUser", "DeleteRole"):
        return None
    found = principal_of(action)
    return found if found and f"Delete{found[0]}" == action.operation else None


def _same(action: Action, kind: str, name: str) -> bool:
    found = principal_of(action)
    return found is not None and found[0] == kind and found[1].casefold() == name.casefold()


def lift_before_delete(plan: Plan) -> None:
    """Before each ``DeleteUser``/``DeleteRole`` call of ``plan`` on a principal a deny call
    earlier in the plan is put on (IAM names: case-insensitive), the deny's removal — unless
    one is already between that deny and the delete."""
    i = 0
    while i < len(plan.actions):
        a = plan.actions[i]
        target = deletes(a)
        if target is None:
            i += 1
            continue
        kind, name = target
        last = max(
            (j for j in range(i) if puts_deny(plan.actions[j]) and _same(plan.actions[j], *target)),
            default=None,
        )
        lifted = last is not None and any(
            removes_deny(b) and _same(b, kind, name) for b in plan.actions[last + 1 : i]
        )
        if last is not None and not lifted:
            plan.actions.insert(i, lift(a, kind, name))
            i += 1
        i += 1


def lift(delete: Action, kind: str, name: str) -> Action:
    """The removal of the deny on ``kind`` ``name`` before ``delete``, under its checks."""
    param, word = KINDS[kind]
    return replace(
        delete,
        operation=f"Delete{kind}Policy",
        params={param: name, "PolicyName": REVOKE_POLICY_NAME},
        why=f"remove the {REVOKE_POLICY_NAME} deny put on {word} {name} above: IAM deletes no "
        f"{word} with an inline policy (Delete{kind} follows, under the same checks; if it "
        "does not delete it, the deny is put back at once)",
        absent_ok=True,
    )
