"""The same reading says the same thing in the terminal (`torinvest investigate`), in
summary.json and in the report (the notebook's cards, headless or in JupyterLab): one list of
data issues, counted alike, none lost — and none of the attacker-written parts (a file name in
the case folder, a trail, role or user name, a user agent) makes markup in the report, an
escape sequence on the terminal or a formula in a CSV.

The corpus is built from what the other tests build (the impairment test's StopLogging, the
derived-accounts test's AssumeRole into another account, the findings readers' empty and cut
files, a torn ledger line); the notebook's calls are made in-process (:func:`_report`, as
``notebooks/investigate.py`` makes them) and the terminal's lines by the command's own printer
(:func:`torinvest.cli.investigate.say_reading`). One kernel run checks the real report.html.

Catalogued in docs/hostile-inputs.md ("The report: answer, targets, tables")."""

from __future__ import annotations

import csv
import gzip
import html
import io
import json
import re
import shutil
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chromium
from tests.cli_run import run
from tests.report.test_browser import RENDERED, _need_chromium
from tests.test_impairment import CREATE_USER, as_key, real, stop_logging
from torinvest import campaign, display, investigation, report
from torinvest.case import sample_case
from torinvest.cli.investigate import say_reading
from torinvest.errors import DataIssue
from torinvest.safety import term_safe

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
DAY = "cloudtrail/AWSLogs/218007301253/CloudTrail/us-east-1/2023/07/10"
#: markup, a script end, markdown (bold, a javascript: link), a spreadsheet formula, an SGR
#: and an OSC 8 escape, a bidi override: in a trail, role, session and user name, a user agent
EVIL = (
    "<img src=x onerror=alert(1)></script><script>alert(2)</script> **b** "
    '[x](javascript:alert(3)) =HYPERLINK("http://e.x/","c") \x1b[31mRED\x1b[0m '
    "\x1b]8;;http://e.x\x07L\x1b]8;;\x07 \u202eevil"
)
#: the same in a file name (no slash)
EVIL_FILE = (
    '<img src=x onerror=alert(1)> **b** [x](javascript:alert(3)) =HYPERLINK("e") \x1b[31m \u202e'
)
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _log(root: Path, records: list[dict[str, Any]]) -> None:
    name = "218007301253_CloudTrail_us-east-1_20230710T1230Z_ExTrA.json.gz"
    (root / DAY / name).write_bytes(gzip.compress(json.dumps({"Records": records}).encode()))


def _unreadable_findings(root: Path) -> None:
    """Two empty findings files and a cut one: issues of the findings' read (and files the
    related-findings search could not search either)."""
    (root / "findings" / "a.json").write_text("")
    (root / "findings" / "b.json").write_text("")
    (root / "findings" / "c.json").write_text("{")


@pytest.fixture(scope="module")
def findings_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("said") / "case"
    shutil.copytree(sample_case().root, root)
    _unreadable_findings(root)
    return root


