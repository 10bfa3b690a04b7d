"""How a ``torinvest`` process ends: run as the program, ``main`` leaves the garbage collector
nothing to traverse at exit (:func:`gc.freeze`); called with ``argv``, it leaves it as it was.

Not timed (the exit's cost is in the LookupEvents benchmark's end-to-end figure): what is
checked is the collector's state after ``main`` returns, in a fresh interpreter each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

#: Run ``main`` on a light command (listing an empty ledger), as the program (``sys.argv``,
#: ``main()``) or with ``argv`` (``main(argv)``), and print its exit status and how many objects
#: the collector had frozen afterwards, as JSON.
_PROBE = textwrap.dedent(
    """
    import gc, io, json, sys

    from torinvest.cli import main

    how, ledger = sys.argv[1], sys.argv[2]
    argv = ["verdicts", "--ledger", ledger]
    out, err = io.StringIO(), io.StringIO()
    before = gc.get_freeze_count()
    if how == "program":
        sys.argv = ["torinvest", *argv]
        code = main(out=out, err=err)
    else:
        code = main(argv, out=out, err=err)
    print(json.dumps({"code": code, "before": before, "after": gc.get_freeze_count()}))
    """
)


def _frozen(how: str, tmp_path: Path) -> dict[str, int]:
    ledger = tmp_path / "ledger.jsonl"
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, how, str(ledger)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("how", ["program", "argv"])
def test_only_the_program_run_freezes_the_collector_at_its_end(how: str, tmp_path: Path) -> None:
    result = _frozen(how, tmp_path)
    assert result["code"] == 0
    assert result["before"] == 0
    if how == "program":  # the exit traverses none of them (0.3–1.0 s of a loaded run)
        assert result["after"] > 10_000
    else:  # a test or a notebook goes on: its garbage is still collected
        assert result["after"] == 0
