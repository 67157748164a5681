"""A bounded queue of messages for one application connection (a Socket.IO client, an inbound socket).

Control messages (dialStatus, dtmf, checkPoint, hangup, cdr...) are few per call and always kept. Audio is
50 frames a second per call; when the application reads slower than that, its oldest audio frames are
dropped once `max_audio` are waiting, and the count is kept per session so the application can be told.
Everything else is capped too: past `max_items` waiting messages the connection is hopeless (open but
not reading), `overflowed` is set and further messages are discarded; its owner closes it.
Memory per connection is therefore bounded whatever the application does.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Outgoing:
    event: str
    data: Any
    audio: bool = False
    session_id: str = ""


class Outbox:
    def __init__(
        self,
        max_audio: int = 50,
        max_items: int = 10_000,
        on_drop: Callable[[str], None] | None = None,
    ) -> None:
        self.max_audio = max_audio
        self._on_drop = on_drop  # told the session id of each audio frame dropped
        self.max_items = max_items
        self.overflowed = False
        # Read-only for owners: `if not outbox.items` asks whether anything waits without a call.
        self.items: deque[Outgoing] = deque()
        self._audio = 0
        self._ready = asyncio.Event()
        self.dropped: dict[str, int] = {}  # session id -> audio frames dropped, not yet reported
        self.dropped_total = 0  # the sum of `dropped`

    def __len__(self) -> int:
        return len(self.items)

    def put(self, event: str, data: Any, *, audio: bool = False, session_id: str = "") -> None:
        if self.overflowed:
            return
        if len(self.items) >= self.max_items and not audio:
            self.overflowed = True
            self._ready.set()
            return
        if audio:
            if self._audio >= self.max_audio:
                self._drop_oldest_audio()
            self._audio += 1
        self.items.append(Outgoing(event, data, audio, session_id))
        self._ready.set()

    def pop_nowait(self) -> Outgoing | None:
        """The next message if one waits (for an owner that writes when its socket can take it)."""
        if not self.items:
            return None
        item = self.items.popleft()
        if item.audio:
            self._audio -= 1
        return item

    async def get(self) -> Outgoing | None:
        """The next message; None once the outbox has overflowed (close the connection)."""
        while not self.items and not self.overflowed:
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            return None
        item = self.items.popleft()
        if item.audio:
            self._audio -= 1
        return item

    def take_dropped(self) -> dict[str, int]:
        dropped, self.dropped = self.dropped, {}
        self.dropped_total = 0
        return dropped

    def _drop_oldest_audio(self) -> None:
        for index, item in enumerate(self.items):
            if item.audio:
                del self.items[index]
                self._audio -= 1
                self.dropped[item.session_id] = self.dropped.get(item.session_id, 0) + 1
                self.dropped_total += 1
                if self._on_drop is not None:
                    self._on_drop(item.session_id)
                return
