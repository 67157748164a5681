"""The trunk behind Kamailio, as carriers and SIP farms deploy it: a record-routing proxy between
the carrier (sipp) and the gateway, the dispatcher choosing the gateway for inbound calls.

Both directions must carry the route set: the ACK and BYE of a call go back through the proxy (its
log shows them), and the media flows end to end (the proxy never touches RTP).
"""

from __future__ import annotations

import re

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup
from tests.peers.kamailio import running_kamailio
from tests.peers.pcap import tone_pcap
from tests.peers.sipp import errors, running_sipp, scenario
from tests.support import free_port

from .harness import running_trunk

pytestmark = pytest.mark.peers

SIPP_DONE_S = 15


def relayed(log: str, method: str, source_port: int) -> int:
    """How many `method` requests from 127.0.0.1:`source_port` the proxy logged: at least one
    when the request took the route set (UDP may repeat one: an ACK for each copy of a 200)."""
    return len(re.findall(rf"request {method} \S+ from 127\.0\.0\.1:{source_port}\b", log))


@pytest.mark.parametrize("via", ["trunk", "outbound_proxy"])
async def test_an_outbound_call_through_kamailio_keeps_its_route_set(tmp_path, via):
    """Kamailio as the trunk, or the carrier as the trunk and Kamailio as `outbound_proxy`
    (README: "Kamailio in front of the SIP side")."""
    gateway_port, carrier_port = free_port(), free_port()
    tone = tone_pcap(tmp_path / "tone.pcap", 1000.0, 1.5)
    plan = scenario("uas_proxied", tmp_path, TONE_PCAP=str(tone))
    carrier = running_sipp(tmp_path, scenario_file=plan, port=carrier_port)
    proxy = running_kamailio(tmp_path, nodes=[gateway_port], carrier_port=carrier_port)
    async with carrier as (sipp, _), proxy as (kamailio, proxy_port):
        if via == "trunk":
            trunk = running_trunk(proxy_port, bind_port=gateway_port)
        else:
            proxy_at = f"127.0.0.1:{proxy_port}"
            trunk = running_trunk(carrier_port, bind_port=gateway_port, outbound_proxy=proxy_at)
        async with trunk as t:
            call = new_session_id()
            t.trunk.dial(call, "1000", "5551234")
            await t.answered(call)
            await t.wait_for(lambda: len(t.audio[call]) >= 16_000, "1 s of the callee's tone")
            t.trunk.hangup(call, 16)
            await t.drained()
            assert not t.of(TrunkHangup, call)
            assert t.tone_hz(call) == pytest.approx(1000.0, abs=5.0)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
        log = kamailio.log()
    for method in ("INVITE", "ACK", "BYE"):
        assert relayed(log, method, gateway_port) >= 1, f"{method} not through the proxy:\n{log}"


async def test_an_inbound_call_through_kamailio_reaches_the_gateway_and_ends_by_its_route(tmp_path):
    gateway_port, carrier_port = free_port(), free_port()
    tone = tone_pcap(tmp_path / "tone.pcap", 700.0, 1.5)
    plan = scenario("uac_proxied", tmp_path, NUMBER="4143", HOLD_MS="2000", TONE_PCAP=str(tone))
    proxy = running_kamailio(tmp_path, nodes=[gateway_port], carrier_port=carrier_port)
    async with proxy as (kamailio, proxy_port):
        async with running_trunk(proxy_port, bind_port=gateway_port) as t:
            caller = running_sipp(
                tmp_path,
                scenario_file=plan,
                port=carrier_port,
                remote=f"127.0.0.1:{proxy_port}",
            )
            async with caller as (sipp, _):
                offered = await t.incoming()
                assert (offered.caller_id, offered.did_number) == ("carrier", "4143")
                hangup = await t.hangup(offered.session_id)
                assert hangup == TrunkHangup(offered.session_id, 16, by_remote=True)
                assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
            await t.drained()
            assert t.tone_hz(offered.session_id) == pytest.approx(700.0, abs=5.0)
        log = kamailio.log()
    for method in ("INVITE", "ACK", "BYE"):
        assert relayed(log, method, carrier_port) >= 1, f"{method} not through the proxy:\n{log}"
    assert "to the gateway sip:127.0.0.1:" in log
