"""The ``torinvest`` command.

Exit status: 0 when the command produced its result (data issues, if any, are printed on
stderr); 1 when it could not (the error says why and what to do); 2 for a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import orjson
import pandas as pd

from torinvest import __version__
from torinvest.actions import SUPPRESSION_SCOPES
from torinvest.aws import Aws, AwsConfig, parse_regions
from torinvest.case import Case, sample_case
from torinvest.errors import DataIssue, InputError, TorinvestError
from torinvest.events import DEFAULT_MAX_ROWS, EngineOptions, load_activity
from torinvest.export import write_frame
from torinvest.findings import (
    FindingsResult,
    KeyLocation,
    fetch_findings,
    iter_located,
    read_findings,
)
from torinvest.investigation import (
    DEFAULT_LOOKAHEAD_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_TOLERANCE_HOURS,
)
from torinvest.safety import term_safe
from torinvest.sources.logs import DEFAULT_MAX_FILE_BYTES
from torinvest.verdict import STATUSES

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
def _add_aws_args(
    p: argparse.ArgumentParser, *, regions_default: str | None = "all", full: bool = True
) -> None:
    g = p.add_argument_group("AWS (credentials, region and endpoints come from the AWS CLI chain)")
    g.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / the default profile)")
    g.add_argument(
        "--regions",
        default=regions_default,
        help="'all' (every enabled region"
        + (", the default" if regions_default == "all" else "")
        + ") or a comma list: us-east-1,eu-west-1",
    )
    g.add_argument("--role-arn", help="role to assume first, e.g. in a member account")
    if full:
        g.add_argument("--external-id", help="external ID for --role-arn")
        g.add_argument(
            "--max-workers", type=int, default=8, help="regions queried at once (default 8)"
        )


def _add_window_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("window and Tor matching")
    g.add_argument(
        "--lookback-days",
        type=float,
        default=DEFAULT_LOOKBACK_DAYS,
        metavar="N",
        help=f"days read before the finding's first sighting (default {DEFAULT_LOOKBACK_DAYS})",
    )
    g.add_argument(
        "--lookahead-days",
        type=float,
        default=DEFAULT_LOOKAHEAD_DAYS,
        metavar="N",
        help=f"days read after its last sighting (default {DEFAULT_LOOKAHEAD_DAYS})",
    )
    g.add_argument(
        "--tolerance-hours",
        type=float,
        default=DEFAULT_TOLERANCE_HOURS,
        metavar="H",
        help="an IP is Tor if an exit list shows it within H hours of the call "
        f"(default {DEFAULT_TOLERANCE_HOURS})",
    )


def _add_engine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("engine for CloudTrail log files")
    g.add_argument(
        "--engine",
        choices=("files", "duckdb", "athena"),
        default="files",
        help="files (default): the file loader; duckdb: embedded SQL over the same files; "
        "athena: the CloudTrail table in Athena (see `torinvest athena-ddl`)",
    )
    g.add_argument("--athena-database", help="Athena database holding the CloudTrail table")
    g.add_argument("--athena-table", help="the CloudTrail table (default cloudtrail_logs)")
    g.add_argument("--athena-workgroup", help="Athena workgroup")
    g.add_argument("--athena-output", metavar="S3_URL", help="query result location s3://…")
    g.add_argument(
        "--max-file-mb",
        type=_file_limit,
        default=DEFAULT_MAX_FILE_BYTES >> 20,
        metavar="N",
        help="the most one log file may hold once decompressed, in MiB; a larger file (a "
        f"decompression bomb?) is a data issue, not read (default {DEFAULT_MAX_FILE_BYTES >> 20})",
    )


def _file_limit(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: a whole number of MiB > 0")
    return value


def engine_from_args(args: argparse.Namespace) -> EngineOptions:
    """The engine of ``torinvest events``: an export, so every matching row (no row limit)."""
    return EngineOptions(
        kind=args.engine,
        max_rows=None,
        max_file_bytes=args.max_file_mb << 20,
        athena_database=args.athena_database,
        athena_table=args.athena_table,
        athena_workgroup=args.athena_workgroup,
        athena_output=args.athena_output,
    )


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
    _add_engine_args(e)
    e.add_argument(
        "--print-sql",
        action="store_true",
        help="print the query the duckdb/athena engine would run, in its dialect, and stop",
    )
    e.add_argument("--out", required=True, metavar="FILE", help="FILE.parquet, .csv or .jsonl")
    e.set_defaults(func=cmd_events)

    d = sub.add_parser("demo", help="run on the embedded sample case")
    d.set_defaults(func=cmd_demo)

    i = sub.add_parser(
        "investigate",
        help="the investigation report of a finding: report.html, report.ipynb, summary.json",
        description="Run the investigation notebook for one finding (or, with --all-open, for "
        "every open Tor finding) with papermill and write OUT/report.ipynb (executed), "
        "OUT/report.html (no code, opens offline), OUT/summary.json, and events.csv/per_ip.csv. "
        "When a notebook cell fails, the notebook and the HTML (with the error on top) are "
        "still written and the command exits 1.",
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
    i.add_argument(
        "--logs",
        metavar="PATH_OR_S3_URL",
        action="append",
        default=[],
        help="extra CloudTrail log folder, file or s3://bucket/prefix (repeatable)",
    )
    i.add_argument(
        "--exit-list",
        metavar="PATH",
        action="append",
        default=[],
        dest="exit_lists",
        help="extra Tor exit-list file or folder (repeatable)",
    )
    i.add_argument("--out", required=True, metavar="DIR", help="folder for the report files")
    _add_engine_args(i)
    i.add_argument(
        "--max-rows",
        type=_row_limit,
        default=DEFAULT_MAX_ROWS,
        metavar="N",
        help="duckdb/athena: above N matching events, count in the engine (per-IP table and "
        "charts by GROUP BY) and load only the sensitive calls as rows; 0: always load every "
        f"row (default {DEFAULT_MAX_ROWS:,})",
    )
    _add_window_args(i)
    i.add_argument(
        "--no-follow-derived",
        action="store_false",
        dest="follow_derived",
        help="do not follow keys the key minted (GetSessionToken, AssumeRole, …)",
    )
    g = i.add_argument_group("verdict (recorded in the ledger unless pending)")
    g.add_argument("--verdict", choices=STATUSES, default="pending", help="default: pending")
    g.add_argument("--analyst", default="", help="who decides (needed unless pending)")
    g.add_argument("--rationale", default="", help="why (needed unless pending)")
    g.add_argument(
        "--suppress",
        action="store_true",
        help="with --verdict legitimate: also plan a suppression rule scoped to the principal",
    )
    g.add_argument("--ledger", metavar="FILE", help=LEDGER_HELP)
    i.set_defaults(func=cmd_investigate)

    v = sub.add_parser(
        "verdict",
        help="record a verdict on a finding in the ledger (no notebook)",
        description="Record the analyst's verdict on a finding in the ledger. With --case or an "
        "AWS option (--profile, --regions, --role-arn) the investigation runs first and its "
        "evidence summary is stored with the verdict; otherwise only the record is.",
    )
    v.add_argument("finding_id", metavar="FINDING_ID", help="GuardDuty finding ID")
    v.add_argument("--status", required=True, choices=STATUSES, help="the verdict")
    v.add_argument("--analyst", default="", help="who decides (needed unless pending)")
    v.add_argument("--rationale", default="", help="why (needed unless pending)")
    v.add_argument("--ledger", metavar="FILE", help=LEDGER_HELP)
    v.add_argument("--case", metavar="DIR", help="case folder: store the evidence from it")
    _add_aws_args(v, regions_default=None, full=False)
    _add_window_args(v)
    v.set_defaults(func=cmd_verdict)

    vs = sub.add_parser("verdicts", help="list the recorded verdicts, newest first")
    vs.add_argument("--ledger", metavar="FILE", help=LEDGER_HELP)
    vs.add_argument("--finding", metavar="FINDING_ID", help="only this finding's verdicts")
    vs.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    vs.set_defaults(func=cmd_verdicts)

    a = sub.add_parser(
        "actions",
        help="the archive or remediation plan of a finding: a dry run unless --execute",
        description="Print the plan that follows a verdict: archive (legitimate; --suppress adds "
        "a suppression rule scoped to the principal, or the key with --scope key) or remediate "
        "(not legitimate: deactivate the key, revoke sessions, undo the persistence found in "
        "its activity). Nothing that changes AWS runs without --execute; each call is printed "
        "before it runs and each executed call is written to the ledger.",
    )
    a.add_argument("finding_id", metavar="FINDING_ID", help="GuardDuty finding ID")
    a.add_argument("--plan", required=True, choices=("archive", "remediate"), help="which plan")
    a.add_argument("--suppress", action="store_true", help="archive: add a suppression rule")
    a.add_argument(
        "--scope",
        choices=SUPPRESSION_SCOPES,
        default="principal",
        help="what the suppression rule matches (default principal)",
    )
    a.add_argument("--execute", action="store_true", help="make the calls that change AWS")
    a.add_argument("--ledger", metavar="FILE", help=LEDGER_HELP)
    a.add_argument(
        "--case",
        metavar="DIR",
        help="read the finding and its activity from a case folder (the calls still go to AWS)",
    )
    _add_aws_args(a)
    _add_window_args(a)
    a.set_defaults(func=cmd_actions)

    ad = sub.add_parser(
        "athena-ddl",
        help="print the CREATE TABLE for the CloudTrail bucket (partition projection)",
    )
    ad.add_argument("--bucket", required=True, help="the trail's S3 bucket")
    ad.add_argument("--prefix", default="", help="key prefix before AWSLogs/")
    ad.add_argument("--org-id", help="o-… for an organization trail")
    ad.add_argument("--accounts", required=True, help="account IDs, comma-separated")
    ad.add_argument("--regions", default="all", help="regions, comma-separated (default all)")
    ad.add_argument("--table", default="cloudtrail_logs")
    ad.add_argument("--database", help="database to create the table in")
    ad.set_defaults(func=cmd_athena_ddl)

    t = sub.add_parser("tor", help="Tor exit lists: refresh the cache, check an IP")
    tsub = t.add_subparsers(dest="tor_command", required=True, metavar="ACTION")
    tr = tsub.add_parser(
        "refresh",
        help="download the current exit list (or a past month's CollecTor archive) into the cache",
    )
    tr.add_argument("--month", metavar="YYYY-MM", help="a past month's archive instead")
    tr.set_defaults(func=cmd_tor_refresh)
    tc = tsub.add_parser("check", help="was an IP a listed Tor exit at a time?")
    tc.add_argument("ip")
    tc.add_argument("--at", type=_iso_time, help="time (ISO 8601, UTC; default now)")
    tc.add_argument("--case", metavar="DIR", help="also use DIR/tor/ lists")
    tc.add_argument("--tolerance-hours", type=float, default=24.0)
    tc.set_defaults(func=cmd_tor_check)
    return parser


LEDGER_HELP = "the ledger (default: $TORINVEST_LEDGER or ~/.local/share/torinvest/ledger.jsonl)"


class UsageError(TorinvestError):
    """Options that do not go together (exit status 2)."""


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
    engine = engine_from_args(args)
    if args.print_sql:
        return _print_sql(args, engine, logs, regions, out)
    activity = load_activity(
        engine=engine,
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
    for note in [*activity.notes, *([activity.engine_summary] if activity.engine_summary else [])]:
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


def _print_sql(
    args: argparse.Namespace,
    engine: EngineOptions,
    logs: Sequence[str],
    regions: Sequence[str] | None,
    out: TextIO,
) -> int:
    from torinvest.sources.sql import events_query, make_engine, make_scope, print_sql

    if engine.kind == "files":
        raise InputError(
            "--print-sql needs --engine duckdb or athena", hint="the file loader runs no SQL"
        )
    eng = make_engine(
        engine.kind,
        sources=list(logs) or None,
        database=engine.athena_database,
        table=engine.athena_table,
        workgroup=engine.athena_workgroup,
        output_location=engine.athena_output,
        aws=aws_from_args(args) if engine.kind == "athena" else None,
    )
    try:
        scope = make_scope(
            access_keys=args.access_key, start=args.start, end=args.end, regions=regions
        )
        print_sql(eng, events_query(scope), file=out)
    finally:
        eng.close()
    return 0


def cmd_athena_ddl(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest.sources.athena import athena_ddl

    accounts = [a.strip() for a in args.accounts.split(",") if a.strip()]
    regions = parse_regions(args.regions)
    ddl = athena_ddl(
        args.bucket,
        prefix=args.prefix,
        org_id=args.org_id,
        accounts=accounts,
        regions=regions,
        table=args.table,
        database=args.database,
    )
    out.write(ddl.rstrip() + "\n")
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
# investigate: the report
# --------------------------------------------------------------------------------------------
def run_options(args: argparse.Namespace) -> Any:
    """The report's RunOptions from the investigate arguments."""
    from torinvest.report import RunOptions

    return RunOptions(
        case_dir=args.case,
        profile=args.profile,
        regions=args.regions or "all",
        role_arn=args.role_arn,
        logs=tuple(args.logs),
        exit_lists=tuple(args.exit_lists),
        lookback_days=args.lookback_days,
        lookahead_days=args.lookahead_days,
        tolerance_hours=args.tolerance_hours,
        follow_derived=args.follow_derived,
        verdict_status=args.verdict,
        analyst=args.analyst,
        rationale=args.rationale,
        suppress=args.suppress,
        ledger=args.ledger,
        engine=args.engine,
        athena_database=args.athena_database,
        athena_workgroup=args.athena_workgroup,
        athena_output=args.athena_output,
        max_rows=args.max_rows or None,
        max_file_mb=args.max_file_mb,
    )


