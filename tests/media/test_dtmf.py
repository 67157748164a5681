"""DTMF: every digit generated and detected, through G.711 too; durations, tolerances, and talk-off."""

from __future__ import annotations

import numpy as np
import pytest

from callgate.media.dtmf import (
    DIGITS,
    HIGH_GROUP_HZ,
    LOW_GROUP_HZ,
    DtmfDetector,
    detect_digits,
    digit_frequencies,
    dtmf_sequence,
    dtmf_tone,
    goertzel_powers,
)
from callgate.media.g711 import alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from callgate.media.pcm import float_to_pcm16, pcm16_samples
from callgate.media.signals import rms_dbfs, silence_pcm16, speech_like, speech_like_pcm16

SILENCE_100MS = silence_pcm16(0.1)


def tone_pair(
    digit: str,
    duration_ms: float,
    *,
    deviation: float = 0.0,
    low_dbfs: float = -12.0,
    high_dbfs: float = -10.0,
) -> bytes:
    low_hz, high_hz = digit_frequencies(digit)
    t = np.arange(round(duration_ms * 8)) / 8000
    low = 10 ** (low_dbfs / 20) * np.sin(2 * np.pi * low_hz * (1 + deviation) * t)
    high = 10 ** (high_dbfs / 20) * np.sin(2 * np.pi * high_hz * (1 + deviation) * t)
    return float_to_pcm16(low + high)


def test_keypad_frequencies() -> None:
    assert digit_frequencies("1") == (697.0, 1209.0)
    assert digit_frequencies("0") == (941.0, 1336.0)
    assert digit_frequencies("#") == (941.0, 1477.0)
    assert digit_frequencies("d") == (941.0, 1633.0)
    with pytest.raises(ValueError, match="not a DTMF digit"):
        digit_frequencies("E")
    with pytest.raises(ValueError, match="not a DTMF digit"):
        dtmf_tone("12")


def test_tone_has_the_two_frequencies_at_the_stated_levels() -> None:
    tone = dtmf_tone("5", 200.0)
    assert len(tone) == 3200
    window = pcm16_samples(tone)[160:1760].astype(np.float64)[None, :] / 32768
    powers = goertzel_powers(window, LOW_GROUP_HZ + HIGH_GROUP_HZ)[0]
    levels_dbfs = 20 * np.log10(2 * np.sqrt(powers) / window.shape[1])
    assert levels_dbfs[1] == pytest.approx(-12.0, abs=0.2)  # 770 Hz
    assert levels_dbfs[5] == pytest.approx(-10.0, abs=0.2)  # 1336 Hz
    others = np.delete(levels_dbfs, [1, 5])
    assert others.max() < -40.0
    # -12 and -10 dBFS sines together: 10·log10(10^-1.2 + 10^-1) = -7.9 dBFS.
    assert rms_dbfs(tone[160:-160]) == pytest.approx(-7.9, abs=0.1)


def test_goertzel_powers_match_the_goertzel_recurrence() -> None:
    rng = np.random.default_rng(0)
    windows = rng.standard_normal((3, 160))
    freqs = (697.0, 1336.0, 1000.5)
    expected = np.empty((3, 3))
    for i, window in enumerate(windows):
        for j, freq in enumerate(freqs):
            omega = 2 * np.pi * freq / 8000
            coeff = 2 * np.cos(omega)
            s1 = s2 = 0.0
            for x in window:
                s1, s2 = x + coeff * s1 - s2, s1
            # |X|² from the last two states, with the phase term for a non-integer bin.
            real = s1 * np.cos(omega) - s2
            imag = s1 * np.sin(omega)
            expected[i, j] = real**2 + imag**2
    assert np.allclose(goertzel_powers(windows, freqs), expected, rtol=1e-9)


def test_detector_windows_equal_goertzel_on_whole_windows() -> None:
    """The detector shares each 10 ms hop between two windows; that must not change the numbers."""
    detector = DtmfDetector()
    samples = np.random.default_rng(1).standard_normal(800)
    hops = samples.reshape(10, 80)
    windows = np.lib.stride_tricks.sliding_window_view(samples, 160)[::80]
    direct = goertzel_powers(windows, detector.probes_hz.tolist()).reshape(len(windows), 3, 8)
    assert np.allclose(detector.window_powers(hops), direct.max(axis=1), rtol=1e-9)


