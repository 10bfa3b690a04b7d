"""The ``torinvest`` command: ``post``, ``investigate --post``, ``investigate --all-open --jobs N
--post-each TEMPLATE`` and the state file, through :func:`torinvest.cli.main`.

The papermill runs are few: the module-scoped ``runs`` runs ``--all-open`` over the sample case
(two open findings) once with ``--jobs 1`` and once with ``--jobs 2``; the other tests post
copies of those folders, and one finishes an interrupted finding with a real kernel.
"""

from __future__ import annotations

import contextlib
import html.parser
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from tests.fake_tickets import FakeJira
from tests.once import made_once
from tests.post.conftest import variables
from tests.sample_window import COVERED_FLAGS
from torinvest.case import sample_case
from torinvest.cli import main
from torinvest.errors import EXIT_REFUSED
from torinvest.post.jira import finding_label
from torinvest.report import folder_state

SAMPLE = sample_case().root
FINDINGS = ("6dde0a8f8d46f6acad893b30f905e97c", "7f176d541deef88b1ad653b9ed646f29")
F1, F2 = FINDINGS


def run(*argv: str) -> tuple[int, str, str]:
    """The command's status, stdout and stderr (argparse's usage errors included)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            code = main(list(argv), out=out, err=err)
    except SystemExit as e:
        code = int(e.code or 0)
    return code, out.getvalue(), err.getvalue()


@dataclass(frozen=True)
class Runs:
    root: Path
    ledger: Path

    def out(self, jobs: int) -> Path:
        return self.root / f"jobs{jobs}"

    def said(self, jobs: int) -> tuple[int, str, str]:
        return orjson.loads((self.root / f"jobs{jobs}.said.json").read_bytes())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """``investigate --all-open`` over the sample case, with --jobs 1, then with --jobs 2: four
    report kernels, run once for every xdist worker (:func:`tests.once.made_once`; read only,
    the tests that change a report copy it: :func:`copy_of`)."""

    def make(root: Path) -> None:
        r = Runs(root, root / "ledger.jsonl")
        for jobs in (1, 2):
            said = run(
                "investigate", "--all-open", "--case", str(SAMPLE), "--out", str(r.out(jobs)),
                "--jobs", str(jobs), "--ledger", str(r.ledger), *COVERED_FLAGS,
            )  # fmt: skip
            (root / f"jobs{jobs}.said.json").write_bytes(orjson.dumps(said))

    root = made_once(tmp_path_factory, "all-open", make)
    return Runs(root, root / "ledger.jsonl")


def copy_of(runs: Runs, tmp_path: Path, jobs: int = 1) -> Path:
    return Path(shutil.copytree(runs.out(jobs), tmp_path / "out", symlinks=True))


def env_file(tmp_path: Path, jira: FakeJira) -> Path:
    path = tmp_path / "post.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in variables(jira).items()))
    path.chmod(0o600)
    return path


class _Text(html.parser.HTMLParser):
    """The text a reader sees (no script or style)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style") and self._skip > 0

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(folder: Path) -> list[str]:
    """report.html's text, the times of the run itself (the day it ran: "Generated …", the
    revoke-sessions policy's "now") replaced: they are all that may differ between runs."""
    p = _Text()
    p.feed((folder / "report.html").read_text())
    day = json.loads((folder / "summary.json").read_text())["generated"]["at"][:10]
    stamp = re.compile(re.escape(day) + r"[ T]\d\d:\d\d:\d\d(\.\d+)?( UTC|Z)?")
    return [stamp.sub("<now>", t).replace(str(folder.parent), "OUT") for t in p.parts]


