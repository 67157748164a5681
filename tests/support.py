"""Test helpers shared by every room's tests.

`need()` is how a test asks for a real peer (a program, a database): on a developer's machine that lacks
it the test is skipped with the reason; in CI (`CALLGATE_REQUIRE_PEERS=1`) the test fails instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest

from callgate.calls.records import CallRecord
from callgate.calls.recordstore import CdrQuery

if TYPE_CHECKING:
    from callgate.gateway import Gateway

REQUIRE_PEERS = os.environ.get("CALLGATE_REQUIRE_PEERS", "") not in ("", "0")
PG_URL = os.environ.get("CALLGATE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


def need(available: bool, reason: str) -> None:
    """Skip (developer machine) or fail (CI) unless `available`."""
    if available:
        return
    if REQUIRE_PEERS:
        pytest.fail(f"required peer missing: {reason}", pytrace=False)
    pytest.skip(reason)


def need_program(name: str) -> str:
    path = shutil.which(name)
    need(path is not None, f"{name} is not installed")
    assert path is not None
    return path


def tcp_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def need_postgres() -> str:
    need(tcp_open("127.0.0.1", 5432), "PostgreSQL is not listening on 127.0.0.1:5432")
    return PG_URL


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A PostgreSQL database of its own for one test (SQLAlchemy URL), dropped afterwards."""
    base = need_postgres()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    dsn = base.replace("postgresql+asyncpg", "postgresql")

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Run the test on SQLite and on PostgreSQL (a fresh database each time)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}"
        return
    with postgres_database("cg_test") as url:
        yield url


async def ended_record(
    gateway: Gateway, account: str, session_id: str | None = None, timeout_s: float = 15.0
) -> CallRecord:
    """The closed CDR of `session_id` (or of the account's only call), once the writer has it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        await gateway.recorder.flush()
        if session_id is not None:
            record = await gateway.store.get(account, session_id)
        else:
            page = await gateway.store.query(CdrQuery(account=account))
            record = page.records[0] if page.total else None
        if record is not None and record.end_time is not None:
            return record
        assert loop.time() < deadline, f"no closed CDR for {session_id or account} in {timeout_s} s"
        await asyncio.sleep(0.02)
