"""Each node's lease in Redis, and the reaper that closes the calls of a node whose lease lapsed.

A node sets `<prefix>node:<node_id>` with a TTL of `ttl_s` and refreshes it every `ttl_s / 3` on
the injectable clock. It claims the lease before it touches a record (`claim`): a second live node
with the same `node_id` would close the first's calls as its own orphans, so it refuses to start
instead. A lease a killed run of the same node left is waited out (it lapses within `ttl_s`, a
live node's is renewed), so a restart right after `kill -9` still comes up. Any node's reaper
looks at the nodes that still have open call records in the CDR store; those without a live lease
died (kill -9, a lost machine), and their records are closed as the crash recovery closes its own
at restart (cause 127), so no phantom live calls remain.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

from redis.asyncio import Redis

from callgate.calls.recorder import recover_orphans
from callgate.calls.records import CallRecord
from callgate.calls.recordstore import RecordStore
from callgate.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 10.0
DEFAULT_PREFIX = "callgate:"
LAPSE_MARGIN_S = 0.5  # past a lease's TTL before it counts as renewed by a live holder


class NodeIdInUse(Exception):
    """Another live node holds this node's lease."""


class NodeLease:
    """This node's lease, and the reaping of other nodes' calls once theirs is gone."""

    def __init__(
        self,
        redis: Redis,
        store: RecordStore,
        clock: Clock,
        node_id: str,
        *,
        ttl_s: float = DEFAULT_TTL_S,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self._redis = redis
        self._store = store
        self._clock = clock
        self.node_id = node_id
        self._ttl_ms = max(1, round(ttl_s * 1000))
        self._every_s = ttl_s / 3
        self._prefix = prefix
        self._token = uuid.uuid4().hex  # this run's, so a stop drops only its own lease
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Runs after each round (the watch of other nodes' calls followed here).
        self.after_round: list[Callable[[], Awaitable[None]]] = []

    def key(self, node_id: str) -> str:
        return f"{self._prefix}node:{node_id}"

    async def claim(self) -> None:
        """Take this node's lease, waiting out one a killed run left; NodeIdInUse if a live node
        keeps renewing it."""
        key = self.key(self.node_id)
        if await self._redis.set(key, self._token, px=self._ttl_ms, nx=True):
            return
        left_ms = await self._redis.pttl(key)
        log.warning("node %s: a lease is held; waiting up to %d ms for it to lapse", key, left_ms)
        await self._sleep(max(0, left_ms) / 1000 + LAPSE_MARGIN_S)
        if await self._redis.set(key, self._token, px=self._ttl_ms, nx=True):
            return
        raise NodeIdInUse(
            f"node_id {self.node_id!r} is in use by a live node (its lease {key} is being "
            "renewed); give every node its own node_id"
        )

    async def renew(self) -> None:
        await self._redis.set(self.key(self.node_id), self._token, px=self._ttl_ms)

    async def release(self) -> None:
        """On a clean stop: the node closed its calls itself, so its lease may go at once (only
        its own: never one another run took since)."""
        key = self.key(self.node_id)
        if await self._redis.get(key) == self._token.encode():
            await self._redis.delete(key)

    async def _sleep(self, delay_s: float) -> None:
        done = asyncio.Event()
        timer = self._clock.call_later(delay_s, done.set)
        try:
            await done.wait()
        finally:
            timer.cancel()

    async def reap(self) -> Sequence[CallRecord]:
        """Close the open records of every node without a live lease; returns them."""
        closed: list[CallRecord] = []
        for node in await self._store.open_nodes():
            if node == self.node_id or await self._redis.exists(self.key(node)):
                continue
            closed.extend(await recover_orphans(self._store, node, self._clock.utcnow()))
        return closed

    async def tick(self) -> Sequence[CallRecord]:
        """One round: renew the lease, then reap."""
        await self.renew()
        return await self.reap()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.release()

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
                for then in self.after_round:
                    await then()
            except Exception:
                log.exception("node lease round failed")
            self._wake.clear()
            timer = self._clock.call_later(self._every_s, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()
