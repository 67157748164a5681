"""Benchmark: concurrent inbound calls through the gateway's connector and the reference echo app.

The gateway runs in this process (uvloop, the real clock, SQLite in a temp dir, the simulated carrier);
`callgate inbound-echo` runs as its own process. N simulated callers dial in over `--ramp` seconds and
talk (a speech-like signal) for `--seconds`; the echo app sends everything back. Measured at the caller:

- lost frames: every frame a caller said is recognised by content in what it heard; a frame missing
  between the first and the last one echoed is lost;
- holes: places where the echo stream skipped (a silence frame inserted by an underrun);
- frame-interval deviation at the caller: |interval - 20 ms| between consecutive frames each caller
  heard (the simulated carrier notes when each arrives), over every call (p50/p99/max), while every
  call is up and talking, and again over the whole run including the hang-up storm at the end
  (every call hangs up within `--ramp` s);
- the same at the end of each media tick (`tick_end_...`): after the playout to every caller and
  the callers' audio written to the app. Earlier notes reported this one; it adds the variation of
  the tick's own work to the caller's view;
- CPU of the gateway and of the echo app, in % of one core;
- a canary (bench/canary.py, its own process) that only wakes every 20 ms: when it was late too,
  the whole machine stalled, not the gateway.

`--pin` puts this process on CPU 0 and the echo app on the others (on two cores both share the
machine, and the scheduler may run the app's burst of echoes on the gateway's core just as a tick
is due; in production the app usually runs on another host).

    .venv/bin/python bench/inbound_calls.py --calls 300 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import itertools
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import Canary, GcPauses, cpu_times, reference_ms, summary, usage_since
from callgate.calls.recordstore import CdrQuery
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.inbound.routes import InboundRoute
from callgate.telephony.simulated import CallerScript, SimulatedCarrier
from callgate.telephony.simulated.carrier import caller_speech_pcm16

FRAME = 320


def deviations(ticks: list[float], start: float, end: float) -> list[float]:
    """|interval - 20 ms| between consecutive times inside [start, end], in ms."""
    inside = [t for t in ticks if start <= t <= end]
    return [abs((b - a) * 1000 - 20.0) for a, b in itertools.pairwise(inside)]


def counted(deviation: list[float]) -> dict[str, float]:
    return {"intervals": len(deviation), **summary(deviation)}


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def analyse(loop_frames: list[bytes], heard: bytes) -> tuple[int, int, int]:
    """(frames echoed, frames lost, holes) for one call; the caller's speech repeats every loop."""
    counts = Counter(loop_frames)
    index = {frame: i for i, frame in enumerate(loop_frames) if counts[frame] == 1}
    size = len(loop_frames)
    got: list[int] = []
    for i in range(0, len(heard) - FRAME + 1, FRAME):
        position = index.get(heard[i : i + FRAME])
        if position is None:
            continue
        if got:  # unwrap the loop: positions only move forward
            base = got[-1] - got[-1] % size
            position += base if base + position >= got[-1] - size // 2 else base + size
        got.append(position)
    if not got:
        return 0, 0, 0
    identifiable = [k for k in range(got[0], got[-1] + 1) if loop_frames[k % size] in index]
    lost = len(set(identifiable) - set(got))
    holes = sum(
        1
        for a, b in itertools.pairwise(got)
        if any(loop_frames[k % size] in index for k in range(a + 1, b))
    )
    return len(got), lost, holes