def _row_limit(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"invalid row limit {text!r}: a whole number ≥ 0")
    return value


def _check_investigate_usage(args: argparse.Namespace) -> None:
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


def cmd_investigate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest import report

    _check_investigate_usage(args)
    options = run_options(args)
    if args.all_open:
        return _investigate_all(args, options, out, err)
    report.validate(args.finding_id, args.out, options)  # before saying what it starts
    print(f"torinvest: investigating {args.finding_id} into {args.out} …", file=err)
    run = report.run_report(args.finding_id, args.out, options)
    data = run.summary_data or {}
    print(report.one_line_summary(data), file=out)
    for issue in data.get("data_issues", []):
        print(
            f"torinvest: issue: {term_safe(issue['source'])}: {term_safe(issue['problem'])}",
            file=err,
        )
    for warning in run.warnings:
        print(f"torinvest: warning: {term_safe(warning)}", file=err)
    print(f"notebook: {run.notebook}", file=out)
    print(f"summary:  {run.summary}", file=out)
    print(f"report:   {run.html}", file=out)
    return 0


def _investigate_all(args: argparse.Namespace, options: Any, out: TextIO, err: TextIO) -> int:
    from torinvest import report

    batch = report.run_batch(
        args.out, options, force=args.force, echo=lambda s: print(term_safe(s), file=err)
    )
    for issue in batch.issues:
        print(f"torinvest: issue: {term_safe(issue.source)}: {term_safe(issue.problem)}", file=err)
    width = max([len(e.status) for e in batch.entries] + [6])
    for e in batch.entries:
        print(
            f"{e.status:<{width}}  {e.finding_id}  {term_safe(e.access_key_id or '-')}  "
            f"{batch.out / e.report['html']}",
            file=out,
        )
    print(f"index: {batch.index_html}", file=out)
    if batch.failed:
        raise TorinvestError(
            f"{len(batch.failed)} of {len(batch.entries)} report(s) failed",
            hint=f"each failed report shows its error on top; see {batch.index_html}",
        )
    if not batch.entries:
        print("torinvest: note: no open Tor finding", file=err)
    return 0


