"""The notebooks: committed clean and paired with their .py, documented parameters, thin cells,
and run with papermill on the sample case, on a case with broken files, and for triage."""

from __future__ import annotations

import ast
import gzip
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import orjson
import papermill as pm
import pytest

from tests.sample_window import COVERED_PARAMS
from torinvest import notebooks, report
from torinvest.case import sample_case
from torinvest.verdict import read_ledger

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ("investigate", "triage")
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
OTHER_FINDING = "7f176d541deef88b1ad653b9ed646f29"
KEY = "AKIATFQR7NSCUXC3DDDP"


def _params(nb: nbformat.NotebookNode) -> int:
    """The index of the cell tagged ``parameters``."""
    return next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))


def _nb(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


def _outputs_text(nb: nbformat.NotebookNode) -> str:
    """Every output of every code cell as one text (HTML, plain text, streams, errors)."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(json.dumps(out))
    return "\n".join(parts)


def _raw_reprs(nb: nbformat.NotebookNode) -> list[str]:
    """Cell results shown only as a Python repr (a cell whose last line returns an object that
    has no display of its own: the report would show its repr, internals and all)."""
    return [
        c.source.splitlines()[-1]
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "execute_result" and set(o.get("data", {})) == {"text/plain"}
    ]


def _errors(nb: nbformat.NotebookNode) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]


# --------------------------------------------------------------------------------------------
# committed shape
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_committed_without_outputs_and_with_a_kernel(name: str) -> None:
    nb = _nb(name)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{name}: a code cell has outputs committed"
            assert cell.execution_count is None
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", NAMES)
def test_parameters_cell_is_annotated_and_commented(name: str) -> None:
    cells = [c for c in _nb(name).cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    source = cells[0].source
    tree = ast.parse(source)
    assert tree.body and all(isinstance(s, ast.AnnAssign) for s in tree.body)
    for line in source.splitlines():
        assert "  # " in line, f"parameter without a help comment: {line}"
    params = pm.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    assert len(params) == len(tree.body)  # `papermill --help-notebook` documents every one
    for p in params.values():
        assert p["help"], p
        assert p["inferred_type_name"] != "None", p


@pytest.mark.parametrize("name", NAMES)
def test_cells_are_thin(name: str) -> None:
    """No function or class definitions in cells; a cell makes one or two package calls."""
    for cell in _nb(name).cells:
        if cell.cell_type != "code" or "parameters" in cell.metadata.get("tags", []):
            continue
        tree = ast.parse(cell.source)
        defs = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
        ]
        assert not defs, cell.source
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and isinstance(n.func.value, ast.Name)
            and n.func.value.id in {"display", "report", "investigation", "charts"}
        ]
        assert len(calls) <= 2, cell.source


@pytest.mark.parametrize("name", NAMES)
def test_ipynb_matches_its_py_percent_pair(name: str) -> None:
    ipynb = _nb(name)
    py_text = (NOTEBOOKS / f"{name}.py").read_text()
    paired = jupytext.reads(py_text, fmt="py:percent")
    mine = [(c.cell_type, c.source.strip()) for c in ipynb.cells]
    theirs = [(c.cell_type, c.source.strip()) for c in paired.cells]
    assert mine == theirs
    tags = [c.metadata.get("tags", []) for c in ipynb.cells]
    assert tags == [c.metadata.get("tags", []) for c in paired.cells]
    # and the round trip writes the committed .py exactly
    config = jupytext.config.load_jupytext_configuration_file(str(NOTEBOOKS / "jupytext.toml"))
    assert jupytext.writes(ipynb, fmt="py:percent", config=config) == py_text


# --------------------------------------------------------------------------------------------
# papermill runs
# --------------------------------------------------------------------------------------------
def _run(name: str, tmp_path: Path, **params: object) -> nbformat.NotebookNode:
    out = tmp_path / f"{name}-out.ipynb"
    failure = report.execute(NOTEBOOKS / f"{name}.ipynb", out, params, cwd=tmp_path)
    nb = nbformat.read(out, as_version=4)
    assert failure is None, f"{failure}: {_errors(nb)}"
    assert not _raw_reprs(nb), "cells whose result shows as a bare repr"
    return nb


def test_investigate_runs_on_the_sample_case(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    nb = _run(
        "investigate",
        tmp_path,
        finding_id=FINDING,
        case_dir=str(sample_case().root),
        ledger=str(tmp_path / "ledger.jsonl"),
        summary_path=str(summary),
        export_dir=str(tmp_path),
        **COVERED_PARAMS,
    )
    text = _outputs_text(nb)
    assert not _errors(nb)
    assert KEY in text and "ASIATFQR7NSCNGEI5QNT" in text
    assert "No data issues" in text
    assert "not a verdict" in text
    assert "DRY RUN" in text and "aws iam update-access-key" in text
    assert text.count("plotly-graph-div") >= 5  # five charts, as inlined HTML for the report
    assert "application/vnd.plotly.v1+json" in text  # and as the JupyterLab mime type
    assert "IProgress not found" not in text  # no tqdm noise in the report
    data = report.check_summary(summary)
    assert data["key"]["access_key_id"] == KEY
    assert (tmp_path / "events.csv").exists() and (tmp_path / "per_ip.csv").exists()
    # the section headings come in the order the report promises
    headings = [
        c.source.splitlines()[0]
        for c in nb.cells
        if c.cell_type == "markdown" and "## " in c.source
    ]
    assert headings == [
        "## 1. The finding and the key",
        "## 2. The key's activity",
        "## 3. Activity by source IP",
        "## 4. Signals and triage score",
        "## 5. Derived keys",
        "## 5b. The campaign around the key",
        "## 6. Verdict and next steps",
        "## Files",
    ]


def test_investigate_counts_in_the_engine_over_the_row_limit(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    nb = _run(
        "investigate",
        tmp_path,
        finding_id=FINDING,
        case_dir=str(sample_case().root),
        engine="duckdb",
        max_rows=10,
        ledger=str(tmp_path / "ledger.jsonl"),
        summary_path=str(summary),
        export_dir=str(tmp_path),
    )
    text = _outputs_text(nb)
    assert not _errors(nb)
    assert "Too many events to load as rows" in text
    assert "Sensitive calls only: 11 of 71 events" in text
    assert text.count("plotly-graph-div") >= 5  # the five charts, from the engine's counts
    data = report.check_summary(summary)
    assert data["events"] == {
        "total": 71,
        "failed": 10,
        "outcome_unknown": 0,
        "from_tor": 24,
        "tor_unknown": 0,
    }
    assert len(data["source_ips"]) == 5
    assert any("10-row limit" in i["problem"] for i in data["data_issues"])
    assert len((tmp_path / "events.csv").read_text().splitlines()) == 1 + 11


def broken_case(root: Path) -> dict[str, Path]:
    """The sample case plus a truncated .json.gz and invalid JSON in cloudtrail/ (both holding
    the suspect key, so the key filter reads them) and an invalid findings file."""
    case = root / "case"
    shutil.copytree(sample_case().root, case)
    day = case / "cloudtrail/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10"
    good = next(day.glob("*.json.gz"))
    data = gzip.decompress(good.read_bytes())
    truncated = day / "218007301253_CloudTrail_us-east-1_20230710T1241Z_truncated.json.gz"
    truncated.write_bytes(gzip.compress(data)[: len(gzip.compress(data)) // 2])
    invalid = day / "218007301253_CloudTrail_us-east-1_20230710T1242Z_invalid.json"
    invalid.write_text('{"Records": [{"userIdentity": {"accessKeyId": "' + KEY + '"')
    bad_findings = case / "findings" / "broken-export.json"
    bad_findings.write_text('{"Findings": [{"Id": ')
    return {"case": case, "truncated": truncated, "invalid": invalid, "findings": bad_findings}


def test_investigate_shows_the_data_issues_of_a_broken_case(tmp_path: Path) -> None:
    files = broken_case(tmp_path)
    summary = tmp_path / "summary.json"
    nb = _run(
        "investigate",
        tmp_path,
        finding_id=FINDING,
        case_dir=str(files["case"]),
        ledger=str(tmp_path / "ledger.jsonl"),
        summary_path=str(summary),
        **COVERED_PARAMS,
    )
    issues_cell = next(
        c for c in nb.cells if c.cell_type == "code" and "display.data_issues" in c.source
    )
    shown = json.dumps(issues_cell.outputs)
    assert "Data issues" in shown and "3 data issue(s)" in shown
    for key in ("truncated", "invalid", "findings"):
        assert files[key].name in shown, key
    assert "No data issues" not in _outputs_text(nb)
    data = orjson.loads(summary.read_bytes())
    sources = {Path(i["source"]).name for i in data["data_issues"]}
    assert {files["truncated"].name, files["invalid"].name, files["findings"].name} <= sources
    assert data["events"]["total"] > 0  # the good files still count
    # section 6: the remediation plan says, before its calls, that it was built from them
    plans = next(
        c for c in nb.cells if c.cell_type == "code" and "display.verdict_section" in c.source
    )
    shown = "".join(
        o["data"]["text/html"] for o in plans.outputs if "text/html" in o.get("data", {})
    )
    remediation = shown[shown.index("If not legitimate: remediation plan") :]
    note = remediation.index("built from incomplete evidence: 3 data issue(s); changes in what")
    assert note < remediation.index("iam:UpdateAccessKey")


def test_triage_lists_the_open_findings_newest_first(tmp_path: Path) -> None:
    case = str(sample_case().root)
    nb = _run("triage", tmp_path, case_dir=case, out_dir="reports")
    assert not _errors(nb)
    text = _outputs_text(nb)
    assert FINDING in text and OTHER_FINDING in text
    assert f"torinvest investigate {FINDING} --case={case} --out=reports/finding-{FINDING}" in text
    # and the command that makes its working notebook (the button is Lab's; not in a run)
    made_in = tmp_path / "investigations"
    assert f"torinvest notebook {FINDING} --case={case} --out={made_in}" in text
    assert "widget-view" not in text and "widgets" not in nb.metadata
    assert KEY in text and "benjamin" in text
    assert "No data issues" in text


def test_the_package_carries_the_notebooks() -> None:
    """torinvest/data/notebooks is the checkout's notebooks/ (a link), so a wheel or a
    `pip install .` carries them (package-data data/**) and report.notebook_path finds them."""
    import tomllib

    import torinvest

    packaged = Path(torinvest.__file__).resolve().parent / "data" / "notebooks"
    assert packaged.resolve() == NOTEBOOKS
    for name in NAMES:
        assert (packaged / f"{name}.ipynb").read_bytes() == (
            NOTEBOOKS / f"{name}.ipynb"
        ).read_bytes()
    pyproject = tomllib.loads((NOTEBOOKS.parent / "pyproject.toml").read_text())
    assert "data/**/*" in pyproject["tool"]["setuptools"]["package-data"]["torinvest"]
    # the license is a PEP 639 expression: setuptools older than 77 cannot build the package
    assert "setuptools>=77" in pyproject["build-system"]["requires"]


# --------------------------------------------------------------------------------------------
# templates stay pristine; working copies
# --------------------------------------------------------------------------------------------
ROOT = NOTEBOOKS.parent


@pytest.mark.parametrize("name", NAMES)
def test_repository_notebooks_are_pristine_templates(name: str) -> None:
    """No outputs, parameters at their defaults, no injected cell: what `make lint` checks."""
    assert notebooks.template_problems(NOTEBOOKS / f"{name}.ipynb") == []
    params = notebooks.read_parameters(_nb(name), name)
    assert params == notebooks.DEFAULTS[name]


def test_template_defaults_are_the_cli_defaults_and_every_one_is_injected(tmp_path: Path) -> None:
    """A report run injects every parameter (the template's own values never reach a report),
    and the notebook's defaults are `torinvest investigate`'s."""
    options = report.RunOptions()
    injected = report.parameters(FINDING, tmp_path, options)
    assert set(injected) == set(notebooks.DEFAULTS["investigate"])
    defaults = dict(notebooks.DEFAULTS["investigate"])
    for name in ("lookback_days", "lookahead_days", "tolerance_hours", "follow_derived"):
        assert defaults[name] == getattr(options, name), name
    assert defaults["max_rows"] == options.max_rows
    assert defaults["engine"] == options.engine and defaults["regions"] == options.regions
    assert defaults["verdict_status"] == options.verdict_status


def test_lint_check_passes_the_repository_and_fails_a_used_notebook(tmp_path: Path) -> None:
    script = ROOT / "tools" / "check_notebooks.py"
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "tools/check_notebooks.py" in lint  # CI runs `make test`, which runs lint
    ok = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=60
    )
    assert ok.returncode == 0, ok.stderr
    for name in NAMES:  # a copy saved from Lab after a run, with the case's parameters
        shutil.copy(NOTEBOOKS / f"{name}.py", tmp_path / f"{name}.py")
        nb = _nb(name)
        at = _params(nb)
        nb.cells[at].source = nb.cells[at].source.replace(
            'case_dir: str = ""', 'case_dir: str = "/cases/42"'
        )
        nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hello")]
        nbformat.write(nb, tmp_path / f"{name}.ipynb")
    bad = subprocess.run(
        [sys.executable, str(script), *map(str, sorted(tmp_path.glob("*.ipynb")))],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert bad.returncode == 1
    for name in NAMES:
        assert f"{name}.ipynb: parameter `case_dir = '/cases/42'` (default: '')" in bad.stderr
        assert f"{name}.ipynb: 1 cell(s) saved with outputs (cells 2)" in bad.stderr
        assert f"{name}.py and {name}.ipynb differ" in bad.stderr
    assert "Traceback" not in bad.stderr


def _sample_options(tmp_path: Path) -> report.RunOptions:
    return report.RunOptions(case_dir=str(sample_case().root), ledger=str(tmp_path / "l.jsonl"))


def test_a_working_copy_is_the_template_with_papermills_injected_cell(tmp_path: Path) -> None:
    copy = notebooks.investigation_copy(FINDING, _sample_options(tmp_path), tmp_path / "inv")
    assert copy.status == "created"
    assert copy.path == tmp_path / "inv" / f"finding-{FINDING}" / "investigate.ipynb"
    nb = nbformat.read(copy.path, as_version=4)
    template = _nb("investigate")
    injected = [
        i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", [])
    ]
    assert len(injected) == 1
    (index,) = injected
    assert "parameters" in nb.cells[index - 1].metadata.get(
        "tags", []
    )  # right after the parameters
    assert [c.source for c in nb.cells[:index] + nb.cells[index + 1 :]] == [
        c.source for c in template.cells
    ]
    assert pm.inspect_notebook(str(copy.path))  # papermill still reads its parameters
    values = notebooks.read_parameters(
        nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_code_cell(nb.cells[index].source, metadata={"tags": ["parameters"]})
            ]
        ),
        copy.path,
    )
    assert values == {
        "finding_id": FINDING,
        "case_dir": str(sample_case().root.resolve()),
        "ledger": str(tmp_path / "l.jsonl"),
    }
    assert nb.metadata["papermill"]["parameters"] == values
    assert nb.metadata["jupytext"] == {"formats": "ipynb"}  # never paired with a .py
    assert all(c.get("outputs", []) == [] for c in nb.cells)


