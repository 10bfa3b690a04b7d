"""The run: the account guards, each action printed, ledgered, made (or found done), and the
report of it all (:func:`carry_out`, :class:`RunReport`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from torinvest.actions import ABSENT_CODES, REVOKE_POLICY_NAME, Action, Plan
from torinvest.aws import Aws, AwsConfig
from torinvest.errors import AwsError, EndpointError, InputError, RefusedError, TorinvestError
from torinvest.runner.calls import _jsonable, describe_answer, invoke
from torinvest.runner.gate import Caller, credentials_hint, credentials_source, require_verdict
from torinvest.runner.probes import _probe, identity_probe, principal, user_id_probe
from torinvest.verdict import append as ledger_append
from torinvest.verdict import default_ledger_path

log = logging.getLogger(__name__)


# the run
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class CallResult:
    """What became of one action.

    ``status``: ``done`` / ``read`` (a call answered), ``already-done``, ``left-alone``,
    ``failed`` (``error`` says why), ``unknown`` (the request may have reached AWS, its answer
    was lost), ``dry-run``, ``not-run`` (a read skipped), ``manual``.
    ``note`` is the one-line reading of the answer (inventory) or why it was skipped.
    """

    action: Action
    status: str
    response: dict[str, Any] | None = None
    error: AwsError | None = None
    note: str | None = None

    @property
    def code(self) -> str | None:
        return self.error.code if self.error is not None else None


@dataclass(slots=True)
class RunReport:
    """A plan's run: who ran it, each action's result, and what the reads found."""

    plan: Plan
    execute: bool
    run_id: str
    caller: Caller | None = None
    results: list[CallResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    inventory: list[str] = field(default_factory=list)
    #: why the run stopped before its end (the verdict changed while it ran), else None
    stopped: RefusedError | None = None

    def _of(self, *statuses: str, changes: bool | None = None) -> list[CallResult]:
        return [
            r
            for r in self.results
            if r.status in statuses and (changes is None or r.action.changes_aws == changes)
        ]

    @property
    def done(self) -> list[CallResult]:
        return self._of("done")

    @property
    def failed(self) -> list[CallResult]:
        """Changes that failed (a failed read is in :attr:`read_failures`)."""
        return self._of("failed", changes=True)

    @property
    def read_failures(self) -> list[CallResult]:
        return self._of("failed", changes=False)

    @property
    def unknown(self) -> list[CallResult]:
        """Changes whose request may have reached AWS but whose answer was lost."""
        return self._of("unknown")

    @property
    def already(self) -> list[CallResult]:
        return self._of("already-done")

    @property
    def left_alone(self) -> list[CallResult]:
        return self._of("left-alone")

    def summary_lines(self) -> list[str]:
        """The final summary: counts, then every inventory answer, then what is left to do."""
        plan = self.plan
        who = f" as {self.caller.arn} (account {self.caller.account})" if self.caller else ""
        if self.execute:
            head = (
                f"summary of run {self.run_id}{who}: {len(self.done)} change(s) done, "
                f"{len(self.already)} already done, {len(self.failed)} failed"
                + (f", {len(self.unknown)} outcome(s) unknown" if self.unknown else "")
                + (f", {len(self.left_alone)} left alone" if self.left_alone else "")
                + f"; {len(self._of('read', changes=False))} inventory read(s)"
                + (f", {len(self.read_failures)} read(s) failed" if self.read_failures else "")
                + f"; {len(plan.manual)} manual step(s)"
            )
        else:
            head = (
                f"dry run{who}: {len(plan.changes)} call(s) that change AWS were not made; "
                "re-run with --execute"
            )
        lines = [head]
        if self.stopped is not None:
            lines.append(f"  STOPPED: {self.stopped.message}")
        if self.inventory:
            lines.append(
                "  inventory, read before the undo steps (what they changed is not in it):"
                if self.execute
                else "  inventory, read now:"
            )
        lines += [f"  {line}" for line in self.inventory]
        for r in self.read_failures:
            said = r.error.message if r.error else "?"
            lines.append(f"  could not look: {r.action.operation} {_targets(r.action)}: {said}")
        for r in self.failed:
            said = r.error.message if r.error else "?"
            lines.append(f"  failed: {r.action.operation} {_targets(r.action)}: {said}")
        for r in self.unknown:
            lines.append(f"  outcome unknown: {r.note}")
        for r in self._of("done", "already-done", "dry-run"):
            minted = [t for t in r.action.targets if t.startswith("ASIA")]
            if r.action.params.get("PolicyName") == REVOKE_POLICY_NAME and minted:
                whose = r.action.targets[0]
                said = "revoked" if r.status != "dry-run" else "to revoke"
                lines.append(
                    f"  {said}: {', '.join(minted)} (the deny on {whose}'s tokens issued before "
                    "the run)"
                )
        grouped: dict[str, list[str]] = {}
        for r in self.left_alone:
            grouped.setdefault(r.note or "?", []).append(r.action.operation)
        for note, operations in grouped.items():
            lines.append(f"  left alone: {note} ({', '.join(operations)} not made)")
        for a in plan.manual:
            lines.append(f"  manual: {a.manual}")
        return lines


def _retry_attempts(err: AwsError) -> int:
    """How many times botocore retried the call before the answer ``err`` came from (an AWS
    error answer says so in its ResponseMetadata)."""
    cause = err.__cause__
    meta = (getattr(cause, "response", None) or {}).get("ResponseMetadata") or {}
    attempts = meta.get("RetryAttempts")
    return attempts if isinstance(attempts, int) else 0


def _lost_earlier(err: AwsError) -> bool:
    """Whether an attempt before the one that answered ``err`` may have been applied (its answer
    lost: a connection broken after sending, a 5xx) and botocore retried: the retry's error then
    says nothing of the change. Attempts not recorded: any retry counts."""
    if err.attempts:
        return any(err.attempts[:-1])
    return _retry_attempts(err) > 0


def _maybe_applied(err: AwsError) -> bool:
    """Whether the request may have reached AWS although no usable answer came back: the
    connection broke after it was sent (closed, read timeout), something that is not AWS
    answered (a proxy may have forwarded it), or AWS answered a 5xx (it may or may not have
    processed it). A connection never made (DNS, connect timeout, TLS) or an AWS error code
    answer (4xx) means it was not applied."""
    cause = err.__cause__
    if isinstance(cause, BotoConnectionError):
        return False  # never connected
    if isinstance(cause, HTTPClientError):
        return True  # sent, then the connection broke
    if isinstance(cause, ClientError):
        meta = cause.response.get("ResponseMetadata") or {}
        return int(meta.get("HTTPStatusCode") or 0) >= 500
    return isinstance(err, EndpointError) and err.code in ("UnparsableResponse", "NotAnAwsAnswer")


def _targets(action: Action) -> str:
    return " ".join(action.targets) if action.targets else ""


class Runner:
    """Makes calls for one run: prints each before it runs, ledgers its start and its outcome.

    ``echo`` receives every line (the CLI prints them through ``term_safe``); ``context`` is
    added to every ledger record (finding_id, access_key_id, plan).
    """

    def __init__(
        self,
        aws: Aws,
        *,
        ledger: str | Path | None = None,
        echo: Callable[[str], None] = print,
        context: Mapping[str, Any] | None = None,
        run_id: str | None = None,
    ) -> None:
        self.aws = aws
        self.ledger = Path(ledger).expanduser() if ledger else default_ledger_path()
        self.echo = echo
        self.context = dict(context or {})
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.seq = 0
        self.caller: Caller | None = None
        #: fields added to the next record only (the run's first: the plan it carries out)
        self.opening: dict[str, Any] = {}
        #: the suspect user's new name, found by its key's ID when its old one is gone
        self.renamed: dict[str, str] = {}
        #: users (folded to lower case) seen holding the suspect key (ListAccessKeys listed it)
        self.holders: set[str] = set()
        #: the identity check of each principal the activity created: (status, why) or None
        self.identities: dict[tuple[str, str], tuple[str, str] | None] = {}
        #: the (status, note) of steps skipped so far: a reason is printed once
        self.said: set[tuple[str, str]] = set()

    # -- ledger
    def _record(self, record: Mapping[str, Any]) -> None:
        entry = {
            "kind": "action",
            "run_id": self.run_id,
            **self.context,
            "caller_account": self.caller.account if self.caller else None,
            **self.opening,
            **record,
            "at": pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z"),
        }
        try:
            ledger_append(self.ledger, _jsonable(entry))
            self.opening = {}
        except OSError as e:
            raise InputError(
                f"cannot write the ledger {self.ledger}: {e.strerror or e}",
                hint="every call is recorded before it is made: fix the ledger (or pass "
                "--ledger FILE) and re-run; re-running is safe",
            ) from e

    def refused(self, error: RefusedError) -> None:
        """Record a guard's refusal (best effort: the refusal stands even if this fails)."""
        try:
            self._record({"phase": "refused", "reason": error.message, "hint": error.hint})
        except InputError as e:
            log.warning("%s", e)

    def skipped(self, action: Action, status: str, note: str) -> CallResult:
        self._record(
            {"phase": "skipped", "status": status, "note": note, "action": action.to_dict()}
        )
        label = "already done" if status == "already-done" else "LEFT ALONE"
        if (status, note) in self.said:  # the same reason for another step: said once
            self.echo(f"  {label}: {action.operation} too (the same reason)")
        else:
            self.said.add((status, note))
            self.echo(f"  {label}: {note}")
        return CallResult(action, status, note=note)

    def retarget(self, action: Action) -> Action:
        """``action`` on the suspect user's new name when the run found it renamed."""
        user = action.params.get("UserName")
        new = self.renamed.get(user.casefold()) if isinstance(user, str) else None
        if new is None or action.manual:
            return action
        targets = tuple(new if t == user else t for t in action.targets)
        return replace(action, params={**action.params, "UserName": new}, targets=targets)

    # -- one call
    def call(
        self,
        action: Action,
        *,
        verb: str,
        suspect_key: str | None = None,
        probe: bool = False,
    ) -> CallResult:
        """Print, ledger, call, ledger, print. Never raises for an AWS answer (an error is a
        ``failed`` result); raises InputError only when the ledger cannot be written.

        ``probe``: a read that checks whether a change is done; "no such entity" is its answer
        (a ``read`` with no response), and its answer is not an inventory sentence."""
        self.seq += 1
        seq = self.seq
        self.echo(f"{verb:<8} {action.cli()}  # {action.why}")
        self._record({"phase": "start", "seq": seq, "action": action.to_dict()})
        if action.changes_aws:
            log.info("executing %s %s", action.name, dict(action.params))
        try:
            response = invoke(self.aws, action)
        except AwsError as err:
            return self._failed(action, seq, err, probe=probe)
        except TorinvestError as err:  # refused before it was sent (a bad region…): this step
            failed = AwsError(
                err.message,
                hint=err.hint,
                service=action.service,
                region=action.region,
                operation=action.operation,
                code=type(err).__name__,
            )
            return self._failed(action, seq, failed, probe=probe)
        status = "done" if action.changes_aws else "read"
        note = None if probe else describe_answer(action, response, suspect_key)
        self._record(
            {
                "phase": "outcome",
                "seq": seq,
                "status": status,
                "response": response,
                "note": note,
            }
        )
        self.echo(f"  {'answer' if note else status}: {note or action.operation}")
        return CallResult(action, status, response=response, note=note)

    def _failed(self, action: Action, seq: int, err: AwsError, *, probe: bool) -> CallResult:
        absent = err.code in ABSENT_CODES
        no_profile = action.operation == "GetLoginProfile" and "login profile" in (
            err.message.lower()
        )  # not "the user with name … cannot be found"
        if absent and not probe and not action.changes_aws and not no_profile:
            user = action.params.get("UserName")
            if user:
                err = AwsError(
                    f"could not look at user {user} (renamed or deleted?): {err.message}",
                    hint=err.hint,
                    service=err.service,
                    region=err.region,
                    operation=err.operation,
                    code=err.code,
                )
        elif absent and (probe or no_profile):  # an answer: none
            note = f"none ({err.message})" if probe else describe_answer(action, None)
            self._record(
                {"phase": "outcome", "seq": seq, "status": "read", "response": None, "note": note}
            )
            self.echo(f"  answer: {note}")
            return CallResult(action, "read", error=err, note=note)
        if absent and action.absent_ok and _lost_earlier(err):
            note = (
                f"{action.operation} {_targets(action)}: nothing to remove now, and an earlier "
                f"attempt of this call lost its answer ({_retry_attempts(err)} retry(ies)): this "
                "run probably made the change"
            )
            self._record(
                {
                    "phase": "outcome",
                    "seq": seq,
                    "status": "done",
                    "error": {"code": err.code, "message": err.message},
                    "note": note,
                }
            )
            self.echo(f"  done (probably by this run): {note}")
            return CallResult(action, "done", error=err, note=note)
        if action.changes_aws and (_maybe_applied(err) or _lost_earlier(err)):
            lost = (
                f"the request may have reached AWS but its answer was lost ({err.message})"
                if _maybe_applied(err)
                else f"an earlier attempt may have reached AWS but its answer was lost, and "
                f"botocore's retry got {err.code or 'an error'} ({err.message}), which does not "
                "say whether the earlier one took effect"
            )
            note = (
                f"{action.operation} {_targets(action)}: {lost}: whether it took effect is "
                "unknown — check it, or re-run (a re-run checks first)"
            )
            self._record(
                {
                    "phase": "outcome",
                    "seq": seq,
                    "status": "unknown",
                    "error": {"code": err.code, "message": err.message, "hint": err.hint},
                    "note": note,
                }
            )
            self.echo(f"  OUTCOME UNKNOWN: {note}")
            return CallResult(action, "unknown", error=err, note=note)
        if absent and action.absent_ok:
            note = f"{action.operation} {_targets(action)}: nothing to remove ({err.message})"
            self._record(
                {
                    "phase": "outcome",
                    "seq": seq,
                    "status": "already-done",
                    "error": {"code": err.code, "message": err.message},
                    "note": note,
                }
            )
            self.echo(f"  already done: {note}")
            return CallResult(action, "already-done", error=err, note=note)
        if err.code == "DeleteConflict":
            err = AwsError(
                err.message,
                hint="it still has something the activity did not show (keys, policies, groups, "
                "MFA devices, signing certificates, SSH keys, instance profiles): remove those by "
                "hand, then re-run",
                service=err.service,
                region=err.region,
                operation=err.operation,
                code=err.code,
            )
        self._record(
            {
                "phase": "outcome",
                "seq": seq,
                "status": "failed",
                "error": {"code": err.code, "message": err.message, "hint": err.hint},
            }
        )
        self.echo(f"  FAILED: {err}")
        return CallResult(action, "failed", error=err)

    # -- guards
    def identify(self) -> Caller:
        """``sts:GetCallerIdentity`` with the run's credentials (printed and ledgered)."""
        action = Action(
            "sts",
            "GetCallerIdentity",
            {},
            why="whose credentials are these? (before anything that changes AWS)",
            changes_aws=False,
        )
        result = self.call(action, verb="CHECK")
        if result.status != "read" or result.response is None:
            said = result.error.message if result.error else "no answer"
            raise RefusedError(
                f"refused: could not tell whose credentials these are: {said}; "
                "nothing else was called",
                hint=(result.error.hint if result.error and result.error.hint else "")
                or "check the credentials and the network, then re-run",
            )
        resp = result.response
        self.caller = Caller(
            account=str(resp["Account"]), arn=str(resp["Arn"]), user_id=str(resp.get("UserId"))
        )
        return self.caller


