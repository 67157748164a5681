"""The Socket.IO channel of the Outgoing Call Service: live call events out, call commands in.

Server to client: newSession, roomJoined, dialStatus, audio, dtmf, checkPoint, hangup, cdr (the spec's
payloads, plus `status` on checkPoint and `audioDropped` for a client too slow for its audio), and
the additions transferStatus, hold, resume, holdFailed. Client to server: joinRoom, audio,
checkPoint, dtmf, interruption, hangup (and resume, transfer, hold); each answers an ack
`{success, error}` when the client asks for one. Everything about a call reaches only the
clients of its account that joined its room, and nothing follows its `cdr`.

Two paths, one behaviour. A client on a WebSocket served by `DirectWebSocketProtocol` takes the
direct path: its events are written as whole frames from wherever they happen (the media tick for
audio, `sio_wire.audio_prefix` built once per call), and its commands are decoded and answered as
they are parsed (`sio_wire.InboundDecoder`), in arrival order, with no task per client or per event.
Every other client (long-polling, or a server without the protocol) takes python-socketio's generic
path: an outbox drained by a sender task through `emit`. Both apply the same policy to a slow
client: a bounded queue where the oldest audio is dropped and reported in `audioDropped`, and a
client that stops reading altogether is disconnected. python-socketio keeps the handshake, auth,
heartbeats, reconnects and disconnects on both.

Event names a client sends are checked before anything runs: `connect` and `disconnect` name the
server's lifecycle handlers and are refused in the ack, as are names the channel does not know.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import socketio

from callgate.api import sio_wire
from callgate.api.auth import account_from_token, bearer_token
from callgate.api.envelope import ApiError
from callgate.api.remote import Pending, Relay
from callgate.api.sio_pings import AsyncServer
from callgate.api.sio_transport import DirectChannel, channel_of
from callgate.calls.events import (
    AudioReceived,
    BusEvent,
    CallCreated,
    CallFinished,
    CheckpointReached,
    DialStatusChanged,
    DtmfReceived,
    HoldChanged,
    HoldFailed,
    Listened,
    TransferStatusChanged,
)
from callgate.calls.machine import CallState
from callgate.calls.service import MAX_DTMF_MS, CallNotFound, CallService, CommandError
from callgate.calls.transfer import TransferError
from callgate.clock import TickPhase
from callgate.listen.options import OptionsError, parse_listen
from callgate.media.pcm import FRAME_BYTES
from callgate.outbox import Outbox

log = logging.getLogger(__name__)

DEFAULT_DTMF_MS = 200
MAX_CHECKPOINT_NAME = 256
MAX_AUDIO_EVENT_BYTES = 1 << 20
# Engine.IO packets waiting for one client's socket before we stop feeding it (its audio then piles up
# in its outbox, where the oldest frames are dropped).
ENGINE_BACKLOG_LIMIT = 64
STALLED_AUDIO_S: Final = 10
"""A direct client whose socket has not drained while this much of each call's audio was dropped has
stopped reading: it is disconnected (its calls go on; it may reconnect and rejoin)."""
FRAMES_PER_S: Final = 50
EFFECTS_AFTER_ACK_S: Final = 0.005
"""How long after a direct client's ack the events its command caused follow (see _on_message)."""
REPLY_WINDOW_S: Final = 0.02
"""A direct client's acks to `audio` go out with its next audio frame, in the same write, or at the
end of the next media tick when it has none, or after this long if no tick comes: a write on its
own costs the server about three times one inside the tick's burst of audio writes, and these acks
are a ninth of a streaming client's writes. Other acks go at once."""
RESERVED_EVENTS: Final = frozenset({"connect", "disconnect", "connect_error"})

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
    listening: set[str] = field(default_factory=set)  # joined with a `listen` object: its events
    sender: asyncio.Task[None] | None = None
    engine_queue: asyncio.Queue[Any] | None = None  # python-engineio's, found once per client
    channel: DirectChannel | None = None  # set for clients on the direct path
    decoder: sio_wire.InboundDecoder | None = None
    replies: list[bytes] = field(default_factory=list)  # acks waiting to share a write
    # what a command caused for this client, held behind its ack: (frames, audio, session id)
    deferred: list[tuple[bytes, bool, str]] = field(default_factory=list)


Command = Callable[[Client, Any], "Ack | Pending"]


