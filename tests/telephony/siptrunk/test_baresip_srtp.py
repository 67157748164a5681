"""SRTP (SDES) against baresip's srtp module: audio checked by frequency at both ends, each way.

baresip decrypts what we send and we decrypt what it sends, so a tone heard at each end proves
both directions are SRTP with the keys the SDP exchanged: baresip's libsrtp drops a plain or
wrongly keyed packet, and so does ours. baresip logs the suite it settled on.
"""

from __future__ import annotations

import logging

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup, TrunkIncomingCall
from tests.peers.baresip import running_baresip

from .harness import running_trunk
from .test_baresip import SECOND_OF_AUDIO, loud_frequency, outbound_call_both_ways

pytestmark = pytest.mark.peers


async def test_required_outbound_call_to_baresip_srtp_mand_carries_audio_both_ways(
    tmp_path, caplog
):
    caplog.set_level(logging.DEBUG)  # every SIP message we send and receive is logged
    async with running_baresip(tmp_path, tone_hz=440.0, mediaenc="srtp-mand") as phone:
        async with running_trunk(phone.sip_port, media_encryption="required") as t:
            await outbound_call_both_ways(t, phone)
        assert "SIP to" in caplog.text
        assert "inline:" not in caplog.text  # the keys are in SDP bodies, never in our log
        log = phone.log()
        # We offer the 80-bit tag first; baresip takes it.
        assert "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" in log
        assert loud_frequency(phone.heard()) == pytest.approx(700.0, abs=5.0)


@pytest.mark.parametrize(
    ("ours", "mediaenc"),
    [("optional", "srtp"), ("required", "srtp"), ("required", "srtp-mand")],
)
async def test_inbound_srtp_call_from_baresip_is_echoed_encrypted(tmp_path, ours, mediaenc):
    async with running_baresip(tmp_path, tone_hz=440.0, mediaenc=mediaenc) as phone:
        async with running_trunk(phone.sip_port, media_encryption=ours) as t:
            response = await phone.command("dial", f"sip:4146@127.0.0.1:{t.port}")
            assert response.get("ok"), response
            offered = await t.incoming()
            await t.wait_for(
                lambda: len(t.audio[offered.session_id]) >= 2 * SECOND_OF_AUDIO, "2 s of audio"
            )
            await phone.command("hangup")
            hangup = await t.hangup(offered.session_id)
            assert hangup == TrunkHangup(offered.session_id, 16, by_remote=True)
            await t.drained()
            assert t.tone_hz(offered.session_id) == pytest.approx(440.0, abs=5.0)
        assert "SRTP is Enabled (cryptosuite=" in phone.log()
        # What baresip heard is its own tone, echoed by the inbound handler over SRTP.
        assert loud_frequency(phone.heard()) == pytest.approx(440.0, abs=5.0)


async def test_required_refuses_a_plain_rtp_offer_from_baresip_with_488(tmp_path):
    async with running_baresip(tmp_path, tone_hz=440.0) as phone:  # no srtp: plain RTP/AVP
        async with running_trunk(phone.sip_port, media_encryption="required") as t:
            response = await phone.command("dial", f"sip:4146@127.0.0.1:{t.port}")
            assert response.get("ok"), response
            await t.wait_for(lambda: "488" in phone.log(), "baresip to be refused with 488")
            await t.drained()
            assert t.of(TrunkIncomingCall) == []
        assert "Not Acceptable Here" in phone.log()


async def test_optional_outbound_call_with_the_32_bit_tag_suite_carries_audio_both_ways(tmp_path):
    async with running_baresip(tmp_path, tone_hz=440.0, mediaenc="srtp") as phone:
        async with running_trunk(
            phone.sip_port, media_encryption="optional", srtp_suites=("AES_CM_128_HMAC_SHA1_32",)
        ) as t:
            await outbound_call_both_ways(t, phone)
        assert "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_32)" in phone.log()
        assert loud_frequency(phone.heard()) == pytest.approx(700.0, abs=5.0)


async def test_required_outbound_call_to_a_plain_baresip_is_refused_never_plain(tmp_path):
    async with running_baresip(tmp_path, tone_hz=440.0) as phone:  # no srtp module
        async with running_trunk(phone.sip_port, media_encryption="required") as t:
            call = new_session_id()
            t.trunk.dial(call, "bob", "5551234")
            hangup = await t.hangup(call)
            await t.drained()
            # It cannot take RTP/SAVP, so it refuses (488, cause 31) instead of answering plain.
            assert hangup == TrunkHangup(call, 31, by_remote=True)
            assert t.audio[call] == bytearray()
        assert "no common audio codecs - rejected" in phone.log()
