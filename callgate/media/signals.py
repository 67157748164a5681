"""Test and demo signals (tones, speech-like audio, silence) and the measurements tests make on audio.

Tests assert what a caller would hear: the right pitch (`dominant_frequency_hz`), the right loudness
(`rms_dbfs`), and that an echo is what was sent (`align`: lag and normalised correlation peak).

Levels follow AES17: a full-scale sine is 0 dBFS, so a sine at `level_dbfs` has a peak amplitude of
10 ** (level_dbfs / 20) and `rms_dbfs` of it reads `level_dbfs` again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Final

import numpy as np
import numpy.typing as npt

from callgate.media.pcm import SAMPLE_RATE_HZ, FloatArray, float_to_pcm16, pcm16_to_float

Audio = bytes | bytearray | memoryview | npt.NDArray[np.floating]
"""PCM16 bytes, or float samples (1.0 = full scale)."""

SQRT2: Final = math.sqrt(2.0)


def _as_float(audio: Audio) -> npt.NDArray[np.float64]:
    if isinstance(audio, bytes | bytearray | memoryview):
        return pcm16_to_float(audio).astype(np.float64)
    return np.asarray(audio, dtype=np.float64)


def amplitude(level_dbfs: float) -> float:
    """Peak amplitude (1.0 = full scale) of a sine at `level_dbfs`."""
    return float(10.0 ** (level_dbfs / 20.0))


# --- generators --------------------------------------------------------------------------------


def sine(
    freq_hz: float,
    duration_s: float,
    *,
    rate_hz: int = SAMPLE_RATE_HZ,
    level_dbfs: float = -6.0,
    phase_rad: float = 0.0,
) -> FloatArray:
    """A sine tone as float32 samples."""
    n = np.arange(round(duration_s * rate_hz), dtype=np.float64)
    tone = amplitude(level_dbfs) * np.sin(2.0 * np.pi * freq_hz * n / rate_hz + phase_rad)
    return tone.astype(np.float32)


def sine_pcm16(
    freq_hz: float, duration_s: float, *, rate_hz: int = SAMPLE_RATE_HZ, level_dbfs: float = -6.0
) -> bytes:
    """A sine tone as PCM16 bytes."""
    return float_to_pcm16(sine(freq_hz, duration_s, rate_hz=rate_hz, level_dbfs=level_dbfs))


def silence_pcm16(duration_s: float, *, rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    """Digital silence as PCM16 bytes."""
    return bytes(2 * round(duration_s * rate_hz))


_VOWEL_FORMANTS_HZ: Final = (  # F1, F2, F3 of adult vowels, roughly: /a/ /e/ /i/ /o/ /u/ /ə/
    (730.0, 1090.0, 2440.0),
    (530.0, 1840.0, 2480.0),
    (270.0, 2290.0, 3010.0),
    (570.0, 840.0, 2410.0),
    (300.0, 870.0, 2240.0),
    (500.0, 1500.0, 2500.0),
)
_FORMANT_BANDWIDTH_HZ: Final = (90.0, 110.0, 170.0)
_FORMANT_GAIN: Final = (1.0, 0.5, 0.25)


def _formant_gain(
    freq_hz: npt.NDArray[np.float64], formants_hz: tuple[float, ...]
) -> npt.NDArray[np.float64]:
    """Spectral envelope: one resonance per formant over a -6 dB/octave source tilt."""
    gain = np.zeros_like(freq_hz)
    for centre, bandwidth, weight in zip(
        formants_hz, _FORMANT_BANDWIDTH_HZ, _FORMANT_GAIN, strict=True
    ):
        gain += weight / np.sqrt(1.0 + ((freq_hz - centre) / (bandwidth / 2.0)) ** 2)
    return gain * (100.0 / np.maximum(freq_hz, 100.0))


def _fricative_gain(freq_hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return (freq_hz > 2000.0).astype(np.float64)


def speech_like(
    duration_s: float,
    *,
    rate_hz: int = SAMPLE_RATE_HZ,
    level_dbfs: float = -20.0,
    seed: int = 0,
) -> FloatArray:
    """Deterministic audio with the structure of speech, for tests that must not mistake it for tones.

    Syllables of 120-300 ms, about four a second, each with a raised-cosine envelope. Most are voiced: a
    gliding pitch (90-240 Hz, with vibrato) whose harmonics are shaped by the formants of a vowel, plus
    a little breath noise; the rest are fricatives (noise above 2 kHz). This is the classic DTMF talk-off
    hazard: harmonics sweeping through the DTMF frequencies. `level_dbfs` is the RMS level (AES17).
    """
    rng = np.random.default_rng(seed)
    total = round(duration_s * rate_hz)
    out = np.zeros(total, dtype=np.float64)
    nyquist_hz = rate_hz / 2.0
    start = 0
    while start < total:
        length = min(int(rng.uniform(0.12, 0.30) * rate_hz), total - start)
        pause = int(rng.uniform(0.02, 0.10) * rate_hz)
        t = np.arange(length) / rate_hz
        if rng.random() < 0.8:
            formants = _VOWEL_FORMANTS_HZ[rng.integers(len(_VOWEL_FORMANTS_HZ))]
            f0_start, f0_end = rng.uniform(90.0, 240.0, size=2)
            vibrato = 1.0 + 0.03 * np.sin(2.0 * np.pi * rng.uniform(4.0, 6.0) * t)
            f0 = np.linspace(f0_start, f0_end, length) * vibrato
            phase = 2.0 * np.pi * np.cumsum(f0) / rate_hz
            harmonics = np.arange(1, int(min(nyquist_hz, 3800.0) / min(f0_start, f0_end)) + 1)
            freqs = np.outer(f0, harmonics)
            gains = _formant_gain(freqs, formants) * (freqs < nyquist_hz * 0.95)
            offsets = rng.uniform(0.0, 2.0 * np.pi, size=len(harmonics))
            # float32 halves the cost of the sines; phases stay small within one syllable.
            angles = (np.outer(phase, harmonics) + offsets).astype(np.float32)
            voiced = (gains * np.sin(angles)).sum(axis=1)
            breath = _shaped_noise(
                rng, length, rate_hz, partial(_formant_gain, formants_hz=formants)
            )
            segment = voiced / (np.std(voiced) + 1e-12) + 0.15 * breath
        else:
            segment = _shaped_noise(rng, length, rate_hz, _fricative_gain) * 0.5
        envelope = np.sin(np.pi * np.arange(length) / max(length, 1)) ** 2
        out[start : start + length] = segment * envelope * rng.uniform(0.5, 1.0)
        start += length + pause
    rms = float(np.sqrt(np.mean(out**2))) if total else 0.0
    if rms > 0.0:
        out *= amplitude(level_dbfs) / SQRT2 / rms
    return out.astype(np.float32)


def speech_like_pcm16(
    duration_s: float, *, rate_hz: int = SAMPLE_RATE_HZ, level_dbfs: float = -20.0, seed: int = 0
) -> bytes:
    """`speech_like` as PCM16 bytes."""
    return float_to_pcm16(
        speech_like(duration_s, rate_hz=rate_hz, level_dbfs=level_dbfs, seed=seed)
    )


def _shaped_noise(
    rng: np.random.Generator,
    length: int,
    rate_hz: int,
    gain: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]],
) -> npt.NDArray[np.float64]:
    """White noise filtered in the frequency domain by `gain(freq_hz)`, normalised to unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    freqs = np.fft.rfftfreq(length, 1.0 / rate_hz).astype(np.float64)
    noise = np.fft.irfft(spectrum * gain(freqs), n=length)
    return noise / (np.std(noise) + 1e-12)


