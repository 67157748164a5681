"""Async engines for the CDR store, configured per database.

SQLite: WAL journal with synchronous=NORMAL (a committed transaction survives a killed process; only
a power cut may lose the last ones), a busy timeout so concurrent writers wait instead of failing,
a page cache and memory map large enough for million-row listings, and transactions begun by us
(BEGIN IMMEDIATE for writes) because Python's sqlite3 otherwise skips BEGIN before SELECTs and
its count and page would not see the same snapshot.

PostgreSQL: every statement planned with its actual parameters. asyncpg prepares statements, and
after a few runs PostgreSQL may switch to a generic plan that cannot know whether `LIKE $1` is
`'%0812%'` or `'%'`; for a listing's substring filters that is the difference between using the
trigram index or not.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_KIB = 64 * 1024
SQLITE_MMAP_BYTES = 1 << 30
# Connections marked with this execution option begin their transactions with BEGIN IMMEDIATE,
# taking SQLite's write lock up front, so a writer waits (busy timeout) instead of failing midway.
WRITE_OPTION = "callgate_write"
# Longest a read waits for a connection of its own pool before the store reports itself busy.
POOL_WAIT_S = 5.0

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def dialect_of(url: str | URL) -> str:
    return make_url(url).get_backend_name()


def create_engine(
    url: str, *, schema: str | None = None, pool_size: int | None = None
) -> AsyncEngine:
    """An engine for `url`; `schema` (PostgreSQL only) puts the store's tables in that schema.

    With `pool_size` the engine holds at most that many connections (no overflow), and a caller
    waits at most `POOL_WAIT_S` for one: the store's reads, kept apart from its writes.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    pool: dict[str, Any] = {}
    if pool_size is not None and not _in_memory(parsed):
        pool = {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": POOL_WAIT_S}
    if backend == "sqlite":
        if schema is not None:
            raise ValueError("a schema applies to PostgreSQL only")
        return _sqlite_engine(parsed, pool)
    if backend == "postgresql":
        return _postgres_engine(parsed, schema, pool)
    raise ValueError(
        f"unsupported CDR database {backend!r}: use sqlite+aiosqlite or postgresql+asyncpg"
    )


def _in_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and (url.database or ":memory:") == ":memory:"


def _sqlite_engine(url: URL, pool: dict[str, Any]) -> AsyncEngine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **pool)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _on_begin
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            f"busy_timeout={BUSY_TIMEOUT_MS}",
            f"cache_size=-{SQLITE_CACHE_KIB}",
            f"mmap_size={SQLITE_MMAP_BYTES}",
            "temp_store=MEMORY",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _postgres_engine(url: URL, schema: str | None, pool: dict[str, Any]) -> AsyncEngine:
    settings = {"plan_cache_mode": "force_custom_plan"}
    if schema is not None:
        if not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        # public stays on the path: extensions such as pg_trgm usually live there.
        settings["search_path"] = f'"{schema}", public'
    return create_async_engine(
        url, pool_pre_ping=True, connect_args={"server_settings": settings}, **pool
    )
