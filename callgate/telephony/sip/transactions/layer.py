"""The transaction layer: every live transaction, message matching, and the one next deadline.

Theory of operation. The transport owns a socket and one timer; this object owns everything
else. Each method takes `now` (seconds on the transport's monotonic clock) and returns an
ordered `list[Action]`: `Send`s to put on the wire and events for the transaction user (TU).

    on a datagram / framed message:  actions = layer.receive_data(data, source, now)
    when the TU sends a request:     key, actions = layer.send_request(request, target, now)
    when the TU answers one:         actions = layer.respond(key, response, now)
    ACK for a 2xx, CANCEL:           layer.ack_2xx(...), layer.cancel(...)
    when a send failed:              actions = layer.transport_failed(key, now)
    when the timer fires:            actions = layer.expire(now)
    after each of these:             re-arm the timer at layer.next_deadline() (None: disarm)

Incoming requests are matched by §17.2.3 (see matching.py); a match is a retransmission fed to
its transaction, an ACK for a 2xx is matched by Call-ID, tags and CSeq to the INVITE server
transaction that sent the 2xx (which then stops retransmitting it). Anything else new is
answered statelessly when it can be (§8.2.7), so it costs no table entry: the optional `Policy`
check's refusals (validate.py), every OPTIONS when `options_headers` is set, a CANCEL that
matches no INVITE (481), and a stranger's INVITE (403). The To tag of a stateless answer is
derived from the request under a secret key, so a retransmission gets the very same answer.
The rest gets a server transaction and goes to the TU. Responses are matched by §17.1.3;
unmatched ones come up as `StrayResponse`.

Bounded: at most `max_transactions` live transactions, of which `reserved_transactions` only
INVITEs from trusted sources and the requests we send may take. A new request past its share
is answered statelessly with 503 and Retry-After (an ACK is just dropped), and `send_request`
on a full table raises `TransactionTableFull`: the TU fails that call rather than the table
growing without limit. A source `trusted` refuses holds at most
`untrusted_transactions_per_source` server transactions (more requests are dropped), so memory
per source is bounded. Answers to such a source go to the exact address its packet came from.
Deadlines sit in a heap with lazy deletion; stale entries are skipped and the heap is rebuilt
if they ever outnumber the live ones.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import SipLocalError, SipParseError
from ..framing import DEFAULT_LIMITS, SipLimits
from ..message import SipRequest, SipResponse, parse
from ..timers import DEFAULT_TIMERS, SipTimers
from ..validate import (
    DEFAULT_POLICY,
    Policy,
    error_response,
    response_for,
    validate_request,
)
from ..validate import validate_response as check_response
from .events import (
    AckReceived,
    Action,
    MessageDropped,
    RequestRefused,
    Send,
    StrayResponse,
    Target,
    TransactionKey,
    TransactionTerminated,
)
from .machine import Transaction
from .matching import (
    LEGACY_PREFIX,
    TokenSource,
    cancelled_key,
    client_key,
    new_branch,
    random_token,
    response_target,
    server_key,
    stamp_via,
    top_via_of_basis,
)
from .requests import build_cancel
from .tables import Input, Kind, State

__all__ = ["LayerConfig", "TransactionLayer", "TransactionTableFull"]


class TransactionTableFull(SipLocalError):
    """`send_request` found `max_transactions` live transactions: fail this request."""


@dataclass(frozen=True, slots=True)
class LayerConfig:
    """Timers, limits and the request policy of one transaction layer."""

    timers: SipTimers = DEFAULT_TIMERS
    max_transactions: int = 20_000
    # Requests failing `validate_request` are answered here and never reach the TU; None
    # hands every parsed request up.
    policy: Policy | None = DEFAULT_POLICY
    limits: SipLimits = DEFAULT_LIMITS
    retry_after_s: int = 5  # in the 503 sent when the table is full
    # Which sources are trusted (None: all). An untrusted source's INVITE out of dialog (no To
    # tag) is answered 403 statelessly and leaves nothing behind, so a scanner cannot fill the
    # table with transactions that wait 32 s for an ACK; its other requests may hold at most
    # `untrusted_transactions_per_source` live server transactions, and more are dropped.
    trusted: Callable[[Target], bool] | None = None
    untrusted_transactions_per_source: int = 32
    # OPTIONS needs no state: its answer is the same whoever asks, in a dialog or out of one
    # (§11.2). With headers here the layer answers every OPTIONS 200 itself, statelessly
    # (§8.2.7), with these headers (Allow, Accept ...); None hands OPTIONS to the TU.
    options_headers: tuple[tuple[str, str], ...] | None = None
    # Of `max_transactions`, this many are kept for INVITEs from trusted sources and for the
    # requests we send: a flood of anything else, even from a trusted address, fills at most
    # `max_transactions - reserved_transactions` and gets 503 past that.
    reserved_transactions: int = 0


class TransactionLayer:
    """All transactions of one SIP endpoint, driven by messages and time (see module doc)."""

    def __init__(self, config: LayerConfig = LayerConfig(), *, token: TokenSource = random_token):
        if not 0 <= config.reserved_transactions < config.max_transactions:
            raise SipLocalError("reserved_transactions must be below max_transactions")
        self.config = config
        self._token = token
        # Stateless answers carry a To tag derived from the request (§8.2.7: the same request
        # gets the same tag), keyed by a secret so a tag cannot be predicted from outside.
        self._tag_key = (token() + token()).encode()
        self._txs: dict[TransactionKey, Transaction] = {}
        self._heap: list[tuple[float, int, TransactionKey]] = []
        self._order = itertools.count()
        # (Call-ID, From tag, To tag, CSeq) of each 2xx we sent -> its INVITE server transaction.
        self._accepted: dict[tuple[str, str, str, int], TransactionKey] = {}
        # Live server transactions of untrusted sources, per host (bounded, see LayerConfig).
        self._untrusted_live: dict[str, int] = {}
        self._untrusted_keys: dict[TransactionKey, str] = {}
        # Retransmission counts of the transactions that have ended (see `retransmissions`).
        self._sent_again = 0
        self._requests_again = 0

    # --- inspection -------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._txs)

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py)."""
        return {
            "sip_transactions": len(self._txs),
            "sip_transaction_deadlines": len(self._heap),
            "sip_accepted_2xx": len(self._accepted),
            "sip_untrusted": len(self._untrusted_live) + len(self._untrusted_keys),
        }

    def __contains__(self, key: object) -> bool:
        return key in self._txs

    def retransmissions(self) -> tuple[int, int]:
        """Since the layer started: messages our timers sent again, and requests the peers sent
        again (each answered with the same response). O(live transactions): for scrapes."""
        live = self._txs.values()
        return (
            self._sent_again + sum(tx.sent_again for tx in live),
            self._requests_again + sum(tx.requests_again for tx in live),
        )

    def state(self, key: TransactionKey) -> State | None:
        """The state of transaction `key`, or None once it has left the table."""
        tx = self._txs.get(key)
        return None if tx is None else tx.state

    def new_branch(self) -> str:
        """A fresh RFC 3261 branch for the top Via of a request the TU is about to send."""
        return new_branch(self._token)

    def next_deadline(self) -> float | None:
        """When `expire` must next be called, on the clock `now` comes from; None: no timer."""
        heap = self._heap
        while heap:
            deadline, _, key = heap[0]
            tx = self._txs.get(key)
            if tx is not None and tx.next_deadline() == deadline:
                return deadline
            heapq.heappop(heap)
        return None

    # --- from the network -------------------------------------------------------------------

    def receive_data(self, data: bytes, source: Target, now: float) -> list[Action]:
        """One UDP datagram, or one message framed off a stream, from `source`. Never raises."""
        if not data.strip(b"\r\n"):
            return []  # CRLF keep-alive (RFC 5626 §3.5.1)
        try:
            message = parse(data, limits=self.config.limits, stream=source.reliable)
        except SipParseError as exc:
            return self._answer_unparsable(exc, data, source)
        return self.receive(message, source, now)

    def receive(
        self, message: SipRequest | SipResponse, source: Target, now: float
    ) -> list[Action]:
        """A parsed message from `source`."""
        if isinstance(message, SipResponse):
            return self._on_response(message, source, now)
        return self._on_request(message, source, now)

    def _answer_unparsable(self, exc: SipParseError, data: bytes, source: Target) -> list[Action]:
        dropped = MessageDropped(str(exc), source)
        if not exc.is_request or data.lstrip(b"\r\n")[:4].upper() == b"ACK ":
            return [dropped]  # responses and ACKs are never answered
        response = error_response(exc, to_tag=self._tag_for(data))
        via = top_via_of_basis(exc.basis or ())
        if response is None or via is None:
            return [dropped]
        target = response_target(via, source, trusted=self._trusts(source))
        return [Send(response, bytes(response), target), dropped]

    def _tag_for(self, data: bytes) -> str:
        return hmac.new(self._tag_key, data, hashlib.sha256).hexdigest()[:16]

    def _stateless_tag(self, request: SipRequest) -> str:
        """The To tag of a stateless answer: the same for a retransmission of `request`."""
        via, cseq = request.top_via, request.cseq
        identity = "\x00".join(
            (
                "" if via is None else f"{via.branch or ''} {via.sent_by}",
                request.call_id or "",
                request.from_tag or "",
                "" if cseq is None else str(cseq.number),
                request.method,
            )
        )
        return self._tag_for(identity.encode("utf-8", "surrogateescape"))

    def _stateless(
        self,
        request: SipRequest,
        status: int,
        detail: str,
        target: Target,
        source: Target,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> list[Action]:
        """Answer `request` with `status` and keep nothing (§8.2.7)."""
        answer = response_for(request, status, to_tag=self._stateless_tag(request), headers=headers)
        send = Send(answer, bytes(answer), target)
        if status < 300:
            return [send]
        return [send, RequestRefused(request, source, status, detail)]

    def _trusts(self, source: Target) -> bool:
        trusted = self.config.trusted
        return trusted is None or trusted(source)

    def _on_response(self, response: SipResponse, source: Target, now: float) -> list[Action]:
        problem = check_response(response, self.config.policy or DEFAULT_POLICY)
        if problem is not None:
            return [MessageDropped(f"response discarded: {problem}", source)]
        key = client_key(response)
        tx = None if key is None else self._txs.get(key)
        if tx is None:
            return [StrayResponse(response, source)]
        status = response.status
        if status < 200:
            event = Input.RESPONSE_1XX
        elif status >= 300:
            event = Input.RESPONSE_3XX_6XX
        elif tx.kind is Kind.INVITE_CLIENT and response.to_tag in tx.acks_2xx:
            event = Input.RESPONSE_2XX_ACKED
        elif tx.kind is Kind.INVITE_CLIENT and response.to_tag in tx.seen_2xx_tags:
            event = Input.RESPONSE_2XX_SEEN
        else:
            event = Input.RESPONSE_2XX
        return self._feed(tx, event, now, response, source)

    def _on_request(self, request: SipRequest, source: Target, now: float) -> list[Action]:
        key = server_key(request)
        if key is None:
            return [MessageDropped(f"{request.method} without Via or CSeq", source)]
        tx = self._txs.get(key)
        if tx is not None and self._legacy_tags_match(tx, request):
            if request.method == "ACK":
                if tx.kind is not Kind.INVITE_SERVER:
                    return [MessageDropped("ACK for a non-INVITE transaction", source)]
                return self._feed(tx, Input.ACK, now, stamp_via(request, source), source)
            return self._feed(tx, Input.REQUEST_AGAIN, now, request, source)
        if request.method == "ACK":
            return self._on_ack_2xx(request, source, now)
        if tx is not None:
            return [MessageDropped("RFC 2543 request conflicts with a live transaction", source)]
        return self._new_server_transaction(key, stamp_via(request, source), source, now)

    @staticmethod
    def _legacy_tags_match(tx: Transaction, request: SipRequest) -> bool:
        """RFC 2543 matching compares the To tag too: an INVITE's own, or for an ACK the tag
        of the response it acknowledges (§17.2.3)."""
        if not tx.key.branch.startswith(LEGACY_PREFIX):
            return True
        if request.method == "ACK":
            return request.to_tag == tx.response_to_tag
        return request.to_tag == tx.request.to_tag

    def _on_ack_2xx(self, ack: SipRequest, source: Target, now: float) -> list[Action]:
        """An ACK that matched no transaction acknowledges a 2xx (it has its own branch)."""
        ack = stamp_via(ack, source)
        cseq = ack.cseq
        if ack.call_id and ack.from_tag and ack.to_tag and cseq is not None:
            invite_key = self._accepted.get((ack.call_id, ack.from_tag, ack.to_tag, cseq.number))
            tx = None if invite_key is None else self._txs.get(invite_key)
            if tx is not None:
                return self._feed(tx, Input.ACK, now, ack, source)
        policy = self.config.policy
        rejection = None if policy is None else validate_request(ack, policy)
        if rejection is not None:
            return [MessageDropped(f"ACK dropped: {rejection.detail}", source)]
        return [AckReceived(ack, source, None)]

    def _new_server_transaction(
        self, key: TransactionKey, request: SipRequest, source: Target, now: float
    ) -> list[Action]:
        via = request.top_via
        assert via is not None  # server_key found one
        untrusted = not self._trusts(source)
        target = response_target(via, source, trusted=not untrusted)
        config = self.config
        policy = config.policy
        rejection = None if policy is None else validate_request(request, policy)
        method = request.method
        # Everything that can be answered without state is, so no request costs a table entry
        # unless a call (or the TU's answer) needs one: refusals, OPTIONS, a CANCEL for nothing.
        if rejection is not None:
            if not rejection.respond:
                return [MessageDropped(f"{method} dropped: {rejection.detail}", source)]
            return self._stateless(
                request, rejection.status, rejection.detail, target, source, rejection.headers
            )
        if method == "OPTIONS" and config.options_headers is not None:
            return self._stateless(request, 200, "", target, source, config.options_headers)
        if untrusted and method == "INVITE" and not request.to_tag:
            # A stranger's INVITE leaves nothing behind either.
            return self._stateless(request, 403, "source not trusted", target, source)
        cancels = cancelled_key(request) if method == "CANCEL" else None
        if method == "CANCEL" and (cancels is None or cancels not in self._txs):
            return self._stateless(request, 481, "no transaction to cancel", target, source)
        if untrusted and self._untrusted_live.get(source.host, 0) >= (
            config.untrusted_transactions_per_source
        ):
            detail = f"{method} dropped: too many transactions from untrusted {source.host}"
            return [MessageDropped(detail, source)]
        limit = config.max_transactions
        if untrusted or method != "INVITE":
            limit -= config.reserved_transactions  # the rest is kept for the trunk's calls
        if len(self._txs) >= limit:
            detail = f"{len(self._txs)} transactions live, the limit for a {method}"
            retry = (("Retry-After", str(config.retry_after_s)),)
            return self._stateless(request, 503, detail, target, source, retry)

        kind = Kind.INVITE_SERVER if request.method == "INVITE" else Kind.NON_INVITE_SERVER
        tx = Transaction(kind, key, request, target, self.config.timers, source=source)
        if untrusted:
            self._untrusted_live[source.host] = self._untrusted_live.get(source.host, 0) + 1
            self._untrusted_keys[key] = source.host
        tx.cancels = cancels
        self._txs[key] = tx
        return self._feed(tx, Input.REQUEST, now, request, source)

    # --- from the TU ------------------------------------------------------------------------

    def send_request(
        self, request: SipRequest, target: Target, now: float
    ) -> tuple[TransactionKey, list[Action]]:
        """Start a client transaction for `request` (its top Via carries a `new_branch()`)."""
        if request.method == "ACK":
            raise SipLocalError("ACK is not a transaction: use ack_2xx (§17.1.1.3 ACKs are ours)")
        via = request.top_via
        if via is None or not via.rfc3261_branch:
            raise SipLocalError("a request we send needs a top Via with an RFC 3261 branch")
        key = client_key(request)
        assert key is not None
        if key in self._txs:
            raise SipLocalError(f"branch {key.branch} is already in use")
        if len(self._txs) >= self.config.max_transactions:
            raise TransactionTableFull(f"{len(self._txs)} transactions live, the limit")
        kind = Kind.INVITE_CLIENT if request.method == "INVITE" else Kind.NON_INVITE_CLIENT
        tx = Transaction(kind, key, request, target, self.config.timers)
        self._txs[key] = tx
        return key, self._feed(tx, Input.TU_REQUEST, now)

    def respond(self, key: TransactionKey, response: SipResponse, now: float) -> list[Action]:
        """Send the TU's `response` through server transaction `key`."""
        tx = self._txs.get(key)
        if tx is None or not key.server:
            return [MessageDropped(f"no server transaction {key} for a {response.status}")]
        status = response.status
        if status < 200:
            event = Input.TU_1XX
        elif status < 300:
            event = Input.TU_2XX
        else:
            event = Input.TU_3XX_6XX
        if not tx.accepts(event):
            return [MessageDropped(f"{key} in state {tx.state} takes no {status}")]
        if tx.kind is Kind.INVITE_SERVER and event is Input.TU_2XX:
            self._remember_accepted(tx, response)
        return self._feed(tx, event, now, response)

    def _remember_accepted(self, tx: Transaction, response: SipResponse) -> None:
        call_id, from_tag, to_tag, cseq = (
            response.call_id,
            response.from_tag,
            response.to_tag,
            response.cseq,
        )
        if call_id and from_tag and to_tag and cseq is not None:
            tx.accepted_id = (call_id, from_tag, to_tag, cseq.number)
            self._accepted[tx.accepted_id] = tx.key

    def ack_2xx(
        self, invite_key: TransactionKey, ack: SipRequest, target: Target, now: float
    ) -> list[Action]:
        """Send the TU's ACK for a 2xx (built from the dialog, §13.2.2.4) to `target`, and let
        the INVITE client transaction re-send it for each retransmission of that 2xx."""
        if ack.method != "ACK":
            raise SipLocalError(f"ack_2xx needs an ACK, not {ack.method}")
        send = Send(ack, bytes(ack), target, invite_key)
        tx = self._txs.get(invite_key)
        if tx is not None and tx.kind is Kind.INVITE_CLIENT and ack.to_tag:
            tx.acks_2xx[ack.to_tag] = send
        return [send]

    def cancel(
        self, invite_key: TransactionKey, now: float, *, reason: str | None = None
    ) -> list[Action]:
        """CANCEL the INVITE of client transaction `invite_key` (§9.1).

        Sent at once in Proceeding; held back in Calling until a provisional response arrives
        (a CANCEL must not overtake it); nothing to do once a final response came or the
        transaction is gone. The INVITE still ends with its own final response (487, or a 2xx
        that raced the CANCEL: then ACK and BYE). `reason`: an RFC 3326 Reason value.
        """
        tx = self._txs.get(invite_key)
        if tx is None or tx.kind is not Kind.INVITE_CLIENT:
            return []
        if tx.state is State.CALLING:
            tx.cancel_requested, tx.cancel_reason = True, reason
            return []
        if tx.state is State.PROCEEDING:
            return self._send_cancel(tx, now, reason)
        return []

    def _send_cancel(self, invite: Transaction, now: float, reason: str | None) -> list[Action]:
        invite.cancel_requested = False
        cancel = build_cancel(invite.request, reason=reason)
        key = client_key(cancel)
        if key is None or key in self._txs:
            return []  # already cancelled
        tx = Transaction(Kind.NON_INVITE_CLIENT, key, cancel, invite.target, self.config.timers)
        self._txs[key] = tx
        actions = self._feed(tx, Input.TU_REQUEST, now)
        actions += self._feed(invite, Input.CANCEL_SENT, now)
        return actions

    def transport_failed(self, key: TransactionKey, now: float) -> list[Action]:
        """The transport could not send something for `key` (ICMP error, connection refused)."""
        tx = self._txs.get(key)
        return [] if tx is None else self._feed(tx, Input.TRANSPORT_ERROR, now)

    # --- time -------------------------------------------------------------------------------

    def expire(self, now: float) -> list[Action]:
        """Fire every timer due at `now`; call it when the deadline armed from
        `next_deadline()` passes (calling it early or twice is harmless)."""
        actions: list[Action] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            deadline, _, key = heapq.heappop(heap)
            tx = self._txs.get(key)
            if tx is None or tx.next_deadline() != deadline:
                continue  # stale: the transaction ended or re-armed since
            actions += tx.expire(now)
            self._settle(tx, None, now, actions)
        return actions

    # --- bookkeeping ------------------------------------------------------------------------

    def _feed(
        self,
        tx: Transaction,
        event: Input,
        now: float,
        message: SipRequest | SipResponse | None = None,
        source: Target | None = None,
    ) -> list[Action]:
        before = tx.next_deadline()
        actions = tx.handle(event, now, message, source)
        self._settle(tx, before, now, actions)
        return actions

    def _settle(
        self, tx: Transaction, scheduled: float | None, now: float, actions: list[Action]
    ) -> None:
        """After a transaction moved: drop it if it ended, send a CANCEL it was holding back,
        and put its new deadline in the heap unless `scheduled` is already there."""
        if tx.terminated:
            if self._txs.pop(tx.key, None) is not None:
                self._sent_again += tx.sent_again
                self._requests_again += tx.requests_again
            host = self._untrusted_keys.pop(tx.key, None)
            if host is not None:
                left = self._untrusted_live[host] - 1
                if left:
                    self._untrusted_live[host] = left
                else:
                    del self._untrusted_live[host]
            if tx.accepted_id is not None and self._accepted.get(tx.accepted_id) == tx.key:
                del self._accepted[tx.accepted_id]
            actions.append(TransactionTerminated(tx.key))
            return
        if tx.cancel_requested and tx.state is not State.CALLING:
            if tx.state is State.PROCEEDING:
                actions += self._send_cancel(tx, now, tx.cancel_reason)
            tx.cancel_requested = False  # a final response came first: nothing to cancel
        deadline = tx.next_deadline()
        if deadline is not None and deadline != scheduled:
            heapq.heappush(self._heap, (deadline, next(self._order), tx.key))
            if len(self._heap) > 4 * len(self._txs) + 1024:
                self._rebuild_heap()

    def _rebuild_heap(self) -> None:
        self._heap = [
            (deadline, next(self._order), key)
            for key, tx in self._txs.items()
            if (deadline := tx.next_deadline()) is not None
        ]
        heapq.heapify(self._heap)