def test_an_existing_copy_is_kept_unless_forced(tmp_path: Path) -> None:
    options = _sample_options(tmp_path)
    first = notebooks.investigation_copy(FINDING, options, tmp_path)
    nb = nbformat.read(first.path, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("my notes: the actor made svc-backup-sync"))
    nbformat.write(nb, first.path)
    edited = first.path.read_bytes()

    again = notebooks.investigation_copy(FINDING, options, tmp_path)
    assert (again.status, again.same_parameters) == ("kept", True)
    assert first.path.read_bytes() == edited
    other = notebooks.investigation_copy(
        FINDING, report.RunOptions(case_dir=str(sample_case().root)), tmp_path
    )
    assert (other.status, other.same_parameters) == ("kept", False)
    assert first.path.read_bytes() == edited

    forced = notebooks.investigation_copy(FINDING, options, tmp_path, force=True)
    assert forced.status == "replaced" and forced.backup is not None
    assert forced.backup.read_bytes() == edited  # the analyst's copy is kept beside it
    assert forced.backup.parent == first.path.parent and forced.backup.suffix == ".ipynb"
    assert "my notes" not in first.path.read_text()


def test_forcing_twice_in_one_second_keeps_every_earlier_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backups are named by the second: a second --force in the same second (a script, a
    double run) must not replace the first backup — the analyst's edited copy — with the
    fresh copy it backs up."""
    monkeypatch.setattr(notebooks, "_stamp", lambda: "20260101T000000Z")
    options = _sample_options(tmp_path)
    first = notebooks.investigation_copy(FINDING, options, tmp_path)
    first.path.write_text(first.path.read_text().replace("Tor finding", "EDITED Tor finding"))
    edited = first.path.read_bytes()
    one = notebooks.investigation_copy(FINDING, options, tmp_path, force=True)
    two = notebooks.investigation_copy(FINDING, options, tmp_path, force=True)
    assert one.backup is not None and two.backup is not None and one.backup != two.backup
    assert one.backup.read_bytes() == edited
    assert two.backup.name == "investigate.20260101T000000Z-2.ipynb"
    assert sorted(p.name for p in first.path.parent.iterdir()) == [
        "investigate.20260101T000000Z-2.ipynb",
        "investigate.20260101T000000Z.ipynb",
        "investigate.ipynb",
    ]  # and no temporary file left


def test_a_copy_that_appears_while_one_is_made_is_kept_not_overwritten(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between "no copy there" and writing one, another run (or Lab saving) can write it: the
    copy is put in place only where there is none, and the one found is reported as kept."""
    path = notebooks.working_copy_path(FINDING, tmp_path)
    made = notebooks.working_notebook

    def meanwhile(*args: object, **kwargs: object) -> nbformat.NotebookNode:
        nb = made(*args, **kwargs)  # type: ignore[arg-type]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the analyst's")
        return nb

    monkeypatch.setattr(notebooks, "working_notebook", meanwhile)
    got = notebooks.investigation_copy(FINDING, _sample_options(tmp_path), tmp_path)
    assert (got.status, got.same_parameters) == ("kept", None)
    assert path.read_text() == "the analyst's"
    assert [p.name for p in path.parent.iterdir()] == ["investigate.ipynb"]


