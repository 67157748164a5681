"""POST /pbx/hangup for a call another node owns: asked of its owner, which ends it as its own."""

from __future__ import annotations

from typing import Any

from callgate.api.idempotency import RemoteHangup
from callgate.calls.records import RequestKey
from callgate.calls.service import CallNotFound, CallService
from callgate.nodes.relay import Ack, NodeRelay

OP = "pbx.hangup"


def serve_hangups(relay: NodeRelay, calls: CallService) -> None:
    """Answer other nodes' hangups of this node's calls."""

    def hangup(node: str, account: str, data: dict[str, Any], blob: bytes | None) -> Ack:
        session_id = data.get("sessionId")
        key, body_hash = data.get("key"), data.get("hash")
        request = (
            RequestKey(key, body_hash)
            if isinstance(key, str) and isinstance(body_hash, str)
            else None
        )
        if not isinstance(session_id, str):
            return {"success": False, "error": "sessionId is required"}
        try:
            calls.hangup(account, session_id, request=request)
        except CallNotFound:
            return {"success": False, "error": "no such call"}
        return {"success": True, "error": None}

    relay.handle(OP, hangup)


def remote_hangup(relay: NodeRelay) -> RemoteHangup:
    """The CallRequests hook: True once the owner ended the call, False when no node has it."""

    async def hangup(account: str, session_id: str, key: RequestKey | None) -> bool:
        owner = await relay.owner_of(session_id)
        if owner is None or owner == relay.node_id:
            return False
        data: dict[str, Any] = {"sessionId": session_id}
        if key is not None:
            data.update(key=key.key, hash=key.body_hash)
        ack = await relay.request(owner, OP, account, data)
        return bool(ack.get("success"))

    return hangup
