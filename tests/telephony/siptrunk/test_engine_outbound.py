"""The call-control engine placing calls, sans-I/O: real SIP bytes in and out, time by hand."""

from __future__ import annotations

import pytest

from callgate.calls.trunk import TrunkAnswered, TrunkHangup, TrunkHold, TrunkRinging
from callgate.telephony.sip import SipRequest, SipResponse, SipUri, parse_sdp
from callgate.telephony.siptrunk import MediaStart, MediaStop
from callgate.telephony.siptrunk.call import Phase

from .kit import (
    RTP_PORT,
    TRUNK,
    Run,
    engine,
    events,
    in_dialog,
    media,
    peer_sdp,
    reply,
    requests,
    responses,
)

CALL = "call-1"


def dialled(**settings: object) -> tuple[Run, SipRequest]:
    run = Run(engine(**settings))
    run.step(run.engine.dial(CALL, "+15551230000", "4155550100", RTP_PORT, run.now))
    (invite,) = requests(run.outputs, "INVITE")
    return run, invite


def answered(**settings: object) -> tuple[Run, SipRequest, SipResponse]:
    run, invite = dialled(**settings)
    ok = reply(invite, 200, sdp=peer_sdp())
    run.feed(ok)
    return run, invite, ok


def test_dial_sends_an_invite_with_our_offer_to_the_trunk():
    run, invite = dialled()
    (send,) = [o for o in run.outputs if hasattr(o, "data")]
    assert send.target == TRUNK
    assert str(invite.uri) == "sip:+15551230000@192.0.2.1"
    assert invite.from_.uri.user == "4155550100"
    assert invite.from_.tag
    assert invite.to.tag is None
    assert str(invite.contacts[0].uri) == "sip:gw@192.0.2.10:5060"
    offer = parse_sdp(invite.body)
    assert offer.media[0].port == RTP_PORT
    assert offer.connection.address == "192.0.2.10"
    assert run.engine.phase(CALL) is Phase.CALLING


def test_provisional_answers_ring_then_200_is_acked_and_connects():
    run, invite = dialled()
    trying = run.feed(reply(invite, 100))
    assert events(trying) == [TrunkRinging(CALL)]  # 100 Trying already means "ringing"
    assert events(run.feed(reply(invite, 180))) == []  # reported once
    connected = run.feed(reply(invite, 200, sdp=peer_sdp()))
    (ack,) = requests(connected, "ACK")
    assert str(ack.uri) == "sip:carrier@192.0.2.1:5060"  # the remote target: its Contact
    assert ack.cseq.number == invite.cseq.number
    (start,) = media(connected)
    assert isinstance(start, MediaStart)
    assert start.answered
    assert (start.audio.remote_address, start.audio.remote_port) == ("192.0.2.1", 40000)
    assert start.audio.telephone_event_pt == 101
    assert events(connected) == [TrunkAnswered(CALL)]
    assert run.engine.phase(CALL) is Phase.CONFIRMED


def test_183_with_sdp_starts_early_media_before_the_answer():
    run, invite = dialled()
    early = run.feed(reply(invite, 183, sdp=peer_sdp()))
    assert events(early) == [TrunkRinging(CALL), TrunkRinging(CALL, early_media=True)]
    (start,) = media(early)
    assert isinstance(start, MediaStart)
    assert not start.answered  # no RTP timeout while it only rings
    connected = run.feed(reply(invite, 200))  # no SDP in the 200: the early answer stands
    assert events(connected) == [TrunkAnswered(CALL)]
    assert [m.answered for m in media(connected) if isinstance(m, MediaStart)] == [True]


