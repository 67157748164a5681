"""A live call: its state, its record, and the timers the domain keeps for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from callgate.calls.causes import Cause, HangupBy, disposition_for
from callgate.calls.machine import CallInput, CallState, next_state
from callgate.calls.playout import Playout
from callgate.calls.quality import MediaQuality
from callgate.calls.recording import CallRecording
from callgate.calls.records import CallRecord, Direction, truncate_ms
from callgate.clock import Timer
from callgate.listen.listener import CallListener
from callgate.listen.options import ListenOptions, MachineDetection
from callgate.media.decoder import AudioDecoder


@dataclass(slots=True)
class LiveCall:
    record: CallRecord
    state: CallState
    timers: list[Timer] = field(default_factory=list)
    playout: Playout = field(default_factory=Playout)
    decoders: dict[str, AudioDecoder] = field(default_factory=dict)  # by the client's audioFormat
    clients: int = 0  # application clients attached (Socket.IO room members, the inbound socket)
    grace_timer: Timer | None = None
    drain_deadline: float | None = (
        None  # hang up once playout is idle, or at this time at the latest
    )
    # The last 20 ms frame heard from the far party and the last one sent to it: kept (not
    # measured) per frame, so the console's level meters cost only when they are read.
    heard: bytes = b""
    said: bytes = b""
    quality: MediaQuality | None = None  # from the trunk when the media ended
    client_frames_dropped: int = 0  # audio the application did not read in time
    record_audio: bool = False  # asked for: recorded from the answer on
    recording: CallRecording | None = None  # while the call is connected and recorded
    # Listening (callgate.listen), all opt-in: what was asked, and the listener from the answer on.
    listen: ListenOptions | None = None
    listen_to_all: bool = False  # asked by the call itself: every client gets the events
    machine_detection: MachineDetection | None = None
    listener: CallListener | None = None
    answered_tick: int = 0  # the media tick of the answer: a late listener's timeline starts there
    paused_for_speech: bool = False  # barge-in `pause` holds the playout
    max_duration_s: float | None = None  # POST /pbx/call's maxDurationS; None: the gateway's
    transfer_target: str | None = None  # a blind transfer in progress (callgate.calls.transfer)
    # On hold (callgate.calls.hold): the far party holds us, and/or the application holds it.
    held_by_remote: bool = False
    held_by_us: bool = False

    @classmethod
    def new(
        cls,
        *,
        session_id: str,
        account: str,
        direction: Direction,
        destination: str,
        caller_id: str | None,
        now: datetime,
        node: str,
    ) -> LiveCall:
        now = truncate_ms(now)
        record = CallRecord(
            session_id=session_id,
            account=account,
            direction=direction,
            destination=destination,
            caller_id=caller_id,
            start_time=now,
            answer_time=None,
            end_time=None,
            disposition=None,
            hangup_by=None,
            hangup_cause_code=None,
            created_at=now,
            updated_at=now,
            node=node,
        )
        state = CallState.DIALING if direction == "outbound" else CallState.RINGING
        return cls(record=record, state=state)

    @property
    def session_id(self) -> str:
        return self.record.session_id

    @property
    def account(self) -> str:
        return self.record.account

    @property
    def answered(self) -> bool:
        return self.record.answer_time is not None

    @property
    def ended(self) -> bool:
        return self.state is CallState.ENDED

    def local_party(self) -> HangupBy:
        """Who we (the gateway's application side) are in this call."""
        return HangupBy.CALLER if self.record.direction == "outbound" else HangupBy.CALLEE

    def remote_party(self) -> HangupBy:
        return HangupBy.CALLEE if self.record.direction == "outbound" else HangupBy.CALLER

    def apply(self, event: CallInput, now: datetime) -> bool:
        """Move the state machine; True when the state changed."""
        after = next_state(self.state, event)
        if after is None or after is self.state:
            return False
        self.state = after
        if after is CallState.CONNECTED:
            now = truncate_ms(now)
            self.record = self.record.replace(answer_time=now, updated_at=now)
        return True

    def end(self, now: datetime, cause: Cause, by: HangupBy | None, *, cancelled: bool) -> bool:
        """End the call and close its record; False if it had already ended."""
        if not self.apply(CallInput.END, now):
            return False
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        if self.grace_timer is not None:
            self.grace_timer.cancel()
            self.grace_timer = None
        now = truncate_ms(now)
        answered = self.answered
        self.record = self.record.replace(
            end_time=now,
            updated_at=now,
            disposition=disposition_for(
                answered, cause, cancelled=cancelled and not answered
            ).value,
            hangup_by=by.value if by is not None else None,
            hangup_cause_code=int(cause),
            quality=self.quality,
            client_frames_dropped=self.client_frames_dropped,
        )
        return True
