"""The call-control engine receiving calls, sans-I/O: trust, ringing, answer, refusals, CANCEL."""

from __future__ import annotations

from callgate.calls.trunk import TrunkHangup, TrunkIncomingCall
from callgate.telephony.sip import (
    SipRequest,
    Target,
    build_cancel,
    make_request,
    parse_sdp,
    parse_uri,
)
from callgate.telephony.sip.address import parse_address
from callgate.telephony.siptrunk import MediaStart, MediaStop
from callgate.telephony.siptrunk.call import Phase

from .kit import (
    RTP_PORT,
    STRANGER,
    Run,
    engine,
    events,
    in_dialog,
    inbound_invite,
    media,
    peer_sdp,
    requests,
    responses,
)


def offered(**settings: object) -> tuple[Run, object, str]:
    run = Run(engine(**settings))
    invite = inbound_invite()
    out = run.feed(invite)
    (incoming,) = events(out)
    assert isinstance(incoming, TrunkIncomingCall)
    return run, invite, incoming.session_id


def test_an_invite_from_an_untrusted_source_gets_403_and_makes_no_call():
    run = Run(engine())
    out = run.feed(inbound_invite(), source=STRANGER)
    assert [r.status for r in responses(out)] == [403]
    assert events(out) == []
    assert len(run.engine) == 0
    assert run.engine.stats["untrusted"] == 1


def test_untrusted_invites_are_refused_statelessly_and_leave_no_transaction():
    # A scanner's flood must not fill the transaction table (each 403 through a transaction would
    # wait 32 s for its ACK) and so lock the trunk's own calls out with 503s.
    run = Run(engine())
    for index in range(500):
        out = run.feed(
            inbound_invite(call_id=f"scan-{index}@203.0.113.9", branch=f"z9hG4bK-scan-{index}"),
            source=STRANGER,
        )
        assert [r.status for r in responses(out)] == [403]
    assert len(run.engine.layer) == 0
    assert run.engine.stats["untrusted"] == 500
    out = run.feed(inbound_invite())  # the trunk's own call still gets through
    assert [r.status for r in responses(out)] == [180]


def options(index: int, host: str = "203.0.113.9", to_tag: str | None = None) -> SipRequest:
    to = "<sip:192.0.2.10>" + (f";tag={to_tag}" if to_tag else "")
    return make_request(
        "OPTIONS",
        parse_uri("sip:192.0.2.10:5060"),
        via=f"SIP/2.0/UDP {host}:5060;branch=z9hG4bK-opt-{index}",
        from_=parse_address(f"<sip:scan@{host}>;tag=t{index}"),
        to=parse_address(to),
        call_id=f"opt-{index}@{host}",
        cseq=1,
    )


def stray_bye(index: int, host: str = "203.0.113.9") -> SipRequest:
    """A BYE naming a dialog that does not exist: the TU answers 481 through a transaction."""
    return make_request(
        "BYE",
        parse_uri("sip:192.0.2.10:5060"),
        via=f"SIP/2.0/UDP {host}:5060;branch=z9hG4bK-bye-{index}",
        from_=parse_address(f"<sip:scan@{host}>;tag=t{index}"),
        to=parse_address("<sip:192.0.2.10>;tag=nosuchdialog"),
        call_id=f"bye-{index}@{host}",
        cseq=2,
    )


def test_an_untrusted_source_holds_a_bounded_number_of_transactions():
    # Requests from a stranger that need the TU (a BYE for a dialog: 481 through a transaction
    # that lives 32 s, Timer J) may hold at most 32 transactions; more are dropped until old
    # ones end. The trunk itself is not limited.
    run = Run(engine())
    answered = [
        len(responses(run.feed(stray_bye(index), source=STRANGER), 481)) for index in range(50)
    ]
    assert answered == [1] * 32 + [0] * 18
    assert len(run.engine.layer) == 32
    trunk_answers = [len(responses(run.feed(stray_bye(100 + i)), 481)) for i in range(40)]
    assert trunk_answers == [1] * 40
    run.advance(33.0)  # Timer J: the stranger's transactions end, and so does its count
    assert len(responses(run.feed(stray_bye(200), source=STRANGER), 481)) == 1


