"""``torinvest investigate``: the report of a finding (or of every open one), run by
:mod:`torinvest.report`.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from torinvest.cli import post as post_cli
from torinvest.cli.args import (
    LEDGER_HELP,
    UsageError,
    _add_aws_args,
    add_investigation_args,
    source_options,
)
from torinvest.cli.output import print_issues, print_partial
from torinvest.errors import CouldNotLookError, RefusedError, RunFailedError
from torinvest.safety import term_safe
from torinvest.verdict import STATUSES

if TYPE_CHECKING:
    from torinvest.report import BatchResult


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest investigate`` and its arguments to the parser."""
    i = sub.add_parser(
        "investigate",
        help="the investigation report of a finding: report.html, report.ipynb, summary.json",
        description="Run the investigation notebook for one finding (or, with --all-open, for "
        "every open Tor finding) with papermill and write OUT/report.ipynb (executed), "
        "OUT/report.html (no code, opens offline), OUT/summary.json, and events.csv/per_ip.csv. "
        "When a notebook cell fails, the notebook and the HTML (with the error on top) are "
        "still written and the command exits 6 (a run that failed).",
    )
    i.add_argument("finding_id", nargs="?", metavar="FINDING_ID", help="GuardDuty finding ID")
    i.add_argument(
        "--all-open",
        action="store_true",
        help="one report per open (not archived) Tor finding, in OUT/finding-<id>/, with "
        "OUT/index.json and OUT/index.html",
    )
    i.add_argument(
        "--force",
        action="store_true",
        help="with --all-open: also re-run findings that already have a summary.json",
    )
    i.add_argument("--case", metavar="DIR", help="case folder (findings/, cloudtrail/, tor/)")
    _add_aws_args(i, full=False)
    i.add_argument("--out", required=True, metavar="DIR", help="folder for the report files")
    add_investigation_args(i)
    g = i.add_argument_group("verdict (recorded in the ledger unless pending)")
    g.add_argument("--verdict", choices=STATUSES, default="pending", help="default: pending")
    g.add_argument("--analyst", default="", help="who decides (needed unless pending)")
    g.add_argument("--rationale", default="", help="why (needed unless pending)")
    g.add_argument(
        "--suppress",
        action="store_true",
        help="with --verdict legitimate: also say what a suppression rule of each --scope would "
        "hide, or why it is refused (torinvest actions --suppress --scope makes it)",
    )
    g.add_argument(
        "--supersede",
        action="store_true",
        help="record the verdict even when it replaces another analyst's current one (without "
        "it, the report shows theirs and says yours was NOT recorded; exit 5, refused)",
    )
    g.add_argument(
        "--finding-changed-ok",
        action="store_true",
        help="record the verdict even when GuardDuty's finding changed since this run read it "
        "(new activity, another key, archived or unarchived, severity): the verdict then says "
        "so; without it, nothing is recorded and the report says what changed (exit 5, refused)",
    )
    g.add_argument("--ledger", metavar="FILE", help=LEDGER_HELP)
    post_cli.add_investigate_arguments(i)
    i.set_defaults(func=cmd_investigate, on_failure=say_what_was_left)


# --------------------------------------------------------------------------------------------
# investigate: the report
# --------------------------------------------------------------------------------------------
def run_options(args: argparse.Namespace) -> Any:
    """The report's RunOptions from the investigate arguments: the sources' (shared with
    ``actions`` and ``verdict``, :func:`torinvest.cli.args.source_options`), then the verdict's."""
    return dataclasses.replace(
        source_options(args),
        verdict_status=args.verdict,
        analyst=args.analyst,
        rationale=args.rationale,
        suppress=args.suppress,
        supersede=args.supersede,
        finding_changed_ok=args.finding_changed_ok,
        ledger=args.ledger,
    )


def say_what_was_left(args: argparse.Namespace, err: TextIO) -> None:
    """A single report interrupted (Ctrl-C, SIGTERM) once it began: what its folder holds —
    nothing written, or an unfinished report (no manifest: nothing reads it as one), and the
    report kept from before (``report.previous.html``) when there is one. ``--all-open`` says
    it in its index; an error says itself."""
    from torinvest.report import folder_state

    if args.all_open or not isinstance(sys.exc_info()[1], KeyboardInterrupt) or not args.out:
        return
    folder = Path(args.out)
    if folder_state(folder).state == "complete":
        return  # untouched (stopped before the run began), or complete (stopped in its post)
    state = folder_state(folder, args.finding_id)
    kept = (folder / "report.previous.html").is_file()
    said = (
        f"{term_safe(folder)} holds no report: the run was stopped before it wrote one"
        if not state.present
        else f"the report in {term_safe(folder)} was not finished ({state.why}): "
        "nothing reads it as a report"
    )
    if kept:
        said += "; the report before this run is kept as report.previous.html"
    print(f"torinvest: note: {said}; run the command again to make it", file=err)


