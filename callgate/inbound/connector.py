"""The gateway's side of the inbound WebSocket protocol: it carries an incoming call to the application.

For each inbound call the connector picks the route for the dialled number, records the call, connects
to the application's WebSocket server and sends `incoming_call`. The caller hears ringing until the app
sends `answer`. Caller audio goes to the app as binary PCM16 frames (8 kHz mono, 320 bytes per 20 ms);
the app's binary audio, in chunks of any size, is played to the caller through the call's playout queue.
DTMF and hangup go both ways.

When it goes wrong (all recorded in the CDR, hangupBy null):
- the app cannot be reached (refused, bad handshake, connect timeout) or closes before answering:
  the call is rejected with cause 27;
- the app does not answer within `answer_timeout_s`: cause 19 (NO ANSWER);
- the socket drops after the answer: the call ends with cause 38.
What the app may send when is `GatewaySession`'s table (session.py), the same rules the app framework
applies from the other end: bad messages are logged and dropped, and after `max_violations` of them
the socket is closed with the error's code and the call ends as a drop; a message over the size limit
makes the WebSocket library close the socket (1009), likewise.

Audio is the hot path (50 frames a second per call each way). Caller audio does not go through
`ws.send()` and a writer task per frame: each frame is framed (`binary_frame`) and written at once,
from the event that carries it. The transport's write buffer bounds it: past `AUDIO_BUFFER_LIMIT` bytes
(an app that stopped reading) new frames are dropped and counted. The app's messages are handled as
they are parsed (`DirectMessages`), with no task switch per message. Control messages to the app keep
the ordinary, ordered path through the session's outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.protocol import State

from callgate.calls.call import LiveCall
from callgate.calls.causes import Cause
from callgate.calls.events import AudioReceived, BusEvent, CallFinished, DtmfReceived, Listened
from callgate.calls.options import inbound_metadata
from callgate.calls.service import CallNotFound, CallService, CommandError
from callgate.calls.trunk import TrunkIncomingCall
from callgate.clock import Clock
from callgate.inbound.direct import DirectClientConnection
from callgate.inbound.protocol import (
    MAX_MESSAGE_BYTES,
    Answer,
    AppClear,
    AppDtmf,
    AppHangup,
    AppResume,
    AudioFrame,
    CallerDtmf,
    CallerHangup,
    CallerHeard,
    GatewayMessage,
    IncomingCall,
    close_reason,
)
from callgate.inbound.routes import InboundRoute
from callgate.inbound.session import (
    DEFAULT_MAX_VIOLATIONS,
    NOT_UTF8,
    CallStateError,
    GatewaySession,
    Ignored,
    Violation,
)
from callgate.outbox import Outbox

log = logging.getLogger(__name__)

AUDIO_BUFFER_LIMIT = 64 * 1024  # ~4 s of caller audio waiting in the socket for a slow app
# The kernel's send buffer for the app's socket, fixed: left to autotuning on loopback it grows
# past a megabyte (over a minute of audio) before a stalled app makes our writes back up, so the
# app would get minutes-old audio when it resumes instead of losing what it could not take.
# 64 KB (the kernel doubles it) still covers far more than a second of audio over any WAN.
APP_SEND_BUFFER = 64 * 1024


@dataclass(frozen=True, slots=True)
class InboundSettings:
    routes: tuple[InboundRoute, ...] = (InboundRoute(".*", "ws://127.0.0.1:4143", "default"),)
    connect_timeout_s: float = 5.0
    answer_timeout_s: float = 30.0
    max_violations: int = DEFAULT_MAX_VIOLATIONS  # bad messages from an app before it is cut off
    ssl_context: ssl.SSLContext | None = None  # for wss:// routes; None: the system's defaults

    def route_for(self, did_number: str) -> InboundRoute | None:
        return next((route for route in self.routes if route.matches(did_number)), None)


@dataclass(eq=False)
class _AppLink:
    call: LiveCall
    outbox: Outbox
    protocol: GatewaySession
    """The inbound protocol's rules for this call (shared with the app framework)."""
    clock: Clock
    note_drop: Callable[[str, str], None]
    """`CallService.note_client_drop`: counts a frame the app missed, for the CDR and metrics."""
    ws: DirectClientConnection | None = None
    audio_dropped: int = 0
    done: asyncio.Future[Violation | None] | None = None
    """Resolved when reading should stop: None when the app hung up or the call ended, the
    violation when the app broke the protocol badly enough to be cut off."""

    def send(self, message: GatewayMessage) -> str | None:
        """The text to send for `message`, or None when the protocol says not to (call over)."""
        try:
            return self.protocol.send(message, self.clock.monotonic())
        except CallStateError:
            return None

    def send_audio_now(self, frame: bytes) -> None:
        """Write one frame to the app's socket now (see the module docstring)."""
        ws = self.ws
        if ws is None or ws.protocol.state is not State.OPEN:
            return
        try:
            self.protocol.send_audio(self.clock.monotonic())
        except CallStateError:
            return  # the call is over for the app: nothing more goes to it
        if ws.transport.get_write_buffer_size() > AUDIO_BUFFER_LIMIT:
            self.audio_dropped += 1
            self.note_drop(self.call.session_id, "inbound")
            return
        try:
            ws.write_binary(frame)
        except Exception as exc:  # the reader sees the socket close and ends the call
            log.debug("call %s: writing audio failed: %r", self.call.session_id, exc)


