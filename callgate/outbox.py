"""A bounded queue of messages for one application connection (a Socket.IO client, an inbound socket).

Control messages (dialStatus, dtmf, checkPoint, hangup, cdr...) are few per call and always kept. Audio is
50 frames a second per call; when the application reads slower than that, its oldest audio frames are
dropped once `max_audio` are waiting, and the count is kept per session so the application can be told.
Memory per connection is therefore bounded whatever the application does.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Outgoing:
    event: str
    data: Any
    audio: bool = False
    session_id: str = ""


class Outbox:
    def __init__(self, max_audio: int = 50) -> None:
        self.max_audio = max_audio
        self._items: deque[Outgoing] = deque()
        self._audio = 0
        self._ready = asyncio.Event()
        self.dropped: dict[str, int] = {}  # session id -> audio frames dropped, not yet reported

    def __len__(self) -> int:
        return len(self._items)

    def put(self, event: str, data: Any, *, audio: bool = False, session_id: str = "") -> None:
        if audio:
            if self._audio >= self.max_audio:
                self._drop_oldest_audio()
            self._audio += 1
        self._items.append(Outgoing(event, data, audio, session_id))
        self._ready.set()

    async def get(self) -> Outgoing:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if item.audio:
            self._audio -= 1
        return item

    def take_dropped(self) -> dict[str, int]:
        dropped, self.dropped = self.dropped, {}
        return dropped

    def _drop_oldest_audio(self) -> None:
        for index, item in enumerate(self._items):
            if item.audio:
                del self._items[index]
                self._audio -= 1
                self.dropped[item.session_id] = self.dropped.get(item.session_id, 0) + 1
                return
