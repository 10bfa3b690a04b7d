"""The deny kept in force when the principal it is on is not deleted after all.

A user or role the activity created may get the ``AWSRevokeOlderSessions`` deny (a role it
assumed, a user whose key minted a session, a user whose console password it set); the plan
removes it (``DeleteUserPolicy``/``DeleteRolePolicy``) just before ``DeleteUser``/``DeleteRole``,
because IAM deletes no user or role holding an inline policy
(:func:`~torinvest.actions.ondelete.lift_before_delete`). When that delete does not succeed
(failed, outcome unknown, left alone, the run stopped or interrupted before it), the principal
would be left without the deny: the sessions it ends (console sessions signed in with the
attacker's password, keys minted from it, its assumed-role sessions) would work again.
:class:`DenyKeeper` puts the deny back (``PutUserPolicy``/``PutRolePolicy`` with the plan's own
document cut off at that call, printed before it runs and ledgered as every call), and the run's
summary says the principal still holds it — or, when putting it back failed, says so loudly with
the command to run. A delete that succeeded is said too: the deny went with the principal.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from torinvest.actions import REVOKE_POLICY_NAME, Action, Plan
from torinvest.actions.ondelete import KINDS, deletes, principal_of, puts_deny, removes_deny
from torinvest.runner.probes import cut_off_now
from torinvest.runner.recorder import CallResult, Runner
from torinvest.safety import cli_option

#: a delete with one of these outcomes deleted the principal (the deny went with it)
DELETED = ("done", "already-done")
#: what each kind's deny ends, said when it is not in force
_ENDS = {
    "User": "sessions issued before the deny (console sessions signed in with the attacker's "
    "password, keys minted with GetSessionToken/GetFederationToken)",
    "Role": "its sessions issued before the deny (the keys AssumeRole gave)",
}

#: (kind, name in lower case): one principal, as IAM compares names
Principal = tuple[str, str]


def _folded(action: Action) -> Principal | None:
    found = principal_of(action)
    return (found[0], found[1].casefold()) if found else None


def deny_document(plan: Plan, kind: str, name: str) -> str | None:
    """The document of the plan's deny on ``kind`` ``name`` (what is put back), if it has one."""
    for a in plan.actions:
        if puts_deny(a) and _folded(a) == (kind, name.casefold()):
            return str(a.params["PolicyDocument"])
    return None


@dataclass(slots=True)
class Lifted:
    """A deny removed before a delete that deleted the principal: ``kind`` ``name``."""

    kind: str
    name: str

    def said(self) -> str:
        word = KINDS[self.kind][1]
        return (
            f"deny removed: {word} {self.name} ({REVOKE_POLICY_NAME} taken off just before its "
            f"Delete{self.kind}, which deleted it: its sessions issued before the deny end with "
            "it)"
        )


@dataclass(slots=True)
class Kept:
    """A deny removed before a delete that did not succeed: ``kind`` ``name``, why the deletion
    did not happen, the put-back (None: the plan had no document to put back) and its result."""

    kind: str
    name: str
    why: str
    restore: Action | None
    result: CallResult | None

    @property
    def in_force(self) -> bool:
        return self.result is not None and self.result.status == "done"

    def said(self) -> str:
        """The summary's line (without its indent)."""
        word = KINDS[self.kind][1]
        what, name, delete = f"{word} {self.name}", self.name, f"Delete{self.kind}"
        if self.in_force:
            return (
                f"deny kept: {what} still holds {REVOKE_POLICY_NAME} (its {delete} {self.why}: "
                "the deny removed before it was put back, so the sessions it ends stay ended); "
                f"delete {name} by hand or re-run once the cause is fixed"
            )
        err = self.result.error if self.result is not None else None
        if err is not None and err.code == "NoSuchEntity":
            return (
                f"{what} is not there now: its {delete} {self.why}, and putting "
                f"{REVOKE_POLICY_NAME} back found no {what} (the delete may have gone "
                f"through, the deny with it); check: aws iam get-{word} "
                f"{cli_option(f'--{word}-name', name)}"
            )
        if self.restore is None:
            how = "the plan holds no document to put back"
            command = (
                f"attach {REVOKE_POLICY_NAME} to {what} again (the deny of its tokens issued "
                "before this run)"
            )
        else:
            status = self.result.status if self.result is not None else "not made"
            how = f"putting it back {status}" + (f" ({err.message})" if err else "")
            command = self.restore.cli()
        return (
            f"DENY NOT IN FORCE: {what} lost {REVOKE_POLICY_NAME} before its {delete}, which "
            f"{self.why}, and {how}: {_ENDS[self.kind]} work again — run now: {command}"
        )


