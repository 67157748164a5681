"""Scripted callees of the simulated carrier, chosen by the dialled number.

The first script whose `pattern` (a regular expression) matches the whole number decides what the far
end does. User scripts from the configuration come first; `DEFAULT_SCRIPTS` close the list.
"""

from __future__ import annotations

import functools
import math
import re
import wave
from dataclasses import dataclass, field
from typing import Any, Literal

from callgate.calls.causes import CAUSE_TEXT, Cause
from callgate.media.dtmf import DIGIT_SET
from callgate.media.pcm import FRAME_BYTES, SAMPLE_RATE_HZ, SILENCE_FRAME

AudioMode = Literal["echo", "tone", "silence", "speech"]


class ScriptError(ValueError):
    """A simulator script in the configuration is malformed; the message names the bad key."""


@dataclass(frozen=True, slots=True)
class CalleeScript:
    pattern: str
    ring_s: float = 2.0
    answer: bool = True
    reject_cause: int | None = None  # when not answering: end with this Q.850 cause after ring_s
    audio: AudioMode = "echo"
    tone_hz: float = 440.0
    dtmf: tuple[tuple[float, str], ...] = ()  # (seconds after answer, digit)
    hangup_after_s: float | None = None  # seconds after answer
    echo_dtmf: bool = True  # an echo callee presses back each digit it hears
    loss_percent: float = 0.0  # of the callee's frames lost on the way (concealed), 0-100
    jitter_ms: float = 0.0  # delay variation of the callee's frames: uniform 0..jitter_ms
    # A WAV file (8 kHz mono PCM16) the callee plays once, `play_at_s` after answering (a voice, a
    # voicemail greeting and its beep...): silence before it, then `audio` (say "silence").
    play: str | None = None
    play_at_s: float = 0.0
    record: bool = False  # keep what the callee hears (carrier.recordings), for tests and tools
    # A line echo: what the callee hears comes back mixed into what it says, this many dB down
    # (the echo return loss) and `echo_delay_ms` later; None: no echo.
    echo_return_db: float | None = None
    echo_delay_ms: int = 200
    # Early media: a WAV (8 kHz mono PCM16) the network plays while the call rings (as a 183 with
    # SDP would: ringback, an announcement), from the Ringing on, until the answer.
    early_play: str | None = None
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", re.compile(self.pattern))

    def matches(self, number: str) -> bool:
        return self.regex.fullmatch(number) is not None


@dataclass(frozen=True, slots=True)
class CallerScript:
    """What a simulated inbound caller does once the gateway offers its call to the application."""

    audio: AudioMode = (
        "speech"  # what the caller says: a speech-like signal, a tone, silence, or echo
    )
    tone_hz: float = 440.0
    dtmf: tuple[tuple[float, str], ...] = ()  # (seconds after answer, digit)
    hangup_after_s: float | None = None  # seconds after answer; None: waits for the app to hang up
    give_up_s: float | None = None  # hangs up if not answered this long after offering the call
    record: bool = False  # keep what the caller hears (up to RECORD_MAX_S), for tests and tools
    play: str | None = None  # a WAV (8 kHz mono PCM16) said once, `play_at_s` after the answer
    play_at_s: float = 0.0


DEFAULT_SCRIPTS: tuple[CalleeScript, ...] = (
    CalleeScript(r"\+?\d*486", ring_s=1.0, answer=False, reject_cause=Cause.USER_BUSY),
    CalleeScript(r"\+?\d*404", ring_s=0.2, answer=False, reject_cause=Cause.UNALLOCATED_NUMBER),
    CalleeScript(r"\+?\d*480", answer=False),  # rings until the ring timeout
    CalleeScript(r"\+?\d*603", ring_s=1.0, answer=False, reject_cause=Cause.CALL_REJECTED),
    CalleeScript(r"\+?\d*503", ring_s=0.2, answer=False, reject_cause=Cause.NO_CIRCUIT_AVAILABLE),
    CalleeScript(r"\+?\d*440", audio="tone", tone_hz=440.0),
    CalleeScript(r".*"),
)

_FIELDS = {
    "pattern",
    "ring_s",
    "answer",
    "reject_cause",
    "audio",
    "tone_hz",
    "dtmf",
    "hangup_after_s",
    "echo_dtmf",
    "loss_percent",
    "jitter_ms",
    "play",
    "play_at_s",
    "early_play",
    "record",
    "echo_return_db",
    "echo_delay_ms",
}


