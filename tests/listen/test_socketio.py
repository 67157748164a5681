"""Listening over Socket.IO: a real python-socketio client against the gateway (uvicorn on loopback,
the clock stepped by hand), the far party played by the simulated carrier from espeak-ng audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from callgate.media.pcm import FRAME_BYTES, SILENCE_FRAME
from callgate.telephony.simulated import SimulatedCarrier
from callgate.telephony.simulated.scripts import DEFAULT_SCRIPTS, CalleeScript
from tests.api.live import Client, Live, connect, live_gateway
from tests.listen import audio
from tests.listen.test_vad import ONSET_TOLERANCE_MS

LISTEN_EVENTS = ("speechStarted", "speechStopped", "bargeIn", "machineDetection", "beep", "silence")
TOKEN = "Bearer "


def hear(client: Client) -> Client:
    """Also collect the listening events (tests/api/live.py knows the seed's events only)."""
    for name in LISTEN_EVENTS:

        def handler(data: Any, name: str = name) -> None:
            client.log.append((name, data))
            client.events[name].put_nowait(data)

        client.sio.on(name, handler)
    return client


def listened(client: Client) -> list[tuple[str, Any]]:
    return [(name, data) for name, data in client.log if name in LISTEN_EVENTS]


def callee(pattern: str, wav: Path, **kwargs: Any) -> CalleeScript:
    return CalleeScript(pattern, ring_s=0.5, audio="silence", play=str(wav), **kwargs)


async def join(live: Live, client: Client, sid: str, **extra: Any) -> dict[str, Any]:
    ack = await client.ask("joinRoom", {"sessionId": sid, **extra})
    assert ack["success"] is True, ack
    return dict(ack)


async def answered(live: Live, client: Client) -> None:
    await live.step(0.5)
    await client.until("dialStatus", lambda d: d["status"] == "Connected")


def carrier(live: Live) -> SimulatedCarrier:
    trunk = live.gateway.trunk
    assert isinstance(trunk, SimulatedCarrier)
    return trunk


async def test_speech_events_reach_the_clients_that_asked_where_the_speech_is(
    tmp_path: Path,
) -> None:
    first = audio.speech("hello, who is this?", "en-us")
    second = audio.speech("I would like to talk to someone about my bill", "en-gb+f3")
    clips = [(1.0, first, True), (4.0, second, True)]
    clips += [(2.6 + 0.25 * i, audio.dtmf(d, 120), False) for i, d in enumerate("4#7")]
    scene = audio.Scene(8.0, clips)
    wav = audio.write_wav(tmp_path / "callee.wav", scene.render("pink", 20.0))
    scripts = (callee(r"0819\d+", wav), *DEFAULT_SCRIPTS)
    async with live_gateway(tmp_path, simulator_scripts=scripts, no_client_grace_s=0) as live:
        asked, plain = hear(await connect(live)), hear(await connect(live))
        sid = await live.call("08190001")
        ack = await join(live, asked, sid, listen={"hangoverMs": 300})
        assert ack["listen"]["hangoverMs"] == 300
        assert ack["listen"]["minSpeechMs"] == 60
        assert await join(live, plain, sid) == {"success": True, "error": None}  # the seed's ack
        await answered(live, asked)
        await live.step(8.0)
        starts = [await asked.next("speechStarted") for _ in range(2)]
        stops = [await asked.next("speechStopped") for _ in range(2)]
        for start, stop, (at_s, clip, _) in zip(starts, stops, clips, strict=False):
            assert start["sessionId"] == sid
            assert stop["sessionId"] == sid
            assert abs(start["atMs"] - at_s * 1000) <= ONSET_TOLERANCE_MS
            end_ms = (at_s + len(clip) / 8000) * 1000
            assert abs(stop["atMs"] - end_ms) <= 200
            assert stop["durationMs"] == stop["atMs"] - start["atMs"]
        # The DTMF between the two turns was no speech: exactly two turns.
        assert [name for name, _ in listened(asked)] == [
            "speechStarted",
            "speechStopped",
            "speechStarted",
            "speechStopped",
        ]
        assert listened(plain) == []  # a client that asked for nothing hears nothing new


async def test_barge_in_auto_clears_playout_and_reports_what_the_callee_heard(
    tmp_path: Path,
) -> None:
    words = audio.speech("wait, stop, I have a question", "en-us")
    wav = audio.write_wav(tmp_path / "callee.wav", audio.Scene(6.0, [(2.0, words, True)]).render())
    scripts = (callee(r"0819\d+", wav, record=True), *DEFAULT_SCRIPTS)
    async with live_gateway(tmp_path, simulator_scripts=scripts, no_client_grace_s=0) as live:
        client = hear(await connect(live))
        sid = await live.call("08190002")
        await join(live, client, sid, listen={"bargeIn": "auto"})
        await answered(live, client)
        # The bot talks for 5 s (a -20 dBFS tone, each frame numbered), then a checkpoint.
        bot = b"".join(_numbered(i) for i in range(250))
        ack = await client.ask(
            "audio", {"sessionId": sid, "audioData": bot, "audioFormat": "pcm16"}
        )
        assert ack["success"] is True
        assert (await client.ask("checkPoint", {"sessionId": sid, "name": "said"}))["success"]
        await live.step(4.0)
        barge = await client.next("bargeIn")
        checkpoint = await client.next("checkPoint")
        started = await client.next("speechStarted")
        assert checkpoint == {"sessionId": sid, "name": "said", "status": "cleared"}
        assert barge["mode"] == "auto"
        assert barge["atMs"] == started["atMs"]
        assert abs(barge["atMs"] - 2000) <= ONSET_TOLERANCE_MS
        # What the callee heard of the bot: numbered frames, in order, then silence only.
        heard = carrier(live).recordings[sid].audio
        bot_frames = [
            heard[i : i + FRAME_BYTES]
            for i in range(0, len(heard), FRAME_BYTES)
            if heard[i : i + FRAME_BYTES] != SILENCE_FRAME
        ]
        assert bot_frames == [_numbered(i) for i in range(len(bot_frames))]
        assert barge["playedMs"] == len(bot_frames) * 20  # exactly what the callee heard
        assert barge["discardedMs"] == 5000 - barge["playedMs"]
        # Cut within 100 ms of the callee's onset: the frames heard span answer..last bot frame.
        first_bot = next(i for i in range(0, len(heard), FRAME_BYTES) if heard[i] or heard[i + 1])
        last_bot_end_ms = (first_bot // FRAME_BYTES + len(bot_frames)) * 20
        assert 0 <= last_bot_end_ms - barge["atMs"] <= 100


def _numbered(i: int) -> bytes:
    """A frame of a -20 dBFS 500 Hz tone whose first sample says which frame it is."""
    t = np.arange(160) / 8000
    samples = (0.1 * 32767 * np.sin(2 * np.pi * 500 * (t + i * 0.02))).astype("<i2")
    samples[0] = 1000 + i
    return samples.tobytes()
