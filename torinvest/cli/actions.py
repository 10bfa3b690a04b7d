"""``torinvest actions``: the archive or remediation plan of a finding, a dry run unless
``--execute``.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from torinvest.cli.args import (
    LEDGER_HELP,
    UsageError,
    _add_aws_args,
    _investigate,
    _sources_for,
    add_investigation_args,
    aws_from_args,
    source_options,
)
from torinvest.cli.output import issue_count, print_issues, print_partial
from torinvest.commands import Access
from torinvest.errors import group_issues
from torinvest.options import PLAN_KINDS, SUPPRESSION_SCOPES
from torinvest.safety import term_safe

#: The --scope choices and what each covers (the usage error and --help say it).
SCOPE_CHOICES = (
    "principal (every key of the finding's IAM user; refused for a role session, a federated "
    "user or root, whose principal is a name someone chooses or the whole account) or key "
    "(the finding's access key only)"
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest actions`` and its arguments to the parser."""
    a = sub.add_parser(
        "actions",
        help="the archive or remediation plan of a finding: a dry run unless --execute",
        description="Print the plan that follows a verdict: archive (legitimate; --suppress adds "
        "a suppression rule scoped to the finding type and --scope: the IAM user or the key) or "
        "remediate (not legitimate: deactivate the key, revoke sessions and minted "
        "credentials, undo what its activity created, rotate the secrets it read). Nothing that "
        "changes AWS runs without --execute, and --execute refuses without a matching decided "
        "verdict in the ledger or with credentials of another account (sts:GetCallerIdentity "
        "first). Each call is printed before it runs and ledgered with its answer.",
    )
    a.add_argument("finding_id", metavar="FINDING_ID", help="GuardDuty finding ID")
    a.add_argument("--plan", required=True, choices=PLAN_KINDS, help="which plan")
    a.add_argument("--suppress", action="store_true", help="archive: add a suppression rule")
    a.add_argument(
        "--scope",
        choices=SUPPRESSION_SCOPES,
        help="what the suppression rule matches (required with --suppress): " + SCOPE_CHOICES,
    )
    a.add_argument(
        "--execute",
        action="store_true",
        help="make the calls that change AWS (needs the verdict the plan follows, and "
        "credentials of the finding's account: --profile or --role-arn)",
    )
    a.add_argument("--ledger", metavar="FILE", help=LEDGER_HELP)
    a.add_argument(
        "--case",
        metavar="DIR",
        help="read the finding and its activity from a case folder (the calls still go to AWS)",
    )
    _add_aws_args(a)
    add_investigation_args(a)  # the evidence is read as `investigate` reads it
    a.set_defaults(func=cmd_actions)


