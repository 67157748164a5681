"""An in-process gateway on a hand-stepped clock with a real database (SQLite, and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvloop

from callgate.api.auth import create_token
from callgate.app import create_app
from callgate.clock import ManualClock
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.telephony.simulated import SimulatedCarrier
from tests.support import database_url

__all__ = ["database_url"]


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> dict[str, object]:
    """The API's tests run on the loop `callgate serve` runs on: uvloop, whose transports differ
    from asyncio's (the Socket.IO direct path writes to them and takes their flow control)."""
    return {"uvloop": uvloop.new_event_loop}


SECRET = "test-secret-" + "x" * 40
TABLE_SETTINGS = frozenset({"simulator_scripts", "webhooks", "accounts"})
NUMBER = "089608675796"


@dataclass
class Api:
    gateway: Gateway
    clock: ManualClock
    client: httpx.AsyncClient
    token: str

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def token_for(self, account: str) -> str:
        return create_token(SECRET, account)

    async def call(self, number: str, token: str | None = None) -> str:
        response = await self.client.post(
            "/pbx/call", json={"phoneNumber": number}, headers=self.auth(token)
        )
        assert response.status_code == 200, response.text
        sid: str = response.json()["data"]["sessionId"]
        return sid

    async def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        await self.gateway.recorder.flush()


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async with running(database_url, tmp_path) as gateway:
        yield gateway


def dials(api: Api) -> int:
    """Outbound calls the simulated carrier has been handed: what a callee would have noticed."""
    trunk = api.gateway.trunk
    assert isinstance(trunk, SimulatedCarrier)
    return trunk.dials


@asynccontextmanager
async def running(database_url: str, data_dir: Path, **settings: Any) -> AsyncIterator[Api]:
    """A gateway process's worth of state (its own clock, trunk and memory) on a database, with
    `settings` over the defaults."""
    config = load_config(
        environ={},
        data_dir=str(data_dir),
        database_url=database_url,
        jwt_secret=SECRET,
        node_id="test-node",
        **{key: value for key, value in settings.items() if key not in TABLE_SETTINGS},
    )
    tables = {key: value for key, value in settings.items() if key in TABLE_SETTINGS}
    config = dataclasses.replace(config, **tables)  # TOML tables, not flat settings
    clock = ManualClock()
    gateway = Gateway.build(config, clock=clock)
    await gateway.start()
    transport = httpx.ASGITransport(app=create_app(gateway, manage_lifecycle=False))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://callgate.test") as c:
            yield Api(gateway, clock, c, create_token(SECRET, "acme"))
    finally:
        await gateway.stop()


async def post_call(
    api: Api, key: str | None, number: str = NUMBER, token: str | None = None
) -> httpx.Response:
    headers = api.auth(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    return await api.client.post("/pbx/call", json={"phoneNumber": number}, headers=headers)
