"""The shared media tick: exact over an hour, catching up when late, never bursting without bound."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from callgate.clock import FRAME_S, LoopClock, ManualClock, MediaTicker, TickPhase, within
from callgate.hrtimer import PeriodicTimer, periodic_timer


def test_an_hour_of_ticks_is_exactly_180000_whatever_the_steps() -> None:
    clock = ManualClock()
    ticker = MediaTicker(clock)
    times: list[float] = []
    ticker.subscribe(lambda n: times.append(clock.monotonic()))
    ticker.start()
    step_s = 0.037  # an awkward step that never lines up with the 20 ms grid
    for _ in range(round(3600 / step_s)):
        clock.advance(step_s)
    clock.advance(3600 - round(3600 / step_s) * step_s)
    assert ticker.tick_no == 180_000
    assert ticker.skipped_frames == 0
    # Every tick ran at its own deadline on the absolute grid: no drift accumulates.
    assert times[-1] == 3600.0
    assert all(abs(t - (i * 997 + 1) * 0.02) < 1e-9 for i, t in enumerate(times[::997]))


def test_a_late_loop_catches_up_then_skips_when_far_behind() -> None:
    clock = ManualClock()
    ticker = MediaTicker(clock, max_catch_up=5)
    ticks: list[int] = []
    ticker.subscribe(ticks.append)
    ticker.start()
    clock.advance(0.02)
    assert ticks == [1]

    # The timer fires 60 ms late (a stalled loop): the missed frames are played at once.
    late = ManualClock()
    late_ticker = MediaTicker(late, max_catch_up=5)
    seen: list[int] = []
    late_ticker.subscribe(seen.append)
    late_ticker.start()
    late.set_time(0.08)  # time passes without the timer running
    late.advance(0.0)
    assert seen == [1, 2, 3, 4]

    # Far behind (a 1 s stall): no burst of 50 frames; skip ahead and count what was skipped.
    far = ManualClock()
    far_ticker = MediaTicker(far, max_catch_up=5)
    got: list[int] = []
    far_ticker.subscribe(got.append)
    far_ticker.start()
    far.set_time(1.0)
    far.advance(0.0)
    assert got == [50]
    assert far_ticker.skipped_frames == 49


def test_a_failing_listener_does_not_stop_the_others() -> None:
    clock = ManualClock()
    ticker = MediaTicker(clock)
    errors: list[BaseException] = []
    ticker.on_error = errors.append
    seen: list[int] = []

    def broken(_: int) -> None:
        raise RuntimeError("boom")

    ticker.subscribe(broken)
    ticker.subscribe(seen.append)
    ticker.start()
    clock.advance(0.06)
    assert seen == [1, 2, 3]
    assert len(errors) == 3


def test_listeners_run_phase_by_phase_whatever_order_they_subscribed_in() -> None:
    clock = ManualClock()
    ticker = MediaTicker(clock)
    ran: list[str] = []
    ticker.subscribe(lambda n: ran.append("after"), TickPhase.AFTER_MEDIA)
    ticker.subscribe(lambda n: ran.append("trunk 1"), TickPhase.TRUNK)
    stop_playout = ticker.subscribe(lambda n: ran.append("playout"), TickPhase.PLAYOUT)
    ticker.subscribe(lambda n: ran.append("trunk 2"))  # a trunk's phase unless told
    ticker.start()
    clock.advance(0.02)
    assert ran == ["playout", "trunk 1", "trunk 2", "after"]
    stop_playout()
    clock.advance(0.02)
    assert ran[4:] == ["trunk 1", "trunk 2", "after"]


def test_unsubscribe() -> None:
    clock = ManualClock()
    ticker = MediaTicker(clock)
    seen: list[int] = []
    stop = ticker.subscribe(seen.append)
    ticker.start()
    clock.advance(0.04)
    stop()
    clock.advance(0.04)
    assert seen == [1, 2]


async def test_on_the_real_loop_ticks_come_from_a_timerfd_and_never_early() -> None:
    # A real-time ticker on Linux is driven by one periodic high-resolution timer (a timerfd the
    # loop watches): each tick runs at or after its deadline on the absolute 20 ms grid.
    clock = LoopClock()
    ticker = MediaTicker(clock)
    seen: list[tuple[int, float]] = []
    done = asyncio.get_running_loop().create_future()

    def listener(tick_no: int) -> None:
        seen.append((tick_no, clock.monotonic()))
        if len(seen) == 10 and not done.done():
            done.set_result(None)

    ticker.subscribe(listener)
    ticker.start()
    try:
        if sys.platform.startswith("linux"):
            assert isinstance(ticker._timer, PeriodicTimer)
        start = ticker._start
        await asyncio.wait_for(done, 10.0)
    finally:
        ticker.stop()
    assert [n for n, _ in seen] == list(range(1, 11))
    for tick_no, at in seen:
        assert at >= start + tick_no * FRAME_S - 1e-6
    assert clock.monotonic() == pytest.approx(time.monotonic(), abs=0.01)


async def test_a_cancelled_periodic_timer_closes_its_descriptor_and_stays_quiet() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("timerfd is Linux-only")
    loop = asyncio.get_running_loop()
    calls: list[float] = []
    fired = asyncio.Event()

    def callback() -> None:
        calls.append(1.0)
        fired.set()

    timer = periodic_timer(loop, time.monotonic() + 0.005, 0.005, callback)
    assert timer is not None
    fd = timer._fd
    await asyncio.wait_for(fired.wait(), 5.0)
    timer.cancel()
    timer.cancel()  # twice is harmless
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)  # closed (and not reused in between: nothing else opened a file)
    count = len(calls)
    await asyncio.sleep(0.03)
    assert len(calls) == count


async def test_within_answers_on_the_clocks_time_and_cancels_the_work() -> None:
    clock = ManualClock()
    gate = asyncio.Event()
    assert await within(clock, 1.0, asyncio.sleep(0, "done")) == "done"

    async def never() -> None:
        await gate.wait()

    work = asyncio.ensure_future(never())
    waiting = asyncio.ensure_future(within(clock, 2.0, work))
    await asyncio.sleep(0)
    clock.advance(1.9)
    await asyncio.sleep(0)
    assert not waiting.done()
    clock.advance(0.1)
    with pytest.raises(TimeoutError, match="no answer within 2 s"):
        await asyncio.wait_for(waiting, 5)
    await asyncio.sleep(0)
    assert work.cancelled()
