"""RTP sequence-number (16-bit) and timestamp (32-bit) arithmetic that survives wraparound.

Both counters wrap: 65535 is followed by 0, and a timestamp of 4294967200 by small numbers. Comparing
them as plain integers breaks once per wrap (every 21 minutes of 20 ms audio for sequence numbers), so
every comparison here is serial-number arithmetic in the RFC 1982 sense: the signed difference is
taken modulo 2**bits and folded into [-2**(bits-1), 2**(bits-1)). Two values exactly half the space
apart compare as neither greater nor smaller (RFC 1982 leaves that case undefined).

`SequenceTracker` turns 16-bit sequence numbers into unbounded "extended" ones (RFC 3550 A.1) so the
jitter buffer and the loss counters can use plain integers.
"""

from __future__ import annotations

from typing import Final

SEQ_MOD: Final = 1 << 16
TS_MOD: Final = 1 << 32
_SEQ_MASK: Final = SEQ_MOD - 1
_SEQ_HALF: Final = SEQ_MOD >> 1
_TS_MASK: Final = TS_MOD - 1
_TS_HALF: Final = TS_MOD >> 1

MAX_DROPOUT: Final = 3000
"""A forward jump up to this many packets (60 s of 20 ms audio) is loss, not a restart (RFC 3550 A.1)."""
MAX_MISORDER: Final = 100
"""A packet up to this many behind the highest is reordered or late, not a restart (RFC 3550 A.1)."""


def seq_add(seq: int, count: int) -> int:
    """`seq + count` modulo 2**16."""
    return (seq + count) & _SEQ_MASK


def seq_diff(a: int, b: int) -> int:
    """Signed distance `a - b` between two sequence numbers, in [-32768, 32767]."""
    return ((a - b + _SEQ_HALF) & _SEQ_MASK) - _SEQ_HALF


def seq_gt(a: int, b: int) -> bool:
    """True when sequence number `a` comes after `b` (less than half the space ahead)."""
    return 0 < ((a - b) & _SEQ_MASK) < _SEQ_HALF


def ts_add(ts: int, count: int) -> int:
    """`ts + count` modulo 2**32."""
    return (ts + count) & _TS_MASK


def ts_diff(a: int, b: int) -> int:
    """Signed distance `a - b` between two RTP timestamps, in [-2**31, 2**31)."""
    return ((a - b + _TS_HALF) & _TS_MASK) - _TS_HALF


def ts_gt(a: int, b: int) -> bool:
    """True when timestamp `a` comes after `b` (less than half the space ahead)."""
    return 0 < ((a - b) & _TS_MASK) < _TS_HALF


class SequenceTracker:
    """Extended sequence numbers and RFC 3550 loss counts for one SSRC.

    `update(seq)` returns the packet's extended number: the 16-bit value plus 65536 per wrap, so that
    ordering is plain integer ordering. A jump beyond `MAX_DROPOUT` ahead or `MAX_MISORDER` behind is
    not believed from one packet (a stray or corrupt packet must not shift the whole timeline): it
    returns None, and only when the next packet follows it in sequence is the jump taken as the
    sender restarting its numbering, after which numbering continues from the highest seen so far.
    """

    __slots__ = ("_highest_seq", "_probation_seq", "base", "highest", "received", "restarts")

    def __init__(self, first_seq: int) -> None:
        self.base = first_seq & _SEQ_MASK
        """Extended number of the first packet: `expected` counts from here."""
        self.highest = self.base
        self._highest_seq = self.base
        self._probation_seq = -1
        self.received = 0
        self.restarts = 0

    def update(self, seq: int) -> int | None:
        """Extended number of `seq`, or None for an unconfirmed jump (drop that packet)."""
        delta = ((seq - self._highest_seq + _SEQ_HALF) & _SEQ_MASK) - _SEQ_HALF
        if -MAX_MISORDER <= delta <= MAX_DROPOUT:
            extended = self.highest + delta
            if delta > 0:
                self.highest = extended
                self._highest_seq = seq
            self.received += 1
            return extended
        if seq != self._probation_seq:
            self._probation_seq = (seq + 1) & _SEQ_MASK
            return None
        # Two packets in a row confirm the new numbering: continue the extended timeline from it.
        self.restarts += 1
        self._probation_seq = -1
        self.highest += 1
        self._highest_seq = seq
        self.received += 1
        return self.highest

    @property
    def expected(self) -> int:
        """Packets the sender has sent from the first to the highest seen (RFC 3550 A.3)."""
        return self.highest - self.base + 1

    @property
    def lost(self) -> int:
        """Cumulative loss as RFC 3550 A.3 counts it (duplicates can make it negative; clamped)."""
        return max(self.expected - self.received, 0)
