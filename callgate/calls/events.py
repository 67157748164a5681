"""Call events: the one stream that Socket.IO, the inbound WebSocket, the CDR writer and metrics read.

Frozen, slotted dataclasses. Every event names its session and account so a listener can route it
without looking anything up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from callgate.calls.playout import CheckpointStatus
from callgate.calls.records import CallRecord, Direction

DialStatus = Literal["Dialing", "Ringing", "Busy", "Connected"]


@dataclass(frozen=True, slots=True)
class CallCreated:
    session_id: str
    account: str
    direction: Direction
    destination: str
    caller_id: str | None
    metadata: dict[str, Any] | None = None  # the call's (POST /pbx/call, an inbound route)


@dataclass(frozen=True, slots=True)
class DialStatusChanged:
    session_id: str
    account: str
    status: DialStatus
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AudioReceived:
    """One 20 ms frame of the far party's audio: PCM16 little-endian, 8 kHz mono, 320 bytes."""

    session_id: str
    account: str
    frame: bytes


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    session_id: str
    account: str
    digit: str


@dataclass(frozen=True, slots=True)
class CheckpointReached:
    """A checkpoint the application set: `played` once the audio before it has been heard,
    `cleared` when an interruption discarded that audio."""

    session_id: str
    account: str
    name: str
    status: CheckpointStatus


@dataclass(frozen=True, slots=True)
class Listened:
    """What the gateway heard on a call that asked to listen (callgate.listen): `event` is its name
    on the wire (speechStarted, speechStopped, bargeIn, machineDetection, beep, silence) and
    `fields` its payload less the sessionId. `to_all`: the call itself asked (POST /pbx/call, an
    inbound route), so every client of the call gets it, not only those that asked on joinRoom."""

    session_id: str
    account: str
    event: str
    fields: dict[str, Any]
    to_all: bool


@dataclass(frozen=True, slots=True)
class TransferStatusChanged:
    """A blind transfer's progress (callgate.calls.transfer): trying, ringing, succeeded or
    failed, with the SIP status that said so; `target` as the application gave it."""

    session_id: str
    account: str
    state: str
    sip_status: int | None
    target: str


HoldBy = Literal["remote", "local"]


@dataclass(frozen=True, slots=True)
class HoldChanged:
    """The call went on hold (`held`) or came off it: `by` "remote" when the far party did it,
    "local" when the far end accepted the application's own `hold` / `resume`. While held
    either way the application's audio waits in its queue (callgate.calls.hold)."""

    session_id: str
    account: str
    held: bool
    by: HoldBy


@dataclass(frozen=True, slots=True)
class HoldFailed:
    """The far end refused the application's `hold` or `resume` (`action`), with the SIP status
    that said so (None: no answer at all, and the call then ends)."""

    session_id: str
    account: str
    action: Literal["hold", "resume"]
    sip_status: int | None


@dataclass(frozen=True, slots=True)
class CallFinished:
    """The call is over; `record` is its final CDR. Nothing about the call follows this event."""

    session_id: str
    account: str
    record: CallRecord


BusEvent = (
    CallCreated
    | DialStatusChanged
    | AudioReceived
    | DtmfReceived
    | CheckpointReached
    | Listened
    | TransferStatusChanged
    | HoldChanged
    | HoldFailed
    | CallFinished
)
