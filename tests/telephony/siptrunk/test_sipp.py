"""The SIP trunk against sipp: real SIP and RTP over loopback, every call outcome the CDRs record.

Each test starts its own sipp (ended by PID) and its own trunk; sipp's exit code 0 says the call
followed its scenario from sipp's side, the trunk events say what the domain would record.
"""

from __future__ import annotations

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup, TrunkIncomingCall, TrunkRinging
from callgate.telephony.siptrunk import MEDIA_STOPPED_CAUSE, NO_MEDIA_CAUSE
from tests.peers.pcap import tone_pcap
from tests.peers.process import tcp_listening
from tests.peers.sipp import DTMF_DIR, errors, running_sipp, scenario
from tests.support import need

from .harness import running_trunk

pytestmark = pytest.mark.peers

SIPP_DONE_S = 10.0


async def test_outbound_call_receives_the_callees_tone_and_rfc4733_digits(tmp_path):
    need(DTMF_DIR.is_dir(), f"sipp's DTMF captures are not in {DTMF_DIR}")
    tone = tone_pcap(tmp_path / "tone.pcap", 1000.0, 1.5)
    plan = scenario("uas_tone_dtmf", tmp_path, TONE_PCAP=str(tone), DTMF_DIR=str(DTMF_DIR))
    async with running_sipp(tmp_path, scenario_file=plan) as (sipp, port), running_trunk(port) as t:
        call = new_session_id()
        t.trunk.dial(call, "1000", "5551234")
        await t.answered(call)
        assert await t.hangup(call) == TrunkHangup(call, 16, by_remote=True)
        assert t.digits[call] == ["1", "5", "#"]
        assert t.tone_hz(call) == pytest.approx(1000.0, abs=5.0)
        assert t.of(TrunkRinging, call), "180 Ringing was not reported"
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_outbound_call_to_an_rtp_echo_hears_itself(tmp_path):
    echo = running_sipp(tmp_path, builtin="uas", extra=("-rtp_echo",))
    async with echo as (sipp, port), running_trunk(port) as t:
        call = new_session_id()
        t.trunk.dial(call, "2000", None)
        await t.answered(call)
        t.play(call, 700.0)
        await t.wait_for(lambda: len(t.audio[call]) >= 16_000 * 1.5, "1.5 s of echo")
        t.trunk.hangup(call, 16)
        await t.drained()
        assert t.tone_hz(call) == pytest.approx(700.0, abs=5.0)
        assert not t.of(TrunkHangup, call), "our own hangup must not come back as an event"
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


@pytest.mark.parametrize(
    ("status", "phrase", "extra", "cause"),
    [
        (486, "Busy Here", "X-Test: busy", 17),
        (600, "Busy Everywhere", "X-Test: busy", 17),
        (603, "Decline", "X-Test: declined", 21),
        (404, "Not Found", "X-Test: unknown number", 1),
        (480, "Temporarily Unavailable", "Reason: Q.850;cause=19", 19),  # the Reason wins
    ],
)
async def test_outbound_refusals_map_to_their_q850_cause(tmp_path, status, phrase, extra, cause):
    plan = scenario("uas_reject", tmp_path, STATUS=str(status), PHRASE=phrase, EXTRA_HEADER=extra)
    async with running_sipp(tmp_path, scenario_file=plan) as (sipp, port), running_trunk(port) as t:
        call = new_session_id()
        t.trunk.dial(call, "3000", None)
        assert await t.hangup(call) == TrunkHangup(call, cause, by_remote=True)
        assert t.of(TrunkRinging, call)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_no_answer_the_domains_ring_timeout_cancels(tmp_path):
    plan = scenario("uas_ring_until_cancel", tmp_path)
    async with (
        running_sipp(tmp_path, scenario_file=plan, extra=("-trace_logs",)) as (
            sipp,
            port,
        ),
        running_trunk(port) as t,
    ):
        call = new_session_id()
        t.trunk.dial(call, "4000", None)
        await t.wait_for(lambda: t.of(TrunkRinging, call), "ringing")
        t.trunk.hangup(call, 19)  # what the call service does when its ring timeout fires
        await t.drained()
        assert not t.of(TrunkHangup, call)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
    logs = "".join(p.read_text() for p in tmp_path.glob("*_logs.log"))
    assert "CANCEL Reason: Q.850;cause=19" in logs


