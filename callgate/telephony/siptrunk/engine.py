"""The SIP trunk's call control: the user agent core (RFC 3261 §8, §12-15) over the transaction layer.

Sans-I/O. Fed domain commands (`dial`, `answer`, `hangup`), SIP bytes (`receive`), media timeouts and
`now`; returns an ordered `list[Output]` (SIP datagrams, media orders, trunk events). `next_deadline`
is the one time it must be woken at (`expire`): the transaction timers and the REGISTER refresh.

Outbound: INVITE with our SDP offer to the trunk (or the outbound proxy, with a loose Route).
100/180/183 -> `TrunkRinging` (183 with SDP: early media starts); 2xx -> ACK, `TrunkAnswered`;
401/407 -> one retry with digest credentials; any other final response -> `TrunkHangup` with its
Q.850 cause (`cause_for_response`: the Reason header wins, else RFC 3398; 3xx, which we do not
follow, and a 487 we did not ask for give 127 Interworking). No final response (Timer B) is a 408,
cause 102. Silence, a send failure or a 503 first moves the INVITE (and a REGISTER) to the trunk's
next target, as `route` gave them (RFC 3263 §4.3). The ring timeout is the domain's: its `hangup`
CANCELs. A 2xx that crosses our CANCEL is ACKed and ended with BYE; a second 2xx from another fork
likewise.

Inbound: an INVITE from an untrusted source gets 403 and no call. Otherwise its SDP offer is
checked at once (488 when there is no common codec), a 180 goes out and `TrunkIncomingCall` up;
`answer` sends the 200 with our SDP answer (or our offer, when the INVITE had none: then the
answer comes in the ACK). A CANCEL ends it with 487 (`TrunkHangup`, the Reason's cause or 16);
the domain's `hangup` refuses it with `status_for_cause(cause)`.

In a dialog: BYE either way; re-INVITE and UPDATE (a new media address, hold, unhold, session
refresh) answered with our SDP answer (or offer) and the media updated (`midcall.py`), a hold
or its end reported as `TrunkHold`; our own hold and resume by re-INVITE (`hold.py`); OPTIONS
answered 200 in or out of a dialog. An in-dialog request for a dialog we do not know gets 481.
No ACK for our 2xx (Timer L) ends the call with BYE and cause 102. Session timers (RFC 4028) are
negotiated on every offer and refreshed or expired in `midcall.py`; 100rel/PRACK (RFC 3262) both
ways is `prack.py`. Per-call deadlines (a refresh, an expiry, a reliable 180's retransmission) wake
`_on_call_timer` through the core's heap.

Events never follow a domain command for the same call (its `hangup` needs no answer), and a call
the domain has ended never produces another event.

Layout: `core.py` holds the shared state and moves, `uac.py` the calls we place, `uas.py` the calls
we receive; this module joins them behind the public API and handles what belongs to neither
side alone: the dispatch of transaction events, in-dialog requests (BYE, re-INVITE, OPTIONS),
hangups in every phase, failures and timeouts, and the REGISTER binding.
"""

from __future__ import annotations

import logging

from callgate.calls.causes import Cause
from callgate.calls.trunk import TrunkHangup
from callgate.telephony.sip import (
    AckReceived,
    Action,
    MessageDropped,
    RequestReceived,
    RequestRefused,
    ResponseReceived,
    SipRequest,
    SipResponse,
    StrayResponse,
    Target,
    TransactionKey,
    TransactionTableFull,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
    new_tag,
    q850_reason,
    response_for,
    status_for_cause,
)
from callgate.telephony.sip.locate import fails_over

from .call import Phase, SipCall
from .core import (
    ALLOW,
    NO_ACK_CAUSE,
    NO_ANSWER_CAUSE,
    NO_CIRCUIT_CAUSE,
    SDP_TYPE,
    TRANSPORT_CAUSE,
    LocalAddress,
    Purpose,
)
from .hold import Holds
from .messages import cause_of
from .midcall import MidCall
from .outputs import MediaStop, Output
from .transfer import Transfers
from .uac import OutboundCalls
from .uas import InboundCalls