async def run(args: argparse.Namespace) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="callgate-inbound-bench-"))
    port = 20000 + os.getpid() % 20000
    others = set(range(os.cpu_count() or 1)) - {0} or {0}
    app = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything runs on the loop
        [
            sys.executable,
            "-m",
            "callgate",
            "inbound-echo",
            "--port",
            str(port),
            "--dtmf-after",
            "2",
            "--hangup-after-dtmf",
            "3600",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, others)) if args.pin else None,
    )
    config = load_config(
        environ={},
        data_dir=str(tmp),
        database_url=f"sqlite+aiosqlite:///{tmp / 'cdr.db'}",
        jwt_secret="bench-inbound-" + "b" * 40,
        max_concurrent_calls=100000,
        log_level="warning",
    )
    route = InboundRoute(r".*", f"ws://127.0.0.1:{port}", "bench")
    gateway = Gateway.build(dataclasses.replace(config, inbound_routes=(route,)))
    await gateway.start()
    gc.collect()
    gc.freeze()  # as `callgate serve` does after start-up
    carrier = gateway.trunk
    assert isinstance(carrier, SimulatedCarrier)
    ticks: list[float] = []  # time.monotonic(), the clock the carrier notes frame times with
    gateway.ticker.subscribe(lambda _n: ticks.append(time.monotonic()))
    await asyncio.sleep(1.0)  # let the app start listening
    reference_before = reference_ms()
    await asyncio.sleep(0.2)  # the ticker counts the frames that stall skipped on its next tick
    cpu0, app_cpu0, wall0 = (
        resource.getrusage(resource.RUSAGE_SELF),
        proc_cpu_s(app.pid),
        time.monotonic(),
    )
    canary = Canary(args.ramp + args.seconds + 2)
    sessions = []
    skipped_before = gateway.ticker.skipped_frames
    first_offered = time.monotonic()
    for n in range(args.calls):
        script = CallerScript(record=True, hangup_after_s=args.seconds)
        sessions.append(carrier.offer_inbound(f"0811{n:06d}", "0215550000", script))
        await asyncio.sleep(args.ramp / args.calls)
    ramp_done = time.monotonic()
    machine_before = cpu_times()
    gc_pauses = GcPauses()
    gc_pauses.start()
    await asyncio.sleep(args.seconds + 2.0)
    gc_pauses.stop()
    machine = usage_since(machine_before)
    skipped = gateway.ticker.skipped_frames - skipped_before  # the analysis below stalls the loop
    reference_after = reference_ms()
    canary_late = [(at, ms) for at, ms in canary.late() if at > ramp_done]
    cpu1, app_cpu1, wall1 = (
        resource.getrusage(resource.RUSAGE_SELF),
        proc_cpu_s(app.pid),
        time.monotonic(),
    )
    # Steady: every call up and talking (from 1 s after the last call was offered until the first
    # caller hangs up). Whole: from the end of the ramp to the end, the hang-up storm included.
    first_hangup = first_offered + args.seconds
    steady_window = (ramp_done + 1.0, first_hangup - 0.2)
    steady: list[float] = []
    whole: list[float] = []
    late_by_second: Counter[int] = Counter()  # when the caller saw intervals off by over 5 ms
    for sid in sessions:
        recording = carrier.recordings.get(sid)
        if recording is not None:
            times = recording.frame_times
            steady += deviations(times, *steady_window)
            whole += deviations(times, ramp_done, float("inf"))
            late_by_second.update(
                int(b - ramp_done)
                for a, b in itertools.pairwise(times)
                if b > ramp_done and abs((b - a) * 1000 - 20.0) > 5.0
            )
    speech = caller_speech_pcm16()
    said = [speech[i : i + FRAME] for i in range(0, len(speech), FRAME)]
    echoed = lost = holes = silent_calls = 0
    for sid in sessions:
        recording = carrier.recordings.get(sid)
        e, lo, ho = analyse(said, bytes(recording.audio)) if recording else (0, 0, 0)
        echoed, lost, holes = echoed + e, lost + lo, holes + ho
        silent_calls += e == 0
    for _ in range(600):  # calls answered late under load end late: wait (at most 30 s)
        if not gateway.calls.live("bench"):
            break
        await asyncio.sleep(0.05)
    still_live = len(gateway.calls.live("bench"))
    await gateway.recorder.flush()
    page = await gateway.store.query(CdrQuery(account="bench", limit=1000))
    dispositions = Counter(f"{r.disposition}/{r.hangup_cause_code}" for r in page.records)
    await gateway.stop()
    app.send_signal(signal.SIGINT)
    try:
        app.wait(20)
    except subprocess.TimeoutExpired:  # never leave it behind (seen once with py-spy attached)
        app.kill()
        app.wait()
    busy_s = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    return {
        "calls": args.calls,
        "pinned": args.pin,
        "seconds": args.seconds,
        "frames_echoed": echoed,
        "lost_frames": lost,
        "holes": holes,
        "calls_without_echo": silent_calls,
        "cdrs": page.total,
        "calls_still_live_after_30_s": still_live,
        "cdr_outcomes": dict(dispositions),
        "frame_interval_deviation_ms": counted(steady),
        "frame_interval_deviation_ms_with_hangups": counted(whole),
        "tick_end_interval_deviation_ms": counted(deviations(ticks, *steady_window)),
        "caller_intervals_off_by_over_5_ms_by_second_after_ramp": dict(
            sorted(late_by_second.items())
        ),
        "canary_wakeups_over_3_ms_late_by_second_after_ramp": dict(
            sorted(Counter(int(at - ramp_done) for at, _ in canary_late).items())
        ),
        "canary_max_late_ms": max((ms for _, ms in canary_late), default=0.0),
        **machine,
        "reference_work_ms_before_after": [reference_before, reference_after],
        **gc_pauses.summary(),
        "gc_pauses_over_5_ms": [
            {"second_after_ramp": round(at - ramp_done, 2), "generation": gen, "ms": round(ms, 1)}
            for at, gen, ms in gc_pauses.pauses
            if ms > 5.0
        ],
        "ticker_skipped_frames": skipped,
        "gateway_cpu_percent": round(100 * busy_s / (wall1 - wall0), 1),
        "echo_app_cpu_percent": round(100 * (app_cpu1 - app_cpu0) / (wall1 - wall0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--ramp", type=float, default=3.0)
    parser.add_argument(
        "--pin", action="store_true", help="this process on CPU 0, the app elsewhere"
    )
    args = parser.parse_args()
    if args.pin:
        os.sched_setaffinity(0, {0})
    print(json.dumps(uvloop.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
