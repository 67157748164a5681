"""A `callgate serve` process for the leak gates: its configuration, its idle-state probe, its RSS.

The gateway runs as users run it (a subprocess on the real clock), so the probe's descriptors and
tasks, and the RSS, are the gateway's alone, not the test's clients'. The probe is read over
`/health?idle=1` on one kept-alive connection, so reading it always costs the same (one connection,
one request in flight).

Each gate churns twice: the first round warms what a process keeps once made (the database's
connections, python-socketio's namespace, imports done on first use), the second must leave every
count exactly where the first left it, and its RSS may grow by `RELOAD_RSS_KB` at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from callgate.api.auth import create_token
from callgate.idle import differences
from tests.support import free_port

SECRET = "leak-gate-secret-" + "l" * 40
IDLE_WAIT_S = 20.0
"""How long a gate waits for the gateway to give everything back. SIP's transactions linger
64 x T1 after a call (Timer J, D and K); the SIP gates shorten T1, so this bounds them too."""
RELOAD_RSS_KB = 4096
"""What the second identical churn may add to the gateway's RSS. The allocator's arenas and the
caches grow in steps over the first rounds (measured on 300 answered Socket.IO calls a round:
+0.6 to +2.5 MB in the second round, flat from the fifth); a leak of 14 KB per call (one call's
playout buffer, say) is over it in one round. The soak benchmark measures the slope over hours."""
POLL_S = 0.05


@dataclass
class Gateway:
    url: str
    process: subprocess.Popen[bytes]
    probe: httpx.AsyncClient
    log: Path

    def token(self, account: str = "acme") -> str:
        return create_token(SECRET, account)

    def auth(self, account: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(account)}"}

    async def held(self) -> dict[str, int]:
        response = await self.probe.get("/health", params={"idle": "1"})
        assert response.status_code == 200, response.text
        idle: dict[str, int] = response.json()["data"]["idle"]
        return idle

    async def wait_idle(
        self, baseline: dict[str, int], timeout_s: float = IDLE_WAIT_S
    ) -> dict[str, tuple[int, int]]:
        """Poll the probe until every count equals `baseline` or `timeout_s` passes; the counts
        that still differ (none when idle)."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = differences(baseline, await self.held())
            if not left or time.monotonic() > deadline:
                return left
            await asyncio.sleep(POLL_S)

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc/<pid>/status")

    def fd_targets(self) -> list[str]:
        """What the gateway's descriptors point at (sockets, files, pipes), for failure messages."""
        targets = []
        for fd in Path(f"/proc/{self.process.pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                targets.append(os.readlink(fd))
        return sorted(targets)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@contextlib.asynccontextmanager
async def serve(directory: Path, config: str, **settings: str) -> AsyncIterator[Gateway]:
    """`callgate serve` with the TOML `config` and `CALLGATE_<NAME>` `settings`; stopped after."""
    process, url, log = _start(directory, config, settings)
    try:
        async with httpx.AsyncClient(
            base_url=url, limits=httpx.Limits(max_connections=1), timeout=10
        ) as probe:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, "callgate serve did not start in 30 s"
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get("/health")).status_code == 200:
                        break
                await asyncio.sleep(POLL_S)
            yield Gateway(url, process, probe, log)
    finally:
        _stop(process)


def _start(
    directory: Path, config: str, settings: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / "callgate.toml"
    config_file.write_text(config)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    env |= {
        "CALLGATE_CONFIG": str(config_file),
        "CALLGATE_DATA_DIR": str(directory / "data"),
        "CALLGATE_JWT_SECRET": SECRET,
        "CALLGATE_LOG_LEVEL": "warning",
    }
    env |= {f"CALLGATE_{name.upper()}": value for name, value in settings.items()}
    log = directory / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "callgate", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    return process, f"http://127.0.0.1:{port}", log


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def client(gateway: Gateway) -> httpx.AsyncClient:
    """A REST client that keeps no connection open between requests, so its connections are
    among what the gateway must give back."""
    return httpx.AsyncClient(
        base_url=gateway.url,
        limits=httpx.Limits(max_keepalive_connections=0, max_connections=64),
        timeout=10,
    )


async def churn_twice(
    gateway: Gateway, churn: Callable[[], Awaitable[Any]], *, expected: Sequence[str] = ()
) -> None:
    """Run `churn` once to warm the process, then again; after the second round every count of
    the probe must be back to its value before it, and the RSS within `RELOAD_RSS_KB`.
    `expected` names counts that must have been seen non-zero meanwhile (the churn did load)."""
    await churn()
    baseline = await _settled(gateway)
    fds_before = gateway.fd_targets()
    rss_before = gateway.rss_kb()
    seen: dict[str, int] = {}

    async def watch() -> None:
        while True:
            for name, count in (await gateway.held()).items():
                seen[name] = max(seen.get(name, 0), count)
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    try:
        await churn()
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    left = await gateway.wait_idle(baseline)
    if "open_fds" in left:
        before, after = set(fds_before), set(gateway.fd_targets())
        left["fds opened: " + ", ".join(sorted(after - before))] = (0, 0)
        left["fds closed: " + ", ".join(sorted(before - after))] = (0, 0)
    assert not left, f"not given back after {IDLE_WAIT_S:g} s (before, after): {left}"
    for name in expected:
        assert seen.get(name, 0) > baseline.get(name, 0), f"the churn never held {name}: {seen}"
    grown_kb = gateway.rss_kb() - rss_before
    assert grown_kb <= RELOAD_RSS_KB, f"the second churn added {grown_kb} KB of RSS"


async def _settled(gateway: Gateway) -> dict[str, int]:
    """The probe once two readings 0.2 s apart agree (the first round has finished leaving)."""
    deadline = time.monotonic() + IDLE_WAIT_S
    previous = await gateway.held()
    while True:
        await asyncio.sleep(0.2)
        current = await gateway.held()
        if current == previous or time.monotonic() > deadline:
            return current
        previous = current
