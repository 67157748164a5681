"""Cost of forwarding call audio between nodes (issue 16): two NodeRelays in one process on a real
Redis, node B sending `--calls` calls' 20 ms frames to node A for `--seconds`, one media tick at a
time. Prints JSON: CPU per frame forwarded (sender and receiver together, Redis itself excluded),
Redis messages per call-second, frames lost.

    .venv/bin/python bench/nodes.py --calls 100 --seconds 5 --redis redis://127.0.0.1:6379/11
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid

from redis.asyncio import Redis

from callgate.nodes.relay import NodeRelay


async def run(calls: int, seconds: float, url: str) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    a = NodeRelay(Redis.from_url(url), f"bench-a-{tag}")
    b = NodeRelay(Redis.from_url(url), f"bench-b-{tag}")
    received = 0
    expected = round(seconds * 50) * calls
    all_in = asyncio.Event()

    def heard(session_id: str, frame: bytes) -> None:
        nonlocal received
        received += 1
        if received >= expected:
            all_in.set()

    a.on_audio = heard
    await a.start()
    await b.start()
    sessions = [str(uuid.uuid4()) for _ in range(calls)]
    frame = bytes(320)
    ticks = round(seconds * 50)
    cpu0, wall0 = time.process_time(), time.monotonic()
    for tick in range(ticks):
        for sid in sessions:
            b.send_audio(a.node_id, sid, frame)
        next_at = wall0 + (tick + 1) * 0.02
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    sent = ticks * calls
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_in.wait(), 5)
    cpu = time.process_time() - cpu0
    call_s = calls * ticks * 0.02
    result = {
        "calls": calls,
        "seconds": seconds,
        "frames_sent": sent,
        "frames_received": received,
        "cpu_us_per_frame": round(cpu / max(1, received) * 1e6, 2),
        "cpu_percent_of_core": round(cpu / (time.monotonic() - wall0) * 100, 1),
        "redis_messages_per_call_second": round(b.published / call_s, 4),
        "redis_messages_per_s": round(b.published / (ticks * 0.02), 1),
    }
    await a.stop()
    await b.stop()
    await a.redis.aclose()
    await b.redis.aclose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.seconds, args.redis))))


if __name__ == "__main__":
    main()
