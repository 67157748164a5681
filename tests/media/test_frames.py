"""FrameSplitter: any chunking in, whole 320-byte frames out, nothing lost, nothing reordered."""

from __future__ import annotations

import numpy as np
import pytest

from callgate.media.frames import FrameSplitter
from callgate.media.pcm import FRAME_BYTES, FRAME_MS, SAMPLE_RATE_HZ, SAMPLES_PER_FRAME
from callgate.media.signals import sine_pcm16


def split(data: bytes, sizes: list[int]) -> list[bytes]:
    out, at = [], 0
    for size in sizes:
        out.append(data[at : at + size])
        at += size
    out.append(data[at:])
    return out


def run(splitter: FrameSplitter, pieces: list[bytes]) -> list[bytes]:
    frames: list[bytes] = []
    for piece in pieces:
        frames.extend(splitter.feed(piece))
    return frames


def test_units() -> None:
    assert (SAMPLE_RATE_HZ, FRAME_MS, SAMPLES_PER_FRAME, FRAME_BYTES) == (8000, 20, 160, 320)


AUDIO = sine_pcm16(440.0, 1.0)  # 16000 bytes: exactly 50 frames


@pytest.mark.parametrize(
    "chunk_bytes", [1, 3, 319, 320, 321, 641, 2560, 16000], ids=lambda n: f"{n}B"
)
def test_any_chunking_gives_the_same_frames(chunk_bytes: int) -> None:
    splitter = FrameSplitter()
    frames = run(splitter, [AUDIO[i : i + chunk_bytes] for i in range(0, len(AUDIO), chunk_bytes)])
    assert len(frames) == 50
    assert all(len(f) == FRAME_BYTES for f in frames)
    assert b"".join(frames) == AUDIO
    assert splitter.pending_bytes == 0
    assert splitter.flush() is None


def test_random_odd_chunks_keep_every_byte_in_order() -> None:
    rng = np.random.default_rng(7)
    data = AUDIO + AUDIO[:1000]
    sizes = [int(s) for s in rng.integers(0, 700, size=60)]
    splitter = FrameSplitter()
    frames = run(splitter, split(data, sizes))
    assert b"".join(frames) == data[: len(frames) * FRAME_BYTES]
    assert splitter.pending_bytes == len(data) % FRAME_BYTES


def test_flush_pads_the_last_frame_with_silence() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(AUDIO[:700]) == [AUDIO[:320], AUDIO[320:640]]
    assert splitter.pending_bytes == 60
    last = splitter.flush()
    assert last == AUDIO[640:700] + bytes(260)
    assert splitter.pending_bytes == 0


def test_flush_drops_a_dangling_half_sample() -> None:
    splitter = FrameSplitter()
    splitter.feed(b"\x01\x02\x03")
    assert splitter.flush() == b"\x01\x02" + bytes(318)
    splitter.feed(b"\x09")
    assert splitter.flush() is None


def test_odd_byte_is_completed_by_the_next_chunk() -> None:
    splitter = FrameSplitter()
    assert splitter.feed(AUDIO[:319]) == []
    assert splitter.feed(AUDIO[319:321]) == [AUDIO[:320]]
    assert splitter.pending_bytes == 1


def test_reset_forgets_pending_audio() -> None:
    splitter = FrameSplitter()
    splitter.feed(AUDIO[:300])
    splitter.reset()
    assert splitter.feed(AUDIO[1000:1320]) == [AUDIO[1000:1320]]


def test_other_frame_sizes() -> None:
    splitter = FrameSplitter(frame_bytes=160)
    assert splitter.feed(AUDIO[:480]) == [AUDIO[:160], AUDIO[160:320], AUDIO[320:480]]
    with pytest.raises(ValueError, match="even"):
        FrameSplitter(frame_bytes=321)
    with pytest.raises(ValueError, match="positive"):
        FrameSplitter(frame_bytes=0)
