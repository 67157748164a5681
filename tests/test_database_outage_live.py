"""A real `callgate serve` process on real time while its database fails: the bound holds by the
wall clock, a full disk is answered at once, and an Idempotency-Key survives a SIGKILL.

PostgreSQL is shared, so it is never stopped: the gateway reaches it through a loopback proxy
that the test pauses. The full disk is a real one: the gateway runs in a user namespace of its own
(`unshare`, no root needed) with its data directory on an 8 MiB tmpfs, which the test fills.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callgate.api.auth import create_token
from tests.peers.tcp_proxy import TcpProxy
from tests.support import database_url, free_port, need, postgres_database
from tests.test_crash_recovery import SECRET, Server

__all__ = ["database_url"]

HEADERS = {"Authorization": f"Bearer {create_token(SECRET, 'acme')}"}
BOUND_S = 2.0
REFUSED_CAUSE = 44
UNSHARE = ("unshare", "--user", "--map-root-user", "--mount")


def keyed(key: str) -> dict[str, str]:
    return {**HEADERS, "Idempotency-Key": key}


def refused_records(client: httpx.Client) -> list[dict[str, object]]:
    listing = client.get("/v1/cdr", params={"filter.hangupCauseCode": f"$eq:{REFUSED_CAUSE}"})
    records: list[dict[str, object]] = listing.json()["data"]
    return records


def test_a_key_survives_a_crash_and_a_restart(tmp_path: Path, database_url: str) -> None:
    server = Server(tmp_path, database_url)
    try:
        server.start()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            first = client.post("/pbx/call", json={"phoneNumber": "7000001"}, headers=keyed("k1"))
            assert first.status_code == 200
            assert client.get("/health").json()["data"]["callsDialled"] == 1
        server.kill()  # SIGKILL: nothing is flushed on the way out
        server.start()
        with httpx.Client(base_url=server.url, timeout=10) as client:
            again = client.post("/pbx/call", json={"phoneNumber": "7000001"}, headers=keyed("k1"))
            assert again.status_code == 200
            assert again.json() == first.json()
            assert again.headers["idempotent-replayed"] == "true"
            other = client.post("/pbx/call", json={"phoneNumber": "7000002"}, headers=keyed("k1"))
            assert other.status_code == 409
            assert client.get("/health").json()["data"]["callsDialled"] == 0
            listing = client.get("/v1/cdr", headers=HEADERS).json()
            assert listing["meta"]["totalItems"] == 1
    finally:
        server.stop()


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database("cg_live_outage") as url:
        yield url


@pytest.mark.postgres
async def test_a_paused_database_is_answered_within_the_bound_in_real_time(
    pg_url: str, tmp_path: Path
) -> None:
    proxy = TcpProxy(("127.0.0.1", 5432))
    await proxy.start()
    server = Server(tmp_path, pg_url.replace("127.0.0.1:5432", proxy.url_host))
    try:
        await asyncio.to_thread(server.start)  # its database traffic crosses this loop
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            ok = await client.post("/pbx/call", json={"phoneNumber": "7000001"}, headers=HEADERS)
            assert ok.status_code == 200
            proxy.pause()
            try:
                # The key's lookup hangs, then (no key) the record's write: each is answered at
                # the bound. Once a write has waited that long, the next call is refused at once.
                for headers, least_s, most_s in (
                    (keyed("paused"), BOUND_S - 0.05, BOUND_S + 1.5),
                    (HEADERS, BOUND_S - 0.05, BOUND_S + 1.5),
                    (HEADERS, 0.0, 0.5),
                ):
                    started = time.monotonic()
                    refused = await client.post(
                        "/pbx/call", json={"phoneNumber": "7000002"}, headers=headers
                    )
                    elapsed_s = time.monotonic() - started
                    assert refused.status_code == 503
                    assert refused.headers["retry-after"] == "2"
                    assert least_s <= elapsed_s < most_s, elapsed_s
                health = (await client.get("/health")).json()["data"]
                assert health["databaseRefusals"] == 3
                assert health["callsDialled"] == 1
            finally:
                proxy.resume()
            for _ in range(200):  # the held write lands, then the record is closed
                listing = await client.get(
                    "/v1/cdr", params={"filter.hangupCauseCode": "$eq:44"}, headers=HEADERS
                )
                if listing.json()["data"]:
                    break
                await asyncio.sleep(0.05)
            assert [r["disposition"] for r in listing.json()["data"]] == ["FAILED"]
            await asyncio.sleep(1.0)  # long enough for a late dial to show
            assert (await client.get("/health")).json()["data"]["callsDialled"] == 1
            retry = await client.post(
                "/pbx/call", json={"phoneNumber": "7000002"}, headers=keyed("paused")
            )
            assert retry.status_code == 200
            assert (await client.get("/health")).json()["data"]["callsDialled"] == 2
    finally:
        proxy.resume()
        await asyncio.to_thread(server.stop)
        await proxy.close()


# Runs inside `unshare --user --map-root-user --mount`: mounts a small tmpfs on the data directory,
# starts the gateway on it, and fills or frees that filesystem when told to on stdin.
FULL_DISK_WRAPPER = r"""
import errno, os, sqlite3, subprocess, sys
data, port, log = sys.argv[1], sys.argv[2], sys.argv[3]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", data], check=True)
with open(log, "ab") as out:
    server = subprocess.Popen(
        [sys.executable, "-m", "callgate", "serve", "--port", port], stdout=out, stderr=out
    )
