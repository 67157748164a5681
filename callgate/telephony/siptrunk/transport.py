"""The SIP transport: one UDP socket (4 MB receive buffer) and TCP connections, as thin asyncio glue.

What arrives goes to `on_message(data, source)`: one UDP datagram, or one message framed off a TCP
stream by `StreamFramer` (linear in the bytes received, however they trickle in). What the engine
sends goes through `send`, the one chokepoint. No exception ever leaves a receive callback: a
failure is logged and that datagram (or connection) dropped, and the socket keeps serving.

UDP: a burst of 100+ INVITEs overflows Linux's default 208 KB receive buffer, so the socket asks
for 4 MB (granted up to net.core.rmem_max; a smaller grant is logged). A name (not an IP) as a
destination is resolved off the loop once and cached, bounded.

TCP (RFC 3261 §18), and TLS over it (§26.2: the peer's certificate verified against the
configured CA store and the name we dialled): a listener when configured, and client
connections opened on demand. A request
goes over the connection to its exact destination, opened if needed (its messages queue meanwhile,
bounded); a response goes back over the connection its request came on, or any connection from
that host. A stream that cannot be framed is closed (RFC 4475 §3.1.2.3). Failed sends are
reported through `on_send_failed(key)` so the transaction ends (TransportFailed).

Who may hold a connection, checked at accept with the same trust as INVITEs (`trusted`):
connections we open and those from trusted sources share `MAX_CONNECTIONS`; a stranger's
connection takes one of `MAX_STRANGER_CONNECTIONS` slots (at most
`MAX_STRANGER_CONNECTIONS_PER_HOST` per address), so strangers can never take the slots the
trunk's own connection needs, and it is closed once it has delivered no whole message for
`STRANGER_IDLE_S` (bytes trickled without ever completing a message do not count). A connection
past its limit is closed at once. Idle deadlines run on the injected clock, one timer for all.
A peer that does not read what we send is closed once `MAX_UNSENT_BYTES` wait for it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from functools import lru_cache
from typing import Any, cast

from callgate.clock import Clock, LoopClock, Timer
from callgate.telephony.sip import (
    FramingError,
    Send,
    SipResponse,
    StreamFramer,
    Target,
    TransactionKey,
)

__all__ = ["RECEIVE_BUFFER_BYTES", "SipTransport"]

log = logging.getLogger(__name__)

RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
MAX_CONNECTIONS = 1024
"""TCP connections we opened or accepted from trusted sources."""
MAX_STRANGER_CONNECTIONS = 128
"""TCP connections accepted from sources that are not trusted, apart from the above."""
MAX_STRANGER_CONNECTIONS_PER_HOST = 8
STRANGER_IDLE_S = 30.0
"""A stranger's connection that delivers no whole message for this long is closed."""
MAX_QUEUED_PER_CONNECT = 64
"""Messages waiting for a TCP connection to open; more fail at once."""
CONNECT_TIMEOUT_S = 5.0
MAX_RESOLVED_NAMES = 256
MAX_UNSENT_BYTES = 1024 * 1024
"""Bytes waiting to be sent on one TCP connection: a peer that stops reading (while it goes on
sending requests) is closed past this, rather than our answers piling up for it."""

MessageHandler = Callable[[bytes, Target], None]
FailureHandler = Callable[[TransactionKey], None]
TrustCheck = Callable[[str, int], bool]


