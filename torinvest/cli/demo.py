"""``torinvest demo``: the findings of the embedded sample case."""

from __future__ import annotations

import argparse
from typing import TextIO

from torinvest.case import sample_case
from torinvest.cli.findings import format_table, located_records, print_notes


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``torinvest demo`` and its arguments to the parser."""
    d = sub.add_parser("demo", help="run on the embedded sample case")
    d.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from torinvest.findings import read_findings

    case = sample_case()
    print(f"torinvest demo: sample case at {case.root}", file=out)
    result = read_findings(case.findings).tor_only()
    records, problems = located_records(result)
    out.write(format_table(records) + "\n")
    print_notes(result, problems, err)
    return 0
