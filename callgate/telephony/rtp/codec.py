"""G.711 RTP payloads: payload types, per-frame encode/decode on `callgate.media.g711`'s tables.

The session encodes one 20 ms frame and decodes one packet per call per tick, so these are the two
hottest lines of the media path. They index the module's 65536-entry encode and 256-entry decode
tables with `ndarray.take`, which measured twice as fast here as the general-purpose `ulaw_encode`
(its length check and fancy indexing cost more than the lookup itself on 160 samples).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from callgate.media.g711 import (
    ALAW_DECODE_TABLE,
    ALAW_ENCODE_TABLE,
    ULAW_DECODE_TABLE,
    ULAW_ENCODE_TABLE,
)
from callgate.media.pcm import FRAME_BYTES, SAMPLES_PER_FRAME

PCMU: Final = 0
PCMA: Final = 8
COMFORT_NOISE: Final = 13
"""RFC 3389 comfort noise: no audio of ours, played as silence."""
G711_PAYLOAD_TYPES: Final = (PCMU, PCMA)

SILENCE_FRAME: Final = bytes(FRAME_BYTES)
"""One 20 ms frame of PCM16 silence."""
SILENCE_PAYLOADS: Final = {
    PCMU: ULAW_ENCODE_TABLE[0:1].tobytes() * SAMPLES_PER_FRAME,  # 0xFF
    PCMA: ALAW_ENCODE_TABLE[0:1].tobytes() * SAMPLES_PER_FRAME,  # 0xD5
}
"""Encoded silence per payload type, so a tick with nothing to say costs no encoding."""

_PCM16_AS_INDEX: Final = np.dtype("<u2")  # the unsigned view of each PCM16 sample indexes the table
_CODE: Final = np.dtype(np.uint8)

Codec = Callable[[bytes | bytearray | memoryview], bytes]
BatchCodec = Callable[[list[bytes]], bytes]
"""Many chunks converted in one table lookup; the results joined, in order (slice them apart)."""


def _encoder(table: npt.NDArray[np.generic]) -> Codec:
    take = table.take
    frombuffer = np.frombuffer

    def encode(pcm16: bytes | bytearray | memoryview) -> bytes:
        codes: bytes = take(frombuffer(pcm16, _PCM16_AS_INDEX)).tobytes()
        return codes

    return encode


def _decoder(table: npt.NDArray[np.generic]) -> Codec:
    take = table.take
    frombuffer = np.frombuffer

    def decode(payload: bytes | bytearray | memoryview) -> bytes:
        pcm16: bytes = take(frombuffer(payload, _CODE)).tobytes()
        return pcm16

    return decode


def _batch(table: npt.NDArray[np.generic], item: np.dtype[np.generic]) -> BatchCodec:
    take = table.take
    frombuffer = np.frombuffer

    def convert(chunks: list[bytes]) -> bytes:
        converted: bytes = take(frombuffer(b"".join(chunks), item)).tobytes()
        return converted

    return convert


ENCODERS: Final[dict[int, Codec]] = {
    PCMU: _encoder(ULAW_ENCODE_TABLE),
    PCMA: _encoder(ALAW_ENCODE_TABLE),
}
"""PCM16 LE (even byte count) → G.711 payload, by payload type."""
DECODERS: Final[dict[int, Codec]] = {
    PCMU: _decoder(ULAW_DECODE_TABLE),
    PCMA: _decoder(ALAW_DECODE_TABLE),
}
"""G.711 payload → PCM16 LE, by payload type."""
BATCH_ENCODERS: Final[dict[int, BatchCodec]] = {
    PCMU: _batch(ULAW_ENCODE_TABLE, _PCM16_AS_INDEX),
    PCMA: _batch(ALAW_ENCODE_TABLE, _PCM16_AS_INDEX),
}
"""Many PCM16 frames → their G.711 payloads, joined (a transport with many calls: one lookup per
tick instead of one per call, about 0.4 µs a frame instead of 2)."""
BATCH_DECODERS: Final[dict[int, BatchCodec]] = {
    PCMU: _batch(ULAW_DECODE_TABLE, _CODE),
    PCMA: _batch(ALAW_DECODE_TABLE, _CODE),
}
"""Many G.711 payloads → their PCM16, joined."""