@lru_cache(maxsize=4096)
def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class SipTransport:
    def __init__(
        self,
        on_message: MessageHandler,
        on_send_failed: FailureHandler,
        *,
        clock: Clock | None = None,
        trusted: TrustCheck | None = None,
    ) -> None:
        """`trusted(host, port)` says who may hold a connection of the trusted kind (None: all);
        `clock` runs the strangers' idle deadlines (default: the running loop's)."""
        self._on_message = on_message
        self._on_send_failed = on_send_failed
        self._clock: Clock = clock or LoopClock()
        self.trusted = trusted
        # TLS (RFC 3261 §26.2): how we verify the peers we connect to (the name their
        # certificate must carry), and our own certificate for the listener.
        self.tls_client: ssl.SSLContext | None = None
        self.tls_server_name: str | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._streams: dict[tuple[str, int], _Stream] = {}  # by peer, and by the name dialled
        self._trusted_open: set[_Stream] = set()
        # Strangers' connections, the least recently active first; their idle timer.
        self._strangers: OrderedDict[_Stream, float] = OrderedDict()
        self._strangers_by_host: dict[str, int] = {}
        self._idle_timer: Timer | None = None
        self._idle_at = 0.0
        self._connecting: dict[tuple[str, int], list[Send]] = {}
        self._resolved: dict[str, str] = {}
        self._resolving: dict[str, list[Send]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.receive_buffer_bytes = 0
        self.local_port = 0

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py): connections and what waits on them."""
        return {
            "sip_connections": len(set(self._streams.values())),
            "sip_connections_pending": len(self._connecting) + len(self._resolving),
            "sip_transport_tasks": len(self._tasks),
        }

    # --- lifecycle ----------------------------------------------------------------------------

    async def open(
        self, host: str, port: int, *, tcp: bool, tls: ssl.SSLContext | None = None
    ) -> int:
        """Bind UDP (and listen on TCP, or TLS with the server context `tls`) at host:port;
        returns the port (useful when port is 0)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            sock.setblocking(False)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        # Linux reports twice what it grants (the other half is its bookkeeping).
        self.receive_buffer_bytes = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        if self.receive_buffer_bytes < RECEIVE_BUFFER_BYTES:
            log.warning(
                "SIP UDP receive buffer is %d bytes, not %d: raise net.core.rmem_max",
                self.receive_buffer_bytes,
                RECEIVE_BUFFER_BYTES,
            )
        self.local_port = sock.getsockname()[1]
        self._udp, _ = await loop.create_datagram_endpoint(lambda: _Datagrams(self), sock=sock)
        if tcp or tls is not None:
            name = "TLS" if tls is not None else "TCP"
            self._server = await loop.create_server(
                lambda: _Stream(self, transport=name),
                host,
                self.local_port,
                reuse_address=True,
                ssl=tls,
            )
        return self.local_port

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        for stream in {*self._streams.values(), *self._trusted_open, *self._strangers}:
            stream.close()
        self._streams.clear()
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    # --- sending ------------------------------------------------------------------------------

    def send(self, item: Send) -> None:
        """Put one message on the wire towards `item.target`; never raises."""
        try:
            if item.target.transport == "UDP":
                self._send_udp(item)
            elif item.target.transport in ("TCP", "TLS"):
                self._send_tcp(item)
            else:
                log.warning("no %s transport: %s dropped", item.target.transport, item.target)
                self._failed(item)
        except Exception:
            log.exception("sending to %s failed", item.target)
            self._failed(item)

    def _send_udp(self, item: Send) -> None:
        udp = self._udp
        if udp is None:
            return
        host = item.target.host
        if not _is_ip(host):
            resolved = self._resolved.get(host)
            if resolved is None:
                self._resolve_then_send(host, item)
                return
            host = resolved
        udp.sendto(item.data, (host, item.target.port))

    def _resolve_then_send(self, name: str, item: Send) -> None:
        waiting = self._resolving.get(name)
        if waiting is not None:
            if len(waiting) < MAX_QUEUED_PER_CONNECT:
                waiting.append(item)
            else:
                self._failed(item)
            return
        if len(self._resolving) >= MAX_RESOLVED_NAMES:
            self._failed(item)
            return
        self._resolving[name] = [item]
        self._spawn(self._resolve(name, item.target.port))

    async def _resolve(self, name: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(name, port, type=socket.SOCK_DGRAM)
            address = str(infos[0][4][0])
        except (OSError, IndexError) as exc:
            log.warning("cannot resolve %s: %s", name, exc)
            for item in self._resolving.pop(name, []):
                self._failed(item)
            return
        if len(self._resolved) >= MAX_RESOLVED_NAMES:
            self._resolved.pop(next(iter(self._resolved)))
        self._resolved[name] = address
        for item in self._resolving.pop(name, []):
            self._send_udp(item)

    def _send_tcp(self, item: Send) -> None:
        target = item.target
        key = (target.host, target.port)
        stream = self._streams.get(target.flow or key)
        if stream is None and target.flow is not None:
            stream = self._streams.get(key)
        if stream is None and isinstance(item.message, SipResponse):
            stream = self._any_stream_from(target.host)
        if stream is not None:
            stream.write(item.data)
            return
        waiting = self._connecting.get(key)
        if waiting is not None:
            if len(waiting) < MAX_QUEUED_PER_CONNECT:
                waiting.append(item)
            else:
                self._failed(item)
            return
        if len(self._trusted_open) + len(self._connecting) >= MAX_CONNECTIONS:
            self._failed(item)
            return
        if target.transport == "TLS" and self.tls_client is None:
            log.warning("no TLS client settings: %s dropped", target)
            self._failed(item)
            return
        self._connecting[key] = [item]
        self._spawn(self._connect(key, target.transport))

    async def _connect(self, key: tuple[str, int], transport: str) -> None:
        loop = asyncio.get_running_loop()
        host, port = key
        tls = self.tls_client if transport == "TLS" else None
        try:
            _, stream = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _Stream(self, ours=True, transport=transport),
                    host,
                    port,
                    ssl=tls,
                    # The certificate must name what we were configured to call (the trunk's
                    # host), not the address it resolved to.
                    server_hostname=(self.tls_server_name or host) if tls is not None else None,
                ),
                CONNECT_TIMEOUT_S,
            )
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError: a refused cert
            log.info("TCP connection to %s:%d failed: %s", host, port, exc)
            for item in self._connecting.pop(key, []):
                self._failed(item)
            return
        self._streams.setdefault(key, stream)  # also under the name it was asked for
        stream.aliases.append(key)
        for item in self._connecting.pop(key, []):
            stream.write(item.data)

    def _any_stream_from(self, host: str) -> _Stream | None:
        for (peer_host, _), stream in reversed(self._streams.items()):
            if peer_host == host:
                return stream
        return None

    def _failed(self, item: Send) -> None:
        if item.key is not None:
            self._on_send_failed(item.key)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- receiving ----------------------------------------------------------------------------

    def deliver(self, data: bytes, source: Target) -> None:
        try:
            self._on_message(data, source)
        except Exception:  # the engine is guarded too; this is the last line
            log.exception("SIP message from %s could not be handled", source)

    def _opened(self, stream: _Stream) -> bool:
        """A connection is up: admit it (trusted, ours, or a stranger with a free slot)."""
        host, port = stream.peer
        trusted = self.trusted
        if stream.ours or trusted is None or trusted(host, port):
            if len(self._trusted_open) >= MAX_CONNECTIONS:
                log.warning(
                    "TCP connection from %s refused: %d connections", stream.peer, MAX_CONNECTIONS
                )
                return False
            self._trusted_open.add(stream)
        else:
            from_host = self._strangers_by_host.get(host, 0)
            if len(self._strangers) >= MAX_STRANGER_CONNECTIONS:
                log.info(
                    "TCP connection from untrusted %s refused: stranger slots full", stream.peer
                )
                return False
            if from_host >= MAX_STRANGER_CONNECTIONS_PER_HOST:
                log.info(
                    "TCP connection from untrusted %s refused: %d from that host",
                    stream.peer,
                    from_host,
                )
                return False
            stream.stranger = True
            self._strangers_by_host[host] = from_host + 1
            self._strangers[stream] = self._clock.monotonic() + STRANGER_IDLE_S
            self._arm_idle()
        self._streams[stream.peer] = stream
        return True

    def _active(self, stream: _Stream) -> None:
        """`stream` delivered a whole message: a stranger's idle deadline starts again."""
        if stream.stranger and stream in self._strangers:
            self._strangers[stream] = self._clock.monotonic() + STRANGER_IDLE_S
            self._strangers.move_to_end(stream)
            # The armed timer may now be early for the new first one: it re-arms when it fires.

    def _closed(self, stream: _Stream) -> None:
        for key in (stream.peer, *stream.aliases):
            if self._streams.get(key) is stream:
                del self._streams[key]
        self._trusted_open.discard(stream)
        if self._strangers.pop(stream, None) is not None:
            host = stream.peer[0]
            left = self._strangers_by_host.get(host, 1) - 1
            if left > 0:
                self._strangers_by_host[host] = left
            else:
                self._strangers_by_host.pop(host, None)

    def _arm_idle(self) -> None:
        if self._idle_timer is not None or not self._strangers:
            return
        self._idle_at = next(iter(self._strangers.values()))
        self._idle_timer = self._clock.call_at(self._idle_at, self._on_idle_timer)

    def _on_idle_timer(self) -> None:
        self._idle_timer = None
        now = max(self._clock.monotonic(), self._idle_at)  # a loop may wake a hair early
        try:
            while self._strangers:
                stream, deadline = next(iter(self._strangers.items()))
                if deadline > now:
                    break
                log.info("TCP connection from untrusted %s idle: closing it", stream.peer)
                self._closed(stream)  # now, not when the loop reports it: the slot is free
                stream.close()
        finally:
            self._arm_idle()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        try:
            source = Target(str(addr[0]), int(addr[1]), "UDP")
        except (ValueError, IndexError, TypeError):
            return
        self._owner.deliver(data, source)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the transactions' own timers deal with silence.
        log.debug("SIP UDP socket error: %s", exc)


