"""Investigations that run in a scheduled run's worker processes (``--jobs`` > 1): module-level,
so they pickle into a spawned worker. Used by tests/post/test_state.py."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from tests.post.conftest import make_report, summary_data

#: How long a stand-in waits for the other worker before giving up (never reached when the
#: test passes: each wait ends on a file the other writes).
PATIENCE_S = 60.0


def _wait_for(found: object, what: str) -> None:
    end = time.monotonic() + PATIENCE_S
    while not found():  # type: ignore[operator]
        if time.monotonic() > end:
            raise RuntimeError(f"waited {PATIENCE_S} s for {what}")
        time.sleep(0.02)


def killed_by_oom(finding_id: str, folder: Path, *, marks: str, victim: str) -> None:
    """``victim``'s worker is killed (SIGKILL, as the out-of-memory killer kills) while another
    investigation runs beside it; the others' first run is still going when it dies (each
    waits for a file nobody writes, and is ended with the broken pool), their second writes
    a complete report."""
    here = Path(marks)
    if finding_id == victim:
        _wait_for(lambda: any(p.name != f"started-{victim}" for p in here.glob("started-*")),
                  "another investigation to start")  # fmt: skip
        (here / f"started-{victim}").touch()
        os.kill(os.getpid(), signal.SIGKILL)
    started = here / f"started-{finding_id}"
    if not started.exists():
        started.touch()
        _wait_for(lambda: False, "the end of this worker")  # the broken pool ends it
    make_report(folder, summary=summary_data(), finding_id=finding_id)
