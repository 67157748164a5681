"""Sans-I/O SIP message layer (RFC 3261): grammar, messages, errors and the UAS request checks.

Bytes in, frozen dataclasses out, bytes back: `parse(data)` gives a `SipRequest` or
`SipResponse` or raises `SipParseError` (with the status to answer); `bytes(message)` serializes;
`validate_request` applies the application-layer rules and `response_for` builds answers.
No sockets, no clock, no asyncio here: the transport feeds datagrams and sends what it is given.
"""

from .address import NameAddr, parse_address
from .body import BodyPart, body_parts, find_sdp
from .causes import cause_for_response, cause_for_status, q850_reason, status_for_cause
from .dialog import (
    Dialog,
    DialogId,
    DialogTable,
    DialogTableFull,
    Endpoint,
    make_request,
    new_tag,
    uri_target,
)
from .digest import Challenge, DigestClient, DigestError, digest_response, parse_challenges
from .errors import SipError, SipLocalError, SipParseError
from .fields import CSeq, MediaType, Reason, Via
from .framing import DEFAULT_LIMITS, FramingError, SipLimits, StreamFramer, message_length
from .message import SipMessage, SipRequest, SipResponse, parse
from .params import Params
from .sdp import (
    Codec,
    Direction,
    MediaConfig,
    NegotiatedAudio,
    SdpError,
    SdpNegotiationError,
    SdpSession,
    SessionDescription,
    parse_sdp,
)
from .timers import DEFAULT_TIMERS, SipTimers
from .transactions import (
    AckReceived,
    Action,
    Event,
    LayerConfig,
    MessageDropped,
    RequestReceived,
    RequestRefused,
    ResponseReceived,
    Send,
    StrayResponse,
    Target,
    TransactionKey,
    TransactionLayer,
    TransactionTableFull,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
    build_cancel,
    build_non2xx_ack,
)
from .transactions import State as TransactionState
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
    "DEFAULT_TIMERS",
    "AbsoluteUri",
    "AckReceived",
    "Action",
    "BodyPart",
    "CSeq",
    "Challenge",
    "Codec",
    "Dialog",
    "DialogId",
    "DialogTable",
    "DialogTableFull",
    "DigestClient",
    "DigestError",
    "Direction",
    "Endpoint",
    "Event",
    "FramingError",
    "LayerConfig",
    "MediaConfig",
    "MediaType",
    "MessageDropped",
    "NameAddr",
    "NegotiatedAudio",
    "Params",
    "Policy",
    "Reason",
    "Rejection",
    "RequestReceived",
    "RequestRefused",
    "ResponseReceived",
    "SdpError",
    "SdpNegotiationError",
    "SdpSession",
    "Send",
    "SessionDescription",
    "SipError",
    "SipLimits",
    "SipLocalError",
    "SipMessage",
    "SipParseError",
    "SipRequest",
    "SipResponse",
    "SipTimers",
    "SipUri",
    "StrayResponse",
    "StreamFramer",
    "Target",
    "TransactionKey",
    "TransactionLayer",
    "TransactionState",
    "TransactionTableFull",
    "TransactionTerminated",
    "TransactionTimeout",
    "TransportFailed",
    "Uri",
    "Via",
    "body_parts",
    "build_cancel",
    "build_non2xx_ack",
    "cause_for_response",
    "cause_for_status",
    "digest_response",
    "error_response",
    "find_sdp",
    "make_request",
    "message_length",
    "new_tag",
    "parse",
    "parse_address",
    "parse_challenges",
    "parse_sdp",
    "parse_uri",
    "q850_reason",
    "rejection_response",
    "response_for",
    "status_for_cause",
    "uri_target",
    "validate_request",
    "validate_response",
]
