"""callgate.client against a real `callgate serve` on the simulated carrier.

The simulated callee echoes: what we play comes back as its audio one frame (20 ms) later, so the
frequency and length of what we hear prove what was played, and when.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import pytest

from callgate.client import (
    Busy,
    CallNotConnected,
    Client,
    Declined,
    Dtmf,
    Ended,
    Failed,
    Interrupted,
    NoAnswer,
    Played,
    Status,
)
from callgate.media.signals import dominant_frequency_hz, rms_dbfs, sine, sine_pcm16
from tests.client.relay import Relay
from tests.media.mp3_material import encode_mp3

FRAME_BYTES = 320


def voiced(frames: list[bytes], floor_dbfs: float = -40.0) -> list[bytes]:
    return [frame for frame in frames if rms_dbfs(frame) > floor_dbfs]


class Heard:
    """The far party's frames (an `on_audio` callback) and a way to wait for enough of them."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.voiced = 0
        self._target: tuple[int, int] | None = None  # (voiced frames, all frames)
        self._reached = asyncio.Event()

    def __call__(self, frame: bytes) -> None:
        self.frames.append(frame)
        self.voiced += rms_dbfs(frame) > -40.0
        if self._target and self.voiced >= self._target[0] and len(self.frames) >= self._target[1]:
            self._reached.set()

    async def until(self, *, voiced: int = 0, frames: int = 0) -> None:
        self._target = (voiced, frames)
        self._reached.clear()
        if self.voiced < voiced or len(self.frames) < frames:
            await asyncio.wait_for(self._reached.wait(), 10)


def wav_file(path: Path, pcm16: bytes, rate_hz: int) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate_hz)
        wav.writeframes(pcm16)
    return path


async def test_a_wav_plays_to_the_end_and_comes_back_in_the_echo(
    gateway: str, token: str, tmp_path: Path
) -> None:
    # 16 kHz: the client resamples WAV files to the gateway's 8 kHz itself
    path = wav_file(tmp_path / "tone.wav", sine_pcm16(700.0, 1.2, rate_hz=16000), 16000)
    async with Client(gateway, token) as cg:
        call = await cg.dial("0811000001")
        heard: list[bytes] = []
        call.on_audio(heard.append)
        await call.connected()
        result = await call.play(path)
        assert result == Played(duration_ms=1200)
        cdr = await call.hangup()
    echo = voiced(heard)
    assert abs(dominant_frequency_hz(b"".join(echo)) - 700.0) < 10
    assert abs(len(echo) - 60) <= 1  # 1.2 s of 20 ms frames
    assert (cdr.disposition, cdr.hangup_cause_code, cdr.hangup_by) == ("ANSWERED", 16, "CALLER")


@pytest.mark.parametrize(
    ("number", "error", "disposition", "cause"),
    [
        ("0811000486", Busy, "BUSY", 17),
        ("0811000603", Declined, "BUSY", 21),
        ("0811000480", NoAnswer, "NO ANSWER", 19),
    ],
)
async def test_an_unanswered_call_raises_with_its_cdr(
    gateway: str,
    token: str,
    number: str,
    error: type[CallNotConnected],
    disposition: str,
    cause: int,
) -> None:
    async with Client(gateway, token) as cg:
        call = await cg.dial(number)
        with pytest.raises(error) as raised:
            await call.connected()
    cdr = raised.value.cdr
    assert (cdr.session_id, cdr.disposition, cdr.hangup_cause_code) == (
        call.session_id,
        disposition,
        cause,
    )
    assert cdr.answer_time is None
    assert cdr.billable_s == 0


async def test_an_mp3_plays_to_the_end(gateway: str, token: str, tmp_path: Path) -> None:
    path = tmp_path / "tone.mp3"
    path.write_bytes(encode_mp3(sine(900.0, 1.5, rate_hz=44100), 44100))
    async with Client(gateway, token) as cg:
        call = await cg.dial("0811000002")
        heard: list[bytes] = []
        call.on_audio(heard.append)
        await call.connected()
        result = await call.play(path)
        assert result == Played(duration_ms=None)  # only the gateway decodes MP3
        await call.hangup()
    echo = voiced(heard)
    assert abs(dominant_frequency_hz(b"".join(echo)) - 900.0) < 10
    assert abs(len(echo) - 75) <= 2  # 1.5 s; the encoder's fade-in may fall under the floor


