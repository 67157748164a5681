"""The assumptions `wsframes` makes about websockets' sans-I/O protocol, checked against the one installed.

`library_between_frames` reads state the library does not document (its parser generator, its reader's
buffer). A websockets release that changes them would not crash anything: the fast path would either
never be taken again (every frame slow) or be taken mid-frame (a corrupt stream). These tests fail,
with a message saying which, on such an upgrade, whatever the version pin says.
"""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State
from websockets.streams import StreamReader

from callgate.wsframes import library_between_frames

BROKEN = (
    "websockets changed what callgate/wsframes.py relies on (see its docstring): {what}. "
    "Adapt library_between_frames to the new parser before upgrading."
)


def _frame(side: Side, opcode: Opcode, payload: bytes, *, fin: bool = True) -> bytes:
    # What arrives at `side`: a client masks what it sends, a server does not.
    return Frame(opcode, payload, fin=fin).serialize(mask=side is Side.SERVER)


@pytest.mark.parametrize("side", [Side.SERVER, Side.CLIENT])
def test_the_parser_is_found_between_frames_and_never_inside_one(side: Side) -> None:
    protocol = Protocol(side)
    assert protocol.state is State.OPEN
    assert hasattr(StreamReader, "at_eof"), BROKEN.format(what="StreamReader.at_eof is gone")
    assert library_between_frames(protocol), BROKEN.format(
        what="a fresh OPEN protocol is not seen between frames (the fast path would never run)"
    )
    data = _frame(side, Opcode.BINARY, b"\x01" * 300)
    for cut in (1, 2, 4, len(data) - 1):  # inside the header, the extended length, the payload
        half = Protocol(side)
        half.receive_data(data[:cut])
        assert not library_between_frames(half), BROKEN.format(
            what=f"a protocol {cut} bytes into a frame is seen between frames (a corrupt stream)"
        )
        half.receive_data(data[cut:])
        (event,) = half.events_received()
        assert isinstance(event, Frame)
        assert event.data == b"\x01" * 300
        assert library_between_frames(half), BROKEN.format(
            what="after a whole frame the protocol is not seen between frames again"
        )


@pytest.mark.parametrize("side", [Side.SERVER, Side.CLIENT])
def test_a_message_in_fragments_keeps_the_stream_with_the_library(side: Side) -> None:
    protocol = Protocol(side)
    protocol.receive_data(_frame(side, Opcode.TEXT, b"first half", fin=False))
    assert not library_between_frames(protocol), BROKEN.format(
        what="a protocol inside a fragmented message is seen between frames"
    )
    protocol.receive_data(_frame(side, Opcode.CONT, b", second half"))
    assert library_between_frames(protocol), BROKEN.format(
        what="after the last fragment the protocol is not seen between frames again"
    )
