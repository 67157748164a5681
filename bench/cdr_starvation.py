"""Benchmark: can one account's CDR queries starve everyone else? Prints JSON.

Loads `--rows` CDRs into a fresh database (SQLite, or PostgreSQL with `--db postgres`), starts a real
`callgate serve` process on it, and then, for `--seconds`:
- one account (`acme`, which owns 40 % of the rows) keeps `--concurrency` (20) worst-case
  `GET /v1/cdr` queries in flight: `--query issue` is the query of issue 11 (64 `$or:$ilike` terms
  of 700 characters), `--query worst` the costliest one the limits still accept (as many
  substring terms as allowed, each `$not:$ilike` with a value of the longest length allowed);
- another account places calls with `POST /pbx/call` at `--rate` per second (numbers ending in 486,
  busy after 1 s, so live calls stay few), one request at a time, timing each.
It reports the other account's call latency (p50/p99/max, and the same measured alone before the
load), how the queries were answered (by status), any 500, and the server's resident memory before
the load, at its peak, and 3 s after it stopped.

    .venv/bin/python bench/cdr_starvation.py [--rows 200000] [--db sqlite|postgres] [--query worst]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cdr_query import generate, load
from bench.measure import summary
from bench.serve import serve_env, wait_healthy
from callgate.api import cdr_query
from callgate.api.auth import create_token
from callgate.store import SqlRecordStore

SECRET = "bench-secret-" + "s" * 40
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def issue_query() -> list[tuple[str, str]]:
    """Issue 11's query: 64 OR-ed case-insensitive substring terms of 700 characters."""
    return [("filter.destination", f"$or:$ilike:{'x' * 699}{i % 10}") for i in range(64)]


def worst_query() -> list[tuple[str, str]]:
    """The costliest query the limits accept: every substring term a negated `$ilike`, OR-ed
    (nothing can be skipped), on fields without an index that helps, values as long as allowed."""
    terms = getattr(cdr_query, "MAX_SUBSTRING_TERMS", cdr_query.MAX_FILTER_TERMS)
    length = getattr(cdr_query, "MAX_VALUE_CHARS", 700)
    fields = ("hangupCauseText", "callerId", "destination", "disposition")
    return [
        (f"filter.{fields[i % len(fields)]}", f"$or:$not:$ilike:{'y' * (length - 2)}{i:02d}")
        for i in range(terms)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """A figure of /proc/<pid>/status in KiB: VmRSS, RssAnon (heap: what a leak grows) or RssFile
    (mapped file pages: SQLite's memory map, which the kernel reclaims as it needs)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def seed(url: str, rows: int) -> None:
    store = SqlRecordStore(url)
    await store.open()
    try:
        await load(store, generate(rows, seed=7))
    finally:
        await store.close()


async def place_calls(
    client: httpx.AsyncClient, token: str, rate: float, until: float
) -> tuple[list[float], Counter[int]]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    headers = {"Authorization": f"Bearer {token}"}
    next_at = time.monotonic()
    while next_at < until:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        started = time.perf_counter()
        try:
            response = await client.post(
                "/pbx/call", json={"phoneNumber": "0812345486"}, headers=headers
            )
            statuses[response.status_code] += 1
        except httpx.HTTPError:
            statuses[0] += 1
        latencies.append((time.perf_counter() - started) * 1000)
        next_at += 1 / rate
    return latencies, statuses


async def query_loop(
    client: httpx.AsyncClient,
    token: str,
    params: list[tuple[str, str]],
    until: float,
    statuses: Counter[int],
    durations: list[float],
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    query = httpx.QueryParams(tuple(params))  # what httpx makes of the list on every request anyway
    while time.monotonic() < until:
        started = time.perf_counter()
        try:
            response = await client.get("/v1/cdr", params=query, headers=headers, timeout=120)
            statuses[response.status_code] += 1
            if response.status_code in (429, 503):
                # A well-behaved client honours Retry-After; a hostile one does not, so at most 1 s.
                await asyncio.sleep(min(1.0, float(response.headers.get("retry-after", "1"))))
        except httpx.HTTPError:
            statuses[0] += 1
        durations.append((time.perf_counter() - started) * 1000)


def query_load(
    url: str, params: list[tuple[str, str]], concurrency: int, seconds: float, out: Any
) -> None:
    """The heavy account's queries, in a process of their own: generating them (encoding 47 KB
    URLs) must not delay the loop that times the other account's calls."""

    async def run() -> None:
        token = create_token(SECRET, "acme")
        statuses: Counter[int] = Counter()
        durations: list[float] = []
        until = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
            await asyncio.gather(
                *(
                    query_loop(client, token, params, until, statuses, durations)
                    for _ in range(concurrency)
                )
            )
        out.put((dict(statuses), durations))

    asyncio.run(run())


