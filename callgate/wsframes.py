"""Whole WebSocket data frames cut out of a byte stream, beside a `websockets` sans-I/O protocol.

Both media paths over WebSocket (the inbound connector and app framework, `inbound/direct.py`, and
the Socket.IO direct channel, `api/sio_transport.py`) take audio frames off the stream themselves:
websockets' generator-based parser costs 5-8 µs a frame, this about 1 µs. Only the plain case is
taken: a whole, unfragmented text or binary frame, no reserved bits, masked as the side requires,
within the size limit. At the first byte of anything else (a control frame, a fragment, a bad header)
the rest of the stream is handed to the library, which checks and answers it as usual; the library
therefore only ever sees a stream that starts at a frame boundary. `library_between_frames` tells
when the library's parser is back at a boundary with nothing buffered, so the stream can be taken
again.

That one question reaches into websockets' undocumented state (`Protocol.parser`, the generator it
waits in, `StreamReader.at_eof`, `reader.buffer`, `current_size`): the library offers no public
"between frames" predicate, and asking it any other way means parsing each frame twice. Should a
websockets release change those, nothing crashes: the fast path is either never taken (every frame
slow) or taken mid-frame (a corrupt stream). `tests/test_wsframes.py` checks each assumption against
the installed websockets and fails naming the broken one; run it before changing the version pin.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from types import GeneratorType
from typing import Final

from websockets.protocol import Protocol, State
from websockets.streams import StreamReader

try:
    from websockets.speedups import apply_mask
except ImportError:  # a build without the C extension
    from websockets.utils import apply_mask

__all__ = ["NO_LIMIT", "FrameCutter", "apply_mask", "library_between_frames", "size_limit"]

NO_LIMIT: Final = 1 << 63
_MASK_BIT: Final = 0x80
_U16: Final = struct.Struct("!H")
_U64: Final = struct.Struct("!Q")
_BETWEEN_FRAMES: Final = StreamReader.at_eof.__code__
"""Where the library's parser waits when it is between frames."""

Deliver = Callable[[bytes, bool], None]


def library_between_frames(protocol: Protocol) -> bool:
    """The protocol is OPEN, with no extension, no partial message, nothing buffered, and its parser
    waits for the first byte of a frame: a cutter may take the stream from here."""
    if (
        protocol.state is not State.OPEN
        or protocol.current_size is not None
        or protocol.extensions
        or protocol.reader.buffer
    ):
        return False
    waiting: object = protocol.parser
    while isinstance(waiting, GeneratorType) and waiting.gi_yieldfrom is not None:
        waiting = waiting.gi_yieldfrom
    return isinstance(waiting, GeneratorType) and waiting.gi_code is _BETWEEN_FRAMES


def size_limit(protocol: Protocol, cap: int = NO_LIMIT) -> int:
    limits = [n for n in (protocol.max_message_size, protocol.max_fragment_size) if n is not None]
    return min([*limits, cap])


class FrameCutter:
    """Cuts plain data frames from a stream and keeps an incomplete one for the next chunk."""

    __slots__ = ("_need", "_pending", "limit", "masked")

    def __init__(self, *, masked: bool, limit: int = NO_LIMIT) -> None:
        self.masked = masked  # a server reads masked frames, a client unmasked ones
        self.limit = limit
        self._pending: bytearray | None = None
        self._need = 0

    @property
    def holding(self) -> bool:
        return self._pending is not None

    def take_pending(self) -> bytes | None:
        """What is held (an incomplete frame), for the library when the stream ends here."""
        pending, self._pending = self._pending, None
        return bytes(pending) if pending is not None else None

    def cut(self, data: bytes, deliver: Callable[[], Deliver | None]) -> bytes | None:
        """Deliver the whole frames in (what was held +) `data` to the handler `deliver()` gives at
        each frame (None: stop here). Returns the rest, from a frame boundary, for the library;
        None when everything was taken (an incomplete last frame is held)."""
        pending = self._pending
        if pending is not None:
            pending += data
            if len(pending) < self._need:
                return None
            data, self._pending = bytes(pending), None
        masked, limit = self.masked, self.limit
        size, at = len(data), 0
        while at < size:
            handler = deliver()
            if handler is None:
                return data[at:]
            head = at + 2
            if head > size:
                self._hold(data, at, head)
                return None
            first, second = data[at], data[at + 1]
            opcode = first & 0x0F
            if (
                first & 0xF0 != 0x80  # not FIN, or reserved bits set
                or not (opcode == 1 or opcode == 2)
                or bool(second & _MASK_BIT) is not masked
            ):
                return data[at:]  # decided on the first two bytes, as the library does
            length = second & 0x7F
            if length == 126:
                if head + 2 > size:
                    self._hold(data, at, head + 2)
                    return None
                (length,) = _U16.unpack_from(data, head)
                head += 2
            elif length == 127:
                if head + 8 > size:
                    self._hold(data, at, head + 8)
                    return None
                (length,) = _U64.unpack_from(data, head)
                head += 8
            if length > limit:
                return data[at:]
            start = head + 4 if masked else head
            end = start + length
            if end > size:
                self._hold(data, at, end)
                return None
            payload = apply_mask(data[start:end], data[head:start]) if masked else data[start:end]
            at = end
            handler(payload, opcode == 1)
        return None

    def _hold(self, data: bytes, at: int, need: int) -> None:
        self._pending = bytearray(data[at:])
        self._need = need - at
