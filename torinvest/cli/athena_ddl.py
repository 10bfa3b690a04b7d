"""``torinvest athena-ddl``: the CREATE TABLE of a trail's bucket for Athena."""

from __future__ import annotations

import argparse
from typing import TextIO

from torinvest.aws import parse_regions


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest athena-ddl`` and its arguments to the parser."""
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
