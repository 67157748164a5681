"""A call's metadata across nodes: a python-socketio client on node A follows a call node B owns
(two real `callgate serve` processes sharing PostgreSQL and Redis) and gets the metadata in every
event, the late join's dialStatus, which the owner answers through Redis, included."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import socketio

from tests.nodes.test_two_nodes import nodes, redis_url, token
from tests.test_crash_recovery import Server

__all__ = ["nodes", "redis_url"]

METADATA = {"crmId": "42", "team": "sales"}
WAIT_S = 10.0


async def test_metadata_reaches_a_client_on_another_node(nodes: tuple[Server, Server]) -> None:
    a, b = nodes
    account = f"acme-{uuid.uuid4().hex[:6]}"
    events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=100)
    sio = socketio.AsyncClient(reconnection=False)
    for name in ("newSession", "roomJoined", "dialStatus", "hangup", "cdr"):
        sio.on(name, lambda data, name=name: events.put_nowait((name, data)))
    await sio.connect(a.url, auth={"token": token(account)}, transports=["websocket"])
    headers = {"Authorization": f"Bearer {token(account)}"}
    try:
        async with httpx.AsyncClient(headers=headers, timeout=10) as http:
            placed = await http.post(
                f"{b.url}/pbx/call", json={"phoneNumber": "7000042", "metadata": METADATA}
            )
            assert placed.status_code == 200, placed.text
            sid = placed.json()["data"]["sessionId"]

            async def next_event(wanted: str) -> Any:
                while True:
                    name, data = await asyncio.wait_for(events.get(), WAIT_S)
                    if name == wanted:
                        return data

            new = await next_event("newSession")  # through Redis, from node B
            assert new == {"sessionId": sid, "type": "outbound", "metadata": METADATA}
            ack = await sio.call("joinRoom", {"sessionId": sid}, timeout=WAIT_S)
            assert ack["success"] is True, ack
            status = await next_event("dialStatus")
            assert status["metadata"] == METADATA  # the late join's, or a live one
            while status["status"] != "Connected":
                status = await next_event("dialStatus")
                assert status["metadata"] == METADATA
            ended = await http.post(f"{b.url}/pbx/hangup", json={"sessionId": sid})
            assert ended.status_code == 200, ended.text
            assert await next_event("hangup") == {"sessionId": sid, "metadata": METADATA}
            assert (await next_event("cdr"))["metadata"] == METADATA
    finally:
        await sio.disconnect()
