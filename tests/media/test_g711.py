"""G.711 µ-law and A-law against values from the standard, and error bounds over every PCM16 value."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from callgate.media.g711 import (
    ALAW_DECODE_TABLE,
    ULAW_DECODE_TABLE,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)
from callgate.media.pcm import PCM16
from callgate.media.signals import rms_dbfs, sine_pcm16

Codec = Callable[[bytes], bytes]
ALL_PCM16 = np.arange(-32768, 32768, dtype=np.int64)
ALL_CODES = bytes(range(256))


def pcm(*values: int) -> bytes:
    return np.array(values, dtype=PCM16).tobytes()


def samples(data: bytes) -> list[int]:
    return [int(v) for v in np.frombuffer(data, dtype=PCM16)]


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xFF, 0), (0x7F, 0), (0x00, -32124), (0x80, 32124), (0xFE, 8), (0x7E, -8), (0xEF, 132)],
)
def test_ulaw_decodes_to_the_standard_values(code: int, value: int) -> None:
    assert samples(ulaw_decode(bytes([code]))) == [value]


@pytest.mark.parametrize(
    ("code", "value"),
    [(0xD5, 8), (0x55, -8), (0xAA, 32256), (0x2A, -32256), (0xD4, 24), (0xC5, 264)],
)
def test_alaw_decodes_to_the_standard_values(code: int, value: int) -> None:
    assert samples(alaw_decode(bytes([code]))) == [value]


def test_known_encodings() -> None:
    assert ulaw_encode(pcm(0, 32767, -32768, 8, -8)) == bytes([0xFF, 0x80, 0x00, 0xFE, 0x7E])
    assert alaw_encode(pcm(0, 32767, -32768, 8, -8)) == bytes([0xD5, 0xAA, 0x2A, 0xD5, 0x55])


ULAW_POSITIVE_CODES = [0xFF - i for i in range(128)]  # inverted: 0xFF is +0, 0x80 the largest
ALAW_POSITIVE_CODES = [(0x80 | i) ^ 0x55 for i in range(128)]  # even bits inverted


@pytest.mark.parametrize(
    ("table", "codes", "steps"),
    [
        (ULAW_DECODE_TABLE, ULAW_POSITIVE_CODES, [8, 16, 32, 64, 128, 256, 512, 1024]),
        (ALAW_DECODE_TABLE, ALAW_POSITIVE_CODES, [16, 16, 32, 64, 128, 256, 512, 1024]),
    ],
    ids=["ulaw", "alaw"],
)
def test_segments_double_the_step_size(
    table: npt.NDArray[np.int16], codes: list[int], steps: list[int]
) -> None:
    """The companding law itself: 8 segments of 16 levels, the step doubling from one to the next."""
    levels = [int(table[code]) for code in codes]
    for segment, step in enumerate(steps):
        assert set(np.diff(levels[segment * 16 : segment * 16 + 16])) == {step}
    assert levels == sorted(levels)


def test_tables_are_symmetric() -> None:
    positive = ALL_PCM16[ALL_PCM16 > 0]
    for encode in (ulaw_encode, alaw_encode):
        pos = np.frombuffer(encode(positive.astype(PCM16).tobytes()), np.uint8)
        neg = np.frombuffer(encode((-positive).astype(PCM16).tobytes()), np.uint8)
        assert np.array_equal(pos ^ 0x80, neg)


def test_every_code_survives_decode_then_encode() -> None:
    assert alaw_encode(alaw_decode(ALL_CODES)) == ALL_CODES
    ulaw = ulaw_encode(ulaw_decode(ALL_CODES))
    # µ-law has two zeros (+0 = 0xFF, -0 = 0x7F); both decode to 0, which encodes as +0.
    assert ulaw == ALL_CODES[:0x7F] + b"\xff" + ALL_CODES[0x80:]


@pytest.mark.parametrize(
    ("encode", "decode", "floor"),
    [(ulaw_encode, ulaw_decode, 132), (alaw_encode, alaw_decode, 256)],
    ids=["ulaw", "alaw"],
)
def test_round_trip_error_is_at_most_half_a_step(encode: Codec, decode: Codec, floor: int) -> None:
    """Over all 65536 inputs: error within half the local step, i.e. about 1/32 of the level."""
    decoded = np.frombuffer(decode(encode(ALL_PCM16.astype(PCM16).tobytes())), PCM16)
    error = np.abs(decoded.astype(np.int64) - ALL_PCM16)
    assert np.all(error <= (np.abs(ALL_PCM16) + floor) / 32)
    assert np.abs(decoded.astype(np.int64)).max() <= 32256


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_speech_level_tone_keeps_g711_signal_to_noise(encode: Codec, decode: Codec) -> None:
    tone = sine_pcm16(1000.0, 0.5, level_dbfs=-20.0)
    out = decode(encode(tone))
    noise = np.frombuffer(out, PCM16).astype(np.int64) - np.frombuffer(tone, PCM16)
    snr_db = rms_dbfs(tone) - rms_dbfs(noise.astype(np.float64) / 32768)
    assert snr_db > 35.0  # G.711 gives about 38 dB over its range


def test_accepts_bytes_bytearray_and_memoryview() -> None:
    data = pcm(100, -100, 5000)
    assert ulaw_encode(bytearray(data)) == ulaw_encode(memoryview(data)) == ulaw_encode(data)
    assert alaw_decode(bytearray(b"\xd5")) == pcm(8)


def test_empty_input_gives_empty_output() -> None:
    assert ulaw_encode(b"") == alaw_encode(b"") == ulaw_decode(b"") == alaw_decode(b"") == b""


def test_odd_byte_count_is_refused_for_pcm16() -> None:
    with pytest.raises(ValueError, match="even byte count"):
        ulaw_encode(b"\x00\x01\x02")
