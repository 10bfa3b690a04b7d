"""The garbage collector in a ``torinvest`` process: run as the program, ``main`` moves what it
imported to parse its arguments out of the collector's reach before the command runs, and
everything as it ends (:func:`gc.freeze`: the command's full collections and the exit's skip
them); called with ``argv``, it leaves the collector as it was.

Not timed (the cost is in the LookupEvents benchmark's end-to-end figure): what is checked is
the collector's state while the command runs and after ``main`` returns, in a fresh
interpreter each.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

#: Run ``main`` on a light command (listing an empty ledger), as the program (``sys.argv``,
#: ``main()``) or with ``argv`` (``main(argv)``), and print its exit status and how many objects
#: the collector had frozen before, while the command ran, and afterwards, as JSON.
_PROBE = textwrap.dedent(
    """
    import gc, io, json, sys

    import torinvest.cli.verdicts as command
    from torinvest.cli import main

    real, running = command.cmd_verdicts, []

    def counted(*args, **kwargs):
        running.append(gc.get_freeze_count())
        return real(*args, **kwargs)

    command.cmd_verdicts = counted  # the parser is built by main: it takes this one

    how, ledger = sys.argv[1], sys.argv[2]
    argv = ["verdicts", "--ledger", ledger]
    out, err = io.StringIO(), io.StringIO()
    before = gc.get_freeze_count()
    if how == "program":
        sys.argv = ["torinvest", *argv]
        code = main(out=out, err=err)
    else:
        code = main(argv, out=out, err=err)
    after = gc.get_freeze_count()
    print(json.dumps({"code": code, "before": before, "running": running, "after": after}))
    """
)


def _frozen(how: str, tmp_path: Path) -> dict[str, Any]:
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
def test_only_the_program_run_freezes_the_collector_before_its_command_and_at_its_end(
    how: str, tmp_path: Path
) -> None:
    result = _frozen(how, tmp_path)
    assert result["code"] == 0
    assert result["before"] == 0
    (running,) = result["running"]
    if how == "program":
        # pandas, pyarrow, botocore…: no full collection of the command traverses them
        assert running > 10_000
        assert result["after"] > running  # nor does the exit (0.3–1.0 s of a loaded run)
    else:  # a test or a notebook goes on: its garbage is still collected
        assert running == result["after"] == 0


#: Start the command the way ``sys.argv[1]`` says — ``module`` (``python -m torinvest``) or
#: ``script`` (the ``torinvest`` script: pyproject's entry point, called as pip's wrapper calls
#: it) — with a Ctrl-C arriving while ``torinvest.cli`` loads (the 1-2 s before ``main`` runs).
_CTRL_C_WHILE_LOADING = textwrap.dedent(
    """
    import importlib, runpy, sys, tomllib

    class CtrlC:
        def find_spec(self, name, path=None, target=None):
            if name == "torinvest.cli":
                raise KeyboardInterrupt
            return None

    how, pyproject = sys.argv[1], sys.argv[2]
    sys.argv = ["torinvest", "verdicts"]
    sys.meta_path.insert(0, CtrlC())
    if how == "module":
        runpy.run_module("torinvest", run_name="__main__", alter_sys=True)
    else:
        with open(pyproject, "rb") as f:
            target = tomllib.load(f)["project"]["scripts"]["torinvest"]
        module, _, name = target.partition(":")
        sys.exit(getattr(importlib.import_module(module), name)())
    """
)


@pytest.mark.parametrize("how", ["module", "script"])
def test_ctrl_c_while_the_command_loads_ends_as_an_interrupt_without_a_traceback(
    how: str,
) -> None:
    """Was: ``KeyboardInterrupt`` with the import's traceback (``from torinvest.cli import
    main`` ran before ``main`` could catch it)."""
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    proc = subprocess.run(
        [sys.executable, "-c", _CTRL_C_WHILE_LOADING, how, str(pyproject)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (130, "torinvest: interrupted\n")
    assert proc.stdout == ""
