"""Listening on the inbound WebSocket protocol, in real time: a simulated caller playing espeak-ng
audio → the gateway's connector → an app on a real `websockets` server, per route opt-in."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.inbound.routes import InboundRoute
from callgate.listen.options import ListenOptions
from callgate.media.pcm import FRAME_BYTES, SILENCE_FRAME
from callgate.telephony.simulated import CallerScript, SimulatedCarrier
from tests.listen import audio
from tests.listen.test_socketio import _numbered
from tests.listen.test_vad import ONSET_TOLERANCE_MS
from tests.support import ended_record

LISTEN_NAMES = {"speech_started", "speech_stopped", "barge_in", "silence"}


@dataclasses.dataclass
class App:
    port: int
    messages: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    bot_audio: bytes = b""  # streamed right after answering
    hang_up_after_s: float = 5.0


@contextlib.asynccontextmanager
async def app_server(bot_audio: bytes = b"") -> AsyncIterator[App]:
    app = App(0, bot_audio=bot_audio)

    async def handler(ws: ServerConnection) -> None:
        async def talk() -> None:
            await ws.send(json.dumps({"event": "answer"}))
            if app.bot_audio:
                await ws.send(app.bot_audio)
            await asyncio.sleep(app.hang_up_after_s)
            await ws.send(json.dumps({"event": "hangup"}))

        task: asyncio.Task[None] | None = None
        try:
            async for message in ws:
                if isinstance(message, str):
                    data = json.loads(message)
                    app.messages.append(data)
                    if data["event"] == "incoming_call":
                        task = asyncio.create_task(talk())
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async with serve(handler, "127.0.0.1", 0) as server:
        app.port = next(iter(server.sockets)).getsockname()[1]
        yield app


async def inbound_call(tmp_path: Path, route: InboundRoute, wav: Path) -> tuple[Any, Any, str]:
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret="listen-inbound-secret-" + "l" * 40,
    )
    gateway = Gateway.build(dataclasses.replace(config, inbound_routes=(route,)))
    await gateway.start()
    try:
        carrier = gateway.trunk
        assert isinstance(carrier, SimulatedCarrier)
        script = CallerScript(audio="silence", play=str(wav), record=True)
        sid = carrier.offer_inbound("081122334455", "0215551234", script)
        record = await ended_record(gateway, "acme", sid)
        return record, carrier.recordings[sid], sid
    finally:
        await gateway.stop()


def scene_wav(tmp_path: Path) -> tuple[Path, float, float]:
    words = audio.speech("hello, I need some help with my account", "en-gb+f3")
    wav = audio.write_wav(tmp_path / "caller.wav", audio.Scene(5.0, [(1.0, words, True)]).render())
    return wav, 1.0, 1.0 + len(words) / 8000


async def test_a_route_that_listens_gets_speech_events_and_one_that_does_not_gets_none(
    tmp_path: Path,
) -> None:
    wav, onset_s, end_s = scene_wav(tmp_path)
    for listen in (ListenOptions(), None):
        async with app_server() as app:
            route = InboundRoute(r".*", f"ws://127.0.0.1:{app.port}", "acme", listen=listen)
            await inbound_call(tmp_path, route, wav)
        heard = [m for m in app.messages if m["event"] in LISTEN_NAMES]
        if listen is None:
            assert heard == []  # the seed contract, unchanged
            assert [m["event"] for m in app.messages] == ["incoming_call"]
            continue
        assert [m["event"] for m in heard] == ["speech_started", "speech_stopped"]
        started, stopped = heard
        assert set(started) == {"event", "atMs"}
        assert abs(started["atMs"] - onset_s * 1000) <= ONSET_TOLERANCE_MS
        assert abs(stopped["atMs"] - end_s * 1000) <= 200
        assert stopped["durationMs"] == stopped["atMs"] - started["atMs"]


async def test_barge_in_auto_on_an_inbound_call(tmp_path: Path) -> None:
    wav, onset_s, _ = scene_wav(tmp_path)
    bot = b"".join(_numbered(i) for i in range(200))  # 4 s of the bot
    async with app_server(bot) as app:
        listen = ListenOptions(barge_in="auto")
        route = InboundRoute(r".*", f"ws://127.0.0.1:{app.port}", "acme", listen=listen)
        _, recording, _ = await inbound_call(tmp_path, route, wav)
    barge = next(m for m in app.messages if m["event"] == "barge_in")
    assert barge["mode"] == "auto"
    assert abs(barge["atMs"] - onset_s * 1000) <= ONSET_TOLERANCE_MS
    heard = bytes(recording.audio)
    frames = [heard[i : i + FRAME_BYTES] for i in range(0, len(heard), FRAME_BYTES)]
    bot_frames = [f for f in frames if f != SILENCE_FRAME]
    assert bot_frames == [_numbered(i) for i in range(len(bot_frames))]
    assert barge["playedMs"] == len(bot_frames) * 20
    assert barge["discardedMs"] == 4000 - barge["playedMs"]


async def test_a_route_can_ask_for_silence_and_call_quality(tmp_path: Path) -> None:
    wav, _, end_s = scene_wav(tmp_path)
    assert end_s + 0.4 + 1.5 < 7.0  # the silence comes before the app hangs up
    async with app_server() as app:
        app.hang_up_after_s = 7.0
        listen = ListenOptions(silence_ms=1500, call_quality=True, quality_every_ms=1000)
        route = InboundRoute(r".*", f"ws://127.0.0.1:{app.port}", "acme", listen=listen)
        record, _, _ = await inbound_call(tmp_path, route, wav)
    names = [m["event"] for m in app.messages]
    silences = [m for m in app.messages if m["event"] == "silence"]
    # the caller spoke, the app said nothing after it: one `bot` silence, then no other
    assert silences == [{"event": "silence", "side": "bot", "ms": 1500}]
    assert names.index("silence") > names.index("speech_stopped")
    reports = [m for m in app.messages if m["event"] == "call_quality"]
    assert len(reports) >= 6  # each second of a call the app ends at 7 s
    assert reports[-1] == {
        "event": "call_quality",
        "lossPct": 0.0,
        "jitterMs": 0.0,
        "rttMs": None,
        "mos": record.quality.mos,
    }