def _check_investigate_usage(args: argparse.Namespace) -> None:
    if args.external_id and not args.role_arn:
        raise UsageError("--external-id goes with --role-arn")
    if args.all_open and args.finding_id:
        raise UsageError("give a FINDING_ID or --all-open, not both")
    if not args.all_open and not args.finding_id:
        raise UsageError("give a FINDING_ID (or --all-open for every open finding)")
    if args.force and not args.all_open:
        raise UsageError("--force goes with --all-open")
    if args.all_open and args.verdict != "pending":
        raise UsageError(
            "a verdict is per finding: run --all-open without --verdict, then "
            "`torinvest verdict FINDING_ID …`"
        )
    if args.suppress and args.verdict != "legitimate":
        raise UsageError("--suppress goes with --verdict legitimate")
    if args.supersede and args.verdict == "pending":
        raise UsageError("--supersede goes with --verdict legitimate|malicious|inconclusive")
    if args.finding_changed_ok and args.verdict == "pending":
        raise UsageError(
            "--finding-changed-ok goes with --verdict legitimate|malicious|inconclusive"
        )


def cmd_investigate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest import report
    from torinvest.events import ACCOUNT_GAP
    from torinvest.investigation import NOTHING_READ_SOURCE
    from torinvest.report.folders import hold as hold_folder

    _check_investigate_usage(args)
    post_cli.check_investigate_arguments(args)  # before a kernel starts
    options = run_options(args)
    if args.all_open:
        return _investigate_all(args, options, out, err)
    # before saying what it starts: the options, then the finding (a Tor finding there)
    folder, fetched = report.check_run(args.finding_id, args.out, options, finding=True)
    print(f"torinvest: investigating {args.finding_id} into {args.out} …", file=err)
    # --post: the folder's lock is held from the run to the last file posted, so that no other
    # run changes the report in between (run_report and the post take it again inside)
    with hold_folder(folder, reentrant=True) if args.post else contextlib.nullcontext():
        run = report.run_report(args.finding_id, args.out, options, fetched=fetched)  # not again
        data = run.summary_data or {}
        print(report.one_line_summary(data), file=out)
        refused = str((data.get("verdict") or {}).get("note") or "").startswith("NOT RECORDED")
        # could not look: the closing error line states the reading's issue (said once)
        say_reading(data, err, warnings=run.warnings, said_after=not refused)
        partial = _partial_reading(data)
        if partial:  # exit 0 with a reading that is not whole: the contract's marker
            print_partial(partial, err)
        print(f"notebook: {run.notebook}", file=out)
        print(f"summary:  {run.summary}", file=out)
        print(f"report:   {run.html}", file=out)
        post_cli.post_after_investigate(args, folder, out, err)  # a complete report only
    note = str((data.get("verdict") or {}).get("note") or "")
    if note.startswith("NOT RECORDED"):  # the report shows the current verdict: say it here too
        raise RefusedError(
            f"verdict {note}",
            hint=f"the report shows the current verdict ({run.html}); nothing was recorded",
        )
    unread = [i for i in data.get("data_issues", []) if i["source"] == NOTHING_READ_SOURCE]
    if unread:  # the report says "could not look": so does the exit status
        problem = str(unread[0]["problem"])
        raise CouldNotLookError(
            problem
            if problem.startswith(ACCOUNT_GAP)  # sources read, of other accounts
            else f"no activity source could be read: {problem}",
            hint=f"the report says so ({run.html}); fix the sources and re-run",
        )
    return 0


def say_reading(
    data: dict[str, Any],
    err: TextIO,
    *,
    warnings: Sequence[str] = (),
    said_after: bool = False,
) -> None:
    """What ``investigate`` says on stderr of a report's reading, from its ``summary.json``
    (``data``): each data issue (the list the report's answer and Data issues card show:
    :func:`torinvest.investigation.report_issues`), the verdict's check of the finding, the
    reading notes, data events, who minted the key, the baseline, IAM's last use of the key —
    each attacker-written part through :func:`~torinvest.safety.term_safe` — and the run's
    warnings. ``said_after``: a reading that could not look ends the command with an error
    stating its issue (:data:`~torinvest.investigation.NOTHING_READ_SOURCE`), not listed here
    too."""
    from torinvest.data_events import summary_data_events
    from torinvest.investigation import NOTHING_READ_SOURCE, baseline_phrase, key_origin_phrase
    from torinvest.last_used import SOURCE as LAST_USED_SOURCE
    from torinvest.last_used import summary_text
    from torinvest.verdict import finding_check_note

    for issue in data.get("data_issues", []):
        if said_after and issue.get("source") == NOTHING_READ_SOURCE:
            continue
        print(
            f"torinvest: issue: {term_safe(issue['source'])}: {term_safe(issue['problem'])}",
            file=err,
        )
    checked = finding_check_note(data.get("verdict") or {})
    if checked:  # the verdict recorded: the finding not re-read, or changed and accepted
        print(f"torinvest: note: verdict: {term_safe(checked)}", file=err)
    for note in data.get("reading_notes") or []:  # no issue: what "complete" rests on
        print(f"torinvest: note: {term_safe(note)}", file=err)
    said = summary_data_events(data)  # LookupEvents never returns S3 object reads…
    if said is not None:
        print(f"torinvest: note: {term_safe(said.text)}", file=err)
    if key_origin_phrase(data):  # who minted the key: revoking it does not stop them
        print(f"torinvest: note: {term_safe(key_origin_phrase(data))}", file=err)
    if baseline_phrase(data):  # no call before the first sighting: no issue, a floor
        print(f"torinvest: note: {term_safe(baseline_phrase(data))}", file=err)
    if summary_text(data) and not any(
        i.get("source") == LAST_USED_SOURCE for i in data.get("data_issues") or []
    ):  # IAM's last use of the key (calls missing: the issue above says it)
        print(f"torinvest: note: key last used (IAM): {term_safe(summary_text(data))}", file=err)
    for warning in warnings:
        print(f"torinvest: warning: {term_safe(warning)}", file=err)


