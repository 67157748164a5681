"""A 16-bit PCM WAV file as the gateway's audio (PCM16, 8 kHz, mono), whatever its rate and channels.

Read with the standard library's `wave`; downmixed and resampled (callgate.media.resample) when it
is not 8 kHz mono already. Used for the audio a client streams (callgate.client) and for the audio
the gateway plays itself (music on hold, callgate.media.audiofile). Writing recordings is
callgate.media.wav.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from callgate.media.pcm import SAMPLE_RATE_HZ, float_to_pcm16
from callgate.media.resample import Resampler


def wav_to_pcm16(path: Path) -> bytes:
    """A 16-bit PCM WAV file as 8 kHz mono pcm16; ValueError for any other kind of WAV."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getcomptype() != "NONE":
            raise ValueError(f"{path}: only 16-bit PCM WAV files can be played")
        channels, rate_hz = wav.getnchannels(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    if channels == 1 and rate_hz == SAMPLE_RATE_HZ:
        return raw
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    samples = samples.reshape(-1, channels)
    resampler = Resampler(rate_hz)
    out = np.concatenate([resampler.process(samples), resampler.flush()])
    return float_to_pcm16(out)
