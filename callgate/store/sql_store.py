"""SqlRecordStore: the domain's RecordStore on SQLAlchemy (SQLite by default, PostgreSQL at scale)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.dml import Insert

from callgate.calls.records import CallRecord, truncate_ms
from callgate.calls.recordstore import CdrPage, CdrQuery
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
    """One pool, three sets of options."""

    plain: AsyncEngine
    writer: AsyncEngine  # SQLite: BEGIN IMMEDIATE, so a writer waits for the lock up front
    reader: AsyncEngine  # PostgreSQL: REPEATABLE READ, so a page and its total agree
    dialect: Dialect


class SqlRecordStore:
    """CDRs in one SQL table; see the migrations for the schema and its indexes.

    Nothing happens on construction; `open()` connects and migrates, `close()` releases.
    """

    def __init__(self, url: str = DEFAULT_URL, *, schema: str | None = None) -> None:
        self._url = url
        self._schema = schema
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
        engines = _Engines(
            plain=engine,
            writer=engine.execution_options(**{WRITE_OPTION: True}),
            reader=engine.execution_options(isolation_level="REPEATABLE READ")
            if postgres
            else engine,
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
            raise
        self._engines = engines

    async def close(self) -> None:
        engines, self._engines = self._engines, None
        if engines is not None:
            await engines.plain.dispose()

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
        async with self._open().plain.connect() as conn:
            row = (await conn.execute(stmt)).first()
        return None if row is None else from_row(row)

    async def query(self, query: CdrQuery) -> CdrPage:
        engines = self._open()
        statements = listing(query, engines.dialect)
        async with engines.reader.begin() as conn:
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


async def _fetch(conn: AsyncConnection, ids: Sequence[int]) -> list[CallRecord]:
    """These records, in this order."""
    if not ids:
        return []
    rows = await conn.execute(select(cdr).where(cdr.c.id.in_(ids)))
    found = {row.id: from_row(row) for row in rows}
    return [found[id_] for id_ in ids]
