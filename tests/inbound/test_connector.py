"""The gateway's inbound connector against raw `websockets` applications, on a hand-stepped clock."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.server import ServerConnection

from callgate.calls.events import BusEvent, CallCreated
from callgate.calls.records import CallRecord
from callgate.clock import ManualClock
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.inbound.routes import InboundRoute
from callgate.media.signals import align, sine_pcm16
from callgate.telephony.simulated import CallerScript, SimulatedCarrier
from tests.support import ended_record, free_port

WAIT_S = 5.0
FRAME = 320


@dataclass
class AppPeer:
    """A raw application: every message it gets lands in `inbox`; tests drive its socket directly."""

    inbox: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    audio: list[bytes] = field(default_factory=list)
    connected: asyncio.Queue[ServerConnection] = field(default_factory=asyncio.Queue)
    app_keys: list[str | None] = field(default_factory=list)
    closes: asyncio.Queue[int | None] = field(default_factory=asyncio.Queue)

    async def handler(self, ws: ServerConnection) -> None:
        self.app_keys.append(ws.request.headers.get("X-App-Key") if ws.request else None)
        await self.connected.put(ws)
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    self.audio.append(message)
                else:
                    await self.inbox.put(message)
        except websockets.ConnectionClosed:
            pass
        await self.closes.put(ws.close_code)

    async def next_json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(await asyncio.wait_for(self.inbox.get(), WAIT_S))
        return value


@dataclass
class World:
    gateway: Gateway
    clock: ManualClock
    carrier: SimulatedCarrier
    app: AppPeer
    events: list[BusEvent]

    async def step(self, seconds: float) -> None:
        for _ in range(round(seconds / 0.02)):
            self.clock.advance(0.02)
            await asyncio.sleep(0.001)

    async def record(self, session_id: str) -> CallRecord:
        return await ended_record(self.gateway, "inbound-acct", session_id, timeout_s=5)

    @property
    def port(self) -> int:
        """Where the gateway expects the app (for tests that run their own)."""
        return int(self.gateway.config.inbound_routes[0].url.rsplit(":", 1)[1])

    def offer(self, **script: Any) -> str:
        return self.carrier.offer_inbound("081122334455", "0215551234", CallerScript(**script))

    async def answered_call(self, **script: Any) -> tuple[str, ServerConnection]:
        sid = self.offer(**script)
        ws = await asyncio.wait_for(self.app.connected.get(), WAIT_S)
        first = await self.app.next_json()
        assert first == {
            "event": "incoming_call",
            "callerId": "081122334455",
            "didNumber": "0215551234",
            "sessionId": sid,
        }
        await ws.send(json.dumps({"event": "answer"}))
        await until(lambda: self.gateway.calls.find("inbound-acct", sid).answered)
        return sid, ws


async def until(predicate: Any, timeout_s: float = WAIT_S) -> None:
    async def check() -> None:
        while not predicate():  # noqa: ASYNC110 - polls state the code under test owns
            await asyncio.sleep(0.005)

    await asyncio.wait_for(check(), timeout_s)


@asynccontextmanager
async def world(tmp_path: Path, *, app_up: bool = True) -> AsyncIterator[World]:
    port = free_port()
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret="inbound-test-secret-" + "w" * 40,
        inbound_answer_timeout_s=10,
    )
    route = InboundRoute(
        r"021\d+", f"ws://127.0.0.1:{port}", "inbound-acct", (("X-App-Key", "k1"),)
    )
    config = dataclasses.replace(config, inbound_routes=(route,))
    clock = ManualClock()
    gateway = Gateway.build(config, clock=clock)
    events: list[BusEvent] = []
    gateway.bus.subscribe(events.append)
    await gateway.start()
    app = AppPeer()
    assert isinstance(gateway.trunk, SimulatedCarrier)
    w = World(gateway, clock, gateway.trunk, app, events)
    try:
        if app_up:
            async with websockets.serve(app.handler, "127.0.0.1", port):
                yield w
        else:
            yield w
    finally:
        await gateway.stop()


async def test_the_spec_flow_both_directions(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        sid, ws = await w.answered_call(dtmf=((0.5, "9"),), record=True)
        assert w.app.app_keys == ["k1"]
        assert any(isinstance(e, CallCreated) and e.direction == "inbound" for e in w.events)
        await w.step(1.0)
        assert await w.app.next_json() == {"event": "dtmf", "digit": "9"}
        # Caller audio reaches the app as 320-byte PCM16 frames, one per 20 ms, none lost.
        await until(lambda: len(w.app.audio) >= 50)
        assert all(len(f) == FRAME for f in w.app.audio)
        assert len(w.app.audio) == 50
        # App audio in odd-sized chunks reaches the caller intact.
        tone = sine_pcm16(900.0, 0.4)
        for start in range(0, len(tone), 777):
            await ws.send(tone[start : start + 777])
        await until(lambda: w.gateway.calls.find("inbound-acct", sid).playout.queued_ms >= 399)
        await w.step(0.6)
        heard = bytes(w.carrier.recordings[sid].audio)
        assert align(tone, heard).peak > 0.99
        # The caller notes when each frame arrived: one per media tick, 20 ms apart.
        times = w.carrier.recordings[sid].frame_times
        assert len(times) == len(heard) // FRAME
        assert {round(b - a, 9) for a, b in itertools.pairwise(times)} == {0.02}
        # App DTMF reaches the caller.
        await ws.send(json.dumps({"event": "dtmf", "digit": "5", "duration": 300}))
        await until(lambda: w.carrier.dtmf_heard.get(sid) == ["5"])
        # App hangs up: hangupBy CALLEE (the app is the callee of an inbound call).
        await ws.send(json.dumps({"event": "hangup"}))
        record = await w.record(sid)
        assert (record.disposition, record.hangup_by, record.hangup_cause_code) == (
            "ANSWERED",
            "CALLEE",
            16,
        )
        assert (record.direction, record.destination, record.caller_id) == (
            "inbound",
            "0215551234",
            "081122334455",
        )
        assert await asyncio.wait_for(w.app.closes.get(), WAIT_S) == 1000


async def test_caller_hangs_up(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        sid, _ = await w.answered_call(hangup_after_s=1.0)
        await w.step(1.0)
        messages = [await w.app.next_json()]
        assert messages == [{"event": "hangup"}]
        assert await asyncio.wait_for(w.app.closes.get(), WAIT_S) == 1000
        record = await w.record(sid)
        assert (record.disposition, record.hangup_by, record.billable_seconds) == (
            "ANSWERED",
            "CALLER",
            1,
        )


async def test_an_app_that_never_answers(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        sid = w.offer()
        await asyncio.wait_for(w.app.connected.get(), WAIT_S)
        assert (await w.app.next_json())["event"] == "incoming_call"
        await w.step(9.98)
        assert not w.gateway.calls.find("inbound-acct", sid).ended
        await w.step(0.02)
        assert await w.app.next_json() == {"event": "hangup"}
        record = await w.record(sid)
        assert (record.disposition, record.hangup_cause_code, record.hangup_by) == (
            "NO ANSWER",
            19,
            None,
        )


async def test_an_unreachable_app(tmp_path: Path) -> None:
    async with world(tmp_path, app_up=False) as w:
        sid = w.offer()
        record = await w.record(sid)
        assert (record.disposition, record.hangup_cause_code, record.hangup_by) == (
            "FAILED",
            27,
            None,
        )


async def test_socket_dropped_before_and_after_the_answer(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        before = w.offer()
        ws = await asyncio.wait_for(w.app.connected.get(), WAIT_S)
        assert (await w.app.next_json())["sessionId"] == before
        await ws.close()
        record = await w.record(before)
        assert (record.disposition, record.hangup_cause_code) == ("FAILED", 27)
        after, ws = await w.answered_call()
        await ws.close(1011)
        record = await w.record(after)
        assert (record.disposition, record.hangup_cause_code, record.hangup_by) == (
            "ANSWERED",
            38,
            None,
        )


async def test_caller_gives_up_while_the_app_thinks(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        sid = w.offer(give_up_s=2.0)
        await asyncio.wait_for(w.app.connected.get(), WAIT_S)
        await w.app.next_json()
        await w.step(2.0)
        assert await w.app.next_json() == {"event": "hangup"}
        record = await w.record(sid)
        assert (record.disposition, record.hangup_by) == ("CANCEL", "CALLER")


@pytest.mark.parametrize(
    "bad",
    [
        "not json",
        "[1, 2]",
        '{"event": "dance"}',
        '{"event": "dtmf", "digit": "X", "duration": 200}',
        '{"event": "dtmf", "digit": "1", "duration": 5000}',
        '{"digit": "1"}',
    ],
)
async def test_bad_messages_are_ignored_and_the_call_goes_on(tmp_path: Path, bad: str) -> None:
    async with world(tmp_path) as w:
        sid, ws = await w.answered_call()
        await ws.send(bad)
        await ws.send(json.dumps({"event": "dtmf", "digit": "3", "duration": 100}))
        await until(lambda: w.carrier.dtmf_heard.get(sid) == ["3"])
        assert not w.gateway.calls.find("inbound-acct", sid).ended


async def test_an_oversized_message_ends_the_call_as_a_drop(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        sid, ws = await w.answered_call()
        await ws.send(b"\x00" * (1 << 21))
        record = await w.record(sid)
        assert (record.disposition, record.hangup_cause_code) == ("ANSWERED", 38)


async def test_audio_before_the_answer_plays_from_the_answer(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        sid = w.offer(record=True)
        ws = await asyncio.wait_for(w.app.connected.get(), WAIT_S)
        await w.app.next_json()
        tone = sine_pcm16(500.0, 0.2)
        await ws.send(tone)
        await ws.send(json.dumps({"event": "answer"}))
        await until(lambda: w.gateway.calls.find("inbound-acct", sid).answered)
        await w.step(0.3)
        assert align(tone, bytes(w.carrier.recordings[sid].audio)).peak > 0.99


async def test_fragmented_messages_are_put_together_in_order(tmp_path: Path) -> None:
    # RFC 6455 lets an app split any message into frames; the connector reassembles them itself
    # (its fast path) and keeps their order with the whole messages around them.
    async with world(tmp_path) as w:
        sid = w.offer(record=True)
        ws = await asyncio.wait_for(w.app.connected.get(), WAIT_S)
        await w.app.next_json()
        await ws.send(iter(['{"event":', ' "ans', 'wer"}']))
        await until(lambda: w.gateway.calls.find("inbound-acct", sid).answered)
        tone = sine_pcm16(650.0, 0.3)
        await ws.send(iter([tone[:1000], tone[1000:3002], tone[3002:]]))
        await ws.send(json.dumps({"event": "dtmf", "digit": "4", "duration": 100}))
        await until(lambda: w.gateway.calls.find("inbound-acct", sid).playout.queued_ms >= 299)
        await w.step(0.4)
        assert align(tone, bytes(w.carrier.recordings[sid].audio)).peak > 0.99
        await until(lambda: w.carrier.dtmf_heard.get(sid) == ["4"])


async def test_text_that_is_not_utf8_fails_the_connection_like_a_drop(tmp_path: Path) -> None:
    # RFC 6455 §8.1: close with 1007, as websockets itself does on its own path.
    async with world(tmp_path) as w:
        sid, ws = await w.answered_call()
        # websockets checks UTF-8 when it decodes; send raw bytes in a text frame to get past it.
        await ws.send(b'{"event": "\xff\xfe"}', text=True)
        assert await asyncio.wait_for(w.app.closes.get(), WAIT_S) == 1007
        record = await w.record(sid)
        assert (record.disposition, record.hangup_cause_code) == ("ANSWERED", 38)


async def test_the_caller_gives_up_while_the_gateway_is_still_connecting(tmp_path: Path) -> None:
    # The app's handshake is held; the caller hangs up meanwhile. The connector must not send
    # incoming_call for a call that is over: it closes the socket cleanly and the CDR says CANCEL.
    async with world(tmp_path, app_up=False) as w:
        received: list[object] = []
        closes: asyncio.Queue[int | None] = asyncio.Queue()
        handshake_started, release = asyncio.Event(), asyncio.Event()

        async def held_handshake(connection: ServerConnection, request: object) -> None:
            handshake_started.set()
            await release.wait()

        async def app(ws: ServerConnection) -> None:
            async for message in ws:
                received.append(message)
            await closes.put(ws.close_code)

        async with websockets.serve(app, "127.0.0.1", w.port, process_request=held_handshake):
            sid = w.offer(give_up_s=0.1)
            await asyncio.wait_for(handshake_started.wait(), WAIT_S)
            await w.step(0.2)  # the caller gives up
            release.set()
            assert await asyncio.wait_for(closes.get(), WAIT_S) == 1000
            record = await w.record(sid)
    assert received == []
    assert (record.disposition, record.hangup_by) == ("CANCEL", "CALLER")


async def test_an_app_that_closes_at_once_fails_the_call(tmp_path: Path) -> None:
    async with world(tmp_path, app_up=False) as w:

        async def close_at_once(ws: ServerConnection) -> None:
            await ws.close()

        async with websockets.serve(close_at_once, "127.0.0.1", w.port):
            sid = w.offer()
            record = await w.record(sid)
        assert (record.disposition, record.hangup_cause_code) == ("FAILED", 27)


async def test_an_app_that_keeps_breaking_the_protocol_is_cut_off_as_a_drop(tmp_path: Path) -> None:
    # One bad message is logged and ignored; the tenth (the shared GatewaySession's budget) makes
    # the gateway close the socket with the error's code, and the call ends as a dropped socket.
    async with world(tmp_path) as w:
        sid, ws = await w.answered_call()
        for _ in range(9):
            await ws.send("{not json")
        await ws.send(json.dumps({"event": "dtmf", "digit": "2", "duration": 100}))
        await until(lambda: w.carrier.dtmf_heard.get(sid) == ["2"])
        assert not w.gateway.calls.find("inbound-acct", sid).ended
        await ws.send("{not json")
        assert await asyncio.wait_for(w.app.closes.get(), WAIT_S) == 1007
        record = await w.record(sid)
        assert (record.disposition, record.hangup_by, record.hangup_cause_code) == (
            "ANSWERED",
            None,
            38,
        )


async def test_an_app_that_stops_reading_loses_frames_and_its_record_says_how_many(
    tmp_path: Path,
) -> None:
    # The app answers, then never reads again; its socket's receive buffer is small, so the
    # gateway's writes back up within seconds and new caller frames are dropped, not queued.
    async with world(tmp_path, app_up=False) as w:
        answered: asyncio.Queue[ServerConnection] = asyncio.Queue()
        release = asyncio.Event()

        async def answer_then_stall(ws: ServerConnection) -> None:
            await ws.recv()  # incoming_call
            await ws.send(json.dumps({"event": "answer"}))
            await answered.put(ws)
            await release.wait()

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited by accepts
        listener.bind(("127.0.0.1", w.port))
        async with websockets.serve(answer_then_stall, sock=listener, max_queue=1):
            sid = w.offer(audio="tone", hangup_after_s=40.0)
            await asyncio.wait_for(answered.get(), WAIT_S)
            await until(lambda: w.gateway.calls.find("inbound-acct", sid).answered)
            await w.step(40.0)
            release.set()
            record = await w.record(sid)
    assert record.disposition == "ANSWERED"
    # Drops began once the app's socket buffers (our fixed 128 KB send buffer, its 8 KB) and the
    # 64 KB the gateway holds were full: about 200 KB, 13 s of audio at most, and went on to the
    # end: of the 2,000 frames of 40 s, 1,300 or more were dropped (none with an autotuned buffer).
    assert 1300 < record.client_frames_dropped < 2000
    assert w.gateway.calls.client_frames_dropped["inbound"] == record.client_frames_dropped


# --- opt-in additions: clear and hangup after playout ------------------------------------------


async def test_clear_drops_the_audio_queued_for_playout(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        sid, ws = await w.answered_call(record=True)
        call = w.gateway.calls.find("inbound-acct", sid)
        await ws.send(sine_pcm16(700.0, 2.0))
        await until(lambda: call.playout.queued_ms >= 1999)
        await w.step(0.2)
        await ws.send(json.dumps({"event": "clear"}))
        await until(lambda: call.playout.queued_ms == 0)
        await w.step(0.4)
        heard = bytes(w.carrier.recordings[sid].audio)
        # About 0.2 s of the tone was heard, then nothing: the other 1.8 s were dropped.
        loud = [f for f in frames_of(heard) if max(abs(s) for s in memoryview(f).cast("h")) > 1000]
        assert 8 <= len(loud) <= 12
        assert not call.ended  # clearing is no hangup


async def test_hangup_after_playout_lets_the_audio_finish_even_if_the_socket_closes(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        sid, ws = await w.answered_call(record=True)
        tone = sine_pcm16(700.0, 1.0)
        await ws.send(tone[:-100])  # a partial last frame: it plays, padded with silence
        await until(lambda: w.gateway.calls.find("inbound-acct", sid).playout.queued_ms >= 990)
        await ws.send(json.dumps({"event": "hangup", "afterPlayout": True}))
        await ws.close()  # as Pipecat does right after its EndFrame
        await asyncio.wait_for(w.app.closes.get(), WAIT_S)
        await asyncio.sleep(0.05)
        assert not w.gateway.calls.find("inbound-acct", sid).ended
        await w.step(1.1)
        record = await w.record(sid)
        assert (record.disposition, record.hangup_by, record.hangup_cause_code) == (
            "ANSWERED",
            "CALLEE",
            16,
        )
        heard = bytes(w.carrier.recordings[sid].audio)
        assert align(tone[:-100], heard).peak > 0.99
        assert len(heard) >= len(tone)  # the whole tone, its last frame included


async def test_a_malformed_after_playout_is_a_protocol_error(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        sid, ws = await w.answered_call()
        await ws.send(json.dumps({"event": "hangup", "afterPlayout": "yes"}))
        await ws.send(json.dumps({"event": "dtmf", "digit": "1"}))  # the call goes on
        await until(lambda: w.carrier.dtmf_heard.get(sid) == ["1"])
        assert not w.gateway.calls.find("inbound-acct", sid).ended


def frames_of(pcm16: bytes) -> list[bytes]:
    return [pcm16[i : i + FRAME] for i in range(0, len(pcm16) - FRAME + 1, FRAME)]
