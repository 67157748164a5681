"""A listing's database work is bounded, and reads cannot take the connections writes need."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.recordstore import CdrQuery, Condition, QueryTooCostly
from callgate.store import SqlRecordStore
from tests.store.conftest import Database
from tests.store.sample import record

# Enough rows that the listing runs for some milliseconds: an overdue SQLite statement is
# interrupted within 1 ms, PostgreSQL's statement_timeout has a floor of 1 ms.
ROWS = {"sqlite": 10_000, "postgresql": 30_000}
# The costliest listing the query language accepts: eight OR-ed negated substring searches with
# long values, on fields no index helps with, so every row of the account is read and compared.
COSTLY = CdrQuery(
    account="acme",
    conditions=tuple(
        Condition(
            field=("hangupCauseText", "callerId", "disposition", "destination")[i % 4],
            op="$ilike",
            values=("y" * 98 + f"{i:02d}",),
            negate=True,
            any_of=True,
        )
        for i in range(8)
    ),
)


async def fill(store: SqlRecordStore, rows: int) -> None:
    records = [
        record(new_session_id(), start=timedelta(seconds=i), end_after=5, disposition="BUSY")
        for i in range(rows)
    ]
    for start in range(0, rows, 5000):
        await store.upsert(records[start : start + 5000])


def store_with(database: Database, **options: float) -> SqlRecordStore:
    return SqlRecordStore(database.url, schema=database.schema, **options)  # type: ignore[arg-type]


async def test_a_listing_past_its_budget_is_stopped(database: Database) -> None:
    roomy = store_with(database)
    await roomy.open()
    try:
        await fill(roomy, ROWS[roomy.dialect])
        assert (await roomy.query(COSTLY)).total == ROWS[roomy.dialect]  # the listing is fine
    finally:
        await roomy.close()
    tight = store_with(database, query_budget_s=1e-9)
    await tight.open()
    try:
        with pytest.raises(QueryTooCostly) as stopped:
            await tight.query(COSTLY)
        assert "budget of 1e-09 s" in str(stopped.value)
        # The stopped connection went back to the pool usable: writes and lookups go through.
        sid = new_session_id()
        await tight.upsert([record(sid, account="globex")])
        assert await tight.get("globex", sid) is not None
    finally:
        await tight.close()


async def test_writes_find_a_connection_while_reads_hold_all_of_theirs(database: Database) -> None:
    store = store_with(database, read_connections=2)
    await store.open()
    try:
        await fill(store, 2000)
        engine = store._open().read_pool
        held = [await engine.connect() for _ in range(2)]  # every read connection in use
        try:
            sid = new_session_id()
            await asyncio.wait_for(store.upsert([record(sid, account="globex")]), 5.0)
            await asyncio.wait_for(store.touch_open("node-a", record(sid).start_time), 5.0)
        finally:
            for conn in held:
                await conn.close()
        assert await store.get("globex", sid) is not None
    finally:
        await store.close()
