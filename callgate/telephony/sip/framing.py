"""Message framing: size limits, the header section's lines and folds, and where the body ends.

    generic-message  =  start-line *message-header CRLF [ message-body ]
    message-header   =  field-name HCOLON field-value CRLF     HCOLON = *( SP / HTAB ) ":" SWS

Lines end in CRLF only: a bare CR or LF is refused rather than guessed at, so two parsers can
never disagree about where a header (or the body) ends. A line that starts with SP or HTAB
continues the previous field; the fold and the continuation's leading white space become one SP
(RFC 3261 §7.3.1 makes them equivalent).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .grammar import TOKEN
from .names import CANONICAL as _CANONICAL

__all__ = [
    "DEFAULT_LIMITS",
    "FramingError",
    "Head",
    "SipLimits",
    "StreamFramer",
    "message_length",
    "split_head",
]

#   message-header  =  field-name HCOLON field-value     HCOLON = *( SP / HTAB ) ":" SWS
# The value is taken greedily and its trailing white space stripped afterwards: a lazy "(.*?)"
# followed by "[ \t]*" backtracks quadratically over a value full of spaces (385 ms for 8 KB).
_FIELD_LINE_RE = re.compile(rf"({TOKEN})[ \t]*:[ \t]*(.*)", re.DOTALL)
CRLF = b"\r\n"
HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class SipLimits:
    """Bounds on what one message may cost us. Past each, the message is refused with the status
    given; nothing is truncated or guessed."""

    max_message_bytes: int = 65_535  # the largest UDP datagram; 513 Message Too Large
    max_headers: int = 128  # header fields after unfolding; 513
    max_header_bytes: int = 8_192  # one unfolded field or the start line; 513
    max_uri_bytes: int = 2_048  # the Request-URI; 414 Request-URI Too Long
    max_body_bytes: int = 32_768  # the body; 413 Request Entity Too Large


DEFAULT_LIMITS = SipLimits()


class FramingError(ValueError):
    """The bytes cannot be split into start line, fields and body. `status` is the answer."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(detail)


@dataclass(slots=True)
class Head:
    """A header section split into its start line and unfolded fields (canonical names)."""

    start_line: str
    fields: list[tuple[str, str]]
    body_start: int  # offset of the body in the data; -1 when the empty line is missing


def split_head(data: bytes, limits: SipLimits) -> Head:
    """Split the header section of `data`. Leading CRLFs (keep-alives, RFC 3261 §7.5) are skipped."""
    start = 0
    while data.startswith(CRLF, start):
        start += 2
    end = data.find(HEAD_END, start)
    if end < 0:
        # No empty line: still split what is there, so the caller can say whether a response
        # could be formed, then refuse the message.
        head_bytes = data[start:]
        if head_bytes.endswith(CRLF):
            head_bytes = head_bytes[:-2]
        body_start = -1
    else:
        head_bytes = data[start:end]
        body_start = end + 4
    if not head_bytes:
        raise FramingError(400, "empty message")

    # surrogateescape: undecodable bytes survive as lone surrogates (see grammar.py) and the
    # field grammars decide whether they are acceptable where they stand.
    head = head_bytes.decode("utf-8", "surrogateescape")
    # Only CRLF ends a line: a CR or LF on its own is refused, not guessed at.
    if head.count("\r") != head.count("\n") or head.count("\r\n") != head.count("\n"):
        raise FramingError(400, "bare CR or LF in the header section")
    lines = head.split("\r\n")
    start_line = lines[0]
    if len(start_line) > limits.max_header_bytes:
        raise FramingError(513, f"start line longer than {limits.max_header_bytes} bytes")

    fields: list[tuple[str, str]] = []
    max_bytes = limits.max_header_bytes
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not fields:
                raise FramingError(400, "continuation line before the first header field")
            name, value = fields[-1]
            continued = line.strip(" \t")
            value = f"{value} {continued}" if value and continued else value or continued
            if len(value) > max_bytes:
                raise FramingError(513, f"{name} longer than {max_bytes} bytes")
            fields[-1] = (name, value)
            continue
        if len(line) > max_bytes + 256:  # bound the regex's work before it starts
            raise FramingError(513, f"header field line longer than {max_bytes} bytes")
        match = _FIELD_LINE_RE.fullmatch(line)
        if match is None:
            raise FramingError(400, f"not a header field line: {line[:60]!r}")
        name, value = match.group(1), match.group(2).rstrip(" \t")
        if len(value) > max_bytes:
            raise FramingError(513, f"{name} longer than {max_bytes} bytes")
        if len(fields) >= limits.max_headers:
            raise FramingError(513, f"more than {limits.max_headers} header fields")
        fields.append((_CANONICAL.get(name.lower(), name), value))
    return Head(start_line, fields, body_start)


