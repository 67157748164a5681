"""The Socket.IO `hold` command on the simulated carrier, which cannot hold: the refusal names
why on both paths (direct WebSocket and long-polling), and `resume` keeps its barge-in meaning."""

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
async def test_a_call_on_the_simulated_carrier_cannot_be_held(live: Live, transport: str) -> None:
    client = await connect(live, transports=[transport])
    sid = await connected_call(live, client)
    ack = await client.ask("hold", {"sessionId": sid})
    assert ack["success"] is False
    assert "is not a SIP call" in ack["error"]
    assert await client.ask("resume", {"sessionId": sid}) == {
        "success": True,
        "error": None,
        "queuedMs": 0,
    }
    unjoined = await client.ask("hold", {"sessionId": "01a2413e-8fb0-714c-8788-43585df5186e"})
    assert unjoined["success"] is False
    assert "joinRoom" in unjoined["error"]
    assert (await client.ask("hold", {}))["error"] == "sessionId is required"
    assert (await client.ask("hangup", {"sessionId": sid}))["success"]
