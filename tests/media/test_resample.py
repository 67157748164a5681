"""Resampler: any rate to 8 kHz mono, streamed in chunks, pitch and level kept, no aliases."""

from __future__ import annotations

import numpy as np
import pytest

from callgate.media.resample import Resampler, downmix
from callgate.media.signals import dominant_frequency_hz, rms_dbfs, sine

RATES_HZ = [11025, 16000, 22050, 24000, 32000, 44100, 48000]


def stream(resampler: Resampler, samples: np.ndarray, chunk: int) -> np.ndarray:
    pieces = [resampler.process(samples[i : i + chunk]) for i in range(0, len(samples), chunk)]
    return np.concatenate([*pieces, resampler.flush()])


@pytest.mark.parametrize("rate_hz", RATES_HZ)
def test_rate_pitch_and_level_survive(rate_hz: int) -> None:
    tone = sine(1000.0, 1.0, rate_hz=rate_hz, level_dbfs=-6.0)
    out = stream(Resampler(rate_hz), tone, rate_hz // 50)
    assert len(out) == 8000
    assert dominant_frequency_hz(out) == pytest.approx(1000.0, abs=0.5)
    assert rms_dbfs(out[400:-400]) == pytest.approx(-6.0, abs=0.1)


@pytest.mark.parametrize("freq_hz", [300.0, 3400.0])
def test_telephone_band_edges_are_flat(freq_hz: float) -> None:
    out = stream(Resampler(44100), sine(freq_hz, 0.5, rate_hz=44100, level_dbfs=-6.0), 1152)
    assert rms_dbfs(out[400:-400]) == pytest.approx(-6.0, abs=0.2)
    assert dominant_frequency_hz(out) == pytest.approx(freq_hz, abs=1.0)


def test_tones_above_4khz_do_not_alias_into_the_call() -> None:
    """A 5 kHz tone would fold to 3 kHz, an audible whistle; it must be filtered out instead."""
    out = stream(Resampler(44100), sine(5000.0, 0.5, rate_hz=44100, level_dbfs=0.0), 1152)
    assert rms_dbfs(out[400:-400]) < -90.0  # edges excluded: switching a tone on is broadband


def test_chunked_output_equals_one_shot() -> None:
    tone = sine(700.0, 0.5, rate_hz=22050)
    one_shot = stream(Resampler(22050), tone, len(tone))
    assert np.allclose(stream(Resampler(22050), tone, 37), one_shot, atol=1e-6)


def test_stereo_is_downmixed_to_mono() -> None:
    left = sine(1000.0, 0.5, rate_hz=16000, level_dbfs=-6.0)
    same = stream(Resampler(16000), np.stack([left, left], axis=1), 320)
    assert rms_dbfs(same[400:-400]) == pytest.approx(-6.0, abs=0.1)
    opposite = stream(Resampler(16000), np.stack([left, -left], axis=1), 320)
    assert rms_dbfs(opposite) == -np.inf


def test_same_rate_passes_through() -> None:
    tone = sine(1000.0, 0.1)
    resampler = Resampler(8000)
    assert np.array_equal(resampler.process(tone), tone)
    assert resampler.flush().size == 0


def test_reset_forgets_held_audio() -> None:
    resampler = Resampler(44100)
    resampler.process(sine(1000.0, 0.2, rate_hz=44100, level_dbfs=0.0))
    resampler.reset()
    silence = np.zeros(4410, dtype=np.float32)
    assert not np.any(stream(resampler, silence, 441))


def test_downmix_shapes() -> None:
    assert downmix(np.ones((4, 1), dtype=np.float32)).shape == (4,)
    assert downmix(np.ones(4, dtype=np.float32)).shape == (4,)
    with pytest.raises(ValueError, match="shape"):
        downmix(np.ones((2, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="positive"):
        Resampler(0)


def test_downmix_is_the_mean_of_the_channels_to_the_bit() -> None:
    rng = np.random.default_rng(7)
    for channels in (2, 3, 6):
        samples = rng.uniform(-1, 1, (4410, channels)).astype(np.float32)
        assert np.array_equal(downmix(samples), samples.mean(axis=1, dtype=np.float32))
    planar = rng.uniform(-1, 1, (2, 1152)).astype(np.float32)  # as a decoder's fltp frame comes
    assert np.array_equal(downmix(planar.T), planar.T.mean(axis=1, dtype=np.float32))
