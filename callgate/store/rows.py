"""CallRecord to table row and back.

Derived values (duration, billable seconds, cause text) are written as columns so SQL can filter and
sort on them; reading ignores them, because the record recomputes them from its times and code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy.engine import Row

from callgate.calls.options import metadata_json
from callgate.calls.quality import MediaQuality
from callgate.calls.records import CallRecord, Direction, truncate_ms


def _ms(value: datetime | None) -> datetime | None:
    return None if value is None else truncate_ms(value)


def to_row(record: CallRecord) -> dict[str, Any]:
    return {
        "session_id": record.session_id,
        "account": record.account,
        "direction": record.direction,
        "destination": record.destination,
        "caller_id": record.caller_id,
        "start_time": truncate_ms(record.start_time),
        "answer_time": _ms(record.answer_time),
        "end_time": _ms(record.end_time),
        "duration": record.duration,
        "billable_seconds": record.billable_seconds,
        "disposition": record.disposition,
        "hangup_by": record.hangup_by,
        "hangup_cause_code": record.hangup_cause_code,
        "hangup_cause_text": record.hangup_cause_text,
        "created_at": truncate_ms(record.created_at),
        "updated_at": truncate_ms(record.updated_at),
        "node": record.node,
        "idempotency_key": record.idempotency_key,
        "idempotency_hash": record.idempotency_hash,
        "hangup_idempotency_key": record.hangup_idempotency_key,
        "hangup_idempotency_hash": record.hangup_idempotency_hash,
        **_quality_row(record.quality),
        "client_frames_dropped": record.client_frames_dropped,
        "recorded": record.recorded,
        "machine_detection": record.machine_detection,
        "metadata": None if record.metadata is None else metadata_json(record.metadata),
        "transferred_to": record.transferred_to,
    }


QUALITY_COLUMNS = (
    "rx_packets",
    "rx_lost",
    "rx_late",
    "rx_concealed",
    "rx_jitter_ms",
    "rx_underruns",
    "tx_packets",
    "loss_percent",
    "mos",
)


def _quality_row(quality: MediaQuality | None) -> dict[str, Any]:
    if quality is None:
        return dict.fromkeys(QUALITY_COLUMNS)
    return {
        "rx_packets": quality.rx_packets,
        "rx_lost": quality.rx_lost,
        "rx_late": quality.rx_late,
        "rx_concealed": quality.rx_concealed,
        "rx_jitter_ms": quality.rx_jitter_ms,
        "rx_underruns": quality.rx_underruns,
        "tx_packets": quality.tx_packets,
        # Derived, stored so SQL can filter and sort on them (as duration is).
        "loss_percent": round(quality.loss_percent, 2),
        "mos": quality.mos,
    }


def _quality_of(row: Row[Any]) -> MediaQuality | None:
    if row.rx_packets is None:
        return None
    return MediaQuality(
        rx_packets=row.rx_packets,
        rx_lost=row.rx_lost,
        rx_late=row.rx_late,
        rx_concealed=row.rx_concealed,
        rx_jitter_ms=row.rx_jitter_ms,
        rx_underruns=row.rx_underruns,
        tx_packets=row.tx_packets,
    )


def unique_rows(records: Sequence[CallRecord]) -> list[dict[str, Any]]:
    """One row per session id, the last record winning: a statement may touch a row only once."""
    latest: dict[str, CallRecord] = {}
    for record in records:
        latest[record.session_id] = record
    return [to_row(record) for record in latest.values()]


def from_row(row: Row[Any]) -> CallRecord:
    return CallRecord(
        session_id=row.session_id,
        account=row.account,
        direction=cast(Direction, row.direction),
        destination=row.destination,
        caller_id=row.caller_id,
        start_time=row.start_time,
        answer_time=row.answer_time,
        end_time=row.end_time,
        disposition=row.disposition,
        hangup_by=row.hangup_by,
        hangup_cause_code=row.hangup_cause_code,
        created_at=row.created_at,
        updated_at=row.updated_at,
        node=row.node,
        idempotency_key=row.idempotency_key,
        idempotency_hash=row.idempotency_hash,
        hangup_idempotency_key=row.hangup_idempotency_key,
        hangup_idempotency_hash=row.hangup_idempotency_hash,
        quality=_quality_of(row),
        client_frames_dropped=row.client_frames_dropped,
        recorded=bool(row.recorded),
        machine_detection=row.machine_detection,
        metadata=None if row.metadata is None else json.loads(row.metadata),
        transferred_to=row.transferred_to,
    )
