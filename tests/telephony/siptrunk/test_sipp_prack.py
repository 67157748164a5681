"""100rel/PRACK (RFC 3262) against sipp: sipp as a callee requiring reliable provisionals (and
playing early media in its reliable 183), and sipp as a caller that PRACKs our reliable 180."""

from __future__ import annotations

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkAnswered, TrunkHangup, TrunkRinging
from tests.peers.sipp import errors, running_sipp, scenario

from .harness import running_trunk

pytestmark = pytest.mark.peers

SIPP_DONE_S = 10.0


async def test_we_prack_reliable_18x_and_hear_the_early_media_of_the_183(tmp_path):
    plan = scenario("uas_prack", tmp_path, EARLY_MS="2500")
    echo = running_sipp(tmp_path, scenario_file=plan, extra=("-rtp_echo",))
    async with echo as (sipp, port), running_trunk(port) as t:
        call = new_session_id()
        t.trunk.dial(call, "2200", None)
        await t.wait_for(lambda: TrunkRinging(call, early_media=True) in t.events, "early media")
        t.play(call, 600.0)
        # The echo of our tone comes back before the answer: the 183's SDP was taken.
        await t.wait_for(lambda: len(t.audio[call]) >= 16_000, "1 s of early echo")
        assert not t.of(TrunkAnswered, call)
        early_hz = t.tone_hz(call)
        await t.answered(call)
        t.trunk.hangup(call, 16)
        await t.drained()
        assert early_hz == pytest.approx(600.0, abs=5.0)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)  # both PRACKs, as expected


async def test_a_caller_supporting_100rel_gets_our_180_reliably_and_its_prack_answered(tmp_path):
    plan = scenario("uac_prack", tmp_path, HOLD_MS="500")
    async with running_trunk(5060) as t:
        caller = running_sipp(
            tmp_path, scenario_file=plan, remote=f"127.0.0.1:{t.port}", extra=("-s", "4160")
        )
        async with caller as (sipp, _):
            offered = await t.incoming()
            hangup = await t.hangup(offered.session_id)
            assert hangup == TrunkHangup(offered.session_id, 16, by_remote=True)
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
            await t.drained()
