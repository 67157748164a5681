"""`Client`: one REST session (httpx) and one Socket.IO connection (python-socketio) to a gateway,
carrying any number of calls.

Every command goes through `request()`: it waits while the socket is down, emits with an ack, and
when the connection drops before the ack it sends again once the client is back and has re-joined
every live call's room (python-socketio reconnects; the `connect` handler re-joins). A call that
ended meanwhile is closed with its CDR from REST. A command the gateway refuses raises
`CommandRefused` with its message.

Speed: python-engineio's client starts a task for every message it receives, about a hundred a
second per call (each `audio` event is a text packet and its binary attachment). `_InlineEngineIO`
hands messages to python-socketio inline instead, in order, on the read loop; the handlers here
never block (they route to the call and return).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final

import engineio
import httpx
import socketio

from callgate.client.call import Call
from callgate.client.errors import ApiError, CallEnded, CallgateError, ConnectionLost
from callgate.client.records import Cdr

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_S: Final = 10.0
RECONNECT_TIMEOUT_S: Final = 30.0
CDR_PAGE: Final = 100


class CommandRefused(CallgateError):
    """The gateway answered a Socket.IO command with `success: false`."""


class _Dropped(Exception):
    """The connection dropped before the ack: send again once back."""


class _InlineEngineIO(engineio.AsyncClient):  # type: ignore[misc]
    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "message":
            kwargs["run_async"] = False
        return await super()._trigger_event(event, *args, **kwargs)


def audio_header(session_id: str) -> str:
    """The Socket.IO text packet that precedes each of a call's audio frames (the gateway's own
    encoding, `callgate.api.sio_wire.audio_prefix`): the same for every frame of the call."""
    data = {"sessionId": session_id, "audioData": _PLACEHOLDER, "audioFormat": "pcm16"}
    return "51-" + json.dumps(["audio", data], separators=(",", ":"))


_PLACEHOLDER: Final = {"_placeholder": True, "num": 0}


class _SocketIO(socketio.AsyncClient):  # type: ignore[misc]
    """python-socketio's client, with a short way through for calls' audio frames.

    An `audio` event is a text packet (the same for every frame of a call) and its binary
    attachment. A text packet found in `audio_sinks` hands the next binary message straight to its
    call: no JSON parse, no packet object, no handler lookup, 50 times a second per call. Anything
    else, or a gateway that encodes the event differently, takes the library's path unchanged.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.audio_sinks: dict[str, Callable[[bytes], None]] = {}
        self._audio_sink: Callable[[bytes], None] | None = None

    def _engineio_client_class(self) -> type[engineio.AsyncClient]:
        return _InlineEngineIO

    async def _handle_eio_message(self, data: Any) -> None:
        sink = self._audio_sink
        if sink is not None:
            self._audio_sink = None
            if type(data) is bytes:
                sink(data)
                return
        elif type(data) is str:
            sink = self.audio_sinks.get(data)
            if sink is not None:
                self._audio_sink = sink
                return
        await super()._handle_eio_message(data)

    async def _handle_eio_disconnect(self, reason: Any) -> None:
        self._audio_sink = None
        await super()._handle_eio_disconnect(reason)


