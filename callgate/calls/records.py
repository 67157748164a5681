"""Call detail records: the CDR as the spec defines it, and its JSON form.

A record exists from the moment a call is placed; while the call is live its endTime, disposition and
cause are null and its durations 0. `to_json()` gives the spec's field names, and only adds fields.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from callgate.calls.causes import cause_text
from callgate.calls.quality import MediaQuality

Direction = Literal["outbound", "inbound"]


def iso_ms(value: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and a Z, as the spec prints times: 2025-07-23T03:37:56.000Z."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def truncate_ms(value: datetime) -> datetime:
    """Drop sub-millisecond digits so what is stored equals what is shown."""
    return value.replace(microsecond=value.microsecond - value.microsecond % 1000)


@dataclass(frozen=True, slots=True)
class RequestKey:
    """A client's key for one request (HTTP's Idempotency-Key) and a hash of the request's body:
    stored with the call it placed or ended, so a retry of that request finds its first outcome."""

    key: str
    body_hash: str


@dataclass(frozen=True, slots=True)
class CallRecord:
    session_id: str
    account: str
    direction: Direction
    destination: str
    caller_id: str | None
    start_time: datetime
    answer_time: datetime | None
    end_time: datetime | None
    disposition: str | None
    hangup_by: str | None
    hangup_cause_code: int | None
    created_at: datetime
    updated_at: datetime
    node: str = ""
    # The client's Idempotency-Key for the request that placed the call, and a hash of its body;
    # likewise for the request that hung it up. Stored with the record, never shown in the CDR.
    idempotency_key: str | None = None
    idempotency_hash: str | None = None
    hangup_idempotency_key: str | None = None
    hangup_idempotency_hash: str | None = None
    # Media quality, set when the call ends (None: no media was measured, e.g. never answered).
    quality: MediaQuality | None = None
    client_frames_dropped: int = 0
    """Audio frames dropped because the application did not read them fast enough."""
    recorded: bool = False
    """The call was recorded (from its answer): GET /v1/recordings/{sessionId} serves the WAV."""
    machine_detection: str | None = None
    """Answering-machine detection's result (human, machine, fax, unknown) for a call that asked."""
    metadata: dict[str, Any] | None = None
    """The application's JSON object (POST /pbx/call's `metadata`, an inbound route's and the
    INVITE's X- headers); None when there was none."""
    transferred_to: str | None = None
    """Where a blind transfer that succeeded sent the far party (the target as the app gave it)."""

    @property
    def duration(self) -> int:
        """Whole seconds from start to end (0 while live)."""
        if self.end_time is None:
            return 0
        return max(0, int((self.end_time - self.start_time).total_seconds()))

    @property
    def billable_seconds(self) -> int:
        """Whole seconds from answer to end; 0 when never answered or still live."""
        if self.end_time is None or self.answer_time is None:
            return 0
        return max(0, int((self.end_time - self.answer_time).total_seconds()))

    @property
    def hangup_cause_text(self) -> str | None:
        return None if self.hangup_cause_code is None else cause_text(self.hangup_cause_code)

    @property
    def is_open(self) -> bool:
        return self.end_time is None

    def replace(self, **changes: Any) -> CallRecord:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "destination": self.destination,
            "startTime": iso_ms(self.start_time),
            "answerTime": iso_ms(self.answer_time),
            "endTime": iso_ms(self.end_time),
            "duration": self.duration,
            "billableSeconds": self.billable_seconds,
            "disposition": self.disposition,
            "hangupBy": self.hangup_by,
            "hangupCauseCode": self.hangup_cause_code,
            "hangupCauseText": self.hangup_cause_text,
            "createdAt": iso_ms(self.created_at),
            "updatedAt": iso_ms(self.updated_at),
            "direction": self.direction,
            "callerId": self.caller_id,
            **quality_json(self.quality, self.client_frames_dropped),
            "recorded": self.recorded,
            # only for calls that asked: every other CDR keeps its shape
            **(
                {}
                if self.machine_detection is None
                else {"machineDetection": self.machine_detection}
            ),
            **({} if self.metadata is None else {"metadata": self.metadata}),
            **({} if self.transferred_to is None else {"transferredTo": self.transferred_to}),
        }


# The quality fields of the CDR's JSON (callgate/calls/quality.py says what each measures).
QUALITY_FIELDS = (
    "rxPackets",
    "rxLost",
    "rxLate",
    "rxConcealed",
    "rxJitterMs",
    "rxUnderruns",
    "txPackets",
    "lossPercent",
    "mos",
    "clientFramesDropped",
)


def quality_json(quality: MediaQuality | None, client_frames_dropped: int) -> dict[str, Any]:
    if quality is None:
        values: dict[str, Any] = dict.fromkeys(QUALITY_FIELDS[:-1])
    else:
        values = {
            "rxPackets": quality.rx_packets,
            "rxLost": quality.rx_lost,
            "rxLate": quality.rx_late,
            "rxConcealed": quality.rx_concealed,
            "rxJitterMs": round(quality.rx_jitter_ms, 2),
            "rxUnderruns": quality.rx_underruns,
            "txPackets": quality.tx_packets,
            "lossPercent": round(quality.loss_percent, 2),
            "mos": quality.mos,
        }
    values["clientFramesDropped"] = client_frames_dropped
    return values
