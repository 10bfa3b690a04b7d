"""The console-session deny kept in force when the user it is on is not deleted after all.

A user the activity created gets the ``AWSRevokeOlderSessions`` deny
(:func:`~torinvest.actions.console.deny_console_sessions`); the plan removes it
(``DeleteUserPolicy``) just before ``DeleteUser``, because IAM deletes no user holding an inline
policy. When that ``DeleteUser`` does not succeed (failed, outcome unknown, left alone, the run
stopped or interrupted before it), the user would be left without the deny: console sessions
signed in with the attacker's password would work again. :class:`DenyKeeper` puts the deny back
(``PutUserPolicy`` with the plan's own document cut off at that call, printed before it runs
and ledgered as every call), and the run's summary says the user still holds it — or, when
putting it back failed, says so loudly with the command to run.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from torinvest.actions import REVOKE_POLICY_NAME, Action, Plan
from torinvest.runner.probes import cut_off_now
from torinvest.runner.recorder import CallResult, Runner
from torinvest.safety import cli_option

#: a DeleteUser with one of these outcomes deleted the user (the deny went with it)
DELETED = ("done", "already-done")


def _user(action: Action) -> str | None:
    name = action.params.get("UserName")
    return str(name) if name else None


def removes_deny(action: Action) -> bool:
    """``action`` is the removal of the deny before a DeleteUser."""
    return (
        not action.manual
        and action.operation == "DeleteUserPolicy"
        and action.params.get("PolicyName") == REVOKE_POLICY_NAME
    )


def puts_deny(action: Action) -> bool:
    """``action`` is a deny on a user (the plan's, or its put-back)."""
    return (
        not action.manual
        and action.operation == "PutUserPolicy"
        and action.params.get("PolicyName") == REVOKE_POLICY_NAME
        and bool(action.params.get("PolicyDocument"))
    )


def deny_document(plan: Plan, user: str) -> str | None:
    """The document of the plan's deny on ``user`` (what is put back), if the plan has one."""
    for a in plan.actions:
        if puts_deny(a) and (_user(a) or "").casefold() == user.casefold():
            return str(a.params["PolicyDocument"])
    return None


@dataclass(slots=True)
class Kept:
    """A deny removed before a DeleteUser that did not succeed: ``user``, why the deletion did
    not happen, the put-back (None: the plan had no document to put back) and its result."""

    user: str
    why: str
    restore: Action | None
    result: CallResult | None

    @property
    def in_force(self) -> bool:
        return self.result is not None and self.result.status == "done"

    def said(self) -> str:
        """The summary's line (without its indent)."""
        if self.in_force:
            return (
                f"deny kept: user {self.user} still holds {REVOKE_POLICY_NAME} (its DeleteUser "
                f"{self.why}: the deny removed before it was put back, so the console sessions "
                f"it ends stay ended); delete {self.user} by hand or re-run once the cause is fixed"
            )
        err = self.result.error if self.result is not None else None
        if err is not None and err.code == "NoSuchEntity":
            return (
                f"user {self.user} is not there now: its DeleteUser {self.why}, and putting "
                f"{REVOKE_POLICY_NAME} back found no user {self.user} (the delete may have gone "
                f"through, the deny with it); check: aws iam get-user "
                f"{cli_option('--user-name', self.user)}"
            )
        if self.restore is None:
            how = "the plan holds no document to put back"
            command = (
                f"attach {REVOKE_POLICY_NAME} to user {self.user} again (the deny of its "
                "tokens issued before this run)"
            )
        else:
            status = self.result.status if self.result is not None else "not made"
            how = f"putting it back {status}" + (f" ({err.message})" if err else "")
            command = self.restore.cli()
        return (
            f"DENY NOT IN FORCE: user {self.user} lost {REVOKE_POLICY_NAME} before its "
            f"DeleteUser, which {self.why}, and {how}: console sessions signed in before the "
            f"deny (the attacker's password among them) work again — run now: {command}"
        )


@dataclass(slots=True)
class DenyKeeper:
    """Follows a run's removals of the deny and puts each back when its user's DeleteUser did
    not delete it (:meth:`after`, then :meth:`finish` at the run's end or interruption)."""

    runner: Runner
    plan: Plan
    #: users (in lower case) this run put the deny on (or found it on): only a removal after it
    #: is the deny's (an earlier DeleteUserPolicy of that name undoes the actor's own policy)
    denied: set[str] = field(default_factory=set)
    #: users (in lower case) whose deny this run removed, their DeleteUser not yet succeeded
    removed: dict[str, Action] = field(default_factory=dict)
    kept: list[Kept] = field(default_factory=list)

    def after(self, action: Action, result: CallResult) -> CallResult | None:
        """Note ``action``'s ``result``; the put-back's result when it made one."""
        user = _user(action)
        if user is None:
            return None
        folded = user.casefold()
        if puts_deny(action) and result.status in ("done", "already-done"):
            self.denied.add(folded)
        elif removes_deny(action) and result.status == "done" and folded in self.denied:
            self.removed[folded] = action
        elif action.operation == "DeleteUser" and not action.manual and folded in self.removed:
            if result.status in DELETED:
                del self.removed[folded]
                return None
            return self._put_back(folded, _why(result))
        return None

    def finish(self, why: str) -> list[CallResult]:
        """Put back every deny still removed (its DeleteUser never ran: ``why``)."""
        made = [self._put_back(folded, why) for folded in list(self.removed)]
        return [r for r in made if r is not None]

    def _put_back(self, folded: str, why: str) -> CallResult | None:
        removal = self.removed.pop(folded)
        user = _user(removal) or folded
        document = deny_document(self.plan, user)
        if document is None:
            self.kept.append(Kept(user, why, None, None))
            return None
        restore = replace(
            removal,
            operation="PutUserPolicy",
            params={
                "UserName": user,
                "PolicyName": REVOKE_POLICY_NAME,
                "PolicyDocument": document,
            },
            why=f"put back the {REVOKE_POLICY_NAME} deny on {user} removed above: its "
            f"DeleteUser {why}, and without the deny its console sessions signed in before it "
            "would work again",
            absent_ok=False,
            records=(),
            any_record=False,
            ends_sessions_of=(),
        )
        restore = cut_off_now(restore)  # the cutoff of the put-back's own call
        result = self.runner.call(restore, verb="EXECUTE")
        self.kept.append(Kept(user, why, restore, result))
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