def check_account(caller: Caller, plan: Plan, config: AwsConfig | None = None) -> None:
    """Raise :class:`RefusedError` unless ``caller`` is in the finding's account (remediation)."""
    if not plan.account_id:
        raise RefusedError(
            f"refused: finding {plan.finding_id} does not name its account, so the account of "
            f"these credentials ({caller.account}) cannot be checked; nothing was changed",
            hint="load the finding from GuardDuty or a complete export",
        )
    if caller.account != plan.account_id:
        raise RefusedError(
            f"refused: finding {plan.finding_id} is in account {plan.account_id}, but these "
            f"credentials ({caller.arn}) are account {caller.account}; nothing was changed",
            hint=credentials_hint(plan.account_id, config),
        )


def check_administrator(runner: Runner, plan: Plan, config: AwsConfig | None = None) -> str:
    """The caller's GuardDuty detector in the finding's region when the caller may archive the
    finding (its own standalone/administrator account, or its administrator); else raise
    :class:`RefusedError` saying which account can. Read-only GuardDuty calls, each recorded."""
    caller = runner.caller
    assert caller is not None
    region = plan.region

    def read(op: str, params: Mapping[str, Any], why: str) -> CallResult:
        return runner.call(
            Action("guardduty", op, dict(params), why=why, region=region, changes_aws=False),
            verb="CHECK",
        )

    def stop(result: CallResult) -> RefusedError:
        said = result.error.message if result.error else "no answer"
        return RefusedError(
            f"refused: could not check that account {caller.account} may archive "
            f"{plan.finding_id}: {said}; nothing was changed",
            hint=(result.error.hint if result.error else None) or "re-run when GuardDuty answers",
        )

    listed = read("ListDetectors", {}, "the caller's GuardDuty detector")
    if listed.status != "read":
        raise stop(listed)
    detectors = (listed.response or {}).get("DetectorIds") or []
    if not detectors:
        raise RefusedError(
            f"refused: account {caller.account} has no GuardDuty detector in {region}, so it "
            f"cannot archive {plan.finding_id}; nothing was changed",
            hint=credentials_hint(plan.account_id, config)
            + " (the finding's account or its GuardDuty administrator)",
        )
    detector = str(detectors[0])
    admin = read("GetAdministratorAccount", {"DetectorId": detector}, "is it a member account?")
    if admin.status != "read":
        raise stop(admin)
    info = (admin.response or {}).get("Administrator") or {}
    if info.get("AccountId") and info.get("RelationshipStatus") == "Enabled":
        admin_id = str(info["AccountId"])
        raise RefusedError(
            f"refused: account {caller.account} is a GuardDuty member of administrator account "
            f"{admin_id}: only {admin_id} can archive findings or create suppression rules; "
            "nothing was changed",
            hint=credentials_hint(admin_id, config),
        )
    if caller.account == plan.account_id:
        return detector
    seen = read(
        "GetFindings",
        {"DetectorId": detector, "FindingIds": [plan.finding_id]},
        f"is account {caller.account} the GuardDuty administrator of {plan.account_id}?",
    )
    if seen.status != "read":
        raise stop(seen)
    found = [
        f
        for f in (seen.response or {}).get("Findings") or []
        if isinstance(f, dict) and f.get("Id") == plan.finding_id
    ]
    if found and str(found[0].get("AccountId")) == str(plan.account_id):
        return detector
    raise RefusedError(
        f"refused: finding {plan.finding_id} is in account {plan.account_id}; these credentials "
        f"({caller.arn}) are account {caller.account}, which is neither that account nor its "
        f"GuardDuty administrator (its detector in {region} does not hold the finding); nothing "
        "was changed",
        hint=credentials_hint(plan.account_id, config)
        + " — or of its GuardDuty administrator account",
    )


