"""``torinvest findings``: the Tor findings of a case folder, a file or GuardDuty, with the
key each one names.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

import orjson
import pandas as pd

from torinvest.aws import parse_regions
from torinvest.case import Case
from torinvest.cli.args import (
    _account,
    _add_aws_args,
    _end_time,
    _iso_time,
    aws_from_args,
    check_window,
)
from torinvest.cli.output import print_issues, print_partial
from torinvest.errors import DataIssue
from torinvest.safety import json_inert, term_safe

if TYPE_CHECKING:  # the findings package is imported when a command reads findings
    from torinvest.findings import Finding, FindingsResult, KeyLocation


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest findings`` and its arguments to the parser."""
    f = sub.add_parser(
        "findings",
        help="list Tor findings and the access key each one names",
        description="List UnauthorizedAccess:IAMUser/TorIPCaller and Recon:IAMUser/TorIPCaller "
        "findings, from a case folder or from GuardDuty in every region, with the key each names.",
    )
    src = f.add_mutually_exclusive_group()
    src.add_argument("--case", metavar="DIR", help="case folder (reads DIR/findings)")
    src.add_argument("--file", metavar="PATH", help="a findings export file or folder")
    _add_aws_args(f)
    f.add_argument("--include-archived", action="store_true", help="archived findings too")
    f.add_argument("--start", type=_iso_time, help="updated at or after (ISO 8601, UTC)")
    f.add_argument(
        "--end", type=_end_time, help="updated at or before (ISO 8601, UTC; a date: that whole day)"
    )
    f.add_argument(
        "--account",
        action="append",
        dest="accounts",
        type=_account,
        help="account ID, 12 digits (repeatable)",
    )
    f.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    f.set_defaults(func=cmd_findings)


FINDING_JSON_KEYS = (
    "id",
    "type",
    "account_id",
    "region",
    "severity",
    "access_key_id",
    "key_kind",
    "principal_id",
    "user_name",
    "user_type",
    "tor_ip",
    "first_seen",
    "last_seen",
    "count",
    "archived",
)


# --------------------------------------------------------------------------------------------
# findings
# --------------------------------------------------------------------------------------------
def load_findings(args: argparse.Namespace) -> FindingsResult:
    """Findings from --case, --file or GuardDuty, as the arguments say; Tor findings only.

    Raises CouldNotLookError when no region could be searched or no file read (the library's
    rule, :meth:`FindingsResult.require_looked`), never an empty list then."""
    from torinvest.findings import fetch_findings, read_findings

    check_window(args)
    regions = parse_regions(args.regions)  # '' is refused with --case/--file too
    if args.case:
        result = read_findings(Case.open(args.case).require("findings"))
    elif args.file:
        result = read_findings(args.file)
    else:
        result = fetch_findings(
            aws_from_args(args),
            regions,
            include_archived=args.include_archived,
            start=args.start,
            end=args.end,
            account_ids=args.accounts,
        )
    result = result.tor_only().require_looked()
    if args.case or args.file:
        result = _filter_files(result, args)
    return result


def _filter_files(result: FindingsResult, args: argparse.Namespace) -> FindingsResult:
    """Apply --include-archived/--account/--start/--end to findings read from files: each
    finding left out is counted (``archived``, ``filtered`` by option); a finding
    whose ``updatedAt`` is not a time is kept, with an issue naming it, when a window is given."""
    keep = []
    accounts = set(args.accounts or ())
    for f in result.findings:
        svc = f.data.get("service")
        archived = isinstance(svc, dict) and str(svc.get("archived")).lower() == "true"
        if archived and not args.include_archived:
            result.archived += 1
            continue
        if accounts and f.data.get("accountId") not in accounts:
            result.filtered["--account"] += 1
            continue
        if not _in_window(f, args, result.issues):
            result.filtered["--start/--end"] += 1
            continue
        keep.append(f)
    result.findings = keep
    return result


def _in_window(f: Finding, args: argparse.Namespace, issues: list[DataIssue]) -> bool:
    """Whether ``f`` was updated in [--start, --end]; True, with an issue, when its
    ``updatedAt`` is not a time (it cannot be placed, so it is not left out)."""
    if args.start is None and args.end is None:
        return True
    raw = f.data.get("updatedAt")  # checked when read: a value that is not a time is None
    updated = pd.to_datetime(raw, utc=True, errors="coerce") if isinstance(raw, str) else None
    if updated is None or pd.isna(updated):
        issues.append(
            DataIssue(
                f.origin,
                f"finding {f.id} has no usable updatedAt: listed, as --start/--end cannot place it",
            )
        )
        return True
    return (args.start is None or updated >= args.start) and (
        args.end is None or updated <= args.end
    )


