"""RFC 4028 session timers in the call-control engine, sans-I/O: time is stepped, never slept."""

from __future__ import annotations

import pytest

from callgate.calls.trunk import TrunkAnswered, TrunkHangup
from callgate.telephony.sip import SipRequest, SipResponse, parse, parse_sdp, response_for
from callgate.telephony.siptrunk import SipTrunkSettings
from callgate.telephony.siptrunk.call import Phase

from .kit import (
    RTP_PORT,
    Run,
    engine,
    events,
    in_dialog,
    inbound_invite,
    media,
    peer_sdp,
    reply,
    requests,
    responses,
)

CALL = "call-1"
WITH_UPDATE = ("Allow", "INVITE, ACK, BYE, CANCEL, UPDATE")


def dialled(**settings: object) -> tuple[Run, SipRequest]:
    run = Run(engine(**settings))
    run.step(run.engine.dial(CALL, "+15551230000", None, RTP_PORT, run.now))
    (invite,) = requests(run.outputs, "INVITE")
    return run, invite


def answered(*headers: tuple[str, str], **settings: object) -> tuple[Run, SipResponse]:
    run, invite = dialled(**settings)
    ok = reply(invite, 200, sdp=peer_sdp(), headers=headers)
    assert events(run.feed(ok)) == [TrunkAnswered(CALL)]
    return run, ok


def test_our_invite_asks_for_a_session_timer():
    _, invite = dialled()
    assert "timer" in invite.supported
    assert invite.get("Session-Expires") == "1800"
    assert invite.get("Min-SE") == "90"
    _, plain = dialled(session_expires_s=0)
    assert plain.get("Session-Expires") is None
    assert "timer" in plain.supported  # a peer that wants one may still have it


def test_a_422_is_acked_and_the_invite_asked_again_with_the_peers_min_se():
    run, invite = dialled()
    out = run.feed(reply(invite, 422, headers=(("Min-SE", "3600"),)))
    (ack,) = requests(out, "ACK")
    (again,) = requests(out, "INVITE")
    assert out.index(next(o for o in out if parse_or_none(o) == ack)) < out.index(
        next(o for o in out if parse_or_none(o) == again)
    )  # the transaction's ACK goes before the TU's retry
    assert again.cseq.number == invite.cseq.number + 1
    assert again.get("Session-Expires") == "3600"
    assert again.get("Min-SE") == "3600"
    assert again.top_via.branch != invite.top_via.branch
    assert (again.call_id, again.from_tag) == (invite.call_id, invite.from_tag)
    assert events(out) == []
    ok = reply(again, 200, sdp=peer_sdp(), headers=(("Session-Expires", "3600;refresher=uac"),))
    assert events(run.feed(ok)) == [TrunkAnswered(CALL)]
    # A second 422 is not retried: the call fails with it.
    run, invite = dialled()
    (again,) = requests(run.feed(reply(invite, 422, headers=(("Min-SE", "3600"),))), "INVITE")
    failed = run.feed(reply(again, 422, tag="t2", headers=(("Min-SE", "7200"),)))
    assert requests(failed, "INVITE") == []
    assert [type(e) for e in events(failed)] == [TrunkHangup]


def parse_or_none(output: object) -> object:
    data = getattr(output, "data", None)
    return None if data is None else parse(data)


def test_as_refresher_we_update_at_half_the_interval_and_it_restarts_the_timer():
    run, _ = answered(("Session-Expires", "600;refresher=uac"), WITH_UPDATE)
    assert requests(run.advance(299.0), "UPDATE") == []
    (update,) = requests(run.advance(1.0), "UPDATE")
    assert update.body == b""
    assert update.get("Session-Expires") == "600;refresher=uac"
    assert "timer" in update.supported
    refreshed = reply(update, 200, headers=(("Session-Expires", "600;refresher=uac"),))
    run.feed(refreshed)
    assert requests(run.advance(299.0), "UPDATE") == []
    (second,) = requests(run.advance(1.0), "UPDATE")
    assert second.cseq.number == update.cseq.number + 1
    assert run.engine.phase(CALL) is Phase.CONFIRMED


