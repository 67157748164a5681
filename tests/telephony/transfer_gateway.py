"""The whole gateway on a SIP trunk to sipp, served by uvicorn on loopback: REST, Socket.IO, CDRs.

For the transfer tests: `sip_gateway(tmp_path, sipp_port)` yields a
`SipGateway` whose trunk dials sipp; `bot()` connects a python-socketio client that records every
event it gets, so a test reads `transferStatus`, `hangup` and `cdr` as a bot would.
"""

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
from callgate.clock import LoopClock, MediaTicker
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.telephony.siptrunk import SipTrunk, SipTrunkSettings
from callgate.webhooks.settings import WebhookSettings
from tests.support import free_port
from tests.telephony.siptrunk.harness import rtp_range

SECRET = "transfer-test-secret-" + "t" * 40
WAIT_S = 10.0
BOT_EVENTS = ("roomJoined", "dialStatus", "transferStatus", "hangup", "cdr")


@dataclass
class Bot:
    sio: socketio.AsyncClient
    events: dict[str, asyncio.Queue[Any]] = field(
        default_factory=lambda: defaultdict(asyncio.Queue)
    )
    log: list[tuple[str, Any]] = field(default_factory=list)

    async def next(self, event: str, timeout_s: float = WAIT_S) -> Any:
        return await asyncio.wait_for(self.events[event].get(), timeout_s)

    async def until(self, event: str, value: Any, timeout_s: float = WAIT_S) -> None:
        """Wait for `event` carrying `value` (a dict's items it must contain)."""

        async def find() -> None:
            while True:
                data = await self.events[event].get()
                if all(data.get(k) == v for k, v in value.items()):
                    return

        await asyncio.wait_for(find(), timeout_s)

    def seen(self, event: str) -> list[Any]:
        return [data for name, data in self.log if name == event]

    async def ask(self, event: str, data: Any) -> Any:
        return await self.sio.call(event, data, timeout=WAIT_S)


@dataclass
class SipGateway:
    gateway: Gateway
    url: str
    http: httpx.AsyncClient
    bots: list[Bot] = field(default_factory=list)

    def auth(self, account: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {create_token(SECRET, account)}"}

    async def call(self, number: str) -> str:
        response = await self.http.post(
            "/pbx/call", json={"phoneNumber": number}, headers=self.auth()
        )
        assert response.status_code == 200, response.text
        sid: str = response.json()["data"]["sessionId"]
        return sid

    async def transfer(self, sid: str, target: str, mode: str = "blind") -> httpx.Response:
        body = {"sessionId": sid, "target": target, "mode": mode}
        return await self.http.post("/pbx/transfer", json=body, headers=self.auth())

    async def bot(self, account: str = "acme") -> Bot:
        sio = socketio.AsyncClient(reconnection=False)
        bot = Bot(sio)
        self.bots.append(bot)
        for name in BOT_EVENTS:

            def handler(data: Any, name: str = name) -> None:
                bot.log.append((name, data))
                bot.events[name].put_nowait(data)

            sio.on(name, handler)
        await sio.connect(
            self.url,
            auth={"token": create_token(SECRET, account)},
            transports=["websocket"],
            wait_timeout=WAIT_S,
        )
        return bot

    async def answered_call(self, bot: Bot, number: str) -> str:
        """Place a call, join its room, wait until it is Connected."""
        sid = await self.call(number)
        assert (await bot.ask("joinRoom", {"sessionId": sid}))["success"]
        await bot.until("dialStatus", {"sessionId": sid, "status": "Connected"})
        return sid


@asynccontextmanager
async def sip_gateway(
    tmp_path: Path,
    sipp_port: int,
    *,
    webhooks: tuple[WebhookSettings, ...] = (),
    transfer_timeout_s: float | None = None,
    **trunk_settings: Any,
) -> AsyncIterator[SipGateway]:
    """`trunk_settings`: more `SipTrunkSettings` (hold_music, ...)."""
    low, high = rtp_range()
    settings = SipTrunkSettings(
        host="127.0.0.1",
        port=sipp_port,
        bind_host="127.0.0.1",
        bind_port=free_port(),
        rtp_port_min=low,
        rtp_port_max=high,
        **trunk_settings,
    )
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret=SECRET,
    )
    config = dataclasses.replace(config, webhooks=webhooks)
    clock = LoopClock()
    ticker = MediaTicker(clock)
    trunk = SipTrunk(settings, clock, ticker)
    gateway = Gateway.build(config, clock=clock, ticker=ticker, trunk=trunk)
    await gateway.start()
    if transfer_timeout_s is not None:
        trunk.engine.transfer_timeout_s = transfer_timeout_s
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
    realtime: Realtime = rest_app(app).state.realtime
    served: SipGateway | None = None
    try:
        while not server.started:
            await asyncio.sleep(0.01)
            if task.done():
                task.result()
        url = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=url, timeout=WAIT_S) as http:
            served = SipGateway(gateway, url, http)
            yield served
    finally:
        for bot in served.bots if served is not None else ():
            await bot.sio.eio.disconnect(abort=True)
        await realtime.close()
        server.should_exit = True
        await task
        await gateway.stop()
