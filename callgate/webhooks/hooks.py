"""Call events to each account's webhook: built from the bus, spooled to disk, POSTed in order.

Nothing here can slow a call. The bus hands us three kinds of event (a call created, answered,
ended); each becomes a delivery per endpoint that asked for it, put on a bounded queue and left.
One task writes them to the spool (in a thread of its own: a disk flush takes milliseconds), then
hands them to the endpoint's sender. Each endpoint has one sender, so its events arrive in the
order they happened and a slow or dead endpoint holds up no other. A delivery is removed from the
spool only when the endpoint answered 2xx: at least once, with `Callgate-Delivery` (the delivery's
id, the same on every retry) for the receiver to drop repeats. Network errors, timeouts, 408, 429
and 5xx are retried after 1, 2, 4 ... s (at most `max_backoff_s`) for up to `max_age_s`; any other
answer is final (logged, counted, removed). A delivery made less than a few milliseconds before the
process is killed may not be on disk yet; everything older is sent after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from callgate.calls.events import BusEvent, CallCreated, CallFinished, DialStatusChanged
from callgate.calls.records import iso_ms
from callgate.clock import Clock
from callgate.webhooks.settings import WebhookSettings
from callgate.webhooks.signing import SIGNATURE_HEADER, sign
from callgate.webhooks.spool import Delivery, Spool

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429})
MAX_QUEUED = 10_000  # deliveries waiting for the spool writer; past it the newest are dropped
Subscribe = Callable[[Callable[[BusEvent], None], tuple[type, ...]], Callable[[], None]]


class Webhooks:
    def __init__(
        self,
        endpoints: tuple[WebhookSettings, ...],
        directory: Path,
        clock: Clock,
        *,
        max_spooled: int = 10_000,
        max_age_s: float = 86_400.0,
        max_backoff_s: float = 600.0,
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoints = endpoints
        self._clock = clock
        self._spool = Spool(directory, max_spooled)
        self._max_age_s = max_age_s
        self._max_backoff_s = max_backoff_s
        self._timeout_s = timeout_s
        self._transport = transport
        self._by_account: dict[str, list[WebhookSettings]] = {}
        for endpoint in endpoints:
            self._by_account.setdefault(endpoint.account, []).append(endpoint)
        self._secrets = {(e.account, e.url): e.secret for e in endpoints}
        self._incoming: deque[Delivery] = deque()
        self._wake = asyncio.Event()
        self._senders: dict[tuple[str, str], _Sender] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-spool")
        self._unsubscribe: Callable[[], None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._sequence = 0
        self.counts: Counter[str] = Counter()
        """delivered, retried, rejected (a final non-2xx), expired, dropped (spool or queue full)."""

    # --- life ----------------------------------------------------------------------------------

    async def start(self, subscribe: Subscribe) -> None:
        loop = asyncio.get_running_loop()
        left = await loop.run_in_executor(self._io, self._spool.load)
        self._client = httpx.AsyncClient(
            timeout=self._timeout_s, transport=self._transport, follow_redirects=False
        )
        for delivery in left:
            self._sender_for(delivery).queue.append(delivery)
        self._sequence = len(left)
        self._tasks.append(loop.create_task(self._write_spool(), name="webhook-spool"))
        for sender in self._senders.values():
            sender.wake.set()
        self._unsubscribe = subscribe(
            self._on_event, (CallCreated, DialStatusChanged, CallFinished)
        )
        if left:
            log.info("webhooks: %d deliveries left from the last run", len(left))

    async def stop(self) -> None:
        """Stop sending; what was not delivered stays in the spool for the next start."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        tasks = [*self._tasks, *(s.task for s in self._senders.values() if s.task is not None)]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        loop = asyncio.get_running_loop()
        while self._incoming:  # made but not yet spooled: the calls that ended at the stop
            delivery = self._incoming.popleft()
            with contextlib.suppress(OSError):
                await loop.run_in_executor(self._io, self._spool.put, delivery)
        if self._client is not None:
            await self._client.aclose()
        self._io.shutdown(wait=True)

    @property
    def spooled(self) -> int:
        return len(self._spool)

    def pending(self) -> int:
        """Deliveries not yet taken by their endpoint (queued or spooled)."""
        return len(self._incoming) + sum(len(s.queue) for s in self._senders.values())

    # --- events in -----------------------------------------------------------------------------

    def _on_event(self, event: BusEvent) -> None:
        endpoints = self._by_account.get(event.account)
        if not endpoints:
            return
        for kind, data in _payloads(event):
            for endpoint in endpoints:
                if kind not in endpoint.events:
                    continue
                if len(self._incoming) >= MAX_QUEUED:
                    self.counts["dropped"] += 1
                    continue
                self._incoming.append(self._delivery(endpoint, kind, data))
        self._wake.set()

    def _delivery(self, endpoint: WebhookSettings, kind: str, data: dict[str, Any]) -> Delivery:
        delivery_id = str(uuid.uuid4())
        self._sequence += 1
        created = self._clock.utcnow().timestamp()
        body = json.dumps(
            {
                "id": delivery_id,
                "type": kind,
                "createdAt": iso_ms(self._clock.utcnow()),
                "data": data,
            },
            separators=(",", ":"),
        ).encode()
        name = f"{int(created * 1000):015d}-{self._sequence:09d}-{delivery_id}.json"
        return Delivery(name, delivery_id, endpoint.account, endpoint.url, kind, body, created)

    async def _write_spool(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._incoming:
                delivery = self._incoming.popleft()
                try:
                    dropped = await loop.run_in_executor(self._io, self._spool.put, delivery)
                except OSError as exc:  # a full or read-only disk: send it anyway, unspooled
                    log.warning("webhooks: cannot spool delivery %s: %s", delivery.id, exc)
                    dropped = []
                if dropped:
                    self.counts["dropped"] += len(dropped)
                    names = set(dropped)
                    for sender in self._senders.values():
                        kept = [d for d in sender.queue if d.name not in names]
                        sender.queue = deque(kept)
                sender = self._sender_for(delivery)
                sender.queue.append(delivery)
                sender.wake.set()

    # --- deliveries out ------------------------------------------------------------------------

    def _sender_for(self, delivery: Delivery) -> _Sender:
        key = (delivery.account, delivery.url)
        sender = self._senders.get(key)
        if sender is None:
            sender = self._senders[key] = _Sender()
            sender.task = asyncio.get_running_loop().create_task(
                self._send_loop(key, sender), name=f"webhook {delivery.url}"
            )
        return sender

    async def _send_loop(self, key: tuple[str, str], sender: _Sender) -> None:
        while True:
            if not sender.queue:
                await sender.wake.wait()
                sender.wake.clear()
                continue
            delivery = sender.queue[0]
            secret = self._secrets.get(key)
            if secret is None:  # spooled for an endpoint no longer configured
                log.warning("webhooks: %s is no longer configured; delivery dropped", delivery.url)
                self.counts["dropped"] += 1
                await self._done(sender, delivery)
                continue
            outcome = await self._attempt(delivery, secret)
            if outcome == "retry":
                if self._clock.utcnow().timestamp() - delivery.created > self._max_age_s:
                    log.warning("webhooks: delivery %s to %s expired", delivery.id, delivery.url)
                    self.counts["expired"] += 1
                    await self._done(sender, delivery)
                    continue
                self.counts["retried"] += 1
                delay = min(self._max_backoff_s, 2.0 ** min(delivery.attempts - 1, 30))
                await _sleep(self._clock, delay)
                continue
            self.counts[outcome] += 1
            await self._done(sender, delivery)

    async def _attempt(self, delivery: Delivery, secret: str) -> str:
        assert self._client is not None
        delivery.attempts += 1
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "callgate-webhooks",
            "Callgate-Event": delivery.event,
            "Callgate-Delivery": delivery.id,
            SIGNATURE_HEADER: sign(secret, delivery.body, int(self._clock.utcnow().timestamp())),
        }
        try:
            response = await self._client.post(delivery.url, content=delivery.body, headers=headers)
        except httpx.HTTPError as exc:
            log.info("webhooks: %s to %s failed: %s", delivery.event, delivery.url, exc)
            return "retry"
        status = response.status_code
        if 200 <= status < 300:
            return "delivered"
        if status >= 500 or status in RETRIED_STATUSES:
            log.info("webhooks: %s answered %d; will retry", delivery.url, status)
            return "retry"
        log.warning(
            "webhooks: %s answered %d to %s %s; not retried", delivery.url, status,
            delivery.event, delivery.id,
        )  # fmt: skip
        return "rejected"

    async def _done(self, sender: _Sender, delivery: Delivery) -> None:
        if sender.queue and sender.queue[0] is delivery:
            sender.queue.popleft()
        await asyncio.get_running_loop().run_in_executor(self._io, self._spool.remove, delivery)


