"""Answering-machine detection: human, machine, fax or unknown, from the far party's first seconds.

Theory of operation. Fed from the answer (200 OK) on, never before: early media (ringback, carrier
announcements) never reaches it, and every time is milliseconds of audio since the answer. It reads
the frames' analysis (`frames.FrameInfo`: voiced or not, pure tone or not) and follows the first turn
of speech: from its onset, through pauses shorter than `end_silence_ms`.

- human: the first turn ends (a pause of `end_silence_ms`) before it lasted `greeting_max_ms`:
  "Hello?" and a wait for an answer. Decided `end_silence_ms` after the last word.
- machine: the first turn goes on past `greeting_max_ms` (a recorded greeting), or a beep follows
  speech before the decision. Decided at once.
- fax: a calling (CNG, 1100 Hz) or answer (CED, 2100 Hz) tone held `fax_tone_ms`.
- unknown: no speech within `initial_silence_ms`, or nothing decided within `max_analysis_ms`.

In `beep` mode it goes on listening after the decision, for a pure tone of 350-2200 Hz held
`beep_min_ms` at a steady pitch; `Beep.at_ms` is the start of its first tonal frame (the beep may
start up to a frame earlier). It gives up `beep_timeout_ms` after the answer.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from callgate.listen.frames import FrameInfo
from callgate.media.pcm import FRAME_MS

AmdResult = Literal["human", "machine", "fax", "unknown"]
MIN_TURN_FRAMES: Final = 3  # voiced frames a turn needs (a click or a breath is not a greeting)
PITCH_TOLERANCE_HZ: Final = 40.0


@dataclass(frozen=True, slots=True)
class AmdSettings:
    greeting_max_ms: int = 1800
    end_silence_ms: int = 800
    initial_silence_ms: int = 3500
    max_analysis_ms: int = 5000
    fax_tone_ms: int = 300
    beep_min_ms: int = 100
    beep_timeout_ms: int = 30_000


@dataclass(frozen=True, slots=True)
class AmdDecision:
    result: AmdResult
    after_ms: int  # from the answer


@dataclass(frozen=True, slots=True)
class Beep:
    at_ms: int
    freq_hz: float


AmdEvent = AmdDecision | Beep


NOTHING: Final[tuple[AmdEvent, ...]] = ()


class MachineDetector:
    def __init__(self, settings: AmdSettings | None = None, *, want_beep: bool = False) -> None:
        self.settings = settings or AmdSettings()
        self.want_beep = want_beep
        self.decision: AmdDecision | None = None
        self.beep: Beep | None = None
        self.done = False  # nothing more to find
        self._frame_no = 0
        self._onset: int | None = None  # the first turn's first voiced frame
        self._voiced = 0  # voiced frames in the first turn
        self._last_voiced_end = 0
        self._tone_start: int | None = None  # first frame of the tone being heard
        self._tone_hz = 0.0

    def feed(self, info: FrameInfo) -> tuple[AmdEvent, ...]:
        """One frame's analysis; what it decided (usually nothing)."""
        if self.done:
            return NOTHING
        frame_no = self._frame_no
        self._frame_no += 1
        now_ms = self._frame_no * FRAME_MS  # the end of this frame
        tone_ms = self._follow_tone(info.tone_hz, frame_no)
        if self.decision is None:
            decision = self._classify(info, frame_no, now_ms, tone_ms)
            if decision is None:
                return NOTHING
            self.decision = decision
            self.done = decision.result != "machine" or not self.want_beep
            if decision.result == "machine" and not self.done and self._is_beep(tone_ms):
                return decision, self._found_beep()
            return (decision,)
        if self._is_beep(tone_ms):
            return (self._found_beep(),)
        if now_ms >= self.settings.beep_timeout_ms:
            self.done = True
        return NOTHING

    def _follow_tone(self, tone_hz: float | None, frame_no: int) -> int:
        """How long the current steady tone has been held (ms, this frame included); 0: none."""
        if tone_hz is None:
            self._tone_start = None
            return 0
        if self._tone_start is None or abs(tone_hz - self._tone_hz) > PITCH_TOLERANCE_HZ:
            self._tone_start, self._tone_hz = frame_no, tone_hz
        return (frame_no + 1 - self._tone_start) * FRAME_MS

    def _is_beep(self, tone_ms: int) -> bool:
        return (
            self.beep is None
            and tone_ms >= self.settings.beep_min_ms
            and 350.0 <= self._tone_hz <= 2200.0
        )

    def _found_beep(self) -> Beep:
        assert self._tone_start is not None
        self.beep = Beep(self._tone_start * FRAME_MS, self._tone_hz)
        self.done = True
        return self.beep

    def _classify(
        self, info: FrameInfo, frame_no: int, now_ms: int, tone_ms: int
    ) -> AmdDecision | None:
        s = self.settings
        turn = self._voiced >= MIN_TURN_FRAMES
        if tone_ms:
            pitch = self._tone_hz
            fax = abs(pitch - 1100.0) <= PITCH_TOLERANCE_HZ or abs(pitch - 2100.0) <= 50.0
            if fax and not turn and tone_ms >= s.fax_tone_ms:
                return AmdDecision("fax", now_ms)
            if turn and tone_ms >= s.beep_min_ms and 350.0 <= pitch <= 2200.0:
                return AmdDecision("machine", now_ms)  # a beep after speech: a greeting's end
        if info.voiced:
            if self._onset is None:
                self._onset, self._voiced = frame_no, 0
            self._voiced += 1
            self._last_voiced_end = frame_no + 1
            if turn and now_ms - self._onset * FRAME_MS >= s.greeting_max_ms:
                return AmdDecision("machine", now_ms)
        elif self._onset is not None:
            gap_ms = (frame_no + 1 - self._last_voiced_end) * FRAME_MS
            if gap_ms >= s.end_silence_ms:
                if turn:
                    return AmdDecision("human", now_ms)
                self._onset = None  # a blip, not a turn
        if self._onset is None and now_ms >= s.initial_silence_ms:
            return AmdDecision("unknown", now_ms)
        if now_ms >= s.max_analysis_ms:
            return AmdDecision("unknown", now_ms)
        return None
