"""Hold and resume through the whole gateway against sipp: the far end's hold (its re-INVITEs,
our answers checked on the wire by sipp) and the bot's own (`hold` / `resume` over Socket.IO,
our re-INVITEs checked by sipp). sipp's SDP points its media at a socket of the test's own,
which records every RTP packet we send, so what the far party heard is measured, not assumed.
"""

from __future__ import annotations

import asyncio
import socket
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from callgate.media.g711 import ulaw_decode
from callgate.media.signals import dominant_frequency_hz, sine_pcm16
from tests.peers.sipp import errors, running_sipp, scenario

from .transfer_gateway import Bot, SipGateway, sip_gateway

pytestmark = pytest.mark.peers

SIPP_DONE_S = 15.0
RTP_HEADER_BYTES = 12  # ours carry no CSRC and no extension
TONE_HZ = 700.0
MUSIC_HZ = 440.0
LOUD = 1000  # a frame whose peak is above this is not silence


@dataclass
class Heard:
    """The RTP that reached the far party's media address: arrival time and PCM16 per packet."""

    packets: list[tuple[float, bytes]] = field(default_factory=list)

    def between(self, start: float, end: float) -> list[bytes]:
        return [pcm for at, pcm in self.packets if start <= at < end]

    def runs(self, gap_s: float = 0.3) -> list[list[float]]:
        found: list[list[float]] = []
        for at, _ in self.packets:
            if found and at - found[-1][-1] <= gap_s:
                found[-1].append(at)
            else:
                found.append([at])
        return found


class _Recorder(asyncio.DatagramProtocol):
    def __init__(self, heard: Heard) -> None:
        self.heard = heard

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        at = asyncio.get_running_loop().time()
        self.heard.packets.append((at, ulaw_decode(data[RTP_HEADER_BYTES:])))


def loud(frames: list[bytes]) -> list[bytes]:
    return [f for f in frames if np.abs(np.frombuffer(f, dtype="<i2")).max() > LOUD]


def tone_of(frames: list[bytes]) -> float:
    sound = loud(frames)
    assert len(sound) >= 10, f"only {len(sound)} loud frames"
    return dominant_frequency_hz(b"".join(sound))


def timed(bot: Bot, *names: str) -> list[tuple[str, float, Any]]:
    """Record `names` as the bot gets them, with the loop's time."""
    got: list[tuple[str, float, Any]] = []
    loop = asyncio.get_running_loop()
    for name in names:

        def handler(data: Any, name: str = name) -> None:
            got.append((name, loop.time(), data))
            bot.events[name].put_nowait(data)

        bot.sio.on(name, handler)
    return got


async def media_socket() -> tuple[asyncio.DatagramTransport, int, Heard]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    heard = Heard()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Recorder(heard), sock=sock
    )
    return transport, sock.getsockname()[1], heard


async def play(gw: SipGateway, bot: Bot, sid: str, seconds: float, name: str) -> float:
    """Queue `seconds` of the tone and a checkpoint after it; when it was queued."""
    tone = sine_pcm16(TONE_HZ, seconds, level_dbfs=-12.0)
    ack = await bot.ask("audio", {"sessionId": sid, "audioData": tone, "audioFormat": "pcm16"})
    assert ack["success"], ack
    queued_at = asyncio.get_running_loop().time()
    assert (await bot.ask("checkPoint", {"sessionId": sid, "name": name}))["success"]
    return queued_at


async def test_the_far_ends_hold_pauses_our_rtp_and_the_playout_and_both_resume(
    tmp_path: Path,
) -> None:
    transport, rtp_port, heard = await media_socket()
    first_s, held_s = 1.5, 2.0
    plan = scenario(
        "uas_holds",
        tmp_path,
        RTP_PORT=str(rtp_port),
        FIRST_MS=str(int(first_s * 1000)),
        HELD_MS=str(int(held_s * 1000)),
        RESUMED_MS="3000",
    )
    try:
        async with (
            running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
            sip_gateway(tmp_path, port) as gw,
        ):
            bot = await gw.bot()
            got = timed(bot, "hold", "resume", "holdFailed", "checkPoint")
            sid = await gw.answered_call(bot, "6000")
            queued_at = await play(gw, bot, sid, 3.0, "said")
            await bot.until("hangup", {"sessionId": sid}, timeout_s=15.0)
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)  # our answers checked
    finally:
        transport.close()
    names = [(name, data) for name, _, data in got]
    assert names == [
        ("hold", {"sessionId": sid, "by": "remote"}),
        ("resume", {"sessionId": sid, "by": "remote"}),
        ("checkPoint", {"sessionId": sid, "name": "said", "status": "played"}),
    ]
    (_, held_at, _), (_, resumed_at, _), (_, said_at, _) = got
    # Nothing reached the far party while it held the call: two runs of RTP around a gap as
    # long as the hold.
    before, after = heard.runs()
    assert after[0] - before[-1] == pytest.approx(held_s, abs=0.3)
    assert not heard.between(held_at + 0.1, resumed_at - 0.1)
    # The three seconds of tone were heard whole, part before the hold and the rest after it:
    # nothing of the queue was sent into the hold, dropped or repeated.
    sound = loud(heard.between(0.0, held_at)) + loud(heard.between(resumed_at, said_at + 1))
    assert len(sound) == pytest.approx(150, abs=4)
    assert tone_of(heard.between(resumed_at, said_at)) == pytest.approx(TONE_HZ, abs=5)
    # The checkpoint came when the rest of the tone had played after the resume.
    left_s = 3.0 - (held_at - queued_at)
    assert said_at - resumed_at == pytest.approx(left_s, abs=0.25)


