"""Finding a message's transaction (§17.1.3, §17.2.3), and the transport rules around it.

- A response belongs to the client transaction whose branch is its top Via's branch and whose
  method is its CSeq method (so a CANCEL's 200 never reaches the INVITE it cancels).
- A request with an RFC 3261 branch (magic cookie "z9hG4bK" plus something) belongs to the
  server transaction with the same branch, top Via sent-by and method, where ACK counts as
  INVITE. Anything else is an RFC 2543 request: Request-URI, From tag, Call-ID, CSeq number
  and the whole top Via identify it, and the To tag is checked afterwards (an INVITE's own,
  or for an ACK the tag of the response it acknowledges).
- §18.2.1 / RFC 3581: the receiver notes `received` and `rport` in the top Via, and §18.2.2
  says where the responses go.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from ..errors import SipLocalError
from ..fields import MAGIC_COOKIE, Via, parse_via
from ..grammar import GrammarError, split_list
from ..message import SipRequest, SipResponse
from ..params import Params
from .events import Target, TransactionKey

__all__ = [
    "LEGACY_PREFIX",
    "TokenSource",
    "cancelled_key",
    "client_key",
    "new_branch",
    "random_token",
    "response_target",
    "server_key",
    "stamp_via",
    "top_via_of_basis",
]

LEGACY_PREFIX = "rfc2543|"

TokenSource = Callable[[], str]


def random_token() -> str:
    """64 random bits as hex: branches, tags and cnonces must not be guessable or repeat."""
    return secrets.token_hex(8)


def new_branch(token: TokenSource = random_token) -> str:
    """A fresh RFC 3261 branch: the magic cookie then a random token (§8.1.1.7)."""
    return MAGIC_COOKIE + token()


def client_key(message: SipRequest | SipResponse) -> TransactionKey | None:
    """The client transaction a response (or the request we send) belongs to, by §17.1.3."""
    via = message.top_via
    cseq = message.cseq
    if via is None or cseq is None or via.branch is None:
        return None
    return TransactionKey(branch=via.branch, method=cseq.method)


def server_key(request: SipRequest) -> TransactionKey | None:
    """The server transaction a request belongs to, by §17.2.3 (None without Via or CSeq).

    ACK maps to the INVITE's key; CANCEL has its own (`cancelled_key` finds the INVITE's).
    """
    return _server_key(request, "INVITE" if request.method == "ACK" else request.method)


def cancelled_key(cancel: SipRequest) -> TransactionKey | None:
    """The key of the INVITE a CANCEL targets (§9.2): the CANCEL's fields, method INVITE."""
    return _server_key(cancel, "INVITE")


def _server_key(request: SipRequest, method: str) -> TransactionKey | None:
    via = request.top_via
    cseq = request.cseq
    if via is None or cseq is None:
        return None
    sent_by = _sent_by(via)
    if via.rfc3261_branch:
        assert via.branch is not None
        return TransactionKey(branch=via.branch, method=method, sent_by=sent_by, server=True)
    # RFC 2543: the To tag is left out on purpose; it differs between an INVITE and its ACK.
    legacy = "|".join(
        (
            str(request.uri),
            request.from_tag or "",
            request.call_id or "",
            str(cseq.number),
            _via_identity(via),
        )
    )
    return TransactionKey(
        branch=LEGACY_PREFIX + legacy, method=method, sent_by=sent_by, server=True
    )


def _sent_by(via: Via) -> str:
    # Hosts compare case-insensitively; an absent port is not 5060 for matching purposes.
    host = via.host.lower()
    return host if via.port is None else f"{host}:{via.port}"


def _via_identity(via: Via) -> str:
    """The top Via as sent (before we add received / rport), case-folded where SIP says so."""
    params = ";".join(
        f"{name.lower()}={value}" if value is not None else name.lower()
        for name, value in via.params
        if name.lower() not in ("received", "rport")
    )
    return f"{via.transport.upper()} {_sent_by(via)};{params}"


def stamp_via(request: SipRequest, source: Target) -> SipRequest:
    """§18.2.1 and RFC 3581: note the source address in the top Via.

    `received` is added when the sent-by host is not the packet's source address (always for
    RFC 3581 clients), and `rport` gets the source port. Both are the receiver's to write: a
    value the sender put there itself is replaced (or, for `received`, removed), so nothing
    downstream can mistake an address the sender chose for where the packet came from. The
    request is returned unchanged when nothing needs noting, the common case on a LAN.
    """
    via = request.top_via
    if via is None:
        return request
    source_host = source.host.strip("[]")
    host_differs = via.host.strip("[]").lower() != source_host.lower()
    port_text = str(source.port)
    rport_wrong = via.rport_requested and via.params.get("rport") != port_text
    received_wrong = via.received != (source_host if host_differs or via.rport_requested else None)
    if not rport_wrong and not received_wrong:
        return request
    items: list[tuple[str, str | None]] = []
    for name, value in via.params:
        lowered = name.lower()
        if lowered == "received":
            continue
        if lowered == "rport":
            value = port_text
        items.append((name, value))
    if host_differs or via.rport_requested:
        items.append(("received", source_host))
    stamped = Via(
        via.transport, via.host, via.port, Params(tuple(items)), via.protocol, via.version
    )
    headers = list(request.headers)
    try:
        for index, (name, value) in enumerate(headers):
            if name == "Via":
                headers[index] = (name, ", ".join([str(stamped), *split_list(value)[1:]]))
                break
        return SipRequest(
            method=request.method, uri=request.uri, headers=tuple(headers), body=request.body
        )
    except (GrammarError, SipLocalError):
        # A source address the Via grammar cannot carry (an IPv6 zone, say): keep the Via as
        # it came rather than fail; `response_target` still answers the real source.
        return request


def response_target(via: Via, source: Target, *, trusted: bool = True) -> Target:
    """§18.2.2 with RFC 3581: where responses to a request with top Via `via` from `source` go.

    Reliable transports answer over the connection the request came on (`source`). Over UDP,
    the host is always the packet's source address (what `received` records: a `received` in
    the Via as it arrived is the sender's claim, not a fact), at the source port for `rport`,
    else at the sent-by port, 5060 by default. `maddr` is honoured for a trusted source only.

    A source that is not `trusted` is answered at exactly the address and port its packet came
    from, whatever its Via says: an answer sent anywhere else would let a stranger aim our
    responses at a third party (a reflection attack).
    """
    if source.reliable or not trusted:
        return source
    default_port = 5061 if via.transport.upper() == "TLS" else 5060
    if via.maddr:
        return Target(via.maddr, via.port or default_port, source.transport)
    if via.rport_requested:
        return source
    return Target(source.host, via.port or default_port, source.transport)


def top_via_of_basis(lines: tuple[tuple[str, str], ...]) -> Via | None:
    """The top Via among a parse error's response basis lines, or None if it will not parse."""
    for name, value in lines:
        if name == "Via":
            try:
                return parse_via(value)[0]
            except (GrammarError, IndexError):
                return None
    return None
