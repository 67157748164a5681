"""`callgate serve --workers 2` for real, on Redis and PostgreSQL: calls land on both workers, a
client on one (the official JavaScript socket.io-client) follows calls the other owns, and a
worker killed with SIGKILL is restarted by the supervisor while its calls' records are closed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis

from callgate.api.auth import create_token
from tests.api.test_js_client import JS_DIR, node_with_client
from tests.support import free_port, need, postgres_database
from tests.test_crash_recovery import CONFIG, SECRET, Server, wait_for

REDIS_URL = "redis://127.0.0.1:6379/12"  # this suite's own db number


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


class Workers:
    """A `callgate serve --workers N` supervisor and what it was given."""

    def __init__(self, data_dir: Path, database_url: str, redis_url: str, count: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.node_id = f"w-{uuid.uuid4().hex[:8]}"
        self.count = count
        self.database_url = database_url
        (data_dir / "callgate.toml").write_text(CONFIG)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")},
            "CALLGATE_DATA_DIR": str(data_dir),
            "CALLGATE_DATABASE_URL": database_url,
            "CALLGATE_REDIS_URL": redis_url,
            "CALLGATE_JWT_SECRET": SECRET,
            "CALLGATE_NODE_ID": self.node_id,
            "CALLGATE_CONFIG": str(data_dir / "callgate.toml"),
            "CALLGATE_LOG_LEVEL": "warning",
        }
        self.log = data_dir / "workers.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "callgate", "serve", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*argv, "--workers", str(self.count)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(lambda: self.seen_nodes() == self.node_ids(), 60)

    def node_ids(self) -> set[str]:
        return {f"{self.node_id}-{i}" for i in range(1, self.count + 1)}

    def seen_nodes(self, tries: int = 20) -> set[str]:
        """The nodes fresh connections to the shared port reached, that have started."""
        assert self.proc is not None
        assert self.proc.poll() is None, self.log.read_text()
        seen = set()
        for _ in range(tries):
            try:
                data = httpx.get(f"{self.url}/health", timeout=2).json()["data"]
            except httpx.HTTPError:
                continue
            if data["status"] == "ok":
                seen.add(data["nodeId"])
        return seen

    def pinned(self, node_id: str, headers: dict[str, str]) -> httpx.Client:
        """A client whose one kept-alive connection reached worker `node_id`."""
        for _ in range(100):
            client = httpx.Client(
                base_url=self.url,
                headers=headers,
                timeout=10,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            if client.get("/health").json()["data"]["nodeId"] == node_id:
                return client
            client.close()
        raise AssertionError(f"no connection reached {node_id}")

    def worker_pids(self) -> dict[str, int]:
        """node id -> pid of the supervisor's live workers."""
        assert self.proc is not None
        pids = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != self.proc.pid or b"--worker" not in argv:
                continue
            index = argv[argv.index(b"--worker") + 1].decode().split("/")[0]
            pids[f"{self.node_id}-{index}"] = int(entry.name)
        return pids

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            for pid in self.worker_pids().values():
                os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(5)
            raise


@contextlib.contextmanager
def running_workers(tmp_path: Path, redis_url: str, count: int = 2) -> Iterator[Workers]:
    with postgres_database("cg_workers") as database_url:
        workers = Workers(tmp_path, database_url, redis_url, count)
        try:
            workers.start()
            yield workers
        finally:
            workers.stop()


def record_nodes(database_url: str) -> dict[str, str]:
    """session id -> the node in its CDR row."""

    async def read() -> dict[str, str]:
        dsn = database_url.replace("postgresql+asyncpg", "postgresql")
        conn = await asyncpg.connect(dsn)
        try:
            rows = await conn.fetch("SELECT session_id, node FROM cdr")
        finally:
            await conn.close()
        return {row["session_id"]: row["node"] for row in rows}

    return asyncio.run(read())


