"""A small reorder/jitter buffer between the network and the application: pure, no clock.

Theory of operation. Packets are pushed as they arrive, keyed by extended sequence number (see
`SequenceTracker`); the caller pops one item per 20 ms tick. The buffer is either *buffering* or
*playing*:

- buffering: pops return None until the packets held span `target_depth_frames` (so play-out starts
  that far behind the newest packet, which is the slack that absorbs network jitter), then playing
  starts at the oldest packet held;
- playing: each pop returns the packet at the play-out point and advances it. A packet missing there
  while later ones are held is lost (or too late to matter): the pop returns None and moves on, and
  the caller conceals it. When nothing at all is held (an underrun: a burst of delay, a sender that
  paused or went on hold) the play-out point stays put and the buffer goes back to buffering, so
  the stream resumes with its slack restored instead of every later packet counting as late.

What each arrival becomes:
- behind the play-out point: late, dropped and counted (it would play out of order);
- already held: duplicate, dropped and counted;
- a new SSRC: the buffer resets (a new stream has its own numbering);
- an unconfirmed sequence jump: stray, dropped (see `SequenceTracker`);
- `capacity_frames` or more ahead of the play-out point: the sender skipped ahead; everything held is
  dropped (counted as overflow) and buffering restarts at this packet. So at most
  `capacity_frames` items are ever held.

Clock drift: a sender whose clock runs a little fast fills the buffer by one frame every few
seconds. When the depth before every pop for a whole `drift_window_frames` stayed above the target,
the excess is standing, not jitter, and one frame is dropped to bring latency back down.
"""

from __future__ import annotations

from typing import Final, Generic, TypeVar

from .seq import SequenceTracker

T = TypeVar("T")

DEFAULT_TARGET_DEPTH_FRAMES: Final = 3
"""60 ms of slack at 20 ms frames: covers the jitter of most trunks without a noticeable delay."""
DEFAULT_CAPACITY_FRAMES: Final = 50
"""One second of audio: a bound on memory, far beyond any useful depth."""
DEFAULT_DRIFT_WINDOW_FRAMES: Final = 50


class JitterBuffer(Generic[T]):
    """Reorders packets of one stream and hands them out one per tick; items are opaque."""

    __slots__ = (
        "_capacity",
        "_drift_min",
        "_drift_pops",
        "_drift_window",
        "_floor",
        "_high",
        "_items",
        "_next",
        "_playing",
        "_ssrc",
        "_target",
        "_tracker",
        "drift_drops",
        "duplicates",
        "late",
        "lost",
        "lost_before_reset",
        "overflow",
        "played",
        "received",
        "ssrc_changes",
        "strays",
        "underruns",
    )

    def __init__(
        self,
        target_depth_frames: int = DEFAULT_TARGET_DEPTH_FRAMES,
        capacity_frames: int = DEFAULT_CAPACITY_FRAMES,
        drift_window_frames: int = DEFAULT_DRIFT_WINDOW_FRAMES,
    ) -> None:
        if not 1 <= target_depth_frames < capacity_frames:
            raise ValueError("need 1 <= target_depth_frames < capacity_frames")
        self._target = target_depth_frames
        self._capacity = capacity_frames
        self._drift_window = drift_window_frames
        self._items: dict[int, T] = {}
        self._ssrc: int | None = None
        self._tracker: SequenceTracker | None = None
        self._playing = False
        self._next = 0  # extended number of the next item to play (while buffering: lowest held)
        self._floor = 0  # nothing below this is playable any more: it was played or given up
        self._high = 0
        self._drift_pops = 0
        self._drift_min = 0
        # Counters, cumulative over SSRC changes.
        self.received = 0
        self.played = 0
        self.lost = 0
        """Gaps at the play-out point: never arrived, or arrived after their turn."""
        self.lost_before_reset = 0
        self.late = 0
        self.duplicates = 0
        self.strays = 0
        self.overflow = 0
        self.underruns = 0
        self.drift_drops = 0
        self.ssrc_changes = 0

    @property
    def target_depth_frames(self) -> int:
        return self._target

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def depth_frames(self) -> int:
        """Items held right now."""
        return len(self._items)

    @property
    def sequence(self) -> SequenceTracker | None:
        """The current SSRC's sequence tracker (RFC 3550 expected/received), if any packet came."""
        return self._tracker

    def push(self, ssrc: int, seq: int, item: T) -> bool:
        """Offer one arrival; True when it was kept for play-out, False when dropped (counted)."""
        tracker = self._tracker
        if ssrc != self._ssrc or tracker is None:
            tracker = self._restart(ssrc, seq)
        extended = tracker.update(seq)
        if extended is None:
            self.strays += 1
            return False
        items = self._items
        if extended < self._floor:
            self.late += 1
            return False
        if extended in items:
            self.duplicates += 1
            return False
        if not self._playing:
            if not items:
                self._next = self._high = extended
            elif extended < self._next:
                if self._high - extended >= self._capacity:
                    self.late += 1  # older than anything we could still hold alongside the rest
                    return False
                self._next = extended
        if extended - self._next >= self._capacity:
            # The sender skipped far ahead: what we hold would play long after it matters.
            self.overflow += len(items)
            items.clear()
            self._playing = False
            self._next = self._high = self._floor = extended
        items[extended] = item
        if extended > self._high:
            self._high = extended
        self.received += 1
        return True

    def pop(self) -> T | None:
        """The item for this tick, or None: not started, lost, or underrun (see the module doc).

        Items are never None themselves, so None always means "nothing to play".
        """
        items = self._items
        if not self._playing:
            if not items or self._high - self._next + 1 < self._target:
                return None
            self._playing = True
            self._drift_pops = 0
            self._drift_min = self._capacity
        position = self._next
        depth = len(items)
        item = items.pop(position, None)
        if item is None:
            if not items:
                # Underrun: nothing ahead. Keep the play-out point (the packet may still come) and
                # rebuild the slack before playing again.
                self._playing = False
                self.underruns += 1
                return None
            self.lost += 1
            self._next = self._floor = position + 1
            return None
        self.played += 1
        self._next = self._floor = position + 1
        # Drift control: the smallest depth seen over a window is the standing queue.
        if depth < self._drift_min:
            self._drift_min = depth
        self._drift_pops += 1
        if self._drift_pops >= self._drift_window:
            if self._drift_min > self._target and items:
                self._drop_one()
            self._drift_pops = 0
            self._drift_min = self._capacity
        return item

    def _drop_one(self) -> None:
        """Skip the next item to play (the oldest), shortening the delay by one frame."""
        position = self._next
        if self._items.pop(position, None) is not None:
            self.drift_drops += 1
        else:
            self.lost += 1
        self._next = self._floor = position + 1

    def _restart(self, ssrc: int, seq: int) -> SequenceTracker:
        if self._ssrc is not None:
            self.ssrc_changes += 1
            self.overflow += len(self._items)
            if self._tracker is not None:
                self.lost_before_reset += self._tracker.lost
        self._items.clear()
        self._playing = False
        self._ssrc = ssrc
        self._tracker = SequenceTracker(seq)
        self._next = self._high = 0
        self._floor = -(1 << 62)  # a new stream: nothing is late yet
        return self._tracker

    def rfc3550_lost(self) -> int:
        """Cumulative packets lost per RFC 3550 A.3 (expected - received), over every SSRC seen."""
        current = self._tracker.lost if self._tracker is not None else 0
        return self.lost_before_reset + current
