"""What a UAS checks before handing a request up, and the responses that say no.

Theory of operation. `parse` has already refused what is not SIP syntax. `validate_request`
applies the application-layer rules of RFC 3261 §8.2 in the RFC's order and returns the first
`Rejection` (status, phrase, the headers that response must carry) or None to accept:

    400  required field missing or repeated, CSeq method differs from the request's (§8.1.1)
    405 / 501  method known but not allowed / not known at all, with Allow (§8.2.1)
    416  Request-URI scheme not supported (§8.2.2.1)
    400  REGISTER rules, when REGISTER is allowed (To must be a SIP AOR, "*" rules; §10.3)
    420  Require (Proxy-Require when acting as a proxy) names an extension we lack (§8.2.2.3)
    483  Max-Forwards 0, only when acting as a proxy (§16.3; an endpoint carries on, RFC 4475
         §3.3.11)
    415  body type or encoding not understood, with Accept / Accept-Encoding (§8.2.3)
    406  an INVITE whose Accept excludes application/sdp (RFC 4475 §3.3.15)

An ACK is never answered (§17.2.1), so its rejection comes back with `respond=False`: drop it.
`validate_response` says whether a UAC must discard a response (§8.1.3.3) and why.
`response_for` builds any response to a request; `error_response` answers a `SipParseError`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .address import parse_address
from .body import MULTIPART_TYPES, SDP, body_parts
from .errors import SipLocalError, SipParseError
from .grammar import GrammarError, is_token
from .headers import stand_in
from .message import SipRequest, SipResponse
from .status import reason_phrase
from .uri import SipUri

__all__ = [
    "DEFAULT_POLICY",
    "KNOWN_METHODS",
    "Policy",
    "Rejection",
    "error_response",
    "rejection_response",
    "response_for",
    "validate_request",
    "validate_response",
]

# Methods defined by RFC 3261 and the extensions in common use; anything else is "unknown" (501).
KNOWN_METHODS = frozenset(
    [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "OPTIONS",
        "REGISTER",
        "PRACK",
        "SUBSCRIBE",
        "NOTIFY",
        "PUBLISH",
        "INFO",
        "REFER",
        "MESSAGE",
        "UPDATE",
    ]
)

_REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")
# Fields RFC 3261 §7.3.1 lets appear once only (RFC 4475 §3.3.8, multi01; §3.3.9, mcl01).
_SINGLE = (
    "From",
    "To",
    "Call-ID",
    "CSeq",
    "Max-Forwards",
    "Content-Length",
    "Content-Type",
    "Expires",
    "Date",
)


@dataclass(frozen=True, slots=True)
class Policy:
    """What this element is and supports. The defaults describe callgate's gateway UAS."""

    role: Literal["uas", "proxy"] = "uas"
    methods: frozenset[str] = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"})
    uri_schemes: frozenset[str] = frozenset({"sip", "sips", "tel"})
    extensions: frozenset[str] = frozenset()  # option tags we implement (Require checks)
    content_types: frozenset[str] = frozenset({SDP})
    content_encodings: frozenset[str] = frozenset({"identity"})


