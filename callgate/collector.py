"""The cyclic garbage collector, set for a process that must keep media on time.

CPython's thresholds (700, 10, 10) suit short scripts. Under 300 calls the gateway makes tens of
thousands of container objects a second (Socket.IO and SIP messages, coroutines, futures): with a
young generation of 700 it collected it some 15 times a second, promoted whatever lived a few
hundred milliseconds (a SIP transaction lingers 32 s, RFC 3261 Timer J/K) and so began a full
collection every 10-20 s, each stopping the event loop for 40-140 ms: the media tick fell behind
and skipped frames for every call at once. With a young generation of 20,000 nearly all of those
objects die by reference count before any collection looks at them, and full collections become
rare (bench/soak.py at 300 calls, one minute: full collections 8 -> 1, ticks skipped 41 -> 0).
Cyclic garbage still goes, a little later; what it may hold meanwhile is bounded by the threshold.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 20_000
"""Net new container objects between two young collections (CPython's default: 700)."""


def settle() -> None:
    """Once the process is up: what is alive now lives as long as it does, so the collector need
    never rescan it (gc.freeze), and from here on it collects at the thresholds above."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 10)
