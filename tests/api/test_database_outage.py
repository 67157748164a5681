"""POST /pbx/call while the database is really unavailable: 503 within the bound, never a dial.

The database is never stopped (the PostgreSQL server is shared): it is made to refuse or hang by
real means. A table lock held by another PostgreSQL session; a loopback proxy in front of
PostgreSQL that stops forwarding or resets every connection; a second process holding SQLite's
write lock; the store's connection pool taken up. The gateway runs on a hand-stepped clock, so
the bound is checked exactly: no answer at 1.9 s, 503 at 2 s.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.service import UNRECORDED_CAUSE
from tests.api.conftest import Api, dials, post_call, running
from tests.peers.tcp_proxy import TcpProxy
from tests.support import postgres_database

REFUSED = {
    "status": 503,
    "errors": "The call could not be recorded, so it was not placed; retry",
    "data": None,
}
LOOKUP_REFUSED = {
    "status": 503,
    "errors": "The database did not answer in time to check the Idempotency-Key, so the call was"
    " not placed; retry with the same key",
    "data": None,
}
# Holds SQLite's write lock (as another program writing to the file would) until told to let go.
SQLITE_LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of the test's own."""
    with postgres_database("cg_outage") as url:
        yield url


async def eventually(predicate: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    """Wait (at most 10 s of real time) for a real database to reach a state."""
    for _ in range(1000):
        result = predicate()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def answered_at_the_bound(api: Api, *requests: asyncio.Task[httpx.Response]) -> None:
    """Nothing is answered 1.9 s in; at 2 s every request is, with 503 and Retry-After."""
    api.clock.advance(1.9)
    await settle()
    assert not any(r.done() for r in requests)
    api.clock.advance(0.1)
    for response in await asyncio.wait_for(asyncio.gather(*requests), 10):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "2"


async def health(api: Api) -> dict[str, object]:
    data: dict[str, object] = (await api.client.get("/health")).json()["data"]
    return data


async def refused_records(api: Api) -> list[dict[str, object]]:
    await asyncio.wait_for(api.gateway.recorder.flush(), 20)
    listing = await api.client.get("/v1/cdr", headers=api.auth())
    return [r for r in listing.json()["data"] if r["hangupCauseCode"] == int(UNRECORDED_CAUSE)]


async def check_closed_and_never_dialled(api: Api, refused: int) -> None:
    """Once the database is back, each refused call's record is closed FAILED; minutes later
    still nothing has been dialled."""
    records = await refused_records(api)
    assert len(records) == refused
    for record in records:
        assert record["disposition"] == "FAILED"
        assert record["hangupCauseText"] == "Resource unavailable"
        assert record["answerTime"] is None
        assert record["billableSeconds"] == 0
    await api.advance(120.0)
    assert dials(api) == 0
    assert (await api.client.get("/v1/calls", headers=api.auth())).json()["data"] == []


async def retry_places_one_call(api: Api, key: str) -> None:
    """After recovery the client's retry with its key places the call, once."""
    first = await post_call(api, key)
    assert first.status_code == 200
    assert (await post_call(api, key)).json() == first.json()
    assert dials(api) == 1


@pytest.mark.postgres
async def test_a_locked_postgres_table_is_answered_at_the_bound_and_never_dialled(
    pg_url: str, tmp_path: Path
) -> None:
    dsn = pg_url.replace("postgresql+asyncpg", "postgresql")
    async with running(pg_url, tmp_path) as api:
        locker, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        try:
            lock = locker.transaction()
            await lock.start()
            await locker.execute("LOCK TABLE cdr IN ACCESS EXCLUSIVE MODE")
            plain = asyncio.create_task(post_call(api, None))
            keyed = asyncio.create_task(post_call(api, "locked-out"))

            async def both_wait_for_the_lock() -> bool:
                waiting = await watcher.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                return bool(waiting == 2)

            await eventually(both_wait_for_the_lock, "two sessions blocked by the lock")
            await answered_at_the_bound(api, plain, keyed)
            assert plain.result().json() == REFUSED
            assert keyed.result().json() == LOOKUP_REFUSED
            assert await health(api) | {"liveCalls": 0} == {
                "status": "ok",
                "liveCalls": 0,
                "callsDialled": 0,
                "databaseRefusals": 2,
                "nodeId": api.gateway.config.node_id,
            }
            await lock.rollback()
            # The refused call's first record lands now, and is closed after it.
            await check_closed_and_never_dialled(api, refused=1)
            await retry_places_one_call(api, "locked-out")
        finally:
            await locker.close()
            await watcher.close()


async def test_sqlite_locked_by_another_process_is_answered_at_the_bound(tmp_path: Path) -> None:
    database = tmp_path / "cdr.db"
    async with running(f"sqlite+aiosqlite:///{database}", tmp_path) as api:
        holder = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            SQLITE_LOCKER,
            str(database),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert holder.stdin is not None
        assert holder.stdout is not None
        try:
            assert await asyncio.wait_for(holder.stdout.readline(), 10) == b"locked\n"
            plain = asyncio.create_task(post_call(api, None))
            await eventually(lambda: api.gateway.recorder.writing, "the writer waits for the lock")
            # WAL readers are not blocked: the key is looked up, then its record waits its turn.
            keyed = asyncio.create_task(post_call(api, "sqlite-locked"))
            await eventually(lambda: api.gateway.recorder.queued == 1, "the keyed call queued")
            await answered_at_the_bound(api, plain, keyed)
            assert plain.result().json() == keyed.result().json() == REFUSED
            # The write has now waited the whole bound: the next call is refused at once (the
            # clock does not move), and nothing of it is queued.
            third = await asyncio.wait_for(post_call(api, "sqlite-third"), 5)
            assert third.json() == REFUSED
            assert api.gateway.recorder.queued == 2  # the two refused calls' closing records
            assert (await health(api))["databaseRefusals"] == 3
        finally:
            holder.stdin.write(b"release\n")
            await holder.stdin.drain()
            assert await asyncio.wait_for(holder.wait(), 10) == 0
        await check_closed_and_never_dialled(api, refused=2)
        await retry_places_one_call(api, "sqlite-locked")


async def test_an_exhausted_connection_pool_is_answered_at_the_bound(api: Api) -> None:
    engine = api.gateway.store.engine()  # type: ignore[attr-defined]
    pool = engine.pool
    async with AsyncExitStack() as held:  # e.g. slow listings holding every connection
        for _ in range(pool.size() + pool._max_overflow):
            await held.enter_async_context(engine.connect())
        request = asyncio.create_task(post_call(api, None))
        await eventually(lambda: api.gateway.recorder.writing, "the writer waits for a connection")
        await answered_at_the_bound(api, request)
        assert request.result().json() == REFUSED
    await check_closed_and_never_dialled(api, refused=1)
    await retry_places_one_call(api, "after-the-pool")


@asynccontextmanager
async def behind_a_proxy(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[TcpProxy, Api]]:
    """A gateway whose PostgreSQL is reached through a loopback proxy the test can pause or cut."""
    proxy = TcpProxy(("127.0.0.1", 5432))
    await proxy.start()
    try:
        async with running(pg_url.replace("127.0.0.1:5432", proxy.url_host), tmp_path) as api:
            yield proxy, api
    finally:
        await proxy.close()


@pytest.mark.postgres
async def test_a_database_that_refuses_connections_is_answered_at_once(
    pg_url: str, tmp_path: Path
) -> None:
    async with behind_a_proxy(pg_url, tmp_path) as (proxy, api):
        try:
            placed = await post_call(api, None, number="0812345486")
            assert placed.status_code == 200
            await proxy.cut()  # as a stopped server: connections reset, then refused
            started = api.clock.monotonic()
            refused = await asyncio.wait_for(post_call(api, None), 10)
            keyed = await asyncio.wait_for(post_call(api, "refused-at-once"), 10)
            assert api.clock.monotonic() == started  # the clock never moved: no bound expired
            assert refused.status_code == keyed.status_code == 503
            assert refused.json() == REFUSED
            assert keyed.json() == LOOKUP_REFUSED
            assert (await health(api))["databaseRefusals"] == 2
            # Ending a live call never waits for the database, even with a key to check.
            bye = await api.client.post(
                "/pbx/hangup",
                json={"sessionId": placed.json()["data"]["sessionId"]},
                headers={**api.auth(), "Idempotency-Key": "bye-in-the-outage"},
            )
            assert bye.status_code == 200
            assert (await api.client.get("/v1/calls", headers=api.auth())).json()["data"] == []
            unknown = await api.client.post(
                "/pbx/hangup",
                json={"sessionId": new_session_id()},
                headers={**api.auth(), "Idempotency-Key": "bye-unknown"},
            )
            assert unknown.status_code == 503
            assert (await health(api))["databaseRefusals"] == 3
        finally:
            await proxy.restore()
        assert dials(api) == 1
        records = await refused_records(api)
        assert [r["disposition"] for r in records] == ["FAILED"]
        await api.advance(120.0)
        assert dials(api) == 1
        first = await post_call(api, "refused-at-once")
        assert first.status_code == 200
        assert (await post_call(api, "refused-at-once")).json() == first.json()
        assert dials(api) == 2


@pytest.mark.postgres
async def test_a_database_that_stops_answering_is_answered_at_the_bound(
    pg_url: str, tmp_path: Path
) -> None:
    async with behind_a_proxy(pg_url, tmp_path) as (proxy, api):
        try:
            proxy.pause()  # bytes held both ways: the write hangs, it does not fail
            request = asyncio.create_task(post_call(api, None))
            await eventually(lambda: api.gateway.recorder.writing, "the write is in flight")
            await answered_at_the_bound(api, request)
            assert request.result().json() == REFUSED
        finally:
            proxy.resume()
        # The write held by the proxy completes now: it lands, and is closed after it.
        await check_closed_and_never_dialled(api, refused=1)
        await retry_places_one_call(api, "after-the-pause")
