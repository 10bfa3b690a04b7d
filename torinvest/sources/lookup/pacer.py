"""Pacing LookupEvents: one :class:`Pacer` per (account, region), shared by every lookup there,
keeps the documented rate from measured round trips.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

#: Documented limit: 2 LookupEvents requests per second per account per region.
LOOKUP_RATE_PER_REGION = 2.0


# --------------------------------------------------------------------------------------------
# pacing
# --------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Slot:
    """One call as its :class:`Pacer` sees it: the start it was given, when its request left
    (None: not seen; the start stands for it), when its answer arrived (None: not yet)."""

    start: float
    sent: float | None = None
    answered: float | None = None

    @property
    def left(self) -> float:
        return self.start if self.sent is None else self.sent

    @property
    def round_trip(self) -> float | None:
        return None if self.answered is None else self.answered - self.left


class Pacer:
    """Keeps calls within ``rate`` per second as the server counts them: by the time each
    request *arrives*, over a sliding window.

    With ``C = rate × window`` calls allowed per window, a call may start once the call ``C``
    before it arrived at the server a full window ago. The client never sees arrival times, so
    they are bounded from what it measures, each call's round trip (request sent → answer back,
    stamped by :func:`lookup_client`'s hooks before botocore parses the answer):

    * **safe bound** — a request arrives before its answer comes back, so starting a window
      after the answer to the call ``C`` before is within the limit whatever the network does
      (a whole round trip lost per ``C`` calls: 0.3 s a second at 300 ms);
    * **measured bound** (once :data:`MIN_SAMPLES` round trips are known) — the fastest
      recent round trip (``floor``) is time every request spends on its way and at the server
      and every answer on its way back; the spread of the recent round trips (``jitter``, max
      − min) bounds how much faster than that one a request or an answer may travel. So a
      request arrives at the latest ``floor − jitter`` before its answer comes back, and after
      it left: a call may start ``floor − jitter`` earlier than the safe bound (never later).
      Both are measured on this pacer's own recent calls (:attr:`margins` keeps the margin
      each call was given over "a window after the call ``C`` before was sent"). The
      assumption: no request travels much faster than the recent ones did — a network whose
      one-way delay falls by more than its recent jitter from one call to the next can see a
      call refused, which the pacer then answers by keeping to the safe bound.

    A throttled call (:meth:`done` with ``throttled``) means the measured bound did not hold
    for this server: the pacer keeps to the safe bound from then on. Calls also start at
    least ``1/rate`` apart. Thread-safe: calls that share a pacer are reserved in order; a
    call whose bound depends on an answer still in flight waits for it.
    ``wait`` returns the call's :class:`Slot`; pass it to :meth:`sent` (optional) and
    :meth:`done` (``done()`` alone answers the oldest call still open).
    """

    #: The recent round trips the floor and the jitter are measured on, and how many are
    #: needed before the measured bound is used (2 was tried: on a machine loaded 6× over
    #: its cores, a few requests arrived up to 10 ms inside the window — the spread of two
    #: round trips is too thin a measure).
    SAMPLES = 16
    MIN_SAMPLES = 4
    #: Added to the measured bound: floating-point rounding of the clocks, so that a gap of
    #: exactly one window is never read as a hair under it (a microsecond; not a network guess).
    EPSILON = 1e-6

    def __init__(
        self,
        rate: float,
        *,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or window <= 0:
            raise ValueError(f"a pacer needs a positive rate and window, not {rate}/{window}")
        self.rate = rate
        self.capacity = max(1, int(rate * window + 1e-9))
        self.window = self.capacity / rate  # ≥ window: a rate under 1/window gets 1 call
        self.interval = 1.0 / rate
        self.safe = False
        self.margins: deque[float] = deque(maxlen=1000)
        self._slots: deque[Slot] = deque(maxlen=self.capacity)
        self._open: deque[Slot] = deque()
        self._round_trips: deque[float] = deque(maxlen=self.SAMPLES)
        self._next = 0.0
        self._reserving = threading.Lock()  # one reservation at a time (it may wait)
        self._state = threading.Condition()  # guards the rest; notified on each answer
        self._clock = clock
        self._sleep = sleep

    def wait(self, stop: threading.Event | None = None) -> Slot:
        """Block until the next call may start; that call's slot. ``stop`` (set on Ctrl-C) ends
        the wait at once — a retry's backoff (:meth:`push_back`, up to 20 s) included —, and
        the caller checks it before calling."""
        with self._reserving, self._state:
            ref = self._slots[0] if len(self._slots) == self.capacity else None
            while ref is not None and ref.answered is None:
                self._state.wait()  # its answer bounds this start (every call ends in done)
            now = self._clock()
            at = max(now, self._next)
            if ref is not None:
                at = max(at, self._bound(ref))
            slot = Slot(at)
            self._slots.append(slot)
            self._open.append(slot)
            self._next = at + self.interval
        if at > now:
            if stop is not None:
                stop.wait(at - now)
            else:
                self._sleep(at - now)
        return slot

    def _bound(self, ref: Slot) -> float:
        """The earliest start for the call ``capacity`` after ``ref`` (class docstring)."""
        assert ref.answered is not None
        safe = ref.answered + self.window
        if self.safe or len(self._round_trips) < self.MIN_SAMPLES:
            self.margins.append(safe - ref.left - self.window)
            return safe
        floor, jitter = min(self._round_trips), max(self._round_trips) - min(self._round_trips)
        bound = min(safe, ref.answered + self.window - floor + jitter + self.EPSILON)
        self.margins.append(bound - ref.left - self.window)
        return bound

    def sent(self, slot: Slot) -> None:
        """Record that the slot's request is leaving now (after it was signed)."""
        slot.sent = self._clock()

    def answered(self, slot: Slot) -> None:
        """Record that the slot's answer arrived now (before it is parsed)."""
        if slot.answered is None:
            slot.answered = self._clock()

    def done(self, slot: Slot | None = None, *, throttled: bool = False) -> None:
        """The call of ``slot`` (default: the oldest open one) is over; ``throttled``: the
        server refused it as over its rate (the pacer turns to the safe bound)."""
        with self._state:
            if slot is None:
                if not self._open:
                    return
                slot = self._open[0]
            with contextlib.suppress(ValueError):
                self._open.remove(slot)
            if slot.answered is None:
                slot.answered = self._clock()
            trip = slot.round_trip
            if trip is not None and trip >= 0:
                self._round_trips.append(trip)
            if throttled:
                self.safe = True
            self._state.notify_all()

    def push_back(self, seconds: float) -> None:
        with self._state:
            self._next = max(self._next, self._clock() + seconds)


