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
from callgate.calls.trunk import TrunkAnswered, TrunkHangup
from callgate.telephony.siptrunk.call import Phase
from tests.peers.relay import LossyRelay
from tests.peers.sipp import errors, running_sipp, scenario

from .harness import running_trunk

pytestmark = pytest.mark.peers

CALLS = 20
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
