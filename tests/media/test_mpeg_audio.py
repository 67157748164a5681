"""MPEG audio headers and tags, checked against hand-assembled bytes from the standard's tables."""

from __future__ import annotations

import pytest

from callgate.media.mpeg_audio import (
    id3v2_tag_bytes,
    parse_frame_header,
    parse_info_tag,
)
from tests.media.mp3_material import tone_mp3


@pytest.mark.parametrize(
    ("header", "version", "rate_hz", "kbps", "channels", "frame_bytes", "samples"),
    [
        ("FFFB9000", "1", 44100, 128, 2, 417, 1152),  # the classic 128k stereo frame
        ("FFFB9200", "1", 44100, 128, 2, 418, 1152),  # same, padded
        ("FFFBE4C0", "1", 48000, 320, 1, 960, 1152),
        ("FFFA9000", "1", 44100, 128, 2, 417, 1152),  # CRC-protected
        ("FFF348C4", "2", 16000, 32, 1, 144, 576),
        ("FFF38000", "2", 22050, 64, 2, 208, 576),
        ("FFE318C4", "2.5", 8000, 8, 1, 72, 576),
    ],
)
def test_valid_headers(
    header: str,
    version: str,
    rate_hz: int,
    kbps: int,
    channels: int,
    frame_bytes: int,
    samples: int,
) -> None:
    parsed = parse_frame_header(bytes.fromhex(header))
    assert parsed is not None
    assert (parsed.version, parsed.sample_rate_hz, parsed.bitrate_kbps) == (version, rate_hz, kbps)
    assert (parsed.channels, parsed.frame_bytes, parsed.samples_per_frame) == (
        channels,
        frame_bytes,
        samples,
    )
    assert parsed.has_crc == (header[3] == "A")


@pytest.mark.parametrize(
    "header",
    [
        "FFFD9000",  # layer II
        "FFFF9000",  # layer I
        "FFEB9000",  # reserved version
        "FFFB0000",  # free format
        "FFFBF000",  # bitrate index 15
        "FFFB9C00",  # reserved sample rate
        "FFFB9002",  # reserved emphasis
        "FF7B9000",  # broken sync
        "FFFB90",  # too short
    ],
)
def test_invalid_headers(header: str) -> None:
    assert parse_frame_header(bytes.fromhex(header)) is None


def test_stream_key_ignores_bitrate_and_padding_but_not_rate_or_mono() -> None:
    def key(hex_header: str) -> int:
        parsed = parse_frame_header(bytes.fromhex(hex_header))
        assert parsed is not None
        return parsed.stream_key

    assert key("FFFB9000") == key("FFFBB200") == key("FFFB9040")  # bitrate, padding, joint stereo
    assert key("FFFB9000") != key("FFFB9400")  # 48 kHz
    assert key("FFFB9000") != key("FFFB90C0")  # mono


def test_id3v2_sizes_are_syncsafe() -> None:
    assert id3v2_tag_bytes(b"ID3\x03\x00\x00\x00\x00\x02\x01") == 10 + 257
    assert id3v2_tag_bytes(b"ID3\x04\x00\x10\x00\x00\x00\x05") == 10 + 5 + 10  # v2.4 footer
    assert id3v2_tag_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x80") is None  # not syncsafe
    assert id3v2_tag_bytes(b"ID3\x04\x00\x00\x00") is None  # incomplete header
    assert id3v2_tag_bytes(b"xxID3\x04\x00\x00\x00\x00\x00\x00", 2) == 10


def test_info_frame_of_an_encoded_file() -> None:
    data = tone_mp3(44100, 2)
    tag = id3v2_tag_bytes(data)
    assert tag is not None
    header = parse_frame_header(data, tag)
    assert header is not None
    info = parse_info_tag(data[tag : tag + header.frame_bytes], header)
    assert info is not None
    # 1 s at 44.1 kHz in 1152-sample frames after LAME's 576-sample delay: 40 frames.
    assert (info.frame_count, info.encoder_delay) == (40, 576)
    assert info.total_samples(1152) == 44100
    assert info.leading_samples() == 576 + 529
    first_audio = tag + header.frame_bytes
    next_header = parse_frame_header(data, first_audio)
    assert next_header is not None
    assert (
        parse_info_tag(data[first_audio : first_audio + next_header.frame_bytes], next_header)
        is None
    )
