"""Write RTP streams as pcap files for sipp's `play_pcap_audio` (libpcap format, Ethernet framing).

sipp replays each packet's UDP payload at its recorded time offset towards the call's media
address; addresses and ports in the file do not matter, only payloads and timestamps.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

from callgate.media.g711 import ulaw_encode
from callgate.media.pcm import FRAME_BYTES
from callgate.media.signals import sine_pcm16

_GLOBAL_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # LINKTYPE_ETHERNET
_ETHERNET = bytes(6) + bytes(6) + b"\x08\x00"


def _ipv4_udp(payload: bytes, src_port: int, dst_port: int) -> bytes:
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    loopback = bytes([127, 0, 0, 1])
    # version/IHL, TOS, length, id, flags/offset, TTL, protocol 17 (UDP), checksum, addresses
    header = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, loopback, loopback
    )
    return header + udp


def write_pcap(path: Path, packets: Iterable[tuple[float, bytes]]) -> Path:
    """`packets`: (seconds from the start, RTP datagram)."""
    out = bytearray(_GLOBAL_HEADER)
    for offset_s, datagram in packets:
        frame = _ETHERNET + _ipv4_udp(datagram, 6000, 6000)
        micros = round(offset_s * 1_000_000)
        out += struct.pack("<IIII", micros // 1_000_000, micros % 1_000_000, len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))
    return path


def tone_pcap(path: Path, freq_hz: float, duration_s: float, *, ssrc: int = 0x5EED) -> Path:
    """A PCMU tone, 20 ms packets, marker bit on the first."""
    pcm = sine_pcm16(freq_hz, duration_s, level_dbfs=-12.0)
    packets = []
    for index in range(len(pcm) // FRAME_BYTES):
        frame = pcm[index * FRAME_BYTES : (index + 1) * FRAME_BYTES]
        header = struct.pack(
            "!BBHII", 0x80, (0x80 if index == 0 else 0) | 0, index & 0xFFFF, 160 * index, ssrc
        )
        packets.append((index * 0.020, header + ulaw_encode(frame)))
    return write_pcap(path, packets)