def test_saving_a_working_copy_in_lab_writes_no_paired_py(tmp_path: Path) -> None:
    """Even where a jupytext.toml pairs every notebook (the repository's notebooks/), saving a
    working copy through jupytext's contents manager (JupyterLab's) writes the .ipynb alone."""
    from jupyter_server.services.contents.largefilemanager import LargeFileManager
    from jupytext.sync_contentsmanager import build_sync_jupytext_contents_manager_class

    shutil.copy(NOTEBOOKS / "jupytext.toml", tmp_path / "jupytext.toml")
    copy = notebooks.investigation_copy(FINDING, _sample_options(tmp_path), tmp_path / "inv")
    manager = build_sync_jupytext_contents_manager_class(LargeFileManager)(root_dir=str(tmp_path))
    rel = copy.path.relative_to(tmp_path).as_posix()
    model = manager.get(rel)
    injected = _params(model["content"]) + 1
    model["content"].cells[injected].source += '\nverdict_status = "malicious"'
    manager.save(model, rel)
    saved = sorted(p.name for p in copy.path.parent.iterdir() if not p.name.startswith("."))
    assert saved == ["investigate.ipynb"]  # (and Lab's .ipynb_checkpoints/)
    assert (
        'verdict_status = "malicious"'
        in nbformat.read(copy.path, as_version=4).cells[injected].source
    )
    # the same manager does pair a notebook without the pin: the test would see a pairing
    nbformat.write(_nb("triage"), tmp_path / "plain.ipynb")
    manager.save(manager.get("plain.ipynb"), "plain.ipynb")
    assert (tmp_path / "plain.py").exists()


