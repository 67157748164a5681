"""Leak gates for outbound calls on the simulated carrier: hundreds of calls, then nothing held.

Each gate churns through `callgate serve` twice (tests/leaks/harness.py) and asserts that every count
of the idle-state probe is back to its value before the second round, exactly, and that the second
round added at most `RELOAD_RSS_KB` of RSS.
"""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import socketio

from tests.api.raw_sio import RawClient
from tests.leaks.harness import Gateway, churn_twice, client, serve

# Quick callees: the gates measure what is left behind, not how long a call lasts.
CONFIG = """
ring_timeout_s = 1.0
no_client_grace_s = 0.3
calls_burst = 1000
calls_per_second = 1000

[[simulator.callee]]
pattern = "\\\\d*486"
ring_s = 0.05
reject_cause = 17

[[simulator.callee]]
pattern = "\\\\d*404"
ring_s = 0.0
reject_cause = 1

[[simulator.callee]]
pattern = "\\\\d*480"
ring_s = 0.05
answer = false

[[simulator.callee]]
pattern = "\\\\d*777"
ring_s = 0.05
hangup_after_s = 0.2

[[simulator.callee]]
pattern = ".*"
ring_s = 0.05
"""
BOTS = 20
WAIT_S = 10.0
FRAME = b"\x10\x00" * 1280  # 160 ms of PCM16 at 8 kHz: a bot's sentence, in short


class Bot:
    """A Socket.IO application (python-socketio's client) of account acme."""

    def __init__(self, gateway: Gateway, http: httpx.AsyncClient, transport: str) -> None:
        self.gateway = gateway
        self.http = http
        self.transport = transport
        self.sio = socketio.AsyncClient(reconnection=False)
        self.status: dict[str, asyncio.Queue[str]] = defaultdict(asyncio.Queue)
        self.cdr: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.sio.on("dialStatus", self._on_status)
        self.sio.on("cdr", self._on_cdr)

    def _on_status(self, data: dict[str, Any]) -> None:
        self.status[data["sessionId"]].put_nowait(data["status"])

    def _on_cdr(self, data: dict[str, Any]) -> None:
        self._cdr_of(data["sessionId"]).set_result(data)

    def _cdr_of(self, sid: str) -> asyncio.Future[dict[str, Any]]:
        if sid not in self.cdr:
            self.cdr[sid] = asyncio.get_running_loop().create_future()
        return self.cdr[sid]

    async def connect(self) -> None:
        await self.sio.connect(
            self.gateway.url,
            auth={"token": self.gateway.token()},
            transports=[self.transport],
            wait_timeout=WAIT_S,
        )

    async def place(self, number: str, *, must_join: bool = True) -> str | None:
        """Place a call and join its room; its session id, or None when it ended before the
        join (a far end refusing at once) and `must_join` is False."""
        response = await self.http.post(
            "/pbx/call", json={"phoneNumber": number}, headers=self.gateway.auth()
        )
        assert response.status_code == 200, response.text
        sid: str = response.json()["data"]["sessionId"]
        ack = await self.sio.call("joinRoom", {"sessionId": sid}, timeout=WAIT_S)
        if not ack["success"] and not must_join:
            return None
        assert ack["success"], ack
        return sid

    async def until(self, sid: str, status: str) -> None:
        async def seen() -> None:
            while await self.status[sid].get() != status:
                pass

        await asyncio.wait_for(seen(), WAIT_S)

    async def talk(self, number: str = "0811", *, hang_up: bool = True) -> dict[str, Any]:
        """An answered call: speak, press a digit, hang up (or wait for the far end to), and
        wait for the CDR."""
        sid = await self.place(number)
        assert sid is not None
        await self.until(sid, "Connected")
        audio = {"sessionId": sid, "audioData": FRAME, "audioFormat": "pcm16"}
        await self.sio.call("audio", audio, timeout=WAIT_S)
        await self.sio.call("dtmf", {"sessionId": sid, "digit": "5"}, timeout=WAIT_S)
        if hang_up:
            assert (await self.sio.call("hangup", {"sessionId": sid}, timeout=WAIT_S))["success"]
        return await asyncio.wait_for(self._cdr_of(sid), WAIT_S)

    async def failed(self, number: str, hang_up_ringing: bool = False) -> dict[str, Any] | None:
        """A call that never answers: refused by the far end, timed out, or hung up ringing;
        its CDR, or None when it ended before the bot could join it."""
        sid = await self.place(number, must_join=False)
        if sid is None:
            return None
        if hang_up_ringing:
            await self.until(sid, "Ringing")
            # On a loaded machine the ring timeout may end it first: either way, nothing stays.
            await self.sio.call("hangup", {"sessionId": sid}, timeout=WAIT_S)
        return await asyncio.wait_for(self._cdr_of(sid), WAIT_S)

    async def close(self) -> None:
        await self.sio.disconnect()


