"""Benchmark: the inbound echo app alone, under N concurrent calls from raw `websockets` "gateways".

Starts `python -m callgate.appkit.echo` (uvloop, one process) with its DTMF and hangup pushed out of the
way, opens N calls from this process (also uvloop), and streams one 320-byte frame per call every 20 ms
for T seconds from one shared ticker, as the gateway's media clock does. Each frame carries its call's
sequence number, so the client counts echoes lost and measures, per call, how far the interval between
consecutive echoes strays from 20 ms (jitter added by the app, the loopback and this client) and the round
trip. The app's CPU is read from /proc; the client's own CPU and the machine's load average are reported
to show whether the client or a neighbour, not the app, was the bottleneck: on a shared 2-core machine
another busy process makes every figure here meaningless. Prints JSON.

    .venv/bin/python bench/inbound_echo_app.py [--calls 300] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import uvloop
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
FRAME_BYTES = 320
FRAME_S = 0.020
SEQ = struct.Struct("<I")
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS_PER_S


@dataclass
class CallStats:
    ws: ClientConnection
    sent_at: dict[int, float] = field(default_factory=dict)
    """perf_counter() when each frame left, by sequence number, until its echo arrives."""
    received: int = 0
    last_arrival: float | None = None
    deviations_ms: list[float] = field(default_factory=list)
    rtts_ms: list[float] = field(default_factory=list)
    measuring: bool = False


async def open_call(port: int, index: int) -> CallStats:
    ws = await connect(f"ws://127.0.0.1:{port}", compression=None, open_timeout=30)
    incoming = {"event": "incoming_call", "callerId": f"08{index:08d}", "didNumber": "021"}
    await ws.send(json.dumps({**incoming, "sessionId": f"bench-{index}"}))
    while True:
        message = await ws.recv()
        if isinstance(message, str) and json.loads(message).get("event") == "answer":
            return CallStats(ws)


async def read_echoes(stats: CallStats) -> None:
    async for message in stats.ws:
        if not isinstance(message, bytes):
            continue
        now = time.perf_counter()  # uvloop's loop.time() only has millisecond resolution
        (seq,) = SEQ.unpack_from(message)
        sent = stats.sent_at.pop(seq, None)
        if sent is None or not stats.measuring:
            continue
        stats.received += 1
        stats.rtts_ms.append((now - sent) * 1000.0)
        if stats.last_arrival is not None:
            stats.deviations_ms.append(abs(now - stats.last_arrival - FRAME_S) * 1000.0)
        stats.last_arrival = now


async def stream(calls: list[CallStats], seconds: float) -> tuple[int, int]:
    """One ticker for every call, on absolute deadlines; (frames sent, ticks skipped when late)."""
    loop = asyncio.get_running_loop()
    payload = bytes(FRAME_BYTES - SEQ.size)
    frames = round(seconds / FRAME_S)
    start = loop.time() + FRAME_S
    sent = skipped = 0
    for stats in calls:
        stats.measuring = True
    for tick in range(frames):
        delay = start + tick * FRAME_S - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -FRAME_S:
            skipped += 1  # the client itself fell a whole frame behind: counted, not hidden
        for stats in calls:
            stats.sent_at[tick] = time.perf_counter()
            await stats.ws.send(SEQ.pack(tick) + payload)
            sent += 1
    return sent, skipped


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    array = np.asarray(values)
    return {
        "p50": round(float(np.percentile(array, 50)), 3),
        "p99": round(float(np.percentile(array, 99)), 3),
        "max": round(float(array.max()), 3),
    }


async def run(calls_n: int, seconds: float, port: int, app_pid: int) -> dict[str, object]:
    calls: list[CallStats] = []
    for first in range(
        0, calls_n, 50
    ):  # open in batches: a burst of 300 handshakes is not the test
        batch = range(first, min(first + 50, calls_n))
        calls += await asyncio.gather(*(open_call(port, i) for i in batch))
    readers = [asyncio.create_task(read_echoes(stats)) for stats in calls]
    await asyncio.sleep(0.5)
    # The client is the instrument: its own garbage-collector pauses would be charged to the app.
    gc.collect()
    gc.disable()
    load_start = os.getloadavg()[0]
    app_cpu_start, client_cpu_start = process_cpu_s(app_pid), time.process_time()
    wall_start = time.monotonic()
    sent, skipped = await stream(calls, seconds)
    await asyncio.sleep(0.5)  # the last echoes in flight
    wall_s = time.monotonic() - wall_start
    app_cpu_s, client_cpu_s = process_cpu_s(app_pid) - app_cpu_start, time.process_time()
    client_cpu_s -= client_cpu_start
    gc.enable()
    for stats in calls:
        stats.measuring = False
    await asyncio.gather(*(stats.ws.send('{"event":"hangup"}') for stats in calls))
    await asyncio.wait(readers, timeout=10)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*(stats.ws.close() for stats in calls))
    received = sum(stats.received for stats in calls)
    return {
        "benchmark": "inbound_echo_app",
        "calls": calls_n,
        "seconds": seconds,
        "frame_bytes": FRAME_BYTES,
        "frames_sent": sent,
        "frames_echoed": received,
        "lost_frames": sent - received,
        "client_late_ticks": skipped,
        "interval_deviation_ms": percentiles([d for s in calls for d in s.deviations_ms]),
        "round_trip_ms": percentiles([r for s in calls for r in s.rtts_ms]),
        "app_cpu_percent": round(100.0 * app_cpu_s / wall_s, 1),
        "client_cpu_percent": round(100.0 * client_cpu_s / wall_s, 1),
        "loop": "uvloop",
        "cpus": os.cpu_count(),
        "load_average_1min": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    port = free_port()
    app = subprocess.Popen(
        [
            *(sys.executable, "-m", "callgate.appkit.echo", "--port", str(port)),
            *("--dtmf-after", "3600", "--hangup-after-dtmf", "3600", "--log-level", "warning"),
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if app.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the echo app did not start") from None
                time.sleep(0.05)
        result = uvloop.run(run(args.calls, args.seconds, port, app.pid))
    finally:
        app.send_signal(signal.SIGINT)  # the app's graceful stop, as Ctrl-C
        app.wait(timeout=30)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