def test_the_working_copy_flow_leaves_the_template_and_its_reports_unchanged(
    tmp_path: Path, sample_report: Path
) -> None:
    """Create a working copy, edit it and save it (outputs, a changed parameter, a broken cell),
    then investigate again: the template's files and the report are what they were (the first
    report: the session's ``sample_report``, made with the same options before any copy)."""
    from torinvest.cli import main

    watched = [NOTEBOOKS / f"investigate.{ext}" for ext in ("ipynb", "py")]
    before = [p.read_bytes() for p in watched]
    case = str(sample_case().root)
    ledger = str(sample_report.parent / "ledger.jsonl")  # the first run's: no verdict in it
    first = report.check_summary(sample_report / "summary.json")

    out, err = io.StringIO(), io.StringIO()
    code = main(
        ["notebook", FINDING, "--case", case, "--out", str(tmp_path / "inv")], out=out, err=err
    )
    assert code == 0, err.getvalue()
    path = Path(out.getvalue().splitlines()[-1])
    nb = nbformat.read(path, as_version=4)
    nb.cells[_params(nb) + 1].source += "\nlookback_days = 0\nverdict_status = malicious"  # broken
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="x" * 100_000)]
    nb.cells.insert(5, nbformat.v4.new_code_cell("raise SystemExit('analyst scratch')"))
    nbformat.write(nb, path)

    second = report.run_report(
        FINDING, tmp_path / "r2", report.RunOptions(case_dir=case, ledger=ledger)
    )
    assert [p.read_bytes() for p in watched] == before
    assert second.summary_data is not None
    second.summary_data.pop("generated")  # when and by whom differ; the rest must not
    first.pop("generated")
    assert second.summary_data == first
    assert "analyst scratch" not in (tmp_path / "r2" / "report.ipynb").read_text()


