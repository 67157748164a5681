"""Leak gates for inbound calls over the WebSocket protocol: the simulated carrier's callers, routed
to the reference echo app (callgate.appkit), to an app that vanishes mid-call, to one that never
answers, and to an address where nothing listens."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from callgate.appkit.echo import EchoTimings, run_echo_app
from tests.leaks.harness import Gateway, churn_twice, client, serve
from tests.support import free_port

CALLERS = 20
WAVES = 15  # 300 calls a round
WAIT_S = 15.0


@contextlib.asynccontextmanager
async def echo_app() -> AsyncIterator[int]:
    """The reference echo app: answers, sends a digit after 0.1 s, hangs up 0.2 s later."""
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    timings = EchoTimings(dtmf_after_s=0.1, hangup_after_dtmf_s=0.2)
    task = asyncio.create_task(run_echo_app("127.0.0.1", 0, timings=timings, ready=ready))
    try:
        yield await asyncio.wait_for(ready, 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def rude_app(*, answer: bool) -> AsyncIterator[int]:
    """An app that answers and, at the first caller audio, drops the connection with a TCP reset
    (a crashed host); or, without `answer`, one that reads and never answers."""

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # incoming_call
        if not answer:
            await ws.wait_closed()
            return
        await ws.send(json.dumps({"event": "answer"}))
        while isinstance(await ws.recv(), str):
            pass
        sock = ws.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        ws.transport.abort()

    async with ws_serve(handler, "127.0.0.1", 0) as server:
        yield server.sockets[0].getsockname()[1]


def config(echo: int, vanish: int, silent: int, dead: int) -> str:
    return f"""
inbound_answer_timeout_s = 0.3
inbound_connect_timeout_s = 2
inbound_url = "ws://127.0.0.1:{dead}"

[[inbound.route]]
pattern = "4143"
url = "ws://127.0.0.1:{echo}"
account = "acme"

[[inbound.route]]
pattern = "4144"
url = "ws://127.0.0.1:{vanish}"
account = "acme"

[[inbound.route]]
pattern = "4145"
url = "ws://127.0.0.1:{silent}"
account = "acme"
"""


async def waves(gateway: Gateway, numbers: tuple[str, ...]) -> None:
    """`WAVES` waves of `CALLERS` simulated callers each; a wave ends when its calls have."""
    async with client(gateway) as http:
        for wave in range(WAVES):
            answers = await asyncio.gather(
                *(
                    http.post(
                        "/v1/simulate/inbound",
                        json={
                            "callerId": "0301234567",
                            "didNumber": numbers[(wave + i) % len(numbers)],
                            "hangupAfterS": 0.5,
                            "dtmf": [[0.05, "7"]],
                        },
                        headers=gateway.auth(),
                    )
                    for i in range(CALLERS)
                )
            )
            assert {answer.status_code for answer in answers} == {200}, answers[0].text
            await _calls_ended(gateway)
        # and what an app reads back: the CDRs of the round, as a query
        listing = await http.get("/v1/cdr", params={"limit": 100}, headers=gateway.auth())
        assert listing.status_code == 200, listing.text


async def test_inbound_calls_to_the_echo_app_give_everything_back(tmp_path: Path) -> None:
    async with (
        echo_app() as echo,
        rude_app(answer=True) as vanish,
        rude_app(answer=False) as silent,
    ):
        toml = config(echo, vanish, silent, free_port())
        async with serve(tmp_path, toml) as gateway:
            await churn_twice(
                gateway,
                lambda: waves(gateway, ("4143",)),
                expected=("live_calls", "inbound_connections", "inbound_tasks"),
            )


async def test_inbound_apps_vanishing_or_failing_mid_setup_give_everything_back(
    tmp_path: Path,
) -> None:
    # 4144: the app resets the connection mid-call; 4145: it never answers (answer timeout);
    # 9999: the default route, where nothing listens (connection refused).
    async with (
        echo_app() as echo,
        rude_app(answer=True) as vanish,
        rude_app(answer=False) as silent,
    ):
        toml = config(echo, vanish, silent, free_port())
        async with serve(tmp_path, toml) as gateway:
            await churn_twice(
                gateway,
                lambda: waves(gateway, ("4144", "4145", "9999")),
                expected=("live_calls", "inbound_connections"),
            )


async def _calls_ended(gateway: Gateway) -> None:
    async def ended() -> None:
        while (await gateway.held())["live_calls"]:  # noqa: ASYNC110 - read over HTTP
            await asyncio.sleep(0.05)

    await asyncio.wait_for(ended(), WAIT_S)
