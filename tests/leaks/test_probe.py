"""The idle-state probe itself: what it counts, and that a timer run or cancelled is given back."""

from __future__ import annotations

import asyncio
import os

from callgate.clock import LoopClock, ManualClock
from callgate.idle import IdleProbe, differences, open_fds


async def test_the_loop_clock_counts_timers_until_they_run_or_are_cancelled() -> None:
    clock = LoopClock()
    ran = asyncio.Event()
    first = clock.call_later(0.001, ran.set)
    second = clock.call_later(60, ran.set)
    assert clock.held() == {"timers": 2}
    second.cancel()
    second.cancel()  # twice is harmless and not counted twice
    await asyncio.wait_for(ran.wait(), 5)
    first.cancel()  # after it ran: nothing to give back
    assert clock.held() == {"timers": 0}


def test_the_manual_clock_counts_timers_not_yet_due() -> None:
    clock = ManualClock()
    clock.call_later(1, lambda: None)
    cancelled = clock.call_later(2, lambda: None)
    cancelled.cancel()
    assert clock.held() == {"timers": 1}
    clock.advance(1)
    assert clock.held() == {"timers": 0}


def test_the_probe_sums_what_parts_report_and_sees_a_descriptor_opened() -> None:
    class Part:
        def __init__(self, held: dict[str, int]) -> None:
            self._held = held

        def held(self) -> dict[str, int]:
            return self._held

    probe = IdleProbe((Part({"outbox_entries": 2}), Part({"outbox_entries": 3}), object()))
    before = probe.snapshot()
    assert before["outbox_entries"] == 5
    assert before["asyncio_tasks"] == 0  # no running loop
    read, write = os.pipe()
    try:
        assert open_fds() == before["open_fds"] + 2
        assert differences(before, probe.snapshot()) == {
            "open_fds": (before["open_fds"], before["open_fds"] + 2)
        }
    finally:
        os.close(read)
        os.close(write)
    assert differences(before, probe.snapshot()) == {}
    assert differences({"a": 1}, {"b": 1}) == {"a": (1, 0), "b": (0, 1)}