def test_papermill_runs_a_working_copy_and_a_rerun_records_the_verdict_once(
    tmp_path: Path,
) -> None:
    """The analyst sets the verdict in the copy's injected cell and runs it (papermill, no
    frontend: no form, no widget state); running it again adds no ledger record."""
    ledger = tmp_path / "ledger.jsonl"
    options = report.RunOptions(case_dir=str(sample_case().root), ledger=str(ledger))
    copy = notebooks.investigation_copy(FINDING, options, tmp_path / "inv")
    nb = nbformat.read(copy.path, as_version=4)
    index = next(
        i for i, c in enumerate(nb.cells) if "injected-parameters" in c.metadata.get("tags", [])
    )
    nb.cells[
        index
    ].source += (
        '\nverdict_status = "malicious"\nanalyst = "ana"\nrationale = "Tor calls, CreateUser"'
    )
    nbformat.write(nb, copy.path)
    for n in (1, 2):
        out = tmp_path / f"run{n}.ipynb"
        failure = report.execute(copy.path, out, {}, cwd=copy.path.parent)
        ran = nbformat.read(out, as_version=4)
        assert failure is None, f"{failure}: {_errors(ran)}"
        text = _outputs_text(ran)
        assert KEY in text and "Remediation plan" in text and "malicious" in text
        assert "widget-view" not in text and "widgets" not in ran.metadata  # no form
    records, issues = read_ledger(ledger)
    assert issues == []
    assert [(r["status"], r["analyst"]) for r in records] == [("malicious", "ana")]
    assert records[0]["evidence"]["events"] == 71  # the evidence summary is stored with it


