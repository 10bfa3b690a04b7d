"""Arguments shared by several commands (AWS, window, engine), their value parsers, and the
library objects they name (:func:`aws_from_args`, :func:`engine_from_args`, the sources).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import pandas as pd

from torinvest.aws import DEFAULT_MAX_WORKERS, Aws, AwsConfig, parse_regions
from torinvest.aws.ids import account_id, check_access_key_id, check_external_id, check_role_arn
from torinvest.aws.session import CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT
from torinvest.errors import InputError, OptionsError
from torinvest.options import (
    DEFAULT_LOOKAHEAD_DAYS,
    DEFAULT_LOOKBACK_DAYS,
    DEFAULT_MAX_FILE_BYTES,
    DEFAULT_MAX_ROWS,
    DEFAULT_TOLERANCE_HOURS,
    NUMBER_RANGES,
    EngineOptions,
    RunOptions,
    check_number,
)
from torinvest.schema import time_window, window_bound


# --------------------------------------------------------------------------------------------
# argument parsing
# --------------------------------------------------------------------------------------------
def number_option(name: str) -> Callable[[str], float | int]:
    """The argparse type of the numeric option for ``name`` (a key of
    :data:`torinvest.options.NUMBER_RANGES`): :func:`torinvest.options.check_number`, the same
    check as the notebook's, so ``nan``, ``inf`` and values out of range are a usage error
    (exit 2) before any work. A whole-number option gives an int."""

    def parse(text: str) -> float | int:
        try:
            number = check_number(name, text, label="")
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return int(number) if NUMBER_RANGES[name].integer else number

    parse.__name__ = name  # argparse names the type in some messages
    return parse


def value_of(check: Callable[..., Any]) -> Callable[[str], Any]:
    """The argparse type of an option whose value ``check`` (a library check raising
    :class:`InputError`) accepts: what it returns (trimmed…), and a usage error (exit 2, the
    option named by argparse) with the check's message and hint otherwise."""

    def parse(text: str) -> Any:
        try:
            return check(text)
        except InputError as e:
            raise argparse.ArgumentTypeError(str(e).removeprefix(": ")) from None

    parse.__name__ = getattr(check, "__name__", "value")
    return parse


def _athena_name(text: str) -> str:
    """``--athena-database``/``--athena-table``: a name of lower-case letters, digits and _."""
    from torinvest.sources.sql.ddl import _table_name  # imported when an option is given

    _table_name(text, None)
    return text


def _regions(text: str) -> str:
    """``--regions``: 'all' or a list of region codes (:func:`parse_regions`), kept as text."""
    parse_regions(text)
    return text


def _bounds(name: str) -> str:
    """The range of a numeric option, for its help: ``0 to 3650``."""
    return NUMBER_RANGES[name].span()


TOLERANCE_HELP = (
    "an IP is Tor if an exit list shows it within H hours of the call "
    f"(default {DEFAULT_TOLERANCE_HOURS}; {_bounds('tolerance_hours')})"
)


def _add_aws_args(
    p: argparse.ArgumentParser, *, regions_default: str | None = "all", full: bool = True
) -> None:
    g = p.add_argument_group("AWS (credentials, region and endpoints come from the AWS CLI chain)")
    g.add_argument("--profile", help="AWS profile (default: AWS_PROFILE / the default profile)")
    g.add_argument(
        "--regions",
        type=value_of(_regions),
        default=regions_default,
        help="'all' (every enabled region"
        + (", the default" if regions_default == "all" else "")
        + ") or a comma list: us-east-1,eu-west-1",
    )
    g.add_argument(
        "--role-arn",
        type=value_of(partial(check_role_arn, name="")),
        metavar="ARN",
        help="role to assume first, e.g. in a member account (arn:aws:iam::ACCOUNT:role/NAME)",
    )
    g.add_argument(
        "--external-id",
        type=value_of(partial(check_external_id, name="")),
        help="external ID for --role-arn (AssumeRole's ExternalId)",
    )
    g.add_argument(
        "--connect-timeout",
        type=number_option("connect_timeout"),
        default=None,
        metavar="SECONDS",
        help="seconds a connection to an AWS endpoint is waited for (default "
        f"{CONNECT_TIMEOUT_ENV} or {DEFAULT_CONNECT_TIMEOUT:g}; {_bounds('connect_timeout')})",
    )
    if full:
        g.add_argument(
            "--max-workers",
            type=number_option("max_workers"),
            default=None,
            metavar="N",
            help=f"regions queried at once (default {DEFAULT_MAX_WORKERS}; "
            f"{_bounds('max_workers')})",
        )


