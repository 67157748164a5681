"""Driving the call-control engine by hand: a peer that answers with real SIP bytes, time as a number.

The engine under test talks to a trunk at 192.0.2.1 and is 192.0.2.10 itself. `Peer` plays the
carrier: it parses what the engine sends and builds responses and requests the way a carrier's
SIP stack would (tags, Contact, SDP), and `Run` keeps `now` and the outputs of every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callgate.calls.trunk import TrunkEvent
from callgate.telephony.sip import (
    Endpoint,
    SipRequest,
    SipResponse,
    Target,
    make_request,
    parse,
    parse_uri,
    response_for,
)
from callgate.telephony.sip.address import parse_address
from callgate.telephony.siptrunk import (
    CallControl,
    LocalAddress,
    MediaStart,
    MediaStop,
    Output,
    SipTrunkSettings,
)
from callgate.telephony.siptrunk.outputs import MusicOnHold
from callgate.telephony.siptrunk.trust import TrustedSources

TRUNK = Target("192.0.2.1", 5060, "UDP")
STRANGER = Target("198.51.100.7", 5060, "UDP")
LOCAL = LocalAddress(Endpoint("192.0.2.10", 5060, "UDP", user="gw"), "192.0.2.10")
RTP_PORT = 30000


def peer_sdp(
    *,
    port: int = 40000,
    direction: str = "sendrecv",
    te_pt: int = 101,
    codecs: str = "0",
    host: str = "192.0.2.1",
) -> bytes:
    lines = [
        "v=0",
        "o=carrier 1 1 IN IP4 192.0.2.1",
        "s=-",
        f"c=IN IP4 {host}",
        "t=0 0",
        f"m=audio {port} RTP/AVP {codecs} {te_pt}",
        f"a=rtpmap:{te_pt} telephone-event/8000",
        f"a=fmtp:{te_pt} 0-15",
        f"a={direction}",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def engine(**overrides: Any) -> CallControl:
    values: dict[str, Any] = {"host": "192.0.2.1", "bind_host": "192.0.2.10"}
    values.update(overrides)
    settings = SipTrunkSettings(**values)
    trusted = TrustedSources(
        settings.trusted_sources, hosts=["192.0.2.1"], host_ports=settings.trunk_source_ports
    )
    return CallControl(settings, LOCAL, TRUNK, trusted)


@dataclass
class Run:
    """One engine, the time, and everything it produced, step by step."""

    engine: CallControl
    now: float = 0.0
    outputs: list[Output] = field(default_factory=list)

    def step(self, produced: list[Output]) -> list[Output]:
        self.outputs += produced
        return produced

    def feed(self, message: SipRequest | SipResponse, source: Target = TRUNK) -> list[Output]:
        return self.step(self.engine.receive(bytes(message), source, self.now))

    def advance(self, seconds: float) -> list[Output]:
        """Move time on, firing every deadline on the way, as the shell's one timer would."""
        target = self.now + seconds
        produced: list[Output] = []
        while True:
            deadline = self.engine.next_deadline()
            if deadline is None or deadline > target:
                break
            self.now = max(self.now, deadline)
            produced += self.engine.expire(self.now)
        self.now = target
        return self.step(produced)


def sent(outputs: list[Output]) -> list[SipRequest | SipResponse]:
    """The SIP messages among `outputs`, parsed back from their bytes."""
    return [parse(o.data) for o in outputs if hasattr(o, "data")]


def requests(outputs: list[Output], method: str) -> list[SipRequest]:
    return [m for m in sent(outputs) if isinstance(m, SipRequest) and m.method == method]


def responses(outputs: list[Output], status: int | None = None) -> list[SipResponse]:
    return [
        m
        for m in sent(outputs)
        if isinstance(m, SipResponse) and (status is None or m.status == status)
    ]


def events(outputs: list[Output]) -> list[TrunkEvent]:
    return [
        o
        for o in outputs
        if not hasattr(o, "data") and not isinstance(o, MediaStart | MediaStop | MusicOnHold)
    ]


def media(outputs: list[Output]) -> list[MediaStart | MediaStop]:
    return [o for o in outputs if isinstance(o, MediaStart | MediaStop)]


# --- the carrier's side ------------------------------------------------------------------------


def reply(
    request: SipRequest,
    status: int,
    *,
    tag: str = "carrier-tag",
    sdp: bytes | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> SipResponse:
    """The carrier's response: its To tag, its Contact on 1xx/2xx to INVITE, SDP if given."""
    lines = list(headers)
    if request.method == "INVITE" and 100 < status < 300:
        lines.insert(0, ("Contact", "<sip:carrier@192.0.2.1:5060>"))
    if sdp is not None:
        lines.append(("Content-Type", "application/sdp"))
    # A request that has a To tag keeps it; 100 Trying takes none.
    return response_for(request, status, to_tag=tag, headers=lines, body=sdp or b"")


def inbound_invite(
    *,
    number: str = "4143",
    caller: str = "5551234",
    call_id: str = "inbound-1@192.0.2.1",
    branch: str = "z9hG4bK-in-1",
    sdp: bytes | None = None,
    with_sdp: bool = True,
) -> SipRequest:
    """An INVITE as the carrier sends it to us."""
    body = (sdp or peer_sdp()) if with_sdp else b""
    return make_request(
        "INVITE",
        parse_uri(f"sip:{number}@192.0.2.10:5060"),
        via=f"SIP/2.0/UDP 192.0.2.1:5060;branch={branch}",
        from_=parse_address(f"<sip:{caller}@192.0.2.1>;tag=caller-tag"),
        to=parse_address(f"<sip:{number}@192.0.2.10>"),
        call_id=call_id,
        cseq=1,
        contact=parse_address("<sip:carrier@192.0.2.1:5060>"),
        body=body,
        content_type="application/sdp" if body else None,
    )


def in_dialog(
    method: str,
    dialog_of: SipResponse | SipRequest,
    *,
    cseq: int,
    branch: str,
    ours_is_from: bool,
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
) -> SipRequest:
    """A request the carrier sends inside the dialog that `dialog_of` established.

    `ours_is_from`: in `dialog_of`, our tag is in From (an outbound call) rather than To.
    """
    ours = dialog_of.from_ if ours_is_from else dialog_of.to
    theirs = dialog_of.to if ours_is_from else dialog_of.from_
    assert ours is not None
    assert theirs is not None
    assert dialog_of.call_id is not None
    return make_request(
        method,
        LOCAL.endpoint.contact.uri,
        via=f"SIP/2.0/UDP 192.0.2.1:5060;branch={branch}",
        from_=theirs,
        to=ours,
        call_id=dialog_of.call_id,
        cseq=cseq,
        contact=parse_address("<sip:carrier@192.0.2.1:5060>") if method == "INVITE" else None,
        headers=headers,
        body=body,
        content_type="application/sdp" if body else None,
    )
