"""The SIP trunk's call control: the user agent core (RFC 3261 §8, §12-15) over the transaction layer.

Sans-I/O. Fed domain commands (`dial`, `answer`, `hangup`), SIP bytes (`receive`), media timeouts and
`now`; returns an ordered `list[Output]` (SIP datagrams, media orders, trunk events). `next_deadline`
is the one time it must be woken at (`expire`): the transaction timers and the REGISTER refresh.

Outbound: INVITE with our SDP offer to the trunk (or the outbound proxy, with a loose Route).
100/180/183 -> `TrunkRinging` (183 with SDP: early media starts); 2xx -> ACK, `TrunkAnswered`;
401/407 -> one retry with digest credentials; any other final response -> `TrunkHangup` with its
Q.850 cause (`cause_for_response`: the Reason header wins, else RFC 3398; 3xx, which we do not
follow, and a 487 we did not ask for give 127 Interworking). No final response (Timer B) is a 408,
cause 102. The ring timeout is the domain's: its `hangup` CANCELs. A 2xx that crosses our CANCEL is
ACKed and ended with BYE; a second 2xx from another fork likewise.

Inbound: an INVITE from an untrusted source gets 403 and no call. Otherwise its SDP offer is
checked at once (488 when there is no common codec), a 180 goes out and `TrunkIncomingCall` up;
`answer` sends the 200 with our SDP answer (or our offer, when the INVITE had none: then the
answer comes in the ACK). A CANCEL ends it with 487 (`TrunkHangup`, the Reason's cause or 16);
the domain's `hangup` refuses it with `status_for_cause(cause)`.

In a dialog: BYE either way; re-INVITE (hold, unhold, session refresh) answered with our SDP
answer (or offer) and the media updated; OPTIONS answered 200 in or out of a dialog. An in-dialog
request for a dialog we do not know gets 481. No ACK for our 2xx (Timer L) ends the call with BYE
and cause 102.

Events never follow a domain command for the same call (its `hangup` needs no answer), and a call
the domain has ended never produces another event.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from callgate.calls.causes import Cause
from callgate.calls.ids import new_session_id
from callgate.calls.trunk import (
    TrunkAnswered,
    TrunkHangup,
    TrunkIncomingCall,
    TrunkRinging,
)
from callgate.telephony.sip import (
    AbsoluteUri,
    AckReceived,
    Action,
    Dialog,
    DigestClient,
    Endpoint,
    LayerConfig,
    MediaConfig,
    MessageDropped,
    NameAddr,
    RequestReceived,
    RequestRefused,
    ResponseReceived,
    SdpError,
    SdpSession,
    Send,
    SessionDescription,
    SipError,
    SipMessage,
    SipRequest,
    SipResponse,
    SipTimers,
    SipUri,
    StrayResponse,
    Target,
    TransactionKey,
    TransactionLayer,
    TransactionTableFull,
    TransactionTerminated,
    TransactionTimeout,
    TransportFailed,
    cause_for_response,
    find_sdp,
    make_request,
    new_tag,
    parse_sdp,
    parse_uri,
    q850_reason,
    response_for,
    status_for_cause,
)
from callgate.telephony.sip.grammar import GrammarError
from callgate.telephony.sip.transactions.matching import TokenSource, random_token

from .call import Phase, SipCall
from .outputs import MediaStart, MediaStop, Output
from .register import Registration
from .settings import SipTrunkSettings, split_hostport
from .trust import TrustedSources

__all__ = ["ALLOW", "CallControl", "LocalAddress"]

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, BYE, CANCEL, OPTIONS"
SDP_TYPE = "application/sdp"
_AUTH_HEADERS = ("Authorization", "Proxy-Authorization")
_INVITE, _BYE, _REGISTER, _CLEANUP = "INVITE", "BYE", "REGISTER", "cleanup"
NO_ACK_CAUSE = int(Cause.RECOVERY_ON_TIMER_EXPIRY)
"""Our 2xx was never ACKed (Timer L): the peer is gone, as for any timer expiry."""
NO_ANSWER_CAUSE = int(Cause.RECOVERY_ON_TIMER_EXPIRY)
"""No final response to our INVITE (Timer B): a 408, which RFC 3398 maps to 102."""
TRANSPORT_CAUSE = int(Cause.NETWORK_OUT_OF_ORDER)
"""A send failed (connection refused, unreachable): the network, not the party."""
NO_CIRCUIT_CAUSE = int(Cause.NO_CIRCUIT_AVAILABLE)
"""Out of capacity: `max_calls`, the transaction table, or no free RTP port."""
MEDIA_MISMATCH_CAUSE = int(Cause.BEARER_NOT_IMPLEMENTED)
"""The peer's SDP answer has no codec or address we can use."""
UNFOLLOWED_CAUSE = int(Cause.INTERWORKING)
"""A 3xx (we do not follow redirects) or a 487 we did not ask for."""


