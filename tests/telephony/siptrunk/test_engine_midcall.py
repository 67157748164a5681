"""Offers inside a dialog, sans-I/O: re-INVITE and UPDATE from the carrier, on calls either way."""

from __future__ import annotations

import pytest

from callgate.telephony.sip import SipRequest, SipResponse, parse_sdp
from callgate.telephony.siptrunk import MediaStart
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


def outbound() -> tuple[Run, str, SipResponse, bool]:
    run = Run(engine())
    run.step(run.engine.dial(CALL, "+15551230000", None, RTP_PORT, run.now))
    (invite,) = requests(run.outputs, "INVITE")
    ok = reply(invite, 200, sdp=peer_sdp())
    run.feed(ok)
    return run, CALL, ok, True


def inbound() -> tuple[Run, str, SipResponse, bool]:
    run = Run(engine())
    call = events(run.feed(inbound_invite()))[0].session_id
    (ok,) = responses(run.step(run.engine.answer(call, RTP_PORT, run.now)), 200)
    run.feed(in_dialog("ACK", ok, cseq=1, branch="z9hG4bK-ack1", ours_is_from=False))
    assert run.engine.phase(call) is Phase.CONFIRMED
    return run, call, ok, False


BOTH_WAYS = pytest.mark.parametrize("connected", [outbound, inbound], ids=["outbound", "inbound"])


def offer(
    method: str, ok: SipResponse, ours_is_from: bool, cseq: int, sdp: bytes | None
) -> SipRequest:
    return in_dialog(
        method, ok, cseq=cseq, branch=f"z9hG4bK-{method}-{cseq}", ours_is_from=ours_is_from,
        body=sdp or b"",
    )  # fmt: skip


@BOTH_WAYS
@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
def test_a_new_media_address_moves_our_rtp(connected, method):
    run, call, ok, ours_is_from = connected()
    out = run.feed(offer(method, ok, ours_is_from, 2, peer_sdp(host="198.51.100.9", port=41234)))
    (answer,) = responses(out, 200)
    assert parse_sdp(answer.body).media[0].port == RTP_PORT
    assert answer.get("Contact")  # both refresh the remote target (RFC 3311 §5.2)
    (start,) = media(out)
    assert isinstance(start, MediaStart)
    assert start.session_id == call
    assert (start.audio.remote_address, start.audio.remote_port) == ("198.51.100.9", 41234)
    assert start.answered
    assert start.audio.send
    assert events(out) == []


@BOTH_WAYS
@pytest.mark.parametrize(
    ("theirs", "ours", "sending"),
    [
        ("sendonly", "recvonly", False),
        ("inactive", "inactive", False),
        ("recvonly", "sendonly", True),
    ],
)
@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
def test_hold_is_answered_in_kind_and_pauses_our_sending(connected, method, theirs, ours, sending):
    run, _, ok, ours_is_from = connected()
    out = run.feed(offer(method, ok, ours_is_from, 2, peer_sdp(direction=theirs)))
    (answer,) = responses(out, 200)
    assert parse_sdp(answer.body).media[0].direction.value == ours  # never sendrecv to a hold
    (start,) = media(out)
    assert start.audio.send is sending
    assert start.audio.on_hold is (theirs != "recvonly")
    if method == "INVITE":
        run.feed(offer("ACK", ok, ours_is_from, 2, None))
    out = run.feed(offer(method, ok, ours_is_from, 3, peer_sdp()))  # resume
    (answer,) = responses(out, 200)
    assert parse_sdp(answer.body).media[0].direction.value == "sendrecv"
    (start,) = media(out)
    assert start.audio.send
    assert not start.audio.on_hold


@BOTH_WAYS
@pytest.mark.parametrize("method", ["INVITE", "UPDATE"])
def test_an_offer_we_cannot_take_gets_488_and_the_media_stays(connected, method):
    run, _, ok, ours_is_from = connected()
    out = run.feed(offer(method, ok, ours_is_from, 2, peer_sdp(codecs="18", port=45000)))
    (refusal,) = responses(out)
    assert refusal.status == 488
    assert refusal.get("Warning").startswith("305 ")
    assert media(out) == []
    assert events(out) == []
    if method == "INVITE":  # the transaction ACKs its own 488: nothing reaches us
        assert run.feed(offer("ACK", ok, ours_is_from, 2, None)) == []
    out = run.feed(offer(method, ok, ours_is_from, 3, peer_sdp(port=45002)))
    assert [r.status for r in responses(out)] == [200]  # the call goes on


@BOTH_WAYS
def test_an_update_without_sdp_refreshes_the_session_without_touching_media(connected):
    run, _, ok, ours_is_from = connected()
    out = run.feed(offer("UPDATE", ok, ours_is_from, 2, None))
    (answer,) = responses(out, 200)
    assert answer.body == b""
    assert media(out) == []


@BOTH_WAYS
def test_an_offer_crossing_ours_in_a_2xx_gets_491(connected):
    # A re-INVITE without SDP gets our offer in the 200; until its ACK brings the answer,
    # another offer crosses ours (RFC 3261 §14.2).
    run, _, ok, ours_is_from = connected()
    (ours,) = responses(run.feed(offer("INVITE", ok, ours_is_from, 2, None)), 200)
    assert ours.body
    crossing = run.feed(offer("UPDATE", ok, ours_is_from, 3, peer_sdp(port=47000)))
    assert [r.status for r in responses(crossing)] == [491]
    assert media(crossing) == []
    ack = offer("ACK", ok, ours_is_from, 2, peer_sdp(port=46000))
    (start,) = media(run.feed(ack))
    assert start.audio.remote_port == 46000
    again = run.feed(offer("UPDATE", ok, ours_is_from, 4, peer_sdp(port=47000)))
    assert [r.status for r in responses(again)] == [200]


def test_a_re_invite_before_the_ack_of_our_answer_gets_500_with_retry_after():
    run = Run(engine())
    call = events(run.feed(inbound_invite()))[0].session_id
    (ok,) = responses(run.step(run.engine.answer(call, RTP_PORT, run.now)), 200)
    early = run.feed(offer("INVITE", ok, False, 2, peer_sdp(port=43000)))
    (refusal,) = responses(early)
    assert refusal.status == 500
    assert refusal.get("Retry-After")


def test_update_is_allowed_and_advertised():
    run, _, ok, ours_is_from = outbound()
    (invite,) = requests(run.outputs, "INVITE")
    assert "UPDATE" in invite.get("Allow")
    pong = responses(run.feed(offer("OPTIONS", ok, ours_is_from, 2, None)), 200)[0]
    assert "UPDATE" in pong.get("Allow")