class Realtime:
    def __init__(
        self,
        calls: CallService,
        jwt_secret: str,
        *,
        max_audio_backlog: int = 50,
        relay: Relay | None = None,
    ) -> None:
        self.calls = calls
        self._secret = jwt_secret
        self._max_audio_backlog = max_audio_backlog
        self.sio = AsyncServer(
            async_mode="asgi",
            cors_allowed_origins="*",
            max_http_buffer_size=MAX_AUDIO_EVENT_BYTES,
            logger=False,
            engineio_logger=False,
        )
        self.clients: dict[str, Client] = {}
        self._by_account: dict[str, set[Client]] = {}
        self._rooms: dict[str, set[Client]] = {}  # call session id -> clients that joined it
        self._audio_prefixes: dict[str, bytes] = {}  # call session id -> its audio event's bytes
        self._replying: Client | None = None  # the direct client whose command runs now
        self._awaiting_reply: set[Client] = set()  # direct clients with acks in `replies`
        self._reply_timer: asyncio.TimerHandle | None = None
        # With other nodes (issue 16): calls owned elsewhere that clients here joined, and the
        # nodes whose clients joined calls owned here. Both empty on one node: the paths below
        # test them for truth only, so a lone node pays nothing for them.
        self._relay = relay
        self._remote_sessions: dict[str, tuple[str, str]] = {}  # session id -> (owner, account)
        self._remote_rooms: dict[str, set[str]] = {}  # session id -> nodes with clients in it
        self._proxy_outbox = Outbox(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._commands: dict[str, Command] = {
            "joinRoom": self._join_room,
            "audio": self._audio,
            "checkPoint": self._checkpoint,
            "dtmf": self._dtmf,
            "interruption": self._interruption,
            "hangup": self._hangup,
            "resume": self._resume,
            "transfer": self._transfer,
            "hold": self._hold,
        }
        self._unsubscribe = calls.bus.subscribe(self._on_call_event)
        # After the calls' playout and the trunk's audio, so this tick's audio can carry the acks.
        self._unsubscribe_tick = calls.ticker.subscribe(self._on_tick, TickPhase.AFTER_MEDIA)
        self.sio.on("connect", self._connect)
        self.sio.on("disconnect", self._disconnect)
        self.sio.on("*", self._generic_event)
        if relay is not None:
            relay.on_audio = self.remote_audio
            relay.on_event = self.remote_event
            relay.on_notice = self._remote_notice
            relay.handle("sio", self._serve_node)

    def held(self) -> dict[str, int]:
        """For the idle-state probe (callgate/idle.py): our tables, and python-socketio's own
        (its sessions and rooms; each connected client has a room named after it)."""
        library_rooms = sum(len(rooms) for rooms in self.sio.manager.rooms.values())
        return {
            "socketio_clients": len(self.clients),
            "socketio_accounts": len(self._by_account),
            "socketio_rooms": len(self._rooms),
            "socketio_audio_prefixes": len(self._audio_prefixes),
            "socketio_awaiting_reply": len(self._awaiting_reply),
            "socketio_sender_tasks": sum(1 for c in self.clients.values() if c.sender is not None),
            "socketio_library_sessions": len(self.sio.eio.sockets),
            "socketio_library_rooms": library_rooms,
            "socketio_ping_tasks": self.sio.eio.pending_pings,
            "outbox_entries": sum(len(c.outbox.items) for c in self.clients.values()),
        }

    async def close(self) -> None:
        self._unsubscribe()
        self._unsubscribe_tick()
        if self._reply_timer is not None:
            self._reply_timer.cancel()
            self._reply_timer = None
        for client in list(self.clients.values()):
            await self._stop_sender(client)
        tasks, self._tasks = self._tasks, set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- connection ----------------------------------------------------------------------------

    async def _connect(self, sid: str, environ: Any = None, auth: Any = None, *rest: Any) -> Any:
        if sid in self.clients:  # a client emitting "connect": not the lifecycle's call
            return _fail("'connect' is a reserved event name")
        if not isinstance(environ, dict):
            raise socketio.exceptions.ConnectionRefusedError("bad connection")
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
        outbox = Outbox(self._max_audio_backlog, on_drop=self._note_drop)
        client = Client(sid, account, outbox)
        channel = channel_of(environ.get("asgi.scope"))
        if channel is not None:
            client.channel = channel
            client.decoder = sio_wire.InboundDecoder()
            channel.on_message = lambda payload, is_text: self._on_message(client, payload, is_text)
            channel.on_drain = lambda: self._drain(client)
        else:
            client.sender = asyncio.create_task(self._send_loop(client), name=f"sio-send-{sid}")
        self.clients[sid] = client
        peers = self._by_account.setdefault(account, set())
        if not peers and self._relay is not None:
            self._relay.account_joined(account)  # this node now wants the account's newSession
        peers.add(client)
        return None

    async def _disconnect(self, sid: str, *args: Any) -> Ack | None:
        if self.sio.manager.is_connected(sid, "/"):  # a client emitting "disconnect"
            return _fail("'disconnect' is a reserved event name")
        client = self.clients.pop(sid, None)
        if client is None:
            return None
        peers = self._by_account.get(client.account)
        if peers is not None:
            peers.discard(client)
            if not peers:
                del self._by_account[client.account]
                if self._relay is not None:
                    self._relay.account_left(client.account)
        for session_id in client.joined:
            self._leave(client, session_id)
        client.listening.clear()
        if client.channel is not None:
            client.channel.detach()
            self._awaiting_reply.discard(client)
        await self._stop_sender(client)
        return None

    def _note_drop(self, session_id: str) -> None:
        self.calls.note_client_drop(session_id, "socketio")

    async def _stop_sender(self, client: Client) -> None:
        if client.sender is not None:
            client.sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await client.sender
            client.sender = None

    # --- the generic path: python-socketio's emit -------------------------------------------------

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
        """The queue in which python-engineio holds packets for this client's socket, if known.

        Private state of python-engineio (its `AsyncSocket.queue`): the library has no public
        measure of a socket's backlog, and without one the generic path (long-polling, or a
        WebSocket with permessage-deflate) would feed a client that stopped reading without bound.
        The direct path does not need it. tests/api/test_realtime.py fails if an upgrade moves it.
        """
        try:
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
            socket = self.sio.eio.sockets.get(eio_sid)
        except Exception:
            return None
        queue = getattr(socket, "queue", None)
        return queue if isinstance(queue, asyncio.Queue) else None

    async def _generic_event(self, event: str, sid: str, *args: Any) -> Ack:
        """Every client event on the generic path (python-socketio's catch-all handler)."""
        client = self.clients.get(sid)
        if client is None:
            return _fail("not connected")
        ack = self._run(client, event, args)
        if isinstance(ack, Pending):  # a call another node owns
            return await ack.future
        return ack

    # --- the direct path ----------------------------------------------------------------------

    def _on_message(self, client: Client, payload: bytes, is_text: bool) -> bool:
        """A whole WebSocket message from a direct client; False hands it to the library."""
        decoder = client.decoder
        assert decoder is not None
        try:
            command = decoder.feed(payload, is_text)
        except sio_wire.MalformedPacket as exc:
            log.warning("client %s sent an event that cannot be read: %s", client.sid, exc)
            return True
        if command is None:
            return False
        if command is True:
            return True
        assert isinstance(command, sio_wire.Command)
        # The ack goes out first, and what the command caused for this client (a hangup's
        # `hangup` and `cdr`, a join's `roomJoined`) a moment later, as on the generic path. Order
        # on the wire is not enough: a JavaScript client that reads both in one chunk runs the
        # code after its `await` of the ack only after the events' handlers (its continuation is
        # a microtask), so the gap keeps `await emitWithAck(...)` seeing its answer first.
        self._replying = client
        try:
            ack = self._run(client, command.event, command.args)
        finally:
            self._replying = None
        if isinstance(ack, Pending):  # a call another node owns: its ack comes later
            ack_id = command.ack_id
            ack.then(lambda answer: self._remote_ack(client, ack_id, answer))
            return True
        if command.ack_id is not None:
            frames = sio_wire.ack_frame(command.ack_id, ack)
            if command.event == "audio":  # 6 a second while a bot talks: worth a shared write
                self._reply(client, frames)
                return True
            # Anything else is rare and may be awaited (an interruption's playedMs): now, behind
            # the acks still waiting.
            client.replies.append(frames)
            self._write_replies(client, None)
        elif client.deferred:
            self._effects_later(client)
        return True

    def _remote_ack(self, client: Client, ack_id: int | None, ack: Ack) -> None:
        """Another node's answer to a direct client's command, read just now. What the command
        caused follows in the records behind it: held a moment, as behind a local ack."""
        if client.channel is None or client.sid not in self.clients:
            return
        if ack_id is not None:
            self._deliver(client, sio_wire.ack_frame(ack_id, ack), False, "")
        if not client.deferred:
            client.deferred.append((b"", False, ""))  # holds what follows until _send_deferred
            self._effects_later(client)

    def _reply(self, client: Client, frames: bytes) -> None:
        if not client.replies:
            self._awaiting_reply.add(client)
            if self._reply_timer is None:
                loop = asyncio.get_running_loop()
                self._reply_timer = loop.call_later(REPLY_WINDOW_S, self._flush_replies)
        client.replies.append(frames)

    def _on_tick(self, tick_no: int) -> None:
        if self._awaiting_reply:  # their clients had no audio this tick
            self._flush_replies()

    def _flush_replies(self) -> None:
        """Acks that found no audio frame to travel with."""
        if self._reply_timer is not None:
            self._reply_timer.cancel()
            self._reply_timer = None
        waiting, self._awaiting_reply = self._awaiting_reply, set()
        for client in waiting:
            if client.replies:
                self._write_replies(client, None)

    def _write_replies(self, client: Client, audio: bytes | None) -> bool:
        """The client's acks, with `audio` in the same write when it can go now; True if it went."""
        replies = b"".join(client.replies)
        client.replies.clear()
        self._awaiting_reply.discard(client)
        channel = client.channel
        assert channel is not None
        merged = False
        if (
            audio is not None
            and channel.writable
            and not client.outbox.items
            and not client.deferred
        ):
            channel.write(replies + audio)
            merged = True
        else:
            self._deliver(client, replies, False, "")
        if client.deferred:
            self._effects_later(client)
        return merged

    def _effects_later(self, client: Client) -> None:
        asyncio.get_running_loop().call_later(EFFECTS_AFTER_ACK_S, self._send_deferred, client)

    def _send_deferred(self, client: Client) -> None:
        deferred, client.deferred = client.deferred, []
        if client.channel is None or client.sid not in self.clients:
            return
        for frames, audio, sid in deferred:
            if frames:
                self._deliver(client, frames, audio, sid)

    def _send(self, client: Client, frames: bytes, *, audio: bool = False, sid: str = "") -> None:
        """Frames to a direct client: now if its socket takes them, else through its outbox."""
        if client is self._replying or client.deferred:
            client.deferred.append((frames, audio, sid))
            return
        self._deliver(client, frames, audio, sid)

    def _deliver(self, client: Client, frames: bytes, audio: bool, sid: str) -> None:
        channel = client.channel
        assert channel is not None
        outbox = client.outbox
        if channel.writable and not outbox.items:
            channel.write(frames)
            return
        if channel.closed:  # gone; python-socketio's disconnect follows
            return
        outbox.put("", frames, audio=audio, session_id=sid)
        if outbox.overflowed or (
            outbox.dropped_total > STALLED_AUDIO_S * FRAMES_PER_S * max(1, len(client.joined))
        ):
            log.warning("client %s stopped reading; disconnecting it", client.sid)
            channel.abort()

    def _drain(self, client: Client) -> None:
        """The client's socket can take more: write what waits, oldest first."""
        channel = client.channel
        assert channel is not None
        outbox = client.outbox
        while channel.writable:
            item = outbox.pop_nowait()
            if item is None:
                break
            channel.write(item.data)
        if outbox.dropped:
            for session_id, frames in outbox.take_dropped().items():
                data = {"sessionId": session_id, "frames": frames}
                outbox.put("", sio_wire.event_frames("audioDropped", data))
            if channel.writable:
                self._drain(client)

    def _broadcast(self, clients: Iterable[Client], event: str, data: dict[str, Any]) -> None:
        """An event to its clients, encoded once for all on the direct path (every client of an
        account gets newSession)."""
        frames = None
        for client in clients:
            if client.channel is not None:
                if frames is None:
                    frames = sio_wire.event_frames(event, data)
                self._send(client, frames)
            else:
                client.outbox.put(event, data)

    # --- commands (both paths) ----------------------------------------------------------------

    def _run(self, client: Client, event: str, args: tuple[Any, ...]) -> Ack | Pending:
        if event in RESERVED_EVENTS:
            return _fail(f"'{event}' is a reserved event name")
        command = self._commands.get(event)
        if command is None:
            return _fail(f"unknown event {event!r}")
        if self._remote_sessions and event != "joinRoom":
            data = args[0] if args else None
            session_id = data.get("sessionId") if isinstance(data, dict) else None
            if session_id in self._remote_sessions and session_id in client.joined:
                assert isinstance(data, dict)
                assert isinstance(session_id, str)
                return self._forward(client, session_id, event, data)
        try:
            return command(client, args[0] if args else None)
        except CallNotFound as exc:
            return _fail(f"No live call with sessionId {exc.args[0]}: unknown or already ended")
        except CommandError as exc:
            return _fail(str(exc))
        except Exception:
            log.exception("%s from client %s failed", event, client.sid)
            return _fail(f"{event} failed on the server; the incident is logged")

    def _leave(self, client: Client, session_id: str) -> None:
        members = self._rooms.get(session_id)
        if members is None or client not in members:
            return
        members.discard(client)
        if not members:
            del self._rooms[session_id]
            remote = self._remote_sessions.pop(session_id, None)
            if remote is not None and self._relay is not None:  # nobody here follows it now
                self._relay.call(
                    remote[0],
                    "sio",
                    remote[1],
                    {"e": "leaveRoom", "d": {"sessionId": session_id}},
                    None,
                    lambda ack: None,
                )
                return
        with contextlib.suppress(CallNotFound):
            self.calls.detach(self.calls.find(client.account, session_id))

    def _join_room(self, client: Client, data: Any) -> Ack | Pending:
        session_id = data.get("sessionId") if isinstance(data, dict) else None
        if not isinstance(session_id, str):
            return _fail("sessionId is required")
        assert isinstance(data, dict)
        listen = None
        if "listen" in data:  # opt-in: speech events, barge-in (callgate.listen)
            try:
                listen = parse_listen(data["listen"])
            except OptionsError as exc:
                return _fail(str(exc))
        try:
            call = self.calls.find(client.account, session_id)
        except CallNotFound:
            if self._relay is not None:
                return self._join_remote(client, session_id)
            self._broadcast((client,), "roomJoined", {"sessionId": session_id, "status": "failed"})
            return _fail(f"No live call with sessionId {session_id}")
        extra: dict[str, Any] = {}
        if listen is not None:
            client.listening.add(session_id)
            extra["listen"] = self.calls.listen(call, listen).to_json()
        if session_id not in client.joined:
            client.joined.add(session_id)
            self._rooms.setdefault(session_id, set()).add(client)
            self.calls.attach(call)
        self._broadcast((client,), "roomJoined", {"sessionId": session_id, "status": "success"})
        if call.state is not CallState.ENDED:  # a late joiner learns where the call stands at once
            status = _with_metadata(session_id, call.record.metadata, status=call.state.value)
            self._broadcast((client,), "dialStatus", status)
        return _ok(**extra)

    @staticmethod
    def _member(client: Client, data: Any) -> tuple[str, dict[str, Any]]:
        """The session the command names, which the client must have joined."""
        if not isinstance(data, dict):
            raise CommandError("the event's data must be an object with a sessionId")
        session_id = data.get("sessionId")
        if not isinstance(session_id, str) or not session_id:
            raise CommandError("sessionId is required")
        if session_id not in client.joined:
            raise CommandError(f"join the room of session {session_id} first (joinRoom)")
        return session_id, data

    def _audio(self, client: Client, data: Any) -> Ack:
        session_id, payload = self._member(client, data)
        audio = payload.get("audioData")
        audio_format = payload.get("audioFormat")
        if not isinstance(audio, bytes | bytearray | memoryview):
            raise CommandError("audioData must be binary (a Buffer, ArrayBuffer or typed array)")
        if not isinstance(audio_format, str):
            raise CommandError("audioFormat is required: one of mp3, ulaw, alaw, pcm16")
        queued_ms = self.calls.push_audio(client.account, session_id, bytes(audio), audio_format)
        return _ok(queuedMs=queued_ms)

    def _checkpoint(self, client: Client, data: Any) -> Ack:
        session_id, payload = self._member(client, data)
        name = payload.get("name")
        if not isinstance(name, str) or not 0 < len(name) <= MAX_CHECKPOINT_NAME:
            raise CommandError(f"name is required: a string of 1-{MAX_CHECKPOINT_NAME} characters")
        return _ok(queuedMs=self.calls.checkpoint(client.account, session_id, name))

    def _dtmf(self, client: Client, data: Any) -> Ack:
        session_id, payload = self._member(client, data)
        digit = payload.get("digit")
        duration = payload.get("duration", DEFAULT_DTMF_MS)
        if not isinstance(digit, str):
            raise CommandError("digit is required: one of 0-9, *, #, A-D")
        if (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not math.isfinite(duration)
        ):
            raise CommandError(f"duration must be a number of milliseconds, 1-{MAX_DTMF_MS}")
        if duration != int(duration):
            raise CommandError("duration must be a whole number of milliseconds")
        self.calls.send_dtmf(client.account, session_id, digit.upper(), int(duration))
        return _ok()

    def _interruption(self, client: Client, data: Any) -> Ack:
        session_id, _ = self._member(client, data)
        result = self.calls.interrupt(client.account, session_id)
        return _ok(playedMs=result.played_ms, discardedMs=result.discarded_ms)

    def _resume(self, client: Client, data: Any) -> Ack:
        """Play on: off the bot's own hold (callgate.calls.hold), and after a barge-in `pause`
        (the callee's speech was not for the bot)."""
        session_id, _ = self._member(client, data)
        return _ok(queuedMs=self.calls.resume(client.account, session_id))

    def _hold(self, client: Client, data: Any) -> Ack:
        """The bot holds the call (callgate.calls.hold); `hold` or `holdFailed` follows."""
        session_id, _ = self._member(client, data)
        return _ok(queuedMs=self.calls.hold(client.account, session_id))

    def _hangup(self, client: Client, data: Any) -> Ack:
        session_id, payload = self._member(client, data)
        after_playout = payload.get("afterPlayout", False)
        if not isinstance(after_playout, bool):
            raise CommandError("afterPlayout must be true or false")
        self.calls.hangup(client.account, session_id, after_playout=after_playout)
        return _ok()

    def _transfer(self, client: Client, data: Any) -> Ack:
        """Blind transfer (callgate.calls.transfer); progress follows as `transferStatus`."""
        session_id, payload = self._member(client, data)
        try:
            self.calls.transfer(
                client.account, session_id, payload.get("target"), payload.get("mode")
            )
        except TransferError as exc:
            return _fail(exc.message)
        return _ok()

    # --- call events to clients ----------------------------------------------------------------

    def _on_call_event(self, event: BusEvent) -> None:
        if type(event) is AudioReceived:  # 50 times a second per call: the shortest way through
            members = self._rooms.get(event.session_id)
            if members:  # most frames of most calls have nobody listening on Socket.IO
                self._audio_out(event.session_id, event.frame, members)
            if self._remote_rooms:  # clients on other nodes joined calls of this one
                nodes = self._remote_rooms.get(event.session_id)
                if nodes and self._relay is not None:
                    for node in nodes:
                        self._relay.send_audio(node, event.session_id, event.frame)
            return
        match event:
            case CallCreated(session_id=sid, account=account, direction=direction):
                data: dict[str, Any] = {"sessionId": sid, "type": direction}
                if event.metadata is not None:  # only calls that carry some: the seed's shape
                    data["metadata"] = event.metadata
                self._broadcast(self._by_account.get(account, ()), "newSession", data)
                if self._relay is not None:
                    self._relay.notify_account(account, "newSession", data)
            case DialStatusChanged(session_id=sid, status=status, metadata=metadata):
                self._to_room(sid, "dialStatus", _with_metadata(sid, metadata, status=status))
            case DtmfReceived(session_id=sid, digit=digit):
                self._to_room(sid, "dtmf", {"sessionId": sid, "digit": digit})
            case CheckpointReached(session_id=sid, name=name, status=status):
                self._to_room(sid, "checkPoint", {"sessionId": sid, "name": name, "status": status})
            case Listened(session_id=sid, event=name, fields=fields, to_all=to_all):
                listeners: Iterable[Client] = self._rooms.get(sid, set())
                if not to_all:  # only the clients that asked on joinRoom
                    listeners = {client for client in listeners if sid in client.listening}
                self._broadcast(listeners, name, {"sessionId": sid, **fields})
            case TransferStatusChanged(session_id=sid, state=state, sip_status=status):
                progress = {"sessionId": sid, "state": state, "sipStatus": status}
                self._to_room(sid, "transferStatus", progress)
            case HoldChanged(session_id=sid, held=held, by=by):
                self._to_room(sid, "hold" if held else "resume", {"sessionId": sid, "by": by})
            case HoldFailed(session_id=sid, action=action, sip_status=status):
                failure = {"sessionId": sid, "action": action, "sipStatus": status}
                self._to_room(sid, "holdFailed", failure)
            case CallFinished(session_id=sid, record=record):
                self._to_room(sid, "hangup", _with_metadata(sid, record.metadata))
                self._to_room(sid, "cdr", record.to_json())
                self._end_room(sid)
                nodes = self._remote_rooms.pop(sid, None)
                if nodes:
                    log.debug("call %s ended; nodes %s were told", sid, sorted(nodes))

    def _end_room(self, sid: str) -> None:
        """Nothing about the call follows its cdr: the room is gone."""
        self._audio_prefixes.pop(sid, None)
        self._remote_sessions.pop(sid, None)
        for client in self._rooms.pop(sid, ()):
            client.joined.discard(sid)
            client.listening.discard(sid)

    def _audio_out(self, sid: str, frame: bytes, members: set[Client]) -> None:
        frames = payload = None
        for client in members:
            channel = client.channel
            if channel is not None:
                if frames is None:
                    frames = self._audio_frames(sid, frame)
                if client.replies:
                    if self._write_replies(client, frames):
                        continue
                elif channel.writable and not client.outbox.items and not client.deferred:
                    channel.write(frames)  # the common case, inline: 50 times a second a call
                    continue
                self._send(client, frames, audio=True, sid=sid)
            else:
                if payload is None:
                    payload = {"sessionId": sid, "audioData": frame, "audioFormat": "pcm16"}
                client.outbox.put("audio", payload, audio=True, session_id=sid)

    def _audio_frames(self, sid: str, frame: bytes) -> bytes:
        if len(frame) != FRAME_BYTES:  # no trunk sends other sizes; kept exact
            data = {"sessionId": sid, "audioData": frame, "audioFormat": "pcm16"}
            return sio_wire.event_frames("audio", data)
        prefix = self._audio_prefixes.get(sid)
        if prefix is None:
            prefix = self._audio_prefixes[sid] = sio_wire.audio_prefix(sid)
        return prefix + frame

    def _to_room(self, session_id: str, event: str, data: dict[str, Any]) -> None:
        self._broadcast(self._rooms.get(session_id, ()), event, data)
        if self._remote_rooms and self._relay is not None:
            for node in self._remote_rooms.get(session_id, ()):
                self._relay.send_event(node, session_id, event, data)

    # --- calls owned by other nodes (issue 16) ----------------------------------------------------
    #
    # A client here joins a call another node owns: the owner (from the call -> node map) is asked
    # to count this node in the call's room; from then on the owner sends this node the call's
    # audio and events, in order, and this node writes them to its joined clients exactly as it
    # writes its own calls'. The client's commands for that call are run on the owner, by the same
    # handlers, and answered here with the owner's ack.

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _join_remote(self, client: Client, session_id: str) -> Pending:
        pending = Pending()
        self._spawn(self._join_remote_run(client, session_id, pending))
        return pending

    async def _join_remote_run(self, client: Client, session_id: str, pending: Pending) -> None:
        relay = self._relay
        assert relay is not None
        try:
            owner = await relay.owner_of(session_id)
        except Exception:
            log.exception("looking up the node of call %s failed", session_id)
            owner = None
        if owner is None or owner == relay.node_id:
            self._broadcast((client,), "roomJoined", {"sessionId": session_id, "status": "failed"})
            pending.resolve(_fail(f"No live call with sessionId {session_id}"))
            return
        data = {"e": "joinRoom", "d": {"sessionId": session_id}}

        def joined(ack: Ack) -> None:
            if not ack.get("success") or client.sid not in self.clients:
                if client.sid in self.clients:
                    failed = {"sessionId": session_id, "status": "failed"}
                    self._broadcast((client,), "roomJoined", failed)
                pending.resolve(_fail(str(ack.get("error") or "joinRoom failed")))
                return
            self._remote_sessions[session_id] = (owner, client.account)
            if session_id not in client.joined:
                client.joined.add(session_id)
                self._rooms.setdefault(session_id, set()).add(client)
            ok = {"sessionId": session_id, "status": "success"}
            self._broadcast((client,), "roomJoined", ok)
            state = ack.get("state")
            if isinstance(state, str) and state != CallState.ENDED.value:
                metadata = ack.get("metadata")
                status = _with_metadata(
                    session_id, metadata if isinstance(metadata, dict) else None, status=state
                )
                self._broadcast((client,), "dialStatus", status)
            pending.resolve(_ok())

        relay.call(owner, "sio", client.account, data, None, joined)

    def _forward(
        self, client: Client, session_id: str, event: str, data: dict[str, Any]
    ) -> Pending:
        relay = self._relay
        assert relay is not None
        owner = self._remote_sessions[session_id][0]
        blob = data.get("audioData")
        if isinstance(blob, bytes | bytearray | memoryview):  # binary travels beside the JSON
            data = {key: value for key, value in data.items() if key != "audioData"}
            blob = bytes(blob)
        else:
            blob = None
        pending = Pending()
        relay.call(owner, "sio", client.account, {"e": event, "d": data}, blob, pending.resolve)
        return pending

    def _serve_node(
        self, node: str, account: str, request: dict[str, Any], blob: bytes | None
    ) -> Ack:
        """A command from a client on `node` for a call of this node."""
        event, data = request.get("e"), request.get("d")
        if not isinstance(event, str) or not isinstance(data, dict):
            return _fail("malformed node request")
        session_id = data.get("sessionId")
        if not isinstance(session_id, str):
            return _fail("sessionId is required")
        if event == "joinRoom":
            try:
                call = self.calls.find(account, session_id)
            except CallNotFound:
                return _fail(f"No live call with sessionId {session_id}")
            nodes = self._remote_rooms.setdefault(session_id, set())
            if node not in nodes:
                nodes.add(node)
                self.calls.attach(call)  # a room with clients elsewhere keeps its call alive
            extra = {} if call.record.metadata is None else {"metadata": call.record.metadata}
            return _ok(state=call.state.value, **extra)
        if event == "leaveRoom":
            self._drop_remote(session_id, node)
            return _ok()
        if blob is not None:
            data["audioData"] = blob
        proxy = Client(f"node:{node}", account, self._proxy_outbox, joined={session_id})
        ack = self._run(proxy, event, (data,))
        assert not isinstance(ack, Pending)  # calls of this node are run here
        return ack

    def _drop_remote(self, session_id: str, node: str) -> None:
        nodes = self._remote_rooms.get(session_id)
        if nodes is None or node not in nodes:
            return
        nodes.discard(node)
        if not nodes:
            del self._remote_rooms[session_id]
        call = next((c for c in self.calls.calls if c.session_id == session_id), None)
        if call is not None:
            self.calls.detach(call)

    def remote_audio(self, session_id: str, frame: bytes) -> None:
        """A frame of a call another node owns, for the clients here in its room."""
        members = self._rooms.get(session_id)
        if members:
            self._audio_out(session_id, frame, members)

    def remote_event(self, session_id: str, name: str, data: dict[str, Any]) -> None:
        """An event of a call another node owns (or closed for its dead owner)."""
        if session_id not in self._remote_sessions:
            return
        self._broadcast(self._rooms.get(session_id, ()), name, data)
        if name == "cdr":
            self._end_room(session_id)

    def _remote_notice(self, account: str, name: str, data: dict[str, Any]) -> None:
        if name == "newSession":
            self._broadcast(self._by_account.get(account, ()), name, data)

    def remote_sessions(self) -> dict[str, tuple[str, str]]:
        """Calls other nodes own that clients here joined: session id -> (owner, account)."""
        return dict(self._remote_sessions)

    def remote_nodes(self) -> set[str]:
        """Nodes with clients in rooms of calls owned here."""
        return {node for nodes in self._remote_rooms.values() for node in nodes}

    def drop_node(self, node: str) -> None:
        """`node` is gone: its clients no longer follow calls here."""
        for session_id in [sid for sid, nodes in self._remote_rooms.items() if node in nodes]:
            self._drop_remote(session_id, node)


def _with_metadata(sid: str, metadata: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """An event's payload; a call's metadata is added only when it has some (the seed's shape)."""
    data: dict[str, Any] = {"sessionId": sid, **fields}
    if metadata is not None:
        data["metadata"] = metadata
    return data
