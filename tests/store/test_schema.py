"""The schema the migrations build: reopening, the substring index, statistics, a missing pg_trgm."""

from __future__ import annotations

import logging
import uuid

import pytest
from sqlalchemy import text

from callgate.calls.recordstore import CdrQuery, Condition
from callgate.store import SqlRecordStore
from callgate.store.migrate import VERSION_TABLE
from callgate.store.statistics import MIN_ROWS
from tests.store.conftest import Database, admin
from tests.store.sample import record
from tests.support import need_postgres


def contains(value: str) -> CdrQuery:
    return CdrQuery("acme", (Condition("destination", "$contains", (value,)),))


async def scalar(store: SqlRecordStore, sql: str) -> object:
    async with store.engine().connect() as conn:
        return (await conn.execute(text(sql))).scalar()


async def test_reopening_finds_the_schema_current_and_the_data_kept(database: Database) -> None:
    first = database.store()
    await first.open()
    await first.upsert([record("s1")])
    await first.close()
    again = database.store()
    await again.open()
    try:
        assert await again.get("acme", "s1") == record("s1")
        assert await scalar(again, f"SELECT version_num FROM {VERSION_TABLE}") == "0007"
    finally:
        await again.close()


async def test_destination_has_a_substring_index(store: SqlRecordStore) -> None:
    if store.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE name = 'cdr_destination_fts'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE indexname = 'ix_cdr_destination_trgm'"
    assert await scalar(store, sql) is not None


async def test_the_substring_index_follows_updates_and_deletes(store: SqlRecordStore) -> None:
    await store.upsert([record("s1", destination="081211112222")])
    await store.upsert([record("s1", destination="085733334444")])

    async def matching(text_: str) -> list[str]:
        page = await store.query(contains(text_))
        return [r.session_id for r in page.records]

    assert await matching("0812") == []
    assert await matching("3333") == ["s1"]
    async with store.engine().begin() as conn:
        await conn.execute(text("DELETE FROM cdr"))
    assert await matching("3333") == []


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # PostgreSQL's autovacuum analyzes
async def test_sqlite_statistics_follow_the_tables_growth(store: SqlRecordStore) -> None:
    await store.upsert([record(f"s{i}") for i in range(MIN_ROWS - 1)])
    assert await scalar(store, "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'") is None
    await store.upsert([record("last")])
    stat = await scalar(store, "SELECT stat FROM sqlite_stat1 WHERE tbl = 'cdr' LIMIT 1")
    assert isinstance(stat, str)
    assert stat.split()[0] == str(MIN_ROWS)


@pytest.mark.postgres
async def test_without_pg_trgm_the_store_still_opens_and_searches(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A role that may not create extensions: no trigram index, a warning, same results."""
    url = need_postgres()
    suffix = uuid.uuid4().hex[:10]
    database, role = f"cg_notrgm_{suffix}", f"cg_role_{suffix}"
    await admin(url, f'CREATE DATABASE "{database}"', f"CREATE ROLE {role} LOGIN PASSWORD 'pw'")
    base = url.rsplit("/", 1)[0]
    try:
        await admin(
            f"{base}/{database}",
            "DROP EXTENSION IF EXISTS pg_trgm",
            f"CREATE SCHEMA app AUTHORIZATION {role}",
        )
        host = base.split("@", 1)[1]
        store = SqlRecordStore(f"postgresql+asyncpg://{role}:pw@{host}/{database}", schema="app")
        with caplog.at_level(logging.WARNING, logger="callgate.store"):
            await store.open()
        try:
            assert "no trigram index on cdr.destination" in caplog.text
            await store.upsert([record("s1", destination="081234567890")])
            page = await store.query(contains("0812"))
            assert [r.session_id for r in page.records] == ["s1"]
        finally:
            await store.close()
    finally:
        await admin(url, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)', f"DROP ROLE {role}")
