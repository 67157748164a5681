"""Dead air and live call quality through the whole gateway against sipp (Socket.IO bots, REST,
the SIP trunk, CDRs), on the loop's clock (sipp keeps real time).

- dead air: a sipp callee that answers and never sends RTP (cause 38), and one that plays a tone
  then goes quiet (cause 102): a bot that asked gets `deadAir` before `hangup`, one that did not
  gets the same hangup and CDR and nothing else;
- call quality: sipp echoes our RTP (-rtp_echo), directly or across a relay that drops 10 % of
  the packets each way; `callQuality` must tell what the CDR's quality fields then say.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from callgate.clock import LoopClock, MediaTicker
from callgate.config import load_config
from callgate.gateway import Gateway
from callgate.inbound.routes import InboundRoute
from callgate.listen.options import ListenOptions
from callgate.media.signals import sine_pcm16
from callgate.telephony.siptrunk import SipTrunk, SipTrunkSettings
from tests.listen.test_inbound import app_server
from tests.peers.pcap import tone_pcap
from tests.peers.relay import LossyRelay
from tests.peers.sipp import errors, running_sipp, scenario
from tests.support import ended_record, free_port
from tests.telephony.siptrunk.harness import rtp_range

from .transfer_gateway import Bot, SipGateway, sip_gateway

pytestmark = pytest.mark.peers

SIPP_DONE_S = 15.0
HEARD = ("deadAir", "callQuality", "speechStarted", "speechStopped", "silence")


def heard(bot: Bot) -> list[tuple[str, Any]]:
    """Every listening event and hangup the bot gets, in order."""
    got: list[tuple[str, Any]] = []
    for name in (*HEARD, "hangup", "cdr"):

        def handler(data: Any, name: str = name) -> None:
            got.append((name, data))
            bot.events[name].put_nowait(data)

        bot.sio.on(name, handler)
    return got


async def joined(bot: Bot, sid: str, **extra: Any) -> None:
    ack = await bot.ask("joinRoom", {"sessionId": sid, **extra})
    assert ack["success"], ack


async def placed(gw: SipGateway, body: dict[str, Any]) -> str:
    response = await gw.http.post("/pbx/call", json=body, headers=gw.auth())
    assert response.status_code == 200, response.text
    sid: str = response.json()["data"]["sessionId"]
    return sid


@pytest.mark.parametrize(
    ("plan_name", "cause"),
    [("uas_answer_wait_bye", 38), ("uas_play_then_silence", 102)],
)
async def test_dead_air_is_told_then_the_call_ends_with_its_cause_and_cdr(
    tmp_path: Path, plan_name: str, cause: int
) -> None:
    if plan_name == "uas_play_then_silence":
        plan = scenario(plan_name, tmp_path, PCAP=str(tone_pcap(tmp_path / "t.pcap", 800.0, 1.0)))
    else:
        plan = scenario(plan_name, tmp_path, LINGER_MS="1")
    async with (
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        sip_gateway(tmp_path, port, rtp_timeout_s=1.0) as gw,
    ):
        asked, other = await gw.bot(), await gw.bot()
        asked_log, other_log = heard(asked), heard(other)
        sid = await placed(gw, {"phoneNumber": "8101"})
        await joined(asked, sid, listen={"deadAir": True})
        await joined(other, sid)
        cdr = await asked.next("cdr")
        await other.next("cdr")
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)  # it got our BYE
    names = [name for name, _ in asked_log]
    assert names == ["deadAir", "hangup", "cdr"]
    assert asked_log[0][1] == {"sessionId": sid, "ms": 1000}
    assert [name for name, _ in other_log] == ["hangup", "cdr"]  # it did not ask
    assert (cdr["disposition"], cdr["hangupCauseCode"], cdr["hangupBy"]) == (
        "ANSWERED",
        cause,
        None,
    )
    if cause == 102:
        assert cdr["rxPackets"] >= 45  # the second of tone the callee sent before it went quiet
    else:
        assert cdr["rxPackets"] == 0


async def talk(bot: Bot, sid: str, seconds: float) -> None:
    tone = sine_pcm16(700.0, seconds, level_dbfs=-12.0)
    ack = await bot.ask("audio", {"sessionId": sid, "audioData": tone, "audioFormat": "pcm16"})
    assert ack["success"], ack


async def test_call_quality_every_second_on_a_clean_echo_and_only_to_who_asked(
    tmp_path: Path,
) -> None:
    echo = running_sipp(tmp_path, builtin="uas", extra=("-rtp_echo",))
    async with echo as (_sipp, port), sip_gateway(tmp_path, port) as gw:
        asked, other = await gw.bot(), await gw.bot()
        asked_log, other_log = heard(asked), heard(other)
        sid = await placed(gw, {"phoneNumber": "3551"})
        await joined(asked, sid, listen={"callQuality": True, "qualityEveryMs": 1000})
        await joined(other, sid)
        await asked.until("dialStatus", {"sessionId": sid, "status": "Connected"})
        await talk(asked, sid, 4.0)
        reports = [await asked.next("callQuality", timeout_s=5.0) for _ in range(3)]
        response = await gw.http.post("/pbx/hangup", json={"sessionId": sid}, headers=gw.auth())
        assert response.status_code == 200, response.text
        cdr = await asked.next("cdr")
        await other.next("cdr")
    for report in reports:
        assert set(report) == {"sessionId", "lossPct", "jitterMs", "rttMs", "mos"}
        assert report["sessionId"] == sid
        assert report["rttMs"] is None  # no RTCP: documented
        assert report["lossPct"] == 0.0
        assert report["mos"] >= 4.3  # clean G.711
        assert 0.0 <= report["jitterMs"] < 20.0
    assert cdr["lossPercent"] == 0.0
    assert cdr["mos"] == pytest.approx(reports[-1]["mos"], abs=0.05)
    assert not [name for name, _ in other_log if name in HEARD]
    # nothing but what it asked for (a tone's echo is no speech)
    assert {name for name, _ in asked_log if name in HEARD} == {"callQuality"}


async def test_call_quality_on_a_lossy_path_reports_what_the_cdr_then_says(tmp_path: Path) -> None:
    media = free_port()
    relay = LossyRelay(("127.0.0.1", media), loss=0.1, seed=3550)
    await relay.start()
    try:
        plan = scenario("uas_answer_wait_bye", tmp_path, LINGER_MS="500")
        plan.write_text(plan.read_text().replace("[media_port]", str(relay.port)))
        sipp = running_sipp(tmp_path, scenario_file=plan, media_port=media, extra=("-rtp_echo",))
        async with sipp as (peer, port), sip_gateway(tmp_path, port) as gw:
            bot = await gw.bot()
            log = heard(bot)
            # asked by the call itself (POST /pbx/call): every client of the call gets it
            body = {"phoneNumber": "3550", "listen": {"callQuality": True, "qualityEveryMs": 1000}}
            sid = await placed(gw, body)
            await joined(bot, sid)
            await bot.until("dialStatus", {"sessionId": sid, "status": "Connected"})
            await talk(bot, sid, 6.0)
            reports = [await bot.next("callQuality", timeout_s=5.0) for _ in range(5)]
            response = await gw.http.post("/pbx/hangup", json={"sessionId": sid}, headers=gw.auth())
            assert response.status_code == 200, response.text
            cdr = await bot.next("cdr")
            assert await peer.wait(SIPP_DONE_S) == 0, errors(tmp_path)
    finally:
        relay.close()
    assert all(r["rttMs"] is None for r in reports)
    last = reports[-1]
    assert 10.0 < last["lossPct"] < 30.0  # 1 - 0.9 ** 2 = 19 % over a few hundred packets
    assert last["mos"] < 3.6
    # the CDR is the same running figures, a fraction of a second later
    assert cdr["lossPercent"] == pytest.approx(last["lossPct"], abs=4.0)
    assert cdr["mos"] == pytest.approx(last["mos"], abs=0.4)
    assert cdr["rxJitterMs"] == pytest.approx(last["jitterMs"], abs=5.0)
    assert [name for name, _ in log].count("callQuality") >= 5


async def test_dead_air_on_an_inbound_sip_call_reaches_a_route_that_asked(tmp_path: Path) -> None:
    """sipp's built-in UAC sends no RTP: the route's app gets `dead_air`, the call ends (38)."""
    low, high = rtp_range()
    sip_port = free_port()
    settings = SipTrunkSettings(
        host="127.0.0.1",
        port=free_port(),
        bind_host="127.0.0.1",
        bind_port=sip_port,
        rtp_port_min=low,
        rtp_port_max=high,
        rtp_timeout_s=1.0,
    )
    config = load_config(
        environ={},
        data_dir=str(tmp_path),
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'cdr.db'}",
        jwt_secret="sip-listen-gateway-" + "d" * 40,
    )
    async with app_server() as app:
        app.hang_up_after_s = 30.0  # the app never ends it: dead air must
        listen = ListenOptions(dead_air=True)
        route = InboundRoute(r"4144", f"ws://127.0.0.1:{app.port}", "acme", listen=listen)
        config = dataclasses.replace(config, inbound_routes=(route,))
        clock = LoopClock()
        ticker = MediaTicker(clock)
        trunk = SipTrunk(settings, clock, ticker)
        gateway = Gateway.build(config, clock=clock, ticker=ticker, trunk=trunk)
        await gateway.start()
        try:
            caller = running_sipp(
                tmp_path,
                builtin="uac",
                remote=f"127.0.0.1:{sip_port}",
                extra=("-s", "4144", "-d", "20000"),
            )
            async with caller:
                record = await ended_record(gateway, "acme", timeout_s=10)
        finally:
            await gateway.stop()
    assert (record.disposition, record.hangup_cause_code, record.hangup_by) == (
        "ANSWERED",
        38,
        None,
    )
    events = [m["event"] for m in app.messages]
    assert events[:2] == ["incoming_call", "dead_air"]
    assert app.messages[1] == {"event": "dead_air", "ms": 1000}
