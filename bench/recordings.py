"""Benchmark: what recording costs, at N concurrent calls (default 300), against the same calls unrecorded.

One gateway in this process on the real clock (uvloop), the simulated carrier's callees answering at
once and playing a tone, every call connected before measuring. For each mode (`off`, then `on`, each
with its own fresh gateway and SQLite database in a temporary directory) it reports, over `--seconds`:
the process's CPU (all threads: the media tick and the writer thread) as % of one core, the media
tick's lateness (p50/p99/max ms) and skipped frames, and with recording the disk write rate (MB/s of
WAV data) and chunks the writer had no room for. Prints JSON.

    .venv/bin/python bench/recordings.py [--calls 300] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import cpu_times, reference_ms, summary, usage_since
from callgate.calls.machine import CallState
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.telephony.simulated.scripts import CalleeScript

SECRET = "bench-recordings-" + "r" * 40
TONE = CalleeScript(r".*", ring_s=0.1, audio="tone", tone_hz=440.0)


async def run(mode: str, calls: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="callgate-rec-bench-") as tmp:
        config = load_config(
            environ={},
            data_dir=tmp,
            jwt_secret=SECRET,
            no_client_grace_s=0,
            max_call_duration_s=3600,
        )
        config = dataclasses.replace(config, simulator_scripts=(TONE,))
        gateway = Gateway.build(config)
        late_ms: list[float] = []
        gateway.ticker.lateness_observer = lambda late_s: late_ms.append(late_s * 1000)
        await gateway.start()
        try:
            for n in range(calls):
                await gateway.calls.place_call("bench", f"0812{n:06d}", record_audio=mode == "on")
            deadline = time.monotonic() + 30
            while not all(c.state is CallState.CONNECTED for c in gateway.calls.calls):
                assert time.monotonic() < deadline, "calls did not all connect in 30 s"
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)  # settled
            late_ms.clear()
            skipped = gateway.ticker.skipped_frames
            written = gateway.recordings.bytes_written
            machine = cpu_times()
            cpu = time.process_time()
            wall = time.monotonic()
            await asyncio.sleep(seconds)
            wall = time.monotonic() - wall
            cpu = time.process_time() - cpu
            written = gateway.recordings.bytes_written - written
            result: dict[str, Any] = {
                "mode": mode,
                "calls": calls,
                "seconds": round(wall, 2),
                "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
                "tick_late_ms": summary(late_ms),
                "skipped_frames": gateway.ticker.skipped_frames - skipped,
                **usage_since(machine),
            }
            if mode == "on":
                result["disk_mb_per_s"] = round(written / wall / 1e6, 2)
                result["expected_mb_per_s"] = round(calls * 32000 / 1e6, 2)
                assert gateway.calls.tap is not None
                result["chunks_dropped"] = gateway.calls.tap.dropped_chunks
                result["write_failures"] = gateway.recordings.failures
            return result
        finally:
            await gateway.stop()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    before = reference_ms()
    runs = [await run(mode, args.calls, args.seconds) for mode in ("off", "on")]
    print(json.dumps({"runs": runs, "reference_ms": [before, reference_ms()]}, indent=2))


if __name__ == "__main__":
    uvloop.run(main())
