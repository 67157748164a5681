"""`callgate serve` as the benchmarks start it: its environment, and waiting until it answers."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx


def serve_env(data_dir: Path, secret: str, **settings: str) -> dict[str, str]:
    """This process's environment without any CALLGATE_ variable of its own, plus the data
    directory, the signing secret, warnings-only logs and `settings` (`calls_burst="1000"` becomes
    CALLGATE_CALLS_BURST)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    env.update(
        {
            "CALLGATE_DATA_DIR": str(data_dir),
            "CALLGATE_JWT_SECRET": secret,
            "CALLGATE_LOG_LEVEL": "warning",
        }
    )
    env.update({f"CALLGATE_{name.upper()}": value for name, value in settings.items()})
    return env


def wait_healthy(
    url: str, server: subprocess.Popen[bytes], log: Path | None = None, timeout_s: float = 60
) -> None:
    """Until `url`/health answers 200; exits with the server's log if it dies or never answers."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            detail = log.read_text() if log is not None and log.exists() else ""
            raise SystemExit(f"callgate serve at {url} did not become healthy\n{detail}")
        time.sleep(0.1)
