"""What the RTP session hands back: events for the application, the tick's output, its timeouts."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, NamedTuple

Address = tuple[Any, ...]
"""A socket address as asyncio gives it: (host, port) for IPv4, (host, port, flow, scope) for IPv6."""


@dataclass(frozen=True, slots=True)
class AudioIn:
    """One 20 ms frame for the application: PCM16 LE, 8 kHz mono, 320 bytes.

    `concealed` is True when no packet was there to play (loss, late packets, the peer paused) and
    the frame is a fading repeat or silence; an application that forwards audio may skip those.
    """

    pcm16: bytes
    concealed: bool = False


@dataclass(frozen=True, slots=True)
class DtmfIn:
    """The far end pressed a key (RFC 4733), reported when the press starts."""

    digit: str


@dataclass(frozen=True, slots=True)
class SourceLatched:
    """Media now goes back to where the peer really sends from (symmetric RTP)."""

    address: Address
    previous: Address | None


RtpEvent = DtmfIn | SourceLatched
"""What `on_datagram` can return."""


class TickOutput(NamedTuple):
    """What one tick produces: datagrams to send now, and the frame for the application."""

    datagrams: list[tuple[bytes, Address]]
    audio: AudioIn | None
    """None until the first packet has been played out; then one frame on every tick."""


class RtpTimeout(enum.Enum):
    """Why the media is considered dead (the call should end)."""

    NO_MEDIA = "no-media"
    """No RTP packet was ever accepted: wrong address, firewall, one-way NAT."""
    MEDIA_STOPPED = "media-stopped"
    """RTP flowed, then stopped: the peer or the network is gone."""
