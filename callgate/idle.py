"""The idle-state probe: everything the gateway holds that a finished call must give back.

Each part counts its own tables in a `held()` method (plain integers, no I/O): the call service's
live calls, the SIP engine's transactions and dialogs, the RTP ports and sockets, the Socket.IO
clients and rooms, the inbound connections, the outboxes, the clock's timers, the tick's and the
bus's listeners. `process_held()` is the one edge that asks the process itself: asyncio tasks and
open file descriptors. `IdleProbe.snapshot()` merges them into one flat mapping, name -> count
(a name two parts report, like `outbox_entries`, is summed).

The probe asserts nothing: at rest, once every call has ended, each count must equal its value
before the calls, and the leak gates (tests/leaks) and the soak benchmark (bench/soak.py) check
exactly that. `/health?idle=1` and `/metrics` (`callgate_idle_held`) show it to operators.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol, runtime_checkable

FD_DIRS = ("/proc/self/fd", "/dev/fd")


@runtime_checkable
class HoldsResources(Protocol):
    def held(self) -> Mapping[str, int]:
        """What this part holds now, by name; each count is 0 (or a constant) at rest."""


Snapshot = dict[str, int]


class IdleProbe:
    """The parts to ask, in the order their counts are listed."""

    def __init__(self, parts: Iterable[object] = ()) -> None:
        self._parts: list[HoldsResources] = []
        for part in parts:
            self.add(part)

    def add(self, part: object) -> Callable[[], None]:
        """Ask `part` too, when it holds anything (a part without `held()` is ignored); returns
        the function that stops asking it (an app's surface closes before its gateway)."""
        if not isinstance(part, HoldsResources):
            return lambda: None
        self._parts.append(part)

        def remove() -> None:
            if part in self._parts:
                self._parts.remove(part)

        return remove

    def snapshot(self, *, process: bool = True) -> Snapshot:
        """Every part's counts, and with `process` the tasks and descriptors of the process."""
        counts = merge(part.held() for part in self._parts)
        if process:
            counts.update(process_held())
        return counts


def merge(parts: Iterable[Mapping[str, int]]) -> Snapshot:
    merged: Snapshot = {}
    for held in parts:
        for name, count in held.items():
            merged[name] = merged.get(name, 0) + count
    return merged


def differences(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """The counts that differ, as (before, after); a name missing on one side counts as 0."""
    names = list(before) + [name for name in after if name not in before]
    return {
        name: (before.get(name, 0), after.get(name, 0))
        for name in names
        if before.get(name, 0) != after.get(name, 0)
    }


def process_held() -> Snapshot:
    """The process's asyncio tasks (of the running loop; 0 outside one) and open descriptors."""
    try:
        tasks = len(asyncio.all_tasks())
    except RuntimeError:
        tasks = 0
    return {"asyncio_tasks": tasks, "open_fds": open_fds()}


def open_fds() -> int:
    """Open file descriptors of this process (-1 where the system does not list them)."""
    for directory in FD_DIRS:
        try:
            # Listing the directory opens one descriptor of its own, listed too.
            return len(os.listdir(directory)) - 1
        except OSError:
            continue
    return -1
