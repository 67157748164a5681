"""The `Trunk` interface: where calls physically go (the simulated carrier, or SIP).

The domain drives a trunk with commands and hears back through `TrunkEvent`s. Commands never block and
never raise for a call the trunk no longer knows: calls end on both sides independently.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from callgate.calls.quality import MediaQuality


@dataclass(frozen=True, slots=True)
class TrunkRinging:
    session_id: str
    early_media: bool = False


@dataclass(frozen=True, slots=True)
class TrunkAnswered:
    session_id: str


@dataclass(frozen=True, slots=True)
class TrunkHangup:
    """The far end or the network ended the call. `cause` is Q.850; `by_remote` is False when the
    network, not the far party, ended it (timeouts, failures)."""

    session_id: str
    cause: int
    by_remote: bool = True


@dataclass(frozen=True, slots=True)
class TrunkAudio:
    """One 20 ms frame from the far party: PCM16 LE, 8 kHz mono, 320 bytes."""

    session_id: str
    frame: bytes


@dataclass(frozen=True, slots=True)
class TrunkDtmf:
    session_id: str
    digit: str


@dataclass(frozen=True, slots=True)
class TrunkIncomingCall:
    session_id: str
    caller_id: str
    did_number: str
    headers: tuple[tuple[str, str], ...] = ()  # the offer's X- headers (SIP), as received


@dataclass(frozen=True, slots=True)
class TrunkMediaQuality:
    """What the call's media measured, sent once when its media ends: before the call's
    `TrunkHangup`, or from within `hangup()` for a call the domain ends, so the closing record has it."""

    session_id: str
    quality: MediaQuality


@dataclass(frozen=True, slots=True)
class TrunkDeadAir:
    """No RTP from the far end for `ms` (the RTP timeout): sent just before the trunk ends the
    call (BYE, then `TrunkHangup` with the timeout's cause), so listening clients hear why."""

    session_id: str
    ms: int


@dataclass(frozen=True, slots=True)
class TrunkTransfer:
    """How a blind transfer of the call goes (SIP: the REFER's answer, then the far end's
    NOTIFYs): `state` is trying, ringing, succeeded or failed; `sip_status` the status that
    said so (None when none did). After succeeded or failed nothing more follows; the call
    itself stays up until the domain ends it."""

    session_id: str
    state: str
    sip_status: int | None


@dataclass(frozen=True, slots=True)
class TrunkHold:
    """The call went on hold or came off it. `by_remote`: the far end's offer did it (SIP: a
    re-INVITE or UPDATE with sendonly or inactive, then sendrecv again); else the far end
    accepted our own `hold` / `resume` (`HoldsCalls`)."""

    session_id: str
    held: bool
    by_remote: bool


@dataclass(frozen=True, slots=True)
class TrunkHoldFailed:
    """The far end refused our `hold` (`held` True) or `resume` (False), or never answered it
    (`sip_status` None). The media stays as the last accepted offer settled it."""

    session_id: str
    held: bool
    sip_status: int | None


TrunkEvent = (
    TrunkRinging
    | TrunkAnswered
    | TrunkHangup
    | TrunkAudio
    | TrunkDtmf
    | TrunkIncomingCall
    | TrunkMediaQuality
    | TrunkDeadAir
    | TrunkTransfer
    | TrunkHold
    | TrunkHoldFailed
)
TrunkListener = Callable[[TrunkEvent], None]


class Trunk(Protocol):
    async def start(self, listener: TrunkListener) -> None:
        """Begin serving; every event for every call goes to `listener`."""

    async def stop(self) -> None:
        """Tear down every call and release resources."""

    def dial(
        self,
        session_id: str,
        destination: str,
        caller_id: str | None,
        *,
        headers: Sequence[tuple[str, str]] = (),
    ) -> None:
        """Call `destination`; `headers` (validated X- headers) go on the INVITE where the trunk
        has one."""

    def answer(self, session_id: str) -> None:
        """Answer an inbound call offered by `TrunkIncomingCall`."""

    def hangup(self, session_id: str, cause: int) -> None:
        """End the call (BYE, CANCEL or reject, as its state requires). No event follows."""

    def send_audio(self, session_id: str, frame: bytes) -> None:
        """Play one 20 ms PCM16 frame to the far party, now."""

    def send_dtmf(self, session_id: str, digit: str, duration_ms: int) -> None: ...


@runtime_checkable
class TransfersCalls(Protocol):
    """A trunk that can hand an answered call to another party (SIP REFER; the simulated carrier
    cannot)."""

    def transfer(self, session_id: str, target: str) -> None:
        """Ask the far end to call `target` (a number or a sip: URI) instead: `TrunkTransfer`
        events follow. Raises ValueError for a target it cannot address, before anything is sent."""


@runtime_checkable
class HoldsCalls(Protocol):
    """A trunk that can put an answered call on hold itself (SIP: a re-INVITE with sendonly,
    music on hold meanwhile; the simulated carrier cannot)."""

    def hold(self, session_id: str) -> None:
        """Offer sendonly and play music on hold: `TrunkHold` (by_remote False) or
        `TrunkHoldFailed` follows. Raises ValueError, before anything is sent, when the call
        cannot take a new offer now (not confirmed yet, another offer in progress)."""

    def resume(self, session_id: str) -> None:
        """Stop the music and offer sendrecv again: `TrunkHold` or `TrunkHoldFailed` follows.
        ValueError as for `hold`."""


@runtime_checkable
class ReportsMediaQuality(Protocol):
    """A trunk that can tell a live call's media quality so far (callQuality events): the same
    running counters its `TrunkMediaQuality` will carry into the CDR when the media ends."""

    def media_quality(self, session_id: str) -> MediaQuality | None:
        """The figures so far, or None when the call has no media (yet, or any more)."""


@dataclass(frozen=True, slots=True)
class SignallingFigures:
    """What a trunk with a signalling protocol (SIP) reports for metrics, read when scraped."""

    transactions: int
    """Live transactions (RFC 3261 §17)."""
    calls: int
    """Calls its call control holds, those still ending included."""
    retransmissions_sent: int
    """Messages sent again by retransmission timers, since it started."""
    retransmissions_received: int
    """Requests its peers sent again (answered with the same response), since it started."""
    requests_refused: int
    """Requests answered with an error or dropped unanswered (untrusted, malformed, over
    capacity), since it started."""


@runtime_checkable
class ReportsSignalling(Protocol):
    """A trunk that can say how its signalling is doing (the simulated carrier has none)."""

    def signalling_figures(self) -> SignallingFigures: ...
