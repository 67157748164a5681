"""The HTTP server's own refusals, on a real socket: the spec's envelope, and bounded request heads."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from callgate.api.http_server import MAX_HEAD_BYTES, MAX_URL_BYTES, server_options
from callgate.app import create_app
from callgate.clock import ManualClock
from callgate.config import load_config
from callgate.gateway import Gateway
from tests.support import free_port

WAIT_S = 5.0


@pytest.fixture
async def port(tmp_path: Path) -> AsyncIterator[int]:
    """`callgate serve`'s uvicorn settings, in this process, on a free port."""
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret="http-test-secret-" + "h" * 40,
        port=free_port(),
    )
    gateway = Gateway.build(config, clock=ManualClock())
    await gateway.start()
    options = {**server_options(config), "lifespan": "off", "log_level": "critical"}
    server = uvicorn.Server(uvicorn.Config(create_app(gateway, manage_lifecycle=False), **options))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
            if task.done():
                task.result()
        yield config.port
    finally:
        server.should_exit = True
        await task
        await gateway.stop()


async def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], Any]:
    """Send `request`, stopping once the server answers, as a browser or curl does; the response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def send() -> None:
        for start in range(0, len(request), 64 * 1024):
            writer.write(request[start : start + 64 * 1024])
            await writer.drain()

    sending = asyncio.create_task(send())
    try:
        raw = await asyncio.wait_for(reader.read(), WAIT_S)  # the server closes after refusing
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await sending
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, json.loads(body)


def get(target: bytes, extra: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: callgate.test\r\n" + extra + b"\r\n"


@pytest.mark.parametrize("length", [MAX_URL_BYTES + 1, 65_600, 200_000])
async def test_a_url_over_the_limit_gets_414_in_the_envelope(port: int, length: int) -> None:
    target = b"/v1/cdr?x=" + b"a" * (length - len(b"/v1/cdr?x="))
    status, headers, body = await exchange(port, get(target))
    assert status == 414
    assert headers["content-type"] == "application/json"
    assert body == {
        "status": 414,
        "errors": f"URL is longer than {MAX_URL_BYTES} bytes; send fewer or shorter query parameters",
        "data": None,
    }


async def test_a_long_url_within_the_limit_reaches_the_app(port: int) -> None:
    target = b"/v1/cdr?x=" + b"a" * (MAX_URL_BYTES - 20)
    status, _, body = await exchange(port, get(target, b"Connection: close\r\n"))
    assert (status, body["errors"]) == (401, "Authentication token is required")


async def test_headers_over_the_limit_get_431_before_they_are_buffered(port: int) -> None:
    huge = b"X-Filler: " + b"a" * (10 * 1024 * 1024) + b"\r\n"
    status, _, body = await exchange(port, get(b"/health", huge))
    assert status == 431
    assert body == {
        "status": 431,
        "errors": f"Request line and headers are larger than {MAX_HEAD_BYTES} bytes",
        "data": None,
    }


async def test_a_malformed_request_gets_400_in_the_envelope(port: int) -> None:
    status, headers, body = await exchange(port, b"HELLO\x01 there\r\n\r\n")
    assert status == 400
    assert headers["connection"] == "close"
    assert body == {
        "status": 400,
        "errors": "Malformed HTTP request; the connection is closed",
        "data": None,
    }


async def test_keep_alive_requests_after_a_normal_one_are_still_bounded(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(get(b"/health"))
        first = await asyncio.wait_for(reader.readuntil(b'"databaseRefusals":0}}'), WAIT_S)
        assert first.startswith(b"HTTP/1.1 200")
        writer.write(get(b"/v1/cdr?x=" + b"a" * MAX_URL_BYTES))
        second = await asyncio.wait_for(reader.read(), WAIT_S)
        assert second.startswith(b"HTTP/1.1 414")
    finally:
        writer.close()