async def test_bye_from_the_callee_ends_the_call(tmp_path):
    plan = scenario("uas_answer_send_bye", tmp_path, HOLD_MS="600")
    async with running_sipp(tmp_path, scenario_file=plan) as (sipp, port), running_trunk(port) as t:
        call = new_session_id()
        t.trunk.dial(call, "5000", None)
        await t.answered(call)
        assert await t.hangup(call) == TrunkHangup(call, 16, by_remote=True)
        await t.drained()
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_bye_from_our_side_ends_the_call(tmp_path):
    plan = scenario("uas_answer_wait_bye", tmp_path, LINGER_MS="1")
    async with running_sipp(tmp_path, scenario_file=plan) as (sipp, port), running_trunk(port) as t:
        call = new_session_id()
        t.trunk.dial(call, "6000", None)
        await t.answered(call)
        t.trunk.hangup(call, 16)
        await t.drained()
        assert not t.of(TrunkHangup, call)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_inbound_call_from_a_sipp_uac_reaches_the_handler(tmp_path):
    async with running_trunk(5060) as t:  # the trunk host is 127.0.0.1: sipp is trusted
        caller = running_sipp(
            tmp_path,
            builtin="uac",
            remote=f"127.0.0.1:{t.port}",
            extra=("-s", "4143", "-d", "1500"),
        )
        async with caller as (sipp, _):
            offered = await t.incoming()
            assert (offered.caller_id, offered.did_number) == ("sipp", "4143")
            hangup = await t.hangup(offered.session_id)
            assert hangup == TrunkHangup(offered.session_id, 16, by_remote=True)
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
            await t.drained()


async def test_inbound_caller_cancels_before_the_answer(tmp_path):
    plan = scenario("uac_cancel", tmp_path)
    async with running_trunk(5060) as t:
        t.answer_after_s = None  # the application never answers
        async with running_sipp(
            tmp_path, scenario_file=plan, remote=f"127.0.0.1:{t.port}", extra=("-s", "4144")
        ) as (sipp, _):
            offered = await t.incoming()
            assert offered.caller_id == "5551234"
            hangup = await t.hangup(offered.session_id)
            assert hangup == TrunkHangup(offered.session_id, 16, by_remote=True)
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
            await t.drained()


async def test_inbound_from_an_untrusted_source_gets_403_and_no_call(tmp_path):
    # The trunk is "elsewhere" (127.0.0.2) and nothing else is trusted.
    async with running_trunk(5060, trunk_host="127.0.0.2") as t:
        async with running_sipp(tmp_path, builtin="uac", remote=f"127.0.0.1:{t.port}") as (
            sipp,
            _,
        ):
            assert await sipp.wait(SIPP_DONE_S) == 1  # its call failed
        assert "SIP/2.0 403 Forbidden" in errors(tmp_path)
        assert not t.of(TrunkIncomingCall)
        assert t.trunk.engine.stats["untrusted"] == 1


async def test_outbound_and_inbound_over_tcp(tmp_path):
    plan = scenario("uas_answer_wait_bye", tmp_path, LINGER_MS="1")
    async with running_sipp(tmp_path, scenario_file=plan, transport="t1") as (sipp, port):
        await tcp_listening(port)
        async with running_trunk(port, transport="tcp") as t:
            call = new_session_id()
            t.trunk.dial(call, "7000", None)
            await t.answered(call)
            t.trunk.hangup(call, 16)
            await t.drained()
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)

            inbound = tmp_path / "inbound"
            inbound.mkdir()
            async with running_sipp(
                inbound,
                builtin="uac",
                transport="t1",
                remote=f"127.0.0.1:{t.port}",
                extra=("-s", "4145", "-d", "500"),
            ) as (caller, _):
                offered = await t.incoming()
                assert offered.did_number == "4145"
                assert (await t.hangup(offered.session_id)).by_remote
                assert await caller.wait(SIPP_DONE_S) == 0, errors(inbound)


async def test_rtp_that_stops_ends_the_call_with_bye_and_cause_102(tmp_path):
    tone = tone_pcap(tmp_path / "tone.pcap", 800.0, 1.0)
    plan = scenario("uas_play_then_silence", tmp_path, PCAP=str(tone))
    async with (
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        running_trunk(port, rtp_timeout_s=1.0) as t,
    ):
        call = new_session_id()
        t.trunk.dial(call, "8100", None)
        await t.answered(call)
        assert await t.hangup(call) == TrunkHangup(call, MEDIA_STOPPED_CAUSE, by_remote=False)
        assert t.tone_hz(call) == pytest.approx(800.0, abs=5.0)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)  # it got our BYE


async def test_no_rtp_at_all_ends_the_call_with_bye_and_cause_38(tmp_path):
    plan = scenario("uas_answer_wait_bye", tmp_path, LINGER_MS="1")
    async with (
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        running_trunk(port, rtp_timeout_s=1.0) as t,
    ):
        call = new_session_id()
        t.trunk.dial(call, "8101", None)
        await t.answered(call)
        assert await t.hangup(call) == TrunkHangup(call, NO_MEDIA_CAUSE, by_remote=False)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_register_answers_the_registrars_digest_challenge(tmp_path):
    plan = scenario("uas_registrar", tmp_path, USER="gw", PASSWORD="s3cret", EXPIRES="300")
    async with (
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        running_trunk(port, username="gw", password="s3cret", register=True) as t,
    ):
        await t.wait_for(lambda: t.trunk.registered, "registered")
        registration = t.trunk.engine.registration
        assert registration is not None
        assert registration.registered_until is not None
        assert registration.registered_until - t.clock.monotonic() == pytest.approx(300, abs=2)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