# --- measurements ------------------------------------------------------------------------------


def rms_dbfs(audio: Audio) -> float:
    """RMS level in dBFS (AES17: a full-scale sine reads 0); -inf for digital silence or no samples."""
    samples = _as_float(audio)
    if not samples.size:
        return -math.inf
    rms = float(np.sqrt(np.mean(samples**2)))
    return 20.0 * math.log10(rms * SQRT2) if rms > 0.0 else -math.inf


def dominant_frequency_hz(audio: Audio, *, rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """The strongest frequency, to a fraction of a bin (Hann window, parabolic peak on log power)."""
    samples = _as_float(audio)
    if samples.size < 4:
        raise ValueError("need at least 4 samples to estimate a frequency")
    samples = samples - samples.mean()
    power = np.abs(np.fft.rfft(samples * np.hanning(samples.size))) ** 2
    peak = int(np.argmax(power[1:])) + 1
    offset = 0.0
    if peak < power.size - 1:
        left, centre, right = np.log(power[peak - 1 : peak + 2] + 1e-30)
        curvature = left - 2.0 * centre + right
        offset = 0.5 * (left - right) / curvature if curvature < 0.0 else 0.0
    return float((peak + offset) * rate_hz / samples.size)


@dataclass(frozen=True, slots=True)
class Alignment:
    """Where `reference` best matches inside `received`."""

    lag_samples: int
    """How many samples later the reference appears in the received signal (negative: earlier)."""
    peak: float
    """Normalised cross-correlation at that lag: 1.0 for an exact delayed copy and nothing else."""


def align(reference: Audio, received: Audio) -> Alignment:
    """Cross-correlate two signals (FFT, full overlap range) and report the best lag and its peak."""
    ref, rec = _as_float(reference), _as_float(received)
    if not ref.size or not rec.size:
        raise ValueError("cannot align empty signals")
    size = 1 << (ref.size + rec.size - 1).bit_length()
    correlation = np.fft.irfft(np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size)), size)
    # Index i holds lag i for i < rec.size, and lag i - size (reference later than received) above.
    lags = np.concatenate((np.arange(rec.size), np.arange(-(ref.size - 1), 0)))
    values = np.concatenate((correlation[: rec.size], correlation[size - ref.size + 1 :]))
    best = int(np.argmax(values))
    norm = math.sqrt(float(np.dot(ref, ref)) * float(np.dot(rec, rec)))
    return Alignment(lag_samples=int(lags[best]), peak=float(values[best]) / norm if norm else 0.0)
