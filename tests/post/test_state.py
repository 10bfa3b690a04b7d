"""Scheduled runs: each new finding investigated and posted once, an interrupted run finished by
the next, a jira-new issue per finding made once and updated, only what changed re-posted."""

from __future__ import annotations

import argparse
import io
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import orjson
import pytest

from tests.fake_tickets import FakeJira, FakeServiceNow
from tests.post.conftest import SYS_ID, make_report, summary_data, variables
from torinvest.cli.post import batch_poster
from torinvest.errors import InputError, TorinvestError
from torinvest.post import post_report
from torinvest.post.jira import finding_label
from torinvest.post.state import MAX_ATTEMPTS, FindingRef, RunState, StateBusyError, run_scheduled
from torinvest.post.templates import resolve

A, B, C = "a" * 32, "b" * 32, "c" * 32
#: Each finding's count as GuardDuty gives it now (set by :func:`refs`): a report is made from
#: the finding as it is, so the Investigator's summary.json says this count.
GUARDDUTY: dict[str, int] = {}


class Investigator:
    """Stands in for run_report: writes a complete report folder per finding (or fails, or is
    interrupted), and counts the runs."""

    def __init__(self) -> None:
        self.runs: list[str] = []
        self.interrupt: set[str] = set()
        self.fail: set[str] = set()
        self.verdict: dict[str, str] = {}

    def __call__(self, finding_id: str, folder: Path) -> None:
        self.runs.append(finding_id)
        if finding_id in self.interrupt:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "report.ipynb").write_text("{}")  # a run stopped half-way
            raise KeyboardInterrupt
        if finding_id in self.fail:
            raise TorinvestError(f"cell 7 failed for {finding_id}")
        data = summary_data()
        data["finding"]["count"] = GUARDDUTY.get(finding_id, 1)
        if finding_id in self.verdict:
            data["verdict"] = {
                "status": self.verdict[finding_id],
                "analyst": "ana",
                "rationale": "r",
                "recorded_at": "2024-01-01T00:00:00Z",
            }
        make_report(
            folder,
            summary=data,
            finding_id=finding_id,
            html=f"<html>{finding_id} {len(self.runs)}</html>",
        )


def refs(*ids: str, count: int = 1) -> list[FindingRef]:
    GUARDDUTY.update(dict.fromkeys(ids, count))
    return [FindingRef(i, updated_at="2024-01-01T00:00:00Z", count=count) for i in ids]


def poster(jira: FakeJira, ledger: Path):  # type: ignore[no-untyped-def]
    def post(folder: Path, templates: Sequence[str]):  # type: ignore[no-untyped-def]
        return post_report(folder, templates, env=variables(jira), ledger=ledger, backoff=0)

    return post


