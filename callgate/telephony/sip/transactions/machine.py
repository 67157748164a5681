"""One transaction: executes the rows of tables.py against its own timers and messages.

`Transaction.handle(input, now, message)` looks the (state, input) pair up, moves to the row's
state, cancels timers the new state does not allow, and carries out the row's effects: sends,
events for the TU, timer arming. Timers live in a small dict of deadlines; `next_deadline()` is
their minimum and `expire(now)` feeds every due timer in deadline order. A timer whose duration
is zero fires inside the same call. Nothing here reads a clock or touches a socket.
"""

from __future__ import annotations

from collections import deque

from ..message import SipRequest, SipResponse
from ..timers import SipTimers
from .events import (
    AckReceived,
    Action,
    RequestReceived,
    ResponseReceived,
    Send,
    Target,
    TransactionKey,
    TransactionTimeout,
    TransportFailed,
)
from .requests import build_non2xx_ack, build_trying
from .tables import (
    TABLES,
    TIMER_INPUT,
    TIMERS_IN_STATE,
    Arm,
    Backoff,
    Disarm,
    Do,
    Input,
    Kind,
    State,
    TimerName,
)

__all__ = ["Transaction"]

_NO_TIMERS: frozenset[TimerName] = frozenset()
_REPORTED_TIMER = {
    Input.TIMER_B: "B",
    Input.TIMER_F: "F",
    Input.TIMER_H: "H",
    Input.TIMER_L: "L",
    Input.TIMER_CANCEL: "CANCEL",
    Input.TIMER_GUARD: "GUARD",
}