def _add_window_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("window and Tor matching")
    g.add_argument(
        "--lookback-days",
        type=number_option("lookback_days"),
        default=DEFAULT_LOOKBACK_DAYS,
        metavar="N",
        help=f"days read before the finding's first sighting (default {DEFAULT_LOOKBACK_DAYS}; "
        f"{_bounds('lookback_days')})",
    )
    g.add_argument(
        "--lookahead-days",
        type=number_option("lookahead_days"),
        default=DEFAULT_LOOKAHEAD_DAYS,
        metavar="N",
        help=f"days read after its last sighting (default {DEFAULT_LOOKAHEAD_DAYS}; "
        f"{_bounds('lookahead_days')})",
    )
    g.add_argument(
        "--tolerance-hours",
        type=number_option("tolerance_hours"),
        default=DEFAULT_TOLERANCE_HOURS,
        metavar="H",
        help=TOLERANCE_HELP,
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
    g.add_argument(
        "--athena-database",
        type=value_of(_athena_name),
        help="Athena database holding the CloudTrail table",
    )
    g.add_argument(
        "--athena-table",
        type=value_of(_athena_name),
        help="the CloudTrail table (default cloudtrail_logs)",
    )
    g.add_argument("--athena-workgroup", help="Athena workgroup")
    g.add_argument("--athena-output", metavar="S3_URL", help="query result location s3://…")
    g.add_argument(
        "--max-file-mb",
        type=number_option("max_file_mb"),
        default=DEFAULT_MAX_FILE_BYTES >> 20,
        metavar="N",
        help="the most one log file may hold once decompressed, in MiB; a larger file (a "
        f"decompression bomb?) is a data issue, not read (default {DEFAULT_MAX_FILE_BYTES >> 20}; "
        f"{_bounds('max_file_mb')})",
    )


def add_path_args(p: argparse.ArgumentParser) -> None:
    """--logs, --exit-list and --geoip: the paths an investigation reads beside its case or
    AWS sources (:func:`add_investigation_args`; ``notebook`` takes these alone)."""
    p.add_argument(
        "--logs",
        metavar="PATH_OR_S3_URL",
        action="append",
        default=[],
        help="extra CloudTrail log folder, file or s3://bucket/prefix (repeatable); needed for "
        "a finding older than LookupEvents' 90 days",
    )
    p.add_argument(
        "--exit-list",
        metavar="PATH",
        action="append",
        default=[],
        dest="exit_lists",
        help="extra Tor exit-list file or folder (repeatable)",
    )
    p.add_argument(
        "--geoip",
        metavar="PATH",
        action="append",
        default=[],
        help="MaxMind-format database (.mmdb: GeoLite2-ASN/-Country/-City, DB-IP Lite, IPinfo "
        "Lite) for each IP's ASN and AS organization (and country); repeatable. Without it, "
        "countries come from the bundled RIR data and ASNs only from the findings",
    )


def add_investigation_args(p: argparse.ArgumentParser) -> None:
    """The options of the investigation's sources and evidence beside ``--case`` and the AWS
    options — log files, exit lists, GeoIP databases, the engine and its options, the row
    limit, the window, derived keys — shared by every command that builds an investigation
    (``investigate``, ``actions``, ``verdict``) so that they cannot drift; read back with
    :func:`source_options`."""
    add_path_args(p)
    _add_engine_args(p)
    p.add_argument(
        "--max-rows",
        type=number_option("max_rows"),
        default=DEFAULT_MAX_ROWS,
        metavar="N",
        help="duckdb/athena: above N matching events, count in the engine (per-IP table and "
        "charts by GROUP BY) and load only the sensitive calls as rows; 0: always load every "
        f"row (default {DEFAULT_MAX_ROWS:,})",
    )
    _add_window_args(p)
    p.add_argument(
        "--no-follow-derived",
        action="store_false",
        dest="follow_derived",
        help="do not follow keys the key minted (GetSessionToken, AssumeRole, …)",
    )


def source_options(args: argparse.Namespace) -> RunOptions:
    """The run options that :func:`add_investigation_args`, ``--case`` and the AWS options name
    (verdict, ledger and the like at their defaults)."""
    return RunOptions(
        case_dir=args.case,
        profile=args.profile,
        regions="all" if args.regions is None else args.regions,
        role_arn=args.role_arn,
        external_id=args.external_id,
        logs=tuple(args.logs),
        exit_lists=tuple(args.exit_lists),
        lookback_days=args.lookback_days,
        lookahead_days=args.lookahead_days,
        tolerance_hours=args.tolerance_hours,
        follow_derived=args.follow_derived,
        engine=args.engine,
        athena_database=args.athena_database,
        athena_table=args.athena_table,
        athena_workgroup=args.athena_workgroup,
        athena_output=args.athena_output,
        max_rows=args.max_rows or None,
        max_file_mb=args.max_file_mb,
        geoip=tuple(args.geoip),
    )


def names_a_source(args: argparse.Namespace) -> bool:
    """Whether the options name a source or evidence to read (``verdict``: then the
    investigation runs and its evidence is stored)."""
    return bool(
        args.case
        or args.profile
        or args.role_arn
        or args.regions is not None
        or args.logs
        or args.exit_lists
        or args.geoip
        or args.engine != "files"
    )


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


def check_window(args: argparse.Namespace, *, now: pd.Timestamp | None = None) -> None:
    """``--start``/``--end`` make a window: a start after the end names both (exit 2), a start
    in the future says so (not "after" an end the analyst did not give). Every command with
    ``--start``/``--end`` checks them here, before any work, so that each says it alike."""
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    try:
        time_window(args.start, args.end, now=now)
    except InputError as e:
        raise UsageError(e.message, hint=e.hint) from None


def check_arguments(args: argparse.Namespace) -> None:
    """The checks of argument values no argparse type can make, for every command, right after
    parsing (a usage error, exit 2, naming the argument): a finding ID (``FINDING_ID``,
    ``--finding``) is trimmed, and refused in upper case with its lower-case spelling
    (:func:`torinvest.findings.check_finding_id`); a decided verdict (``verdict --status``,
    ``investigate --verdict``) needs ``--analyst`` and ``--rationale``."""
    from torinvest.aws.ids import check_finding_id
    from torinvest.verdict import DECIDED

    for dest, option in (("finding_id", "FINDING_ID"), ("finding", "--finding")):
        value = getattr(args, dest, None)
        if isinstance(value, str):
            try:
                setattr(args, dest, check_finding_id(value))
            except InputError as e:
                raise UsageError(f"{option}: {e.message}", hint=e.hint) from None
    for dest, option in (("status", "--status"), ("verdict", "--verdict")):
        status = getattr(args, dest, None)
        if status in DECIDED and hasattr(args, "analyst") and hasattr(args, "rationale"):
            missing = [
                name
                for name, value in (("--analyst", args.analyst), ("--rationale", args.rationale))
                if not (value or "").strip()
            ]
            if missing:
                raise UsageError(
                    f"{option} {status} needs {' and '.join(missing)}",
                    hint="a decided verdict says who decided and why: "
                    "--analyst NAME --rationale TEXT",
                )


def _account(text: str) -> str:
    """An account ID option value: 12 digits (surrounding whitespace removed)."""
    try:
        return account_id(text, name="")
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(": ")) from None


