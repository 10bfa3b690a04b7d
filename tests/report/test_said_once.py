"""A reading that could not look says each problem once: its data issue (source ``activity``)
opens ``data_issues`` and states why, and the source that issue names is not listed again under
its own name. They were listed twice — "activity: <folder>: …" and "<folder>: …" — so one
broken log file read "2 data issue(s)" in summary.json, the terminal's issue lines, the
verdict's evidence, the data issues card and the answer."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import orjson
import pytest

from tests.cli_run import issues, run
from torinvest import display, investigation
from torinvest.case import sample_case
from torinvest.cli.investigate import say_reading
from torinvest.investigation import NOTHING_READ_SOURCE, Investigation

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case's findings and one truncated log file, the only source."""
    case = tmp_path_factory.mktemp("broken") / "case"
    shutil.copytree(sample_case().root / "findings", case / "findings")
    (case / "cloudtrail").mkdir()
    data = next(sample_case().cloudtrail.rglob("*.json.gz")).read_bytes()
    (case / "cloudtrail" / "export-broken.json.gz").write_bytes(data[:200])
    return case


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case with its finding seen two months after its trail's log files: no log
    file in the window (the case folder's "no log file matched" is why nothing was read)."""
    case = tmp_path_factory.mktemp("moved") / "case"
    shutil.copytree(sample_case().root, case)
    (case / "findings" / "eventbridge-recon.json").unlink()
    export = case / "findings" / "get-findings.json"
    export.write_text(export.read_text().replace('Seen": "2023-07-10', 'Seen": "2023-09-10'))
    return case


def _investigate(case: Path) -> Investigation:
    sources = investigation.sources_from_parameters(case_dir=str(case))
    return investigation.investigate(FINDING, sources)


def _summary(inv: Investigation) -> dict:
    return orjson.loads(orjson.dumps(investigation.summary(inv)))


def _said(issue: dict) -> str:
    return f"{issue['source']}: {issue['problem']}"


def test_one_broken_file_is_one_data_issue_everywhere(broken: Path, tmp_path: Path) -> None:
    inv = _investigate(broken)
    data = _summary(inv)
    (only,) = data["data_issues"]  # the reading's issue, naming the file and its cause
    assert only["source"] == NOTHING_READ_SOURCE
    assert "export-broken.json.gz: cannot decompress" in only["problem"]
    assert data["activity_issues"] == data["data_issues"]
    assert data["reading"]["state"] == "could not look"
    err = io.StringIO()
    say_reading(data, err)  # what `investigate` prints of it
    assert len(issues(err.getvalue())) == 1
    shown = _text(display.data_issues(inv).data)
    assert "1 data issue(s)" in shown and "2 data issue(s)" not in shown
    answer = _text(display.answer_html(inv, {"status": "pending"}))
    assert "Could not look: no event was read; 1 data issue(s) name what" in answer
    # the verdict command: one issue line, evidence counting one
    ledger = tmp_path / "ledger.jsonl"
    code, _, err_text = run(
        *("verdict", FINDING, "--status", "malicious", "--analyst", "ana", "--rationale", "r"),
        *("--case", str(broken), "--ledger", str(ledger)),
    )
    assert code == 0
    (line,) = issues(err_text)
    assert "export-broken.json.gz: cannot decompress" in line
    (record,) = [orjson.loads(x) for x in ledger.read_bytes().splitlines()]
    assert record["evidence"]["data_issues"] == 1
    # `events`: the error names the file; no issue line says it again
    code, _, err_text = run(
        *("events", "--case", str(broken), "--access-key", KEY, "--out", str(tmp_path / "e.csv"))
    )
    assert code == 3
    assert issues(err_text) == []
    assert err_text.count("export-broken.json.gz: cannot decompress") == 1


def test_the_reading_issue_is_never_said_again_under_its_source(moved: Path) -> None:
    inv = _investigate(moved)
    data = _summary(inv)
    for field in ("data_issues", "activity_issues"):
        first, *rest = data[field]
        assert first["source"] == NOTHING_READ_SOURCE
        assert "no log file matched the window" in first["problem"]
        assert all(_said(i) != first["problem"] for i in rest), data[field]
        assert not any("no log file matched the window" in i["problem"] for i in rest)
    err = io.StringIO()
    say_reading(data, err)
    lines = issues(err.getvalue())
    assert len(lines) == len(data["data_issues"])
    assert sum("no log file matched the window" in line for line in lines) == 1
    shown = _text(display.data_issues(inv).data)
    assert shown.count("no log file matched the window") == 1
