"""A real gateway on loopback (uvicorn, in this process, on a hand-stepped clock) and Socket.IO clients."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import socketio
import uvicorn

from callgate.api.auth import create_token
from callgate.api.realtime import Realtime
from callgate.api.sio_transport import uvicorn_ws_options
from callgate.app import create_app, rest_app
from callgate.clock import ManualClock
from callgate.config import load_config
from callgate.gateway import Gateway
from tests.support import free_port

SECRET = "live-test-secret-" + "k" * 40
WAIT_S = 5.0
TABLE_SETTINGS = frozenset({"simulator_scripts", "webhooks"})


@dataclass
class Live:
    gateway: Gateway
    clock: ManualClock
    url: str
    realtime: Realtime
    http: httpx.AsyncClient
    clients: list[socketio.AsyncClient] = field(default_factory=list)

    def token(self, account: str = "acme") -> str:
        return create_token(SECRET, account)

    async def call(self, number: str, account: str = "acme") -> str:
        response = await self.http.post(
            "/pbx/call",
            json={"phoneNumber": number},
            headers={"Authorization": f"Bearer {self.token(account)}"},
        )
        assert response.status_code == 200, response.text
        sid: str = response.json()["data"]["sessionId"]
        return sid

    async def step(self, seconds: float, frame_s: float = 0.02) -> None:
        """Advance the clock frame by frame, letting the network carry what each frame produced."""
        steps = round(seconds / frame_s)
        for _ in range(steps):
            self.clock.advance(frame_s)
            await asyncio.sleep(0)
        await asyncio.sleep(0)


@dataclass
class Client:
    sio: socketio.AsyncClient
    events: dict[str, asyncio.Queue[Any]] = field(
        default_factory=lambda: defaultdict(asyncio.Queue)
    )
    log: list[tuple[str, Any]] = field(default_factory=list)

    async def next(self, event: str, timeout_s: float = WAIT_S) -> Any:
        return await asyncio.wait_for(self.events[event].get(), timeout_s)

    async def until(self, event: str, predicate: Any, timeout_s: float = WAIT_S) -> Any:
        async def find() -> Any:
            while True:
                data = await self.events[event].get()
                if predicate(data):
                    return data

        return await asyncio.wait_for(find(), timeout_s)

    def drain(self, event: str) -> list[Any]:
        items = []
        queue = self.events[event]
        while not queue.empty():
            items.append(queue.get_nowait())
        return items

    async def ask(self, event: str, data: Any) -> Any:
        return await self.sio.call(event, data, timeout=WAIT_S)


EVENTS = (
    "newSession",
    "roomJoined",
    "dialStatus",
    "audio",
    "dtmf",
    "checkPoint",
    "hangup",
    "cdr",
    "audioDropped",
)


async def connect(live: Live, token: str | None = None, **kwargs: Any) -> Client:
    sio = socketio.AsyncClient(reconnection=False)
    live.clients.append(sio)
    client = Client(sio)
    for name in EVENTS:

        def handler(data: Any, name: str = name) -> None:
            client.log.append((name, data))
            client.events[name].put_nowait(data)

        sio.on(name, handler)
    await sio.connect(
        live.url,
        auth={"token": token if token is not None else live.token()},
        transports=kwargs.get("transports", ["websocket"]),
        wait_timeout=WAIT_S,
    )
    return client


@asynccontextmanager
async def live_gateway(tmp_path: Path, **settings: Any) -> AsyncIterator[Live]:
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret=SECRET,
        node_id="live",
        **{key: value for key, value in settings.items() if key not in TABLE_SETTINGS},
    )
    tables = {key: value for key, value in settings.items() if key in TABLE_SETTINGS}
    config = dataclasses.replace(config, **tables)  # TOML tables, not flat settings
    clock = ManualClock()
    gateway = Gateway.build(config, clock=clock)
    await gateway.start()
    app = create_app(gateway, manage_lifecycle=False)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
            **uvicorn_ws_options(),
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    url = f"http://127.0.0.1:{port}"
    realtime: Realtime = rest_app(app).state.realtime
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            live = Live(gateway, clock, url, realtime, http)
            yield live
    finally:
        for sio in live.clients if "live" in locals() else ():
            # abort: python-engineio's server keeps a polling client's pending long-poll open until
            # its ping timeout after a graceful disconnect; the server below stops without waiting.
            await sio.eio.disconnect(abort=True)
        await realtime.close()
        server.should_exit = True
        await task
        await gateway.stop()
