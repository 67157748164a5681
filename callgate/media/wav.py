"""Stereo PCM16 WAV at the gateway's rate: the header, interleaving, and mending a cut-off file.

Recordings are written while a call runs, so the header's two sizes (RIFF and data) are patched after
every chunk; a file cut off between two patches still plays up to its last patch, and `repair`
makes the header agree with whatever whole sample frames reached the disk. Pure bytes and one
file function; the writer that owns threads and directories lives in `store/recordings.py`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from callgate.media.pcm import BYTES_PER_SAMPLE, PCM16, SAMPLE_RATE_HZ

CHANNELS = 2
BLOCK_ALIGN = CHANNELS * BYTES_PER_SAMPLE  # one sample frame: left then right
HEADER_BYTES = 44
RIFF_SIZE_AT = 4  # RIFF chunk size: the file's length minus 8
DATA_SIZE_AT = 40  # data chunk size: the audio's length
MAX_DATA_BYTES = 0xFFFFFFFF - (HEADER_BYTES - 8)  # what a 32-bit RIFF size can describe


def header(data_bytes: int, *, rate_hz: int = SAMPLE_RATE_HZ) -> bytes:
    """The canonical 44-byte header of a stereo PCM16 file with `data_bytes` of audio."""
    data_bytes = min(data_bytes, MAX_DATA_BYTES)
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        HEADER_BYTES - 8 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,  # the PCM fmt chunk's size
        1,  # WAVE_FORMAT_PCM
        CHANNELS,
        rate_hz,
        rate_hz * BLOCK_ALIGN,  # bytes per second
        BLOCK_ALIGN,
        BYTES_PER_SAMPLE * 8,
        b"data",
        data_bytes,
    )


def size_fields(data_bytes: int) -> tuple[bytes, bytes]:
    """The RIFF size and data size as written at RIFF_SIZE_AT and DATA_SIZE_AT."""
    data_bytes = min(data_bytes, MAX_DATA_BYTES)
    return struct.pack("<I", HEADER_BYTES - 8 + data_bytes), struct.pack("<I", data_bytes)


def interleave(left: Sequence[bytes], right: Sequence[bytes]) -> bytes:
    """Two equally long runs of mono PCM16 frames as one stereo block (left sample first)."""
    left_samples = np.frombuffer(b"".join(left), dtype=PCM16)
    right_samples = np.frombuffer(b"".join(right), dtype=PCM16)
    if left_samples.size != right_samples.size:
        raise ValueError(
            f"channels differ in length: {left_samples.size} and {right_samples.size} samples"
        )
    stereo = np.empty(left_samples.size * CHANNELS, dtype=PCM16)
    stereo[0::2] = left_samples
    stereo[1::2] = right_samples
    block: bytes = stereo.tobytes()
    return block


def repair(path: Path) -> int:
    """Make a cut-off file's header describe the whole sample frames it holds; returns their bytes.

    A torn last sample frame is cut off; a file too short for a header gets one with no audio.
    """
    size = path.stat().st_size
    data_bytes = max(0, size - HEADER_BYTES) // BLOCK_ALIGN * BLOCK_ALIGN
    data_bytes = min(data_bytes, MAX_DATA_BYTES)
    with path.open("r+b") as file:
        file.write(header(data_bytes))
        file.truncate(HEADER_BYTES + data_bytes)
        file.flush()
        os.fsync(file.fileno())
    return data_bytes
