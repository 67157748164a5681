"""A real `callgate serve` process killed with SIGKILL mid-call and restarted: no call record is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from callgate.api.auth import create_token
from tests.support import database_url, free_port

__all__ = ["database_url"]

SECRET = "crash-test-secret-" + "y" * 32
CONFIG = """
[[simulator.callee]]
pattern = "7.*"
ring_s = 0.2
"""


class Server:
    def __init__(self, data_dir: Path, database_url: str, config: str = CONFIG) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (data_dir / "callgate.toml").write_text(config)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")},
            "CALLGATE_DATA_DIR": str(data_dir),
            "CALLGATE_DATABASE_URL": database_url,
            "CALLGATE_JWT_SECRET": SECRET,
            "CALLGATE_NODE_ID": "crash-node",
            "CALLGATE_CONFIG": str(data_dir / "callgate.toml"),
            "CALLGATE_LOG_LEVEL": "warning",
        }
        self.log = data_dir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "callgate", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/health", timeout=1).json()["data"]["status"] == "ok":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server did not start:\n{self.log.read_text()}")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def wait_for(predicate: object, timeout_s: float = 10.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_sigkill_mid_call_loses_no_record(tmp_path: Path, database_url: str) -> None:
    server = Server(tmp_path, database_url)
    headers = {"Authorization": f"Bearer {create_token(SECRET, 'acme')}"}
    try:
        server.start()
        placed: list[str] = []
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:

            def call(number: str) -> str:
                response = client.post("/pbx/call", json={"phoneNumber": number})
                assert response.status_code == 200, response.text
                sid: str = response.json()["data"]["sessionId"]
                placed.append(sid)
                return sid

            ended = call("7000001")
            connected = [call("7000002"), call("7000003")]
            wait_for(lambda: len(client.get("/v1/calls").json()["data"]) == 3)
            wait_for(
                lambda: all(
                    c["status"] == "Connected" for c in client.get("/v1/calls").json()["data"]
                )
            )
            assert client.post("/pbx/hangup", json={"sessionId": ended}).status_code == 200
            ringing = [call("0811234480") for _ in range(3)]
            burst = [call("7000004") for _ in range(20)]  # killed while these are being dialled
        server.kill()

        server.start()
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            listing = client.get("/v1/cdr", params={"limit": 1000}).json()
            records = {r["sessionId"]: r for r in listing["data"]}
            assert listing["meta"]["totalItems"] == len(placed) == len(records)
            assert set(records) == set(placed)
            assert all(r["endTime"] is not None and r["disposition"] for r in records.values())
            assert records[ended]["disposition"] == "ANSWERED"
            assert records[ended]["hangupCauseCode"] == 16
            for sid in connected:
                assert records[sid]["disposition"] == "ANSWERED"
                assert records[sid]["hangupCauseCode"] == 127
                assert records[sid]["answerTime"] is not None
            for sid in ringing:
                assert records[sid]["disposition"] == "FAILED"
                assert records[sid]["hangupCauseCode"] == 127
            for sid in burst:
                assert records[sid]["hangupCauseCode"] == 127
            assert client.get("/v1/calls").json()["data"] == []
    finally:
        server.stop()


KILLS = 10
CALLS_PER_ROUND = 200  # at 50 calls/s: 4 s of arrivals, and that many calls live at the kill
CALLS_PER_S = 50


def place_calls(client: httpx.Client, count: int, placed: list[str]) -> None:
    """POST /pbx/call `count` times at CALLS_PER_S (or as fast as the server answers, if slower);
    every call answered 200 goes into `placed`."""
    start = time.monotonic()
    for n in range(count):
        due = start + n / CALLS_PER_S
        if (now := time.monotonic()) < due:
            time.sleep(due - now)
        response = client.post("/pbx/call", json={"phoneNumber": f"7{len(placed):06d}"})
        if response.status_code == 200:
            placed.append(response.json()["data"]["sessionId"])


def test_killed_ten_times_under_load_every_placed_call_has_one_closed_record(
    tmp_path: Path, database_url: str
) -> None:
    server = Server(tmp_path, database_url)
    headers = {"Authorization": f"Bearer {create_token(SECRET, 'acme')}"}
    placed: list[str] = []
    live_at_kill: set[str] = set()
    try:
        for _ in range(KILLS):
            server.start()
            with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
                place_calls(client, CALLS_PER_ROUND, placed)
                live = {c["sessionId"] for c in client.get("/v1/calls").json()["data"]}
            assert live, "no call was live when the process was killed"
            live_at_kill |= live
            server.kill()  # calls ringing, connected, and (the last ones) still being dialled
        server.start()
        with httpx.Client(base_url=server.url, headers=headers, timeout=10) as client:
            assert client.get("/v1/calls").json()["data"] == []
            records: list[dict[str, object]] = []
            page = 1
            while True:
                listing = client.get("/v1/cdr", params={"limit": 1000, "page": page}).json()
                records += listing["data"]
                if page >= listing["meta"]["totalPages"]:
                    break
                page += 1
        ids = [r["sessionId"] for r in records]
        assert len(ids) == len(set(ids))  # one record per call
        assert len(placed) == KILLS * CALLS_PER_ROUND  # every POST was accepted
        assert set(placed) == set(ids)  # every placed call has its record, and no other exists
        assert all(r["endTime"] is not None and r["disposition"] for r in records)  # all closed
        by_id = {r["sessionId"]: r for r in records}
        assert {by_id[sid]["hangupCauseCode"] for sid in live_at_kill} == {127}
    finally:
        server.stop()
