"""Notebooks, working copies and verdicts, tried with what an analyst's JupyterLab leaves behind:
a template saved broken, with outputs or with a case's parameters; a working copy that exists,
is edited or is not a notebook; folders that cannot be written; an ID that is a path; the same
verdict recorded at once by several processes; pending after a decision; attacker-written names
in the triage list.

Templates are tried through ``$TORINVEST_NOTEBOOKS`` (a copy of notebooks/), so the repository's
own files are never touched; every refusal happens before a kernel starts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from tests.cli_run import run
from torinvest import display
from torinvest import verdict as vd
from torinvest.case import sample_case
from torinvest.errors import EXIT_NOT_FOUND

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("torinvest: error:")]


# --------------------------------------------------------------------------------------------
# a template saved from JupyterLab
# --------------------------------------------------------------------------------------------
def _params(nb: nbformat.NotebookNode) -> int:
    """The index of the cell tagged ``parameters``."""
    return next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))


def _line(name: str) -> int:
    """The line of ``name``'s assignment in the template's parameters cell (1-based)."""
    nb = nbformat.read(NOTEBOOKS / "investigate.ipynb", as_version=4)
    lines = nb.cells[_params(nb)].source.splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(f"{name}:"))


def _set_param(old: str, new: str) -> Callable[[nbformat.NotebookNode], None]:
    def edit(nb: nbformat.NotebookNode) -> None:
        cell = nb.cells[_params(nb)]
        assert old in cell.source
        cell.source = cell.source.replace(old, new)

    return edit


def _outputs(nb: nbformat.NotebookNode) -> None:
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="x" * 1000)]
    nb.cells[1].execution_count = 1


def _injected(nb: nbformat.NotebookNode) -> None:
    nb.cells.insert(
        _params(nb) + 1,
        nbformat.v4.new_code_cell('finding_id = "x"', metadata={"tags": ["injected-parameters"]}),
    )


def _untagged(nb: nbformat.NotebookNode) -> None:
    nb.cells[_params(nb)].metadata["tags"] = []


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        pytest.param(
            _set_param('verdict_status: str = "pending"', "verdict_status: str = malicious"),
            [
                f"the parameters cell (cell 4), line {_line('verdict_status')}: "
                "`verdict_status: str = malicious`: "
                "`malicious` is not a value (a NameError when it runs): text needs quotes, "
                'e.g. "malicious"'
            ],
            id="unquoted-value",
        ),
        pytest.param(
            _set_param("lookback_days: float = 14", "lookback_days: float = 14 +"),
            [
                "the parameters cell (cell 4) is not valid Python: "
                f"line {_line('lookback_days')}: invalid syntax"
            ],
            id="syntax-error",
        ),
        pytest.param(
            _set_param('case_dir: str = ""', 'case_dir: str = "/cases/42"'),
            ["parameter `case_dir = '/cases/42'` (default: '')"],
            id="case-parameters-saved",
        ),
        pytest.param(
            _set_param('verdict_status: str = "pending"', 'verdict_status: str = "malicious"'),
            ["parameter `verdict_status = 'malicious'` (default: 'pending')"],
            id="verdict-saved",
        ),
        pytest.param(_outputs, ["1 cell(s) saved with outputs (cells 2)"], id="outputs-saved"),
        pytest.param(_injected, ["it has an injected-parameters cell"], id="a-run-saved-over"),
        pytest.param(_untagged, ["0 cells are tagged `parameters`"], id="tag-removed"),
    ],
)
def test_investigate_refuses_a_template_that_is_not_pristine(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    edit: Callable[[nbformat.NotebookNode], None],
    says: list[str],
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(NOTEBOOKS, templates)
    nb = nbformat.read(templates / "investigate.ipynb", as_version=4)
    edit(nb)
    nbformat.write(nb, templates / "investigate.ipynb")
    monkeypatch.setenv("TORINVEST_NOTEBOOKS", str(templates))
    out = tmp_path / "out"
    code, stdout, err = run(
        "investigate", FINDING, "--case", str(sample_case().root), "--out", str(out),
        "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    assert code == 1 and stdout == ""
    (line,) = errors(err)
    assert f"the notebook template {templates / 'investigate.ipynb'} is not the pristine" in line
    for text in says:
        assert text in line
    assert "torinvest notebook FINDING_ID" in line  # where to work instead
    assert "Traceback" not in err
    assert not out.exists()  # refused before anything was written or a kernel started


def test_a_template_that_is_not_a_notebook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(NOTEBOOKS, templates)
    text = (templates / "investigate.ipynb").read_text()
    (templates / "investigate.ipynb").write_text(text[: len(text) // 2])  # a torn save
    monkeypatch.setenv("TORINVEST_NOTEBOOKS", str(templates))
    code, _, err = run(
        "notebook", FINDING, "--case", str(sample_case().root), "--out", str(tmp_path)
    )
    assert code == 1
    (line,) = errors(err)
    assert f"{templates / 'investigate.ipynb'} is not a notebook" in line
    assert not (tmp_path / f"finding-{FINDING}").exists()


# --------------------------------------------------------------------------------------------
# working copies
# --------------------------------------------------------------------------------------------
def _notebook(tmp_path: Path, *extra: str) -> tuple[int, str, str]:
    return run(
        "notebook", FINDING, "--case", str(sample_case().root), "--out", str(tmp_path), *extra
    )


def test_an_edited_copy_is_never_overwritten(tmp_path: Path) -> None:
    code, out, _ = _notebook(tmp_path)
    path = Path(out.splitlines()[-1])
    path.write_text(path.read_text().replace("Tor finding investigation", "My notes"))
    edited = path.read_bytes()
    code, out, err = _notebook(tmp_path)
    assert code == 0
    assert out.splitlines()[-1] == str(path)
    assert "exists: kept as it is, edits and all (--force writes a fresh copy" in err
    assert path.read_bytes() == edited
    code, out, err = _notebook(tmp_path, "--force")
    assert code == 0
    (backup,) = [p for p in path.parent.glob("investigate.*.ipynb")]
    assert backup.read_bytes() == edited and f"the previous copy is kept as {backup}" in err
    assert "My notes" not in path.read_text()


def test_a_copy_that_is_not_a_notebook_is_kept_and_said(tmp_path: Path) -> None:
    path = tmp_path / f"finding-{FINDING}" / "investigate.ipynb"
    path.parent.mkdir()
    path.write_text("not a notebook")
    code, out, err = _notebook(tmp_path)
    assert code == 0 and out.splitlines()[-1] == str(path)
    assert f"{path} cannot be read as a notebook (--force replaces it" in err
    assert path.read_text() == "not a notebook"


def test_an_out_folder_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "investigations"
    blocker.write_text("a file")
    code, out, err = _notebook(blocker)
    assert code == 1 and out == ""
    (line,) = errors(err)
    assert "cannot write the working notebook" in line and "--out" in line
    assert blocker.read_text() == "a file"


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["notebook", "../../etc/passwd", "--case", "CASE"], 2, "invalid finding id"),
        (["notebook", FINDING, "--case", "/no/such/case"], 1, "does not exist"),
        (["notebook", FINDING, "--regions", "mars-1"], 2, "region"),
        (["notebook", "--case", "CASE"], 2, "give a FINDING_ID, or --triage"),
        (["notebook", FINDING, "--triage", "--case", "CASE"], 2, "not both"),
        (
            ["notebook", "deadbeefdeadbeefdeadbeefdeadbeef", "--case", "CASE"],
            EXIT_NOT_FOUND,
            "finding deadbeefdeadbeefdeadbeefdeadbeef not found among 2 findings (every one of",
        ),
        (
            ["notebook", "ad9a0d95f206f5fc6188f6c4ffeebe82", "--case", "CASE"],
            1,
            "finding ad9a0d95f206f5fc6188f6c4ffeebe82 is a "
            "PrivilegeEscalation:IAMUser/AdministrativePermissions finding, not a Tor finding",
        ),
    ],
)
def test_bad_notebook_arguments_write_nothing(
    tmp_path: Path,
    argv: list[str],
    code: int,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [a.replace("CASE", str(sample_case().root)) for a in argv]
    try:
        got, out, err = run(*argv, "--out", str(tmp_path / "inv"))
    except SystemExit as exited:  # a value argparse refuses (usage error)
        got, out, err = int(exited.code or 0), "", capsys.readouterr().err
    assert (got, out) == (code, ""), err
    (line,) = [ln for ln in err.splitlines() if "error:" in ln]
    assert message in line
    assert not (tmp_path / "inv").exists()


# --------------------------------------------------------------------------------------------
# verdicts
# --------------------------------------------------------------------------------------------
#: One process recording the verdict: it imports the verdict module alone (not this test
#: module, which spawn would import with pandas and the display), says it is ready, and records
#: once every process is ready, so that the six records race.
_SAME_VERDICT = """
import os, sys
from pathlib import Path
from torinvest import verdict as vd
ledger, ready, go = sys.argv[1:]
v = vd.make_verdict({finding!r}, status="malicious", analyst="ana", rationale="Tor, CreateUser")
Path(ready).touch()
while not os.path.exists(go):  # no sleep: every process starts the moment it is told
    pass
