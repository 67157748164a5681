"""A TCP proxy on loopback in front of a real server (PostgreSQL), to make it hang or vanish.

The database is shared with other people, so it is never stopped: the gateway is pointed at this
proxy instead, and the proxy makes the outage.
- `pause()`: bytes stop flowing both ways and new connections are accepted but not forwarded, as a
  database host that stopped answering (a network partition, a stalled disk) looks to a client;
  `resume()` lets everything held through, so writes in flight complete late.
- `cut()`: every connection is reset and the port refuses connections, as a stopped server's
  does; `restore()` listens on the same port again.
Each direction holds at most one read (64 KiB) while paused. Every task belongs to the proxy and
ends with `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket

Address = tuple[str, int]
CHUNK_BYTES = 65536


class TcpProxy:
    def __init__(self, upstream: Address, host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.host = host
        self.port = 0
        self.connections = 0  # accepted so far
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url_host(self) -> str:
        return f"{self.host}:{self.port}"

    async def start(self) -> None:
        if self.port == 0:
            with socket.socket() as probe:  # a port of our own, kept across cut() / restore()
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]
        self._server = await asyncio.start_server(
            self._accepted, self.host, self.port, reuse_address=True
        )

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def cut(self) -> None:
        """Reset every connection and refuse new ones until `restore()`."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        await self._drop_all()

    async def restore(self) -> None:
        self.resume()
        if self._server is None:
            await self.start()

    async def close(self) -> None:
        await self.cut()

    async def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _own(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A task of our own: asyncio's streams mishandle a cancelled connection callback.
        self.connections += 1
        self._writers.add(writer)
        self._own(asyncio.create_task(self._session(reader, writer)))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._flowing.wait()
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except (OSError, asyncio.CancelledError):
            writer.transport.abort()
            self._writers.discard(writer)
            return
        self._writers.add(up_writer)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        for pump in pumps:
            self._own(pump)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for end in (writer, up_writer):
                end.transport.abort()
                self._writers.discard(end)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ConnectionError):
            while chunk := await source.read(CHUNK_BYTES):
                await self._flowing.wait()
                sink.write(chunk)
                await sink.drain()
