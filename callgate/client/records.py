"""Call detail records as the client hands them out: typed fields, and the gateway's JSON as sent."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class Cdr:
    """One call's record (`GET /v1/cdr/{sessionId}`, the `cdr` event). Unknown fields stay in `raw`."""

    session_id: str
    destination: str
    disposition: str | None  # ANSWERED, NO ANSWER, BUSY, FAILED, CANCEL; None while live
    hangup_cause_code: int | None
    hangup_cause_text: str | None
    hangup_by: str | None  # CALLER, CALLEE or None
    duration_s: int
    billable_s: int
    start_time: datetime | None
    answer_time: datetime | None
    end_time: datetime | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cdr:
        return cls(
            session_id=str(data.get("sessionId", "")),
            destination=str(data.get("destination", "")),
            disposition=data.get("disposition"),
            hangup_cause_code=data.get("hangupCauseCode"),
            hangup_cause_text=data.get("hangupCauseText"),
            hangup_by=data.get("hangupBy"),
            duration_s=int(data.get("duration") or 0),
            billable_s=int(data.get("billableSeconds") or 0),
            start_time=_time(data.get("startTime")),
            answer_time=_time(data.get("answerTime")),
            end_time=_time(data.get("endTime")),
            raw=dict(data),
        )

    @property
    def ended(self) -> bool:
        return self.end_time is not None
