"""Test helpers shared by every room's tests.

`need()` is how a test asks for a real peer (a program, a database): on a developer's machine that lacks
it the test is skipped with the reason; in CI (`CALLGATE_REQUIRE_PEERS=1`) the test fails instead.
"""

from __future__ import annotations

import os
import shutil
import socket

import pytest

REQUIRE_PEERS = os.environ.get("CALLGATE_REQUIRE_PEERS", "") not in ("", "0")
PG_URL = os.environ.get("CALLGATE_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CALLGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


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


def need_redis() -> str:
    need(tcp_open("127.0.0.1", 6379), "Redis is not listening on 127.0.0.1:6379")
    return REDIS_URL