class _Sender:
    __slots__ = ("queue", "task", "wake")

    def __init__(self) -> None:
        self.queue: deque[Delivery] = deque()
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None


def _payloads(event: BusEvent) -> list[tuple[str, dict[str, Any]]]:
    """The deliveries one event makes, in order: a transferred call's end is told twice,
    `call.transferred` (the target and the CDR) and then `call.ended`."""
    kind, data = _payload(event)
    if kind is None:
        return []
    if isinstance(event, CallFinished) and event.record.transferred_to is not None:
        transferred = {"sessionId": event.session_id, "target": event.record.transferred_to}
        return [("call.transferred", {**transferred, "cdr": data["cdr"]}), (kind, data)]
    return [(kind, data)]


def _payload(event: BusEvent) -> tuple[str | None, dict[str, Any]]:
    if isinstance(event, CallCreated):
        return "call.started", {
            "sessionId": event.session_id,
            "direction": event.direction,
            "destination": event.destination,
            "callerId": event.caller_id,
        }
    if isinstance(event, DialStatusChanged):
        if event.status != "Connected":
            return None, {}
        return "call.answered", {"sessionId": event.session_id}
    if isinstance(event, CallFinished):
        return "call.ended", {"sessionId": event.session_id, "cdr": event.record.to_json()}
    return None, {}


async def _sleep(clock: Clock, seconds: float) -> None:
    """Wait `seconds` on `clock` (the injected one: tests step it)."""
    waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    timer = clock.call_later(seconds, wake)
    try:
        await waiter
    finally:
        timer.cancel()
