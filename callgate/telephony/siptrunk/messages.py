"""Small readings and writings of SIP messages the call control needs: bodies, causes, numbers.

Pure functions: the SDP in a body, the Q.850 cause a BYE or CANCEL states, who is calling and
which number they called (sip: and tel: URIs alike), host and URI spelling.
"""

from __future__ import annotations

from callgate.calls.causes import Cause
from callgate.telephony.sip import AbsoluteUri, NameAddr, SipMessage, SipRequest, SipUri, find_sdp

__all__ = [
    "allows_update",
    "bracketed",
    "caller_of",
    "cause_of",
    "number_called",
    "sdp_body",
    "without_params",
]


def bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def without_params(uri: SipUri | AbsoluteUri) -> SipUri | AbsoluteUri:
    if isinstance(uri, SipUri):
        return SipUri(host=uri.host, scheme=uri.scheme, user=uri.user, port=uri.port)
    return uri


def sdp_body(message: SipMessage) -> bytes | None:
    if not message.body:
        return None
    return find_sdp(message.body, message.content_type, message.get("Content-Disposition"))


def allows_update(message: SipMessage) -> bool:
    """The sender's Allow names UPDATE (RFC 3311), so a session refresh may use it."""
    return "UPDATE" in {method.strip().upper() for method in message.get_all("Allow")}


def cause_of(request: SipRequest) -> int:
    """The Q.850 cause a BYE or CANCEL states in its Reason, else normal clearing."""
    cause = request.q850_cause
    return cause if cause is not None and 0 <= cause <= 127 else int(Cause.NORMAL_CLEARING)


def _user_of(address: NameAddr | None) -> str | None:
    if address is None:
        return None
    uri = address.uri
    if isinstance(uri, SipUri):
        return uri.user_text
    if isinstance(uri, AbsoluteUri) and uri.scheme.lower() == "tel":
        return uri.rest.split(";", 1)[0]
    return None


def _printable(text: str | None) -> str:
    """`text` without control characters: SIP escapes (`%00`, `%0A`) can carry any byte, and a NUL
    cannot be stored in a PostgreSQL text column (the call's record would fail to insert)."""
    return "" if text is None else "".join(c for c in text if c >= " " and c != "\x7f")


def caller_of(request: SipRequest) -> str:
    address = request.from_
    user = _printable(_user_of(address))
    if user:
        return user
    name = _printable(address.display_name if address is not None else None)
    return name or "anonymous"


def number_called(request: SipRequest) -> str:
    uri = request.uri
    if isinstance(uri, SipUri) and uri.user_text:
        return _printable(uri.user_text)
    if isinstance(uri, AbsoluteUri) and uri.scheme.lower() == "tel":
        return _printable(uri.rest.split(";", 1)[0])
    return _printable(_user_of(request.to))
