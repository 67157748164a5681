"""Hold and resume in call control, sans-I/O: the far end's hold reported, ours by re-INVITE."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from callgate.calls.trunk import TrunkAnswered, TrunkHangup, TrunkHold, TrunkHoldFailed
from callgate.telephony.sip import SipRequest, SipResponse, parse_sdp
from callgate.telephony.siptrunk.outputs import MusicOnHold

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
from .test_engine_midcall import BOTH_WAYS, CALL, offer


def direction_of(message: SipRequest | SipResponse) -> str:
    direction = parse_sdp(message.body).media[0].direction
    assert direction is not None
    return direction.value


def music(outputs: Sequence[object]) -> list[bool]:
    return [o.playing for o in outputs if isinstance(o, MusicOnHold)]


@BOTH_WAYS
@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
@pytest.mark.parametrize("theirs", ["sendonly", "inactive"])
def test_the_far_ends_hold_and_resume_are_reported_once_each(connected, method, theirs):
    run, call, ok, ours_is_from = connected()
    out = run.feed(offer(method, ok, ours_is_from, 2, peer_sdp(direction=theirs)))
    assert events(out) == [TrunkHold(call, held=True, by_remote=True)]
    if method == "INVITE":
        run.feed(offer("ACK", ok, ours_is_from, 2, None))
    # A second offer that still holds (a refresh, a new address) is no news.
    out = run.feed(offer(method, ok, ours_is_from, 3, peer_sdp(direction=theirs, port=40002)))
    assert events(out) == []
    if method == "INVITE":
        run.feed(offer("ACK", ok, ours_is_from, 3, None))
    out = run.feed(offer(method, ok, ours_is_from, 4, peer_sdp()))
    assert events(out) == [TrunkHold(call, held=False, by_remote=True)]


def hold(run: Run, call: str, *, held: bool = True) -> SipRequest:
    out = run.step(run.engine.hold(call, run.now) if held else run.engine.resume(call, run.now))
    (reinvite,) = requests(out, "INVITE")
    assert music(out) == [held]
    assert events(out) == []  # the far end's answer says how it went
    return reinvite


@BOTH_WAYS
def test_our_hold_offers_sendonly_and_resume_sendrecv(connected):
    run, call, _ok, _ = connected()
    reinvite = hold(run, call)
    assert direction_of(reinvite) == "sendonly"
    assert reinvite.to_tag is not None  # in the dialog
    out = run.feed(reply(reinvite, 200, tag=reinvite.to_tag, sdp=peer_sdp(direction="recvonly")))
    assert len(requests(out, "ACK")) == 1
    (start,) = media(out)
    assert start.audio.send
    assert not start.audio.receive
    assert not start.audio.on_hold
    assert events(out) == [TrunkHold(call, held=True, by_remote=False)]

    reinvite = hold(run, call, held=False)
    assert direction_of(reinvite) == "sendrecv"
    out = run.feed(reply(reinvite, 200, tag=reinvite.to_tag, sdp=peer_sdp()))
    (start,) = media(out)
    assert start.audio.send
    assert start.audio.receive
    assert events(out) == [TrunkHold(call, held=False, by_remote=False)]


@BOTH_WAYS
def test_while_we_hold_our_answers_to_the_far_end_stay_sendonly(connected):
    run, call, ok, ours_is_from = connected()
    reinvite = hold(run, call)
    run.feed(reply(reinvite, 200, tag=reinvite.to_tag, sdp=peer_sdp(direction="recvonly")))
    out = run.feed(offer("UPDATE", ok, ours_is_from, 5, peer_sdp(port=40010)))
    (answer,) = responses(out, 200)
    assert direction_of(answer) == "sendonly"  # its sendrecv offer does not end our hold
    # An offerless re-INVITE gets our offer: sendonly too.
    out = run.feed(offer("INVITE", ok, ours_is_from, 6, None))
    (answer,) = responses(out, 200)
    assert direction_of(answer) == "sendonly"


@BOTH_WAYS
def test_a_refused_hold_stops_the_music_and_says_so(connected):
    run, call, _, _ = connected()
    reinvite = hold(run, call)
    out = run.feed(reply(reinvite, 488, tag=reinvite.to_tag))
    assert music(out) == [False]
    assert events(out) == [TrunkHoldFailed(call, held=True, sip_status=488)]
    assert media(out) == []
    hold(run, call)  # the call takes another offer after it


@BOTH_WAYS
def test_a_hold_crosses_no_other_offer(connected):
    run, call, ok, ours_is_from = connected()
    hold(run, call)
    with pytest.raises(ValueError, match="in progress"):
        run.engine.resume(call, run.now)
    # The far end's offer meanwhile is glare: 491 (RFC 3261 §14.2).
    out = run.feed(offer("UPDATE", ok, ours_is_from, 7, peer_sdp()))
    assert [r.status for r in responses(out)] == [491]


def test_a_hold_before_the_ack_is_refused_before_anything_is_sent():
    run = Run(engine())
    call = events(run.feed(inbound_invite()))[0].session_id
    run.step(run.engine.answer(call, RTP_PORT, run.now))
    with pytest.raises(ValueError, match="not confirmed"):
        run.engine.hold(call, run.now)
    with pytest.raises(ValueError, match="ended"):
        run.engine.hold(CALL + "-unknown", run.now)


@BOTH_WAYS
def test_a_hold_the_far_end_never_answers_ends_the_call(connected):
    run, call, _, _ = connected()
    hold(run, call)
    out = run.advance(40.0)  # Timer B, 64*T1
    assert TrunkHoldFailed(call, held=True, sip_status=None) in events(out)
    assert TrunkHangup(call, 102, by_remote=False) in events(out)
    byes = requests(out, "BYE")  # one BYE, retransmitted while unanswered
    assert byes
    assert len({str(bye.cseq) for bye in byes}) == 1


@BOTH_WAYS
def test_a_481_to_our_hold_ends_the_call(connected):
    run, call, _, _ = connected()
    reinvite = hold(run, call)
    out = run.feed(reply(reinvite, 481, tag=reinvite.to_tag))
    assert events(out) == [
        TrunkHoldFailed(call, held=True, sip_status=481),
        TrunkHangup(call, 102, by_remote=False),
    ]


def test_a_caller_that_offers_sendonly_holds_from_the_start():
    run = Run(engine())
    offer_ = inbound_invite(sdp=peer_sdp(direction="sendonly"))
    call = events(run.feed(offer_))[0].session_id
    answered = run.step(run.engine.answer(call, RTP_PORT, run.now))
    (ok,) = responses(answered, 200)
    assert direction_of(ok) == "recvonly"
    assert events(answered) == []  # no event follows the domain's command itself
    out = run.feed(in_dialog("ACK", ok, cseq=1, branch="z9hG4bK-ack", ours_is_from=False))
    assert events(out) == [TrunkHold(call, held=True, by_remote=True)]


def test_a_callee_that_answers_sendonly_holds_from_the_start():
    run = Run(engine())
    run.step(run.engine.dial(CALL, "+15551230000", None, RTP_PORT, run.now))
    (invite,) = requests(run.outputs, "INVITE")
    out = run.feed(reply(invite, 200, sdp=peer_sdp(direction="sendonly")))
    assert events(out) == [TrunkAnswered(CALL), TrunkHold(CALL, held=True, by_remote=True)]


@BOTH_WAYS
def test_an_answer_to_our_hold_may_end_or_start_the_far_ends_own(connected):
    run, call, ok, ours_is_from = connected()
    run.feed(offer("UPDATE", ok, ours_is_from, 2, peer_sdp(direction="sendonly")))  # it holds
    reinvite = hold(run, call)
    out = run.feed(reply(reinvite, 200, tag=reinvite.to_tag, sdp=peer_sdp(direction="recvonly")))
    assert events(out) == [  # its recvonly answer gives up its own hold
        TrunkHold(call, held=False, by_remote=True),
        TrunkHold(call, held=True, by_remote=False),
    ]
    reinvite = hold(run, call, held=False)
    run.feed(reply(reinvite, 200, tag=reinvite.to_tag, sdp=peer_sdp()))
    reinvite = hold(run, call)
    out = run.feed(reply(reinvite, 200, tag=reinvite.to_tag, sdp=peer_sdp(direction="inactive")))
    assert events(out) == [  # inactive: it holds us as well
        TrunkHold(call, held=True, by_remote=True),
        TrunkHold(call, held=True, by_remote=False),
    ]
    (start,) = media(out)
    assert not start.audio.send  # nothing to send to a party that holds


def test_our_hold_refreshes_the_session_and_later_refreshes_keep_it_held():
    run = Run(engine())
    run.step(run.engine.dial(CALL, "+15551230000", None, RTP_PORT, run.now))
    (invite,) = requests(run.outputs, "INVITE")
    timer = (("Session-Expires", "600;refresher=uac"),)  # we refresh; no UPDATE in its Allow
    run.feed(reply(invite, 200, sdp=peer_sdp(), headers=timer))
    run.advance(200.0)
    reinvite = hold(run, CALL)
    assert reinvite.get("Session-Expires") == "600"  # the hold is a refresh too
    ok = reply(
        reinvite, 200, tag=reinvite.to_tag, sdp=peer_sdp(direction="recvonly"), headers=timer
    )
    run.feed(ok)
    # The timer restarted at the hold: no refresh at 300 s from the answer, one at 200 + 300.
    assert requests(run.advance(250.0), "INVITE") == []
    refresh, *again = requests(run.advance(60.0), "INVITE")  # unanswered: retransmitted
    assert {r.top_via.branch for r in again} <= {refresh.top_via.branch}
    assert direction_of(refresh) == "sendonly"  # a refresh does not take the call off hold
