"""The user agent's shared ground: its tables of calls, the transaction layer, and common moves.

`UserAgentCore` holds the state every part of call control reads (calls by session, by dialog, by
INVITE transaction; who owns each client transaction; the outputs gathered for the caller) and the
moves both directions make: answer a request, send a BYE, tell the domain a call ended, forget it.
`uac.py` (calls we place) and `uas.py` (calls we receive) build on it; `engine.py` puts them
together behind the public API. The constants name the Q.850 causes the trunk chooses itself.
"""

from __future__ import annotations

import dataclasses
import heapq
import itertools
import logging
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from callgate.calls.causes import Cause
from callgate.calls.trunk import TrunkHangup, TrunkHold
from callgate.telephony.sip import (
    Action,
    Dialog,
    DigestClient,
    Direction,
    Endpoint,
    LayerConfig,
    MediaConfig,
    NameAddr,
    NegotiatedAudio,
    Policy,
    RequestReceived,
    Send,
    SipError,
    SipRequest,
    SipResponse,
    SipTimers,
    SipUri,
    Target,
    TransactionKey,
    TransactionLayer,
    TransactionTableFull,
    new_tag,
    q850_reason,
    response_for,
)
from callgate.telephony.sip.reliable import REL_TAG
from callgate.telephony.sip.sdes import CryptoSuite, MediaEncryption
from callgate.telephony.sip.session_timer import SessionTimer, Settled, request_headers
from callgate.telephony.sip.transactions.matching import TokenSource, random_token

from .call import Phase, SipCall
from .messages import bracketed
from .outputs import MediaStop, Output
from .refer import SIPFRAG_TYPE, Transfer
from .register import Registration
from .settings import SipTrunkSettings, split_hostport
from .trust import TrustedSources

__all__ = ["ALLOW", "AUTH_HEADERS", "LocalAddress", "Purpose", "UserAgentCore"]

log = logging.getLogger(__name__)

METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "UPDATE", "PRACK", "NOTIFY")
"""What we take; NOTIFY only for a REFER of ours (transfer.py), any other gets 481 or 489."""
ALLOW = ", ".join(METHODS)
TIMER_EXTENSION = "timer"
"""RFC 4028, always supported; 100rel (RFC 3262) as `reliable_provisional` says."""
SDP_TYPE = "application/sdp"
AUTH_HEADERS = ("Authorization", "Proxy-Authorization")


class Purpose(StrEnum):
    """What a client transaction of ours is for, so its response finds its handler."""

    INVITE = "INVITE"
    BYE = "BYE"
    REGISTER = "REGISTER"
    CLEANUP = "cleanup"  # the BYE ending an answer we did not want: its response is ignored
    REFRESH = "refresh"  # our re-INVITE or UPDATE in a dialog (a session refresh)
    PRACK = "PRACK"  # our acknowledgement of a reliable provisional: its response is ignored
    REFER = "REFER"  # our blind transfer of the call (transfer.py)
    HOLD = "hold"  # our re-INVITE putting the call on hold or taking it off (hold.py)


MIN_TRANSACTIONS = 20_000
"""Transaction table size at least: about 500 new calls a second, with their BYEs."""
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
SESSION_EXPIRED_CAUSE = int(Cause.RECOVERY_ON_TIMER_EXPIRY)
"""The session timer ran out without a refresh (RFC 4028 §10), or our refresh got no answer."""


@dataclass(frozen=True, slots=True)
class LocalAddress:
    """How we appear: Via and Contact (`endpoint`) and the address in our SDP."""

    endpoint: Endpoint
    media_host: str


