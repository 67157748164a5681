"""What a call yields to `async for event in call`, and what `play()` returns.

Frozen, slotted dataclasses, one union (`CallEvent`). Audio is the far party's: 8 kHz mono PCM16
little-endian, one 20 ms frame (320 bytes) each.
"""

from __future__ import annotations

from dataclasses import dataclass

from callgate.client.records import Cdr


@dataclass(frozen=True, slots=True)
class Audio:
    pcm16: bytes  # 20 ms at 8 kHz mono


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Status:
    status: str  # the spec's dialStatus: Dialing, Ringing, Busy, Connected


@dataclass(frozen=True, slots=True)
class CheckpointReached:
    name: str
    status: str  # "played" or "cleared"


@dataclass(frozen=True, slots=True)
class AudioDropped:
    frames: int  # the gateway dropped this many of our oldest frames: we read too slowly


@dataclass(frozen=True, slots=True)
class Ended:
    cdr: Cdr  # the last event of every call


CallEvent = Audio | Dtmf | Status | CheckpointReached | AudioDropped | Ended


@dataclass(frozen=True, slots=True)
class Played:
    """`play()` finished: all of it was heard (its checkpoint was reported `played`)."""

    duration_ms: int | None  # None for MP3 (only the gateway decodes it)
    interrupted: bool = False


@dataclass(frozen=True, slots=True)
class Interrupted:
    """`play()` was barged in: `played_ms` of it was heard, the rest discarded."""

    played_ms: int  # -1 when another client interrupted (only its ack carries the figures)
    discarded_ms: int
    interrupted: bool = True


PlayResult = Played | Interrupted