async def drive(url: str, pid: int, args: argparse.Namespace) -> dict[str, Any]:
    params = issue_query() if args.query == "issue" else worst_query()
    other = create_token(SECRET, "globex")
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        alone, alone_statuses = await place_calls(
            client, other, args.rate, time.monotonic() + args.baseline_seconds
        )
        await asyncio.sleep(1.5)
        rss_before, anon_before = rss_kib(pid), rss_kib(pid, "RssAnon")
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        load_process = context.Process(
            target=query_load, args=(url, params, args.concurrency, args.seconds, results)
        )
        load_process.start()
        await asyncio.sleep(1.0)  # the load process's start-up (imports) is not load
        until = time.monotonic() + args.seconds - 1.0
        peak, anon_peak = rss_before, anon_before

        async def sample() -> None:
            nonlocal peak, anon_peak
            while time.monotonic() < until:
                peak = max(peak, rss_kib(pid))
                anon_peak = max(anon_peak, rss_kib(pid, "RssAnon"))
                await asyncio.sleep(0.1)

        (loaded, statuses), _ = await asyncio.gather(
            place_calls(client, other, args.rate, until), sample()
        )
        q_statuses, q_durations = await asyncio.to_thread(results.get, True, 180)
        await asyncio.to_thread(load_process.join, 60)
        await asyncio.sleep(3.0)
        rss_after, anon_after = rss_kib(pid), rss_kib(pid, "RssAnon")
    return {
        "query": args.query,
        "concurrency": args.concurrency,
        "other_account_call": {
            "alone_ms": summary(alone),
            "alone_statuses": dict(alone_statuses),
            "under_load_ms": summary(loaded),
            "statuses": dict(statuses),
            "count_500": statuses.get(500, 0),
        },
        "queries": {"statuses": q_statuses, "duration_ms": summary(q_durations)},
        "server_rss_mib": {
            "before": round(rss_before / 1024, 1),
            "peak": round(peak / 1024, 1),
            "after_3s": round(rss_after / 1024, 1),
        },
        "server_rss_anon_mib": {
            "before": round(anon_before / 1024, 1),
            "peak": round(anon_peak / 1024, 1),
            "after_3s": round(anon_after / 1024, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--query", choices=("issue", "worst"), default="worst")
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--baseline-seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=20.0, help="other account's calls per second")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="callgate-starve-"))
    database_url = f"sqlite+aiosqlite:///{tmp / 'cdr.db'}"
    pg_name = ""

    async def admin(sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(args.pg_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    if args.db == "postgres":
        pg_name = f"cg_starve_{os.getpid()}"
        asyncio.run(admin(f'CREATE DATABASE "{pg_name}"'))
        database_url = args.pg_url.rsplit("/", 1)[0] + "/" + pg_name
    server: subprocess.Popen[bytes] | None = None
    try:
        seeded = time.monotonic()
        asyncio.run(seed(database_url, args.rows))
        seed_s = time.monotonic() - seeded
        port = free_port()
        env = serve_env(tmp, SECRET, database_url=database_url)
        server = subprocess.Popen(
            [sys.executable, "-m", "callgate", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp / "server.log").open("wb"),
        )
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, server, tmp / "server.log")
        result = asyncio.run(drive(url, server.pid, args))
        log = (tmp / "server.log").read_text(errors="replace")
        result.update(
            {
                "database": args.db,
                "rows": args.rows,
                "seed_s": round(seed_s, 1),
                "server_tracebacks": log.count("Traceback"),
                "target_met": result["other_account_call"]["under_load_ms"]["p99"] <= 100
                and result["other_account_call"]["count_500"] == 0
                and result["queries"]["statuses"].get(500, 0) == 0,
            }
        )
        print(json.dumps(result, indent=2))
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
        if pg_name:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
