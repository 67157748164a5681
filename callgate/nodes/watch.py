"""The clients here of calls whose owner died, told `hangup` then `cdr` once a survivor closed
the record; and the rooms here that counted clients of a dead node, freed.

Runs after each lease round (every third of the lease TTL): a dead owner's lease lapses within
the TTL, some node's reaper closes its records in its next round, and this one reads them closed
in one of its own, so clients learn within TTL + two rounds (about 17 s for the default 10 s).
An owner restarted under the same node_id (`serve --workers` restarts a killed worker at once)
closes its old records itself and holds a new lease: a call counts as its owner's dead one once
the lease's token is another than the one seen while the call was followed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from callgate.api.realtime import Realtime
from callgate.calls.recordstore import RecordStore
from callgate.nodes.relay import NodeRelay

log = logging.getLogger(__name__)


class OwnerWatch:
    def __init__(
        self,
        relay: NodeRelay,
        store: RecordStore,
        realtime: Realtime,
        lease_key: Callable[[str], str],
    ) -> None:
        self._relay = relay
        self._store = store
        self._realtime = realtime
        self._lease_key = lease_key
        self._owner_tokens: dict[
            str, bytes | str
        ] = {}  # session -> its owner's lease token when seen

    async def check(self) -> None:
        sessions = self._realtime.remote_sessions()
        followers = self._realtime.remote_nodes()
        for gone in self._owner_tokens.keys() - sessions.keys():
            del self._owner_tokens[gone]
        owners = {owner for owner, _ in sessions.values()}
        if not owners and not followers:
            return
        leases = await self._relay.leases(owners | followers, self._lease_key)
        for node in followers - leases.keys():
            log.info("node %s is gone: its clients no longer follow calls here", node)
            self._realtime.drop_node(node)
        for session_id, (owner, account) in sessions.items():
            token = leases.get(owner)
            if token is not None and self._owner_tokens.setdefault(session_id, token) == token:
                continue  # the run that owns the call is alive
            record = await self._store.get(account, session_id)
            if record is None or record.is_open:
                continue  # a survivor's reaper (or the restarted owner) closes it within a round
            self._realtime.remote_event(session_id, "hangup", {"sessionId": session_id})
            self._realtime.remote_event(session_id, "cdr", record.to_json())