def test_working_copies_inside_the_repository_are_not_tracked() -> None:
    """`torinvest notebook` run from the checkout (./investigations) or the triage notebook
    opened in notebooks/ (notebooks/investigations): git ignores both."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for path in (
        f"investigations/finding-{FINDING}/investigate.ipynb",
        f"notebooks/investigations/finding-{FINDING}/investigate.ipynb",
        "investigations/triage.ipynb",
    ):
        done = subprocess.run(
            ["git", "-C", str(ROOT), "check-ignore", "-q", path], check=False, timeout=30
        )
        assert done.returncode == 0, f"{path} would be tracked"


# --------------------------------------------------------------------------------------------
# parameters: only the checked ones are used, and "false" means false
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_no_cell_after_the_check_reads_a_raw_parameter(name: str) -> None:
    """Every cell after ``params = ….check(globals())`` reads ``params.NAME``: a raw global is
    papermill's text (``"false"`` is true)."""
    nb = _nb(name)
    declared = {
        node.target.id
        for node in ast.parse(nb.cells[_params(nb)].source).body
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
    }
    check = next(i for i, c in enumerate(nb.cells) if ".check(globals())" in c.source)
    raw = [
        f"cell {i}: {node.id}"
        for i, cell in enumerate(nb.cells[check + 1 :], start=check + 1)
        if cell.cell_type == "code"
        for node in ast.walk(ast.parse(cell.source))
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in declared
    ]
    assert declared and not raw


def test_follow_derived_false_as_text_says_not_followed(tmp_path: Path) -> None:
    """``-p follow_derived false`` (text): the keys the key minted are not followed, and the
    answer card, the derived-keys card and summary.json say so (not "none minted")."""
    summary = tmp_path / "summary.json"
    nb = _run(
        "investigate",
        tmp_path,
        finding_id=FINDING,
        case_dir=str(sample_case().root),
        follow_derived="false",
        ledger=str(tmp_path / "ledger.jsonl"),
        summary_path=str(summary),
    )
    text = _outputs_text(nb)
    assert "none minted by this key" not in text
    assert "Derived keys: not followed" in text
    data = report.check_summary(summary)
    assert data["derived_keys"] == []
    assert data["derived_keys_search"]["status"] == "not followed"
    assert "derived keys not followed" in report.one_line_summary(data)


