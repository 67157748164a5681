"""Per-account limits: placing calls (concurrent calls, a calls-per-second bucket) and CDR queries."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from callgate.api.envelope import ApiError
from callgate.clock import Clock


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class CallAdmission:
    """Token bucket (sustained `rate_per_s`, bursts of `burst`) plus a cap on live calls, per account.

    Refusals are 429 with `Retry-After` in whole seconds, so clients back off instead of retrying hot.
    """

    def __init__(self, clock: Clock, rate_per_s: float, burst: int, max_concurrent: int) -> None:
        self._clock = clock
        self._rate = rate_per_s
        self._burst = float(burst)
        self._max_concurrent = max_concurrent
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, account: str, live_calls: int) -> None:
        if live_calls >= self._max_concurrent:
            raise ApiError(
                429,
                f"Too many concurrent calls: this account may have {self._max_concurrent} at once",
                {"Retry-After": "1"},
            )
        now = self._clock.monotonic()
        bucket = self._buckets.get(account)
        if bucket is None:
            bucket = self._buckets[account] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens < 1.0:
            wait_s = (1.0 - bucket.tokens) / self._rate
            raise ApiError(
                429,
                f"Too many calls per second: this account may place {self._rate:g} per second",
                {"Retry-After": str(max(1, math.ceil(wait_s)))},
            )
        bucket.tokens -= 1.0


BUSY = "The CDR database is busy with other queries; retry in a moment"


class QueryGate:
    """How many CDR listings run at once: `per_account` for each account, `total` for all.

    A listing's database work is bounded by the store's budget, but one account firing many at once
    could still occupy every read connection. Over its own share an account gets 429 at once (it
    can wait for its earlier queries); when every slot is taken by others, a listing waits up to
    `wait_s` (a running one ends within the store's budget) and then gets 503. Both carry
    `Retry-After`.
    """

    def __init__(self, per_account: int = 2, total: int = 6, wait_s: float = 2.0) -> None:
        self.per_account = per_account
        self.total = total
        self._wait_s = wait_s
        self._free = asyncio.Semaphore(total)
        self._running: dict[str, int] = {}

    def running(self, account: str) -> int:
        return self._running.get(account, 0)

    @asynccontextmanager
    async def slot(self, account: str) -> AsyncIterator[None]:
        running = self._running.get(account, 0)
        if running >= self.per_account:
            raise ApiError(
                429,
                f"Too many CDR queries at once: this account may run {self.per_account} at a "
                "time; wait for one to finish",
                {"Retry-After": "1"},
            )
        self._running[account] = running + 1
        try:
            try:
                await asyncio.wait_for(self._free.acquire(), self._wait_s)
            except TimeoutError:
                raise ApiError(503, BUSY, {"Retry-After": "1"}) from None
            try:
                yield
            finally:
                self._free.release()
        finally:
            left = self._running[account] - 1
            if left:
                self._running[account] = left
            else:
                del self._running[account]
