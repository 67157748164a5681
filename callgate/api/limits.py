"""Per-account admission limits for placing calls: concurrent calls and a calls-per-second bucket."""

from __future__ import annotations

import math
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