# --------------------------------------------------------------------------------------------
# verdicts
# --------------------------------------------------------------------------------------------
def _sources_for(args: argparse.Namespace, aws: Aws | None = None) -> Any:
    """The investigation's sources: the case folder, or AWS (with ``aws`` when given)."""
    from torinvest.investigation import Sources, sources_from_parameters

    if args.case:
        return sources_from_parameters(case_dir=args.case)
    if aws is not None:
        return Sources(aws=aws, regions=parse_regions(args.regions or "all"))
    return sources_from_parameters(
        profile=args.profile, regions=args.regions or "all", role_arn=args.role_arn
    )


def _investigate(args: argparse.Namespace, sources: Any) -> Any:
    from torinvest.investigation import investigate

    return investigate(
        args.finding_id,
        sources,
        lookback_days=args.lookback_days,
        lookahead_days=args.lookahead_days,
        tolerance_hours=args.tolerance_hours,
    )


def cmd_verdict(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest.findings import check_finding_id
    from torinvest.report import evidence
    from torinvest.verdict import NEXT_STEPS, make_verdict, record_verdict

    check_finding_id(args.finding_id)
    # a decided verdict needs an analyst and a rationale: check before any investigation
    make_verdict(
        args.finding_id, status=args.status, analyst=args.analyst, rationale=args.rationale
    )
    inv = None
    if args.case or args.profile or args.role_arn or args.regions:
        inv = _investigate(args, _sources_for(args))
    v = make_verdict(
        args.finding_id,
        status=args.status,
        analyst=args.analyst,
        rationale=args.rationale,
        access_key_id=inv.key.access_key_id if inv is not None else None,
        evidence=evidence(inv) if inv is not None else None,
    )
    path = record_verdict(v, args.ledger)
    print(
        f"recorded: {v.status} for {v.finding_id}"
        + (f" (key {v.access_key_id})" if v.access_key_id else "")
        + f" by {term_safe(v.analyst) or '-'} at {v.recorded_at} in {path}",
        file=out,
    )
    if inv is None:
        print("torinvest: note: no source given: the verdict carries no evidence", file=err)
    print(f"next: {NEXT_STEPS[v.status]}", file=out)
    return 0


def cmd_verdicts(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest.verdict import default_ledger_path, read_ledger

    path = args.ledger or default_ledger_path()
    records, issues = read_ledger(path)
    verdicts = [r for r in records if r.get("kind") == "verdict"]
    if args.finding:
        verdicts = [r for r in verdicts if r.get("finding_id") == args.finding]
    verdicts.sort(key=lambda r: str(r.get("recorded_at") or ""), reverse=True)
    if args.json:
        keep = ("recorded_at", "finding_id", "access_key_id", "status", "analyst", "rationale")
        rows = [{k: r.get(k) for k in (*keep, "evidence")} for r in verdicts]
        # ASCII-only JSON: attacker or analyst text cannot reach the terminal as control codes
        out.write(json.dumps(rows, indent=2, ensure_ascii=True) + "\n")
    else:
        out.write(format_verdicts(verdicts) + "\n")
    for issue in issues:
        print(f"torinvest: issue: {term_safe(issue.source)}: {term_safe(issue.problem)}", file=err)
    if not Path(path).exists():
        print(f"torinvest: note: no ledger at {path} yet", file=err)
    return 0


def format_verdicts(records: Sequence[dict[str, Any]]) -> str:
    """Verdicts as a plain-text table (every cell made inert for a terminal)."""
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
    rows = [[c[0] for c in cols]]
    for r in records:
        row = []
        for _, key, width in cols:
            v = r.get(key)
            if key == "recorded_at" and v:
                v = str(v)[:19].replace("T", " ")
            row.append(term_safe("-" if v in (None, "") else v, limit=width))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(cols))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# actions
# --------------------------------------------------------------------------------------------
def cmd_actions(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest import actions
    from torinvest.investigation import load_findings, locate
    from torinvest.verdict import latest_verdict, read_ledger

    aws = aws_from_args(args)
    sources = _sources_for(args, aws=None if args.case else aws)
    if args.plan == "archive":
        row, key = locate(load_findings(sources), args.finding_id)
        plan = actions.plan_archive(row, suppress=args.suppress, scope=args.scope)
        region = str(row["region"])
        if args.execute or not args.case:
            why = actions.check_can_archive(aws, region)
            if why:
                raise TorinvestError(
                    f"cannot archive {args.finding_id}: {why}",
                    hint="nothing was changed",
                )
    else:
        if args.suppress:
            raise UsageError("--suppress goes with --plan archive")
        inv = _investigate(args, sources)
        key = inv.key
        plan = actions.plan_remediation(inv.key, inv.events)
        for issue in inv.data_issues:
            print(
                f"torinvest: issue: {term_safe(issue.source)}: {term_safe(issue.problem)}",
                file=err,
            )
    records, _ = read_ledger(args.ledger)
    prior = latest_verdict(records, args.finding_id)
    wanted = ("legitimate",) if args.plan == "archive" else ("malicious", "inconclusive")
    if prior is None or prior.get("status") not in wanted:
        said = prior.get("status") if prior else "none recorded"
        print(
            f"torinvest: note: the verdict on {args.finding_id} is {said}: this plan follows "
            f"a {' or '.join(wanted)} verdict (`torinvest verdict` records one)",
            file=err,
        )
    for note in plan.notes:
        print(f"torinvest: note: {term_safe(note)}", file=err)

    def echo(line: str) -> None:
        print(term_safe(line), file=out)

    if args.case and not args.execute:
        # offline dry run: print the plan, call nothing (not even the read-only inventory)
        for a in plan.actions:
            verb = "MANUAL " if a.manual else ("DRY RUN" if a.changes_aws else "READ   ")
            echo(f"{verb}  {a.cli()}  # {a.why}" + ("" if a.changes_aws else " (not run)"))
        results = []
    else:
        context = {"finding_id": args.finding_id, "access_key_id": key.access_key_id}
        results = actions.run_plan(
            aws, plan.actions, execute=args.execute, ledger=args.ledger, echo=echo, context=context
        )
    changes = sum(a.changes_aws and not a.manual for a in plan.actions)
    if not args.execute:
        print(
            f"dry run: {changes} call(s) that change AWS were not made; re-run with --execute",
            file=out,
        )
        return 0
    # a failed read (GetLoginProfile of a user without a password) is information, not a failure
    failed = [r for r in results if r.status == "failed" and r.action.changes_aws]
    done = [r for r in results if r.status == "done"]
    print(f"executed: {len(done)} call(s) done, {len(failed)} failed", file=out)
    if failed:
        raise TorinvestError(
            f"{len(failed)} of {len(done) + len(failed)} call(s) failed",
            hint="see FAILED above; the ledger has every attempt",
        )
    return 0


# --------------------------------------------------------------------------------------------
# tor
# --------------------------------------------------------------------------------------------
def cmd_tor_refresh(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest import tor
    from torinvest.paths import tor_cache

    result = tor.refresh(tor_cache(), month=args.month)
    print(f"torinvest: {'ok' if result.ok else 'note'}: {term_safe(result.note)}", file=out)
    return 0 if result.ok else 1


def cmd_tor_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest import tor
    from torinvest.paths import tor_cache

    paths = [str(Case.open(args.case).require("tor"))] if args.case else []
    cache = tor_cache()
    lists = tor.load_exit_lists(*paths, cache_dir=cache if cache.is_dir() else None)
    at = args.at if args.at is not None else pd.Timestamp.now(tz="UTC")
    ip = tor.normalize_ip(args.ip)
    if ip is None:
        raise InputError(f"not an IP address: {args.ip[:60]!r}", hint="e.g. 185.220.101.34")
    probe = pd.DataFrame({"event_time": [at], "source_ip": pd.Categorical([ip])})
    status = tor.tor_status(probe, lists, pd.Timedelta(hours=args.tolerance_hours)).iloc[0]
    verdict = {True: "a listed Tor exit", False: "not a listed Tor exit"}.get(
        None if status is pd.NA else bool(status), "unknown: no loaded list covers that time"
    )
    print(f"{ip} at {at:%Y-%m-%d %H:%M}Z (±{args.tolerance_hours:g} h): {verdict}", file=out)
    seen = lists.observations_for(ip)
    if len(seen):
        first, last = seen["first_seen"].min(), seen["last_seen"].max()
        print(
            f"  listed {len(seen)} time(s) between {first:%Y-%m-%d} and {last:%Y-%m-%d}", file=out
        )
    print(f"  lists: {term_safe(lists.describe())}", file=out)
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
    except UsageError as e:
        print(f"torinvest: error: {term_safe(e)}", file=err)
        return 2
    except TorinvestError as e:
        print(f"torinvest: error: {term_safe(e)}", file=err)
        return 1
    except KeyboardInterrupt:
        print("torinvest: interrupted", file=err)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
