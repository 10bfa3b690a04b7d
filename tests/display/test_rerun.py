"""A working notebook run as an analyst runs it in JupyterLab: a parameter changed, a cell that
stops, the cells below run one by one (Shift+Enter) or a cell run again. No cell may show what
an earlier run made as if the new parameters had made it (torinvest.display.rerun)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from tests.sample_window import COVERED_PARAMS
from torinvest import notebooks, report
from torinvest.case import sample_case
from torinvest.display import rerun
from torinvest.errors import NotCurrentError

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"

# --------------------------------------------------------------------------------------------
# the rules, on the results' record (pure)
# --------------------------------------------------------------------------------------------
PARAMS_CELL = 'finding_id: str = ""\ncase_dir: str = ""'
INJECTED = (
    '# Parameters of this working copy (torinvest notebook)\nfinding_id = "x"\ncase_dir = "c"'
)
CHAIN = [
    "params = investigation.InvestigateParameters.check(globals())",
    "sources = investigation.sources_from_parameters(case_dir=params.case_dir)",
    "findings = investigation.load_findings(sources)",
    "finding, key = investigation.locate(findings, params.finding_id)",
    "inv = investigation.investigate(params.finding_id, sources)",
    "inv = campaign.look_around(inv, findings)",
    "verdict = report.decide(inv)",
]


def _results() -> rerun.Results:
    return rerun.Results(
        parameters=frozenset({"finding_id", "case_dir"}),
        results=frozenset({"params", "sources", "findings", "finding", "key", "inv", "verdict"}),
    )


def _make(results: rerun.Results, ns: dict[str, Any], source: str) -> list[str]:
    """``source`` run without an error: its names set, then the record's removals."""
    for name in rerun.assigned_names(source):
        ns[name] = f"{name} made by {source}"
    return results.after_cell(source, ns, None)


def _run_in_order(results: rerun.Results, ns: dict[str, Any]) -> None:
    for source in [PARAMS_CELL, INJECTED, *CHAIN]:
        assert _make(results, ns, source) == []  # in order: nothing is stale


def test_assigned_names_are_a_cells_top_level_targets() -> None:
    assert rerun.assigned_names("a, (b, *c) = f()\nd: int = 1\ne += 1\nx[1] = 2\nf(g=1)") == [
        "a",
        "b",
        "c",
        "d",
        "e",
    ]
    assert rerun.assigned_names("def broken(:") == []


def test_a_cell_that_stops_removes_what_it_made_and_everything_after_it() -> None:
    results, ns = _results(), {}
    _run_in_order(results, ns)
    removed = results.after_cell(CHAIN[1], ns, NotCurrentError("case folder c is missing"))
    assert removed == ["findings", "finding", "key", "inv", "verdict", "sources"]
    assert set(ns) == {"finding_id", "case_dir", "params"}  # parameters are never removed
    # a cell below reads a removed result: one sentence, with the first cause and what to do
    error = results.not_current(NameError("name 'findings' is not defined", name="findings"))
    assert error is not None
    assert error.message.startswith("`findings` is not current: `sources = investigation.")
    assert "stopped (NotCurrentError: case folder c is missing)" in error.message
    assert "fix what stopped `sources = " in str(error.hint)
    # that cell stopping for want of `sources` keeps the first cause for what it would make
    results.after_cell(CHAIN[2], ns, NameError("name 'sources'", name="sources"))
    again = results.not_current(NameError("findings", name="findings"))
    assert again is not None and "case folder c is missing" in again.message
    # any other NameError is Python's own
    assert results.not_current(NameError("name 'typo' is not defined", name="typo")) is None


def test_a_result_not_made_in_this_kernel_says_to_run_the_cells_above() -> None:
    results = _results()  # a kernel just (re)started: a cell below the parameters run first
    error = results.not_current(NameError("name 'inv' is not defined", name="inv"))
    assert error is not None
    assert error.message.startswith("`inv` has not been made in this kernel")
    assert "Run All Cells" in str(error.hint)
    assert results.not_current(KeyError("findings")) is None


