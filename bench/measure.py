"""Shared by the benchmarks: percentiles, and what the machine was doing meanwhile (CPU time
stolen by the hypervisor, busy time).

On a virtual machine, time the hypervisor gives to other guests ("steal") stalls this one for
milliseconds at a time, which shows up as timing jitter that no code of ours can remove. The
benchmarks report it next to their timing figures so the figures can be read for what they are.

Steal is not the whole story: on this project's VM the same pure-Python loop took 244 ms and, ten
seconds later, 366 ms with no steal counted (a busy host shares caches and memory bandwidth). So
the benchmarks also time a fixed piece of work before and after their run (`reference_ms`): when
it is slow, every figure of the run is too.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def cpu_times() -> list[int]:
    """The aggregate `cpu` line of /proc/stat, in clock ticks (user nice system idle iowait irq
    softirq steal ...)."""
    with open("/proc/stat") as stat:
        return [int(value) for value in stat.readline().split()[1:]]


def usage_since(before: list[int]) -> dict[str, float]:
    """Shares of all CPUs' time since `before`: busy (not idle or iowait) and stolen, in %."""
    after = cpu_times()
    delta = [a - b for a, b in zip(after, before, strict=False)]
    total = sum(delta[:8]) or 1  # guest time is already counted in user
    idle = delta[3] + delta[4]
    steal = delta[7] if len(delta) > 7 else 0
    return {
        "machine_busy_percent": round(100.0 * (total - idle - steal) / total, 1),
        "machine_steal_percent": round(100.0 * steal / total, 1),
    }


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` (0-1) of `values` lie; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def summary(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of `values`, in their unit, to three decimals (NaN for none)."""
    return {
        "p50": round(percentile(values, 0.50), 3),
        "p99": round(percentile(values, 0.99), 3),
        "max": round(max(values, default=float("nan")), 3),
    }


def reference_ms() -> float:
    """Fastest of three runs of a fixed pure-Python loop (about 80 ms on a quiet 2024 x86 core)."""

    def once() -> float:
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i * i % 7
        return (time.perf_counter() - start) * 1000

    return round(min(once() for _ in range(3)), 1)


class GcPauses:
    """Times every garbage collection between `start()` and `stop()`: (monotonic start, generation,
    pause in ms) each."""

    def __init__(self) -> None:
        self.pauses: list[tuple[float, int, float]] = []
        self._started = 0.0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.monotonic()
        else:
            pause_ms = (time.monotonic() - self._started) * 1000.0
            self.pauses.append((self._started, int(info["generation"]), pause_ms))

    def start(self) -> None:
        gc.callbacks.append(self._on_gc)

    def stop(self) -> None:
        gc.callbacks.remove(self._on_gc)

    def summary(self) -> dict[str, float]:
        pauses_ms = [pause for _, _, pause in self.pauses]
        return {
            "gc_collections": len(pauses_ms),
            "gc_pause_ms_max": round(max(pauses_ms, default=0.0), 3),
            "gc_pause_ms_total": round(sum(pauses_ms), 1),
        }


class Canary:
    """bench/canary.py in its own process (with this process's CPU affinity) for `seconds` from
    now: a task that only wakes every 20 ms, late only when the machine (or that core) stalls."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("canary.py")), str(seconds)],
            stdout=subprocess.PIPE,
        )

    def late(self) -> list[tuple[float, float]]:
        """(monotonic time, ms late) of each wake-up over 3 ms late; waits for the canary's end."""
        out, _ = self._process.communicate(timeout=self._seconds + 30)
        return [(float(at), float(ms)) for at, ms in json.loads(out)["late_over_3_ms"]]