# --------------------------------------------------------------------------------------------
# actions
# --------------------------------------------------------------------------------------------
def cmd_actions(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest import actions, runner
    from torinvest.findings import check_finding_id
    from torinvest.findings.records import finding_facts
    from torinvest.investigation import load_findings, locate
    from torinvest.verdict import latest_decided_verdict, read_ledger

    check_finding_id(args.finding_id)
    decided: dict[str, Any] | None = None
    partial: list[str] = []  # what the plan could not rest on (the partial-result line)
    if args.suppress and args.plan != "archive":
        raise UsageError("--suppress goes with --plan archive")
    if args.suppress and args.scope is None:
        raise UsageError(f"--suppress needs --scope: {SCOPE_CHOICES}")
    if args.scope is not None and not args.suppress:
        raise UsageError("--scope goes with --suppress")
    if args.execute:  # the ledger only: no call before the verdict allows one
        decided = runner.require_verdict(
            args.finding_id, args.plan, ledger=args.ledger, access=_access(args)
        )
        print(
            f"torinvest: note: following the {decided.get('status')} verdict of "
            f"{term_safe(decided.get('analyst'))} recorded at {decided.get('recorded_at')}",
            file=err,
        )
    aws = aws_from_args(args)
    sources = _sources_for(args, aws=aws)
    if args.plan == "archive":
        row, _ = locate(load_findings(sources), args.finding_id)
        plan = actions.plan_archive(row, suppress=args.suppress, scope=args.scope)
        judged = finding_facts(row)
    else:
        inv = _investigate(args, sources)
        shown = len(group_issues(inv.data_issues))  # as printed below, the report counts
        plan = actions.plan_remediation(
            inv.key,
            inv.events,
            data_issues=shown,
            could_not_look=inv.could_not_look,
            origin=inv.key_origin(),
            passwords=inv.console_passwords,
        )
        print_issues(inv.data_issues, err)
        judged = finding_facts(inv.finding)
        if inv.could_not_look:
            partial.append(
                f"COULD NOT LOOK at the key's activity ({inv.could_not_look}): the plan is built "
                "without it"
            )
        elif inv.data_issues:
            partial.append(
                f"the plan is built from incomplete evidence: {shown} data issue(s) (above)"
            )
    records, ledger_issues = read_ledger(args.ledger)
    print_issues(ledger_issues, err)  # a torn line may be a lost verdict
    if ledger_issues:
        partial.append(
            f"{issue_count(ledger_issues)} ledger issue(s) (above): the verdict read may not be "
            "the latest"
        )
    gap = (
        None
        if args.execute
        else runner.verdict_gap(records, args.finding_id, args.plan, args.ledger, _access(args))
    )
    if not args.execute:  # the verdict a dry run's --execute would follow, if any
        decided = latest_decided_verdict(records, args.finding_id)
        if decided is not None and decided.get("status") not in actions.PLAN_VERDICTS[args.plan]:
            decided = None
    # a remediation over a verdict recorded without evidence: said first, and in the ledger
    unevidenced = runner.unevidenced_remediation(
        decided, args.plan, args.finding_id, args.ledger, _access(args)
    )
    if unevidenced is not None:
        print(f"torinvest: warning: {term_safe(unevidenced)}", file=err)
    for note in plan.notes:  # the plan's own notes first ("built from incomplete evidence")
        print(f"torinvest: note: {term_safe(note)}", file=err)
    if gap is not None:
        print(f"torinvest: note: {term_safe(gap)}", file=err)
    changed = _changed_note(args, decided, judged)
    if changed is not None:
        print(f"torinvest: note: {term_safe(changed)}", file=err)

    def echo(line: str) -> None:
        print(term_safe(line), file=out)

    begun: list[runner.RunReport] = []
    try:
        report = runner.carry_out(
            aws,
            plan,
            execute=args.execute,
            offline=bool(args.case) and not args.execute,
            ledger=args.ledger,
            echo=echo,
            recheck_verdict=args.execute,
            verdict=decided,
            access=_access(args),
            # each call's ledger record says the verdict it followed had no evidence
            context={"verdict_evidence": "none"} if unevidenced is not None else None,
            started=begun.append,
        )
    except KeyboardInterrupt as stop:  # Ctrl-C, SIGTERM: what was and was not changed, last
        if begun and begun[0].interrupted:
            for line in begun[0].summary_lines():
                echo(line)
            stop.add_note(runner.interrupted_said(begun[0]))
        raise
    for note in report.notes:
        print(f"torinvest: note: {term_safe(note)}", file=err)
    for line in report.summary_lines():
        echo(line)
    problem = runner.exit_problem(report)
    if problem is not None:
        raise problem
    if report.left_alone:  # changes of the plan this run did not make: never "complete"
        partial.insert(
            0,
            f"not every change of the plan was made — this run: {runner.changes_said(report)}",
        )
    if partial:
        print_partial("; ".join(partial), err)
    return 0


def _changed_note(
    args: argparse.Namespace, decided: dict[str, Any] | None, judged: dict[str, Any]
) -> str | None:
    """What the run says when the finding read now (``judged``) changed since the verdict it
    follows: a remediation goes ahead (newer activity does not make it wrong; the plan is built
    from the evidence read now); an archive says so from a case folder's dry run (online, the
    run's GetFindings tells, in the dry run as in --execute)."""
    from torinvest import runner

    if decided is None:
        return None
    changes = runner.finding_changes(decided, judged)
    if not changes:
        return None
    said = (
        f"finding {args.finding_id} changed since the {decided.get('status')} verdict of "
        f"{decided.get('analyst') or '?'} recorded at {decided.get('recorded_at') or '?'}: "
        + "; ".join(changes)
    )
    if args.plan == "remediate":
        return (
            f"{said}: the plan is built from the evidence read now, which includes that "
            "activity; the verdict stands (re-record it if the new activity changes it)"
        )
    if args.case and not args.execute:
        return (
            f"{said} (as the case folder has it): --execute would refuse to archive until the "
            "finding is re-investigated and the verdict recorded again (--execute checks "
            "GuardDuty's copy)"
        )
    return None


def _access(args: argparse.Namespace) -> Access:
    """The sources this ``actions`` run was given, for the commands its refusals print."""
    return Access.of_options(source_options(args))
