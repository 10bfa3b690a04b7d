"""A small DevTools-protocol client for headless Chromium over ``--remote-debugging-pipe``: no
port, no extra package. Used by the browser tests and by ``tools/report_screenshots.py``.

``CHROMIUM`` (``$TORINVEST_CHROMIUM``, default Debian's ``/usr/bin/chromium``) is the browser.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("TORINVEST_CHROMIUM", "/usr/bin/chromium")
#: The viewport the browser tests use unless they set another (a common laptop screen).
WIDTH, HEIGHT = 1400, 1000


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
        profile.mkdir(parents=True, exist_ok=True)
        args = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
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
        self.width, self.height = WIDTH, HEIGHT

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

    def open(self, url: str, *, width: int = WIDTH, height: int = HEIGHT) -> None:
        """A new tab of ``width`` × ``height`` CSS pixels showing ``url``."""
        target = self.call("Target.createTarget", {"url": "about:blank"}, page=False)
        self.session = self.call(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False
        )["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        self.width, self.height = width, height
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
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

    def media(self, kind: str) -> None:
        """Emulate CSS media ``print`` or ``screen`` (``""``: back to the default)."""
        self.call("Emulation.setEmulatedMedia", {"media": kind})

    def screenshot(
        self, path: Path, *, y: int = 0, height: int | None = None, width: int | None = None
    ) -> None:
        shot = self.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": y,
                    "width": width or self.width,
                    "height": height or self.height,
                    "scale": 1,
                },
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))

    def pdf(self) -> bytes:
        """The page printed to PDF (A4, backgrounds on), as Chromium's print dialog makes it."""
        printed = self.call(
            "Page.printToPDF",
            {"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": True},
        )
        return base64.b64decode(printed["data"])

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