def test_parameters_set_again_make_every_result_stale() -> None:
    results, ns = _results(), {}
    _run_in_order(results, ns)
    removed = _make(results, ns, INJECTED)
    assert set(removed) == {"params", "sources", "findings", "finding", "key", "inv", "verdict"}
    assert set(ns) == {"finding_id", "case_dir"}
    error = results.not_current(NameError("inv", name="inv"))
    assert error is not None
    assert "`# Parameters" not in error.message and '`finding_id = "x"` ran again' in error.message
    assert "run the cells from `inv = campaign.look_around(inv, findings)` on" in str(error.hint)
    # then run in order again: each made once more, nothing removed, nothing said stale
    _run_in_order(results, ns)
    assert not results.gone and "inv" in ns


def test_a_result_made_again_makes_stale_only_what_was_made_after_it() -> None:
    results, ns = _results(), {}
    _run_in_order(results, ns)
    assert _make(results, ns, CHAIN[5]) == ["verdict"]  # look_around again
    assert "inv" in ns and "findings" in ns
    assert _make(results, ns, CHAIN[6]) == []  # the verdict cell twice: nothing else
    assert _make(results, ns, CHAIN[6]) == []
    assert _make(results, ns, CHAIN[3]) == ["inv", "verdict"]  # locate again
    assert "finding" in ns and "key" in ns


# --------------------------------------------------------------------------------------------
# the working notebook in an IPython shell, cell by cell
# --------------------------------------------------------------------------------------------
@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    InteractiveShell.clear_instance()
    ip = InteractiveShell.instance()
    yield ip
    InteractiveShell.clear_instance()


def _cells(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def _run(ip: InteractiveShell, source: str) -> tuple[str, list[str]]:
    """A cell's shown outputs as one text, and its errors (``ename``)."""
    with capture_output() as shown:
        result = ip.run_cell(source)
    texts = [json.dumps(o.data) for o in shown.outputs] + [shown.stdout, shown.stderr]
    if hasattr(result.result, "_repr_html_"):  # a cell's value (a card) is shown too
        texts.append(result.result._repr_html_() or "")
    error = result.error_in_exec
    names = [] if error is None else [type(error).__name__]
    return "\n".join(texts), names


def test_cells_run_one_by_one_after_a_changed_case_folder_stop_never_showing_the_last_run(
    shell: InteractiveShell, tmp_path: Path
) -> None:
    options = report.RunOptions(case_dir=str(sample_case().root), ledger=str(tmp_path / "l.jsonl"))
    copy = notebooks.investigation_copy(FINDING, options, tmp_path / "inv")
    cells = _cells(copy.path)
    injected = next(i for i, s in enumerate(cells) if s.startswith("# Parameters of this"))
    window = "".join(f"{k} = {v!r}\n" for k, v in COVERED_PARAMS.items())
    cells[injected] += "\n" + window
    investigate = next(i for i, s in enumerate(cells) if s.startswith("inv = investigation."))
    for source in cells[:investigate]:  # the first run, in order, to the finding card (kept short)
        text, errors = _run(shell, source)
        assert not errors, (source, text)
    assert KEY in text  # the finding card

    # the analyst types a case folder that does not exist and steps through the cells below
    cells[injected] = cells[injected].replace(
        str(sample_case().root.resolve()), str(tmp_path / "no")
    )
    shown = [_run(shell, source) for source in cells]
    stopped = next(i for i, (_, errors) in enumerate(shown) if errors)
    assert "does not exist" in shown[stopped][0] and shown[stopped][1] == ["InputError"]
    for source, (text, errors) in zip(cells[stopped + 1 :], shown[stopped + 1 :], strict=True):
        assert KEY not in text, source  # nothing of the case folder read before
        if errors:  # one sentence naming the first cause, not a NameError traceback
            assert "NotCurrentError" in text and "does not exist" in text, source
            assert "Traceback" not in text, source
    assert all(errors for _, errors in shown[stopped + 1 :])
    assert shell.user_ns["case_dir"] == str(tmp_path / "no")  # the parameter is kept as typed


def test_a_cell_run_first_after_a_restart_says_to_run_the_cells_above(
    shell: InteractiveShell,
) -> None:
    cells = _cells(notebooks.template_path(notebooks.INVESTIGATE))
    _run(shell, cells[0])  # the import and display.setup() cell
    text, errors = _run(shell, "display.activity_status(inv)")
    assert errors == ["NameError"]  # the cell still stops (papermill, nbclient see an error)
    assert "NotCurrentError" in text and "has not been made in this kernel" in text
    assert "Traceback" not in text
    text, errors = _run(shell, "undefined_name_of_the_analyst + 1")
    assert "NameError" in text and "NotCurrentError" not in text  # Python's own traceback
