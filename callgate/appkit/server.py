"""`InboundServer`: the WebSocket server an inbound call application runs; one connection per call.

The gateway connects, sends `incoming_call`, and the server hands a `Call` to the application's handler
in a task it owns. Meanwhile the connection's own task reads the gateway's messages through the call's
`AppSession` and feeds the call's bounded event queue. What the server does on its own:

- the handler returns: `hangup` is sent if the call is still up, then the connection closes with 1000;
- the handler raises: the error is logged with its traceback, `hangup` is sent, the close code is 1011;
  `CallEnded` escaping a handler is a normal end, not an error;
- the caller hangs up or the connection drops: the handler's event stream ends, its sends raise
  `CallEnded`, and it has `handler_grace_s` to return before it is cancelled;
- the gateway breaks the protocol: logged as the gateway's fault; the message is dropped, or, before the
  call exists, for oversized messages, or after `max_violations` errors, the connection is closed with the
  code `callgate.inbound.protocol` documents, and the handler is told as if the connection dropped;
- `close()`: stops accepting, cancels every handler, sends `hangup` and closes each call with 1001.
A failure in one call never reaches the server or another call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl as ssl_module
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from callgate.appkit.call import DEFAULT_RECEIVE_QUEUE_EVENTS, Call, EndReason
from callgate.inbound.direct import DirectMessages, DirectServerConnection
from callgate.inbound.protocol import (
    MAX_MESSAGE_BYTES,
    AppHangup,
    AudioFrame,
    CallerDtmf,
    CallerHangup,
    CallerHeard,
    CloseCode,
    IncomingCall,
    close_reason,
)
from callgate.inbound.session import (
    DEFAULT_MAX_VIOLATIONS,
    NOT_UTF8,
    AppSession,
    CallEnded,
    Ignored,
    Violation,
)

DEFAULT_PORT: Final = 4143
"""The spec's default port for the application's server."""

CallHandler = Callable[[Call], Awaitable[None]]
"""The application: called once per call, in its own task; the call ends when it returns."""

logger = logging.getLogger("callgate.inbound")


def server_ssl_context(
    certfile: str | Path, keyfile: str | Path | None = None, password: str | None = None
) -> ssl_module.SSLContext:
    """A TLS server context (TLS 1.2 or newer) for `wss://`, from PEM certificate and key files."""
    context = ssl_module.SSLContext(ssl_module.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl_module.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile, password)
    return context


class InboundServer:
    """Serve inbound calls to `handler` on `ws://host:port` (or `wss://` with `ssl`).

    Use as `async with InboundServer(handler) as server: ...`, or `await server.start()` and later
    `await server.close()`, or `await server.serve_forever()` (cancel it to stop). `port=0` picks a
    free port; `server.port` tells which.
    """

    def __init__(
        self,
        handler: CallHandler,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        ssl: ssl_module.SSLContext | None = None,
        incoming_call_timeout_s: float | None = 30.0,
        receive_queue_events: int = DEFAULT_RECEIVE_QUEUE_EVENTS,
        handler_grace_s: float = 2.0,
        max_violations: int = DEFAULT_MAX_VIOLATIONS,
    ) -> None:
        self.handler = handler
        self.host = host
        self.ssl = ssl
        self.incoming_call_timeout_s = incoming_call_timeout_s
        self.receive_queue_events = receive_queue_events
        self.handler_grace_s = handler_grace_s
        self.max_violations = max_violations
        self._requested_port = port
        self._server: Server | None = None
        self._calls: dict[Call, asyncio.Task[None]] = {}
        self._closing = False

    # --- lifecycle ---

    async def start(self) -> None:
        """Start listening; returns once the socket is bound."""
        if self._server is not None:
            return
        self._server = await serve(
            self._connection,
            self.host,
            self._requested_port,
            ssl=self.ssl,
            # Audio does not compress, and deflate would cost CPU on every frame.
            compression=None,
            max_size=MAX_MESSAGE_BYTES,
            create_connection=DirectServerConnection,
        )
        logger.info("inbound call server listening on %s", self.url)

    @property
    def port(self) -> int:
        """The port actually bound (useful with `port=0`)."""
        if self._server is None:
            raise RuntimeError("the server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"{'wss' if self.ssl else 'ws'}://{self.host}:{self.port}"

    @property
    def calls(self) -> list[Call]:
        """The calls whose handlers are running now."""
        return list(self._calls)

    async def serve_forever(self) -> None:
        """Serve until cancelled (then close gracefully) or until `close()` is called elsewhere."""
        await self.start()
        assert self._server is not None
        try:
            await self._server.wait_closed()
        except asyncio.CancelledError:
            await asyncio.shield(self.close())
            raise

    async def close(self) -> None:
        """Stop accepting calls, end every live call (handler cancelled, `hangup`, 1001), and wait."""
        if self._server is None:
            return
        self._closing = True
        calls = list(self._calls.items())
        if calls:
            await asyncio.wait([asyncio.create_task(self._shut_down(c, t)) for c, t in calls])
        # Connections still waiting for incoming_call get 1001 from the library.
        self._server.close(code=CloseCode.GOING_AWAY, reason="server shutting down")
        await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def _shut_down(self, call: Call, task: asyncio.Task[None]) -> None:
        task.cancel()
        await asyncio.wait([task], timeout=self.handler_grace_s)
        await call.finish(EndReason.SERVER_SHUTDOWN, CloseCode.GOING_AWAY, "server shutting down")

    # --- one connection ---

    async def _connection(self, ws: ServerConnection) -> None:
        """The library's task for one connection: wait for the call, run it, clean up."""
        loop = asyncio.get_running_loop()
        session = AppSession(
            loop.time(),
            incoming_call_timeout_s=self.incoming_call_timeout_s,
            max_violations=self.max_violations,
        )
        incoming = await self._await_incoming_call(ws, session)
        if incoming is None:
            return
        if self._closing:
            logger.info("call %s refused: the server is shutting down", incoming.session_id)
            text = session.send(AppHangup(), loop.time())
            assert text is not None  # RINGING: a hangup is always accepted
            with contextlib.suppress(ConnectionClosed):
                await ws.send(text)
            await ws.close(CloseCode.GOING_AWAY, "server shutting down")
            return
        logger.info(
            "call %s from %r to %r", incoming.session_id, incoming.caller_id, incoming.did_number
        )
        call = Call(ws, session, incoming, receive_queue_events=self.receive_queue_events)
        task = loop.create_task(self._run_handler(call), name=f"inbound-call-{call.session_id}")
        self._calls[call] = task
        try:
            await self._read(ws, session, call)
        finally:
            await self._settle(call, task)
            self._calls.pop(call, None)
            await ws.close()
            logger.info("call %s ended: %s", call.session_id, call.end_reason)

    async def _await_incoming_call(
        self, ws: ServerConnection, session: AppSession
    ) -> IncomingCall | None:
        """Read until `incoming_call`; None if the connection ended first (already closed then)."""
        loop = asyncio.get_running_loop()
        peer = ws.remote_address
        while True:
            try:
                async with asyncio.timeout_at(session.deadline):
                    data = await ws.recv()
            except TimeoutError:
                data = None
            except ConnectionClosed as exc:
                if _refused_as_too_big(exc):
                    _log_too_big(f"gateway {peer}")
                else:
                    logger.info("gateway %s closed the connection before incoming_call", peer)
                return None
            if data is None:
                outcome: object = session.check_deadline(loop.time())
            else:
                outcome = session.receive(data, loop.time())
            if isinstance(outcome, IncomingCall):
                return outcome
            if isinstance(outcome, CallerHangup):
                logger.info("gateway %s hung up before incoming_call", peer)
                await ws.close(CloseCode.NORMAL, "hangup")
                return None
            if isinstance(outcome, Ignored):
                _log_ignored(f"gateway {peer}", outcome)
            elif isinstance(outcome, Violation):
                _log_violation(f"gateway {peer}", outcome)
                if outcome.fatal:
                    await ws.close(outcome.error.close_code, close_reason(outcome.error.message))
                    return None

    async def _read(self, ws: ServerConnection, session: AppSession, call: Call) -> None:
        """Feed the gateway's messages to the call until it ends.

        Messages are handled as they are parsed (`DirectMessages`: no task switch per audio
        frame); the ones already queued when the call started come through `recv()` first, so
        order is kept. This task waits for the end and does what needs awaiting.
        """
        loop = asyncio.get_running_loop()
        where = f"call {call.session_id}"
        stop: asyncio.Future[Violation | None] = loop.create_future()

        def on_message(data: bytes, text: bool) -> None:
            if stop.done():
                return
            try:
                message: str | bytes = data.decode() if text else data
            except UnicodeDecodeError:
                stop.set_result(NOT_UTF8)
                return
            try:
                outcome = session.receive(message, loop.time())
                if isinstance(outcome, AudioFrame | CallerDtmf | CallerHeard):
                    call.deliver(outcome)
                elif isinstance(outcome, CallerHangup):
                    call.deliver(outcome)
                    stop.set_result(None)
                elif isinstance(outcome, Ignored):
                    _log_ignored(where, outcome)
                elif isinstance(outcome, Violation):
                    _log_violation(where, outcome)
                    if outcome.fatal:
                        stop.set_result(outcome)
            except Exception:  # runs in the socket's data_received: nothing may escape
                logger.exception("%s: handling a message from the gateway failed", where)

        async def queued() -> None:
            while True:
                data = await ws.recv()
                on_message(data.encode() if isinstance(data, str) else data, isinstance(data, str))

        if isinstance(ws, DirectMessages):
            ws.on_message = on_message
        reader = loop.create_task(queued())
        try:
            waiters: tuple[asyncio.Future[Any], ...] = (reader, stop)
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if isinstance(ws, DirectMessages):
                ws.on_message = None
            reader.cancel()  # safe: recv() loses nothing when cancelled
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await reader
        if stop.done():
            violation = stop.result()
            if violation is not None:  # fatal
                if violation is NOT_UTF8:
                    _log_violation(where, violation)
                call.mark_ended(EndReason.PROTOCOL_ERROR)
                await ws.close(violation.error.close_code, close_reason(violation.error.message))
            return
        exc = reader.exception()
        if isinstance(exc, ConnectionClosed):
            if _refused_as_too_big(exc):
                _log_too_big(where)
                call.mark_ended(EndReason.PROTOCOL_ERROR)
            elif not call.ended:
                logger.warning("%s: connection lost (%s)", where, exc)
            call.mark_ended(EndReason.CONNECTION_LOST)

    async def _run_handler(self, call: Call) -> None:
        """The handler's task: run it, then end the call the way it finished."""
        try:
            await self.handler(call)
        except CallEnded as exc:
            logger.debug("call %s: handler stopped: %s", call.session_id, exc)
        except Exception as exc:
            logger.exception("call %s: the application handler failed", call.session_id)
            await call.finish(
                EndReason.HANDLER_ERROR,
                CloseCode.INTERNAL_ERROR,
                f"application error: {type(exc).__name__}",
            )
            return
        await call.finish(EndReason.APP_HANGUP, CloseCode.NORMAL, "call finished")

    async def _settle(self, call: Call, task: asyncio.Task[None]) -> None:
        """After the call ended: give the handler its grace period, then cancel it."""
        try:
            await asyncio.wait([task], timeout=self.handler_grace_s)
        finally:
            if not task.done():
                if not self._closing:
                    logger.warning(
                        "call %s: handler still running %.1f s after the call ended: cancelled",
                        call.session_id,
                        self.handler_grace_s,
                    )
                task.cancel()
        await asyncio.wait([task], timeout=self.handler_grace_s)
        if not task.done():
            logger.error("call %s: handler ignores cancellation", call.session_id)


def _refused_as_too_big(exc: ConnectionClosed) -> bool:
    """Did the WebSocket library close because a message exceeded `max_size`?"""
    return exc.sent is not None and exc.sent.code == CloseCode.TOO_BIG


def _log_too_big(where: str) -> None:
    logger.error(
        "%s: protocol error, the gateway's fault: a message over %d bytes; closed with 1009",
        where,
        MAX_MESSAGE_BYTES,
    )


def _log_ignored(where: str, ignored: Ignored) -> None:
    logger.log(
        logging.WARNING if ignored.notable else logging.DEBUG, "%s: %s", where, ignored.reason
    )


def _log_violation(where: str, violation: Violation) -> None:
    error = violation.error
    reaction = f"closing with {error.close_code.value}" if violation.fatal else "message dropped"
    logger.error("%s: protocol error, the gateway's fault: %s; %s", where, error.message, reaction)
