"""Sans-I/O SIP message layer (RFC 3261): grammar, messages, errors and the UAS request checks.

Bytes in, frozen dataclasses out, bytes back: `parse(data)` gives a `SipRequest` or
`SipResponse` or raises `SipParseError` (with the status to answer); `bytes(message)` serializes;
`validate_request` applies the application-layer rules and `response_for` builds answers.
No sockets, no clock, no asyncio here: the transport feeds datagrams and sends what it is given.
"""

from .address import NameAddr, parse_address
from .body import BodyPart, body_parts, find_sdp
from .errors import SipError, SipLocalError, SipParseError
from .fields import CSeq, MediaType, Reason, Via
from .framing import DEFAULT_LIMITS, FramingError, SipLimits, message_length
from .message import SipMessage, SipRequest, SipResponse, parse
from .params import Params
from .uri import AbsoluteUri, SipUri, Uri, parse_uri
from .validate import (
    DEFAULT_POLICY,
    Policy,
    Rejection,
    error_response,
    rejection_response,
    response_for,
    validate_request,
    validate_response,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_POLICY",
    "AbsoluteUri",
    "BodyPart",
    "CSeq",
    "FramingError",
    "MediaType",
    "NameAddr",
    "Params",
    "Policy",
    "Reason",
    "Rejection",
    "SipError",
    "SipLimits",
    "SipLocalError",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipUri",
    "Uri",
    "Via",
    "body_parts",
    "error_response",
    "find_sdp",
    "message_length",
    "parse",
    "parse_address",
    "parse_uri",
    "rejection_response",
    "response_for",
    "validate_request",
    "validate_response",
]
