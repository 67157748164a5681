"""The one clock every timer in callgate reads, and the shared 20 ms media ticker.

Only this module touches real time. Everything else (ring timeouts, playout, SIP timers, the simulated
carrier) takes a `Clock`, so tests use `ManualClock` and step time by hand instead of sleeping.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any, Protocol, TypeVar

from callgate.hrtimer import periodic_timer
from callgate.media.pcm import FRAME_MS

FRAME_S = FRAME_MS / 1000
T = TypeVar("T")


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a monotonic scale; differences are durations."""

    def utcnow(self) -> datetime:
        """Wall-clock time (aware, UTC) for records."""

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` when `monotonic()` reaches `when`."""

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        """Run `callback` `delay_s` seconds from now."""


async def within(clock: Clock, delay_s: float, awaitable: Awaitable[T]) -> T:
    """Await `awaitable` for at most `delay_s` on `clock` (asyncio.timeout would read the loop's
    time, not the clock). Past that, TimeoutError is raised at once and the work is cancelled; its
    clean-up (a database connection being dropped, say) finishes after the caller has moved on,
    because a connection that hangs can hang its clean-up too."""
    task = asyncio.ensure_future(awaitable)
    expired: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def expire() -> None:
        if not task.done():
            expired.set_result(None)
            task.cancel()

    timer = clock.call_later(max(0.0, delay_s), expire)
    try:
        await asyncio.wait((task, expired), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        timer.cancel()
    if not task.done() or task.cancelled():
        task.add_done_callback(_consume)
        raise TimeoutError(f"no answer within {delay_s:g} s")
    return task.result()


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a failure after the timeout is not reported twice


class LoopClock:
    """Real time, with timers on the running asyncio loop.

    `monotonic()` reads `time.monotonic()` when the loop's clock is the same one, as asyncio's is
    and uvloop's is to the millisecond: uvloop's `loop.time()` has only millisecond resolution,
    too coarse for media timing (RTP jitter, send times). Timers still go through the loop, which
    may run them up to a millisecond off; everything that reads the time copes with that.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._read: Callable[[], float] | None = None
        # Timers armed and neither run nor cancelled: what the idle-state probe reports, since a
        # loop's own list of timers keeps cancelled ones for a while (and uvloop's is hidden).
        self.pending_timers = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def monotonic(self) -> float:
        read = self._read
        if read is None:
            loop_time = self.loop.time
            read = self._read = (
                time.monotonic if abs(loop_time() - time.monotonic()) < 0.005 else loop_time
            )
        return read()

    def utcnow(self) -> datetime:
        return datetime.now(UTC)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = _LoopTimer(self, callback)
        timer.handle = self.loop.call_at(when, timer.fire)
        self.pending_timers += 1
        return timer

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        timer = _LoopTimer(self, callback)
        timer.handle = self.loop.call_later(delay_s, timer.fire)
        self.pending_timers += 1
        return timer

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py)."""
        return {"timers": self.pending_timers}

    def call_every(
        self, first_at: float, period_s: float, callback: Callable[[], None]
    ) -> Timer | None:
        """A precise periodic timer (a timerfd, see `callgate.hrtimer`) when this clock reads
        `time.monotonic()`; None otherwise, and the caller uses `call_at`."""
        self.monotonic()  # settles which clock is read
        if self._read is not time.monotonic:
            return None
        return periodic_timer(self.loop, first_at, period_s, callback)


class _LoopTimer:
    """A loop timer that tells its clock when it is no longer pending (run or cancelled)."""

    __slots__ = ("_callback", "_clock", "handle")

    def __init__(self, clock: LoopClock, callback: Callable[[], None]) -> None:
        self._clock = clock
        self._callback = callback
        self.handle: asyncio.TimerHandle | None = None

    def fire(self) -> None:
        if self.handle is None:
            return
        self.handle = None
        self._clock.pending_timers -= 1
        self._callback()

    def cancel(self) -> None:
        handle = self.handle
        if handle is not None:
            self.handle = None
            self._clock.pending_timers -= 1
            handle.cancel()


class _ManualTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that moves only when told to: `advance()` runs due timers in deadline order.

    Time is kept in whole nanoseconds, so thousands of small steps add up exactly.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now_ns = 0
        self._epoch = start or datetime(2025, 7, 23, 3, 37, 56, tzinfo=UTC)
        self._heap: list[tuple[int, int, _ManualTimer]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now_ns / 1e9

    def utcnow(self) -> datetime:
        return self._epoch + timedelta(microseconds=self._now_ns // 1000)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer(when, callback)
        heapq.heappush(self._heap, (round(when * 1e9), next(self._seq), timer))
        return timer

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer(self.monotonic() + delay_s, callback)
        heapq.heappush(self._heap, (self._now_ns + round(delay_s * 1e9), next(self._seq), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, running every timer that falls due, each at its own deadline."""
        target_ns = self._now_ns + round(seconds * 1e9)
        while self._heap and self._heap[0][0] <= target_ns:
            when_ns, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now_ns = max(self._now_ns, when_ns)
            timer.callback()
        self._now_ns = target_ns

    def set_time(self, seconds: float) -> None:
        """Jump to `seconds` without running timers, as a stalled event loop would experience it."""
        self._now_ns = round(seconds * 1e9)

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py): timers neither run nor cancelled."""
        return {"timers": sum(1 for _, _, timer in self._heap if not timer.cancelled)}

    def next_deadline(self) -> float | None:
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] / 1e9 if self._heap else None


class TickPhase(IntEnum):
    """The order of work within one tick; listeners run phase by phase, in subscription order within one.

    Playout first, so that the frame a call plays this tick is with its trunk before the trunk
    sends; then the trunks, which send every call's frame and then read what arrived; then whatever
    reacts to the tick's outcome. Written here so the order is code, not the order of start-up.
    """

    PLAYOUT = 0
    """The call service: each connected call's next frame (or silence) handed to its trunk."""
    TRUNK = 1
    """The trunks: send this tick's frames, then receive (the SIP trunk's RTP, the simulator's callers)."""
    AFTER_MEDIA = 2
    """Listeners of what the tick carried: Socket.IO acks that found no audio frame to ride with."""


class MediaTicker:
    """One 20 ms tick for all calls: listeners run phase by phase (`TickPhase`) on every frame boundary.

    Deadlines are absolute (start + n x 20 ms), so lateness never accumulates into drift. When the
    loop falls behind by more than `max_catch_up` frames, the ticker skips ahead rather than bursting.
    On a real-time `LoopClock` the wake-ups come from one periodic high-resolution timer
    (`LoopClock.call_every`); otherwise, and on a `ManualClock`, each tick arms the next `call_at`.
    """

    def __init__(self, clock: Clock, frame_s: float = FRAME_S, max_catch_up: int = 5) -> None:
        self._clock = clock
        self._frame_s = frame_s
        self._max_catch_up = max_catch_up
        self._listeners: dict[tuple[TickPhase, int], Callable[[int], None]] = {}
        self._in_order: tuple[Callable[[int], None], ...] = ()
        self._ids = itertools.count()
        self._timer: Timer | None = None
        self._start = 0.0
        self.tick_no = 0
        self.skipped_frames = 0
        self.on_error: Callable[[BaseException], None] | None = None
        # Told, once per wake-up, how late (s) the first tick due ran after its deadline.
        self.lateness_observer: Callable[[float], None] | None = None

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py): a listener per call would be a leak."""
        return {"tick_listeners": len(self._listeners)}

    def subscribe(
        self, listener: Callable[[int], None], phase: TickPhase = TickPhase.TRUNK
    ) -> Callable[[], None]:
        """Add a listener called with the tick number in `phase`; returns the function that removes it."""
        key = (phase, next(self._ids))
        self._listeners[key] = listener
        self._reorder()

        def unsubscribe() -> None:
            if self._listeners.pop(key, None) is not None:
                self._reorder()

        return unsubscribe

    def _reorder(self) -> None:
        self._in_order = tuple(self._listeners[key] for key in sorted(self._listeners))

    def start(self) -> None:
        if self._timer is not None:
            return
        self._start = self._clock.monotonic()
        self.tick_no = 0
        if isinstance(self._clock, LoopClock):
            first = self._start + self._frame_s
            self._timer = self._clock.call_every(first, self._frame_s, self._run_due)
            if self._timer is not None:
                return
        self._arm()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self) -> None:
        self._timer = self._clock.call_at(
            self._start + (self.tick_no + 1) * self._frame_s, self._tick
        )

    def _tick(self) -> None:
        self._run_due()
        self._arm()

    def _run_due(self) -> None:
        now = self._clock.monotonic()
        due = int((now - self._start) / self._frame_s + 1e-6)
        if self.lateness_observer is not None and due > self.tick_no:
            self.lateness_observer(max(0.0, now - self._start - (self.tick_no + 1) * self._frame_s))
        behind = due - self.tick_no
        if behind > self._max_catch_up:
            self.skipped_frames += behind - 1
            self.tick_no = due - 1
            behind = 1
        for _ in range(max(behind, 1)):
            self.tick_no += 1
            for listener in self._in_order:
                try:
                    listener(self.tick_no)
                except Exception as exc:  # one bad listener must not stop media for every call
                    if self.on_error is not None:
                        self.on_error(exc)
