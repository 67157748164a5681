"""The direct path's bytes against python-socketio's, python-engineio's and websockets' own encoders.

Outgoing: for every kind of packet the fast path writes (audio events, acks, control events), the
bytes must be exactly what the libraries would put on the wire for the same event: the Socket.IO
packet (`socketio.packet.Packet`), wrapped as an Engine.IO message (`engineio.packet.Packet`), framed
by websockets as an unmasked server frame. Incoming: whatever a client sends, the decoder must read
it as python-socketio's own decoder does, or hand it back untouched.
"""

from __future__ import annotations

import random

import pytest
from engineio import packet as eio_packet
from socketio import packet as sio_packet
from websockets.frames import Frame, Opcode

from callgate.api import sio_wire
from callgate.calls.ids import new_session_id
from callgate.media.pcm import FRAME_BYTES


def library_frames(packet: sio_packet.Packet) -> bytes:
    """What python-socketio + python-engineio + websockets send for `packet` over a WebSocket."""
    encoded = packet.encode()
    parts = encoded if isinstance(encoded, list) else [encoded]
    out = b""
    for part in parts:
        eio = eio_packet.Packet(eio_packet.MESSAGE, data=part).encode()
        frame = (
            Frame(Opcode.TEXT, eio.encode())
            if isinstance(eio, str)
            else Frame(Opcode.BINARY, bytes(eio))
        )
        out += frame.serialize(mask=False, extensions=[])
    return out


def frames_for_event(event: str, data: object) -> bytes:
    return library_frames(sio_packet.Packet(sio_packet.EVENT, data=[event, data]))


@pytest.mark.parametrize("seed", range(5))
def test_audio_events_are_byte_for_byte_the_librarys(seed: int) -> None:
    rng = random.Random(seed)
    sid = new_session_id()
    prefix = sio_wire.audio_prefix(sid)
    for _ in range(50):
        frame = rng.randbytes(FRAME_BYTES)
        ours = prefix + frame
        theirs = frames_for_event(
            "audio", {"sessionId": sid, "audioData": frame, "audioFormat": "pcm16"}
        )
        assert ours == theirs


def test_an_audio_event_for_an_odd_session_id_is_still_exact() -> None:
    # Ids come from us (UUIDv7), but the encoder must not depend on it: quotes, escapes, non-ASCII.
    for sid in ('a"b', "back\\slash", "caf\u00e9", "\u65e5\u672c", "x" * 300):
        frame = bytes(range(256)) + bytes(64)
        ours = sio_wire.audio_prefix(sid) + frame
        data = {"sessionId": sid, "audioData": frame, "audioFormat": "pcm16"}
        assert ours == frames_for_event("audio", data)


@pytest.mark.parametrize(
    "result",
    [
        {"success": True, "error": None, "queuedMs": 160},
        {"success": False, "error": "join the room of session caf\u00e9 first (joinRoom)"},
        {"success": True, "error": None, "playedMs": 0, "discardedMs": 123456789},
        {"success": False, "error": 'a "quoted" \\ message\n' + "y" * 70_000},
    ],
)
def test_acks_are_the_librarys(result: dict[str, object]) -> None:
    for ack_id in (0, 7, 12345, 10**12):
        ours = sio_wire.ack_frame(ack_id, result)
        theirs = library_frames(
            sio_packet.Packet(sio_packet.ACK, namespace="/", id=ack_id, data=[result])
        )
        assert ours == theirs


@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("newSession", {"sessionId": "s", "type": "outbound"}),
        ("roomJoined", {"sessionId": "s", "status": "success"}),
        ("dialStatus", {"sessionId": "s", "status": "Connected"}),
        ("checkPoint", {"sessionId": "s", "name": "caf\u00e9 \u2603", "status": "played"}),
        ("audioDropped", {"sessionId": "s", "frames": 12}),
        ("cdr", {"sessionId": "s", "duration": 11, "answerTime": None, "hangupBy": "CALLEE"}),
        ("audio", {"sessionId": "s", "audioData": bytes(1000), "audioFormat": "pcm16"}),
    ],
)
def test_control_events_are_the_librarys(event: str, data: dict[str, object]) -> None:
    assert sio_wire.event_frames(event, data) == frames_for_event(event, data)


def test_frame_headers_of_every_length_class_parse_back() -> None:
    for size in (0, 1, 125, 126, 127, 65535, 65536, 70000):
        payload = bytes(size)
        assert sio_wire.binary_frame(payload) == Frame(Opcode.BINARY, payload).serialize(
            mask=False, extensions=[]
        )
        text = "t" * size
        assert sio_wire.text_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(
            mask=False, extensions=[]
        )


# --- incoming ----------------------------------------------------------------------------------


def client_messages(packet: sio_packet.Packet) -> list[tuple[bytes, bool]]:
    """A client's packet as the WebSocket messages it arrives in: (payload, is_text)."""
    encoded = packet.encode()
    parts = encoded if isinstance(encoded, list) else [encoded]
    out: list[tuple[bytes, bool]] = []
    for part in parts:
        eio = eio_packet.Packet(eio_packet.MESSAGE, data=part).encode()
        out.append((eio.encode(), True) if isinstance(eio, str) else (bytes(eio), False))
    return out