@dataclass(slots=True)
class DenyKeeper:
    """Follows a run's removals of the deny and puts each back when its principal's delete did
    not delete it (:meth:`after`, then :meth:`finish` at the run's end or interruption)."""

    runner: Runner
    plan: Plan
    #: principals this run put the deny on (or found it on): only a removal after it is the
    #: deny's (an earlier removal of that name undoes the actor's own policy)
    denied: set[Principal] = field(default_factory=set)
    #: principals whose deny this run removed, their delete not yet succeeded
    removed: dict[Principal, Action] = field(default_factory=dict)
    kept: list[Kept] = field(default_factory=list)
    #: principals whose deny this run removed and whose delete then deleted them
    lifted: list[Lifted] = field(default_factory=list)

    def after(self, action: Action, result: CallResult) -> CallResult | None:
        """Note ``action``'s ``result``; the put-back's result when it made one."""
        folded = _folded(action)
        if folded is None:
            return None
        if puts_deny(action) and result.status in ("done", "already-done"):
            self.denied.add(folded)
        elif removes_deny(action) and result.status == "done" and folded in self.denied:
            self.removed[folded] = action
        elif deletes(action) is not None and folded in self.removed:
            if result.status in DELETED:
                removal = self.removed.pop(folded)
                found = principal_of(removal)
                self.lifted.append(Lifted(folded[0], found[1] if found else folded[1]))
                return None
            return self._put_back(folded, _why(result))
        return None

    def finish(self, why: str) -> list[CallResult]:
        """Put back every deny still removed (its delete never ran: ``why``)."""
        made = [self._put_back(folded, why) for folded in list(self.removed)]
        return [r for r in made if r is not None]

    def _put_back(self, folded: Principal, why: str) -> CallResult | None:
        removal = self.removed.pop(folded)
        kind = folded[0]
        found = principal_of(removal)
        name = found[1] if found else folded[1]
        param, word = KINDS[kind]
        document = deny_document(self.plan, kind, name)
        if document is None:
            self.kept.append(Kept(kind, name, why, None, None))
            return None
        restore = replace(
            removal,
            operation=f"Put{kind}Policy",
            params={param: name, "PolicyName": REVOKE_POLICY_NAME, "PolicyDocument": document},
            why=f"put back the {REVOKE_POLICY_NAME} deny on {word} {name} removed above: its "
            f"Delete{kind} {why}, and without the deny {_ENDS[kind]} would work again",
            absent_ok=False,
            records=(),
            any_record=False,
            ends_sessions_of=(),
        )
        restore = cut_off_now(restore)  # the cutoff of the put-back's own call
        result = self.runner.call(restore, verb="EXECUTE")
        self.kept.append(Kept(kind, name, why, restore, result))
        return result


def _why(result: CallResult) -> str:
    if result.status == "failed":
        said = result.error.message if result.error is not None else "no answer"
        return f"failed ({said})"
    if result.status == "unknown":
        return "has an unknown outcome (its answer was lost)"
    if result.status == "left-alone":
        return f"was left alone ({result.note or 'no reason given'})"
    return f"was not made ({result.note or result.status})"