@pytest.mark.parametrize(
    ("name", "params", "said"),
    [
        (
            "investigate",
            {"lookback_day": 90, "verdict_stauts": "malicious"},
            [
                "lookback_day (did you mean lookback_days?)",
                "verdict_stauts (did you mean verdict_status?)",
            ],
        ),
        ("investigate", {"case": "CASE"}, ["case (did you mean case_dir?)"]),
        ("triage", {"include_archive": True}, ["include_archive (did you mean include_archived?)"]),
    ],
)
def test_a_misspelled_papermill_parameter_stops_the_run_named(
    tmp_path: Path, name: str, params: dict[str, object], said: list[str]
) -> None:
    """``papermill -p lookback_day 90`` (not a parameter): the check cell stops the run naming
    it and the closest parameter, instead of running on the defaults (or reading AWS)."""
    case = str(sample_case().root)
    given = {"case_dir": case, **({"finding_id": FINDING} if name == "investigate" else {})}
    given.update({k: (case if v == "CASE" else v) for k, v in params.items()})
    if "case" in params:
        del given["case_dir"]
    with pytest.raises(pm.PapermillExecutionError) as raised:
        pm.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters=given,
            cwd=str(tmp_path),
            progress_bar=False,
            kernel_name="python3",
        )
    assert raised.value.ename == "InputError"
    for text in said:
        assert text in raised.value.evalue
    assert "finding_id" not in raised.value.evalue.split(";")[0]  # declared ones not named


def test_injected_names_are_those_of_the_last_injected_cell() -> None:
    """Outside a kernel nothing is injected; in one, the last ``# Parameters`` cell of the
    history (papermill's, or a working copy's) is what was injected; other cells are not."""
    from torinvest.parameters import injected_names

    assert injected_names({}) == []
    history = [
        "",
        'finding_id: str = ""  # …',
        '# Parameters\nfinding_id = "x"\nlookback_day = 9\n',
        "# Parameters of this working copy (torinvest notebook)\ncase_dir = '/c'\n",
        "params = investigation.InvestigateParameters.check(globals())",
        "# Parameters are explained below\nx = f(1)\nprint(x)\n",
    ]
    assert injected_names({"In": history}) == ["case_dir"]
    assert injected_names({"In": history[:3]}) == ["finding_id", "lookback_day"]


@pytest.mark.parametrize("regions", ["", " , ", []])
def test_an_empty_regions_parameter_is_refused_with_a_case_folder_too(regions: object) -> None:
    """``-p regions ""`` names no region: refused as ``--regions ''`` is, case folder or not
    (the notebook's sources cell)."""
    from torinvest.aws.regions import InvalidRegionError
    from torinvest.investigation import sources_from_parameters

    with pytest.raises(InvalidRegionError, match="no region named"):
        sources_from_parameters(case_dir=str(sample_case().root), regions=regions)  # type: ignore[arg-type]
    assert sources_from_parameters(case_dir=str(sample_case().root)).case is not None


# an analyst's edit of the parameters cell and the injected-parameters cell papermill (or
# `torinvest notebook`) adds after it: which value is used is said, never silently
_PARAMETERS = 'finding_id: str = ""\ncase_dir: str = ""\nverdict_status: str = "pending"\n'
_INJECTED = (
    "# Parameters of this working copy (torinvest notebook)\nfinding_id = 'x'\ncase_dir = '/c'\n"
)
_CHECK = "params = investigation.InvestigateParameters.check(globals())"


def _kernel(*cells: str) -> dict[str, object]:
    """A kernel's namespace after ``cells`` ran in order: ``In`` and each literal assigned."""
    import ast
    import contextlib

    ns: dict[str, object] = {"In": ["", *cells]}
    for cell in cells:
        for node in ast.parse(cell).body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                with contextlib.suppress(ValueError):
                    ns[target.id] = ast.literal_eval(node.value)  # type: ignore[union-attr]
    return ns


