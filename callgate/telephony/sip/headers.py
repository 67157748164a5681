"""Eager checks of the header fields the SIP core relies on, keeping their parsed values.

Every field named in `_PARSERS` is parsed when a message is parsed or built, so a `SipRequest`
or `SipResponse` that exists has a valid value in each of them and its typed accessors never
fail. Other fields are carried as opaque text; the only rule they must meet is header-value's
(no control characters). Where the RFC says a malformed value should be read leniently rather
than rejected (Expires, RFC 3261 §20.19), the field is not listed here and its accessor is lenient.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from .address import NameAddr, parse_address, parse_address_list
from .errors import ResponseBasis
from .fields import (
    MAX_FORWARDS_LIMIT,
    parse_cseq,
    parse_date,
    parse_media_type,
    parse_tokens,
    parse_via,
)
from .grammar import GrammarError, check_call_id, parse_uint

__all__ = ["CONTACT_STAR", "FieldError", "analyze", "response_basis", "stand_in"]

CONTACT_STAR = "*"
# Content-Length is bounded by the message-size limit long before this; the cap only keeps a
# hostile 10**4000 from reaching int().
_MAX_CONTENT_LENGTH = 2**31 - 1

#   qvalue  =  ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE_RE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
#   header-value = *(TEXT-UTF8char / UTF8-CONT / LWS): no control characters but HTAB
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

FieldParser = Callable[[str], tuple[object, ...]]


class FieldError(GrammarError):
    """A header field's value does not match its grammar; `name` says which field."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        super().__init__(f"{name}: {detail}")


def _contact(value: str) -> tuple[object, ...]:
    """Contact  =  ("Contact" / "m" ) HCOLON ( STAR / (contact-param *(COMMA contact-param)))"""
    if value.strip(" \t") == CONTACT_STAR:
        return (CONTACT_STAR,)
    addresses = parse_address_list(value)
    for address in addresses:
        #   c-p-q  =  "q" EQUAL qvalue      c-p-expires  =  "expires" EQUAL delta-seconds
        q = address.params.get("q")
        if q is not None and _QVALUE_RE.fullmatch(q) is None:
            raise GrammarError(f"Contact q={q!r} is not a qvalue")
        expires = address.params.get("expires")
        if expires is not None and (not expires or not expires.isdigit()):
            raise GrammarError(f"Contact expires={expires!r} is not delta-seconds")
    return addresses


def _routes(value: str) -> tuple[object, ...]:
    """Route / Record-Route  =  name-addr *( SEMI rr-param ), comma-separated."""
    return parse_address_list(value, bracketed_only=True)


_PARSERS: dict[str, FieldParser] = {
    "via": parse_via,
    "from": lambda v: (parse_address(v),),
    "to": lambda v: (parse_address(v),),
    "call-id": lambda v: (check_call_id(v),),
    "cseq": lambda v: (parse_cseq(v),),
    #   Max-Forwards  =  "Max-Forwards" HCOLON 1*DIGIT       (0-255, §20.22)
    "max-forwards": lambda v: (parse_uint(v, MAX_FORWARDS_LIMIT, "Max-Forwards"),),
    #   Content-Length  =  ( "Content-Length" / "l" ) HCOLON 1*DIGIT
    "content-length": lambda v: (parse_uint(v, _MAX_CONTENT_LENGTH, "Content-Length"),),
    "contact": _contact,
    "route": _routes,
    "record-route": _routes,
    "content-type": lambda v: (parse_media_type(v),),
    "content-encoding": parse_tokens,
    "require": parse_tokens,
    "proxy-require": parse_tokens,
    #   Supported  =  ( "Supported" / "k" ) HCOLON [option-tag *(COMMA option-tag)]
    "supported": lambda v: parse_tokens(v, allow_empty=True),
    "date": lambda v: (parse_date(v),),
}


def analyze(headers: Iterable[tuple[str, str]]) -> dict[str, list[object]]:
    """Parse every core field of `headers` (canonical names); raise FieldError on the first bad
    one. Returns the parsed values by lower-case name, lines and list elements in order."""
    parsed: dict[str, list[object]] = {}
    for name, value in headers:
        key = name.lower()
        parser = _PARSERS.get(key)
        if parser is None:
            if _CONTROL_RE.search(value):
                raise FieldError(name, "control character in value")
            continue
        try:
            values = parser(value)
        except GrammarError as exc:
            raise FieldError(name, str(exc)) from None
        parsed.setdefault(key, []).extend(values)
    return parsed


_BASIS_FIELDS = ("via", "from", "to", "call-id", "cseq")


def response_basis(
    headers: Iterable[tuple[str, str]], method: str | None = None, uri: str | None = None
) -> ResponseBasis | None:
    """The lines a response copies (every Via; the first From, To, Call-ID, CSeq), or None when
    no response can reach its client: a Via is missing or malformed.

    RFC 4475 asks for a 400 to requests whose From, To, Call-ID or CSeq is broken or missing
    (§3.1.2.4 scalar02, §3.1.2.6 quotbal, §3.1.2.14 badaspec, §3.3.1 insuf). The client finds
    its transaction by the top Via's branch and the CSeq method alone (§17.1.3), so such a field
    gets a well-formed stand-in (`stand_in`) instead of a copy: we never send what our own
    parser would refuse. `method` and `uri` (the Request-Line's, when they parsed) feed the
    stand-ins; without a method, a broken CSeq leaves no response.
    """
    found: dict[str, tuple[str, str]] = {}
    vias: list[tuple[str, str]] = []
    for name, value in headers:
        key = name.lower()
        if key not in _BASIS_FIELDS or key in found:
            continue
        try:
            _PARSERS[key](value)
        except GrammarError:
            if key == "via":
                return None
            found[key] = ("", "")  # the first one counts, and it is unusable
            continue
        if key == "via":
            vias.append((name, value))
        else:
            found[key] = (name, value)
    if not vias:
        return None
    lines = list(vias)
    for key, canonical in _STAND_IN_ORDER:
        line = found.get(key)
        if line is not None and line[0]:
            lines.append(line)
            continue
        if key == "cseq" and method is None:
            return None
        lines.append((canonical, stand_in(canonical, method or "", uri)))
    return tuple(lines)


_STAND_IN_ORDER = (("from", "From"), ("to", "To"), ("call-id", "Call-ID"), ("cseq", "CSeq"))
_ANONYMOUS = "<sip:anonymous@anonymous.invalid>"  # RFC 3323 §4.1.1.3's anonymous URI


def stand_in(name: str, method: str, uri: str | None) -> str:
    """A well-formed value for basis field `name` (From, To, Call-ID, CSeq) when the request's
    is unusable: To names the Request-URI (what a To starts out as, §8.1.1.2), From is
    anonymous, CSeq is 0 with the Request-Line's method. The same request always gets the same
    stand-ins, so a stateless answer to its retransmission is the same answer."""
    if name == "To":
        if uri is not None:
            candidate = f"<{uri}>"
            try:
                parse_address(candidate)
            except GrammarError:
                return _ANONYMOUS
            return candidate
        return _ANONYMOUS
    if name == "From":
        return _ANONYMOUS
    if name == "Call-ID":
        return "unusable-call-id@anonymous.invalid"
    if name == "CSeq":
        return f"0 {method}"
    raise ValueError(f"no stand-in for {name}")


def first(parsed: dict[str, list[object]], key: str) -> object | None:
    values = parsed.get(key)
    return values[0] if values else None


def addresses(parsed: dict[str, list[object]], key: str) -> tuple[NameAddr, ...]:
    return tuple(v for v in parsed.get(key, ()) if isinstance(v, NameAddr))
