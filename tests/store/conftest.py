"""Every store test runs on SQLite (a file in tmp_path) and on PostgreSQL (a schema of its own).

A fresh schema per test keeps runs independent, exercises the migrations inside that isolation
(search_path), and leaves nothing behind.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from callgate.store import SqlRecordStore
from tests.support import need_postgres


@dataclass(frozen=True)
class Database:
    url: str
    schema: str | None = None

    def store(self) -> SqlRecordStore:
        return SqlRecordStore(self.url, schema=self.schema)


async def admin(url: str, *statements: str) -> None:
    """Run statements outside a transaction (CREATE DATABASE must), as the server's superuser."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        yield Database(f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}")
        return
    url = need_postgres()
    schema = f"cg_store_{uuid.uuid4().hex[:12]}"
    await admin(url, f'CREATE SCHEMA "{schema}"')
    try:
        yield Database(url, schema)
    finally:
        await admin(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
async def store(database: Database) -> AsyncIterator[SqlRecordStore]:
    opened = database.store()
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