# --------------------------------------------------------------------------------------------
# no full garbage collection while requests are paced
# --------------------------------------------------------------------------------------------
_DEFERRING = threading.Lock()
_deferred = 0
_thresholds: tuple[int, int, int] | None = None
#: The oldest generation's threshold while a pull runs: never reached.
_NEVER = 1 << 30
#: Whether there is a pause to avoid: from Python 3.14 the collector is incremental (the old
#: generation is scanned a slice at a time) and ``set_threshold`` ignores its third value.
DEFERS_FULL_COLLECTIONS = sys.version_info < (3, 14)


@contextlib.contextmanager
def full_collections_deferred() -> Iterator[None]:
    """No collection of the oldest garbage generation inside the block (nestable, any thread).

    One such collection stops every thread of a process holding pandas, pyarrow and botocore
    for 50–120 ms (measured: once per pull of 6,000 events over 4 regions). Every region's
    answer in flight is then stamped late; that round trip widens the pacer's measured jitter,
    and the region's next :attr:`Pacer.SAMPLES` calls start that much later than they could
    (runs went from 0.95 to 0.92 of the limit). The young generations are still collected, so
    a pull's short-lived cycles are freed as usual; those that survive wait for the end of the
    block, when the thresholds are restored.
    """
    global _deferred, _thresholds
    if not DEFERS_FULL_COLLECTIONS:
        yield
        return
    with _DEFERRING:
        if _deferred == 0:
            _thresholds = gc.get_threshold()
            gc.set_threshold(_thresholds[0], _thresholds[1], _NEVER)
        _deferred += 1
    try:
        yield
    finally:
        with _DEFERRING:
            _deferred -= 1
            if _deferred == 0 and _thresholds is not None:
                gc.set_threshold(*_thresholds)
                _thresholds = None


_PACERS: dict[tuple[str, str], Pacer] = {}
_PACERS_LOCK = threading.Lock()


def pacer_for(account: str, region: str, rate: float = LOOKUP_RATE_PER_REGION) -> Pacer:
    """The process-wide pacer of one (account, region): every lookup there shares the limit."""
    with _PACERS_LOCK:
        key = (account, region)
        if key not in _PACERS or _PACERS[key].rate != rate:
            _PACERS[key] = Pacer(rate)
        return _PACERS[key]
