"""The Socket.IO channel of the Outgoing Call Service: live call events out, call commands in.

Server to client: newSession, roomJoined, dialStatus, audio, dtmf, checkPoint, hangup, cdr (the spec's
payloads, plus `status` on checkPoint and `audioDropped` for a client too slow for its audio). Client to
server: joinRoom, audio, checkPoint, dtmf, interruption, hangup; each answers an ack `{success, error}`
when the client asks for one. Everything about a call reaches only the clients of its account that
joined its room, and nothing follows its `cdr`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import socketio

from callgate.api.auth import account_from_token, bearer_token
from callgate.api.envelope import ApiError
from callgate.calls.events import (
    AudioReceived,
    CallCreated,
    CallEnded,
    CallEvent,
    CheckpointReached,
    DialStatusChanged,
    DtmfReceived,
)
from callgate.calls.machine import CallState
from callgate.calls.service import MAX_DTMF_MS, CallNotFound, CallService, CommandError
from callgate.outbox import Outbox

log = logging.getLogger(__name__)

DEFAULT_DTMF_MS = 200
MAX_CHECKPOINT_NAME = 256
MAX_AUDIO_EVENT_BYTES = 1 << 20
# Engine.IO packets waiting for one client's socket before we stop feeding it (its audio then piles up
# in its outbox, where the oldest frames are dropped).
ENGINE_BACKLOG_LIMIT = 64

Ack = dict[str, Any]


def _ok(**extra: Any) -> Ack:
    return {"success": True, "error": None, **extra}


def _fail(message: str) -> Ack:
    return {"success": False, "error": message}


@dataclass(eq=False)
class Client:
    sid: str
    account: str
    outbox: Outbox
    joined: set[str] = field(default_factory=set)
    sender: asyncio.Task[None] | None = None
    engine_queue: asyncio.Queue[Any] | None = None  # python-engineio's, found once per client


class Realtime:
    def __init__(self, calls: CallService, jwt_secret: str, *, max_audio_backlog: int = 50) -> None:
        self.calls = calls
        self._secret = jwt_secret
        self._max_audio_backlog = max_audio_backlog
        self.sio = socketio.AsyncServer(
            async_mode="asgi",
            cors_allowed_origins="*",
            max_http_buffer_size=MAX_AUDIO_EVENT_BYTES,
            logger=False,
            engineio_logger=False,
        )
        self.clients: dict[str, Client] = {}
        self._by_account: dict[str, set[Client]] = {}
        self._rooms: dict[str, set[Client]] = {}  # call session id -> clients that joined it
        self._unsubscribe = calls.bus.subscribe(self._on_call_event)
        for name, handler in (
            ("connect", self._connect),
            ("disconnect", self._disconnect),
            ("joinRoom", self._join_room),
            ("audio", self._audio),
            ("checkPoint", self._checkpoint),
            ("dtmf", self._dtmf),
            ("interruption", self._interruption),
            ("hangup", self._hangup),
        ):
            self.sio.on(name, handler)

    async def close(self) -> None:
        self._unsubscribe()
        for client in list(self.clients.values()):
            await self._stop_sender(client)

    # --- connection ----------------------------------------------------------------------------

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            if isinstance(token, str) and token:
                account = account_from_token(self._secret, token.removeprefix("Bearer ").strip())
            else:
                account = account_from_token(
                    self._secret, bearer_token(environ.get("HTTP_AUTHORIZATION"))
                )
        except ApiError as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message) from None
        client = Client(sid, account, Outbox(self._max_audio_backlog))
        client.sender = asyncio.create_task(self._send_loop(client), name=f"sio-send-{sid}")
        self.clients[sid] = client
        self._by_account.setdefault(account, set()).add(client)

    async def _disconnect(self, sid: str, reason: Any = None) -> None:
        client = self.clients.pop(sid, None)
        if client is None:
            return
        peers = self._by_account.get(client.account)
        if peers is not None:
            peers.discard(client)
            if not peers:
                del self._by_account[client.account]
        for session_id in client.joined:
            self._leave(client, session_id)
        await self._stop_sender(client)

    async def _stop_sender(self, client: Client) -> None:
        if client.sender is not None:
            client.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await client.sender
            client.sender = None

    async def _send_loop(self, client: Client) -> None:
        while True:
            item = await client.outbox.get()
            if item is None:
                log.warning("client %s stopped reading; disconnecting it", client.sid)
                await self.sio.disconnect(client.sid)
                return
            if client.engine_queue is None:
                client.engine_queue = self._engine_queue(client.sid)
            engine_queue = client.engine_queue
            if engine_queue is not None and engine_queue.qsize() > ENGINE_BACKLOG_LIMIT:
                # Congested: wait until the socket has taken everything; meanwhile audio piles up
                # in the bounded outbox, which drops its oldest frames.
                await engine_queue.join()
            try:
                await self.sio.emit(item.event, item.data, to=client.sid)
                for session_id, frames in client.outbox.take_dropped().items():
                    await self.sio.emit(
                        "audioDropped", {"sessionId": session_id, "frames": frames}, to=client.sid
                    )
            except Exception:
                log.exception("sending %s to %s failed", item.event, client.sid)

    def _engine_queue(self, sid: str) -> asyncio.Queue[Any] | None:
        """The queue in which python-engineio holds packets for this client's socket, if known."""
        try:
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
            socket = self.sio.eio.sockets.get(eio_sid)
        except Exception:
            return None
        queue = getattr(socket, "queue", None)
        return queue if isinstance(queue, asyncio.Queue) else None

    # --- rooms ---------------------------------------------------------------------------------

    def _leave(self, client: Client, session_id: str) -> None:
        members = self._rooms.get(session_id)
        if members is None or client not in members:
            return
        members.discard(client)
        if not members:
            del self._rooms[session_id]
        with contextlib.suppress(CallNotFound):
            self.calls.detach(self.calls.find(client.account, session_id))

    async def _join_room(self, sid: str, data: Any = None) -> Ack:
        client = self.clients.get(sid)
        session_id = data.get("sessionId") if isinstance(data, dict) else None
        if client is None:
            return _fail("not connected")
        if not isinstance(session_id, str):
            return _fail("sessionId is required")
        try:
            call = self.calls.find(client.account, session_id)
        except CallNotFound:
            client.outbox.put("roomJoined", {"sessionId": session_id, "status": "failed"})
            return _fail(f"No live call with sessionId {session_id}")
        if session_id not in client.joined:
            client.joined.add(session_id)
            self._rooms.setdefault(session_id, set()).add(client)
            self.calls.attach(call)
        client.outbox.put("roomJoined", {"sessionId": session_id, "status": "success"})
        if call.state is not CallState.ENDED:  # a late joiner learns where the call stands at once
            client.outbox.put("dialStatus", {"sessionId": session_id, "status": call.state.value})
        return _ok()

    def _member(self, sid: str, data: Any) -> tuple[Client, str, dict[str, Any]]:
        """The client and the session it names, which it must have joined."""
        client = self.clients.get(sid)
        if client is None:
            raise CommandError("not connected")
        if not isinstance(data, dict):
            raise CommandError("the event's data must be an object with a sessionId")
        session_id = data.get("sessionId")
        if not isinstance(session_id, str) or not session_id:
            raise CommandError("sessionId is required")
        if session_id not in client.joined:
            raise CommandError(f"join the room of session {session_id} first (joinRoom)")
        return client, session_id, data

    async def _command(self, sid: str, data: Any, run: Any) -> Ack:
        try:
            client, session_id, payload = self._member(sid, data)
            result: Ack = run(client, session_id, payload)
            return result
        except CallNotFound as exc:
            return _fail(f"No live call with sessionId {exc.args[0]}: unknown or already ended")
        except CommandError as exc:
            return _fail(str(exc))

    # --- commands ------------------------------------------------------------------------------

    async def _audio(self, sid: str, data: Any = None) -> Ack:
        def run(client: Client, session_id: str, payload: dict[str, Any]) -> Ack:
            audio = payload.get("audioData")
            audio_format = payload.get("audioFormat")
            if not isinstance(audio, bytes | bytearray | memoryview):
                raise CommandError(
                    "audioData must be binary (a Buffer, ArrayBuffer or typed array)"
                )
            if not isinstance(audio_format, str):
                raise CommandError("audioFormat is required: one of mp3, ulaw, alaw, pcm16")
            queued_ms = self.calls.push_audio(
                client.account, session_id, bytes(audio), audio_format
            )
            return _ok(queuedMs=queued_ms)

        return await self._command(sid, data, run)

    async def _checkpoint(self, sid: str, data: Any = None) -> Ack:
        def run(client: Client, session_id: str, payload: dict[str, Any]) -> Ack:
            name = payload.get("name")
            if not isinstance(name, str) or not 0 < len(name) <= MAX_CHECKPOINT_NAME:
                raise CommandError(
                    f"name is required: a string of 1-{MAX_CHECKPOINT_NAME} characters"
                )
            queued_ms = self.calls.checkpoint(client.account, session_id, name)
            return _ok(queuedMs=queued_ms)

        return await self._command(sid, data, run)

    async def _dtmf(self, sid: str, data: Any = None) -> Ack:
        def run(client: Client, session_id: str, payload: dict[str, Any]) -> Ack:
            digit = payload.get("digit")
            duration = payload.get("duration", DEFAULT_DTMF_MS)
            if not isinstance(digit, str):
                raise CommandError("digit is required: one of 0-9, *, #, A-D")
            if isinstance(duration, bool) or not isinstance(duration, int | float):
                raise CommandError(f"duration must be a number of milliseconds, 1-{MAX_DTMF_MS}")
            if duration != int(duration):
                raise CommandError("duration must be a whole number of milliseconds")
            self.calls.send_dtmf(client.account, session_id, digit.upper(), int(duration))
            return _ok()

        return await self._command(sid, data, run)

    async def _interruption(self, sid: str, data: Any = None) -> Ack:
        def run(client: Client, session_id: str, payload: dict[str, Any]) -> Ack:
            result = self.calls.interrupt(client.account, session_id)
            return _ok(playedMs=result.played_ms, discardedMs=result.discarded_ms)

        return await self._command(sid, data, run)

    async def _hangup(self, sid: str, data: Any = None) -> Ack:
        def run(client: Client, session_id: str, payload: dict[str, Any]) -> Ack:
            after_playout = payload.get("afterPlayout", False)
            if not isinstance(after_playout, bool):
                raise CommandError("afterPlayout must be true or false")
            self.calls.hangup(client.account, session_id, after_playout=after_playout)
            return _ok()

        return await self._command(sid, data, run)

    # --- call events to clients ----------------------------------------------------------------

    def _on_call_event(self, event: CallEvent) -> None:
        match event:
            case AudioReceived(session_id=sid, frame=frame):
                members = self._rooms.get(sid)
                if members:  # most frames of most calls have nobody listening on Socket.IO
                    payload = {"sessionId": sid, "audioData": frame, "audioFormat": "pcm16"}
                    for client in members:
                        client.outbox.put("audio", payload, audio=True, session_id=sid)
            case CallCreated(session_id=sid, account=account, direction=direction):
                for client in self._by_account.get(account, ()):
                    client.outbox.put("newSession", {"sessionId": sid, "type": direction})
            case DialStatusChanged(session_id=sid, status=status):
                self._to_room(sid, "dialStatus", {"sessionId": sid, "status": status})
            case DtmfReceived(session_id=sid, digit=digit):
                self._to_room(sid, "dtmf", {"sessionId": sid, "digit": digit})
            case CheckpointReached(session_id=sid, name=name, status=status):
                self._to_room(sid, "checkPoint", {"sessionId": sid, "name": name, "status": status})
            case CallEnded(session_id=sid, record=record):
                self._to_room(sid, "hangup", {"sessionId": sid})
                self._to_room(sid, "cdr", record.to_json())
                for client in self._rooms.pop(sid, ()):
                    client.joined.discard(sid)

    def _to_room(self, session_id: str, event: str, data: dict[str, Any]) -> None:
        for client in self._rooms.get(session_id, ()):
            client.outbox.put(event, data)
