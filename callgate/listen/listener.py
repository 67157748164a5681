"""One call's ears: speech turns, echo of our own audio, silence and answering-machine detection.

The call service feeds it each frame it sends (`said`) and each frame it hears from the far party
once the call is connected (`heard`), both on the media tick; it answers with `Heard` events to
publish and `Signal`s for barge-in, which the service acts on (it owns the playout).

Echo. On a real line part of our own audio comes back from the far end (the hybrid, the handset),
delayed by the round trip. A voiced frame quieter than the loudest frame we sent in the last
`ECHO_TAIL_FRAMES` by more than `echo_margin_db` is taken for that echo and not for speech: by
default echo returned at least 12 dB under our level (echo return loss >= 12 dB: G.168 asks a hybrid
for 6 dB, and carriers' echo cancellers take off 30 dB more) within 500 ms is ignored, while a callee
speaking over us is heard as long as they are no more than 12 dB quieter than the bot.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any, Final

from callgate.listen.amd import AmdDecision, AmdSettings, Beep, MachineDetector
from callgate.listen.frames import SILENT_DBFS, level_dbfs
from callgate.listen.options import ListenOptions, MachineDetection
from callgate.listen.vad import (
    SpeechDetector,
    SpeechOnset,
    SpeechRejected,
    SpeechStarted,
    SpeechStopped,
    VadSettings,
)
from callgate.media.pcm import FRAME_MS, SILENCE_FRAME

ECHO_TAIL_FRAMES: Final = 25  # 500 ms: the longest echo delay of a terrestrial or mobile line


class Signal(Enum):
    ONSET = "onset"  # speech may have started (pause mode pauses)
    REJECTED = "rejected"  # it did not last (pause mode resumes)
    CONFIRMED = "confirmed"  # speech (auto mode clears)


@dataclass(frozen=True, slots=True)
class Heard:
    """An event for the application: its name on the wire and its fields (sessionId aside)."""

    event: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Outcome:
    events: list[Heard] = field(default_factory=list)
    signal: Signal | None = None
    at_ms: int = 0  # of the signal's speech onset


NOTHING: Final = Outcome()
"""What nearly every frame causes; shared (never changed), so a quiet frame allocates nothing."""


class CallListener:
    def __init__(
        self,
        options: ListenOptions | None,
        machine_detection: MachineDetection | None = None,
        amd: AmdSettings | None = None,
    ) -> None:
        self.options = options
        opts = options or ListenOptions()
        self.speech = SpeechDetector(VadSettings(opts.min_speech_ms, opts.hangover_ms))
        self.machine = (
            MachineDetector(amd, want_beep=machine_detection == "beep")
            if machine_detection is not None
            else None
        )
        self.amd_result: str | None = None
        self._echo_margin_db = opts.echo_margin_db
        self._said_levels: deque[float] = deque(maxlen=ECHO_TAIL_FRAMES)
        self._said_loud = 0  # of `_said_levels`, those above silence
        self._silence_frames = opts.silence_ms // FRAME_MS if options is not None else 0
        self._callee_quiet = 0  # frames since the callee last spoke
        self._bot_quiet = 0  # frames since we last sent audio
        self._silence_sent = False  # this silent stretch was told
        self._spoken = False  # anyone, callee or us, since the answer
        self.echo_frames = 0  # voiced frames taken for echo (metrics, tests)

    @property
    def wants_speech(self) -> bool:
        return self.options is not None

    def said(self, frame: bytes) -> None:
        """The frame we sent to the far party this tick."""
        level = SILENT_DBFS if frame is SILENCE_FRAME else level_dbfs(frame)
        levels = self._said_levels
        if len(levels) == ECHO_TAIL_FRAMES and levels[0] > SILENT_DBFS:
            self._said_loud -= 1
        levels.append(level)
        if level > SILENT_DBFS:
            self._said_loud += 1
            self._bot_quiet = 0
            self._spoken = True
        else:
            self._bot_quiet += 1

    def heard(self, frame: bytes, level_dbfs: float | None = None) -> Outcome:
        """The far party's frame this tick (connected calls only: times count from the answer);
        `level_dbfs`: the frame's level when the caller measured it (frames.levels_dbfs)."""
        out = NOTHING
        machine = self.machine
        amd_on = machine is not None and not machine.done
        info = self.speech.analyser.analyse(
            frame,
            check_voiced=amd_on or not self.speech.speaking,
            check_all=amd_on,
            level=level_dbfs,
        )
        if (
            info.voiced
            and self._said_loud
            and info.level_dbfs < max(self._said_levels) - self._echo_margin_db
        ):
            info = replace(info, voiced=False)
            self.echo_frames += 1
        if amd_on:
            assert machine is not None
            for found in machine.feed(info):
                if out is NOTHING:
                    out = Outcome()
                if isinstance(found, AmdDecision):
                    self.amd_result = found.result
                    out.events.append(
                        Heard(
                            "machineDetection", {"result": found.result, "afterMs": found.after_ms}
                        )
                    )
                elif isinstance(found, Beep):
                    out.events.append(Heard("beep", {"atMs": found.at_ms}))
        if self.options is None:
            self.speech.frame_no += 1
            return out
        event = self.speech.feed_info(info)
        if event is not None:
            if out is NOTHING:
                out = Outcome()
            if isinstance(event, SpeechStarted):
                out.events.append(Heard("speechStarted", {"atMs": event.at_ms}))
                out.signal, out.at_ms = Signal.CONFIRMED, event.at_ms
            elif isinstance(event, SpeechStopped):
                out.events.append(
                    Heard("speechStopped", {"atMs": event.at_ms, "durationMs": event.duration_ms})
                )
            elif isinstance(event, SpeechOnset):
                out.signal, out.at_ms = Signal.ONSET, event.at_ms
            elif isinstance(event, SpeechRejected):
                out.signal, out.at_ms = Signal.REJECTED, event.at_ms
        if self._silence_frames:
            out = self._watch_silence(out)
        return out

    def _watch_silence(self, out: Outcome) -> Outcome:
        """A silent stretch: the callee is not in a turn (its turn ended `hangoverMs` after its
        last voiced frame: speechStopped) and we send nothing audible. At `silenceMs` of it one
        `silence` says who owes the next word: `callee` (we spoke last: re-prompt), `bot` (the
        callee spoke last and we have not answered), `both` (nobody has spoken since the
        answer). Once per stretch: the next needs someone to speak first."""
        if self.speech.speaking:
            self._callee_quiet = 0
            self._spoken = True
        else:
            self._callee_quiet += 1
        quiet = min(self._callee_quiet, self._bot_quiet)
        if quiet < self._silence_frames:
            self._silence_sent = False
            return out
        if self._silence_sent:
            return out
        self._silence_sent = True
        if not self._spoken:
            side = "both"
        elif self._callee_quiet < self._bot_quiet:
            side = "bot"
        else:
            side = "callee"
        if out is NOTHING:
            out = Outcome()
        out.events.append(Heard("silence", {"side": side, "ms": self._silence_frames * FRAME_MS}))
        return out
