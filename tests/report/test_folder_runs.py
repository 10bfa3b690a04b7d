"""One report folder, one run at a time, and nothing in it that passes for a result it is not:
a second run into a folder another holds is refused (exit 1, the folder named, nothing
touched); a summary.json of another finding never gets a manifest; a run that fails or is
stopped leaves no summary.json (it is ``summary.failed.json``) and no report.html of an earlier
run under the name of this one's (``report.previous.html``); the --all-open index says
``"reading": "failed"`` for a failed run.

The kernel is replaced by a stand-in (``execute_into``) that writes what a notebook writes:
fast, and the same run_report, CLI and index around it."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import orjson
import pytest

from tests.post.conftest import make_report
from tests.report.test_report import _minimal_summary
from torinvest import report
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.errors import EXIT_BUSY, EXIT_FAILED
from torinvest.report import folders
from torinvest.report import run as report_run
from torinvest.report.kernel import CellFailure

SAMPLE = sample_case().root
F1, F2 = "6dde0a8f8d46f6acad893b30f905e97c", "7f176d541deef88b1ad653b9ed646f29"


def _cli(argv: list[str]) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(argv, out=stdout, err=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def _investigate(finding_id: str, out: Path, tmp_path: Path) -> tuple[int, str, str]:
    return _cli(
        ["investigate", finding_id, "--case", str(SAMPLE), "--out", str(out),
         "--ledger", str(tmp_path / "l.jsonl")]
    )  # fmt: skip


def _notebook(
    *, summary_of: str | None = None, failure: CellFailure | None = None, stop: bool = False
) -> Callable[..., CellFailure | None]:
    """A stand-in for the kernel: writes the summary.json and CSVs a notebook writes (of
    ``summary_of``, else the run's finding), then the executed notebook; returns ``failure`` —
    or, with ``stop``, is stopped (Ctrl-C) before the notebook is written."""

    def execute_into(
        notebook: Path, output: Path, params: dict[str, Any], *, cwd: Path, timeout: float
    ) -> CellFailure | None:
        fid = summary_of or params["finding_id"]
        data = _minimal_summary()
        data["finding"]["id"] = fid
        (cwd / "summary.json").write_text(json.dumps(data))
        (cwd / "events.csv").write_text("event_time,event_name\r\n")
        (cwd / "per_ip.csv").write_text("source_ip,events\r\n")
        if stop:  # before the executed notebook is renamed into place, as execute_into does
            raise KeyboardInterrupt
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"run of {fid}")])
        nbformat.write(nb, output)
        return failure

    return execute_into


FAILURE = CellFailure("RuntimeError", "the answer could not be drawn", 40, 31, "The answer")


# --------------------------------------------------------------------------------------------
# one run at a time
# --------------------------------------------------------------------------------------------
def test_a_second_run_into_a_folder_another_process_holds_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    make_report(out, finding_id=F1, html="<html>the first run's report</html>")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    holder = subprocess.Popen(  # another run: a process of its own holding the folder
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from torinvest.report.folders import hold\n"
         f"with hold(Path({str(out)!r})):\n    print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        code, stdout, stderr = _investigate(F1, out, tmp_path)  # the same finding again
    finally:
        holder.communicate("")
    assert code == EXIT_BUSY and stdout == ""
    assert f"another torinvest run is writing the report folder {out}" in stderr
    assert "investigating" not in stderr  # refused before it says it starts
    assert "Traceback" not in stderr
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.name != folders.LOCK_FILE}
    assert after == before  # nothing touched: the first run's report is whole
    assert report.folder_state(out, F1).complete
    # once the other run ended, the folder is free again
    with folders.hold(out):
        pass


def test_the_lock_is_held_for_the_whole_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    seen: list[str] = []
    write = _notebook()

    def execute_into(*args: Any, **kwargs: Any) -> CellFailure | None:
        with pytest.raises(folders.FolderBusyError) as busy:  # a second run, mid-run
            report.run_report(F2, out, report.RunOptions(case_dir=str(SAMPLE)))
        seen.append(str(busy.value))
        return write(*args, **kwargs)

    monkeypatch.setattr(report_run, "execute_into", execute_into)
    code, stdout, stderr = _investigate(F1, out, tmp_path)
    assert code == 0, stderr
    assert stdout.startswith(f"finding {F1}:")
    assert len(seen) == 1 and str(out) in seen[0]
    assert report.folder_state(out, F1).complete


def test_a_summary_of_another_finding_is_never_the_report_of_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    monkeypatch.setattr(report_run, "execute_into", _notebook(summary_of=F2))
    code, stdout, stderr = _investigate(F1, out, tmp_path)
    assert code == EXIT_FAILED
    assert f"summary.json is of finding {F2}, not {F1}" in stderr
    assert F2 not in stdout  # its line is not printed as this run's result
    assert not (out / "manifest.json").exists() and not (out / "summary.json").exists()
    assert report.folder_state(out, F1).state == "incomplete"


# --------------------------------------------------------------------------------------------
# a run that fails or is stopped
# --------------------------------------------------------------------------------------------
def test_a_failed_run_leaves_no_summary_that_reads_as_a_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    monkeypatch.setattr(report_run, "execute_into", _notebook(failure=FAILURE))
    code, _, stderr = _investigate(F1, out, tmp_path)
    assert code == EXIT_FAILED and "raised RuntimeError" in stderr
    assert str(out / "summary.failed.json") in stderr
    assert not (out / "summary.json").exists()
    kept = orjson.loads((out / "summary.failed.json").read_bytes())
    assert kept["finding"]["id"] == F1  # kept for a look, under a name no reader takes
    assert (out / "report.html").is_file()  # the error report
    assert report.folder_state(out, F1).state == "incomplete"
    # the next run that completes removes the failed summary
    monkeypatch.setattr(report_run, "execute_into", _notebook())
    assert _investigate(F1, out, tmp_path)[0] == 0
    assert not (out / "summary.failed.json").exists()
    assert report.folder_state(out, F1).complete


def test_a_stopped_run_leaves_the_previous_report_under_a_name_that_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    make_report(out, finding_id=F1, html="<html>the previous run's report</html>")
    monkeypatch.setattr(report_run, "execute_into", _notebook(stop=True))
    code, _, stderr = _investigate(F1, out, tmp_path)
    assert code == 130 and "interrupted" in stderr
    assert not (out / "report.html").exists() and not (out / "report.ipynb").exists()
    assert not (out / "summary.json").exists()
    previous = (out / "report.previous.html").read_text()
    assert previous == "<html>the previous run's report</html>"
    assert (out / "report.previous.ipynb").is_file()
    assert report.folder_state(out, F1).state == "incomplete"
    # the next run that completes leaves only its own pair
    monkeypatch.setattr(report_run, "execute_into", _notebook())
    assert _investigate(F1, out, tmp_path)[0] == 0
    assert not (out / "report.previous.html").exists()
    assert not (out / "report.previous.ipynb").exists()
    assert "run of" in (out / "report.html").read_text()


def test_all_open_index_says_a_failed_run_has_no_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def execute_into(*args: Any, **kwargs: Any) -> CellFailure | None:
        failure = FAILURE if args[2]["finding_id"] == F1 else None
        return _notebook(failure=failure)(*args, **kwargs)

    monkeypatch.setattr(report_run, "execute_into", execute_into)
    out = tmp_path / "reports"
    code, _, _ = _cli(
        ["investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out),
         "--ledger", str(tmp_path / "l.jsonl")]
    )  # fmt: skip
    assert code == EXIT_FAILED
    index = orjson.loads((out / "index.json").read_bytes())
    by_id = {f["finding_id"]: f for f in index["findings"]}
    assert {k: by_id[F1][k] for k in ("status", "complete", "reading", "data_issues")} == {
        "status": "failed",
        "complete": False,
        "reading": "failed",
        "data_issues": None,
    }
    assert "summary" not in by_id[F1]["report"]  # no summary.json linked as its result
    assert (by_id[F2]["status"], by_id[F2]["reading"]) == ("ok", "complete")
    assert "<b>failed</b>" in (out / "index.html").read_text()
    # run_batch says the same
    batch = report.run_batch(tmp_path / "batch", report.RunOptions(case_dir=str(SAMPLE)), echo=str)
    assert {e.finding_id: e.reading for e in batch.entries} == {F1: "failed", F2: "complete"}


# --------------------------------------------------------------------------------------------
# --all-open without its state file: the reports' own facts decide
# --------------------------------------------------------------------------------------------
def _findings_file(case: Path) -> Path:
    return case / "findings" / "get-findings.json"


def _update_finding(case: Path, finding_id: str, **service: Any) -> None:
    """GuardDuty updated the finding: ``service`` fields (Count, EventLastSeen) changed."""
    doc = json.loads(_findings_file(case).read_text())
    (f,) = [f for f in doc["Findings"] if f["Id"] == finding_id]
    f["Service"].update(service)
    f["UpdatedAt"] = "2023-07-11T09:00:00.000Z"
    _findings_file(case).write_text(json.dumps(doc))


def _reports_as_guardduty_says(case: Path) -> Callable[..., CellFailure | None]:
    """The notebook stand-in, its summary.json's finding facts (count, last seen) those of the
    case's findings file: a report made from the finding as it is."""
    write = _notebook()

    def execute_into(*args: Any, cwd: Path, **kwargs: Any) -> CellFailure | None:
        failure = write(*args, cwd=cwd, **kwargs)
        fid = args[2]["finding_id"]
        doc = json.loads(_findings_file(case).read_text())
        found = [f["Service"] for f in doc["Findings"] if f["Id"] == fid]
        data = json.loads((cwd / "summary.json").read_text())
        if found:
            data["finding"]["count"] = found[0]["Count"]
            data["finding"]["last_seen"] = found[0]["EventLastSeen"]
        else:  # the EventBridge finding of the sample case
            data["finding"]["count"], data["finding"]["last_seen"] = 9, "2023-07-10T12:13:41Z"
        (cwd / "summary.json").write_text(json.dumps(data))
        return failure

    return execute_into


def test_all_open_without_its_state_file_investigates_a_finding_updated_since_its_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = tmp_path / "case"
    shutil.copytree(SAMPLE, case)
    monkeypatch.setattr(report_run, "execute_into", _reports_as_guardduty_says(case))
    out = tmp_path / "reports"
    argv = ["investigate", "--all-open", "--case", str(case), "--out", str(out),
            "--ledger", str(tmp_path / "l.jsonl")]  # fmt: skip

    def run() -> tuple[dict[str, str], dict[str, Any]]:
        code, stdout, stderr = _cli(argv)
        assert code == 0, stderr
        said = {line.split()[1]: line.split()[0] for line in stdout.splitlines()[:2]}
        return said, orjson.loads((out / "state.json").read_bytes())["findings"]

    assert run()[0] == {F1: "ok", F2: "ok"}
    (out / "state.json").rename(out / "state.json.aside")  # as the tool's own hint says
    said, state = run()  # nothing changed: the reports stand
    assert said == {F1: "skipped", F2: "skipped"}
    assert state[F1]["finding"]["count"] == 6

    (out / "state.json").unlink()
    _update_finding(case, F1, Count=20)
    said, state = run()
    assert said == {F1: "ok", F2: "skipped"}  # investigated again, not "complete"
    summary = orjson.loads((out / f"finding-{F1}" / "summary.json").read_bytes())
    assert summary["finding"]["count"] == 20 == state[F1]["finding"]["count"]

    (out / "state.json").unlink()
    _update_finding(case, F1, EventLastSeen="2023-07-11T08:00:00Z")
    assert run()[0] == {F1: "ok", F2: "skipped"}
    assert run()[0] == {F1: "skipped", F2: "skipped"}  # with its state file, still known


def test_a_copied_in_report_of_an_updated_finding_is_not_taken_as_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder copied in with a report of count 6, the finding now at 20, and the new run
    fails: the state file says failed (never "reported" with count 20), the index's reading
    failed."""
    case = tmp_path / "case"
    shutil.copytree(SAMPLE, case)
    out = tmp_path / "reports"
    data = _minimal_summary()
    data["finding"].update(count=6, last_seen="2023-07-10T12:20:04Z")
    make_report(out / f"finding-{F1}", summary=data, finding_id=F1)
    _update_finding(case, F1, Count=20)
    monkeypatch.setattr(report_run, "execute_into", _notebook(failure=FAILURE))  # it fails
    code, stdout, _ = _cli(
        ["investigate", "--all-open", "--case", str(case), "--out", str(out),
         "--ledger", str(tmp_path / "l.jsonl")]
    )  # fmt: skip
    assert code == EXIT_FAILED and stdout.startswith(f"failed  {F1}")
    state = orjson.loads((out / "state.json").read_bytes())["findings"]
    assert state[F1]["status"] == "failed"
    index = orjson.loads((out / "index.json").read_bytes())
    assert [f["reading"] for f in index["findings"] if f["finding_id"] == F1] == ["failed"]
