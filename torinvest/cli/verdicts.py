"""``torinvest verdict`` records a verdict in the ledger; ``torinvest verdicts`` lists them."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from torinvest.aws import parse_regions
from torinvest.cli.args import (
    LEDGER_HELP,
    _add_aws_args,
    _investigate,
    _sources_for,
    add_investigation_args,
    names_a_source,
)
from torinvest.cli.output import issue_count, print_issues, print_partial
from torinvest.errors import RefusedError
from torinvest.safety import term_safe
from torinvest.verdict import STATUSES


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest verdict`` and its arguments to the parser."""
    v = sub.add_parser(
        "verdict",
        help="record a verdict on a finding in the ledger (no notebook)",
        description="Record the analyst's verdict on a finding in the ledger. With --case, an "
        "AWS option (--profile, --regions, --role-arn) or a source option (--logs, --engine, "
        "--exit-list, --geoip) the investigation runs first, reading what `investigate` would, "
        "and its evidence summary is stored with the verdict; otherwise only the record is. The same "
        "verdict again (status, analyst, rationale) adds no record; a different one supersedes "
        "the analyst's own current one (which stays in the ledger), and another analyst's only "
        "with --supersede. With a source, the finding is read again from GuardDuty right "
        "before recording: when it changed since the evidence was read, nothing is recorded "
        "(unless --finding-changed-ok); when it cannot be read again (--case, no access), the "
        "verdict says so. pending is not a verdict: it records nothing.",
    )
    v.add_argument("finding_id", metavar="FINDING_ID", help="GuardDuty finding ID")
    v.add_argument("--status", required=True, choices=STATUSES, help="the verdict")
    v.add_argument("--analyst", default="", help="who decides (needed unless pending)")
    v.add_argument("--rationale", default="", help="why (needed unless pending)")
    v.add_argument(
        "--supersede",
        action="store_true",
        help="record the verdict even when it replaces another analyst's current one (without "
        "it, theirs stays current and yours is NOT recorded; exit 5, refused)",
    )
    v.add_argument(
        "--finding-changed-ok",
        action="store_true",
        help="record the verdict even when GuardDuty's finding, read again right before "
        "recording, changed since the evidence was read (new activity, another key, archived "
        "or unarchived, severity): the record says so; without it, nothing is recorded (exit 5, refused)",
    )
    v.add_argument("--ledger", metavar="FILE", help=LEDGER_HELP)
    v.add_argument("--case", metavar="DIR", help="case folder: store the evidence from it")
    _add_aws_args(v, regions_default=None, full=False)
    add_investigation_args(v)  # the evidence is read as `investigate` reads it
    v.set_defaults(func=cmd_verdict)

    vs = sub.add_parser(
        "verdicts",
        help="the current verdict of each finding, newest first (--history: every record)",
    )
    vs.add_argument("--ledger", metavar="FILE", help=LEDGER_HELP)
    vs.add_argument("--finding", metavar="FINDING_ID", help="only this finding's verdicts")
    vs.add_argument(
        "--history",
        action="store_true",
        help="every verdict record, each marked current, superseded, not a decision (pending), "
        "malformed or duplicate",
    )
    vs.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    vs.set_defaults(func=cmd_verdicts)


# --------------------------------------------------------------------------------------------
# verdicts
# --------------------------------------------------------------------------------------------
def _verdict_line(record: dict[str, Any]) -> str:
    """``malicious by ana at 2024-… (key AKIA…)`` for a terminal."""
    key = record.get("access_key_id")
    return (
        f"{term_safe(record.get('status'))} by {term_safe(record.get('analyst')) or '-'} at "
        f"{term_safe(record.get('recorded_at'))}" + (f" (key {term_safe(key)})" if key else "")
    )


