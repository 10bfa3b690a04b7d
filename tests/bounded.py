"""Run a call that must end: in a thread joined with a timeout, so that a regression that
would page for ever fails the test instead of hanging the suite (no pytest-timeout here)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Seconds a bounded call may take (a looping endpoint is stopped after a few pages).
BOUND_SECONDS = 30.0


def bounded(call: Callable[[], T], seconds: float = BOUND_SECONDS) -> T:
    """``call()``'s result, or its exception raised again; fails when it has not ended within
    ``seconds`` (the thread is a daemon: it is left behind, the test goes on)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as e:  # handed back to the caller
            box["error"] = e

    thread = threading.Thread(target=run, daemon=True, name="bounded-call")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"the call did not end within {seconds:.0f} s (endless paging?)")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]
