"""The simulated carrier: a `Trunk` whose far ends are scripted callees, in real time on the shared clock.

Each call follows its `CalleeScript`: ring, then answer or reject; once connected the callee sends one
20 ms PCM16 frame per media tick (an echo of the caller's previous frame, a tone, or silence), presses
its scripted digits, echoes back digits it hears, and hangs up when its script says so.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from callgate.calls.causes import Cause
from callgate.calls.ids import new_session_id
from callgate.calls.quality import MediaQuality
from callgate.calls.trunk import (
    TrunkAnswered,
    TrunkAudio,
    TrunkDtmf,
    TrunkEvent,
    TrunkHangup,
    TrunkIncomingCall,
    TrunkListener,
    TrunkMediaQuality,
    TrunkRinging,
)
from callgate.clock import Clock, MediaTicker, TickPhase, Timer
from callgate.media.pcm import FRAME_BYTES, SILENCE_FRAME
from callgate.media.signals import sine_pcm16, speech_like_pcm16
from callgate.telephony.simulated.link import SimulatedLink
from callgate.telephony.simulated.scripts import (
    DEFAULT_SCRIPTS,
    CalleeScript,
    CallerScript,
    choose,
    played_frames,
    wav_frames,
)

log = logging.getLogger(__name__)

ECHO_BACKLOG_FRAMES = 5  # frames the echo may trail the caller by before the oldest is dropped


def _tone_loop(freq_hz: float, level_dbfs: float = -12.0) -> list[bytes]:
    """One second of a sine as 50 frames; for whole-hertz tones the loop is phase-continuous."""
    samples = sine_pcm16(freq_hz, 1.0, level_dbfs=level_dbfs)
    return [samples[i : i + FRAME_BYTES] for i in range(0, len(samples), FRAME_BYTES)]


def _with_echo(frame: bytes, echo: bytes, gain: float) -> bytes:
    if echo is SILENCE_FRAME:
        return frame
    mixed = np.frombuffer(frame, dtype="<i2") + np.frombuffer(echo, dtype="<i2") * gain
    return np.clip(mixed, -32768, 32767).astype("<i2").tobytes()


RECORD_MAX_S = 120.0
MAX_RECORDINGS = 1000
_SPEECH_LOOP: list[bytes] = []


def _speech_loop() -> list[bytes]:
    """Ten seconds of a speech-like signal as frames, made once and shared by every simulated caller."""
    if not _SPEECH_LOOP:
        samples = speech_like_pcm16(10.0, seed=7)
        _SPEECH_LOOP.extend(
            samples[i : i + FRAME_BYTES] for i in range(0, len(samples), FRAME_BYTES)
        )
    return _SPEECH_LOOP


def caller_speech_pcm16() -> bytes:
    """What every simulated caller with `audio = "speech"` says, from its answer on (10 s, looped)."""
    return b"".join(_speech_loop())


@dataclass(slots=True)
class Recording:
    """What a simulated inbound caller heard: audio (PCM16, 8 kHz) and DTMF digits, and when each
    audio frame arrived (the clock's monotonic seconds), so frame timing can be measured where a
    caller would notice it."""

    audio: bytearray = field(default_factory=bytearray)
    dtmf: list[str] = field(default_factory=list)
    frame_times: list[float] = field(default_factory=list)


@dataclass(slots=True)
class _SimCall:
    session_id: str
    script: CalleeScript | CallerScript
    connected: bool = False
    inbound: bool = False
    recording: Recording | None = None
    timers: list[Timer] = field(default_factory=list)
    # (tick it arrived on, frame): echoed on a later tick, so the echo trails by exactly one frame
    # (the call service's playout runs before the carrier within a tick: TickPhase).
    heard: deque[tuple[int, bytes]] = field(
        default_factory=lambda: deque(maxlen=ECHO_BACKLOG_FRAMES)
    )
    tone: list[bytes] | None = None
    tone_index: int = 0
    once: bool = False  # `tone` is a `play` file: sent once, then silence
    early: bool = False  # `tone` is early media, sent while ringing
    # The line echo (CalleeScript.echo_return_db): frames heard, waiting to come back.
    echo_line: deque[bytes] | None = None
    echo_gain: float = 0.0
    dtmf_heard: list[str] = field(default_factory=list)
    link: SimulatedLink | None = None  # from the first frame of media on


class SimulatedCarrier:
    def __init__(
        self, clock: Clock, ticker: MediaTicker, scripts: tuple[CalleeScript, ...] = DEFAULT_SCRIPTS
    ) -> None:
        self._clock = clock
        self._ticker = ticker
        self._scripts = scripts
        self._calls: dict[str, _SimCall] = {}
        self._listener: TrunkListener | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.dtmf_heard: dict[
            str, list[str]
        ] = {}  # session -> digits the far end heard (for tests)
        self.audio_heard_frames: dict[str, int] = {}
        self.recordings: dict[str, Recording] = {}  # inbound callers with `record`: what they heard
        self.dials = 0  # outbound calls the far end has seen
        self.last_dial: tuple[str, str | None, tuple[tuple[str, str], ...]] | None = None

    async def start(self, listener: TrunkListener) -> None:
        _speech_loop()  # made now: making it mid-call would stall the loop for every call
        self._listener = listener
        self._unsubscribe = self._ticker.subscribe(self._on_tick, TickPhase.TRUNK)
        self._ticker.start()

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py); `recordings` is bounded, not per call."""
        return {
            "simulated_calls": len(self._calls),
            "simulated_heard": len(self.dtmf_heard) + len(self.audio_heard_frames),
        }

    async def stop(self) -> None:
        for call in list(self._calls.values()):
            self._drop(call)
        if self._unsubscribe is not None:
            self._unsubscribe()

    # --- Trunk commands ------------------------------------------------------------------------

    def dial(
        self,
        session_id: str,
        destination: str,
        caller_id: str | None,
        *,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        self.dials += 1
        # What the last dial asked of the network (no SIP here to carry it): for tests.
        self.last_dial = (destination, caller_id, tuple(headers))
        script = choose(self._scripts, destination)
        call = _SimCall(session_id, script)
        if script.record:
            call.recording = self._new_recording(session_id)
        self._calls[session_id] = call
        self.dtmf_heard[session_id] = call.dtmf_heard
        self._after(call, 0.1, partial(self._ring, call))
        if script.answer:
            self._after(call, script.ring_s, lambda: self._answer(call))
        elif script.reject_cause is not None:
            cause = script.reject_cause
            self._after(call, script.ring_s, lambda: self._remote_hangup(call, cause))
        # else: rings until the caller gives up

    def offer_inbound(
        self,
        caller_id: str,
        did_number: str,
        script: CallerScript,
        headers: Sequence[tuple[str, str]] = (),
    ) -> str:
        """A simulated caller dials `did_number` (`headers`: the X- headers its offer carries, as
        a SIP INVITE's would); returns the new call's session id."""
        session_id = new_session_id()
        call = _SimCall(session_id, script, inbound=True)
        if script.record:
            call.recording = self._new_recording(session_id)
        self._calls[session_id] = call
        self.dtmf_heard[session_id] = call.dtmf_heard
        if script.give_up_s is not None:
            self._after(call, script.give_up_s, lambda: self._remote_hangup(call, 16))
        self._emit(TrunkIncomingCall(session_id, caller_id, did_number, tuple(headers)))
        return session_id

    def answer(self, session_id: str) -> None:
        call = self._calls.get(session_id)
        if call is None or not call.inbound or call.connected:
            return
        for timer in call.timers:  # the caller no longer gives up
            timer.cancel()
        call.timers.clear()
        self._start_media(call)

    def hangup(self, session_id: str, cause: int) -> None:
        call = self._calls.get(session_id)
        if call is not None:
            self._report_quality(call)
            self._drop(call)

    def send_audio(self, session_id: str, frame: bytes) -> None:
        call = self._calls.get(session_id)
        if call is not None and call.connected:
            if call.script.audio == "echo":
                call.heard.append((self._ticker.tick_no, frame))
            if call.echo_line is not None:
                call.echo_line.append(frame)
            recording = call.recording
            if recording is not None and len(recording.audio) < RECORD_MAX_S * 16000:
                recording.audio += frame
                recording.frame_times.append(self._clock.monotonic())
            self.audio_heard_frames[session_id] = self.audio_heard_frames.get(session_id, 0) + 1

    def send_dtmf(self, session_id: str, digit: str, duration_ms: int) -> None:
        call = self._calls.get(session_id)
        if call is None or not call.connected:
            return
        call.dtmf_heard.append(digit)
        if call.recording is not None:
            call.recording.dtmf.append(digit)
        if call.script.audio == "echo" and getattr(call.script, "echo_dtmf", False):
            # Pressed back once the caller's tone has ended, as a person copying it would.
            self._after(
                call, duration_ms / 1000 + 0.1, lambda: self._emit(TrunkDtmf(session_id, digit))
            )

    # --- internals -----------------------------------------------------------------------------

    def _new_recording(self, session_id: str) -> Recording:
        while len(self.recordings) >= MAX_RECORDINGS:  # keep the newest only
            del self.recordings[next(iter(self.recordings))]
        recording = self.recordings[session_id] = Recording()
        return recording

    def _after(self, call: _SimCall, delay_s: float, action: Callable[[], None]) -> None:
        call.timers.append(self._clock.call_later(delay_s, action))

    def _emit(self, event: TrunkEvent) -> None:
        if self._listener is not None and event.session_id in self._calls:
            self._listener(event)

    def _ring(self, call: _SimCall) -> None:
        self._emit(TrunkRinging(call.session_id))
        early = getattr(call.script, "early_play", None)
        if early is not None and not call.connected:
            call.tone, call.once = list(wav_frames(early)), True
            call.early = True

    def _answer(self, call: _SimCall) -> None:
        self._emit(TrunkAnswered(call.session_id))
        self._start_media(call)

    def _start_media(self, call: _SimCall) -> None:
        call.connected = True
        call.early, call.tone, call.tone_index, call.once = False, None, 0, False
        call.link = SimulatedLink(
            getattr(call.script, "loss_percent", 0.0),
            getattr(call.script, "jitter_ms", 0.0),
            seed=call.session_id,
            start_tick=self._ticker.tick_no,
        )
        echo_db = getattr(call.script, "echo_return_db", None)
        if echo_db is not None:
            delay = max(1, round(getattr(call.script, "echo_delay_ms", 200) / 20))
            call.echo_line = deque([SILENCE_FRAME] * delay, maxlen=delay + 1)
            call.echo_gain = 10 ** (-echo_db / 20)
        if call.script.play is not None:
            call.tone, call.once = played_frames(call.script.play, call.script.play_at_s), True
        elif call.script.audio == "tone":
            call.tone = _tone_loop(call.script.tone_hz)
        elif call.script.audio == "speech":
            call.tone = _speech_loop()
        for at_s, digit in call.script.dtmf:
            self._after(call, at_s, partial(self._emit, TrunkDtmf(call.session_id, digit)))
        if call.script.hangup_after_s is not None:
            cause = int(Cause.NORMAL_CLEARING)
            self._after(call, call.script.hangup_after_s, lambda: self._remote_hangup(call, cause))

    def _remote_hangup(self, call: _SimCall, cause: int) -> None:
        self._report_quality(call)
        self._emit(TrunkHangup(call.session_id, cause, by_remote=True))
        self._drop(call)

    def media_quality(self, session_id: str) -> MediaQuality | None:
        """`ReportsMediaQuality`: the link's figures so far, as `_report_quality` will end them."""
        call = self._calls.get(session_id)
        if call is None or call.link is None:
            return None
        sent = self.audio_heard_frames.get(session_id, 0)
        return call.link.quality(self._ticker.tick_no, sent)

    def _report_quality(self, call: _SimCall) -> None:
        if call.link is not None:
            sent = self.audio_heard_frames.get(call.session_id, 0)
            quality = call.link.quality(self._ticker.tick_no, sent)
            self._emit(TrunkMediaQuality(call.session_id, quality))
            call.link = None

    def _drop(self, call: _SimCall) -> None:
        for timer in call.timers:
            timer.cancel()
        call.timers.clear()
        call.connected = False
        self._calls.pop(call.session_id, None)
        self.dtmf_heard.pop(call.session_id, None)
        self.audio_heard_frames.pop(call.session_id, None)

    def _on_tick(self, tick_no: int) -> None:
        if self._listener is None:
            return
        for call in list(self._calls.values()):
            if not call.connected:
                if call.early and call.tone is not None:  # early media: no link, no echo
                    frame = call.tone[call.tone_index]
                    call.tone_index = (call.tone_index + 1) % len(call.tone)
                    if call.tone_index == 0:
                        call.tone = None
                    self._listener(TrunkAudio(call.session_id, frame))
                continue
            if call.tone is not None:
                frame = call.tone[call.tone_index]
                call.tone_index = (call.tone_index + 1) % len(call.tone)
                if call.once and call.tone_index == 0:
                    call.tone = None  # played: silence from now on
            elif call.script.audio == "echo" and call.heard and call.heard[0][0] < tick_no:
                frame = call.heard.popleft()[1]
            else:
                frame = SILENCE_FRAME
            if call.echo_line is not None and len(call.echo_line) > 1:
                frame = _with_echo(frame, call.echo_line.popleft(), call.echo_gain)
            link = call.link
            if link is not None and link.impaired and not link.carries():
                frame = SILENCE_FRAME  # lost or too late: the receiver conceals it
            self._listener(TrunkAudio(call.session_id, frame))
