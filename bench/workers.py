"""Benchmark (issue 16): how many concurrent Socket.IO calls one `callgate serve` process carries
against `callgate serve --workers 2`, at the same frame-timing target.

Each mode runs on PostgreSQL (a database of its own, dropped at the end; `--workers 2` also on
Redis) with the simulated carrier (every callee answers and echoes). For each step the official
socket.io-client load (bench/socketio_load.mjs, `--procs` node processes) places the step's calls,
streams audio into each and times the far end's 20 ms frames; a step meets the target when the
p99 of how far frame inter-arrival times stray from 20 ms is at most `--target-ms`. The call
count goes up by `--step` until a step misses it `--tries` times running (or `--max`); a mode's
capacity is its last step that met it. The clients run on the same machine and take their share
of its cores: on a 2-core machine that share is part of what the figure measures. Prints JSON:
every step of both modes and the ratio of their capacities.

    .venv/bin/python bench/workers.py --start 20 --step 20 --max 400 --seconds 10
    .venv/bin/python bench/workers.py --start 5 --step 5 --max 10 --seconds 3   # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.serve import serve_env, wait_healthy  # noqa: E402
from bench.socketio_calls import deviation_summary  # noqa: E402
from callgate.api.auth import create_token  # noqa: E402 - after the path is set
from tests.support import free_port  # noqa: E402

SECRET = "bench-workers-" + "w" * 40
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
UNLIMITED = "100000"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def start_serve(
    data_dir: Path, workers: int, database: str, redis_url: str
) -> tuple[subprocess.Popen[bytes], str]:
    """`callgate serve` (one process, or `--workers N` under its supervisor); its URL."""
    port = free_port()
    settings = {
        "calls_per_second": UNLIMITED,
        "calls_burst": UNLIMITED,
        "max_concurrent_calls": UNLIMITED,
        "database_url": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}",
        "node_id": f"bench-{uuid.uuid4().hex[:6]}",
    }
    argv = [sys.executable, "-m", "callgate", "serve", "--port", str(port)]
    if workers > 1:
        settings["redis_url"] = redis_url
        argv += ["--workers", str(workers)]
    log = data_dir / "serve.log"
    with log.open("ab") as out:
        server = subprocess.Popen(
            argv, env=serve_env(data_dir, SECRET, **settings), stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, server, log)
    return server, url


def run_step(url: str, calls: int, procs: int, seconds: float, ramp_s: float) -> dict[str, Any]:
    """One load of `calls` calls shared by `procs` node processes: frame timing and counts."""
    token = create_token(SECRET, "bench")
    procs = min(procs, calls)
    shares = [calls // procs + (i < calls % procs) for i in range(procs)]
    firsts = [sum(shares[:i]) for i in range(procs)]
    script = str(ROOT / "bench" / "socketio_load.mjs")
    loads = [
        subprocess.Popen(
            ["node", script, url, token, str(share), str(seconds), str(first), str(ramp_s)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for share, first in zip(shares, firsts, strict=True)
    ]
    outputs = []
    for load in loads:
        out = load.communicate(timeout=ramp_s + seconds + 120)[0]
        if load.returncode != 0:
            raise SystemExit(f"socketio_load.mjs exited with {load.returncode}")
        outputs.append(json.loads(out))
    histogram = [sum(column) for column in zip(*(o["histogram"] for o in outputs), strict=True)]
    counts = {
        key: sum(o[key] for o in outputs)
        for key in ("answered", "steadyFrames", "dropped", "failed")
    }
    return {
        "calls": calls,
        **counts,
        "frame_interval_deviation_ms": deviation_summary(histogram, outputs[0]["binMs"]),
    }


def meets(step: dict[str, Any], target_ms: float) -> bool:
    deviation = step["frame_interval_deviation_ms"]
    return (
        step["answered"] == step["calls"]
        and step["failed"] == 0
        and deviation.get("count", 0) > 0
        and deviation["p99"] <= target_ms
    )


def capacity(workers: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Step the call count up on one mode until the target is missed."""
    database = f"cg_bench_workers_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(f'CREATE DATABASE "{database}"'))
    data_dir = tmp / f"workers-{workers}"
    data_dir.mkdir()
    server, url = start_serve(data_dir, workers, database, args.redis)
    steps = []
    best = 0
    try:
        calls = args.start
        while calls <= args.max:
            for _ in range(args.tries):  # one noisy window does not end the climb
                step = run_step(url, calls, args.procs, args.seconds, args.ramp_s)
                step["meets_target"] = meets(step, args.target_ms)
                steps.append(step)
                if step["meets_target"]:
                    break
            if not step["meets_target"]:
                break
            best = calls
            calls += args.step
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    return {
        "workers": workers,
        "capacity_calls": best,
        "reached_max": steps[-1]["meets_target"],  # the target was never missed
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--start", type=int, default=20, help="calls at the first step")
    parser.add_argument("--step", type=int, default=20, help="calls added each step")
    parser.add_argument("--max", type=int, default=400, help="stop stepping here")
    parser.add_argument("--seconds", type=float, default=10, help="steady window of each step")
    parser.add_argument("--ramp-s", type=float, default=3, help="calls placed evenly over this")
    parser.add_argument("--procs", type=int, default=2, help="node load processes")
    parser.add_argument("--target-ms", type=float, default=5.0, help="frame deviation p99 bound")
    parser.add_argument("--tries", type=int, default=2, help="runs of a step before it fails")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14", help="for --workers 2")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="callgate-workers-bench-"))
    one = capacity(1, args, tmp)
    two = capacity(2, args, tmp)
    result = {
        "target": f"frame interval deviation p99 <= {args.target_ms} ms, every call answered",
        "steady_window_s": args.seconds,
        "one_process": one,
        "workers_2": two,
        "ratio": round(two["capacity_calls"] / one["capacity_calls"], 2)
        if one["capacity_calls"]
        else None,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
