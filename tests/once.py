"""What a module- or session-scoped fixture makes at great cost (a report run in a kernel),
made once per test run instead of once per pytest-xdist worker.

Under pytest-xdist each worker is a process of its own with its own fixtures: a module fixture
is made again by every worker that takes a test of its module (``--dist worksteal`` spreads a
module's tests over the workers), a session fixture by every worker that needs it. Their
temporary folders share one parent (``…/pytest-N/popen-gwK``): :func:`made_once` makes the thing
there, under a lock, the first time a worker asks, and every later ask (that worker's or
another's) gets the same folder. A making that fails leaves nothing for the others: the next
ask makes it afresh in a new folder (and fails or not by itself). Without xdist it is simply
made, in the session's temporary folder.

What is made must be read only: a test that changes it copies it first (as with any shared
fixture), since the other workers' tests read it too. A ``make`` never asks for its own name
again (the lock is held while it runs).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest


def made_once(factory: pytest.TempPathFactory, name: str, make: Callable[[Path], None]) -> Path:
    """A folder ``make(folder)`` filled, once per test run (every xdist worker shares it)."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:  # one process: the fixture's scope is it
        folder = factory.mktemp(name)
        make(folder)
        return folder
    shared = factory.getbasetemp().parent / f"made-once-{name}"  # the run's, not the worker's
    shared.mkdir(exist_ok=True)
    with open(shared / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker making it: wait for it, then reuse
        done = shared / "done"
        if done.exists():
            return Path(done.read_text(encoding="utf-8"))
        folder = Path(tempfile.mkdtemp(prefix=f"{os.environ['PYTEST_XDIST_WORKER']}-", dir=shared))
        make(folder)
        done.write_text(str(folder), encoding="utf-8")
        return folder
