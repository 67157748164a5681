"""Benchmark: `POST /pbx/call` requests per second against a real `callgate serve` process.

Starts the gateway (uvicorn + uvloop, one process) on a temporary SQLite database (or PostgreSQL with
`--db postgres`), with admission limits raised out of the way, and drives it with `wrk` (Debian package
`wrk`) posting calls to numbers ending in 486, which the simulated carrier rejects as busy after 1 s, so
live calls stay bounded. Every 200 answer means the call's record was committed before the answer.
Afterwards it checks that the CDR count equals the number of calls placed, and prints JSON.

    .venv/bin/python bench/pbx_call.py [--seconds 10] [--connections 64] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.serve import serve_env, wait_healthy
from callgate.api.auth import create_token

SECRET = "bench-secret-" + "z" * 40
LUA = """
wrk.method = "POST"
wrk.body = '{"phoneNumber": "0812345486"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %s"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def parse_wrk(text: str) -> dict[str, float]:
    def ms(value: str, unit: str) -> float:
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    out: dict[str, float] = {}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["requests_per_s"] = float(rps.group(1)) if rps else 0.0
    total = re.search(r"(\d+) requests in", text)
    out["requests"] = float(total.group(1)) if total else 0.0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    out["socket_errors"] = float(sum(int(g) for g in errors.groups())) if errors else 0.0
    for pct in ("50", "75", "90", "99"):
        match = re.search(rf"\s{pct}%\s+([\d.]+)(us|ms|s)\b", text)
        if match:
            out[f"latency_p{pct}_ms"] = round(ms(match.group(1), match.group(2)), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    tmp = Path(tempfile.mkdtemp(prefix="callgate-bench-"))
    database_url = f"sqlite+aiosqlite:///{tmp / 'cdr.db'}"
    pg_name = ""
    if args.db == "postgres":
        import asyncio

        import asyncpg

        pg_name = f"cg_bench_{os.getpid()}"
        dsn = args.pg_url.replace("postgresql+asyncpg", "postgresql")

        async def admin(sql: str) -> None:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(admin(f'CREATE DATABASE "{pg_name}"'))
        database_url = args.pg_url.rsplit("/", 1)[0] + "/" + pg_name

    port = free_port()
    unlimited = "1000000"
    env = serve_env(
        tmp,
        SECRET,
        database_url=database_url,
        calls_per_second=unlimited,
        calls_burst=unlimited,
        max_concurrent_calls=unlimited,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "callgate", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "server.log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    token = create_token(SECRET, "bench")
    try:
        wait_healthy(url, server, tmp / "server.log", timeout_s=30)
        script = tmp / "post.lua"
        script.write_text(LUA % token)
        wrk = subprocess.run(
            [
                "wrk",
                f"-t{args.threads}",
                f"-c{args.connections}",
                f"-d{args.seconds}s",
                "--latency",
                "-s",
                str(script),
                f"{url}/pbx/call",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        result = parse_wrk(wrk.stdout)
        placed = int(result["requests"] - result["non_2xx"])
        time.sleep(1.5)  # let the last calls end
        cdr = httpx.get(
            f"{url}/v1/cdr", params={"limit": 1}, headers={"Authorization": f"Bearer {token}"}
        ).json()
        result.update(
            {
                "database": args.db,
                "connections": args.connections,
                "seconds": args.seconds,
                "calls_placed": placed,
                "cdrs_recorded": cdr["meta"]["totalItems"],
                # wrk does not count requests still in flight when it stops; those calls are placed
                # and recorded too, so the record count may exceed the 200s by up to one per connection.
                "cdrs_complete": placed <= cdr["meta"]["totalItems"] <= placed + args.connections,
            }
        )
        print(json.dumps(result, indent=2))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        if pg_name:
            import asyncio

            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
