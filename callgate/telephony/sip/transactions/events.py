"""What the transaction layer hands back: datagrams to send and events for the TU.

Every call into `TransactionLayer` returns an ordered `list[Action]`; an `Action` is either a
`Send` (bytes for the transport, with the destination) or one of the `Event`s the transaction
user (the call layer) reacts to. All are frozen, slotted dataclasses, as is `Target`, the
"where to" value a transaction is created with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..message import SipRequest, SipResponse

__all__ = [
    "AckReceived",
    "Action",
    "Event",
    "MessageDropped",
    "RequestReceived",
    "RequestRefused",
    "ResponseReceived",
    "Send",
    "StrayResponse",
    "Target",
    "TransactionKey",
    "TransactionTerminated",
    "TransactionTimeout",
    "TransportFailed",
]

_RELIABLE_DEFAULT_PORTS = {"TLS": 5061, "WSS": 443}


@dataclass(frozen=True, slots=True)
class Target:
    """Where a message goes (or came from): transport name, host and port.

    `host` is whatever the transport can send to: normally an IP address. Resolving names
    (RFC 3263, `callgate/telephony/sip/locate.py`) happens before a request is made, not here.
    """

    host: str
    port: int
    transport: str = "UDP"
    flow: tuple[str, int] | None = field(default=None, compare=False)
    """Over TCP or TLS: the (host, port) of a connection to send on while it stays open, the one
    a dialog was set up over (RFC 5923's reuse), whatever address the Contact names; the peer
    may accept no connection of ours at all (a phone behind NAT). Not part of the identity."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "transport", self.transport.upper())
        if not 0 < self.port <= 65535:
            raise ValueError(f"port {self.port} out of range")

    @property
    def reliable(self) -> bool:
        """True for stream transports: no retransmissions, zero-length wait timers (§17)."""
        return self.transport != "UDP"

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{self.transport.lower()}:{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class TransactionKey:
    """How a transaction is found again (§17.1.3, §17.2.3).

    Client keys are (branch, method); server keys add the top Via's sent-by. ACK is matched
    under "INVITE". For an RFC 2543 request (no magic cookie) `branch` holds the fields that
    identify the transaction instead, prefixed "rfc2543|". Treat keys as opaque handles.
    """

    branch: str
    method: str
    sent_by: str = ""
    server: bool = False

    @property
    def invite(self) -> bool:
        return self.method == "INVITE"

    def __str__(self) -> str:
        side = "server" if self.server else "client"
        return f"{side} {self.method} {self.branch[:48]}"


@dataclass(frozen=True, slots=True)
class Send:
    """Put `data` (the serialized `message`) on the wire towards `target`.

    `key` names the transaction that sent it, so a failed send can be reported back with
    `TransactionLayer.transport_failed(key, now)`; None for stateless answers.
    """

    message: SipRequest | SipResponse
    data: bytes
    target: Target
    key: TransactionKey | None = None


# --- events for the transaction user --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request made a server transaction; answer it with `TransactionLayer.respond`.

    `request`'s top Via already carries `received` / `rport` (§18.2.1, RFC 3581). For CANCEL,
    `cancels` is the INVITE server transaction it matches (§9.2); a CANCEL that matches none
    was answered 481 by the layer and never comes up.
    """

    key: TransactionKey
    request: SipRequest
    source: Target
    cancels: TransactionKey | None = None


@dataclass(frozen=True, slots=True)
class AckReceived:
    """An ACK for a 2xx (its own transaction per §17; RFC 6026). `invite` is the INVITE server
    transaction whose 2xx it acknowledges, or None when none matched: look up the dialog."""

    request: SipRequest
    source: Target
    invite: TransactionKey | None = None


@dataclass(frozen=True, slots=True)
class ResponseReceived:
    """A response matched client transaction `key`. Retransmissions never reach the TU, except
    a 2xx from a new To tag (a forked answer, §13.2.2.4), which is a response in its own right."""

    key: TransactionKey
    response: SipResponse


@dataclass(frozen=True, slots=True)
class StrayResponse:
    """A response no transaction claims, e.g. a 2xx retransmitted after Timer M (§13.2.2.4: the
    UAC core re-sends its ACK). Anything else stray may be ignored."""

    response: SipResponse
    source: Target


@dataclass(frozen=True, slots=True)
class TransactionTimeout:
    """A transaction gave up. `timer` says why:

    - "B" / "F": no final response (treat as 408, §8.1.3.1);
    - "H": no ACK for our non-2xx final response;
    - "L": no ACK for our 2xx within 64*T1 (§13.3.1.4: end the session with BYE);
    - "CANCEL": no final response 64*T1 after our CANCEL (§9.1: the INVITE is abandoned);
    - "GUARD": the TU never answered a non-INVITE request (callgate's leak guard).
    """

    key: TransactionKey
    timer: str


@dataclass(frozen=True, slots=True)
class TransportFailed:
    """The transport reported that a send for `key` failed; the transaction is over (§17)."""

    key: TransactionKey


@dataclass(frozen=True, slots=True)
class TransactionTerminated:
    """Transaction `key` reached Terminated and left the table; forget anything keyed by it."""

    key: TransactionKey


@dataclass(frozen=True, slots=True)
class MessageDropped:
    """A message was discarded (malformed, or one the RFC says to ignore). For logs and metrics."""

    reason: str
    source: Target | None = None


@dataclass(frozen=True, slots=True)
class RequestRefused:
    """A request was answered by the layer itself and never reached the TU: `status` is what it
    got (the policy's rejection, or 503 when the transaction table is full)."""

    request: SipRequest
    source: Target
    status: int
    detail: str


Event = (
    RequestReceived
    | AckReceived
    | ResponseReceived
    | StrayResponse
    | TransactionTimeout
    | TransportFailed
    | TransactionTerminated
    | MessageDropped
    | RequestRefused
)
Action = Send | Event
