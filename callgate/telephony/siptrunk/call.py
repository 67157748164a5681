"""One call as the SIP user agent sees it: its phase, its INVITE, its dialog and its SDP.

Theory of operation. A call moves through the phases below; `TRANSITIONS` is the whole table and
`SipCall.move` refuses anything else, so a bug shows up as an error in the log instead of a call
stuck half-way. Outbound calls start CALLING, inbound ones OFFERED.

    CALLING     our INVITE is out, no final response yet (1xx: ringing, maybe early media)
    CANCELLING  the domain hung up before the answer; CANCEL sent, waiting for the INVITE's end
                (487, or a 2xx that crossed the CANCEL: then ACK and BYE)
    OFFERED     an INVITE from the trunk; 180 sent, the domain decides (answer or hangup)
    ANSWERED    our 2xx is out; waiting for the ACK before anything else (RFC 3261 §15: no BYE
                before the ACK, so a hangup here is owed and sent when the ACK comes)
    CONFIRMED   the dialog is up; media flows; re-INVITEs are answered
    ENDING      our BYE is out, waiting for its response (to retry once with credentials)

A call leaves the engine's tables when it ends; transactions still running for it (a BYE, the
ACK of a refusal) finish in the transaction layer on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from callgate.telephony.sip import (
    Dialog,
    NegotiatedAudio,
    SdpSession,
    Send,
    SessionDescription,
    SipRequest,
    Target,
    TransactionKey,
)
from callgate.telephony.sip.reliable import ReliableReceiver, ReliableSender
from callgate.telephony.sip.session_timer import SessionTimer, TimerAnswer

__all__ = ["TRANSITIONS", "Phase", "SipCall"]


class Phase(StrEnum):
    CALLING = "calling"
    CANCELLING = "cancelling"
    OFFERED = "offered"
    ANSWERED = "answered"
    CONFIRMED = "confirmed"
    ENDING = "ending"


P = Phase
TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    P.CALLING: frozenset({P.CANCELLING, P.CONFIRMED, P.ENDING}),
    P.CANCELLING: frozenset({P.ENDING}),
    P.OFFERED: frozenset({P.ANSWERED}),
    P.ANSWERED: frozenset({P.CONFIRMED, P.ENDING}),
    P.CONFIRMED: frozenset({P.ENDING}),
    P.ENDING: frozenset(),
}


class PhaseError(RuntimeError):
    """A transition the table does not allow: a bug in the engine, never the peer's doing."""


@dataclass(slots=True, eq=False)
class SipCall:
    session_id: str
    outbound: bool
    call_id: str
    local_tag: str
    phase: Phase
    invite: SipRequest
    """Our INVITE (the latest, after a digest retry) or the peer's."""
    invite_key: TransactionKey
    dialog: Dialog | None = None
    sdp: SdpSession | None = None
    offer: SessionDescription | None = None
    """The inbound INVITE's SDP offer, kept until we answer it."""
    audio: NegotiatedAudio | None = None
    ringing_reported: bool = False
    early_media: bool = False
    auth_retried: bool = False
    cause: int = 16
    """Why we end it (the Reason of our CANCEL or BYE)."""
    bye_owed: bool = False
    """Hung up while ANSWERED: send the BYE when the ACK comes (or Timer L gives up on it)."""
    answer_in_ack: bool = False
    """We offered in our 2xx (the INVITE had no SDP): the peer's answer comes in the ACK."""
    last_ack: Send | None = None
    """Our ACK for the 2xx, re-sent if the 2xx comes again after its transaction ended."""
    bye: SipRequest | None = None
    bye_auth_retried: bool = False
    target: Target | None = None
    """Where our INVITE went (the trunk's current target, RFC 3263)."""
    alternatives: tuple[Target, ...] = ()
    """The trunk's targets not tried yet: the INVITE goes to the next on a timeout or 503."""
    session_timer: SessionTimer | None = None
    """RFC 4028, once a 2xx settled one: when we refresh, when the session expires."""
    timer_answer: TimerAnswer | None = None
    """An inbound INVITE's session timer, as our 2xx will settle it."""
    asked_interval_s: int = 0
    """The Session-Expires of our INVITE (raised by a 422's Min-SE, once)."""
    peer_allows_update: bool = False
    """The peer's Allow names UPDATE: we refresh with it, else by re-INVITE."""
    reliable_out: ReliableSender | None = None
    """An inbound INVITE that takes 100rel: our reliable provisional, until PRACKed."""
    reliable_in: dict[str, ReliableReceiver] = field(default_factory=dict)
    """Our INVITE: the reliable provisionals of each early dialog (by To tag) seen so far."""
    pending: TransactionKey | None = None
    """Our re-INVITE or UPDATE in the dialog, until its final response (an offer of the peer's
    meanwhile crosses it: 491)."""
    delayed_offer: bool = False
    """Our INVITE had no SDP: the peer's 2xx (or a reliable 18x) offers, we answer in the ACK
    (the PRACK)."""
    holding: bool = False
    """We hold the call (our `hold`, until our `resume`): our offers and answers say sendonly
    (or inactive), never sendrecv."""
    hold_pending: TransactionKey | None = None
    """Our hold or resume re-INVITE, until its final response (`pending` is it too)."""

    def move(self, phase: Phase) -> None:
        if phase not in TRANSITIONS[self.phase]:
            raise PhaseError(f"call {self.session_id}: {self.phase} -> {phase} is not allowed")
        self.phase = phase

    @property
    def live(self) -> bool:
        """The domain still knows this call (it has not ended on either side)."""
        return self.phase not in (Phase.CANCELLING, Phase.ENDING) and not self.bye_owed
