"""Leak gates for SIP calls both ways, with sipp as the far end: calls out to a sipp UAS that
answers, ended by the gateway; calls in from a sipp UAC to the echo app, ended by sipp's BYE.

T1 is 50 ms so the transactions a call leaves (Timer J, D, K: 64 x T1 on UDP) are gone in 3.2 s
and the gate can ask for every count back, transactions and dialogs included.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callgate.appkit.echo import EchoTimings, run_echo_app
from tests.leaks.harness import Gateway, churn_twice, client, serve
from tests.peers.sipp import errors, running_sipp, scenario
from tests.support import free_port, need_program

pytestmark = pytest.mark.peers

CALLS = 300
AT_ONCE = 20
RTP_LOW, RTP_HIGH = 41000, 41998  # 500 pairs: a port a call gives back is the last reused


def config(sipp_port: int, sip_port: int, echo_port: int) -> str:
    return f"""
trunk = "sip:127.0.0.1:{sipp_port}"
no_client_grace_s = 0.3
inbound_url = "ws://127.0.0.1:{echo_port}"
inbound_account = "acme"

[sip]
bind_host = "127.0.0.1"
bind_port = {sip_port}
rtp_port_min = {RTP_LOW}
rtp_port_max = {RTP_HIGH}
t1_s = 0.05
t2_s = 0.4
t4_s = 0.5
"""


@contextlib.asynccontextmanager
async def echo_app() -> AsyncIterator[int]:
    """The echo app, answering at once and leaving the hang-up to the caller."""
    ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    timings = EchoTimings(dtmf_after_s=0.1, hangup_after_dtmf_s=60.0)
    task = asyncio.create_task(run_echo_app("127.0.0.1", 0, timings=timings, ready=ready))
    try:
        yield await asyncio.wait_for(ready, 5)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_sip_calls_both_ways_give_everything_back(tmp_path: Path) -> None:
    need_program("sipp")
    uas_port, sip_port = free_port(), free_port()
    uas_file = scenario("uas_answer_wait_bye", tmp_path, LINGER_MS="100")

    async def outbound() -> None:
        """`CALLS` calls out, `AT_ONCE` at a time; each ends when no app joins it (0.3 s)."""
        async with (
            running_sipp(
                tmp_path / "uas",
                scenario_file=uas_file,
                port=uas_port,
                calls=CALLS,
            ) as (sipp, _),
            client(gateway) as http,
        ):
            for _ in range(CALLS // AT_ONCE):
                answers = await asyncio.gather(
                    *(
                        http.post("/pbx/call", json={"phoneNumber": "0811"}, headers=gateway.auth())
                        for _ in range(AT_ONCE)
                    )
                )
                assert {answer.status_code for answer in answers} == {200}, answers[0].text
                await _calls_ended(gateway)
            assert await sipp.wait(30) == 0, errors(tmp_path / "uas")

    async def inbound() -> None:
        """`CALLS` calls in from sipp's built-in UAC (0.3 s each, `AT_ONCE` at a time)."""
        caller = running_sipp(
            tmp_path / "uac",
            builtin="uac",
            remote=f"127.0.0.1:{sip_port}",
            calls=CALLS,
            extra=("-s", "4143", "-d", "300", "-l", str(AT_ONCE), "-r", "100"),
        )
        async with caller as (sipp, _):
            assert await sipp.wait(60) == 0, errors(tmp_path / "uac")
        await _calls_ended(gateway)

    async def both() -> None:
        await outbound()
        await inbound()

    (tmp_path / "uas").mkdir()
    (tmp_path / "uac").mkdir()
    async with echo_app() as echo, serve(tmp_path, config(uas_port, sip_port, echo)) as gateway:
        await churn_twice(
            gateway,
            both,
            expected=(
                "live_calls",
                "sip_calls",
                "sip_dialogs",
                "sip_transactions",
                "rtp_sockets",
                "rtp_ports",
                "inbound_connections",
            ),
        )


async def _calls_ended(gateway: Gateway) -> None:
    async def ended() -> None:
        while (await gateway.held())["live_calls"]:  # noqa: ASYNC110 - read over HTTP
            await asyncio.sleep(0.05)

    await asyncio.wait_for(ended(), 20)
