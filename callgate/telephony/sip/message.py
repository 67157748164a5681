"""SIP requests and responses: frozen dataclasses, `parse(bytes)` and `bytes(message)`.

Theory of operation. `parse` frames the bytes (framing.py), reads the start line, finds the body
by Content-Length, then parses every core header field (headers.py). Any problem raises
`SipParseError` with the status to answer; no other exception escapes for any input. A message
that exists is valid: constructing one by hand runs the same field checks and raises
`SipLocalError` instead, since then the bug is ours. Typed accessors therefore never fail.

Header fields are kept as (canonical name, unfolded value) lines in arrival order, so a message
re-serializes as received except that names are spelled canonically, folds are unfolded and
Content-Length always states the body's real length.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from .address import NameAddr
from .errors import SipLocalError, SipParseError
from .fields import CSeq, MediaType, Reason, Via, parse_delta_seconds, parse_reason
from .framing import DEFAULT_LIMITS, FramingError, SipLimits, split_head
from .grammar import GrammarError, is_token, parse_uint, split_list
from .headers import CONTACT_STAR, FieldError, addresses, analyze, first, response_basis
from .names import LIST_HEADERS, canonical_name, lookup_key
from .status import reason_phrase
from .uri import AbsoluteUri, SipUri, Uri, parse_uri

__all__ = ["SIP_VERSION", "SipMessage", "SipRequest", "SipResponse", "parse"]

SIP_VERSION = "SIP/2.0"
#   SIP-Version    =  "SIP" "/" 1*DIGIT "." 1*DIGIT   (ABNF strings are case-insensitive)
_VERSION_RE = re.compile(r"[Ss][Ii][Pp]/([0-9]+)\.([0-9]+)")
#   Status-Code    =  3DIGIT
_STATUS_RE = re.compile(r"[1-6][0-9][0-9]")
#   Reason-Phrase  =  *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
#   Read liberally: any text but control characters. It is for people, and dropping a 486
#   because its phrase holds a "#" would lose a real call outcome.
_REASON_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

# Builds the SipParseError for a status and detail, knowing whether a response can be formed.
Fail = Callable[[int, str], SipParseError]


@dataclass(frozen=True, kw_only=True)
class SipMessage:
    """What requests and responses share: header field lines, body, typed field accessors."""

    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    _fields: dict[str, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        if not isinstance(self.body, bytes):
            if not isinstance(self.body, bytearray | memoryview):
                raise SipLocalError(f"body must be bytes, not {type(self.body).__name__}")
            object.__setattr__(self, "body", bytes(self.body))
        normalized = []
        for name, value in self.headers:
            if not is_token(name):
                raise SipLocalError(f"header name {name!r} is not a token")
            if "\r" in value or "\n" in value:
                raise SipLocalError(f"{name} value contains CR or LF")
            normalized.append((canonical_name(name), value.strip(" \t")))
        object.__setattr__(self, "headers", tuple(normalized))
        self._check_start_line()
        try:
            object.__setattr__(self, "_fields", analyze(self.headers))
        except FieldError as exc:
            raise SipLocalError(str(exc)) from None

    def _check_start_line(self) -> None:
        raise NotImplementedError

    def _start_line(self) -> str:
        raise NotImplementedError

    # --- serialization ---------------------------------------------------------------------

    def __bytes__(self) -> bytes:
        length = str(len(self.body))
        lines = [self._start_line()]
        wrote_length = False
        for name, value in self.headers:
            if name == "Content-Length":
                # The body is the truth: state its length once, where the field stood.
                if wrote_length:
                    continue
                value, wrote_length = length, True
            lines.append(f"{name}: {value}")
        if not wrote_length:
            lines.append(f"Content-Length: {length}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("utf-8", "surrogateescape") + self.body

    # --- generic field access --------------------------------------------------------------

    def get(self, name: str) -> str | None:
        """The first line's value of field `name` (any case, compact forms too), or None."""
        key = lookup_key(name)
        for header, value in self.headers:
            if header.lower() == key:
                return value
        return None

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of field `name`: all lines, and for list fields (Via, Contact, Route,
        Require ...) each comma-separated element, commas in quotes and <> respected."""
        key = lookup_key(name)
        values: list[str] = []
        for header, value in self.headers:
            if header.lower() != key:
                continue
            if key in LIST_HEADERS:
                try:
                    values.extend(split_list(value) if value else [])
                except GrammarError:
                    values.append(value)  # a malformed opaque list stays one value
            else:
                values.append(value)
        return tuple(values)

    def count(self, name: str) -> int:
        """How many lines carry field `name` (for "must appear once" checks)."""
        key = lookup_key(name)
        return sum(1 for header, _ in self.headers if header.lower() == key)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.count(name) > 0

    def with_header(self, name: str, value: str, *, first: bool = False) -> SipMessage:
        """A copy with one more field line, appended (or placed first, as a new top Via is)."""
        line = ((name, value),)
        return self._replace_headers(line + self.headers if first else self.headers + line)

    def without_header(self, name: str) -> SipMessage:
        """A copy without any line of field `name`."""
        key = lookup_key(name)
        return self._replace_headers(tuple(h for h in self.headers if h[0].lower() != key))

    def _replace_headers(self, headers: tuple[tuple[str, str], ...]) -> SipMessage:
        raise NotImplementedError

    # --- typed accessors (values were checked when the message was made) --------------------

    @property
    def via(self) -> tuple[Via, ...]:
        return tuple(cast(list[Via], self._fields.get("via", ())))

    @property
    def top_via(self) -> Via | None:
        return cast(Via | None, first(self._fields, "via"))

    @property
    def from_(self) -> NameAddr | None:
        return cast(NameAddr | None, first(self._fields, "from"))

    @property
    def to(self) -> NameAddr | None:
        return cast(NameAddr | None, first(self._fields, "to"))

    @property
    def from_tag(self) -> str | None:
        address = self.from_
        return None if address is None else address.tag

    @property
    def to_tag(self) -> str | None:
        address = self.to
        return None if address is None else address.tag

    @property
    def call_id(self) -> str | None:
        return cast(str | None, first(self._fields, "call-id"))

    @property
    def cseq(self) -> CSeq | None:
        return cast(CSeq | None, first(self._fields, "cseq"))

    @property
    def max_forwards(self) -> int | None:
        return cast(int | None, first(self._fields, "max-forwards"))

    @property
    def contacts(self) -> tuple[NameAddr, ...]:
        return addresses(self._fields, "contact")

    @property
    def contact_star(self) -> bool:
        """True for `Contact: *` (REGISTER removing every binding)."""
        return CONTACT_STAR in self._fields.get("contact", ())

    @property
    def route(self) -> tuple[NameAddr, ...]:
        return addresses(self._fields, "route")

    @property
    def record_route(self) -> tuple[NameAddr, ...]:
        return addresses(self._fields, "record-route")

    @property
    def content_type(self) -> MediaType | None:
        return cast(MediaType | None, first(self._fields, "content-type"))

    @property
    def content_length(self) -> int | None:
        """The Content-Length field's value as received (the body's real length is len(body))."""
        return cast(int | None, first(self._fields, "content-length"))

    @property
    def content_encoding(self) -> tuple[str, ...]:
        return tuple(cast(list[str], self._fields.get("content-encoding", ())))

    @property
    def require(self) -> tuple[str, ...]:
        return tuple(cast(list[str], self._fields.get("require", ())))

    @property
    def proxy_require(self) -> tuple[str, ...]:
        return tuple(cast(list[str], self._fields.get("proxy-require", ())))

    @property
    def supported(self) -> tuple[str, ...]:
        return tuple(cast(list[str], self._fields.get("supported", ())))

    @property
    def date(self) -> datetime | None:
        return cast(datetime | None, first(self._fields, "date"))

    @property
    def expires(self) -> int | None:
        """Expires in seconds; malformed or oversized values read as 3600 (RFC 3261 §20.19)."""
        value = self.get("Expires")
        return None if value is None else parse_delta_seconds(value)

    @property
    def reasons(self) -> tuple[Reason, ...]:
        """Reason values (RFC 3326) that parse; a malformed one is skipped, never fatal: a BYE
        must still be answered whatever its Reason says."""
        found: list[Reason] = []
        for value in self.get_all("Reason"):
            try:
                found.extend(parse_reason(value))
            except GrammarError:
                continue
        return tuple(found)

    @property
    def q850_cause(self) -> int | None:
        """The cause of the first `Reason: Q.850;cause=NN`, or None."""
        for reason in self.reasons:
            if reason.protocol.upper() == "Q.850" and reason.cause is not None:
                return reason.cause
        return None


@dataclass(frozen=True, kw_only=True)
class SipRequest(SipMessage):
    """Request-Line  =  Method SP Request-URI SP SIP-Version CRLF"""

    method: str
    uri: Uri

    def _check_start_line(self) -> None:
        if not is_token(self.method):
            raise SipLocalError(f"method {self.method!r} is not a token")
        if not isinstance(self.uri, SipUri | AbsoluteUri):
            raise SipLocalError(f"uri must be a SipUri or AbsoluteUri, not {self.uri!r}")
        text = str(self.uri)
        if not text or any(c in text for c in " \t\r\n"):
            raise SipLocalError(f"Request-URI {text!r} contains white space")

    def _start_line(self) -> str:
        return f"{self.method} {self.uri} {SIP_VERSION}"

    def _replace_headers(self, headers: tuple[tuple[str, str], ...]) -> SipRequest:
        return SipRequest(method=self.method, uri=self.uri, headers=headers, body=self.body)

    def with_header(self, name: str, value: str, *, first: bool = False) -> SipRequest:
        return cast(SipRequest, super().with_header(name, value, first=first))

    def without_header(self, name: str) -> SipRequest:
        return cast(SipRequest, super().without_header(name))


@dataclass(frozen=True, kw_only=True)
class SipResponse(SipMessage):
    """Status-Line  =  SIP-Version SP Status-Code SP Reason-Phrase CRLF"""

    status: int
    reason: str | None = None  # None: the usual phrase for `status`

    def _check_start_line(self) -> None:
        if not isinstance(self.status, int) or not 100 <= self.status <= 699:
            raise SipLocalError(f"status {self.status!r} is not 100-699")
        if self.reason is None:
            object.__setattr__(self, "reason", reason_phrase(self.status))
        elif _REASON_CONTROL_RE.search(self.reason):
            raise SipLocalError("reason phrase contains a control character")

    def _start_line(self) -> str:
        return f"{SIP_VERSION} {self.status} {self.reason}"

    def _replace_headers(self, headers: tuple[tuple[str, str], ...]) -> SipResponse:
        return SipResponse(status=self.status, reason=self.reason, headers=headers, body=self.body)

    def with_header(self, name: str, value: str, *, first: bool = False) -> SipResponse:
        return cast(SipResponse, super().with_header(name, value, first=first))

    def without_header(self, name: str) -> SipResponse:
        return cast(SipResponse, super().without_header(name))


# --- parsing --------------------------------------------------------------------------------


def parse(
    data: bytes, *, limits: SipLimits = DEFAULT_LIMITS, stream: bool = False
) -> SipRequest | SipResponse:
    """Parse one SIP message from `data` (a UDP datagram, or one message framed by
    `message_length` on a stream: then `stream=True` makes Content-Length mandatory).

    Bytes after the body that Content-Length gives are ignored (RFC 3261 §18.3; RFC 4475
    §3.1.1.8). Without Content-Length a datagram's body runs to its end. Raises SipParseError.
    """
    data = bytes(data)
    is_request = data.lstrip(b"\r\n")[:4].upper() != b"SIP/"
    if len(data) > limits.max_message_bytes:
        raise SipParseError(
            513, f"message over {limits.max_message_bytes} bytes", is_request=is_request
        )
    try:
        head = split_head(data, limits)
    except FramingError as exc:
        raise SipParseError(exc.status, exc.detail, is_request=is_request) from None
    fields = head.fields

    def fail(status: int, detail: str) -> SipParseError:
        basis = None
        if is_request:
            method, uri = _loose_request_line(head.start_line)
            basis = response_basis(fields, method, uri)
        return SipParseError(status, detail, is_request=is_request, basis=basis)

    if is_request:
        method, uri = _parse_request_line(head.start_line, limits, fail)
    else:
        status, reason = _parse_status_line(head.start_line, fail)
    if head.body_start < 0:
        raise fail(400, "no empty line after the header section")
    body = _frame_body(data, head.body_start, fields, stream, limits, fail)
    try:
        parsed = analyze(fields)
    except FieldError as exc:
        raise fail(400, str(exc)) from None

    message: SipRequest | SipResponse
    if is_request:
        message = object.__new__(SipRequest)
        object.__setattr__(message, "method", method)
        object.__setattr__(message, "uri", uri)
    else:
        message = object.__new__(SipResponse)
        object.__setattr__(message, "status", status)
        object.__setattr__(message, "reason", reason)
    # Fields were checked above; skipping __init__ avoids checking them twice.
    object.__setattr__(message, "headers", tuple(fields))
    object.__setattr__(message, "body", body)
    object.__setattr__(message, "_fields", parsed)
    return message


def _parse_version(text: str, fail: Fail) -> None:
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        raise fail(400, f"not a SIP version: {text[:20]!r}")
    if (match.group(1).lstrip("0"), match.group(2).lstrip("0") or "0") != ("2", "0"):
        raise fail(505, f"{text[:20]} is not {SIP_VERSION}")


def _loose_request_line(line: str) -> tuple[str | None, str | None]:
    """The method and Request-URI text of a Request-Line, as far as they are usable, for the
    stand-ins of an error response (see `response_basis`)."""
    parts = line.split(" ")
    method = parts[0] if is_token(parts[0]) else None
    uri_text = (
        parts[1] if len(parts) == 3 and 0 < len(parts[1]) <= DEFAULT_LIMITS.max_uri_bytes else None
    )
    if uri_text is not None:
        try:
            parse_uri(uri_text)
        except GrammarError:
            uri_text = None
    return method, uri_text


def _parse_request_line(line: str, limits: SipLimits, fail: Fail) -> tuple[str, Uri]:
    # Exactly one SP between the three elements: RFC 4475 §3.1.2.8-10 (lwsruri, lwsstart,
    # trws) allow refusing extra white space, and refusing it keeps every reader in agreement.
    parts = line.split(" ")
    if len(parts) != 3:
        raise fail(
            400, f"Request-Line is not 'Method SP Request-URI SP SIP-Version': {line[:80]!r}"
        )
    method, uri_text, version = parts
    _parse_version(version, fail)
    if not is_token(method):
        raise fail(400, f"method {method[:40]!r} is not a token")
    if len(uri_text) > limits.max_uri_bytes:
        raise fail(414, f"Request-URI over {limits.max_uri_bytes} bytes")
    try:
        uri = parse_uri(uri_text)
    except GrammarError as exc:
        raise fail(400, f"Request-URI: {exc}") from None
    # RFC 3261 §19.1.1: embedded headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
    if isinstance(uri, SipUri) and uri.headers:
        raise fail(400, "Request-URI carries embedded headers")
    return method, uri


def _parse_status_line(line: str, fail: Fail) -> tuple[int, str]:
    version, _, rest = line.partition(" ")
    _parse_version(version, fail)
    # A missing SP after the code is accepted (RFC 4475 §3.1.1.13 calls that liberal but fine).
    code, _, reason = rest.partition(" ")
    if _STATUS_RE.fullmatch(code) is None:
        raise fail(400, f"status code {code[:20]!r} is not 100-699")
    if _REASON_CONTROL_RE.search(reason):
        raise fail(400, "control character in the reason phrase")
    return int(code), reason


def _frame_body(
    data: bytes,
    body_start: int,
    fields: list[tuple[str, str]],
    stream: bool,
    limits: SipLimits,
    fail: Fail,
) -> bytes:
    available = len(data) - body_start
    lengths = set()
    for name, value in fields:
        if name == "Content-Length":
            try:
                lengths.add(parse_uint(value, limits.max_message_bytes, "Content-Length"))
            except GrammarError as exc:
                # RFC 4475 §3.1.2.3 (ncl): a negative or non-numeric length is a framing error.
                raise fail(400, str(exc)) from None
    if len(lengths) > 1:
        # RFC 4475 §3.3.9 (mcl01): the body's extent is unknowable; refuse rather than guess.
        raise fail(400, f"conflicting Content-Length values {sorted(lengths)}")
    if lengths:
        (length,) = lengths
        if length > available:
            # RFC 4475 §3.1.2.2 (clerr): over UDP this is a 400.
            raise fail(400, f"Content-Length {length} but {available} bytes follow the headers")
        body = data[body_start : body_start + length]
    elif stream:
        raise fail(400, "Content-Length is mandatory on stream transports")
    else:
        body = data[body_start:]
    if len(body) > limits.max_body_bytes:
        raise fail(413, f"body over {limits.max_body_bytes} bytes")
    return body
