"""Benchmark: how regular can a 20 ms tick be on this machine at all? Prints JSON.

The machine's floor for every media timing figure: one process whose only work is the shared
`MediaTicker` (optionally spinning `--work-ms` per tick, as a loaded gateway would), measured as the
deviation of each interval between ticks from 20 ms (p50/p99/max) and how late each tick is against
its absolute deadline. Two drivers: the ticker as shipped (a timerfd on Linux) and, for comparison,
plain loop timers (`loop.call_at` per tick, what the ticker used before). The share of CPU time the
hypervisor stole from this VM during each run is reported beside it.

    .venv/bin/python bench/timer_floor.py --seconds 15 --work-ms 0 6
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import cpu_times, summary, usage_since
from callgate.clock import FRAME_S, LoopClock, MediaTicker


class _LoopTimerClock(LoopClock):
    """The same clock without the periodic timer: each tick arms the next `call_at`."""

    def call_every(self, first_at: float, period_s: float, callback: Any) -> None:
        return None


async def one_run(clock: LoopClock, seconds: float, work_ms: float) -> dict[str, Any]:
    ticker = MediaTicker(clock)
    marks: list[tuple[int, float]] = []

    def listener(tick_no: int) -> None:
        marks.append((tick_no, time.monotonic()))
        until = time.perf_counter() + work_ms / 1000.0
        while time.perf_counter() < until:
            pass

    ticker.subscribe(listener)
    machine_before = cpu_times()
    ticker.start()
    start = ticker._start
    await asyncio.sleep(seconds)
    ticker.stop()
    machine = usage_since(machine_before)
    intervals = [
        abs((t1 - t0) - (n1 - n0) * FRAME_S) * 1000.0
        for (n0, t0), (n1, t1) in itertools.pairwise(marks)
    ]
    lateness = [(t - (start + n * FRAME_S)) * 1000.0 for n, t in marks]
    return {
        "ticks": len(marks),
        "interval_deviation_ms": summary(intervals),
        "lateness_ms": summary(lateness),
        "skipped_frames": ticker.skipped_frames,
        **machine,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"benchmark": "timer_floor", "seconds": args.seconds, "runs": []}
    for work_ms in args.work_ms:
        for name, clock in (("timerfd", LoopClock()), ("loop_timers", _LoopTimerClock())):
            run = await one_run(clock, args.seconds, work_ms)
            results["runs"].append({"driver": name, "work_ms": work_ms, **run})
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--work-ms", type=float, nargs="+", default=[0.0, 6.0])
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))
