"""Per-account call limits held across nodes (issue 16): one Redis script decides every admission.

`<prefix>live:<account>` is a sorted set of the account's live calls on every node (session ids,
and reservations for calls being placed), each scored with the time it expires at: a node
refreshes its own calls' scores every lease round, so the calls of a node that died fall out on
their own within `ttl_s`. `<prefix>rate:<account>` is the account's token bucket. The script
drops what expired, refuses when the live set is full or the bucket empty, and otherwise takes a
token and adds a reservation, atomically, so two nodes admitting at once cannot both take the last
slot. The reservation gives way to the call's own entry once it exists.

Time is the node's wall clock (`clock.utcnow()`), which nodes keep in step with NTP; the sets'
expiry margin (`ttl_s`, 30 s) is far wider than their drift. If Redis does not answer, the node
falls back to its own limits (CallAdmission) and logs it: calls go on being placed.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from redis.asyncio import Redis

from callgate.api.envelope import ApiError
from callgate.api.limits import CallAdmission
from callgate.calls.bus import EventBus
from callgate.calls.events import BusEvent, CallCreated, CallFinished
from callgate.clock import Clock

log = logging.getLogger(__name__)

DEFAULT_TTL_S: Final = 30.0
RESERVATION_S: Final = 30.0

_ADMIT = """
local now = tonumber(ARGV[1])
local max_live = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= max_live then
  return {1, '0'}
end
local bucket = redis.call('HMGET', KEYS[2], 'tokens', 'updated')
local tokens = tonumber(bucket[1]) or burst
local updated = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
if tokens < 1 then
  return {2, tostring((1 - tokens) / rate)}
end
redis.call('HSET', KEYS[2], 'tokens', tostring(tokens - 1), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[2], math.ceil(burst / rate * 1000) + 60000)
redis.call('ZADD', KEYS[1], ARGV[6], ARGV[5])
redis.call('PEXPIRE', KEYS[1], 86400000)
return {0, '0'}
"""


class GlobalAdmission:
    """The account limits of `CallAdmission`, counted over every node."""

    def __init__(
        self,
        redis: Redis,
        clock: Clock,
        local: CallAdmission,
        *,
        rate_per_s: float,
        burst: int,
        max_concurrent: int,
        prefix: str = "callgate:",
        ttl_s: float = DEFAULT_TTL_S,
    ) -> None:
        self._redis = redis
        self._clock = clock
        self._local = local
        self._rate = rate_per_s
        self._burst = burst
        self._max = max_concurrent
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._script: Any = redis.register_script(_ADMIT)
        self._accounts: dict[str, str] = {}  # this node's live calls: session id -> account
        self._unfollow: Callable[[], None] | None = None

    def _live_key(self, account: str) -> str:
        return f"{self._prefix}live:{account}"

    def _now(self) -> float:
        return self._clock.utcnow().timestamp()

    def follow(self, bus: EventBus, job: Callable[[Callable[[], Awaitable[object]]], None]) -> None:
        """Count this node's calls in the accounts' live sets, through the relay's ordered jobs."""

        def on_call(event: BusEvent) -> None:
            key = self._live_key(event.account)
            sid = event.session_id
            if isinstance(event, CallCreated):
                self._accounts[sid] = event.account
                until = self._now() + self._ttl_s
                job(lambda: self._redis.zadd(key, {sid: until}))
            else:
                self._accounts.pop(sid, None)
                job(lambda: self._redis.zrem(key, sid))

        self._unfollow = bus.subscribe(on_call, (CallCreated, CallFinished))

    async def refresh(self) -> None:
        """Every lease round: this node's calls are still live."""
        if not self._accounts:
            return
        until = self._now() + self._ttl_s
        async with self._redis.pipeline(transaction=False) as pipe:
            for sid, account in self._accounts.items():
                pipe.zadd(self._live_key(account), {sid: until}, xx=True)
            await pipe.execute()

    async def admit(self, account: str, live_here: int) -> str | None:
        """A reservation for one more call of `account`, or 429 (ApiError) as CallAdmission
        answers; the reservation is to be released with `settle` once the call exists or failed.
        None when Redis did not answer and the node's own limits admitted the call."""
        token = f"r:{uuid.uuid4().hex}"
        now = self._now()
        keys = [self._live_key(account), f"{self._prefix}rate:{account}"]
        args = [now, self._max, self._rate, self._burst, token, now + RESERVATION_S]
        try:
            verdict, wait = await self._script(keys=keys, args=args)
        except Exception as exc:
            log.warning("global call limits unavailable (%s); this node's own limits apply", exc)
            self._local.admit(account, live_here)
            return None
        if int(verdict) == 1:
            raise ApiError(
                429,
                f"Too many concurrent calls: this account may have {self._max} at once",
                {"Retry-After": "1"},
            )
        if int(verdict) == 2:
            wait_s = float(wait)
            raise ApiError(
                429,
                f"Too many calls per second: this account may place {self._rate:g} per second",
                {"Retry-After": str(max(1, math.ceil(wait_s)))},
            )
        return token

    async def settle(self, account: str, token: str | None, session_id: str | None) -> None:
        """The reservation becomes the call's entry (or goes, if none was placed) in one step,
        before the request is answered: the client's next call must not find both counted."""
        if token is None:
            return
        key = self._live_key(account)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(key, token)
                if session_id is not None and session_id in self._accounts:
                    pipe.zadd(key, {session_id: self._now() + self._ttl_s})
                await pipe.execute()
        except Exception as exc:
            log.warning("releasing a call reservation failed (%s); it expires on its own", exc)
