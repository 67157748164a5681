"""The event bus: every listener in order, or only the event types it asked for."""

from __future__ import annotations

import pytest

from callgate.calls.bus import EventBus
from callgate.calls.events import AudioReceived, BusEvent, CallCreated, DtmfReceived


def test_a_listener_that_names_its_kinds_hears_only_those() -> None:
    bus = EventBus()
    everything: list[BusEvent] = []
    created: list[BusEvent] = []
    bus.subscribe(everything.append)
    leave = bus.subscribe(created.append, (CallCreated,))
    events: list[BusEvent] = [
        CallCreated("s1", "acme", "outbound", "0812", None),
        AudioReceived("s1", "acme", bytes(320)),
        DtmfReceived("s1", "acme", "5"),
    ]
    for event in events:
        bus.publish(event)
    assert everything == events
    assert created == events[:1]
    leave()
    bus.publish(events[0])
    assert created == events[:1]
    assert everything == [*events, events[0]]


def test_a_kind_that_is_no_call_event_is_refused() -> None:
    with pytest.raises(ValueError, match="not call events: \\['str'\\]"):
        EventBus().subscribe(lambda _: None, (str,))
