"""Placing and ending calls over REST so that a retry never dials twice, and a slow database is
answered at once.

`Idempotency-Key`, as payment APIs use it: a client that sends the same key with the same body again
(within `REPLAY_WINDOW_S`) gets the first successful answer again, with `Idempotent-Replayed: true`,
and nothing is done a second time; the same key with another body is refused with 409. Keys are
per account and per endpoint. Only successes are kept: a request refused (400, 404, 429, 503) did
nothing, so its retry runs afresh.

Where a key is remembered:
- in memory, while its first request runs and for a while after (`MAX_REMEMBERED` answers): a
  duplicate arriving meanwhile waits for that request and shares its answer, so concurrent
  duplicates place one call;
- in the database, with the call (migration 0002): the key and a hash of the body are written in
  the same transaction as the call's first record (for a hangup, with its closing record), so a
  retry after a restart, or after the memory has moved on, finds them there.

The database is asked within the same bound as the call's record (`call_record_timeout_s`, from
the request's arrival): whether the key is known, and then the record itself. Past the bound, or
when the database fails, the answer is 503 with `Retry-After`; while a write has already been
waiting longer than the bound, a new call is refused at once without asking the database (that
write is the probe: the moment it completes, calls are taken again). Each such refusal is counted
(`DatabaseRefusals`, shown on `/health`) and logged. A hangup whose key cannot be checked still
ends a live call: ending a call is never held up by the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, Protocol

from starlette.responses import JSONResponse

from callgate.api.envelope import ApiError, envelope
from callgate.api.limits import CallAdmission
from callgate.calls.options import CallOptions
from callgate.calls.recorder import RecordNotDurable
from callgate.calls.records import CallRecord, RequestKey
from callgate.calls.recordstore import RecordStore
from callgate.calls.service import CallNotFound, CallService
from callgate.clock import Clock, within
from callgate.listen.options import ListenOptions, MachineDetection

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as the usual UUIDs and ULIDs are
REPLAY_WINDOW_S = 24 * 3600.0
MAX_REMEMBERED = 10_000  # answers kept in memory; older ones are found in the database

Endpoint = Literal["POST /pbx/call", "POST /pbx/hangup"]


def request_key(header: str | None, body: dict[str, Any]) -> RequestKey | None:
    """The request's key and the hash of its body (key order and spacing do not matter)."""
    if header is None:
        return None
    if not KEY_RE.fullmatch(header):
        raise ApiError(400, f"{HEADER} must be 1 to 255 visible ASCII characters")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return RequestKey(header, hashlib.sha256(canonical.encode()).hexdigest())


