"""100rel and PRACK (RFC 3262) for the trunk's calls, both ways, as `reliable_provisional` says.

Calls we receive: an INVITE that supports or requires 100rel gets its 180 reliably (RSeq,
Require: 100rel), sent again at T1, 2*T1 ... until the caller's PRACK names it in its RAck
(answered 200; a PRACK that names nothing outstanding gets 481). After 64*T1 without a PRACK the
INVITE is refused 500 and the call ends (cause 102, as for any timer expiry). Our 200 may go
out before the PRACK, since our 180 carries no SDP (§3). With `required`, an INVITE that does
not support 100rel gets 421 (Require: 100rel); with `off`, one that requires it gets 420 from
the transaction layer's policy.

Calls we place: Supported: 100rel on the INVITE (Require too with `required`); each new reliable
18x of an early dialog gets our PRACK (RAck: RSeq, CSeq, INVITE) and is then handled as any
18x (ringing; a 183's SDP starts early media); its retransmissions, and one out of order, are
dropped before they reach the call (§4).
"""

from __future__ import annotations

import logging
import secrets

from callgate.telephony.sip import RequestReceived, SdpError, SipError, SipResponse
from callgate.telephony.sip.reliable import (
    REL_TAG,
    RAck,
    Reception,
    ReliableReceiver,
    ReliableSender,
    parse_rack,
    parse_rseq,
    wants_reliable,
)

from .call import Phase, SipCall
from .core import NO_ACK_CAUSE, SDP_TYPE, Purpose, UserAgentCore
from .messages import sdp_body

__all__ = ["ReliableProvisionals"]

log = logging.getLogger(__name__)

GAVE_UP_STATUS = 500
"""Our reliable 180 was never PRACKed (§3: "SHOULD reject the original request with a 5xx")."""


class ReliableProvisionals(UserAgentCore):
    """RFC 3262 on both sides of call control (see the module docstring)."""

    # --- the UAS side -----------------------------------------------------------------------

    def _reliability_refusal(self, event: RequestReceived, now: float) -> bool:
        """Refuse (421) an INVITE that cannot do 100rel when we require it; True if refused."""
        supported, _ = wants_reliable(event.request)
        if self.settings.reliable_provisional == "required" and not supported:
            self._reply(event, 421, now, headers=(("Require", REL_TAG),))
            return True
        return False

    def _reliable_for(self, call: SipCall) -> None:
        """Make `call`'s provisionals reliable when its INVITE takes 100rel and we do too."""
        supported, _ = wants_reliable(call.invite)
        if supported and self.settings.reliable_provisional != "off":
            call.reliable_out = ReliableSender(1 + secrets.randbelow(2**31 - 2), self.settings.t1_s)

    def _send_provisional(self, call: SipCall, response: SipResponse, now: float) -> None:
        sender = call.reliable_out
        if sender is not None and not sender.busy:
            response = sender.send(response, now)
            deadline = sender.next_deadline
            if deadline is not None:
                self._wake(call, deadline)
        self._respond(call.invite_key, response, now)

    def _reliable_due(self, call: SipCall, now: float) -> None:
        sender = call.reliable_out
        if sender is None or call.phase is not Phase.OFFERED or sender.outstanding is None:
            return
        if sender.gave_up(now):
            log.info("call %s: our reliable 180 was never PRACKed", call.session_id)
            sender.stop()
            call.cause = NO_ACK_CAUSE
            self._refuse_offered(call, GAVE_UP_STATUS, now)
            self._end(call, NO_ACK_CAUSE, by_remote=False)
            return
        again = sender.retransmission(now)
        if again is not None:
            self._respond(call.invite_key, again, now)
        deadline = sender.next_deadline
        if deadline is not None:
            self._wake(call, deadline)

    def _on_prack(self, event: RequestReceived, now: float) -> None:
        request = event.request
        call = self._in_dialog(request)
        if call is None or call.dialog is None:
            self._reply(event, 481, now)
            return
        rejection = call.dialog.receive_request(request)
        if rejection is not None:
            self._respond(event.key, call.dialog.response(request, rejection.status), now)
            return
        rack, sender, cseq = parse_rack(request), call.reliable_out, call.invite.cseq
        if (
            rack is None
            or sender is None
            or cseq is None
            or not sender.acknowledge(rack, cseq.number)
        ):
            self._respond(event.key, call.dialog.response(request, 481), now)  # §3
            return
        self._respond(event.key, call.dialog.response(request, 200), now)

    def _stop_reliable(self, call: SipCall) -> None:
        """Our final response went out: no more retransmissions of the provisional."""
        if call.reliable_out is not None:
            call.reliable_out.stop()

    # --- the UAC side -----------------------------------------------------------------------

    def _invite_reliability_headers(self) -> tuple[tuple[str, str], ...]:
        if self.settings.reliable_provisional == "required":
            return (("Require", REL_TAG),)
        return ()

    def _early_answer(self, call: SipCall, response: SipResponse) -> bytes:
        """Our INVITE had no offer (`delayed_offer`) and this reliable 18x brings the peer's:
        our answer, for the PRACK (RFC 3262 §5); b"" otherwise."""
        sdp = sdp_body(response)
        if not call.delayed_offer or call.audio is not None or sdp is None or call.sdp is None:
            return b""
        try:
            body, call.audio = call.sdp.answer(sdp)
        except SdpError as exc:
            log.info("call %s: the reliable %d's offer is unusable: %s", call.session_id,
                     response.status, exc)  # fmt: skip
            return b""
        return body

    def _take_provisional(self, call: SipCall, response: SipResponse, now: float) -> bool:
        """PRACK a new reliable 18x; False for a retransmission or one out of order (drop it)."""
        if self.settings.reliable_provisional == "off" or response.status <= 100:
            return True
        if REL_TAG not in {tag.lower() for tag in response.require}:
            return True
        rseq, tag, cseq = parse_rseq(response), response.to_tag, call.invite.cseq
        if rseq is None or not tag or cseq is None:
            return True  # not usable as reliable: treat it as an ordinary 18x
        receiver = call.reliable_in.get(tag)
        if receiver is None:
            if len(call.reliable_in) >= 16:  # forks: bounded
                return False
            receiver = call.reliable_in[tag] = ReliableReceiver()
        reception = receiver.receive(rseq)
        if reception is not Reception.NEW:
            log.debug("call %s: reliable %d %s dropped", call.session_id, rseq, reception)
            return False
        dialog = call.dialog
        try:
            if dialog is None or dialog.remote_tag != tag:
                dialog = self._dialog_of(call, response)
                if call.dialog is None:
                    call.dialog = dialog
        except SipError as exc:
            log.info("call %s: cannot PRACK: %s", call.session_id, exc)
            return True
        body = self._early_answer(call, response)
        prack = dialog.request(
            "PRACK",
            branch=self.layer.new_branch(),
            headers=(("RAck", str(RAck(rseq, cseq.number, "INVITE"))),),
            body=body,
            content_type=SDP_TYPE if body else None,
        )
        self._send_in_dialog(call, prack, Purpose.PRACK, now)
        return True
