"""Whole audio files as PCM16 8 kHz mono (music on hold): each format we take, and the refusals."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from callgate.media.audiofile import read_audio_file
from callgate.media.g711 import alaw_encode, ulaw_encode
from callgate.media.signals import dominant_frequency_hz, sine_pcm16


def write_wav(path: Path, pcm16: bytes, *, rate_hz: int, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate_hz)
        wav.writeframes(pcm16)
    return path


TONE = sine_pcm16(440.0, 1.0, level_dbfs=-12.0)  # 8 kHz


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("moh.pcm", TONE),
        ("moh.raw", TONE),
        ("moh.ulaw", ulaw_encode(TONE)),
        ("moh.alaw", alaw_encode(TONE)),
    ],
)
def test_raw_formats_by_suffix(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    pcm = read_audio_file(path)
    assert len(pcm) == len(TONE)
    assert dominant_frequency_hz(pcm) == pytest.approx(440.0, abs=3)


def test_a_wav_at_another_rate_is_resampled_to_8_khz(tmp_path: Path) -> None:
    tone = sine_pcm16(440.0, 1.0, level_dbfs=-12.0, rate_hz=16_000)
    pcm = read_audio_file(write_wav(tmp_path / "moh.wav", tone, rate_hz=16_000))
    assert len(pcm) == pytest.approx(16_000, abs=64)  # one second at 8 kHz
    assert dominant_frequency_hz(pcm) == pytest.approx(440.0, abs=3)


def test_refusals_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_audio_file(tmp_path / "missing.wav")
    (tmp_path / "moh.ogg").write_bytes(b"OggS")
    with pytest.raises(ValueError, match=r"moh\.ogg: unknown audio file type"):
        read_audio_file(tmp_path / "moh.ogg")
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEjunk")
    with pytest.raises(ValueError, match=r"bad\.wav: not readable audio"):
        read_audio_file(tmp_path / "bad.wav")
    (tmp_path / "empty.pcm").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.pcm: no audio"):
        read_audio_file(tmp_path / "empty.pcm")
