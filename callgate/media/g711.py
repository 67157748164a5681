"""G.711 µ-law and A-law companding (ITU-T G.711) between PCM16 bytes and 8-bit codes.

Both laws are sign-magnitude: 1 sign bit, 3 segment (exponent) bits, 4 step (mantissa) bits. Each
segment doubles the step size of the one below it, so the quantisation error grows with the level and
the signal-to-noise ratio stays roughly constant (about 38 dB) over the speech range.

- µ-law works on a 14-bit magnitude. Adding a bias of 33 (132 in 16-bit units) makes every segment
  start at a power of two, so the segment is the position of the top bit. Codes are sent inverted, which
  makes 0xFF the code for +0 and 0x00 for the most negative value (-32124).
- A-law works on a 13-bit magnitude; segment 0 and 1 share the same step. Codes are sent with the even
  bits inverted (XOR 0x55), so 0xD5 is the smallest positive value (+8) and 0x55 the smallest negative.

Decoding returns the middle of the quantisation interval, so |x - decode(encode(x))| is at most half a
step. The 16-bit input is reduced to a magnitude before quantising: +x and -x get codes that differ
only in the sign bit, which is what the standard's sign-magnitude tables describe.

Both directions are table lookups built once at import: 256 entries to decode, 65536 (one per PCM16
value) to encode, indexed with numpy, bytes in and bytes out.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from callgate.media.pcm import PCM16, pcm16_samples

ULAW_BIAS: Final = 132
ULAW_CLIP: Final = 32635
"""Largest magnitude µ-law can represent once the bias is added (32635 + 132 < 2**15)."""
ALAW_XOR: Final = 0x55

_SIGN_BIT: Final = 0x80


def _segment(magnitude: npt.NDArray[np.int64], first_boundary: int) -> npt.NDArray[np.int64]:
    """Index of the segment holding each magnitude; segment k+1 starts at `first_boundary << k`."""
    boundaries = first_boundary << np.arange(7, dtype=np.int64)
    return np.searchsorted(boundaries, magnitude, side="right").astype(np.int64)


def _build_ulaw_decode() -> npt.NDArray[np.int16]:
    inverted = np.arange(256, dtype=np.int64) ^ 0xFF
    segment = (inverted >> 4) & 0x7
    step = inverted & 0xF
    # Middle of the interval, in biased units: ((16 + step) * 8 + 4) << segment, then remove the bias.
    magnitude = (((step << 3) + ULAW_BIAS) << segment) - ULAW_BIAS
    values = np.where(inverted & _SIGN_BIT, -magnitude, magnitude)
    return values.astype(np.int16)


def _build_ulaw_encode() -> npt.NDArray[np.uint8]:
    values = np.arange(65536, dtype=np.int64).astype(np.uint16).view(np.int16).astype(np.int64)
    magnitude = np.minimum(np.abs(values), ULAW_CLIP) + ULAW_BIAS
    segment = _segment(magnitude, 256)
    step = (magnitude >> (segment + 3)) & 0xF
    sign = np.where(values < 0, _SIGN_BIT, 0)
    codes: npt.NDArray[np.uint8] = ((sign | (segment << 4) | step) ^ 0xFF).astype(np.uint8)
    return codes


def _build_alaw_decode() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int64) ^ ALAW_XOR
    segment = (code >> 4) & 0x7
    step = code & 0xF
    # 13-bit magnitude: segment 0 is (2*step + 1); segment s >= 1 is ((16 + step) * 2 + 1) << (s - 1).
    in_segment_0 = (step << 1) + 1
    upper = (((16 + step) << 1) + 1) << np.maximum(segment - 1, 0)
    magnitude = np.where(segment == 0, in_segment_0, upper) << 3
    values = np.where(code & _SIGN_BIT, magnitude, -magnitude)
    return values.astype(np.int16)


def _build_alaw_encode() -> npt.NDArray[np.uint8]:
    values = np.arange(65536, dtype=np.int64).astype(np.uint16).view(np.int16).astype(np.int64)
    magnitude = np.minimum(np.abs(values), 32767) >> 3
    segment = _segment(magnitude, 32)
    step = (magnitude >> np.maximum(segment, 1)) & 0xF
    sign = np.where(values >= 0, _SIGN_BIT, 0)
    codes: npt.NDArray[np.uint8] = ((sign | (segment << 4) | step) ^ ALAW_XOR).astype(np.uint8)
    return codes


def _frozen(table: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    table.flags.writeable = False
    return table


ULAW_DECODE_TABLE: Final = _frozen(_build_ulaw_decode().astype(PCM16))
ULAW_ENCODE_TABLE: Final = _frozen(_build_ulaw_encode())
ALAW_DECODE_TABLE: Final = _frozen(_build_alaw_decode().astype(PCM16))
ALAW_ENCODE_TABLE: Final = _frozen(_build_alaw_encode())


def _encode(pcm16: bytes | bytearray | memoryview, table: npt.NDArray[np.generic]) -> bytes:
    # Index with the unsigned view of each sample: one lookup per sample, no arithmetic.
    return table[pcm16_samples(pcm16).view(np.uint16)].tobytes()


def _decode(codes: bytes | bytearray | memoryview, table: npt.NDArray[np.generic]) -> bytes:
    return table[np.frombuffer(codes, dtype=np.uint8)].tobytes()


def ulaw_encode(pcm16: bytes | bytearray | memoryview) -> bytes:
    """PCM16 little-endian (even byte count) to µ-law, one byte per sample."""
    return _encode(pcm16, ULAW_ENCODE_TABLE)


def ulaw_decode(codes: bytes | bytearray | memoryview) -> bytes:
    """µ-law codes to PCM16 little-endian, two bytes per code."""
    return _decode(codes, ULAW_DECODE_TABLE)


def alaw_encode(pcm16: bytes | bytearray | memoryview) -> bytes:
    """PCM16 little-endian (even byte count) to A-law, one byte per sample."""
    return _encode(pcm16, ALAW_ENCODE_TABLE)


def alaw_decode(codes: bytes | bytearray | memoryview) -> bytes:
    """A-law codes to PCM16 little-endian, two bytes per code."""
    return _decode(codes, ALAW_DECODE_TABLE)