@pytest.mark.parametrize(
    ("status", "headers", "cause"),
    [
        (486, (), 17),
        (600, (), 17),
        (603, (), 21),
        (404, (), 1),
        (503, (), 41),
        (480, (("Reason", "Q.850;cause=19"),), 19),  # the Reason header wins
        (302, (), 127),  # redirects are not followed
    ],
)
def test_final_refusals_end_the_call_with_their_cause(status, headers, cause):
    run, invite = dialled()
    run.feed(reply(invite, 180))
    ended = run.feed(reply(invite, status, headers=headers))
    assert events(ended) == [TrunkHangup(CALL, cause, by_remote=True)]
    assert MediaStop(CALL) in media(ended)
    assert len(requests(ended, "ACK")) == 1  # the transaction ACKs a non-2xx itself
    assert CALL not in run.engine


def test_a_challenge_is_answered_once_with_credentials():
    run, invite = dialled(username="alice", password="s3cret")
    challenge = (("Proxy-Authenticate", 'Digest realm="carrier", nonce="n1", qop="auth"'),)
    retried = run.feed(reply(invite, 407, headers=challenge))
    (retry,) = requests(retried, "INVITE")
    assert retry.cseq.number == invite.cseq.number + 1
    assert retry.call_id == invite.call_id
    assert 'username="alice"' in retry.get("Proxy-Authorization")
    assert events(retried) == []
    # The same challenge again: the password is wrong; no loop.
    ended = run.feed(reply(retry, 407, headers=challenge))
    assert events(ended) == [TrunkHangup(CALL, 21, by_remote=True)]
    assert requests(ended, "INVITE") == []


def test_the_ack_after_an_authenticated_invite_carries_its_credentials():
    run, invite = dialled(username="alice", password="s3cret")
    challenge = (("WWW-Authenticate", 'Digest realm="carrier", nonce="n1"'),)
    (retry,) = requests(run.feed(reply(invite, 401, headers=challenge)), "INVITE")
    (ack,) = requests(run.feed(reply(retry, 200, sdp=peer_sdp())), "ACK")
    assert ack.get("Authorization") == retry.get("Authorization")
    assert ack.cseq.number == retry.cseq.number


def test_no_final_response_is_a_timeout_with_cause_102():
    run, _ = dialled()
    assert events(run.advance(31.0)) == []
    assert events(run.advance(2.0)) == [TrunkHangup(CALL, 102, by_remote=False)]
    assert CALL not in run.engine


def test_hangup_while_ringing_cancels_and_reports_nothing():
    run, invite = dialled()
    run.feed(reply(invite, 180))
    cancelled = run.step(run.engine.hangup(CALL, 19, run.now))
    (cancel,) = requests(cancelled, "CANCEL")
    assert cancel.get("Reason") == "Q.850;cause=19"
    assert media(cancelled) == [MediaStop(CALL)]
    assert events(cancelled) == []
    run.feed(reply(cancel, 200))
    done = run.feed(reply(invite, 487))
    assert events(done) == []
    assert CALL not in run.engine


def test_a_200_that_crosses_our_cancel_is_acked_then_ended_with_bye():
    run, invite = dialled()
    run.feed(reply(invite, 180))
    run.step(run.engine.hangup(CALL, 16, run.now))
    crossed = run.feed(reply(invite, 200, sdp=peer_sdp()))
    assert len(requests(crossed, "ACK")) == 1
    (bye,) = requests(crossed, "BYE")
    assert bye.get("Reason") == "Q.850;cause=16"
    assert events(crossed) == []
    run.feed(reply(bye, 200))
    assert CALL not in run.engine


def test_hangup_before_any_provisional_holds_the_cancel_until_one_comes():
    run, invite = dialled()
    assert requests(run.step(run.engine.hangup(CALL, 16, run.now)), "CANCEL") == []
    assert len(requests(run.feed(reply(invite, 100)), "CANCEL")) == 1


def test_an_answer_from_a_second_fork_is_acked_and_ended():
    run, invite, _ = answered()
    other = run.feed(reply(invite, 200, tag="fork-2", sdp=peer_sdp(port=40100)))
    (ack,) = requests(other, "ACK")
    (bye,) = requests(other, "BYE")
    assert ack.to_tag == bye.to_tag == "fork-2"
    assert events(other) == []
    assert run.engine.phase(CALL) is Phase.CONFIRMED


