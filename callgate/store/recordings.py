"""Recordings on disk: the WAV writer thread, crash repair, retention, and finding a file to serve.

The media tick hands chunks over (`calls/recording.py`); everything that touches the disk runs on
one writer thread fed by a queue, so a slow disk never holds up the event loop or a call's audio.
The queue holds at most `max_queued_chunks` chunks of audio or gaps (a chunk is a second of one
call, 32 KB); beyond that `write` and `gap` refuse and the tap owes the call that much silence.
Opening, closing (with the silence still owed) and sweeps are small and always queued (two per
call, one an hour).

On disk: `<sessionId>.wav.part` while the call runs, its header patched after every chunk (so a
killed process leaves a file that plays up to about its last second), renamed `<sessionId>.wav`
when the call ends, with its modification time set to the call's end on the gateway's clock.
`start()` repairs and renames every `.part` a previous process left behind. The retention sweep
deletes finished files older than `retention_days` by that time, on the same clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from callgate.calls.ids import is_session_id
from callgate.clock import Clock, Timer, within
from callgate.media import wav
from callgate.media.pcm import FRAME_BYTES

log = logging.getLogger(__name__)

PART = ".wav.part"
DONE = ".wav"
SWEEP_EVERY_S = 3600.0
FINISH_WAIT_S = 5.0  # how long a download waits for a just-ended call's file to be closed
SILENCE_BLOCK_FRAMES = 50
_SILENCE_BLOCK = bytes(SILENCE_BLOCK_FRAMES * FRAME_BYTES * wav.CHANNELS)


@dataclass(frozen=True, slots=True)
class _Open:
    session_id: str


@dataclass(frozen=True, slots=True)
class _Chunk:
    session_id: str
    left: list[bytes]
    right: list[bytes]


@dataclass(frozen=True, slots=True)
class _Gap:
    session_id: str
    frames: int


@dataclass(frozen=True, slots=True)
class _Close:
    session_id: str
    ended_at: datetime
    gap_frames: int


@dataclass(frozen=True, slots=True)
class _Sweep:
    older_than: datetime


@dataclass(frozen=True, slots=True)
class _Barrier:
    reached: Callable[[], None]  # called on the writer thread once everything before is written


@dataclass(frozen=True, slots=True)
class _Stop:
    pass


_Item = _Open | _Chunk | _Gap | _Close | _Sweep | _Barrier | _Stop


@dataclass(slots=True)
class _File:
    handle: (
        io.FileIO
    )  # unbuffered: every write reaches the OS at once, so a killed process keeps it
    data_bytes: int = 0


class WavRecordings:
    """The `RecordingSink` of the gateway: one directory of stereo WAV files."""

    def __init__(
        self,
        directory: Path,
        clock: Clock,
        *,
        retention_days: int = 0,
        max_queued_chunks: int = 512,
        also_in: tuple[Path, ...] = (),
    ) -> None:
        self.directory = directory
        # Other workers' directories (`serve --workers`): their finished files are served too.
        self.also_in = also_in
        self._clock = clock
        self.retention_days = retention_days
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._room = threading.BoundedSemaphore(max_queued_chunks)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweep_timer: Timer | None = None
        # Calls whose file is not closed yet, with what a download waiting for it waits on.
        self._unfinished: dict[str, asyncio.Event] = {}
        self._files: dict[str, _File] = {}  # the writer thread's own
        self.bytes_written = 0
        self.failures = 0
        self.swept = 0  # files the retention sweeps deleted

    # --- lifecycle (event loop) ------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self._prepare)
        self._thread = threading.Thread(target=self._run, name="recordings", daemon=True)
        self._thread.start()
        self.sweep()
        self._arm_sweep()

    async def stop(self) -> None:
        if self._sweep_timer is not None:
            self._sweep_timer.cancel()
            self._sweep_timer = None
        if self._thread is None:
            return
        self._queue.put(_Stop())
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def flush(self) -> None:
        """Wait until everything queued so far is on disk (for tests and an orderly stop)."""
        if self._thread is None or self._loop is None:
            return
        loop = self._loop
        done = loop.create_future()

        def settle() -> None:
            if not done.done():
                done.set_result(None)

        def reached() -> None:
            loop.call_soon_threadsafe(settle)

        self._queue.put(_Barrier(reached))
        await done

    # --- the RecordingSink (event loop, from the media tick) ------------------------------------

    def open(self, session_id: str, started_at: datetime) -> None:
        self._unfinished[session_id] = asyncio.Event()
        self._queue.put(_Open(session_id))

    def write(self, session_id: str, left: list[bytes], right: list[bytes]) -> bool:
        if not self._room.acquire(blocking=False):
            return False
        self._queue.put(_Chunk(session_id, left, right))
        return True

    def gap(self, session_id: str, frames: int) -> bool:
        if not self._room.acquire(blocking=False):
            return False
        self._queue.put(_Gap(session_id, frames))
        return True

    def close(self, session_id: str, ended_at: datetime, gap_frames: int = 0) -> None:
        self._queue.put(_Close(session_id, ended_at, gap_frames))

    # --- reading (event loop) ------------------------------------------------------------------

    async def finished_path(self, session_id: str) -> Path | None:
        """The finished file of this call, waiting briefly for one that is being closed; None if
        there is none (never recorded, still recording, or past retention)."""
        if not is_session_id(session_id):
            return None
        event = self._unfinished.get(session_id)
        if event is not None:
            try:
                await within(self._clock, FINISH_WAIT_S, event.wait())
            except TimeoutError:
                return None
        for directory in (self.directory, *self.also_in):
            path = directory / f"{session_id}{DONE}"
            if path.is_file():
                return path
        return None

    def active(self) -> list[str]:
        """Calls whose file is not closed yet."""
        return list(self._unfinished)

    # --- retention -----------------------------------------------------------------------------

    def sweep(self) -> None:
        """Queue a sweep of files older than the retention (none when it is 0: keep forever)."""
        if self.retention_days > 0:
            cutoff = self._clock.utcnow() - timedelta(days=self.retention_days)
            self._queue.put(_Sweep(cutoff))

    def _arm_sweep(self) -> None:
        def again() -> None:
            self.sweep()
            self._arm_sweep()

        self._sweep_timer = self._clock.call_later(SWEEP_EVERY_S, again)

    # --- the writer thread ---------------------------------------------------------------------

    def _prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        repaired = 0
        for part in self.directory.glob(f"*{PART}"):
            try:
                wav.repair(part)
                part.rename(part.with_name(part.name[: -len(PART)] + DONE))
                repaired += 1
            except OSError as exc:
                log.error("could not repair the unfinished recording %s: %s", part, exc)
        if repaired:
            log.warning(
                "repaired %d recordings left unfinished by a previous run in %s",
                repaired,
                self.directory,
            )

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if isinstance(item, _Stop):
                for session_id in list(self._files):
                    self._finish(session_id, None)
                return
            try:
                self._handle(item)
            except OSError as exc:
                self.failures += 1
                log.error("recording writer: %s", exc)
            except Exception:  # a bug must not stop every other call's recording
                self.failures += 1
                log.exception("recording writer failed on %s", type(item).__name__)
            finally:
                if isinstance(item, _Chunk | _Gap):
                    self._room.release()

    def _handle(self, item: _Item) -> None:
        match item:
            case _Open(session_id=sid):
                handle = io.FileIO(self.directory / f"{sid}{PART}", "wb")
                _write_all(handle, wav.header(0))
                self._files[sid] = _File(handle)
            case _Chunk(session_id=sid, left=left, right=right):
                self._append(sid, wav.interleave(left, right))
            case _Gap(session_id=sid, frames=frames):
                self._silence(sid, frames)
            case _Close(session_id=sid, ended_at=ended_at, gap_frames=gap_frames):
                self._silence(sid, gap_frames)
                self._finish(sid, ended_at)
            case _Sweep(older_than=cutoff):
                self._sweep(cutoff)
            case _Barrier(reached=reached):
                reached()

    def _append(self, session_id: str, block: bytes) -> None:
        file = self._files.get(session_id)
        if file is None:
            return  # its open failed (logged)
        handle = file.handle
        _write_all(handle, block)
        file.data_bytes += len(block)
        self.bytes_written += len(block)
        riff, data = wav.size_fields(file.data_bytes)
        handle.seek(wav.RIFF_SIZE_AT)
        _write_all(handle, riff)
        handle.seek(wav.DATA_SIZE_AT)
        _write_all(handle, data)
        handle.seek(0, os.SEEK_END)

    def _silence(self, session_id: str, frames: int) -> None:
        """`frames` of silence on both channels, a second at a time (a long gap is never one
        allocation)."""
        while frames > 0:
            step = min(frames, SILENCE_BLOCK_FRAMES)
            self._append(session_id, _SILENCE_BLOCK[: step * FRAME_BYTES * wav.CHANNELS])
            frames -= step

    def _finish(self, session_id: str, ended_at: datetime | None) -> None:
        file = self._files.pop(session_id, None)
        try:
            if file is not None:
                file.handle.close()
                part = self.directory / f"{session_id}{PART}"
                done = self.directory / f"{session_id}{DONE}"
                part.rename(done)
                if ended_at is not None:
                    stamp = ended_at.timestamp()
                    os.utime(done, (stamp, stamp))
        finally:
            self._notify(session_id)

    def _notify(self, session_id: str) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def finished() -> None:
            event = self._unfinished.pop(session_id, None)
            if event is not None:
                event.set()

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(finished)

    def _sweep(self, cutoff: datetime) -> None:
        limit = cutoff.timestamp()
        deleted = 0
        for path in self.directory.glob(f"*{DONE}"):
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
                    deleted += 1
            except FileNotFoundError:
                continue
        self.swept += deleted
        if deleted:
            log.info("deleted %d recordings older than %d days", deleted, self.retention_days)


def _write_all(handle: io.FileIO, data: bytes) -> None:
    """A raw file may take less than it is given; what it did not take is written again."""
    view = memoryview(data)
    while view:
        written = handle.write(view)
        if not written:
            raise OSError(f"could not write to {handle.name!r}")
        view = view[written:]
