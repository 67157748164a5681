"""Shared by the benchmarks: percentiles, and what the machine was doing meanwhile (CPU time
stolen by the hypervisor, busy time).

On a virtual machine, time the hypervisor gives to other guests ("steal") stalls this one for
milliseconds at a time, which shows up as timing jitter that no code of ours can remove. The
benchmarks report it next to their timing figures so the figures can be read for what they are.
"""

from __future__ import annotations


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
