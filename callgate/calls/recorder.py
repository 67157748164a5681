"""The CDR writer: every change to a call's record reaches the store, in group-committed batches.

Writes are coalesced per session (only the newest version of a record waits), so memory is bounded by
the number of calls with unwritten changes, and one transaction carries every change that arrived
while the previous one was committing. `submit()` returns a future that resolves once that version
(or a newer one) is durable: placing a call awaits it, so no call is dialled without a record.
A failing store is retried with backoff; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from callgate.calls.causes import Cause, Disposition
from callgate.calls.records import CallRecord, truncate_ms
from callgate.calls.recordstore import RecordStore
from callgate.clock import Clock

log = logging.getLogger(__name__)


class Recorder:
    def __init__(
        self,
        store: RecordStore,
        clock: Clock,
        *,
        node: str,
        max_batch: int = 1000,
        heartbeat_s: float = 10.0,
        retry_max_s: float = 5.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._node = node
        self._max_batch = max_batch
        self._heartbeat_s = heartbeat_s
        self._retry_max_s = retry_max_s
        self._pending: dict[str, CallRecord] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.batches_written = 0

    def submit(self, record: CallRecord) -> asyncio.Future[None]:
        """Queue this version of the record; the future resolves when it is durable."""
        self._pending[record.session_id] = record
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(record.session_id, []).append(future)
        self._wake.set()
        # Shielded: a caller cancelled while it waits (a request dropped, a task shut down) must
        # not cancel the writer's own future, which `flush()` still waits on.
        return asyncio.shield(future)

    async def flush(self) -> None:
        """Wait until every record submitted so far is durable (later submissions are not waited for)."""
        waiting = [future for futures in self._waiters.values() for future in futures]
        if waiting:
            await asyncio.gather(*waiting)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cdr-writer")
            self._heartbeat_task = asyncio.create_task(self._heartbeat(), name="cdr-heartbeat")

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        await self.flush()
        for task in (self._task, self._heartbeat_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._heartbeat_task = None

    async def _run(self) -> None:
        backoff_s = 0.05
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._take_batch()
                try:
                    await self._store.upsert(list(batch.values()))
                except Exception:
                    log.exception("writing %d call records failed; retrying", len(batch))
                    for sid, record in batch.items():  # a newer version queued meanwhile wins
                        self._pending.setdefault(sid, record)
                    await asyncio.sleep(backoff_s)
                    backoff_s = min(backoff_s * 2, self._retry_max_s)
                    continue
                backoff_s = 0.05
                self.batches_written += 1
                self._resolve(batch)

    def _take_batch(self) -> dict[str, CallRecord]:
        if len(self._pending) <= self._max_batch:
            batch, self._pending = self._pending, {}
            return batch
        keys = list(self._pending)[: self._max_batch]
        return {key: self._pending.pop(key) for key in keys}

    def _resolve(self, batch: dict[str, CallRecord]) -> None:
        for sid in batch:
            if sid in self._pending:
                continue  # a newer version is queued: its waiters wait for that
            for future in self._waiters.pop(sid, ()):
                if not future.done():
                    future.set_result(None)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                await self._store.touch_open(self._node, truncate_ms(self._clock.utcnow()))
            except Exception:
                log.exception("CDR heartbeat failed")


def close_orphan(record: CallRecord, now: datetime) -> CallRecord:
    """Close a record left open by a process that died mid-call.

    The call really ended when the process died; the last sign of life we have is the record's
    updatedAt, which the heartbeat keeps within `heartbeat_s` of the death. That is the end time.
    """
    end = max(record.updated_at, record.answer_time or record.start_time)
    disposition = Disposition.ANSWERED if record.answer_time is not None else Disposition.FAILED
    return record.replace(
        end_time=end,
        disposition=disposition.value,
        hangup_by=None,
        hangup_cause_code=int(Cause.INTERWORKING),
        updated_at=truncate_ms(now),
    )


async def recover_orphans(store: RecordStore, node: str, now: datetime) -> Sequence[CallRecord]:
    """At start-up: close every record this node left open. Returns the closed records."""
    closed = [close_orphan(record, now) for record in await store.open_records(node)]
    if closed:
        await store.upsert(closed)
        log.warning(
            "closed %d call records left open by a previous run of node %r", len(closed), node
        )
    return closed
