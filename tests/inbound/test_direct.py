"""`binary_frame` against websockets' own frame parser: every length class, masked and not."""

from __future__ import annotations

import os

import pytest
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from callgate.inbound.direct import binary_frame


def parse(data: bytes, *, mask: bool) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=mask, max_size=None, extensions=None)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        assert reader.at_eof(), "bytes left after the frame"
        return frame
    raise AssertionError("the frame was incomplete")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 320, 65535, 65536, 70001])
@pytest.mark.parametrize("masked", [True, False])
def test_frames_parse_back_to_their_payload(size: int, masked: bool) -> None:
    payload = os.urandom(size)
    frame = parse(binary_frame(payload, masked=masked), mask=masked)
    assert (frame.opcode, frame.fin, bytes(frame.data)) == (Opcode.BINARY, True, payload)


def test_every_masked_frame_has_a_fresh_key() -> None:
    # 320 bytes: 4 header bytes, then the key. The pool refills every 1024 keys; cross it twice.
    keys = [binary_frame(bytes(320), masked=True)[4:8] for _ in range(3000)]
    assert len(set(keys)) > 2990  # 32-bit random keys: a repeat or two at most by chance
