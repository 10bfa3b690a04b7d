"""``torinvest post``: a complete report folder posted to Jira, ServiceNow, Security Incident
Response, Security Hub (:mod:`torinvest.post`); and the options ``investigate`` takes to post
its report and to run unattended (``--post``, ``--jobs``, ``--post-each``, ``--env-file``), in
an argument group of their own — they are about running and posting, not about the
investigation.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from torinvest.cli.args import number_option
from torinvest.post import command


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest post`` and its arguments to the parser."""
    p = sub.add_parser(
        "post",
        help="post a complete report folder to Jira, ServiceNow, Security Incident Response, "
        "Security Hub (once each, recorded)",
        description="Post report.html, summary.json (and the CSVs with --with-csv) and a short "
        "plain-text answer to each destination. Every post is recorded in the folder's "
        "posts.json and in the ledger; the same report to the same destination again does "
        "nothing (unless --force), a changed report posts a new version. Secrets come from the "
        "environment or --env-file, never from arguments. One failing destination does not "
        "stop the others.",
    )
    command.add_arguments(p)
    p.set_defaults(func=cmd_post)


def cmd_post(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    return command.run(args, out, err)


def add_investigate_arguments(parser: argparse.ArgumentParser) -> None:
    """``investigate``'s group of running and posting options."""
    g = parser.add_argument_group(
        "running and posting (posting after a complete report only; see `torinvest post --help`)"
    )
    g.add_argument(
        "--jobs",
        type=number_option("jobs"),
        default=1,
        metavar="N",
        help="with --all-open: run N reports at once, each in a process and kernel of its own "
        "(memory grows with N; the reports are the same as with 1; default 1)",
    )
    command.add_post_options(g)
    command.add_batch_arguments(g)


def check_investigate_arguments(args: argparse.Namespace) -> None:
    """Before anything runs: the options go together and every destination's configuration is
    there. Raises OptionsError (exit 2) or PostConfigError (exit 5, refused)."""
    from torinvest.cli.args import UsageError

    if args.jobs != 1 and not args.all_open:
        raise UsageError("--jobs goes with --all-open")
    if args.all_open and args.post:
        raise UsageError(
            "--post is for one finding; with --all-open give --post-each TEMPLATE "
            "(jira-new:PROJECT makes one issue per finding)"
        )
    if args.post_each:
        command.check_batch_post(args)
    else:
        command.check_investigate_post(args)


def post_after_investigate(args: argparse.Namespace, folder: Any, out: TextIO, err: TextIO) -> int:
    """``investigate FINDING_ID --post DEST``: post ``folder`` when it is complete."""
    return command.post_after_investigate(args, folder, out, err)


def batch_poster(args: argparse.Namespace, err: TextIO) -> Any:
    """``post(folder, templates)`` for the scheduled run of ``--all-open --post-each`` (None
    without ``--post-each``): each report posted with the env file and ledger given."""
    if not args.post_each:
        return None
    from torinvest.post import post_report
    from torinvest.post.env import environment
    from torinvest.safety import term_safe

    env = environment(args.env_file)

    def post(folder: Any, templates: Any) -> Any:
        return post_report(
            folder,
            templates,
            with_csv=args.post_with_csv,
            env=env,
            ledger=args.ledger,
            echo=lambda line: print(f"torinvest: {term_safe(line)}", file=err),
            # a template whose variables the env file lacks is NOT POSTED, naming them; the
            # other templates are posted all the same
            skip_unconfigured=True,
        )

    return post
