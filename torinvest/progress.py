"""Progress lines while long work runs: one line at a time, also off a terminal.

tqdm's bars show only on a terminal; under cron, a SOAR playbook or a pipe, a command that waits
on unreachable regions or retries printed nothing for a minute and more, and a hung tool could
not be told from a slow one. The ``torinvest`` command sends these lines to its stderr
(:func:`said_to`) as ``torinvest: <text>``; without it (the library, a notebook) they are
logged at INFO by this module's logger. :class:`Ticker` says how long work is going, every
:data:`EVERY_SECONDS`; :func:`say` with ``unless_within`` says a line only when none was said
that recently (retry waits: no more than one line in that time); :func:`waiting_for` and
:func:`answered` mark a call waiting for its answer, said when it waits EVERY_SECONDS or more.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm

log = logging.getLogger(__name__)

#: How often long work says where it is (seconds).
EVERY_SECONDS = 10.0

_lock = threading.Lock()
_sink: TextIO | None = None
_last_said: float | None = None


@contextmanager
def said_to(stream: TextIO) -> Iterator[None]:
    """While in the block, progress lines are written to ``stream`` (the command's stderr); the
    block's first line is never held back by a line said before it."""
    global _sink, _last_said
    with _lock:
        before, _sink = _sink, stream
        _last_said = None
    try:
        yield
    finally:
        with _lock:
            _sink = before


def say(text: str, *, unless_within: float | None = None) -> bool:
    """Say ``text`` (one line); with ``unless_within``, only when no line was said in that many
    seconds. Returns whether it was said. A terminal's progress bars are kept whole (the line is
    written above them)."""
    global _last_said
    text = " ".join(str(text).split())
    with _lock:
        now = time.monotonic()
        if (
            unless_within is not None
            and _last_said is not None
            and now - _last_said < unless_within
        ):
            return False
        _last_said = now
        sink = _sink
        if sink is None:
            log.info("%s", text)
            return True
        try:
            tqdm.write(f"torinvest: {text}", file=sink)
            sink.flush()
        except (OSError, ValueError):  # a closed stderr: the work goes on, unsaid
            pass
    return True


class Ticker:
    """A line every ``every`` seconds while in the block (the first after ``every``), each the
    text ``describe()`` returns then; nothing for work that ends sooner.

    >>> with Ticker(lambda: f"still searching: {done} of 34 regions answered"):  # doctest: +SKIP
    ...     work()
    """

    def __init__(self, describe: Callable[[], str], every: float | None = None) -> None:
        self._describe = describe
        self._every = EVERY_SECONDS if every is None else every
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._done.wait(self._every):
            try:
                text = self._describe()
            except Exception:  # pragma: no cover - a progress line never stops the work
                log.debug("progress line failed", exc_info=True)
                continue
            say(text)

    def __enter__(self) -> Ticker:
        self._thread = threading.Thread(target=self._run, name="torinvest-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(1.0)


#: How often the watch of calls waiting for an answer looks at them (seconds).
WATCH_SLICE = 1.0


class _Waits:
    """Calls waiting for an answer, one a thread (:func:`waiting_for`, :func:`answered`): one
    that waits :data:`EVERY_SECONDS` or more is said (``still waiting for ec2 DescribeRegions
    in us-east-1: no answer for 20 s``), every EVERY_SECONDS while it waits — an endpoint that
    drops packets is waited for 60 s a connection attempt, and said nothing for minutes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[threading.Thread, list[Any]] = {}  # thread → [what, since, said]
        self._watch: threading.Thread | None = None

    def start(self, what: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._calls[threading.current_thread()] = [what, now, now]
            if self._watch is None or not self._watch.is_alive():
                self._watch = threading.Thread(
                    target=self._run, name="torinvest-waits", daemon=True
                )
                self._watch.start()

    def end(self) -> None:
        with self._lock:
            self._calls.pop(threading.current_thread(), None)

    def _run(self) -> None:
        while True:
            time.sleep(WATCH_SLICE)
            now = time.monotonic()
            due: list[str] = []
            with self._lock:
                for thread, call in list(self._calls.items()):
                    if not thread.is_alive():
                        del self._calls[thread]
                    elif now - call[2] >= EVERY_SECONDS:
                        call[2] = now
                        due.append(
                            f"still waiting for {call[0]}: no answer for {now - call[1]:.0f} s"
                        )
            for text in due:
                say(text)


_waits = _Waits()


def waiting_for(what: str) -> None:
    """This thread now waits for ``what`` (a call: ``ec2 DescribeRegions in us-east-1``)."""
    _waits.start(what)


def answered() -> None:
    """This thread's call ended (answered or failed)."""
    _waits.end()
