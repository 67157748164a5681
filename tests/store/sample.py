"""Call records for the store tests, built from a start offset and durations in seconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from callgate.calls.records import CallRecord, Direction

T0 = datetime(2025, 7, 23, 3, 37, 56, 123000, tzinfo=UTC)


def record(
    session_id: str,
    *,
    account: str = "acme",
    destination: str = "081234567890",
    start: timedelta = timedelta(0),
    answer_after: float | None = None,
    end_after: float | None = None,
    disposition: str | None = None,
    hangup_by: str | None = None,
    cause: int | None = None,
    caller_id: str | None = None,
    direction: Direction = "outbound",
    node: str = "node-a",
    metadata: dict[str, Any] | None = None,
) -> CallRecord:
    """A record starting at T0 + start; answer and end given in seconds after the start."""
    started = T0 + start
    answered = None if answer_after is None else started + timedelta(seconds=answer_after)
    ended = None if end_after is None else started + timedelta(seconds=end_after)
    return CallRecord(
        session_id=session_id,
        account=account,
        direction=direction,
        destination=destination,
        caller_id=caller_id,
        start_time=started,
        answer_time=answered,
        end_time=ended,
        disposition=disposition,
        hangup_by=hangup_by,
        hangup_cause_code=cause,
        created_at=started,
        updated_at=ended or started,
        node=node,
        metadata=metadata,
    )


# Six records of account "acme" covering every column's interesting values, in id order.
SIX = (
    record(
        "a1",
        answer_after=5,
        end_after=65,
        disposition="ANSWERED",
        hangup_by="CALLEE",
        cause=16,
        caller_id="0215550101",
    ),
    record(
        "a2",
        destination="+6281298765432",
        start=timedelta(hours=1),
        end_after=40,
        disposition="NO ANSWER",
        cause=19,
    ),
    record(
        "a3",
        destination="085712345678",
        start=timedelta(hours=2),
        answer_after=3,
        end_after=13,
        disposition="ANSWERED",
        hangup_by="CALLER",
        cause=16,
        caller_id="0215550102",
        direction="inbound",
    ),
    record(
        "a4",
        destination="6281312345678",
        start=timedelta(days=1),
        end_after=2,
        disposition="BUSY",
        cause=17,
        caller_id="0215550101",
    ),
    record(
        "a5",
        destination="sip:Alice@example.com",
        start=timedelta(days=2),
        answer_after=1,
        end_after=301,
        disposition="ANSWERED",
        hangup_by="CALLEE",
        cause=16,
    ),
    record("a6", destination="0812%_x", start=timedelta(days=3), caller_id="0215550103"),  # live
)
# Another account's copy of a1: no listing of acme may show it.
OTHER = SIX[0].replace(session_id="o1", account="globex")
