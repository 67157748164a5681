"""Benchmark: blind transfers (REFER) through one `callgate serve` on a SIP trunk; prints JSON.

A sipp UAS on loopback (tests/peers/sipp/uas_refer_notify.xml) answers each call, accepts our
REFER with 202 and reports the transferee's call to the target in NOTIFYs: 100 Trying, then
200 OK (terminated). A Socket.IO bot (python-socketio's client) places `--transfers` calls,
`--concurrency` at a time: it joins each, waits for Connected, sends `POST /pbx/transfer` and
times, from just before that request, the `transferStatus` succeeded its room gets, the `cdr`
event that follows (the call's end, with `transferredTo`), and the first `GET /v1/cdr/{id}` (polled
every `--poll-ms`) that serves the CDR from the store, closed (`endTime`) with `transferredTo`.
Beside the figures: how busy the machine was and the time the hypervisor stole meanwhile.

    nice -n 10 .venv/bin/python bench/transfer.py                  # 50 transfers, 5 at a time
    nice -n 10 .venv/bin/python bench/transfer.py --transfers 200 --concurrency 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import cpu_times, percentile, usage_since
from bench.serve import serve_env, wait_healthy
from callgate.api.auth import create_token
from tests.peers.sipp import scenario
from tests.support import free_port

SECRET = "transfer-bench-secret-" + "x" * 40
TARGET = "0215550100"
WAIT_S = 20.0


def figures(values_ms: list[float]) -> dict[str, float | None]:
    if not values_ms:
        return {"p50": None, "p95": None, "p99": None, "max": None}
    return {
        "p50": round(percentile(values_ms, 0.50), 2),
        "p95": round(percentile(values_ms, 0.95), 2),
        "p99": round(percentile(values_ms, 0.99), 2),
        "max": round(max(values_ms), 2),
    }


class Bot:
    """One Socket.IO client: every event of every call it joined, as futures by session id."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.connected: dict[str, asyncio.Future[float]] = defaultdict(self._future)
        self.succeeded: dict[str, asyncio.Future[float]] = defaultdict(self._future)
        self.cdr: dict[str, asyncio.Future[tuple[float, dict[str, Any]]]] = defaultdict(
            self._future
        )
        self.failed: dict[str, Any] = {}
        self.sio.on("dialStatus", self._status)
        self.sio.on("transferStatus", self._transfer)
        self.sio.on("cdr", self._cdr)

    @staticmethod
    def _future() -> asyncio.Future[Any]:
        return asyncio.get_running_loop().create_future()

    @staticmethod
    def _set(future: asyncio.Future[Any], value: Any) -> None:
        if not future.done():
            future.set_result(value)

    def _status(self, data: dict[str, Any]) -> None:
        if data["status"] == "Connected":
            self._set(self.connected[data["sessionId"]], time.monotonic())

    def _transfer(self, data: dict[str, Any]) -> None:
        if data["state"] == "succeeded":
            self._set(self.succeeded[data["sessionId"]], time.monotonic())
        elif data["state"] == "failed":
            self.failed[data["sessionId"]] = data["sipStatus"]

    def _cdr(self, data: dict[str, Any]) -> None:
        self._set(self.cdr[data["sessionId"]], (time.monotonic(), data))


def stop(process: subprocess.Popen[bytes]) -> None:
    """End one of our own processes, by its PID."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    uas_port, sip_port, http_port = free_port(), free_port(), free_port()
    plan = scenario(
        "uas_refer_notify",
        work,
        REFER_TO=TARGET,
        FRAG1="100 Trying",
        FRAG2="100 Trying",  # the same status again: the gateway reports it once
        FINAL="200 OK",
    )
    (work / "callgate.toml").write_text(
        f"""
trunk = "sip:127.0.0.1:{uas_port}"
no_client_grace_s = 0

