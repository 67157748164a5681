"""Reliable provisional responses (RFC 3262, "100rel"): RSeq, RAck and PRACK, sans-I/O.

A 1xx other than 100 is sent reliably when the INVITE said `Supported: 100rel` or `Require:
100rel`: it carries `Require: 100rel` and `RSeq: <n>`, is retransmitted at T1, 2*T1, 4*T1 ...
until a PRACK with `RAck: <n> <CSeq number> INVITE` acknowledges it, and after 64*T1 without one
the UAS gives up on the INVITE with a 5xx (§3). The UAC answers each new reliable provisional
with a PRACK in its early dialog and discards retransmissions (same RSeq) and responses out of
order (§4).

`ReliableSender` is the UAS side of one INVITE transaction, `ReliableReceiver` the UAC side of
one early dialog. Neither sends or reads a clock: the caller passes `now` and sends what it
returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .message import SipMessage, SipResponse

__all__ = [
    "REL_TAG",
    "RAck",
    "Reception",
    "ReliableReceiver",
    "ReliableSender",
    "parse_rack",
    "parse_rseq",
    "wants_reliable",
]

REL_TAG: Final = "100rel"
_MAX_RSEQ: Final = 2**31 - 1  # §3: the first RSeq lies in 1 .. 2**31 - 1
_MAX_NUMBER: Final = 2**32 - 1


def _number(text: str) -> int | None:
    text = text.strip()
    if not text.isdigit() or len(text) > 10:
        return None
    value = int(text)
    return value if value <= _MAX_NUMBER else None


def parse_rseq(message: SipMessage) -> int | None:
    value = message.get("RSeq")
    return None if value is None else _number(value)


@dataclass(frozen=True, slots=True)
class RAck:
    """RAck: <response-num> <CSeq-num> <Method> (§7.2)"""

    rseq: int
    cseq: int
    method: str

    def __str__(self) -> str:
        return f"{self.rseq} {self.cseq} {self.method}"


def parse_rack(message: SipMessage) -> RAck | None:
    value = message.get("RAck")
    if value is None:
        return None
    parts = value.split()
    if len(parts) != 3:
        return None
    rseq, cseq = _number(parts[0]), _number(parts[1])
    if rseq is None or cseq is None:
        return None
    return RAck(rseq, cseq, parts[2].upper())


def wants_reliable(message: SipMessage) -> tuple[bool, bool]:
    """(supported, required): what the INVITE says of 100rel."""
    required = REL_TAG in {tag.lower() for tag in message.require}
    supported = required or REL_TAG in {tag.lower() for tag in message.supported}
    return supported, required


class ReliableSender:
    """The UAS side: one reliable provisional at a time, retransmitted until PRACKed (§3)."""

    def __init__(self, first_rseq: int, t1_s: float) -> None:
        if not 1 <= first_rseq <= _MAX_RSEQ:
            raise ValueError(f"first RSeq must be in 1..{_MAX_RSEQ}, got {first_rseq}")
        self._next_rseq = first_rseq
        self._t1_s = t1_s
        self.outstanding: SipResponse | None = None
        """The reliable provisional awaiting its PRACK."""
        self._rseq = 0
        self._interval_s = t1_s
        self.retransmit_at: float | None = None
        self.give_up_at: float | None = None

    @property
    def busy(self) -> bool:
        """A reliable provisional is unacknowledged: a second one must wait (§3)."""
        return self.outstanding is not None

    def send(self, response: SipResponse, now: float) -> SipResponse:
        """`response` (a 101-199) made reliable: Require: 100rel and the next RSeq."""
        if not 100 < response.status < 200:
            raise ValueError(f"only 101-199 are sent reliably, not {response.status}")
        if self.busy:
            raise ValueError("the last reliable provisional is not acknowledged yet")
        rseq, self._next_rseq = self._next_rseq, self._next_rseq + 1
        reliable = response.with_header("Require", REL_TAG).with_header("RSeq", str(rseq))
        self.outstanding, self._rseq = reliable, rseq
        self._interval_s = self._t1_s
        self.retransmit_at = now + self._interval_s
        self.give_up_at = now + 64 * self._t1_s
        return reliable

    @property
    def next_deadline(self) -> float | None:
        if self.retransmit_at is None or self.give_up_at is None:
            return None
        return min(self.retransmit_at, self.give_up_at)

    def gave_up(self, now: float) -> bool:
        return self.give_up_at is not None and now >= self.give_up_at

    def retransmission(self, now: float) -> SipResponse | None:
        """The response to send again now, if its time has come (the interval doubles)."""
        if self.outstanding is None or self.retransmit_at is None or now < self.retransmit_at:
            return None
        self._interval_s *= 2
        self.retransmit_at = now + self._interval_s
        return self.outstanding

    def acknowledge(self, rack: RAck, invite_cseq: int) -> bool:
        """A PRACK's RAck: True when it acknowledges the outstanding response (which stops)."""
        if self.outstanding is None:
            return False
        if (rack.rseq, rack.cseq, rack.method) != (self._rseq, invite_cseq, "INVITE"):
            return False
        self.stop()
        return True

    def stop(self) -> None:
        """Nothing more to retransmit: PRACKed, or the final response went out."""
        self.outstanding = None
        self.retransmit_at = self.give_up_at = None


class Reception(StrEnum):
    NEW = "new"  # PRACK it and act on it
    REPEAT = "repeat"  # a retransmission: discard
    OUT_OF_ORDER = "out of order"  # discard; the UAS retransmits until the one before is PRACKed


class ReliableReceiver:
    """The UAC side, per early dialog: which reliable provisionals are new (§4)."""

    def __init__(self) -> None:
        self.last_rseq: int | None = None

    def receive(self, rseq: int) -> Reception:
        last = self.last_rseq
        if last is not None:
            if rseq <= last:
                return Reception.REPEAT
            if rseq != last + 1:
                return Reception.OUT_OF_ORDER
        self.last_rseq = rseq
        return Reception.NEW