def _partial_reading(data: dict[str, Any]) -> str | None:
    """What a report's reading is missing, for the partial-result line (None: complete, no
    events, or could not look — which is an error, exit 3)."""
    from torinvest.investigation import READING_INCOMPLETE, summary_reading

    state, _ = summary_reading(data)
    if state != READING_INCOMPLETE:
        return None
    return (
        f"the report's reading is incomplete: {len(data.get('data_issues') or [])} data "
        "issue(s) (above): what could not be read is not in it"
    )


def _print_entries(batch: BatchResult, out: TextIO, err: TextIO) -> None:
    """The batch's data issues, then a line per finding: status, ID, key, report, notes."""
    print_issues(batch.issues, err)
    width = max([len(e.status) for e in batch.entries] + [6])
    for e in batch.entries:
        html = batch.out / e.report["html"] if "html" in e.report else "(no report.html)"
        print(
            f"{e.status:<{width}}  {e.finding_id}  {term_safe(e.access_key_id or '-')}  {html}"
            + ("" if e.complete else "  (incomplete)")
            + (f"  {term_safe(e.reading_note())}" if e.reading_note() else "")
            + (f"  ({term_safe(e.note)})" if e.note else ""),
            file=out,
        )


def _investigate_all(args: argparse.Namespace, options: Any, out: TextIO, err: TextIO) -> int:
    from torinvest.investigation import READING_INCOMPLETE
    from torinvest.post.batch import IndexNotWritten, run_open
    from torinvest.post.state import MAX_ATTEMPTS

    try:
        batch, scheduled = run_open(
            args.out,
            options,
            force=args.force,
            jobs=args.jobs,
            templates=args.post_each,
            post=post_cli.batch_poster(args, err),
            echo=lambda s: print(term_safe(s), file=err),
        )
    except IndexNotWritten as e:  # each finding's line still said, then the error
        _print_entries(e.batch, out, err)
        raise
    _print_entries(batch, out, err)
    print(f"index: {batch.index_html}", file=out)
    if batch.gap:
        print_partial(f"{batch.gap}; open findings there have no report in this batch", err)
    unposted = sorted(
        {f for f in scheduled.failed if f not in {e.finding_id for e in batch.failed}}
    )
    if unposted:
        print_partial(
            f"{len(unposted)} report(s) not posted ({', '.join(unposted)}): each NOT POSTED "
            "line above says why; the next run tries them again",
            err,
        )
    if batch.unread:
        print_partial(
            f"{len(batch.unread)} of {len(batch.entries)} report(s) could not look at their "
            "key's activity (COULD NOT LOOK above): they say nothing about whether the key was "
            f"used: {', '.join(e.finding_id for e in batch.unread)}",
            err,
        )
    incomplete = [e for e in batch.entries if e.reading == READING_INCOMPLETE]
    if incomplete:
        print_partial(
            f"{len(incomplete)} of {len(batch.entries)} report(s) read their key's activity in "
            "part (DATA ISSUE(S) above): what could not be read is not in them: "
            + ", ".join(e.finding_id for e in incomplete),
            err,
        )
    if batch.failed:
        left = [e.finding_id for e in batch.failed if e.finding_id in scheduled.given_up]
        raise RunFailedError(
            f"{len(batch.failed)} of {len(batch.entries)} report(s) failed"
            + (
                f" ({len(left)} of them not tried again after {MAX_ATTEMPTS} failed runs: "
                f"{', '.join(left)})"
                if left
                else ""
            ),
            hint=f"each failed report shows its error on top; see {batch.index_html}"
            + (
                "; fix what the error says, then run with --force (or wait for the finding to "
                "change) to try the ones not tried again"
                if left
                else ""
            ),
        )
    if not batch.entries:
        where = " where torinvest could look" if batch.gap else ""
        print(f"torinvest: note: no open Tor finding{where}", file=err)
    return 0
