"""The ``torinvest`` command.

Exit status: 0 when the command produced its result (data issues, if any, are printed on
stderr); 1 when it could not (the error says why and what to do); 2 for a usage error; 141
when the reader of its output went away (``| head -1``), silently, as coreutils commands do.
An unexpected exception (a bug) is one line, ``torinvest: error: internal error: …`` (exit 1);
``-v`` prints its traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TextIO

import orjson
import pandas as pd

from torinvest import __version__
from torinvest.actions import PLAN_KINDS, SUPPRESSION_SCOPES
from torinvest.aws import DEFAULT_MAX_WORKERS, Aws, AwsConfig, check_profile, parse_regions
from torinvest.case import Case, sample_case
from torinvest.errors import (
    CouldNotLookError,
    DataIssue,
    InputError,
    OptionsError,
    TorinvestError,
    group_issues,
)
from torinvest.events import (
    DEFAULT_MAX_ROWS,
    EngineOptions,
    check_activity_options,
    load_activity,
    with_global_region,
)
from torinvest.export import check_output, write_frame
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
    NOTHING_READ_SOURCE,
)
from torinvest.safety import term_safe
from torinvest.schema import window_bound
from torinvest.sources.logs import DEFAULT_MAX_FILE_BYTES, NO_MATCH
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
            "--max-workers",
            type=int,
            default=None,
            help=f"regions queried at once (default {DEFAULT_MAX_WORKERS})",
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
    f.add_argument(
        "--end", type=_end_time, help="updated at or before (ISO 8601, UTC; a date: that whole day)"
    )
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
    e.add_argument(
        "--end",
        type=_end_time,
        help="window end, inclusive (ISO 8601, UTC; a date: that whole day)",
    )
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

    nb = sub.add_parser(
        "notebook",
        help="a working copy of the investigation notebook for a finding, to open in JupyterLab",
        description="Write DIR/finding-<id>/investigate.ipynb: the investigation notebook with "
        "this finding and these sources injected as parameters (the way papermill does; not "
        "run), to open and edit in JupyterLab. The template `torinvest investigate` runs is "
        "never touched, and nothing saved in a working copy changes a report. An existing copy "
        "is left as it is (your edits) unless --force. The last line printed is its path.",
    )
    nb.add_argument("finding_id", nargs="?", metavar="FINDING_ID", help="GuardDuty finding ID")
    nb.add_argument(
        "--triage",
        action="store_true",
        help="the triage notebook instead (DIR/triage.ipynb): the open findings, each with its "
        "`torinvest notebook` command and, in JupyterLab, a button that makes its notebook",
    )
    nb.add_argument("--case", metavar="DIR", help="case folder (findings/, cloudtrail/, tor/)")
    _add_aws_args(nb, full=False)
    nb.add_argument(
        "--logs",
        metavar="PATH_OR_S3_URL",
        action="append",
        default=[],
        help="extra CloudTrail log folder, file or s3://bucket/prefix (repeatable)",
    )
    nb.add_argument(
        "--exit-list",
        metavar="PATH",
        action="append",
        default=[],
        dest="exit_lists",
        help="extra Tor exit-list file or folder (repeatable)",
    )
    nb.add_argument("--ledger", metavar="FILE", help=LEDGER_HELP)
    nb.add_argument(
        "--out",
        metavar="DIR",
        default="investigations",
        help="folder of the working notebooks (default ./investigations)",
    )
    nb.add_argument(
        "--force",
        action="store_true",
        help="replace an existing working copy with a fresh one (the old one is kept beside it, "
        "renamed with the time); without it an existing copy is never overwritten",
    )
    nb.add_argument("--open", action="store_true", help="then start JupyterLab on it")
    nb.set_defaults(func=cmd_notebook)

    v = sub.add_parser(
        "verdict",
        help="record a verdict on a finding in the ledger (no notebook)",
        description="Record the analyst's verdict on a finding in the ledger. With --case or an "
        "AWS option (--profile, --regions, --role-arn) the investigation runs first and its "
        "evidence summary is stored with the verdict; otherwise only the record is. The same "
        "verdict again (status, analyst, rationale) adds no record; a different one supersedes "
        "the current one (which stays in the ledger). pending is not a verdict: it records "
        "nothing.",
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

    vs = sub.add_parser(
        "verdicts",
        help="the current verdict of each finding, newest first (--history: every record)",
    )
    vs.add_argument("--ledger", metavar="FILE", help=LEDGER_HELP)
    vs.add_argument("--finding", metavar="FINDING_ID", help="only this finding's verdicts")
    vs.add_argument(
        "--history",
        action="store_true",
        help="every verdict record, each marked current, superseded or not a decision (pending)",
    )
    vs.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    vs.set_defaults(func=cmd_verdicts)

    a = sub.add_parser(
        "actions",
        help="the archive or remediation plan of a finding: a dry run unless --execute",
        description="Print the plan that follows a verdict: archive (legitimate; --suppress adds "
        "a suppression rule scoped to the finding type and the principal, or the key with --scope "
        "key) or remediate (not legitimate: deactivate the key, revoke sessions and minted "
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
        default="principal",
        help="what the suppression rule matches (default principal)",
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


class UsageError(OptionsError):
    """Options that do not go together (exit status 2, as every OptionsError)."""


def _iso_time(text: str, bound: Literal["start", "end"] = "start") -> pd.Timestamp:
    """An ISO 8601 option value in UTC (:func:`torinvest.schema.window_bound`): a date alone is
    its day's first instant, or its last one for an end (``--end 2023-07-10`` includes that day).
    """
    try:
        ts = window_bound(text, bound, name="")
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if ts is None:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date or time: {text!r}")
    return ts


def _end_time(text: str) -> pd.Timestamp:
    return _iso_time(text, "end")


def aws_from_args(args: argparse.Namespace) -> Aws:
    """The AWS access the options name (profile, role, external ID): every AWS call of the
    command goes through it."""
    if args.external_id and not args.role_arn:
        raise UsageError("--external-id goes with --role-arn")
    workers = args.max_workers
    return Aws(
        AwsConfig(
            profile=args.profile,
            role_arn=args.role_arn,
            external_id=args.external_id,
            max_workers=DEFAULT_MAX_WORKERS if workers is None else max(1, workers),
        )
    )


def print_issues(issues: Sequence[DataIssue], err: TextIO) -> None:
    """``torinvest: issue: SOURCE: PROBLEM`` lines, identical problems grouped
    (:func:`torinvest.errors.group_issues`: the count and a few examples)."""
    for issue in group_issues(issues):
        print(f"torinvest: issue: {term_safe(issue.source)}: {term_safe(issue.problem)}", file=err)


# --------------------------------------------------------------------------------------------
# findings
# --------------------------------------------------------------------------------------------
def load_findings(args: argparse.Namespace) -> FindingsResult:
    """Findings from --case, --file or GuardDuty, as the arguments say; Tor findings only.

    Raises CouldNotLookError when no region could be searched or no file read (the library's
    rule, :meth:`FindingsResult.require_looked`), never an empty list then."""
    if args.start is not None and args.end is not None and args.start > args.end:
        raise UsageError(
            f"--start {args.start:%Y-%m-%dT%H:%M:%SZ} is after --end {args.end:%Y-%m-%dT%H:%M:%SZ}",
            hint="swap them",
        )
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
    print_issues([*result.issues, *problems], err)


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
    print_gap(result, err)
    return 0


def print_gap(result: FindingsResult, err: TextIO) -> None:
    """A partial search, said in one note: what could not be searched, so what may be missing."""
    if not result.complete:
        print(
            f"torinvest: note: partial result: {term_safe(result.gap(detail=False))} (see the "
            "issues); findings there are not listed",
            file=err,
        )


ACCESS_KEY_RE = re.compile(r"^[A-Z0-9]{16,128}$")


def _check_events_usage(args: argparse.Namespace, logs: Sequence[str]) -> None:
    """Refuse the options of ``events`` no source of this run would honour (exit 2)."""
    named = [o for o, v in (("--profile", args.profile), ("--role-arn", args.role_arn)) if v]
    reads_aws = args.lookup or args.engine == "athena" or any(s.startswith("s3://") for s in logs)
    if named and not reads_aws:
        raise UsageError(
            f"{'/'.join(named)} name AWS credentials, but no source of this run reads AWS "
            "(local log files only)",
            hint="leave them out, or read s3:// logs, --lookup or --engine athena with them",
        )
    if args.no_cache and not args.lookup:
        raise UsageError("--no-cache is for the LookupEvents cache: it goes with --lookup")
    if args.max_workers is not None and not args.lookup:
        raise UsageError(
            "--max-workers is how many regions LookupEvents asks at once: it goes with --lookup"
        )
    if args.print_sql and args.engine == "files":
        raise UsageError(
            "--print-sql needs --engine duckdb or athena", hint="the file loader runs no SQL"
        )
    if args.print_sql and args.lookup:
        raise UsageError(
            "--print-sql prints the engine's query and runs nothing: --lookup would not run",
            hint="leave --lookup out to see the SQL, or --print-sql out to load",
        )


def cmd_events(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    logs = list(args.logs)
    if args.case:
        logs.insert(0, str(Case.open(args.case).require("cloudtrail")))
    if args.access_key and not ACCESS_KEY_RE.match(args.access_key):
        raise InputError(
            f"invalid access key id {args.access_key[:40]!r}",
            hint="an access key ID is 16–128 upper-case letters and digits, e.g. AKIA… or ASIA…",
        )
    _check_events_usage(args, logs)
    regions = parse_regions(args.regions)
    if not args.lookup and args.regions == "all":
        regions = None
    if args.start is not None and args.end is not None and args.start > args.end:
        raise InputError("--start is after --end", hint="swap them")
    engine = engine_from_args(args)
    aws = aws_from_args(args)  # the credentials named: S3, Athena and LookupEvents use them
    if args.print_sql:
        return _print_sql(args, engine, logs, regions, aws, out)
    check_output(args.out)  # an unwritable --out fails now, not after the whole load
    activity = load_activity(
        engine=engine,
        logs=logs,
        lookup=aws if args.lookup else None,
        aws=aws,
        access_key=args.access_key,
        username=args.username,
        start=args.start,
        end=args.end,
        regions=regions,
        follow_derived=args.follow_derived,
        cache_dir=False if args.no_cache else None,
    )
    if activity.nothing_read:  # "could not look" is never "no events"
        print_issues([i for i in activity.issues if i not in activity.empty_sources], err)
        for note in activity.notes:
            print(f"torinvest: note: {term_safe(note)}", file=err)
        raise TorinvestError(activity.why_nothing(), hint=_nothing_read_hint(activity))
    path = write_frame(activity.frame, args.out)
    who = f" of {args.access_key or args.username}" if (args.access_key or args.username) else ""
    print(f"{activity.summary()}{who}; written to {path}", file=out)
    if not len(activity.frame) and activity.issues:
        print(
            f"torinvest: note: no event{term_safe(who)} in what could be read; the issues below "
            "name what could not be read: its events, if any, are missing",
            file=err,
        )
    elif not len(activity.frame):
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
    print_issues(activity.issues, err)
    return 0


def _nothing_read_hint(activity: Any) -> str | None:
    """What to do when no source could be read (None: the message already says it)."""
    if len(activity.issues) > len(activity.empty_sources):
        return "every problem is listed above"
    if any(i.problem.startswith(NO_MATCH) for i in activity.empty_sources):
        return "widen --start/--end or --regions, or read the logs of that window"
    return None  # "No CloudTrail log files under … (check the prefix)"


def _print_sql(
    args: argparse.Namespace,
    engine: EngineOptions,
    logs: Sequence[str],
    regions: Sequence[str] | None,
    aws: Aws,
    out: TextIO,
) -> int:
    from torinvest.sources.sql import events_query, make_engine, make_scope, print_sql

    check_activity_options(
        logs=logs,
        lookup=False,
        access_key=args.access_key,
        username=args.username,
        follow_derived=args.follow_derived,
        engine=engine,
    )
    eng = make_engine(
        engine.kind,
        sources=list(logs) or None,
        database=engine.athena_database,
        table=engine.athena_table,
        workgroup=engine.athena_workgroup,
        output_location=engine.athena_output,
        aws=aws,
    )
    try:
        scope = make_scope(
            access_keys=args.access_key,
            user_name=args.username,
            start=args.start,
            end=args.end,
            regions=with_global_region(regions)[0],
        )
        if args.follow_derived:
            print(
                "-- --follow-derived: this query runs again for the keys minted in its rows "
                "(responseElements.credentials.accessKeyId), up to 3 rounds",
                file=out,
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
        regions="all" if args.regions is None else args.regions,
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
    unread = [i for i in data.get("data_issues", []) if i["source"] == NOTHING_READ_SOURCE]
    if unread:  # the report says "could not look": so does the exit status
        raise TorinvestError(
            f"no activity source could be read: {unread[0]['problem']}",
            hint=f"the report says so ({run.html}); fix the sources and re-run",
        )
    return 0


def _investigate_all(args: argparse.Namespace, options: Any, out: TextIO, err: TextIO) -> int:
    from torinvest import report

    batch = report.run_batch(
        args.out, options, force=args.force, echo=lambda s: print(term_safe(s), file=err)
    )
    print_issues(batch.issues, err)
    width = max([len(e.status) for e in batch.entries] + [6])
    for e in batch.entries:
        html = batch.out / e.report["html"] if "html" in e.report else "(no report.html)"
        print(
            f"{e.status:<{width}}  {e.finding_id}  {term_safe(e.access_key_id or '-')}  {html}"
            + ("" if e.complete else "  (incomplete)"),
            file=out,
        )
    print(f"index: {batch.index_html}", file=out)
    if batch.gap:
        print(
            f"torinvest: note: partial result: {term_safe(batch.gap)}; open findings there "
            "have no report in this batch",
            file=err,
        )
    if batch.failed:
        raise TorinvestError(
            f"{len(batch.failed)} of {len(batch.entries)} report(s) failed",
            hint=f"each failed report shows its error on top; see {batch.index_html}",
        )
    if not batch.entries:
        where = " where torinvest could look" if batch.gap else ""
        print(f"torinvest: note: no open Tor finding{where}", file=err)
    return 0


# --------------------------------------------------------------------------------------------
# notebook: working copies
# --------------------------------------------------------------------------------------------
def cmd_notebook(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import shlex

    from torinvest import notebooks
    from torinvest.report import RunOptions

    if args.triage == bool(args.finding_id):
        raise UsageError("give a FINDING_ID, or --triage for the triage notebook (not both)")
    if args.case:
        Case.open(args.case)
    else:
        parse_regions(args.regions or "all")
    options = RunOptions(
        case_dir=args.case,
        profile=args.profile,
        regions=args.regions or "all",
        role_arn=args.role_arn,
        logs=tuple(args.logs),
        exit_lists=tuple(args.exit_lists),
        ledger=args.ledger,
    )
    if args.triage:
        copy = notebooks.triage_copy(options, args.out, force=args.force)
        what = "triage notebook"
    else:
        copy = notebooks.investigation_copy(args.finding_id, options, args.out, force=args.force)
        what = f"working notebook of finding {args.finding_id}"
    if copy.status == "kept":
        print(
            f"torinvest: note: {what} exists: kept as it is, edits and all (--force writes a "
            "fresh copy and keeps this one beside it)",
            file=err,
        )
        if copy.same_parameters is None:
            print(
                f"torinvest: note: {copy.path} cannot be read as a notebook (--force replaces "
                "it and keeps it beside the new copy)",
                file=err,
            )
        elif not copy.same_parameters:
            print(
                "torinvest: note: it was made with other parameters than these; its injected "
                "parameters cell says which",
                file=err,
            )
    elif copy.backup is not None:
        print(f"torinvest: note: the previous copy is kept as {copy.backup}", file=err)
    print(f"{what}: {copy.status}", file=out)
    print(f"open it: {shlex.join(notebooks.lab_command(copy.path))}", file=out)
    print(str(copy.path), file=out)
    out.flush()
    if args.open:
        return notebooks.open_in_lab(copy.path)
    return 0


# --------------------------------------------------------------------------------------------
# verdicts
# --------------------------------------------------------------------------------------------
def _sources_for(args: argparse.Namespace, aws: Aws | None = None) -> Any:
    """The investigation's sources: the case folder, or AWS (with ``aws`` when given)."""
    from torinvest.investigation import Sources, sources_from_parameters

    if args.case:
        return sources_from_parameters(case_dir=args.case)
    regions = "all" if args.regions is None else args.regions  # '' is refused, not "all"
    if aws is not None:
        return Sources(aws=aws, regions=parse_regions(regions))
    return sources_from_parameters(profile=args.profile, regions=regions, role_arn=args.role_arn)


