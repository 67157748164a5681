"""`callgate serve` as a user starts it: a subprocess on a free port, its own data directory."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support import free_port


@contextlib.contextmanager
def served(data_dir: Path, log: Path, **settings: str) -> Iterator[str]:
    """Start `callgate serve` with `CALLGATE_<NAME>` settings (and nothing else of the caller's
    CALLGATE_ environment), wait for /health, yield its URL; stop it and close its log after."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    env["CALLGATE_DATA_DIR"] = str(data_dir)
    env.update({f"CALLGATE_{name.upper()}": value for name, value in settings.items()})
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "callgate", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while not _healthy(url):
                assert server.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, "callgate serve did not start in 30 s"
                time.sleep(0.05)
            yield url
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
