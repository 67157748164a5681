"""One inbound call as the application's handler sees it: identity, actions, and its incoming events.

`Call` is the thin asyncio shell around an `AppSession`: every send goes through one chokepoint that asks
the session first, so ordering rules live in the session's table only. Incoming events wait in a bounded
`EventQueue`; when the handler falls behind, the oldest *audio* is dropped (and counted) because
real-time audio that is late is worthless, while DTMF and hangup are never dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Final

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from callgate.inbound.direct import DirectMessages
from callgate.inbound.protocol import (
    MAX_AUDIO_CHUNK_BYTES,
    Answer,
    AppDtmf,
    AppHangup,
    AppMessage,
    AudioFrame,
    CallerDtmf,
    CallerHangup,
    CallerHeard,
    CloseCode,
    IncomingCall,
    close_reason,
)
from callgate.inbound.session import AppSession, CallEnded, SessionState

CallEvent = AudioFrame | CallerDtmf | CallerHangup | CallerHeard
"""What `async for event in call` yields."""

DEFAULT_RECEIVE_QUEUE_EVENTS: Final = 250
"""5 s of 20 ms caller audio: a handler that stalls longer loses the oldest audio."""

logger = logging.getLogger("callgate.inbound")


class EndReason(StrEnum):
    """Why a call ended, as far as the application can tell."""

    CALLER_HANGUP = "caller hung up"
    APP_HANGUP = "application hung up"
    CONNECTION_LOST = "connection lost"
    PROTOCOL_ERROR = "gateway broke the protocol"
    HANDLER_ERROR = "application handler failed"
    SERVER_SHUTDOWN = "server shutting down"


class EventQueue:
    """A bounded single-consumer queue of call events that drops the oldest audio when full.

    Control events never displace each other: if the queue is full of them, the new event is kept
    anyway (they are rare and tiny, and the session's violation budget bounds a flooding peer).
    """

    def __init__(self, max_events: int = DEFAULT_RECEIVE_QUEUE_EVENTS) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.max_events = max_events
        self.dropped_audio_frames = 0
        self._items: deque[CallEvent] = deque()
        self._audio_count = 0
        self._closed = False
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, event: CallEvent) -> None:
        """Add an event; never blocks. Ignored after `close()`."""
        if self._closed:
            return
        if len(self._items) >= self.max_events and not self._make_room(event):
            self.dropped_audio_frames += 1
            return
        self._items.append(event)
        if isinstance(event, AudioFrame):
            self._audio_count += 1
        self._wake()

    def _make_room(self, event: CallEvent) -> bool:
        """Drop the oldest audio to fit `event`; False if `event` itself is the audio to drop."""
        if self._audio_count:
            if isinstance(self._items[0], AudioFrame):
                self._items.popleft()
            else:  # rare: control events at the head; find the oldest audio behind them
                index = next(i for i, e in enumerate(self._items) if isinstance(e, AudioFrame))
                del self._items[index]
            self._audio_count -= 1
            self.dropped_audio_frames += 1
            return True
        return not isinstance(event, AudioFrame)

    def close(self) -> None:
        """No more events: the consumer drains what is queued, then sees the end."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> CallEvent | None:
        """The next event, or None once the queue is closed and drained."""
        while not self._items:
            if self._closed:
                return None
            if self._waiter is not None:
                raise RuntimeError("two tasks are reading one call's events: use one reader")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        event = self._items.popleft()
        if isinstance(event, AudioFrame):
            self._audio_count -= 1
        return event


class Call:
    """One call, handed to the application's handler. Create through `InboundServer`, not directly.

    Sending raises `CallStateError` when the state forbids it (DTMF before `answer()`), and
    `CallEnded` once the call is over: a handler may let `CallEnded` escape, the server treats that as a
    normal end. `answer()` and `hangup()` are idempotent.
    """

    def __init__(
        self,
        websocket: ServerConnection,
        session: AppSession,
        incoming: IncomingCall,
        *,
        receive_queue_events: int = DEFAULT_RECEIVE_QUEUE_EVENTS,
    ) -> None:
        self.incoming = incoming
        self.end_reason: EndReason | None = None
        self._ws = websocket
        self._session = session
        self._queue = EventQueue(receive_queue_events)
        self._loop = asyncio.get_running_loop()
        self._audio_handler: Callable[[bytes], None] | None = None

    def __repr__(self) -> str:
        return f"<Call {self.session_id} from {self.caller_id!r} to {self.did_number!r}>"

    # --- identity and state ---

    @property
    def caller_id(self) -> str:
        return self.incoming.caller_id

    @property
    def did_number(self) -> str:
        return self.incoming.did_number

    @property
    def session_id(self) -> str:
        return self.incoming.session_id

    @property
    def state(self) -> SessionState:
        return self._session.state

    @property
    def answered(self) -> bool:
        return self._session.state is SessionState.ANSWERED

    @property
    def ended(self) -> bool:
        return self._session.state is SessionState.ENDED

    @property
    def dropped_audio_frames(self) -> int:
        """Caller audio frames dropped because the handler did not keep up with the receive queue."""
        return self._queue.dropped_audio_frames

    # --- actions ---

    async def answer(self) -> None:
        """Answer the call (`{"event":"answer"}`); a second call is a no-op."""
        await self._send_message(Answer())

    async def send_audio(self, pcm16: bytes | bytearray | memoryview) -> None:
        """Play PCM16 8 kHz mono audio to the caller: any length, sent in chunks of at most 64 KiB.

        Audio sent before `answer()` is kept by the gateway and plays from the answer. The gateway
        paces playout in real time; this returns as soon as the socket took the bytes, and waits
        while the connection's write buffer is full, so a slow gateway slows the sender down instead
        of growing memory.
        """
        size = len(pcm16)
        if size % 2:
            raise ValueError(f"PCM16 audio needs whole samples (an even byte count), got {size}")
        if not size:
            return
        if size <= MAX_AUDIO_CHUNK_BYTES:  # the usual case: one frame, no slicing
            self._session.send_audio(self._loop.time())
            await self._transmit(pcm16)
            return
        view = memoryview(pcm16).cast("B")
        for start in range(0, size, MAX_AUDIO_CHUNK_BYTES):
            self._session.send_audio(self._loop.time())
            await self._transmit(view[start : start + MAX_AUDIO_CHUNK_BYTES])

    def send_audio_nowait(self, pcm16: bytes | bytearray | memoryview) -> bool:
        """Send one chunk of audio (whole samples, at most 64 KiB) now, without waiting: True when
        the socket took it, False when it could not (its write buffer is full: the gateway is
        reading slowly), and then nothing was sent. Raises like `send_audio` when the call's state
        forbids audio. For handlers that run synchronously (`on_audio`): real-time audio that
        cannot go now is usually better dropped than queued."""
        size = len(pcm16)
        if size % 2 or size > MAX_AUDIO_CHUNK_BYTES:
            raise ValueError(
                f"one chunk is whole PCM16 samples up to {MAX_AUDIO_CHUNK_BYTES} bytes, got {size}"
            )
        self._session.send_audio(self._loop.time())
        return not size or self._write_now(pcm16)

    def on_audio(self, handler: Callable[[bytes], None] | None) -> None:
        """Take the caller's audio through `handler`, called with each frame as it arrives, instead
        of the event stream (which keeps DTMF and hangup). It runs inside the connection's read,
        so it must be quick; an exception it raises is logged and the call goes on. None: audio
        goes back to the event stream."""
        self._audio_handler = handler

    async def send_dtmf(self, digit: str, duration_ms: int = 200) -> None:
        """Play a DTMF tone to the caller (digits 0-9 * # A-D, 1..1000 ms)."""
        await self._send_message(AppDtmf(digit, duration_ms))

    async def hangup(self) -> None:
        """End the call: send `{"event":"hangup"}` and close the connection; a no-op once ended."""
        if self.ended:
            return
        try:
            await self._send_message(AppHangup())
        except CallEnded:
            return  # the connection dropped first: the call is over all the same
        self.mark_ended(EndReason.APP_HANGUP)
        await self._close(CloseCode.NORMAL, "hangup")

    # --- events ---

    def __aiter__(self) -> Call:
        return self

    async def __anext__(self) -> CallEvent:
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def receive(self) -> CallEvent | None:
        """The next event from the caller, or None once the call is over and every event was read."""
        return await self._queue.get()

    # --- the server's side: how `InboundServer` feeds and ends the call (a handler needs none) ---

    def deliver(self, event: CallEvent) -> None:
        """Hand the handler one event from the gateway (the audio callback, else the queue)."""
        handler = self._audio_handler
        if handler is not None and isinstance(event, AudioFrame):
            try:
                handler(event.pcm16)
            except Exception:
                logger.exception("call %s: the audio handler failed", self.session_id)
            return
        self._queue.put(event)
        if isinstance(event, CallerHangup):
            self.mark_ended(EndReason.CALLER_HANGUP)

    def mark_ended(self, reason: EndReason) -> None:
        """Record why the call ended (the first reason wins) and end the event stream."""
        if self.end_reason is None:
            self.end_reason = reason
        self._session.end(self._loop.time())
        self._queue.close()

    async def finish(self, reason: EndReason, code: CloseCode, why: str) -> None:
        """End the call from our side if it is still up: `hangup`, then close with `code`."""
        if not self.ended:
            try:
                text = self._session.send(AppHangup(), self._loop.time())
                if text is not None:
                    await self._ws.send(text)
            except ConnectionClosed:
                pass  # the gateway is gone already: nothing to tell it
        self.mark_ended(reason)
        await self._close(code, why)

    async def _close(self, code: CloseCode, why: str) -> None:
        await self._ws.close(code, close_reason(why))

    # --- the chokepoint ---

    async def _send_message(self, message: AppMessage) -> None:
        text = self._session.send(message, self._loop.time())
        if text is not None:
            await self._transmit(text)

    async def _transmit(self, data: str | bytes | bytearray | memoryview) -> None:
        if not isinstance(data, str) and self._write_now(data):
            return
        try:
            await self._ws.send(data)
        except ConnectionClosed as exc:
            self.mark_ended(EndReason.CONNECTION_LOST)
            raise CallEnded(f"call {self.session_id}: the connection is closed ({exc})") from None

    def _write_now(self, data: bytes | bytearray | memoryview) -> bool:
        """Write one binary message at once when the socket can take it; False when it cannot
        (a full write buffer or a fragmented send under way), and then nothing was written."""
        ws = self._ws
        if ws.protocol.state is not State.OPEN or ws.send_in_progress is not None or ws.paused:
            return False
        # Audio, the hot path (one frame per call every 20 ms in an echo app): `send()` would do
        # the same behind an async context manager that measured a quarter of the echo app's CPU
        # at 300 calls; it is only needed to wait, which we do not.
        try:
            if isinstance(ws, DirectMessages):
                ws.write_binary(data)
            else:
                ws.protocol.send_binary(data)
                ws.send_data()
        except Exception as exc:  # the socket failed under us: the reader sees it close
            ws.transport.abort()
            self.mark_ended(EndReason.CONNECTION_LOST)
            raise CallEnded(f"call {self.session_id}: writing failed ({exc!r})") from None
        return True
