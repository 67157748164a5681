"""Benchmark: concurrent outbound calls over Socket.IO with audio both ways, on one gateway process.

Starts `callgate serve` (uvicorn + uvloop, SQLite, simulated carrier: every call echoes), then runs
`bench/socketio_load.mjs` under node with the official socket.io-client: N clients, one call each,
streaming PCM16 in 2560-byte chunks paced by the ack's `queuedMs` and receiving the echo as 320-byte
frames. Reports what the clients received (frames/s, inter-arrival p50/p99/max, frames the server
dropped for slow clients) and the server's CPU. Prints JSON.

    .venv/bin/python bench/socketio_calls.py --calls 50 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from callgate.api.auth import create_token  # noqa: E402 - after the path is set
from tests.support import free_port  # noqa: E402

SECRET = "bench-socketio-" + "s" * 40


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="callgate-sio-bench-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")},
        "CALLGATE_DATA_DIR": str(tmp),
        "CALLGATE_JWT_SECRET": SECRET,
        "CALLGATE_LOG_LEVEL": "warning",
        "CALLGATE_CALLS_PER_SECOND": "100000",
        "CALLGATE_CALLS_BURST": "100000",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "callgate", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        token = create_token(SECRET, "bench")
        cpu0, wall0 = cpu_s(server.pid), time.monotonic()
        load = subprocess.run(
            [
                "node",
                str(ROOT / "bench" / "socketio_load.mjs"),
                url,
                token,
                str(args.calls),
                str(args.seconds),
            ],
            capture_output=True,
            text=True,
            timeout=args.seconds + 120,
            check=True,
        )
        cpu1, wall1 = cpu_s(server.pid), time.monotonic()
        result = json.loads(load.stdout)
        result["server_cpu_percent"] = round(100 * (cpu1 - cpu0) / (wall1 - wall0), 1)
        print(json.dumps(result, indent=2))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


if __name__ == "__main__":
    main()
