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

Session timers (RFC 4028, `sip/session_timer.py`): every offer of the peer's is also a session
refresh, negotiated as for the first INVITE (422 with our Min-SE when it asks for less; our 2xx
names the interval and the refresher). When we are the refresher, `_session_timer_due` sends an
UPDATE without SDP at half the interval (a re-INVITE with our SDP again when the peer's Allow
lacks UPDATE); a 422 to it is retried with the peer's Min-SE, a 491 after a random wait, and a
408, a 481 or no answer at all end the call. When the session expires unrefreshed, whichever
side should have refreshed, we send BYE and the call ends with cause 102.
"""

from __future__ import annotations

import logging

from callgate.calls.trunk import TrunkHangup
from callgate.telephony.sip import (
    Direction,
    NegotiatedAudio,
    RequestReceived,
    SdpError,
    SipRequest,
    SipResponse,
    TransactionKey,
)
from callgate.telephony.sip.session_timer import (
    Refresher,
    TooSmall,
    answer_request,
    request_headers,
    retry_interval,
    settled_by_response,
)

from .call import Phase, SipCall
from .core import ALLOW, SDP_TYPE, SESSION_EXPIRED_CAUSE, Purpose, UserAgentCore
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
        timer = answer_request(request, self.settings.session_expires_s, self.settings.min_se_s)
        if isinstance(timer, TooSmall):
            self._respond(event.key, dialog.response(request, 422, headers=timer.headers), now)
            return
        sdp = sdp_body(request)
        audio = None
        body = b""
        if sdp is not None:
            assert call.sdp is not None  # `_refusal` let through only calls with media
            try:
                body, audio = call.sdp.answer(sdp, direction=self._our_direction(call))
            except SdpError as exc:  # the media stays as it was
                log.info("call %s: %s offer refused: %s", call.session_id, request.method, exc)
                warning = exc.warning_value(self._agent)
                extra = (("Warning", warning),) if warning else ()
                self._respond(event.key, dialog.response(request, exc.status, headers=extra), now)
                return
        elif request.method == "INVITE":
            assert call.sdp is not None
            body = call.sdp.offer(direction=self._our_direction(call))
            call.answer_in_ack = True
        response = dialog.response(
            request,
            200,
            headers=(("Allow", ALLOW), ("Supported", self.supported), *timer.headers),
            body=body,
            content_type=SDP_TYPE if body else None,
        )
        self._respond(event.key, response, now)
        if call.phase in (Phase.CONFIRMED, Phase.ANSWERED):  # a refresh, theirs (§10)
            self._settle_timer(call, timer.settled, now)
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
        self._note_remote_hold(call, before, audio)

    # --- our session refresh (RFC 4028 §10) ------------------------------------------------

    def _session_timer_due(self, call: SipCall, now: float) -> None:
        timer = call.session_timer
        if timer is None or not call.live or call.phase is not Phase.CONFIRMED:
            return
        if timer.expired(now):
            log.info("call %s: session expired without a refresh, ending it", call.session_id)
            self._session_lost(call, now)
            return
        if timer.refresh_due(now):
            if call.pending is not None or call.answer_in_ack:
                timer.postpone_refresh(now + 1.0)  # an offer is in progress: after it
            else:
                self._send_refresh(call, timer.interval_s, now)
        self._wake(call, timer.next_deadline)

    def _session_lost(self, call: SipCall, now: float) -> None:
        """The session expired, or its refresh failed for good: BYE, cause 102 (§10)."""
        self._hangup(call, SESSION_EXPIRED_CAUSE, now)
        self._out.append(TrunkHangup(call.session_id, SESSION_EXPIRED_CAUSE, by_remote=False))

    def _send_refresh(self, call: SipCall, interval_s: int, now: float) -> None:
        """UPDATE without SDP when the peer allows it, else a re-INVITE with our SDP again."""
        dialog, timer = call.dialog, call.session_timer
        if dialog is None or timer is None:
            return
        headers = (
            ("Allow", ALLOW),
            ("Supported", self.supported),
            *request_headers(interval_s, self.settings.min_se_s, refresher=Refresher.UAC),
        )
        body = b""
        if call.peer_allows_update:
            method = "UPDATE"
        else:
            method = "INVITE"
            if call.sdp is not None:
                direction = call.audio.direction if call.audio is not None else Direction.SENDRECV
                body = call.sdp.offer(direction=direction)
        request = dialog.request(
            method,
            branch=self.layer.new_branch(),
            headers=headers,
            body=body,
            content_type=SDP_TYPE if body else None,
        )
        key = self._send_in_dialog(call, request, Purpose.REFRESH, now)
        timer.refresh_sent()
        if key is None:
            timer.postpone_refresh(now + 1.0)
            return
        call.pending = key
        call.asked_interval_s = interval_s
        self.stats["refreshes"] += 1

    def _on_refresh_response(
        self, call: SipCall, key: TransactionKey, response: SipResponse, now: float
    ) -> None:
        status = response.status
        if status < 200 or key != call.pending:
            return
        call.pending = None
        cseq, dialog = response.cseq, call.dialog
        invite = cseq is not None and cseq.method == "INVITE"
        if 200 <= status < 300 and invite and cseq is not None and dialog is not None:
            # §13.2.2.4: every 2xx to our re-INVITE is ACKed, even for a call ended meanwhile.
            ack = dialog.ack(cseq.number, branch=self.layer.new_branch())
            self._run(self.layer.ack_2xx(key, ack, self._target_of(dialog), now), now)
        current = self._calls.get(call.session_id) is call
        if not current or call.phase is not Phase.CONFIRMED or dialog is None:
            return  # a BYE (either side's) ended it meanwhile
        if 200 <= status < 300:
            sdp = sdp_body(response)
            if invite and sdp is not None and call.sdp is not None:
                try:
                    self._media_changed(call, call.sdp.accept_answer(sdp), "re-INVITE")
                except SdpError as exc:
                    log.info("call %s: refresh answer unusable: %s", call.session_id, exc)
            self._settle_timer(call, settled_by_response(response), now)
            return
        timer = call.session_timer
        if timer is None:
            return
        if status == 422:
            longer = retry_interval(response, call.asked_interval_s)
            if longer is not None:
                self._send_refresh(call, longer, now)
                return
        elif status == 491:  # glare (§14.1): the Call-ID's owner waits 2.1-4 s, the other 0-2 s
            wait = self._rng.uniform(2.1, 4.0) if call.outbound else self._rng.uniform(0.0, 2.0)
            timer.postpone_refresh(now + wait)
            self._wake(call, timer.next_deadline)
            return
        elif status in (408, 481):  # §12.2.1.2: the dialog is gone
            self._session_lost(call, now)
            return
        # Any other refusal: the session runs on to its expiry, and one more try before it.
        log.info("call %s: session refresh refused: %d", call.session_id, status)
        timer.postpone_refresh(now + max(1.0, (timer.expire_at - now) / 2))
        self._wake(call, timer.next_deadline)
