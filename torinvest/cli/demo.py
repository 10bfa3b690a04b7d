"""``torinvest demo``: the findings of the embedded sample case, and the commands that
investigate one of them."""

from __future__ import annotations

import argparse
from typing import TextIO

from torinvest.case import sample_case
from torinvest.cli.findings import format_table, located_records, print_gap, print_notes
from torinvest.commands import Access, command


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest demo`` and its arguments to the parser."""
    d = sub.add_parser(
        "demo",
        help="the embedded sample case's findings, and the commands that investigate one",
    )
    d.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest.findings import read_findings

    case = sample_case()
    print(f"torinvest demo: sample case at {case.root}", file=out)
    # read as `findings --case` reads it: nothing read is an error, a part read is said
    result = read_findings(case.findings).tor_only().require_looked()
    records, problems = located_records(result)
    out.write(format_table(records, partial=bool(result.gap() or problems)) + "\n")
    print_notes(result, problems, err)
    print_gap(result, err, problems)
    if records:
        print(next_steps(str(records[0]["id"]), str(case.root)), file=out)
    return 0


def next_steps(finding_id: str, case: str) -> str:
    """The commands that take the sample case's finding through the procedure (built by
    :func:`torinvest.commands.command`: the case folder's path quoted for the shell)."""
    access = Access(case=case)
    return "\n".join(
        [
            "",
            "next (nothing here reaches AWS: the case folder holds the findings and the logs):",
            "  "
            + command("investigate", finding_id, access=access, extra=["--out", "demo-report"]),
            "  " + command("notebook", finding_id, access=access),
            "  (the first writes demo-report/report.html, to open in a browser; the second"
            " prints the notebook to open in JupyterLab)",
        ]
    )
