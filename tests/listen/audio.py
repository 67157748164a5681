"""Test audio made by real programs: espeak-ng speech at 8 kHz (through sox), noise, tones, and
scenes that place them at known times. Onsets are measured on the clean clip before any noise."""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from callgate.media.dtmf import dtmf_tone
from callgate.media.pcm import SAMPLE_RATE_HZ
from tests.support import need_program

ONSET_LEVEL = 0.02  # of full scale, over 5 ms: where the clean clip's speech begins


@functools.cache
def speech(text: str, voice: str = "en-us", speed_wpm: int = 160) -> np.ndarray:
    """`text` spoken by espeak-ng, resampled by sox to 8 kHz mono, as float samples in [-1, 1]."""
    espeak = need_program("espeak-ng")
    sox = need_program("sox")
    wav = subprocess.run(
        [espeak, "-v", voice, "-s", str(speed_wpm), "--stdout", text],
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    raw = subprocess.run(
        [
            sox,
            "-t",
            "wav",
            "-",
            "-r",
            str(SAMPLE_RATE_HZ),
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed",
            "-t",
            "raw",
            "-",
            "norm",
            "-3",
        ],
        input=wav,
        check=True,
        capture_output=True,
        timeout=30,
    ).stdout
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float64) / 32768.0
    return trim(samples)


def trim(samples: np.ndarray) -> np.ndarray:
    """The clip from its first speech to its last (espeak-ng pads with silence)."""
    active = _active(samples)
    if not active.any():
        return samples
    first, last = int(np.argmax(active)), len(active) - int(np.argmax(active[::-1]))
    return samples[first * 40 : last * 40]


def _active(samples: np.ndarray) -> np.ndarray:
    blocks = samples[: len(samples) // 40 * 40].reshape(-1, 40)  # 5 ms
    return np.sqrt((blocks**2).mean(axis=1)) > ONSET_LEVEL


def white(duration_s: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(int(duration_s * SAMPLE_RATE_HZ))


def pink(duration_s: float, seed: int) -> np.ndarray:
    n = int(duration_s * SAMPLE_RATE_HZ)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE_HZ)
    spectrum[1:] /= np.sqrt(freqs[1:])
    spectrum[(freqs < 300) | (freqs > 3400)] = 0  # what a telephone channel carries (G.712)
    out = np.fft.irfft(spectrum, n)
    return out / out.std()


def babble(duration_s: float, seed: int) -> np.ndarray:
    """Six espeak-ng talkers at once, looped: speech-shaped noise with no single voice in it."""
    texts = (
        "we went to the market on a sunday morning",
        "the weather report said it would rain all week",
        "numbers and letters were written on the wall",
        "she asked whether the train would be late again",
        "a long list of names was read out loud",
        "the children played in the garden after lunch",
    )
    voices = ("en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-us+m5", "en-gb+f2")
    n = int(duration_s * SAMPLE_RATE_HZ)
    rng = np.random.default_rng(seed)
    out = np.zeros(n)
    for text, voice in zip(texts, voices, strict=True):
        clip = speech(text, voice)
        clip = np.tile(clip, n // len(clip) + 2)
        start = int(rng.integers(0, len(clip) - n))
        out += clip[start : start + n]
    return out / out.std()


def tone(freq_hz: float, duration_s: float, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(duration_s * SAMPLE_RATE_HZ)) / SAMPLE_RATE_HZ
    return level * np.sin(2 * np.pi * freq_hz * t)


def dtmf(digit: str, duration_ms: float = 150.0) -> np.ndarray:
    return np.frombuffer(dtmf_tone(digit, duration_ms), dtype=np.int16).astype(np.float64) / 32768


@dataclass
class Scene:
    """A far party's audio: clips placed at known times, noise under everything."""

    duration_s: float
    clips: list[tuple[float, np.ndarray, bool]]  # (start s, samples, is speech)

    def speech_onsets_ms(self) -> list[float]:
        return [start * 1000 for start, _, is_speech in self.clips if is_speech]

    def render(self, noise: str | None = None, snr_db: float = 20.0, seed: int = 1) -> bytes:
        n = int(self.duration_s * SAMPLE_RATE_HZ)
        clean = np.zeros(n)
        for start, samples, _ in self.clips:
            at = int(start * SAMPLE_RATE_HZ)
            clean[at : at + len(samples)] += samples[: n - at]
        out = clean.copy()
        if noise is not None:
            speech_parts = [s for _, s, is_speech in self.clips if is_speech]
            speech_rms = float(np.sqrt(np.mean(np.concatenate(speech_parts) ** 2)))
            make = {"white": white, "pink": pink, "babble": babble}[noise]
            out += make(self.duration_s, seed)[:n] * speech_rms / 10 ** (snr_db / 20)
        return pcm16(out)


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1 - 1 / 32768) * 32767).astype("<i2").tobytes()


def frames(pcm: bytes) -> list[bytes]:
    return [pcm[i : i + 320] for i in range(0, len(pcm) - 319, 320)]


def write_wav(path: Path, pcm: bytes) -> Path:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes(pcm)
    return path
