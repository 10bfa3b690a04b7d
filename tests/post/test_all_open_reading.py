"""``investigate --all-open`` says, per report, whether the reading was complete: a report whose
summary.json carries data issues (a region denied, a list missing) is never listed as a plain
"ok" — stdout, index.json and index.html give the count and where, apart from the folder's own
completeness. Both batch paths: the scheduled one (``post.batch.run_open``, the command's) and
``report.run_batch``."""

from __future__ import annotations

import contextlib
import html
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
    assert lines[F1].endswith("report.html  INCOMPLETE: 2 DATA ISSUE(S): lookup:eu-west-1, tor")
    assert "DATA ISSUE" not in lines[F2]
    assert f"ok {F1}: {out / f'finding-{F1}' / 'report.html'} (INCOMPLETE: 2 DATA ISSUE(S))" in (
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
    assert (
        skipped.startswith("skipped")
        and "INCOMPLETE: 2 DATA ISSUE(S): lookup:eu-west-1, tor" in skipped
    )
    _check_index(out, "skipped")


def test_run_batch_index_says_which_reports_could_not_read_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(report_batch, "run_report", _writes_reports)
    said: list[str] = []
    batch = report.run_batch(tmp_path, report.RunOptions(case_dir=str(SAMPLE)), echo=said.append)
    assert [e.reading_note() for e in batch.entries if e.finding_id == F1] == [
        "INCOMPLETE: 2 DATA ISSUE(S): lookup:eu-west-1, tor"
    ]
    assert any(s.startswith(f"ok {F1}") and s.endswith("(INCOMPLETE: 2 DATA ISSUE(S): lookup:eu-west-1, tor)")
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
    assert "note: partial result: 1 of 2 report(s) could not look at their key's activity" in err
    assert err.rstrip().endswith(F1)
    by_id = {
        f["finding_id"]: f for f in orjson.loads((out / "index.json").read_bytes())["findings"]
    }
    assert by_id[F1]["reading"] == "could not look"
    assert by_id[F1]["could_not_look"].startswith("could not look in account 222222222222")
    assert (by_id[F2]["reading"], by_id[F2]["could_not_look"]) == ("complete", None)
    page = (out / "index.html").read_text()
    assert "<b>could not look: could not look in account 222222222222" in page
    assert "incomplete" not in page.split(F1)[1].split("</tr>")[0]  # never both


def test_one_line_summary_never_says_0_events_alone_when_it_could_not_look() -> None:
    data = summary_data()
    data["data_issues"] = [OTHER_ACCOUNT]
    line = report.one_line_summary(data)
    assert "COULD NOT LOOK at the key's activity (" in line
    assert "events (" not in line


def test_one_line_summary_cuts_a_huge_user_name_and_keeps_it_inert() -> None:
    """A findings file naming the key's user with 1 MB (ESC sequences first) printed it whole
    on the terminal's one line; now escaped and cut (``report.run.LINE_NAME_CHARS``) with "…",
    the counts after it still on the line."""
    data = summary_data()
    data["key"]["user_name"] = "\x1b[2J\x1b]8;;http://evil.example/\x07" + "u" * 1_000_000
    line = report.one_line_summary(data)
    assert "\x1b" not in line and "\x07" not in line
    assert "(long-term, \\x1b[2J\\x1b]8;;http://evil.example/\\x07uuu" in line
    assert "u" * 200 not in line and "uuu…), " in line
    assert len(line) < 1_000 and line.endswith(line.split("), ", 1)[1])
    assert "sensitive call(s), verdict" in line


#: LookupEvents denied in eu-west-1: the key's activity was read in part (summary.json's
#: activity_issues, beside the data issues that a re-run would not change).
PIVOT = {"source": "ip pivot", "problem": "LookupEvents cannot filter by IP: could not look"}


def _reading(activity: list[dict[str, str]]) -> dict[str, Any]:
    data = summary_data()
    data["data_issues"] = [*activity, PIVOT]
    data["activity_issues"] = activity
    return data


def _as_now(data: dict[str, Any], finding_id: str) -> dict[str, Any]:
    """``data`` as the report of the sample's finding as it is (its count and last sighting),
    so that a run sees no update of the finding."""
    from torinvest.findings import read_findings
    from torinvest.schema import iso_utc

    row = read_findings(SAMPLE / "findings").frame().set_index("id").loc[finding_id]
    data = orjson.loads(orjson.dumps(data))
    data["finding"].update(count=int(row["count"]), last_seen=iso_utc(row["last_seen"]))
    return data


def test_a_report_that_could_not_look_is_retried_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run whose report could not look at the key's activity (LookupEvents denied in a
    region; no source at all) wrote a complete folder, and the next --all-open counted it done
    and skipped it. Now it is retried — said on stderr, stdout and in the index — up to 3 runs
    in a row, then left, said; a report that read the activity whole (its only issue a
    structural one, the IP pivot) is still skipped, and so is a retried one once it reads all."""
    readings = {F1: _reading([DENIED]), F2: _reading([])}

    def writes(finding_id: str, folder: Path, *_: Any, **__: Any) -> None:
        make_report(folder, summary=_as_now(readings[finding_id], finding_id),
                    finding_id=finding_id)  # fmt: skip

    monkeypatch.setattr(post_batch, "_investigate", writes)
    out = tmp_path / "reports"
    argv = ["investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out)]

    def run_all() -> tuple[dict[str, str], str, dict[str, Any]]:
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(stderr):
            assert main(argv, out=stdout, err=stderr) == 0, stderr.getvalue()
        lines = {line.split()[1]: line for line in stdout.getvalue().splitlines()[:2]}
        index = orjson.loads((out / "index.json").read_bytes())
        return lines, stderr.getvalue(), {f["finding_id"]: f for f in index["findings"]}

    run_all()
    for n in (2, 3):
        lines, err, index = run_all()
        said = (
            "retrying: the last run did not read the key's whole activity (lookup:eu-west-1) "
            f"(run {n} of 3)"
        )
        assert f"investigating {F1} ({said}) …" in err
        assert lines[F1].startswith("ok ") and said in lines[F1]
        assert index[F1]["status"] == "ok" and index[F1]["note"] == said
        assert html.escape(said) in (out / "index.html").read_text()
        assert lines[F2].startswith("skipped ") and index[F2]["status"] == "skipped", err
    lines, err, index = run_all()  # 3 runs could not look: left until it changes, said
    assert lines[F1].startswith("skipped ")
    assert (
        f"skipped {F1}: the last 3 runs did not read the key's whole activity "
        "(lookup:eu-west-1): not retried" in err
    )
    assert index[F1]["note"].startswith(
        "the last 3 runs did not read the key's whole activity (lookup:eu-west-1)"
    )
    assert index[F1]["reading"] == "incomplete"  # never a complete reading

    # --force runs it; once it reads everything, it is done (the pivot's issue is no gap)
    readings[F1] = _reading([])
    with contextlib.redirect_stderr(io.StringIO()):
        main([*argv, "--force"], out=io.StringIO(), err=io.StringIO())
    lines, err, index = run_all()
    assert lines[F1].startswith("skipped ") and "retrying" not in err
    assert index[F1]["reading"] == "incomplete" and index[F1]["note"] is None  # the pivot only


def test_run_batch_retries_a_report_that_could_not_look(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readings = {F1: _reading([OTHER_ACCOUNT]), F2: _reading([])}  # F1: no source read
    ran: list[str] = []

    def writes(finding_id: str, folder: Path, *_: Any, **__: Any) -> None:
        ran.append(finding_id)
        make_report(folder, summary=orjson.loads(orjson.dumps(readings[finding_id])),
                    finding_id=finding_id)  # fmt: skip

    monkeypatch.setattr(report_batch, "run_report", writes)
    options = report.RunOptions(case_dir=str(SAMPLE))
    report.run_batch(tmp_path, options, echo=lambda _: None)
    ran.clear()
    said: list[str] = []
    batch = report.run_batch(tmp_path, options, echo=said.append)
    assert ran == [F1]  # F2 read everything: skipped
    assert (
        f"investigating {F1} (retrying: the last run did not read the key's whole activity "
        "(activity)) …" in said
    )
    assert {e.finding_id: e.status for e in batch.entries} == {F1: "ok", F2: "skipped"}


def test_a_forced_run_counts_the_runs_that_could_not_look_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3 runs could not look, then ``--force`` — which could not look either: the count went on
    (4), so no later run retried it. A forced run starts the count again: the next runs retry
    it (run 2 of 3), and a forced run that reads everything leaves it done."""
    readings = {F1: _reading([DENIED]), F2: _reading([])}

    def writes(finding_id: str, folder: Path, *_: Any, **__: Any) -> None:
        make_report(folder, summary=_as_now(readings[finding_id], finding_id),
                    finding_id=finding_id)  # fmt: skip

    monkeypatch.setattr(post_batch, "_investigate", writes)
    out = tmp_path / "reports"
    argv = ["investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out)]

    def run(*extra: str) -> str:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            assert main([*argv, *extra], out=io.StringIO(), err=stderr) == 0, stderr.getvalue()
        return stderr.getvalue()

    for _ in range(4):
        err = run()
    assert f"skipped {F1}: the last 3 runs did not read the key's whole activity" in err
    run("--force")  # still could not look
    state = orjson.loads((out / "state.json").read_bytes())["findings"][F1]
    assert state["unread_runs"] == 1 and state["attempts"] == 0
    err = run()
    assert (
        "retrying: the last run did not read the key's whole activity (lookup:eu-west-1) "
        "(run 2 of 3)" in err
    )
    readings[F1] = _reading([])
    run("--force")
    assert orjson.loads((out / "state.json").read_bytes())["findings"][F1]["unread_runs"] == 0
    assert f"skipped {F1}" in run()
