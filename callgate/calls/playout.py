"""A call's playout queue: 20 ms frames waiting to be played to the far party, with checkpoints.

Theory of operation. The shared media tick calls `tick()` once per 20 ms; it returns the frame to send
now (None: nothing queued, the caller sends silence) and the checkpoints that have just been reached.
A checkpoint sits in the queue after the frames queued before it, and is reached on the tick *after*
the last of them was sent: that is when their 20 ms of sound has finished playing, so "played" means
heard, not merely handed to the network. `interrupt()` empties the queue at once and reports how much of
the interrupted audio was played and how much discarded, so a bot can trim its transcript to what the
caller heard.

A stretch of audio that starts with fewer than `1 + prebuffer_frames` frames queued (an application
streaming frame by frame in real time, such as an echo) is held for up to `prebuffer_frames` ticks
first: without that cushion, every arrival that lands just after a tick leaves a 20 ms hole. A stretch
that arrives in larger chunks, or ends in a checkpoint, starts at once.

`pause()` holds everything where it is (barge-in's `pause` mode) until `resume()`: the next tick
sends the frame that would have been sent, so nothing is lost or repeated.

Pure: no clock, no I/O. The queue is bounded (`max_frames`); a push that would overflow it is refused
whole, never half-queued.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

from callgate.media.frames import FrameSplitter
from callgate.media.pcm import FRAME_BYTES, FRAME_MS

CheckpointStatus = Literal["played", "cleared"]


class PlayoutFull(Exception):
    """The queue cannot take this much more audio."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    name: str
    status: CheckpointStatus


@dataclass(frozen=True, slots=True)
class Interrupted:
    played_ms: int  # of the interrupted stretch of audio: what the far party heard
    discarded_ms: int  # what was queued and will never be played
    cleared: tuple[Checkpoint, ...]  # pending checkpoints, answered now with status "cleared"


class Playout:
    def __init__(self, max_frames: int = 3000, prebuffer_frames: int = 1) -> None:
        self.max_frames = max_frames
        self.prebuffer_frames = prebuffer_frames
        self._items: deque[bytes | str] = deque()  # frames (bytes) and checkpoint names (str)
        self._frames = 0  # frames in `_items`
        self._marks = 0  # checkpoint names in `_items`
        self._held_ticks = 0  # ticks the current stretch has been held back for its cushion
        self._splitter = FrameSplitter(FRAME_BYTES)
        self._sent_in_stretch = 0  # frames sent since the queue last ran dry
        self._sent_last_tick = False
        self.frames_sent = 0
        self.paused = False

    @property
    def queued_ms(self) -> int:
        """Audio waiting to be played, partial frame included."""
        return self._frames * FRAME_MS + self._splitter.pending_bytes * FRAME_MS // FRAME_BYTES

    @property
    def idle(self) -> bool:
        """Nothing queued, nothing pending, and the last frame sent has finished playing."""
        return not self._items and not self._splitter.pending_bytes and not self._sent_last_tick

    @property
    def playing(self) -> bool:
        """A frame of queued audio went out on the last tick."""
        return self._sent_last_tick

    @property
    def played_in_stretch_ms(self) -> int:
        """Of the current stretch of audio (since the queue last ran dry), how much has been sent."""
        return self._sent_in_stretch * FRAME_MS

    def pause(self) -> None:
        self.paused = True
        self._sent_last_tick = False

    def resume(self) -> None:
        self.paused = False

    def push(self, pcm16: bytes) -> None:
        """Queue PCM16 8 kHz mono audio of any length; partial frames wait for the next push."""
        incoming = (self._splitter.pending_bytes + len(pcm16)) // FRAME_BYTES
        if self._frames + incoming > self.max_frames:
            raise PlayoutFull(
                f"playout queue full: {self.queued_ms} ms queued, limit {self.max_frames * FRAME_MS} ms"
            )
        for frame in self._splitter.feed(pcm16):
            self._items.append(frame)
            self._frames += 1

    def flush(self) -> None:
        """Queue the partial frame held back, completed with silence: no more audio will follow it."""
        tail = self._splitter.flush()
        if tail is not None:
            self._items.append(tail)
            self._frames += 1

    def mark(self, name: str) -> None:
        """A checkpoint after everything queued so far (a partial frame is completed with silence)."""
        self.flush()
        self._items.append(name)
        self._marks += 1

    def tick(self) -> tuple[bytes | None, list[Checkpoint]]:
        """The frame to send now (None for silence) and the checkpoints reached by now."""
        reached: list[Checkpoint] = []
        if self.paused:
            return None, reached
        while self._items and isinstance(self._items[0], str):
            name = self._items.popleft()
            assert isinstance(name, str)
            self._marks -= 1
            reached.append(Checkpoint(name, "played"))
        if self._holding():
            self._held_ticks += 1
            return None, reached
        self._held_ticks = 0
        if self._items:
            frame = self._items.popleft()
            assert isinstance(frame, bytes)
            self._frames -= 1
            self._sent_in_stretch += 1
            self._sent_last_tick = True
            self.frames_sent += 1
            return frame, reached
        self._sent_last_tick = False
        self._sent_in_stretch = 0
        return None, reached

    def _holding(self) -> bool:
        """Hold a thin stretch back while it may still grow: see the module docstring."""
        return (
            not self._sent_last_tick
            and 0 < self._frames <= self.prebuffer_frames
            and not self._marks
            and self._held_ticks < self.prebuffer_frames
        )

    def interrupt(self) -> Interrupted:
        """Stop now: discard the queue, clear pending checkpoints, report played and discarded audio."""
        discarded_ms = self.queued_ms
        cleared = tuple(
            Checkpoint(item, "cleared") for item in self._items if isinstance(item, str)
        )
        played_ms = self._sent_in_stretch * FRAME_MS
        self._items.clear()
        self._frames = 0
        self._marks = 0
        self._held_ticks = 0
        self._splitter.reset()
        self._sent_in_stretch = 0
        self.paused = False
        return Interrupted(played_ms, discarded_ms, cleared)
