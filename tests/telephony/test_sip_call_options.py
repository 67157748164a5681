"""POST /pbx/call's options and inbound metadata over real SIP: the whole gateway (REST, call service,
SIP trunk) against sipp on loopback, on the loop's clock (sipp keeps real time).

- callerId and sipHeaders: a sipp UAS that fails the call unless the INVITE has the From user and
  the X- headers, and logs what it got;
- ringTimeoutS: a sipp UAS that rings and never answers; the gateway CANCELs (cause 19);
- inbound: a sipp UAC whose INVITE carries X- headers, routed to a WebSocket app started here,
  which must get them (and the route's metadata) in `incoming_call`, as the CDR must.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from callgate.api.auth import create_token
from callgate.app import create_app
from callgate.clock import LoopClock, MediaTicker
from callgate.config import AccountSettings, load_config
from callgate.gateway import Gateway
from callgate.inbound.routes import InboundRoute
from callgate.telephony.siptrunk import SipTrunk, SipTrunkSettings
from tests.peers.sipp import errors, running_sipp, scenario
from tests.support import ended_record, free_port
from tests.telephony.siptrunk.harness import rtp_range

pytestmark = pytest.mark.peers

SECRET = "sip-call-options-" + "o" * 40
SIPP_DONE_S = 10.0


@asynccontextmanager
async def gateway_to(
    tmp_path: Path, trunk_port: int, **tables: Any
) -> AsyncIterator[tuple[Gateway, httpx.AsyncClient, int]]:
    low, high = rtp_range()
    sip_port = free_port()
    settings = SipTrunkSettings(
        host="127.0.0.1",
        port=trunk_port,
        bind_host="127.0.0.1",
        bind_port=sip_port,
        rtp_port_min=low,
        rtp_port_max=high,
    )
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret=SECRET,
    )
    config = dataclasses.replace(
        config, accounts=(AccountSettings("acme", ("+622150001111",)),), **tables
    )
    clock = LoopClock()
    ticker = MediaTicker(clock)
    gateway = Gateway.build(
        config, clock=clock, ticker=ticker, trunk=SipTrunk(settings, clock, ticker)
    )
    await gateway.start()
    transport = httpx.ASGITransport(app=create_app(gateway, manage_lifecycle=False))
    headers = {"Authorization": f"Bearer {create_token(SECRET, 'acme')}"}
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url="http://callgate.test", headers=headers
        ) as client:
            yield gateway, client, sip_port
    finally:
        await gateway.stop()


def sipp_log(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in tmp_path.glob("*_logs.log"))


async def test_caller_id_and_x_headers_are_on_the_invite(tmp_path: Path) -> None:
    plan = scenario("uas_check_invite", tmp_path, FROM_USER=r"\+622150001111")
    callee = running_sipp(tmp_path, scenario_file=plan, extra=("-trace_logs",))
    async with callee as (sipp, port), gateway_to(tmp_path, port) as (gateway, client, _):
        body = {
            "phoneNumber": "1000",
            "callerId": "+622150001111",
            "sipHeaders": {"X-Crm-Id": "42", "X-Campaign": "spring sale"},
            "metadata": {"crmId": "42"},
        }
        response = await client.post("/pbx/call", json=body)
        assert response.status_code == 200, response.text
        sid = response.json()["data"]["sessionId"]
        record = await ended_record(gateway, "acme", sid, timeout_s=10)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
    assert "From user sip:+622150001111@ X-Crm-Id 42 X-Campaign spring sale" in sipp_log(tmp_path)
    assert (record.disposition, record.hangup_cause_code) == ("BUSY", 17)
    assert record.caller_id == "+622150001111"
    assert record.metadata == {"crmId": "42"}


async def test_ring_timeout_cancels_a_callee_that_only_rings(tmp_path: Path) -> None:
    plan = scenario("uas_ring_until_cancel", tmp_path)
    callee = running_sipp(tmp_path, scenario_file=plan, extra=("-trace_logs",))
    async with callee as (sipp, port), gateway_to(tmp_path, port) as (gateway, client, _):
        loop = asyncio.get_running_loop()
        started = loop.time()
        response = await client.post("/pbx/call", json={"phoneNumber": "4000", "ringTimeoutS": 1})
        sid = response.json()["data"]["sessionId"]
        record = await ended_record(gateway, "acme", sid, timeout_s=10)
        elapsed = loop.time() - started
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
    assert 1.0 <= elapsed < 3.0  # the gateway's own ring timeout is 60 s
    assert (record.disposition, record.hangup_cause_code, record.hangup_by) == (
        "NO ANSWER",
        19,
        None,
    )
    assert "CANCEL Reason: Q.850;cause=19" in sipp_log(tmp_path)


async def test_inbound_x_headers_and_route_metadata_reach_the_app(tmp_path: Path) -> None:
    offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=4)

    async def app(ws: websockets.ServerConnection) -> None:
        await offers.put(json.loads(await ws.recv()))
        async for _ in ws:  # never answers: the caller gives up
            pass

    async with websockets.serve(app, "127.0.0.1", 0) as server:
        app_port = server.sockets[0].getsockname()[1]
        route = InboundRoute(
            "4143", f"ws://127.0.0.1:{app_port}", "acme", metadata=(("queue", "support"),)
        )
        async with gateway_to(tmp_path, free_port(), inbound_routes=(route,)) as (
            gateway,
            _,
            sip_port,
        ):
            plan = scenario("uac_x_headers", tmp_path, WAIT_MS="1500")
            caller = running_sipp(
                tmp_path, scenario_file=plan, remote=f"127.0.0.1:{sip_port}", extra=("-s", "4143")
            )
            async with caller as (sipp, _):
                offer = await asyncio.wait_for(offers.get(), 10)
                assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
            record = await ended_record(gateway, "acme", timeout_s=10)
    expected = {"queue": "support", "X-Crm-Id": "42", "X-Queue": "billing"}  # X-Bad.Name: no
    assert offer == {
        "event": "incoming_call",
        "callerId": "5551234",
        "didNumber": "4143",
        "sessionId": record.session_id,
        "metadata": expected,
    }
    assert record.metadata == expected
    assert (record.direction, record.disposition) == ("inbound", "CANCEL")
