"""Benchmark: concurrent outbound calls over Socket.IO with the official JavaScript client.

Starts `callgate serve` (uvicorn + uvloop, SQLite, simulated carrier: every callee answers after 2 s
and echoes one frame later), then `--procs` node processes of `bench/socketio_load.mjs` sharing
`--calls` calls, each a socket.io-client connection that streams audio in 2560-byte chunks paced by
the ack's `queuedMs` (PCM16, or with `--mp3` a generated speech-like MP3, 44.1 kHz stereo 128 kbit/s,
sent as `audioFormat: "mp3"`) and times the far end's 320-byte frames. Figures are over the steady
window (every call answered, none hung up yet, common to all processes): how far frame
inter-arrival times stray from 20 ms (p50/p99/max), frames dropped for slow clients, hangup and cdr
events, server CPU (% of one core and per call), the clients' CPU, the machine's busy and stolen
time, a canary process and a fixed piece of work timed before and after (bench/measure.py). Prints
JSON.

    .venv/bin/python bench/socketio_calls.py --calls 300 --procs 3 --seconds 20
    .venv/bin/python bench/socketio_calls.py --calls 100 --mp3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import Canary, cpu_times, reference_ms, usage_since  # noqa: E402
from bench.serve import serve_env, wait_healthy  # noqa: E402
from callgate.api.auth import create_token  # noqa: E402 - after the path is set
from tests.support import free_port  # noqa: E402

SECRET = "bench-socketio-" + "s" * 40
SAMPLE_S = 0.25


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def speech_mp3(path: Path, seconds: float) -> Path:
    """A speech-like MP3 file as a TTS engine would send it: 44.1 kHz stereo, 128 kbit/s, tagged."""
    from bench.media_decode import encode_mp3  # imported here: it needs PyAV, only this needs it
    from callgate.media.signals import speech_like

    mono = speech_like(seconds, rate_hz=44100, level_dbfs=-18.0, seed=3)
    path.write_bytes(encode_mp3(np.stack([mono, np.roll(mono, 50)], axis=1), 44100, 128, True))
    return path


class Sampler(threading.Thread):
    """(epoch s, server CPU s, clients' CPU s) every SAMPLE_S, to cut any window out afterwards."""

    def __init__(self, server: int, clients: list[int]) -> None:
        super().__init__(daemon=True)
        self.server, self.clients = server, clients
        self.samples: list[tuple[float, float, float]] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(SAMPLE_S):
            try:
                server = cpu_s(self.server)
                clients = sum(cpu_s(pid) for pid in self.clients)
            except (FileNotFoundError, ProcessLookupError):
                continue
            self.samples.append((time.time(), server, clients))

    def over(self, start: float, end: float) -> tuple[float, float, float]:
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return float("nan"), float("nan"), 0.0
        (t0, s0, c0), (t1, s1, c1) = inside[0], inside[-1]
        return 100 * (s1 - s0) / (t1 - t0), 100 * (c1 - c0) / (t1 - t0), t1 - t0


def deviation_summary(histogram: list[int], bin_ms: float) -> dict[str, float]:
    total = sum(histogram)
    if not total:
        return {"count": 0}
    out: dict[str, float] = {"count": total}
    running = 0
    targets = {"p50": 0.5, "p99": 0.99}
    for index, count in enumerate(histogram):
        running += count
        for name, share in list(targets.items()):
            if running >= share * total:
                out[name] = round((index + 1) * bin_ms, 1)
                del targets[name]
        if count:
            out["max"] = round((index + 1) * bin_ms, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--procs", type=int, default=1, help="node processes sharing the calls")
    parser.add_argument("--seconds", type=float, default=20, help="steady window")
    parser.add_argument("--ramp-s", type=float, default=5, help="calls placed evenly over this")
    parser.add_argument("--mp3", action="store_true", help="stream MP3 instead of PCM16")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="callgate-sio-bench-"))
    port = free_port()
    unlimited = "100000"
    env = serve_env(
        tmp,
        SECRET,
        calls_per_second=unlimited,
        calls_burst=unlimited,
        max_concurrent_calls=unlimited,
    )
    mp3 = str(speech_mp3(tmp / "speech.mp3", 30.0)) if args.mp3 else ""
    reference_before = reference_ms()
    server = subprocess.Popen(
        [sys.executable, "-m", "callgate", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, server)
        token = create_token(SECRET, "bench")
        shares = [
            args.calls // args.procs + (i < args.calls % args.procs) for i in range(args.procs)
        ]
        firsts = [sum(shares[:i]) for i in range(args.procs)]
        loads = [
            subprocess.Popen(
                [
                    "node",
                    str(ROOT / "bench" / "socketio_load.mjs"),
                    url,
                    token,
                    str(share),
                    str(args.seconds),
                    str(first),
                    str(args.ramp_s),
                    mp3,
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
            for share, first in zip(shares, firsts, strict=True)
        ]
        sampler = Sampler(server.pid, [load.pid for load in loads])
        sampler.start()
        machine_before = cpu_times()
        canary = Canary(args.ramp_s + args.seconds + 15)
        outputs = [
            json.loads(load.communicate(timeout=args.ramp_s + args.seconds + 120)[0])
            for load in loads
        ]
        sampler.done.set()
        machine = usage_since(machine_before)
        start = max(out["steadyStart"] for out in outputs) / 1000
        end = min(out["steadyEnd"] for out in outputs) / 1000
        server_cpu, clients_cpu, window_s = sampler.over(start, end)
        late = [(at, ms) for at, ms in canary.late()]
        histogram = [
            sum(column) for column in zip(*(out["histogram"] for out in outputs), strict=True)
        ]
        totals = {
            key: sum(out[key] for out in outputs)
            for key in (
                "connected",
                "answered",
                "framesIn",
                "steadyFrames",
                "dropped",
                "ackErrors",
                "hangups",
                "cdrs",
                "failed",
            )
        }
        result = {
            "calls": args.calls,
            "procs": args.procs,
            "audio_format": "mp3" if args.mp3 else "pcm16",
            "steady_window_s": round(window_s, 2),
            **totals,
            "frame_interval_deviation_ms": deviation_summary(histogram, outputs[0]["binMs"]),
            "server_cpu_percent": round(server_cpu, 1),
            "server_cpu_percent_per_call": round(server_cpu / args.calls, 3),
            "clients_cpu_percent": round(clients_cpu, 1),
            **machine,
            "canary_wakeups_over_3_ms_late": len(late),
            "canary_max_late_ms": round(max((ms for _, ms in late), default=0.0), 1),
            "reference_work_ms_before_after": [reference_before, reference_ms()],
        }
        print(json.dumps(result, indent=2))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


if __name__ == "__main__":
    main()
