"""What a call asked to hear: the `listen` options object (joinRoom, POST /pbx/call, inbound routes)
and POST /pbx/call's `machineDetection`, validated with messages that name the bad field.

Every field is optional; an empty object turns speech events on with the defaults. A client that
sends no `listen` object gets none of it: the seed contract is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

from callgate.listen.vad import DEFAULT_HANGOVER_MS, DEFAULT_MIN_SPEECH_MS

BargeIn = Literal["off", "notify", "auto", "pause"]
MachineDetection = Literal["detect", "beep"]
BARGE_IN_MODES: Final = ("off", "notify", "auto", "pause")
MACHINE_DETECTION_MODES: Final = ("detect", "beep")
DEFAULT_ECHO_MARGIN_DB: Final = 12.0
DEFAULT_QUALITY_EVERY_MS: Final = 5000


class OptionsError(ValueError):
    """The listen options are malformed; the message names the field."""


@dataclass(frozen=True, slots=True)
class ListenOptions:
    min_speech_ms: int = DEFAULT_MIN_SPEECH_MS
    hangover_ms: int = DEFAULT_HANGOVER_MS
    barge_in: BargeIn = "off"
    protect_ms: int = 0  # no barge-in in the first protect_ms of each stretch of playout
    echo_margin_db: float = DEFAULT_ECHO_MARGIN_DB  # far-end audio this far under ours is echo
    silence_ms: int = 0  # a `silence` event after this long without speech; 0: none
    dead_air: bool = False  # a `deadAir` event before the RTP timeout ends the call
    call_quality: bool = False  # `callQuality` events every `quality_every_ms`
    quality_every_ms: int = DEFAULT_QUALITY_EVERY_MS

    def to_json(self) -> dict[str, Any]:
        return {
            "minSpeechMs": self.min_speech_ms,
            "hangoverMs": self.hangover_ms,
            "bargeIn": self.barge_in,
            "protectMs": self.protect_ms,
            "echoMarginDb": self.echo_margin_db,
            "silenceMs": self.silence_ms,
            "deadAir": self.dead_air,
            "callQuality": self.call_quality,
            "qualityEveryMs": self.quality_every_ms,
        }


_FIELDS: Final = {
    "minSpeechMs": ("min_speech_ms", 20, 2000),
    "hangoverMs": ("hangover_ms", 20, 5000),
    "protectMs": ("protect_ms", 0, 10000),
    "silenceMs": ("silence_ms", 0, 600_000),
    "qualityEveryMs": ("quality_every_ms", 1000, 60_000),
}
_SWITCHES: Final = {"deadAir": "dead_air", "callQuality": "call_quality"}


def parse_listen(raw: Any, where: str = "listen") -> ListenOptions:
    """`raw` as sent (a JSON object, or `true` for the defaults)."""
    if raw is True:
        return ListenOptions()
    if not isinstance(raw, dict):
        raise OptionsError(f"{where} must be an object (or true for the defaults)")
    unknown = set(raw) - {*_FIELDS, *_SWITCHES, "bargeIn", "echoMarginDb"}
    if unknown:
        raise OptionsError(f"{where}.{sorted(unknown)[0]}: unknown option")
    kwargs: dict[str, Any] = {}
    for name, (attr, low, high) in _FIELDS.items():
        if name in raw:
            value = raw[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise OptionsError(f"{where}.{name}: a whole number of milliseconds, {low}-{high}")
            kwargs[attr] = value
    for name, attr in _SWITCHES.items():
        if name in raw:
            if not isinstance(raw[name], bool):
                raise OptionsError(f"{where}.{name}: true or false")
            kwargs[attr] = raw[name]
    if "bargeIn" in raw:
        if raw["bargeIn"] not in BARGE_IN_MODES:
            raise OptionsError(f"{where}.bargeIn: one of {', '.join(BARGE_IN_MODES)}")
        kwargs["barge_in"] = raw["bargeIn"]
    if "echoMarginDb" in raw:
        value = raw["echoMarginDb"]
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not 0 <= value <= 60:
            raise OptionsError(f"{where}.echoMarginDb: a number of dB, 0-60")
        kwargs["echo_margin_db"] = float(value)
    return ListenOptions(**kwargs)


def parse_machine_detection(raw: Any) -> MachineDetection:
    if raw not in MACHINE_DETECTION_MODES:
        raise OptionsError(f"machineDetection: one of {', '.join(MACHINE_DETECTION_MODES)}")
    mode: MachineDetection = raw
    return mode