def test_without_update_in_the_peers_allow_we_refresh_by_re_invite_and_ack_it():
    run, _ = answered(("Session-Expires", "600;refresher=uac"))
    (reinvite,) = requests(run.advance(300.0), "INVITE")
    assert parse_sdp(reinvite.body).media[0].port == RTP_PORT  # our SDP again
    out = run.feed(
        reply(reinvite, 200, sdp=peer_sdp(), headers=(("Session-Expires", "600;refresher=uac"),))
    )
    (ack,) = requests(out, "ACK")
    assert ack.cseq.number == reinvite.cseq.number
    # Past the first expiry (568 s), short of the next refresh (600 s): the timer restarted.
    assert events(run.advance(290.0)) == []


def test_when_the_peer_refreshes_and_does_not_we_send_bye_with_cause_102():
    run, ok = answered(("Session-Expires", "600;refresher=uas"), WITH_UPDATE)
    assert requests(run.advance(567.0), "UPDATE") == []  # not ours to refresh
    # The peer's refresh at 500 s restarts the clock; then it stops refreshing.
    run.now = 500.0
    theirs = in_dialog(
        "UPDATE", ok, cseq=2, branch="z9hG4bK-up", ours_is_from=True,
        headers=(("Supported", "timer"), ("Session-Expires", "600;refresher=uac")),
    )  # fmt: skip
    (answer,) = responses(run.feed(theirs), 200)
    assert answer.get("Session-Expires") == "600;refresher=uac"
    assert events(run.advance(567.0)) == []  # 500 + 567 < 500 + 568
    ended = run.advance(1.0)
    (bye,) = requests(ended, "BYE")
    assert bye.get("Reason") == "Q.850;cause=102"
    assert events(ended) == [TrunkHangup(CALL, 102, by_remote=False)]


def test_a_refresh_that_gets_no_answer_ends_the_call():
    run, _ = answered(("Session-Expires", "600;refresher=uac"), WITH_UPDATE)
    assert len(requests(run.advance(300.0), "UPDATE")) == 1
    ended = run.advance(33.0)  # Timer F: 64 * T1
    assert events(ended) == [TrunkHangup(CALL, 102, by_remote=False)]
    assert len({bye.top_via.branch for bye in requests(ended, "BYE")}) == 1


def test_a_422_to_our_refresh_is_asked_again_with_the_larger_interval():
    run, _ = answered(("Session-Expires", "600;refresher=uac"), WITH_UPDATE)
    (update,) = requests(run.advance(300.0), "UPDATE")
    out = run.feed(reply(update, 422, headers=(("Min-SE", "1200"),)))
    (again,) = requests(out, "UPDATE")
    assert again.get("Session-Expires") == "1200;refresher=uac"
    run.feed(reply(again, 200, headers=(("Session-Expires", "1200;refresher=uac"),)))
    assert requests(run.advance(599.0), "UPDATE") == []
    assert len(requests(run.advance(1.0), "UPDATE")) == 1


def test_glare_our_refresh_pending_their_offer_gets_491_and_our_491_waits_to_retry():
    run, ok = answered(("Session-Expires", "600;refresher=uac"), WITH_UPDATE)
    (update,) = requests(run.advance(300.0), "UPDATE")
    theirs = in_dialog(
        "INVITE", ok, cseq=2, branch="z9hG4bK-glare", ours_is_from=True, body=peer_sdp(port=41000)
    )
    assert [r.status for r in responses(run.feed(theirs))] == [491]
    out = run.feed(reply(update, 491))
    assert requests(out, "UPDATE") == []
    assert requests(run.advance(2.0), "UPDATE") == []  # we own the Call-ID: 2.1 to 4 s (§14.1)
    again = requests(run.advance(2.1), "UPDATE")  # the first, and maybe its retransmissions
    assert again
    assert {a.cseq.number for a in again} == {update.cseq.number + 1}


