"""Calls we receive (the UAS side, RFC 3261 §13.3): trust, ringing, answer, refusal, CANCEL.

An INVITE from a source that is not trusted gets 403 and makes no call. Otherwise its SDP offer is
checked at once (no common codec: 488 with a Warning, and no call), a 180 goes out and
`TrunkIncomingCall` up. `answer` sends the 200 with our SDP answer, or our offer when the INVITE
had none (the answer then comes in the ACK). The caller's CANCEL ends the INVITE with 487 and
reports `TrunkHangup` with the CANCEL's Reason cause (else 16). The ACK confirms the call, and
sends the BYE a hangup before it left owed (RFC 3261 §15).
"""

from __future__ import annotations

import logging

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup, TrunkIncomingCall
from callgate.telephony.sip import (
    Dialog,
    RequestReceived,
    SdpError,
    SdpSession,
    SessionDescription,
    SipRequest,
    new_tag,
    parse_sdp,
    response_for,
)
from callgate.telephony.sip.session_timer import TooSmall, answer_request

from .call import Phase, SipCall
from .core import ALLOW, MEDIA_MISMATCH_CAUSE, SDP_TYPE
from .messages import allows_update, caller_of, cause_of, number_called, sdp_body
from .outputs import MediaStart, Output
from .prack import ReliableProvisionals

__all__ = ["InboundCalls"]

log = logging.getLogger(__name__)


