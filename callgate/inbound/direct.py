"""Whole WebSocket messages handed to a callback as they are parsed, for both ends of the protocol.

websockets' asyncio connections queue every data frame, and a reader task wakes in `recv()` for each
message. For audio at 50 messages a second per call that task switch is most of the receive cost
(a fifth of the gateway's CPU at 300 inbound calls). `DirectMessages`, mixed into a connection class,
calls `on_message(payload, is_text)` inside `data_received` instead, in arrival order, putting
fragmented messages back together itself. Until `on_message` is set, while frames already wait in
the library's queue (so that order is kept), and for control frames, the library's own path runs.

`on_message` must not raise. Size limits and the protocol's framing rules stay the library's: it
parses and checks every frame before this sees it; the one limit its queue applies, the number of
fragments in a message, is applied here too.

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
from websockets.protocol import Event, Side

try:
    from websockets.speedups import apply_mask
except ImportError:  # a build without the C extension
    from websockets.utils import apply_mask

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
    _fragments: list[bytes] | None = None
    _fragments_text = False

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