class DatabaseRefusals:
    """Every request answered 503 because of the database: counted, and logged one line each."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        self.count = 0

    def refuse(self, endpoint: Endpoint, account: str, message: str, reason: str) -> ApiError:
        self.count += 1
        log.warning(
            "%s for account %r answered 503 because of the database: %s (%d so far)",
            endpoint,
            account,
            reason,
            self.count,
        )
        return ApiError(503, message, {"Retry-After": str(self.retry_after_s)})


class _LookupFailed(Exception):
    """The database did not say in time whether a key is known; the caller decides what to do."""

    def __init__(self, endpoint: Endpoint, account: str, reason: str) -> None:
        super().__init__(reason)
        self.endpoint = endpoint
        self.account = account
        self.reason = reason

    def refusal(self, refusals: DatabaseRefusals) -> ApiError:
        what = "placed" if self.endpoint == "POST /pbx/call" else "ended"
        return refusals.refuse(
            self.endpoint,
            self.account,
            f"The database did not answer in time to check the {HEADER}, so the call was not"
            f" {what}; retry with the same key",
            self.reason,
        )


@dataclass(slots=True)
class _Entry:
    body_hash: str
    settled: asyncio.Event
    data: dict[str, Any] | None = None  # the first successful answer's data, once there is one
    expires_at: float = math.inf


RemoteHangup = Callable[[str, str, RequestKey | None], Awaitable[bool]]


class SharedAdmission(Protocol):
    """Admission over every node: a reservation (or 429), released once the call exists."""

    async def admit(self, account: str, live_here: int) -> str | None: ...

    async def settle(
        self, account: str, reservation: str | None, session_id: str | None
    ) -> None: ...


class CallRequests:
    """POST /pbx/call and /pbx/hangup behind the admission limits, the database bound and the keys."""

    def __init__(
        self, clock: Clock, store: RecordStore, calls: CallService, admission: CallAdmission
    ) -> None:
        self._clock = clock
        self._store = store
        self._calls = calls
        self._admission = admission
        self._bound_s = calls.settings.record_timeout_s
        self._entries: dict[tuple[Endpoint, str, str], _Entry] = {}
        # Calls admitted whose first record is still being committed, per account: they count
        # against the concurrency limit, or a burst of requests would all pass it at once (the
        # service knows a call only once its record is durable).
        self._placing: dict[str, int] = {}
        self.refusals = DatabaseRefusals(retry_after_s=max(1, math.ceil(self._bound_s)))
        # With other nodes: ends a call another node owns; False when no node has it.
        self.remote_hangup: RemoteHangup | None = None
        # With other nodes: the account limits counted over all of them.
        self.shared_admission: SharedAdmission | None = None

    # --- the endpoints -------------------------------------------------------------------------

    async def place_call(
        self,
        account: str,
        number: str,
        key: RequestKey | None,
        record_audio: bool | None = None,
        listen: ListenOptions | None = None,
        machine_detection: MachineDetection | None = None,
        options: CallOptions | None = None,
    ) -> JSONResponse:
        deadline = self._clock.monotonic() + self._bound_s
        if key is None:
            self._refuse_if_stalled(account)
            return _respond(
                await self._place(
                    account,
                    number,
                    None,
                    deadline,
                    record_audio,
                    listen,
                    machine_detection,
                    options,
                ),
                replayed=False,
            )

        async def first() -> tuple[dict[str, Any], bool]:
            self._refuse_if_stalled(account)  # a known answer is still replayed from memory
            try:
                records = await self._lookup("POST /pbx/call", account, key, deadline)
            except _LookupFailed as failed:
                raise failed.refusal(self.refusals) from None
            for record in records:
                if self._calls.was_abandoned(record.session_id):
                    continue  # a refused placement's first record, landed late: not a call
                self._same_body("POST /pbx/call", key, record.idempotency_hash)
                return {"phoneNumber": record.destination, "sessionId": record.session_id}, True
            return await self._place(
                account, number, key, deadline, record_audio, listen, machine_detection, options
            ), False

        return await self._once("POST /pbx/call", account, key, first)

    async def hangup(self, account: str, session_id: str, key: RequestKey | None) -> JSONResponse:
        if key is None:
            return _respond(await self._hangup(account, session_id, None), replayed=False)
        deadline = self._clock.monotonic() + self._bound_s

        async def first() -> tuple[dict[str, Any], bool]:
            try:
                records = await self._lookup("POST /pbx/hangup", account, key, deadline)
            except _LookupFailed as failed:
                if not self._is_live(account, session_id):
                    raise failed.refusal(self.refusals) from None
                log.warning(
                    "POST /pbx/hangup for account %r: %s; the call is live, so it is ended anyway",
                    account,
                    failed.reason,
                )
                records = []  # a live call was not hung up by this key: end it now
            for record in records:
                self._same_body("POST /pbx/hangup", key, record.hangup_idempotency_hash)
                return {"sessionId": record.session_id}, True
            return await self._hangup(account, session_id, key), False

        return await self._once("POST /pbx/hangup", account, key, first)

    def _refuse_if_stalled(self, account: str) -> None:
        """While a write has waited the whole bound, this call's record could not be written in
        time either: refuse at once, and leave the database alone."""
        stalled_s = self._calls.recorder.stalled_s()
        if stalled_s >= self._bound_s:
            raise self.refusals.refuse(
                "POST /pbx/call",
                account,
                "The call could not be recorded, so it was not placed; retry",
                f"a write has been waiting {stalled_s:.1f} s for the database: refused at once",
            )

    # --- one answer per key --------------------------------------------------------------------

    async def _once(
        self,
        endpoint: Endpoint,
        account: str,
        key: RequestKey,
        first: Callable[[], Awaitable[tuple[dict[str, Any], bool]]],
    ) -> JSONResponse:
        slot = (endpoint, account, key.key)
        while (entry := self._live_entry(slot)) is not None:
            if entry.data is None:  # the first request with this key is still running
                await entry.settled.wait()
                continue  # it succeeded (its answer is kept) or failed (it is gone)
            self._same_body(endpoint, key, entry.body_hash)
            return _respond(entry.data, replayed=True)
        entry = self._entries[slot] = _Entry(key.body_hash, asyncio.Event())
        try:
            data, replayed = await first()
            entry.data = data
            entry.expires_at = self._clock.monotonic() + REPLAY_WINDOW_S
        except BaseException:
            if self._entries.get(slot) is entry:
                del self._entries[slot]
            raise
        finally:
            entry.settled.set()
        self._trim()
        return _respond(data, replayed=replayed)

    def _live_entry(self, slot: tuple[Endpoint, str, str]) -> _Entry | None:
        entry = self._entries.get(slot)
        if entry is not None and entry.expires_at <= self._clock.monotonic():
            del self._entries[slot]
            return None
        return entry

    def _trim(self) -> None:
        """Forget the oldest answers beyond MAX_REMEMBERED (requests still running are kept)."""
        while len(self._entries) > MAX_REMEMBERED:
            oldest = next(iter(self._entries))  # insertion order: the oldest request first
            if self._entries[oldest].data is None:
                return  # still running (rare this far back): kept, and the rest with it
            del self._entries[oldest]

    @staticmethod
    def _same_body(endpoint: Endpoint, key: RequestKey, stored_hash: str | None) -> None:
        if stored_hash != key.body_hash:
            raise ApiError(
                409,
                f"{HEADER} {key.key!r} was already used with a different request body for"
                f" {endpoint}; send a new key for a new request",
            )

    # --- the work ------------------------------------------------------------------------------

    async def _lookup(
        self, endpoint: Endpoint, account: str, key: RequestKey, deadline: float
    ) -> Sequence[CallRecord]:
        since = self._clock.utcnow() - timedelta(seconds=REPLAY_WINDOW_S)
        lookup = self._store.find_by_idempotency_key(
            account, key.key, hangup=endpoint == "POST /pbx/hangup", since=since
        )
        try:
            return await within(self._clock, deadline - self._clock.monotonic(), lookup)
        except Exception as exc:
            reason = f"looking up the {HEADER} failed: {type(exc).__name__}: {exc}"
            raise _LookupFailed(endpoint, account, reason) from None

    async def _place(
        self,
        account: str,
        number: str,
        key: RequestKey | None,
        deadline: float,
        record_audio: bool | None = None,
        listen: ListenOptions | None = None,
        machine_detection: MachineDetection | None = None,
        options: CallOptions | None = None,
    ) -> dict[str, Any]:
        placing = self._placing.get(account, 0)
        shared = self.shared_admission
        reservation = None
        if shared is None:
            self._admission.admit(account, self._calls.count_live(account) + placing)
        else:
            # The shared count holds a reservation for each call still being placed.
            reservation = await shared.admit(account, self._calls.count_live(account))
        self._placing[account] = placing + 1
        placed = None
        try:
            call = await self._calls.place_call(
                account,
                number,
                request=key,
                within_s=deadline - self._clock.monotonic(),
                record_audio=record_audio,
                listen=listen,
                machine_detection=machine_detection,
                options=options,
            )
            placed = call.session_id
        except RecordNotDurable as exc:
            raise self.refusals.refuse(
                "POST /pbx/call",
                account,
                "The call could not be recorded, so it was not placed; retry",
                f"the call's record was {exc} (the rest of the {self._bound_s:g} s bound);"
                " it is closed FAILED and never dialled",
            ) from None
        finally:
            left = self._placing[account] - 1
            if left:
                self._placing[account] = left
            else:
                del self._placing[account]
            if shared is not None:
                await shared.settle(account, reservation, placed)
        return {"phoneNumber": number, "sessionId": call.session_id}

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py)."""
        return {
            "calls_being_placed": sum(self._placing.values()),
            "request_keys": len(self._entries),
        }

    async def _hangup(
        self, account: str, session_id: str, key: RequestKey | None
    ) -> dict[str, Any]:
        try:
            self._calls.hangup(account, session_id, request=key)
        except CallNotFound:
            if self.remote_hangup is not None and await self.remote_hangup(
                account, session_id, key
            ):
                return {"sessionId": session_id}
            raise ApiError(
                404, f"No live call with sessionId {session_id}: unknown or already ended"
            ) from None
        return {"sessionId": session_id}

    def _is_live(self, account: str, session_id: str) -> bool:
        try:
            self._calls.find(account, session_id)
        except CallNotFound:
            return False
        return True


def _respond(data: dict[str, Any], *, replayed: bool) -> JSONResponse:
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return JSONResponse(envelope(data), headers=headers)