class InboundConnector:
    def __init__(self, calls: CallService, settings: InboundSettings) -> None:
        self.calls = calls
        self.settings = settings
        self._sessions: dict[str, _AppLink] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe = calls.bus.subscribe(self._on_call_event)

    def offer(self, event: TrunkIncomingCall) -> None:
        """Take an incoming call from the trunk (called from the trunk's event handler)."""
        task = asyncio.create_task(self._serve(event), name=f"inbound-{event.session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        self._unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def live_sessions(self) -> int:
        return len(self._sessions)

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py)."""
        return {
            "inbound_connections": len(self._sessions),
            "inbound_tasks": len(self._tasks),
            "outbox_entries": sum(len(link.outbox.items) for link in self._sessions.values()),
        }

    # --- one call ------------------------------------------------------------------------------

    async def _serve(self, event: TrunkIncomingCall) -> None:
        route = self.settings.route_for(event.did_number)
        if route is None:
            log.warning("no inbound route for %s; refusing the call", event.did_number)
            self.calls.refuse_inbound(event, Cause.UNALLOCATED_NUMBER)
            return
        try:
            call = await self.calls.register_inbound(
                event,
                route.account,
                record_audio=route.record,
                listen=route.listen,
                metadata=inbound_metadata(dict(route.metadata), event.headers),
            )
        except Exception:
            log.exception("could not record inbound call %s; refusing it", event.session_id)
            self.calls.refuse_inbound(event, Cause.INTERWORKING)
            return
        clock = self.calls.clock
        protocol = GatewaySession(clock.monotonic(), max_violations=self.settings.max_violations)
        # Control messages only: caller audio skips the outbox (send_audio_now).
        session = _AppLink(call, Outbox(max_audio=0), protocol, clock, self.calls.note_client_drop)
        self._sessions[call.session_id] = session
        self.calls.attach(call)
        try:
            await self._connect_and_run(session, route, event)
        finally:
            self._sessions.pop(call.session_id, None)

    async def _connect_and_run(
        self, session: _AppLink, route: InboundRoute, event: TrunkIncomingCall
    ) -> None:
        call = session.call
        try:
            ws = await websockets.connect(
                route.url,
                additional_headers=list(route.headers),
                open_timeout=self.settings.connect_timeout_s,
                max_size=MAX_MESSAGE_BYTES,
                ssl=self.settings.ssl_context if route.url.startswith("wss:") else None,
                compression=None,
                create_connection=DirectClientConnection,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            log.warning(
                "inbound app at %s unreachable for call %s: %s", route.url, call.session_id, exc
            )
            self.calls.terminate(call, Cause.DESTINATION_OUT_OF_ORDER)
            return
        assert isinstance(ws, DirectClientConnection)
        raw = ws.transport.get_extra_info("socket")
        if raw is not None:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, APP_SEND_BUFFER)
        async with ws:
            done = session.done = asyncio.get_running_loop().create_future()
            offer = session.send(
                IncomingCall(
                    event.caller_id, event.did_number, call.session_id, call.record.metadata
                )
            )
            if offer is None:
                return  # the caller gave up while we were connecting: the call is over
            session.ws = ws  # first: whatever on_message does may need to stop the reading
            ws.on_message = lambda data, text: self._on_app_message(session, data, text)
            try:
                await ws.send(offer)
            except ConnectionClosed:
                log.warning("inbound app closed the socket of call %s at once", call.session_id)
                self.calls.terminate(call, Cause.DESTINATION_OUT_OF_ORDER)
                return
            reader = asyncio.create_task(self._read(ws, session))
            writer = asyncio.create_task(self._write(ws, session))
            deadline = self.calls.clock.call_later(
                self.settings.answer_timeout_s, lambda: self._answer_overdue(session)
            )
            try:
                await asyncio.wait({reader, writer, done}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ws.on_message = None
                deadline.cancel()
                for task in (reader, writer):
                    task.cancel()
                for task in (reader, writer):
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            violation = done.result() if done.done() else None
            if violation is not None:  # the app kept breaking the protocol: cut it off
                await ws.close(violation.error.close_code, close_reason(violation.error.message))
            session.ws = None
            if session.audio_dropped:
                log.warning(
                    "call %s: the app read too slowly; %d caller frames dropped",
                    call.session_id,
                    session.audio_dropped,
                )
            # The socket went away under a live call; one that is draining to a hangup the app
            # asked for (afterPlayout) ends when its audio has played.
            if not call.ended and call.drain_deadline is None:
                cause = (
                    Cause.NETWORK_OUT_OF_ORDER if call.answered else Cause.DESTINATION_OUT_OF_ORDER
                )
                log.warning(
                    "inbound app socket for call %s closed; ending the call", call.session_id
                )
                self.calls.terminate(call, cause)

    def _answer_overdue(self, session: _AppLink) -> None:
        if session.call.answered or session.call.ended:
            return
        log.warning("inbound app did not answer call %s in time", session.call.session_id)
        self.calls.terminate(session.call, Cause.NO_ANSWER)

    async def _read(self, ws: ClientConnection, session: _AppLink) -> None:
        """App to gateway, until the socket closes. Messages are handled as they are parsed
        (`DirectClientConnection`); only the ones that reached the library's queue first (an app that
        spoke before `incoming_call` was sent) come through here."""
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                if isinstance(message, str):
                    self._on_app_message(session, message.encode(), True)
                else:
                    self._on_app_message(session, message, False)
                if session.done is not None and session.done.done():
                    return

    def _on_app_message(self, session: _AppLink, data: bytes, text: bool) -> None:
        """One message from the app, through the protocol's rules; resolves `session.done` when
        reading should stop."""
        call = session.call
        try:
            if call.ended:
                self._stop_reading(session, None)
                return
            try:
                message: str | bytes = data.decode() if text else data
            except UnicodeDecodeError:  # as the library does on its own path: fail with 1007
                log.warning("call %s: the app sent text that is not UTF-8", call.session_id)
                self._stop_reading(session, NOT_UTF8)
                return
            outcome = session.protocol.receive(message, session.clock.monotonic())
            match outcome:
                case AudioFrame(pcm16=pcm16):
                    self._app_audio(call, pcm16)
                case Answer():
                    self.calls.answer_inbound(call)
                case AppDtmf(digit=digit, duration_ms=duration_ms):
                    self.calls.send_dtmf(call.account, call.session_id, digit, duration_ms)
                case AppHangup(after_playout=True):
                    # Keep reading: the socket may close before the queue has played, and that
                    # must not cut the call (see the end of `_connect_and_run`).
                    self.calls.hangup(call.account, call.session_id, after_playout=True)
                case AppHangup():
                    self._stop_reading(session, None)
                    self.calls.hangup(call.account, call.session_id)
                case AppClear():
                    self.calls.interrupt(call.account, call.session_id)
                case AppResume():
                    self.calls.resume(call.account, call.session_id)
                case Ignored(reason=reason, notable=notable):
                    log.log(logging.WARNING if notable else logging.DEBUG, "call %s: %s",
                            call.session_id, reason)  # fmt: skip
                case Violation(error=error, fatal=fatal):
                    log.warning(
                        "call %s: bad message from the app (%s)%s",
                        call.session_id,
                        error.message,
                        f"; closing with {error.close_code.value}" if fatal else ", ignored",
                    )
                    if fatal:
                        self._stop_reading(session, outcome)
        except (CommandError, CallNotFound) as exc:
            log.warning("call %s: app command refused: %s", call.session_id, exc)
        except Exception:  # called from the socket's data_received: nothing may escape
            log.exception("call %s: handling a message from the app failed", call.session_id)

    @staticmethod
    def _stop_reading(session: _AppLink, violation: Violation | None) -> None:
        ws = session.ws
        if ws is not None:
            ws.on_message = None
        if session.done is not None and not session.done.done():
            session.done.set_result(violation)

    def _app_audio(self, call: LiveCall, audio: bytes) -> None:
        try:
            self.calls.push_audio(call.account, call.session_id, audio, "pcm16")
        except (CommandError, CallNotFound) as exc:
            log.warning("call %s: app audio refused: %s", call.session_id, exc)

    async def _write(self, ws: ClientConnection, session: _AppLink) -> None:
        """Gateway to app: caller audio and events, then `hangup` and a clean close when the call ends."""
        try:
            while True:
                item = await session.outbox.get()
                if item is None or item.event == "close":
                    await ws.close(1000, "call ended")
                    return
                await ws.send(item.data)
        except (ConnectionClosed, OSError) as exc:  # a reset while a send waited to drain
            log.debug("call %s: the app's socket failed: %r", session.call.session_id, exc)

    # --- call events ---------------------------------------------------------------------------

    def _on_call_event(self, event: BusEvent) -> None:
        if type(event) is AudioReceived:  # the caller's audio, 50 times a second per call
            session = self._sessions.get(event.session_id)
            if session is not None:
                session.send_audio_now(event.frame)
            return
        match event:
            case DtmfReceived(session_id=sid, digit=digit):
                session = self._sessions.get(sid)
                text = None if session is None else session.send(CallerDtmf(digit))
                if session is not None and text is not None:
                    session.outbox.put("dtmf", text)
            case Listened(session_id=sid, event=name, fields=fields):
                # Only calls whose route set `listen` listen at all: no other app sees these.
                session = self._sessions.get(sid)
                text = None if session is None else session.send(CallerHeard(name, fields))
                if session is not None and text is not None:
                    session.outbox.put(name, text)
            case CallFinished(session_id=sid):
                session = self._sessions.get(sid)
                if session is not None:
                    text = session.send(CallerHangup())  # None when the app hung up first
                    if text is not None:
                        session.outbox.put("hangup", text)
                    session.outbox.put("close", None)
