"""Socket.IO v5 over Engine.IO v4 over WebSocket, as bytes: the media path's packets, sans I/O.

The generic path (python-socketio's emit, its queue, its writer task, the ASGI send) costs about
100 µs per audio event; the bytes it produces differ per frame only in the 320 bytes of audio. Here
the text packet of a call's `audio` event is built once, and each frame costs a concatenation:

    <text frame: 451-["audio",{"sessionId":…,"audioData":{"_placeholder":true,"num":0},…}]>
    <binary frame: the 320 bytes>

Everything is byte-for-byte what python-socketio and python-engineio would send (tests/api/
test_sio_wire.py compares each kind with the libraries' own encoders). Control events are rare and
are encoded by python-socketio's own `Packet`, so they cannot differ.

The other way, `InboundDecoder` turns a client's WebSocket messages into `Command`s (event name,
arguments with binary attachments in place, ack id) the way python-socketio decodes them, and
answers acks with `ack_frame`. Only events for the default namespace are taken; anything else
(Engine.IO pings and pongs, Socket.IO CONNECT and DISCONNECT, other namespaces, acks, anything that
does not parse) is handed back for the library, which answers it as it always has.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any, Final

from socketio import packet as sio_packet

from callgate.media.pcm import FRAME_BYTES

__all__ = [
    "Command",
    "InboundDecoder",
    "MalformedPacket",
    "ack_frame",
    "audio_prefix",
    "binary_frame",
    "event_frames",
    "text_frame",
]

MAX_ATTACHMENTS: Final = 10
"""More attachments than a client library puts in one event: such a packet is left to the library."""
MAX_ACK_ID_DIGITS: Final = 15
"""Longer ack ids (python-socketio takes up to 100 digits) are left to the library too."""

_FIN_TEXT: Final = 0x81
_FIN_BINARY: Final = 0x82
_SHORT: Final = struct.Struct("!BB")
_MEDIUM: Final = struct.Struct("!BBH")
_LONG: Final = struct.Struct("!BBQ")
_EIO_MESSAGE: Final = "4"

# python-engineio's json module: the standard one, with integers of over 100 digits refused.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode


def _frame_header(first: int, size: int) -> bytes:
    if size < 126:
        return _SHORT.pack(first, size)
    if size < 65536:
        return _MEDIUM.pack(first, 126, size)
    return _LONG.pack(first, 127, size)


def text_frame(text: str) -> bytes:
    """One unmasked, unfragmented WebSocket text frame (a server's, RFC 6455 §5.2)."""
    payload = text.encode()
    return _frame_header(_FIN_TEXT, len(payload)) + payload


def binary_frame(payload: bytes) -> bytes:
    return _frame_header(_FIN_BINARY, len(payload)) + payload


def audio_prefix(session_id: str, audio_format: str = "pcm16") -> bytes:
    """Everything an `audio` event of this call puts on the wire before its 320 bytes of audio.

    `audio_prefix(sid) + frame` is the whole event: the Engine.IO message with the Socket.IO binary
    event and its placeholder, then the header of the binary frame that carries the attachment.
    """
    data = {
        "sessionId": session_id,
        "audioData": {"_placeholder": True, "num": 0},
        "audioFormat": audio_format,
    }
    text = f'{_EIO_MESSAGE}{sio_packet.BINARY_EVENT}1-["audio",{_encode_json(data)}]'
    return text_frame(text) + _frame_header(_FIN_BINARY, FRAME_BYTES)


def event_frames(event: str, data: Any) -> bytes:
    """Any server event, as python-socketio encodes it, framed for the socket."""
    encoded = sio_packet.Packet(sio_packet.EVENT, data=[event, data]).encode()
    if isinstance(encoded, str):
        return text_frame(_EIO_MESSAGE + encoded)
    head, *attachments = encoded
    return text_frame(_EIO_MESSAGE + head) + b"".join(binary_frame(a) for a in attachments)


def ack_frame(ack_id: int, result: dict[str, Any]) -> bytes:
    """The answer to a client's event that asked for an ack: `43<id>[<result>]`."""
    return text_frame(f"{_EIO_MESSAGE}{sio_packet.ACK}{ack_id}[{_encode_json(result)}]")


@dataclass(frozen=True, slots=True)
class Command:
    """One event a client sent: its name, its arguments (bytes in place), and its ack id if any."""

    event: str
    args: tuple[Any, ...]
    ack_id: int | None


class MalformedPacket(ValueError):
    """A client event this decoder took but could not read: the library would have dropped it too."""


class _Pending:
    __slots__ = ("ack_id", "attachments", "count", "data")

    def __init__(self, data: list[Any] | None, ack_id: int | None, count: int) -> None:
        # data None: the header was malformed (already reported); its attachments are swallowed.
        self.data = data
        self.ack_id = ack_id
        self.count = count
        self.attachments: list[bytes] = []


_PASS: Final = None


class InboundDecoder:
    """A client's WebSocket messages in, `Command`s out; state: a binary event awaiting attachments.

    `feed` answers a `Command` when a whole event has arrived, `True` when it took the message but
    the event is not whole yet (a binary event's header, or one of its attachments), and `None` when
    the message is not for this path: the caller hands that one to the library. It raises
    `MalformedPacket` for an event it took that cannot be read (the caller logs and drops it).
    """

    def __init__(self) -> None:
        self._pending: _Pending | None = None

    def feed(self, payload: bytes, is_text: bool) -> Command | bool | None:
        pending = self._pending
        if not is_text:
            if pending is None:
                return _PASS  # an attachment of a packet the library took
            pending.attachments.append(payload)
            if len(pending.attachments) < pending.count:
                return True
            self._pending = None
            if pending.data is None:
                return True
            return _command(_reconstruct(pending.data, pending.attachments), pending.ack_id)
        if pending is not None:
            # A text message while attachments were due: python-socketio would take it as an
            # attachment and fail the event; the event is dropped and this message read afresh.
            self._pending = None
        if len(payload) < 3 or payload[0] != 0x34:  # "4": an Engine.IO message
            return _PASS
        kind = payload[1]
        if kind == 0x32:  # "2": EVENT
            count, rest = 0, 2
        elif kind == 0x35:  # "5": BINARY_EVENT, "<n>-" follows
            dash = payload.find(b"-", 2, 5)
            if dash < 0 or not payload[2:dash].isdigit():
                return _PASS
            count, rest = int(payload[2:dash]), dash + 1
            if not 0 < count <= MAX_ATTACHMENTS:
                return _PASS
        else:
            return _PASS
        if payload[rest : rest + 1] == b"/":
            return _PASS  # another namespace: not ours
        ack_id = None
        end = rest
        while end < len(payload) and 0x30 <= payload[end] <= 0x39:
            end += 1
        if end > rest:
            if end - rest > MAX_ACK_ID_DIGITS:
                return _PASS
            ack_id = int(payload[rest:end])
        try:
            text = payload[end:].decode()
        except UnicodeDecodeError:
            return _PASS  # not UTF-8: the library fails the connection (1007), as RFC 6455 asks
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            self._pending = _Pending(None, ack_id, count) if count else None
            raise MalformedPacket(f"event payload is not JSON: {exc}") from None
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            self._pending = _Pending(None, ack_id, count) if count else None
            raise MalformedPacket("event payload must be a list that starts with the event name")
        if count:
            self._pending = _Pending(data, ack_id, count)
            return True
        return _command(data, ack_id)


def _command(data: list[Any], ack_id: int | None) -> Command:
    return Command(data[0], tuple(data[1:]), ack_id)


def _reconstruct(data: Any, attachments: list[bytes]) -> Any:
    """Placeholders replaced by their attachments, exactly as python-socketio does."""
    if isinstance(data, list):
        return [_reconstruct(item, attachments) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") and "num" in data:
            try:
                return attachments[data["num"]]
            except (IndexError, TypeError):
                raise MalformedPacket("a placeholder names no attachment") from None
        return {key: _reconstruct(value, attachments) for key, value in data.items()}
    return data