def music_file(path: Path) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16_000)  # resampled to 8 kHz when it is read
        wav.writeframes(sine_pcm16(MUSIC_HZ, 1.0, level_dbfs=-12.0, rate_hz=16_000))
    return path


async def test_the_bots_hold_sends_sendonly_plays_music_on_hold_and_resume_plays_on(
    tmp_path: Path,
) -> None:
    transport, rtp_port, heard = await media_socket()
    plan = scenario("uas_held", tmp_path, RTP_PORT=str(rtp_port))
    music = music_file(tmp_path / "hold.wav")
    loop = asyncio.get_running_loop()
    try:
        async with (
            running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
            sip_gateway(tmp_path, port, hold_music=str(music)) as gw,
        ):
            bot = await gw.bot()
            got = timed(bot, "hold", "resume", "holdFailed", "checkPoint")
            sid = await gw.answered_call(bot, "6001")
            await play(gw, bot, sid, 3.0, "said")
            await asyncio.sleep(1.0)  # real peers, real time: a second of the tone first
            ack = await bot.ask("hold", {"sessionId": sid})
            assert ack["success"], ack
            assert ack["queuedMs"] == pytest.approx(2000, abs=200)
            hold_asked = loop.time()
            again = await bot.ask("hold", {"sessionId": sid})
            assert again["success"] is False
            assert "on hold already" in again["error"]
            await bot.until("hold", {"sessionId": sid, "by": "local"})
            await asyncio.sleep(1.5)
            resume_asked = loop.time()
            ack = await bot.ask("resume", {"sessionId": sid})
            assert ack["success"], ack
            assert ack["queuedMs"] == pytest.approx(2000, abs=200)  # the playout stood still
            await bot.until("resume", {"sessionId": sid, "by": "local"})
            await bot.until("checkPoint", {"sessionId": sid, "name": "said"}, timeout_s=5.0)
            assert (await bot.ask("hangup", {"sessionId": sid}))["success"]
            await bot.until("hangup", {"sessionId": sid})
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)  # a=sendonly, a=sendrecv
    finally:
        transport.close()
    assert [(name, data) for name, _, data in got] == [
        ("hold", {"sessionId": sid, "by": "local"}),
        ("resume", {"sessionId": sid, "by": "local"}),
        ("checkPoint", {"sessionId": sid, "name": "said", "status": "played"}),
    ]
    # RTP never stopped (the hold is sendonly: we keep sending), and during the hold it was
    # the music, not the bot's tone.
    (_,) = heard.runs(gap_s=0.2)
    assert tone_of(heard.between(0.0, hold_asked - 0.05)) == pytest.approx(TONE_HZ, abs=5)
    on_hold = heard.between(hold_asked + 0.1, resume_asked - 0.05)
    assert len(on_hold) >= 60
    assert tone_of(on_hold) == pytest.approx(MUSIC_HZ, abs=5)
    assert tone_of(heard.between(resume_asked + 0.1, loop.time())) == pytest.approx(TONE_HZ, abs=5)


async def test_a_refused_hold_is_told_to_the_bot_and_its_audio_plays_on(tmp_path: Path) -> None:
    transport, rtp_port, heard = await media_socket()
    plan = scenario(
        "uas_hold_refused",
        tmp_path,
        RTP_PORT=str(rtp_port),
        STATUS="488",
        PHRASE="Not Acceptable Here",
    )
    loop = asyncio.get_running_loop()
    try:
        async with (
            running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
            sip_gateway(tmp_path, port) as gw,
        ):
            bot = await gw.bot()
            got = timed(bot, "hold", "resume", "holdFailed", "checkPoint")
            sid = await gw.answered_call(bot, "6002")
            await play(gw, bot, sid, 2.0, "said")
            await asyncio.sleep(0.5)
            assert (await bot.ask("hold", {"sessionId": sid}))["success"]
            await bot.until("holdFailed", {"sessionId": sid})
            failed_at = loop.time()
            await bot.until("checkPoint", {"sessionId": sid, "name": "said"}, timeout_s=5.0)
            # Not held: the bot may hold again (and resume has nothing to take off hold).
            ack = await bot.ask("resume", {"sessionId": sid})
            assert ack["success"], ack
            assert (await bot.ask("hangup", {"sessionId": sid}))["success"]
            await bot.until("hangup", {"sessionId": sid})
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
    finally:
        transport.close()
    assert [(name, data) for name, _, data in got] == [
        ("holdFailed", {"sessionId": sid, "action": "hold", "sipStatus": 488}),
        ("checkPoint", {"sessionId": sid, "name": "said", "status": "played"}),
    ]
    # After the refusal the bot's tone went on to the far party.
    assert tone_of(heard.between(failed_at, loop.time())) == pytest.approx(TONE_HZ, abs=5)
