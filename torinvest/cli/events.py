"""``torinvest events``: a key's CloudTrail activity as one frame, written as parquet, CSV
or JSON lines (``--print-sql``: the engine's query instead).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from torinvest.aws import Aws, parse_regions
from torinvest.case import Case
from torinvest.cli.args import (
    UsageError,
    _access_key,
    _account,
    _add_aws_args,
    _add_engine_args,
    _end_time,
    _iso_time,
    aws_from_args,
    check_window,
    engine_from_args,
)
from torinvest.cli.output import issue_count, print_issues, print_partial
from torinvest.errors import CouldNotLookError, DataIssue, group_issues
from torinvest.export import check_output, write_frame, write_reading
from torinvest.options import EngineOptions
from torinvest.safety import term_safe
from torinvest.schema import iso_utc

if TYPE_CHECKING:
    from torinvest.data_trails import DataTrails


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest events`` and its arguments to the parser."""
    e = sub.add_parser(
        "events",
        help="a key's CloudTrail activity from log files and/or LookupEvents, as one frame",
        description="Load CloudTrail events (log files in a case folder, a folder or s3:// "
        "prefix, and/or LookupEvents in every region), filtered to one access key and window, "
        "deduplicated on eventID, and write them as parquet or CSV.",
    )
    e.add_argument(
        "--case",
        metavar="DIR",
        action="append",
        default=[],
        help="case folder (reads DIR/cloudtrail; repeatable)",
    )
    e.add_argument(
        "--logs",
        metavar="PATH_OR_S3_URL",
        action="append",
        default=[],
        help="CloudTrail log folder, file or s3://bucket/prefix (repeatable)",
    )
    e.add_argument("--lookup", action="store_true", help="use CloudTrail LookupEvents (90 days)")
    _add_aws_args(e)
    e.add_argument(
        "--access-key",
        metavar="ID",
        type=_access_key,
        help="keep only this access key's events (AKIA…, ASIA…)",
    )
    e.add_argument("--username", help="LookupEvents by user name (role sessions) instead")
    e.add_argument(
        "--account",
        metavar="ID",
        type=_account,
        help="the account whose activity is sought (a finding's): sources read that are all "
        "of other accounts are 'could not look in account ID' (exit 3), as investigate says",
    )
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
    e.set_defaults(func=cmd_events, on_failure=say_not_written)


def _check_events_usage(args: argparse.Namespace, logs: Sequence[str]) -> None:
    """Refuse the options of ``events`` no source of this run would honour (exit 2)."""
    named = [o for o, v in (("--profile", args.profile), ("--role-arn", args.role_arn)) if v]
    if named and not _reads_aws(args, logs):
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


def _reads_aws(args: argparse.Namespace, logs: Sequence[str]) -> bool:
    """Whether this run reads AWS (LookupEvents, Athena, s3:// log files); local log files
    alone make no AWS call."""
    return args.lookup or args.engine == "athena" or any(s.startswith("s3://") for s in logs)


def _data_trails(
    args: argparse.Namespace, logs: Sequence[str], regions: Sequence[str] | None, aws: Aws
) -> DataTrails | None:
    """Which trails record data events, asked of CloudTrail as ``investigate`` asks it
    (:func:`torinvest.data_trails.check_data_trails`: read-only, a failure "could not
    check"), with this run's access, in its one region (``--regions`` naming one) or the
    credentials' home region; None when the run reads local log files only (it makes no AWS
    call, and names no account to ask)."""
    from torinvest.data_trails import check_data_trails

    if not _reads_aws(args, logs):
        return None
    region = regions[0] if regions and len(regions) == 1 else None
    return check_data_trails(aws, region, None)  # the credentials' account: the one read


