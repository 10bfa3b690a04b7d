"""Screenshots of a report for the docs: its first screen at 1366×800 and a few sections.

    .venv/bin/python tools/report_screenshots.py                 # builds the demo report first
    .venv/bin/python tools/report_screenshots.py --report out/demo/report.html --out docs/img

Writes ``report-first-screen.png`` (what an analyst sees on opening the report),
``report-timeline.png`` (the timeline with the finding's first/last seen),
``report-sensitive-calls.png`` (the sensitive calls with their targets) and
``report-events-table.png`` (the events table, Tor and sensitive calls first). Headless
Chromium (``$TORINVEST_CHROMIUM`` or ``/usr/bin/chromium``) is driven over the DevTools pipe of
``tests/browser.py``. Not a test: the browser tests measure the same page.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import chromium  # noqa: E402

FINDING = "6dde0a8f8d46f6acad893b30f905e97c"
WIDTH, HEIGHT = 1366, 800
RENDERED = (
    "document.querySelector('#torinvest-answer') && "
    "document.querySelectorAll('.plotly-graph-div .main-svg').length >= 5 && "
    "document.querySelectorAll('table.dataTable tbody tr').length >= 10"
)
#: name → JavaScript giving the element to capture (its page box).
SECTIONS = {
    "report-timeline.png": "document.querySelectorAll('.plotly-graph-div')[0]",
    "report-sensitive-calls.png": (
        "[...document.querySelectorAll('.ti-card')].find(c => "
        "c.querySelector('h3')?.textContent.startsWith('Sensitive calls'))"
    ),
    "report-events-table.png": (
        "document.querySelector('table.dataTable').closest('.jp-OutputArea-output')"
    ),
}


def build_demo(out: Path) -> Path:
    """The demo report (the sample case, a malicious verdict in a throw-away ledger) in
    ``out``."""
    from torinvest.case import sample_case

    subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "torinvest"),
            "investigate",
            FINDING,
            "--case",
            str(sample_case().root),
            "--out",
            str(out),
            "--ledger",
            str(out.parent / "ledger.jsonl"),
            "--verdict",
            "malicious",
            "--analyst",
            "ana",
            "--rationale",
            "backdoor user created and a minted key used from Tor",
        ],
        check=True,
    )
    return out / "report.html"


def box(browser: object, expression: str) -> dict[str, float]:
    """The page box (x, y, width, height, in CSS pixels of the document) of an element."""
    return browser.evaluate(  # type: ignore[attr-defined]
        f"(() => {{ const r = ({expression}).getBoundingClientRect(); "
        "return {x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}; })()"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="report.html (default: build the demo)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        report = args.report or build_demo(Path(tmp) / "demo")
        with chromium(Path(tmp) / "profile") as browser:
            browser.open(report.resolve().as_uri(), width=WIDTH, height=HEIGHT)
            if not browser.wait_for(RENDERED):
                print("the report did not render", file=sys.stderr)
                return 1
            time.sleep(0.5)
            first = args.out / "report-first-screen.png"
            browser.screenshot(first, width=WIDTH, height=HEIGHT)
            print(first)
            for name, expression in SECTIONS.items():
                b = box(browser, expression)
                path = args.out / name
                browser.screenshot(
                    path, y=int(b["y"]) - 8, height=int(b["height"]) + 16, width=WIDTH
                )
                print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