def test_parameters_the_injected_cell_overrides_are_said_and_a_reset_is_refused() -> None:
    from torinvest.display import parameter_notes
    from torinvest.errors import InputError
    from torinvest.parameters import InvestigateParameters, parameter_overrides

    defaults = InvestigateParameters.defaults()
    # in order, the parameters cell at its defaults (a report, a working copy): nothing to say
    ns = _kernel(_PARAMETERS, _INJECTED, _CHECK)
    assert parameter_overrides(ns, defaults) == []
    params = InvestigateParameters.check(ns)
    assert params.finding_id == "x" and parameter_notes(ns, params) is None
    assert parameter_overrides({"finding_id": "x"}, defaults) == []  # outside a kernel

    # the analyst edits the parameters cell of a report run again: the injected value wins
    edited = _PARAMETERS.replace('case_dir: str = ""', 'case_dir: str = "/<b>mine"')
    ns = _kernel(edited, _INJECTED, _CHECK)
    [override] = parameter_overrides(ns, defaults)
    assert (override.name, override.kind, override.used, override.other) == (
        "case_dir",
        "ignored",
        "/c",
        "/<b>mine",
    )
    html = parameter_notes(ns, InvestigateParameters.check(ns)).data  # type: ignore[union-attr]
    assert "not used" in html and "/&lt;b&gt;mine" in html and "<b>mine" not in html

    # the parameters cell run again alone after the injected cell: the working copy's finding
    # and folder are back to the defaults; the check stops and says which and what to do
    verdict = _PARAMETERS.replace('"pending"', '"malicious"') + "analyst = 'a'\nrationale = 'r'\n"
    ns = _kernel(_PARAMETERS, _INJECTED, _CHECK, verdict)
    assert {o.name: o.kind for o in parameter_overrides(ns, defaults)} == {
        "finding_id": "reset",
        "case_dir": "reset",
    }
    with pytest.raises(InputError) as raised:
        InvestigateParameters.check(ns)
    assert "finding_id ('', not 'x'), case_dir ('', not '/c')" in raised.value.message
    assert "run the injected-parameters cell" in str(raised.value.hint)
    # ... then the injected cell: nothing to say, the verdict is the edited one
    ns = _kernel(_PARAMETERS, _INJECTED, _CHECK, verdict, _INJECTED)
    assert parameter_overrides(ns, defaults) == []
    assert InvestigateParameters.check(ns).verdict_status == "malicious"

    # a cell run after the injected one that sets another value: used, and said
    ns = _kernel(_PARAMETERS, _INJECTED, "case_dir = '/d'")
    [override] = parameter_overrides(ns, defaults)
    assert (override.kind, override.used, override.other) == ("replaced", "/d", "/c")
    assert (
        "Run All would use the injected one"
        in parameter_notes(  # type: ignore[union-attr]
            ns, InvestigateParameters.check(ns)
        ).data
    )


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"verdict_status": "malicous"}, "'malicous' is not a verdict status (did you mean"),
        ({"verdict_status": "Legitimate "}, "(did you mean 'legitimate'?)"),
        ({"verdict_status": "malicious", "analyst": "ana"}, "needs an analyst and a rationale"),
        ({"verdict_status": "inconclusive", "rationale": "r"}, "(analyst empty)"),
    ],
)
def test_a_wrong_verdict_parameter_stops_at_the_check_not_after_the_investigation(
    given: dict[str, str], said: str
) -> None:
    """The parameters check refuses a verdict the verdict cell would refuse, before anything
    is read: a typo'd status or a decided one without analyst and rationale."""
    from torinvest.errors import InputError
    from torinvest.parameters import InvestigateParameters

    with pytest.raises(InputError) as raised:
        InvestigateParameters.check(given)
    assert said in raised.value.message and "verdict_status" in raised.value.message
    done = InvestigateParameters.check(
        {**given, "analyst": "a", "rationale": "r"} | {"verdict_status": "malicious"}
    )
    assert done.verdict_status == "malicious"


def test_a_nearly_named_parameter_in_the_parameters_cell_is_refused_not_ignored() -> None:
    """``lookback_day = 30`` typed into the parameters cell (or a cell of the analyst's) sets
    no parameter: the check says so, naming the one meant, instead of running 14 days."""
    from torinvest.errors import InputError
    from torinvest.parameters import InvestigateParameters

    typo = _PARAMETERS + "lookback_day = 30\n"
    with pytest.raises(InputError) as raised:
        InvestigateParameters.check(_kernel(typo, _INJECTED, _CHECK))
    assert "lookback_day (did you mean lookback_days?)" in raised.value.message
    # an analyst's own names, far from any parameter, are theirs
    ns = _kernel(_PARAMETERS + "my_note = 'see ticket 42'\n", _INJECTED, _CHECK)
    assert InvestigateParameters.check(ns).finding_id == "x"
    # corrected and run again: accepted
    ns = _kernel(typo, _INJECTED, _PARAMETERS + "lookback_days = 30\n", _INJECTED, _CHECK)
    assert InvestigateParameters.check(ns).lookback_days == 30


def test_a_working_copys_injected_cell_says_its_values_win() -> None:
    """The injected cell a working copy gets says, where the analyst reads it, that it
    overrides the parameters cell above it (and is still recognised as injected)."""
    from torinvest.parameters import injected_names

    nb = notebooks.working_notebook(
        notebooks.template_path(notebooks.INVESTIGATE), {"finding_id": FINDING}
    )
    (cell,) = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert cell.source.startswith(
        "# Parameters of this working copy (torinvest notebook): they override the parameters "
        "cell above; change them here\n"
    )
    assert injected_names({"In": ["", cell.source]}) == ["finding_id"]
