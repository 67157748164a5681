"""RTP packet parse/serialize against captured bytes, RTCP recognition, and hostile input."""

from __future__ import annotations

import contextlib
import random

import pytest

from callgate.telephony.rtp import RtpError, RtpPacket, is_rtcp, payload_bounds, rtcp_packet_types

from . import captured

RTP_CAPTURES = [
    captured.PCMU_172,
    captured.WITH_CSRC,
    captured.WITH_EXTENSION,
    captured.PADDING_AND_EXTENSION,
    captured.ALL_OPTIONS,
    captured.BROWSER_DTMF_END,
    *captured.SIPP_DTMF_1,
    *captured.PCMA_30MS,
]
RTCP_CAPTURES = [captured.RTCP_SR, captured.RTCP_RR, captured.RTCP_SDES, captured.RTCP_BYE]


def test_pcmu_packet_fields() -> None:
    packet = RtpPacket.parse(captured.PCMU_172)
    assert packet.payload_type == 0
    assert not packet.marker
    assert packet.sequence_number == 0x3D7F
    assert packet.timestamp == 0xEAAA63F4
    assert packet.ssrc == 0xF01B40E9
    assert packet.payload == b"\xff" * 160
    assert packet.csrc == ()
    assert packet.extension_profile is None
    assert packet.padding_bytes == 0


def test_dtmf_packet_with_marker() -> None:
    packet = RtpPacket.parse(captured.SIPP_DTMF_1[0])
    assert packet.marker
    assert packet.payload_type == 101
    assert packet.sequence_number == 0x1F30
    assert packet.timestamp == 0x33E0
    assert packet.payload == bytes.fromhex("010a0000")
    assert not RtpPacket.parse(captured.SIPP_DTMF_1[1]).marker


def test_pcma_30ms_packet() -> None:
    packet = RtpPacket.parse(captured.PCMA_30MS[0])
    assert (packet.payload_type, packet.sequence_number, packet.ssrc) == (8, 0xE720, 0xDEE0EE8F)
    assert len(packet.payload) == 240


def test_csrc_list() -> None:
    packet = RtpPacket.parse(captured.WITH_CSRC)
    assert packet.csrc == (0xABCDEF01, 0xDEADBEEF)
    assert packet.payload == b"\xff" * 160


def test_header_extension_is_skipped() -> None:
    packet = RtpPacket.parse(captured.WITH_EXTENSION)
    assert packet.marker
    assert packet.payload_type == 111
    assert packet.extension_profile == 0xBEDE
    assert packet.extension == bytes.fromhex("90300000")
    assert packet.payload == captured.WITH_EXTENSION[20:]


def test_padding_with_extension() -> None:
    packet = RtpPacket.parse(captured.PADDING_AND_EXTENSION)
    assert packet.padding_bytes == 224
    assert packet.payload == b""
    assert packet.extension == bytes.fromhex("22f1cc8c")


def test_csrc_extension_and_padding_together() -> None:
    packet = RtpPacket.parse(captured.ALL_OPTIONS)
    assert packet == RtpPacket(
        payload_type=0,
        sequence_number=0x1234,
        timestamp=0x12345,
        ssrc=0xDEADBEEF,
        payload=bytes.fromhex("fffefdfc7f7e7d7c"),
        marker=True,
        csrc=(0x11111111, 0x22222222),
        extension_profile=0xBEDE,
        extension=bytes.fromhex("10ab0000"),
        padding_bytes=4,
    )
    assert payload_bounds(captured.ALL_OPTIONS) == (28, 36)


@pytest.mark.parametrize("data", RTP_CAPTURES)
def test_serialize_gives_back_the_captured_bytes(data: bytes) -> None:
    assert bytes(RtpPacket.parse(data)) == data


@pytest.mark.parametrize("data", RTP_CAPTURES)
def test_memoryview_and_bytearray_parse_the_same(data: bytes) -> None:
    assert RtpPacket.parse(memoryview(data)) == RtpPacket.parse(bytearray(data))


@pytest.mark.parametrize(
    ("data", "types"),
    [
        (captured.RTCP_SR, (200,)),
        (captured.RTCP_RR, (201,)),
        (captured.RTCP_SDES, (202,)),
        (captured.RTCP_BYE, (203,)),
        (captured.RTCP_SR + captured.RTCP_SDES, (200, 202)),
    ],
)
def test_rtcp_is_recognised_and_not_parsed_as_rtp(data: bytes, types: tuple[int, ...]) -> None:
    assert is_rtcp(data)
    assert rtcp_packet_types(data) == types
    with pytest.raises(RtpError, match="RTCP"):
        RtpPacket.parse(data)


@pytest.mark.parametrize("data", RTP_CAPTURES)
def test_rtp_is_not_rtcp_even_with_marker_and_dynamic_type(data: bytes) -> None:
    # 0xE5 (marker + PT 101) is above the RTCP range 192-223 of RFC 5761.
    assert not is_rtcp(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated"),
        (captured.PCMU_172[:11], "truncated"),
        (b"\x40" + captured.PCMU_172[1:], "version 1"),
        (b"\x00" + captured.PCMU_172[1:], "version 0"),
        (captured.WITH_CSRC[:19], "CSRC"),
        (captured.WITH_EXTENSION[:13], "extension"),
        (captured.WITH_EXTENSION[:19], "runs past"),
        (b"\xa0" + captured.PCMU_172[1:-1] + b"\x00", "padding count 0"),
        (b"\xa0" + captured.PCMU_172[1:-1] + b"\xff", "padding count 255"),
        (bytes.fromhex("a000000100000002000000030d"), "padding count 13"),
    ],
)
def test_malformed_packets_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        RtpPacket.parse(data)


@pytest.mark.parametrize("data", RTP_CAPTURES + RTCP_CAPTURES)
def test_every_truncation_raises_only_rtp_error(data: bytes) -> None:
    for end in range(len(data)):
        for check in (RtpPacket.parse, payload_bounds, rtcp_packet_types):
            with contextlib.suppress(RtpError):
                check(data[:end])


def test_random_mutations_raise_only_rtp_error() -> None:
    rng = random.Random(4733)
    seeds = RTP_CAPTURES + RTCP_CAPTURES
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        data = data[: rng.randint(0, len(data))] if rng.random() < 0.3 else data
        for check in (RtpPacket.parse, rtcp_packet_types):
            with contextlib.suppress(RtpError):
                check(bytes(data))
        assert isinstance(is_rtcp(data), bool)


def test_padding_of_whole_packet_is_rejected_beyond_the_header() -> None:
    # Padding may eat the payload but never the header, CSRCs or extension.
    data = bytearray(captured.PADDING_AND_EXTENSION)
    data[-1] = len(data) - 20 + 1
    with pytest.raises(RtpError, match="padding"):
        RtpPacket.parse(bytes(data))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payload_type": 128},
        {"sequence_number": 65536},
        {"timestamp": -1},
        {"csrc": tuple(range(16))},
        {"extension": b"\x00\x00\x00\x00"},
        {"extension_profile": 0xBEDE, "extension": b"\x00"},
        {"padding_bytes": 256},
    ],
)
def test_building_an_invalid_packet_is_our_error(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "payload_type": 0,
        "sequence_number": 1,
        "timestamp": 2,
        "ssrc": 3,
        **kwargs,
    }
    with pytest.raises(ValueError):  # noqa: PT011 - a programming error, not RtpError
        RtpPacket(**fields)  # type: ignore[arg-type]
