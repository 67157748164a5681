"""A lossy UDP relay: the kernel here has no netem, so SIP loss is simulated by a small proxy.

The trunk talks to `front`; the relay forwards each datagram from its `back` socket to the real
peer, and the peer's datagrams (sent back to `back`) to the last address the trunk used. A seeded
RNG drops `loss` of the datagrams in each direction, so a failing run can be replayed.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

Address = tuple[str, int]


@dataclass
class Counts:
    forwarded: int = 0
    dropped: int = 0


@dataclass
class LossyRelay:
    upstream: Address
    loss: float
    seed: int = 4475
    host: str = "127.0.0.1"
    to_peer: Counts = field(default_factory=Counts)
    to_client: Counts = field(default_factory=Counts)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._client: Address | None = None
        self._front: asyncio.DatagramTransport | None = None
        self._back: asyncio.DatagramTransport | None = None

    @property
    def port(self) -> int:
        assert self._front is not None
        port: int = self._front.get_extra_info("sockname")[1]
        return port

    async def start(self) -> LossyRelay:
        loop = asyncio.get_running_loop()
        self._front, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_client), local_addr=(self.host, 0)
        )
        self._back, _ = await loop.create_datagram_endpoint(
            lambda: _Side(self._from_peer), local_addr=(self.host, 0)
        )
        return self

    def close(self) -> None:
        for side in (self._front, self._back):
            if side is not None:
                side.close()

    def _lost(self, counts: Counts) -> bool:
        if self._rng.random() < self.loss:
            counts.dropped += 1
            return True
        counts.forwarded += 1
        return False

    def _from_client(self, data: bytes, source: Address) -> None:
        self._client = source
        if not self._lost(self.to_peer) and self._back is not None:
            self._back.sendto(data, self.upstream)

    def _from_peer(self, data: bytes, source: Address) -> None:
        if self._client is not None and not self._lost(self.to_client) and self._front:
            self._front.sendto(data, self._client)


class _Side(asyncio.DatagramProtocol):
    def __init__(self, handler: object) -> None:
        self._handler = handler

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        handler = self._handler
        assert callable(handler)
        handler(data, (str(addr[0]), int(addr[1])))
