"""SqlRecordStore: the domain's RecordStore on SQLAlchemy (SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from callgate.calls.records import CallRecord, truncate_ms
from callgate.calls.recordstore import CdrPage, CdrQuery, QueryTooCostly, StoreBusy
from callgate.store.engine import WRITE_OPTION, create_engine
from callgate.store.filters import Dialect
from callgate.store.listing import ONE_PASS_MAX_IDS, listing
from callgate.store.migrate import upgrade_to_head
from callgate.store.rows import from_row, unique_rows
from callgate.store.schema import cdr
from callgate.store.statistics import TableStatistics

DEFAULT_URL = "sqlite+aiosqlite:///data/callgate.db"
# A key normally names one record; a few more appear only while refused calls' records are closing.
IDEMPOTENCY_CANDIDATES = 8
# Written once, when the record is first stored; an upsert never changes these.
_INSERT_ONLY = frozenset({"id", "session_id", "account", "created_at"})
DEFAULT_READ_CONNECTIONS = 6
DEFAULT_QUERY_BUDGET_S = 2.0
_PG_QUERY_CANCELED = "57014"
INTERRUPT_EVERY_S = 0.001


@functools.cache
def _upsert_statement(dialect: Dialect) -> Insert:
    """Built once per dialect: each build makes an `excluded` alias of every column, some 170
    objects in reference cycles that only the cyclic GC frees (it paused 15 ms when 300 calls
    ended together), and the statement is the same every time."""
    insert = postgresql.insert(cdr) if dialect == "postgresql" else sqlite.insert(cdr)
    return insert.on_conflict_do_update(
        index_elements=[cdr.c.session_id],
        set_={c.name: insert.excluded[c.name] for c in cdr.c if c.name not in _INSERT_ONLY},
        # A session id never moves between accounts: a record claiming so is not applied.
        where=cdr.c.account == insert.excluded.account,
    )


@dataclass(frozen=True, slots=True)
class _Engines:
    """Two pools: writes (and migrations) on one, reads on the other, so reads exhaust only theirs."""

    plain: AsyncEngine
    writer: AsyncEngine  # SQLite: BEGIN IMMEDIATE, so a writer waits for the lock up front
    reader: AsyncEngine  # its own pool; PostgreSQL: REPEATABLE READ, so a page and its total agree
    read_pool: AsyncEngine
    dialect: Dialect


class SqlRecordStore:
    """CDRs in one SQL table; see the migrations for the schema and its indexes.

    Nothing happens on construction; `open()` connects and migrates, `close()` releases.

    Reads never hold up call records: listings and lookups use a pool of their own of
    `read_connections`, so however many queries run, a record's write finds a connection (and on
    SQLite, in WAL mode, readers never block the writer). A listing runs under a budget of
    `query_budget_s` of database time: SQLite's statement is interrupted when it is spent,
    PostgreSQL's `statement_timeout` stops each statement; either raises `QueryTooCostly`.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        schema: str | None = None,
        read_connections: int = DEFAULT_READ_CONNECTIONS,
        query_budget_s: float = DEFAULT_QUERY_BUDGET_S,
    ) -> None:
        self._url = url
        self._schema = schema
        self._read_connections = read_connections
        self._budget_s = query_budget_s
        self._engines: _Engines | None = None
        self._statistics = TableStatistics()  # SQLite only

    @property
    def dialect(self) -> Dialect:
        return self._open().dialect

    async def open(self) -> None:
        if self._engines is not None:
            return
        engine = create_engine(self._url, schema=self._schema)
        postgres = engine.dialect.name == "postgresql"
        memory = not postgres and (make_url(self._url).database or ":memory:") == ":memory:"
        # An in-memory SQLite database exists only on its one connection: no pool of its own.
        read_pool = (
            engine
            if memory
            else create_engine(self._url, schema=self._schema, pool_size=self._read_connections)
        )
        engines = _Engines(
            plain=engine,
            writer=engine.execution_options(**{WRITE_OPTION: True}),
            reader=read_pool.execution_options(isolation_level="REPEATABLE READ")
            if postgres
            else read_pool,
            read_pool=read_pool,
            dialect="postgresql" if postgres else "sqlite",
        )
        try:
            async with engines.writer.begin() as conn:
                await conn.run_sync(upgrade_to_head)
            if not postgres:
                async with engines.writer.begin() as conn:
                    await self._statistics.load(conn)
                    if self._statistics.stale:
                        await self._statistics.analyze(conn)
        except BaseException:
            await engine.dispose()
            await read_pool.dispose()
            raise
        self._engines = engines

    async def close(self) -> None:
        engines, self._engines = self._engines, None
        if engines is not None:
            await engines.plain.dispose()
            await engines.read_pool.dispose()

    async def upsert(self, records: Sequence[CallRecord]) -> None:
        engines = self._open()
        rows = unique_rows(records)
        if not rows:
            return
        async with engines.writer.begin() as conn:
            await conn.execute(_upsert_statement(engines.dialect), rows)
        if engines.dialect == "sqlite":
            self._statistics.written(len(rows))
            if self._statistics.stale:
                async with engines.writer.begin() as conn:
                    await self._statistics.analyze(conn)

    async def get(self, account: str, session_id: str) -> CallRecord | None:
        stmt = select(cdr).where(cdr.c.session_id == session_id, cdr.c.account == account)
        try:
            async with self._open().read_pool.connect() as conn:
                row = (await conn.execute(stmt)).first()
        except sa_exc.TimeoutError:
            raise StoreBusy from None
        return None if row is None else from_row(row)

    async def query(self, query: CdrQuery) -> CdrPage:
        engines = self._open()
        try:
            async with engines.reader.begin() as conn, self._budget(conn, engines.dialect):
                return await self._page(conn, query, engines.dialect)
        except sa_exc.TimeoutError:
            raise StoreBusy from None
        except sa_exc.DBAPIError as exc:
            if _stopped_by_budget(exc, engines.dialect):
                raise QueryTooCostly(self._budget_s) from None
            raise

    @asynccontextmanager
    async def _budget(self, conn: AsyncConnection, dialect: Dialect) -> AsyncIterator[None]:
        """The listing's statements stop once `query_budget_s` is spent (see the class)."""
        if dialect == "postgresql":
            # Per statement (a listing runs one or two); SET LOCAL ends with the transaction.
            budget_ms = max(1, round(self._budget_s * 1000))
            await conn.exec_driver_sql(f"SET LOCAL statement_timeout = {budget_ms}")
            yield
            return
        # The statement runs on aiosqlite's thread. Once the budget is spent the event loop
        # calls sqlite3's interrupt() (safe from any thread), and again every INTERRUPT_EVERY_S:
        # an interrupt that lands between two statements does nothing (SQLite). No Python code runs on
        # the reader's thread meanwhile, so it never holds the GIL the event loop needs.
        driver = (await conn.get_raw_connection()).driver_connection
        if driver is None:
            raise RuntimeError("the SQLite connection is gone")
        if driver not in _LOWERED:
            await driver.create_function(_LOWER_FUNCTION, 0, _yield_cpu_to_calls)
            cursor = await driver.execute(f"SELECT {_LOWER_FUNCTION}()")  # on the reader's thread
            await cursor.close()
            _LOWERED.add(driver)
        loop = asyncio.get_running_loop()
        interrupts: list[asyncio.Task[None]] = []
        timer: asyncio.TimerHandle | None = None

        def interrupt() -> None:
            nonlocal timer
            interrupts.append(loop.create_task(driver.interrupt()))
            timer = loop.call_later(INTERRUPT_EVERY_S, interrupt)

        timer = loop.call_later(self._budget_s, interrupt)
        try:
            yield
        finally:
            timer.cancel()
            for task in interrupts:
                await task

    async def _page(self, conn: AsyncConnection, query: CdrQuery, dialect: Dialect) -> CdrPage:
        statements = listing(query, dialect)
        if statements.all_ids is not None:
            ids = (await conn.execute(statements.all_ids)).scalars().all()
            if len(ids) <= ONE_PASS_MAX_IDS:
                page = ids[statements.offset : statements.offset + query.limit]
                return CdrPage(records=await _fetch(conn, page), total=len(ids))
        records = [from_row(row) for row in await conn.execute(statements.page)]
        if len(records) < query.limit and (records or statements.offset == 0):
            # A short page is the last one: the total is known without counting.
            total = statements.offset + len(records)
        else:
            total = (await conn.execute(statements.count)).scalar_one()
        return CdrPage(records=records, total=total)

    async def open_records(self, node: str) -> Sequence[CallRecord]:
        # `end_time IS NULL` is the predicate of the partial index ix_cdr_open.
        stmt = select(cdr).where(cdr.c.node == node, cdr.c.end_time.is_(None)).order_by(cdr.c.id)
        async with self._open().plain.connect() as conn:
            return [from_row(row) for row in await conn.execute(stmt)]

    async def open_nodes(self) -> Sequence[str]:
        stmt = select(cdr.c.node).where(cdr.c.end_time.is_(None)).distinct()
        async with self._open().plain.connect() as conn:
            return list((await conn.execute(stmt)).scalars())

    async def touch_open(self, node: str, now: datetime) -> None:
        stmt = (
            update(cdr)
            .where(cdr.c.node == node, cdr.c.end_time.is_(None))
            .values(updated_at=truncate_ms(now))
        )
        async with self._open().writer.begin() as conn:
            await conn.execute(stmt)

    async def find_by_idempotency_key(
        self, account: str, key: str, *, hangup: bool, since: datetime
    ) -> Sequence[CallRecord]:
        # Both predicates are those of the partial indexes of migration 0002.
        key_column = cdr.c.hangup_idempotency_key if hangup else cdr.c.idempotency_key
        time_column = cdr.c.end_time if hangup else cdr.c.created_at
        stmt = (
            select(cdr)
            .where(cdr.c.account == account, key_column == key, time_column >= truncate_ms(since))
            .order_by(cdr.c.id)
            .limit(IDEMPOTENCY_CANDIDATES)
        )
        async with self._open().plain.connect() as conn:
            return [from_row(row) for row in await conn.execute(stmt)]

    def engine(self) -> AsyncEngine:
        """The open store's engine, for tools that work below the store (bulk loads, checks)."""
        return self._open().plain

    def _open(self) -> _Engines:
        if self._engines is None:
            raise RuntimeError("SqlRecordStore is not open")
        return self._engines


