"""A bare Socket.IO v5 client on `websockets`, written from the protocol documents, for tests that must
hold the socket itself: stop reading (a slow client), or see the exact messages and their order.

Engine.IO v4 over WebSocket only: `0{…}` opens, the server's `2` pings are answered `3`, `4…` carries a
Socket.IO packet (`40` CONNECT, `42[…]` event, `43<id>[…]` ack, `451-[…]` binary event followed by
its attachment as a binary message).
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


@dataclass
class RawClient:
    ws: ClientConnection
    events: list[tuple[str, Any]] = field(default_factory=list)
    acks: dict[int, Any] = field(default_factory=dict)
    _next_id: int = 0
    _attachment_for: list[Any] | None = None

    @classmethod
    async def open(cls, url: str, token: str, *, rcvbuf: int | None = None) -> RawClient:
        host, port = url.removeprefix("http://").split(":")
        sock = socket.socket()
        if rcvbuf is not None:  # a small window: the server's writes back up soon
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        ws = await connect(
            f"ws://{host}:{port}/socket.io/?EIO=4&transport=websocket",
            sock=sock,
            compression=None,
            max_queue=1,  # stop reading the socket as soon as one message waits
            close_timeout=0.5,
        )
        client = cls(ws)
        opened = await ws.recv()
        assert isinstance(opened, str), opened
        assert opened.startswith("0{"), opened
        await ws.send("40" + json.dumps({"token": token}))
        while True:
            message = await client.read()
            if isinstance(message, str) and message.startswith("40"):
                return client

    async def read(self, timeout_s: float = 5.0) -> str | bytes:
        """The next message, answering pings and recording events and acks on the way."""
        message = await asyncio.wait_for(self.ws.recv(), timeout_s)
        if isinstance(message, bytes):
            if self._attachment_for is not None:
                event, data = self._attachment_for
                self.events.append((event, {**data, "audioData": message}))
                self._attachment_for = None
            return message
        if message == "2":
            await self.ws.send("3")
        elif message.startswith("42"):
            event, data = json.loads(message[2:])
            self.events.append((event, data))
        elif message.startswith("451-"):
            self._attachment_for = json.loads(message[4:])
        elif message.startswith("43"):
            digits = len(message) - len(message[2:].lstrip("0123456789"))
            self.acks[int(message[2:digits])] = json.loads(message[digits:])[0]
        return message

    async def emit(self, event: str, data: Any) -> int:
        """Send an event asking for an ack; returns the ack id."""
        ack_id, self._next_id = self._next_id, self._next_id + 1
        await self.ws.send(f"42{ack_id}" + json.dumps([event, data]))
        return ack_id

    async def ack(self, ack_id: int, timeout_s: float = 5.0) -> Any:
        async def wait() -> Any:
            while ack_id not in self.acks:
                await self.read(timeout_s)
            return self.acks.pop(ack_id)

        return await asyncio.wait_for(wait(), timeout_s)

    async def until(self, event: str, timeout_s: float = 5.0) -> Any:
        """Read until `event` arrives; returns its data."""

        async def wait() -> Any:
            while True:
                for index, (name, data) in enumerate(self.events):
                    if name == event:
                        del self.events[index]
                        return data
                await self.read(timeout_s)

        return await asyncio.wait_for(wait(), timeout_s)

    def take(self, event: str) -> list[Any]:
        found = [data for name, data in self.events if name == event]
        self.events = [(name, data) for name, data in self.events if name != event]
        return found

    async def close(self) -> None:
        await self.ws.close()
