"""Whole WebSocket messages handed to a callback as they are parsed, for both ends of the protocol.

websockets' asyncio connections queue every data frame, and a reader task wakes in `recv()` for each
message. For audio at 50 messages a second per call that task switch is most of the receive cost
(a fifth of the gateway's CPU at 300 inbound calls). `DirectMessages`, mixed into a connection class,
calls `on_message(payload, is_text)` inside `data_received` instead, in arrival order, putting
fragmented messages back together itself. Until `on_message` is set, while frames already wait in
the library's queue (so that order is kept), and for control frames, the library's own path runs.

`on_message` must not raise. Size limits and the protocol's framing rules stay the library's: it
parses and checks every frame before this sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.server import ServerConnection
from websockets.frames import Frame, Opcode
from websockets.protocol import Event

__all__ = ["DirectClientConnection", "DirectMessages", "DirectServerConnection", "MessageHandler"]

MessageHandler = Callable[[bytes, bool], None]
"""Called with (payload, is_text) for each whole data message."""

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


class DirectClientConnection(DirectMessages, ClientConnection):
    """The gateway's connection to an inbound app (`create_connection=` of `connect`)."""


class DirectServerConnection(DirectMessages, ServerConnection):
    """An inbound app's connection from the gateway (`create_connection=` of `serve`)."""