async def test_barge_in_reports_what_the_echo_shows_was_heard(gateway: str, token: str) -> None:
    async with Client(gateway, token) as cg:
        call = await cg.dial("0811000003")
        heard = Heard()
        call.on_audio(heard)
        await call.connected()
        playing = asyncio.create_task(call.play(sine_pcm16(500.0, 4.0)))
        await heard.until(voiced=40)  # 0.8 s heard
        interrupted = await call.interrupt()
        result = await playing
        # the echo of the last frame played, and silence after it
        await heard.until(frames=len(heard.frames) + 10)
        await call.hangup()
    assert isinstance(result, Interrupted)
    assert result == interrupted
    heard_ms = 20 * heard.voiced
    assert abs(result.played_ms - heard_ms) <= 20, (result, heard_ms)
    assert result.discarded_ms > 0
    assert result.played_ms + result.discarded_ms <= 4000


async def test_dtmf_both_ways_and_events_in_order(gateway: str, token: str) -> None:
    async with Client(gateway, token) as cg:
        call = await cg.dial("0811000004")
        await call.connected()
        await call.send_dtmf("1#", duration_ms=100)
        digits: list[str] = []
        statuses: list[str] = []
        async for event in call:
            if isinstance(event, Dtmf):
                digits.append(event.digit)
                if len(digits) == 2:
                    await call.hangup()
            elif isinstance(event, Status):
                statuses.append(event.status)
            elif isinstance(event, Ended):
                cdr = event.cdr
    assert digits == ["1", "#"]  # the echo callee presses back what it hears
    assert statuses[-1] == "Connected"
    assert cdr.disposition == "ANSWERED"


async def test_a_dropped_socket_is_rejoined_and_the_call_goes_on(gateway: str, token: str) -> None:
    async with Relay(int(gateway.rsplit(":", 1)[1])) as relay, Client(relay.url, token) as cg:
        call = await cg.dial("0811000005")
        heard = Heard()
        call.on_audio(heard)
        await call.connected()
        playing = asyncio.create_task(call.play(sine_pcm16(600.0, 3.0)))
        await heard.until(voiced=25)
        assert relay.drop() >= 1  # the WebSocket (and any HTTP connection) cut mid-play
        result = await playing  # its chunks waited for the reconnect, then went on
        assert result == Played(duration_ms=3000)
        assert cg.reconnects == 1
        assert call.is_connected
        before = len(heard.frames)
        assert await call.play(sine_pcm16(1200.0, 0.6)) == Played(duration_ms=600)
        cdr = await call.hangup()
    after = voiced(heard.frames[before:])
    assert abs(dominant_frequency_hz(b"".join(after)) - 1200.0) < 10
    assert abs(len(after) - 30) <= 1
    assert (cdr.disposition, cdr.hangup_by) == ("ANSWERED", "CALLER")


async def test_several_calls_on_one_connection_and_cdrs_over_pages(
    gateway: str, token: str
) -> None:
    async with Client(gateway, token) as cg:
        calls = await asyncio.gather(*(cg.dial("0811777404") for _ in range(5)))
        for call in calls:
            with pytest.raises(Failed):
                await call.connected()
        found = [
            cdr.session_id async for cdr in cg.cdrs(filter=["destination=$eq:0811777404"], limit=2)
        ]
        by_duration = [
            cdr async for cdr in cg.cdrs(filter={"destination": "$eq:0811777404"}, sort="id:ASC")
        ]
    assert sorted(found) == sorted(call.session_id for call in calls)  # three pages of 2
    assert [cdr.session_id for cdr in by_duration] == sorted(found)  # ids are time-ordered
    assert {cdr.disposition for cdr in by_duration} == {"FAILED"}
