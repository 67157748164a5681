"""The SIP trunk against baresip, a real softphone: audio both ways and RFC 4733 digits it logs."""

from __future__ import annotations

import numpy as np
import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup
from callgate.media.signals import dominant_frequency_hz
from tests.peers.baresip import Baresip, running_baresip

from .harness import TrunkUnderTest, running_trunk

pytestmark = pytest.mark.peers

SECOND_OF_AUDIO = 16_000  # bytes of PCM16 at 8 kHz


def loud_frequency(pcm: bytes) -> float:
    """Dominant frequency over the 20 ms frames that are not (near) silence."""
    samples = np.frombuffer(pcm, dtype="<i2")
    frames = samples[: len(samples) // 160 * 160].reshape(-1, 160)
    loud = frames[np.abs(frames).max(axis=1) > 1000]
    assert loud.size >= 1600, f"only {loud.size} loud samples"
    return dominant_frequency_hz(loud.ravel().tobytes())


async def outbound_call_both_ways(t: TrunkUnderTest, phone: Baresip) -> None:
    """Dial baresip, play 700 Hz for 2 s of its 440 Hz, hang up; check what we heard (the caller
    checks what baresip heard: `loud_frequency(phone.heard())`)."""
    call = new_session_id()
    t.trunk.dial(call, "bob", "5551234")
    await t.answered(call)
    t.play(call, 700.0)
    await t.wait_for(lambda: len(t.audio[call]) >= 2 * SECOND_OF_AUDIO, "2 s of audio")
    t.trunk.hangup(call, 16)
    await t.drained()
    await t.wait_for(lambda: "session closed" in phone.log(), "baresip to end the call")
    assert t.tone_hz(call) == pytest.approx(440.0, abs=5.0)


async def test_outbound_call_to_baresip_audio_both_ways_and_our_digits_in_its_log(tmp_path):
    async with running_baresip(tmp_path, tone_hz=440.0) as phone:
        async with running_trunk(phone.sip_port) as t:
            call = new_session_id()
            t.trunk.dial(call, "bob", "5551234")
            await t.answered(call)
            t.play(call, 700.0)
            await t.wait_for(lambda: len(t.audio[call]) >= SECOND_OF_AUDIO, "1 s from baresip")
            t.trunk.send_dtmf(call, "7", 160)
            t.trunk.send_dtmf(call, "#", 160)
            await t.wait_for(
                lambda: "received event: '#'" in phone.log(), "baresip to log the digits"
            )
            await t.wait_for(lambda: len(t.audio[call]) >= 2 * SECOND_OF_AUDIO, "2 s of audio")
            t.trunk.hangup(call, 16)
            await t.drained()
            await t.wait_for(lambda: "session closed" in phone.log(), "baresip to end the call")
            assert t.tone_hz(call) == pytest.approx(440.0, abs=5.0)
        log = phone.log()
        assert "received event: '7'" in log
        assert log.index("received event: '7'") < log.index("received event: '#'")
        assert loud_frequency(phone.heard()) == pytest.approx(700.0, abs=5.0)


async def test_inbound_call_from_baresip_reaches_the_handler_and_is_echoed(tmp_path):
    async with running_baresip(tmp_path, tone_hz=440.0) as phone:
        async with running_trunk(phone.sip_port) as t:  # baresip is the trunk host: trusted
            response = await phone.command("dial", f"sip:4146@127.0.0.1:{t.port}")
            assert response.get("ok"), response
            offered = await t.incoming()
            assert (offered.caller_id, offered.did_number) == ("bob", "4146")
            await t.wait_for(
                lambda: len(t.audio[offered.session_id]) >= 2 * SECOND_OF_AUDIO, "2 s of audio"
            )
            await phone.command("hangup")
            hangup = await t.hangup(offered.session_id)
            assert hangup == TrunkHangup(offered.session_id, 16, by_remote=True)
            await t.drained()
            await t.wait_for(lambda: " terminated (duration" in phone.log(), "baresip to end it")
            assert t.tone_hz(offered.session_id) == pytest.approx(440.0, abs=5.0)
        # What baresip heard is its own tone, echoed by the inbound handler.
        assert loud_frequency(phone.heard()) == pytest.approx(440.0, abs=5.0)
