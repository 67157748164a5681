"""What the API surfaces need from other nodes (issue 16), as a port: `callgate.nodes.relay`
implements it over Redis; without `redis_url` there is none and every call is local."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

Ack = dict[str, Any]


class Relay(Protocol):
    node_id: str
    on_audio: Callable[[str, bytes], None]
    on_event: Callable[[str, str, dict[str, Any]], None]
    on_notice: Callable[[str, str, dict[str, Any]], None]

    def handle(
        self, op: str, handler: Callable[[str, str, dict[str, Any], bytes | None], Ack]
    ) -> None: ...

    def call(
        self,
        node: str,
        op: str,
        account: str,
        data: dict[str, Any],
        blob: bytes | None,
        on_reply: Callable[[Ack], None],
    ) -> None: ...

    async def owner_of(self, session_id: str) -> str | None: ...

    def send_audio(self, node: str, session_id: str, frame: bytes) -> None: ...

    def send_event(self, node: str, session_id: str, name: str, data: dict[str, Any]) -> None: ...

    def notify_account(self, account: str, name: str, data: dict[str, Any]) -> None: ...

    def account_joined(self, account: str) -> None: ...

    def account_left(self, account: str) -> None: ...


class Pending:
    """An ack that another node will give: its callbacks run the moment the reply is read, before
    the records behind it (what the command caused), and `future` serves awaiting code."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[Ack], None]] = []
        self.future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()

    def then(self, callback: Callable[[Ack], None]) -> None:
        self._callbacks.append(callback)

    def resolve(self, ack: Ack) -> None:
        if self.future.done():
            return
        for callback in self._callbacks:
            callback(ack)
        self.future.set_result(ack)
