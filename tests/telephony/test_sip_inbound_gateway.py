"""A SIP call from a sipp UAC, through the whole gateway (SIP trunk → inbound connector) to the echo app."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from callgate.appkit.echo import EchoTimings, run_echo_app
from callgate.clock import LoopClock, MediaTicker
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.inbound.routes import InboundRoute
from callgate.metrics import GatewayMetrics
from callgate.telephony.siptrunk import SipTrunk, SipTrunkSettings
from tests.peers.sipp import errors, running_sipp
from tests.support import ended_record, free_port
from tests.telephony.siptrunk.harness import rtp_range

pytestmark = pytest.mark.peers


async def test_an_inbound_sip_call_reaches_the_echo_app_and_has_its_cdr(tmp_path: Path) -> None:
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    timings = EchoTimings(dtmf_after_s=0.3, hangup_after_dtmf_s=60.0)
    app = asyncio.create_task(run_echo_app("127.0.0.1", 0, timings=timings, ready=ready))
    app_port = await asyncio.wait_for(ready, 5)
    low, high = rtp_range()
    sip_port = free_port()
    settings = SipTrunkSettings(
        host="127.0.0.1",
        port=free_port(),
        bind_host="127.0.0.1",
        bind_port=sip_port,
        rtp_port_min=low,
        rtp_port_max=high,
    )
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret="sip-inbound-gateway-" + "g" * 40,
    )
    config = dataclasses.replace(
        config, inbound_routes=(InboundRoute(r"4143", f"ws://127.0.0.1:{app_port}", "acme"),)
    )
    clock = LoopClock()
    ticker = MediaTicker(clock)
    gateway = Gateway.build(
        config, clock=clock, ticker=ticker, trunk=SipTrunk(settings, clock, ticker)
    )
    await gateway.start()
    metrics = GatewayMetrics(gateway)
    try:
        caller = running_sipp(
            tmp_path,
            builtin="uac",
            remote=f"127.0.0.1:{sip_port}",
            extra=("-s", "4143", "-d", "1500"),
        )
        async with caller as (sipp, _):
            assert await sipp.wait(15) == 0, errors(tmp_path)
        record = await ended_record(gateway, "acme", timeout_s=10)
        assert (record.direction, record.destination, record.caller_id) == (
            "inbound",
            "4143",
            "sipp",
        )
        assert (record.disposition, record.hangup_by, record.hangup_cause_code) == (
            "ANSWERED",
            "CALLER",
            16,
        )
        assert 1 <= record.billable_seconds <= 2
        # /metrics sees the SIP side: the call's RTP as its CDR has it, the trunk's signalling.
        scraped = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(metrics.render().decode())
            for sample in family.samples
        }
        assert record.quality is not None
        assert record.quality.tx_packets > 0  # the echo app's audio (sipp's uac sends none)
        sent = scraped["callgate_rtp_packets_total", (("kind", "sent"),)]
        assert sent == record.quality.tx_packets
        assert scraped["callgate_sip_calls", ()] == 0
        assert scraped["callgate_sip_requests_refused_total", ()] == 0
        assert ("callgate_sip_retransmissions_total", (("way", "sent"),)) in scraped
    finally:
        metrics.close()
        await gateway.stop()
        app.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app
