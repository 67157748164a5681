"""Calls we place (the UAC side, RFC 3261 §13.2): INVITE, its responses, ACK, digest, forks.

`dial` sends the INVITE with our SDP offer to the trunk (or the outbound proxy, with a loose
Route); with `delayed_offer`, without one (RFC 3261 §13.2.1): the 2xx then offers and our ACK
answers, or a reliable 18x offers and our PRACK answers (prack.py). The first provisional
response reports `TrunkRinging`; one with SDP (183) starts early media and says so. A 2xx is
ACKed at once (with the INVITE's credentials) and connects the call; one that arrives after we
gave up, or from a second fork, is ACKed and ended with BYE. A 401/407 gets one retry with
credentials; any other final response ends the call with its Q.850 cause. A 2xx retransmitted
after its transaction ended gets our ACK again. An INVITE that gets no answer (Timer B), cannot
be sent or gets 503 goes to the trunk's next DNS target (RFC 3263 §4.3).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from callgate.calls.causes import Cause
from callgate.calls.trunk import TrunkAnswered, TrunkHangup, TrunkRinging
from callgate.telephony.sip import (
    AbsoluteUri,
    Dialog,
    NameAddr,
    SdpError,
    SdpSession,
    Send,
    SipError,
    SipResponse,
    SipUri,
    Target,
    TransactionKey,
    TransactionTableFull,
    cause_for_response,
    make_request,
    new_tag,
    parse_uri,
    q850_reason,
)
from callgate.telephony.sip.grammar import GrammarError
from callgate.telephony.sip.locate import fails_over
from callgate.telephony.sip.session_timer import retry_interval, settled_by_response

from .call import Phase, SipCall
from .core import (
    ALLOW,
    AUTH_HEADERS,
    MEDIA_MISMATCH_CAUSE,
    NO_CIRCUIT_CAUSE,
    SDP_TYPE,
    UNFOLLOWED_CAUSE,
    Purpose,
)
from .messages import allows_update, bracketed, sdp_body, without_params
from .outputs import MediaStart, MediaStop, Output
from .prack import ReliableProvisionals

__all__ = ["OutboundCalls"]

log = logging.getLogger(__name__)


class OutboundCalls(ReliableProvisionals):
    """The UAC half of call control."""

    def dial(
        self,
        session_id: str,
        destination: str,
        caller_id: str | None,
        rtp_port: int,
        now: float,
        *,
        targets: Sequence[Target] = (),
        headers: Sequence[tuple[str, str]] = (),
    ) -> list[Output]:
        """Call `destination`: the INVITE goes to `targets` in turn (RFC 3263 §4.3), or when
        none are given, to the trunk's (`route`). `headers`: extension (X-) headers for the
        INVITE, validated by the caller (callgate/calls/options.py)."""
        if session_id in self._calls:
            return []
        if len(self._calls) >= self.settings.max_calls:
            log.warning("call %s refused: %d calls, the limit", session_id, len(self._calls))
            return self._fail_dial(session_id, NO_CIRCUIT_CAUSE)
        try:
            target_uri = self._request_uri(destination)
            user = caller_id or self.settings.caller_id or self.settings.username or "callgate"
            from_uri = SipUri.build(bracketed(self.settings.domain), user=user, scheme=self._scheme)
        except (GrammarError, SipError) as exc:
            log.warning("call %s: bad destination or caller id: %s", session_id, exc)
            return self._fail_dial(session_id, int(Cause.INVALID_NUMBER_FORMAT))
        local_tag = new_tag()
        call_id = f"{self._token()}@{self.local.endpoint.host}"
        sdp = SdpSession(self._media_config(rtp_port))
        delayed = self.settings.delayed_offer
        target, *alternatives = targets or self.targets
        invite = make_request(
            "INVITE",
            target_uri,
            via=self._via(target),
            from_=NameAddr(from_uri).with_tag(local_tag),
            to=NameAddr(without_params(target_uri)),
            call_id=call_id,
            cseq=1,
            contact=self.local.endpoint.contact,
            route=self._route,
            headers=(
                ("Allow", ALLOW),
                *self._timer_headers(self.settings.session_expires_s),
                *self._invite_reliability_headers(),
                *headers,
            ),
            body=b"" if delayed else sdp.offer(),
            content_type=None if delayed else SDP_TYPE,
            user_agent=self.local.endpoint.user_agent,
        )
        try:
            key, actions = self.layer.send_request(invite, target, now)
        except TransactionTableFull:
            return self._fail_dial(session_id, NO_CIRCUIT_CAUSE)
        call = SipCall(
            session_id=session_id,
            outbound=True,
            call_id=call_id,
            local_tag=local_tag,
            phase=Phase.CALLING,
            invite=invite,
            invite_key=key,
            sdp=sdp,
            target=target,
            alternatives=tuple(alternatives),
            asked_interval_s=self.settings.session_expires_s,
            delayed_offer=delayed,
        )
        self._calls[session_id] = call
        self._by_dialog[(call_id, local_tag)] = call
        self._client[key] = (call, Purpose.INVITE)
        self.stats["dialled"] += 1
        self._run(actions, now)
        return self._flush()

    def _request_uri(self, destination: str) -> SipUri | AbsoluteUri:
        """`sip:<destination>@<domain>` for a number, or a full sip: URI as given."""
        text = destination.strip()
        if text.lower().startswith(("sip:", "sips:")):
            uri = parse_uri(text)
            if not isinstance(uri, SipUri):
                raise GrammarError(f"{text!r} is not a SIP URI")
            return uri
        if not text or any(c in text for c in ' \t\r\n<>"@'):
            raise GrammarError(f"{destination!r} is not a number or user")
        return SipUri.build(
            bracketed(self.settings.domain),
            user=text,
            port=self._trunk_port(),
            params=self._uri_params,
            scheme=self._scheme,
        )

    def _on_invite_response(
        self, call: SipCall, key: TransactionKey, response: SipResponse, now: float
    ) -> None:
        status = response.status
        current = self._calls.get(call.session_id) is call and key == call.invite_key
        if not current:
            if 200 <= status < 300:  # an answer for a call given up: take it and end it
                self._ack_and_bye(call, key, response, now)
            return
        if status < 200:
            if call.phase is Phase.CALLING and self._take_provisional(call, response, now):
                self._on_provisional(call, response)
            return
        if status < 300:
            self._on_answered(call, key, response, now)
            return
        if fails_over(status) and self._fail_over(call, now):
            return
        challenged = status in (401, 407) and call.phase is Phase.CALLING
        if challenged and self._retry_invite(call, response, now):
            return
        if (
            status == 422
            and call.phase is Phase.CALLING
            and self._retry_longer(call, response, now)
        ):
            return
        was_calling = call.phase is Phase.CALLING
        self._forget(call)
        if was_calling:
            cause = cause_for_response(response)
            self._end(call, UNFOLLOWED_CAUSE if cause is None else cause, by_remote=True)

    def _on_provisional(self, call: SipCall, response: SipResponse) -> None:
        if not call.ringing_reported:
            call.ringing_reported = True
            self._out.append(TrunkRinging(call.session_id))
        if response.to_tag and response.status > 100 and call.dialog is None:
            call.dialog = self._dialog_of(call, response)
        sdp = sdp_body(response)
        if sdp is None or call.sdp is None:
            return
        if call.delayed_offer:  # an offer: early media only once our PRACK answered it
            if call.audio is None:
                return
            audio = call.audio
        else:
            try:
                audio = call.sdp.accept_answer(sdp)
            except SdpError as exc:
                log.info("call %s: early media SDP ignored: %s", call.session_id, exc)
                return
        call.audio = audio
        self._out.append(MediaStart(call.session_id, audio, answered=False))
        if not call.early_media:
            call.early_media = True
            self._out.append(TrunkRinging(call.session_id, early_media=True))

    def _retry_invite(self, call: SipCall, response: SipResponse, now: float) -> bool:
        if self._digest is None or call.auth_retried:
            return False
        retry = self._digest.authorize(call.invite, response, branch=self.layer.new_branch())
        if retry is None:
            return False
        try:
            key, actions = self.layer.send_request(retry, call.target or self.trunk, now)
        except TransactionTableFull:
            return False
        call.auth_retried = True
        call.invite, call.invite_key = retry, key
        self._client[key] = (call, Purpose.INVITE)
        self._run(actions, now)
        return True

    def _retry_longer(self, call: SipCall, response: SipResponse, now: float) -> bool:
        """RFC 4028 §7.4: a 422 names the peer's Min-SE; ask once more with it (a new CSeq)."""
        interval = retry_interval(response, call.asked_interval_s)
        cseq = call.invite.cseq
        if (
            interval is None
            or cseq is None
            or call.asked_interval_s != self.settings.session_expires_s
        ):
            return False  # no larger minimum, or we retried already
        log.info("call %s: 422, asking again for a %d s session", call.session_id, interval)
        retry = call.invite
        for name in ("Session-Expires", "Min-SE", "CSeq"):
            retry = retry.without_header(name)
        retry = retry.with_header("CSeq", f"{cseq.number + 1} INVITE")
        retry = retry.with_header("Session-Expires", str(interval))
        retry = retry.with_header("Min-SE", str(interval))
        retry = self._sent_to(retry, call.target or self.trunk)
        try:
            key, actions = self.layer.send_request(retry, call.target or self.trunk, now)
        except TransactionTableFull:
            return False
        call.asked_interval_s = interval
        call.invite, call.invite_key = retry, key
        call.dialog = None  # the 422 ended any early dialog (§12.3)
        self._client[key] = (call, Purpose.INVITE)
        self._run(actions, now)
        return True

    def _fail_over(self, call: SipCall, now: float) -> bool:
        """RFC 3263 §4.3: our INVITE timed out, could not be sent, or got 503: the same INVITE
        (a new branch) goes to the trunk's next target, while one is left and we still call."""
        if call.phase is not Phase.CALLING or not call.alternatives:
            return False
        target, call.alternatives = call.alternatives[0], call.alternatives[1:]
        invite = self._sent_to(call.invite, target)
        try:
            key, actions = self.layer.send_request(invite, target, now)
        except TransactionTableFull:
            return False
        log.info("call %s: no answer from %s, trying %s", call.session_id, call.target, target)
        call.invite, call.invite_key, call.target = invite, key, target
        call.dialog = None  # an early dialog with the last target ends with it
        self._client[key] = (call, Purpose.INVITE)
        self.stats["failed_over"] += 1
        self._run(actions, now)
        return True

    def _on_answered(
        self, call: SipCall, key: TransactionKey, response: SipResponse, now: float
    ) -> None:
        tag = response.to_tag or ""
        if call.phase is not Phase.CALLING and call.phase is not Phase.CANCELLING:
            if call.dialog is None or call.dialog.remote_tag != tag:
                self._ack_and_bye(call, key, response, now)  # another fork answered too
            return
        dialog = call.dialog
        if dialog is None or dialog.remote_tag != tag:
            dialog = self._dialog_of(call, response)
        dialog.confirm(response)
        call.dialog = dialog
        sdp = sdp_body(response)
        answer, offered, unusable = b"", None, None
        if call.delayed_offer and call.audio is None:  # the 2xx offers: answered in the ACK
            try:
                if sdp is None or call.sdp is None:
                    raise SdpError("the 2xx carries no SDP offer for our INVITE without one")
                answer, offered = call.sdp.answer(sdp)
            except SdpError as exc:  # ACKed all the same (§13.2.2.4), then ended
                unusable = exc
        self._ack(call, key, dialog, now, body=answer)
        if call.phase is Phase.CANCELLING:  # the answer crossed our CANCEL
            call.move(Phase.ENDING)
            self._send_bye(call, now)
            return
        audio = offered or call.audio
        try:
            if unusable is not None:
                raise unusable
            if offered is None and not call.delayed_offer and sdp is not None and call.sdp:
                audio = call.sdp.accept_answer(sdp)
            if audio is None:
                raise SdpError("the 2xx carries no SDP answer")
        except SdpError as exc:
            log.info("call %s: unusable SDP answer: %s", call.session_id, exc)
            call.cause = MEDIA_MISMATCH_CAUSE
            call.move(Phase.ENDING)
            self._send_bye(call, now)
            self._out.append(MediaStop(call.session_id))
            self._out.append(TrunkHangup(call.session_id, MEDIA_MISMATCH_CAUSE, by_remote=False))
            return
        call.audio = audio
        call.move(Phase.CONFIRMED)
        call.peer_allows_update = allows_update(response)
        self._settle_timer(call, settled_by_response(response), now)
        self._out.append(MediaStart(call.session_id, audio, answered=True))
        self._out.append(TrunkAnswered(call.session_id))
        self._note_remote_hold(call, None, audio)  # a callee that answers sendonly holds at once

    def _ack(
        self, call: SipCall, key: TransactionKey, dialog: Dialog, now: float, *, body: bytes = b""
    ) -> None:
        cseq = call.invite.cseq
        assert cseq is not None  # we built it
        credentials = tuple((n, v) for n, v in call.invite.headers if n in AUTH_HEADERS)
        ack = dialog.ack(
            cseq.number,
            branch=self.layer.new_branch(),
            headers=credentials,
            body=body,
            content_type=SDP_TYPE if body else None,
        )
        actions = self.layer.ack_2xx(key, ack, self._target_of(dialog), now)
        sends = [a for a in actions if isinstance(a, Send)]
        call.last_ack = sends[0] if sends else None
        self._run(actions, now)

    def _ack_and_bye(
        self, call: SipCall, key: TransactionKey, response: SipResponse, now: float
    ) -> None:
        """ACK a 2xx we do not want (a fork, or a call already given up) and end it with BYE."""
        try:
            dialog = self._dialog_of(call, response)
        except SipError:
            return
        cseq = call.invite.cseq
        assert cseq is not None
        ack = dialog.ack(cseq.number, branch=self.layer.new_branch())
        self._run(self.layer.ack_2xx(key, ack, self._target_of(dialog), now), now)
        bye = dialog.request(
            "BYE", branch=self.layer.new_branch(), headers=(("Reason", q850_reason(call.cause)),)
        )
        try:
            bye_key, actions = self.layer.send_request(bye, self._target_of(dialog), now)
        except TransactionTableFull:
            return
        self._client[bye_key] = (None, Purpose.CLEANUP)
        self._run(actions, now)

    def _on_stray(self, response: SipResponse) -> None:
        """A 2xx to our INVITE after its transaction ended: our ACK was lost; send it again."""
        cseq = response.cseq
        if cseq is None or cseq.method != "INVITE" or not 200 <= response.status < 300:
            return
        call = self._by_dialog.get((response.call_id or "", response.from_tag or ""))
        if call is not None and call.last_ack is not None:
            self._out.append(call.last_ack)
