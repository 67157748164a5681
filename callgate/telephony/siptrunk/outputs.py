"""What the call-control engine hands back besides SIP datagrams: media orders and trunk events.

The engine returns one ordered `list[Output]` from every entry point. The asyncio shell carries them
out in order: `Send` to the SIP transport, `MediaStart` / `MediaStop` / `MusicOnHold` to the RTP
plane, trunk events to the domain's listener.
"""

from __future__ import annotations

from dataclasses import dataclass

from callgate.calls.trunk import TrunkEvent
from callgate.telephony.sip import NegotiatedAudio, Send

__all__ = ["MediaStart", "MediaStop", "MusicOnHold", "Output"]


@dataclass(frozen=True, slots=True)
class MediaStart:
    """Send and receive RTP for `session_id` as `audio` says (also sent again when a re-INVITE or
    the answer after early media changes it). `answered`: the call is connected, so the RTP
    timeout applies (unless the peer holds the call)."""

    session_id: str
    audio: NegotiatedAudio
    answered: bool


@dataclass(frozen=True, slots=True)
class MediaStop:
    """The call's media is over: close its RTP socket and forget its frames."""

    session_id: str


@dataclass(frozen=True, slots=True)
class MusicOnHold:
    """Play the configured music on hold (or comfort silence) to the far party in place of the
    domain's frames (`playing`), or go back to the domain's frames."""

    session_id: str
    playing: bool


Output = Send | MediaStart | MediaStop | MusicOnHold | TrunkEvent
