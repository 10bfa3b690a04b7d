"""report.html in a real headless Chromium: attacker text from CloudTrail never runs, shows as
text, nothing loads from the network, the charts and tables render; and the CSV the report
writes cannot run a formula in a spreadsheet.

The hostile case is the sample case with the user agents of two Tor calls replaced by payloads
that set ``document.title`` to PWNED (an ``<img onerror>`` and a ``<script>``), a third one that
is a spreadsheet formula, and a CloudTrail file whose *name* is a payload (it shows up in the
data issues). Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``):
no port, no extra package.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser import CHROMIUM, Chromium, chromium
from tests.sample_window import COVERED_PARAMS
from torinvest import report
from torinvest.case import sample_case

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
KEY = "AKIATFQR7NSCUXC3DDDP"
ORIGINAL_UA = "aws-cli/2.13.0 <script>alert(1)</script>"
IMG_PAYLOAD = "<img src=x onerror=\"document.title='PWNED'\">"
SCRIPT_PAYLOAD = "<script>document.title='PWNED'</script>"
FORMULA_UA = '=HYPERLINK("https://evil.example/x","open")'
FORMULA_REPLACES = (
    "aws-cli/2.13.0 Python/3.11.4 Linux/6.1.0-10-amd64 exe/x86_64.debian.12 prompt/off "
    "command/iam.list-users"
)
BAD_FILE_NAME = "x<img src=x onerror=document.title='PWNED'>.json"
#: The CreateLoginProfile call's user name becomes a payload: a sensitive call's target.
LOGIN_PROFILE = '"requestParameters":{"userName":"svc-backup-sync","passwordResetRequired":false}'
TARGET_PAYLOAD = "svc<img src=x onerror=\"document.title='PWNED'\">"
#: The first screen an analyst sees (a common laptop), and an A4 landscape page's width in CSS
#: pixels less the report's 10 mm margins (297 mm − 20 mm at 96 px/in).
SCREEN = (1366, 800)
PRINT_WIDTH = 1047
VERDICT = {"verdict_status": "malicious", "analyst": "ana", "rationale": "backdoor user via Tor"}


def _need_chromium() -> None:
    if Path(CHROMIUM).is_file():
        return
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run installs Debian's chromium")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); CI always runs this test")


# --------------------------------------------------------------------------------------------
# the hostile case and its report
# --------------------------------------------------------------------------------------------
def _rewrite_gz(path: Path, old: str, new: str, count: int = -1) -> int:
    text = gzip.decompress(path.read_bytes()).decode()
    n = text.count(old)
    path.write_bytes(gzip.compress(text.replace(old, new, count).encode()))
    return n


def hostile_case(root: Path) -> Path:
    case = root / "case"
    shutil.copytree(sample_case().root, case)
    logs = case / "cloudtrail"
    json_str = lambda s: json.dumps(s)[1:-1]  # noqa: E731 - the text as it sits in a JSON string
    replaced = 0
    payloads = iter([IMG_PAYLOAD, SCRIPT_PAYLOAD])
    for path in sorted(logs.rglob("*.json.gz")):
        text = gzip.decompress(path.read_bytes()).decode()
        if json_str(ORIGINAL_UA) in text:
            replaced += _rewrite_gz(path, json_str(ORIGINAL_UA), json_str(next(payloads)), 1)
        if json_str(FORMULA_REPLACES) in text:
            replaced += _rewrite_gz(path, json_str(FORMULA_REPLACES), json_str(FORMULA_UA))
        if LOGIN_PROFILE in text:
            hostile = LOGIN_PROFILE.replace("svc-backup-sync", json_str(TARGET_PAYLOAD))
            replaced += _rewrite_gz(path, LOGIN_PROFILE, hostile)
    assert replaced >= 4, "the sample case no longer has the texts this test replaces"
    bad = logs / BAD_FILE_NAME
    bad.write_text('{"Records": [{"userIdentity": {"accessKeyId": "' + KEY + '"')
    return case


# --------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------
RENDERED = (
    "document.querySelectorAll('.plotly-graph-div .main-svg').length >= 5 && "
    "document.querySelectorAll('table.dataTable tbody tr').length >= 10"
)
INJECTED = """(() => ({
  title: document.title,
  imgs: [...document.querySelectorAll('img')].filter(i => i.getAttribute('src') === 'x'
        || i.hasAttribute('onerror')).length,
  scripts: [...document.scripts].filter(s => s.textContent.includes('PWNED')
        && !s.textContent.includes('\\\\u003c') && !s.textContent.includes('&lt;')).length,
}))()"""
SEARCH_ALL_TABLES = """(() => {
  for (const input of document.querySelectorAll('.dt-search input, .dataTables_filter input')) {
    input.value = 'PWNED';
    input.dispatchEvent(new Event('input', {bubbles: true}));
    input.dispatchEvent(new KeyboardEvent('keyup', {bubbles: true}));
  }
  return true;
})()"""


def test_the_hostile_report_in_a_spreadsheet_and_in_chromium(tmp_path: Path) -> None:
    """One report run (a kernel is the slow part): its CSVs, then the page in Chromium."""
    out = tmp_path / "out"
    options = report.RunOptions(
        case_dir=str(hostile_case(tmp_path)),
        ledger=str(tmp_path / "l.jsonl"),
        **VERDICT,
        **COVERED_PARAMS,
    )
    run = report.run_report(FINDING, out, options)
    assert run.summary_data is not None
    check_csv_exports_neutralize_formulas(out)
    _need_chromium()
    with chromium(tmp_path / "profile") as browser:
        check_attacker_text_never_runs_and_shows_as_text(out, browser, tmp_path)
        check_the_first_screen_holds_the_answer(out, browser, run.summary_data)
        check_identifiers_never_break(browser)
        check_printing_shows_every_row(out, browser, run.summary_data)


def check_attacker_text_never_runs_and_shows_as_text(
    out: Path, chromium: Chromium, tmp_path: Path
) -> None:
    html = out / "report.html"
    chromium.open(html.as_uri())
    assert chromium.wait_for(RENDERED), "charts/tables did not render offline"
    # draw the table rows that hold the payloads (the tables page 10 rows at a time)
    chromium.evaluate(SEARCH_ALL_TABLES)
    assert chromium.wait_for(
        "[...document.querySelectorAll('table.dataTable td')]"
        ".some(td => td.textContent.includes(\"<script>document.title='PWNED'</script>\"))"
    ), "the script payload is not shown as text in the events table"
    time.sleep(1.0)  # an injected <img onerror> would have fired by now
    found = chromium.evaluate(INJECTED)
    assert found["title"] != "PWNED"
    assert found["title"] == f"torinvest: Tor finding {FINDING}"
    assert found["imgs"] == 0
    assert found["scripts"] == 0
    text = chromium.evaluate("document.body.innerText")
    assert IMG_PAYLOAD in text  # the events table, as text
    assert SCRIPT_PAYLOAD in text
    assert BAD_FILE_NAME in text  # the data issues card names the file, as text
    assert f"user {TARGET_PAYLOAD}" in text  # a target, as text
    assert "=HYPERLINK(" in text
    chromium.screenshot(tmp_path / "report.png")

    # nothing but the file itself (and itables' blob: module, data: images) was loaded
    urls = [
        e["params"]["request"]["url"]
        for e in chromium.events
        if e.get("method") == "Network.requestWillBeSent"
    ]
    assert urls and urls[0] == html.as_uri()
    assert all(u.split(":", 1)[0] in {"file", "blob", "data"} for u in urls), urls
    problems = [
        e["params"]
        for e in chromium.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error")
    ]
    assert problems == [], problems  # no script error, no Content-Security-Policy violation


def check_csv_exports_neutralize_formulas(out: Path) -> None:
    with open(out / "events.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    agents = [r["user_agent"] for r in rows]
    assert "'" + FORMULA_UA in agents
    assert FORMULA_UA not in agents
    assert all(not a.startswith(("=", "+", "-", "@")) for a in agents if a)
    with open(out / "per_ip.csv", newline="") as fh:
        per_ip = list(csv.DictReader(fh))
    cells = [v for r in per_ip for v in r.values() if v]
    assert all(not v.startswith(("=", "+", "-", "@")) for v in cells)
    # a list cell is one JSON array holding each item exactly as written (a spreadsheet reads
    # "[…" as text): the formula is an item, never a cell of its own
    lists = [json.loads(v) for v in cells if v.startswith("[")]
    assert any(FORMULA_UA in items for items in lists)


# --------------------------------------------------------------------------------------------
# the answer first, readable tables, every row printed
# --------------------------------------------------------------------------------------------
FIRST_SCREEN = """(() => {
  const answer = document.querySelector('#torinvest-answer');
  const tile = label => [...answer.querySelectorAll('.ti-tile')]
    .find(t => t.querySelector('.ti-label').textContent.trim().toLowerCase() === label);
  const box = e => {
    const r = e.getBoundingClientRect();
    return {top: r.top + scrollY, bottom: r.bottom + scrollY, text: e.innerText.trim()};
  };
  const tor = tile('tor reading');
  return {
    key: box(tile('key').querySelector('.ti-value')),
    tor: box(tor.querySelector('.ti-value')),
    tor_ips: [...tor.querySelectorAll('code')].map(box),
    score: box(tile('triage score').querySelector('.ti-value')),
    verdict: box(tile('verdict').querySelector('.ti-value')),
    state: box(answer.querySelector('.ti-state')),
    answer: box(answer),
  };
})()"""


def check_the_first_screen_holds_the_answer(
    out: Path, chromium: Chromium, summary: dict[str, Any]
) -> None:
    """At 1366×800, before any scrolling: the key, the Tor reading with the event count and
    the Tor IPs, the score, the verdict status, and that the reading is incomplete."""
    chromium.open((out / "report.html").as_uri(), width=SCREEN[0], height=SCREEN[1])
    assert chromium.wait_for("document.querySelector('#torinvest-answer .ti-tile') !== null")
    found = chromium.evaluate(FIRST_SCREEN)
    events = summary["events"]
    incomplete = any(s["name"] == "incomplete_evidence" for s in summary["signals"])
    expected = {
        "key": KEY,
        "tor": f"{events['from_tor']} of {events['total']} calls",
        # a floor when the reading is incomplete (the signal incomplete_evidence says why)
        "score": ("at least " if incomplete else "") + "100 / 100 · high",
        "verdict": "malicious",
    }
    for name, text in expected.items():
        assert found[name]["text"] == text, (name, found[name])
        assert found[name]["bottom"] <= SCREEN[1], (name, found[name])
    tor_ips = {s["ip"] for s in summary["source_ips"] if s["tor"]}
    shown = {b["text"] for b in found["tor_ips"] if b["bottom"] <= SCREEN[1]}
    assert tor_ips <= shown
    assert found["state"]["text"].startswith("⚠ Incomplete: 1 data issue(s)")
    assert found["state"]["bottom"] <= SCREEN[1]
    assert found["answer"]["top"] < 100  # nothing above it but the page's margin


BROKEN_IDENTIFIERS = """(() => [...document.querySelectorAll('td.ti-id')]
  .filter(td => td.offsetParent !== null && td.textContent.trim())
  .filter(td => {
    const range = document.createRange();
    range.selectNodeContents(td);
    const lines = new Set([...range.getClientRects()].filter(r => r.width > 0)
      .map(r => Math.round(r.top)));
    return lines.size > 1;
  }).map(td => td.textContent))()"""


def check_identifiers_never_break(chromium: Chromium) -> None:
    """Event names, IPs, key IDs, times in every table (interactive and static, the answer's
    too) stay on one line: no `GetRegionOptS|tatus`, no `10.248.16.4|3` — on a laptop screen
    and in a narrow window."""
    for width in (SCREEN[0], 900):
        chromium.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": SCREEN[1], "deviceScaleFactor": 1, "mobile": False},
        )
        time.sleep(0.5)
        cells = chromium.evaluate("document.querySelectorAll('td.ti-id').length")
        assert cells > 200, cells  # the answer, sensitive calls, events, per-IP, plans…
        assert chromium.evaluate(BROKEN_IDENTIFIERS) == [], width


PRINTED = """(() => {
  const events = document.querySelector('.ti-print table.ti-printed');
  const rows = [...events.querySelectorAll('tbody.ti-row')];
  return {
    screens: [...document.querySelectorAll('.ti-screen')].map(e => getComputedStyle(e).display),
    prints: [...document.querySelectorAll('.ti-print')].map(e => getComputedStyle(e).display),
    rows: rows.length,
    drawn: rows.filter(r => r.getBoundingClientRect().height > 0).length,
    right: Math.max(...rows.map(r => r.getBoundingClientRect().right)),
    page: document.documentElement.clientWidth,
    agents: rows.filter(r => r.innerText.includes('user_agent')).length,
  };
})()"""


def check_printing_shows_every_row(out: Path, chromium: Chromium, summary: dict[str, Any]) -> None:
    """Printed (print media, an A4 landscape page's width): the interactive tables give way to
    static ones holding every event, each drawn inside the page; Chromium prints a landscape
    PDF."""
    chromium.open((out / "report.html").as_uri(), width=PRINT_WIDTH, height=SCREEN[1])
    assert chromium.wait_for("document.querySelectorAll('table.dataTable').length >= 2")
    chromium.media("print")
    try:
        found = chromium.evaluate(PRINTED)
    finally:
        chromium.media("")
    assert set(found["screens"]) == {"none"} and len(found["screens"]) >= 2
    assert set(found["prints"]) == {"block"}
    total = summary["events"]["total"]
    assert found["rows"] == found["drawn"] == found["agents"] == total
    assert found["right"] <= found["page"], found
    pdf = chromium.pdf()
    assert pdf.startswith(b"%PDF")
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert boxes and all(float(w) > float(h) for w, h in boxes)  # landscape pages
