"""What callgate.client itself costs a bot process: CPU per call while streaming both ways.

Starts `callgate serve` (simulated carrier, echo callees), then in this process one `Client`
carrying N calls: each plays an endless 8 kHz PCM16 tone through `call.play()` (2560-byte chunks
paced by the ack's queuedMs) and takes the echo, 50 frames a second, through `on_audio`. After a
warm-up, this process's own CPU time over the window, divided by the calls, is the figure (the
gateway runs in its own process and is not counted). Prints JSON.

    .venv/bin/python -m bench.client_cost --calls 50,200 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import uvloop

from bench.serve import serve_env, wait_healthy
from callgate.api.auth import create_token
from callgate.client import Client
from callgate.media.signals import sine_pcm16
from tests.support import free_port

SECRET = "bench-client-cost-" + "b" * 40
CHUNK = sine_pcm16(440.0, 0.16)


async def endless() -> AsyncIterator[bytes]:
    while True:
        yield CHUNK


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(url: str, calls: int, seconds: float, warmup_s: float) -> dict[str, object]:
    token = create_token(SECRET, "bench", 3600)
    async with Client(url, token) as cg:
        placed = await asyncio.gather(*(cg.dial(f"08119{i:05d}") for i in range(calls)))
        await asyncio.gather(*(call.connected() for call in placed))
        frames = [0]

        def count(frame: bytes) -> None:
            frames[0] += 1

        for call in placed:
            call.on_audio(count)
        plays = [asyncio.create_task(call.play(endless())) for call in placed]
        await asyncio.sleep(warmup_s)
        frames_before, cpu_before, wall_before = frames[0], cpu_s(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, wall = cpu_s() - cpu_before, time.monotonic() - wall_before
        received = frames[0] - frames_before
        await asyncio.gather(*(call.interrupt() for call in placed))
        await asyncio.gather(*plays, return_exceptions=True)
        await asyncio.gather(*(call.hangup() for call in placed))
    per_call = 100 * cpu / wall / calls
    return {
        "calls": calls,
        "window_s": round(wall, 2),
        "client_cpu_percent_of_a_core": round(100 * cpu / wall, 2),
        "client_cpu_percent_per_call": round(per_call, 4),
        "target_percent_per_call": 0.2,
        "frames_received_per_call_per_s": round(received / wall / calls, 1),
        "microseconds_per_frame_received": round(1e6 * cpu / max(received, 1), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", default="50,200", help="comma-separated call counts")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        env = serve_env(
            Path(tmp), SECRET, calls_burst="1000", calls_per_second="1000", record_calls="false"
        )
        log = Path(tmp) / "serve.err"
        with log.open("wb") as sink:
            server = subprocess.Popen(
                [sys.executable, "-m", "callgate", "serve", "--port", str(port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=sink,
            )
        try:
            wait_healthy(url, server, log)
            results = []
            for calls in (int(n) for n in args.calls.split(",")):
                run = uvloop.run if args.loop == "uvloop" else asyncio.run
                results.append(run(measure(url, calls, args.seconds, args.warmup)))
        finally:
            server.terminate()
            server.wait(20)
    print(json.dumps({"loop": args.loop, "results": results}, indent=2))


if __name__ == "__main__":
    main()