def cmd_verdict(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest.findings import check_finding_id
    from torinvest.findings.recheck import CHECK_CHANGED
    from torinvest.investigation import CHANGED_OK_FLAG, changed_refusal, recheck
    from torinvest.report import evidence
    from torinvest.verdict import (
        CHAIN_BROKEN,
        CHAIN_HINT,
        NEXT_STEPS,
        clock_behind,
        decision_lock,
        default_ledger_path,
        finding_check_note,
        latest_verdict,
        make_verdict,
        read_ledger,
        record_decision,
    )

    check_finding_id(args.finding_id)
    if args.regions is not None:
        parse_regions(args.regions)  # '' names no region: refused, even where nothing is read
    if args.status == "pending":  # not a verdict: it never replaces a decision
        path = Path(args.ledger).expanduser() if args.ledger else default_ledger_path()
        current = latest_verdict(read_ledger(path)[0], args.finding_id)
        print(
            "torinvest: note: nothing recorded: pending is not a verdict and never replaces "
            f"one; the current verdict on {args.finding_id} is "
            + (_verdict_line(current) if current else "none (nothing recorded yet)"),
            file=err,
        )
        return 0
    # a decided verdict needs an analyst and a rationale: check before any investigation
    make_verdict(
        args.finding_id, status=args.status, analyst=args.analyst, rationale=args.rationale
    )
    inv = None
    if names_a_source(args):
        inv = _investigate(args, _sources_for(args))
        print_issues(inv.data_issues, err)  # what the evidence stored with it could not read
    said = evidence(inv) if inv is not None else None
    # one critical section: the finding read again, checked against the evidence and the
    # verdict appended — no verdict (or archive) over this ledger slips in between
    with decision_lock(args.ledger):
        check = recheck(inv)  # the finding read again right before recording (not: says why)
        changed = check.state == CHECK_CHANGED
        if changed and not args.finding_changed_ok:  # a guard's refusal: `torinvest: error:`
            assert inv is not None
            raise RefusedError(
                f"verdict NOT recorded: {changed_refusal(inv, check)}. Run the same command "
                f"again (it reads the finding as GuardDuty has it then): {_again(args)} — or, "
                f"to record this verdict over the change, add {CHANGED_OK_FLAG}"
            )
        v = make_verdict(
            args.finding_id,
            status=args.status,
            analyst=args.analyst,
            rationale=args.rationale,
            access_key_id=inv.key.access_key_id if inv is not None else None,
            evidence=said,
            finding=inv.finding if inv is not None else None,
            finding_check=check.to_record(accepted=CHANGED_OK_FLAG if changed else ""),
        )
        done = record_decision(v, args.ledger, supersede=args.supersede)
    if done.refused is not None:
        raise RefusedError(
            f"verdict NOT recorded: {done.why}; it stays current. Read it (torinvest verdicts "
            f"--finding {v.finding_id} --history), then, to record yours over it, run the same "
            "command with --supersede"
        )
    if inv is None and done.added:
        print(
            "torinvest: note: WITHOUT EVIDENCE: no source option was given, so no investigation "
            "ran with this verdict: it stores no evidence and no state of the finding; "
            "`torinvest actions --plan archive --execute` does not follow it (record it with "
            "the source it was read from: --regions REGION, --case DIR or --logs PATH); a "
            "remediation does (its plan reads the evidence itself)",
            file=err,
        )
    broken = [i for i in done.issues if i.problem.startswith(CHAIN_BROKEN)]
    if broken:  # recorded all the same; no action follows it while the chain is broken
        print_issues(broken, err)
        print(
            f"torinvest: warning: the ledger {term_safe(done.path)} was changed after it was "
            "written (its hash chain is broken, above): `actions --execute` follows no verdict "
            f"of it, this one included: {CHAIN_HINT}",
            file=err,
        )
    if done.added:
        print(
            f"recorded: {v.status} for {v.finding_id}"
            + (f" (key {v.access_key_id})" if v.access_key_id else "")
            + f" by {term_safe(v.analyst) or '-'} at {v.recorded_at} in {done.path}",
            file=out,
        )
        if done.superseded is not None:
            print(f"supersedes: {_verdict_line(done.superseded)} (kept in the ledger)", file=out)
            behind = clock_behind(done.superseded, done.record)
            if behind:
                print(
                    f"torinvest: note: this verdict was {behind} (this host's clock is behind "
                    "the one that recorded it): it is still the current verdict, the ledger's "
                    "order decides; check this host's clock (NTP)",
                    file=err,
                )
    else:
        print(
            f"already recorded: {_verdict_line(done.record)} for {v.finding_id} in {done.path} "
            "(the same verdict: nothing added)",
            file=out,
        )
    if inv is None and done.added:
        print("torinvest: note: no source given: the verdict carries no evidence", file=err)
    elif inv is not None:
        said = _reading_note(v.evidence, v.status)
        if said:  # recorded (exit 0) over evidence that is not whole: the partial marker
            print_partial(said, err)
        checked = finding_check_note(v.to_dict()) if done.added else None
        if checked:  # not re-read (a case folder, access denied…), or changed and accepted
            print(f"torinvest: note: {term_safe(checked)}", file=err)
    print(f"next: {NEXT_STEPS[v.status]}", file=out)
    return 0


def _again(args: argparse.Namespace) -> str:
    """This ``torinvest verdict`` command again, over the same sources (shell-quoted)."""
    from torinvest.cli.args import source_options
    from torinvest.commands import Access, command
    from torinvest.safety import option

    extra = ["--status", args.status, "--analyst", args.analyst, "--rationale", args.rationale]
    if args.supersede:
        extra.append("--supersede")
    if args.ledger:
        extra.append(option("--ledger", args.ledger))
    named = Access.of_options(source_options(args)).args()
    # every enabled region (the default) is named, or the command would read no source
    return command("verdict", args.finding_id, extra=[*extra, *(named or ["--regions=all"])])


def _reading_note(evidence: Mapping[str, Any], status: str) -> str | None:
    """What a verdict's evidence did not read, said beside "recorded": could not look (and, for
    legitimate, that an archive will not follow it) or incomplete; None when it read all."""
    from torinvest.verdict import READING_COULD_NOT_LOOK, READING_INCOMPLETE

    reading = evidence.get("reading")
    if reading == READING_COULD_NOT_LOOK:
        return (
            f"COULD NOT LOOK: this verdict's evidence read none of the key's activity "
            f"({evidence.get('could_not_look')}); it says nothing about whether the key was used"
            + (
                "; `torinvest actions --plan archive --execute` will not follow it: investigate "
                "with credentials that can read the activity and record the verdict again"
                if status == "legitimate"
                else ""
            )
        )
    if reading == READING_INCOMPLETE:
        return (
            f"INCOMPLETE: this verdict's evidence has {evidence.get('data_issues')} data "
            "issue(s) (above): what could not be read is not in it"
        )
    return None


def cmd_verdicts(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest.verdict import (
        current_verdicts,
        default_ledger_path,
        finding_check_label,
        finding_check_note,
        read_ledger_chain,
        verdict_states,
    )

    path = args.ledger or default_ledger_path()
    read = read_ledger_chain(path)
    records, issues = [r for _, r in read.lines], read.issues
    others: set[str] = set()  # findings with records, when --finding names none of them
    if args.finding:
        mine = [r for r in records if r.get("finding_id") == args.finding]
        if not mine:
            others = {str(r.get("finding_id")) for r in records if r.get("kind") == "verdict"}
        records = mine
    verdicts = verdict_states(records) if args.history else current_verdicts(records)
    if args.json:
        keep = ("recorded_at", "finding_id", "access_key_id", "status", "analyst", "rationale")
        # problem: why it is malformed; duplicate: of which earlier record it is a copy
        extra = ("state", "clock", "clock_ahead", "duplicate", "evidence", "problem")
        # the finding read again at recording: the record's check (None: written before it)
        # and its label (unchanged, CHANGED, NOT RE-READ, not checked)
        rows = [
            {
                **{k: r.get(k) for k in (*keep, *extra)},
                "finding_check": r.get("finding_check") or None,
                "finding_checked": finding_check_label(r),
            }
            for r in verdicts
        ]
        # ASCII-only JSON: attacker or analyst text cannot reach the terminal as control codes
        out.write(json.dumps(rows, indent=2, ensure_ascii=True) + "\n")
    else:
        out.write(format_verdicts(verdicts) + "\n")
    for r in verdicts:  # beside --json too: a record whose time, copy or finding misleads
        checked = finding_check_note(r)
        for said in (r.get("clock_ahead"), r.get("duplicate"), checked):
            if said:
                print(
                    f"torinvest: note: {term_safe(r.get('status'))} on "
                    f"{term_safe(r.get('finding_id'))} at {term_safe(r.get('recorded_at'))}: "
                    f"{term_safe(said)}",
                    file=err,
                )
    print_issues(issues, err)
    if issues:  # a line that could not be read may be a verdict: the list is partial
        print_partial(
            f"{issue_count(issues)} ledger issue(s) (above): a verdict on a line that could "
            "not be read is not listed, and the current verdict shown may not be the latest",
            err,
        )
    if read.chain.breaks:  # tamper evidence: where the ledger was changed after writing
        lines = ", ".join(str(b.line) for b in read.chain.breaks)
        print(
            f"torinvest: warning: the ledger {term_safe(path)} was changed after it was "
            f"written: its hash chain breaks at line(s) {lines} (above) — a verdict shown may "
            "have been changed, or a later one removed; `actions --execute` follows no "
            "verdict of it until it is restored or replaced",
            file=err,
        )
    unchained = read.chain.unchained_note()
    if unchained:
        print(f"torinvest: note: {term_safe(unchained)}", file=err)
    if others:  # "no verdicts" of a mistyped ID must not read as "nothing decided"
        print(
            f"torinvest: note: no verdict on finding {term_safe(args.finding)} in "
            f"{term_safe(path)}: it holds verdicts on {len(others)} other finding(s) (check the "
            "ID: torinvest verdicts without --finding lists them)",
            file=err,
        )
    if not Path(path).exists():
        print(f"torinvest: note: no ledger at {path} yet", file=err)
    elif not args.history:
        earlier = sum(1 for r in records if r.get("kind") == "verdict") - len(verdicts)
        if earlier:
            print(
                f"torinvest: note: the current verdict per finding; {earlier} earlier "
                "record(s) are history (--history lists every record)",
                file=err,
            )
    return 0


def format_verdicts(records: Sequence[dict[str, Any]]) -> str:
    """Verdicts as a plain-text table (every cell made inert for a terminal); a ``state``
    column when the records carry one (``--history``)."""
    from torinvest.verdict import finding_check_label

    if not records:
        return "no verdicts"
    cols = [
        ("recorded at", "recorded_at", 20),
        ("finding", "finding_id", 32),
        ("access key", "access_key_id", 20),
        ("status", "status", 12),
        ("analyst", "analyst", 20),
        ("rationale", "rationale", 60),
    ]
    if any("state" in r for r in records):
        cols.insert(4, ("state", "state", 14))
    # how the finding was when recorded: unchanged, CHANGED, NOT RE-READ, not checked
    cols.insert(cols.index(("analyst", "analyst", 20)), ("finding re-read", "finding_check", 12))
    rows = [[c[0] for c in cols]]
    for r in records:
        row = []
        for _, key, width in cols:
            v = finding_check_label(r) if key == "finding_check" else r.get(key)
            if key == "recorded_at" and v:
                v = str(v)[:19].replace("T", " ")
            row.append(term_safe("-" if v in (None, "") else v, limit=width))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in records:
        if r.get("clock"):
            lines.append(
                f"note: {term_safe(r.get('status'))} on {term_safe(r.get('finding_id'))} at "
                f"{term_safe(r.get('recorded_at'))}: {term_safe(r['clock'])} (the ledger's "
                "order decides which verdict is current, not the recorded time)"
            )
    return "\n".join(lines)
