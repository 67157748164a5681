"""Speech turns on the far party's audio: `SpeechStarted` / `SpeechStopped` from 20 ms frames.

Theory of operation. Each frame is classified by `frames.FrameAnalyser` (WebRTC's detector, with
tones and quiet frames ruled out). Times are the call's audio timeline: milliseconds of far-party
audio since the answer, one frame = 20 ms, so they say where in the callee's audio the speech is,
whatever the network did to its arrival.

- Idle: a voiced frame starts a candidate; its onset is the start of that frame (`SpeechOnset`).
- Candidate: voiced frames until `min_speech_ms` of them confirm it (`SpeechStarted`, `at_ms` = the
  onset, reported `min_speech_ms` after it). Up to `max_gap_frames` unvoiced frames are tolerated
  inside a candidate (a plosive's closure); more drop it (`SpeechRejected`: it was a click, a cough,
  a burst of noise).
- Speaking: unvoiced frames for `hangover_ms` end the turn (`SpeechStopped`, `at_ms` = the end of the
  last voiced frame, `duration_ms` from the onset), reported `hangover_ms` after it: pauses shorter
  than the hangover between words do not split a turn.

Pure: no clock, no I/O; `feed()` takes one frame and returns what it caused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from callgate.listen.frames import FrameAnalyser, FrameInfo
from callgate.media.pcm import FRAME_MS

DEFAULT_MIN_SPEECH_MS: Final = 60
DEFAULT_HANGOVER_MS: Final = 400
DEFAULT_AGGRESSIVENESS: Final = 3
DEFAULT_MIN_LEVEL_DBFS: Final = -45.0


@dataclass(frozen=True, slots=True)
class VadSettings:
    min_speech_ms: int = DEFAULT_MIN_SPEECH_MS
    hangover_ms: int = DEFAULT_HANGOVER_MS
    aggressiveness: int = DEFAULT_AGGRESSIVENESS  # WebRTC's mode, 0 (lenient) to 3 (strict)
    min_level_dbfs: float = DEFAULT_MIN_LEVEL_DBFS  # quieter frames are never speech
    max_gap_frames: int = 1


@dataclass(frozen=True, slots=True)
class SpeechOnset:
    at_ms: int


@dataclass(frozen=True, slots=True)
class SpeechRejected:
    at_ms: int  # the onset of the candidate that did not last


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    at_ms: int


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    at_ms: int
    duration_ms: int


SpeechEvent = SpeechOnset | SpeechRejected | SpeechStarted | SpeechStopped


class SpeechDetector:
    def __init__(self, settings: VadSettings | None = None) -> None:
        self.settings = settings = settings or VadSettings()
        self.analyser = FrameAnalyser(settings.aggressiveness, settings.min_level_dbfs)
        self._confirm_frames = max(1, -(-settings.min_speech_ms // FRAME_MS))
        self._hangover_frames = max(1, -(-settings.hangover_ms // FRAME_MS))
        self.frame_no = 0  # frames fed: the audio timeline, in frames since the answer
        self.speaking = False
        self._onset_frame: int | None = None  # of the candidate or the turn
        self._voiced = 0  # voiced frames in the candidate
        self._gap = 0  # unvoiced frames in a row since the last voiced one
        self._last_voiced_end = 0  # frame number just after the last voiced frame
        self.last: FrameInfo | None = None  # the analysis of the frame just fed

    @property
    def now_ms(self) -> int:
        return self.frame_no * FRAME_MS

    def feed(self, frame: bytes) -> SpeechEvent | None:
        info = self.last = self.analyser.analyse(frame, check_voiced=not self.speaking)
        return self.feed_info(info)

    def feed_info(self, info: FrameInfo) -> SpeechEvent | None:
        frame_no = self.frame_no
        self.frame_no += 1
        if info.voiced:
            self._gap = 0
            self._last_voiced_end = frame_no + 1
            if self._onset_frame is None:
                self._onset_frame = frame_no
                self._voiced = 1
                if self._voiced >= self._confirm_frames:
                    self.speaking = True
                    return SpeechStarted(frame_no * FRAME_MS)
                return SpeechOnset(frame_no * FRAME_MS)
            if not self.speaking:
                self._voiced += 1
                if self._voiced >= self._confirm_frames:
                    self.speaking = True
                    return SpeechStarted(self._onset_frame * FRAME_MS)
            return None
        if self._onset_frame is None:
            return None
        self._gap += 1
        onset = self._onset_frame
        if not self.speaking:
            if self._gap > self.settings.max_gap_frames:
                self._onset_frame = None
                return SpeechRejected(onset * FRAME_MS)
            return None
        if self._gap >= self._hangover_frames:
            self._onset_frame = None
            self.speaking = False
            end_ms = self._last_voiced_end * FRAME_MS
            return SpeechStopped(end_ms, end_ms - onset * FRAME_MS)
        return None