class UserAgentCore:
    """State and moves shared by both directions of call control (see the module docstring)."""

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
        self.targets: tuple[Target, ...] = (trunk,)
        """Where out-of-dialog requests go, in order (RFC 3263): `trunk` first, then failover."""
        self.trusted = trusted
        self._token = token
        timers = SipTimers(t1_s=settings.t1_s, t2_s=settings.t2_s, t4_s=settings.t4_s)
        # Transactions outlive their calls: an answered INVITE's stays 64*T1 (Timer M, 32 s) to
        # absorb 2xx retransmissions, so the table must hold the call *rate* times 32 s, not
        # just the calls alive (100 calls/s keep 3,200 INVITE transactions around).
        # Half the table is kept for the trunk's INVITEs and our own requests (see LayerConfig):
        # OPTIONS and refusals are answered statelessly, so only in-dialog requests and the
        # TU's answers compete for the other half.
        max_transactions = max(MIN_TRANSACTIONS, 10 * settings.max_calls)
        extensions = [TIMER_EXTENSION]
        if settings.reliable_provisional != "off":
            extensions.append(REL_TAG)
        self.supported = ", ".join(extensions)
        """Our Supported header: the option tags we implement (a Require of others gets 420)."""
        self.layer = TransactionLayer(
            LayerConfig(
                timers=timers,
                max_transactions=max_transactions,
                trusted=lambda source: trusted.allows(source.host, source.port),
                options_headers=(("Allow", ALLOW), ("Accept", SDP_TYPE)),
                policy=Policy(
                    methods=frozenset(METHODS),
                    extensions=frozenset(extensions),
                    content_types=frozenset({SDP_TYPE, SIPFRAG_TYPE}),  # NOTIFY's, for REFER
                ),
                reserved_transactions=max_transactions // 2,
            ),
            token=token,
        )
        self._route: tuple[NameAddr, ...] = ()
        if settings.outbound_proxy is not None:
            host, port = split_hostport("outbound_proxy", settings.outbound_proxy)
            proxy = SipUri.build(bracketed(host), port=port, params=(("lr", None),))
            self._route = (NameAddr(proxy),)
        self._scheme = "sips" if settings.sips else "sip"
        self._uri_params: tuple[tuple[str, str | None], ...] = ()
        if settings.transport not in ("udp", "auto") and not settings.sips:
            self._uri_params = (("transport", settings.transport),)
        self._digest: DigestClient | None = None
        user = settings.digest_username
        if user and settings.password is not None:
            self._digest = DigestClient(user, settings.password, realm=settings.realm)
        self._calls: dict[str, SipCall] = {}
        self._by_dialog: dict[tuple[str, str], SipCall] = {}  # (Call-ID, our tag)
        self._by_invite: dict[TransactionKey, SipCall] = {}  # inbound INVITE server transactions
        self._inbound_ids: dict[tuple[str, str], SipCall] = {}  # (Call-ID, From tag) of INVITEs
        self._client: dict[TransactionKey, tuple[SipCall | None, Purpose]] = {}
        self._transfers: dict[str, Transfer] = {}  # by session: a REFER of ours in progress
        self.registration: Registration | None = None
        self._register_request: SipRequest | None = None
        self._register_key: TransactionKey | None = None  # the REGISTER awaiting its answer
        self._register_target: Target | None = None
        if settings.register:
            registrar = SipUri.build(
                bracketed(settings.domain),
                port=self._trunk_port(),
                params=self._uri_params,
                scheme=self._scheme,
            )
            aor = SipUri.build(
                bracketed(settings.domain), user=settings.username, scheme=self._scheme
            )
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
        self._wakes: list[tuple[float, int, str]] = []  # (when, order, session id): call timers
        self._wake_order = itertools.count()
        self._rng = random.SystemRandom()

    def __len__(self) -> int:
        """Calls in the tables, the ones still ending included."""
        return len(self._calls)

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py): the call tables and the transactions."""
        return {
            "sip_calls": len(self._calls),
            "sip_dialogs": len(self._by_dialog),
            "sip_invites_offered": len(self._by_invite) + len(self._inbound_ids),
            "sip_client_transactions": len(self._client),
            "sip_transfers": len(self._transfers),
            **self.layer.held(),
        }

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._calls

    def phase(self, session_id: str) -> Phase | None:
        call = self._calls.get(session_id)
        return None if call is None else call.phase

    @property
    def idle(self) -> bool:
        """No call and no REGISTER in progress: stopping loses nothing."""
        return not self._calls and self._register_key is None

    def route(self, targets: Sequence[Target]) -> None:
        """Send new out-of-dialog requests to `targets` (the trunk's host resolved afresh)."""
        if targets:
            self.targets = tuple(targets)
            self.trunk = self.targets[0]

    def _sent_to(self, request: SipRequest, target: Target) -> SipRequest:
        """`request` with a new top Via (a new branch) for `target`: a new transaction (§4.3)."""
        return request.without_header("Via").with_header("Via", self._via(target), first=True)

    def _via(self, target: Target) -> str:
        """A new top Via, naming the transport `target` is reached over (NAPTR may pick it)."""
        endpoint = self.local.endpoint
        if endpoint.transport.upper() != target.transport:
            endpoint = dataclasses.replace(endpoint, transport=target.transport)
        return endpoint.via(self.layer.new_branch())

    def next_deadline(self) -> float | None:
        deadlines = [self.layer.next_deadline()]
        if self.registration is not None:
            deadlines.append(self.registration.deadline)
        if self._wakes:
            deadlines.append(self._wakes[0][0])
        present = [d for d in deadlines if d is not None]
        return min(present) if present else None

    def _wake(self, call: SipCall, at: float) -> None:
        """Call `_on_call_timer(call)` at `at` (or later; an early or stale wake is harmless)."""
        if len(self._wakes) > 4 * len(self._calls) + 64:  # ended calls' wakes: drop them
            self._wakes = [w for w in self._wakes if w[2] in self._calls]
            heapq.heapify(self._wakes)
        heapq.heappush(self._wakes, (at, next(self._wake_order), call.session_id))

    def _expire_calls(self, now: float) -> None:
        wakes = self._wakes
        while wakes and wakes[0][0] <= now:
            _, _, session_id = heapq.heappop(wakes)
            call = self._calls.get(session_id)
            if call is not None:
                try:
                    self._on_call_timer(call, now)
                except Exception:  # a bug must cost one call's timer, never the trunk
                    self.stats["internal_error"] += 1
                    log.exception("call %s: its timer failed", session_id)

    def _settle_timer(self, call: SipCall, settled: Settled | None, now: float) -> None:
        """A 2xx settled the session timer (or, None, that there is none): (re)start it."""
        if settled is None:
            call.session_timer = None
            return
        if call.session_timer is None:
            call.session_timer = SessionTimer(settled, now)
        else:
            call.session_timer.restart(settled, now)
        self._wake(call, call.session_timer.next_deadline)

    def _timer_headers(self, interval_s: int) -> tuple[tuple[str, str], ...]:
        """Supported, and when we want a session timer, Session-Expires and Min-SE."""
        supported = (("Supported", self.supported),)
        if interval_s <= 0:
            return supported
        return supported + request_headers(interval_s, self.settings.min_se_s)

    def _on_call_timer(self, call: SipCall, now: float) -> None:
        raise NotImplementedError  # MidCall: session refresh and expiry

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
        raise NotImplementedError  # CallControl routes each layer event to its handler

    def _hangup(self, call: SipCall, cause: int, now: float) -> None:
        raise NotImplementedError  # CallControl: CANCEL, reject or BYE as the phase requires

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
            self._transfers.pop(call.session_id, None)
        self._by_dialog.pop((call.call_id, call.local_tag), None)
        self._by_invite.pop(call.invite_key, None)
        if not call.outbound:
            self._inbound_ids.pop((call.call_id, call.invite.from_tag or ""), None)

    def _in_dialog(self, request: SipRequest) -> SipCall | None:
        return self._by_dialog.get((request.call_id or "", request.to_tag or ""))

    def _dialog_of(self, call: SipCall, response: SipResponse) -> Dialog:
        """The dialog `response` sets up, on the connection the INVITE went out on."""
        return Dialog.from_response(
            call.invite, response, self.local.endpoint, flow=call.target or self.trunk
        )

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
            media_encryption=MediaEncryption(self.settings.media_encryption),
            srtp_suites=tuple(CryptoSuite(suite) for suite in self.settings.srtp_suites),
        )

    def _trunk_port(self) -> int | None:
        settings = self.settings
        if settings.from_domain is not None or settings.port in (None, 5060):
            return None
        return settings.port

    @property
    def _agent(self) -> str:
        return self.local.endpoint.hostport

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
        self._send_in_dialog(call, bye, Purpose.BYE, now)

    @staticmethod
    def _our_direction(call: SipCall) -> Direction:
        """What we want in an offer or answer of ours: sendonly while we hold the call."""
        return Direction.SENDONLY if call.holding else Direction.SENDRECV

    def _note_remote_hold(
        self, call: SipCall, before: NegotiatedAudio | None, audio: NegotiatedAudio
    ) -> None:
        """The peer's offer (or its answer in an ACK) held the call or took it off hold: say so
        once per change."""
        was_held = before is not None and before.on_hold
        if audio.on_hold != was_held and call.live:
            self._out.append(TrunkHold(call.session_id, audio.on_hold, by_remote=True))

    def _send_in_dialog(
        self, call: SipCall, request: SipRequest, purpose: Purpose, now: float
    ) -> TransactionKey | None:
        assert call.dialog is not None
        try:
            key, actions = self.layer.send_request(request, self._target_of(call.dialog), now)
        except TransactionTableFull:
            if purpose is Purpose.BYE:
                self._forget(call)
            return None
        self._client[key] = (call, purpose)
        self._run(actions, now)
        return key
