"""Whole WebSocket messages handed to a callback as they arrive, for both ends of the protocol.

websockets' asyncio connections queue every data frame, and a reader task wakes in `recv()` for each
message. For audio at 50 messages a second per call that task switch is most of the receive cost
(a fifth of the gateway's CPU at 300 inbound calls). `DirectMessages`, mixed into a connection class,
calls `on_message(payload, is_text)` inside `data_received` instead, in arrival order, putting
fragmented messages back together itself. Until `on_message` is set, while frames already wait in
the library's queue (so that order is kept), and for control frames, the library's own path runs.

Parsing is the other half of the cost: the library's generator-based parser spends 5-8 µs on each
frame (a quarter of the echo app's CPU at 300 calls). So while the connection is OPEN, `on_message`
is set and the library's parser sits between frames with nothing buffered, whole unfragmented
text and binary frames are cut out of the stream here (about 1 µs). The first byte of anything
else (a control frame, a fragment, reserved bits, a wrong mask bit, a frame over the size limit)
and all that follows go to the library, which parses and checks it as usual, answers pings and
closes with the right code; this takes the stream back once the library is between frames again.
The library only ever sees a stream that starts at a frame boundary, so its state stays right.
Knowing when the library is between frames reads websockets' private parser state: why, and the
test that fails loudly on an upgrade that breaks it, are in `callgate/wsframes.py`.

`on_message` must not raise. The one limit the library's queue applies, the number of fragments in
a message, is applied here too.

The other way, `write_binary` frames one whole binary message and writes it at once: the library's
`send()` spends 4-5 µs per audio frame in its frame object and, on the client, a `getrandom` call
per masking key; here a 320-byte frame costs under 1 µs and keys come from a pool of random bytes
(RFC 6455 §5.3 asks for unpredictable keys, which a pool read from the OS's CSPRNG gives).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.messages import MAX_FRAGMENTS
from websockets.asyncio.server import ServerConnection
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import Event, Side, State

from callgate.wsframes import FrameCutter, apply_mask, library_between_frames, size_limit

__all__ = [
    "DirectClientConnection",
    "DirectMessages",
    "DirectServerConnection",
    "MessageHandler",
    "binary_frame",
]

MessageHandler = Callable[[bytes, bool], None]
"""Called with (payload, is_text) for each whole data message."""

_FIN_BINARY: Final = 0x80 | Opcode.BINARY.value
_MASK_BIT: Final = 0x80
_KEY_POOL_BYTES: Final = 4096
_SHORT: Final = struct.Struct("!BB")
_MEDIUM: Final = struct.Struct("!BBH")
_LONG: Final = struct.Struct("!BBQ")


class _MaskKeys:
    """4-byte masking keys cut from a pool of `os.urandom` bytes, refilled when used up."""

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> bytes:
        at = self._at
        if at + 4 > len(self._pool):
            self._pool, at = os.urandom(_KEY_POOL_BYTES), 0
        self._at = at + 4
        return self._pool[at : at + 4]


_mask_keys: Final = _MaskKeys()


def binary_frame(payload: bytes | bytearray | memoryview, *, masked: bool) -> bytes:
    """One unfragmented binary frame (RFC 6455 §5.2); `masked` for a client's frames."""
    size = len(payload)
    mask_bit = _MASK_BIT if masked else 0
    if size < 126:
        header = _SHORT.pack(_FIN_BINARY, mask_bit | size)
    elif size < 65536:
        header = _MEDIUM.pack(_FIN_BINARY, mask_bit | 126, size)
    else:
        header = _LONG.pack(_FIN_BINARY, mask_bit | 127, size)
    if not masked:
        return header + payload
    key = _mask_keys.next()
    return header + key + apply_mask(payload, key)


if TYPE_CHECKING:
    from websockets.asyncio.connection import Connection as _Base
else:
    _Base = object


class DirectMessages(_Base):
    on_message: MessageHandler | None = None
    frames_cut = 0
    """Data frames parsed here rather than by the library (tests check the fast path is taken)."""
    _fragments: list[bytes] | None = None
    _fragments_text = False
    _direct = False
    """True while this class parses the stream (the library's parser waits between frames)."""
    _cutter: FrameCutter | None = None

    def data_received(self, data: bytes) -> None:
        if not self._direct and not self._take_stream():
            super().data_received(data)
            return
        assert self._cutter is not None
        rest = self._cutter.cut(data, self._handler_now)
        if rest is not None:
            self._direct = False  # the rest is the library's: it starts at a frame boundary
            super().data_received(rest)

    def _take_stream(self) -> bool:
        """Whether this class can parse from here on: see the module docstring."""
        protocol = self.protocol
        if (
            self.on_message is None
            or self._fragments is not None
            or len(self.recv_messages.frames)
            or not library_between_frames(protocol)
        ):
            return False
        self._cutter = FrameCutter(masked=protocol.side is Side.SERVER, limit=size_limit(protocol))
        self._direct = True
        return True

    def _handler_now(self) -> MessageHandler | None:
        if self.on_message is None or self.protocol.state is not State.OPEN:
            return None
        return self._deliver_cut

    def _deliver_cut(self, payload: bytes, is_text: bool) -> None:
        self.frames_cut += 1
        handler = self.on_message
        assert handler is not None
        handler(payload, is_text)

    def eof_received(self) -> None:
        pending = self._cutter.take_pending() if self._cutter is not None else None
        if pending is not None:  # the library says how much of the frame was missing
            self._direct = False
            super().data_received(pending)
        super().eof_received()

    def process_event(self, event: Event) -> None:
        if not isinstance(event, Frame):
            super().process_event(event)  # the handshake
            return
        opcode = event.opcode
        if opcode is Opcode.CONT and self._fragments is not None:
            if len(self._fragments) >= MAX_FRAGMENTS:
                # The library's own limit, which its queue enforces and this path must too: the
                # protocol caps a message's bytes, not its frames (empty ones cost us memory).
                self._fragments = None
                self.protocol.fail(CloseCode.MESSAGE_TOO_BIG, "too many fragments")
                self.send_data()
                return
            self._fragments.append(bytes(event.data))
            if not event.fin:
                return
            data, text = b"".join(self._fragments), self._fragments_text
            self._fragments = None
        elif (
            opcode not in (Opcode.TEXT, Opcode.BINARY)
            or self.on_message is None
            or len(self.recv_messages.frames)
        ):
            super().process_event(event)  # control frames, or frames behind queued ones
            return
        elif not event.fin:
            self._fragments, self._fragments_text = [bytes(event.data)], opcode is Opcode.TEXT
            return
        else:
            data, text = bytes(event.data), opcode is Opcode.TEXT
        handler = self.on_message
        if handler is not None:
            handler(data, text)

    def write_binary(self, payload: bytes | bytearray | memoryview) -> None:
        """Frame one binary message and write it now. The caller checks that the connection is
        OPEN and that no fragmented message is being sent; the transport may raise."""
        masked = self.protocol.side is Side.CLIENT
        self.transport.write(binary_frame(payload, masked=masked))


class DirectClientConnection(DirectMessages, ClientConnection):
    """The gateway's connection to an inbound app (`create_connection=` of `connect`)."""


class DirectServerConnection(DirectMessages, ServerConnection):
    """An inbound app's connection from the gateway (`create_connection=` of `serve`)."""
