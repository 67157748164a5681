"""Benchmark: calls per second over SIP TLS, beside the same calls over TCP; prints JSON.

The callee is bench/stream_uas.py in a process of its own (it answers every INVITE at once and
discards the RTP). For each transport the trunk, on uvloop as under `callgate serve`, places
calls at `--cps` for `--seconds`, each held `--hold-s` with G.711 sent every 20 ms, then ended by
our BYE. Reported per transport: attempts, successes, setup time (INVITE to 200) p50/p99, the
CPU of this process and of the callee as a share of one core, the connections the callee
accepted (the dialogs reuse the trunk's one connection), and the steal the hypervisor took in the
same window (the machine's floor: figures from a stolen core are not the code's).

    .venv/bin/python bench/sip_tls_calls.py                    # 100 cps for 20 s per transport
    .venv/bin/python bench/sip_tls_calls.py --cps 200 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import cpu_times, percentile, usage_since
from bench.sip_calls import own_cpu_s, process_cpu_s, running_bench, wait_until
from tests.peers.certificates import Certificates, make_certificates

UAS = Path(__file__).resolve().parent / "stream_uas.py"


@contextlib.asynccontextmanager
async def callee(
    certs: Certificates | None,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    tls = ["--cert", str(certs.cert), "--key", str(certs.key)] if certs else []
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(UAS), *tls,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), 10)
        yield process, json.loads(line)["port"]
    finally:
        if process.returncode is None:
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()  # our own callee, by its PID
                await process.wait()


async def run(
    transport: str, certs: Certificates | None, args: argparse.Namespace
) -> dict[str, Any]:
    attempts = int(args.cps * args.seconds)
    concurrent = int(args.cps * (args.hold_s + 2)) + 50
    async with (
        callee(certs if transport == "tls" else None) as (uas, port),
        running_bench(
            port,
            26000,
            concurrent,
            transport=transport,
            tls_ca_file=str(certs.ca) if certs else None,
            rtp_timeout_s=0,  # the callee sends no RTP
        ) as bench,
    ):
        setup_ms: list[float] = []
        outcomes: list[bool] = []

        async def one_call(index: int) -> None:
            session_id, answered = await bench.dial(f"{7000 + index}")
            if answered:
                setup_ms.append(
                    1000 * (bench.answered_at[session_id] - bench.dialled_at[session_id])
                )
                await asyncio.sleep(args.hold_s)
                bench.hangup(session_id)
            outcomes.append(answered and session_id not in bench.hangups)

        times = cpu_times()
        started = time.monotonic()
        cpu, uas_cpu = own_cpu_s(), process_cpu_s(uas.pid)
        tasks = []
        for index in range(attempts):
            delay = started + index / args.cps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one_call(index)))
        offered_s = time.monotonic() - started
        await asyncio.gather(*tasks)
        await wait_until(lambda: len(bench.trunk.engine) == 0, 30.0)
        wall = time.monotonic() - started
        cpu, uas_cpu = own_cpu_s() - cpu, process_cpu_s(uas.pid) - uas_cpu
        machine = usage_since(times)
    assert uas.stderr is not None
    counts = json.loads((await uas.stderr.read()).decode().strip().splitlines()[-1])
    return {
        "transport": transport,
        "attempts": attempts,
        "offered_cps": round(attempts / offered_s, 1),
        "successes": sum(outcomes),
        "setup_ms_p50": round(percentile(setup_ms, 0.50), 2),
        "setup_ms_p99": round(percentile(setup_ms, 0.99), 2),
        "gateway_cpu_percent_of_one_core": round(100 * cpu / wall, 1),
        "callee_cpu_percent_of_one_core": round(100 * uas_cpu / wall, 1),
        "callee_connections": counts.get("connections"),
        "callee_requests": {k: v for k, v in counts.items() if k != "connections"},
        "machine": machine,
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sip-tls-bench-") as directory:
        certs = make_certificates(Path(directory))
        results = [await run(transport, certs, args) for transport in ("tcp", "tls")]
    return {"cps": args.cps, "seconds": args.seconds, "hold_s": args.hold_s, "runs": results}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cps", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--hold-s", type=float, default=1.0)
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))
