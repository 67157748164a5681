"""100rel and PRACK (RFC 3262) in the call-control engine, sans-I/O, both directions."""

from __future__ import annotations

from callgate.calls.trunk import TrunkAnswered, TrunkHangup, TrunkIncomingCall, TrunkRinging
from callgate.telephony.sip import SipRequest
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
RELIABLE = (("Require", "100rel"),)


def dialled(**settings: object) -> tuple[Run, SipRequest]:
    run = Run(engine(**settings))
    run.step(run.engine.dial(CALL, "+15551230000", None, RTP_PORT, run.now))
    (invite,) = requests(run.outputs, "INVITE")
    return run, invite


def test_reliable_18x_are_pracked_once_each_and_early_media_starts():
    run, invite = dialled()
    assert "100rel" in invite.supported
    assert "100rel" not in invite.require
    ringing = reply(invite, 180, headers=(*RELIABLE, ("RSeq", "4000")))
    out = run.feed(ringing)
    (prack,) = requests(out, "PRACK")
    assert prack.get("RAck") == f"4000 {invite.cseq.number} INVITE"
    assert str(prack.uri) == "sip:carrier@192.0.2.1:5060"  # in the early dialog
    assert prack.to_tag == "carrier-tag"
    assert prack.cseq.number == invite.cseq.number + 1
    assert events(out) == [TrunkRinging(CALL)]
    assert run.feed(ringing) == []  # its retransmission: dropped, no second PRACK
    early = reply(invite, 183, sdp=peer_sdp(), headers=(*RELIABLE, ("RSeq", "4001")))
    out = run.feed(early)
    (prack2,) = requests(out, "PRACK")
    assert prack2.get("RAck") == f"4001 {invite.cseq.number} INVITE"
    assert media(out)[0].audio.remote_port == 40000
    assert TrunkRinging(CALL, early_media=True) in events(out)
    run.feed(reply(prack2, 200))  # its answer changes nothing
    assert events(run.feed(reply(invite, 200, sdp=peer_sdp()))) == [TrunkAnswered(CALL)]
    (bye,) = requests(run.step(run.engine.hangup(CALL, 16, run.now)), "BYE")
    assert bye.cseq.number > prack2.cseq.number


def test_an_18x_out_of_order_is_dropped_until_the_one_before_it_comes():
    run, invite = dialled()
    run.feed(reply(invite, 180, headers=(*RELIABLE, ("RSeq", "10"))))
    skipped = reply(invite, 183, sdp=peer_sdp(), headers=(*RELIABLE, ("RSeq", "12")))
    assert run.feed(skipped) == []


def test_required_asks_for_100rel_and_off_neither_offers_nor_pracks():
    _, invite = dialled(reliable_provisional="required")
    assert "100rel" in invite.require
    run, invite = dialled(reliable_provisional="off")
    assert "100rel" not in invite.supported
    out = run.feed(reply(invite, 180, headers=(*RELIABLE, ("RSeq", "1"))))
    assert requests(out, "PRACK") == []
    assert events(out) == [TrunkRinging(CALL)]


def offered(*headers: tuple[str, str], **settings: object):
    run = Run(engine(**settings))
    invite = inbound_invite()
    for name, value in headers:
        invite = invite.with_header(name, value)
    out = run.feed(invite)
    return run, invite, out


def test_an_inbound_invite_supporting_100rel_gets_a_reliable_180_retransmitted_until_prack():
    run, _, out = offered(("Supported", "100rel"))
    (ringing,) = responses(out, 180)
    assert "100rel" in ringing.require
    rseq = int(ringing.get("RSeq"))
    (incoming,) = events(out)
    assert isinstance(incoming, TrunkIncomingCall)
    again = responses(run.advance(1.6), 180)  # at T1 and 3*T1
    assert [r.get("RSeq") for r in again] == [str(rseq)] * 2
    wrong = in_dialog(
        "PRACK", ringing, cseq=2, branch="z9hG4bK-p0", ours_is_from=False,
        headers=(("RAck", f"{rseq + 1} 1 INVITE"),),
    )  # fmt: skip
    assert [r.status for r in responses(run.feed(wrong))] == [481]
    prack = in_dialog(
        "PRACK", ringing, cseq=3, branch="z9hG4bK-p1", ours_is_from=False,
        headers=(("RAck", f"{rseq} 1 INVITE"),),
    )  # fmt: skip
    assert [r.status for r in responses(run.feed(prack))] == [200]
    assert responses(run.advance(10.0), 180) == []  # no more retransmissions
    (ok,) = responses(run.step(run.engine.answer(incoming.session_id, RTP_PORT, run.now)), 200)
    assert ok.cseq.number == 1


def test_an_answer_before_the_prack_stops_the_retransmissions():
    run, _, out = offered(("Supported", "100rel"))
    call = events(out)[0].session_id
    answered = run.step(run.engine.answer(call, RTP_PORT, run.now))
    assert len(responses(answered, 200)) == 1  # our 180 had no SDP: no need to wait (§3)
    assert responses(run.advance(5.0), 180) == []


def test_no_prack_in_64_t1_refuses_the_invite_and_ends_the_call():
    run, _, out = offered(("Require", "100rel"))
    call = events(out)[0].session_id
    ended = run.advance(32.0)
    assert [r.status for r in responses(ended) if r.status >= 200] == [500]
    assert events(ended) == [TrunkHangup(call, 102, by_remote=False)]
    assert run.engine.phase(call) is None


def test_required_refuses_an_invite_without_100rel_and_off_one_that_requires_it():
    _, _, out = offered(reliable_provisional="required")
    (refusal,) = responses(out)
    assert (refusal.status, refusal.get("Require")) == (421, "100rel")
    assert events(out) == []
    _, _, out = offered(("Require", "100rel"), reliable_provisional="off")
    (refusal,) = responses(out)
    assert (refusal.status, refusal.get("Unsupported")) == (420, "100rel")
    _, _, out = offered(("Supported", "100rel"), reliable_provisional="off")
    (ringing,) = responses(out, 180)
    assert ringing.get("RSeq") is None


def test_phase_after_prack_and_answer_is_confirmed_by_the_ack():
    run, _, out = offered(("Supported", "100rel"))
    call = events(out)[0].session_id
    (ok,) = responses(run.step(run.engine.answer(call, RTP_PORT, run.now)), 200)
    run.feed(in_dialog("ACK", ok, cseq=1, branch="z9hG4bK-ack", ours_is_from=False))
    assert run.engine.phase(call) is Phase.CONFIRMED