def test_our_hangup_sends_bye_with_the_cause_and_forgets_the_call_on_its_200():
    run, _, ok = answered()
    ended = run.step(run.engine.hangup(CALL, 16, run.now))
    (bye,) = requests(ended, "BYE")
    assert str(bye.uri) == "sip:carrier@192.0.2.1:5060"
    assert bye.to_tag == ok.to_tag
    assert bye.cseq.number == 2
    assert bye.get("Reason") == "Q.850;cause=16"
    assert media(ended) == [MediaStop(CALL)]
    assert events(ended) == []
    assert run.engine.phase(CALL) is Phase.ENDING
    run.feed(reply(bye, 200))
    assert CALL not in run.engine


def test_a_bye_that_is_challenged_is_sent_again_with_credentials():
    run, _, _ = answered(username="alice", password="s3cret")
    (bye,) = requests(run.step(run.engine.hangup(CALL, 16, run.now)), "BYE")
    challenge = (("WWW-Authenticate", 'Digest realm="carrier", nonce="n2", qop="auth"'),)
    (retry,) = requests(run.feed(reply(bye, 401, headers=challenge)), "BYE")
    assert retry.get("Authorization")
    assert retry.cseq.number == bye.cseq.number + 1
    run.feed(reply(retry, 200))
    assert CALL not in run.engine


def test_bye_from_the_callee_is_answered_and_reported_with_its_reason():
    run, _, ok = answered()
    bye = in_dialog(
        "BYE", ok, cseq=7, branch="z9hG4bK-bye", ours_is_from=True,
        headers=(("Reason", "Q.850;cause=31"),),
    )  # fmt: skip
    ended = run.feed(bye)
    assert [r.status for r in responses(ended)] == [200]
    assert events(ended) == [TrunkHangup(CALL, 31, by_remote=True)]
    assert media(ended) == [MediaStop(CALL)]
    assert CALL not in run.engine


def test_hold_and_unhold_by_re_invite_are_answered_and_update_the_media():
    run, _, ok = answered()
    before = len(run.outputs)
    hold = in_dialog(
        "INVITE", ok, cseq=2, branch="z9hG4bK-hold", ours_is_from=True,
        body=peer_sdp(direction="sendonly"),
    )  # fmt: skip
    held = run.feed(hold)
    (answer,) = responses(held, 200)
    assert parse_sdp(answer.body).media[0].direction.value == "recvonly"
    (start,) = media(held)
    assert start.audio.on_hold
    assert not start.audio.send
    run.feed(in_dialog("ACK", ok, cseq=2, branch="z9hG4bK-hold-ack", ours_is_from=True))
    unhold = in_dialog(
        "INVITE", ok, cseq=3, branch="z9hG4bK-unhold", ours_is_from=True, body=peer_sdp()
    )
    (start,) = media(run.feed(unhold))
    assert not start.audio.on_hold
    assert start.audio.send
    assert events(run.outputs[before:]) == [  # the domain hears of each change once
        TrunkHold(CALL, held=True, by_remote=True),
        TrunkHold(CALL, held=False, by_remote=True),
    ]


def test_a_re_invite_without_sdp_gets_our_offer_and_its_ack_the_answer():
    run, _, ok = answered()
    refresh = in_dialog("INVITE", ok, cseq=2, branch="z9hG4bK-r", ours_is_from=True)
    (offer,) = responses(run.feed(refresh), 200)
    assert parse_sdp(offer.body).media[0].port == RTP_PORT
    ack = in_dialog(
        "ACK", ok, cseq=2, branch="z9hG4bK-r-ack", ours_is_from=True, body=peer_sdp(port=41000)
    )
    (start,) = media(run.feed(ack))
    assert start.audio.remote_port == 41000


def test_a_re_invite_with_an_older_cseq_is_refused():
    run, _, ok = answered()
    run.feed(
        in_dialog("INVITE", ok, cseq=5, branch="z9hG4bK-a", ours_is_from=True, body=peer_sdp())
    )
    stale = in_dialog("INVITE", ok, cseq=4, branch="z9hG4bK-b", ours_is_from=True, body=peer_sdp())
    assert [r.status for r in responses(run.feed(stale))] == [500]


