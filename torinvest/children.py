"""Worker processes that end with the process that started them.

A load's readers and a scheduled run's report workers work for the process that started them.
When that process is killed (``kill PID``, a job scheduler's timeout, a service stopped: a signal
sent to it alone, not to its process group as Ctrl-C is), its workers would otherwise go on —
a report still being written into a folder that the next run finishes too, a reader waiting
forever. On Linux each worker asks the kernel for SIGTERM when its parent ends
(``prctl(PR_SET_PDEATHSIG)``); a report's kernel notices its own parent (the worker) is gone
and exits (ipykernel polls ``JPY_PARENT_PID``). Elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

log = logging.getLogger(__name__)

#: ``prctl`` option (linux/prctl.h): the signal sent to this process when its parent ends.
_PR_SET_PDEATHSIG = 1


def end_with_parent(parent: int) -> None:
    """In a worker process: be sent SIGTERM when ``parent`` (the process that started it) ends.

    The kernel watches the thread that started the worker; the pools that call this start
    their workers from a thread that lives as long as the pool. When ``parent`` is already gone
    (it ended before this ran), the worker exits at once. Does nothing where ``prctl`` is not
    available (not Linux)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        failed = libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0
    except (OSError, AttributeError):  # pragma: no cover - no C library to call
        failed = True
    if failed:  # pragma: no cover - the kernel refused
        log.debug("could not ask to end with process %s", parent)
        return
    if os.getppid() != parent:
        os._exit(1)  # the parent ended before the request was made: nobody waits for this
