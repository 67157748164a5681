"""MPEG audio Layer III bitstream structure: frame headers, ID3 tags, and the Xing/Info/LAME frame.

`mp3.py` needs to know where frames start before it hands them to the codec: FFmpeg's MP3 decoder takes
one frame per packet, and FFmpeg leaves tags to its demuxer (its parser glues an ID3v2 tag onto the
first frame, and the decoder then rejects that packet). This module reads just enough of the bitstream
for that, from ISO/IEC 11172-3 §2.4.1.3 (MPEG-1), ISO/IEC 13818-3 (MPEG-2 half rates) and the MPEG-2.5
extension (quarter rates, down to 8 kHz):

    header = syncword:11  version:2  layer:2  no_crc:1          (0xFFE, then 00=2.5 10=2 11=1; 01=III)
             bitrate_index:4  rate_index:2  padding:1  private:1
             mode:2  mode_ext:2  copyright:1  original:1  emphasis:2
    frame_bytes = 144 * bitrate / rate + padding   (MPEG-1: 1152 samples per frame)
                   72 * bitrate / rate + padding   (MPEG-2 and 2.5: 576 samples per frame)

Free-format streams (bitrate index 0) are not supported: their frame length is not in the header.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Final

HEADER_BYTES: Final = 4
ID3V2_HEADER_BYTES: Final = 10
ID3V1_BYTES: Final = 128
MAX_FRAME_BYTES: Final = 1441
"""Largest Layer III frame: MPEG-1 at 320 kbit/s and 32 kHz (or MPEG-2 at 160 kbit/s, 16 kHz), padded."""

_RATES_HZ: Final = {  # by version bits, then rate index
    0b11: (44100, 48000, 32000),
    0b10: (22050, 24000, 16000),
    0b00: (11025, 12000, 8000),
}
_BITRATES_KBPS: Final = {  # Layer III, by "is MPEG-1", then bitrate index 1..14
    True: (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    False: (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_LAYER_III: Final = 0b01
_MODE_MONO: Final = 0b11
_EMPHASIS_RESERVED: Final = 0b10
_DECODER_DELAY_SAMPLES: Final = 529
"""Samples the Layer III synthesis filterbank (hybrid MDCT + polyphase) delays its output by."""


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """One Layer III frame header, with the lengths derived from it."""

    version: str  # "1", "2" or "2.5"
    sample_rate_hz: int
    bitrate_kbps: int
    channels: int
    has_crc: bool
    frame_bytes: int
    samples_per_frame: int
    stream_key: int
    """Header bits that stay fixed within one stream (sync, version, layer, rate, mono or not): two
    headers with different keys cannot be neighbours, which is how false syncs in junk are rejected."""

    @property
    def side_info_offset(self) -> int:
        """Where the side information (or a Xing/Info tag, which takes its place) ends."""
        if self.version == "1":
            side_info = 17 if self.channels == 1 else 32
        else:
            side_info = 9 if self.channels == 1 else 17
        return HEADER_BYTES + (2 if self.has_crc else 0) + side_info


def parse_frame_header(data: bytes | bytearray | memoryview, offset: int = 0) -> FrameHeader | None:
    """The Layer III frame header at `data[offset:offset + 4]`, or None if there is not one there."""
    if len(data) - offset < HEADER_BYTES:
        return None
    if data[offset] != 0xFF or data[offset + 1] & 0xE0 != 0xE0:
        return None
    word = int.from_bytes(data[offset : offset + HEADER_BYTES], "big")
    return _header_from_word(word)


@lru_cache(maxsize=512)
def _header_from_word(word: int) -> FrameHeader | None:
    # A stream uses a handful of distinct header words, so the cache makes this a dict lookup.
    version_bits = (word >> 19) & 0b11
    layer_bits = (word >> 17) & 0b11
    bitrate_index = (word >> 12) & 0xF
    rate_index = (word >> 10) & 0b11
    if version_bits == 0b01 or layer_bits != _LAYER_III or rate_index == 0b11:
        return None
    if bitrate_index in (0, 0xF) or word & 0b11 == _EMPHASIS_RESERVED:
        return None
    mpeg1 = version_bits == 0b11
    sample_rate_hz = _RATES_HZ[version_bits][rate_index]
    bitrate_kbps = _BITRATES_KBPS[mpeg1][bitrate_index - 1]
    padding = (word >> 9) & 1
    mono = (word >> 6) & 0b11 == _MODE_MONO
    samples_per_frame = 1152 if mpeg1 else 576
    frame_bytes = (samples_per_frame // 8) * bitrate_kbps * 1000 // sample_rate_hz + padding
    return FrameHeader(
        version={0b11: "1", 0b10: "2", 0b00: "2.5"}[version_bits],
        sample_rate_hz=sample_rate_hz,
        bitrate_kbps=bitrate_kbps,
        channels=1 if mono else 2,
        has_crc=not (word >> 16) & 1,
        frame_bytes=frame_bytes,
        samples_per_frame=samples_per_frame,
        stream_key=(word & 0xFFFE0C00) | (0xC0 if mono else 0),
    )


def id3v2_tag_bytes(data: bytes | bytearray | memoryview, offset: int = 0) -> int | None:
    """Total length of the ID3v2 tag starting at `offset` (header, body, footer), or None if none.

    Needs the 10 header bytes. The size is "syncsafe": four bytes of seven bits each.
    """
    header = bytes(data[offset : offset + ID3V2_HEADER_BYTES])
    if len(header) < ID3V2_HEADER_BYTES or header[:3] != b"ID3":
        return None
    major, revision, flags = header[3], header[4], header[5]
    size_bytes = header[6:10]
    if major == 0xFF or revision == 0xFF or any(b & 0x80 for b in size_bytes):
        return None
    size = 0
    for b in size_bytes:
        size = (size << 7) | b
    footer = ID3V2_HEADER_BYTES if major >= 4 and flags & 0x10 else 0
    return ID3V2_HEADER_BYTES + size + footer


@dataclass(frozen=True, slots=True)
class InfoTag:
    """What a Xing/Info (or VBRI) frame says about the file it starts.

    This frame holds no audio. With a LAME tag it also says how many silent samples the encoder added
    at the start (`encoder_delay`) and at the end (`end_padding`) of the `frame_count` audio frames.
    """

    frame_count: int | None = None
    encoder_delay: int | None = None
    end_padding: int | None = None

    def leading_samples(self) -> int:
        """Decoded samples before the real audio: encoder delay plus the decoder's own delay."""
        return 0 if self.encoder_delay is None else self.encoder_delay + _DECODER_DELAY_SAMPLES

    def total_samples(self, samples_per_frame: int) -> int | None:
        """How many real samples the file holds, when the tag says so."""
        if self.frame_count is None or self.encoder_delay is None or self.end_padding is None:
            return None
        total = self.frame_count * samples_per_frame - self.encoder_delay - self.end_padding
        return total if total >= 0 else None


