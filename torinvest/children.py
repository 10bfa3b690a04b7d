"""Worker processes that end with the process that started them.

A load's readers and a scheduled run's report workers work for the process that started them.
When that process is killed (``kill PID``, a job scheduler's timeout, a service stopped: a signal
sent to it alone, not to its process group as Ctrl-C is), its workers would otherwise go on —
a report still being written into a folder that the next run finishes too, a reader waiting
forever. On Linux each worker asks the kernel for SIGTERM when its parent ends
(``prctl(PR_SET_PDEATHSIG)``); a report's kernel notices its own parent (the worker) is gone
and exits (ipykernel polls ``JPY_PARENT_PID``). Elsewhere nothing is done.

SIGTERM sent to a ``torinvest`` command itself (what ``kill PID``, a scheduler's timeout and
``systemctl stop`` send) takes Ctrl-C's way out (:func:`sigterm_interrupts`): what was done is
written (a scheduled run's index and state, a ledger's lines), workers are stopped, and the
command says so and exits with 143.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from torinvest.stopping import signal_stop

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
    # a forked worker inherits its parent's handler (sigterm_interrupts): it ends at SIGTERM
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if failed:  # pragma: no cover - the kernel refused
        log.debug("could not ask to end with process %s", parent)
        return
    if os.getppid() != parent:
        os._exit(1)  # the parent ended before the request was made: nobody waits for this


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (:func:`sigterm_interrupts`): a KeyboardInterrupt, so that every path that
    finishes cleanly after Ctrl-C does so after SIGTERM too."""


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While in the block, SIGTERM raises :class:`Terminated` in the main thread (as Ctrl-C
    raises KeyboardInterrupt); the handler before is put back after. Outside the main thread
    (where no handler can be set) nothing changes. Worker threads are asked to stop
    (:func:`torinvest.stopping.signal_stop`) as Ctrl-C asks them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: FrameType | None) -> None:
        signal_stop()
        raise Terminated("SIGTERM")

    before = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)
