"""Blind transfer through the whole gateway: REST and Socket.IO in, REFER to sipp, NOTIFYs back,
transferStatus to the bot, and on success the BYE and a CDR with transferredTo."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers.sipp import errors, running_sipp, scenario
from tests.support import ended_record

from .transfer_gateway import sip_gateway

pytestmark = pytest.mark.peers

SIPP_DONE_S = 10.0
TARGET = "0215550100"
REFER_TO = r"sip:0215550100@127\.0\.0\.1"


def progress(bot_log: list[dict[str, object]]) -> list[tuple[object, object]]:
    return [(item["state"], item["sipStatus"]) for item in bot_log]


async def test_rest_transfer_reports_each_notify_then_ends_the_call_transferred(
    tmp_path: Path,
) -> None:
    plan = scenario(
        "uas_refer_notify",
        tmp_path,
        REFER_TO=REFER_TO,
        FRAG1="100 Trying",
        FRAG2="180 Ringing",
        FINAL="200 OK",
    )
    async with (
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        sip_gateway(tmp_path, port) as gw,
    ):
        bot = await gw.bot()
        sid = await gw.answered_call(bot, "5000")
        response = await gw.transfer(sid, TARGET)
        assert response.status_code == 200, response.text
        assert response.json() == {
            "status": 200,
            "errors": "",
            "data": {"sessionId": sid, "target": TARGET, "mode": "blind"},
        }
        cdr = await bot.next("cdr")
        assert progress(bot.seen("transferStatus")) == [
            ("trying", 202),
            ("trying", 100),
            ("ringing", 180),
            ("succeeded", 200),
        ]
        assert all(item["sessionId"] == sid for item in bot.seen("transferStatus"))
        names = [name for name, _ in bot.log if name in ("transferStatus", "hangup", "cdr")]
        assert names[-3:] == ["transferStatus", "hangup", "cdr"]
        assert cdr["transferredTo"] == TARGET
        assert (cdr["disposition"], cdr["hangupBy"], cdr["hangupCauseCode"]) == (
            "ANSWERED",
            "CALLER",
            16,
        )
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)  # it got our BYE
        record = await ended_record(gw.gateway, "acme", sid)
        assert record.transferred_to == TARGET
        stored = await gw.http.get(f"/v1/cdr/{sid}", headers=gw.auth())
        assert stored.json()["data"]["transferredTo"] == TARGET
