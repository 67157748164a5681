"""The generators and measurements other tests rely on: they must measure what they claim."""

from __future__ import annotations

import math

import numpy as np
import pytest

from callgate.media.g711 import ulaw_decode, ulaw_encode
from callgate.media.pcm import float_to_pcm16, pcm16_duration_s, pcm16_to_float
from callgate.media.signals import (
    align,
    dominant_frequency_hz,
    rms_dbfs,
    silence_pcm16,
    sine_pcm16,
    speech_like,
    speech_like_pcm16,
)


@pytest.mark.parametrize(("freq_hz", "level_dbfs"), [(440.0, -6.0), (1234.5, -20.0), (3300.0, 0.0)])
def test_sine_has_its_frequency_and_level(freq_hz: float, level_dbfs: float) -> None:
    tone = sine_pcm16(freq_hz, 0.5, level_dbfs=level_dbfs)
    assert pcm16_duration_s(tone) == 0.5
    assert dominant_frequency_hz(tone) == pytest.approx(freq_hz, abs=0.2)
    assert rms_dbfs(tone) == pytest.approx(level_dbfs, abs=0.05)


def test_float_and_pcm16_conversions() -> None:
    assert (
        float_to_pcm16(np.array([0.0, 1.0, -1.0, 2.0, 0.5]))
        == np.array([0, 32767, -32768, 32767, 16384], dtype="<i2").tobytes()
    )
    assert pcm16_to_float(b"\x00\x80\xff\x7f").tolist() == [-1.0, 32767 / 32768]


def test_silence() -> None:
    assert silence_pcm16(0.02) == bytes(320)
    assert rms_dbfs(silence_pcm16(0.1)) == -math.inf
    assert rms_dbfs(b"") == -math.inf


def test_speech_like_is_deterministic_speech_band_and_syllabic() -> None:
    speech = speech_like(4.0, level_dbfs=-20.0, seed=3)
    assert np.array_equal(speech, speech_like(4.0, level_dbfs=-20.0, seed=3))
    assert not np.array_equal(speech, speech_like(4.0, level_dbfs=-20.0, seed=4))
    assert rms_dbfs(speech) == pytest.approx(-20.0, abs=0.05)
    spectrum = np.abs(np.fft.rfft(speech)) ** 2
    freqs = np.fft.rfftfreq(speech.size, 1 / 8000)
    assert spectrum[(freqs > 100) & (freqs < 3500)].sum() > 0.95 * spectrum.sum()
    # Syllables: energy in 50 ms blocks swings by more than 20 dB (pauses between syllables).
    blocks = speech[: speech.size // 400 * 400].reshape(-1, 400)
    energy_db = 10 * np.log10((blocks**2).mean(axis=1) + 1e-12)
    assert energy_db.max() - energy_db.min() > 20.0
    assert len(speech_like_pcm16(0.5)) == 8000


def test_align_finds_an_echo_and_its_delay() -> None:
    sent = speech_like_pcm16(1.0, seed=1)
    echo = silence_pcm16(0.137) + ulaw_decode(ulaw_encode(sent)) + silence_pcm16(0.05)
    result = align(sent, echo)
    assert result.lag_samples == round(0.137 * 8000)
    assert result.peak > 0.99
    early = align(echo, sent)
    assert early.lag_samples == -round(0.137 * 8000)


def test_align_tells_different_audio_apart() -> None:
    result = align(speech_like_pcm16(1.0, seed=1), speech_like_pcm16(1.0, seed=2))
    assert result.peak < 0.5


def test_measurements_refuse_empty_input() -> None:
    with pytest.raises(ValueError, match="samples"):
        dominant_frequency_hz(b"")
    with pytest.raises(ValueError, match="empty"):
        align(b"", sine_pcm16(440.0, 0.1))