@dataclass(frozen=True, slots=True)
class LocalAddress:
    """How we appear: Via and Contact (`endpoint`) and the address in our SDP."""

    endpoint: Endpoint
    media_host: str


class CallControl:
    """Every call of one trunk, and its REGISTER binding (see the module docstring)."""

    def __init__(
        self,
        settings: SipTrunkSettings,
        local: LocalAddress,
        trunk: Target,
        trusted: TrustedSources,
        *,
        token: TokenSource = random_token,
    ) -> None:
        self.settings = settings
        self.local = local
        self.trunk = trunk
        self.trusted = trusted
        self._token = token
        timers = SipTimers(t1_s=settings.t1_s, t2_s=settings.t2_s, t4_s=settings.t4_s)
        # Each call holds a few transactions at once (INVITE, its CANCEL, BYE, a re-INVITE).
        self.layer = TransactionLayer(
            LayerConfig(timers=timers, max_transactions=max(1000, 8 * settings.max_calls)),
            token=token,
        )
        self._route: tuple[NameAddr, ...] = ()
        if settings.outbound_proxy is not None:
            host, port = split_hostport("outbound_proxy", settings.outbound_proxy)
            proxy = SipUri.build(_bracketed(host), port=port, params=(("lr", None),))
            self._route = (NameAddr(proxy),)
        self._uri_params: tuple[tuple[str, str | None], ...] = ()
        if settings.transport != "udp":
            self._uri_params = (("transport", settings.transport),)
        self._digest: DigestClient | None = None
        user = settings.digest_username
        if user and settings.password is not None:
            self._digest = DigestClient(user, settings.password, realm=settings.realm)
        self._calls: dict[str, SipCall] = {}
        self._by_dialog: dict[tuple[str, str], SipCall] = {}  # (Call-ID, our tag)
        self._by_invite: dict[TransactionKey, SipCall] = {}  # inbound INVITE server transactions
        self._inbound_ids: dict[tuple[str, str], SipCall] = {}  # (Call-ID, From tag) of INVITEs
        self._client: dict[TransactionKey, tuple[SipCall | None, str]] = {}
        self.registration: Registration | None = None
        self._register_request: SipRequest | None = None
        self._register_key: TransactionKey | None = None  # the REGISTER awaiting its answer
        if settings.register:
            registrar = SipUri.build(
                _bracketed(settings.domain), port=self._trunk_port(), params=self._uri_params
            )
            aor = SipUri.build(_bracketed(settings.domain), user=settings.username)
            self.registration = Registration(
                registrar=registrar,
                aor=aor,
                endpoint=local.endpoint,
                expires_s=settings.register_expires_s,
                retry_s=settings.register_retry_s,
                route=self._route,
            )
        self.stats: Counter[str] = Counter()
        self._out: list[Output] = []

    # --- inspection -------------------------------------------------------------------------

    def __len__(self) -> int:
        """Calls in the tables, the ones still ending included."""
        return len(self._calls)

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._calls

    def phase(self, session_id: str) -> Phase | None:
        call = self._calls.get(session_id)
        return None if call is None else call.phase

    @property
    def idle(self) -> bool:
        """No call and no REGISTER in progress: stopping loses nothing."""
        return not self._calls and self._register_key is None

    def next_deadline(self) -> float | None:
        deadlines = [self.layer.next_deadline()]
        if self.registration is not None:
            deadlines.append(self.registration.deadline)
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    # --- lifecycle ----------------------------------------------------------------------------

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

    # --- domain commands ----------------------------------------------------------------------

    def dial(
        self,
        session_id: str,
        destination: str,
        caller_id: str | None,
        rtp_port: int,
        now: float,
    ) -> list[Output]:
        if session_id in self._calls:
            return []
        if len(self._calls) >= self.settings.max_calls:
            log.warning("call %s refused: %d calls, the limit", session_id, len(self._calls))
            return self._fail_dial(session_id, NO_CIRCUIT_CAUSE)
        try:
            target_uri = self._request_uri(destination)
            user = caller_id or self.settings.caller_id or self.settings.username or "callgate"
            from_uri = SipUri.build(_bracketed(self.settings.domain), user=user)
        except (GrammarError, SipError) as exc:
            log.warning("call %s: bad destination or caller id: %s", session_id, exc)
            return self._fail_dial(session_id, int(Cause.INVALID_NUMBER_FORMAT))
        local_tag = new_tag()
        call_id = f"{self._token()}@{self.local.endpoint.host}"
        sdp = SdpSession(self._media_config(rtp_port))
        invite = make_request(
            "INVITE",
            target_uri,
            via=self.local.endpoint.via(self.layer.new_branch()),
            from_=NameAddr(from_uri).with_tag(local_tag),
            to=NameAddr(_without_params(target_uri)),
            call_id=call_id,
            cseq=1,
            contact=self.local.endpoint.contact,
            route=self._route,
            headers=(("Allow", ALLOW),),
            body=sdp.offer(),
            content_type=SDP_TYPE,
            user_agent=self.local.endpoint.user_agent,
        )
        try:
            key, actions = self.layer.send_request(invite, self.trunk, now)
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
        )
        self._calls[session_id] = call
        self._by_dialog[(call_id, local_tag)] = call
        self._client[key] = (call, _INVITE)
        self.stats["dialled"] += 1
        self._run(actions, now)
        return self._flush()

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
        response = call.dialog.response(
            call.invite,
            200,
            headers=(("Allow", ALLOW),),
            body=body,
            content_type=SDP_TYPE,
        )
        call.move(Phase.ANSWERED)
        self._run(self.layer.respond(call.invite_key, response, now), now)
        if audio is not None:
            call.audio = audio
            self._out.append(MediaStart(session_id, audio, answered=True))
        return self._flush()

    def hangup(self, session_id: str, cause: int, now: float) -> list[Output]:
        """The domain ends the call: CANCEL, reject, or BYE as its phase requires. No event follows."""
        call = self._calls.get(session_id)
        if call is not None and call.live:
            self._hangup(call, cause, now)
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

    # --- network and time ---------------------------------------------------------------------

    def receive(self, data: bytes, source: Target, now: float) -> list[Output]:
        """One datagram or framed stream message from `source`."""
        self._run(self.layer.receive_data(data, source, now), now)
        return self._flush()

    def transport_failed(self, key: TransactionKey, now: float) -> list[Output]:
        self._run(self.layer.transport_failed(key, now), now)
        return self._flush()

    def expire(self, now: float) -> list[Output]:
        self._run(self.layer.expire(now), now)
        registration = self.registration
        if registration is not None and registration.due(now):
            self._send_register(registration.request(now, self.layer.new_branch()), now)
        return self._flush()

    # --- dispatch -----------------------------------------------------------------------------

    def _flush(self) -> list[Output]:
        out, self._out = self._out, []
        return out

    def _run(self, actions: Iterable[Action], now: float) -> None:
        for action in actions:
            if isinstance(action, Send):
                self._out.append(action)
                continue
            try:
                self._dispatch(action, now)
            except Exception:  # a bug must cost one message, never the trunk
                self.stats["internal_error"] += 1
                log.exception("SIP call control failed on %r", type(action).__name__)

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
            case RequestRefused(request=request, status=status, detail=detail):
                self.stats["refused"] += 1
                log.debug("%s refused %d: %s", request.method, status, detail)
            case MessageDropped(reason=reason, source=source):
                self.stats["dropped"] += 1
                log.debug("SIP message from %s dropped: %s", source, reason)

    # --- requests from the peer ---------------------------------------------------------------

    def _on_request(self, event: RequestReceived, now: float) -> None:
        request = event.request
        method = request.method
        if method == "INVITE":
            if request.to_tag is None:
                self._on_invite(event, now)
            else:
                self._on_reinvite(event, now)
        elif method == "BYE":
            self._on_bye(event, now)
        elif method == "CANCEL":
            self._on_cancel(event, now)
        elif method == "OPTIONS":
            headers = (("Allow", ALLOW), ("Accept", SDP_TYPE))
            response = response_for(request, 200, to_tag=new_tag(), headers=headers)
            self._respond(event.key, response, now)
        else:  # the policy lets only the methods above through; be safe anyway
            refusal = response_for(request, 501, to_tag=new_tag(), headers=(("Allow", ALLOW),))
            self._respond(event.key, refusal, now)

    def _on_invite(self, event: RequestReceived, now: float) -> None:
        request, source = event.request, event.source
        if not self.trusted.allows(source.host):
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
        sdp = _sdp_body(request)
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
        dialog = Dialog.from_request(request, local_tag=new_tag(), endpoint=self.local.endpoint)
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
        )
        self._calls[call.session_id] = call
        self._by_dialog[(call_id, dialog.local_tag)] = call
        self._by_invite[event.key] = call
        self._inbound_ids[(call_id, from_tag)] = call
        self.stats["offered"] += 1
        self._respond(event.key, dialog.response(request, 180), now)
        self._out.append(
            TrunkIncomingCall(call.session_id, _caller_of(request), _number_called(request))
        )

    def _on_reinvite(self, event: RequestReceived, now: float) -> None:
        request = event.request
        call = self._in_dialog(request)
        if call is None or call.dialog is None or call.phase is not Phase.CONFIRMED:
            status = 491 if call is not None and call.phase is Phase.ANSWERED else 481
            self._reply(event, status, now)
            return
        dialog = call.dialog
        rejection = dialog.receive_request(request)
        if rejection is not None:
            self._respond(event.key, dialog.response(request, rejection.status), now)
            return
        assert call.sdp is not None  # every confirmed call negotiated media
        sdp = _sdp_body(request)
        audio = None
        if sdp is not None:
            try:
                body, audio = call.sdp.answer(sdp)
            except SdpError as exc:
                warning = exc.warning_value(self._agent)
                extra = (("Warning", warning),) if warning else ()
                self._respond(event.key, dialog.response(request, exc.status, headers=extra), now)
                return
        else:
            body = call.sdp.offer()
            call.answer_in_ack = True
        response = dialog.response(
            request, 200, headers=(("Allow", ALLOW),), body=body, content_type=SDP_TYPE
        )
        self._respond(event.key, response, now)
        if audio is not None:
            call.audio = audio
            self._out.append(MediaStart(call.session_id, audio, answered=True))

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
            self._end(call, _cause_of(request), by_remote=True)

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
        self._end(call, _cause_of(request), by_remote=True)

    def _on_ack(self, request: SipRequest, now: float) -> None:
        call = self._in_dialog(request)
        if call is None:
            return
        if call.phase is Phase.ANSWERED:
            call.move(Phase.CONFIRMED)
        if call.answer_in_ack:
            call.answer_in_ack = False
            sdp = _sdp_body(request)
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
            call.audio = audio
            if call.live:
                self._out.append(MediaStart(call.session_id, audio, answered=True))
        if call.bye_owed and call.phase is Phase.CONFIRMED:
            call.bye_owed = False
            call.move(Phase.ENDING)
            self._send_bye(call, now)

    # --- responses to our requests ------------------------------------------------------------

    def _on_response(self, key: TransactionKey, response: SipResponse, now: float) -> None:
        owner = self._client.get(key)
        if owner is None:
            return
        call, purpose = owner
        if purpose == _REGISTER:
            if response.status >= 200 and key == self._register_key:
                self._register_key = None
                self._on_register_response(response, now)
        elif call is None or purpose == _CLEANUP:
            return
        elif purpose == _INVITE:
            self._on_invite_response(call, key, response, now)
        elif purpose == _BYE:
            self._on_bye_response(call, response, now)

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
            if call.phase is Phase.CALLING:
                self._on_provisional(call, response)
            return
        if status < 300:
            self._on_answered(call, key, response, now)
            return
        challenged = status in (401, 407) and call.phase is Phase.CALLING
        if challenged and self._retry_invite(call, response, now):
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
            call.dialog = Dialog.from_response(call.invite, response, self.local.endpoint)
        sdp = _sdp_body(response)
        if sdp is None or call.sdp is None:
            return
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
            key, actions = self.layer.send_request(retry, self.trunk, now)
        except TransactionTableFull:
            return False
        call.auth_retried = True
        call.invite, call.invite_key = retry, key
        self._client[key] = (call, _INVITE)
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
            dialog = Dialog.from_response(call.invite, response, self.local.endpoint)
        dialog.confirm(response)
        call.dialog = dialog
        self._ack(call, key, dialog, now)
        if call.phase is Phase.CANCELLING:  # the answer crossed our CANCEL
            call.move(Phase.ENDING)
            self._send_bye(call, now)
            return
        audio = call.audio
        sdp = _sdp_body(response)
        try:
            if sdp is not None and call.sdp is not None:
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
        self._out.append(MediaStart(call.session_id, audio, answered=True))
        self._out.append(TrunkAnswered(call.session_id))

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
        self._send_in_dialog(call, retry, _BYE, now)
        return True

    def _on_register_response(self, response: SipResponse, now: float) -> None:
        registration, request = self.registration, self._register_request
        if registration is None or request is None:
            return
        if response.status in (401, 407) and self._digest is not None:
            retry = self._digest.authorize(request, response, branch=self.layer.new_branch())
            if retry is not None:
                registration.sent(retry)
                self._send_register(retry, now)
                return
        registration.on_response(response, now)
        if registration.registered:
            log.debug("registered at %s until %.0f", self.trunk, registration.registered_until)
        else:
            log.warning("REGISTER refused: %d %s", response.status, response.reason)

    def _on_stray(self, response: SipResponse) -> None:
        """A 2xx to our INVITE after its transaction ended: our ACK was lost; send it again."""
        cseq = response.cseq
        if cseq is None or cseq.method != "INVITE" or not 200 <= response.status < 300:
            return
        call = self._by_dialog.get((response.call_id or "", response.from_tag or ""))
        if call is not None and call.last_ack is not None:
            self._out.append(call.last_ack)

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
        if purpose == _REGISTER:
            if key == self._register_key:
                self._register_key = None
                if self.registration is not None:
                    self.registration.on_failure(now)
            return
        if call is None or purpose == _CLEANUP or self._calls.get(call.session_id) is not call:
            return
        if purpose == _INVITE and key == call.invite_key:
            was_calling = call.phase is Phase.CALLING
            self._forget(call)
            if was_calling:
                cause = TRANSPORT_CAUSE if why == "transport" else NO_ANSWER_CAUSE
                self._end(call, cause, by_remote=False)
        elif purpose == _BYE:
            self._forget(call)

    # --- our requests -------------------------------------------------------------------------

    def _hangup(self, call: SipCall, cause: int, now: float) -> None:
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

    def _refuse_offered(
        self, call: SipCall, status: int, now: float, *, warning: str | None = None
    ) -> None:
        assert call.dialog is not None
        headers = [("Reason", q850_reason(call.cause))]
        if warning:
            headers.append(("Warning", warning))
        self._respond(
            call.invite_key, call.dialog.response(call.invite, status, headers=headers), now
        )
        self._forget(call)

    def _send_bye(self, call: SipCall, now: float) -> None:
        if call.dialog is None:
            self._forget(call)
            return
        bye = call.dialog.request(
            "BYE",
            branch=self.layer.new_branch(),
            headers=(("Reason", q850_reason(call.cause)),),
        )
        call.bye = bye
        self._send_in_dialog(call, bye, _BYE, now)

    def _send_in_dialog(self, call: SipCall, request: SipRequest, purpose: str, now: float) -> None:
        assert call.dialog is not None
        try:
            key, actions = self.layer.send_request(request, self._target_of(call.dialog), now)
        except TransactionTableFull:
            self._forget(call)
            return
        self._client[key] = (call, purpose)
        self._run(actions, now)

    def _ack(self, call: SipCall, key: TransactionKey, dialog: Dialog, now: float) -> None:
        cseq = call.invite.cseq
        assert cseq is not None  # we built it
        credentials = tuple((n, v) for n, v in call.invite.headers if n in _AUTH_HEADERS)
        ack = dialog.ack(cseq.number, branch=self.layer.new_branch(), headers=credentials)
        actions = self.layer.ack_2xx(key, ack, self._target_of(dialog), now)
        sends = [a for a in actions if isinstance(a, Send)]
        call.last_ack = sends[0] if sends else None
        self._run(actions, now)

    def _ack_and_bye(
        self, call: SipCall, key: TransactionKey, response: SipResponse, now: float
    ) -> None:
        """ACK a 2xx we do not want (a fork, or a call already given up) and end it with BYE."""
        try:
            dialog = Dialog.from_response(call.invite, response, self.local.endpoint)
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
        self._client[bye_key] = (None, _CLEANUP)
        self._run(actions, now)

    def _send_register(self, request: SipRequest, now: float) -> None:
        try:
            key, actions = self.layer.send_request(request, self.trunk, now)
        except TransactionTableFull:
            if self.registration is not None:
                self.registration.on_failure(now)
            return
        self._register_request, self._register_key = request, key
        self._client[key] = (None, _REGISTER)
        self._run(actions, now)

    # --- helpers ------------------------------------------------------------------------------

    def _respond(self, key: TransactionKey, response: SipResponse, now: float) -> None:
        self._run(self.layer.respond(key, response, now), now)

    def _reply(
        self,
        event: RequestReceived,
        status: int,
        now: float,
        *,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        response = response_for(event.request, status, to_tag=new_tag(), headers=headers)
        self._respond(event.key, response, now)

    def _end(self, call: SipCall, cause: int, *, by_remote: bool) -> None:
        """Tell the domain the call is over (for a call it still believes live)."""
        self._out.append(MediaStop(call.session_id))
        self._out.append(TrunkHangup(call.session_id, cause, by_remote=by_remote))

    def _fail_dial(self, session_id: str, cause: int) -> list[Output]:
        self._out.append(MediaStop(session_id))
        self._out.append(TrunkHangup(session_id, cause, by_remote=False))
        return self._flush()

    def _forget(self, call: SipCall) -> None:
        if self._calls.get(call.session_id) is call:
            del self._calls[call.session_id]
        self._by_dialog.pop((call.call_id, call.local_tag), None)
        self._by_invite.pop(call.invite_key, None)
        if not call.outbound:
            self._inbound_ids.pop((call.call_id, call.invite.from_tag or ""), None)

    def _in_dialog(self, request: SipRequest) -> SipCall | None:
        return self._by_dialog.get((request.call_id or "", request.to_tag or ""))

    def _target_of(self, dialog: Dialog) -> Target:
        try:
            return dialog.target()
        except SipError:  # a tel: or other non-SIP Contact: fall back to the trunk
            return self.trunk

    def _media_config(self, port: int) -> MediaConfig:
        return MediaConfig(
            address=self.local.media_host,
            port=port,
            codecs=self.settings.codecs,
            telephone_event_pt=self.settings.telephone_event_pt,
        )

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
            _bracketed(self.settings.domain),
            user=text,
            port=self._trunk_port(),
            params=self._uri_params,
        )

    def _trunk_port(self) -> int | None:
        settings = self.settings
        if settings.from_domain is not None or settings.port == 5060:
            return None
        return settings.port

    @property
    def _agent(self) -> str:
        return self.local.endpoint.hostport


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _without_params(uri: SipUri | AbsoluteUri) -> SipUri | AbsoluteUri:
    if isinstance(uri, SipUri):
        return SipUri(host=uri.host, scheme=uri.scheme, user=uri.user, port=uri.port)
    return uri


