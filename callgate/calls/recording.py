"""Call recording, the media tick's side: one frame each way per tick, handed off a second at a time.

Theory of operation. A recorded call gets a `CallRecording` when it connects. Every tick, after the
trunks have sent and received (`TickPhase.AFTER_MEDIA`), the `RecordingTap` appends to each recorded
call the frame the gateway said and the frame it heard this tick, or silence for a direction that
had none, so the two channels stay in step with each other and with the clock (ticks the ticker
skipped are filled with silence too). That is two list appends per call per tick; nothing is
measured, mixed or written here. Every `CHUNK_FRAMES` frames the two lists go to the
`RecordingSink` (the file writer, `store/recordings.py`), which interleaves and writes them on a
thread of its own. The sink's queue is bounded: when it is full the chunk's audio is dropped and
counted as a gap, written as silence of the same length once there is room again (or when the call
ends), so the file keeps the call's timeline and a stuck disk costs a counter per call, not memory.

Channels: the caller on the left, the callee on the right. On an outbound call the gateway's side
(the application) is the caller; on an inbound call the far party is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from callgate.clock import MediaTicker, TickPhase
from callgate.media.pcm import FRAME_MS, SILENCE_FRAME

log = logging.getLogger(__name__)

CHUNK_FRAMES = 1000 // FRAME_MS  # one second: what a crash can lose
MAX_GAP_FRAMES = 60 * 1000 // FRAME_MS  # a stalled loop's silence is filled up to a minute


class RecordingSink(Protocol):
    """Where recorded audio goes; every method returns at once (the work happens elsewhere)."""

    def open(self, session_id: str, started_at: datetime) -> None: ...

    def write(self, session_id: str, left: list[bytes], right: list[bytes]) -> bool:
        """Queue a chunk; False when the queue is full and the chunk was dropped."""
        ...

    def gap(self, session_id: str, frames: int) -> bool:
        """Queue `frames` of silence on both channels (in place of dropped chunks); False when
        the queue is full."""
        ...

    def close(self, session_id: str, ended_at: datetime, gap_frames: int = 0) -> None:
        """End the file, after `gap_frames` of silence still owed to it (always queued)."""
        ...


class RecordingFiles(Protocol):
    """Finished recordings, as the download endpoint reads them."""

    async def finished_path(self, session_id: str) -> Path | None:
        """The call's WAV once it is complete (waiting briefly for one being closed), or None."""
        ...


@dataclass(slots=True)
class CallRecording:
    session_id: str
    caller_is_local: bool  # outbound: the gateway's side is the caller, so it goes left
    heard: bytes | None = None  # the far party's frame this tick, if one came
    left: list[bytes] = field(default_factory=list)
    right: list[bytes] = field(default_factory=list)
    frames: int = 0  # written or queued so far, per channel
    dropped_chunks: int = 0
    gap_frames: int = 0  # dropped, and not yet queued as silence


class _Said(Protocol):
    """What the tap reads of a live call: the frame the gateway sent it this tick."""

    said: bytes


class RecordingTap:
    def __init__(self, ticker: MediaTicker, sink: RecordingSink) -> None:
        self._ticker = ticker
        self._sink = sink
        self._recording: dict[str, tuple[_Said, CallRecording]] = {}
        self._last_tick = 0
        self._unsubscribe: Callable[[], None] | None = None
        self.dropped_chunks = 0  # chunks the sink had no room for, all calls

    def start(self) -> None:
        self._unsubscribe = self._ticker.subscribe(self._on_tick, TickPhase.AFTER_MEDIA)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def begin(
        self, call: _Said, session_id: str, *, outbound: bool, now: datetime
    ) -> CallRecording:
        recording = CallRecording(session_id, caller_is_local=outbound)
        self._recording[session_id] = (call, recording)
        self._sink.open(session_id, now)
        return recording

    def end(self, recording: CallRecording, now: datetime) -> None:
        if self._recording.pop(recording.session_id, None) is None:
            return
        self._hand_off(recording)
        self._sink.close(recording.session_id, now, recording.gap_frames)

    def _on_tick(self, tick_no: int) -> None:
        missed = tick_no - self._last_tick - 1 if self._last_tick else 0
        self._last_tick = tick_no
        if missed > 0:  # the ticker skipped ahead: nothing was sent or heard meanwhile
            self._fill(min(missed, MAX_GAP_FRAMES))
        for call, recording in self._recording.values():
            heard = recording.heard or SILENCE_FRAME
            recording.heard = None
            if recording.caller_is_local:
                recording.left.append(call.said or SILENCE_FRAME)
                recording.right.append(heard)
            else:
                recording.left.append(heard)
                recording.right.append(call.said or SILENCE_FRAME)
            if len(recording.left) >= CHUNK_FRAMES:
                self._hand_off(recording)

    def _fill(self, frames: int) -> None:
        for _, recording in self._recording.values():
            recording.left.extend([SILENCE_FRAME] * frames)
            recording.right.extend([SILENCE_FRAME] * frames)

    def _hand_off(self, recording: CallRecording) -> None:
        left, right = recording.left, recording.right
        if not left:
            return
        recording.left, recording.right = [], []
        recording.frames += len(left)
        sid = recording.session_id
        if recording.gap_frames and self._sink.gap(sid, recording.gap_frames):
            recording.gap_frames = 0
        if not recording.gap_frames and self._sink.write(sid, left, right):
            return
        recording.gap_frames += len(left)
        recording.dropped_chunks += 1
        self.dropped_chunks += 1
        if recording.dropped_chunks == 1:
            log.warning(
                "recording of call %s: the writer is behind; audio replaced by silence", sid
            )
