"""``torinvest notebook``: a working copy of the investigation (or triage) notebook, to
open in JupyterLab.
"""

from __future__ import annotations

import argparse
from typing import TextIO

from torinvest.aws import parse_regions
from torinvest.case import Case
from torinvest.cli.args import LEDGER_HELP, UsageError, _add_aws_args, add_path_args


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest notebook`` and its arguments to the parser."""
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
    add_path_args(nb)
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
    from torinvest.geo import check_geoip
    from torinvest.parameters import check_exit_lists

    check_exit_lists(tuple(args.exit_lists))  # the copy would fail when run
    check_geoip(args.geoip)  # as investigate does: a bad database is named before any copy
    if args.external_id and (args.triage or not args.role_arn):
        raise UsageError(
            "--external-id goes with --role-arn and a FINDING_ID (the triage notebook assumes "
            "--role-arn without one: use a profile whose role_arn has external_id)"
        )
    options = RunOptions(
        case_dir=args.case,
        profile=args.profile,
        regions=args.regions or "all",
        role_arn=args.role_arn,
        external_id=args.external_id,
        logs=tuple(args.logs),
        exit_lists=tuple(args.exit_lists),
        geoip=tuple(args.geoip),
        ledger=args.ledger,
    )
    if args.triage:
        copy = notebooks.triage_copy(options, args.out, force=args.force)
        what = "triage notebook"
    else:
        from torinvest.report import check_finding

        # a Tor finding there, before writing a copy; the copy reads what was fetched
        fetched = check_finding(args.finding_id, options)
        copy = notebooks.investigation_copy(
            args.finding_id, options, args.out, force=args.force, fetched=fetched
        )
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
