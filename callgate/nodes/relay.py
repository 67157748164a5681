"""Messages between nodes through Redis: a channel per node, the call -> node map, who has clients.

Theory of operation. Node X listens on the pub/sub channel `<prefix>to:X`. Whatever this node has
for X (a call's audio frames and events for X's joined clients, requests and their replies) is
appended to X's buffer in order, and one publisher task sends each buffer as one PUBLISH when it
wakes, so a media tick's frames for every call X follows cost one Redis message. One subscriber
task reads this node's channel and hands each record to its listener, in order; Redis pub/sub
keeps the order of one publisher's messages on one channel, so a call's events reach X as they
happened here.

A request (a command for a call another node owns) carries an id; its handler here runs
synchronously, and whatever it caused for the sender (a hangup's `hangup` and `cdr`) is held
behind the reply, so the sender answers the command before it relays what followed, as one node
does.

Shared state, written in order by one control task: `<prefix>call:<sid>` names the node that owns
a live call (set at its creation, removed at its end, expiring after `call_ttl_s` in case its node
died), and `<prefix>acct:<account>` is the set of nodes with Socket.IO clients of an account, so a
call's `newSession` is published only to nodes that have someone to tell. Nothing of this runs when
a client and its call share a node: audio and events are written locally; only a call's creation
and end touch Redis (the map, and the lookup of who else wants its newSession).

Bounded: a buffer past `max_buffer_bytes` (Redis gone, or far too slow) drops new audio frames,
counted in `dropped_frames`; control records still queue (one per command or call event, bounded
by the calls themselves). The control queue holds `MAX_JOBS`; past that, jobs are dropped and
logged (a call map entry then expires on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Final

from redis.asyncio import Redis

from callgate.calls.bus import EventBus
from callgate.calls.events import BusEvent, CallCreated, CallFinished
from callgate.nodes import wire

log = logging.getLogger(__name__)

MAX_JOBS: Final = 10_000
REQUEST_TIMEOUT_S: Final = 5.0
OWNER_LOOKUPS: Final = 4
"""A client may ask another node for a call a moment after it was placed, before its owner's map
entry landed (the REST answer and the SET race): so many tries, `OWNER_RETRY_S` apart."""
OWNER_RETRY_S: Final = 0.05
STOP_FLUSH_S: Final = 1.0

Ack = dict[str, Any]
Handler = Callable[[str, str, dict[str, Any], bytes | None], Ack]
"""A request's handler: (sender node, account, data, blob) -> the ack to send back."""


