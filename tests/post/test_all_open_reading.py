"""``investigate --all-open`` says, per report, whether the reading was complete: a report whose
summary.json carries data issues (a region denied, a list missing) is never listed as a plain
"ok" — stdout, index.json and index.html give the count and where, apart from the folder's own
completeness. Both batch paths: the scheduled one (``post.batch.run_open``, the command's) and
``report.run_batch``."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.post.conftest import make_report, summary_data
from torinvest import report
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.post import batch as post_batch
from torinvest.report import batch as report_batch

SAMPLE = sample_case().root
F1, F2 = "6dde0a8f8d46f6acad893b30f905e97c", "7f176d541deef88b1ad653b9ed646f29"
DENIED = {
    "source": "lookup:eu-west-1",
    "problem": "cloudtrail:LookupEvents access denied in eu-west-1 \x1b[31m<b>x</b>",
}
TOR = {"source": "tor", "problem": "3 event(s) at times no loaded exit list covers"}


def _writes_reports(finding_id: str, folder: Path, *_: Any, **__: Any) -> None:
    """Stands in for a report run: F1's reading had two data issues, F2's none."""
    data = summary_data()
    data["data_issues"] = [DENIED, TOR] if finding_id == F1 else []
    make_report(folder, summary=data, finding_id=finding_id)


def _check_index(out: Path, status: str = "ok") -> None:
    index = orjson.loads((out / "index.json").read_bytes())
    by_id = {f["finding_id"]: f for f in index["findings"]}
    assert {k: by_id[F1][k] for k in ("status", "complete", "reading", "data_issues")} == {
        "status": status,
        "complete": True,  # the folder is whole ...
        "reading": "incomplete",  # ... the reading is not
        "data_issues": 2,
    }
    assert by_id[F1]["issue_sources"] == ["lookup:eu-west-1", "tor"]
    assert (by_id[F2]["reading"], by_id[F2]["data_issues"]) == ("complete", 0)
    page = (out / "index.html").read_text()
    assert "<th>reading</th>" in page
    assert "incomplete: 2 data issue(s)</b> <code>lookup:eu-west-1</code>, <code>tor</code>" in page
    assert "<td>complete</td>" in page


def test_all_open_says_which_reports_could_not_read_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(post_batch, "_investigate", _writes_reports)
    out = tmp_path / "reports"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(
            ["investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out),
             "--ledger", str(tmp_path / "l.jsonl")],
            out=stdout,
            err=stderr,
        )  # fmt: skip
    assert code == 0, stderr.getvalue()
    lines = {line.split()[1]: line for line in stdout.getvalue().splitlines()[:2]}
    assert lines[F1].startswith("ok ")
    assert lines[F1].endswith("report.html  2 DATA ISSUE(S): lookup:eu-west-1, tor")
    assert "DATA ISSUE" not in lines[F2]
    assert f"ok {F1}: {out / f'finding-{F1}' / 'report.html'} (2 DATA ISSUE(S))" in (
        stderr.getvalue()
    )
    _check_index(out)
    # a second run leaves the complete folders as they are: still said
    stdout = io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()):
        main(
            ["investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out),
             "--ledger", str(tmp_path / "l.jsonl")],
            out=stdout,
            err=io.StringIO(),
        )  # fmt: skip
    skipped = next(line for line in stdout.getvalue().splitlines() if F1 in line)
    assert skipped.startswith("skipped") and "2 DATA ISSUE(S): lookup:eu-west-1, tor" in skipped
    _check_index(out, "skipped")


def test_run_batch_index_says_which_reports_could_not_read_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_batch, "run_report", _writes_reports)
    said: list[str] = []
    batch = report.run_batch(tmp_path, report.RunOptions(case_dir=str(SAMPLE)), echo=said.append)
    assert [e.reading_note() for e in batch.entries if e.finding_id == F1] == [
        "2 DATA ISSUE(S): lookup:eu-west-1, tor"
    ]
    assert any(s.startswith(f"ok {F1}") and s.endswith("(2 DATA ISSUE(S): lookup:eu-west-1, tor)")
               for s in said)  # fmt: skip
    _check_index(tmp_path)


#: What a report of a member account's finding says when run with the administrator's
#: credentials: no activity source of the key could be read.
OTHER_ACCOUNT = {
    "source": "activity",
    "problem": "could not look in account 222222222222 (the finding's): LookupEvents was asked "
    "in account 111111111111 (the credentials' account) … investigate with credentials of "
    "account 222222222222",
}


def _member_report(finding_id: str, folder: Path, *_: Any, **__: Any) -> None:
    """Stands in for a report run: F1's could read nothing of its account, F2's everything."""
    data = summary_data()
    data["data_issues"] = [OTHER_ACCOUNT, TOR] if finding_id == F1 else []
    make_report(folder, summary=data, finding_id=finding_id)


def test_all_open_says_could_not_look_apart_from_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The administrator's --all-open over member accounts' findings: a report that could read
    no activity source of its key (another account's CloudTrail only) is "could not look" on
    its stdout line, in index.json/index.html and in a closing note — it read as one more
    "incomplete" report, beside those that read all but one region."""
    monkeypatch.setattr(post_batch, "_investigate", _member_report)
    out = tmp_path / "reports"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = main(
            ["investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out),
             "--ledger", str(tmp_path / "l.jsonl")],
            out=stdout,
            err=stderr,
        )  # fmt: skip
    assert code == 0, stderr.getvalue()
    lines = {line.split()[1]: line for line in stdout.getvalue().splitlines()[:2]}
    assert "COULD NOT LOOK: could not look in account 222222222222" in lines[F1]
    assert "COULD NOT LOOK" not in lines[F2]
    err = stderr.getvalue()
    assert f"ok {F1}: {out / f'finding-{F1}' / 'report.html'} (COULD NOT LOOK; 2 DATA" in err
    assert "note: 1 of 2 report(s) could not look at their key's activity" in err
    assert err.rstrip().endswith(F1)
    by_id = {
        f["finding_id"]: f for f in orjson.loads((out / "index.json").read_bytes())["findings"]
    }
    assert by_id[F1]["reading"] == "could not look"
    assert by_id[F1]["could_not_look"].startswith("could not look in account 222222222222")
    assert (by_id[F2]["reading"], by_id[F2]["could_not_look"]) == ("complete", None)
    page = (out / "index.html").read_text()
    assert "<b>could not look</b>: could not look in account 222222222222" in page


def test_one_line_summary_never_says_0_events_alone_when_it_could_not_look() -> None:
    data = summary_data()
    data["data_issues"] = [OTHER_ACCOUNT]
    line = report.one_line_summary(data)
    assert "COULD NOT LOOK at the key's activity (" in line
    assert "events (" not in line