def library_reads(messages: list[tuple[bytes, bool]]) -> tuple[list[object], int | None]:
    """What python-socketio makes of a client's messages: (event and arguments, ack id)."""
    head, *attachments = messages
    text = head[0].decode()
    assert text[0] == "4"
    pkt = sio_packet.Packet(encoded_packet=text[1:])
    for payload, _ in attachments:
        pkt.add_attachment(payload)
    return pkt.data, pkt.id


def random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return rng.randbytes(rng.choice((0, 1, 320, 2560, 4000)))
    if kind == 1:
        return rng.choice(["", "pcm16", "caf\u00e9", 'q"uote', "\u2603" * 3])
    if kind == 2:
        return rng.choice([0, -1, 2**40, 1.5, float(rng.randrange(1000))])
    if kind == 3:
        return rng.choice([None, True, False])
    if kind == 4:
        return {"_placeholder": rng.choice([True, False]), "num": rng.randrange(3)}
    if kind == 5:
        return [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{i}": random_value(rng, depth + 1) for i in range(rng.randrange(4))}


@pytest.mark.parametrize("seed", range(20))
def test_the_decoder_reads_events_as_python_socketio_does(seed: int) -> None:
    rng = random.Random(seed)
    decoder = sio_wire.InboundDecoder()
    for _ in range(100):
        event = rng.choice(["audio", "checkPoint", "joinRoom", "hangup", "x" * 40, "caf\u00e9"])
        args = [random_value(rng) for _ in range(rng.randrange(3))]
        ack_id = rng.choice([None, 0, 1, rng.randrange(10**9)])
        packet = sio_packet.Packet(sio_packet.EVENT, data=[event, *args], id=ack_id)
        if packet.packet_type == sio_packet.BINARY_EVENT and len(packet.encode()) - 1 > 9:
            continue  # more attachments than a client library sends in one event
        messages = client_messages(packet)
        try:
            want_data, want_id = library_reads(messages)
        except (IndexError, TypeError):  # a placeholder of the client's own that names nothing
            for payload, is_text in messages[:-1]:
                assert decoder.feed(payload, is_text) is True
            with pytest.raises(sio_wire.MalformedPacket):
                decoder.feed(*messages[-1])
            continue
        results = [decoder.feed(payload, is_text) for payload, is_text in messages]
        assert all(result is True for result in results[:-1])
        command = results[-1]
        assert isinstance(command, sio_wire.Command)
        assert [command.event, *command.args] == want_data
        assert command.ack_id == want_id


@pytest.mark.parametrize(
    "text",
    [
        b"2",  # Engine.IO ping
        b"3",  # pong
        b"40",  # Socket.IO CONNECT
        b'40{"token":"t"}',
        b"41",  # DISCONNECT
        b'431["ok"]',  # an ack of the client's
        b'42/admin,["audio",{}]',  # another namespace
        b'451-/admin,["audio",{"_placeholder":true,"num":0}]',
        b'45x-["audio"]',  # an attachment count that is not a number
        b'4512-["a"]',  # more attachments than a client sends: the library's to judge
        b'4212345678901234567["a"]',  # an ack id that long: the library's to judge
        b"4",
        b"6",
    ],
)
def test_what_is_not_an_event_of_ours_goes_to_the_library(text: bytes) -> None:
    decoder = sio_wire.InboundDecoder()
    assert decoder.feed(text, True) is None
    assert decoder.feed(b"\x00\x01", False) is None  # a stray binary message too


@pytest.mark.parametrize(
    "text",
    [
        b"42not json",
        b"42{}",
        b"42[]",
        b"42[1,2]",
        b"42" + b"[" * 100_000 + b"]" * 100_000,  # nesting deep enough to exhaust recursion
    ],
)
def test_malformed_events_are_reported_not_raised_through(text: bytes) -> None:
    decoder = sio_wire.InboundDecoder()
    with pytest.raises(sio_wire.MalformedPacket):
        decoder.feed(text, True)
    # The decoder is usable afterwards.
    assert decoder.feed(b'42["hangup",{"sessionId":"s"}]', True) == sio_wire.Command(
        "hangup", ({"sessionId": "s"},), None
    )


def test_a_malformed_binary_event_swallows_its_attachments() -> None:
    decoder = sio_wire.InboundDecoder()
    with pytest.raises(sio_wire.MalformedPacket):
        decoder.feed(b"452-5{broken", True)
    assert decoder.feed(b"a", False) is True
    assert decoder.feed(b"b", False) is True
    assert decoder.feed(b"c", False) is None  # the third binary message belongs to nobody


def test_text_where_an_attachment_was_due_drops_the_event_and_is_read_afresh() -> None:
    decoder = sio_wire.InboundDecoder()
    head = '451-["audio",{"audioData":{"_placeholder":true,"num":0}}]'
    assert decoder.feed(head.encode(), True) is True
    command = decoder.feed(b'42["hangup",{"sessionId":"s"}]', True)
    assert command == sio_wire.Command("hangup", ({"sessionId": "s"},), None)
    assert decoder.feed(b"\x00" * 4, False) is None


def test_large_integers_are_refused_like_the_library_does() -> None:
    decoder = sio_wire.InboundDecoder()
    payload = b'42["dtmf",{"duration":' + b"9" * 5000 + b"}]"
    with pytest.raises(sio_wire.MalformedPacket):
        decoder.feed(payload, True)
    with pytest.raises(ValueError, match=r"Exceeds the limit|too large"):
        sio_packet.Packet(encoded_packet=payload[1:].decode())