@pytest.fixture(scope="module")
def hostile_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample case with every attacker-written name hostile: the finding's user name, a
    cut findings file and two damaged log files named with it, the key stopping a trail of
    that name, assuming a role of that name in another account (a derived key whose calls are
    not read: an issue naming the role), creating a user of that name, with that user agent."""
    root = tmp_path_factory.mktemp("hostile") / "case"
    shutil.copytree(sample_case().root, root)
    path = root / "findings" / "get-findings.json"
    data = json.loads(path.read_text())
    data["Findings"][0]["Resource"]["AccessKeyDetails"]["UserName"] = "benjamin" + EVIL
    path.write_text(json.dumps(data))
    (root / "findings" / f"{EVIL_FILE}.json").write_text("{")
    (root / DAY / f"{EVIL_FILE}.json.gz").write_bytes(b"\x1f\x8bnot gzip")
    (root / "cloudtrail" / f"{EVIL_FILE}.json").write_text('{"Records": [')
    role = "arn:aws:iam::999999999999:role/" + EVIL.replace("/", "_")
    assume = as_key(real(CREATE_USER), "2023-07-10T12:26:00Z")
    assume.update(
        eventName="AssumeRole",
        eventSource="sts.amazonaws.com",
        userAgent=EVIL,
        requestParameters={"roleArn": role, "roleSessionName": EVIL},
        responseElements={
            "credentials": {
                "accessKeyId": "ASIAPROBEOTHERACCT1A",
                "expiration": "Jul 10, 2023, 6:00:00 PM",
            },
            "assumedRoleUser": {"arn": "arn:aws:sts::999999999999:assumed-role/x/y"},
        },
    )
    user = as_key(real(CREATE_USER), "2023-07-10T12:27:00Z", userName=EVIL)
    user["userAgent"] = EVIL
    trail = stop_logging("2023-07-10T12:29:31Z", trail=EVIL.replace("/", "_"))
    _log(root, [trail, assume, user])
    return root


def _text(page: str) -> str:
    """The visible text of HTML (scripts and styles dropped, entities decoded)."""
    page = re.sub(r"<(script|style)\b[^>]*>.*?</\1\s*>", " ", page, flags=re.S | re.I)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def _report(case: Path, out: Path) -> tuple[str, dict[str, Any], list[str], str]:
    """The notebook's calls (notebooks/investigate.py) in-process: the HTML its cells show,
    the summary.json it writes, what `investigate` prints of it (stderr) and its first line."""
    ledger = out / "ledger.jsonl"
    ledger.write_text('{"finding_id": "x", "sta')  # a torn line: an issue of the ledger
    sources = investigation.sources_from_parameters(case_dir=str(case))
    findings = investigation.load_findings(sources)
    finding, key = investigation.locate(findings, FINDING)
    inv = investigation.investigate(FINDING, sources, findings=findings)
    inv = campaign.look_around(inv, findings)
    shown = [
        display.finding_card(finding, key),
        display.data_issues(inv, findings, ledger=str(ledger)),
        display.activity_status(inv),
        display.sources_card(inv),
        display.events_table(inv),
        display.per_ip_table(inv),
        display.signals_table(inv),
        display.sensitive_table(inv),
        display.derived_keys(inv, followed=True),
        display.related_findings(inv),
        display.ip_pivot(inv),
    ]
    verdict = report.decide(inv, finding_id=FINDING, status="pending", ledger=str(ledger))
    shown.append(display.verdict_section(inv, verdict))
    written = report.export_tables(inv, out)
    written["summary.json"] = report.write_summary(
        inv, verdict, out / "summary.json", findings=findings
    )
    shown.append(display.files_written(written))
    page = display.answer_html(inv, verdict, findings=findings, followed=True)
    page += "".join(s.data for s in shown)
    data = json.loads((out / "summary.json").read_text())
    err = io.StringIO()
    say_reading(data, err)
    return page, data, err.getvalue().splitlines(), report.one_line_summary(data)


def _said_alike(page: str, data: dict[str, Any], err: list[str], line: str) -> None:
    """One list of issues, counted alike: the terminal's lines, summary.json's list and reading,
    the answer's and the Data issues card's count; each issue's words in the report."""
    issues = data["data_issues"]
    n = len(issues)
    printed = [x for x in err if x.startswith("torinvest: issue: ")]
    assert len(printed) == n, printed
    assert f"INCOMPLETE: {n} DATA ISSUE(S)" in line
    assert data["reading"]["text"] == f"incomplete: {n} data issue(s)"
    text = _text(page)
    assert f"Incomplete: {n} data issue(s)" in text
    assert f"{n} data issue(s): what follows may be incomplete" in text
    # the remediation plan's note counts them as the answer above it does
    assert re.findall(r"built from incomplete evidence: (\d+) data issue", text) == [str(n)]
    for said in printed:  # the same words (escapes shown alike: term_safe, html_text)
        _source, _, problem = said.removeprefix("torinvest: issue: ").partition(": ")
        assert re.sub(r"\s+", " ", problem) in text, said


def test_findings_files_and_a_torn_ledger_line_are_one_list_counted_alike(
    findings_case: Path, tmp_path: Path
) -> None:
    """It said 8 issues on the terminal (and listed 8 in summary.json: the two empty files
    each, and each again for the related findings), "incomplete: 4 data issue(s)" in
    summary.json's reading (the findings files and the ledger left out), 5 in the report —
    whose card said "4 files: the file is empty" of 2 files, and whose remediation plan said
    "built from incomplete evidence: 4 data issue(s)"."""
    page, data, err, line = _report(findings_case, tmp_path)
    _said_alike(page, data, err, line)
    problems = [i["problem"] for i in data["data_issues"]]
    (empty,) = [p for p in problems if "the file is empty" in p]
    assert empty == "2 files: the file is empty — e.g. a.json, b.json"
    assert any("incomplete record" in p for p in problems)  # the torn ledger line
    assert any(p.startswith("invalid JSON") for p in problems)  # c.json, once
    assert len(data["data_issues"]) == 5
    # the related findings search still names the files it could not search
    not_searched = data["related_findings_search"]["not_searched"]
    assert {Path(i["source"]).name for i in not_searched} >= {"a.json", "b.json", "c.json"}