def message_length(buffer: bytes | bytearray, limits: SipLimits = DEFAULT_LIMITS) -> int | None:
    """For stream transports (TCP, TLS): the byte length of the first complete message in
    `buffer`, counting leading CRLF keep-alives, or None if more bytes are needed.

    Content-Length is mandatory on streams (RFC 3261 §18.3). Raises FramingError when the
    stream cannot be framed: the connection must then be closed (RFC 4475 §3.1.2.3). This looks
    at the whole buffer each time; a connection uses `StreamFramer`, which never looks twice.
    """
    data = bytes(buffer)
    start = 0
    while data.startswith(CRLF, start):
        start += 2
    end = data.find(HEAD_END, start)
    if end < 0:
        if len(data) - start > limits.max_message_bytes:
            raise FramingError(513, "header section larger than the message limit")
        return None
    total = end + 4 + _content_length(data[start : end + 4], limits)
    if total - start > limits.max_message_bytes:
        raise FramingError(513, "message larger than the message limit")
    return total if len(data) >= total else None


def _content_length(head_bytes: bytes, limits: SipLimits) -> int:
    """The Content-Length of a header section (its empty line included), mandatory on streams."""
    head = split_head(head_bytes, limits)
    lengths = {value for name, value in head.fields if name == "Content-Length"}
    if not lengths:
        raise FramingError(400, "no Content-Length on a stream transport")
    if len(lengths) > 1:
        raise FramingError(400, "conflicting Content-Length values")
    (text,) = lengths
    if not text.isdigit() or not text.isascii() or len(text) > 10:
        raise FramingError(400, f"Content-Length is not a length: {text[:20]!r}")
    return int(text)


class StreamFramer:
    """Cuts whole messages off a stream transport's bytes (TCP, TLS), sans-I/O.

    `feed(data)` takes what one read returned and gives back the messages it completed, in
    order. The work is linear in the bytes received, however they are cut: the search for the
    empty line that ends a header section resumes where the previous read left it, the header
    section is split once (for its Content-Length), and a body is only counted until it is all
    there. Leading CRLFs between messages (keep-alives, RFC 5626 §3.5.1) are skipped.

    Bounded: a message (header section, or all of it) past `limits.max_message_bytes` raises
    FramingError(513), as does one that cannot be framed (no or a bad Content-Length: 400); the
    connection must then be closed (RFC 4475 §3.1.2.3). At most that limit plus one read is held.
    """

    def __init__(self, limits: SipLimits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer already searched for the end of the head
        self._total: int | None = None  # the current message's length, once its head is in

    @property
    def buffered(self) -> int:
        """Bytes held that are not yet part of a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        limit = self._limits.max_message_bytes
        messages: list[bytes] = []
        while True:
            total = self._total
            if total is None:
                while buffer[:2] == CRLF:  # O(1): a bytearray drops its front in place
                    del buffer[:2]
                # The empty line may straddle the previous read: look 3 bytes back.
                end = buffer.find(HEAD_END, max(0, self._scanned - 3))
                if end < 0:
                    self._scanned = len(buffer)
                    if len(buffer) > limit:
                        raise FramingError(513, "header section larger than the message limit")
                    return messages
                total = end + 4 + _content_length(bytes(buffer[: end + 4]), self._limits)
                if total > limit:
                    raise FramingError(513, "message larger than the message limit")
                self._total = total
            if len(buffer) < total:
                return messages
            messages.append(bytes(buffer[:total]))
            del buffer[:total]
            self._total = None
            self._scanned = 0

    def clear(self) -> None:
        self._buffer.clear()
        self._total = None
        self._scanned = 0
