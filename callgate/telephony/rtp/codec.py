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
from callgate.media.pcm import SAMPLES_PER_FRAME

PCMU: Final = 0
PCMA: Final = 8
COMFORT_NOISE: Final = 13
"""RFC 3389 comfort noise: no audio of ours, played as silence."""
G711_PAYLOAD_TYPES: Final = (PCMU, PCMA)

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


def _lookup(table: npt.NDArray[np.generic], item: np.dtype[np.generic]) -> Codec:
    """Each item of the input (`item`: a PCM16 sample or a G.711 code) replaced by its entry."""
    take = table.take
    frombuffer = np.frombuffer

    def convert(data: bytes | bytearray | memoryview) -> bytes:
        converted: bytes = take(frombuffer(data, item)).tobytes()
        return converted

    return convert


def _joined(convert: Codec) -> BatchCodec:
    def convert_all(chunks: list[bytes]) -> bytes:
        return convert(b"".join(chunks))

    return convert_all


ENCODERS: Final[dict[int, Codec]] = {
    PCMU: _lookup(ULAW_ENCODE_TABLE, _PCM16_AS_INDEX),
    PCMA: _lookup(ALAW_ENCODE_TABLE, _PCM16_AS_INDEX),
}
"""PCM16 LE (even byte count) → G.711 payload, by payload type."""
DECODERS: Final[dict[int, Codec]] = {
    PCMU: _lookup(ULAW_DECODE_TABLE, _CODE),
    PCMA: _lookup(ALAW_DECODE_TABLE, _CODE),
}
"""G.711 payload → PCM16 LE, by payload type."""
BATCH_ENCODERS: Final[dict[int, BatchCodec]] = {
    PCMU: _joined(ENCODERS[PCMU]),
    PCMA: _joined(ENCODERS[PCMA]),
}
"""Many PCM16 frames → their G.711 payloads, joined (a transport with many calls: one lookup per
tick instead of one per call, about 0.4 µs a frame instead of 2)."""
BATCH_DECODERS: Final[dict[int, BatchCodec]] = {
    PCMU: _joined(DECODERS[PCMU]),
    PCMA: _joined(DECODERS[PCMA]),
}
"""Many G.711 payloads → their PCM16, joined."""