def test_workers_share_the_port_follow_each_others_calls_and_survive_kill_9(
    tmp_path: Path, redis_url: str
) -> None:
    js = node_with_client()
    account = f"acme-{uuid.uuid4().hex[:6]}"
    headers = {"Authorization": f"Bearer {create_token(SECRET, account)}"}
    with running_workers(tmp_path, redis_url) as workers:
        first, second = sorted(workers.node_ids())
        clients = {node: workers.pinned(node, headers) for node in (first, second)}
        placed: dict[str, list[str]] = {}
        for node, client in clients.items():
            placed[node] = [
                client.post("/pbx/call", json={"phoneNumber": f"70000{i}"}).json()["data"][
                    "sessionId"
                ]
                for i in range(3)
            ]
        for client in clients.values():
            wait_for(
                lambda client=client: (  # type: ignore[misc]
                    [c["status"] for c in client.get("/v1/calls").json()["data"]]
                    == ["Connected"] * 3
                )
            )
        # Each worker owns the calls placed through it: the records carry its node id.
        owners = record_nodes(workers.database_url)
        for node, sessions in placed.items():
            assert {owners[s] for s in sessions} == {node}
        everything = placed[first] + placed[second]
        with subprocess.Popen(
            [js, "follow_calls.mjs", workers.url, create_token(SECRET, account), *everything],
            cwd=JS_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as follower:
            try:
                assert follower.stdout is not None
                assert json.loads(follower.stdout.readline()) == ["joined", 6]
                # The worker the client landed on has it; the other is killed.
                here = {
                    node: client.get("/health", params={"idle": 1}).json()["data"]["idle"][
                        "socketio_clients"
                    ]
                    for node, client in clients.items()
                }
                assert sorted(here.values()) == [0, 1], here
                host = next(node for node, count in here.items() if count == 1)
                victim = next(node for node in clients if node != host)
                old_pid = workers.worker_pids()[victim]
                clients.pop(victim).close()
                os.kill(old_pid, signal.SIGKILL)
                killed = time.monotonic()
                lines = []
                for _ in placed[victim]:
                    lines += [json.loads(follower.stdout.readline()) for _ in range(2)]
                told_s = time.monotonic() - killed
                for session_id in placed[victim]:
                    mine = [line for line in lines if line[1] == session_id]
                    assert mine == [["hangup", session_id], ["cdr", session_id, 127, True]]
                assert told_s < 30
                # The calls of the worker that lived on are untouched; hung up, the client hears.
                for session_id in placed[host]:
                    answer = clients[host].post("/pbx/hangup", json={"sessionId": session_id})
                    assert answer.status_code == 200, answer.text
                rest = [json.loads(line) for line in follower.stdout]
                assert follower.wait(10) == 0, follower.stderr.read() if follower.stderr else ""
            finally:
                if follower.poll() is None:
                    follower.kill()
        for session_id in placed[host]:
            mine = [line for line in rest if line[1] == session_id]
            assert mine == [["hangup", session_id], ["cdr", session_id, 16, True]]
        # The supervisor restarted the killed worker, under its node id, in a new process.
        wait_for(lambda: workers.worker_pids().get(victim, old_pid) != old_pid, 30)
        wait_for(lambda: victim in workers.seen_nodes(), 30)
        restarted = workers.pinned(victim, headers)
        assert restarted.get("/v1/calls").json()["data"] == []
        assert restarted.post("/pbx/call", json={"phoneNumber": "7000099"}).status_code == 200
        for session_id in placed[victim]:
            record = restarted.get(f"/v1/cdr/{session_id}").json()["data"]
            assert (record["disposition"], record["hangupCauseCode"]) == ("ANSWERED", 127)
        restarted.close()
        for client in clients.values():
            client.close()
        pids = workers.worker_pids()
        assert workers.stop() == 0, workers.log.read_text()
        for pid in pids.values():
            assert not Path(f"/proc/{pid}").exists() or _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_second_node_with_a_live_nodes_id_refuses_to_start(
    tmp_path: Path, redis_url: str
) -> None:
    with postgres_database("cg_workers") as database_url:
        data_dir = tmp_path / "a"
        data_dir.mkdir()
        first = Server(data_dir, database_url, CONFIG)
        tag = uuid.uuid4().hex[:8]
        first.env["CALLGATE_NODE_ID"] = f"twin-{tag}"
        first.env["CALLGATE_REDIS_URL"] = redis_url
        twin_dir = tmp_path / "b"
        twin_dir.mkdir()
        twin = Server(twin_dir, database_url, CONFIG)
        twin.env.update(
            CALLGATE_NODE_ID=f"twin-{tag}", CALLGATE_REDIS_URL=redis_url, CALLGATE_LOG_LEVEL="error"
        )
        try:
            first.start()
            headers = {"Authorization": f"Bearer {create_token(SECRET, 'acme')}"}
            call = httpx.post(
                f"{first.url}/pbx/call", json={"phoneNumber": "7000001"}, headers=headers
            )
            assert call.status_code == 200
            result = subprocess.run(
                [sys.executable, "-m", "callgate", "serve", "--port", str(twin.port)],
                env=twin.env,
                capture_output=True,
                text=True,
                timeout=40,
            )
            assert result.returncode == 2, result.stdout + result.stderr
            assert f"node_id 'twin-{tag}' is in use by a live node" in result.stderr
            # The first node's call was left alone (the twin closed no "orphan").
            calls = httpx.get(f"{first.url}/v1/calls", headers=headers).json()["data"]
            assert [c["sessionId"] for c in calls] == [call.json()["data"]["sessionId"]]
        finally:
            first.stop()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "set redis_url"),
        ({"CALLGATE_REDIS_URL": "redis://127.0.0.1:6379/12"}, "needs PostgreSQL"),
    ],
)
def test_workers_refuse_without_redis_and_postgres(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    result = subprocess.run(
        [sys.executable, "-m", "callgate", "serve", "--workers", "2", "--port", str(free_port())],
        env={**clean, "CALLGATE_DATA_DIR": str(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert message in result.stderr
