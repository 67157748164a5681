"""Typed values of the header fields the SIP core reads: Via, CSeq, Content-Type, Reason, Date,
option-tag lists and the scalars. Each parser quotes the RFC 3261 §25 (or RFC 3326) rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from .grammar import (
    HOST,
    LWS,
    PORT,
    SWS,
    TOKEN,
    GrammarError,
    check_host,
    check_ipv6,
    is_token,
    parse_uint,
    split_list,
)
from .params import NO_PARAMS, Params, parse_params

__all__ = [
    "MAX_CSEQ",
    "CSeq",
    "MediaType",
    "Reason",
    "Via",
    "parse_cseq",
    "parse_date",
    "parse_delta_seconds",
    "parse_media_type",
    "parse_reason",
    "parse_tokens",
    "parse_via",
]

MAGIC_COOKIE = "z9hG4bK"
MAX_CSEQ = 2**32 - 1  # RFC 3261 §8.1.1.5: "MUST be expressible as a 32-bit unsigned integer"
MAX_FORWARDS_LIMIT = 255  # RFC 3261 §20.22: "an integer in the range 0-255"
DEFAULT_EXPIRES_S = 3600  # RFC 3261 §20.19: "Malformed values SHOULD be treated as ... 3600"


@dataclass(frozen=True, slots=True)
class Via:
    """via-parm  =  sent-protocol LWS sent-by *( SEMI via-params )"""

    transport: str
    host: str
    port: int | None = None
    params: Params = NO_PARAMS
    protocol: str = "SIP"
    version: str = "2.0"

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def rfc3261_branch(self) -> bool:
        """True when the branch carries the magic cookie and an identifier after it.

        False means RFC 2543 transaction matching applies (RFC 3261 §17.2.3; RFC 4475 §3.2.1:
        a bare "z9hG4bK" is treated like no RFC 3261 branch at all).
        """
        branch = self.branch
        return branch is not None and branch.startswith(MAGIC_COOKIE) and len(branch) > 7

    @property
    def received(self) -> str | None:
        return self.params.get("received")

    @property
    def rport_requested(self) -> bool:
        """RFC 3581: an empty `rport` asks for the response to go to the source port."""
        return "rport" in self.params

    @property
    def rport(self) -> int | None:
        value = self.params.get("rport")
        return int(value) if value else None

    @property
    def maddr(self) -> str | None:
        return self.params.get("maddr")

    @property
    def sent_by(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.protocol}/{self.version}/{self.transport} {self.sent_by}{self.params}"


#   sent-protocol     =  protocol-name SLASH protocol-version SLASH transport
#   protocol-name     =  "SIP" / token      protocol-version  =  token
#   transport         =  "UDP" / "TCP" / "TLS" / "SCTP" / other-transport (token)
#   sent-by           =  host [ COLON port ]
#   SLASH = SWS "/" SWS      COLON = SWS ":" SWS
_VIA_RE = re.compile(
    rf"{SWS}({TOKEN}){SWS}/{SWS}({TOKEN}){SWS}/{SWS}({TOKEN}){LWS}({HOST})(?:{SWS}:{SWS}({PORT}))?"
)


def parse_via(value: str) -> tuple[Via, ...]:
    """Via  =  ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)"""
    return tuple(_parse_via_parm(item) for item in split_list(value))


def _parse_via_parm(text: str) -> Via:
    match = _VIA_RE.match(text)
    if match is None:
        raise GrammarError(f"malformed Via {text[:60]!r}")
    protocol, version, transport, host, port_text = match.groups()
    check_host(host)
    port = None if port_text is None else parse_uint(port_text, 65535, "Via port")
    params = parse_params(text, match.end())
    for name, raw in params:
        _check_via_param(name.lower(), raw)
    return Via(transport, host, port, params, protocol, version)


def _check_via_param(name: str, raw: str | None) -> None:
    """via-ttl / via-maddr / via-received / via-branch (RFC 3261) and rport (RFC 3581)."""
    if name == "branch":
        if raw is None or not is_token(raw):
            raise GrammarError("Via branch must be a token")
    elif name == "received":
        #   via-received = "received" EQUAL (IPv4address / IPv6address); some stacks bracket the
        #   IPv6 form, which check_host accepts too.
        if raw is None:
            raise GrammarError("Via received needs a value")
        if ":" in raw and not raw.startswith("["):
            check_ipv6(raw)
        else:
            check_host(raw)
    elif name == "ttl":
        #   ttl  =  1*3DIGIT ; 0 to 255
        if raw is None or len(raw) > 3:
            raise GrammarError("Via ttl must be 1 to 3 digits")
        parse_uint(raw, 255, "Via ttl")
    elif name == "maddr":
        if raw is None:
            raise GrammarError("Via maddr needs a value")
        check_host(raw)
    elif name == "rport" and raw is not None:
        #   response-port  =  "rport" [EQUAL 1*DIGIT]
        parse_uint(raw, 65535, "Via rport")


@dataclass(frozen=True, slots=True)
class CSeq:
    """CSeq  =  "CSeq" HCOLON 1*DIGIT LWS Method"""

    number: int
    method: str

    def __str__(self) -> str:
        return f"{self.number} {self.method}"


_CSEQ_RE = re.compile(rf"([0-9]+){LWS}({TOKEN})")


def parse_cseq(value: str) -> CSeq:
    match = _CSEQ_RE.fullmatch(value)
    if match is None:
        raise GrammarError(f"malformed CSeq {value[:60]!r}")
    return CSeq(parse_uint(match.group(1), MAX_CSEQ, "CSeq number"), match.group(2))


@dataclass(frozen=True, slots=True)
class MediaType:
    """media-type  =  m-type SLASH m-subtype *(SEMI m-parameter)"""

    type: str
    subtype: str
    params: Params = NO_PARAMS

    @property
    def mime(self) -> str:
        """ "type/subtype" in lower case, the form to compare (types are case-insensitive)."""
        return f"{self.type}/{self.subtype}".lower()

    def __str__(self) -> str:
        return f"{self.type}/{self.subtype}{self.params}"


_MEDIA_TYPE_RE = re.compile(rf"{SWS}({TOKEN}){SWS}/{SWS}({TOKEN})")


def parse_media_type(value: str) -> MediaType:
    """m-parameter = m-attribute EQUAL m-value; m-value = token / quoted-string"""
    match = _MEDIA_TYPE_RE.match(value)
    if match is None:
        raise GrammarError(f"malformed media type {value[:60]!r}")
    params = parse_params(value, match.end())
    if any(raw is None for _, raw in params):
        raise GrammarError("media type parameters need a value")
    return MediaType(match.group(1), match.group(2), params)


def parse_tokens(value: str, *, allow_empty: bool = False) -> tuple[str, ...]:
    """option-tag *(COMMA option-tag), as in Require, Proxy-Require, Supported, Allow."""
    if not value.strip(" \t"):
        if allow_empty:
            return ()
        raise GrammarError("at least one token is required")
    items = split_list(value)
    for item in items:
        if not is_token(item):
            raise GrammarError(f"not a token: {item[:60]!r}")
    return tuple(items)


@dataclass(frozen=True, slots=True)
class Reason:
    """reason-value  =  protocol *(SEMI reason-params)   (RFC 3326)"""

    protocol: str
    params: Params = NO_PARAMS

    @property
    def cause(self) -> int | None:
        """`cause` as a number: a Q.850 cause for protocol Q.850, a status code for SIP."""
        value = self.params.get("cause")
        if value is None or not value.isdigit() or len(value) > 5:
            return None
        return int(value)

    @property
    def text(self) -> str | None:
        return self.params.get("text")

    def __str__(self) -> str:
        return f"{self.protocol}{self.params}"


_REASON_RE = re.compile(rf"{SWS}({TOKEN})")


def parse_reason(value: str) -> tuple[Reason, ...]:
    """Reason  =  "Reason" HCOLON reason-value *(COMMA reason-value)"""
    reasons = []
    for item in split_list(value):
        match = _REASON_RE.match(item)
        if match is None:
            raise GrammarError(f"malformed Reason {item[:60]!r}")
        reasons.append(Reason(match.group(1), parse_params(item, match.end())))
    return tuple(reasons)


#   rfc1123-date  =  wkday "," SP date1 SP time SP "GMT"
#   date1         =  2DIGIT SP month SP 4DIGIT
#   time          =  2DIGIT ":" 2DIGIT ":" 2DIGIT
_DATE_RE = re.compile(
    r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) GMT"
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def parse_date(value: str) -> datetime:
    """SIP-date = rfc1123-date; "GMT" is the only zone RFC 3261 allows (RFC 4475 §3.1.2.12)."""
    match = _DATE_RE.fullmatch(value)
    if match is None:
        raise GrammarError(f"not an RFC 1123 date in GMT: {value[:60]!r}")
    _, day, month, year, hour, minute, second = match.groups()
    try:
        return datetime(
            int(year),
            _MONTHS.index(month) + 1,
            int(day),
            int(hour),
            int(minute),
            int(second),
            tzinfo=UTC,
        )
    except ValueError as exc:
        raise GrammarError(f"impossible date {value!r}: {exc}") from None


def parse_delta_seconds(value: str) -> int:
    """delta-seconds = 1*DIGIT, read as RFC 3261 §20.19 says: malformed or over 2**32-1 is 3600."""
    text = value.strip(" \t")
    try:
        return parse_uint(text, MAX_CSEQ, "delta-seconds")
    except GrammarError:
        return DEFAULT_EXPIRES_S
