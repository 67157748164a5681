"""The call's bounded receive queue: what a slow handler loses, and what it never loses."""

from __future__ import annotations

import asyncio

import pytest

from callgate.appkit.call import EventQueue
from callgate.inbound.protocol import AudioFrame, CallerDtmf, CallerHangup


def frame(index: int) -> AudioFrame:
    return AudioFrame(bytes([index]) * 320)


async def drain(queue: EventQueue) -> list[object]:
    items: list[object] = []
    while (event := await queue.get()) is not None:
        items.append(event)
    return items


async def test_full_queue_drops_the_oldest_audio_in_order() -> None:
    queue = EventQueue(max_events=3)
    for index in range(5):
        queue.put(frame(index))
    assert queue.dropped_audio_frames == 2
    queue.close()
    assert await drain(queue) == [frame(2), frame(3), frame(4)]


async def test_control_events_are_never_dropped_and_push_out_audio() -> None:
    queue = EventQueue(max_events=3)
    queue.put(CallerDtmf("1"))
    queue.put(frame(0))
    queue.put(CallerDtmf("2"))
    queue.put(frame(1))  # full: the oldest audio (behind a DTMF) goes
    queue.put(CallerDtmf("3"))  # full: audio goes again
    assert len(queue) == 3
    queue.put(frame(2))  # only control events left: the new audio itself is dropped
    queue.put(CallerHangup())  # kept even over the limit
    queue.close()
    assert await drain(queue) == [CallerDtmf("1"), CallerDtmf("2"), CallerDtmf("3"), CallerHangup()]
    assert queue.dropped_audio_frames == 3


async def test_a_waiting_reader_wakes_on_put_and_on_close() -> None:
    queue = EventQueue()
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put(frame(9))
    assert await asyncio.wait_for(reader, 5) == frame(9)
    reader = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.close()
    assert await asyncio.wait_for(reader, 5) is None
    queue.put(frame(1))  # after close: ignored
    assert await queue.get() is None


async def test_two_readers_are_a_programming_error() -> None:
    queue = EventQueue()
    first = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="two tasks"):
        await queue.get()
    queue.close()
    assert await asyncio.wait_for(first, 5) is None


def test_the_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EventQueue(0)
