"""A call through the whole gateway to a carrier whose name no longer resolves: its CDR says why.

The trunk's host is looked up (RFC 3263) at the tests' own DNS server on loopback; the zone is then
removed, so the call's lookup finds NXDOMAIN and the call must end at once, recorded FAILED with
cause 38, rather than hang.
"""

from __future__ import annotations

from pathlib import Path

from callgate.clock import LoopClock, MediaTicker
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.telephony.siptrunk import SipTrunk, SipTrunkSettings
from tests.peers.dns_server import running_dns
from tests.support import ended_record, free_port
from tests.telephony.siptrunk.harness import rtp_range

ZONE = {
    ("_sip._udp.carrier.test", "SRV"): ["10 0 5060 sip.carrier.test."],
    ("sip.carrier.test", "A"): ["127.0.0.1"],
}


async def test_a_call_to_a_name_that_does_not_resolve_is_recorded_failed_with_cause_38(
    tmp_path: Path,
) -> None:
    low, high = rtp_range()
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret="sip-dns-gateway-" + "g" * 40,
    )
    clock = LoopClock()
    ticker = MediaTicker(clock)
    async with running_dns(dict(ZONE), ttl_s=0) as dns:  # TTL 0: every call looks it up
        settings = SipTrunkSettings(
            host="carrier.test",
            dns_servers=(dns.address,),
            bind_host="127.0.0.1",
            bind_port=free_port(),
            rtp_port_min=low,
            rtp_port_max=high,
        )
        gateway = Gateway.build(
            config, clock=clock, ticker=ticker, trunk=SipTrunk(settings, clock, ticker)
        )
        await gateway.start()
        try:
            dns.records.clear()
            call = await gateway.calls.place_call("acme", "1000")
            record = await ended_record(gateway, "acme", timeout_s=5)
            assert record.session_id == call.session_id
            assert (record.disposition, record.hangup_cause_code, record.hangup_cause_text) == (
                "FAILED",
                38,
                "Network failure",
            )
            assert record.answer_time is None
            assert ("_sip._udp.carrier.test", "SRV") in dns.queries[2:]
        finally:
            await gateway.stop()