class NodeRelay:
    def __init__(
        self,
        redis: Redis,
        node_id: str,
        *,
        prefix: str = "callgate:",
        call_ttl_s: float = 6 * 3600,
        max_buffer_bytes: int = 4 << 20,
    ) -> None:
        self.redis = redis
        self.node_id = node_id
        self._prefix = prefix
        self._call_ttl_ms = max(1, round(call_ttl_s * 1000))
        self._max_buffer = max_buffer_bytes
        self._buffers: dict[str, bytearray] = {}
        self._held: list[tuple[str, bytes]] | None = None
        self._wake = asyncio.Event()
        self._publishing = False
        self._jobs: deque[Callable[[], Awaitable[object]]] = deque()
        self._job_ready = asyncio.Event()
        self._pending: dict[int, Callable[[Ack], None]] = {}
        self._next_id = 0
        self._handlers: dict[str, Handler] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: Any = None
        self._unfollow: Callable[[], None] | None = None
        # Listeners for what other nodes send this one (set by the Socket.IO surface).
        self.on_audio: Callable[[str, bytes], None] = lambda sid, frame: None
        self.on_event: Callable[[str, str, dict[str, Any]], None] = lambda sid, name, data: None
        self.on_notice: Callable[[str, str, dict[str, Any]], None] = lambda acct, name, data: None
        # Figures for the metrics and the benchmark.
        self.published = 0  # PUBLISH commands sent
        self.records_out = 0
        self.records_in = 0
        self.dropped_frames = 0

    def channel(self, node_id: str) -> str:
        return f"{self._prefix}to:{node_id}"

    def _call_key(self, session_id: str) -> str:
        return f"{self._prefix}call:{session_id}"

    def _account_key(self, account: str) -> str:
        return f"{self._prefix}acct:{account}"

    # --- lifecycle ----------------------------------------------------------------------------

    def follow(self, bus: EventBus) -> None:
        """Keep the call -> node map for the calls of this node."""
        self._unfollow = bus.subscribe(self._on_call, (CallCreated, CallFinished))

    async def start(self) -> None:
        self._pubsub = self.redis.pubsub()
        await self._pubsub.subscribe(self.channel(self.node_id))
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._publish_loop(), name="relay-publish"),
            loop.create_task(self._receive_loop(), name="relay-receive"),
            loop.create_task(self._job_loop(), name="relay-jobs"),
        ]

    async def stop(self) -> None:
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None
        # What the calls' ends queued goes out first (bounded: Redis may be the thing that is gone).
        for _ in range(round(STOP_FLUSH_S / 0.02)):
            if not (self._buffers or self._jobs or self._publishing):
                break
            await asyncio.sleep(0.02)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        pending, self._pending = self._pending, {}
        for answered in pending.values():
            answered({"success": False, "error": "this node is stopping"})
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            self._pubsub = None

    # --- sending ------------------------------------------------------------------------------

    def send_audio(self, node: str, session_id: str, frame: bytes) -> None:
        buffer = self._buffers.get(node)
        if buffer is not None and len(buffer) > self._max_buffer:
            self.dropped_frames += 1
            return
        self._append(node, wire.audio(session_id, frame))

    def send_event(self, node: str, session_id: str, name: str, data: dict[str, Any]) -> None:
        self._append(node, wire.event(session_id, name, data))

    def _append(self, node: str, record: bytes) -> None:
        if self._held is not None:
            self._held.append((node, record))
            return
        buffer = self._buffers.get(node)
        if buffer is None:
            buffer = self._buffers[node] = bytearray()
        buffer += record
        self.records_out += 1
        self._wake.set()

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            buffers, self._buffers = self._buffers, {}
            self._publishing = True
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for node, buffer in buffers.items():
                        pipe.publish(self.channel(node), bytes(buffer))
                    await pipe.execute()
                self.published += len(buffers)
            except Exception:
                log.exception(
                    "publishing to nodes %s failed; their records are lost", list(buffers)
                )
            finally:
                self._publishing = False

    # --- requests -----------------------------------------------------------------------------

    def handle(self, op: str, handler: Handler) -> None:
        self._handlers[op] = handler

    def call(
        self,
        node: str,
        op: str,
        account: str,
        data: dict[str, Any],
        blob: bytes | None,
        on_reply: Callable[[Ack], None],
        *,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        """Run `op` on `node`; `on_reply` gets its ack as soon as the reply is read (before the
        records behind it), or a failed ack if none came within `timeout_s`."""
        self._next_id += 1
        req_id = self._next_id
        loop = asyncio.get_running_loop()

        def expire() -> None:
            if self._pending.pop(req_id, None) is not None:
                on_reply({"success": False, "error": f"node {node} did not answer in time"})

        timer = loop.call_later(timeout_s, expire)

        def answered(ack: Ack) -> None:
            timer.cancel()
            on_reply(ack)

        self._pending[req_id] = answered
        self._append(
            node, wire.request(wire.Request(req_id, self.node_id, op, account, data, blob))
        )

    async def request(
        self,
        node: str,
        op: str,
        account: str,
        data: dict[str, Any],
        blob: bytes | None = None,
        *,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> Ack:
        future: asyncio.Future[Ack] = asyncio.get_running_loop().create_future()

        def settle(ack: Ack) -> None:
            if not future.done():
                future.set_result(ack)

        self.call(node, op, account, data, blob, settle, timeout_s=timeout_s)
        return await future

    def _serve(self, req: wire.Request) -> None:
        handler = self._handlers.get(req.op)
        held: list[tuple[str, bytes]] = []
        self._held = held
        try:
            if handler is None:
                ack: Ack = {"success": False, "error": f"unknown node request {req.op!r}"}
            else:
                ack = handler(req.sender, req.account, req.data, req.blob)
        except Exception:
            log.exception("node request %s from %s failed", req.op, req.sender)
            ack = {"success": False, "error": f"{req.op} failed on node {self.node_id}"}
        finally:
            self._held = None
        self._append(req.sender, wire.reply(req.id, ack))
        for node, record in held:  # what the request caused, behind its answer
            self._append(node, record)

    # --- receiving ----------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        while True:
            try:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reading this node's channel failed; retrying")
                await asyncio.sleep(1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            data = message["data"]
            try:
                for record in wire.parse(data):
                    self.records_in += 1
                    self._dispatch(record)
            except wire.MalformedRecord as exc:
                log.warning("a node sent records that cannot be read: %s", exc)

    def _dispatch(self, record: wire.Record) -> None:
        match record:
            case wire.Audio(session_id=sid, frame=frame):
                self.on_audio(sid, frame)
            case wire.Event(session_id=sid, name=name, data=data):
                self.on_event(sid, name, data)
            case wire.Request():
                self._serve(record)
            case wire.Reply(id=req_id, ack=ack):
                answered = self._pending.pop(req_id, None)
                if answered is not None:
                    answered(ack)
            case wire.Notice(account=account, name=name, data=data):
                self.on_notice(account, name, data)

    # --- shared state -------------------------------------------------------------------------

    def queue_job(self, job: Callable[[], Awaitable[object]]) -> None:
        """Redis work done in order, by one task (the call map, the live sets, presence)."""
        if len(self._jobs) >= MAX_JOBS:
            log.error("the node relay's control queue is full; a job is dropped")
            return
        self._jobs.append(job)
        self._job_ready.set()

    async def _job_loop(self) -> None:
        while True:
            await self._job_ready.wait()
            self._job_ready.clear()
            while self._jobs:
                job = self._jobs.popleft()
                try:
                    await job()
                except Exception:
                    log.exception("a node relay job failed")

    def _on_call(self, event: BusEvent) -> None:
        key = self._call_key(event.session_id)
        if isinstance(event, CallCreated):
            self.queue_job(lambda: self.redis.set(key, self.node_id, px=self._call_ttl_ms))
        else:
            self.queue_job(lambda: self.redis.delete(key))

    async def owner_of(self, session_id: str) -> str | None:
        """The node that owns a live call, or None."""
        for attempt in range(OWNER_LOOKUPS):
            owner = await self.redis.get(self._call_key(session_id))
            if owner is not None:
                return _text(owner)
            if attempt + 1 < OWNER_LOOKUPS:
                await asyncio.sleep(OWNER_RETRY_S)
        return None

    def account_joined(self, account: str) -> None:
        """This node has its first client of `account`."""
        key = self._account_key(account)
        self.queue_job(lambda: self.redis.sadd(key, self.node_id))

    def account_left(self, account: str) -> None:
        key = self._account_key(account)
        self.queue_job(lambda: self.redis.srem(key, self.node_id))

    def notify_account(self, account: str, name: str, data: dict[str, Any]) -> None:
        """`name` to the clients of `account` on every other node that has some."""
        record = wire.notice(account, name, data)

        async def job() -> None:
            for member in await self.redis.smembers(self._account_key(account)):
                node = _text(member)
                if node != self.node_id:
                    self._append(node, record)

        self.queue_job(job)

    async def leases(
        self, nodes: set[str], lease_key: Callable[[str], str]
    ) -> dict[str, bytes | str]:
        """The lease of each of `nodes` that holds one: its run's token (a new one after a
        restart)."""
        ordered = sorted(nodes)
        if not ordered:
            return {}
        found = await self.redis.mget([lease_key(node) for node in ordered])
        return {
            node: token for node, token in zip(ordered, found, strict=True) if token is not None
        }


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
