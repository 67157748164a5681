"""The CDR writer: durable before dialling, coalescing, retrying, and crash recovery."""

from __future__ import annotations

import asyncio

import pytest

from callgate.calls.recorder import Recorder, RecordNotDurable, close_orphan, recover_orphans
from callgate.calls.records import CallRecord
from callgate.clock import ManualClock
from tests.fakes import MemoryStore


def record(sid: str, clock: ManualClock, **changes: object) -> CallRecord:
    now = clock.utcnow()
    base = CallRecord(
        sid, "acme", "outbound", "0811", None, now, None, None, None, None, None, now, now, "n1"
    )
    return base.replace(**changes)


async def test_versions_of_one_record_coalesce_into_one_write() -> None:
    clock, store = ManualClock(), MemoryStore()
    recorder = Recorder(store, clock, node="n1")
    futures = [recorder.submit_waiting(record("a", clock, destination=str(i))) for i in range(100)]
    recorder.start()
    await asyncio.gather(*futures)
    assert store.rows["a"].destination == "99"
    assert sum(len(batch) for batch in store.upserts) == 1
    await recorder.stop()


async def test_a_failing_store_is_retried_and_nothing_is_lost() -> None:
    clock, store = ManualClock(), MemoryStore()
    store.fail_next = 3
    recorder = Recorder(store, clock, node="n1", retry_max_s=0.01)
    recorder.start()
    await asyncio.wait_for(
        asyncio.gather(*(recorder.submit_waiting(record(str(i), clock)) for i in range(50))), 5
    )
    assert len(store.rows) == 50
    await recorder.stop()


async def test_group_commit_batches_concurrent_submissions() -> None:
    clock, store = ManualClock(), MemoryStore()
    recorder = Recorder(store, clock, node="n1", max_batch=1000)
    recorder.start()
    await asyncio.gather(*(recorder.submit_waiting(record(str(i), clock)) for i in range(500)))
    assert len(store.upserts) <= 2
    await recorder.stop()


async def test_orphans_are_closed_at_their_last_heartbeat() -> None:
    clock, store = ManualClock(), MemoryStore()
    clock.advance(1.0)
    start = clock.utcnow()
    clock.advance(2.0)
    answered = record("live", clock).replace(start_time=start, answer_time=clock.utcnow())
    ringing = record("ringing", clock).replace(start_time=start)
    other_node = record("other", clock).replace(node="n2")
    await store.upsert([answered, ringing, other_node])
    clock.advance(30.0)
    await store.touch_open("n1", clock.utcnow())  # the last heartbeat before the crash
    heartbeat = clock.utcnow()
    clock.advance(500.0)
    closed = await recover_orphans(store, "n1", clock.utcnow())
    assert {r.session_id for r in closed} == {"live", "ringing"}
    live = store.rows["live"]
    assert (live.disposition, live.hangup_cause_code, live.hangup_by) == ("ANSWERED", 127, None)
    assert live.end_time == heartbeat
    assert live.billable_seconds == 30
    assert store.rows["ringing"].disposition == "FAILED"
    assert store.rows["other"].end_time is None


def test_close_orphan_never_ends_before_the_answer() -> None:
    clock = ManualClock()
    rec = record("x", clock)
    clock.advance(5)
    rec = rec.replace(answer_time=clock.utcnow())
    assert close_orphan(rec, clock.utcnow()).end_time == rec.answer_time


async def test_a_cancelled_waiter_does_not_break_flush() -> None:
    clock, store = ManualClock(), MemoryStore()
    recorder = Recorder(store, clock, node="n1")
    future = recorder.submit_waiting(record("a", clock))

    async def caller() -> None:  # e.g. the inbound connector, shut down mid-placement
        await future

    task = asyncio.ensure_future(caller())
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0)
    flushing = asyncio.ensure_future(recorder.flush())  # while the write is still pending
    await asyncio.sleep(0)
    recorder.start()
    await asyncio.wait_for(flushing, 5)  # raised CancelledError before submit() shielded its future
    assert "a" in store.rows
    await recorder.stop()


async def test_commit_within_fails_at_once_when_the_write_fails() -> None:
    clock, store = ManualClock(), MemoryStore()
    store.fail_next = 1
    recorder = Recorder(store, clock, node="n1")
    recorder.start()
    with pytest.raises(RecordNotDurable, match="refused by the database: ConnectionError"):
        await asyncio.wait_for(recorder.commit_within(record("a", clock), 2.0), 5)
    assert clock.monotonic() == 0.0  # no bound waited: the failure answered
    await asyncio.wait_for(recorder.flush(), 5)  # and the record is still written, later
    assert "a" in store.rows
    await recorder.stop()


async def test_commit_within_gives_up_at_the_bound_on_the_clock() -> None:
    clock, store = ManualClock(), MemoryStore()
    recorder = Recorder(store, clock, node="n1")  # not started: the write never happens
    waiting = asyncio.ensure_future(recorder.commit_within(record("a", clock), 2.0))
    await asyncio.sleep(0)
    clock.advance(1.999)
    await asyncio.sleep(0)
    assert not waiting.done()
    clock.advance(0.001)
    with pytest.raises(RecordNotDurable, match="not committed within 2 s"):
        await asyncio.wait_for(waiting, 5)
    assert recorder.queued == 1  # still queued: written whenever the store takes it
    recorder.start()
    await asyncio.wait_for(recorder.flush(), 5)
    await recorder.stop()
