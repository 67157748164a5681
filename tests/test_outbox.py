"""A slow client's outgoing queue: bounded, oldest audio dropped, control events always kept."""

from __future__ import annotations

from callgate.outbox import Outbox


async def test_oldest_audio_is_dropped_and_counted_control_events_are_kept() -> None:
    box = Outbox(max_audio=3)
    box.put("dialStatus", {"sessionId": "a", "status": "Connected"})
    for n in range(5):
        box.put("audio", {"sessionId": "a", "n": n}, audio=True, session_id="a")
    box.put("hangup", {"sessionId": "a"})
    items = [await box.get() for _ in range(len(box))]
    assert [(i.event, i.data.get("n")) for i in items if i is not None] == [
        ("dialStatus", None),
        ("audio", 2),
        ("audio", 3),
        ("audio", 4),
        ("hangup", None),
    ]
    assert box.take_dropped() == {"a": 2}
    assert box.take_dropped() == {}


async def test_audio_budget_is_shared_across_calls_and_freed_as_it_is_sent() -> None:
    box = Outbox(max_audio=2)
    box.put("audio", {"sessionId": "a"}, audio=True, session_id="a")
    box.put("audio", {"sessionId": "b"}, audio=True, session_id="b")
    await box.get()
    box.put("audio", {"sessionId": "b"}, audio=True, session_id="b")
    assert box.take_dropped() == {}
    box.put("audio", {"sessionId": "b"}, audio=True, session_id="b")
    assert box.take_dropped() == {"b": 1}
    assert len(box) == 2


async def test_a_connection_that_never_reads_overflows_instead_of_growing() -> None:
    box = Outbox(max_audio=2, max_items=3)
    for n in range(3):
        box.put("newSession", {"n": n})
    assert not box.overflowed
    box.put("newSession", {"n": 3})
    assert box.overflowed
    box.put("newSession", {"n": 4})
    assert len(box) == 3
    assert await box.get() is None
