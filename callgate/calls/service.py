"""The call service: the registry of live calls and the one place calls change state.

API surfaces call its commands (`place_call`, `hangup`, `send_dtmf`); the trunk feeds it `TrunkEvent`s.
Every change is recorded through the `Recorder` and announced on the `EventBus`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from callgate.calls.bus import EventBus
from callgate.calls.call import Call
from callgate.calls.causes import Cause, HangupBy, normalize_cause
from callgate.calls.events import (
    AudioReceived,
    CallCreated,
    CallEnded,
    DialStatus,
    DialStatusChanged,
    DtmfReceived,
)
from callgate.calls.ids import new_session_id
from callgate.calls.machine import CallInput, CallState
from callgate.calls.recorder import Recorder
from callgate.calls.records import Direction
from callgate.calls.trunk import (
    Trunk,
    TrunkAnswered,
    TrunkAudio,
    TrunkDtmf,
    TrunkEvent,
    TrunkHangup,
    TrunkIncomingCall,
    TrunkRinging,
)
from callgate.clock import Clock

log = logging.getLogger(__name__)

DTMF_DIGITS = frozenset("0123456789*#ABCD")
MAX_DTMF_MS = 1000


@dataclass(frozen=True, slots=True)
class CallSettings:
    ring_timeout_s: float = 60.0
    max_call_duration_s: float = 4 * 3600.0
    node: str = "callgate"


class CallNotFound(LookupError):
    """No live call with that id for that account (unknown, ended, or another account's)."""


class CallService:
    def __init__(
        self, trunk: Trunk, clock: Clock, bus: EventBus, recorder: Recorder, settings: CallSettings
    ) -> None:
        self.trunk = trunk
        self.clock = clock
        self.bus = bus
        self.recorder = recorder
        self.settings = settings
        self._calls: dict[str, Call] = {}
        self.on_incoming: Callable[[TrunkIncomingCall], None] | None = None

    async def start(self) -> None:
        await self.trunk.start(self.handle_trunk_event)

    async def stop(self) -> None:
        """End every live call (network-side clearing, nobody hung up), then stop the trunk."""
        for call in list(self._calls.values()):
            self.trunk.hangup(call.session_id, int(Cause.NORMAL_CLEARING))
            self._end(call, Cause.NORMAL_CLEARING, None, cancelled=not call.answered)
        await self.trunk.stop()

    # --- queries -------------------------------------------------------------------------------

    def live(self, account: str) -> list[Call]:
        return [call for call in self._calls.values() if call.account == account]

    def find(self, account: str, session_id: str) -> Call:
        call = self._calls.get(session_id)
        if call is None or call.account != account or call.ended:
            raise CallNotFound(session_id)
        return call

    def count_live(self, account: str) -> int:
        return sum(1 for call in self._calls.values() if call.account == account)

    @property
    def calls(self) -> Iterable[Call]:
        return self._calls.values()

    # --- commands ------------------------------------------------------------------------------

    async def place_call(
        self, account: str, destination: str, caller_id: str | None = None
    ) -> Call:
        """Record the call durably, then dial it. Raises if the record cannot be written."""
        call = self._new_call(account, "outbound", destination, caller_id)
        await self.recorder.submit(call.record)
        self._calls[call.session_id] = call
        self.bus.publish(CallCreated(call.session_id, account, "outbound", destination, caller_id))
        self._publish_status(call, "Dialing")
        call.timers.append(
            self.clock.call_later(self.settings.ring_timeout_s, lambda: self._ring_timeout(call))
        )
        self.trunk.dial(call.session_id, destination, caller_id)
        return call

    def hangup(self, account: str, session_id: str) -> Call:
        """The application side ends the call: a cancel before answer, a hangup after."""
        call = self.find(account, session_id)
        self.trunk.hangup(session_id, int(Cause.NORMAL_CLEARING))
        self._end(call, Cause.NORMAL_CLEARING, call.local_party(), cancelled=not call.answered)
        return call

    def send_dtmf(self, account: str, session_id: str, digit: str, duration_ms: int) -> None:
        if digit not in DTMF_DIGITS:
            raise ValueError(f"invalid DTMF digit {digit!r}: use 0-9, *, #, A-D")
        if not 0 < duration_ms <= MAX_DTMF_MS:
            raise ValueError(f"DTMF duration must be 1..{MAX_DTMF_MS} ms, got {duration_ms}")
        call = self.find(account, session_id)
        if call.state is not CallState.CONNECTED:
            raise ValueError("DTMF can be sent only once the call is connected")
        self.trunk.send_dtmf(session_id, digit, duration_ms)

    def send_audio(self, call: Call, frame: bytes) -> None:
        if call.state is CallState.CONNECTED:
            self.trunk.send_audio(call.session_id, frame)

    def answer_inbound(self, call: Call) -> None:
        if call.state is CallState.RINGING and call.record.direction == "inbound":
            self.trunk.answer(call.session_id)
            self._answered(call)

    async def register_inbound(self, event: TrunkIncomingCall, account: str) -> Call:
        """Record an offered inbound call and make it live (Ringing) for `account`."""
        call = self._new_call(
            account, "inbound", event.did_number, event.caller_id, event.session_id
        )
        await self.recorder.submit(call.record)
        self._calls[call.session_id] = call
        self.bus.publish(
            CallCreated(call.session_id, account, "inbound", event.did_number, event.caller_id)
        )
        self._publish_status(call, "Ringing")
        return call

    # --- trunk events --------------------------------------------------------------------------

    def handle_trunk_event(self, event: TrunkEvent) -> None:
        if isinstance(event, TrunkIncomingCall):
            if self.on_incoming is None:
                log.warning("inbound call %s refused: no inbound route", event.session_id)
                self.trunk.hangup(event.session_id, int(Cause.BEARER_NOT_IMPLEMENTED))
            else:
                self.on_incoming(event)
            return
        call = self._calls.get(event.session_id)
        if call is None or call.ended:
            return  # late event for a call that is over
        match event:
            case TrunkAudio(frame=frame):
                self.bus.publish(AudioReceived(call.session_id, call.account, frame))
            case TrunkDtmf(digit=digit):
                self.bus.publish(DtmfReceived(call.session_id, call.account, digit))
            case TrunkRinging():
                if call.apply(CallInput.RING, self.clock.utcnow()):
                    self._publish_status(call, "Ringing")
            case TrunkAnswered():
                self._answered(call)
            case TrunkHangup(cause=cause, by_remote=by_remote):
                by = call.remote_party() if by_remote and call.answered else None
                self._end(call, normalize_cause(cause), by, cancelled=False)

    # --- internals -----------------------------------------------------------------------------

    def _new_call(
        self,
        account: str,
        direction: Direction,
        destination: str,
        caller_id: str | None,
        session_id: str | None = None,
    ) -> Call:
        return Call.new(
            session_id=session_id or new_session_id(),
            account=account,
            direction=direction,
            destination=destination,
            caller_id=caller_id,
            now=self.clock.utcnow(),
            node=self.settings.node,
        )

    def _answered(self, call: Call) -> None:
        if not call.apply(CallInput.ANSWER, self.clock.utcnow()):
            return
        for timer in call.timers:  # the ring timeout
            timer.cancel()
        call.timers = [
            self.clock.call_later(self.settings.max_call_duration_s, lambda: self._too_long(call))
        ]
        self.recorder.submit(call.record)
        self._publish_status(call, "Connected")

    def _ring_timeout(self, call: Call) -> None:
        if call.ended or call.answered:
            return
        self.trunk.hangup(call.session_id, int(Cause.NO_ANSWER))
        self._end(call, Cause.NO_ANSWER, None, cancelled=False)

    def _too_long(self, call: Call) -> None:
        if call.ended:
            return
        log.info("call %s reached the maximum duration; hanging up", call.session_id)
        self.trunk.hangup(call.session_id, int(Cause.NORMAL_CLEARING))
        self._end(call, Cause.NORMAL_CLEARING, None, cancelled=False)

    def _end(self, call: Call, cause: Cause, by: HangupBy | None, *, cancelled: bool) -> None:
        if not call.end(self.clock.utcnow(), cause, by, cancelled=cancelled):
            return
        self._calls.pop(call.session_id, None)
        self.recorder.submit(call.record)
        if not call.answered and cause in (Cause.USER_BUSY, Cause.CALL_REJECTED):
            self._publish_status(call, "Busy")
        self.bus.publish(CallEnded(call.session_id, call.account, call.record))

    def _publish_status(self, call: Call, status: DialStatus) -> None:
        self.bus.publish(DialStatusChanged(call.session_id, call.account, status))
