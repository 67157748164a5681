"""POST /pbx/transfer and the Socket.IO `transfer` event on the simulated carrier, which cannot
transfer: the refusal names why, on both Socket.IO paths (direct WebSocket and long-polling)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.live import Live, connect, live_gateway
from tests.api.test_realtime import connected_call


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with live_gateway(tmp_path, no_client_grace_s=0) as gw:
        yield gw


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_a_call_on_the_simulated_carrier_is_not_a_sip_call(
    live: Live, transport: str
) -> None:
    client = await connect(live, transports=[transport])
    sid = await connected_call(live, client)
    body = {"sessionId": sid, "target": "0215550100", "mode": "blind"}
    response = await live.http.post(
        "/pbx/transfer", json=body, headers={"Authorization": f"Bearer {live.token()}"}
    )
    assert response.status_code == 409
    assert "is not a SIP call" in response.json()["errors"]
    ack = await client.ask("transfer", body)
    assert ack["success"] is False
    assert "is not a SIP call" in ack["error"]
    unjoined = await client.ask(
        "transfer", {**body, "sessionId": "01a2413e-8fb0-714c-8788-43585df5186e"}
    )
    assert unjoined["success"] is False
    assert "joinRoom" in unjoined["error"]
    assert (await client.ask("hangup", {"sessionId": sid}))["success"]


async def test_transfer_needs_a_token(live: Live) -> None:
    body = {"sessionId": "01a2413e-8fb0-714c-8788-43585df5186e", "target": "1", "mode": "blind"}
    response = await live.http.post("/pbx/transfer", json=body)
    assert response.status_code == 401
