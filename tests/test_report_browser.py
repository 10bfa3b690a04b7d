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
import fcntl
import gzip
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from torinvest import report
from torinvest.case import sample_case

CHROMIUM = os.environ.get("TORINVEST_CHROMIUM", "/usr/bin/chromium")
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
    assert replaced >= 3, "the sample case no longer has the user agents this test replaces"
    bad = logs / BAD_FILE_NAME
    bad.write_text('{"Records": [{"userIdentity": {"accessKeyId": "' + KEY + '"')
    return case


# --------------------------------------------------------------------------------------------
# a small DevTools-protocol client over --remote-debugging-pipe
# --------------------------------------------------------------------------------------------
class Chromium:
    """Headless Chromium with a DevTools pipe on fds 3 (commands) and 4 (replies/events)."""

    def __init__(self, profile: Path) -> None:
        to_chrome, self._write = os.pipe()
        self._read, from_chrome = os.pipe()
        # fds 3 and 4 in the child: move ours above them first, then let bash place them
        r = fcntl.fcntl(to_chrome, fcntl.F_DUPFD, 10)
        w = fcntl.fcntl(from_chrome, fcntl.F_DUPFD, 10)
        os.close(to_chrome)
        os.close(from_chrome)
        args = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{r} 4>&{w} {r}<&- {w}>&-', "chromium", *args],
            pass_fds=(r, w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(r)
        os.close(w)
        self._buffer = b""
        self._id = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def call(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True) -> Any:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params or {}}
        if page and self.session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._next()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def _next(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the DevTools pipe")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(line)

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)
        self.session = self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False
        )["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False},
        )
        self.call("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.2)

    def screenshot(self, path: Path, *, y: int = 0, height: int = 1000) -> None:
        import base64

        shot = self.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": y, "width": 1400, "height": height, "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)
        os.close(self._read)
        os.close(self._write)


@contextmanager
def chromium(profile: Path) -> Iterator[Chromium]:
    browser = Chromium(profile)
    try:
        yield browser
    finally:
        browser.close()


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
        case_dir=str(hostile_case(tmp_path)), ledger=str(tmp_path / "l.jsonl")
    )
    report.run_report(FINDING, out, options)
    check_csv_exports_neutralize_formulas(out)
    _need_chromium()
    with chromium(tmp_path / "profile") as browser:
        check_attacker_text_never_runs_and_shows_as_text(out, browser, tmp_path)


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
    assert any(FORMULA_UA in v for v in cells)
