"""Offers in the dialog against sipp: a re-INVITE moves our RTP to sipp's echo, a re-INVITE holds it,
an UPDATE resumes it. The old media address is a socket of the test's own that counts what reaches it.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from callgate.calls.ids import new_session_id
from callgate.calls.trunk import TrunkHangup
from tests.peers.sipp import errors, running_sipp, scenario

from .harness import running_trunk

pytestmark = pytest.mark.peers

SIPP_DONE_S = 20.0


class Counter(asyncio.DatagramProtocol):
    """Arrival times of the datagrams at the old media address."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.arrivals.append(asyncio.get_running_loop().time())


def runs(arrivals: list[float], gap_s: float = 0.5) -> list[list[float]]:
    """`arrivals` split where they pause for more than `gap_s`."""
    found: list[list[float]] = []
    for at in arrivals:
        if found and at - found[-1][-1] <= gap_s:
            found[-1].append(at)
        else:
            found.append([at])
    return found


async def test_re_invite_moves_the_rtp_hold_stops_it_and_update_resumes_it(tmp_path):
    loop = asyncio.get_running_loop()
    old = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    old.bind(("127.0.0.1", 0))
    transport, counter = await loop.create_datagram_endpoint(Counter, sock=old)
    plan = scenario(
        "uas_reinvite_media",
        tmp_path,
        OLD_PORT=str(old.getsockname()[1]),
        FIRST_MS="1500",
        MOVED_MS="2000",
        HELD_MS="2000",
        RESUMED_MS="2000",
    )
    try:
        echo = running_sipp(tmp_path, scenario_file=plan, extra=("-rtp_echo",))
        async with echo as (sipp, port), running_trunk(port) as t:
            call = new_session_id()
            t.trunk.dial(call, "2100", None)
            await t.answered(call)
            t.play(call, 700.0)
            hangup = await t.hangup(call, timeout_s=15.0)
            assert hangup == TrunkHangup(call, 16, by_remote=True)
            assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
            await t.drained()
            assert t.tone_hz(call) == pytest.approx(700.0, abs=5.0)
            heard_s = len(t.audio[call]) / 16_000
    finally:
        transport.close()
    # Before the move: one run of our RTP at the old address, about FIRST_MS long. During the
    # hold (sendonly, at the old address again) nothing: we pause our sending.
    (first,) = runs(counter.arrivals)
    assert first[-1] - first[0] == pytest.approx(1.5, abs=0.3)
    assert len(first) >= 60
    # The echo came back while moved (2 s) and again after the UPDATE resumed it (2 s):
    # more than the moved span alone could give.
    assert heard_s >= 3.0, f"only {heard_s:.1f} s of audio"


async def test_a_callers_re_invite_moves_the_rtp_of_an_inbound_call(tmp_path):
    loop = asyncio.get_running_loop()
    old = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    old.bind(("127.0.0.1", 0))
    transport, counter = await loop.create_datagram_endpoint(Counter, sock=old)
    plan = scenario(
        "uac_reinvite_media",
        tmp_path,
        OLD_PORT=str(old.getsockname()[1]),
        FIRST_MS="1500",
        MOVED_MS="2000",
    )
    try:
        async with running_trunk(5060) as t:  # the trunk host is 127.0.0.1: sipp is trusted
            t.echo_inbound = False  # we play a tone instead; sipp echoes it once it is moved
            caller = running_sipp(
                tmp_path,
                scenario_file=plan,
                remote=f"127.0.0.1:{t.port}",
                extra=("-s", "4170", "-rtp_echo"),
            )
            async with caller as (sipp, _):
                offered = await t.incoming()
                call = offered.session_id
                t.play(call, 500.0)
                hangup = await t.hangup(call, timeout_s=15.0)
                assert hangup == TrunkHangup(call, 16, by_remote=True)
                assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
                await t.drained()
                assert t.tone_hz(call) == pytest.approx(500.0, abs=5.0)
                heard_s = len(t.audio[call]) / 16_000
    finally:
        transport.close()
    (first,) = runs(counter.arrivals)  # the old address, until the re-INVITE only
    assert first[-1] - first[0] == pytest.approx(1.3, abs=0.4)  # answered 0.2 s in
    assert heard_s >= 1.5, f"only {heard_s:.1f} s of echo after the move"
