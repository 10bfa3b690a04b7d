"""The run report: summary.json against its contract, the HTML (no code, nothing loaded from
elsewhere, attacker text escaped), a failing cell still leaving both artifacts, the batch index."""

from __future__ import annotations

import html as _html
import re
import shutil
import sys
from pathlib import Path

import nbformat
import orjson
import pandas as pd
import pytest

from tests.offline_regions import SAMPLE_REGIONS, offline_unfolded
from torinvest import display, report
from torinvest.case import sample_case
from torinvest.children import Terminated
from torinvest.errors import DataIssue, InputError
from torinvest.investigation import report_dir_name
from torinvest.tor import OR_ONLY_LABEL, or_only_note
from torinvest.verdict import read_ledger

STORY = orjson.loads((sample_case().root / "STORY.json").read_bytes())
FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
OTHER_FINDING = "7f176d541deef88b1ad653b9ed646f29"
KEY = STORY["suspect_key"]["access_key_id"]
SUMMARY_KEYS = [
    "torinvest_version",
    "generated",
    "finding",
    "key",
    "window",
    "events",
    "source_ips",
    "sensitive_events",
    "derived_keys",
    "derived_keys_search",
    "signals",
    "verdict",
    "data_issues",
    "related_findings",
    "related_findings_search",
    "ip_pivot",
    "ip_pivot_search",
]
#: What a run writes: the required keys and the optional ones older summaries lack
#: (``baseline``, ``reading_notes``, ``activity_issues``, ``access``, ``data_events``).
WRITTEN_KEYS = [
    *SUMMARY_KEYS[:8],
    "lists",
    *SUMMARY_KEYS[8:10],
    "console_passwords",  # console passwords the key set (optional: older summaries lack it)
    "console_passwords_unnamed",  # passwords set for a user the call does not name (optional)
    "key_origin",  # who minted the key (optional: summaries written before it have none)
    SUMMARY_KEYS[10],
    "baseline",
    *SUMMARY_KEYS[11:13],
    "reading",
    "reading_notes",
    "activity_issues",
    "access",
    *SUMMARY_KEYS[13:],
    "data_events",
    "key_last_used",
    "impaired_logging",
]
PAYLOAD = "<script>alert(1)</script>"


def _case() -> str:
    return str(sample_case().root)


# --------------------------------------------------------------------------------------------
# the contract, without a kernel
# --------------------------------------------------------------------------------------------
def _minimal_summary() -> dict:
    return {
        "torinvest_version": "0.1.0",
        "generated": {"at": "2023-07-12T09:00:00Z", "by": "ana@ws1", "sources": []},
        "finding": {
            "id": FINDING,
            "type": "Recon:IAMUser/TorIPCaller",
            "account_id": None,
            "region": "us-east-1",
            "severity": 2.0,
            "first_seen": "2023-07-10T12:17:08Z",
            "last_seen": None,
            "count": 1,
            "tor_ip": None,
        },
        "key": {
            "access_key_id": KEY,
            "kind": "long-term",
            "principal_id": None,
            "user_name": None,
            "user_type": None,
        },
        "window": {"start": "2023-06-26T12:17:08Z", "end": "2023-07-17T12:20:04.5Z"},
        "events": {"total": 0, "failed": 0, "from_tor": 0, "tor_unknown": 0},
        "source_ips": [],
        "sensitive_events": [],
        "derived_keys": [],
        "derived_keys_search": {"status": "followed", "why": None},
        "signals": [],
        "verdict": {"status": "pending", "analyst": None, "rationale": None, "recorded_at": None},
        "data_issues": [],
        "related_findings": [],
        "related_findings_search": {
            "status": "not looked",
            "sources": [],
            "not_searched": [],
            "why": "not asked for",
        },
        "ip_pivot": [],
        "ip_pivot_search": {
            "status": "not looked",
            "ips": [],
            "sources": [],
            "issues": [],
            "why": "not asked for",
        },
    }


def test_schema_accepts_the_contract_and_names_each_break() -> None:
    good = _minimal_summary()
    assert report.summary_problems(good) == []
    assert list(report.SUMMARY_SCHEMA["required"]) == SUMMARY_KEYS
    bad = _minimal_summary()
    del bad["window"]
    bad["key"]["kind"] = "forever"
    bad["events"]["total"] = -1
    bad["verdict"]["status"] = "guilty"
    bad["finding"]["first_seen"] = "10 July 2023"
    bad["generated"]["at"] = "yesterday"
    bad["extra"] = 1
    problems = report.summary_problems(bad)
    text = "\n".join(problems)
    for where in (
        "(top)",
        "key/kind",
        "events/total",
        "verdict/status",
        "finding/first_seen",
        "generated/at",
    ):
        assert where in text, where
    with pytest.raises(report.ReportError, match="breaks its contract"):
        report.check_summary_data(bad)