class Client:
    """`async with Client("http://127.0.0.1:8080", token) as cg: call = await cg.dial("0896...")`."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
        reconnect_timeout_s: float = RECONNECT_TIMEOUT_S,
    ) -> None:
        self.url = url.rstrip("/")
        self._token = token
        self._request_timeout_s = request_timeout_s
        self._reconnect_timeout_s = reconnect_timeout_s
        self.calls: dict[str, Call] = {}
        self.reconnects = 0
        self._http = httpx.AsyncClient(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=request_timeout_s,
        )
        self._sio = _SocketIO(
            reconnection=True,
            reconnection_attempts=0,  # bounded by reconnect_timeout_s in request()
            reconnection_delay=0.1,
            reconnection_delay_max=2,
            handle_sigint=False,
        )
        self._online = asyncio.Event()
        self._pending: set[asyncio.Future[Any]] = set()
        self._rejoin: asyncio.Task[None] | None = None
        self._connections = 0
        self._closed = False
        sio = self._sio
        sio.on("connect", self._on_connect)
        sio.on("disconnect", self._on_disconnect)
        sio.on("audio", self._on_audio)
        sio.on("dialStatus", self._on_dial_status)
        sio.on("dtmf", self._on_dtmf)
        sio.on("checkPoint", self._on_checkpoint)
        sio.on("cdr", self._on_cdr)
        sio.on("audioDropped", self._on_audio_dropped)

    async def __aenter__(self) -> Client:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        await self._sio.connect(
            self.url,
            auth={"token": self._token},
            transports=["websocket"],
            wait_timeout=self._request_timeout_s,
        )
        await asyncio.wait_for(self._online.wait(), self._request_timeout_s)

    async def close(self) -> None:
        """Leave the calls running (they outlive their clients) and close both connections."""
        self._closed = True
        if self._rejoin is not None:
            self._rejoin.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rejoin
        await self._sio.disconnect()
        await self._http.aclose()

    # --- calls ------------------------------------------------------------------------------------

    async def dial(self, number: str, *, record: bool | None = None) -> Call:
        """Place a call (`POST /pbx/call`) and join its room; `await call.connected()` next."""
        body: dict[str, Any] = {"phoneNumber": number}
        if record is not None:
            body["record"] = record
        data = await self._rest("POST", "/pbx/call", json=body)
        return await self.follow(data["sessionId"], number)

    async def follow(self, session_id: str, number: str = "") -> Call:
        """Join the room of a call already placed (by another process, or an inbound one)."""
        call = self.calls.get(session_id)
        if call is not None:
            return call
        call = self.calls[session_id] = Call(self, session_id, number)
        self._sio.audio_sinks[audio_header(session_id)] = call._audio_in
        await self._join(call, fresh=True)
        return call

    async def hangup(self, session_id: str) -> None:
        """`POST /pbx/hangup`: end a call by id over REST."""
        await self._rest("POST", "/pbx/hangup", json={"sessionId": session_id})

    async def cdr(self, session_id: str) -> Cdr:
        """`GET /v1/cdr/{sessionId}` (live calls too: endTime is None until they end)."""
        return Cdr.from_json(await self._rest("GET", f"/v1/cdr/{session_id}"))

    async def cdrs(
        self,
        *,
        filter: Mapping[str, str] | Iterable[str] = (),
        sort: str | Iterable[str] = (),
        limit: int = CDR_PAGE,
    ) -> AsyncIterator[Cdr]:
        """Every CDR matching `filter`, page after page of `GET /v1/cdr`.

        `filter`: {"duration": "$gte:30"} or ["duration=$gte:30", ...] (the spec's operators);
        `sort`: "duration:DESC" or several, applied in order (default newest first).
        """
        params: list[tuple[str, str | int]] = [("limit", limit)]
        params += [(f"filter.{field}", value) for field, value in _filters(filter)]
        params += [("sortBy", value) for value in ([sort] if isinstance(sort, str) else sort)]
        page = 1
        while True:
            response = await self._http.get("/v1/cdr", params=[*params, ("page", page)])
            body = _json(response)
            if response.status_code != 200:
                raise ApiError(response.status_code, str(body.get("errors") or response.text))
            for item in body.get("data") or ():
                yield Cdr.from_json(item)
            meta = body.get("meta") or {}
            if page >= int(meta.get("totalPages") or 0):
                return
            page += 1

    # --- the one chokepoint for commands --------------------------------------------------------------

    async def request(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        """Emit `event` with an ack and return the ack; waits out (and re-sends across) a drop."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._reconnect_timeout_s
        while True:
            if not self._online.is_set():
                remaining = deadline - loop.time()
                try:
                    await asyncio.wait_for(self._online.wait(), max(remaining, 0.001))
                except TimeoutError:
                    raise ConnectionLost(
                        f"no connection to {self.url} for {self._reconnect_timeout_s:g} s"
                    ) from None
            try:
                ack = await self._emit(event, data)
            except _Dropped:
                continue
            if not ack.get("success"):
                session_id = data.get("sessionId")
                call = self.calls.get(session_id) if isinstance(session_id, str) else None
                if call is not None and call.ended:
                    raise CallEnded(await call.cdr())
                raise CommandRefused(f"{event}: {ack.get('error')}")
            return ack

    async def _emit(self, event: str, data: dict[str, Any]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()

        def on_ack(*args: Any) -> None:
            if not answer.done():
                answer.set_result(args[0] if args else None)

        self._pending.add(answer)
        try:
            try:
                await self._sio.emit(event, data, callback=on_ack)
            except socketio.exceptions.SocketIOError:
                raise _Dropped from None
            try:
                ack = await asyncio.wait_for(answer, self._request_timeout_s)
            except TimeoutError:
                raise CallgateError(
                    f"{event}: no answer from the gateway in {self._request_timeout_s:g} s"
                ) from None
        finally:
            self._pending.discard(answer)
        if ack is _DROPPED:
            raise _Dropped
        return ack if isinstance(ack, dict) else {"success": False, "error": repr(ack)}

    # --- connection lifecycle -----------------------------------------------------------------------

    def _on_connect(self) -> None:
        self._connections += 1
        if self._connections > 1:
            self.reconnects += 1
        # Re-joining waits for acks, which arrive on the read loop that runs this handler: a task.
        if self._rejoin is not None:
            self._rejoin.cancel()
        self._rejoin = asyncio.get_running_loop().create_task(self._rejoin_all())

    async def _rejoin_all(self) -> None:
        for call in list(self.calls.values()):
            if not call.ended:
                try:
                    await self._join(call, fresh=False)
                except _Dropped:
                    return  # dropped again; the next connect starts over
                except Exception:
                    log.exception("re-joining call %s failed", call.session_id)
        self._online.set()

    def _on_disconnect(self, *reason: Any) -> None:
        self._online.clear()
        for answer in list(self._pending):
            if not answer.done():
                answer.set_result(_DROPPED)

    async def _join(self, call: Call, *, fresh: bool) -> None:
        try:
            ack = await self._emit("joinRoom", {"sessionId": call.session_id})
        except _Dropped:
            if fresh:  # dial() itself: wait for the connection, then join again
                await self.request("joinRoom", {"sessionId": call.session_id})
                return
            raise
        if not ack.get("success"):  # ended before (or while) we joined: its CDR says how
            self._forget(call, await self._final_cdr(call.session_id))

    async def _final_cdr(self, session_id: str) -> Cdr:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._request_timeout_s
        while True:
            cdr = await self.cdr(session_id)
            if cdr.ended or loop.time() > deadline:
                return cdr
            await asyncio.sleep(0.05)  # the gateway is closing the record this very moment

    # --- events in (each routed to its call, inline on the read loop) -----------------------------------

    def _call_of(self, data: Any) -> Call | None:
        if isinstance(data, dict):
            return self.calls.get(data.get("sessionId"))  # type: ignore[arg-type]
        return None

    def _on_audio(self, data: Any) -> None:
        call = self._call_of(data)
        if call is not None:
            call._audio_in(bytes(data["audioData"]))

    def _on_dial_status(self, data: Any) -> None:
        call = self._call_of(data)
        if call is not None:
            call._status_in(str(data.get("status")))

    def _on_dtmf(self, data: Any) -> None:
        call = self._call_of(data)
        if call is not None:
            call._dtmf_in(str(data.get("digit")))

    def _on_checkpoint(self, data: Any) -> None:
        call = self._call_of(data)
        if call is not None:
            call._checkpoint_in(str(data.get("name")), str(data.get("status", "played")))

    def _on_audio_dropped(self, data: Any) -> None:
        call = self._call_of(data)
        if call is not None:
            call._dropped_in(int(data.get("frames") or 0))

    def _on_cdr(self, data: Any) -> None:
        call = self._call_of(data)
        if call is not None:
            self._forget(call, Cdr.from_json(data))

    def _forget(self, call: Call, cdr: Cdr) -> None:
        call._finish(cdr)
        self.calls.pop(call.session_id, None)
        self._sio.audio_sinks.pop(audio_header(call.session_id), None)

    # --- REST -------------------------------------------------------------------------------------

    async def _rest(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._http.request(method, path, **kwargs)
        body = _json(response)
        if response.status_code != 200:
            raise ApiError(response.status_code, str(body.get("errors") or response.text))
        return body.get("data")


_DROPPED: Final = object()


def _filters(filter: Mapping[str, str] | Iterable[str]) -> Iterable[tuple[str, str]]:
    if isinstance(filter, Mapping):
        return list(filter.items())
    pairs = []
    for item in filter:
        field, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"filter {item!r}: expected field=$op:value")
        pairs.append((field.removeprefix("filter."), value))
    return pairs


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
