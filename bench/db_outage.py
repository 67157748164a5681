"""Fault benchmark: `POST /pbx/call` at a steady rate while PostgreSQL is unavailable for a stretch.

Starts `callgate serve` on a PostgreSQL database of its own, reached through a loopback TCP proxy
(tests/peers/tcp_proxy.py; the server is shared, so it is never stopped), and posts calls at
`--rate` per second for `--seconds`, each with an Idempotency-Key of its own, to a number the
simulated carrier answers busy after 1 s, so calls end by themselves. From `--outage-at` for
`--outage-s` the proxy either holds every byte (`--mode pause`: the database hangs) or resets and
refuses every connection (`--mode cut`: the database is down). Afterwards it replays a sample of the
accepted requests with their keys, waits for every record to close, and counts:

- accepted (200) and refused (503) answers, and anything else;
- CDRs: those of accepted calls, and those closed FAILED cause 44 (refused calls whose record is
  written anyway, never dialled);
- dialled: calls the gateway handed to the carrier (`/health` callsDialled).

They must agree: dialled == accepted == CDRs of accepted calls, every CDR is either an accepted call
or a refused one, and the replays place nothing. Prints JSON.

    .venv/bin/python bench/db_outage.py [--rate 50] [--seconds 40] [--outage-at 10] [--outage-s 15]
                                        [--mode pause|cut] [--no-keys]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import summary
from callgate.api.auth import create_token
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-secret-" + "o" * 40
# The proxy runs in a process of its own, so the load generator's work never delays the database's
# bytes (or the other way round); it takes pause / resume / cut / restore on stdin.
PROXY = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from tests.peers.tcp_proxy import TcpProxy

async def main():
    proxy = TcpProxy(("127.0.0.1", 5432))
    await proxy.start()
    print(proxy.port, flush=True)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while command := (await reader.readline()).decode().strip():
        if command == "pause":
            proxy.pause()
        elif command == "resume":
            proxy.resume()
        elif command == "cut":
            await proxy.cut()
        elif command == "restore":
            await proxy.restore()
        print("ok", flush=True)
    await proxy.close()

asyncio.run(main())
"""
NUMBER = "0812345486"  # busy after 1 s: every call ends by itself
REFUSED_CAUSE = 44


class Proxy:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.port = 0

    async def started(self) -> None:
        assert self.process.stdout is not None
        self.port = int(await self.process.stdout.readline())

    async def tell(self, command: str) -> None:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        assert (await self.process.stdout.readline()).strip() == b"ok"

    async def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await asyncio.wait_for(self.process.wait(), 10)