def test_an_inbound_invite_asking_too_short_a_session_gets_422_and_no_call():
    run = Run(engine())
    invite = inbound_invite().with_header("Supported", "timer").with_header("Session-Expires", "60")
    out = run.feed(invite)
    (refusal,) = responses(out)
    assert refusal.status == 422
    assert refusal.get("Min-SE") == "90"
    assert events(out) == []


def test_an_inbound_uac_that_supports_timers_refreshes_else_we_do():
    run = Run(engine())
    invite = (
        inbound_invite().with_header("Supported", "timer").with_header("Session-Expires", "900")
    )
    call = events(run.feed(invite))[0].session_id
    (ok,) = responses(run.step(run.engine.answer(call, RTP_PORT, run.now)), 200)
    assert ok.get("Session-Expires") == "900;refresher=uac"
    assert "timer" in ok.require
    run.feed(in_dialog("ACK", ok, cseq=1, branch="z9hG4bK-a", ours_is_from=False))
    ended = run.advance(900.0 - 32.0)
    assert len(requests(ended, "BYE")) == 1
    assert events(ended) == [TrunkHangup(call, 102, by_remote=False)]

    run = Run(engine())
    call = events(run.feed(inbound_invite()))[0].session_id  # no timer of its own
    (ok,) = responses(run.step(run.engine.answer(call, RTP_PORT, run.now)), 200)
    assert ok.get("Session-Expires") == "1800;refresher=uas"
    run.feed(in_dialog("ACK", ok, cseq=1, branch="z9hG4bK-a", ours_is_from=False))
    (reinvite,) = requests(run.advance(900.0), "INVITE")  # its INVITE named no UPDATE
    assert reinvite.get("Session-Expires") == "1800;refresher=uac"
    answer = response_for(
        reinvite, 200, to_tag=reinvite.to_tag, body=peer_sdp(),
        headers=(("Content-Type", "application/sdp"), ("Contact", "<sip:carrier@192.0.2.1>"),
                 ("Session-Expires", "1800;refresher=uac")),
    )  # fmt: skip
    assert len(requests(run.feed(answer), "ACK")) == 1
    assert events(run.advance(890.0)) == []  # past the first expiry: the timer restarted


@pytest.mark.parametrize("value", [0, 1800])
def test_settings_check_the_intervals(value):
    SipTrunkSettings(host="192.0.2.1", session_expires_s=value)
    with pytest.raises(ValueError, match="min_se_s"):
        SipTrunkSettings(host="192.0.2.1", min_se_s=60)
    with pytest.raises(ValueError, match="session_expires_s"):
        SipTrunkSettings(host="192.0.2.1", session_expires_s=100, min_se_s=120)


def test_the_answer_to_our_refresh_re_invite_updates_the_media():
    run, _ = answered(("Session-Expires", "600;refresher=uac"))
    (reinvite,) = requests(run.advance(300.0), "INVITE")
    answer = reply(
        reinvite, 200, sdp=peer_sdp(port=44000), headers=(("Session-Expires", "600;refresher=uac"),)
    )
    (start,) = media(run.feed(answer))
    assert start.audio.remote_port == 44000


def test_a_2xx_to_our_refresh_after_we_hung_up_is_still_acked():
    run, _ = answered(("Session-Expires", "600;refresher=uac"))
    (reinvite,) = requests(run.advance(300.0), "INVITE")
    assert len(requests(run.step(run.engine.hangup(CALL, 16, run.now)), "BYE")) == 1
    out = run.feed(reply(reinvite, 200, sdp=peer_sdp()))
    assert len(requests(out, "ACK")) == 1
    assert media(out) == []
    assert events(out) == []