vd.record_decision(v, ledger)
"""


def test_the_same_verdict_recorded_at_once_by_many_processes_is_one_record(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    go = tmp_path / "go"
    script = _SAME_VERDICT.format(finding=FINDING)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(ledger), str(tmp_path / f"ready-{n}"), str(go)],
            cwd=Path(__file__).parents[2],  # this checkout's torinvest
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(6)
    ]
    try:
        deadline = time.monotonic() + 600  # slow on a loaded machine
        while len(list(tmp_path.glob("ready-*"))) < len(procs):
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            assert time.monotonic() < deadline
            time.sleep(0.01)
        go.touch()  # all at once
        for p in procs:
            said, _ = p.communicate(timeout=600)
            assert p.returncode == 0, said
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    records, issues = vd.read_ledger(ledger)
    assert issues == []
    assert len(records) == 1


def test_pending_after_a_decision_records_nothing(tmp_path: Path) -> None:
    ledger = str(tmp_path / "l.jsonl")
    base = ("verdict", FINDING, "--ledger", ledger)
    assert run(*base, "--status", "malicious", "--analyst", "ana", "--rationale", "r")[0] == 0
    before = Path(ledger).read_bytes()
    code, out, err = run(*base, "--status", "pending")
    assert code == 0 and out == ""
    assert "nothing recorded: pending is not a verdict and never replaces one" in err
    assert f"the current verdict on {FINDING} is malicious by ana at " in err
    assert Path(ledger).read_bytes() == before
    with pytest.raises(vd.InputError, match="pending is not a verdict"):
        vd.record_decision(
            vd.make_verdict(FINDING, status="pending", analyst="", rationale=""), ledger
        )
    assert Path(ledger).read_bytes() == before


# --------------------------------------------------------------------------------------------
# attacker-written names in the triage list and the verdict form
# --------------------------------------------------------------------------------------------
PAYLOAD = "<img src=x onerror=alert(1)>"


def test_triage_names_and_form_text_stay_text(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": [FINDING],
            "user_name": [PAYLOAD],
            "access_key_id": ["AKIATFQR7NSCUXC3DDDP"],
            "last_seen": [pd.Timestamp("2023-07-10T12:20:04Z")],
            "command": [f"torinvest investigate {FINDING} --out '{PAYLOAD}'"],
        }
    )
    actions = display.TriageActions(
        frame, case_dir=str(sample_case().root), notebooks_dir=str(tmp_path)
    )
    static = actions.static_html()
    widget = actions.widget()

    def texts(w: object) -> list[str]:
        children = getattr(w, "children", ())
        return [getattr(w, "value", "") or ""] + [t for c in children for t in texts(c)]

    for html in [static, *texts(widget)]:
        assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in static
    copy = actions.create(FINDING)
    assert copy.path.is_file()
    (shown,) = actions.outputs[FINDING].outputs
    assert f"finding-{FINDING}/investigate.ipynb" in shown["data"]["text/html"]


def test_a_long_user_name_is_cut_in_the_triage_list_and_whole_in_its_table(
    tmp_path: Path,
) -> None:
    """A findings file's user name of any length (IAM's are at most 64 characters): each
    finding's label — the static list's row, the button's — shows at most
    ``LABEL_MAX_CHARS`` characters of it, cut with "…", still escaped; the table above has it
    whole."""
    from torinvest.display.triage import LABEL_MAX_CHARS

    name = "<b>" + "A" * 5000 + "\u202e</b>"
    frame = pd.DataFrame(
        {
            "id": [FINDING],
            "user_name": [name],
            "access_key_id": ["AKIATFQR7NSCUXC3DDDP"],
            "last_seen": [pd.Timestamp("2023-07-10T12:20:04Z")],
        }
    )
    actions = display.TriageActions(
        frame, case_dir=str(sample_case().root), notebooks_dir=str(tmp_path)
    )
    cut = "&lt;b&gt;" + "A" * (LABEL_MAX_CHARS - 4) + "…"
    static_rows = re.findall(r"<tr><td>(.*?)</td>", actions.static_html(), re.S)
    (button_row,) = [
        c.value
        for box in actions.widget().children[1:]
        for row in box.children[:1]
        for c in row.children
        if hasattr(c, "value") and FINDING in str(c.value)
    ]
    for label in [*static_rows, button_row]:
        assert cut in label and "A" * (LABEL_MAX_CHARS - 3) not in label, label
        assert "<b>" not in label and "\u202e" not in label
        assert f"{FINDING}</code>" in label and "AKIATFQR7NSCUXC3DDDP" in label
    table = display.triage_table(frame, case_dir=str(sample_case().root)).data
    assert "A" * 5000 in table and "<b>A" not in table
