"""A working notebook run as an analyst runs it in JupyterLab: a parameter changed, a cell that
stops, the cells below run one by one (Shift+Enter) or a cell run again. No cell may show what
an earlier run made as if the new parameters had made it (torinvest.display.rerun)."""

from __future__ import annotations

import ast
import contextlib
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
PARAMS_CELL = 'finding_id: str = ""\ncase_dir: str = ""\nverdict_status: str = "pending"'
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
    "verdict = report.decide(inv, status=params.verdict_status)",
]
EVERY_RESULT = {"params", "sources", "findings", "finding", "key", "inv", "verdict"}


def _results() -> rerun.Results:
    return rerun.Results(
        parameters=frozenset({"finding_id", "case_dir", "verdict_status"}),
        results=frozenset(EVERY_RESULT),
    )


def _make(results: rerun.Results, ns: dict[str, Any], source: str) -> list[str]:
    """``source`` run without an error: what it removes before, its names set (a parameter to
    its literal value, a result to a new object), then what it removes after."""
    removed = results.before_cell(source, ns)
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            with contextlib.suppress(ValueError):
                ns[target.id] = ast.literal_eval(node.value)  # type: ignore[union-attr]
    for name in rerun.assigned_names(source):
        if name in results.results:
            ns[name] = object()
    return removed + results.after_cell(source, ns, None)


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
    assert rerun.changed_names("x[1] = 2\ny.a.b = 3\nz[k] += f(w)\nv = 1") == ["x", "y", "z"]


def test_read_names_says_which_attributes_of_a_name_a_cell_reads() -> None:
    reads = rerun.read_names("v = f(p.a, p.b, q, r.x)\ng(r)\nc += 1")
    assert reads.names["p"] == {"a", "b"} and reads.names["q"] is None
    assert reads.names["r"] is None and reads.names["c"] is None  # read whole somewhere
    assert not reads.everything and rerun.read_names("f(globals())").everything
    assert rerun.read_names("def broken(:") == rerun.Reads({})


def test_a_cell_that_stops_removes_what_it_made_and_everything_made_from_it() -> None:
    results, ns = _results(), {}
    _run_in_order(results, ns)
    removed = results.after_cell(CHAIN[1], ns, NotCurrentError("case folder c is missing"))
    assert set(removed) == {"findings", "finding", "key", "inv", "verdict", "sources"}
    assert set(ns) == {"finding_id", "case_dir", "verdict_status", "params"}  # params kept
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


def test_a_changed_source_parameter_makes_stale_every_result_made_from_it() -> None:
    results, ns = _results(), {}
    _run_in_order(results, ns)
    changed = INJECTED.replace('case_dir = "c"', 'case_dir = "d"')
    assert _make(results, ns, changed) == []  # a parameters cell: the next cell says it
    removed = _make(results, ns, "display.activity_status(inv)")
    assert set(removed) == EVERY_RESULT
    assert set(ns) == {"finding_id", "case_dir", "verdict_status"}
    error = results.not_current(NameError("inv", name="inv"))
    assert error is not None
    assert '`finding_id = "x"` changed the parameters it was made from' in error.message
    assert "case_dir: 'c' → 'd'" in error.message
    assert "run the cells from `params = investigation." in str(error.hint)
    # then run in order again: each made once more, nothing removed, nothing said stale
    _run_in_order(results, ns)
    assert not results.gone and "inv" in ns


def test_a_changed_verdict_makes_stale_the_verdict_not_the_investigation() -> None:
    """The analyst records a verdict after reading the results: changing it (the verdict
    parameters) must not throw the investigation away (it was not made from them)."""
    results, ns = _results(), {}
    _run_in_order(results, ns)
    inv = ns["inv"]
    assert _make(results, ns, PARAMS_CELL.replace("pending", "malicious")) == []
    # the injected cell run after it again: the working copy's finding and folder are back
    assert _make(results, ns, INJECTED) == []
    assert "verdict" in ns  # nothing is removed until a cell that is not a parameters cell runs
    assert set(_make(results, ns, "display.verdict_section(inv, verdict)")) == {
        "params",
        "verdict",
    }
    assert ns["inv"] is inv and {"sources", "findings", "finding", "key"} <= set(ns)
    error = results.not_current(NameError("verdict", name="verdict"))
    assert error is not None and "verdict_status: 'pending' → 'malicious'" in error.message
    assert str(error.hint).startswith("run `params = investigation.") and "`verdict = " in str(
        error.hint
    )
    assert _make(results, ns, CHAIN[0]) == []  # params again: the investigation is current
    assert _make(results, ns, CHAIN[-1]) == [] and ns["inv"] is inv
    # the parameters cell run again with the same values: nothing is stale
    assert _make(results, ns, PARAMS_CELL.replace("pending", "malicious")) == []
    assert _make(results, ns, INJECTED) == []
    assert _make(results, ns, "display.verdict_section(inv, verdict)") == []


def test_a_result_made_again_makes_stale_only_what_was_made_from_it() -> None:
    results, ns = _results(), {}
    _run_in_order(results, ns)
    assert _make(results, ns, CHAIN[5]) == ["verdict"]  # look_around again
    assert "inv" in ns and "findings" in ns
    assert _make(results, ns, CHAIN[6]) == []  # the verdict cell twice: nothing else
    assert _make(results, ns, CHAIN[6]) == []
    assert _make(results, ns, CHAIN[3]) == []  # locate again: nothing was made from its result
    assert set(_make(results, ns, CHAIN[2])) == {"finding", "key", "inv", "verdict"}
    error = results.not_current(NameError("verdict", name="verdict"))
    assert error is not None
    assert "`findings = investigation.load_findings(sources)` ran again" in error.message
    assert str(error.hint).startswith("run `inv = investigation.investigate(")  # then look_around