READER_NICE = 10
_LOWER_FUNCTION = "callgate_lower_priority"
_LOWERED: weakref.WeakSet[Any] = weakref.WeakSet()  # aiosqlite connections whose thread is lowered


def _yield_cpu_to_calls() -> None:
    """Lower the CPU priority of the calling thread: a SQLite reader's (aiosqlite gives each
    connection a thread of its own, and the read pool's threads only ever read).

    A long listing then gives way to the event loop (calls, media, the API) and the record
    writer: on a 2-core machine, two listings at full speed delayed another account's
    POST /pbx/call by 200 ms at the 99th percentile. Linux only, where the priority is per thread
    (elsewhere it would lower the whole process).
    """
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), READER_NICE)


def _stopped_by_budget(exc: sa_exc.DBAPIError, dialect: Dialect) -> bool:
    if dialect == "postgresql":
        orig = exc.orig
        return _PG_QUERY_CANCELED in (
            getattr(orig, "sqlstate", None),
            getattr(orig, "pgcode", None),
        )
    return "interrupted" in str(exc.orig)


async def _fetch(conn: AsyncConnection, ids: Sequence[int]) -> list[CallRecord]:
    """These records, in this order."""
    if not ids:
        return []
    rows = await conn.execute(select(cdr).where(cdr.c.id.in_(ids)))
    found = {row.id: from_row(row) for row in rows}
    return [found[id_] for id_ in ids]