def _guard(runner: Runner, plan: Plan, config: AwsConfig | None) -> Plan:
    """Run the account guard for ``plan``; return the plan to carry out (an archive plan is
    re-made with the caller's detector)."""
    caller = runner.identify()
    if plan.kind == "archive":
        detector = check_administrator(runner, plan, config)
        return _with_detector(plan, detector)
    check_account(caller, plan, config)
    return plan


def _with_detector(plan: Plan, detector: str) -> Plan:
    actions = [
        replace(a, params={**a.params, "DetectorId": detector}) if "DetectorId" in a.params else a
        for a in plan.actions
    ]
    return Plan(
        actions=actions,
        notes=list(plan.notes),
        kind=plan.kind,
        finding_id=plan.finding_id,
        account_id=plan.account_id,
        region=plan.region,
        access_key_id=plan.access_key_id,
    )


def carry_out(
    aws: Aws,
    plan: Plan,
    *,
    execute: bool = False,
    offline: bool = False,
    ledger: str | Path | None = None,
    echo: Callable[[str], None] = print,
    context: Mapping[str, Any] | None = None,
    recheck_verdict: bool = False,
) -> RunReport:
    """Carry out ``plan``: print every action; with ``execute``, make its calls behind the
    account guard (the verdict gate, :func:`require_verdict`, comes first and is the caller's).

    ``recheck_verdict`` (the CLI's ``--execute``): the ledger is read again right before each
    change, and the run stops — that change and every later one not made, the refusal printed
    and ledgered, :attr:`RunReport.stopped` set — when the finding's current decided verdict is
    no longer one the plan follows (recorded by another analyst while the plan was built).

    ``offline`` (a dry run from a case folder): print the plan and whose credentials ``--execute``
    would use; call nothing. A dry run against AWS checks the account first and runs the
    read-only inventory only in the right account. Raises :class:`RefusedError` when ``execute``
    and a guard refuses (after recording the refusal), InputError when the ledger cannot be
    written; an AWS error of one call is a ``failed`` result and the next calls still run.
    """
    runner = Runner(
        aws,
        ledger=ledger,
        echo=echo,
        context={
            "finding_id": plan.finding_id,
            "access_key_id": plan.access_key_id,
            "plan": plan.kind,
            **(context or {}),
        },
    )
    report = RunReport(plan=plan, execute=execute, run_id=runner.run_id)
    if execute:  # an interrupted run is told from a complete one by what it set out to do
        runner.opening = {
            "planned_changes": len(plan.changes),
            "planned": [" ".join((a.name, *a.targets)) for a in plan.changes],
        }
    config = aws.config
    if offline:
        report.notes.append(_would_use(plan, config))
        for a in plan.actions:
            verb = "MANUAL" if a.manual else ("DRY RUN" if a.changes_aws else "READ")
            echo(f"{verb:<8} {a.cli()}  # {a.why}" + ("" if a.changes_aws else " (not run)"))
            status = "manual" if a.manual else ("dry-run" if a.changes_aws else "not-run")
            report.results.append(CallResult(a, status))
        return report
    try:
        plan = _guard(runner, plan, config)
        allowed = True
    except RefusedError as refusal:
        report.caller = runner.caller
        if execute:
            runner.refused(refusal)
            raise
        allowed = False
        report.notes.append(f"--execute would be {refusal.message}; {refusal.hint}")
    report.caller = runner.caller
    report.plan = plan
    for a in plan.actions:
        a = runner.retarget(a)
        if report.stopped is not None and not a.manual:
            report.results.append(CallResult(a, "not-run", note="the run stopped"))
            continue
        if a.manual:
            echo(f"{'MANUAL':<8} {a.cli()}  # {a.why}")
            report.results.append(CallResult(a, "manual"))
        elif not a.changes_aws:
            if not allowed:
                echo(f"{'READ':<8} {a.cli()}  # {a.why} (not run: wrong account)")
                report.results.append(CallResult(a, "not-run"))
                continue
            r = runner.call(a, verb="READ", suspect_key=plan.access_key_id)
            report.results.append(r)
            if r.note:
                report.inventory.append(r.note)
        elif not execute:
            echo(f"{'DRY RUN':<8} {a.cli()}  # {a.why}")
            report.results.append(CallResult(a, "dry-run"))
        else:
            if recheck_verdict:
                report.stopped = _verdict_changed(runner, plan, ledger)
                if report.stopped is not None:
                    report.results.append(CallResult(a, "not-run", note="the run stopped"))
                    continue
            report.results.append(_change(runner, a))
    return report