[sip]
bind_host = "127.0.0.1"
bind_port = {sip_port}
rtp_port_min = {args.rtp_port_min}
rtp_port_max = {args.rtp_port_min + 4 * args.concurrency + 98}
rtp_timeout_s = 0
"""
    )
    uas = subprocess.Popen(  # noqa: ASYNC220 - started once, before the load
        ["sipp", "-sf", str(plan), "-i", "127.0.0.1", "-p", str(uas_port),
         "-mp", str(free_port()), "-nostdin", "-trace_err", "-trace_stat", "-fd", "5"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    log = work / "serve.log"
    env = serve_env(work / "data", SECRET, config=str(work / "callgate.toml"))
    with log.open("wb") as sink:
        server = subprocess.Popen(  # noqa: ASYNC220 - started once, before the load
            [sys.executable, "-m", "callgate", "serve", "--port", str(http_port)],
            env=env, stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
    url = f"http://127.0.0.1:{http_port}"
    token = create_token(SECRET, "acme")
    auth = {"Authorization": f"Bearer {token}"}
    to_status_ms: list[float] = []
    to_cdr_ms: list[float] = []
    to_stored_ms: list[float] = []
    errors: dict[str, int] = defaultdict(int)
    sessions: list[str] = []
    try:
        await asyncio.to_thread(wait_healthy, url, server, log)
        bot = Bot()
        await bot.sio.connect(url, auth={"token": token}, transports=["websocket"])
        async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as http:
            gate = asyncio.Semaphore(args.concurrency)

            async def one(index: int) -> None:
                async with gate:
                    try:
                        placed = await http.post(
                            "/pbx/call", json={"phoneNumber": f"{7000 + index}"}, headers=auth
                        )
                        if placed.status_code != 200:
                            errors[f"place {placed.status_code}"] += 1
                            return
                        sid = placed.json()["data"]["sessionId"]
                        sessions.append(sid)
                        await bot.sio.call("joinRoom", {"sessionId": sid}, timeout=WAIT_S)
                        await asyncio.wait_for(bot.connected[sid], WAIT_S)
                        body = {"sessionId": sid, "target": TARGET, "mode": "blind"}
                        asked = time.monotonic()
                        response = await http.post("/pbx/transfer", json=body, headers=auth)
                        if response.status_code != 200:
                            errors[f"transfer {response.status_code}"] += 1
                            return
                        succeeded = await asyncio.wait_for(bot.succeeded[sid], WAIT_S)
                        ended, cdr = await asyncio.wait_for(bot.cdr[sid], WAIT_S)
                        to_status_ms.append(1000 * (succeeded - asked))
                        if cdr.get("transferredTo") != TARGET:
                            errors["cdr without transferredTo"] += 1
                            return
                        to_cdr_ms.append(1000 * (ended - asked))
                        while time.monotonic() - asked < WAIT_S:
                            got = await http.get(f"/v1/cdr/{sid}", headers=auth)
                            record = got.json()["data"] if got.status_code == 200 else None
                            if record and record["endTime"] and "transferredTo" in record:
                                to_stored_ms.append(1000 * (time.monotonic() - asked))
                                return
                            await asyncio.sleep(args.poll_ms / 1000)
                        errors["cdr not stored in time"] += 1
                    except TimeoutError:
                        errors["timeout"] += 1

            times = cpu_times()
            started = time.monotonic()
            await asyncio.gather(*(one(index) for index in range(args.transfers)))
            wall_s = time.monotonic() - started
            machine = usage_since(times)
            stored = 0
            for sid in sessions:  # every CDR as REST serves it, once all calls are over
                record = (await http.get(f"/v1/cdr/{sid}", headers=auth)).json()["data"]
                if record and record["endTime"] and record.get("transferredTo") == TARGET:
                    stored += 1
        await bot.sio.disconnect()
    finally:
        stop(server)
        stop(uas)
    return {
        "transfers": args.transfers,
        "concurrency": args.concurrency,
        "succeeded": len(to_status_ms),
        "failed_status": sorted(set(map(str, bot.failed.values()))),
        "errors": dict(errors),
        "cdrs_stored_with_transferred_to": stored,
        "wall_s": round(wall_s, 2),
        "command_to_succeeded_ms": figures(to_status_ms),
        "command_to_cdr_event_ms": figures(to_cdr_ms),
        "command_to_cdr_stored_ms": figures(to_stored_ms),
        "poll_ms": args.poll_ms,
        "machine": machine,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--poll-ms", type=float, default=2.0)
    parser.add_argument("--rtp-port-min", type=int, default=47000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="callgate-transfer-bench-") as directory:
        result = asyncio.run(run(args, Path(directory)))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
