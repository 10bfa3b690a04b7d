"""What every command prints the same way: data issues (:func:`print_issues`, the one place
that prints ``torinvest: issue: SOURCE: PROBLEM``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from torinvest.errors import DataIssue, group_issues
from torinvest.safety import term_safe


def print_issues(issues: Sequence[DataIssue], err: TextIO) -> None:
    """``torinvest: issue: SOURCE: PROBLEM`` lines, identical problems grouped
    (:func:`torinvest.errors.group_issues`: the count and a few examples)."""
    for issue in group_issues(issues):
        print(f"torinvest: issue: {term_safe(issue.source)}: {term_safe(issue.problem)}", file=err)