def summary_without_time(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    data["generated"].pop("at")
    return data  # type: ignore[no-any-return]


@pytest.mark.slow
def test_jobs_2_writes_the_same_reports_as_jobs_1(runs: Runs) -> None:
    (code1, out1, err1), (code2, out2, err2) = runs.said(1), runs.said(2)
    assert (code1, code2) == (0, 0), err1 + err2
    for jobs, said in ((1, out1), (2, out2)):
        lines = said.replace(str(runs.out(jobs)), "OUT").splitlines()
        assert lines == [
            f"ok      {F1}  AKIATFQR7NSCUXC3DDDP  OUT/finding-{F1}/report.html",
            f"ok      {F2}  AKIATFQR7NSCUXC3DDDP  OUT/finding-{F2}/report.html",
            "index: OUT/index.html",
        ]
    assert err1.count("investigating ") == err2.count("investigating ") == 2
    for fid in FINDINGS:
        a, b = runs.out(1) / f"finding-{fid}", runs.out(2) / f"finding-{fid}"
        assert folder_state(a, fid).complete and folder_state(b, fid).complete
        assert summary_without_time(a / "summary.json") == summary_without_time(b / "summary.json")
        for name in ("events.csv", "per_ip.csv"):
            assert (a / name).read_bytes() == (b / name).read_bytes()
        text = visible_text(a)
        assert text == visible_text(b) and len(text) > 100
    index = [orjson.loads((runs.out(j) / "index.json").read_bytes()) for j in (1, 2)]
    assert index[0]["findings"] == index[1]["findings"]
    state = [orjson.loads((runs.out(j) / "state.json").read_bytes()) for j in (1, 2)]
    for s in state:
        assert {k: v["status"] for k, v in s["findings"].items()} == dict.fromkeys(
            FINDINGS, "reported"
        )
        assert [r["status"] for r in s["runs"]] == ["done"]


@pytest.mark.slow
def test_a_second_run_does_nothing_new(runs: Runs, tmp_path: Path) -> None:
    out = copy_of(runs, tmp_path)
    before = {f: (out / f"finding-{f}" / "manifest.json").read_bytes() for f in FINDINGS}
    code, said, err = run(
        "investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out), "--jobs", "2",
        "--ledger", str(runs.ledger), *COVERED_FLAGS,
    )  # fmt: skip
    assert code == 0, err
    assert said.startswith(f"skipped  {F1}") and "investigating" not in err
    assert all((out / f"finding-{f}" / "manifest.json").read_bytes() == before[f] for f in before)


@pytest.mark.slow
def test_post_each_jira_new_creates_then_updates_the_same_issue(
    runs: Runs, jira: FakeJira, tmp_path: Path
) -> None:
    out = copy_of(runs, tmp_path)
    ledger = tmp_path / "ledger.jsonl"
    base = [
        "investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out),
        "--post-each", "jira-new:sec", "--env-file", str(env_file(tmp_path, jira)),
        "--ledger", str(ledger), *COVERED_FLAGS,
    ]  # fmt: skip

    code, said, err = run(*base)
    assert code == 0, err
    assert "investigating" not in err  # the reports are complete: posted, not made again
    made = {k: i for k, i in jira.issues.items() if k != "SEC-1"}
    assert len(made) == 2 and jira.violations == []
    key = {}
    for fid in FINDINGS:
        (issue,) = [i for i in made.values() if finding_label(fid) in i["fields"]["labels"]]
        key[fid] = issue["key"]
        assert f"skipped  {fid}" in said and "(posted jira-new:SEC)" in said
        attached = sorted(a["data"] for a in issue["attachments"])
        folder = out / f"finding-{fid}"
        assert attached == sorted(
            [(folder / "report.html").read_bytes(), (folder / "summary.json").read_bytes()]
        )
    requests = len(jira.requests)

    code, said, err = run(*base)  # nothing changed: nothing posted
    assert code == 0, err
    assert "posted" not in said and jira.calls("create_issue")[2:] == []
    assert [r.operation for r in jira.requests[requests:]] == []

    code, _, err = run(
        "verdict", F1, "--status", "malicious", "--analyst", "ana", "--rationale",
        "key used from Tor to create an admin", "--ledger", str(ledger),
    )  # fmt: skip
    assert code == 0, err
    code, said, err = run(*base)  # the verdict changed the answer: F1's issue is updated
    assert code == 0, err
    assert f"skipped  {F1}" in said and "(posted jira-new:SEC)" in said
    assert [k for k in jira.issues if k != "SEC-1"] == list(made)  # no new issue
    issue = jira.issues[key[F1]]
    text = issue["fields"]["description"]["content"][0]["content"][0]["text"]
    assert "Verdict: malicious by ana" in text
    assert len(issue["attachments"]) == 2  # the files did not change: not attached again
    (comment,) = issue["comments"]
    assert "Verdict: malicious" in comment["body"]["content"][0]["content"][0]["text"]
    assert jira.issues[key[F2]]["comments"] == []
    state = orjson.loads((out / "state.json").read_bytes())
    assert state["findings"][F1]["posts"]["jira-new:SEC"]["status"] == "posted"


@pytest.mark.slow
def test_an_interrupted_all_open_is_finished_by_the_next_run(runs: Runs, tmp_path: Path) -> None:
    """The state a run killed while investigating F1 leaves: F1 ``running``, its folder
    without a manifest (the run writes it last), the run ``interrupted``."""
    out = copy_of(runs, tmp_path)
    state = orjson.loads((out / "state.json").read_bytes())
    state["findings"][F1]["status"] = "running"
    state["runs"][-1]["status"] = "interrupted"
    (out / "state.json").write_bytes(orjson.dumps(state))
    (out / f"finding-{F1}" / "manifest.json").unlink()
    f2 = (out / f"finding-{F2}" / "manifest.json").read_bytes()

    code, said, err = run(
        "investigate", "--all-open", "--case", str(SAMPLE), "--out", str(out),
        "--ledger", str(tmp_path / "ledger.jsonl"), *COVERED_FLAGS,
    )  # fmt: skip
    assert code == 0, err
    assert f"investigating {F1} (interrupted in an earlier run: finishing it) …" in err
    assert f"investigating {F2}" not in err
    assert said.splitlines()[:2] == [
        f"ok       {F1}  AKIATFQR7NSCUXC3DDDP  {out / f'finding-{F1}' / 'report.html'}",
        f"skipped  {F2}  AKIATFQR7NSCUXC3DDDP  {out / f'finding-{F2}' / 'report.html'}",
    ]
    assert folder_state(out / f"finding-{F1}", F1).complete
    assert (out / f"finding-{F2}" / "manifest.json").read_bytes() == f2
    state = orjson.loads((out / "state.json").read_bytes())
    assert state["findings"][F1]["status"] == "reported"
    assert [r["status"] for r in state["runs"]] == ["interrupted", "done"]


@pytest.mark.slow
def test_post_twice_makes_one_set_of_remote_objects(
    runs: Runs, jira: FakeJira, tmp_path: Path
) -> None:
    folder = copy_of(runs, tmp_path) / f"finding-{F1}"
    argv = [
        "post", str(folder), "--to", "jira:sec-1", "--env-file", str(env_file(tmp_path, jira)),
        "--ledger", str(tmp_path / "ledger.jsonl"),
    ]  # fmt: skip
    code, said, err = run(*argv)
    assert code == 0, err
    assert said.startswith("posted to jira:SEC-1: 2 file(s) attached")
    code, said, err = run(*argv)
    assert code == 0, err
    assert said.startswith("already posted to jira:SEC-1")
    issue = jira.issues["SEC-1"]
    assert len(issue["attachments"]) == 2 and len(issue["comments"]) == 1
    assert [len(jira.calls(op)) for op in ("attach", "comment")] == [2, 1]
    ledger = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in ledger] == ["post"]