def test_options_are_answered_in_and_out_of_a_dialog():
    run, _, ok = answered()
    inside = run.feed(in_dialog("OPTIONS", ok, cseq=9, branch="z9hG4bK-o1", ours_is_from=True))
    (pong,) = responses(inside, 200)
    assert "INVITE" in pong.get("Allow")
    outside = in_dialog("OPTIONS", ok, cseq=1, branch="z9hG4bK-o2", ours_is_from=True)
    outside = outside.without_header("Call-ID").with_header("Call-ID", "keepalive@192.0.2.1")
    assert [r.status for r in responses(run.feed(outside))] == [200]


def test_requests_in_a_dialog_we_do_not_know_get_481():
    run, _, ok = answered()
    stranger = in_dialog("BYE", ok, cseq=3, branch="z9hG4bK-x", ours_is_from=True)
    stranger = stranger.without_header("Call-ID").with_header("Call-ID", "other@192.0.2.1")
    assert [r.status for r in responses(run.feed(stranger))] == [481]


def test_media_timeout_ends_the_call_with_bye_and_its_cause():
    run, _, _ = answered()
    ended = run.step(run.engine.media_timeout(CALL, 102, run.now))
    assert len(requests(ended, "BYE")) == 1
    assert events(ended) == [TrunkHangup(CALL, 102, by_remote=False)]
    assert MediaStop(CALL) in media(ended)


def test_capacity_and_bad_numbers_fail_the_dial_at_once():
    run = Run(engine(max_calls=1))
    run.step(run.engine.dial("a", "1000", None, RTP_PORT, run.now))
    full = run.step(run.engine.dial("b", "1001", None, RTP_PORT + 2, run.now))
    assert events(full) == [TrunkHangup("b", 34, by_remote=False)]
    bad = run.step(run.engine.dial("c", "not a number", None, RTP_PORT + 4, run.now))
    assert events(bad) == [TrunkHangup("c", 34, by_remote=False)]  # still full
    run2 = Run(engine())
    bad = run2.step(run2.engine.dial("d", "a b", None, RTP_PORT, run2.now))
    assert events(bad) == [TrunkHangup("d", 28, by_remote=False)]


def test_an_outbound_proxy_gets_every_request_with_a_loose_route():
    _, invite = dialled(outbound_proxy="192.0.2.50:5070")
    assert [str(r) for r in invite.route] == ["<sip:192.0.2.50:5070;lr>"]
    assert isinstance(invite.uri, SipUri)
    assert invite.uri.host == "192.0.2.1"


def test_a_full_sip_uri_destination_is_used_as_given():
    run = Run(engine())
    run.step(run.engine.dial(CALL, "sip:alice@pbx.example.com", None, RTP_PORT, run.now))
    (invite,) = requests(run.outputs, "INVITE")
    assert str(invite.uri) == "sip:alice@pbx.example.com"


def test_a_sustained_call_rate_outlives_the_transactions_it_leaves_behind():
    # Each answered INVITE's transaction stays 32 s (Timer M) after the call, so the table must
    # hold rate x 32 s of them: 100 calls/s for 34 s, each answered and ended, must all connect.
    run = Run(engine(max_calls=50))
    connected = 0
    for index in range(3400):
        call = f"c{index}"
        placed = run.step(run.engine.dial(call, f"{index}", None, RTP_PORT, run.now))
        (invite,) = requests(placed, "INVITE")
        ok = reply(invite, 200, sdp=peer_sdp())
        connected += TrunkAnswered(call) in events(run.feed(ok))
        (bye,) = requests(run.step(run.engine.hangup(call, 16, run.now)), "BYE")
        run.feed(reply(bye, 200))
        run.outputs.clear()
        run.advance(0.01)
    assert connected == 3400
    assert len(run.engine) == 0