def _access_key(text: str) -> str:
    """An access key ID option value: upper-case letters and digits, 16–128 of them."""
    try:
        return check_access_key_id(text, name="")
    except InputError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix(": ")) from None


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
            connect_timeout=args.connect_timeout,
        )
    )


def _sources_for(args: argparse.Namespace, aws: Aws | None = None) -> Any:
    """The investigation's sources, built from :func:`source_options` as ``investigate`` builds
    them (options that cannot go together: OptionsError, exit 2). ``aws`` (the command's own AWS
    access: ``--external-id``, ``--max-workers``) replaces the one built from the profile and
    role. With a case folder and nothing read from AWS (no ``s3://`` logs, not Athena), the
    profile and role are the command's own calls' (``actions --execute``), not the sources'."""
    from torinvest.report.parameters import run_sources

    if args.external_id and not args.role_arn:
        raise UsageError("--external-id goes with --role-arn")
    options = source_options(args)
    parse_regions(options.regions)  # '' names no region: refused, with a case folder too
    reads_aws = options.engine == "athena" or any(s.startswith("s3://") for s in options.logs)
    if options.case_dir and not reads_aws:
        options = dataclasses.replace(options, profile=None, role_arn=None, external_id=None)
    sources = run_sources(options)
    if aws is not None:
        if sources.aws is not None:
            sources.aws = aws
        if sources.logs_aws is not None:
            sources.logs_aws = aws
    return sources


def _investigate(args: argparse.Namespace, sources: Any) -> Any:
    from torinvest.investigation import investigate

    return investigate(
        args.finding_id,
        sources,
        lookback_days=args.lookback_days,
        lookahead_days=args.lookahead_days,
        tolerance_hours=args.tolerance_hours,
        follow_derived=args.follow_derived,
        beyond_retention="raise",  # actions/verdicts act on the activity: say to give --logs
    )
