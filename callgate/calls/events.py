"""Call events: the one stream that Socket.IO, the inbound WebSocket, the CDR writer and metrics read.

Frozen, slotted dataclasses. Every event names its session and account so a listener can route it
without looking anything up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from callgate.calls.records import CallRecord, Direction

DialStatus = Literal["Dialing", "Ringing", "Busy", "Connected"]


@dataclass(frozen=True, slots=True)
class CallCreated:
    session_id: str
    account: str
    direction: Direction
    destination: str
    caller_id: str | None


@dataclass(frozen=True, slots=True)
class DialStatusChanged:
    session_id: str
    account: str
    status: DialStatus


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
class RecordChanged:
    """The call's record changed (placed, answered, ended): what the CDR writer persists."""

    record: CallRecord


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The call is over; `record` is its final CDR. Nothing about the call follows this event."""

    session_id: str
    account: str
    record: CallRecord


CallEvent = (
    CallCreated | DialStatusChanged | AudioReceived | DtmfReceived | RecordChanged | CallEnded
)
