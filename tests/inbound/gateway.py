"""A raw `websockets` client playing the gateway, for testing inbound apps at the bytes level.

It records everything the app sends, stamped with the loop time of arrival, so tests can assert what
a gateway would notice: which events came, in what order, when, the audio, and how the socket closed.
Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from callgate.media.pcm import FRAME_BYTES

WAIT_S = 10.0
"""Upper bound for any single wait: generous, so a loaded machine does not make tests flaky."""


@dataclass
class Received:
    """What the app sent, in arrival order."""

    events: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    audio: bytearray = field(default_factory=bytearray)
    audio_messages: list[tuple[float, int]] = field(default_factory=list)
    """(arrival time, size) of each binary message."""


class Gateway:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received = Received()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._changed = asyncio.Event()
        self._done = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, url: str, *, ssl_context: ssl.SSLContext | None = None
    ) -> AsyncIterator[Gateway]:
        async with connect(url, ssl=ssl_context, compression=None, open_timeout=WAIT_S) as ws:
            gateway = cls(ws)
            try:
                yield gateway
            finally:
                gateway._reader.cancel()
                await asyncio.wait([gateway._reader])

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                now = self._loop.time()
                if isinstance(message, bytes):
                    self.received.audio += message
                    self.received.audio_messages.append((now, len(message)))
                else:
                    self.received.texts.append(message)
                    self.received.events.append((now, json.loads(message)))
                self._changed.set()
        except ConnectionClosed:
            pass
        finally:
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason
            self._done.set()
            self._changed.set()

    # --- sending ---

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(payload))

    async def send_text(self, text: str) -> None:
        await self.ws.send(text)

    async def send_audio(self, pcm16: bytes) -> None:
        await self.ws.send(pcm16)

    async def incoming_call(
        self, session_id: str = "sess-1", caller_id: str = "0812345678", did: str = "021555"
    ) -> None:
        await self.send_json(
            {
                "event": "incoming_call",
                "callerId": caller_id,
                "didNumber": did,
                "sessionId": session_id,
            }
        )

    async def stream(self, pcm16: bytes, *, frame_s: float = 0.02) -> None:
        """Send `pcm16` as 320-byte frames paced on loop-time deadlines, as a gateway would."""
        start = self._loop.time()
        for index, offset in enumerate(range(0, len(pcm16), FRAME_BYTES)):
            delay_s = start + index * frame_s - self._loop.time()
            if delay_s > 0:
                await asyncio.sleep(delay_s)
            await self.ws.send(pcm16[offset : offset + FRAME_BYTES])

    # --- waiting ---

    def events_named(self, name: str) -> list[tuple[float, dict[str, Any]]]:
        return [(t, e) for t, e in self.received.events if e.get("event") == name]

    async def wait_event(self, name: str, *, count: int = 1, timeout_s: float = WAIT_S) -> float:
        """Wait until `count` events named `name` arrived; the arrival time of the last one."""
        async with asyncio.timeout(timeout_s):
            while len(found := self.events_named(name)) < count:
                if self._done.is_set():
                    raise AssertionError(
                        f"connection closed ({self.close_code}) before {name!r}; "
                        f"got {self.received.texts}"
                    )
                self._changed.clear()
                await self._changed.wait()
        return found[count - 1][0]

    async def wait_audio(self, size: int, *, timeout_s: float = WAIT_S) -> None:
        async with asyncio.timeout(timeout_s):
            while len(self.received.audio) < size and not self._done.is_set():
                self._changed.clear()
                await self._changed.wait()

    async def closed(self, *, timeout_s: float = WAIT_S) -> int | None:
        """Wait for the app to close the connection; its close code."""
        async with asyncio.timeout(timeout_s):
            await self._done.wait()
        return self.close_code

    def drop(self) -> None:
        """Vanish without a closing handshake, as a crashed gateway or a cut cable would."""
        transport = self.ws.transport
        transport.abort()


async def eventually(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Wait until `condition()` holds, polling: for server-side bookkeeping a client cannot see."""
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - the server keeps no event for this state
            await asyncio.sleep(0.005)