def _template_cells() -> list[str]:
    nb = nbformat.read(notebooks.template_path(notebooks.INVESTIGATE), as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_the_templates_cells_make_the_verdict_from_the_verdict_parameters_alone() -> None:
    """The rule on the template's own cells (not run: each result a new object): a changed
    verdict parameter makes stale what the verdict cell and the cells after it made from the
    verdict, never the investigation or its sources; a changed window makes the investigation
    stale, not the findings."""
    results, ns = rerun.from_templates(), {}
    cells = _template_cells()
    for source in cells:
        assert _make(results, ns, source) == [], source
    investigation = {"sources", "findings", "finding", "key", "inv"}
    assert investigation | {"params", "verdict", "written"} <= set(ns)
    kept = {name: ns[name] for name in investigation}
    for name, value in [("verdict_status", "malicious"), ("analyst", "a"), ("rationale", "r")]:
        _make(results, ns, f"{name} = {value!r}")
    removed = _make(results, ns, "1")
    assert set(removed) == {"params", "verdict", "written"}  # written: summary.json has it
    assert {name: ns[name] for name in investigation} == kept
    _make(results, ns, "lookback_days = 30.0")
    assert set(_make(results, ns, "1")) == {"inv"}
    assert {"sources", "findings", "finding", "key"} <= set(ns)


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
        result = ip.run_cell(source, store_history=True)  # as a kernel does: In
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


def test_a_verdict_changed_in_the_parameters_cell_is_recorded_without_investigating_again(
    shell: InteractiveShell, tmp_path: Path
) -> None:
    """The analyst reads the results, then types the verdict into the parameters cell and runs
    it, the injected cell, the parameters check and the verdict cells: the investigation made
    before is the one the verdict is recorded against, not thrown away and read again."""
    options = report.RunOptions(case_dir=str(sample_case().root), ledger=str(tmp_path / "l.jsonl"))
    copy = notebooks.investigation_copy(FINDING, options, tmp_path / "inv")
    cells = _cells(copy.path)
    injected = next(i for i, s in enumerate(cells) if s.startswith("# Parameters of this"))
    cells[injected] += "\n" + "".join(f"{k} = {v!r}\n" for k, v in COVERED_PARAMS.items())
    for source in cells:
        text, errors = _run(shell, source)
        assert not errors, (source, text)
    inv, sources = shell.user_ns["inv"], shell.user_ns["sources"]
    assert shell.user_ns["verdict"]["status"] == "pending"

    parameters = injected - 1
    cells[parameters] = (
        cells[parameters]
        .replace('verdict_status: str = "pending"', 'verdict_status: str = "legitimate"')
        .replace('analyst: str = ""', 'analyst: str = "ana"')
        .replace('rationale: str = ""', 'rationale: str = "the admin, on the VPN"')
    )
    check = injected + 1
    # the parameters cell run alone sets the working copy's finding and folder back to their
    # defaults: the check stops and says to run the injected cell; nothing made is thrown away
    _run(shell, cells[parameters])
    text, errors = _run(shell, cells[check])
    assert errors == ["InputError"] and "back to the defaults" in text
    assert "run the injected-parameters cell" in text and "Traceback" not in text
    assert shell.user_ns["inv"] is inv
    decide = next(i for i, s in enumerate(cells) if s.startswith("verdict = report.decide("))
    for source in [cells[injected], cells[check], *cells[decide:]]:
        text, errors = _run(shell, source)
        assert not errors, (source, text)
    assert shell.user_ns["inv"] is inv and shell.user_ns["sources"] is sources
    verdict = shell.user_ns["verdict"]
    assert verdict["status"] == "legitimate" and verdict["analyst"] == "ana"
    assert "legitimate" in text  # the answer on top, made again from the new verdict


class _Slot:
    """A display handle that keeps what it was updated with."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def update(self, obj: Any) -> None:
        self.shown.append(obj.data)


def test_the_answer_on_top_is_withdrawn_once_what_it_was_made_from_is_not_current(
    shell: InteractiveShell,
) -> None:
    """The answer shown on top was made from ``inv`` and ``verdict``: once either is removed as
    not current or made again (another finding, window or verdict; the last cell not run yet),
    it says so instead of showing the earlier answer above the new results."""
    from torinvest.display import answer

    _run(shell, "from torinvest import display\ndisplay.setup()")
    _run(shell, "answer = display.answer_slot()")
    results = shell._torinvest_results
    assert answer.withdraw_if_gone in results.listeners
    _run(shell, "inv = object()\nverdict = {'status': 'pending'}")
    slot = _Slot()
    for cell in ["x = 1", "verdict = {'status': 'malicious'}", "inv = object()", "del inv"]:
        answer._SHOWN.clear()
        _run(shell, "inv = object()\nverdict = {'status': 'pending'}")
        answer._SHOWN[:] = [(shell.user_ns["inv"], slot, None, None, shell.user_ns["verdict"])]
        _run(shell, cell)
        if cell == "x = 1":  # nothing it was made from changed: kept
            assert slot.shown == [] and answer._SHOWN
        else:
            assert "The answer: not current" in slot.shown.pop(), cell
            assert not answer._SHOWN and not slot.shown
    answer._SHOWN.clear()
