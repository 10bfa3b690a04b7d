"""What every command prints the same way: data issues (:func:`print_issues`, the one place
that prints ``torinvest: issue: SOURCE: PROBLEM``) and the partial-result marker
(:func:`print_partial`, the one place that prints ``torinvest: note: partial result: …``).

The marker is the exit-status contract's machine-readable half (README "Exit codes"): a
command that exits 0 with an answer that is not whole — a region, file, day, ledger line or
list not read, or, where the command still did its job (a verdict recorded, a plan made), no
activity source read at all — prints at least one line starting with :data:`PARTIAL_MARK` on
standard error; a complete answer never does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from torinvest.errors import DataIssue, group_issues
from torinvest.safety import term_safe

#: The start of the line that says an answer (exit 0) is partial, in every command.
PARTIAL_MARK = "torinvest: note: partial result: "


def print_issues(issues: Sequence[DataIssue], err: TextIO) -> None:
    """``torinvest: issue: SOURCE: PROBLEM`` lines, identical problems grouped
    (:func:`torinvest.errors.group_issues`: the count and a few examples)."""
    for issue in group_issues(issues):
        print(f"torinvest: issue: {term_safe(issue.source)}: {term_safe(issue.problem)}", file=err)


def issue_count(issues: Sequence[DataIssue]) -> int:
    """How many issue lines :func:`print_issues` prints for ``issues`` (identical problems
    grouped): the count a partial-result line says."""
    return len(group_issues(issues))


def print_partial(what: str, err: TextIO) -> None:
    """``torinvest: note: partial result: WHAT``: the answer is not whole, and what is missing."""
    print(f"{PARTIAL_MARK}{term_safe(what)}", file=err)