DEFAULT_POLICY = Policy()


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a request is refused: the status to answer, the headers that answer must carry
    (Allow, Unsupported, Accept, Accept-Encoding), and whether to answer at all."""

    status: int
    detail: str
    headers: tuple[tuple[str, str], ...] = ()
    respond: bool = True

    @property
    def reason(self) -> str:
        return reason_phrase(self.status)


def validate_request(request: SipRequest, policy: Policy = DEFAULT_POLICY) -> Rejection | None:
    """The first application-layer rule `request` breaks, or None to hand it up."""
    rejection = _check_request(request, policy)
    if rejection is not None and request.method == "ACK":
        # §17.2.1: ACK gets no response; a bad one is dropped.
        return Rejection(rejection.status, rejection.detail, rejection.headers, respond=False)
    return rejection


def _check_request(request: SipRequest, policy: Policy) -> Rejection | None:
    missing = [name for name in _REQUIRED if name not in request]
    if missing:
        # RFC 4475 §3.3.1 (insuf): 400, with stand-ins for the missing From, To, Call-ID
        # (`response_for`); without a Via no response can reach the client, so drop it.
        return Rejection(400, f"missing {', '.join(missing)}", respond="Via" not in missing)
    repeated = [name for name in _SINGLE if request.count(name) > 1]
    if repeated:
        return Rejection(400, f"{', '.join(repeated)} must appear once")

    method = request.method
    if policy.role == "uas" and method not in policy.methods:
        allow = (("Allow", ", ".join(sorted(policy.methods))),)
        if method in KNOWN_METHODS:
            return Rejection(405, f"{method} is not allowed here", allow)
        return Rejection(501, f"{method[:40]} is not a method we know", allow)

    cseq = request.cseq
    if cseq is not None and cseq.method != method:
        return Rejection(400, f"CSeq method {cseq.method[:40]} is not {method[:40]}")

    if request.uri.scheme not in policy.uri_schemes:
        return Rejection(416, f"Request-URI scheme {request.uri.scheme[:20]!r} is not supported")

    if method == "REGISTER":
        problem = _register_problem(request)
        if problem:
            return Rejection(400, problem)
    elif request.contact_star:
        return Rejection(400, "Contact: * is only meaningful in REGISTER")

    rejection = _check_extensions(request, policy)
    if rejection is not None:
        return rejection

    if policy.role == "proxy" and request.max_forwards == 0:
        return Rejection(483, "Max-Forwards reached 0")

    rejection = _check_body(request, policy)
    if rejection is not None:
        return rejection

    if method == "INVITE" and "Accept" in request and not _accepts_sdp(request.get_all("Accept")):
        return Rejection(406, "Accept excludes application/sdp, the only answer we can give")
    return None


def _register_problem(request: SipRequest) -> str | None:
    """RFC 3261 §10.3 steps a registrar takes before binding anything."""
    to = request.to
    if to is not None and not isinstance(to.uri, SipUri):
        # RFC 4475 §3.3.4 (unksm2): the To of a REGISTER is an AOR, which is a SIP(S) URI.
        return "REGISTER To must be a sip: or sips: address of record"
    if request.contact_star and (len(request.get_all("Contact")) != 1 or request.expires != 0):
        return "Contact: * must stand alone with Expires: 0"
    return None


def _check_extensions(request: SipRequest, policy: Policy) -> Rejection | None:
    """§8.2.2.3 Require (ignored in ACK and CANCEL, §20.32); Proxy-Require applies to proxies."""
    if request.method in ("ACK", "CANCEL"):
        return None
    wanted = request.proxy_require if policy.role == "proxy" else request.require
    supported = {tag.lower() for tag in policy.extensions}
    unknown = [tag for tag in wanted if tag.lower() not in supported]
    if unknown:
        return Rejection(420, "unsupported extension", (("Unsupported", ", ".join(unknown)),))
    return None


def _check_body(request: SipRequest, policy: Policy) -> Rejection | None:
    """§8.2.3: a body we cannot read is refused unless its disposition says it is optional."""
    if not request.body:
        return None
    encodings = [e for e in request.content_encoding if e.lower() not in policy.content_encodings]
    if encodings:
        accept_encoding = ", ".join(sorted(policy.content_encodings))
        return Rejection(
            415,
            f"content encoding {encodings[0]} not supported",
            (("Accept-Encoding", accept_encoding),),
        )
    media_type = request.content_type
    if media_type is None:
        return Rejection(400, "a body without Content-Type")  # §7.4.1: Content-Type MUST be there
    accept = (("Accept", ", ".join(sorted(policy.content_types))),)
    try:
        parts = body_parts(request.body, media_type, request.get("Content-Disposition"))
    except GrammarError as exc:
        return Rejection(400, f"malformed multipart body: {exc}")
    if media_type.mime in MULTIPART_TYPES:
        # We read multipart for the SDP in it; every other part must be understood or optional.
        if not any(part.mime in policy.content_types for part in parts):
            return Rejection(415, f"no part of {media_type.mime} is one we read", accept)
        if media_type.mime == "multipart/alternative":
            return None  # alternatives: reading one of them is enough
    for part in parts:
        if part.mime not in policy.content_types and part.handling != "optional":
            return Rejection(415, f"body type {part.mime or 'unknown'} not supported", accept)
    return None


def _accepts_sdp(media_ranges: Iterable[str]) -> bool:
    """Accept = [ accept-range *(COMMA accept-range) ]; ranges may be */* or application/*."""
    for item in media_ranges:
        mime = item.split(";", 1)[0].replace(" ", "").replace("\t", "").lower()
        if mime in ("*/*", "application/*", SDP):
            return True
    return False


def validate_response(response: SipResponse, policy: Policy = DEFAULT_POLICY) -> str | None:
    """Why a received response must be discarded (a response is never answered), or None."""
    missing = [name for name in _REQUIRED if name not in response]
    if missing:
        return f"missing {', '.join(missing)}"
    repeated = [name for name in _SINGLE if response.count(name) > 1]
    if repeated:
        return f"{', '.join(repeated)} must appear once"
    vias = response.via
    if policy.role == "uas" and len(vias) != 1:
        # §8.1.3.3: a response for us has exactly our Via (RFC 4475 §3.3.10, bcast).
        return f"{len(vias)} Via values in a response to a UAC"
    for via in vias[1:]:
        if _is_broadcast(via.host):
            # RFC 4475 §3.3.10: forwarding it would send the response to a broadcast address.
            return f"Via sent-by {via.host} is a broadcast or multicast address"
    return None


def _is_broadcast(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return address.is_multicast or (address.version == 4 and str(address) == "255.255.255.255")


# --- building responses ----------------------------------------------------------------------


def response_for(
    request: SipRequest,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> SipResponse:
    """A response to `request` (RFC 3261 §8.2.6): its Via lines, From, To, Call-ID and CSeq
    copied; a To tag added unless present or the status is 100 (then `to_tag` is required);
    Timestamp echoed on 100 (§8.2.6.1); Record-Route copied on dialog-creating INVITE
    responses (§12.1.1); `headers` appended."""
    lines: list[tuple[str, str]] = []
    copied: set[str] = set()
    for name, value in request.headers:
        if name in ("From", "To", "Call-ID", "CSeq", "Timestamp"):
            # Single-valued: the first line only, so a request that repeated them (a 400 to
            # RFC 4475's multi01) still gets a response a UAC will accept.
            if name in copied or (name == "Timestamp" and status != 100):
                continue
            copied.add(name)
            if name == "To":
                value = _tagged_to(value, request.to_tag, status, to_tag)
            lines.append((name, value))
        elif name == "Via" or (
            name == "Record-Route" and request.method == "INVITE" and 100 < status < 300
        ):
            lines.append((name, value))
    for name in ("From", "To", "Call-ID", "CSeq"):
        if name not in copied:  # a request missing it still gets an answer (RFC 4475 §3.3.1)
            value = stand_in(name, request.method, str(request.uri))
            lines.append((name, _tagged_to(value, None, status, to_tag) if name == "To" else value))
    lines.extend(headers)
    return SipResponse(status=status, reason=reason, headers=tuple(lines), body=body)


def _tagged_to(value: str, existing: str | None, status: int, to_tag: str | None) -> str:
    if existing is not None or status == 100:
        return value
    if to_tag is None:
        raise SipLocalError("a response to a request without a To tag needs to_tag (§8.2.6.2)")
    if not is_token(to_tag):
        raise SipLocalError(f"To tag {to_tag!r} is not a token")
    # Appending keeps the To byte-identical otherwise, whatever form the request used: after a
    # bracketed or bare URI alike, ";tag=" starts a header parameter.
    return f"{value};tag={to_tag}"


def rejection_response(
    request: SipRequest, rejection: Rejection, *, to_tag: str | None = None
) -> SipResponse | None:
    """The response that carries `rejection`, or None when it must not be answered."""
    if not rejection.respond:
        return None
    return response_for(request, rejection.status, to_tag=to_tag, headers=rejection.headers)


def error_response(error: SipParseError, *, to_tag: str | None = None) -> SipResponse | None:
    """The stateless response to a request that failed to parse, or None when none can be
    formed (a bad response, or a request without a usable Via, From, To, Call-ID, CSeq)."""
    if error.basis is None:
        return None
    lines: list[tuple[str, str]] = []
    for name, value in error.basis:
        if name == "To":
            has_tag = _has_tag(value)
            value = _tagged_to(value, "" if has_tag else None, error.status, to_tag)
        lines.append((name, value))
    return SipResponse(status=error.status, headers=tuple(lines))


def _has_tag(to_value: str) -> bool:
    # The basis To parsed when the error was raised, so this cannot fail.
    return parse_address(to_value).tag is not None
