"""RFC 4028 session timers against sipp: our refresh reaches it, its silence ends the call with our
BYE, its 422 gets our INVITE again. The trunk runs on a `SteppedClock`: the test moves its time
on by the minute instead of waiting (RTP timeouts off, as the clock jumps past them too).
"""

from __future__ import annotations

import asyncio

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup, TrunkIncomingCall
from tests.peers.sipp import errors, running_sipp, scenario

from .harness import SteppedClock, running_trunk

pytestmark = pytest.mark.peers

SIPP_DONE_S = 10.0


def plan(tmp_path, *, interval: int, refresher: str, wait_bye: bool, min_se: int = 0):
    return scenario(
        "uas_session_timer",
        tmp_path,
        INTERVAL=str(interval),
        REFRESHER=refresher,
        WAIT_BYE="1" if wait_bye else "0",
        MIN_SE=str(min_se),
        LINGER_MS="300",
    )


async def test_a_session_the_peer_does_not_refresh_ends_with_our_bye_and_cause_102(tmp_path):
    clock = SteppedClock()
    plan_file = plan(tmp_path, interval=90, refresher="uas", wait_bye=True)
    async with (
        running_sipp(tmp_path, scenario_file=plan_file) as (sipp, port),
        running_trunk(port, clock=clock, rtp_timeout_s=0) as t,
    ):
        call = new_session_id()
        t.trunk.dial(call, "3100", None)
        await t.answered(call)
        clock.step(59.0)  # the session expires at 90 - 30 = 60 s (RFC 4028 §10)
        await asyncio.sleep(0.2)  # let a timer wrongly due fire
        assert not t.of(TrunkHangup, call)
        clock.step(1.5)
        assert await t.hangup(call) == TrunkHangup(call, 102, by_remote=False)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)  # it got our BYE, cause 102
        await t.drained()


async def test_as_refresher_we_send_update_at_half_the_interval_and_the_call_lives_on(tmp_path):
    clock = SteppedClock()
    plan_file = plan(tmp_path, interval=120, refresher="uac", wait_bye=False)
    async with (
        running_sipp(tmp_path, scenario_file=plan_file) as (sipp, port),
        running_trunk(port, clock=clock, rtp_timeout_s=0) as t,
    ):
        call = new_session_id()
        t.trunk.dial(call, "3200", None)
        await t.answered(call)
        clock.step(60.5)  # half of 120 s: our UPDATE goes out, sipp answers it, then hangs up
        hangup = await t.hangup(call)
        assert hangup == TrunkHangup(call, 16, by_remote=True)
        assert t.trunk.engine.stats["refreshes"] == 1
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_a_422_from_the_callee_gets_our_invite_again_with_its_min_se(tmp_path):
    clock = SteppedClock()
    # We ask for 1800 s; its Min-SE is 3600, so it grants 3600 s to our second INVITE.
    plan_file = plan(tmp_path, interval=3600, refresher="uas", wait_bye=True, min_se=3600)
    async with (
        running_sipp(tmp_path, scenario_file=plan_file) as (sipp, port),
        running_trunk(port, clock=clock, rtp_timeout_s=0) as t,
    ):
        call = new_session_id()
        t.trunk.dial(call, "3300", None)
        await t.answered(call)
        clock.step(1767.0)  # past what 1800 s would have given: not expired
        await asyncio.sleep(0.2)
        assert not t.of(TrunkHangup, call)
        clock.step(3600.0 - 32.0 + 1.0 - 1767.0)
        assert await t.hangup(call) == TrunkHangup(call, 102, by_remote=False)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_an_inbound_call_asking_too_short_a_session_gets_422_then_its_retry_is_answered(
    tmp_path,
):
    inbound = scenario("uac_session_timer", tmp_path, HOLD_MS="500")
    async with running_trunk(5060) as t:  # the trunk host is 127.0.0.1: sipp is trusted
        caller = running_sipp(
            tmp_path, scenario_file=inbound, remote=f"127.0.0.1:{t.port}", extra=("-s", "4150")
        )
        async with caller as (sipp, _):
            offered = await t.incoming()
            hangup = await t.hangup(offered.session_id)
            assert hangup == TrunkHangup(offered.session_id, 16, by_remote=True)
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
            assert len(t.of(TrunkIncomingCall)) == 1  # the refused INVITE made no call