def cmd_events(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``torinvest events`` (a failure, here or in ``main``'s checks before it, ends with
    :func:`say_not_written`: the command's ``on_failure``)."""
    logs = list(args.logs)
    cases = [str(Case.open(case).require("cloudtrail")) for case in args.case]
    logs[:0] = cases  # each case folder, in the order given, then --logs
    _check_events_usage(args, logs)
    regions = parse_regions(args.regions)
    if not args.lookup and args.regions == "all":
        regions = None
    check_window(args)
    engine = engine_from_args(args)
    aws = aws_from_args(args)  # the credentials named: S3, Athena and LookupEvents use them
    if args.print_sql:
        return _print_sql(args, engine, logs, regions, aws, out)
    check_output(args.out)  # an unwritable --out fails now, not after the whole load
    return _load_and_write(args, engine, logs, regions, aws, out, err)


def say_not_written(args: argparse.Namespace, err: TextIO) -> None:
    """A run that failed — an error, a bug, Ctrl-C, before the load (a mistyped case folder or
    profile) or in it — leaves an earlier export under ``--out`` as it was: said, so that it is
    not read as this run's result (a folder there is no export: nothing to say). Interrupted
    (Ctrl-C, SIGTERM) with no file there, it says that nothing was written."""
    target = Path(args.out)
    if getattr(args, "written", None) is not None:
        return  # this run wrote it (it could not look in the account sought: said)
    if target.is_file():
        print(
            f"torinvest: note: {term_safe(target)} was not written: the file there is an "
            "earlier export, not this run's",
            file=err,
        )
    elif isinstance(sys.exc_info()[1], KeyboardInterrupt) and not target.exists():
        print(
            f"torinvest: note: {term_safe(target)} was not written: the run was stopped "
            "before it was",
            file=err,
        )


def _load_and_write(
    args: argparse.Namespace,
    engine: EngineOptions,
    logs: Sequence[str],
    regions: Sequence[str] | None,
    aws: Aws,
    out: TextIO,
    err: TextIO,
) -> int:
    """Load the activity and write ``--out`` (:func:`cmd_events` once the options are checked)."""
    from torinvest.data_events import data_events
    from torinvest.events import load_activity
    from torinvest.impairment import WATCHED_CALLS
    from torinvest.reading import said_of

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
        account=args.account,  # sources of other accounts only: could not look there
        watch=WATCHED_CALLS,  # anyone else's calls that impair logging, as investigate reads
    )
    if activity.nothing_read:  # "could not look" is never "no events"
        said = activity.empty_sources + activity.said_by_why()  # the error line says them
        listed = [i for i in activity.issues if i not in said]
        print_issues(listed, err)
        for note in [*activity.notes, *activity.asides]:
            print(f"torinvest: note: {term_safe(note)}", file=err)
        raise CouldNotLookError(activity.why_nothing(), hint=_nothing_read_hint(activity, listed))
    # what the reading says of itself, as investigate says it (torinvest.reading): the trail
    # gaps the key made, who minted the key, what cannot be judged without the finding
    reading = said_of(
        activity,
        access_key=args.access_key,
        username=args.username,
        start=args.start,
        end=args.end,
        follow_derived=args.follow_derived,
    )
    path = write_frame(activity.frame, args.out)
    who = f" of {args.access_key or args.username}" if (args.access_key or args.username) else ""
    print(term_safe(f"{activity.summary()}{who}; written to {path}"), file=out)
    if not len(activity.frame) and reading.issues:
        print(
            f"torinvest: note: no event{term_safe(who)} in what could be read; the issues below "
            "name what could not be read: its events, if any, are missing",
            file=err,
        )
    elif not len(activity.frame):
        print(
            "torinvest: note: the sources were read and hold no event"
            f"{term_safe(who)}{' in the window' if args.start or args.end else ''} (this is not "
            "an access problem)",
            file=err,
        )
    engine = [activity.engine_summary] if activity.engine_summary else []
    # LookupEvents never returns S3 object reads…; which trails record them, as investigate says
    said = data_events(activity, _data_trails(args, logs, regions, aws))
    origin = [reading.origin_text] if reading.origin_text else []  # who minted the key
    unjudged = [reading.unjudged] if reading.unjudged else []
    notes = [
        *reading.notes,  # the activity's notes and asides, what the key impaired beside them
        *engine,
        said.text,
        *origin,
        *unjudged,
    ]
    for note in notes:
        print(f"torinvest: note: {term_safe(note)}", file=err)
    for d in activity.derived:
        by = term_safe(d.minted_by or "an unknown key")
        print(
            f"torinvest: note: derived key {term_safe(d.access_key_id)} minted by {by} "
            f"({term_safe(d.event_name)} at {iso_utc(d.event_time)}) — its activity is included, "
            "flagged derived",
            file=err,
        )
    # the file holds the rows read, nothing else: the reading file beside it says what it is
    beside = write_reading(
        path,
        {
            "export": path.name,
            "state": reading.state(activity.total_events),
            "events": activity.total_events,
            "access_key": args.access_key,
            "username": args.username,
            "start": iso_utc(args.start),
            "end": iso_utc(args.end),
            "sources": activity.sources,
            "data_issues": [i.to_dict() for i in group_issues(reading.issues)],
            "notes": notes,
        },
    )
    print_issues(reading.issues, err)
    gap = activity.could_not_look  # --account: every source read is of other accounts
    if gap is not None:  # the events read (recorded there) are written; the answer is not
        args.written = path  # said_not_written: this run's file, not an earlier one
        raise CouldNotLookError(
            gap, hint=f"{path} holds the events read in the other account(s), as {beside} says"
        )
    if reading.issues:  # any data issue: what could not be read is not in the file
        print_partial(
            f"{issue_count(reading.issues)} data issue(s) (above): the events of what could "
            f"not be read are not in {path}, as {beside} says",
            err,
        )
    return 0


def _nothing_read_hint(activity: Any, listed: Sequence[DataIssue] = ()) -> str | None:
    """What to do when no source could be read (None: the message already says it);
    ``listed``: the issues printed above it (those the message does not say)."""
    from torinvest.sources.logs import NO_MATCH

    if listed:
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
    from dataclasses import replace

    from torinvest.events import check_activity_options, with_global_region
    from torinvest.sources.sql import events_query, make_scope, print_sql
    from torinvest.sources.sql.engine import engine_for

    check_activity_options(
        logs=logs,
        lookup=False,
        access_key=args.access_key,
        username=args.username,
        follow_derived=args.follow_derived,
        engine=engine,
    )
    eng = engine_for(engine, logs, aws)
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
        # as load_sql runs it: with a key, the records that minted it too (who minted it)
        print_sql(eng, events_query(replace(scope, mints=scope.keys is not None)), file=out)
    finally:
        eng.close()
    return 0