class _Stream(asyncio.Protocol):
    """One TCP connection: frames messages off the byte stream; writes what it is given."""

    def __init__(self, owner: SipTransport, *, ours: bool = False, transport: str = "TCP") -> None:
        self._owner = owner
        self.transport_name = transport  # TCP or TLS, for the source of what it delivers
        self._transport: asyncio.Transport | None = None
        self._framer = StreamFramer()
        self.ours = ours  # we opened it (to the trunk, a dialog's target)
        self.stranger = False  # accepted from a source that is not trusted
        self.peer: tuple[str, int] = ("", 0)
        self.aliases: list[tuple[str, int]] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not always an `asyncio.Transport` subclass: uvloop's
        # (what `callgate serve` runs on) is its own class with the same methods.
        self._transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        if not self._owner._opened(self):
            self._transport.abort()
            self._transport = None

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._closed(self)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        if self._transport is None:
            return  # refused or closed: nothing more is read from it
        source = Target(self.peer[0], self.peer[1] or 1, self.transport_name)
        try:
            messages = self._framer.feed(data)
        except FramingError as exc:
            log.info("TCP stream from %s cannot be framed (%s): closing it", self.peer, exc)
            self.close()
            return
        except Exception:
            log.exception("TCP stream from %s failed: closing it", self.peer)
            self.close()
            return
        if messages:
            self._owner._active(self)
        for message in messages:
            self._owner.deliver(message, source)

    def write(self, data: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if transport.get_write_buffer_size() + len(data) > MAX_UNSENT_BYTES:
            log.info("TCP peer %s does not read what we send: closing the connection", self.peer)
            self.close()
            return
        transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._framer.clear()