def _sdp_body(message: SipMessage) -> bytes | None:
    if not message.body:
        return None
    return find_sdp(message.body, message.content_type, message.get("Content-Disposition"))


def _cause_of(request: SipRequest) -> int:
    """The Q.850 cause a BYE or CANCEL states in its Reason, else normal clearing."""
    cause = request.q850_cause
    return cause if cause is not None and 0 <= cause <= 127 else int(Cause.NORMAL_CLEARING)


def _user_of(address: NameAddr | None) -> str | None:
    if address is None:
        return None
    uri = address.uri
    if isinstance(uri, SipUri):
        return uri.user_text
    if isinstance(uri, AbsoluteUri) and uri.scheme.lower() == "tel":
        return uri.rest.split(";", 1)[0]
    return None


def _caller_of(request: SipRequest) -> str:
    address = request.from_
    user = _user_of(address)
    if user:
        return user
    if address is not None and address.display_name:
        return address.display_name
    return "anonymous"


def _number_called(request: SipRequest) -> str:
    uri = request.uri
    if isinstance(uri, SipUri) and uri.user_text:
        return uri.user_text
    if isinstance(uri, AbsoluteUri) and uri.scheme.lower() == "tel":
        return uri.rest.split(";", 1)[0]
    return _user_of(request.to) or ""
