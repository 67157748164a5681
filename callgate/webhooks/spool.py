"""The webhook spool: one file per delivery in a directory, so deliveries outlive the process.

Blocking I/O: the caller runs it in a thread. A file is written under a temporary name, flushed to
disk and renamed (a crash leaves the old set or the new, never half a delivery), and removed once
the endpoint has taken the delivery. Names sort in the order deliveries were made, which is the
order they are sent in again after a restart. Bounded: past `max_entries` the oldest is removed
(and counted) to make room, so an endpoint that is down for days cannot fill the disk.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".json"


@dataclass(slots=True)
class Delivery:
    """One event for one endpoint; `body` is sent byte for byte on every attempt."""

    name: str  # the spool file's name: order, then the delivery id
    id: str
    account: str
    url: str
    event: str
    body: bytes
    created: float  # unix seconds
    attempts: int = 0


class Spool:
    def __init__(self, directory: Path, max_entries: int) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self.dropped = 0
        """Deliveries removed unsent to stay within `max_entries`."""
        self._names: list[str] = []

    def load(self) -> list[Delivery]:
        """What a previous run left (unreadable files are set aside with a `.bad` suffix)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        deliveries = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            try:
                data = json.loads(path.read_bytes())
                deliveries.append(
                    Delivery(
                        name=path.name,
                        id=str(data["id"]),
                        account=str(data["account"]),
                        url=str(data["url"]),
                        event=str(data["event"]),
                        body=str(data["body"]).encode(),
                        created=float(data["created"]),
                        attempts=int(data.get("attempts", 0)),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                path.rename(path.with_suffix(".bad"))
        self._names = [d.name for d in deliveries]
        return deliveries

    def put(self, delivery: Delivery) -> list[str]:
        """Write `delivery` durably; the names of older deliveries dropped to make room."""
        dropped = []
        while len(self._names) >= self.max_entries:
            oldest = self._names.pop(0)
            (self.directory / oldest).unlink(missing_ok=True)
            dropped.append(oldest)
        self.dropped += len(dropped)
        record = {
            "id": delivery.id,
            "account": delivery.account,
            "url": delivery.url,
            "event": delivery.event,
            "body": delivery.body.decode(),
            "created": delivery.created,
            "attempts": delivery.attempts,
        }
        final = self.directory / delivery.name
        temporary = final.with_suffix(".tmp")
        with temporary.open("wb") as out:
            out.write(json.dumps(record).encode())
            out.flush()
            os.fsync(out.fileno())
        temporary.rename(final)
        self._names.append(delivery.name)
        return dropped

    def remove(self, delivery: Delivery) -> None:
        (self.directory / delivery.name).unlink(missing_ok=True)
        if delivery.name in self._names:
            self._names.remove(delivery.name)

    def __len__(self) -> int:
        return len(self._names)
