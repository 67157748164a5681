"""The sans-I/O engine for one inbound call's WebSocket session: ordering rules as one table.

Theory of operation. A connection carries exactly one call and moves through four states:

    AWAITING_CALL --incoming_call--> RINGING --answer--> ANSWERED
          |                             |                   |
          +-----------------------------+-------------------+--hangup (either side)--> ENDED

Every message, whichever side sends it, is looked up in `RULES[(sender, kind)][state]`, which says:
- ACCEPT: legal here; deliver it (received) or put it on the wire (sent), and move to `NEXT_STATE`.
- DUPLICATE: a harmless repeat (a second `answer`, `hangup` after the end). Received: ignored.
  Sent: a no-op, so `answer()` and `hangup()` are idempotent.
- TOO_EARLY: application DTMF before `answer`: there is no media path to play a tone on yet.
  Received by the gateway: ignored. Sent by the application: refused with `CallStateError`, so the
  developer learns to answer first instead of losing the digit silently. (Application *audio* before
  `answer` is accepted: the gateway keeps it and plays it from the answer, so a greeting can be queued
  while the call rings and start without a gap.)
- AFTER_END: anything after the call ended. Received: ignored (in-flight messages cross a hangup).
  Sent: refused with `CallEnded`.
- VIOLATION: out of order (audio before `incoming_call`, a second `incoming_call`). Received: the
  peer's fault; before the call exists it closes the connection, afterwards the message is dropped.

Errors in received messages (malformed JSON, invalid digits, ...) are dropped too, but each one counts,
and the `max_violations`-th closes the connection: a peer that keeps sending garbage is broken. Messages
over the size limit always close (1009), as the WebSocket library does for the largest ones. Unknown
events are ignored without counting, so a newer peer with additions still works.

The engine never reads a clock: it is given `now` and exposes `deadline` (an `incoming_call` that never
comes, or an `answer` that never comes on the gateway side), and `check_deadline(now)` says when it passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto
from typing import Final, Literal, cast

from callgate.inbound.protocol import (
    MAX_AUDIO_CHUNK_BYTES,
    Answer,
    AppClear,
    AppDtmf,
    AppHangup,
    AppMessage,
    AppResume,
    AudioFrame,
    CallerDtmf,
    CallerHangup,
    CallerHeard,
    CloseCode,
    GatewayMessage,
    IncomingCall,
    ProtocolError,
    UnknownEventError,
    check_audio,
    decode_app_message,
    decode_gateway_message,
    encode,
)

DEFAULT_MAX_VIOLATIONS: Final = 10


class SessionState(Enum):
    AWAITING_CALL = auto()
    RINGING = auto()
    ANSWERED = auto()
    ENDED = auto()


class Rule(Enum):
    ACCEPT = auto()
    DUPLICATE = auto()
    TOO_EARLY = auto()
    AFTER_END = auto()
    VIOLATION = auto()


Sender = Literal["gateway", "app"]
Kind = Literal["incoming_call", "audio", "dtmf", "hangup", "answer", "clear", "heard", "resume"]

_A, _D, _E, _X, _V = Rule.ACCEPT, Rule.DUPLICATE, Rule.TOO_EARLY, Rule.AFTER_END, Rule.VIOLATION
_AWAIT, _RING, _UP, _END = (
    SessionState.AWAITING_CALL,
    SessionState.RINGING,
    SessionState.ANSWERED,
    SessionState.ENDED,
)

RULES: Final[dict[tuple[Sender, Kind], dict[SessionState, Rule]]] = {
    # What the gateway sends.
    ("gateway", "incoming_call"): {_AWAIT: _A, _RING: _V, _UP: _V, _END: _X},
    ("gateway", "audio"): {_AWAIT: _V, _RING: _A, _UP: _A, _END: _X},
    ("gateway", "dtmf"): {_AWAIT: _V, _RING: _A, _UP: _A, _END: _X},
    ("gateway", "hangup"): {_AWAIT: _A, _RING: _A, _UP: _A, _END: _D},
    ("gateway", "heard"): {_AWAIT: _V, _RING: _V, _UP: _A, _END: _X},  # an addition (protocol.py)
    # What the application sends.
    ("app", "answer"): {_AWAIT: _V, _RING: _A, _UP: _D, _END: _X},
    ("app", "audio"): {_AWAIT: _V, _RING: _A, _UP: _A, _END: _X},
    ("app", "dtmf"): {_AWAIT: _V, _RING: _E, _UP: _A, _END: _X},
    ("app", "hangup"): {_AWAIT: _A, _RING: _A, _UP: _A, _END: _D},
    ("app", "clear"): {_AWAIT: _V, _RING: _A, _UP: _A, _END: _X},  # an addition (protocol.py)
    ("app", "resume"): {_AWAIT: _V, _RING: _A, _UP: _A, _END: _X},  # an addition (protocol.py)
}
"""The whole ordering contract: (sender, message kind) → state → rule."""

NEXT_STATE: Final[dict[Kind, SessionState]] = {
    "incoming_call": _RING,
    "answer": _UP,
    "hangup": _END,
}
"""Where an accepted message moves the session; kinds not listed leave the state alone."""


class CallStateError(Exception):
    """The local side tried something the call's state does not allow: our fault, not the peer's."""


class CallEnded(CallStateError):
    """The call is over (either side hung up, or the connection went away); nothing more can be sent."""


@dataclass(frozen=True, slots=True)
class Ignored:
    """A received message that was dropped on purpose; `reason` is for the log.

    `notable`: worth a warning (an unknown event, DTMF before answer), not routine (a message that
    crossed a hangup, a repeat).
    """

    reason: str
    notable: bool = False


@dataclass(frozen=True, slots=True)
class Violation:
    """The peer broke the protocol. `fatal`: close the connection with `error.close_code`."""

    error: ProtocolError
    fatal: bool


NOT_UTF8: Final = Violation(
    ProtocolError("a text message is not valid UTF-8", CloseCode.INVALID_DATA), fatal=True
)
"""RFC 6455 §8.1: an endpoint fails the connection (1007) on a text message that is not UTF-8."""


def _kind(message: GatewayMessage | AppMessage | AudioFrame) -> Kind:
    match message:
        case IncomingCall():
            return "incoming_call"
        case AudioFrame():
            return "audio"
        case CallerDtmf() | AppDtmf():
            return "dtmf"
        case CallerHangup() | AppHangup():
            return "hangup"
        case Answer():
            return "answer"
        case AppClear():
            return "clear"
        case AppResume():
            return "resume"
        case CallerHeard():
            return "heard"
    raise TypeError(f"not an inbound protocol message: {message!r}")


class _Session:
    """The part both ends share: state, the table lookup, counters and the deadline."""

    local: Sender
    peer: Sender
    _peer_name: str
    _whole_samples_in = True
    """Whether received audio must be whole PCM16 samples (see `check_audio`)."""

    def __init__(self, now: float, max_violations: int) -> None:
        if max_violations < 1:
            raise ValueError("max_violations must be at least 1")
        self.state = SessionState.AWAITING_CALL
        self.max_violations = max_violations
        self.violations = 0
        """Protocol errors received from the peer so far."""
        self.ignored = 0
        """Received messages dropped on purpose (late, duplicate, unknown, too early)."""
        self._state_since = now

    @property
    def deadline(self) -> float | None:
        """When the current state times out (`check_deadline`), or None if it cannot."""
        return None

    def check_deadline(self, now: float) -> Violation | None:
        """A fatal violation if the deadline has passed at `now`; the session then counts as ended."""
        deadline = self.deadline
        if deadline is None or now < deadline:
            return None
        error = ProtocolError(self._timeout_message(), CloseCode.POLICY_VIOLATION)
        self._move(SessionState.ENDED, now)
        return Violation(error, fatal=True)

    def end(self, now: float) -> None:
        """The connection is closing or closed: the call is over, whatever the state was."""
        self._move(SessionState.ENDED, now)

    def _timeout_message(self) -> str:
        raise NotImplementedError

    def _move(self, state: SessionState, now: float) -> None:
        if state is not self.state:
            self.state = state
            self._state_since = now

    def _violation(self, error: ProtocolError) -> Violation:
        self.violations += 1
        fatal = (
            self.state is SessionState.AWAITING_CALL
            or error.close_code is CloseCode.TOO_BIG
            or self.violations >= self.max_violations
        )
        if fatal:
            self.state = SessionState.ENDED
        return Violation(error, fatal)

    def _ignore(self, reason: str, *, notable: bool = False) -> Ignored:
        self.ignored += 1
        return Ignored(reason, notable)

    def _receive_rule(
        self, message: GatewayMessage | AppMessage | AudioFrame, now: float
    ) -> Ignored | Violation | None:
        """Apply the table to a received message: None means deliver it."""
        kind = _kind(message)
        rule = RULES[(self.peer, kind)][self.state]
        if rule is Rule.ACCEPT:
            self._move(NEXT_STATE.get(kind, self.state), now)
            return None
        if rule is Rule.VIOLATION:
            return self._violation(
                ProtocolError(
                    f"{self._peer_name} sent {kind} in state {self.state.name.lower()}",
                    CloseCode.POLICY_VIOLATION,
                )
            )
        if rule is Rule.TOO_EARLY:
            return self._ignore(
                f"{self._peer_name} sent {kind} before answer: dropped", notable=True
            )
        if rule is Rule.AFTER_END:
            return self._ignore(f"{self._peer_name} sent {kind} after the call ended")
        return self._ignore(f"{self._peer_name} repeated {kind}")

    def _receive_decoded(
        self, data: str | bytes, now: float
    ) -> GatewayMessage | AppMessage | AudioFrame | Ignored | Violation:
        # The hot path, 50 times a second per call: audio that the table accepts as it stands.
        # Anything else (a wrong size, a state that refuses audio) takes the general path below.
        if (
            not isinstance(data, str)
            and 0 < len(data) <= MAX_AUDIO_CHUNK_BYTES
            and (not len(data) % 2 or not self._whole_samples_in)
            and RULES[(self.peer, "audio")][self.state] is Rule.ACCEPT
        ):
            return AudioFrame(data)
        if self.state is SessionState.ENDED:
            # Nothing after the end matters, valid or not: don't even parse it.
            return self._ignore(f"{self._peer_name} sent a message after the call ended")
        message: GatewayMessage | AppMessage | AudioFrame
        try:
            if isinstance(data, str):
                message = self._decode(data)
            else:
                check_audio(data, self._peer_name, whole_samples=self._whole_samples_in)
                if not data:
                    return self._ignore(f"{self._peer_name} sent an empty audio message")
                message = AudioFrame(data)
        except UnknownEventError as exc:
            return self._ignore(f"{exc.message}: ignored", notable=True)
        except ProtocolError as exc:
            return self._violation(exc)
        outcome = self._receive_rule(message, now)
        return message if outcome is None else outcome

    def _decode(self, text: str) -> GatewayMessage | AppMessage:
        raise NotImplementedError

    def _send_rule(self, kind: Kind, now: float) -> bool:
        """Apply the table to a message the local side wants to send: True means send it."""
        rule = RULES[(self.local, kind)][self.state]
        if rule is Rule.ACCEPT and kind == "audio":
            return True  # audio never moves the state: the hot path stops here
        if rule is Rule.ACCEPT:
            self._move(NEXT_STATE.get(kind, self.state), now)
            return True
        if rule is Rule.DUPLICATE:
            return False
        if rule is Rule.AFTER_END:
            raise CallEnded(f"cannot send {kind}: the call has ended")
        if rule is Rule.TOO_EARLY:
            raise CallStateError(f"cannot send {kind} before the call is answered: answer() first")
        raise CallStateError(f"cannot send {kind} in state {self.state.name.lower()}")


class AppSession(_Session):
    """The application's end: receives what the gateway sends, checks what the application sends.

    `incoming_call_timeout_s`: how long after the connection opens the `incoming_call` may take (the
    spec's own flow waits 5 s); None waits forever.
    """

    local: Sender = "app"
    peer: Sender = "gateway"
    _peer_name = "gateway"

    def __init__(
        self,
        now: float,
        *,
        incoming_call_timeout_s: float | None = 30.0,
        max_violations: int = DEFAULT_MAX_VIOLATIONS,
    ) -> None:
        super().__init__(now, max_violations)
        self.incoming_call_timeout_s = incoming_call_timeout_s
        self.incoming: IncomingCall | None = None

    @property
    def deadline(self) -> float | None:
        if self.state is SessionState.AWAITING_CALL and self.incoming_call_timeout_s is not None:
            return self._state_since + self.incoming_call_timeout_s
        return None

    def _timeout_message(self) -> str:
        return f"the gateway sent no incoming_call within {self.incoming_call_timeout_s:g} s"

    def _decode(self, text: str) -> GatewayMessage:
        return decode_gateway_message(text)

    def receive(
        self, data: str | bytes, now: float
    ) -> IncomingCall | CallerDtmf | CallerHangup | CallerHeard | AudioFrame | Ignored | Violation:
        """One WebSocket message from the gateway (text: JSON; bytes: audio) → what to do with it."""
        outcome = self._receive_decoded(data, now)
        if isinstance(outcome, IncomingCall):
            self.incoming = outcome
        # _decode is decode_gateway_message here, so no application message can come out.
        return cast(
            IncomingCall
            | CallerDtmf
            | CallerHangup
            | CallerHeard
            | AudioFrame
            | Ignored
            | Violation,
            outcome,
        )

    def send(self, message: AppMessage, now: float) -> str | None:
        """The JSON text to send for `message`, or None when it is a no-op (a repeat).

        Raises `CallStateError` (or its subclass `CallEnded`) when the call's state forbids it.
        """
        return encode(message) if self._send_rule(_kind(message), now) else None

    def send_audio(self, now: float) -> None:
        """Check that audio may be sent now; raises like `send`. The bytes go out unchanged."""
        self._send_rule("audio", now)


class GatewaySession(_Session):
    """The gateway's end: receives what the application sends, checks what the gateway sends.

    `answer_timeout_s`: how long after `incoming_call` the application may take to answer; None (the
    default) waits forever, leaving ring timeouts to the call domain.
    """

    local: Sender = "gateway"
    peer: Sender = "app"
    _peer_name = "application"
    _whole_samples_in = False  # an app's audio may be cut anywhere: chunks of any size

    def __init__(
        self,
        now: float,
        *,
        answer_timeout_s: float | None = None,
        max_violations: int = DEFAULT_MAX_VIOLATIONS,
    ) -> None:
        super().__init__(now, max_violations)
        self.answer_timeout_s = answer_timeout_s

    @property
    def deadline(self) -> float | None:
        if self.state is SessionState.RINGING and self.answer_timeout_s is not None:
            return self._state_since + self.answer_timeout_s
        return None

    def _timeout_message(self) -> str:
        return f"the application did not answer within {self.answer_timeout_s:g} s"

    def _decode(self, text: str) -> AppMessage:
        return decode_app_message(text)

    def receive(
        self, data: str | bytes, now: float
    ) -> Answer | AppDtmf | AppHangup | AppClear | AppResume | AudioFrame | Ignored | Violation:
        """One WebSocket message from the application (text: JSON; bytes: audio) → what to do."""
        outcome = self._receive_decoded(data, now)
        # _decode is decode_app_message here, so no gateway message can come out.
        return cast(
            Answer | AppDtmf | AppHangup | AppClear | AppResume | AudioFrame | Ignored | Violation,
            outcome,
        )

    def send(self, message: GatewayMessage, now: float) -> str | None:
        """The JSON text to send for `message`, or None when it is a no-op (a repeat).

        Raises `CallStateError` (or its subclass `CallEnded`) when the call's state forbids it.
        """
        return encode(message) if self._send_rule(_kind(message), now) else None

    def send_audio(self, now: float) -> None:
        """Check that caller audio may be sent now; raises like `send`."""
        self._send_rule("audio", now)