def test_each_new_finding_is_investigated_and_posted_once(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    inv = Investigator()
    out = tmp_path / "out"
    first = run_scheduled(
        out,
        refs(A, B),
        investigate=inv,
        post=poster(jira, ledger),
        templates=["jira-new:SEC"],
        echo=str,
    )
    assert inv.runs == [A, B]
    assert first.done == {
        A: ["investigated", "posted jira-new:SEC"],
        B: ["investigated", "posted jira-new:SEC"],
    }
    made = {k: i for k, i in jira.issues.items() if k != "SEC-1"}
    assert len(made) == 2 and jira.violations == []
    for fid in (A, B):
        (issue,) = [i for i in made.values() if finding_label(fid) in i["fields"]["labels"]]
        assert resolve("jira-new:SEC", out / f"finding-{fid}") == f"jira:{issue['key']}"
        assert len(issue["attachments"]) == 2
        text = issue["fields"]["description"]["content"][0]["content"][0]["text"]
        assert f"finding {fid}" in text and "Files:" in text
    requests = len(jira.requests)

    second = run_scheduled(
        out,
        refs(A, B, C),
        investigate=inv,
        post=poster(jira, ledger),
        templates=["jira-new:SEC"],
        echo=str,
    )
    assert inv.runs == [A, B, C]  # only the new one
    assert second.done[A] == second.done[B] == []
    assert len([k for k in jira.issues if k != "SEC-1"]) == 3
    assert [r.operation for r in jira.requests[requests:]] == [
        "search",
        "create_issue",
        "attach",
        "attach",
        "edit_issue",
    ]
    state = orjson.loads((out / "state.json").read_bytes())
    assert {k: v["status"] for k, v in state["findings"].items()} == {
        A: "reported",
        B: "reported",
        C: "reported",
    }
    assert [r["status"] for r in state["runs"]] == ["done", "done"]


def test_an_interrupted_run_is_finished_by_the_next(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    inv = Investigator()
    inv.interrupt = {B}
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_scheduled(
            out,
            refs(A, B, C),
            investigate=inv,
            post=poster(jira, ledger),
            templates=["jira-new:SEC"],
            echo=str,
        )
    state = orjson.loads((out / "state.json").read_bytes())
    assert state["findings"][B]["status"] == "running"
    assert state["runs"][-1]["status"] == "interrupted"
    assert C not in state["findings"]

    inv.interrupt = set()
    lines: list[str] = []
    result = run_scheduled(
        out,
        refs(A, B, C),
        investigate=inv,
        post=poster(jira, ledger),
        templates=["jira-new:SEC"],
        echo=lines.append,
    )
    assert inv.runs == [A, B, B, C]
    assert f"investigating {B} (interrupted in an earlier run: finishing it) …" in lines
    assert result.done[A] == []
    assert len([k for k in jira.issues if k != "SEC-1"]) == 3  # one issue per finding, A's once


def test_a_changed_report_updates_the_same_issue(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    inv = Investigator()
    out = tmp_path / "out"
    run_scheduled(
        out,
        refs(A),
        investigate=inv,
        post=poster(jira, ledger),
        templates=["jira-new:SEC"],
        echo=str,
    )
    (key,) = [k for k in jira.issues if k != "SEC-1"]
    inv.verdict[A] = "malicious"
    result = run_scheduled(
        out,
        refs(A, count=2),
        investigate=inv,
        post=poster(jira, ledger),
        templates=["jira-new:SEC"],
        echo=str,
    )

    assert result.done[A] == ["investigated", "posted jira-new:SEC"]
    assert [k for k in jira.issues if k != "SEC-1"] == [key]
    issue = jira.issues[key]
    assert len(issue["attachments"]) == 4  # both files changed
    text = issue["fields"]["description"]["content"][0]["content"][0]["text"]
    assert "Verdict: malicious by ana" in text
    (comment,) = issue["comments"]
    said = comment["body"]["content"][0]["content"][0]["text"]
    assert said.startswith("torinvest: the report changed") and "Verdict: malicious" in said


def test_a_lost_posting_record_finds_the_issue_by_its_label(
    jira: FakeJira, tmp_path: Path, ledger: Path
) -> None:
    inv = Investigator()
    out = tmp_path / "out"
    run_scheduled(
        out,
        refs(A),
        investigate=inv,
        post=poster(jira, ledger),
        templates=["jira-new:SEC"],
        echo=str,
    )
    (out / f"finding-{A}" / "posts.json").unlink()
    (out / "state.json").unlink()
    run_scheduled(
        out,
        refs(A),
        investigate=inv,
        post=poster(jira, ledger),
        templates=["jira-new:SEC"],
        echo=str,
    )
    assert inv.runs == [A]  # the complete report was not made again
    assert len([k for k in jira.issues if k != "SEC-1"]) == 1  # found, not made twice
    record = orjson.loads((out / f"finding-{A}" / "posts.json").read_bytes())
    assert record["posts"][0]["steps"][0]["remote"]["found_by"] == "label"


def test_a_failing_finding_is_tried_a_bounded_number_of_times(tmp_path: Path) -> None:
    inv = Investigator()
    inv.fail = {A}
    out = tmp_path / "out"
    for _ in range(MAX_ATTEMPTS + 2):
        result = run_scheduled(out, refs(A, B), investigate=inv, echo=str)
    assert inv.runs.count(A) == MAX_ATTEMPTS and inv.runs.count(B) == 1
    assert result.lines == [
        f"skipped {A}: failed {MAX_ATTEMPTS} times (last: cell 7 failed for {A}): not tried again until it changes or a run is forced"
    ]
    updated = run_scheduled(out, refs(A, count=9), investigate=inv, echo=str)  # GuardDuty saw more
    assert inv.runs.count(A) == MAX_ATTEMPTS + 1 and updated.done[A] == ["failed"]


def test_an_updated_finding_is_investigated_again(tmp_path: Path) -> None:
    inv = Investigator()
    out = tmp_path / "out"
    run_scheduled(out, refs(A, count=3), investigate=inv, echo=str)
    lines: list[str] = []
    run_scheduled(out, refs(A, count=5), investigate=inv, echo=lines.append)
    assert inv.runs == [A, A]
    assert lines == [
        f"investigating {A} (the finding was updated: count 3 → 5) …",
        f"ok {A}: {out / f'finding-{A}' / 'report.html'}",
    ]


def test_a_damaged_report_is_made_again(tmp_path: Path) -> None:
    inv = Investigator()
    out = tmp_path / "out"
    run_scheduled(out, refs(A), investigate=inv, echo=str)
    (out / f"finding-{A}" / "report.html").write_text("truncated")
    run_scheduled(out, refs(A), investigate=inv, echo=str)
    assert inv.runs == [A, A]


def test_a_second_run_at_the_same_time_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with (
        RunState.open(out),
        pytest.raises(StateBusyError, match="another torinvest run is working in"),
    ):
        run_scheduled(out, refs(A), investigate=Investigator(), echo=str)


def test_a_post_failure_is_retried_by_the_next_run(
    jira: FakeJira, tmp_path: Path, ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a create answered 5xx may have been made: on Jira Cloud the next post makes it only once
    # the label search has had the time to show it (test_maybe_posted.py); the next scheduled
    # run (every 15 minutes) comes after that
    from torinvest.post.jira import JiraNewIssue

    monkeypatch.setattr(JiraNewIssue, "SEARCH_LAG", 0.0)
    inv = Investigator()
    out = tmp_path / "out"
    jira.fail("create_issue", 503, body="")
    first = run_scheduled(
        out,
        refs(A),
        investigate=inv,
        post=poster(jira, ledger),
        templates=["jira-new:SEC"],
        echo=str,
    )
    assert first.failed == [A] and first.done[A] == ["investigated", "post failed jira-new:SEC"]
    state = json.loads((out / "state.json").read_text())
    assert state["findings"][A]["posts"]["jira-new:SEC"]["status"] == "failed"
    jira.clear_failures()
    second = run_scheduled(
        out,
        refs(A),
        investigate=inv,
        post=poster(jira, ledger),
        templates=["jira-new:SEC"],
        echo=str,
    )
    assert second.done[A] == ["posted jira-new:SEC"] and inv.runs == [A]
    assert len([k for k in jira.issues if k != "SEC-1"]) == 1


def test_a_template_whose_variables_are_missing_leaves_the_others_posted(
    jira: FakeJira, servicenow: FakeServiceNow, tmp_path: Path, ledger: Path
) -> None:
    """The env file of a scheduled run lacks one template's secret: that template is NOT
    POSTED, naming the variable, the other templates post all the same, and once the secret is
    there the next run posts the missing one alone (the posted one is not posted twice)."""
    env = variables(jira, servicenow)
    token = env.pop("JIRA_API_TOKEN")
    env_file = tmp_path / "post.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    env_file.chmod(0o600)
    sn = f"servicenow:incident:{SYS_ID}"
    args = argparse.Namespace(
        post_each=["jira-new:SEC", sn], env_file=str(env_file), post_with_csv=False, ledger=ledger
    )
    inv, out, lines = Investigator(), tmp_path / "out", []
    first = run_scheduled(
        out,
        refs(A),
        investigate=inv,
        post=batch_poster(args, io.StringIO()),
        templates=args.post_each,
        echo=lines.append,
    )
    assert first.done[A] == ["investigated", "post failed jira-new:SEC", f"posted {sn}"]
    assert first.failed == [A]  # the run says a report was not posted
    assert (
        f"NOT POSTED {A}: jira-new:SEC: JIRA_API_TOKEN not set: not posted (set it in the "
        "environment or in the file given with --env-file (never on the command line))"
    ) in lines
    assert len(servicenow.calls("update_record")) == 1
    assert [k for k in jira.issues if k != "SEC-1"] == []
    posts = json.loads((out / "state.json").read_text())["findings"][A]["posts"]
    assert posts["jira-new:SEC"]["status"] == "failed" and posts[sn]["status"] == "posted"
    assert "JIRA_API_TOKEN not set" in posts["jira-new:SEC"]["line"]
    assert "JIRA_API_TOKEN" not in posts[sn]["line"]

    env_file.write_text(env_file.read_text() + f"JIRA_API_TOKEN={token}\n")
    second = run_scheduled(
        out,
        refs(A),
        investigate=inv,
        post=batch_poster(args, io.StringIO()),
        templates=args.post_each,
        echo=str,
    )
    assert second.done[A] == ["posted jira-new:SEC"] and second.failed == []
    assert len([k for k in jira.issues if k != "SEC-1"]) == 1
    assert len(servicenow.calls("update_record")) == 1 and inv.runs == [A]


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("x", "its entry is str, not an object"),
        ({"status": "failed", "attempts": "x"}, "attempts 'x' is not a count"),
        ({"status": "done"}, "status 'done' is not one of"),
        ({"status": "reported", "finding": [1]}, "finding is list, not an object"),
        ({"status": "reported", "posts": []}, "posts is list, not an object"),
    ],
)
def test_a_finding_entry_the_state_does_not_write_is_said_and_rebuilt(
    jira: FakeJira,
    tmp_path: Path,
    ledger: Path,
    entry: object,
    why: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A state file whose JSON holds a finding's entry of the wrong shape (hand-edited, another
    tool's): that entry is said and left out — the finding rebuilt from its folder as when the
    file is moved aside, never posted twice — and the other findings' entries are kept (was: a
    traceback, every run)."""
    inv, out = Investigator(), tmp_path / "out"
    kw = {"investigate": inv, "post": poster(jira, ledger), "templates": ["jira-new:SEC"]}
    run_scheduled(out, refs(A, B), echo=str, **kw)  # type: ignore[arg-type]
    doc = json.loads((out / "state.json").read_text())
    doc["findings"][A] = entry
    (out / "state.json").write_text(json.dumps(doc))
    lines: list[str] = []
    result = run_scheduled(out, refs(A, B), echo=lines.append, **kw)  # type: ignore[arg-type]
    said = f"state file: {out / 'state.json'}: finding {A}: {why}"
    assert [line for line in lines if line.startswith("state file:")] == [
        next(line for line in lines if line.startswith(said))
    ]
    assert "its entry is left out and the finding taken as new to this state file" in lines[0]
    # said once: not again as a warning, which the command prints on stderr beside the line
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and why in r.getMessage()]
    assert inv.runs == [A, B] and result.failed == []  # complete reports: not made again
    assert len([k for k in jira.issues if k != "SEC-1"]) == 2  # not posted twice
    after = json.loads((out / "state.json").read_text())["findings"]
    assert after[A]["status"] == "reported"
    assert after[B]["report"] == doc["findings"][B]["report"]  # kept, not rebuilt
    assert after[B]["posts"]["jira-new:SEC"]["status"] == "already-posted"


@pytest.mark.parametrize("runs", [5, "x", {"a": 1}])
def test_a_runs_history_that_is_not_a_list_is_started_again(tmp_path: Path, runs: object) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "state.json").write_text(json.dumps({"format": 1, "findings": {}, "runs": runs}))
    lines: list[str] = []
    run_scheduled(out, refs(A), investigate=Investigator(), echo=lines.append)
    assert lines[0].endswith("'runs' is not a list: the runs' history is started again")
    assert len(json.loads((out / "state.json").read_text())["runs"]) == 1


@pytest.mark.parametrize("fmt", [2, "1", True, None])
def test_a_state_file_of_another_format_is_refused_and_left_as_it_is(
    tmp_path: Path, fmt: object
) -> None:
    """Another version's state file is not read as this one's (nor rewritten by it)."""
    out = tmp_path / "out"
    out.mkdir()
    text = json.dumps({"format": fmt, "findings": {A: {"status": "reported"}}, "runs": []})
    (out / "state.json").write_text(text)
    inv = Investigator()
    with pytest.raises(InputError, match=r"state\.json is format .*reads format 1 only") as e:
        run_scheduled(out, refs(A), investigate=inv, echo=str)
    assert "run the torinvest that wrote it, or move it aside" in (e.value.hint or "")
    assert inv.runs == [] and (out / "state.json").read_text() == text


def test_a_finding_no_longer_tried_stays_failed_in_the_index_and_the_exit_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After MAX_ATTEMPTS failed runs a finding is not tried again — and still has no report:
    the index and the table list it ``failed`` with its last error, and the command exits 6,
    every run until it changes or a run is forced (was: ``skipped``, no error, exit 0 — an
    unattended run read as if all were done)."""
    from tests.post.test_all_open_reading import F1, F2, SAMPLE, _writes_reports
    from torinvest.cli import main
    from torinvest.post import batch as post_batch

    def investigate(finding_id: str, folder: Path, **_: object) -> None:
        if finding_id == F1:
            raise TorinvestError("cell 7 failed")
        _writes_reports(finding_id, folder)

    monkeypatch.setattr(post_batch, "_investigate", investigate)
    out = tmp_path / "reports"
    for run in range(MAX_ATTEMPTS + 2):
        stdout, stderr = io.StringIO(), io.StringIO()
        argv = ["investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out)]
        code = main([*argv, "--ledger", str(tmp_path / "l.jsonl")], out=stdout, err=stderr)
        assert code == 6, (run, stderr.getvalue())
        row = next(line for line in stdout.getvalue().splitlines() if F1 in line)
        assert row.startswith("failed "), (run, row)
    said = stderr.getvalue()
    assert f"skipped {F1}: failed {MAX_ATTEMPTS} times (last: cell 7 failed)" in said
    assert (
        f"torinvest: error: 1 of 2 report(s) failed (1 of them not tried again after "
        f"{MAX_ATTEMPTS} failed runs: {F1})"
    ) in said
    assert "then run with --force" in said
    assert row.endswith(f"(failed {MAX_ATTEMPTS} times (last: cell 7 failed): not tried again "
                        "until it changes or a run is forced)")  # fmt: skip
    index = {
        f["finding_id"]: f for f in orjson.loads((out / "index.json").read_bytes())["findings"]
    }
    assert (index[F1]["status"], index[F1]["error"]) == ("failed", "cell 7 failed")
    assert index[F2]["status"] in ("ok", "skipped")
    assert "cell 7 failed" in (out / "index.html").read_text()


def test_a_run_that_could_not_record_its_end_is_marked_interrupted_by_the_next_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run the disk filled under (or ``kill -9``) cannot record its end: its entry stayed
    ``running`` for ever. The next run, holding the lock, marks it ``interrupted`` with when
    it noticed, says so once, and finishes the finding it left running."""
    from torinvest.post import state as state_module

    out = tmp_path / "out"
    real = state_module.write_atomic

    class DiskFills(Investigator):
        def __call__(self, finding_id: str, folder: Path) -> None:
            super().__call__(finding_id, folder)
            if finding_id == B:  # the disk is full from here on: no state is written

                def full(*_: object, **__: object) -> None:
                    raise OSError(28, "No space left on device")

                monkeypatch.setattr(state_module, "write_atomic", full)

    with pytest.raises(InputError, match=r"cannot write the state file .*No space left"):
        run_scheduled(out, refs(A, B), investigate=DiskFills(), echo=str)
    left = orjson.loads((out / "state.json").read_bytes())
    assert [r["status"] for r in left["runs"]] == ["running"]  # as the dead run left it
    started = left["runs"][0]["started_at"]
    assert left["findings"][B]["status"] == "running"

    monkeypatch.setattr(state_module, "write_atomic", real)  # space freed
    lines: list[str] = []
    inv = Investigator()
    run_scheduled(out, refs(A, B), investigate=inv, echo=lines.append)
    said = [line for line in lines if "did not finish" in line]
    assert said == [
        f"state file: {out / 'state.json'}: the run started at {started} did not finish (it "
        "was killed, crashed, or could not write its end: a full disk?): marked interrupted; "
        "the findings it left running are investigated again"
    ]
    assert inv.runs == [B]  # the one it left running, finished
    runs = orjson.loads((out / "state.json").read_bytes())["runs"]
    assert [r["status"] for r in runs] == ["interrupted", "done"]
    assert runs[0]["noticed_at"] >= started and runs[0]["finished_at"] is None

    lines.clear()
    run_scheduled(out, refs(A, B), investigate=inv, echo=lines.append)
    assert not [line for line in lines if "did not finish" in line]  # said once
    runs = orjson.loads((out / "state.json").read_bytes())["runs"]
    assert [r["status"] for r in runs] == ["interrupted", "done", "done"]


def test_a_worker_killed_beside_others_counts_against_its_finding_alone(tmp_path: Path) -> None:
    """``--jobs 2``: one worker is killed (SIGKILL, as by the out-of-memory killer) while
    another finding's investigation runs beside it. The pool breaks and ends both; which one
    died is not known, so each is investigated again alone in the same run: the other's
    report is made (no failed attempt against it), the killed one's failure is counted once
    and says its worker was killed (was: a failed attempt against both, every such run,
    until the innocent one was given up after 3)."""
    import functools

    from tests.post.pool_workers import killed_by_oom

    out, marks = tmp_path / "out", tmp_path / "marks"
    marks.mkdir()
    lines: list[str] = []
    result = run_scheduled(
        out,
        refs(A, B),
        investigate=functools.partial(killed_by_oom, marks=str(marks), victim=A),
        jobs=2,
        echo=lines.append,
    )
    assert result.done == {A: ["failed"], B: ["investigated"]}
    state = orjson.loads((out / "state.json").read_bytes())["findings"]
    assert (state[B]["status"], state[B]["attempts"]) == ("reported", 0)
    assert (state[A]["status"], state[A]["attempts"]) == ("failed", 1)
    assert state[A]["error"] == (
        "the worker process investigating it ended abruptly (exit status -9: killed — by the "
        "out-of-memory killer, or kill -9?)"
    )
    assert (
        "a worker process ended abruptly (exit status -9: killed — by the out-of-memory "
        f"killer, or kill -9?) while 2 findings were being investigated ({A}, {B}); which "
        "one's is not known: each is investigated again, alone, and only the one whose "
        "worker dies alone counts it as a failed attempt"
    ) in lines
    assert f"FAILED {A}: {state[A]['error']}" in lines


def _all_open(out: Path, tmp_path: Path) -> tuple[int, str, str]:
    """``torinvest investigate --all-open`` over the sample case into ``out``: status, stdout,
    stderr."""
    from tests.post.test_all_open_reading import SAMPLE
    from torinvest.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    argv = ["investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out)]
    code = main([*argv, "--ledger", str(tmp_path / "l.jsonl")], out=stdout, err=stderr)
    return code, stdout.getvalue(), stderr.getvalue()


def test_the_index_is_written_under_the_lock_and_names_its_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run that starts while another writes its index is refused: the older run's index
    never lands on a newer run's (was: written after the lock was released, so a run starting
    then had its index replaced by the older state's). The index names the run that wrote
    it, as the state file's ``runs`` records it."""
    from tests.post.test_all_open_reading import _writes_reports
    from torinvest.errors import EXIT_BUSY
    from torinvest.post import batch as post_batch

    monkeypatch.setattr(post_batch, "_investigate", _writes_reports)
    out = tmp_path / "reports"
    real = post_batch.write_index
    meanwhile: list[tuple[int, str, str]] = []
    started: list[bool] = []

    def write_index(*args: object, **kwargs: object) -> object:
        if not started:  # a scheduled run starts as this one writes its index
            started.append(True)
            meanwhile.append(_all_open(out, tmp_path))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(post_batch, "write_index", write_index)
    code, _, said = _all_open(out, tmp_path)
    assert code == 0, said
    ((busy, _, refused),) = meanwhile
    assert busy == EXIT_BUSY and "another torinvest run is working in" in refused
    runs = orjson.loads((out / "state.json").read_bytes())["runs"]
    assert [r["status"] for r in runs] == ["done"]
    index = orjson.loads((out / "index.json").read_bytes())
    assert index["run"] == {"started_at": runs[-1]["started_at"], "state": "state.json"}
    page = (out / "index.html").read_text()
    assert (
        f"Written at {index['generated_at']} by the run started at {runs[-1]['started_at']}."
    ) in page


@pytest.mark.parametrize(
    ("failing", "left"),
    [
        ("index.json", "index.json and index.html are left as they were"),
        ("index.html", "index.json is this run's, but index.html is left as it was"),
    ],
)
def test_an_index_that_cannot_be_written_says_which_run_the_one_left_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str, left: str
) -> None:
    """Disk full as the index is written: the command fails saying so, and which run's index
    is left in the folder (never the earlier index looking current without a word); the state
    file records the run's end with that error, and the next run writes the index."""
    from tests.post.test_all_open_reading import _writes_reports
    from torinvest.post import batch as post_batch
    from torinvest.report import batch as report_batch

    monkeypatch.setattr(post_batch, "_investigate", _writes_reports)
    out = tmp_path / "reports"
    assert _all_open(out, tmp_path)[0] == 0
    first = orjson.loads((out / "index.json").read_bytes())
    real = report_batch._write_bytes

    def full(path: Path, data: bytes) -> None:
        if path.name == failing:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(report_batch, "_write_bytes", full)
    code, printed, said = _all_open(out, tmp_path)
    assert code != 0
    # what the run did to each finding is still said, line by line, without an index line
    lines = [line.split() for line in printed.splitlines()]
    assert [(w[0] in {"ok", "skipped"}, w[1]) for w in lines] == [
        (True, e["finding_id"]) for e in first["findings"]
    ]
    assert (
        f"torinvest: error: cannot write the index {out / failing}: No space left on device: "
        f"{left} (written at {first['generated_at']} by the run started at "
        f"{first['run']['started_at']}): "
    ) in said.replace("\n", " ")
    runs = orjson.loads((out / "state.json").read_bytes())["runs"]
    assert runs[-1]["status"] == "interrupted"
    assert runs[-1]["error"].startswith(f"cannot write the index {out / failing}")

    monkeypatch.setattr(report_batch, "_write_bytes", real)
    code, _, said = _all_open(out, tmp_path)
    assert code == 0 and "did not finish" not in said
    index = orjson.loads((out / "index.json").read_bytes())
    runs = orjson.loads((out / "state.json").read_bytes())["runs"]
    assert index["run"]["started_at"] == runs[-1]["started_at"]


def test_an_index_not_written_after_an_interrupt_is_said_and_the_run_ends_interrupted(
    tmp_path: Path,
) -> None:
    """Ctrl-C, then the index cannot be written: the run says why and still ends as an
    interrupted run (KeyboardInterrupt, exit 130), never as that error."""
    from torinvest.errors import ReportError

    inv = Investigator()
    inv.interrupt = {B}
    lines: list[str] = []
    ended: list[bool] = []

    def finish(result: object, interrupted: bool) -> None:
        ended.append(interrupted)
        raise ReportError("cannot write the index OUT/index.html: No space left on device")

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_scheduled(out, refs(A, B), investigate=inv, echo=lines.append, finish=finish)
    assert ended == [True]
    assert "cannot write the index OUT/index.html: No space left on device" in lines
    runs = orjson.loads((out / "state.json").read_bytes())["runs"]
    assert [r["status"] for r in runs] == ["interrupted"]
