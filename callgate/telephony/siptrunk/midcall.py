"""Offers inside a dialog (RFC 3261 §14, RFC 3311, RFC 3264 §8): re-INVITE and UPDATE from the peer.

Either side of a call, inbound or outbound, may send a new offer once the dialog is up: to move
the media (a new c=/m= address: our RTP goes there from the next packet), to hold (the peer's
sendonly or inactive, answered recvonly or inactive, never sendrecv, and our sending paused) or
to resume, or only to refresh the session (an UPDATE without SDP, a re-INVITE without one gets
our offer and its ACK brings the answer). The answer goes out at once, so an offer of the
peer's is never pending on our side for long; the rules for offers that cross:

    488  the offer has no codec or address we can use; the media stays as it was (§14.2)
    491  an offer of ours is in progress (our re-INVITE or UPDATE awaits its final answer), or
         our offer in a 2xx still awaits its answer in the ACK: offers crossed (§14.2, glare)
    500  the CSeq is out of order (the dialog says so)

A media change reaches the RTP plane as a new `MediaStart` for the call.
"""

from __future__ import annotations

import logging

from callgate.telephony.sip import NegotiatedAudio, RequestReceived, SdpError, SipRequest

from .call import Phase, SipCall
from .core import ALLOW, SDP_TYPE, UserAgentCore
from .messages import sdp_body
from .outputs import MediaStart

__all__ = ["MidCall"]

log = logging.getLogger(__name__)

RETRY_AFTER_S = "1"
"""Retry-After on our 500 to an INVITE that overlaps one still unanswered (§14.2)."""


class MidCall(UserAgentCore):
    """In-dialog re-INVITE and UPDATE from the peer (see the module docstring)."""

    def _on_reinvite(self, event: RequestReceived, now: float) -> None:
        self._on_offer(event, now)

    def _on_update(self, event: RequestReceived, now: float) -> None:
        self._on_offer(event, now)

    def _on_offer(self, event: RequestReceived, now: float) -> None:
        request = event.request
        call = self._in_dialog(request)
        if call is None or call.dialog is None:
            self._reply(event, 481, now)
            return
        dialog = call.dialog
        status = self._refusal(call, request)
        if status is not None:
            extra = (("Retry-After", RETRY_AFTER_S),) if status == 500 else ()
            self._respond(event.key, dialog.response(request, status, headers=extra), now)
            return
        rejection = dialog.receive_request(request)
        if rejection is not None:
            self._respond(event.key, dialog.response(request, rejection.status), now)
            return
        sdp = sdp_body(request)
        audio = None
        body = b""
        if sdp is not None:
            assert call.sdp is not None  # `_refusal` let through only calls with media
            try:
                body, audio = call.sdp.answer(sdp)
            except SdpError as exc:  # the media stays as it was
                log.info("call %s: %s offer refused: %s", call.session_id, request.method, exc)
                warning = exc.warning_value(self._agent)
                extra = (("Warning", warning),) if warning else ()
                self._respond(event.key, dialog.response(request, exc.status, headers=extra), now)
                return
        elif request.method == "INVITE":
            assert call.sdp is not None
            body = call.sdp.offer()
            call.answer_in_ack = True
        response = dialog.response(
            request,
            200,
            headers=(("Allow", ALLOW),),
            body=body,
            content_type=SDP_TYPE if body else None,
        )
        self._respond(event.key, response, now)
        if audio is not None:
            self._media_changed(call, audio, request.method)

    def _refusal(self, call: SipCall, request: SipRequest) -> int | None:
        """The status refusing `request` before it is looked at, or None to take it."""
        confirmed = call.phase is Phase.CONFIRMED
        if request.method == "INVITE":
            if call.phase is Phase.ANSWERED:
                return 500  # our 2xx to the first INVITE awaits its ACK: try again later
            if not confirmed:
                return 481 if call.phase is Phase.ENDING else 491
        elif sdp_body(request) is None:
            return None  # an UPDATE without SDP only refreshes the session: any phase
        elif call.sdp is None or call.audio is None:
            return 491  # no answer of ours to offer against yet (inbound, before `answer`)
        if call.answer_in_ack or call.pending is not None:
            return 491
        return None

    def _media_changed(self, call: SipCall, audio: NegotiatedAudio, method: str) -> None:
        before = call.audio
        call.audio = audio
        if before is not None and (before.remote_address, before.remote_port) != (
            audio.remote_address,
            audio.remote_port,
        ):
            log.info(
                "call %s: %s moves the media to %s:%d",
                call.session_id,
                method,
                audio.remote_address,
                audio.remote_port,
            )
        answered = call.phase in (Phase.CONFIRMED, Phase.ANSWERED)
        self._out.append(MediaStart(call.session_id, audio, answered=answered))