def test_kernel_is_the_running_interpreter() -> None:
    km = report.kernel_manager_class()(kernel_name=report.KERNEL_NAME)
    assert km.kernel_spec.argv[0] == sys.executable
    assert km.kernel_spec.argv[1:3] == ["-m", "ipykernel_launcher"]


def test_a_kernel_that_dies_as_it_starts_is_started_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """jupyter_client picks free ports and the kernel binds them later: another process can take
    one in between (``Address already in use``) and the kernel dies before any cell runs. The run
    starts another kernel (new ports) instead of failing the report."""
    from tests.report.taken_port import take_the_first_kernels_port
    from torinvest.report import kernel

    monkeypatch.setattr(kernel, "kernel_manager_class", kernel.kernel_manager_class)
    taken = take_the_first_kernels_port()
    notebook = tmp_path / "in.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("answer = 6 * 7\nanswer")]
    nbformat.write(nb, notebook)
    try:
        failure = kernel.execute(notebook, tmp_path / "out.ipynb", {}, cwd=tmp_path)
    finally:
        for sock in taken:
            sock.close()
    assert taken, "the test did not take the kernel's port"
    assert failure is None
    ran = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert ran.cells[-1].outputs[0]["data"]["text/plain"] == "42"


def test_the_notebook_is_saved_as_each_cell_starts_and_by_nbformat_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The output notebook is on disk as each cell starts and ends (a run killed outright leaves
    every cell that ran), a valid notebook, but not written by ``nbformat.writes`` each time: a
    report's notebook holds megabytes of outputs from its first cells, and validating and
    indenting it in pure Python as each cell starts and ends took two thirds of the command's
    CPU; a long output (plotly.js) is serialized once, not at each later save. The run's last
    write is ``nbformat.writes`` (papermill's, once: the save as the run ends is not written by it
    too): the file it leaves is nbformat's own."""
    from torinvest.report import kernel, saves

    writes: list[object] = []
    nbformat_writes = nbformat.writes

    def counted(nb: nbformat.NotebookNode, *args: object, **kwargs: object) -> str:
        writes.append(nb)
        return nbformat_writes(nb, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(nbformat, "writes", counted)
    serialized: list[int] = []  # orjson's long serializations (the long output's)
    orjson_dumps = orjson.dumps

    def counted_dumps(value: object, *args: object, **kwargs: object) -> bytes:
        data = orjson_dumps(value, *args, **kwargs)  # type: ignore[arg-type]
        if len(data) >= saves.KEPT_CHARS:
            serialized.append(len(data))
        return data

    monkeypatch.setattr(orjson, "dumps", counted_dumps)
    notebook, out, seen = tmp_path / "in.ipynb", tmp_path / "out.ipynb", tmp_path / "seen"
    nb = nbformat.v4.new_notebook()
    long = f"from IPython.display import HTML\nHTML('<b>' + 'x' * {saves.KEPT_CHARS} + '</b>')"
    nb.cells = [
        nbformat.v4.new_code_cell(f"print('first')\n{long}"),
        nbformat.v4.new_code_cell(f"import shutil\nshutil.copy({str(out)!r}, {str(seen)!r})"),
        nbformat.v4.new_code_cell("6 * 7"),
    ]
    nbformat.write(nb, notebook)
    writes.clear()
    assert kernel.execute(notebook, out, {}, cwd=tmp_path) is None

    during = nbformat.reads(seen.read_text(), as_version=4)  # as the second cell ran
    nbformat.validate(during)
    assert during.cells[0].outputs[0]["text"] == "first\n"
    status = [c.metadata.papermill["status"] for c in during.cells]
    assert status == ["completed", "running", "pending"]
    assert len(writes) == 1, "nbformat.writes ran as cells started and ended, or twice at the end"
    assert len(serialized) == 1, "the long output was serialized at each save"
    ran = out.read_text()
    assert ran == nbformat_writes(nbformat.reads(ran, as_version=4))
    assert nbformat.reads(ran, as_version=4).cells[-1].outputs[0]["data"]["text/plain"] == "42"


def test_the_kernel_is_stopped_without_waiting_for_its_exit(tmp_path: Path) -> None:
    """Once the notebook has run, its kernel is killed, not asked to exit and waited for: the
    graceful exit ran its atexit hooks and tore down pandas, plotly and boto3 while the run
    waited (0.4 s on a quiet machine, up to nbclient's 2.5 s and a SIGTERM under load), for
    nothing the report uses. An atexit hook of a cell shows which it was: it never runs."""
    from torinvest.report import kernel

    notebook, marker = tmp_path / "in.ipynb", tmp_path / "exited"
    nb = nbformat.v4.new_notebook()
    hook = f"import atexit, pathlib\natexit.register(pathlib.Path({str(marker)!r}).touch)"
    nb.cells = [nbformat.v4.new_code_cell(hook)]
    nbformat.write(nb, notebook)
    assert kernel.execute(notebook, tmp_path / "out.ipynb", {}, cwd=tmp_path) is None
    assert not marker.exists(), "the kernel was asked to exit and waited for"


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _launches(monkeypatch: pytest.MonkeyPatch, said: list[str]) -> list[int]:
    """Record in ``said`` each kernel launch ("launch") and papermill's run ("papermill"), in
    order; return the launched kernels' process IDs."""
    import papermill

    from torinvest.report import kernel

    made, pids = kernel.kernel_manager_class, []

    def recording(said_file: object = None) -> type:
        class Recording(made(said_file)):  # type: ignore[misc]
            async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: object) -> None:
                said.append("launch")
                await super()._async_launch_kernel(kernel_cmd, **kw)
                pids.append(self.provisioner.pid)

        return Recording

    def execute_notebook(*args: object, **kwargs: object) -> object:
        said.append("papermill")
        return run_papermill(*args, **kwargs)

    run_papermill = papermill.execute_notebook
    monkeypatch.setattr(kernel, "kernel_manager_class", recording)
    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    return pids


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="reads the kernel's state in /proc")
def test_the_kernel_is_started_before_papermill_runs_and_is_the_one_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report's kernel starts before papermill is imported and reads the notebook (it comes
    up meanwhile: 1-2 s of an ``investigate`` that waited for both in turn), and papermill runs
    the notebook in that kernel, starting no other; it is stopped as the run ends."""
    from torinvest.report import kernel

    said: list[str] = []
    pids = _launches(monkeypatch, said)
    notebook = tmp_path / "in.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import os\nprint(os.getpid(), os.getcwd())")]
    nbformat.write(nb, notebook)
    out = tmp_path / "out.ipynb"
    assert kernel.execute(notebook, out, {}, cwd=tmp_path) is None
    assert said == ["launch", "papermill"]
    (output,) = nbformat.read(out, as_version=4).cells[-1].outputs
    assert output["text"] == f"{pids[0]} {tmp_path}\n"  # that kernel, in the folder
    assert not _alive(pids[0])


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="reads the kernel's state in /proc")
@pytest.mark.parametrize("stop", [KeyboardInterrupt, Terminated, OSError])
def test_a_run_stopped_before_papermill_takes_the_kernel_leaves_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop: type[BaseException]
) -> None:
    """Ctrl-C, SIGTERM (:class:`~torinvest.children.Terminated`) or an error while the kernel
    comes up and papermill is not running it yet (importing papermill, reading the notebook):
    the kernel started early is killed, none is left running."""
    from torinvest.report import kernel

    said: list[str] = []
    pids = _launches(monkeypatch, said)

    def stopped(*args: object, **kwargs: object) -> None:
        assert kwargs["km"] is not None and _alive(pids[0])  # the kernel is up, or coming up
        raise stop()

    monkeypatch.setattr(kernel, "_execute", stopped)
    notebook = tmp_path / "in.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    with pytest.raises(stop):
        kernel.execute(notebook, tmp_path / "out.ipynb", {}, cwd=tmp_path)
    assert said == ["launch"] and not _alive(pids[0])


def test_investigate_says_nothing_of_a_kernel_started_again(tmp_path: Path) -> None:
    """Through the CLI: the report whose first kernel died starting is written, exit 0, and the
    analyst reads no ERROR line (papermill logs the dead kernel as one) and no traceback."""
    import subprocess

    from tests.sample_window import COVERED_FLAGS

    out = tmp_path / "r"
    command = ["investigate", "6dde0a8f8d46f6acad893b30f905e97c", "--case", str(sample_case().root)]
    command += ["--out", str(out), "--ledger", str(tmp_path / "l.jsonl"), *COVERED_FLAGS]
    run = subprocess.run(
        [sys.executable, "-m", "tests.report.taken_port", *command],
        cwd=Path(__file__).parents[2],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "ERROR" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert (out / "report.html").is_file(), run.stdout


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads the kernel's fds in /proc")
def test_the_kernel_writes_its_own_output_apart_from_the_analysts_terminal() -> None:
    """What a report kernel prints outside its cells (its log; the tracebacks of a kernel whose
    sockets a stopped run closes under it) goes to the file it is given, never to the stdout or
    stderr the analyst reads (a Ctrl-C'd ``investigate`` printed a kernel's ZMQError traceback)."""
    import asyncio
    import os
    import tempfile

    async def kernel_fds(said: object) -> tuple[str, str]:
        km = report.kernel_manager_class(said)(kernel_name=report.KERNEL_NAME)
        await km.start_kernel()
        try:
            pid = km.provisioner.pid
            return os.readlink(f"/proc/{pid}/fd/1"), os.readlink(f"/proc/{pid}/fd/2")
        finally:
            await km.shutdown_kernel(now=True)

    with tempfile.TemporaryFile() as said:
        there = os.readlink(f"/proc/self/fd/{said.fileno()}")
        assert asyncio.run(kernel_fds(said)) == (there, there)


def test_external_loads_finds_every_kind_of_reference() -> None:
    page = """
    <script src="https://cdn.example/x.js"></script><script src='//cdn.example/y.js'></script>
    <script src="local.js"></script><link rel="stylesheet" href="https://fonts.example/a.css">
    <img src="http://tracker.example/p.gif"><style>@import url("https://x.example/s.css");
    .a{background:url(//x.example/b.png)}</style>
    <script type="module">import {a} from "https://esm.example/m.js";</script>
    """
    found = "\n".join(report.external_loads(page))
    for url in (
        "https://cdn.example/x.js",
        "//cdn.example/y.js",
        "local.js",  # a relative script is not in the report folder either
        "https://fonts.example/a.css",
        "http://tracker.example/p.gif",
        "https://x.example/s.css",
        "//x.example/b.png",
        "https://esm.example/m.js",
    ):
        assert url in found, url
    clean = (
        '<a href="https://example.com">a link loads nothing</a><img src="data:image/png;base64,x">'
    )
    clean += "<script>var u = 'https://cdn.plot.ly/plotly.js';</script>"
    assert report.external_loads(clean) == []


#: Pages where each of external_loads' patterns and the script finder match, or nearly: the
#: case-insensitive letters (ı and İ are i under re.I), words run together, a match inside
#: another's (found once), script tags with no end, and one at the end of the text.
_TRICKY_PAGES = [
    "<script>import {a} from 'https://e.example/m.js'</script>",
    "ImPoRt X FROM '//e.example/a.js'; \u0130MPORT '//e.example/b.js'; \u0131mport'//c.ex/d'",
    "reimport '//no.example/x' importimport '//yes.example/y' import('//z.example/z')",
    "URL(//a.example/x) uRl( 'https://b.example/y') curl(//c.example/z) url(x) url(",
    "<style>@import url('//a.example/s.css')</style><script src=//x.example/s.js></script>",
    "<SCRIPT type=module>a</Script ><script>b</script\n><script>c",
    "<script>x</script><script>no end",
    "<script a='>'>'</script>' import '//after.example/a'</script>",
    "import url(//inner.example/x) '//q.example/r' import",
    "import {a, import} from '//outer.example/y' url(//a.example/url(//b.example)",
]


def test_external_loads_and_script_hashes_match_as_their_patterns_do(sample_report: Path) -> None:
    """external_loads tries its word-led patterns only where the word starts, and script_hashes
    finds each script's end with one search: what each finds is what the patterns find over
    the whole text (re.I's every letter, a match in another's text, a script with no end),
    on made-up pages and on a report of the sample case."""
    from torinvest.report import page as page_module

    def by_patterns(text: str) -> list[str]:
        return [m.group(0)[:200] for p in page_module._LOAD_PATTERNS for m in p.finditer(text)]

    def by_script_pattern(text: str) -> list[str]:
        return [m.group(1) for m in page_module._SCRIPT.finditer(text)]

    pages = [*_TRICKY_PAGES, (sample_report / "report.html").read_text(encoding="utf-8")]
    for text in pages:
        assert report.external_loads(text) == by_patterns(text), text[:80]
        assert list(page_module._script_texts(text)) == by_script_pattern(text), text[:80]
    assert any(by_patterns(t) for t in _TRICKY_PAGES) and by_patterns(_TRICKY_PAGES[1])
    # every character re.I matches for a letter of the two words is in their start patterns
    everything = "".join(map(chr, range(0x110000)))
    for start, word in zip(page_module._LOAD_STARTS[4:], ("url(", "import"), strict=True):
        assert start is not None
        for i, letter in enumerate(word):
            alike = set(re.findall(re.escape(letter), everything, re.I))
            assert {c for c in alike if start.match(word[:i] + c + word[i + 1 :])} == alike


def test_display_escapes_attacker_text() -> None:
    bait = '<img src=x onerror="document.title=1"><script>alert(1)</script>'
    pieces = [
        display.error_card(InputError(bait, hint=bait)).data,
        display.findings_issues([DataIssue(bait, bait)], {bait: 1}).data,
        display.frame_html(pd.DataFrame({bait: [bait]})),
        display.table(pd.DataFrame({"ua": [bait]})).data,
        display.files_written({bait: bait}).data,
        display.verdict_card({"status": "malicious", "analyst": bait, "rationale": bait}).data,
        report.error_banner(report.CellFailure(ename=bait, evalue=bait, section=bait, code=bait)),
    ]
    for html in pieces:
        assert "<img src=x" not in html and "<script>alert" not in html, html[:300]
        assert "&lt;img src=x" in html or "&amp;lt;img" in html, html[:300]


# --------------------------------------------------------------------------------------------
# a report run (one kernel each)
# --------------------------------------------------------------------------------------------
def test_report_of_the_sample_case(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    out = tmp_path / "out"
    options = report.RunOptions(
        case_dir=_case(),
        verdict_status="malicious",
        analyst="ana",
        rationale="persistence and a derived key used from Tor",
        ledger=str(ledger),
    )
    run = report.run_report(FINDING, out, options)
    assert run.status == "ok" and run.failure is None and run.warnings == []
    for name in ("report.ipynb", "report.html", "summary.json", "events.csv", "per_ip.csv"):
        assert (out / name).is_file(), name

    # summary.json: the contract, then the values the sample case's story says
    data = orjson.loads((out / "summary.json").read_bytes())
    assert list(data) == WRITTEN_KEYS
    # the sample case's trail has no digest files: the one note is the Tor status's —
    # 167.99.201.43 is "not Tor" by dan.me.uk's lists only, which name relays by OR address
    assert data["reading_notes"] == [or_only_note(1)]
    weak = [s["ip"] for s in data["source_ips"] if s.get("tor_caveat") == "or_addresses_only"]
    assert weak == ["167.99.201.43"]
    assert OR_ONLY_LABEL in (out / "report.html").read_text(encoding="utf-8")
    # its background (Stratus Red Team, run by bert-jan) creates trails in the window and
    # deletes them, with their buckets: not the trail read — nothing said of them
    assert not [e for e in data["impaired_logging"] if e["another_principal"]]
    # its trail records management events only: S3 object reads would not be in its files
    assert data["data_events"]["state"] == "none recorded" and data["data_events"]["count"] == 0
    # days of the window without a log file: the baseline exists but was read in part
    assert data["baseline"]["status"] == "partial" and data["baseline"]["history_start"]
    assert report.summary_problems(data) == []
    # the access it was given, for the commands built later from this file (torinvest post)
    assert data["access"]["case"] == _case() and data["access"]["external_id"] is False
    assert data["finding"] | {"first_seen": None, "last_seen": None} == {
        "id": FINDING,
        "type": "UnauthorizedAccess:IAMUser/TorIPCaller",
        "account_id": STORY["account_id"],
        "region": "us-east-1",
        "severity": 5.0,
        "first_seen": None,
        "last_seen": None,
        "count": 6,
        "tor_ip": "109.70.100.66",
    }
    assert data["key"] == {
        k: STORY["suspect_key"][k]
        for k in ("access_key_id", "kind", "principal_id", "user_name", "user_type")
    }
    tor = {s["ip"] for s in data["source_ips"] if s["tor"] is True}
    assert tor == set(STORY["tor_ips"])
    not_tor = {s["ip"] for s in data["source_ips"] if s["tor"] is False}
    assert not_tor == {STORY["legit_ip"], STORY["non_tor_actor_ip"]}
    assert data["derived_keys"] == ["AKIATFQR7NSCXLGMGTIH", "ASIATFQR7NSCNGEI5QNT"]
    # benjamin's long-term key was created before any log of the case: not "none"
    assert data["key_origin"]["status"] == "not in window" and data["key_origin"]["mints"] == []
    sensitive = {e["event_name"] for e in data["sensitive_events"]}
    assert {"CreateUser", "CreateAccessKey", "AttachUserPolicy", "CreateLoginProfile"} <= sensitive
    assert "GetSecretValue" in sensitive
    # each sensitive call with what it created, changed or read
    backdoor, new_key = STORY["derived"]["backdoor_user"], STORY["derived"]["backdoor_key"]
    targets = {(e["event_name"], e["target"]) for e in data["sensitive_events"]}
    assert {
        ("CreateUser", f"user {backdoor}"),
        ("CreateAccessKey", f"user {backdoor}, new key {new_key}"),
        (
            "AttachUserPolicy",
            f"user {backdoor}, policy arn:aws:iam::aws:policy/AdministratorAccess",
        ),
        ("CreateLoginProfile", f"user {backdoor}"),
        ("GetSessionToken", f"new temporary key {STORY['derived']['asia_key']}"),
        ("GetSecretValue", "secret stratus-red-team-retrieve-secret-6"),
        ("GetSecretValue", "secret stratus-red-team-retrieve-secret-13"),
        ("GetSecretValue", "secret prod/db/credentials"),
    } <= targets
    (made,) = [e for e in data["sensitive_events"] if e["event_name"] == "CreateAccessKey"]
    assert {"kind": "new key", "value": new_key} in made["targets"]
    read = [e for e in data["sensitive_events"] if e["event_name"] == "GetSecretValue"]
    assert [e["error_code"] for e in read] == [None, None, "ResourceNotFoundException"]
    # when, by whom, from what
    generated = data["generated"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", generated["at"])
    assert "@" in generated["by"]
    assert generated["sources"][:2] == [
        f"case folder {sample_case().root}",
        f"logs:{sample_case().cloudtrail}",
    ]
    assert any(s.startswith("tor: bundled:") for s in generated["sources"])
    assert data["events"]["from_tor"] == STORY["actor_events"]["from_tor"]
    verdict = data["verdict"]
    assert verdict["status"] == "malicious" and verdict["analyst"] == "ana"
    assert verdict["rationale"] == options.rationale
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", verdict["recorded_at"])
    # the case's trail holds one day of the default window (14 days back, 7 ahead): the others
    # were not read, and the report says so (tests.sample_window has a window it covers); read
    # for every region (a case folder: no regions named, offline), the partition's regions the
    # trail has no folder for were not read either
    unfolded, gap = data["data_issues"]
    assert unfolded == {
        "source": f"{sample_case().cloudtrail}/AWSLogs/218007301253/CloudTrail/",
        "problem": offline_unfolded(SAMPLE_REGIONS),
    }
    assert gap["source"] == f"{sample_case().cloudtrail}/AWSLogs/218007301253/CloudTrail/…"
    assert gap["problem"].startswith(
        "3 folders: no log file for 2023-06-26–2023-07-09, 2023-07-11–2023-07-17 (21 of the "
        "window's 22 UTC day(s)): nothing was logged there those days"
    )

    # the verdict is in the ledger, with its evidence
    records, issues = read_ledger(ledger)
    assert issues == []
    (rec,) = [r for r in records if r["kind"] == "verdict"]
    assert rec["finding_id"] == FINDING and rec["access_key_id"] == KEY
    assert rec["status"] == "malicious" and rec["recorded_at"] == verdict["recorded_at"]
    assert set(rec["evidence"]["tor_ips"]) == set(STORY["tor_ips"])

    # report.html: no code, nothing from elsewhere, attacker text escaped
    html = (out / "report.html").read_text(encoding="utf-8")
    assert report.external_loads(html) == []
    # what the trail's files could not hold, said in the report as in summary.json
    assert html.count("hold no data events: the trail may not record them") >= 3
    assert "Where the key came from" in html  # who created the key: not known, and why
    assert not re.search(r"<script[^>]*\bsrc=", html)
    assert not re.search(r"<link[^>]*stylesheet[^>]*https?:", html)
    assert "cdnjs.cloudflare.com" not in html and "require.min.js" not in html
    assert 'http-equiv="Content-Security-Policy"' in html
    assert "investigation.investigate(" not in html and "display.setup()" not in html
    assert html.count('class="plotly-graph-div"') == 5
    assert html.count("window.PlotlyConfig") == 1  # plotly.js inlined once
    assert "_itables_" in html  # the itables bundle, inlined
    assert PAYLOAD not in html  # shown as text everywhere, never as markup
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "torinvest-error" not in html.split("<main>")[1][:2000]  # no failure banner
    # the answer first; notebook-authoring text left out; the provenance in the page
    main = html.split("<main>")[1]
    assert 'id="torinvest-answer"' in main
    assert main.index('id="torinvest-answer"') < main.index("1. The finding and the key")
    assert "not computed yet" not in main  # the placeholder was replaced
    assert "Run it from JupyterLab" not in html and "notebook-only" not in main
    assert f"Generated {display._time(generated['at'])} by" in html

    # report.ipynb: the executed notebook, parameters injected
    nb = nbformat.read(out / "report.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and FINDING in injected[0].source


def test_a_failing_cell_still_writes_the_report_with_the_error_on_top(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")  # stale: must not pass for this run's
    unknown = "0123456789abcdef0123456789abcdef"
    options = report.RunOptions(case_dir=_case(), ledger=str(tmp_path / "l.jsonl"))
    with pytest.raises(report.NotebookError) as caught:
        report.run_report(unknown, out, options)
    err = caught.value
    assert "\n" not in str(err)
    assert "FindingNotFoundError" in str(err) and FINDING in str(err)  # lists the known IDs
    assert str(out / "report.html") in str(err)
    run = err.run
    assert run.status == "failed" and run.failure is not None
    assert run.failure.ename == "FindingNotFoundError"
    assert run.failure.section == "1. The finding and the key"
    assert run.failure.code == "finding, key = investigation.locate(findings, params.finding_id)"
    assert (out / "report.ipynb").is_file() and (out / "report.html").is_file()
    assert not (out / "summary.json").exists()

    html = (out / "report.html").read_text(encoding="utf-8")
    body = html[html.index("<body") :]
    banner = body.index('id="torinvest-error"')
    assert banner < body.index("jp-Cell")  # before the first cell: at the top
    assert "FindingNotFoundError" in body[banner : banner + 3000]
    assert FINDING in body[banner : banner + 3000]
    # no answer pretends to be one: the placeholder says the run stopped
    assert "The answer: not computed yet" in body and 'id="torinvest-answer"' not in body
    assert body.index("The answer: not computed yet") > banner
    assert report.external_loads(html) == []
    nb = nbformat.read(out / "report.ipynb", as_version=4)
    assert any("papermill-error-cell-tag" in c.metadata.get("tags", []) for c in nb.cells)


#: Loaded by the kernel (PYTHONPATH): makes display.answer_first (the last cell) kill the
#: kernel or outlast the cell timeout, as an out-of-memory kill or a hung call would.
_STOPPING_SITECUSTOMIZE = """
import os, time
import torinvest.display as _display
if os.environ.get("TI_TEST_STOP") == "die":
    _display.answer_first = lambda *a, **k: os._exit(9)
elif os.environ.get("TI_TEST_STOP") == "hang":
    _display.answer_first = lambda *a, **k: time.sleep(60)
elif os.environ.get("TI_TEST_STOP") == "raise":
    def _broken(*a, **k):
        return {}["a bug"]
    _display.answer_first = _broken
"""


def test_an_unexpected_error_shows_in_one_line_on_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (not a torinvest error) in a cell: the page names it in one line and where the full
    traceback is; the executed notebook keeps the traceback for whoever debugs it."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(_STOPPING_SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", f"{inject}:{':'.join(sys.path[1:])}")
    monkeypatch.setenv("TI_TEST_STOP", "raise")
    out = tmp_path / "out"
    options = report.RunOptions(case_dir=_case(), ledger=str(tmp_path / "l.jsonl"))
    with pytest.raises(report.NotebookError):
        report.run_report(FINDING, out, options)
    nb = nbformat.read(out / "report.ipynb", as_version=4)
    (error,) = [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(error.traceback) > 2  # the notebook keeps the whole traceback
    body = (out / "report.html").read_text(encoding="utf-8")
    body = body[body.index("<body") :]
    assert "KeyError: 'a bug'" in _html.unescape(body)
    assert "(the full traceback is in report.ipynb)" in body
    assert "Traceback" not in body and "sitecustomize.py" not in body and "Cell In[" not in body


@pytest.mark.parametrize(("how", "ename"), [("die", "DeadKernelError"), ("hang", "CellTimeout")])
def test_a_run_stopped_by_the_kernel_keeps_every_section_that_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, ename: str
) -> None:
    """The kernel dies (or a cell times out) in the last cell: report.ipynb and report.html keep
    every section that ran, and the banner names the cell the run stopped at and links to it."""
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(_STOPPING_SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", f"{inject}:{':'.join(sys.path[1:])}")
    monkeypatch.setenv("TI_TEST_STOP", how)
    out = tmp_path / "out"
    # every cell has the run's timeout, and the hang's must fire in the last cell, not in the
    # investigation's on a loaded machine (a 15 s timeout did, under load): the hanging cell
    # alone waits less (nbclient's timeout for it), the others wait the run's timeout, which
    # reaches every cell
    from nbclient.client import NotebookClient

    given: list[float | None] = []
    cell_timeout = NotebookClient._get_timeout

    def hang_waits_less(client: NotebookClient, cell: nbformat.NotebookNode | None) -> int | None:
        timeout = cell_timeout(client, cell)
        given.append(timeout)
        hangs = cell is not None and cell.source.startswith("display.answer_first(")
        return 2 if hangs and how == "hang" else timeout

    monkeypatch.setattr(NotebookClient, "_get_timeout", hang_waits_less)
    options = report.RunOptions(
        case_dir=_case(), ledger=str(tmp_path / "l.jsonl"), cell_timeout=120
    )
    with pytest.raises(report.NotebookError) as caught:
        report.run_report(FINDING, out, options)
    assert given and set(given) == {120}, given  # the run's timeout, for every cell
    failure = caught.value.run.failure
    assert failure is not None and failure.ename.startswith(ename)
    assert failure.section == "Files" and failure.code is not None
    assert failure.code.startswith("display.answer_first(")
    nb = nbformat.read(out / "report.ipynb", as_version=4)
    ran = [c for c in nb.cells if c.cell_type == "code" and c.execution_count]
    assert len(ran) >= 25  # every cell before the last one ran and is kept
    html = (out / "report.html").read_text(encoding="utf-8")
    body = html[html.index("<body") :]
    banner = body[body.index('id="torinvest-error"') :][:3000]
    stopped = nb.cells[failure.cell_index]
    assert stopped.source.startswith("display.answer_first(")
    count = stopped.execution_count  # none when the kernel died before it answered
    where = f"cell [{count}]" if count else f"the cell after [{ran[-1].execution_count}]"
    assert failure.where() == where and where in banner
    assert "Go to the failing cell" in banner and 'id="papermill-error-cell"' in body
    for section in ("3. Activity by source IP", "5. Derived keys", "6. Verdict and next steps"):
        assert section in body
    assert "Derived keys (2)" in body


def test_validation_fails_before_a_kernel_starts(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="invalid finding id"):
        report.run_report("not an id", tmp_path / "a", report.RunOptions(case_dir=_case()))
    with pytest.raises(InputError, match="does not exist"):
        report.run_report(FINDING, tmp_path / "b", report.RunOptions(case_dir=str(tmp_path / "x")))
    with pytest.raises(InputError, match="needs an analyst"):
        report.run_report(
            FINDING, tmp_path / "c", report.RunOptions(case_dir=_case(), verdict_status="malicious")
        )
    with pytest.raises(InputError, match=r"--lookback-days \(lookback_days\): -1 is less than 0"):
        report.run_report(
            FINDING, tmp_path / "d", report.RunOptions(case_dir=_case(), lookback_days=-1)
        )
    assert not any((tmp_path / n).exists() for n in "abcd")


# --------------------------------------------------------------------------------------------
# batch
# --------------------------------------------------------------------------------------------
def test_batch_skips_reports_it_has_and_indexes_every_finding(tmp_path: Path) -> None:
    hostile = tmp_path / "case <img src=x onerror=alert(1)>"
    shutil.copytree(sample_case().root, hostile)
    out = tmp_path / "reports"
    for fid in (FINDING, OTHER_FINDING):  # complete folders: every file, manifest last
        folder = out / report_dir_name(fid)
        folder.mkdir(parents=True)
        for name in report.REPORT_FILES:
            (folder / name).write_text(f"{name} of {fid}")
        report.write_manifest(folder, fid)
    lines: list[str] = []
    batch = report.run_batch(out, report.RunOptions(case_dir=str(hostile)), echo=lines.append)
    assert [e.status for e in batch.entries] == ["skipped", "skipped"]
    assert {e.finding_id for e in batch.entries} == {FINDING, OTHER_FINDING}
    assert all("skipped" in line for line in lines)
    index = orjson.loads((out / "index.json").read_bytes())
    assert [f["finding_id"] for f in index["findings"]] == [e.finding_id for e in batch.entries]
    first = index["findings"][0]
    assert first["access_key_id"] == KEY and first["status"] == "skipped"
    folder = f"finding-{first['finding_id']}"
    assert first["complete"] is True
    assert first["report"] == {
        "html": f"{folder}/report.html",
        "notebook": f"{folder}/report.ipynb",
        "summary": f"{folder}/summary.json",
        "events": f"{folder}/events.csv",
        "per_ip": f"{folder}/per_ip.csv",
        "manifest": f"{folder}/manifest.json",
    }
    page = (out / "index.html").read_text()
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert report.external_loads(page) == []


def test_batch_refuses_a_verdict(tmp_path: Path) -> None:
    options = report.RunOptions(
        case_dir=_case(), verdict_status="malicious", analyst="a", rationale="r"
    )
    with pytest.raises(InputError, match="per finding"):
        report.run_batch(tmp_path, options)
