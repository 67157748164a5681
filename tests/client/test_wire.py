"""The client's short way for audio frames expects exactly the gateway's encoding of them."""

from __future__ import annotations

from callgate.api import sio_wire
from callgate.client.connection import audio_header

SID = "01a23fc1-a830-702f-a063-a3843f1c1b83"


def test_the_audio_header_is_the_gateways_text_packet() -> None:
    wire = sio_wire.audio_prefix(SID)
    text = ("4" + audio_header(SID)).encode()  # Engine.IO's message type, then the packet
    assert text in wire
    assert wire.startswith(sio_wire.text_frame(text.decode()))
