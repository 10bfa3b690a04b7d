"""``torinvest tor``: refresh the exit-list cache, check an IP at a time."""

from __future__ import annotations

import argparse
from typing import TextIO

import pandas as pd

from torinvest.case import Case
from torinvest.cli.args import TOLERANCE_HELP, UsageError, _iso_time, number_option
from torinvest.cli.output import issue_count, print_issues, print_partial
from torinvest.errors import CouldNotLookError
from torinvest.options import DEFAULT_TOLERANCE_HOURS
from torinvest.safety import term_safe


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest tor`` and its arguments to the parser."""
    t = sub.add_parser("tor", help="Tor exit lists: refresh the cache, check an IP")
    tsub = t.add_subparsers(dest="tor_command", required=True, metavar="ACTION")
    tr = tsub.add_parser(
        "refresh",
        help="download the current exit list (or a past month's CollecTor archive) into the cache",
    )
    tr.add_argument(
        "--month", metavar="YYYY-MM", help="a past month's archive instead (up to this month)"
    )
    tr.add_argument(
        "--accept-short",
        action="store_true",
        help="save the current list even when it names far fewer exits than the last one known "
        "(the Tor network really shrank); until a later download confirms its size it still "
        "cannot rule Tor out",
    )
    tr.set_defaults(func=cmd_tor_refresh)
    tc = tsub.add_parser("check", help="was an IP a listed Tor exit at a time?")
    tc.add_argument("ip")
    tc.add_argument("--at", type=_iso_time, help="time (ISO 8601, UTC; default now)")
    tc.add_argument("--case", metavar="DIR", help="also use DIR/tor/ lists")
    tc.add_argument(
        "--tolerance-hours",
        type=number_option("tolerance_hours"),
        default=DEFAULT_TOLERANCE_HOURS,
        metavar="H",
        help=TOLERANCE_HELP,
    )
    tc.set_defaults(func=cmd_tor_check)


# --------------------------------------------------------------------------------------------
# tor
# --------------------------------------------------------------------------------------------
def cmd_tor_refresh(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest import tor
    from torinvest.paths import tor_cache

    if args.accept_short and args.month:
        raise UsageError("--accept-short applies to the current list, not to --month archives")
    result = tor.refresh(tor_cache(), month=args.month, accept_short=args.accept_short)
    if not result.ok:  # nothing downloaded: could not look (exit 3), as in every command
        raise CouldNotLookError(result.note)
    print(f"torinvest: ok: {term_safe(result.note)}", file=out)
    return 0


def cmd_tor_check(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest import tor
    from torinvest.paths import tor_cache

    ip = tor.normalize_ip(args.ip)
    if ip is None:  # before any list is read
        raise UsageError(f"IP: not an IP address: {args.ip[:60]!r}", hint="e.g. 185.220.101.34")
    paths = [str(Case.open(args.case).require("tor"))] if args.case else []
    cache = tor_cache()
    lists = tor.load_exit_lists(*paths, cache_dir=cache if cache.is_dir() else None)
    at = args.at if args.at is not None else pd.Timestamp.now(tz="UTC")
    status = tor.ip_status(ip, at, lists, pd.Timedelta(hours=args.tolerance_hours))
    unknown = "unknown: no loaded list covers that time"
    if ":" in ip:  # lists count per address family: IPv4 exits say nothing of IPv6 sources
        unknown = "unknown: no loaded list that names IPv6 exits covers that time"
    verdict = {True: "a listed Tor exit", False: "not a listed Tor exit"}.get(status, unknown)
    probe = pd.DataFrame(
        {"event_time": [at], "source_ip": [ip], "tor": pd.array([status], dtype="boolean")}
    )
    if tor.or_only(probe, lists, pd.Timedelta(hours=args.tolerance_hours))[0]:
        # only lists of relays' OR addresses rule Tor out then: an exit elsewhere is not in them
        verdict += f" — {tor.OR_ONLY_TEXT}; no list of measured exit addresses covers that time"
    print(f"{ip} at {at:%Y-%m-%d %H:%M}Z (±{args.tolerance_hours:g} h): {verdict}", file=out)
    seen = lists.observations_for(ip)
    if len(seen):
        first, last = seen["first_seen"].min(), seen["last_seen"].max()
        print(
            f"  listed {len(seen)} time(s) between {first:%Y-%m-%d} and {last:%Y-%m-%d}", file=out
        )
    described = lists.describe().splitlines()
    print(f"  lists: {term_safe(described[0])}", file=out)
    for line in described[1:]:
        print(f"         {term_safe(line)}", file=out)
    print_issues(lists.issues, err)
    if lists.issues:  # a list or lines of one not read: the answer rests on the rest
        print_partial(
            f"{issue_count(lists.issues)} exit-list issue(s) (above): the answer rests on the "
            "lists and lines that could be read",
            err,
        )
    return 0