def located_records(result: FindingsResult) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    """One JSON-ready record per Tor finding whose key was located, newest last sighting first
    (:func:`~torinvest.findings.newest_sighting_first`: the order of the table's "last seen"
    column, the triage notebook's and the index's), and the problems."""
    from torinvest.findings import iter_located, newest_sighting_first

    frame = newest_sighting_first(result.frame())  # the table's "last seen", newest first
    records: list[dict[str, Any]] = []
    problems: list[DataIssue] = []
    for row, loc in iter_located(frame):
        if isinstance(loc, Exception):
            problems.append(DataIssue(str(row["origin"]), str(loc)))
            continue
        records.append(_record(row, loc))
    return records, problems


def _record(row: pd.Series, loc: KeyLocation) -> dict[str, Any]:
    d = loc.to_dict()
    return {
        "id": loc.finding_id,
        "type": loc.finding_type,
        "account_id": d["account_id"],
        "region": d["region"],
        "severity": None if pd.isna(row["severity"]) else float(row["severity"]),
        "access_key_id": loc.access_key_id,
        "key_kind": loc.kind,
        "principal_id": d["principal_id"],
        "user_name": d["user_name"],
        "user_type": d["user_type"],
        "tor_ip": d["tor_ip"],
        "first_seen": d["first_seen"],
        "last_seen": d["last_seen"],
        "count": None if pd.isna(row["count"]) else int(row["count"]),
        "archived": None if pd.isna(row["archived"]) else bool(row["archived"]),
    }


def print_notes(result: FindingsResult, problems: Sequence[DataIssue], err: TextIO) -> None:
    if result.note:
        print(f"torinvest: note: {term_safe(result.note)}", file=err)
    other = {k: v for k, v in result.skipped.items() if v > 0}
    if other:
        total = sum(other.values())
        kinds = ", ".join(f"{term_safe(k)}: {v}" for k, v in sorted(other.items()))
        print(f"torinvest: note: skipped {total} finding(s) of other types ({kinds})", file=err)
    if result.samples:
        from torinvest.findings.records import samples_left_out

        print(f"torinvest: note: {samples_left_out(result.samples)}", file=err)
    if result.archived:
        print(
            f"torinvest: note: {result.archived} archived finding(s) left out "
            "(--include-archived lists them)",
            file=err,
        )
    filtered = {k: v for k, v in result.filtered.items() if v > 0}
    if filtered:
        total = sum(filtered.values())
        by = " ".join(sorted(filtered))
        if len(filtered) > 1:
            by += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(filtered.items())) + ")"
        print(f"torinvest: note: {total} Tor finding(s) left out by {by}", file=err)
    print_issues([*result.issues, *problems], err)


def format_table(records: Sequence[dict[str, Any]], *, partial: bool = False) -> str:
    """A plain-text table of located keys, newest first; attacker text shown inert. Empty:
    "no Tor findings", or, when some region or file could not be searched (``partial``), "no
    Tor findings where torinvest could look" — never the plain words then."""
    if not records:
        if partial:
            return "no Tor findings where torinvest could look (partial result: see the notes)"
        return "no Tor findings"
    cols = [
        ("finding", "id", 32),
        ("type", "type", 8),
        ("region", "region", 14),
        ("account", "account_id", 12),  # an administrator's list holds its members' findings
        ("sev", "severity", 4),
        ("access key", "access_key_id", 20),
        ("kind", "key_kind", 9),
        ("user", "user_name", 24),
        ("user type", "user_type", 12),
        ("Tor IP", "tor_ip", 39),
        ("last seen", "last_seen", 20),
        ("count", "count", 6),
    ]

    def cell(rec: dict[str, Any], key: str, width: int) -> str:
        v = rec.get(key)
        if key == "type" and v:
            v = "Recon" if str(v).startswith("Recon") else "Unauth"
        if key == "last_seen" and v:
            v = str(v)[:19].replace("T", " ")
        if rec.get("archived") and key == "id":
            v = f"{v} (archived)"
        return term_safe("-" if v is None else v, limit=width + 12)

    rows = [[c[0] for c in cols]] + [[cell(r, c[1], c[2]) for c in cols] for r in records]
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_findings(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    result = load_findings(args)
    records, problems = located_records(result)
    if args.json:
        # C1 controls, bidi and zero-width characters as \\u escapes: inert on the terminal
        out.write(json_inert(orjson.dumps(records, option=orjson.OPT_INDENT_2).decode()) + "\n")
    else:
        out.write(format_table(records, partial=bool(result.gap() or problems)) + "\n")
    print_notes(result, problems, err)
    print_gap(result, err, problems)
    return 0


def print_gap(result: FindingsResult, err: TextIO, unlocated: Sequence[DataIssue] = ()) -> None:
    """A partial search, said in one note: what could not be searched or read, so what may be
    missing — and the Tor findings read whose key could not be located (``unlocated``: the
    problems of :func:`located_records`), which are not listed either."""
    parts = [result.gap(detail=False)] if result.gap() else []
    if unlocated:
        parts.append(f"{len(unlocated)} Tor finding(s) name no usable access key")
    if parts:
        there = "findings there that were not read" if result.partial else "findings there"
        print_partial(f"{'; '.join(parts)} (see the issues); {there} are not listed", err)