async def admin(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def text_of(log: Path) -> str:
    return log.read_text(errors="replace")


async def wait_healthy(
    client: httpx.AsyncClient, server: asyncio.subprocess.Process, log: Path
) -> None:
    for _ in range(600):
        if server.returncode is not None:
            sys.exit(text_of(log))
        try:
            if (await client.get("/health")).json()["data"]["status"] == "ok":
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.05)
    sys.exit(f"the gateway did not start:\n{text_of(log)}")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    dsn = args.pg_url.replace("postgresql+asyncpg", "postgresql")
    name = f"cg_bench_outage_{uuid.uuid4().hex[:10]}"
    await admin(dsn, f'CREATE DATABASE "{name}"')
    db_dsn = dsn.rsplit("/", 1)[0] + "/" + name
    proxy = Proxy(
        await asyncio.create_subprocess_exec(
            *(sys.executable, "-c", PROXY, str(ROOT)),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
    )
    await proxy.started()
    tmp = Path(tempfile.mkdtemp(prefix="callgate-outage-"))
    log = tmp / "server.log"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")},
        "CALLGATE_DATA_DIR": str(tmp),
        "CALLGATE_DATABASE_URL": args.pg_url.rsplit("/", 1)[0].replace(
            "127.0.0.1:5432", f"127.0.0.1:{proxy.port}"
        )
        + "/"
        + name,
        "CALLGATE_JWT_SECRET": SECRET,
        "CALLGATE_NODE_ID": "outage-bench",
        "CALLGATE_CALLS_PER_SECOND": "1000",
        "CALLGATE_CALLS_BURST": "1000",
        "CALLGATE_NO_CLIENT_GRACE_S": "0",
        "CALLGATE_LOG_LEVEL": "warning",
    }
    with log.open("wb") as out:
        server = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "callgate", "serve", "--port", str(port)),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    headers = {"Authorization": f"Bearer {create_token(SECRET, 'bench')}"}
    # Idle connections are dropped before uvicorn's 5 s keep-alive ends, so no request is sent on
    # a connection the server is closing.
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400, keepalive_expiry=2.0)
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=10, limits=limits
        ) as client:
            await wait_healthy(client, server, log)
            return await load(args, client, proxy, db_dsn)
    finally:
        await proxy.tell("restore")
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 20)
        except TimeoutError:
            server.kill()
            await server.wait()
        await proxy.close()
        await admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def load(
    args: argparse.Namespace, client: httpx.AsyncClient, proxy: Proxy, db_dsn: str
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    outcomes: dict[str, tuple[int | str, float, str | None]] = {}  # key: status, latency, sid
    phases: dict[str, str] = {}  # key: before, during or after the outage (when it was sent)

    send_lag_ms: list[float] = []
    transport_retries = 0

    async def post(key: str, due: float) -> None:
        nonlocal transport_retries
        started = loop.time()
        send_lag_ms.append(1000 * (started - due))
        offset_s = started - start
        phases[key] = (
            "before"
            if offset_s < args.outage_at
            else "during"
            if offset_s < args.outage_at + args.outage_s
            else "after"
        )
        for attempt in range(3):  # as client libraries do: the key makes the retry safe
            try:
                response = await client.post(
                    "/pbx/call",
                    json={"phoneNumber": NUMBER},
                    headers={"Idempotency-Key": key} if args.keys else None,
                )
                break
            except httpx.TransportError as exc:
                if attempt == 2:
                    outcomes[key] = (type(exc).__name__, loop.time() - started, None)
                    return
                transport_retries += 1
        sid = response.json()["data"]["sessionId"] if response.status_code == 200 else None
        outcomes[key] = (response.status_code, loop.time() - started, sid)

    async def outage() -> None:
        await asyncio.sleep(args.outage_at)
        await proxy.tell(args.mode)
        await asyncio.sleep(args.outage_s)
        await proxy.tell("restore")

    total = int(args.rate * args.seconds)
    fault = asyncio.create_task(outage())
    start = loop.time()
    requests = []
    for i in range(total):
        delay = start + i / args.rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        requests.append(asyncio.create_task(post(f"bench-{i}", start + i / args.rate)))
    await asyncio.gather(*requests)
    await fault
    accepted = {key: sid for key, (status, _, sid) in outcomes.items() if status == 200}

    # Replays of accepted requests: the same answer, nothing dialled.
    sample = sorted(accepted)[:: max(1, len(accepted) // args.replays)][: args.replays]
    if not args.keys:
        sample = []
    replays = await asyncio.gather(
        *(
            client.post("/pbx/call", json={"phoneNumber": NUMBER}, headers={"Idempotency-Key": key})
            for key in sample
        )
    )
    replays_same = sum(
        1
        for key, r in zip(sample, replays, strict=True)
        if r.status_code == 200 and r.json()["data"]["sessionId"] == accepted[key]
    )

    # Every call ends within a second or two; wait until no record is open.
    conn = await asyncpg.connect(db_dsn)
    try:
        for _ in range(600):
            live = (await client.get("/health")).json()["data"]["liveCalls"]
            still_open = await conn.fetchval("SELECT count(*) FROM cdr WHERE end_time IS NULL")
            if live == 0 and still_open == 0:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # a late write or a late dial would show by now
        rows = await conn.fetch("SELECT session_id, disposition, hangup_cause_code FROM cdr")
    finally:
        await conn.close()
    health = (await client.get("/health")).json()["data"]

    statuses = Counter(str(status) for status, _, _ in outcomes.values())
    refused = [key for key, (status, _, _) in outcomes.items() if status == 503]
    accepted_sids = set(accepted.values())
    refused_rows = [
        r
        for r in rows
        if r["hangup_cause_code"] == REFUSED_CAUSE and r["session_id"] not in accepted_sids
    ]
    accepted_rows = [r for r in rows if r["session_id"] in accepted_sids]
    checks = {
        "dialled_equals_accepted": health["callsDialled"] == len(accepted),
        "every_accepted_call_has_its_cdr": len(accepted_rows) == len(accepted),
        "every_cdr_is_accepted_or_refused": len(rows) == len(accepted_rows) + len(refused_rows),
        "refused_cdrs_at_most_refused": len(refused_rows) <= len(refused),
        "refused_cdrs_never_answered": all(r["disposition"] == "FAILED" for r in refused_rows),
        "every_answer_was_200_or_503": set(statuses) <= {"200", "503"},
        "health_counted_every_503": health["databaseRefusals"] == len(refused),
        "replays_same_session": replays_same == len(sample),
    }
    by_phase = Counter(f"{phases[key]}_{status}" for key, (status, _, _) in outcomes.items())
    latency = {
        f"{phase}_{status}": summary(
            [
                1000 * lat
                for key, (s, lat, _) in outcomes.items()
                if str(s) == status and phases[key] == phase
            ]
        )
        for phase in ("before", "during", "after")
        for status in sorted(statuses)
    }
    return {
        "mode": args.mode,
        "idempotency_keys": args.keys,
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "outage": {"at_s": args.outage_at, "for_s": args.outage_s},
        "sent": total,
        "accepted": len(accepted),
        "refused": len(refused),
        "answers": dict(statuses),
        "answers_by_phase": dict(sorted(by_phase.items())),
        "latency_ms_by_phase_and_status": {k: v for k, v in latency.items() if k in by_phase},
        "cdrs": len(rows),
        "cdrs_of_accepted_calls": len(accepted_rows),
        "cdrs_of_refused_calls_failed_44": len(refused_rows),
        "dialled": health["callsDialled"],
        "health_database_refusals": health["databaseRefusals"],
        "client_send_lag_ms": summary(send_lag_ms),
        "client_retries_after_transport_errors": transport_retries,
        "replayed": len(sample),
        "replayed_same_session": replays_same,
        "checks": checks,
        "agree": all(checks.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--outage-at", type=float, default=10.0)
    parser.add_argument("--outage-s", type=float, default=15.0)
    parser.add_argument("--mode", choices=("pause", "cut"), default="pause")
    parser.add_argument("--replays", type=int, default=50)
    parser.add_argument(
        "--no-keys",
        dest="keys",
        action="store_false",
        help="send no Idempotency-Key (refusals then come from the record's write, not the lookup)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the server's log directory")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    started = time.monotonic()
    result = asyncio.run(run(args))
    result["wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
