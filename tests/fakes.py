"""In-memory stand-ins for unit tests of the domain (the real store is tested in tests/store)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from callgate.calls.records import CallRecord
from callgate.calls.recordstore import CdrPage, CdrQuery


class MemoryStore:
    """A RecordStore in a dict; `fail_next` makes the next upserts raise, as a dead database would."""

    def __init__(self) -> None:
        self.rows: dict[str, CallRecord] = {}
        self.upserts: list[list[CallRecord]] = []
        self.fail_next = 0

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def upsert(self, records: Sequence[CallRecord]) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise ConnectionError("database unavailable")
        self.upserts.append(list(records))
        for record in records:
            old = self.rows.get(record.session_id)
            self.rows[record.session_id] = (
                record if old is None else record.replace(created_at=old.created_at)
            )

    async def get(self, account: str, session_id: str) -> CallRecord | None:
        record = self.rows.get(session_id)
        return record if record is not None and record.account == account else None

    async def query(self, query: CdrQuery) -> CdrPage:
        rows = [r for r in self.rows.values() if r.account == query.account]
        return CdrPage(rows, len(rows))

    async def open_records(self, node: str) -> Sequence[CallRecord]:
        return [r for r in self.rows.values() if r.node == node and r.end_time is None]

    async def find_by_idempotency_key(
        self, account: str, key: str, *, hangup: bool, since: datetime
    ) -> Sequence[CallRecord]:
        return [
            r
            for r in self.rows.values()
            if r.account == account
            and (r.hangup_idempotency_key if hangup else r.idempotency_key) == key
            and ((r.end_time or since) if hangup else r.created_at) >= since
        ]

    async def open_nodes(self) -> Sequence[str]:
        return sorted({r.node for r in self.rows.values() if r.end_time is None})

    async def touch_open(self, node: str, now: datetime) -> None:
        for sid, record in list(self.rows.items()):
            if record.node == node and record.end_time is None:
                self.rows[sid] = record.replace(updated_at=now)
