"""The ``torinvest`` command.

Exit status: 0 when the command produced its result (data issues, if any, are printed on
stderr); 1 when it could not (the error says why and what to do); 2 for a usage error.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from typing import Any, TextIO

import orjson
import pandas as pd

from torinvest import __version__
from torinvest.aws import Aws, AwsConfig, parse_regions
from torinvest.case import Case, sample_case
from torinvest.errors import DataIssue, InputError, TorinvestError
from torinvest.events import load_activity
from torinvest.export import write_frame
from torinvest.findings import (
    FindingsResult,
    KeyLocation,
    fetch_findings,
    iter_located,
    read_findings,
)
from torinvest.safety import term_safe

log = logging.getLogger("torinvest")

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
# argument parsing
# --------------------------------------------------------------------------------------------
def _add_aws_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("AWS (credentials, region and endpoints come from the AWS CLI chain)")
    g.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / the default profile)")
    g.add_argument(
        "--regions",
        default="all",
        help="'all' (every enabled region, the default) or a comma list: us-east-1,eu-west-1",
    )
    g.add_argument("--role-arn", help="role to assume first, e.g. in a member account")
    g.add_argument("--external-id", help="external ID for --role-arn")
    g.add_argument("--max-workers", type=int, default=8, help="regions queried at once (default 8)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torinvest",
        description="Investigate GuardDuty TorIPCaller findings: locate the key, pull its "
        "CloudTrail activity, chart it by source IP, record a verdict.",
    )
    parser.add_argument("--version", action="version", version=f"torinvest {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
    f.add_argument("--end", type=_iso_time, help="updated at or before (ISO 8601, UTC)")
    f.add_argument("--account", action="append", dest="accounts", help="account ID (repeatable)")
    f.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    f.set_defaults(func=cmd_findings)

    e = sub.add_parser(
        "events",
        help="a key's CloudTrail activity from log files and/or LookupEvents, as one frame",
        description="Load CloudTrail events (log files in a case folder, a folder or s3:// "
        "prefix, and/or LookupEvents in every region), filtered to one access key and window, "
        "deduplicated on eventID, and write them as parquet or CSV.",
    )
    e.add_argument("--case", metavar="DIR", help="case folder (reads DIR/cloudtrail)")
    e.add_argument(
        "--logs",
        metavar="PATH_OR_S3_URL",
        action="append",
        default=[],
        help="CloudTrail log folder, file or s3://bucket/prefix (repeatable)",
    )
    e.add_argument("--lookup", action="store_true", help="use CloudTrail LookupEvents (90 days)")
    _add_aws_args(e)
    e.add_argument("--access-key", metavar="ID", help="keep only this access key's events")
    e.add_argument("--username", help="LookupEvents by user name (role sessions) instead")
    e.add_argument("--start", type=_iso_time, help="window start (ISO 8601, UTC)")
    e.add_argument("--end", type=_iso_time, help="window end (ISO 8601, UTC)")
    e.add_argument(
        "--follow-derived",
        action="store_true",
        help="also load keys minted by the key (GetSessionToken, AssumeRole, …)",
    )
    e.add_argument("--no-cache", action="store_true", help="do not use the LookupEvents cache")
    e.add_argument("--out", required=True, metavar="FILE", help="FILE.parquet, .csv or .jsonl")
    e.set_defaults(func=cmd_events)

    d = sub.add_parser("demo", help="run on the embedded sample case")
    d.set_defaults(func=cmd_demo)
    return parser


def _iso_time(text: str) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from e
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def aws_from_args(args: argparse.Namespace) -> Aws:
    return Aws(
        AwsConfig(
            profile=args.profile,
            role_arn=args.role_arn,
            external_id=args.external_id,
            max_workers=max(1, args.max_workers),
        )
    )


# --------------------------------------------------------------------------------------------
# findings
# --------------------------------------------------------------------------------------------
def load_findings(args: argparse.Namespace) -> FindingsResult:
    """Findings from --case, --file or GuardDuty, as the arguments say; Tor findings only."""
    if args.case:
        result = read_findings(Case.open(args.case).require("findings"))
    elif args.file:
        result = read_findings(args.file)
    else:
        regions = parse_regions(args.regions)
        result = fetch_findings(
            aws_from_args(args),
            regions,
            include_archived=args.include_archived,
            start=args.start,
            end=args.end,
            account_ids=args.accounts,
        )
        if result.issues and len(result.issues) == len(result.sources):
            raise TorinvestError(
                f"no region could be searched ({len(result.issues)} failed)",
                hint=result.issues[0].problem,
            )
    result = result.tor_only()
    if args.case or args.file:
        result = _filter_files(result, args)
    if not result.findings and not result.skipped and result.issues and not result.sources:
        raise TorinvestError("no finding could be read", hint=result.issues[0].problem)
    return result


def _filter_files(result: FindingsResult, args: argparse.Namespace) -> FindingsResult:
    """Apply --include-archived/--start/--end/--account to findings read from files."""
    keep = []
    for f in result.findings:
        svc = f.data.get("service") or {}
        if not args.include_archived and str(svc.get("archived")).lower() == "true":
            result.skipped["archived"] += 1
            continue
        updated = pd.to_datetime(f.data.get("updatedAt"), utc=True, errors="coerce")
        if args.start is not None and (pd.isna(updated) or updated < args.start):
            continue
        if args.end is not None and (pd.isna(updated) or updated > args.end):
            continue
        if args.accounts and f.data.get("accountId") not in args.accounts:
            continue
        keep.append(f)
    result.findings = keep
    return result


def located_records(result: FindingsResult) -> tuple[list[dict[str, Any]], list[DataIssue]]:
    """One JSON-ready record per Tor finding whose key was located, and the problems."""
    frame = result.frame()
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
    other = {k: v for k, v in result.skipped.items() if k != "archived"}
    if other:
        total = sum(other.values())
        kinds = ", ".join(f"{term_safe(k)}: {v}" for k, v in sorted(other.items()))
        print(f"torinvest: note: skipped {total} finding(s) of other types ({kinds})", file=err)
    if result.skipped.get("archived"):
        print(
            f"torinvest: note: skipped {result.skipped['archived']} archived finding(s) "
            "(--include-archived shows them)",
            file=err,
        )
    for issue in [*result.issues, *problems]:
        print(f"torinvest: issue: {term_safe(issue.source)}: {term_safe(issue.problem)}", file=err)


def format_table(records: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of located keys, newest first; attacker text shown inert."""
    if not records:
        return "no Tor findings"
    cols = [
        ("finding", "id", 32),
        ("type", "type", 8),
        ("region", "region", 14),
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
        out.write(orjson.dumps(records, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        out.write(format_table(records) + "\n")
    print_notes(result, problems, err)
    return 0


ACCESS_KEY_RE = re.compile(r"^[A-Z0-9]{16,128}$")


def cmd_events(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    logs = list(args.logs)
    if args.case:
        logs.insert(0, str(Case.open(args.case).require("cloudtrail")))
    if args.access_key and not ACCESS_KEY_RE.match(args.access_key):
        raise InputError(
            f"invalid access key id {args.access_key[:40]!r}",
            hint="an access key ID is 16–128 upper-case letters and digits, e.g. AKIA… or ASIA…",
        )
    regions = parse_regions(args.regions)
    if not args.lookup and args.regions == "all":
        regions = None
    if args.start is not None and args.end is not None and args.start > args.end:
        raise InputError("--start is after --end", hint="swap them")
    activity = load_activity(
        logs=logs,
        lookup=aws_from_args(args) if args.lookup else None,
        access_key=args.access_key,
        username=args.username,
        start=args.start,
        end=args.end,
        regions=regions,
        follow_derived=args.follow_derived,
        cache_dir=False if args.no_cache else None,
    )
    attempted = activity.files_read + sum(s.startswith("lookup:") for s in activity.sources)
    if not len(activity.frame) and activity.issues and len(activity.issues) >= attempted:
        for issue in activity.issues:
            print(
                f"torinvest: issue: {term_safe(issue.source)}: {term_safe(issue.problem)}", file=err
            )
        raise TorinvestError(
            f"nothing could be loaded: all {attempted} file(s)/region(s) failed",
            hint="see the issues above",
        )
    path = write_frame(activity.frame, args.out)
    who = f" of {args.access_key or args.username}" if (args.access_key or args.username) else ""
    print(f"{activity.summary()}{who}; written to {path}", file=out)
    if not len(activity.frame):
        print(
            "torinvest: note: the sources were read and hold no event"
            f"{term_safe(who)} in the window (this is not an access problem)",
            file=err,
        )
    for note in activity.notes:
        print(f"torinvest: note: {term_safe(note)}", file=err)
    for d in activity.derived:
        print(
            f"torinvest: note: derived key {d.access_key_id} minted by {d.minted_by} "
            f"({d.event_name} at {d.event_time}) — its activity is included, flagged derived",
            file=err,
        )
    for issue in activity.issues:
        print(f"torinvest: issue: {term_safe(issue.source)}: {term_safe(issue.problem)}", file=err)
    return 0


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    case = sample_case()
    print(f"torinvest demo: sample case at {case.root}", file=out)
    result = read_findings(case.findings).tor_only()
    records, problems = located_records(result)
    out.write(format_table(records) + "\n")
    print_notes(result, problems, err)
    return 0


# --------------------------------------------------------------------------------------------
# entry point
# --------------------------------------------------------------------------------------------
def main(
    argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="torinvest: %(levelname)s: %(name)s: %(message)s",
        stream=err,
    )
    try:
        return int(args.func(args, out, err) or 0)
    except TorinvestError as e:
        print(f"torinvest: error: {term_safe(e)}", file=err)
        return 1
    except KeyboardInterrupt:
        print("torinvest: interrupted", file=err)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
