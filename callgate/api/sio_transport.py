"""uvicorn's WebSocket protocol with a direct channel for Socket.IO's media path.

Everything python-socketio does (handshake, Engine.IO open and heartbeat, Socket.IO CONNECT and
DISCONNECT, polling) still goes through ASGI as usual. What this adds is a `DirectChannel` per
connection, put in the ASGI scope's extensions, through which the Socket.IO surface writes whole
frames to the transport from the media tick, and takes a client's event messages as they are
parsed, without a task switch, a queue or the ASGI send chain per frame. uvicorn's `ws` setting
takes a protocol class for this (`uvicorn_options`); no private state of uvicorn is reached into
beyond what its own protocol class keeps on itself.

Order on the wire: frames written through the channel before python-socketio has acknowledged the
client's CONNECT (`40…`) would reach a client that is not yet connected, so the channel opens only
once that packet has gone out through ASGI. Backpressure comes from the transport: while its write
buffer is over the high-water mark the channel is not `writable`, and `on_drain` runs when it
drops again. Connections that negotiated an extension (permessage-deflate) are not `usable`: their
frames must pass through the extension, so they keep the generic path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from callgate.wsframes import FrameCutter, library_between_frames, size_limit

if TYPE_CHECKING:
    from websockets.http11 import Request

__all__ = ["CHANNEL_EXTENSION", "DirectChannel", "DirectWebSocketProtocol", "channel_of"]

CHANNEL_EXTENSION: Final = "callgate.direct_channel"
DIRECT_MAX_BYTES: Final = 1 << 20
"""Larger frames take the library's path (python-engineio refuses messages over its 1 MiB)."""

MessageHandler = Callable[[bytes, bool], bool]
"""Called with (payload, is_text) for each whole message; True if it took the message."""


class DirectChannel:
    """Frames to the connection's transport and messages from it, for one WebSocket connection."""

    __slots__ = ("_protocol", "on_drain", "on_message", "open", "usable", "writable")

    def __init__(self, protocol: DirectWebSocketProtocol) -> None:
        self._protocol = protocol
        self.on_message: MessageHandler | None = None
        self.on_drain: Callable[[], None] | None = None
        self.open = False  # the Socket.IO CONNECT has been acknowledged to the client
        self.usable = True  # no extension sits between frames and the socket
        # Open, and the transport takes data now: kept by the protocol as those change (a plain
        # attribute, read for every frame).
        self.writable = False

    def write(self, frames: bytes) -> None:
        """Whole frames, written at once (check `writable` first)."""
        self._protocol.transport.write(frames)

    @property
    def closed(self) -> bool:
        """Lost, or aborted: nothing written now will be read."""
        protocol = self._protocol
        return protocol.disconnected or protocol.transport.is_closing()

    def abort(self) -> None:
        """Drop the connection now (a client that stopped reading): the library sees it lost."""
        self.writable = False
        transport = self._protocol.transport
        if not transport.is_closing():
            transport.abort()

    def detach(self) -> None:
        self.on_message = None
        self.on_drain = None

    def _drained(self) -> None:
        on_drain = self.on_drain
        if on_drain is not None and self.writable:
            on_drain()


def channel_of(scope: Any) -> DirectChannel | None:
    """The direct channel of an ASGI WebSocket scope, if the server runs this protocol."""
    if not isinstance(scope, dict):
        return None
    channel = scope.get("extensions", {}).get(CHANNEL_EXTENSION)
    return channel if isinstance(channel, DirectChannel) and channel.usable else None


class DirectWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol plus a `DirectChannel` (see the module docstring).

    While the channel has a message handler and the library's parser is between frames, whole data
    frames are cut out of the stream here (`callgate.wsframes`) and handed to the handler; a message
    it does not take goes on to the application through ASGI exactly as uvicorn would send it.
    """

    # close_sent and disconnected are uvicorn's flags, set in several of its code paths: kept as
    # properties here so that the channel's `writable` follows every change.
    _close_sent = False
    _disconnected = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.channel = DirectChannel(self)  # before uvicorn's __init__, which sets the flags
        super().__init__(*args, **kwargs)
        self._cutter: FrameCutter | None = None  # set while frames are cut here
        self.frames_cut = 0  # a statistic: tests check that the direct path is taken

    @property
    def close_sent(self) -> bool:
        return self._close_sent

    @close_sent.setter
    def close_sent(self, value: bool) -> None:
        self._close_sent = value
        self._update_writable()

    @property
    def disconnected(self) -> bool:
        return self._disconnected

    @disconnected.setter
    def disconnected(self, value: bool) -> None:
        self._disconnected = value
        self._update_writable()

    def _update_writable(self) -> None:
        channel = self.channel
        # uvicorn's `writable` event is set while the transport takes data (cleared on
        # pause_writing); it does not exist yet while uvicorn's __init__ sets the flags.
        takes_data = getattr(self, "writable", None)
        channel.writable = (
            channel.open
            and takes_data is not None
            and takes_data.is_set()
            and not self._close_sent
            and not self._disconnected
        )

    def data_received(self, data: bytes) -> None:
        cutter = self._cutter
        if cutter is None:
            if not self._take_stream():
                super().data_received(data)
                return
            cutter = self._cutter
            assert cutter is not None
        rest = cutter.cut(data, self._handler_now)
        if rest is not None:
            self._cutter = None  # the rest is the library's: it starts at a frame boundary
            super().data_received(rest)

    def _take_stream(self) -> bool:
        if (
            self.channel.on_message is None
            or self.close_sent
            or self.frames
            or not library_between_frames(self.conn)
        ):
            return False
        self._cutter = FrameCutter(masked=True, limit=size_limit(self.conn, DIRECT_MAX_BYTES))
        return True

    def _handler_now(self) -> Callable[[bytes, bool], None] | None:
        if self.channel.on_message is None or self.close_sent or self.disconnected:
            return None
        return self._cut_message

    def _cut_message(self, payload: bytes, is_text: bool) -> None:
        self.frames_cut += 1
        handler = self.channel.on_message
        if handler is not None and handler(payload, is_text):
            return
        # Not the channel's: on to the application, as uvicorn's own parser would have sent it.
        self.curr_msg_data_type = "text" if is_text else "bytes"
        self.frames = [payload]
        super().send_receive_event_to_app()

    def eof_received(self) -> None:
        cutter, self._cutter = self._cutter, None
        pending = cutter.take_pending() if cutter is not None else None
        if pending is not None:  # the library says how much of the frame was missing
            super().data_received(pending)
        super().eof_received()

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: dict[str, Any] | None = getattr(self, "scope", None)
        if scope is None:  # the handshake was refused
            return
        self.channel.usable = not self.conn.extensions
        # The application's task starts on the next loop iteration and sees this already.
        scope["extensions"][CHANNEL_EXTENSION] = self.channel

    def send_receive_event_to_app(self) -> None:
        handler = self.channel.on_message
        if handler is not None and not self.close_sent:
            frames = self.frames
            data = frames[0] if len(frames) == 1 else b"".join(frames)
            if handler(data, self.curr_msg_data_type == "text"):
                self.frames = []
                return
        super().send_receive_event_to_app()

    async def send(self, message: Any) -> None:
        await super().send(message)
        channel = self.channel
        if not channel.open and message["type"] == "websocket.send":
            text = message.get("text")
            if text is not None and text.startswith("40"):  # Engine.IO message, Socket.IO CONNECT
                channel.open = True
                self._update_writable()
                channel._drained()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._update_writable()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._update_writable()
        self.channel._drained()

    def connection_lost(self, exc: Exception | None) -> None:
        self.channel.detach()
        super().connection_lost(exc)  # sets `disconnected`, so the channel is no longer writable


def uvicorn_ws_options() -> dict[str, Any]:
    """What `uvicorn.Config` needs to serve Socket.IO with the direct channel.

    permessage-deflate is off: audio does not compress, and every frame would pay for zlib.
    uvicorn's own WebSocket pings are off too: Engine.IO's heartbeat (a ping every 25 s, the
    connection closed after 20 s without its answer) already finds dead connections.
    """
    return {
        "ws": DirectWebSocketProtocol,
        "ws_per_message_deflate": False,
        "ws_ping_interval": None,
    }
