"""The `torinvest` command run in the test's process, as the tests call it: exit status, stdout
and stderr; and the issue lines of a stderr."""

from __future__ import annotations

import io

from torinvest.cli import main


def run(*argv: str) -> tuple[int, str, str]:
    """``torinvest ARGV…``: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def issues(err: str) -> list[str]:
    """The ``torinvest: issue:`` lines of a command's stderr."""
    return [line for line in err.splitlines() if line.startswith("torinvest: issue:")]
