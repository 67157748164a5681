"""The records between nodes: what one node writes, another reads back whole and in order."""

from __future__ import annotations

import pytest

from callgate.nodes import wire


def test_records_of_one_message_come_back_in_order() -> None:
    sid = "0b0f6c1e-3c1a-4b6e-9d57-3d1f2a4c5e6f"
    frame = bytes(range(256)) + bytes(64)
    req = wire.Request(7, "node-a", "sio", "acme", {"e": "audio", "sessionId": sid}, b"\x00\xff")
    message = (
        wire.audio(sid, frame)
        + wire.event(sid, "dtmf", {"sessionId": sid, "digit": "7"})
        + wire.request(req)
        + wire.request(wire.Request(8, "node-a", "sio", "acme", {}))
        + wire.reply(7, {"success": True, "error": None})
        + wire.notice("acme", "newSession", {"sessionId": sid, "type": "outbound"})
    )
    assert list(wire.parse(message)) == [
        wire.Audio(sid, frame),
        wire.Event(sid, "dtmf", {"sessionId": sid, "digit": "7"}),
        req,
        wire.Request(8, "node-a", "sio", "acme", {}, None),
        wire.Reply(7, {"success": True, "error": None}),
        wire.Notice("acme", "newSession", {"sessionId": sid, "type": "outbound"}),
    ]


@pytest.mark.parametrize("cut", [1, 4, 6, 20])
def test_a_truncated_message_is_refused(cut: int) -> None:
    message = wire.event("s", "dtmf", {"digit": "1"})
    with pytest.raises(wire.MalformedRecord):
        list(wire.parse(message[:-cut]))


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(wire.MalformedRecord):
        list(wire.parse(b"\x00\x00\x00\x02z{"))
