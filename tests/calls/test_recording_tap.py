"""The recording tap on a stepped clock: one frame per channel per tick, silence where a side had
none, skipped ticks filled, and a full writer queue costing silence of the same length, never time."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from callgate.calls.recording import CHUNK_FRAMES, RecordingTap
from callgate.clock import ManualClock, MediaTicker
from callgate.media.pcm import FRAME_MS, SILENCE_FRAME

SID = "0198355b-f324-718b-95a4-625c43c654b9"
SAID = b"\x01\x00" * 160
HEARD = b"\x02\x00" * 160


@dataclass
class Sink:
    room: int = 1000  # chunks and gaps it will take before refusing
    chunks: list[tuple[list[bytes], list[bytes]]] = field(default_factory=list)
    gaps: list[int] = field(default_factory=list)
    closed_gap: int | None = None

    def open(self, session_id: str, started_at: datetime) -> None:
        assert session_id == SID

    def write(self, session_id: str, left: list[bytes], right: list[bytes]) -> bool:
        if self.room <= 0:
            return False
        self.room -= 1
        self.chunks.append((left, right))
        return True

    def gap(self, session_id: str, frames: int) -> bool:
        if self.room <= 0:
            return False
        self.room -= 1
        self.gaps.append(frames)
        return True

    def close(self, session_id: str, ended_at: datetime, gap_frames: int = 0) -> None:
        self.closed_gap = gap_frames

    def frames(self) -> int:
        return sum(len(left) for left, _ in self.chunks) + sum(self.gaps) + (self.closed_gap or 0)


@dataclass
class Call:
    said: bytes = b""


def tap_on(sink: Sink) -> tuple[ManualClock, MediaTicker, RecordingTap]:
    clock = ManualClock()
    ticker = MediaTicker(clock)
    tap = RecordingTap(ticker, sink)
    tap.start()
    ticker.start()
    return clock, ticker, tap


def test_outbound_the_gateway_is_left_and_a_missing_frame_is_silence() -> None:
    sink = Sink()
    clock, _, tap = tap_on(sink)
    call = Call(SAID)
    recording = tap.begin(call, SID, outbound=True, now=clock.utcnow())
    for tick in range(CHUNK_FRAMES + 10):
        if tick % 2 == 0:
            recording.heard = HEARD  # the far party's frame arrives every other tick only
        clock.advance(FRAME_MS / 1000)
    tap.end(recording, clock.utcnow())
    (left, right), (tail_left, tail_right) = sink.chunks
    assert len(left) == len(right) == CHUNK_FRAMES
    assert set(left) == {SAID}
    assert right[:4] == [HEARD, SILENCE_FRAME, HEARD, SILENCE_FRAME]
    assert len(tail_left) == len(tail_right) == 10
    assert sink.closed_gap == 0


def test_inbound_the_far_party_is_left() -> None:
    sink = Sink()
    clock, _, tap = tap_on(sink)
    recording = tap.begin(Call(SAID), SID, outbound=False, now=clock.utcnow())
    recording.heard = HEARD
    clock.advance(FRAME_MS / 1000)
    tap.end(recording, clock.utcnow())
    assert sink.chunks == [([HEARD], [SAID])]


def test_skipped_ticks_are_filled_with_silence() -> None:
    sink = Sink()
    clock, ticker, tap = tap_on(sink)
    recording = tap.begin(Call(SAID), SID, outbound=True, now=clock.utcnow())
    clock.advance(0.1)  # five ticks
    clock.set_time(1.1)  # the loop stalls for a second: the ticker skips ahead
    clock.advance(0.0)
    clock.advance(0.4)
    tap.end(recording, clock.utcnow())
    assert ticker.skipped_frames > 0
    assert sink.frames() == ticker.tick_no == 75  # every tick of 1.5 s, played or skipped


def test_a_full_queue_costs_silence_not_time() -> None:
    sink = Sink(room=1)
    clock, ticker, tap = tap_on(sink)
    recording = tap.begin(Call(SAID), SID, outbound=True, now=clock.utcnow())
    clock.advance(3.0)  # three chunks: the first is taken, the next two refused
    assert len(sink.chunks) == 1
    assert tap.dropped_chunks == 2
    assert recording.gap_frames == 2 * CHUNK_FRAMES
    sink.room = 5  # the disk catches up: the silence owed goes first, then audio again
    clock.advance(1.0)
    assert sink.gaps == [2 * CHUNK_FRAMES]
    assert len(sink.chunks) == 2
    sink.room = 0
    clock.advance(0.5)
    tap.end(recording, clock.utcnow())
    assert sink.closed_gap == CHUNK_FRAMES // 2  # owed at the end: written with the close
    assert sink.frames() == ticker.tick_no == 225
