"""Delayed offers both ways against sipp (RFC 3261 §13.2.1). From a caller: its INVITE has no
SDP, our 200 carries our offer and its ACK the answer; later re-INVITEs without SDP likewise, one
whose answer holds the call (a=sendonly in the ACK) and one that resumes it. Ours
(`delayed_offer`): no SDP in our INVITE, sipp's 200 offers, our ACK answers. sipp points its
media at a socket of the test's own, which records what we send."""

from __future__ import annotations

import asyncio
import socket

import numpy as np
import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup, TrunkHold
from callgate.media.g711 import ulaw_decode
from callgate.media.signals import dominant_frequency_hz
from tests.peers.sipp import errors, running_sipp, scenario

from .harness import running_trunk
from .test_sipp_reinvite import runs

pytestmark = pytest.mark.peers

SIPP_DONE_S = 20.0


class Recorder(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.pcm: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.arrivals.append(asyncio.get_running_loop().time())
        self.pcm.append(ulaw_decode(data[12:]))


async def test_offerless_invite_and_re_invites_answered_in_the_ack_one_holding(tmp_path):
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    transport, heard = await loop.create_datagram_endpoint(Recorder, sock=sock)
    plan = scenario(
        "uac_delayed_offer",
        tmp_path,
        RTP_PORT=str(sock.getsockname()[1]),
        FIRST_MS="1500",
        HELD_MS="2000",
        RESUMED_MS="1500",
    )
    try:
        async with running_trunk(5060) as t:  # the trunk host is 127.0.0.1: sipp is trusted
            t.echo_inbound = False
            caller = running_sipp(
                tmp_path, scenario_file=plan, remote=f"127.0.0.1:{t.port}", extra=("-s", "4171")
            )
            async with caller as (sipp, _):
                offered = await t.incoming()
                call = offered.session_id
                t.play(call, 500.0)
                hangup = await t.hangup(call, timeout_s=15.0)
                assert hangup == TrunkHangup(call, 16, by_remote=True)
                assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)  # our offers checked
                await t.drained()
    finally:
        transport.close()
    assert t.of(TrunkHold, call) == [
        TrunkHold(call, held=True, by_remote=True),
        TrunkHold(call, held=False, by_remote=True),
    ]
    # Our RTP went where the ACK's answer said, stopped for the hold the second ACK made, and
    # came back with the third.
    before, after = runs(heard.arrivals, gap_s=0.3)
    assert before[-1] - before[0] == pytest.approx(1.3, abs=0.4)  # answered 0.2 s in
    assert after[0] - before[-1] == pytest.approx(2.0, abs=0.3)
    samples = np.frombuffer(b"".join(heard.pcm), dtype="<i2")
    assert dominant_frequency_hz(samples.tobytes()) == pytest.approx(500.0, abs=5)


async def test_our_offerless_invite_gets_the_offer_in_the_200_and_our_ack_answers(tmp_path):
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    transport, heard = await loop.create_datagram_endpoint(Recorder, sock=sock)
    plan = scenario(
        "uas_offer_in_200", tmp_path, RTP_PORT=str(sock.getsockname()[1]), TALK_MS="2000"
    )
    try:
        async with (
            running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
            running_trunk(port, delayed_offer=True) as t,
        ):
            call = new_session_id()
            t.trunk.dial(call, "2200", None)
            await t.answered(call)
            t.play(call, 600.0)
            hangup = await t.hangup(call, timeout_s=10.0)
            assert hangup == TrunkHangup(call, 16, by_remote=True)
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)  # no offer; an answer
            await t.drained()
    finally:
        transport.close()
    # Our RTP went where the 200's offer said, for the two seconds the call lasted.
    (talk,) = runs(heard.arrivals, gap_s=0.3)
    assert talk[-1] - talk[0] == pytest.approx(2.0, abs=0.3)
    samples = np.frombuffer(b"".join(heard.pcm), dtype="<i2")
    assert dominant_frequency_hz(samples.tobytes()) == pytest.approx(600.0, abs=5)
