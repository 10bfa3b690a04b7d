"""The run: the account guards, each action printed, ledgered, made (or found done), and the
report of it all (:func:`carry_out`, :class:`RunReport`).

The pieces live beside it (:mod:`~torinvest.runner.recorder`: each call made and recorded;
:mod:`~torinvest.runner.guards`: the account guards; :mod:`~torinvest.runner.checks`: what
exists before a change); their public names are importable from here as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torinvest.actions import REVOKE_POLICY_NAME, Action, Plan
from torinvest.aws import Aws
from torinvest.commands import Access
from torinvest.errors import InputError, RefusedError, RunFailedError, TorinvestError
from torinvest.runner.checks import _change
from torinvest.runner.confirm import dry_run_note
from torinvest.runner.gate import ANOTHER_KEY_HINT, Caller, judged_another_key, require_verdict
from torinvest.runner.guards import UNVOUCHED_HINT, _guard, _would_use, unvouched_endpoints
from torinvest.runner.guards import check_account as check_account
from torinvest.runner.guards import check_administrator as check_administrator
from torinvest.runner.guards import whose_credentials as whose_credentials
from torinvest.runner.keep import DenyKeeper, Kept, Lifted
from torinvest.runner.recorder import (
    GONE,
    UnrecordedOutcome,
    _targets,
    unfinished_runs,
    unfinished_said,
)
from torinvest.runner.recorder import CallResult as CallResult
from torinvest.runner.recorder import Runner as Runner
from torinvest.verdict import decision_lock, read_ledger


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
    #: earlier --execute runs of the plan that did not finish
    #: (:func:`~torinvest.runner.recorder.unfinished_runs`)
    earlier: list[dict[str, Any]] = field(default_factory=list)
    #: the denies removed before a DeleteUser/DeleteRole that did not succeed, and whether each
    #: was put back (:mod:`~torinvest.runner.keep`)
    kept: list[Kept] = field(default_factory=list)
    #: the denies removed before a DeleteUser/DeleteRole that deleted the principal
    lifted: list[Lifted] = field(default_factory=list)
    #: the --execute run was interrupted (Ctrl-C, SIGTERM) before its end
    #: (:func:`interrupted_said`): its results are what it did, :attr:`not_made` what it did not
    interrupted: bool = False
    #: the plan's changes an interrupted run (or one whose ledger failed) never made
    not_made: list[Action] = field(default_factory=list)
    #: the plan's action being carried out (its index), and how many results came before it
    step: int = 0
    step_start: int = 0

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
                (
                    f"INTERRUPTED run {self.run_id}{who}, before its end: "
                    if self.interrupted
                    else f"summary of run {self.run_id}{who}: "
                )
                + f"{len(self.done)} change(s) done, "
                f"{len(self.already)} already done, {len(self.failed)} failed"
                + (f", {len(self.unknown)} outcome(s) unknown" if self.unknown else "")
                + (f", {len(self.not_made)} not made" if self.interrupted else "")
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
        if plan.evidence:  # said where the plan's counts are: stdout, a ticket pasted from it
            lines.append(f"  evidence: {plan.evidence}")
        if self.stopped is not None:
            lines.append(f"  STOPPED: {self.stopped.message}")
        for earlier in self.earlier:
            lines.append(f"  earlier: {unfinished_said(earlier)}")
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
        for a in self.not_made:
            lines.append(
                f"  not made (the run was interrupted before it): {a.operation} {_targets(a)}"
            )
        for r in self._of("done", "already-done", "dry-run"):
            minted = [t for t in r.action.targets if t.startswith("ASIA")]
            if r.action.params.get("PolicyName") == REVOKE_POLICY_NAME and minted:
                whose = r.action.targets[0]
                said = "revoked" if r.status != "dry-run" else "to revoke"
                lines.append(
                    f"  {said}: {', '.join(minted)} (the deny on {whose}'s tokens issued before "
                    "the run)"
                )
            ended = r.action.ends_sessions_of
            if r.action.deleted_by is not None and GONE in (r.note or ""):
                lines.append(f"  {r.note}")  # the user is gone: no session was left to end
            elif r.action.operation == "PutUserPolicy" and ended:
                whose = r.action.targets[0] if r.action.targets else ended[0]
                said = (
                    "console sessions ended" if r.status != "dry-run" else "console sessions to end"
                )
                lines.append(
                    f"  {said}: {', '.join(ended)} (the deny on {whose}'s tokens issued before "
                    "the run; the sessions signed in with the password(s) the key set among them)"
                )
        for k in (*self.lifted, *self.kept):
            lines.append(f"  {k.said()}")
        grouped: dict[str, list[str]] = {}
        for r in self.left_alone:
            grouped.setdefault(r.note or "?", []).append(r.action.operation)
        for note, operations in grouped.items():
            lines.append(f"  left alone: {note} ({', '.join(operations)} not made)")
        for a in plan.manual:
            lines.append(f"  manual: {a.manual}")
        return lines


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
    verdict: Mapping[str, Any] | None = None,
    access: Access | None = None,
    started: Callable[[RunReport], None] | None = None,
) -> RunReport:
    """Carry out ``plan``: print every action; with ``execute``, make its calls behind the
    account guard (the verdict gate, :func:`require_verdict`, comes first and is the caller's).

    ``recheck_verdict`` (the CLI's ``--execute``): the ledger is read again right before each
    change, and the run stops — that change and every later one not made, the refusal printed
    and ledgered, :attr:`RunReport.stopped` set — when the finding's current decided verdict is
    no longer one the plan follows (recorded by another analyst while the plan was built).

    ``verdict``: the decided verdict the run follows (the CLI's gate returned it). An archive
    is refused when GuardDuty's copy of the finding changed since that verdict judged it
    (:func:`~torinvest.runner.gate.stale_verdict`): later activity was never reviewed; the
    commands that refusal prints name ``access`` (the sources the run was given). Every
    archive also reads the finding in the detector it changes first and refuses when that
    detector does not hold it, or holds another type, account, region, principal or key than the
    plan's copy (:func:`~torinvest.runner.guards.check_same_finding`).

    ``offline`` (a dry run from a case folder): print the plan and whose credentials ``--execute``
    would use; call nothing. A dry run against AWS checks the account first and runs the
    read-only inventory only in the right account. Raises :class:`RefusedError` when ``execute``
    and a guard refuses (after recording the refusal), InputError when the ledger cannot be
    written; an AWS error of one call is a ``failed`` result and the next calls still run.

    ``started`` receives the report as soon as it exists: a run interrupted (Ctrl-C, SIGTERM)
    raises, and its report then says what it did and did not do (:attr:`RunReport.interrupted`,
    :func:`interrupted_said`).
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
    if started is not None:
        started(report)
    # earlier --execute runs of this plan that were interrupted: said first, and ledgered
    report.earlier = unfinished_runs(read_ledger(runner.ledger)[0], plan.finding_id, plan.kind)
    for earlier in report.earlier:
        echo(f"{'EARLIER':<8} {unfinished_said(earlier)}")
    if execute:  # an interrupted run is told from a complete one by what it set out to do
        runner.opening = {
            "planned_changes": len(plan.changes),
            "planned": [" ".join((a.name, *a.targets)) for a in plan.changes],
            **({"earlier_unfinished": report.earlier} if report.earlier else {}),
        }
    config = aws.config
    unvouched = unvouched_endpoints(aws, plan)  # an override the account check cannot see
    refusals = (
        # the finding file edited after the verdict (another key than the one judged)?
        (judged_another_key(verdict, plan), ANOTHER_KEY_HINT),
        (unvouched, UNVOUCHED_HINT),
    )
    for why, hint in refusals:  # before any call: refused with --execute, said in a dry run
        if why is None:
            continue
        refusal = RefusedError(f"refused: {why}; nothing was called", hint=hint)
        if execute:
            runner.refused(refusal)
            raise refusal
        report.notes.append(f"--execute would be {refusal.message}; {refusal.hint}")
    if offline:
        report.notes.append(_would_use(plan, config))
        for a in plan.actions:
            verb = "MANUAL" if a.manual else ("DRY RUN" if a.changes_aws else "READ")
            note = dry_run_note(a) if verb == "DRY RUN" else ""
            echo(f"{verb:<8} {a.cli()}  # {a.why}{note}" + ("" if a.changes_aws else " (not run)"))
            status = "manual" if a.manual else ("dry-run" if a.changes_aws else "not-run")
            report.results.append(CallResult(a, status))
        return report
    try:
        if unvouched is not None:  # a dry run: nothing is read where STS cannot vouch
            raise RefusedError(unvouched, hint=UNVOUCHED_HINT)
        plan = _guard(runner, plan, config, verdict, ledger, access)
        allowed = True
    except KeyboardInterrupt:  # in a guard's read: nothing was changed
        if execute:
            _stopped_at(report, runner)
        raise
    except RefusedError as refusal:
        report.caller = runner.caller
        if execute:
            runner.refused(refusal)
            raise
        allowed = False
        if unvouched is None:  # said above
            report.notes.append(f"--execute would be {refusal.message}; {refusal.hint}")
    report.caller = runner.caller
    report.plan = plan
    keeper = DenyKeeper(runner, plan)
    report.kept = keeper.kept
    report.lifted = keeper.lifted
    try:
        _each(runner, plan, report, keeper, execute, allowed, unvouched, recheck_verdict, ledger)
    except BaseException as stop:  # interrupted: no deny left removed from a user still there
        if isinstance(stop, UnrecordedOutcome) and stop.result.action.changes_aws:
            report.results.append(stop.result)  # made: said on the terminal, not ledgered
        if execute and isinstance(stop, KeyboardInterrupt | InputError):
            _stopped_at(report, runner, interrupted=isinstance(stop, KeyboardInterrupt))
        report.results += keeper.finish("never ran (the run was interrupted)")
        if execute and isinstance(stop, InputError):  # the ledger failed half-way
            raise InputError(
                f"{stop.message}: the run stopped there — this run: {changes_said(report)}",
                hint=stop.hint,
            ) from stop
        raise
    why = "never ran (the run stopped)" if report.stopped is not None else "never ran"
    report.results += keeper.finish(why)
    return report


def _each(
    runner: Runner,
    plan: Plan,
    report: RunReport,
    keeper: DenyKeeper,
    execute: bool,
    allowed: bool,
    unvouched: str | None,
    recheck_verdict: bool,
    ledger: str | Path | None,
) -> None:
    """Each action of ``plan`` in turn (the body of :func:`carry_out`); a deny removed before a
    DeleteUser/DeleteRole that did not succeed is put back right after it (``keeper``)."""
    echo = runner.echo
    for i, a in enumerate(plan.actions):
        report.step, report.step_start = i, len(report.results)
        a = runner.retarget(a)
        if report.stopped is not None and not a.manual:
            report.results.append(CallResult(a, "not-run", note="the run stopped"))
            continue
        if a.manual:
            echo(f"{'MANUAL':<8} {a.cli()}  # {a.why}")
            report.results.append(CallResult(a, "manual"))
        elif not a.changes_aws:
            if not allowed:
                why = "endpoint not vouched for" if unvouched is not None else "wrong account"
                echo(f"{'READ':<8} {a.cli()}  # {a.why} (not run: {why})")
                report.results.append(CallResult(a, "not-run"))
                continue
            r = runner.call(
                a, verb="READ", suspect_key=plan.access_key_id, first_tor=plan.first_tor
            )
            report.results.append(r)
            if r.note:
                report.inventory.append(r.note)
        elif not execute:
            echo(f"{'DRY RUN':<8} {a.cli()}  # {a.why}{dry_run_note(a)}")
            report.results.append(CallResult(a, "dry-run"))
        else:
            if not recheck_verdict:
                _made(report, keeper, a, _change(runner, a))
                continue
            # one critical section: the verdict read again and the change made — a verdict
            # recorded meanwhile waits, and reads the finding again after the change
            with decision_lock(ledger):
                report.stopped = _verdict_changed(runner, plan, ledger)
                if report.stopped is None:
                    _made(report, keeper, a, _change(runner, a))
            if report.stopped is not None:
                report.results.append(CallResult(a, "not-run", note="the run stopped"))


def _made(report: RunReport, keeper: DenyKeeper, action: Action, result: CallResult) -> None:
    """A change's result in the report, and the deny put back after it when it was a
    DeleteUser/DeleteRole that did not delete a principal this run took the deny off."""
    report.results.append(result)
    restored = keeper.after(action, result)
    if restored is not None:
        report.results.append(restored)


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


def _stopped_at(report: RunReport, runner: Runner, *, interrupted: bool = True) -> None:
    """Mark ``report`` stopped before its end (``interrupted``: by Ctrl-C or SIGTERM; else the
    ledger failed): the call in flight when interrupted (its outcome as recorded: a change's
    unknown) among its results, and the plan's changes it never reached in
    :attr:`RunReport.not_made` — the one being carried out among them unless its own call was
    made (answered, or in flight)."""
    plan, i = report.plan, report.step
    rest = list(plan.actions[i + 1 :])
    reached = len(report.results) > report.step_start  # the step's own result is in
    in_flight = runner.in_flight
    changing = in_flight is not None and in_flight.action.changes_aws
    if i < len(plan.actions) and not reached and not changing:
        rest.insert(0, plan.actions[i])  # stopped in its checks: the change was not sent
    report.not_made = [runner.retarget(a) for a in rest if a.changes_aws and not a.manual]
    if in_flight is not None:
        report.results.append(in_flight)
    report.interrupted = interrupted


def _named(results: list[CallResult]) -> str:
    return ", ".join(f"{r.action.operation} {_targets(r.action)}".strip() for r in results)


def changes_said(report: RunReport) -> str:
    """What the run changed and did not, counted as its summary counts them: each change made
    and each of unknown outcome named, then already done, failed, left alone, not made."""
    done, unknown = report.done, report.unknown
    said = [f"{len(done)} change(s) made" + (f" ({_named(done)})" if done else "")]
    if unknown:
        said.append(f"{len(unknown)} with an unknown outcome ({_named(unknown)})")
    if report.already:
        said.append(f"{len(report.already)} already done")
    if report.failed:
        said.append(f"{len(report.failed)} failed ({_named(report.failed)})")
    if report.left_alone:
        said.append(f"{len(report.left_alone)} left alone (not made: see 'left alone' above)")
    stopped = report._of("not-run", changes=True)
    if stopped:
        said.append(f"{len(stopped)} not made (the run stopped before them)")
    if report.interrupted or report.not_made:
        said.append(f"{len(report.not_made)} not made")
    return ", ".join(said)


def interrupted_said(report: RunReport) -> str:
    """What an interrupted run did and did not change, in one line (the command's last)."""
    return (
        f"run {report.run_id} stopped before its end: {changes_said(report)}; the ledger has "
        "every call; re-run to finish (a re-run checks each change first)"
    )


def exit_problem(report: RunReport) -> TorinvestError | None:
    """The error a command ends with after the run (None: it did what it was asked); its
    message ends with what the run changed and did not (:func:`changes_said`)."""
    if report.stopped is not None:
        return type(report.stopped)(  # the refusal's class: its exit status
            f"{report.stopped.message}; this run: {changes_said(report)}",
            hint=report.stopped.hint,
        )
    if report.failed or report.unknown:
        n, u = len(report.failed), len(report.unknown)
        total = len(report.done) + n + u + len(report.already) + len(report.left_alone)
        return RunFailedError(
            f"{n} of {total} change(s) failed"
            + (f", {u} with an unknown outcome (the answer was lost)" if u else "")
            + f"; this run: {changes_said(report)}",
            hint="see FAILED and OUTCOME UNKNOWN above; the ledger has every call and its answer; "
            "re-running is safe (it checks first)",
        )
    return None
