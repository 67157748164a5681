"""The CDR writer: every change to a call's record reaches the store, in group-committed batches.

Writes are coalesced per session (only the newest version of a record waits), so memory is bounded by
the number of calls with unwritten changes, and one transaction carries every change that arrived
while the previous one was committing. `submit()` queues a version; `submit_waiting()` also returns a
future that resolves once that version (or a newer one) is durable; `flush()` waits for both kinds.
A failing store is retried with backoff; nothing is dropped.

Placing a call waits through `commit_within()`: the record must be durable within a bound, or the
placement gives up (`RecordNotDurable`) and the call is never dialled. A write that fails ends that
wait at once, and a placement that arrives while the store is failing cuts the backoff short, so a
database that refuses connections is answered at once, one that hangs within the bound.
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


class RecordNotDurable(Exception):
    """A record was not committed within its bound, or the store failed while writing it."""


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
        # commit_within() waits: failed by the first write attempt that fails for their record.
        self._impatient: dict[str, list[asyncio.Future[None]]] = {}
        self._wake = asyncio.Event()
        self._retry_now = asyncio.Event()  # set by a placement while the store is failing
        self._failing = False  # the last write attempt failed
        self.writing = False  # a batch is being written (tests wait for a write to hang on it)
        self._write_started = 0.0  # on the clock, when `writing`
        self.write_failures = 0
        self._task: asyncio.Task[None] | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.batches_written = 0

    def submit(self, record: CallRecord) -> None:
        """Queue this version of the record (the writer retries until it is durable)."""
        self._queue(record)

    def submit_waiting(self, record: CallRecord) -> asyncio.Future[None]:
        """Queue this version of the record; the future resolves when it is durable."""
        return asyncio.shield(self._queue(record))

    def _queue(self, record: CallRecord) -> asyncio.Future[None]:
        """Queue `record`, with the future `flush()` and `submit_waiting()` wait on."""
        self._pending[record.session_id] = record
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(record.session_id, []).append(future)
        self._wake.set()
        # Shielded by submit_waiting(): a caller cancelled while it waits (a request dropped, a
        # task shut down) must not cancel the writer's own future, which `flush()` still waits on.
        return future

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py): records and waiters not yet durable."""
        return {
            "cdr_queued": len(self._pending),
            "cdr_waiters": len(self._waiters) + len(self._impatient),
        }

    def stalled_s(self) -> float:
        """How long the write in progress has been waiting for the database (0 when none is)."""
        return self._clock.monotonic() - self._write_started if self.writing else 0.0

    @property
    def queued(self) -> int:
        """Records waiting for the next write (not counting the one being written)."""
        return len(self._pending)

    async def commit_within(self, record: CallRecord, timeout_s: float) -> None:
        """Submit the record and wait until it is durable, for at most `timeout_s` on the clock.

        Raises `RecordNotDurable` when the bound passes or a write attempt with the record fails.
        Either way the record stays queued (a newer version submitted after it wins), so whatever
        the caller does next (closing it, say) is written in order.
        """
        sid = record.session_id
        durable = self.submit_waiting(record)
        outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def settle(error: RecordNotDurable | None) -> None:
            if outcome.done():
                return
            if error is None:
                outcome.set_result(None)
            else:
                outcome.set_exception(error)

        durable.add_done_callback(lambda _: settle(None))
        self._impatient.setdefault(sid, []).append(outcome)
        timer = self._clock.call_later(
            timeout_s, lambda: settle(RecordNotDurable(f"not committed within {timeout_s:g} s"))
        )
        if self._failing:
            self._retry_now.set()
        try:
            await outcome
        finally:
            timer.cancel()
            waiting = self._impatient.get(sid)
            if waiting is not None and outcome in waiting:
                waiting.remove(outcome)
                if not waiting:
                    del self._impatient[sid]

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
                self.writing = True
                self._write_started = self._clock.monotonic()
                try:
                    await self._store.upsert(list(batch.values()))
                except Exception as exc:
                    self.writing = False
                    if self._failing:  # the traceback was logged when the failures began
                        log.warning("writing %d call records failed again: %r", len(batch), exc)
                    else:
                        log.exception("writing %d call records failed; retrying", len(batch))
                    self._failing = True
                    self.write_failures += 1
                    for sid, record in batch.items():  # a newer version queued meanwhile wins
                        self._pending.setdefault(sid, record)
                    self._give_up_waiting(batch, exc)
                    if not self._impatient:  # nobody waits on a record not yet tried
                        await self._backoff(backoff_s)
                    backoff_s = min(backoff_s * 2, self._retry_max_s)
                    continue
                self.writing = False
                self._failing = False
                backoff_s = 0.05
                self.batches_written += 1
                self._resolve(batch)

    def _give_up_waiting(self, batch: dict[str, CallRecord], exc: Exception) -> None:
        error = f"refused by the database: {type(exc).__name__}: {exc}"
        for sid in batch:
            for outcome in self._impatient.pop(sid, ()):
                if not outcome.done():
                    outcome.set_exception(RecordNotDurable(error[:300]))

    async def _backoff(self, delay_s: float) -> None:
        """Wait before retrying a failed write; a placement waiting for a record ends it early."""
        self._retry_now.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._retry_now.wait(), delay_s)

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
