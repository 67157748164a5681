"""python-engineio's ping tasks, owned: each socket's pending ping ends when its socket does.

python-engineio (4.x) arms a task per socket that sleeps `ping_interval` (25 s) before each ping and
keeps no handle on it. A socket that closes, or whose client vanishes, leaves that task (and the
socket object it holds) alive for up to 25 s more: with clients that come and go for every call,
hundreds of tasks nobody owns, found by the leak gates (tests/leaks). Here the engine remembers
each socket's ping task and cancels it when the socket's disconnect is handled.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any

import engineio
import socketio
from engineio.async_socket import AsyncSocket

PING_TASK = "_send_ping"  # AsyncSocket's method that python-engineio runs as the ping task


class OwnedPingsEngine(engineio.AsyncServer):  # type: ignore[misc]
    """An Engine.IO server whose sockets' ping tasks end with their sockets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pings: dict[str, asyncio.Task[Any]] = {}

    def start_background_task(self, target: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        task = super().start_background_task(target, *args, **kwargs)
        owner = getattr(target, "__self__", None)
        if getattr(target, "__name__", "") == PING_TASK and isinstance(owner, AsyncSocket):
            # One at a time per socket: python-engineio arms the next once the last has run.
            self._pings[owner.sid] = task
            task.add_done_callback(functools.partial(self._forget, owner.sid))
        return task

    def on(self, event: str, handler: Any = None) -> Any:
        if event == "disconnect" and handler is not None:
            handler = self._ending_pings(handler)
        return super().on(event, handler)

    def _ending_pings(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        async def disconnected(eio_sid: str, *rest: Any) -> Any:
            task = self._pings.pop(eio_sid, None)
            if task is not None and task is not asyncio.current_task():
                task.cancel()
            result = handler(eio_sid, *rest)
            return await result if asyncio.iscoroutine(result) else result

        return disconnected

    def _forget(self, eio_sid: str, task: asyncio.Task[Any]) -> None:
        if self._pings.get(eio_sid) is task:
            del self._pings[eio_sid]

    @property
    def pending_pings(self) -> int:
        """Ping tasks of open sockets (the idle-state probe's `socketio_ping_tasks`)."""
        return len(self._pings)


class AsyncServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server on `OwnedPingsEngine`."""

    def _engineio_server_class(self) -> type[OwnedPingsEngine]:
        return OwnedPingsEngine
