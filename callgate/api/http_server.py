"""The HTTP server's own refusals in the spec's envelope, and bounds on a request's head.

uvicorn answers a request its parser rejects with plain text (`Invalid HTTP request received.`) and
never bounds the head: httptools buffers a header of any size, and a URL over 64 KiB fails its URL
parser (16-bit offsets) as a "malformed" request. This protocol is uvicorn's own httptools protocol
(passed through uvicorn's supported `http` setting) with three changes:
- a URL over `MAX_URL_BYTES` is refused with 414, a head (request line and headers) over
  `MAX_HEAD_BYTES` with 431, before either is buffered further;
- every refusal of the server itself is the envelope `{status, errors, data: null}`;
- the connection is then closed, as uvicorn does (the rest of the stream cannot be trusted), but
  only after a lingering close: the write side is shut (FIN after the answer) and what the client
  still sends is read and dropped for up to `LINGER_S`. Closing a socket with unread input makes
  the kernel reset the connection and drop the unsent answer, so a client would see a reset
  instead of the 414 it is owed.
"""

from __future__ import annotations

import json
from typing import Any, Final

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from callgate.api.envelope import envelope
from callgate.api.sio_transport import uvicorn_ws_options
from callgate.config import Config

MAX_URL_BYTES: Final = 60 * 1024
MAX_HEAD_BYTES: Final = 64 * 1024
LINGER_S: Final = 1.0
_REASONS: Final = {400: "Bad Request", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; httptools turns it into a parser error."""


class EnvelopeHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded heads and enveloped refusals (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refusal: tuple[int, str] | None = None
        self._in_head = True
        self._head_bytes = 0
        self._lingering = False

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # the refusal is sent; what follows is dropped until the close
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)  # parsed first: a long URL is refused as such (414)
        if self._in_head and not self._lingering and self._head_bytes > MAX_HEAD_BYTES:
            self._refusal = (
                431,
                f"Request line and headers are larger than {MAX_HEAD_BYTES} bytes",
            )
            self.send_400_response("")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > MAX_URL_BYTES:
            self._refusal = (
                414,
                f"URL is longer than {MAX_URL_BYTES} bytes; send fewer or shorter query parameters",
            )
            raise _Refused

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        status, message = self._refusal or (400, "Malformed HTTP request; the connection is closed")
        body = json.dumps(envelope(None, status, message), separators=(",", ":")).encode()
        head = [f"HTTP/1.1 {status} {_REASONS[status]}\r\n".encode("ascii")]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        head.append(
            f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\n\r\n".encode("ascii")
        )
        transport = self.transport
        if transport.is_closing() or self._lingering:
            return
        transport.write(b"".join(head) + body)
        if not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        transport.write_eof()
        self.loop.call_later(LINGER_S, transport.close)


def server_options(config: Config) -> dict[str, Any]:
    """uvicorn's settings for `callgate serve` (tests start uvicorn with the same ones)."""
    return {
        "host": config.host,
        "port": config.port,
        "loop": "uvloop",
        "http": EnvelopeHttpProtocol,
        "log_level": config.log_level,
        "access_log": False,
        # JSON logs: uvicorn's own loggers must reach the root's JSON handler, not its text ones.
        **({"log_config": None} if config.log_format == "json" else {}),
        **uvicorn_ws_options(),
    }
