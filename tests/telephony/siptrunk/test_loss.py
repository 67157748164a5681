"""20 % of SIP datagrams lost each way (a relay drops them): every call is still set up and ended.

RFC 3261's retransmissions do the work: Timer A re-sends the INVITE, the 2xx is re-sent until our
ACK arrives (and each copy re-ACKed), Timer E re-sends the BYE. sipp's Contact names the relay, so
the ACK and BYE cross it too; media goes direct (the relay is for SIP only).

"Torn down" is judged where it can be: sipp counts a call successful only once its BYE came and
was answered, and the domain never hears of a failure. A BYE whose every 200 was lost keeps
retransmitting on our side (Timer E) after sipp has moved on; that costs the domain nothing.
"""

from __future__ import annotations

import asyncio

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkAnswered, TrunkHangup, TrunkMediaQuality
from callgate.telephony.siptrunk.call import Phase
from tests.peers.relay import LossyRelay
from tests.peers.sipp import errors, running_sipp, scenario
from tests.support import free_port

from .harness import running_trunk

pytestmark = pytest.mark.peers

CALLS = 20
SIPP_DONE_S = 15
HOLD_S = 1.0


async def test_every_call_survives_20_percent_sip_loss(tmp_path):
    relay = LossyRelay(("127.0.0.1", 0), loss=0.2)
    await relay.start()
    try:
        # The Contact sipp advertises must be the relay, so in-dialog requests cross it too.
        plan = scenario(
            "uas_answer_wait_bye", tmp_path, LINGER_MS="2000", CONTACT=f"127.0.0.1:{relay.port}"
        )
        async with running_sipp(tmp_path, scenario_file=plan, calls=CALLS) as (sipp, port):
            relay.upstream = ("127.0.0.1", port)
            async with running_trunk(relay.port) as t:
                calls = [new_session_id() for _ in range(CALLS)]

                async def one_call(index: int, call: str) -> None:
                    await asyncio.sleep(0.05 * index)
                    t.trunk.dial(call, f"8{index:03d}", None)
                    await t.answered(call, timeout_s=20.0)
                    await asyncio.sleep(HOLD_S)
                    t.trunk.hangup(call, 16)

                await asyncio.gather(*(one_call(i, c) for i, c in enumerate(calls)))
                assert await sipp.wait(20.0) == 0, errors(tmp_path)
                assert len(t.of(TrunkAnswered)) == CALLS
                assert not t.of(TrunkHangup)
                # Nothing is left but BYEs still retransmitting towards a sipp that is done.
                assert all(t.trunk.engine.phase(c) in (None, Phase.ENDING) for c in calls)
    finally:
        relay.close()
    dropped = relay.to_peer.dropped + relay.to_client.dropped
    forwarded = relay.to_peer.forwarded + relay.to_client.forwarded
    assert relay.to_peer.dropped > 0, "nothing towards sipp was lost"
    assert relay.to_client.dropped > 0, "nothing towards the trunk was lost"
    assert 0.1 < dropped / (dropped + forwarded) < 0.3


async def test_rtp_lost_on_the_way_is_what_the_calls_quality_reports(tmp_path):
    # sipp echoes RTP (-rtp_echo) on its media port; its answer names the relay instead, so our
    # packets and their echo both cross the relay, which drops 10 % each way.
    media = free_port()
    relay = LossyRelay(("127.0.0.1", media), loss=0.1, seed=3550)
    await relay.start()
    try:
        plan = scenario("uas_answer_wait_bye", tmp_path, LINGER_MS="500")
        plan.write_text(plan.read_text().replace("[media_port]", str(relay.port)))
        sipp = running_sipp(tmp_path, scenario_file=plan, media_port=media, extra=("-rtp_echo",))
        async with sipp as (peer, port), running_trunk(port) as t:
            call = new_session_id()
            t.trunk.dial(call, "3550", None)
            await t.answered(call)
            t.play(call, 700.0)
            await t.wait_for(lambda: relay.to_peer.forwarded >= 250, "5 s of our audio echoed")
            t.trunk.hangup(call, 16)
            await t.drained()
            assert await peer.wait(SIPP_DONE_S) == 0, errors(tmp_path)
    finally:
        relay.close()
    (report,) = t.of(TrunkMediaQuality, call)
    quality = report.quality
    # Every echo the relay let through was received, and nothing else, save the last ones
    # still on their way when our RTP socket closed at the hang-up.
    in_flight = 3
    assert relay.to_client.forwarded - in_flight <= quality.rx_packets <= relay.to_client.forwarded
    assert quality.tx_packets >= relay.to_peer.forwarded + relay.to_peer.dropped
    # What went missing on either leg is loss in the received sequence (RFC 3550 A.3), save
    # the last packets, whose loss no later packet reveals.
    lost_on_the_way = relay.to_peer.dropped + relay.to_client.dropped
    assert lost_on_the_way - in_flight <= quality.rx_lost <= lost_on_the_way
    assert 14.0 < quality.loss_percent < 26.0  # 1 - 0.9 ** 2 = 19 %, a few hundred packets
    assert quality.mos is not None
    assert quality.mos < 3.6  # G.711 with ~19 % random loss: most users dissatisfied
