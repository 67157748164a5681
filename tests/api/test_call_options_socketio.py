"""A call's metadata as a Socket.IO application sees it: the real python-socketio client against the
gateway on loopback (uvicorn), the simulated carrier, a hand-stepped clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api.live import Live, connect, live_gateway

METADATA = {"crmId": "42", "attempt": 2, "customer": {"name": "Siti", "vip": True}}


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with live_gateway(tmp_path, no_client_grace_s=0) as gw:
        yield gw


async def place(live: Live, **options: object) -> str:
    response = await live.http.post(
        "/pbx/call",
        json={"phoneNumber": "089608675796", **options},
        headers={"Authorization": f"Bearer {live.token()}"},
    )
    assert response.status_code == 200, response.text
    sid: str = response.json()["data"]["sessionId"]
    return sid


async def test_metadata_is_echoed_and_max_duration_ends_the_call(live: Live) -> None:
    client = await connect(live)
    sid = await place(live, metadata=METADATA, maxDurationS=5)
    assert await client.next("newSession") == {
        "sessionId": sid,
        "type": "outbound",
        "metadata": METADATA,
    }
    await client.ask("joinRoom", {"sessionId": sid})
    await live.step(2.0)  # the simulated callee answers at 2 s
    statuses = [await client.next("dialStatus") for _ in range(3)]
    assert statuses == [
        {"sessionId": sid, "status": status, "metadata": METADATA}
        for status in ("Dialing", "Ringing", "Connected")
    ]
    late = await connect(live)  # a late joiner's dialStatus carries it too
    await late.ask("joinRoom", {"sessionId": sid})
    assert await late.next("dialStatus") == {
        "sessionId": sid,
        "status": "Connected",
        "metadata": METADATA,
    }
    await live.step(4.9)
    assert client.drain("hangup") == []
    await live.step(0.2)  # 5 s after the answer: the gateway hangs up
    assert await client.next("hangup") == {"sessionId": sid, "metadata": METADATA}
    cdr = await client.next("cdr")
    assert cdr["metadata"] == METADATA
    assert (cdr["disposition"], cdr["hangupBy"], cdr["hangupCauseCode"]) == ("ANSWERED", None, 16)
    assert cdr["billableSeconds"] == 5


async def test_a_call_without_metadata_keeps_the_seed_payloads(live: Live) -> None:
    client = await connect(live)
    sid = await place(live)
    assert await client.next("newSession") == {"sessionId": sid, "type": "outbound"}
    await client.ask("joinRoom", {"sessionId": sid})
    assert await client.next("dialStatus") == {"sessionId": sid, "status": "Dialing"}
    await client.ask("hangup", {"sessionId": sid})
    assert await client.next("hangup") == {"sessionId": sid}
    assert "metadata" not in await client.next("cdr")
