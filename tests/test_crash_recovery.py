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
    def __init__(self, data_dir: Path, database_url: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (data_dir / "callgate.toml").write_text(CONFIG)
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
