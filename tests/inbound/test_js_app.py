"""An inbound app written in Node from the spec alone (`tests/js/inbound_app.mjs`, the `ws` package),
driven by a raw `websockets` client playing the gateway: evidence that the spec is implementable as we
read it, by someone who never saw our framework."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from callgate.media.signals import align, speech_like_pcm16
from tests.inbound.gateway import WAIT_S, Gateway
from tests.support import need, need_program

pytestmark = pytest.mark.peers

JS_DIR = Path(__file__).resolve().parents[1] / "js"
EARLY_S = 0.005


class NodeApp:
    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        self.records: list[dict[str, Any]] = []

    async def read_until(self, key: str) -> dict[str, Any]:
        """Read stdout records until one has `key`; that record."""
        assert self.process.stdout is not None
        async with asyncio.timeout(WAIT_S):
            while True:
                line = await self.process.stdout.readline()
                assert line, "the Node app exited"
                record: dict[str, Any] = json.loads(line)
                self.records.append(record)
                if key in record:
                    return record


@asynccontextmanager
async def node_app(dtmf_delay_ms: int, hangup_after_dtmf_ms: int) -> AsyncIterator[NodeApp]:
    node = need_program("node")
    need(
        (JS_DIR / "node_modules" / "ws").is_dir(),
        "ws is not installed: run `npm ci` in tests/js (make test does)",
    )
    process = await asyncio.create_subprocess_exec(
        node,
        "inbound_app.mjs",
        "0",
        str(dtmf_delay_ms),
        str(hangup_after_dtmf_ms),
        cwd=JS_DIR,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(WAIT_S):
            first = json.loads(await process.stdout.readline())
        yield NodeApp(process, first["listening"])
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                async with asyncio.timeout(WAIT_S):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_the_node_app_follows_the_spec_flow() -> None:
    speech = speech_like_pcm16(0.5, seed=21)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(60), node_app(200, 1000) as app:
        async with Gateway.connect(f"ws://127.0.0.1:{app.port}") as gateway:
            start = loop.time()
            await gateway.incoming_call("js-1", caller_id="0899", did="021")
            await gateway.wait_event("answer")
            streaming = asyncio.create_task(gateway.stream(speech))
            await gateway.send_json({"event": "dtmf", "digit": "9"})
            dtmf_at = await gateway.wait_event("dtmf")
            await streaming
            hangup_at = await gateway.wait_event("hangup")
            assert await gateway.closed() == 1000
        await app.read_until("closed")
    assert [event for _, event in gateway.received.events] == [
        {"event": "answer"},
        {"event": "dtmf", "digit": "1", "duration": 200},
        {"event": "hangup"},
    ]
    assert 0.2 - EARLY_S <= dtmf_at - start < 0.2 + WAIT_S / 2
    assert 1.2 - EARLY_S <= hangup_at - start < 1.2 + WAIT_S / 2
    alignment = align(speech, bytes(gateway.received.audio))
    assert alignment.peak > 0.99
    assert alignment.lag_samples == 0
    assert app.records == [
        {
            "call": {
                "event": "incoming_call",
                "callerId": "0899",
                "didNumber": "021",
                "sessionId": "js-1",
            }
        },
        {"dtmf": "9"},
        {"hangup": "app"},
        {"closed": 1000},
    ]


async def test_the_node_app_handles_a_caller_hangup_and_many_calls() -> None:
    async with asyncio.timeout(60), node_app(5000, 5000) as app:

        async def one_call(n: int) -> Gateway:
            async with Gateway.connect(f"ws://127.0.0.1:{app.port}") as gateway:
                await gateway.incoming_call(f"js-{n}")
                await gateway.wait_event("answer")
                tone = speech_like_pcm16(0.2, seed=n)
                await gateway.stream(tone)
                await gateway.wait_audio(len(tone))
                assert align(tone, bytes(gateway.received.audio)).peak > 0.99
                await gateway.send_json({"event": "hangup"})
                await gateway.closed()
                return gateway

        gateways = await asyncio.gather(*(one_call(n) for n in range(20)))
    assert all(g.close_code == 1000 for g in gateways)
    assert all(g.received.texts == ['{"event":"answer"}'] for g in gateways)
