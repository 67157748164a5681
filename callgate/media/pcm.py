"""PCM16 units and conversions shared by the media modules (8 kHz mono, 20 ms frames).

Every other media module talks in these terms: little-endian signed 16-bit samples, 8000 samples per
second, 160 samples (320 bytes) per 20 ms frame, and float32 samples where 1.0 is full scale (32768).
This is the one home of these constants for the whole package: the media tick, the playout queue,
the trunks and the wire formats import them from here.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE_HZ = 8000
FRAME_MS = 20
BYTES_PER_SAMPLE = 2
SAMPLES_PER_FRAME = SAMPLE_RATE_HZ * FRAME_MS // 1000
FRAME_BYTES = SAMPLES_PER_FRAME * BYTES_PER_SAMPLE
SILENCE_FRAME = bytes(FRAME_BYTES)
"""One 20 ms frame of PCM16 silence."""
FULL_SCALE = 32768.0
"""float 1.0 ↔ int16 32768, the same convention as FFmpeg's s16 ↔ flt conversion."""

PCM16 = np.dtype("<i2")
"""The wire sample type: explicit little-endian, whatever the host."""

FloatArray = npt.NDArray[np.float32]
Int16Array = npt.NDArray[np.int16]


def pcm16_samples(pcm16: bytes | bytearray | memoryview) -> Int16Array:
    """A read-only int16 view of PCM16 bytes (no copy); the byte count must be even."""
    if len(pcm16) % BYTES_PER_SAMPLE:
        raise ValueError(f"PCM16 needs an even byte count, got {len(pcm16)}")
    return np.frombuffer(pcm16, dtype=PCM16)


def pcm16_to_float(pcm16: bytes | bytearray | memoryview) -> FloatArray:
    """PCM16 bytes as float32 samples in [-1.0, 1.0)."""
    return pcm16_samples(pcm16).astype(np.float32) / np.float32(FULL_SCALE)


def float_to_pcm16(samples: npt.NDArray[np.floating]) -> bytes:
    """Float samples (1.0 = full scale) to PCM16 bytes, rounded to nearest and clipped."""
    scaled = np.rint(np.asarray(samples, dtype=np.float32) * np.float32(FULL_SCALE))
    np.clip(scaled, -32768.0, 32767.0, out=scaled)
    pcm16: bytes = scaled.astype(PCM16).tobytes()
    return pcm16


def pcm16_duration_s(pcm16: bytes | bytearray | memoryview, rate_hz: int = SAMPLE_RATE_HZ) -> float:
    """How long PCM16 mono audio lasts at `rate_hz`."""
    return len(pcm16) // BYTES_PER_SAMPLE / rate_hz