def test_an_options_flood_from_the_trunks_address_leaves_no_state_and_invites_served():
    # Issue 12, defect 2: 20,000 OPTIONS in 10 s from another port of the trunk's IP filled the
    # 20,000-entry table and the trunk's INVITEs got 503 for 32 s. OPTIONS are answered
    # statelessly now, in a dialog or out of one, with the same answer for a retransmission:
    # however many come, none is left behind.
    run = Run(engine())
    other_port = Target("192.0.2.1", 40001)
    for index in range(4_000):
        out = run.feed(options(index, "192.0.2.1", to_tag="x" if index % 2 else None), other_port)
        (answer,) = responses(out)
        assert answer.status == 200
        run.now += 0.0005
    assert len(run.engine.layer) == 0
    again = options(7, "192.0.2.1")
    assert run.feed(again, other_port) == run.feed(again, other_port)  # same bytes, same tag
    (ringing,) = responses(run.feed(inbound_invite()))
    assert ringing.status == 180


def test_half_the_transaction_table_is_kept_for_the_trunks_invites():
    # What a flood of requests that do need transactions (BYEs for made-up dialogs) can take:
    # half the table; tests/telephony/sip/test_transaction_layer.py checks the layer keeps it.
    config = Run(engine()).engine.layer.config
    assert config.max_transactions == 20_000
    assert config.reserved_transactions == 10_000


def test_trust_can_name_the_trunks_ports():
    run = Run(engine(trunk_source_ports=(5060,), trusted_sources=("198.51.100.7:5070",)))
    other_port = Target("192.0.2.1", 40001)
    assert [r.status for r in responses(run.feed(inbound_invite(), other_port))] == [403]
    assert [r.status for r in responses(run.feed(inbound_invite(branch="z9hG4bK-b")))] == [180]
    listed = Target("198.51.100.7", 5070)
    invite = inbound_invite(call_id="listed@198.51.100.7", branch="z9hG4bK-c")
    assert [r.status for r in responses(run.feed(invite, listed))] == [180]
    elsewhere = Target("198.51.100.7", 5071)
    invite = inbound_invite(call_id="elsewhere@198.51.100.7", branch="z9hG4bK-d")
    assert [r.status for r in responses(run.feed(invite, elsewhere))] == [403]


def test_configured_networks_are_trusted_too():
    run = Run(engine(trusted_sources=("198.51.100.0/24",)))
    out = run.feed(inbound_invite(), source=STRANGER)
    assert [r.status for r in responses(out)] == [180]


def test_a_trusted_invite_rings_and_is_offered_to_the_domain():
    run = Run(engine())
    out = run.feed(inbound_invite(number="4143", caller="5551234"))
    (ringing,) = responses(out)
    assert ringing.status == 180
    assert ringing.to_tag
    (incoming,) = events(out)
    assert (incoming.caller_id, incoming.did_number) == ("5551234", "4143")
    assert run.engine.phase(incoming.session_id) is Phase.OFFERED


def test_answer_sends_200_with_an_answer_that_mirrors_the_offers_event_type():
    # PJSIP-style offer: telephone-event as 120; the answer must say 120 too.
    run = Run(engine())
    out = run.feed(inbound_invite(sdp=peer_sdp(te_pt=120)))
    call = events(out)[0].session_id
    answered = run.step(run.engine.answer(call, RTP_PORT, run.now))
    (ok,) = responses(answered, 200)
    answer = parse_sdp(ok.body)
    assert answer.media[0].port == RTP_PORT
    assert answer.media[0].payload_types == (0, 120)
    (start,) = media(answered)
    assert isinstance(start, MediaStart)
    assert start.answered
    assert start.audio.telephone_event_pt == 120
    assert events(answered) == []  # the domain answered; nothing comes back
    assert run.engine.phase(call) is Phase.ANSWERED
    run.feed(in_dialog("ACK", ok, cseq=1, branch="z9hG4bK-ack", ours_is_from=False))
    assert run.engine.phase(call) is Phase.CONFIRMED


def test_the_domains_hangup_before_answer_rejects_with_the_causes_status():
    for cause, status in ((21, 603), (16, 480), (17, 486), (58, 503)):
        run, _, call = offered()
        out = run.step(run.engine.hangup(call, cause, run.now))
        (refusal,) = responses(out)
        assert refusal.status == status
        assert refusal.get("Reason") == f"Q.850;cause={cause}"
        assert events(out) == []
        assert call not in run.engine