class _Made(HTMLParser):
    """Elements and attributes in a page that the attacker's text could have made."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[Any] = []
        self._script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("img", "iframe", "object", "embed", "base", "form"):
            self.made.append((tag, attrs))
        for name, value in attrs:
            if name.startswith("on") or "javascript:" in (value or "") or "alert(" in (value or ""):
                self.made.append((tag, name, value))
        self._script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = False

    def handle_data(self, data: str) -> None:
        if self._script and re.search(r"(?<!&lt;script&gt;)alert\(", data):
            # a script's data may hold the text only escaped (&lt;…): itables' rows
            if "<img" in data or "<script>alert" in data:
                self.made.append(("script", data[:200]))
        elif not self._script and RAW.search(data):
            self.made.append(("raw control", data[:200]))


def _made(page: str) -> list[Any]:
    parser = _Made()
    parser.feed(page)
    return parser.made


def test_hostile_names_are_said_alike_and_inert_in_every_output(
    hostile_case: Path, tmp_path: Path
) -> None:
    page, data, err, line = _report(hostile_case, tmp_path)
    _said_alike(page, data, err, line)
    assert _made(page) == []
    assert not RAW.search("\n".join([line, *err]))  # the terminal: escapes shown, not sent
    sources = " ".join(i["source"] + i["problem"] for i in data["data_issues"])
    assert EVIL_FILE in sources and "role/<img src=x" in sources  # kept as written (JSON)
    assert "trail <img src=x" in sources
    for name in ("events.csv", "per_ip.csv"):
        with (tmp_path / name).open(newline="", encoding="utf-8") as f:
            cells = [c for row in csv.reader(f) for c in row]
        assert any("HYPERLINK" in c for c in cells) or name == "per_ip.csv"
        assert not [c for c in cells if c.lstrip(" \t\r\n")[:1] in ("=", "+", "-", "@")]
        assert not [c for c in cells if RAW.search(c)]


def test_the_real_report_of_hostile_names_says_what_the_terminal_says(
    hostile_case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One kernel run: report.html (nbconvert, charts and itables included) makes no element
    the attacker wrote — parsed, and in headless Chromium — and counts the issues as the
    terminal and summary.json do."""
    monkeypatch.setenv("TORINVEST_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    code, stdout, stderr = run(
        "investigate", FINDING, "--case", str(hostile_case), "--out", str(out),
        "--ledger", str(tmp_path / "ledger.jsonl"),
    )  # fmt: skip
    assert code == 0, stderr
    data = json.loads((out / "summary.json").read_text())
    page = (out / "report.html").read_text()
    err = stderr.splitlines()
    _said_alike(page, data, err, stdout.splitlines()[0])
    assert _made(page) == []
    assert not RAW.search(stdout + stderr)
    issues = [DataIssue(i["source"], i["problem"]) for i in data["data_issues"]]
    assert len(issues) == len(set(issues))
    _need_chromium()
    with chromium(tmp_path / "profile") as browser:
        browser.open((out / "report.html").as_uri())
        assert browser.wait_for(RENDERED), "charts/tables did not render offline"
        time.sleep(1.0)  # an injected <img onerror> would have fired by now
        assert browser.evaluate(MADE) == {"imgs": 0, "handlers": 0, "links": 0}
        assert browser.evaluate("document.title") == f"torinvest: Tor finding {FINDING}"
        shown = browser.evaluate("document.body.innerText")
    assert term_safe(EVIL_FILE) in shown  # the data issues card names the file, as text


#: What injected markup would have made in the page: an image, an event handler, a link.
MADE = """(() => ({
  imgs: document.querySelectorAll('img[src="x"], img[onerror]').length,
  handlers: [...document.querySelectorAll('*')]
    .filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
  links: document.querySelectorAll('a[href^="javascript"]').length,
}))()"""
