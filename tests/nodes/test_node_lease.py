"""Two real `callgate serve` nodes sharing PostgreSQL and Redis: kill -9 of one with live calls,
and the other closes its records (cause 127) once its lease lapses."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from callgate.api.auth import create_token
from tests.support import need, postgres_database
from tests.test_crash_recovery import SECRET, Server, wait_for

REDIS_URL = "redis://127.0.0.1:6379/7"  # this suite's own db number


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        up = bool(client.ping())
    except redis.ConnectionError:
        up = False
    need(up, "no Redis on 127.0.0.1:6379 (redis-server)")
    yield REDIS_URL
    client.close()


def node(data_dir: Path, database_url: str, redis_url: str, node_id: str) -> Server:
    data_dir.mkdir()
    server = Server(data_dir, database_url)
    server.env["CALLGATE_NODE_ID"] = node_id
    server.env["CALLGATE_REDIS_URL"] = redis_url
    return server


def test_kill_9_of_a_node_closes_its_live_calls_on_another(tmp_path: Path, redis_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    ids = [f"node-a-{tag}", f"node-b-{tag}"]
    headers = {"Authorization": f"Bearer {create_token(SECRET, 'acme')}"}
    with postgres_database("cg_nodes") as database_url:
        a = node(tmp_path / "a", database_url, redis_url, ids[0])
        b = node(tmp_path / "b", database_url, redis_url, ids[1])
        try:
            a.start()
            b.start()
            with httpx.Client(base_url=a.url, headers=headers, timeout=10) as client:
                placed = [
                    client.post("/pbx/call", json={"phoneNumber": f"700000{i}"}).json()["data"][
                        "sessionId"
                    ]
                    for i in range(3)
                ]
                wait_for(
                    lambda: (
                        [c["status"] for c in client.get("/v1/calls").json()["data"]]
                        == ["Connected"] * 3
                    )
                )
            a.kill()
            with httpx.Client(base_url=b.url, headers=headers, timeout=10) as client:

                def closed() -> bool:
                    records = client.get("/v1/cdr", params={"limit": 100}).json()["data"]
                    return sorted(r["sessionId"] for r in records) == sorted(placed) and all(
                        r["endTime"] is not None and r["hangupCauseCode"] == 127 for r in records
                    )

                # The lease's TTL is 10 s; the issue asks for every record closed within 30 s.
                wait_for(closed, timeout_s=30)
                records = client.get("/v1/cdr", params={"limit": 100}).json()["data"]
                assert all(r["disposition"] == "ANSWERED" for r in records)
        finally:
            a.stop()
            b.stop()
            cleanup = redis.Redis.from_url(redis_url)
            cleanup.delete(*(f"callgate:node:{i}" for i in ids))
            cleanup.close()