@functools.lru_cache(maxsize=64)
def wav_frames(path: str) -> tuple[bytes, ...]:
    """A WAV file's audio as 20 ms frames (the last one completed with silence); ScriptError if it
    is not 8 kHz mono PCM16. Read once per path: every call of a script plays the same frames."""
    try:
        with wave.open(path, "rb") as wav:
            shape = (wav.getframerate(), wav.getnchannels(), wav.getsampwidth())
            if shape != (SAMPLE_RATE_HZ, 1, 2):
                raise ScriptError(f"{path}: expected 8000 Hz mono 16-bit PCM, got {shape}")
            pcm = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise ScriptError(f"{path}: cannot read the WAV file: {exc}") from None
    pcm += bytes(-len(pcm) % FRAME_BYTES)
    return tuple(pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES))


def played_frames(play: str, at_s: float) -> list[bytes]:
    """What a `play` script sends from its answer: silence until `at_s`, then the file once."""
    return [SILENCE_FRAME] * round(at_s * 1000 / 20) + list(wav_frames(play))


def _number(where: str, value: Any, *, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ScriptError(f"{where}: expected a number, got {value!r}")
    if value < minimum:
        raise ScriptError(f"{where}: must be >= {minimum}, got {value!r}")
    return float(value)


def script_from_config(index: int, raw: Any) -> CalleeScript:
    """Build one script from a TOML table, naming the bad key on error."""
    where = f"simulator.callee[{index}]"
    if not isinstance(raw, dict):
        raise ScriptError(f"{where}: expected a table")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise ScriptError(f"{where}.{sorted(unknown)[0]}: unknown key")
    pattern = raw.get("pattern")
    if not isinstance(pattern, str):
        raise ScriptError(f"{where}.pattern: required, a regular expression string")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ScriptError(f"{where}.pattern: invalid regular expression: {exc}") from None
    kwargs: dict[str, Any] = {"pattern": pattern}
    for key in ("ring_s", "tone_hz", "hangup_after_s", "jitter_ms", "play_at_s"):
        if key in raw:
            kwargs[key] = _number(f"{where}.{key}", raw[key])
    if "loss_percent" in raw:
        loss = _number(f"{where}.loss_percent", raw["loss_percent"])
        if loss > 100:
            raise ScriptError(f"{where}.loss_percent: at most 100, got {raw['loss_percent']!r}")
        kwargs["loss_percent"] = loss
    if "echo_return_db" in raw:
        kwargs["echo_return_db"] = _number(f"{where}.echo_return_db", raw["echo_return_db"])
    if "echo_delay_ms" in raw:
        kwargs["echo_delay_ms"] = int(_number(f"{where}.echo_delay_ms", raw["echo_delay_ms"]))
    for key in ("answer", "echo_dtmf", "record"):
        if key in raw:
            if not isinstance(raw[key], bool):
                raise ScriptError(f"{where}.{key}: expected true or false")
            kwargs[key] = raw[key]
    if "reject_cause" in raw:
        cause = raw["reject_cause"]
        if isinstance(cause, bool) or not isinstance(cause, int) or cause not in CAUSE_TEXT:
            raise ScriptError(f"{where}.reject_cause: one of {sorted(CAUSE_TEXT)}")
        kwargs["reject_cause"] = cause
        kwargs.setdefault("answer", False)
    if "audio" in raw:
        if raw["audio"] not in ("echo", "tone", "silence", "speech"):
            raise ScriptError(f"{where}.audio: one of echo, tone, silence, speech")
        kwargs["audio"] = raw["audio"]
    for key in ("play", "early_play"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise ScriptError(f"{where}.{key}: expected the path of a WAV file")
            wav_frames(raw[key])
            kwargs[key] = raw[key]
    if "dtmf" in raw:
        presses = []
        if not isinstance(raw["dtmf"], list):
            raise ScriptError(f"{where}.dtmf: expected a list of [seconds, digit] pairs")
        for i, item in enumerate(raw["dtmf"]):
            ok = isinstance(item, list) and len(item) == 2 and isinstance(item[1], str)
            if not ok or item[1] not in DIGIT_SET:
                raise ScriptError(
                    f"{where}.dtmf[{i}]: expected [seconds, digit] with a digit 0-9*#A-D"
                )
            presses.append((_number(f"{where}.dtmf[{i}][0]", item[0]), item[1]))
        kwargs["dtmf"] = tuple(presses)
    return CalleeScript(**kwargs)


def scripts_from_config(raw: Any) -> tuple[CalleeScript, ...]:
    """User scripts (a TOML array of tables) followed by the defaults."""
    if raw is None:
        return DEFAULT_SCRIPTS
    if not isinstance(raw, list):
        raise ScriptError("simulator.callee: expected an array of tables ([[simulator.callee]])")
    return tuple(script_from_config(i, item) for i, item in enumerate(raw)) + DEFAULT_SCRIPTS


def choose(scripts: tuple[CalleeScript, ...], number: str) -> CalleeScript:
    for script in scripts:
        if script.matches(number):
            return script
    return DEFAULT_SCRIPTS[-1]
