"""The CDR table as the queries see it, and the map from API field names to its columns.

The DDL (types per database, collations, indexes, the substring index) lives in the migrations; this
module only describes the columns so SQLAlchemy can build statements against them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Float, Integer, MetaData, Table, Text
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import column, table

from callgate.store.timecol import UtcTime

metadata = MetaData()

cdr = Table(
    "cdr",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("session_id", Text, nullable=False, unique=True),
    Column("account", Text, nullable=False),
    Column("direction", Text, nullable=False),
    Column("destination", Text, nullable=False),
    Column("caller_id", Text),
    Column("start_time", UtcTime, nullable=False),
    Column("answer_time", UtcTime),
    Column("end_time", UtcTime),
    Column("duration", Integer, nullable=False),
    Column("billable_seconds", Integer, nullable=False),
    Column("disposition", Text),
    Column("hangup_by", Text),
    Column("hangup_cause_code", Integer),
    Column("hangup_cause_text", Text),
    Column("created_at", UtcTime, nullable=False),
    Column("updated_at", UtcTime, nullable=False),
    Column("node", Text, nullable=False),
    # The Idempotency-Key of the request that placed the call and of the one that hung it up,
    # each with a hash of its request's body (migration 0002).
    Column("idempotency_key", Text),
    Column("idempotency_hash", Text),
    Column("hangup_idempotency_key", Text),
    Column("hangup_idempotency_hash", Text),
    # Media quality, written when the call ends (migration 0003; callgate/calls/quality.py).
    Column("rx_packets", Integer),
    Column("rx_lost", Integer),
    Column("rx_late", Integer),
    Column("rx_concealed", Integer),
    Column("rx_jitter_ms", Float),
    Column("rx_underruns", Integer),
    Column("tx_packets", Integer),
    Column("loss_percent", Float),
    Column("mos", Float),
    Column("client_frames_dropped", Integer, nullable=False),
    # Whether the call was recorded (migration 0004; the WAV is in recordings_dir).
    Column("recorded", Boolean, nullable=False),
    # Answering-machine detection's result, for calls that asked (migration 0005).
    Column("machine_detection", Text),
    # The call's metadata as compact JSON text, for calls that carry some (migration 0006).
    Column("metadata", Text),
    # Where a blind transfer that succeeded sent the call (migration 0007).
    Column("transferred_to", Text),
)

# SQLite only: the FTS5 trigram index over destination (external content: rowid is cdr.id).
destination_fts = table("cdr_destination_fts", column("rowid"), column("destination"))

# Every API field of a CDR (the spec's names) and `id`, the column behind the default sort.
API_COLUMNS: dict[str, ColumnElement[object]] = {
    "id": cdr.c.id,
    "sessionId": cdr.c.session_id,
    "destination": cdr.c.destination,
    "startTime": cdr.c.start_time,
    "answerTime": cdr.c.answer_time,
    "endTime": cdr.c.end_time,
    "duration": cdr.c.duration,
    "billableSeconds": cdr.c.billable_seconds,
    "disposition": cdr.c.disposition,
    "hangupBy": cdr.c.hangup_by,
    "hangupCauseCode": cdr.c.hangup_cause_code,
    "hangupCauseText": cdr.c.hangup_cause_text,
    "createdAt": cdr.c.created_at,
    "updatedAt": cdr.c.updated_at,
    "direction": cdr.c.direction,
    "callerId": cdr.c.caller_id,
    "rxPackets": cdr.c.rx_packets,
    "rxLost": cdr.c.rx_lost,
    "rxLate": cdr.c.rx_late,
    "rxConcealed": cdr.c.rx_concealed,
    "rxJitterMs": cdr.c.rx_jitter_ms,
    "rxUnderruns": cdr.c.rx_underruns,
    "txPackets": cdr.c.tx_packets,
    "lossPercent": cdr.c.loss_percent,
    "mos": cdr.c.mos,
    "clientFramesDropped": cdr.c.client_frames_dropped,
    "machineDetection": cdr.c.machine_detection,
    "transferredTo": cdr.c.transferred_to,
}