def test_investigate_post_posts_the_finished_report(
    runs: Runs, jira: FakeJira, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``investigate FINDING --post DEST``: the report the run wrote is posted (the run is a
    copy of a real one here: the kernel is the module fixture's)."""
    from torinvest import report

    done = runs.out(1) / f"finding-{F1}"

    def copying(
        finding_id: str, out: str, options: object, fetched: object = None
    ) -> report.ReportRun:
        shutil.copytree(done, out, dirs_exist_ok=True)
        return report.ReportRun(  # what a run returns, of the copy
            finding_id=finding_id,
            out=Path(out),
            status="ok",
            notebook=Path(out) / "report.ipynb",
            html=Path(out) / "report.html",
            summary=Path(out) / "summary.json",
            summary_data=json.loads((Path(out) / "summary.json").read_text()),
        )

    monkeypatch.setattr(report, "run_report", copying)
    out = tmp_path / "r"
    code, said, err = run(
        "investigate", F1, "--case", str(SAMPLE), "--out", str(out), "--post", "jira:SEC-1",
        "--env-file", str(env_file(tmp_path, jira)), "--ledger", str(tmp_path / "l.jsonl"),
    )  # fmt: skip
    assert code == 0, err
    assert "posted to jira:SEC-1: 2 file(s) attached" in said
    assert [a["data"] for a in jira.issues["SEC-1"]["attachments"]] == [
        (out / "report.html").read_bytes(),
        (out / "summary.json").read_bytes(),
    ]


@pytest.mark.parametrize(
    ("argv", "code", "said"),
    [
        (["investigate", F1, "--jobs", "2"], 2, "--jobs goes with --all-open"),
        (
            ["investigate", "--all-open", "--jobs", "0"],
            2,
            "0 is less than 1 (give a whole number of reports run at once from 1 to 16",
        ),
        (["investigate", "--all-open", "--jobs", "two"], 2, "not a number: 'two'"),
        (["investigate", F1, "--post-each", "jira-new:SEC"], 2, "--post-each goes with --all-open"),
        (["investigate", "--all-open", "--post", "jira:SEC-1"], 2, "--post is for one finding"),
        (["investigate", F1, "--post", "jira:sec"], 2, "bad destination 'jira:sec'"),
        (["investigate", F1, "--post-with-csv"], 2, "--post-with-csv goes with --post"),
        (["investigate", F1, "--post", "jira:SEC-1"], EXIT_REFUSED, "jira:SEC-1: JIRA_URL not set"),
        (["post", "DIR", "--to", "nowhere:1"], 2, "unknown destination 'nowhere:1'"),
    ],
)
def test_bad_running_and_posting_options_fail_before_any_kernel(
    argv: list[str], code: int, said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("JIRA_URL", "JIRA_EMAIL", "JIRA_API_TOKEN", "JIRA_PAT"):
        monkeypatch.delenv(name, raising=False)
    got, out, err = run(*argv, *(["--case", str(SAMPLE), "--out", str(tmp_path / "o")]
                              if argv[0] == "investigate" else []))  # fmt: skip
    assert got == code and said in err and out == ""
    assert not (tmp_path / "o").exists()  # nothing ran