def test_all_sixteen_digits() -> None:
    assert detect_digits(dtmf_sequence(DIGITS)) == list(DIGITS)


def test_spec_default_200ms_digits_through_ulaw_and_alaw() -> None:
    audio = dtmf_sequence("0123456789*#ABCD", tone_ms=200.0, gap_ms=60.0)
    assert detect_digits(ulaw_decode(ulaw_encode(audio))) == list(DIGITS)
    assert detect_digits(alaw_decode(alaw_encode(audio))) == list(DIGITS)


def test_streaming_in_odd_chunks_gives_the_same_digits() -> None:
    audio = dtmf_sequence("1#9", tone_ms=80.0, gap_ms=50.0)
    detector = DtmfDetector()
    digits: list[str] = []
    for i in range(0, len(audio), 333):
        digits.extend(detector.feed(audio[i : i + 333]))
    assert digits == ["1", "#", "9"]
    detector.reset()
    assert detector.feed(audio[:1]) == []


def test_one_long_press_is_one_digit_and_two_presses_are_two() -> None:
    assert detect_digits(dtmf_tone("7", 1000.0)) == ["7"]
    assert detect_digits(dtmf_sequence("77", tone_ms=60.0, gap_ms=40.0)) == ["7", "7"]


@pytest.mark.parametrize("offset", range(0, 80, 9))
def test_duration_limits(offset: int) -> None:
    """Q.24: 40 ms tones are always recognised, 23 ms tones never, wherever they fall in a window."""
    lead = silence_pcm16(offset / 8000)
    assert detect_digits(lead + dtmf_tone("5", 40.0) + SILENCE_100MS) == ["5"]
    assert detect_digits(lead + dtmf_tone("5", 23.0) + SILENCE_100MS) == []


@pytest.mark.parametrize("deviation", [-0.015, 0.015])
def test_frequency_deviation_within_tolerance_is_accepted(deviation: float) -> None:
    found = [detect_digits(tone_pair(d, 100.0, deviation=deviation)) for d in DIGITS]
    assert found == [[d] for d in DIGITS]


@pytest.mark.parametrize("deviation", [-0.035, 0.035])
def test_frequency_deviation_beyond_tolerance_is_rejected(deviation: float) -> None:
    assert not any(detect_digits(tone_pair(d, 100.0, deviation=deviation)) for d in DIGITS)


@pytest.mark.parametrize(
    ("low_dbfs", "high_dbfs", "found"),
    [
        (-30.0, -30.0, True),
        (-40.0, -40.0, False),  # too quiet
        (-16.0, -10.0, True),  # 6 dB normal twist
        (-20.0, -10.0, False),  # 10 dB normal twist
        (-10.0, -20.0, False),  # 10 dB reverse twist
    ],
)
def test_level_and_twist(low_dbfs: float, high_dbfs: float, found: bool) -> None:
    digits = detect_digits(tone_pair("8", 100.0, low_dbfs=low_dbfs, high_dbfs=high_dbfs))
    assert digits == (["8"] if found else [])


def test_no_digits_in_speech() -> None:
    """Talk-off: two minutes of speech-like audio at a loud -15 dBFS, sweeping harmonics and all."""
    for seed in range(12):
        assert detect_digits(speech_like_pcm16(10.0, level_dbfs=-15.0, seed=seed)) == []


def test_digits_are_heard_over_speech() -> None:
    digits = dtmf_sequence("42", tone_ms=100.0, gap_ms=100.0)
    speech = speech_like(len(digits) / 16000, level_dbfs=-30.0, seed=4)
    mixed = pcm16_samples(digits) / 32768 + speech
    assert detect_digits(float_to_pcm16(mixed)) == ["4", "2"]


def test_single_tones_are_not_digits() -> None:
    for freq in LOW_GROUP_HZ + HIGH_GROUP_HZ:
        t = np.arange(800) / 8000
        assert detect_digits(float_to_pcm16(0.3 * np.sin(2 * np.pi * freq * t))) == []
