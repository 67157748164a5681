"""Blind transfer through the whole gateway: REST and Socket.IO in, REFER to sipp, NOTIFYs back,
transferStatus to the bot, and on success the BYE and a CDR with transferredTo."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.api.test_webhooks import Receiver, hook, receiver, until
from tests.peers.sipp import errors, running_sipp, scenario
from tests.support import ended_record

from .transfer_gateway import sip_gateway

pytestmark = pytest.mark.peers
__all__ = ["receiver"]  # the real HTTP receiver fixture, shared with the webhook tests

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


@pytest.mark.parametrize(
    ("status", "phrase"), [(603, "Decline"), (405, "Method Not Allowed"), (403, "Forbidden")]
)
async def test_a_refused_refer_reports_failed_and_the_call_stays_with_the_bot(
    tmp_path: Path, status: int, phrase: str
) -> None:
    extra = "Allow: INVITE, ACK, BYE, CANCEL" if status == 405 else "X-Test: refused"
    plan = scenario(
        "uas_refer_refused", tmp_path, STATUS=str(status), PHRASE=phrase, EXTRA_HEADER=extra
    )
    async with (
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        sip_gateway(tmp_path, port) as gw,
    ):
        bot = await gw.bot()
        sid = await gw.answered_call(bot, "5001")
        ack = await bot.ask("transfer", {"sessionId": sid, "target": TARGET, "mode": "blind"})
        assert ack == {"success": True, "error": None}
        await bot.until("transferStatus", {"sessionId": sid, "state": "failed"})
        assert progress(bot.seen("transferStatus")) == [("failed", status)]
        live = await gw.http.get("/v1/calls", headers=gw.auth())
        assert [c["status"] for c in live.json()["data"]] == ["Connected"]
        assert not bot.seen("hangup")
        # The bot still has the call: it may try again (the first one is over) or hang up.
        assert (await bot.ask("hangup", {"sessionId": sid}))["success"]
        cdr = await bot.next("cdr")
        assert "transferredTo" not in cdr
        assert (cdr["hangupBy"], cdr["hangupCauseCode"]) == ("CALLER", 16)
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


@pytest.mark.parametrize(
    ("final", "status"), [("486 Busy Here", 486), ("408 Request Timeout", 408)]
)
async def test_a_target_that_fails_reports_failed_with_its_status_and_the_call_goes_on(
    tmp_path: Path, final: str, status: int
) -> None:
    plan = scenario(
        "uas_refer_notify",
        tmp_path,
        REFER_TO=REFER_TO,
        FRAG1="100 Trying",
        FRAG2="180 Ringing",
        FINAL=final,
    )
    async with (
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        sip_gateway(tmp_path, port) as gw,
    ):
        bot = await gw.bot()
        sid = await gw.answered_call(bot, "5002")
        ack = await bot.ask("transfer", {"sessionId": sid, "target": TARGET, "mode": "blind"})
        assert ack["success"], ack
        await bot.until("transferStatus", {"sessionId": sid, "state": "failed"})
        assert progress(bot.seen("transferStatus")) == [
            ("trying", 202),
            ("trying", 100),
            ("ringing", 180),
            ("failed", status),
        ]
        assert not bot.seen("hangup")
        assert (await bot.ask("hangup", {"sessionId": sid}))["success"]
        cdr = await bot.next("cdr")
        assert "transferredTo" not in cdr
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
        record = await ended_record(gw.gateway, "acme", sid)
        assert record.transferred_to is None


async def test_rest_refusals_name_what_is_wrong_and_the_deadline_fails_a_silent_transfer(
    tmp_path: Path,
) -> None:
    plan = scenario("uas_refer_silent", tmp_path)
    async with (
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        sip_gateway(tmp_path, port, transfer_timeout_s=1.0) as gw,
    ):
        bot = await gw.bot()
        sid = await gw.answered_call(bot, "5003")

        async def refused(body: Mapping[str, object], status: int, words: str) -> None:
            response = await gw.http.post("/pbx/transfer", json=body, headers=gw.auth())
            assert response.status_code == status, response.text
            envelope = response.json()
            assert (envelope["status"], envelope["data"]) == (status, None)
            assert words in envelope["errors"], envelope["errors"]

        await refused({"target": TARGET, "mode": "blind"}, 400, "sessionId is required")
        await refused({"sessionId": "x", "target": TARGET, "mode": "blind"}, 400, "session id")
        unknown = "01a2413e-8fb0-714c-8788-43585df5186e"
        body = {"sessionId": unknown, "target": TARGET, "mode": "blind"}
        await refused(body, 404, f"No live call with sessionId {unknown}")
        await refused({"sessionId": sid, "target": TARGET, "mode": "warm"}, 400, "mode must be")
        await refused({"sessionId": sid, "mode": "blind"}, 400, "target is required")
        await refused({"sessionId": sid, "target": "bob", "mode": "blind"}, 400, "neither")
        await refused({"sessionId": sid, "target": "sip:", "mode": "blind"}, 400, "SIP URI")
        other = await gw.http.post(
            "/pbx/transfer",
            json={"sessionId": sid, "target": TARGET, "mode": "blind"},
            headers=gw.auth("globex"),
        )
        assert other.status_code == 404  # another account's call is nobody's
        assert not bot.seen("transferStatus")  # nothing refused reached the far end

        assert (await gw.transfer(sid, "sip:agent@127.0.0.1")).status_code == 200
        await bot.until("transferStatus", {"state": "trying", "sipStatus": 202})
        await refused(
            {"sessionId": sid, "target": TARGET, "mode": "blind"}, 409, "already in progress"
        )
        ack = await bot.ask("transfer", {"sessionId": sid, "target": TARGET, "mode": "blind"})
        assert ack["success"] is False
        assert "already in progress" in ack["error"]
        # No final NOTIFY within the transfer's deadline: failed, 408, the call goes on.
        await bot.until("transferStatus", {"state": "failed", "sipStatus": 408})
        assert progress(bot.seen("transferStatus")) == [("trying", 202), ("failed", 408)]
        assert not bot.seen("hangup")
        assert (await bot.ask("hangup", {"sessionId": sid}))["success"]
        await bot.next("cdr")
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_a_call_not_answered_yet_cannot_be_transferred(tmp_path: Path) -> None:
    plan = scenario("uas_ring_until_cancel", tmp_path)
    async with (
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        sip_gateway(tmp_path, port) as gw,
    ):
        bot = await gw.bot()
        sid = await gw.call("5004")
        assert (await bot.ask("joinRoom", {"sessionId": sid}))["success"]
        await bot.until("dialStatus", {"sessionId": sid, "status": "Ringing"})
        response = await gw.transfer(sid, TARGET)
        assert response.status_code == 409, response.text
        assert "not answered" in response.json()["errors"]
        ack = await bot.ask("transfer", {"sessionId": sid, "target": TARGET, "mode": "blind"})
        assert ack["success"] is False
        assert "not answered" in ack["error"]
        assert (await bot.ask("hangup", {"sessionId": sid}))["success"]
        await bot.next("cdr")
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)


async def test_a_webhook_that_asks_for_call_transferred_gets_it_before_call_ended(
    tmp_path: Path, receiver: Receiver
) -> None:
    plan = scenario(
        "uas_refer_notify",
        tmp_path,
        REFER_TO=REFER_TO,
        FRAG1="100 Trying",
        FRAG2="180 Ringing",
        FINAL="200 OK",
    )
    hooks = hook(receiver.url, "call.transferred", "call.ended")
    async with (
        running_sipp(tmp_path, scenario_file=plan) as (sipp, port),
        sip_gateway(tmp_path, port, webhooks=hooks) as gw,
    ):
        bot = await gw.bot()
        sid = await gw.answered_call(bot, "5005")
        assert (await gw.transfer(sid, TARGET)).status_code == 200
        await bot.next("cdr")
        await until(lambda: len(receiver.requests) >= 2, "two deliveries")
        bodies = receiver.bodies()
        assert [body["type"] for body in bodies] == ["call.transferred", "call.ended"]
        transferred = bodies[0]["data"]
        assert (transferred["sessionId"], transferred["target"]) == (sid, TARGET)
        assert transferred["cdr"]["transferredTo"] == TARGET
        assert transferred["cdr"] == bodies[1]["data"]["cdr"]
        assert await sipp.wait(SIPP_DONE_S) == 0, errors(tmp_path)