print("started", flush=True)
filler = os.path.join(data, "filler")
for line in sys.stdin:
    command = line.strip()
    if command == "fill":
        # An empty WAL, so the next commit needs new space rather than reusing the old frames.
        db = sqlite3.connect(os.path.join(data, "callgate.db"))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        os.close(fd)
        print("full", flush=True)
    elif command == "free":
        os.remove(filler)
        print("freed", flush=True)
    elif command == "stop":
        break
server.terminate()
server.wait(15)
"""


def can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*UNSHARE, "true"], capture_output=True)
    return probe.returncode == 0


def test_a_full_disk_is_answered_at_once_and_never_dialled(tmp_path: Path) -> None:
    need(can_unshare(), "unprivileged user namespaces (unshare -rm) are not available")
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    (tmp_path / "callgate.toml").write_text('[[simulator.callee]]\npattern = "7.*"\nring_s = 0.2\n')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")},
        "CALLGATE_DATA_DIR": str(data),
        "CALLGATE_JWT_SECRET": SECRET,
        "CALLGATE_NODE_ID": "full-disk-node",
        "CALLGATE_CONFIG": str(tmp_path / "callgate.toml"),
        "CALLGATE_LOG_LEVEL": "warning",
    }
    log = tmp_path / "server.log"
    wrapper = subprocess.Popen(
        [*UNSHARE, sys.executable, "-c", FULL_DISK_WRAPPER, str(data), str(port), str(log)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert wrapper.stdin is not None
    assert wrapper.stdout is not None

    def tell(command: str, answer: str) -> None:
        assert wrapper.stdin is not None
        assert wrapper.stdout is not None
        wrapper.stdin.write(command + "\n")
        wrapper.stdin.flush()
        assert wrapper.stdout.readline().strip() == answer, log.read_text()

    try:
        assert wrapper.stdout.readline().strip() == "started"
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, headers=HEADERS, timeout=10) as client:
            for _ in range(600):
                try:
                    if client.get("/health").json()["data"]["status"] == "ok":
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            assert client.post("/pbx/call", json={"phoneNumber": "7000001"}).status_code == 200
            tell("fill", "full")
            started = time.monotonic()
            refused = client.post("/pbx/call", json={"phoneNumber": "7000002"})
            elapsed_s = time.monotonic() - started
            assert refused.status_code == 503, refused.text
            assert elapsed_s < BOUND_S / 2, elapsed_s  # the disk said no at once
            assert "database or disk is full" in log.read_text()
            health = client.get("/health").json()["data"]
            assert health["databaseRefusals"] == 1
            assert health["callsDialled"] == 1
            tell("free", "freed")
            for _ in range(200):  # the writer retries with backoff: the refused record closes
                if refused_records(client):
                    break
                time.sleep(0.05)
            assert [r["disposition"] for r in refused_records(client)] == ["FAILED"]
            assert client.get("/health").json()["data"]["callsDialled"] == 1
            assert client.post("/pbx/call", json={"phoneNumber": "7000003"}).status_code == 200
    finally:
        if wrapper.poll() is None:
            wrapper.stdin.write("stop\n")
            wrapper.stdin.flush()
            try:
                wrapper.wait(20)
            except subprocess.TimeoutExpired:
                wrapper.kill()
                wrapper.wait(5)
        wrapper.stdin.close()
        wrapper.stdout.close()
