"""One call placed (or followed) through `callgate.client.Client`: play, listen, keys, hang up.

A `Call` holds what the Socket.IO channel told us about it (status, checkpoints, the final CDR) and
sends commands through its client's one chokepoint (`_Channel.request`), which waits out a dropped
socket and re-sends after the client has re-joined the call's room. It never starts a task: every
wait is the caller's own coroutine, woken by the events the client routes here.

Pacing `play()`: each `audio` ack says how much audio the gateway has queued (`queuedMs`). Below the
lead (1 s by default) the next chunk goes at once; above it, the next chunk waits until the queue
has played down to the lead, i.e. `queuedMs - lead` ms, measured from the gateway's own answer, so
the lead never grows (no fixed sleeps, no drift) and a barge-in discards at most lead + one chunk.
Before the answer the queue cannot drain, so a play waits for the call to connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, Protocol

from callgate.client.audio import BYTES_PER_MS, Source, open_source
from callgate.client.errors import CallEnded, not_connected
from callgate.client.events import (
    Audio,
    AudioDropped,
    CallEvent,
    CheckpointReached,
    Dtmf,
    Ended,
    Interrupted,
    Played,
    PlayResult,
    Status,
)
from callgate.client.records import Cdr

DEFAULT_LEAD_MS: Final = 1000
EVENT_BACKLOG: Final = 1500
"""Events kept for `async for` (30 s of audio); past it the oldest are dropped."""
DTMF_GAP_MS: Final = 100
_names = itertools.count(1)

AudioCallback = Callable[[bytes], object]


class _Channel(Protocol):
    async def request(self, event: str, data: dict[str, Any]) -> dict[str, Any]: ...


class Call:
    """A live call. Obtain one from `Client.dial()` (or `Client.follow()` for a known session)."""

    def __init__(self, channel: _Channel, session_id: str, number: str) -> None:
        self.session_id = session_id
        self.number = number
        self.status = "Dialing"
        self._channel = channel
        self._events: deque[CallEvent] = deque(maxlen=EVENT_BACKLOG)
        self._more = asyncio.Event()
        self._on_audio: AudioCallback | None = None
        self._connected = asyncio.Event()
        self._ended = asyncio.Event()
        self._cdr: Cdr | None = None
        self._checkpoints: dict[str, asyncio.Future[str]] = {}
        self._play_lock = asyncio.Lock()
        self._interruptions = 0
        self._interrupting: asyncio.Future[Interrupted] | None = None
        self._wakeup: asyncio.Future[None] | None = None  # a play waiting on its pace
        self.frames_received = 0

    def __repr__(self) -> str:
        return f"<Call {self.session_id} {self.number} {self.status}>"

    # --- state ----------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._cdr is not None

    @property
    def is_connected(self) -> bool:
        return self._connected.is_set() and not self.ended

    async def connected(self) -> None:
        """Return once the far party answered; raise `Busy`, `NoAnswer`, `Declined`, `Failed` or
        `Cancelled` (each carrying the CDR) when the call ends unanswered."""
        if not self._connected.is_set():
            await self._first(self._connected)
        if not self._connected.is_set():
            assert self._cdr is not None
            raise not_connected(self._cdr)

    async def cdr(self) -> Cdr:
        """The final CDR, once the call has ended (waits for it)."""
        await self._ended.wait()
        assert self._cdr is not None
        return self._cdr

    # --- audio out --------------------------------------------------------------------------------

    async def play(
        self, source: Source, *, format: str | None = None, lead_ms: int = DEFAULT_LEAD_MS
    ) -> PlayResult:
        """Stream `source` (a file path, bytes, or an async iterator of bytes) and return once it
        has been heard (`Played`), or `Interrupted` with how much was heard when barged in.

        `format`: "mp3", "pcm16" (8 kHz mono), "ulaw" or "alaw"; taken from the suffix for .mp3 and
        .wav files (WAV is converted here), pcm16 for bytes. Raises `CallEnded` if the call ends.
        """
        audio_format, chunks = open_source(source, format)
        async with self._play_lock:
            self._raise_if_ended()
            generation = self._interruptions
            sent = 0
            try:
                async for chunk in chunks:
                    if self._interruptions != generation:
                        break
                    data = {
                        "sessionId": self.session_id,
                        "audioData": chunk,
                        "audioFormat": audio_format,
                    }
                    ack = await self._channel.request("audio", data)
                    sent += len(chunk)
                    await self._pace(int(ack.get("queuedMs") or 0), lead_ms, generation)
            finally:
                await chunks.aclose()
            if self._interruptions != generation:
                return await self._interruption_result()
            name = f"callgate-client-play-{next(_names)}"
            reached: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            self._checkpoints[name] = reached
            try:
                await self._channel.request(
                    "checkPoint", {"sessionId": self.session_id, "name": name}
                )
                await self._first(reached)
            finally:
                self._checkpoints.pop(name, None)
            if not reached.done():
                self._raise_if_ended()
            if reached.result() == "played":
                per_ms = BYTES_PER_MS.get(audio_format)
                return Played(sent // per_ms if per_ms else None)
            return await self._interruption_result()

    async def send_audio(
        self, chunk: bytes, *, format: str = "pcm16", lead_ms: int = DEFAULT_LEAD_MS
    ) -> int:
        """One chunk of audio, for code that produces audio as it goes (a Pipecat transport):
        sent at once, then paced like `play()`, returning once the queue is back at `lead_ms`.
        Returns the gateway's `queuedMs` after the chunk."""
        self._raise_if_ended()
        generation = self._interruptions
        data = {"sessionId": self.session_id, "audioData": chunk, "audioFormat": format}
        queued_ms = int((await self._channel.request("audio", data)).get("queuedMs") or 0)
        await self._pace(queued_ms, lead_ms, generation)
        return queued_ms

    async def interrupt(self) -> Interrupted:
        """Barge-in: stop what is playing now and discard what is queued; a `play()` in progress
        returns `Interrupted` with the same figures."""
        self._interruptions += 1
        self._wake()
        loop = asyncio.get_running_loop()
        self._interrupting = pending = loop.create_future()
        try:
            ack = await self._channel.request("interruption", {"sessionId": self.session_id})
        except BaseException:
            pending.cancel()
            raise
        result = Interrupted(int(ack.get("playedMs") or 0), int(ack.get("discardedMs") or 0))
        pending.set_result(result)
        return result

    async def _interruption_result(self) -> Interrupted:
        pending = self._interrupting
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except (asyncio.CancelledError, Exception):
                pass
        return Interrupted(played_ms=-1, discarded_ms=-1)  # interrupted by another client

    async def _pace(self, queued_ms: int, lead_ms: int, generation: int) -> None:
        if queued_ms <= lead_ms or self._interruptions != generation:
            return
        if not self._connected.is_set():  # nothing plays before the answer
            await self._first(self._connected)
            self._raise_if_ended()
        loop = asyncio.get_running_loop()
        self._wakeup = wakeup = loop.create_future()
        timer = loop.call_later((queued_ms - lead_ms) / 1000, self._wake)
        try:
            await wakeup
        finally:
            timer.cancel()
            self._wakeup = None
        self._raise_if_ended()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    # --- keys and hangup ----------------------------------------------------------------------------

    async def send_dtmf(
        self, digits: str, *, duration_ms: int = 200, gap_ms: int = DTMF_GAP_MS
    ) -> None:
        """Press `digits` (0-9, *, #, A-D) one after the other, `gap_ms` apart; returns once the
        last tone has ended (so a hangup right after does not cut it)."""
        for index, digit in enumerate(digits):
            data = {"sessionId": self.session_id, "digit": digit, "duration": duration_ms}
            await self._channel.request("dtmf", data)
            # The trunk plays one tone at a time: the next waits for this one (and a gap).
            last = index == len(digits) - 1
            await asyncio.sleep((duration_ms + (0 if last else gap_ms)) / 1000)

    async def hangup(self, *, after_playout: bool = False) -> Cdr:
        """End the call (after the queued audio has been heard, with `after_playout`); returns the
        final CDR. Harmless on a call that has already ended."""
        if not self.ended:
            data: dict[str, Any] = {"sessionId": self.session_id}
            if after_playout:
                data["afterPlayout"] = True
            with contextlib.suppress(CallEnded):
                await self._channel.request("hangup", data)
        return await self.cdr()

    # --- audio and events in -------------------------------------------------------------------------

    def on_audio(self, callback: AudioCallback | None) -> None:
        """Hand each 20 ms frame of the far party's audio (8 kHz mono PCM16) to `callback` as it
        arrives, instead of to `async for`; None goes back to the iterator."""
        self._on_audio = callback

    def __aiter__(self) -> AsyncIterator[CallEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[CallEvent]:
        while True:
            while self._events:
                event = self._events.popleft()
                yield event
                if isinstance(event, Ended):
                    return
            self._more.clear()
            await self._more.wait()

    def _push(self, event: CallEvent) -> None:
        self._events.append(event)
        self._more.set()

    # --- what the client routes here ----------------------------------------------------------------

    def _audio_in(self, frame: bytes) -> None:
        self.frames_received += 1
        callback = self._on_audio
        if callback is not None:
            callback(frame)
        else:
            self._events.append(Audio(frame))
            self._more.set()

    def _dtmf_in(self, digit: str) -> None:
        self._push(Dtmf(digit))

    def _status_in(self, status: str) -> None:
        self.status = status
        if status == "Connected":
            self._connected.set()
        self._push(Status(status))

    def _checkpoint_in(self, name: str, status: str) -> None:
        waiter = self._checkpoints.get(name)
        if waiter is not None and not waiter.done():
            waiter.set_result(status)
        self._push(CheckpointReached(name, status))

    def _dropped_in(self, frames: int) -> None:
        self._push(AudioDropped(frames))

    def _finish(self, cdr: Cdr) -> None:
        if self._cdr is not None:
            return
        self._cdr = cdr
        self._ended.set()
        self._wake()
        self._push(Ended(cdr))

    # --- helpers ------------------------------------------------------------------------------------

    def _raise_if_ended(self) -> None:
        if self._cdr is not None:
            raise CallEnded(self._cdr)

    async def _first(self, awaitable: asyncio.Event | asyncio.Future[Any]) -> None:
        """Wait for `awaitable` or the call's end, whichever comes first."""
        if self._ended.is_set():
            return
        wait = (
            asyncio.ensure_future(awaitable.wait())
            if isinstance(awaitable, asyncio.Event)
            else awaitable
        )
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait((wait, ended), return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
            if isinstance(awaitable, asyncio.Event):
                wait.cancel()
