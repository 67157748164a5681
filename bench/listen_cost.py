"""Benchmark: what listening (callgate.listen) costs per call; prints JSON.

A gateway on a hand-stepped clock (no timer noise) with the simulated carrier holds `--calls`
answered calls whose callees talk (the simulator's speech-like signal, about half of it voiced,
looped); the media tick is stepped `--seconds` of calls' time and the process CPU it took is
measured, with every call listening (speech events, `auto` barge-in, silence watch, callQuality
every 5 s, deadAir armed, answering-machine detection for its first seconds) and without, in
alternating rounds so drift in the machine's speed falls on both alike. Reported: CPU per call as
% of one core for each and their difference (the cost of listening), and per frame: the detector
alone on speech, on noise and on digital silence.

    .venv/bin/python bench/listen_cost.py                  # 500 calls, 10 s, 3 rounds each
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measure import cpu_times, usage_since
from callgate.clock import ManualClock
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.listen.options import ListenOptions
from callgate.listen.vad import SpeechDetector
from callgate.media.pcm import FRAME_BYTES, SILENCE_FRAME
from callgate.media.signals import speech_like_pcm16
from callgate.telephony.simulated.scripts import DEFAULT_SCRIPTS, CalleeScript

FRAME_S = 0.02
LISTEN = ListenOptions(barge_in="auto", silence_ms=5000, dead_air=True, call_quality=True)


async def one_round(calls: int, seconds: float, listen: bool, amd: bool = True) -> float:
    """CPU seconds the tick took for `seconds` of `calls` talking calls."""
    with tempfile.TemporaryDirectory(prefix="listen-cost-") as directory:
        config = load_config(
            environ={},
            data_dir=directory,
            database_url=f"sqlite+aiosqlite:///{directory}/cdr.db",
            jwt_secret="listen-cost-" + "l" * 40,
            max_concurrent_calls=calls + 10,
        )
        talker = CalleeScript(r".*", ring_s=0.5, audio="speech")
        config = dataclasses.replace(config, simulator_scripts=(talker, *DEFAULT_SCRIPTS))
        clock = ManualClock()
        gateway = Gateway.build(config, clock=clock)
        await gateway.start()
        try:
            for index in range(calls):
                await gateway.calls.place_call(
                    "bench",
                    f"0812{index:06d}",
                    listen=LISTEN if listen else None,
                    machine_detection="detect" if listen and amd else None,
                )
            for _ in range(round(1.0 / FRAME_S)):
                clock.advance(FRAME_S)
            await asyncio.sleep(0)
            connected = sum(call.state.value == "Connected" for call in gateway.calls.calls)
            if connected != calls:
                raise SystemExit(f"only {connected} of {calls} calls connected")
            started = time.process_time()
            for _ in range(round(seconds / FRAME_S)):
                clock.advance(FRAME_S)
            return time.process_time() - started
        finally:
            await gateway.stop()


def per_frame_us(frames: list[bytes], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        detector = SpeechDetector()
        started = time.perf_counter()
        for frame in frames:
            detector.feed(frame)
        best = min(best, (time.perf_counter() - started) / len(frames) * 1e6)
    return best


def frame_costs() -> dict[str, float]:
    speech = speech_like_pcm16(10.0, seed=7)
    noise = (np.random.default_rng(1).standard_normal(80000) * 300).astype("<i2").tobytes()
    split = [speech[i : i + FRAME_BYTES] for i in range(0, len(speech), FRAME_BYTES)]
    noisy = [noise[i : i + FRAME_BYTES] for i in range(0, len(noise), FRAME_BYTES)]
    return {
        "speech_like_us": round(per_frame_us(split), 2),
        "white_noise_minus_40_dbfs_us": round(per_frame_us(noisy), 2),
        "digital_silence_us": round(per_frame_us([SILENCE_FRAME] * 500), 2),
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    times = cpu_times()
    spent: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for listen in (False, True):
            spent[listen].append(await one_round(args.calls, args.seconds, listen, not args.no_amd))
    machine = usage_since(times)
    # % of one core per call: CPU seconds per call per second of audio, times 100.
    pct = {k: statistics.median(v) / (args.calls * args.seconds) * 100 for k, v in spent.items()}
    frames = frame_costs()
    return {
        "calls": args.calls,
        "seconds_of_audio": args.seconds,
        "rounds": args.rounds,
        "amd": not args.no_amd,
        "pct_core_per_call_without_listening": round(pct[False], 5),
        "pct_core_per_call_with_listening": round(pct[True], 5),
        "pct_core_per_call_listening_costs": round(pct[True] - pct[False], 5),
        "per_frame_detector": frames,
        "pct_core_per_call_detector_alone_on_speech": round(frames["speech_like_us"] / 200, 5),
        "rounds_cpu_s": {"without": spent[False], "with": spent[True]},
        "machine": machine,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-amd", action="store_true", help="listening without AMD")
    print(json.dumps(uvloop.run(main(parser.parse_args())), indent=2))