__all__ = ["ALLOW", "NO_CIRCUIT_CAUSE", "CallControl", "LocalAddress"]

log = logging.getLogger(__name__)


class CallControl(InboundCalls, OutboundCalls, MidCall, Transfers, Holds):
    """Every call of one trunk, and its REGISTER binding (see the module docstring)."""

    def start(self, now: float) -> list[Output]:
        """Register now, when configured."""
        return self.expire(now)

    def stop(self, now: float) -> list[Output]:
        """End every call (BYE, CANCEL or 480 as each requires) and remove our registration."""
        for call in list(self._calls.values()):
            if call.live:
                self._hangup(call, int(Cause.NORMAL_CLEARING), now)
        registration = self.registration
        if registration is not None:
            request = registration.unregister(now, self.layer.new_branch())
            registration.deadline = None  # no more refreshes
            if request is not None:
                self._send_register(request, now)
        return self._flush()

    def hangup(self, session_id: str, cause: int, now: float) -> list[Output]:
        """The domain ends the call: CANCEL, reject, or BYE as its phase requires. No event follows."""
        call = self._calls.get(session_id)
        if call is not None and call.live:
            self._hangup(call, cause, now)
        return self._flush()

    def transfer(self, session_id: str, target: str, now: float) -> list[Output]:
        """Blind transfer: REFER the far end to `target` (a number or a sip: URI); `TrunkTransfer`
        events follow (transfer.py). ValueError for a target we cannot address."""
        self._start_transfer(session_id, target, now)
        return self._flush()

    def hold(self, session_id: str, now: float) -> list[Output]:
        """Put the call on hold (hold.py): sendonly re-INVITE, music on hold. ValueError when
        the call cannot take an offer now; nothing is sent then."""
        self._start_hold(session_id, True, now)
        return self._flush()

    def resume(self, session_id: str, now: float) -> list[Output]:
        """Take the call off our hold (hold.py): the music stops, sendrecv re-INVITE."""
        self._start_hold(session_id, False, now)
        return self._flush()

    def media_timeout(self, session_id: str, cause: int, now: float) -> list[Output]:
        """The call's RTP stopped: BYE, and `TrunkHangup(cause, by_remote=False)`."""
        call = self._calls.get(session_id)
        if call is None or not call.live or call.phase not in (Phase.CONFIRMED, Phase.ANSWERED):
            return self._flush()
        log.info("call %s: no RTP, ending it with cause %d", session_id, cause)
        self._hangup(call, cause, now)
        self._out.append(TrunkHangup(session_id, cause, by_remote=False))
        return self._flush()

    def receive(self, data: bytes, source: Target, now: float) -> list[Output]:
        """One datagram or framed stream message from `source`."""
        self._run(self.layer.receive_data(data, source, now), now)
        return self._flush()

    def transport_failed(self, key: TransactionKey, now: float) -> list[Output]:
        self._run(self.layer.transport_failed(key, now), now)
        return self._flush()

    def expire(self, now: float) -> list[Output]:
        self._run(self.layer.expire(now), now)
        self._expire_calls(now)
        registration = self.registration
        if registration is not None and registration.due(now):
            self._send_register(registration.request(now, self.layer.new_branch()), now)
        return self._flush()

    def _dispatch(self, action: Action, now: float) -> None:
        match action:
            case RequestReceived():
                self._on_request(action, now)
            case ResponseReceived(key=key, response=response):
                self._on_response(key, response, now)
            case AckReceived(request=request):
                self._on_ack(request, now)
            case StrayResponse(response=response):
                self._on_stray(response)
            case TransactionTimeout(key=key, timer=timer):
                self._on_failed(key, timer, now)
            case TransportFailed(key=key):
                self._on_failed(key, "transport", now)
            case TransactionTerminated(key=key):
                self._client.pop(key, None)
                self._by_invite.pop(key, None)
            case RequestRefused(request=request, source=source, status=403):
                self.stats["untrusted"] += 1
                log.info("%s from untrusted %s refused (403)", request.method, source)
            case RequestRefused(request=request, status=status, detail=detail):
                self.stats["refused"] += 1
                log.debug("%s refused %d: %s", request.method, status, detail)
            case MessageDropped(reason=reason, source=source):
                self.stats["dropped"] += 1
                log.debug("SIP message from %s dropped: %s", source, reason)

    def _on_call_timer(self, call: SipCall, now: float) -> None:
        self._reliable_due(call, now)
        self._session_timer_due(call, now)
        self._transfer_due(call, now)

    def _on_request(self, event: RequestReceived, now: float) -> None:
        request = event.request
        method = request.method
        if method == "INVITE":
            if request.to_tag is None:
                self._on_invite(event, now)
            else:
                self._on_reinvite(event, now)
        elif method == "UPDATE":
            self._on_update(event, now)
        elif method == "PRACK":
            self._on_prack(event, now)
        elif method == "BYE":
            self._on_bye(event, now)
        elif method == "CANCEL":
            self._on_cancel(event, now)
        elif method == "NOTIFY":
            self._on_notify(event, now)
        elif method == "OPTIONS":
            headers = (("Allow", ALLOW), ("Accept", SDP_TYPE))
            response = response_for(request, 200, to_tag=new_tag(), headers=headers)
            self._respond(event.key, response, now)
        else:  # the policy lets only the methods above through; be safe anyway
            refusal = response_for(request, 501, to_tag=new_tag(), headers=(("Allow", ALLOW),))
            self._respond(event.key, refusal, now)

    def _on_bye(self, event: RequestReceived, now: float) -> None:
        request = event.request
        call = self._in_dialog(request)
        if call is None or call.dialog is None:
            self._reply(event, 481, now)
            return
        rejection = call.dialog.receive_request(request)
        if rejection is not None:
            self._respond(event.key, call.dialog.response(request, rejection.status), now)
            return
        self._respond(event.key, call.dialog.response(request, 200), now)
        if call.phase is Phase.OFFERED:  # a BYE in place of a CANCEL: end the INVITE too
            self._respond(call.invite_key, call.dialog.response(call.invite, 487), now)
        live = call.live
        self._forget(call)
        if live:
            self._end(call, cause_of(request), by_remote=True)

    def _on_response(self, key: TransactionKey, response: SipResponse, now: float) -> None:
        owner = self._client.get(key)
        if owner is None:
            return
        call, purpose = owner
        if purpose == Purpose.REGISTER:
            if response.status >= 200 and key == self._register_key:
                self._register_key = None
                self._on_register_response(response, now)
        elif call is None or purpose == Purpose.CLEANUP:
            return
        elif purpose == Purpose.INVITE:
            self._on_invite_response(call, key, response, now)
        elif purpose == Purpose.BYE:
            self._on_bye_response(call, response, now)
        elif purpose == Purpose.REFRESH:
            self._on_refresh_response(call, key, response, now)
        elif purpose == Purpose.REFER:
            self._on_refer_response(call, key, response, now)
        elif purpose == Purpose.HOLD:
            self._on_hold_response(call, key, response, now)

    def _on_bye_response(self, call: SipCall, response: SipResponse, now: float) -> None:
        if response.status in (401, 407) and self._retry_bye(call, response, now):
            return
        self._forget(call)

    def _retry_bye(self, call: SipCall, response: SipResponse, now: float) -> bool:
        if self._digest is None or call.bye is None or call.bye_auth_retried:
            return False
        retry = self._digest.authorize(call.bye, response, branch=self.layer.new_branch())
        if retry is None or call.dialog is None:
            return False
        call.bye_auth_retried = True
        if retry.cseq is not None:  # the retry counts one up: later requests count on from it
            call.dialog.local_cseq = max(call.dialog.local_cseq or 0, retry.cseq.number)
        self._send_in_dialog(call, retry, Purpose.BYE, now)
        return True

    def _on_register_response(self, response: SipResponse, now: float) -> None:
        registration, request = self.registration, self._register_request
        if registration is None or request is None:
            return
        if response.status in (401, 407) and self._digest is not None:
            retry = self._digest.authorize(request, response, branch=self.layer.new_branch())
            if retry is not None:
                registration.sent(retry)
                self._send_register(retry, now, self._register_target)
                return
        if fails_over(response.status) and self._register_elsewhere(now):
            return
        registration.on_response(response, now)
        if registration.registered:
            log.debug("registered at %s until %.0f", self.trunk, registration.registered_until)
        else:
            log.warning("REGISTER refused: %d %s", response.status, response.reason)

    def _send_register(self, request: SipRequest, now: float, target: Target | None = None) -> None:
        target = target or self.trunk
        top = request.top_via
        if top is not None and top.transport.upper() != target.transport:
            request = self._sent_to(request, target)  # the transport NAPTR chose
        try:
            key, actions = self.layer.send_request(request, target, now)
        except TransactionTableFull:
            if self.registration is not None:
                self.registration.on_failure(now)
            return
        self._register_request, self._register_key = request, key
        self._register_target = target
        self._client[key] = (None, Purpose.REGISTER)
        self._run(actions, now)

    def _register_elsewhere(self, now: float) -> bool:
        """RFC 3263 §4.3 for our REGISTER: after a timeout or a 503, the same REGISTER (a new
        branch) to the trunk's next target, if one is left after the one just tried."""
        request, tried = self._register_request, self._register_target
        if request is None or tried not in self.targets:
            return False
        rest = self.targets[self.targets.index(tried) + 1 :]
        if not rest:
            return False
        log.info("REGISTER: no answer from %s, trying %s", tried, rest[0])
        self._send_register(self._sent_to(request, rest[0]), now, rest[0])
        return True

    def _on_failed(self, key: TransactionKey, why: str, now: float) -> None:
        """A transaction timed out (`why` is its timer) or could not be sent ("transport")."""
        if key.server:
            call = self._by_invite.get(key)
            if why == "L" and call is not None and call.phase is Phase.ANSWERED:
                live = call.live
                call.move(Phase.ENDING)
                call.bye_owed = False
                self._send_bye(call, now)
                if live:
                    self._out.append(MediaStop(call.session_id))
                    self._out.append(TrunkHangup(call.session_id, NO_ACK_CAUSE, by_remote=False))
            return
        owner = self._client.pop(key, None)
        if owner is None:
            return
        call, purpose = owner
        if purpose == Purpose.REGISTER:
            if key == self._register_key:
                self._register_key = None
                if self._register_elsewhere(now):
                    return
                if self.registration is not None:
                    self.registration.on_failure(now)
            return
        if (
            call is None
            or purpose == Purpose.CLEANUP
            or self._calls.get(call.session_id) is not call
        ):
            return
        if purpose == Purpose.INVITE and key == call.invite_key:
            if self._fail_over(call, now):
                return
            was_calling = call.phase is Phase.CALLING
            self._forget(call)
            if was_calling:
                cause = TRANSPORT_CAUSE if why == "transport" else NO_ANSWER_CAUSE
                self._end(call, cause, by_remote=False)
        elif purpose == Purpose.BYE:
            self._forget(call)
        elif purpose == Purpose.REFER:
            self._refer_failed(call, key, why)
        elif purpose == Purpose.HOLD:
            self._hold_failed(call, key, now)
        elif purpose == Purpose.REFRESH and key == call.pending:
            call.pending = None  # §10: a refresh without answer ends the session
            if call.live and call.phase is Phase.CONFIRMED:
                self._session_lost(call, now)

    def _hangup(self, call: SipCall, cause: int, now: float) -> None:
        self._transfers.pop(call.session_id, None)  # an ended call reports nothing more
        call.cause = cause if 0 <= cause <= 127 else int(Cause.NORMAL_CLEARING)
        phase = call.phase
        self._out.append(MediaStop(call.session_id))
        if phase is Phase.CALLING:
            call.move(Phase.CANCELLING)
            reason = q850_reason(call.cause)
            self._run(self.layer.cancel(call.invite_key, now, reason=reason), now)
        elif phase is Phase.OFFERED:
            status = status_for_cause(call.cause, user_rejected=True)
            self._refuse_offered(call, status, now)
        elif phase is Phase.ANSWERED:
            call.bye_owed = True  # §15: not before the ACK
        elif phase is Phase.CONFIRMED:
            call.move(Phase.ENDING)
            self._send_bye(call, now)
