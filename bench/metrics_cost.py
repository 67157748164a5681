"""Benchmark: what /metrics costs the media path; prints JSON.

A gateway on a hand-stepped clock (no timer noise) with the simulated carrier holds `--calls`
answered calls whose callees echo; the media tick is stepped `--seconds` of calls' time and the
process CPU it took is measured, with the metrics attached (as `callgate serve` runs) and without,
in alternating rounds so drift in the machine's speed falls on both alike. Reported: CPU per call
per second of audio for each, their ratio, and the machine's busy and steal shares in the same
window (a stolen core inflates both).

    .venv/bin/python bench/metrics_cost.py                 # 200 calls, 10 s, 5 rounds each
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import cpu_times, usage_since
from callgate.clock import ManualClock
from callgate.config import load_config
from callgate.gateway import Gateway

try:
    from callgate.metrics import GatewayMetrics
except ImportError:  # a commit from before the metrics: measures the media path alone
    GatewayMetrics = None  # type: ignore[assignment,misc]

FRAME_S = 0.02


async def one_round(calls: int, seconds: float, with_metrics: bool) -> float:
    """CPU seconds the tick took for `seconds` of `calls` echoing calls."""
    with tempfile.TemporaryDirectory(prefix="metrics-cost-") as directory:
        config = load_config(
            environ={},
            data_dir=directory,
            database_url=f"sqlite+aiosqlite:///{directory}/cdr.db",
            jwt_secret="metrics-cost-" + "m" * 40,
            max_concurrent_calls=calls + 10,
        )
        clock = ManualClock()
        gateway = Gateway.build(config, clock=clock)
        await gateway.start()
        metrics = GatewayMetrics(gateway) if with_metrics else None
        try:
            for index in range(calls):
                await gateway.calls.place_call("bench", f"0812{index:06d}")
            for _ in range(round(2.5 / FRAME_S)):  # the simulator answers after 2 s
                clock.advance(FRAME_S)
            await asyncio.sleep(0)
            connected = sum(call.state.value == "Connected" for call in gateway.calls.calls)
            if connected != calls:
                raise SystemExit(f"only {connected} of {calls} calls connected")
            started = time.process_time()
            for _ in range(round(seconds / FRAME_S)):
                clock.advance(FRAME_S)
            spent = time.process_time() - started
            if metrics is not None:
                metrics.render()  # a scrape, so nothing it reads was left unread
            return spent
        finally:
            if metrics is not None:
                metrics.close()
            await gateway.stop()


async def main(args: argparse.Namespace) -> dict[str, Any]:
    times = cpu_times()
    spent: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for with_metrics in (False, True) if GatewayMetrics is not None else (False,):
            spent[with_metrics].append(await one_round(args.calls, args.seconds, with_metrics))
    machine = usage_since(times)
    per = {
        k: statistics.median(v) / (args.calls * args.seconds) * 1e6 for k, v in spent.items() if v
    }
    if True not in per:
        per[True] = float("nan")
    return {
        "callgate": str(Path(sys.modules["callgate"].__file__ or "").parent),
        "calls": args.calls,
        "seconds_of_audio": args.seconds,
        "rounds": args.rounds,
        "us_cpu_per_call_second_without_metrics": round(per[False], 2),
        "us_cpu_per_call_second_with_metrics": round(per[True], 2),
        "ratio_with_to_without": round(per[True] / per[False], 4),
        "rounds_cpu_s": {"without": spent[False], "with": spent[True]},
        "machine": machine,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))
