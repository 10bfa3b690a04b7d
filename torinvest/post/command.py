"""``torinvest post`` and ``torinvest investigate … --post DEST``: arguments and runs, for the CLI
to call (it parses; the library posts).

::

    torinvest post REPORT_DIR --to DEST [--to DEST …] [--force] [--with-csv] [--env-file F]
                              [--ledger FILE]

Prints one line per destination on stdout (``posted to …``, ``already posted to …``) and each
failure as ``torinvest: issue: DEST: …`` on stderr. Exit status (the CLI's rules): 0 when every
destination is posted (or already was); 0 with the failures printed and ``torinvest: note:
partial result: N of M destination(s) not posted`` when some are; 1 when none could be (or the
report is incomplete, a variable is missing, the record or the ledger cannot be written —
nothing is posted then); 2 for a destination that is not one (argparse).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from torinvest.errors import OptionsError
from torinvest.post.base import (
    SYNTAX,
    DestinationSpec,
    NothingPostedError,
    PostNotRecordedError,
    parse_destination,
)
from torinvest.post.env import environment
from torinvest.safety import term_safe

if TYPE_CHECKING:  # the engine (HTTP clients, report folders) is imported when posting
    from torinvest.post.engine import PostReport

DESTINATION_HELP = "where to post: " + "; ".join(SYNTAX.values()) + " (repeatable)"
ENV_FILE_HELP = (
    "read variables (JIRA_URL, JIRA_API_TOKEN, SERVICENOW_*, …) from this file of KEY=VALUE "
    "lines; they override the environment. Secrets are never taken from arguments"
)


def destination_type(text: str) -> DestinationSpec:
    """argparse ``type=``: a usage error (exit 2) for a destination that is not one."""
    try:
        return parse_destination(text)
    except OptionsError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``post`` command's arguments."""
    parser.add_argument(
        "report_dir", metavar="REPORT_DIR", help="a complete report folder (torinvest investigate)"
    )
    parser.add_argument(
        "--to",
        dest="to",
        action="append",
        required=True,
        type=destination_type,
        metavar="DEST",
        help=DESTINATION_HELP,
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="post again what was already posted to a destination (new attachments and comment)",
    )
    parser.add_argument(
        "--with-csv", action="store_true", help="also attach events.csv and per_ip.csv"
    )
    parser.add_argument("--env-file", metavar="FILE", help=ENV_FILE_HELP)
    parser.add_argument(
        "--ledger",
        metavar="FILE",
        help="ledger file (default: $TORINVEST_LEDGER or ~/.local/share/torinvest/ledger.jsonl)",
    )