async def bots(gateway: Gateway, rounds: int, work: Any, transports: tuple[str, ...]) -> None:
    """`BOTS` bots (their transports in turn), each doing `work(bot, i)` for i in range(rounds)."""
    async with client(gateway) as http:

        async def one(index: int) -> None:
            bot = Bot(gateway, http, transports[index % len(transports)])
            await bot.connect()
            try:
                for i in range(rounds):
                    await work(bot, i)
            finally:
                await bot.close()

        await asyncio.gather(*(one(index) for index in range(BOTS)))


async def test_answered_socketio_calls_give_everything_back(tmp_path: Path) -> None:
    async def work(bot: Bot, i: int) -> None:
        # One call in four is ended by the far end (0777), the others by the bot.
        cdr = (
            await bot.talk("0811", hang_up=True) if i % 4 else await bot.talk("0777", hang_up=False)
        )
        assert cdr["disposition"] == "ANSWERED", cdr

    async with serve(tmp_path, CONFIG) as gateway:
        # 300 calls a round, 20 at a time.
        await churn_twice(
            gateway,
            lambda: bots(gateway, 15, work, ("websocket",)),
            expected=("live_calls", "socketio_clients", "socketio_rooms", "connected_calls"),
        )


async def test_calls_failing_mid_setup_give_everything_back(tmp_path: Path) -> None:
    # busy, unallocated, ring timeout (1 s), and the caller cancelling a call that rings
    numbers = ("0486", "0404", "0480", "1480")

    async def work(bot: Bot, i: int) -> None:
        number = numbers[i % len(numbers)]
        cdr = await bot.failed(number, hang_up_ringing=number == "1480")
        assert cdr is None or cdr["disposition"] != "ANSWERED", cdr

    async with serve(tmp_path, CONFIG) as gateway:
        await churn_twice(
            gateway,
            lambda: bots(gateway, 12, work, ("websocket",)),
            expected=("live_calls", "socketio_rooms"),
        )


async def test_calls_refused_at_admission_give_everything_back(tmp_path: Path) -> None:
    config = CONFIG.replace("calls_burst = 1000", "calls_burst = 1000\nmax_concurrent_calls = 4")

    async def round_() -> None:
        async with client(gateway) as http:
            # 40 at once against a limit of 4 live calls: most are refused (429), some placed.
            for _ in range(8):
                answers = await asyncio.gather(
                    *(
                        http.post("/pbx/call", json={"phoneNumber": "0480"}, headers=gateway.auth())
                        for _ in range(40)
                    )
                )
                codes = sorted({answer.status_code for answer in answers})
                assert codes == [200, 429], codes
                # and requests that never become calls at all: no token, a bad body
                assert (await http.post("/pbx/call", json={})).status_code == 401
                bad = await http.post("/pbx/call", content=b"{", headers=gateway.auth())
                assert bad.status_code == 400
                await _no_live_calls(gateway)

    async with serve(tmp_path, config) as gateway:
        await churn_twice(gateway, round_, expected=("live_calls",))


async def test_clients_vanishing_mid_call_give_everything_back(tmp_path: Path) -> None:
    """Each client joins its answered call and vanishes (a TCP reset, no goodbye); the gateway
    ends the call after `no_client_grace_s` and must forget the client, its room and socket."""

    async def vanish() -> None:
        async with client(gateway) as http:

            async def one() -> None:
                for _ in range(10):
                    raw = await RawClient.open(gateway.url, gateway.token())
                    response = await http.post(
                        "/pbx/call", json={"phoneNumber": "0811"}, headers=gateway.auth()
                    )
                    sid = response.json()["data"]["sessionId"]
                    await raw.ws.send(f'421["joinRoom",{{"sessionId":"{sid}"}}]')
                    while not any(
                        name == "dialStatus" and data.get("status") == "Connected"
                        for name, data in raw.events
                    ):
                        await raw.read()
                    reset(raw)

            await asyncio.gather(*(one() for _ in range(BOTS)))
        await _no_live_calls(gateway)

    async with serve(tmp_path, CONFIG) as gateway:
        await churn_twice(gateway, vanish, expected=("live_calls", "socketio_clients"))


def reset(raw: RawClient) -> None:
    """Drop the connection as a crashed host would: a RST, no close frame, no FIN."""
    transport = raw.ws.transport
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    transport.abort()


async def _no_live_calls(gateway: Gateway) -> None:
    async def drained() -> None:
        while (await gateway.held())["live_calls"]:  # noqa: ASYNC110 - read over HTTP
            await asyncio.sleep(0.05)

    await asyncio.wait_for(drained(), WAIT_S)
