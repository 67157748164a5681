"""`CallHistory`: reading call detail records as the API has already reported them.

A record the API has reported (a call's status, its end) may still wait in the CDR writer's queue, so
every read first waits for what was submitted before it to be durable, then asks the store. Reads
behind the calls layer, not in a handler, so no surface forgets that flush.
"""

from __future__ import annotations

from callgate.calls.recorder import Recorder
from callgate.calls.records import CallRecord
from callgate.calls.recordstore import CdrPage, CdrQuery, RecordStore


class CallHistory:
    def __init__(self, recorder: Recorder, store: RecordStore) -> None:
        self._recorder = recorder
        self._store = store

    async def query(self, query: CdrQuery) -> CdrPage:
        """One page of the listing; the store's errors (`StoreBusy`, `QueryTooCostly`) pass up."""
        await self._recorder.flush()
        return await self._store.query(query)

    async def get(self, account: str, session_id: str) -> CallRecord | None:
        """The account's record of this session, or None; `StoreBusy` passes up."""
        await self._recorder.flush()
        return await self._store.get(account, session_id)