def print_report(report: PostReport, out: TextIO, err: TextIO) -> int:
    """Print each destination's outcome; return the exit status (raise when nothing was
    posted)."""
    for o in report.outcomes:
        if o.error is None:
            print(term_safe(o.line), file=out)
        else:
            print(f"torinvest: issue: {term_safe(o.line)}", file=err)
            if o.error.hint:
                print(f"torinvest: hint: {term_safe(o.error.hint)}", file=err)
    print(f"record: {report.report_dir / 'posts.json'}", file=out)
    if report.ledger_error:
        raise PostNotRecordedError(
            report.ledger_error,
            hint="the posts are in posts.json; fix the ledger and post again to record them",
        )
    failed, total = len(report.failed), len(report.outcomes)
    if failed and failed == total:
        raise NothingPostedError(
            f"nothing posted: {failed} of {total} destination(s) failed",
            [o.error for o in report.failed if o.error is not None],
            hint="see the issues above; posting again does only what is left",
        )
    if failed:
        names = ", ".join(o.destination for o in report.failed)
        print(
            f"torinvest: note: partial result: {failed} of {total} destination(s) not posted "
            f"({names}); posting again does only what is left",
            file=err,
        )
    return 0


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``torinvest post``: raises :class:`~torinvest.post.base.NothingPostedError` (its exit
    status says why) when nothing could be posted."""
    from torinvest.post.engine import post_report

    env = environment(args.env_file)
    report = post_report(
        Path(args.report_dir),
        args.to,
        force=args.force,
        with_csv=args.with_csv,
        env=env,
        ledger=args.ledger,
        echo=lambda line: print(f"torinvest: {term_safe(line)}", file=err),
    )
    return print_report(report, out, err)


# --------------------------------------------------------------------------------------------
# investigate --post
# --------------------------------------------------------------------------------------------
def add_investigate_arguments(parser: argparse.ArgumentParser) -> None:
    """``--post DEST`` (repeatable), ``--post-with-csv`` and ``--env-file`` for ``investigate``,
    in a group of their own."""
    add_post_options(
        parser.add_argument_group(
            "posting (after a complete report only; see `torinvest post --help`)"
        )
    )


def add_post_options(g: argparse._ActionsContainer) -> None:
    """``--post DEST``, ``--post-with-csv``, ``--env-file`` into a parser or an argument group."""
    g.add_argument(
        "--post",
        dest="post",
        action="append",
        default=[],
        type=destination_type,
        metavar="DEST",
        help="post the report when it is complete: " + "; ".join(SYNTAX.values()),
    )
    g.add_argument(
        "--post-with-csv",
        action="store_true",
        help="with --post or --post-each: also attach events.csv and per_ip.csv",
    )
    g.add_argument("--env-file", metavar="FILE", help=ENV_FILE_HELP)


def check_investigate_post(args: argparse.Namespace) -> None:
    """Before an investigation starts: the destinations' configuration is all there (a missing
    variable fails now, not after a long run). Raises like :func:`post_report` would."""
    if not getattr(args, "post", None):
        if getattr(args, "post_with_csv", False):
            raise OptionsError("--post-with-csv goes with --post (or --post-each)")
        return
    from torinvest.post.base import Context
    from torinvest.post.engine import make_destinations
    from torinvest.post.env import Redactor

    env = environment(args.env_file)
    ctx = Context(
        env=env, redactor=Redactor(env), aws_factory=_aws, attempts=1, backoff=0, sleep=_no_sleep
    )
    for d in make_destinations(args.post, ctx):
        d.close()


def post_after_investigate(
    args: argparse.Namespace, folder: str | os.PathLike[str], out: TextIO, err: TextIO
) -> int:
    """After ``investigate`` wrote ``folder``: post it when it is complete (and only then); an
    incomplete folder is refused (:class:`PostRefusedError`), nothing posted."""
    if not getattr(args, "post", None):
        return 0
    from torinvest.post.engine import post_report

    env = environment(args.env_file)
    report = post_report(
        Path(folder),
        args.post,
        with_csv=args.post_with_csv,
        env=env,
        ledger=getattr(args, "ledger", None),
        echo=lambda line: print(f"torinvest: {term_safe(line)}", file=err),
    )
    return print_report(report, out, err)


# --------------------------------------------------------------------------------------------
# investigate --all-open --post-each (scheduled runs)
# --------------------------------------------------------------------------------------------
def add_batch_arguments(parser: argparse._ActionsContainer) -> None:
    """``--post-each TEMPLATE`` (repeatable) for ``investigate --all-open``: each finished report
    is posted to the destination the template gives for its finding (``jira-new:PROJECT``: one
    issue per finding, remembered; ``securityhub``: the finding's own copy; a fixed destination
    gets every report). Shares ``--env-file`` and ``--post-with-csv`` with ``--post``."""
    parser.add_argument(
        "--post-each",
        dest="post_each",
        action="append",
        default=[],
        type=destination_type,
        metavar="TEMPLATE",
        help="with --all-open: post each finished report; jira-new:PROJECT makes one issue per "
        "finding and updates it on later runs (repeatable)",
    )


def check_batch_post(args: argparse.Namespace) -> None:
    """Before a batch starts: ``--post-each`` goes with ``--all-open``, and its destinations'
    configuration is all there."""
    templates = getattr(args, "post_each", None) or []
    if not templates:
        return
    if not getattr(args, "all_open", False):
        raise OptionsError("--post-each goes with --all-open (use --post for one finding)")
    check_investigate_post(argparse.Namespace(**{**vars(args), "post": templates}))


def _aws():  # type: ignore[no-untyped-def]
    from torinvest.aws import Aws

    return Aws()


def _no_sleep(_: float) -> None:
    return None
