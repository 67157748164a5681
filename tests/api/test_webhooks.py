"""Webhooks against a real HTTP receiver on loopback: signed, in order, retried, kept across a
restart. The receiver is the standard library's HTTP server in a thread; its answers are scripted."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from callgate.api.auth import create_token
from callgate.webhooks import SIGNATURE_HEADER, WebhookSettings, sign, verify
from callgate.webhooks.settings import EVENTS
from tests.api.conftest import Api, running
from tests.test_crash_recovery import SECRET as CRASH_SECRET
from tests.test_crash_recovery import Server, wait_for

SECRET = "whsec-" + "s" * 26
ANSWERS = "0812000001"  # the simulator answers after 2 s and echoes
BUSY = "0812000486"


@dataclass
class Receiver:
    """What reached the endpoint, and the statuses it answers with (then 200)."""

    statuses: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if self.statuses else 200

    def bodies(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(body) for _, body in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.requests.append((dict(self.headers.items()), body))
            status = state.answer()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/callgate"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def hook(url: str, *events: str) -> tuple[WebhookSettings, ...]:
    return (WebhookSettings("acme", url, SECRET, events or EVENTS),)


async def until(condition: Any, what: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def finished_call(api: Api, number: str) -> str:
    sid = await api.call(number)
    await api.advance(2.5)
    await api.client.post("/pbx/hangup", json={"sessionId": sid}, headers=api.auth())
    await api.advance(0.5)
    return sid


def test_a_signature_verifies_only_for_its_body_secret_and_time() -> None:
    body = b'{"id":"1"}'
    header = sign(SECRET, body, 1_800_000_000)
    assert verify(SECRET, body, header, now=1_800_000_010)
    assert not verify(SECRET, body + b" ", header, now=1_800_000_010)
    assert not verify("another-secret-000000", body, header, now=1_800_000_010)
    assert not verify(SECRET, body, header, now=1_800_000_000 + 301)  # a replay, later
    assert not verify(SECRET, body, "v1=abc", now=1_800_000_000)


async def test_a_calls_events_arrive_signed_and_in_order(
    tmp_path: Path, receiver: Receiver
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}"
    async with running(url, tmp_path, webhooks=hook(receiver.url)) as api:
        sid = await finished_call(api, ANSWERS)
        hooks = api.gateway.webhooks
        assert hooks is not None
        await until(lambda: hooks.counts["delivered"] == 3, "three deliveries taken")
        now = api.clock.utcnow().timestamp()  # signatures are timed by the gateway's clock
    bodies = receiver.bodies()
    assert [b["type"] for b in bodies] == ["call.started", "call.answered", "call.ended"]
    assert {b["data"]["sessionId"] for b in bodies} == {sid}
    ended = bodies[2]["data"]["cdr"]
    assert (ended["sessionId"], ended["disposition"], ended["hangupBy"]) == (
        sid,
        "ANSWERED",
        "CALLER",
    )
    for headers, body in receiver.requests:
        assert verify(SECRET, body, headers[SIGNATURE_HEADER], now=now)
        assert headers["Callgate-Event"] == json.loads(body)["type"]
        assert headers["Callgate-Delivery"] == json.loads(body)["id"]
    assert not list((tmp_path / "webhooks").glob("*.json"))  # delivered: nothing left spooled


async def test_only_the_events_asked_for_and_only_the_accounts_own(
    tmp_path: Path, receiver: Receiver
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}"
    async with running(url, tmp_path, webhooks=hook(receiver.url, "call.ended")) as api:
        other = await api.call(ANSWERS, token=api.token_for("globex"))
        sid = await api.call(BUSY)
        await api.advance(1.5)
        await until(lambda: len(receiver.requests) == 1, "the busy call's end")
        await api.client.post(
            "/pbx/hangup", json={"sessionId": other}, headers=api.auth(api.token_for("globex"))
        )
        await api.advance(1.0)
        await asyncio.sleep(0.2)
    (body,) = receiver.bodies()
    assert (body["type"], body["data"]["cdr"]["sessionId"]) == ("call.ended", sid)
    assert body["data"]["cdr"]["disposition"] == "BUSY"


async def test_a_failing_endpoint_gets_the_same_delivery_again_after_1_then_2_s(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    url = f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}"
    async with running(url, tmp_path, webhooks=hook(receiver.url, "call.started")) as api:
        hooks = api.gateway.webhooks
        assert hooks is not None
        await api.call(BUSY)
        # Each refusal is counted as the sender starts its wait, on the gateway's clock.
        await until(lambda: hooks.counts["retried"] == 1, "the first attempt refused")
        await asyncio.sleep(0.2)
        assert len(receiver.requests) == 1
        api.clock.advance(1.0)
        await until(lambda: hooks.counts["retried"] == 2, "the second attempt, 1 s later")
        assert len(receiver.requests) == 2
        api.clock.advance(1.9)
        await asyncio.sleep(0.2)
        assert len(receiver.requests) == 2
        api.clock.advance(0.1)
        await until(lambda: hooks.counts["delivered"] == 1, "the third, 2 s after the second")
        assert len(receiver.requests) == 3
        assert hooks.counts["retried"] == 2
        scraped = (await api.client.get("/metrics")).text
        assert 'callgate_webhook_deliveries_total{outcome="retried"} 2.0' in scraped
        assert 'callgate_webhook_deliveries_total{outcome="delivered"} 1.0' in scraped
        assert "callgate_webhook_pending 0.0" in scraped
    ids = {headers["Callgate-Delivery"] for headers, _ in receiver.requests}
    assert len(ids) == 1  # one delivery, three attempts: the receiver can drop repeats


async def test_a_refusal_that_is_not_temporary_is_not_retried(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [400]
    url = f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}"
    async with running(url, tmp_path, webhooks=hook(receiver.url, "call.started")) as api:
        await api.call(BUSY)
        hooks = api.gateway.webhooks
        assert hooks is not None
        await until(lambda: hooks.counts["rejected"] == 1, "the refusal counted")
        api.clock.advance(60.0)
        await asyncio.sleep(0.2)
    assert len(receiver.requests) == 1
    assert not list((tmp_path / "webhooks").glob("*.json"))


async def test_what_an_endpoint_missed_is_sent_after_a_restart(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [503] * 100  # down for the whole first run
    url = f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}"
    async with running(url, tmp_path, webhooks=hook(receiver.url, "call.ended")) as api:
        sid = await api.call(BUSY)
        await api.advance(1.5)
        await until(lambda: len(receiver.requests) >= 1, "a first attempt")
    assert len(list((tmp_path / "webhooks").glob("*.json"))) == 1  # kept in the spool
    receiver.statuses.clear()
    first_attempts = len(receiver.requests)
    async with running(url, tmp_path, webhooks=hook(receiver.url, "call.ended")) as again:
        hooks = again.gateway.webhooks
        assert hooks is not None
        await until(lambda: hooks.counts["delivered"] == 1, "the delivery")
    assert len(receiver.requests) == first_attempts + 1
    body = json.loads(receiver.requests[-1][1])
    assert body["data"]["cdr"]["sessionId"] == sid
    assert not list((tmp_path / "webhooks").glob("*.json"))


def test_a_killed_serve_sends_what_it_had_spooled_once_it_runs_again(
    tmp_path: Path, receiver: Receiver
) -> None:
    receiver.statuses = [503] * 1000  # down until the restart
    config = (
        f'[[webhook]]\naccount = "acme"\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n'
        'events = ["call.ended"]\n'
    )
    server = Server(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}", config)
    server.start()
    try:
        headers = {"Authorization": f"Bearer {create_token(CRASH_SECRET, 'acme')}"}
        placed = httpx.post(f"{server.url}/pbx/call", json={"phoneNumber": BUSY}, headers=headers)
        sid = placed.json()["data"]["sessionId"]
        wait_for(lambda: len(receiver.requests) >= 1)  # spooled, tried, refused
        server.kill()
        assert len(list((tmp_path / "webhooks").glob("*.json"))) == 1
        receiver.statuses.clear()
        tried = len(receiver.requests)
        server.start()
        wait_for(lambda: len(receiver.requests) > tried)
    finally:
        server.stop()
    body = json.loads(receiver.requests[-1][1])
    assert (body["type"], body["data"]["cdr"]["sessionId"]) == ("call.ended", sid)
    assert body["data"]["cdr"]["disposition"] == "BUSY"
    assert len({json.loads(b)["id"] for _, b in receiver.requests}) == 1  # the same delivery
