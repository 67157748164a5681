"""A canary for the benchmarks: a process that does nothing but wake every 20 ms and note how late
it woke. Run beside a benchmark, it tells the machine's stalls (the canary late too) from the
benchmarked process's own (the canary on time). It costs a few wake-ups a second, and the scheduler
runs a task that sleeps this much at once when it wakes, so its lateness is the machine's.

    python bench/canary.py SECONDS     # prints JSON: wake-ups, and those over 3 ms late
"""

from __future__ import annotations

import json
import sys
import time

PERIOD_S = 0.02
REPORT_OVER_MS = 3.0


def watch(seconds: float) -> dict[str, object]:
    start = time.monotonic()
    late: list[tuple[float, float]] = []  # (monotonic time of the deadline, ms late)
    wakeups = 0
    n = 1
    while (deadline := start + n * PERIOD_S) < start + seconds:
        time.sleep(max(0.0, deadline - time.monotonic()))
        lateness_ms = (time.monotonic() - deadline) * 1000.0
        wakeups += 1
        if lateness_ms > REPORT_OVER_MS:
            late.append((round(deadline, 4), round(lateness_ms, 2)))
        n = max(n + 1, int((time.monotonic() - start) / PERIOD_S) + 1)  # no catching up
    return {"wakeups": wakeups, "late_over_3_ms": late}


if __name__ == "__main__":
    print(json.dumps(watch(float(sys.argv[1]))))
