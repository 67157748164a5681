"""Benchmark: many concurrent outbound calls over Socket.IO, audio both ways, on one gateway process,
loaded by the lean generator (bench/sio_lean_load.mjs) rather than the official client.

Starts `callgate serve` (uvicorn + uvloop, SQLite, simulated carrier: every callee answers after 2 s
and echoes the caller one 20 ms frame later), then `--procs` node processes of
`bench/sio_lean_load.mjs` sharing `--calls` calls, placed evenly over `--ramp-s` seconds. Each call
streams sequence-numbered PCM16 in 2560-byte chunks paced by the ack's `queuedMs` for `--seconds`
after its answer, and checks the echo it receives: frames lost, out of order, duplicated, holes
(silence between echoed frames), inter-arrival times, delivery lag (how late each frame arrives
against its call's 20 ms grid: the backlog it waited behind), `audioDropped`, ack errors, and at the
end `hangup` and `cdr` events. `--bargein` then measures `interruption` sent -> echo silent (as
received: under load it includes the backlog the echo waited behind, which the lag shows; and
its ack's round trip, which bounds when the callee heard silence),
`--checkpoints` last frame played -> `checkPoint` received (both per call, once, at the end of its
talk; timed against the echo of that frame, which shares the checkPoint's path, so no backlog).

Figures are over the steady window (every call answered, none hung up yet: from 3 s after the ramp
to the first hang-up) unless named `_talk`/`_whole`: server CPU in % of one core and per call, the
generators' CPU, the machine's busy and stolen time, a canary (bench/canary.py: a process waking
every 20 ms; when it is late too, the machine stalled, not the gateway) and a fixed piece of work
timed before and after (bench/measure.py). The server's GC runs inside `callgate serve` (which
freezes its start-up heap) and is not observed from here. Prints JSON.

    .venv/bin/python bench/socketio_lean.py --calls 100 --seconds 20 --ramp-s 5
    .venv/bin/python bench/socketio_lean.py --calls 100 --checkpoints --bargein
    .venv/bin/python bench/socketio_lean.py --calls 500 --procs 2 --pin   # server alone on CPU 0

`--accounts A` spreads the calls over A accounts: every `newSession` goes to every client of the
call's account, so with one account a ramp of N calls costs the server N²/2 events.
`--fake-server` runs the same load against bench/sio_fake_server.mjs (callgate's wire and timing,
nothing else) to measure what the generator itself costs and carries at counts callgate cannot
carry yet. Needs node and tests/js/node_modules (`make js-deps`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.measure import Canary, cpu_times, reference_ms, summary  # noqa: E402
from bench.serve import serve_env, wait_healthy  # noqa: E402
from callgate.api.auth import create_token  # noqa: E402 - after the path is set
from tests.support import free_port  # noqa: E402

SECRET = "bench-socketio-lean-" + "s" * 40
GENERATOR = ROOT / "bench" / "sio_lean_load.mjs"
BIN_MS = 0.1  # the generator's histogram bins
SAMPLE_S = 0.25


def cpu_s(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Sampler(threading.Thread):
    """Every SAMPLE_S: (epoch s, server CPU s, generators' CPU s, /proc/stat cpu line), so any
    window of the run can be read afterwards."""

    def __init__(self, server: int, generators: list[int]) -> None:
        super().__init__(daemon=True)
        self.server, self.generators = server, generators
        self.last_generator_cpu = dict.fromkeys(generators, 0.0)
        self.samples: list[tuple[float, float, float, list[int]]] = []
        self.rss_max_mb = 0.0
        self.stop = threading.Event()

    def take(self) -> None:
        for pid in self.generators:  # an exited generator keeps its last reading
            value = cpu_s(pid)
            if value is not None:
                self.last_generator_cpu[pid] = value
        server = cpu_s(self.server) or 0.0
        self.rss_max_mb = max(self.rss_max_mb, rss_mb(self.server))
        generators = sum(self.last_generator_cpu.values())
        self.samples.append((time.time(), server, generators, cpu_times()))

    def run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            self.take()

    def window(self, start: float, end: float) -> dict[str, Any] | None:
        """CPU figures between the first sample at or after `start` and the last before `end`."""
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return None
        (t0, server0, gen0, stat0), (t1, server1, gen1, stat1) = inside[0], inside[-1]
        delta = [b - a for a, b in zip(stat0, stat1, strict=False)]
        total = sum(delta[:8]) or 1  # guest time is already counted in user
        idle, steal = delta[3] + delta[4], delta[7]
        return {
            "seconds": round(t1 - t0, 2),
            "server_cpu_percent": round(100 * (server1 - server0) / (t1 - t0), 1),
            "generator_cpu_percent": round(100 * (gen1 - gen0) / (t1 - t0), 1),
            "machine_busy_percent": round(100.0 * (total - idle - steal) / total, 1),
            "machine_steal_percent": round(100.0 * steal / total, 1),
        }


def summary_or_none(values: list[float]) -> dict[str, float] | None:
    """bench.measure.summary, None for no values (its NaN is not JSON)."""
    return summary(values) if values else None


def quantiles(hist: Counter[int], maximum: float, deviation: bool = False) -> dict[str, Any]:
    """p50/p99/max of a merged 0.1 ms histogram, or of |value - 20 ms| with `deviation`."""
    values = sorted(
        (abs(b * BIN_MS - 20.0) if deviation else b * BIN_MS, n) for b, n in hist.items()
    )
    count = sum(n for _, n in values)

    def at(share: float) -> float | None:
        seen = 0
        for value, n in values:
            seen += n
            if seen > share * count:
                return round(value, 2)
        return None

    top = max([values[-1][0], abs(maximum - 20.0) if deviation else maximum]) if values else None
    return {"count": count, "p50": at(0.5), "p99": at(0.99), "max": top and round(top, 2)}


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The generators' counts summed, their histograms and samples merged (their own summaries,
    per process, are left out)."""
    merged: dict[str, Any] = {}
    for result in results:
        for key, value in result.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                merged[key] = merged.get(key, 0) + value
            elif key == "cdrDispositions":
                merged[key] = dict(Counter(merged.get(key, {})) + Counter(value))
            elif key == "errorSamples":
                merged[key] = (merged.get(key, []) + value)[:10]
            elif key in ("checkpoint", "bargein"):
                into = merged.setdefault(key, {})
                for k, v in value.items():
                    if isinstance(v, list):
                        into[k] = into.get(k, []) + v
                    elif isinstance(v, dict):
                        into[k] = dict(Counter(into.get(k, {})) + Counter(v))
                    else:
                        into[k] = into.get(k, 0) + v
            elif key == "wire":
                merged[key] = {**value, **merged.get(key, {})}
    for name, maximum in (
        ("intervalsSteady", "intervalSteady"),
        ("intervalsTalk", "intervalTalk"),
        ("ackMs", "ack"),
        ("lagSteady", "lagSteady"),
    ):
        hist: Counter[int] = Counter()
        for result in results:
            hist.update(dict(result["hist"][name]))
        top = max(result["hist"]["maxima"][maximum] for result in results)
        merged[f"hist:{name}"] = (hist, top)
    for key in ("generatorCpuS", "generatorCpuUserS", "steadyCpuS"):
        merged[key] = round(merged.get(key, 0.0), 2)
    # a ratio: recomputed from the sums, not summed
    frames = merged.get("steadyFramesIn", 0)
    merged["steadyCpuUsPerFrameIn"] = (
        round(1e6 * merged["steadyCpuS"] / frames, 1) if frames else None
    )
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument(
        "--procs", type=int, default=0, help="generator processes (default: one per 250 calls)"
    )
    parser.add_argument("--seconds", type=float, default=20, help="talk per call, from its answer")
    parser.add_argument("--ramp-s", type=float, default=5, help="calls placed evenly over this")
    parser.add_argument("--accounts", type=int, default=1)
    parser.add_argument("--checkpoints", action="store_true", help="measure checkpoint accuracy")
    parser.add_argument("--bargein", action="store_true", help="measure barge-in")
    parser.add_argument(
        "--fake-server",
        action="store_true",
        help="against bench/sio_fake_server.mjs, not callgate: what the generator itself carries",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="the server on CPU 0, the generators (and this driver) on the others",
    )
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    others = set(cpus[1:]) or set(cpus)
    if args.pin:
        os.sched_setaffinity(0, others)
    # Fewer, fuller processes are cheaper per frame: each wake-up finds more sockets ready.
    procs = max(1, min(args.procs or -(-args.calls // 250), args.calls))
    tmp = Path(tempfile.mkdtemp(prefix="callgate-sio-lean-"))
    port = free_port()
    env = serve_env(
        tmp,
        SECRET,
        calls_per_second="100000",
        calls_burst="100000",
        max_concurrent_calls=str(max(1000, 2 * args.calls)),
    )
    command = [sys.executable, "-m", "callgate", "serve", "--port", str(port)]
    if args.fake_server:
        command = ["node", str(ROOT / "bench" / "sio_fake_server.mjs"), str(port)]
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpus[0]})) if args.pin else None,
    )
    url = f"http://127.0.0.1:{port}"
    generators: list[subprocess.Popen[str]] = []
    try:
        wait_healthy(url, server, timeout_s=30)
        tokens = [create_token(SECRET, f"bench{a}") for a in range(max(1, args.accounts))]
        reference_before = reference_ms()
        t0 = time.time() + 1.5  # node's start-up; every process starts its ramp at t0
        run_s = 1.5 + args.ramp_s + 2 + args.seconds + 6
        canary = Canary(run_s)
        canary_clock = time.time() - time.monotonic()
        for p in range(procs):
            config = {
                "url": url,
                "tokens": tokens,
                "calls": len(range(p, args.calls, procs)),
                "index0": p,
                "stride": procs,
                "total": args.calls,
                "t0": t0 * 1000,
                "rampS": args.ramp_s,
                "seconds": args.seconds,
                "checkpoints": args.checkpoints,
                "bargein": args.bargein,
            }
            config_path = tmp / f"generator-{p}.json"
            config_path.write_text(json.dumps(config))
            with config_path.open() as stdin:
                generator = subprocess.Popen(
                    ["node", str(GENERATOR)], stdin=stdin, stdout=subprocess.PIPE, text=True
                )
            generators.append(generator)
        sampler = Sampler(server.pid, [g.pid for g in generators])
        sampler.take()
        sampler.start()
        outputs = [g.communicate(timeout=run_s + 90)[0] for g in generators]
        sampler.stop.set()
        sampler.join()
        sampler.take()
        reference_after = reference_ms()
        results = [json.loads(out) for out in outputs]
        canary_late = [(at + canary_clock, ms) for at, ms in canary.late()]
    finally:
        for generator in generators:  # only if the run failed half-way: ours, by PID
            if generator.poll() is None:
                generator.kill()
                generator.wait()
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)

    merged = merge(results)
    steady_start, steady_end = (t / 1000 for t in results[0]["steadyWindowEpochMs"])
    steady = sampler.window(steady_start, steady_end)
    whole = sampler.window(t0, time.time())
    intervals, intervals_max = merged.pop("hist:intervalsSteady")
    talk, talk_max = merged.pop("hist:intervalsTalk")
    acks, acks_max = merged.pop("hist:ackMs")
    lag, lag_max = merged.pop("hist:lagSteady")
    checkpoint, bargein = merged.pop("checkpoint"), merged.pop("bargein")
    late_steady = [ms for at, ms in canary_late if steady_start <= at <= steady_end]
    report: dict[str, Any] = {
        "calls": args.calls,
        "server": "bench/sio_fake_server.mjs" if args.fake_server else "callgate serve",
        "procs": procs,
        "pinned": args.pin,
        "accounts": len(tokens),
        "seconds": args.seconds,
        "ramp_s": args.ramp_s,
        "steady_window_s": steady and steady["seconds"],
        "server_cpu_percent": steady and steady["server_cpu_percent"],
        "server_cpu_percent_per_call": steady
        and round(steady["server_cpu_percent"] / args.calls, 3),
        "generator_cpu_percent": steady and steady["generator_cpu_percent"],
        "machine_busy_percent": steady and steady["machine_busy_percent"],
        "machine_steal_percent": steady and steady["machine_steal_percent"],
        "whole_run": whole,
        "server_rss_max_mb": sampler.rss_max_mb,
        "frame_interarrival_ms": quantiles(intervals, intervals_max),
        "frame_interval_deviation_ms": quantiles(intervals, intervals_max, deviation=True),
        # how late frames arrive against each call's 20 ms grid (its least-delayed frame): the
        # backlog behind which they were delivered (a tick the server skipped counts 20 ms)
        "frame_delivery_lag_ms": quantiles(lag, lag_max),
        "frame_interarrival_ms_talk": quantiles(talk, talk_max),
        "audio_ack_ms": quantiles(acks, acks_max),
        **merged,
        "canary_wakeups_over_3_ms_late_steady": len(late_steady),
        "canary_max_late_ms_steady": max(late_steady, default=0.0),
        "canary_max_late_ms_whole": max((ms for _, ms in canary_late), default=0.0),
        "reference_work_ms_before_after": [reference_before, reference_after],
    }
    if args.checkpoints:
        report["checkpoint"] = {
            **{k: v for k, v in checkpoint.items() if k not in ("ms", "rawMs")},
            # last frame began playing (its echo's arrival - 20 ms) -> checkPoint received; the
            # checkPoint is due once that frame has played, so ~20 ms is exact
            "ms": summary_or_none(checkpoint["ms"]),
            "after_last_echo_ms": summary_or_none(checkpoint["rawMs"]),
        }
    if args.bargein:
        report["bargein"] = {
            **{k: v for k, v in bargein.items() if k not in ("ms", "ackMs")},
            # interruption sent -> first silent echo received, minus the echo's 20 ms: includes
            # the delivery of that echo, late behind the client's backlog under load
            "ms": summary_or_none(bargein["ms"]),
            # interruption sent -> its ack; with leaks 0 the play-out stopped when the server took
            # the interruption, before acking: the callee heard silence within this + 20 ms
            "ack_ms": summary_or_none(bargein["ackMs"]),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