def _verdict_changed(runner: Runner, plan: Plan, ledger: str | Path | None) -> RefusedError | None:
    """Read the ledger again before a change: the refusal (printed and ledgered) when the
    finding's current decided verdict no longer allows ``plan``; None when it still does."""
    try:
        require_verdict(plan.finding_id, plan.kind, ledger=ledger)
    except RefusedError as e:
        refusal = RefusedError(
            e.message.replace(
                "nothing was called", "the run stopped before its next change"
            ).replace("refused:", "refused while running:", 1),
            hint="no further change was made; the ones above (if any) were made under the "
            "earlier verdict: review them against the new verdict",
        )
        runner.echo(f"REFUSED  {refusal.message}")
        runner.refused(refusal)
        return refusal
    return None


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
        f"undo by hand there (aws iam get-{called} --{called}-name {now[0]})",
    )


def _change(runner: Runner, action: Action, *, looked: bool = False) -> CallResult:
    """One change: the identity check of a principal the activity created (before any undo
    step on it), its probe (when one can tell it is done), then the call."""
    same = (
        _identity(runner, action) or _finding_user(runner, action) or _group_holds(runner, action)
    )
    if same is not None:
        return runner.skipped(action, *same)
    probe = _probe(action)
    if probe is not None:
        read, check = probe
        seen = runner.call(read, verb="CHECK", probe=True)
        verdict = check(seen.response) if seen.status == "read" else None
        if action.operation == "UpdateAccessKey" and _lists_key(seen, action):
            runner.holders.add(str(action.params["UserName"]).casefold())
        if verdict is not None and verdict[0] in ("no-user", "not-listed"):
            if looked:
                return runner.skipped(action, "left-alone", f"{verdict[1]}: check it by hand")
            return _find_key_owner(runner, action, verdict[1])
        if verdict is not None and verdict[0] == "replace":
            runner.echo(f"  replacing: {verdict[1]}")
        elif verdict is not None:
            return runner.skipped(action, *verdict)
    return runner.call(action, verb="EXECUTE")


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
                f"(aws iam get-group --group-name {group}) and re-run",
            )
        names = [str(e.get(item) if item and isinstance(e, Mapping) else e) for e in listed]
        if names:
            held.append(
                f"{called} {', '.join(names)} (aws iam {command} NAME --group-name {group})"
            )
    if not held:
        return None
    return (
        "left-alone",
        f"group {group} still holds what the run did not see the activity add: "
        + "; ".join(held)
        + f": not deleted — review them with their owner, remove them by hand, then aws iam "
        f"delete-group --group-name {group}",
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
            f"by hand (aws iam get-access-key-last-used --access-key-id {key})",
        )
    runner.renamed[user.casefold()] = owner
    runner.echo(f"  {missing}: key {key} belongs to {owner} (renamed): acting on {owner}")
    return _change(runner, runner.retarget(action), looked=True)