class InboundCalls(ReliableProvisionals):
    """The UAS half of call control."""

    def answer(self, session_id: str, rtp_port: int, now: float) -> list[Output]:
        """Accept an offered inbound call: 200 with our SDP, media on `rtp_port`."""
        call = self._calls.get(session_id)
        if call is None or call.phase is not Phase.OFFERED or call.dialog is None:
            return self._flush()
        call.sdp = SdpSession(self._media_config(rtp_port))
        audio = None
        if call.offer is not None:
            try:
                body, audio = call.sdp.answer(call.offer)
            except SdpError as exc:  # checked when the INVITE came, so hardly ever
                self._refuse_offered(call, exc.status, now, warning=exc.warning_value(self._agent))
                self._end(call, MEDIA_MISMATCH_CAUSE, by_remote=False)
                return self._flush()
        else:
            body = call.sdp.offer()
            call.answer_in_ack = True
        timer = call.timer_answer
        extra = timer.headers if timer is not None else ()
        response = call.dialog.response(
            call.invite,
            200,
            headers=(("Allow", ALLOW), ("Supported", self.supported), *extra),
            body=body,
            content_type=SDP_TYPE,
        )
        call.move(Phase.ANSWERED)
        self._stop_reliable(call)
        self._run(self.layer.respond(call.invite_key, response, now), now)
        if timer is not None:
            self._settle_timer(call, timer.settled, now)
        if audio is not None:
            call.audio = audio
            self._out.append(MediaStart(session_id, audio, answered=True))
        return self._flush()

    def _on_invite(self, event: RequestReceived, now: float) -> None:
        request, source = event.request, event.source
        if not self.trusted.allows(source.host, source.port):
            self.stats["untrusted"] += 1
            log.info("INVITE from untrusted %s refused (403)", source)
            self._reply(event, 403, now)
            return
        call_id, from_tag = request.call_id or "", request.from_tag or ""
        if (call_id, from_tag) in self._inbound_ids:
            self._reply(event, 482, now)  # §8.2.2.2: the same request by another path
            return
        if len(self._calls) >= self.settings.max_calls:
            self._reply(event, 503, now, headers=(("Retry-After", "5"),))
            return
        offer: SessionDescription | None = None
        sdp = sdp_body(request)
        if request.body and sdp is None:
            self._reply(event, 415, now, headers=(("Accept", SDP_TYPE),))
            return
        if sdp is not None:
            try:
                offer = parse_sdp(sdp)
                SdpSession(self._media_config(9)).answer(offer)  # a trial: can we serve it?
            except SdpError as exc:
                warning = exc.warning_value(self._agent)
                extra = (("Warning", warning),) if warning else ()
                self._reply(event, exc.status, now, headers=extra)
                return
        timer = answer_request(request, self.settings.session_expires_s, self.settings.min_se_s)
        if isinstance(timer, TooSmall):  # RFC 4028 §8.1: it may ask again, for longer
            self._reply(event, 422, now, headers=timer.headers)
            return
        if self._reliability_refusal(event, now):
            return
        dialog = Dialog.from_request(
            request, local_tag=new_tag(), endpoint=self.local.endpoint, flow=source
        )
        call = SipCall(
            session_id=new_session_id(),
            outbound=False,
            call_id=call_id,
            local_tag=dialog.local_tag,
            phase=Phase.OFFERED,
            invite=request,
            invite_key=event.key,
            dialog=dialog,
            offer=offer,
            timer_answer=timer,
            peer_allows_update=allows_update(request),
        )
        self._calls[call.session_id] = call
        self._by_dialog[(call_id, dialog.local_tag)] = call
        self._by_invite[event.key] = call
        self._inbound_ids[(call_id, from_tag)] = call
        self.stats["offered"] += 1
        self._reliable_for(call)
        self._send_provisional(call, dialog.response(request, 180), now)
        self._out.append(
            TrunkIncomingCall(
                call.session_id,
                caller_of(request),
                number_called(request),
                x_headers(request),
            )
        )

    def _on_cancel(self, event: RequestReceived, now: float) -> None:
        request = event.request
        if event.cancels is None:
            self._reply(event, 481, now)
            return
        call = self._by_invite.get(event.cancels)
        tag = call.local_tag if call is not None else new_tag()
        self._respond(event.key, response_for(request, 200, to_tag=tag), now)
        if call is None or call.phase is not Phase.OFFERED or call.dialog is None:
            return  # answered already (the 2xx crossed the CANCEL), or no call was made
        self._respond(call.invite_key, call.dialog.response(call.invite, 487), now)
        self._forget(call)
        self._end(call, cause_of(request), by_remote=True)

    def _on_ack(self, request: SipRequest, now: float) -> None:
        call = self._in_dialog(request)
        if call is None:
            return
        if call.phase is Phase.ANSWERED:
            call.move(Phase.CONFIRMED)
            if not call.answer_in_ack and call.audio is not None:
                # A caller that offered sendonly holds from the start: said now, the domain's
                # `answer` being a command, which no event follows.
                self._note_remote_hold(call, None, call.audio)
        if call.answer_in_ack:
            call.answer_in_ack = False
            sdp = sdp_body(request)
            try:
                if sdp is None or call.sdp is None:
                    raise SdpError("the ACK carries no SDP answer to our offer")
                audio = call.sdp.accept_answer(sdp)
            except SdpError as exc:
                log.info("call %s: unusable SDP answer in the ACK: %s", call.session_id, exc)
                if call.live:
                    self._hangup(call, MEDIA_MISMATCH_CAUSE, now)
                    self._out.append(
                        TrunkHangup(call.session_id, MEDIA_MISMATCH_CAUSE, by_remote=False)
                    )
                return
            before, call.audio = call.audio, audio
            if call.live:
                self._out.append(MediaStart(call.session_id, audio, answered=True))
                self._note_remote_hold(call, before, audio)
        if call.bye_owed and call.phase is Phase.CONFIRMED:
            call.bye_owed = False
            call.move(Phase.ENDING)
            self._send_bye(call, now)


MAX_X_HEADERS = 20  # of an offer, passed on as metadata (callgate/calls/options.py bounds them)


def x_headers(request: SipRequest) -> tuple[tuple[str, str], ...]:
    """The extension (X-) headers of an INVITE, in order, at most `MAX_X_HEADERS`."""
    found = [(name, value) for name, value in request.headers if name[:2].lower() == "x-"]
    return tuple(found[:MAX_X_HEADERS])
