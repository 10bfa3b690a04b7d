"""``torinvest athena-ddl``: the CREATE TABLE of a trail's bucket for Athena, or (``--add-columns``)
the ALTER TABLE that gives a table made from an older CloudTrail DDL the columns it lacks."""

from __future__ import annotations

import argparse
from typing import TextIO

from torinvest.aws import parse_regions
from torinvest.aws.ids import account_id
from torinvest.cli.args import UsageError, _regions, value_of
from torinvest.errors import InputError, OptionsError


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest athena-ddl`` and its arguments to the parser."""
    ad = sub.add_parser(
        "athena-ddl",
        help="print the CREATE TABLE for the CloudTrail bucket (partition projection)",
    )
    ad.add_argument("--bucket", type=value_of(_bucket), help="the trail's S3 bucket (required)")
    ad.add_argument(
        "--prefix", default="", type=value_of(_prefix), help="key prefix before AWSLogs/"
    )
    ad.add_argument("--org-id", type=value_of(_org_id), help="o-… for an organization trail")
    ad.add_argument(
        "--accounts",
        type=value_of(_accounts),
        help="account IDs (12 digits each), comma-separated (required)",
    )
    ad.add_argument(
        "--regions",
        default="all",
        type=value_of(_regions),
        help="regions, comma-separated (default all)",
    )
    ad.add_argument("--table", default="cloudtrail_logs", type=value_of(_athena_name))
    ad.add_argument(
        "--database", type=value_of(_athena_name), help="database to create the table in"
    )
    ad.add_argument(
        "--add-columns",
        type=value_of(_columns),
        metavar="COLUMNS",
        help="print instead the ALTER TABLE that adds these columns of today's CloudTrail DDL "
        "(comma-separated) to --table, made from an older DDL (no --bucket, --accounts)",
    )
    ad.set_defaults(func=cmd_athena_ddl)


# Each value is checked by the library's own rule (torinvest.sources.sql.ddl) at parse time,
# so that a bad one is a usage error naming its option (exit 2), as in every command.
def _bucket(text: str) -> str:
    from torinvest.sources.sql.ddl import trail_location

    trail_location(text)
    return text


def _prefix(text: str) -> str:
    from torinvest.sources.sql.ddl import trail_location

    try:
        trail_location("bucket", text)
    except OptionsError as e:
        raise InputError(e.message, hint=e.hint) from None
    return text


def _org_id(text: str) -> str:
    from torinvest.sources.sql.ddl import trail_location

    trail_location("bucket", "", text)
    return text


def _athena_name(text: str) -> str:
    from torinvest.sources.sql.ddl import TABLE_NAME_RE

    if not TABLE_NAME_RE.match(text):
        raise InputError(
            f"invalid Athena name {text[:80]!r}", hint="lower-case letters, digits and _"
        )
    return text


def _columns(text: str) -> list[str]:
    """A comma list of columns of today's CloudTrail DDL (whole columns: a struct's field has
    no ALTER TABLE on a CloudTrail table); at least one."""
    from torinvest.sources.sql.columns import CURRENT_TYPES

    names = [c.strip().lower() for c in text.split(",") if c.strip()]
    unknown = [c for c in names if c not in CURRENT_TYPES]
    if not names or unknown:
        raise InputError(
            f"not a column of the CloudTrail table: {', '.join(unknown) or text[:40]!r}",
            hint=f"one or more of {', '.join(CURRENT_TYPES)}",
        )
    return names


def _accounts(text: str) -> list[str]:
    """A comma list of account IDs, each 12 digits (trimmed); at least one."""
    accounts = [account_id(a, name="") for a in text.split(",") if a.strip()]
    if not accounts:
        raise InputError(f"no account ID in {text[:40]!r}", hint="e.g. 123456789012,210987654321")
    return accounts


def cmd_athena_ddl(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest.sources.athena import athena_ddl

    if args.add_columns:
        from torinvest.sources.sql.columns import add_columns_sql

        name = f"{args.database}.{args.table}" if args.database else args.table
        out.write(add_columns_sql(name, args.add_columns) + "\n")
        return 0
    missing = [o for o, v in (("--bucket", args.bucket), ("--accounts", args.accounts)) if not v]
    if missing:
        raise UsageError(
            f"athena-ddl needs {' and '.join(missing)}",
            hint="the trail's bucket and the accounts it logs; or --add-columns, for a table "
            "made from an older CloudTrail DDL",
        )
    try:  # every value was checked when parsed: an error left here is still about them
        ddl = athena_ddl(
            args.bucket,
            prefix=args.prefix,
            org_id=args.org_id,
            accounts=args.accounts,
            regions=parse_regions(args.regions),
            table=args.table,
            database=args.database,
        )
    except InputError as e:
        raise UsageError(e.message, hint=e.hint) from None
    out.write(ddl.rstrip() + "\n")
    return 0