def _would_use(plan: Plan, config: AwsConfig | None) -> str:
    where = (
        f"account {plan.account_id} (the finding's)"
        if plan.kind == "remediate"
        else f"the GuardDuty administrator account of {plan.account_id} (or {plan.account_id} "
        "itself when standalone)"
    )
    return (
        f"--execute would run with {credentials_source(config)}; it checks first "
        f"(sts:GetCallerIdentity) that they are {where} and refuses otherwise"
    )


def whose_credentials(plan: Plan, aws: Aws | None, config: AwsConfig | None = None) -> str:
    """For the notebook: whose credentials ``--execute`` would use and whether they fit the plan.

    With ``aws`` (an online investigation), asks STS who they are (read only); otherwise says
    where the credentials would come from, without calling AWS.
    """
    if aws is None:
        return _would_use(plan, config)
    try:
        ident = invoke(
            aws,
            Action("sts", "GetCallerIdentity", {}, why="whose credentials", changes_aws=False),
        )
    except AwsError as e:
        return f"{_would_use(plan, aws.config)}; could not ask STS who they are: {e}"
    account, arn = str(ident["Account"]), str(ident["Arn"])
    if plan.kind == "remediate":
        fits = (
            "the finding's account: --execute may run"
            if account == plan.account_id
            else f"not the finding's account {plan.account_id}: --execute would be refused "
            f"({credentials_hint(plan.account_id, aws.config)})"
        )
    else:
        fits = (
            "the finding's account: --execute may archive if it is standalone or the "
            "GuardDuty administrator (checked at run time)"
            if account == plan.account_id
            else f"not the finding's account {plan.account_id}: --execute archives only if "
            "this is its GuardDuty administrator (checked at run time)"
        )
    return f"--execute would run as {arn} (account {account}, {credentials_source(aws.config)}): {fits}"


def exit_problem(report: RunReport) -> TorinvestError | None:
    """The error a command ends with after the run (None: it did what it was asked)."""
    if report.stopped is not None:
        return report.stopped
    if report.failed or report.unknown:
        n, u = len(report.failed), len(report.unknown)
        total = len(report.done) + n + u + len(report.already)
        return TorinvestError(
            f"{n} of {total} change(s) failed"
            + (f", {u} with an unknown outcome (the answer was lost)" if u else ""),
            hint="see FAILED and OUTCOME UNKNOWN above; the ledger has every call and its answer; "
            "re-running is safe (it checks first)",
        )
    return None
