"""Listening over Socket.IO: a real python-socketio client against the gateway (uvicorn on loopback,
the clock stepped by hand), the far party played by the simulated carrier from espeak-ng audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from callgate.calls.quality import PACKET_MS, mos_from
from callgate.media.pcm import FRAME_BYTES, SILENCE_FRAME
from callgate.telephony.simulated import SimulatedCarrier
from callgate.telephony.simulated.scripts import DEFAULT_SCRIPTS, CalleeScript
from tests.api.live import Client, Live, connect, live_gateway
from tests.listen import audio
from tests.listen.test_vad import ONSET_TOLERANCE_MS

LISTEN_EVENTS = (
    "speechStarted",
    "speechStopped",
    "bargeIn",
    "machineDetection",
    "beep",
    "silence",
    "deadAir",
    "callQuality",
)
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


def _bot_frames(heard: bytes) -> list[bytes]:
    return [
        heard[i : i + FRAME_BYTES]
        for i in range(0, len(heard), FRAME_BYTES)
        if heard[i : i + FRAME_BYTES] != SILENCE_FRAME
    ]


async def test_barge_in_pause_holds_the_bot_and_resume_plays_on_with_nothing_lost(
    tmp_path: Path,
) -> None:
    cough = audio.speech("ah", "en-us")[:800]  # 100 ms: shorter than minSpeechMs
    words = audio.speech("sorry, go on", "en-us+m3")
    clips = [(1.0, cough, True), (3.0, words, True)]
    wav = audio.write_wav(tmp_path / "callee.wav", audio.Scene(8.0, clips).render())
    scripts = (callee(r"0819\d+", wav, record=True), *DEFAULT_SCRIPTS)
    async with live_gateway(tmp_path, simulator_scripts=scripts, no_client_grace_s=0) as live:
        client = hear(await connect(live))
        sid = await live.call("08190003")
        await join(live, client, sid, listen={"bargeIn": "pause", "minSpeechMs": 200})
        await answered(live, client)
        bot = b"".join(_numbered(i) for i in range(300))  # 6 s
        await client.ask("audio", {"sessionId": sid, "audioData": bot, "audioFormat": "pcm16"})
        await client.ask("checkPoint", {"sessionId": sid, "name": "said"})
        await live.step(4.0)
        barge = await client.next("bargeIn")
        assert barge["mode"] == "pause"
        assert abs(barge["atMs"] - 3000) <= ONSET_TOLERANCE_MS
        assert barge["playedMs"] + barge["queuedMs"] == 6000
        # The cough raised no event, only a pause; the talk both.
        assert [name for name, _ in listened(client)] == ["speechStarted", "bargeIn"]
        await live.step(1.0)  # still paused while the callee talks and after
        held = len(_bot_frames(bytes(carrier(live).recordings[sid].audio)))
        assert held * 20 == barge["playedMs"]
        ack = await client.ask("resume", {"sessionId": sid})
        assert ack == {"success": True, "error": None, "queuedMs": barge["queuedMs"]}
        await live.step(barge["queuedMs"] / 1000 + 0.2)
        assert (await client.next("checkPoint")) == {
            "sessionId": sid,
            "name": "said",
            "status": "played",
        }
        heard = bytes(carrier(live).recordings[sid].audio)
        # Every frame of the bot's, once and in order, around two holds (the cough, the talk).
        assert _bot_frames(heard) == [_numbered(i) for i in range(300)]
        first = next(i for i in range(0, len(heard), FRAME_BYTES) if heard[i] or heard[i + 1])
        frames = [heard[i : i + FRAME_BYTES] for i in range(first, len(heard), FRAME_BYTES)]
        last = max(i for i, f in enumerate(frames) if f != SILENCE_FRAME)
        gaps = [i for i, f in enumerate(frames[:last]) if f == SILENCE_FRAME]
        cough_gap = [i for i in gaps if i * 20 < 2000]
        assert cough_gap  # paused at the cough's onset...
        assert len(cough_gap) * 20 <= 200  # ...and resumed once it proved too short


async def test_the_bots_own_echo_is_not_speech_at_the_documented_level(tmp_path: Path) -> None:
    bot_speech = audio.speech(
        "Thank you for calling. Your order has shipped and will arrive on Tuesday.", "en-us"
    )
    bot = audio.pcm16(bot_speech * 0.5)  # about -20 dBFS
    results = {}
    for erl_db in (15.0, 3.0):  # handled (>= 12 dB), and a control far louder than documented
        scripts = (
            CalleeScript(r"0819\d+", ring_s=0.5, audio="silence", echo_return_db=erl_db),
            *DEFAULT_SCRIPTS,
        )
        async with live_gateway(
            tmp_path / str(erl_db), simulator_scripts=scripts, no_client_grace_s=0
        ) as live:
            client = hear(await connect(live))
            sid = await live.call("08190004")
            await join(live, client, sid, listen={"bargeIn": "auto"})
            await answered(live, client)
            await client.ask("audio", {"sessionId": sid, "audioData": bot, "audioFormat": "pcm16"})
            await client.ask("checkPoint", {"sessionId": sid, "name": "said"})
            await live.step(len(bot_speech) / 8000 + 1.0)
            results[erl_db] = [name for name, _ in listened(client)]
    assert results[15.0] == []  # no speech, no barge-in: the bot finished its sentence
    assert "bargeIn" in results[3.0]  # the same echo 12 dB louder would have cut it


async def test_silence_after_the_configured_time(tmp_path: Path) -> None:
    scripts = (CalleeScript(r"0819\d+", ring_s=0.5, audio="silence"), *DEFAULT_SCRIPTS)
    async with live_gateway(tmp_path, simulator_scripts=scripts, no_client_grace_s=0) as live:
        client = hear(await connect(live))
        sid = await live.call("08190005")
        await join(live, client, sid, listen={"silenceMs": 1500})
        await answered(live, client)
        await live.step(1.4)
        assert listened(client) == []
        await live.step(0.2)
        assert (await client.next("silence")) == {"sessionId": sid, "side": "both", "ms": 1500}
        await live.step(3.0)
        assert len(listened(client)) == 1  # once per silent stretch


async def test_silence_in_a_conversation_says_who_owes_the_next_word(tmp_path: Path) -> None:
    words = audio.trim(audio.speech("hello, who is calling?", "en-us"))
    answer_end_s = 1.0 + len(words) / 8000
    wav = audio.write_wav(tmp_path / "callee.wav", audio.Scene(12.0, [(1.0, words, True)]).render())
    scripts = (callee(r"0819\d+", wav), *DEFAULT_SCRIPTS)
    async with live_gateway(tmp_path, simulator_scripts=scripts, no_client_grace_s=0) as live:
        asked, plain = hear(await connect(live)), hear(await connect(live))
        sid = await live.call("08190007")
        await join(live, asked, sid, listen={"silenceMs": 1500})
        await join(live, plain, sid)
        await answered(live, asked)
        # the callee speaks at 1 s; its turn ends 400 ms (hangover) after its last word; the
        # bot says nothing for 1.5 s more: `bot`
        await live.step(answer_end_s + 0.4 + 1.5 - 0.1)
        await asked.next("speechStarted")
        await asked.next("speechStopped")
        assert [name for name, _ in listened(asked)] == ["speechStarted", "speechStopped"]
        await live.step(0.8)
        assert (await asked.next("silence")) == {"sessionId": sid, "side": "bot", "ms": 1500}
        # the bot talks for a second; the callee does not answer it: `callee`, once
        tone = b"".join(_numbered(i) for i in range(50))
        ack = await asked.ask(
            "audio", {"sessionId": sid, "audioData": tone, "audioFormat": "pcm16"}
        )
        assert ack["success"] is True
        await live.step(1.0 + 1.4)
        assert [name for name, _ in listened(asked)].count("silence") == 1
        await live.step(0.4)
        assert (await asked.next("silence")) == {"sessionId": sid, "side": "callee", "ms": 1500}
        await live.step(3.0)
        assert [name for name, _ in listened(asked)].count("silence") == 2
        assert listened(plain) == []


async def test_call_quality_every_interval_as_the_cdr_reads_it(tmp_path: Path) -> None:
    scripts = (CalleeScript(r"0819\d+", ring_s=0.5, audio="silence"), *DEFAULT_SCRIPTS)
    async with live_gateway(tmp_path, simulator_scripts=scripts, no_client_grace_s=0) as live:
        client = hear(await connect(live))
        sid = await live.call("08190008")
        ack = await join(live, client, sid, listen={"callQuality": True, "qualityEveryMs": 2000})
        assert ack["listen"]["qualityEveryMs"] == 2000
        await answered(live, client)
        await live.step(1.9)
        assert listened(client) == []
        await live.step(0.2)
        first = await client.next("callQuality")
        clean = mos_from(0.0, PACKET_MS + 40.0)  # no loss, the least jitter buffer: 4.38
        assert first == {
            "sessionId": sid,
            "lossPct": 0.0,
            "jitterMs": 0.0,
            "rttMs": None,
            "mos": clean,
        }
        await live.step(4.0)
        later = [await client.next("callQuality") for _ in range(2)]
        assert [r["mos"] for r in later] == [clean, clean]
        assert [name for name, _ in listened(client)] == ["callQuality"] * 3
        cdr = carrier(live)
        assert cdr.media_quality(sid) is not None
        assert cdr.media_quality("no-such-call") is None


async def test_bad_listen_options_are_refused_in_the_ack_and_nothing_is_joined(
    tmp_path: Path,
) -> None:
    async with live_gateway(tmp_path, no_client_grace_s=0) as live:
        client = hear(await connect(live))
        sid = await live.call("08190006")
        ack = await client.ask("joinRoom", {"sessionId": sid, "listen": {"bargeIn": "loud"}})
        assert ack == {
            "success": False,
            "error": "listen.bargeIn: one of off, notify, auto, pause",
        }
        ack = await client.ask(
            "audio", {"sessionId": sid, "audioData": b"\0\0", "audioFormat": "pcm16"}
        )
        assert ack["success"] is False  # not a member: the refused join joined nothing