def _investigate(args: argparse.Namespace, sources: Any) -> Any:
    from torinvest.investigation import investigate

    return investigate(
        args.finding_id,
        sources,
        lookback_days=args.lookback_days,
        lookahead_days=args.lookahead_days,
        tolerance_hours=args.tolerance_hours,
    )


def _verdict_line(record: dict[str, Any]) -> str:
    """``malicious by ana at 2024-… (key AKIA…)`` for a terminal."""
    key = record.get("access_key_id")
    return (
        f"{term_safe(record.get('status'))} by {term_safe(record.get('analyst')) or '-'} at "
        f"{term_safe(record.get('recorded_at'))}" + (f" (key {term_safe(key)})" if key else "")
    )


def cmd_verdict(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest.findings import check_finding_id
    from torinvest.report import evidence
    from torinvest.verdict import (
        NEXT_STEPS,
        default_ledger_path,
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
    if args.case or args.profile or args.role_arn or args.regions is not None:
        inv = _investigate(args, _sources_for(args))
    v = make_verdict(
        args.finding_id,
        status=args.status,
        analyst=args.analyst,
        rationale=args.rationale,
        access_key_id=inv.key.access_key_id if inv is not None else None,
        evidence=evidence(inv) if inv is not None else None,
    )
    done = record_decision(v, args.ledger)
    if done.added:
        print(
            f"recorded: {v.status} for {v.finding_id}"
            + (f" (key {v.access_key_id})" if v.access_key_id else "")
            + f" by {term_safe(v.analyst) or '-'} at {v.recorded_at} in {done.path}",
            file=out,
        )
        if done.superseded is not None:
            print(f"supersedes: {_verdict_line(done.superseded)} (kept in the ledger)", file=out)
    else:
        print(
            f"already recorded: {_verdict_line(done.record)} for {v.finding_id} in {done.path} "
            "(the same verdict: nothing added)",
            file=out,
        )
    if inv is None and done.added:
        print("torinvest: note: no source given: the verdict carries no evidence", file=err)
    print(f"next: {NEXT_STEPS[v.status]}", file=out)
    return 0


def cmd_verdicts(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest.verdict import current_verdicts, default_ledger_path, read_ledger, verdict_states

    path = args.ledger or default_ledger_path()
    records, issues = read_ledger(path)
    if args.finding:
        records = [r for r in records if r.get("finding_id") == args.finding]
    verdicts = verdict_states(records) if args.history else current_verdicts(records)
    if args.json:
        keep = ("recorded_at", "finding_id", "access_key_id", "status", "analyst", "rationale")
        extra = ("state", "evidence") if args.history else ("evidence",)
        rows = [{k: r.get(k) for k in (*keep, *extra)} for r in verdicts]
        # ASCII-only JSON: attacker or analyst text cannot reach the terminal as control codes
        out.write(json.dumps(rows, indent=2, ensure_ascii=True) + "\n")
    else:
        out.write(format_verdicts(verdicts) + "\n")
    print_issues(issues, err)
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
    from torinvest import actions, runner
    from torinvest.findings import check_finding_id
    from torinvest.investigation import load_findings, locate
    from torinvest.verdict import latest_verdict, read_ledger

    check_finding_id(args.finding_id)
    if args.suppress and args.plan != "archive":
        raise UsageError("--suppress goes with --plan archive")
    if args.execute:  # the ledger only: no call before the verdict allows one
        decided = runner.require_verdict(args.finding_id, args.plan, ledger=args.ledger)
        print(
            f"torinvest: note: following the {decided.get('status')} verdict of "
            f"{term_safe(decided.get('analyst'))} recorded at {decided.get('recorded_at')}",
            file=err,
        )
    aws = aws_from_args(args)
    sources = _sources_for(args, aws=None if args.case else aws)
    if args.plan == "archive":
        row, _ = locate(load_findings(sources), args.finding_id)
        plan = actions.plan_archive(row, suppress=args.suppress, scope=args.scope)
    else:
        inv = _investigate(args, sources)
        plan = actions.plan_remediation(inv.key, inv.events)
        print_issues(inv.data_issues, err)
    records, ledger_issues = read_ledger(args.ledger)
    print_issues(ledger_issues, err)  # a torn line may be a lost verdict
    if not args.execute:
        prior = latest_verdict(records, args.finding_id)
        wanted = actions.PLAN_VERDICTS[args.plan]
        if prior is None or prior.get("status") not in wanted:
            said = prior.get("status") if prior else "none recorded"
            print(
                f"torinvest: note: the verdict on {args.finding_id} is {term_safe(said)}: "
                f"--execute needs a {' or '.join(wanted)} verdict "
                f"({runner.verdict_command(args.finding_id, wanted[0], args.ledger)})",
                file=err,
            )
    for note in plan.notes:
        print(f"torinvest: note: {term_safe(note)}", file=err)

    def echo(line: str) -> None:
        print(term_safe(line), file=out)

    report = runner.carry_out(
        aws,
        plan,
        execute=args.execute,
        offline=bool(args.case) and not args.execute,
        ledger=args.ledger,
        echo=echo,
    )
    for note in report.notes:
        print(f"torinvest: note: {term_safe(note)}", file=err)
    for line in report.summary_lines():
        echo(line)
    problem = runner.exit_problem(report)
    if problem is not None:
        raise problem
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
    try:
        args = parser.parse_args(argv)
    except BrokenPipeError:  # `torinvest --help | head -1`
        return _closed_pipe(out)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="torinvest: %(levelname)s: %(name)s: %(message)s",
        stream=err,
    )
    try:
        if getattr(args, "profile", None):
            check_profile(args.profile)  # a mistyped profile fails now, whatever the command
        code = int(args.func(args, out, err) or 0)
        out.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return code
    except OptionsError as e:  # options that cannot go together (UsageError among them)
        print(f"torinvest: error: {term_safe(e)}", file=err)
        return 2
    except TorinvestError as e:
        if isinstance(e, CouldNotLookError) and _differ(e.issues):
            print_issues(e.issues, err)
        print(f"torinvest: error: {term_safe(e)}", file=err)
        return 1
    except KeyboardInterrupt:
        print("torinvest: interrupted", file=err)
        return 130
    except BrokenPipeError:
        return _closed_pipe(out)
    except Exception as e:  # the last line of defence: a bug, said in one line
        return _internal_error(e, args, err)


def _differ(issues: Sequence[DataIssue]) -> bool:
    """Whether the issues say more than their first one (not N times the same problem)."""
    said = {i.problem.replace(i.source.removeprefix("guardduty:"), "…") for i in issues}
    return len(issues) > 1 and len(said) > 1


#: Exit status when the reader of the output went away (``torinvest … | head -1``): what a
#: coreutils command killed by SIGPIPE reports (128 + 13), without a message.
BROKEN_PIPE_STATUS = 141


def _closed_pipe(out: TextIO) -> int:
    """The reader closed the pipe: stop quietly. stdout is pointed at /dev/null so that the
    interpreter's last flush of what was buffered fails silently too."""
    if out is sys.stdout:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        except (OSError, ValueError):  # pragma: no cover - no file descriptor to redirect
            pass
    return BROKEN_PIPE_STATUS


def _internal_error(error: Exception, args: argparse.Namespace, err: TextIO) -> int:
    """An unexpected exception: one line (and the traceback with -v), exit status 1."""
    if args.verbose:
        traceback.print_exception(error, file=err)
    first = (str(error).strip().splitlines() or [""])[0]
    print(
        f"torinvest: error: internal error: {type(error).__name__}: {term_safe(first, limit=300)} "
        "(this is a bug; run with -v to see the traceback)",
        file=err,
    )
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