class Transaction:
    """The state of one transaction of any `Kind`, driven only through `handle` and `expire`."""

    __slots__ = (
        "_intervals",
        "_pending",
        "_table",
        "_timers",
        "accepted_id",
        "ack_data",
        "acks_2xx",
        "cancel_reason",
        "cancel_requested",
        "cancels",
        "key",
        "kind",
        "last_response",
        "request",
        "request_data",
        "requests_again",
        "response_to_tag",
        "seen_2xx_tags",
        "sent_again",
        "source",
        "state",
        "target",
        "timers",
    )

    def __init__(
        self,
        kind: Kind,
        key: TransactionKey,
        request: SipRequest,
        target: Target,
        timers: SipTimers,
        *,
        source: Target | None = None,
    ) -> None:
        self.kind = kind
        self.key = key
        self.request = request
        client = kind in (Kind.INVITE_CLIENT, Kind.NON_INVITE_CLIENT)
        self.request_data = bytes(request) if client else b""
        # Client: where requests go. Server: where responses go (§18.2.2).
        self.target = target
        self.source = source or target  # server: where the request came from
        self.timers = timers
        self.state = State.INIT
        self.last_response: Send | None = None
        self.response_to_tag: str | None = None  # the To tag of our final response (server)
        self.ack_data: Send | None = None  # the ACK for a non-2xx, built once
        self.acks_2xx: dict[str, Send] = {}  # To tag -> the TU's ACK for that 2xx
        self.seen_2xx_tags: set[str] = set()
        self.cancels: TransactionKey | None = None  # CANCEL server: the INVITE it matches
        # INVITE client: a CANCEL asked for while Calling waits for a provisional (§9.1).
        self.cancel_requested = False
        self.cancel_reason: str | None = None
        # Messages sent again: by our retransmission timers (A, E, G, 2XX), and in answer to
        # the peer's retransmitted requests (a sign of loss on the way back to it).
        self.sent_again = 0
        self.requests_again = 0
        # INVITE server that sent a 2xx: (Call-ID, From tag, To tag, CSeq) its ACK will carry.
        self.accepted_id: tuple[str, str, str, int] | None = None
        self._table = TABLES[kind]
        self._timers: dict[TimerName, float] = {}
        self._intervals: dict[TimerName, float] = {}
        self._pending: deque[Input] = deque()

    # --- driving ---------------------------------------------------------------------------

    def handle(
        self,
        event: Input,
        now: float,
        message: SipRequest | SipResponse | None = None,
        source: Target | None = None,
    ) -> list[Action]:
        """Feed one input; return what to send and report. Inputs without a row are absorbed.

        `message` is the response or request the input stands for; `source` where it came from.
        """
        actions: list[Action] = []
        self._step(event, now, message, source, actions)
        while self._pending and self.state is not State.TERMINATED:
            self._step(self._pending.popleft(), now, None, None, actions)
        self._pending.clear()
        return actions

    def expire(self, now: float) -> list[Action]:
        """Fire every timer due at `now`, earliest first."""
        actions: list[Action] = []
        while self.state is not State.TERMINATED:
            due = [(deadline, timer) for timer, deadline in self._timers.items() if deadline <= now]
            if not due:
                break
            _, timer = min(due)
            del self._timers[timer]
            actions += self.handle(TIMER_INPUT[timer], now)
        return actions

    def next_deadline(self) -> float | None:
        return min(self._timers.values()) if self._timers else None

    @property
    def armed(self) -> dict[TimerName, float]:
        """The running timers and their deadlines (a copy)."""
        return dict(self._timers)

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    def accepts(self, event: Input) -> bool:
        """True when the current state has a row for `event` (for callers that must know)."""
        return event in self._table.get(self.state, {})

    # --- the executor ----------------------------------------------------------------------

    def _step(
        self,
        event: Input,
        now: float,
        message: SipRequest | SipResponse | None,
        source: Target | None,
        actions: list[Action],
    ) -> None:
        row = self._table.get(self.state, {}).get(event)
        if row is None:
            return
        self.state = row.next
        allowed = TIMERS_IN_STATE[self.kind].get(row.next, _NO_TIMERS)
        for timer in [t for t in self._timers if t not in allowed]:
            del self._timers[timer]
        for effect in row.effects:
            if isinstance(effect, Arm):
                self._arm(effect, now)
            elif isinstance(effect, Disarm):
                self._timers.pop(effect.timer, None)
            else:
                self._do(effect, event, message, source, actions)

    def _do(
        self,
        effect: Do,
        event: Input,
        message: SipRequest | SipResponse | None,
        source: Target | None,
        actions: list[Action],
    ) -> None:
        if effect is Do.SEND_REQUEST:
            if event in (Input.TIMER_A, Input.TIMER_E):
                self.sent_again += 1
            actions.append(Send(self.request, self.request_data, self.target, self.key))
        elif effect is Do.PASS_RESPONSE:
            assert isinstance(message, SipResponse)
            if self.kind is Kind.INVITE_CLIENT and 200 <= message.status < 300 and message.to_tag:
                self.seen_2xx_tags.add(message.to_tag)
            actions.append(ResponseReceived(self.key, message))
        elif effect is Do.SEND_ACK:
            if self.ack_data is None:
                assert isinstance(message, SipResponse)
                ack = build_non2xx_ack(self.request, message)
                self.ack_data = Send(ack, bytes(ack), self.target, self.key)
            actions.append(self.ack_data)
        elif effect is Do.SEND_ACK_2XX:
            assert isinstance(message, SipResponse)
            assert message.to_tag is not None
            actions.append(self.acks_2xx[message.to_tag])
        elif effect is Do.SEND_RESPONSE:
            assert isinstance(message, SipResponse)
            self.last_response = Send(message, bytes(message), self.target, self.key)
            if message.status >= 200:
                self.response_to_tag = message.to_tag
            actions.append(self.last_response)
        elif effect is Do.RESEND_RESPONSE:
            if event is Input.REQUEST_AGAIN:
                self.requests_again += 1
            elif self.last_response is not None:
                self.sent_again += 1
            if self.last_response is not None:
                actions.append(self.last_response)
        elif effect is Do.SEND_TRYING:
            trying = build_trying(self.request)
            self.last_response = Send(trying, bytes(trying), self.target, self.key)
            actions.append(self.last_response)
        elif effect is Do.PASS_REQUEST:
            actions.append(RequestReceived(self.key, self.request, self.source, self.cancels))
        elif effect is Do.PASS_ACK:
            assert isinstance(message, SipRequest)
            actions.append(AckReceived(message, source or self.source, self.key))
        elif effect is Do.REPORT_TIMEOUT:
            actions.append(TransactionTimeout(self.key, _REPORTED_TIMER[event]))
        elif effect is Do.REPORT_TRANSPORT_ERROR:
            actions.append(TransportFailed(self.key))

    def _arm(self, arm: Arm, now: float) -> None:
        timer = arm.timer
        if arm.backoff is Backoff.INITIAL:
            interval = self._initial(timer)
        elif arm.backoff is Backoff.DOUBLE:
            interval = 2 * self._intervals[timer]
        elif arm.backoff is Backoff.DOUBLE_TO_T2:
            interval = min(2 * self._intervals[timer], self.timers.t2_s)
        else:
            interval = self.timers.t2_s
        if interval is None:
            return
        self._intervals[timer] = interval
        if interval == 0:
            self._pending.append(TIMER_INPUT[timer])
        else:
            self._timers[timer] = now + interval

    def _initial(self, timer: TimerName) -> float | None:
        """A timer's first duration (RFC 3261 Table 4; RFC 6026); None: not used here."""
        timers = self.timers
        reliable = self.target.reliable
        if timer in (TimerName.A, TimerName.E, TimerName.G):
            return None if reliable else timers.t1_s
        if timer is TimerName.D:
            return 0.0 if reliable else timers.timer_d_s
        if timer in (TimerName.I, TimerName.K):
            return 0.0 if reliable else timers.t4_s
        if timer is TimerName.J:
            return 0.0 if reliable else timers.transaction_timeout_s
        if timer is TimerName.TRYING:
            return timers.trying_s
        if timer is TimerName.RETRANSMIT_2XX:
            return timers.t1_s  # on every transport: the ACK is end to end (§13.3.1.4)
        return timers.transaction_timeout_s  # B, F, H, L, M, CANCEL, GUARD
