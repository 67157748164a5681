"""RTP packets (RFC 3550 §5.1) as a frozen dataclass with `parse` and `__bytes__`, and RTCP recognition.

     0                   1                   2                   3
     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |V=2|P|X|  CC   |M|     PT      |       sequence number         |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                           timestamp                           |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                             SSRC                              |
    +=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
    |                 CSRC list (CC items, 32 bits each)            |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    | X: profile-defined id (16)    |  length in 32-bit words (16)  |
    |                 header extension (length words)               |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
    |                 payload ...   | P: padding ...  | pad count   |
    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

RTP and RTCP share one port when rtcp-mux is in use, and many peers send RTCP to the RTP port even
without it. RFC 5761 §4 separates them on the second byte: RTCP packet types 192-223 (SR 200, RR 201,
SDES 202, BYE 203, APP 204, feedback 205-206, XR 207, ...) fall where an RTP byte would hold the marker
bit and payload types 64-95, which no dynamic audio mapping may use for that reason.

The session's per-packet path does not build `RtpPacket`s: it reads the fixed header with `HEADER`
and calls `payload_bounds` only when the first byte says there is more than a bare header. The
dataclass is for tests, tools and the rare packet someone wants to look at.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

RTP_VERSION: Final = 2
HEADER_BYTES: Final = 12
HEADER: Final = struct.Struct("!BBHII")
"""First byte, second byte, sequence number, timestamp, SSRC."""
PLAIN_FIRST_BYTE: Final = RTP_VERSION << 6
"""Version 2 with no padding, no extension and no CSRC: the shape of nearly every audio packet."""

RTCP_TYPES: Final = range(192, 224)
"""Second-byte values that mark RTCP on a shared port (RFC 5761 §4)."""

_PADDING_BIT: Final = 0x20
_EXTENSION_BIT: Final = 0x10
_CC_MASK: Final = 0x0F
_MARKER_BIT: Final = 0x80
_PT_MASK: Final = 0x7F
_EXTENSION_HEADER: Final = struct.Struct("!HH")
_RTCP_HEADER: Final = struct.Struct("!BBH")


class RtpError(ValueError):
    """The peer sent bytes that are not an acceptable RTP/RTCP packet; drop them and count it."""


Buffer = bytes | bytearray | memoryview


def payload_bounds(data: Buffer) -> tuple[int, int]:
    """(start, end) of the payload in an RTP packet, after CSRCs and extension, before padding.

    Raises `RtpError` for anything that is not a well-formed version 2 RTP packet (RTCP included).
    """
    size = len(data)
    if size < 2:
        raise RtpError(f"RTP packet truncated: {size} bytes")
    first = data[0]
    if first >> 6 != RTP_VERSION:
        raise RtpError(f"RTP version {first >> 6}, expected {RTP_VERSION}")
    if data[1] in RTCP_TYPES:
        raise RtpError(f"RTCP packet type {data[1]}, not RTP")
    if size < HEADER_BYTES:
        raise RtpError(f"RTP packet truncated: {size} bytes, the fixed header needs {HEADER_BYTES}")
    start = HEADER_BYTES + 4 * (first & _CC_MASK)
    if start > size:
        raise RtpError(f"RTP packet truncated inside its CSRC list ({size} < {start} bytes)")
    if first & _EXTENSION_BIT:
        if start + 4 > size:
            raise RtpError("RTP packet truncated inside its header extension header")
        _, words = _EXTENSION_HEADER.unpack_from(data, start)
        start += 4 + 4 * words
        if start > size:
            raise RtpError(f"RTP header extension of {words} words runs past the packet end")
    end = size
    if first & _PADDING_BIT:
        # The last byte counts the padding, itself included, so 0 is as malformed as too many.
        padding = data[size - 1]
        if padding == 0 or padding > size - start:
            raise RtpError(
                f"RTP padding count {padding} does not fit the {size - start} bytes left"
            )
        end = size - padding
    return start, end


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet; `bytes(packet)` writes exactly what `parse` read when the padding was zeros."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension_profile: int | None = None
    """The 16-bit profile id of the header extension (0xBEDE for RFC 8285 one-byte headers)."""
    extension: bytes = b""
    """The extension data after its 4-byte header, a multiple of 4 bytes; we never interpret it."""
    padding_bytes: int = 0
    """Padding after the payload, count byte included (0 = no padding)."""

    def __post_init__(self) -> None:
        if not 0 <= self.payload_type <= _PT_MASK:
            raise ValueError(f"payload type {self.payload_type} outside 0-127")
        if not 0 <= self.sequence_number <= 0xFFFF:
            raise ValueError(f"sequence number {self.sequence_number} outside 0-65535")
        if not 0 <= self.timestamp <= 0xFFFFFFFF or not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise ValueError("timestamp and SSRC are 32-bit unsigned")
        if len(self.csrc) > _CC_MASK:
            raise ValueError(f"at most 15 CSRCs, got {len(self.csrc)}")
        if self.extension_profile is None and self.extension:
            raise ValueError("extension data needs an extension_profile")
        if len(self.extension) % 4 or len(self.extension) > 4 * 0xFFFF:
            raise ValueError("extension data must be whole 32-bit words")
        if not 0 <= self.padding_bytes <= 255:
            raise ValueError(f"padding of {self.padding_bytes} bytes outside 0-255")

    @classmethod
    def parse(cls, data: Buffer) -> RtpPacket:
        """Read one RTP packet; `RtpError` (never anything else) when it is malformed or RTCP."""
        start, end = payload_bounds(data)
        first, second, seq, ts, ssrc = HEADER.unpack_from(data)
        count = first & _CC_MASK
        csrc = struct.unpack_from(f"!{count}I", data, HEADER_BYTES) if count else ()
        profile = None
        extension = b""
        if first & _EXTENSION_BIT:
            at = HEADER_BYTES + 4 * count
            profile, _ = _EXTENSION_HEADER.unpack_from(data, at)
            extension = bytes(data[at + 4 : start])
        return cls(
            payload_type=second & _PT_MASK,
            sequence_number=seq,
            timestamp=ts,
            ssrc=ssrc,
            payload=bytes(data[start:end]),
            marker=bool(second & _MARKER_BIT),
            csrc=tuple(csrc),
            extension_profile=profile,
            extension=extension,
            padding_bytes=len(data) - end,
        )

    def __bytes__(self) -> bytes:
        first = PLAIN_FIRST_BYTE | len(self.csrc)
        if self.padding_bytes:
            first |= _PADDING_BIT
        if self.extension_profile is not None:
            first |= _EXTENSION_BIT
        second = self.payload_type | (_MARKER_BIT if self.marker else 0)
        parts = [HEADER.pack(first, second, self.sequence_number, self.timestamp, self.ssrc)]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension_profile is not None:
            parts.append(_EXTENSION_HEADER.pack(self.extension_profile, len(self.extension) // 4))
            parts.append(self.extension)
        parts.append(self.payload)
        if self.padding_bytes:
            parts.append(bytes(self.padding_bytes - 1) + bytes((self.padding_bytes,)))
        return b"".join(parts)


def is_rtcp(data: Buffer) -> bool:
    """True when a datagram on the RTP port is RTCP (version 2, packet type 192-223), per RFC 5761."""
    return len(data) >= 2 and data[0] >> 6 == RTP_VERSION and data[1] in RTCP_TYPES


def rtcp_packet_types(data: Buffer) -> tuple[int, ...]:
    """Packet types in a (compound) RTCP datagram, e.g. (200, 202) for SR + SDES.

    Walks the length fields only (RFC 3550 §6.4: length in 32-bit words minus one); enough to tell
    a report from a BYE and to reject garbage, without decoding report blocks we do not use.
    """
    size = len(data)
    if size < 4:
        raise RtpError(f"RTCP packet truncated: {size} bytes")
    types: list[int] = []
    at = 0
    while at < size:
        if size - at < 4:
            raise RtpError(f"RTCP compound packet has {size - at} trailing bytes")
        first, packet_type, words = _RTCP_HEADER.unpack_from(data, at)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTCP version {first >> 6}, expected {RTP_VERSION}")
        if packet_type not in RTCP_TYPES:
            raise RtpError(f"RTCP packet type {packet_type} outside 192-223")
        at += 4 * (words + 1)
        if at > size:
            raise RtpError(f"RTCP packet type {packet_type} runs past the datagram end")
        types.append(packet_type)
    return tuple(types)
