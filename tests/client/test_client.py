"""callgate.client against a real `callgate serve` on the simulated carrier.

The simulated callee echoes: what we play comes back as its audio one frame (20 ms) later, so the
frequency and length of what we hear prove what was played, and when.
"""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from callgate.client import Busy, Client, Declined, NoAnswer, Played
from callgate.media.signals import dominant_frequency_hz, rms_dbfs, sine_pcm16

FRAME_BYTES = 320


def voiced(frames: list[bytes], floor_dbfs: float = -40.0) -> list[bytes]:
    return [frame for frame in frames if rms_dbfs(frame) > floor_dbfs]


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
    gateway: str, token: str, number: str, error: type, disposition: str, cause: int
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
