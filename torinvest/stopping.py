"""Ctrl-C and SIGTERM reach worker threads: one stop that their waits and calls watch.

Python runs signal handlers in the main thread only: Ctrl-C raises KeyboardInterrupt there, and a
worker thread sleeping (botocore's retry backoff: up to 20 s per attempt, ten attempts) sleeps
on. Leaving a thread pool waits for its threads, and so does the interpreter's exit: a Ctrl-C
during throttled regions took a minute to end the command.

Two ways to ask the threads to stop, both watched by :func:`pause` and :func:`check`:

- :func:`stop_on_signals` (the ``torinvest`` command, around the whole command): Ctrl-C and
  SIGTERM set a process-wide flag before the main thread's KeyboardInterrupt (or
  :class:`~torinvest.children.Terminated`) — whatever pool the threads belong to. The handler
  only sets a flag (no lock is taken inside a signal handler); waits look at it every
  :data:`SLICE` seconds.
- :func:`watching` (a thread pool's own event, :meth:`torinvest.aws.Aws.map_regions`): set when
  the thread that waits for the pool is interrupted — in a notebook too, where the kernel
  handles SIGINT.

In the main thread nothing changes: a signal already interrupts its sleep, and the calls it makes
after an interruption (stopping an Athena query, writing what was done) must still be made.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: How often a worker's wait looks at the stop (seconds).
SLICE = 0.1


class Stopped(KeyboardInterrupt):
    """Raised in a worker thread that was asked to stop: a KeyboardInterrupt, so that no
    ``except Exception`` takes it for a failure of the region, file or call and goes on."""


_signalled = False
_local = threading.local()


def stop_requested() -> bool:
    """Whether this thread was asked to stop (never in the main thread, see the module)."""
    if threading.current_thread() is threading.main_thread():
        return False
    if _signalled:
        return True
    events: list[threading.Event] = getattr(_local, "events", [])
    return any(e.is_set() for e in events)


def check(what: str = "") -> None:
    """Raise :class:`Stopped` when this worker thread was asked to stop."""
    if stop_requested():
        raise Stopped(f"{what}: stopped" if what else "stopped")


def pause(seconds: float, what: str = "") -> None:
    """Sleep ``seconds``; in a worker thread, raise :class:`Stopped` within :data:`SLICE` of a
    stop being asked instead of sleeping on."""
    if threading.current_thread() is threading.main_thread():
        time.sleep(seconds)  # a signal interrupts it
        return
    end = time.monotonic() + seconds
    while True:
        check(what)
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, SLICE))


@contextmanager
def watching(event: threading.Event) -> Iterator[None]:
    """In this thread, while in the block, ``event`` set asks it to stop."""
    events: list[threading.Event] = getattr(_local, "events", [])
    _local.events = [*events, event]
    try:
        yield
    finally:
        _local.events = events


def signal_stop() -> None:
    """Ask every worker thread to stop (a signal handler's part: sets a flag, takes no lock)."""
    global _signalled
    _signalled = True


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """While in the block, Ctrl-C asks every worker thread to stop before the main thread's
    KeyboardInterrupt; SIGTERM does the same through
    :func:`torinvest.children.sigterm_interrupts`. After the block, the flag is cleared and the
    SIGINT handler before is put back. A SIGINT that is ignored (a command started in the
    background) or handled by someone else stays so; outside the main thread nothing changes."""
    global _signalled
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGINT)

    def interrupted(signum: int, frame: FrameType | None) -> None:
        signal_stop()
        raise KeyboardInterrupt

    ours = before is signal.default_int_handler
    if ours:
        signal.signal(signal.SIGINT, interrupted)
    try:
        yield
    finally:
        if ours:
            signal.signal(signal.SIGINT, before)
        _signalled = False