_LAME_ENCODERS: Final = (b"LAME", b"Lavf", b"Lavc")
"""Encoder strings whose LAME tag carries trustworthy delay and padding (LAME, and FFmpeg's muxer)."""


def parse_info_tag(frame: bytes | bytearray | memoryview, header: FrameHeader) -> InfoTag | None:
    """The Xing/Info/VBRI tag in this (whole) frame, or None if it is an ordinary audio frame."""
    at = header.side_info_offset
    magic = bytes(frame[at : at + 4])
    if magic not in (b"Xing", b"Info"):
        if bytes(frame[HEADER_BYTES + 32 : HEADER_BYTES + 36]) == b"VBRI":
            return InfoTag()
        return None
    # Xing fields: flags, then frames (1), bytes (2), a 100-byte seek table (4), quality (8).
    flags = _be(frame, at + 4, 4)
    if flags is None:
        return InfoTag()
    at += 8
    frame_count = None
    if flags & 1:
        frame_count = _be(frame, at, 4)
        at += 4
    at += (4 if flags & 2 else 0) + (100 if flags & 4 else 0) + (4 if flags & 8 else 0)
    # LAME tag: encoder string (9), revision (1), lowpass (1), replay gain (8), flags (1), bitrate (1),
    # then 12 bits of encoder delay and 12 bits of end padding.
    if bytes(frame[at : at + 4]) not in _LAME_ENCODERS:
        return InfoTag(frame_count=frame_count)
    delays = _be(frame, at + 21, 3)
    if delays is None:
        return InfoTag(frame_count=frame_count)
    return InfoTag(frame_count=frame_count, encoder_delay=delays >> 12, end_padding=delays & 0xFFF)


def _be(data: bytes | bytearray | memoryview, at: int, size: int) -> int | None:
    chunk = bytes(data[at : at + size])
    return int.from_bytes(chunk, "big") if len(chunk) == size else None
