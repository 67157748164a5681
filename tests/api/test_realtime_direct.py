"""The Socket.IO direct path: which clients take it, event names, order, and slow clients.

Runs on uvloop (tests/api/conftest.py), the loop `callgate serve` uses, whose transports the direct
path writes to and takes flow control from.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from callgate.api.realtime import FRAMES_PER_S, STALLED_AUDIO_S
from tests.api.live import Live, connect, live_gateway
from tests.api.raw_sio import RawClient
from tests.api.test_realtime import FRAME, connected_call, gone


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    async with live_gateway(tmp_path, no_client_grace_s=0) as gw:
        yield gw


async def test_a_websocket_and_a_polling_client_of_one_call_both_get_every_frame(
    live: Live,
) -> None:
    ws = await connect(live)
    polling = await connect(live, transports=["polling"])
    kinds = {
        c.sid: (c.channel is not None, c.sender is not None) for c in live.realtime.clients.values()
    }
    assert kinds == {ws.sio.get_sid(): (True, False), polling.sio.get_sid(): (False, True)}
    sid = await connected_call(live, ws)
    assert (await polling.ask("joinRoom", {"sessionId": sid}))["success"] is True
    assert (await polling.next("roomJoined"))["status"] == "success"
    await asyncio.sleep(0.1)  # frames of earlier ticks still on their way: let them land
    ws.drain("audio")
    polling.drain("audio")
    # Audio from the application, echoed by the far end frame for frame; no tick in between.
    tone = bytes(range(256)) * 25  # 6400 bytes: 20 frames of distinct content
    await ws.ask("audio", {"sessionId": sid, "audioData": tone, "audioFormat": "pcm16"})
    for _ in range(50):
        await live.step(0.02)
    heard = {}
    for name, client in (("ws", ws), ("polling", polling)):
        frames: list[bytes] = []
        while len(frames) < 50:
            data = await client.next("audio")
            assert data["sessionId"] == sid
            frames.append(data["audioData"])
        heard[name] = b"".join(frames)
        assert all(len(frame) == FRAME for frame in frames)
    assert heard["ws"] == heard["polling"]
    assert tone in heard["ws"]  # the echo, whole and in order
    assert ws.drain("audio") == []
    assert polling.drain("audio") == []


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_reserved_and_unknown_event_names_are_refused_and_change_nothing(
    live: Live, transport: str
) -> None:
    client = await connect(live, transports=[transport])
    for _ in range(20):
        ack = await client.ask("connect", {"HTTP_AUTHORIZATION": "Bearer x"})
        assert ack == {"success": False, "error": "'connect' is a reserved event name"}
        ack = await client.ask("disconnect", "client namespace disconnect")
        assert ack == {"success": False, "error": "'disconnect' is a reserved event name"}
    ack = await client.ask("connect_error", {})
    assert ack["success"] is False
    assert "reserved" in ack["error"]
    assert await client.ask("joinroom", {"sessionId": "x"}) == {
        "success": False,
        "error": "unknown event 'joinroom'",
    }
    # Still registered once: one newSession per call, and commands work.
    assert len(live.realtime.clients) == 1
    sid = await connected_call(live, client)
    await asyncio.sleep(0.05)
    assert client.drain("newSession") == []
    assert (await client.ask("hangup", {"sessionId": sid}))["success"] is True
    assert (await client.next("cdr"))["disposition"] == "ANSWERED"


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("duration", [float("nan"), float("inf"), float("-inf")])
async def test_a_dtmf_duration_that_is_not_a_number_is_refused(
    live: Live, transport: str, duration: float
) -> None:
    client = await connect(live, transports=[transport])
    sid = await connected_call(live, client)
    ack = await client.ask("dtmf", {"sessionId": sid, "digit": "1", "duration": duration})
    assert ack == {"success": False, "error": "duration must be a number of milliseconds, 1-1000"}
    assert (await client.ask("dtmf", {"sessionId": sid, "digit": "1"}))["success"] is True


async def test_an_ack_reaches_the_client_before_what_its_command_caused(live: Live) -> None:
    raw = await RawClient.open(live.url, live.token())
    sid = await live.call("0811")
    join = await raw.emit("joinRoom", {"sessionId": sid})
    messages = [await raw.read() for _ in range(3)]  # newSession may come first: it predates
    messages = [m for m in messages if not (isinstance(m, str) and "newSession" in m)]
    messages.append(await raw.read())
    assert messages[0] == f'43{join}[{{"success":true,"error":null}}]'
    assert '"roomJoined"' in messages[1]
    await live.step(2.0)
    await raw.until("dialStatus")
    hangup = await raw.emit("hangup", {"sessionId": sid})
    while True:
        message = await raw.read()
        if isinstance(message, str) and message.startswith(f"43{hangup}"):
            break
        assert "hangup" not in str(message)
        assert "cdr" not in str(message)
    assert await raw.until("hangup") == {"sessionId": sid}
    assert (await raw.until("cdr"))["hangupBy"] == "CALLER"
    await raw.close()


async def stall(live: Live, raw: RawClient, sid: str, frames_dropped: int) -> int:
    """Step the clock while `raw` reads nothing, until the server has dropped that much audio."""
    (server_client,) = live.realtime.clients.values()
    for _ in range(200 * FRAMES_PER_S):
        await live.step(0.02)
        if server_client.outbox.dropped_total >= frames_dropped:
            return server_client.outbox.dropped_total
    raise AssertionError("the server never held audio back from a client that stopped reading")


async def answered_raw_call(live: Live, raw: RawClient) -> str:
    sid = await live.call("0811")
    assert (await raw.ack(await raw.emit("joinRoom", {"sessionId": sid})))["success"] is True
    await live.step(2.1)
    while (await raw.until("dialStatus"))["status"] != "Connected":
        pass
    return sid


async def test_a_slow_client_loses_its_oldest_audio_is_told_and_keeps_every_control_event(
    live: Live,
) -> None:
    raw = await RawClient.open(live.url, live.token(), rcvbuf=4096)
    sid = await answered_raw_call(live, raw)
    dropped = await stall(live, raw, sid, 3 * FRAMES_PER_S)
    (server_client,) = live.realtime.clients.values()
    assert len(server_client.outbox) <= 50 + 1  # a second of audio waits, no more
    # The call ends while the client still reads nothing: its hangup and cdr must not be lost.
    response = await live.http.post(
        "/pbx/hangup",
        json={"sessionId": sid},
        headers={"Authorization": f"Bearer {live.token()}"},
    )
    assert response.status_code == 200
    assert await raw.until("audioDropped", timeout_s=10) == {"sessionId": sid, "frames": dropped}
    assert await raw.until("hangup") == {"sessionId": sid}
    cdr = await raw.until("cdr")
    assert cdr["disposition"] == "ANSWERED"
    assert cdr["clientFramesDropped"] == dropped  # the record says what the client missed
    assert live.realtime.calls.client_frames_dropped == {"socketio": dropped}  # and the metrics
    assert len(raw.take("audio")) >= 50  # what waited was delivered, oldest dropped first
    await raw.close()


async def test_a_client_that_stops_reading_is_disconnected_and_its_call_goes_on(
    live: Live,
) -> None:
    raw = await RawClient.open(live.url, live.token(), rcvbuf=4096)
    sid = await answered_raw_call(live, raw)
    await stall(live, raw, sid, STALLED_AUDIO_S * FRAMES_PER_S - 1)
    assert live.realtime.clients, "disconnected too early"
    for _ in range(10):
        await live.step(0.02)
    await asyncio.wait_for(gone(live), 5)
    call = live.gateway.calls.find("acme", sid)
    assert not call.ended
    assert call.clients == 0
    # It can come back and rejoin.
    again = await connect(live)
    assert (await again.ask("joinRoom", {"sessionId": sid}))["success"] is True
    assert (await again.next("roomJoined"))["status"] == "success"
    await live.step(0.1)
    for _ in range(5):
        assert (await again.next("audio"))["sessionId"] == sid
    await raw.close()


async def test_frames_are_cut_here_and_everything_else_is_the_librarys(live: Live) -> None:
    raw = await RawClient.open(live.url, live.token())
    (server_client,) = live.realtime.clients.values()
    assert server_client.channel is not None
    protocol = server_client.channel._protocol
    sid = await answered_raw_call(live, raw)
    cut_before = protocol.frames_cut
    chunk = bytes(range(256)) * 10
    data = {"sessionId": sid, "audioData": {"_placeholder": True, "num": 0}}
    data["audioFormat"] = "pcm16"
    await raw.ws.send('451-9["audio",' + json.dumps(data) + "]")
    await raw.ws.send(chunk)
    assert (await raw.ack(9))["queuedMs"] == 160
    assert protocol.frames_cut == cut_before + 2
    # A ping between frames is the library's, and it answers it.
    pong = await raw.ws.ping(b"hi")
    await asyncio.wait_for(pong, 5)
    # A fragmented event: the library reassembles it and it still reaches the channel.
    await raw.ws.send(iter(['420["checkPoint",', '{"sessionId":"' + sid + '","name":"end"}]']))
    assert (await raw.ack(0))["success"] is True
    # Back on the direct path after it.
    await raw.ws.send('421["interruption",{"sessionId":"' + sid + '"}]')
    assert (await raw.ack(1))["discardedMs"] >= 0
    assert protocol.frames_cut == cut_before + 3
    # Text that is not UTF-8 fails the connection (1007), as RFC 6455 requires.
    raw.ws.protocol.send_text(b'42["x\xff"]')
    raw.ws.send_data()

    async def read_to_the_end() -> None:
        while True:
            await raw.read()

    with pytest.raises(ConnectionClosed) as closed:
        await read_to_the_end()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1007
    await asyncio.wait_for(gone(live), 5)
    assert not live.gateway.calls.find("acme", sid).ended