def test_the_callers_cancel_ends_the_invite_with_487_and_tells_the_domain():
    run, invite, call = offered()
    out = run.feed(build_cancel(invite, reason='Q.850;cause=16;text="Normal call clearing"'))
    assert sorted(r.status for r in responses(out)) == [200, 487]
    assert events(out) == [TrunkHangup(call, 16, by_remote=True)]
    assert MediaStop(call) in media(out)
    assert call not in run.engine


def test_an_offer_with_no_common_codec_gets_488_and_no_call():
    run = Run(engine())
    out = run.feed(inbound_invite(sdp=peer_sdp(codecs="18")))  # G.729 only
    (refusal,) = responses(out)
    assert refusal.status == 488
    assert refusal.get("Warning").startswith("305 ")
    assert events(out) == []


def test_a_hangup_between_our_200_and_its_ack_waits_for_the_ack():
    run, _, call = offered()
    (ok,) = responses(run.step(run.engine.answer(call, RTP_PORT, run.now)), 200)
    out = run.step(run.engine.hangup(call, 16, run.now))
    assert requests(out, "BYE") == []  # RFC 3261 §15: not before the ACK
    assert media(out) == [MediaStop(call)]
    out = run.feed(in_dialog("ACK", ok, cseq=1, branch="z9hG4bK-ack", ours_is_from=False))
    assert len(requests(out, "BYE")) == 1
    assert events(out) == []


def test_no_ack_for_our_200_ends_the_call_with_bye_and_cause_102():
    run, _, call = offered()
    run.step(run.engine.answer(call, RTP_PORT, run.now))
    out = run.advance(40.0)
    byes = requests(out, "BYE")
    assert byes, "no BYE"
    assert {bye.top_via.branch for bye in byes} == {byes[0].top_via.branch}  # one, retransmitted
    assert events(out) == [TrunkHangup(call, 102, by_remote=False)]


def test_an_invite_without_sdp_gets_our_offer_and_the_ack_brings_the_answer():
    run = Run(engine())
    call = events(run.feed(inbound_invite(with_sdp=False)))[0].session_id
    answered = run.step(run.engine.answer(call, RTP_PORT, run.now))
    (ok,) = responses(answered, 200)
    assert parse_sdp(ok.body).media[0].payload_types == (0, 8, 101)
    assert media(answered) == []
    ack = in_dialog(
        "ACK", ok, cseq=1, branch="z9hG4bK-ack", ours_is_from=False, body=peer_sdp(port=42000)
    )
    (start,) = media(run.feed(ack))
    assert start.audio.remote_port == 42000


def test_the_same_invite_by_another_path_is_a_loop():
    run, _, _ = offered()
    again = inbound_invite(branch="z9hG4bK-other-path")
    assert [r.status for r in responses(run.feed(again))] == [482]


def test_above_max_calls_an_invite_gets_503():
    run, _, _ = offered(max_calls=1)
    second = inbound_invite(call_id="inbound-2@192.0.2.1", branch="z9hG4bK-in-2")
    (busy,) = responses(run.feed(second))
    assert busy.status == 503
    assert busy.get("Retry-After")


def test_bye_from_the_caller_after_the_answer():
    run, _, call = offered()
    (ok,) = responses(run.step(run.engine.answer(call, RTP_PORT, run.now)), 200)
    run.feed(in_dialog("ACK", ok, cseq=1, branch="z9hG4bK-ack", ours_is_from=False))
    out = run.feed(in_dialog("BYE", ok, cseq=2, branch="z9hG4bK-bye", ours_is_from=False))
    assert [r.status for r in responses(out)] == [200]
    assert events(out) == [TrunkHangup(call, 16, by_remote=True)]


def test_escaped_control_characters_never_reach_the_call_record():
    # "%00" is a legal escape in a SIP user part; a NUL in the caller id or the number called
    # would fail the CDR's insert on PostgreSQL (text cannot hold it) and lose the call's record.
    run = Run(engine())
    out = run.feed(inbound_invite(caller="%00555%0D%0A1234%7F", number="41%0043"))
    (incoming,) = events(out)
    assert isinstance(incoming, TrunkIncomingCall)
    assert (incoming.caller_id, incoming.did_number) == ("5551234", "4143")
