"""The transaction layer: matching (§17.1.3, §17.2.3, RFC 2543), ACK and CANCEL handling, 2xx
retransmissions on both sides, Via stamping, bounded size, and input that is not SIP."""

from __future__ import annotations

import random

import pytest

from callgate.telephony.sip import (
    AckReceived,
    Action,
    Dialog,
    Endpoint,
    LayerConfig,
    MessageDropped,
    RequestReceived,
    RequestRefused,
    ResponseReceived,
    Send,
    SipLocalError,
    SipRequest,
    SipResponse,
    StrayResponse,
    Target,
    TransactionLayer,
    TransactionState,
    TransactionTableFull,
    TransactionTerminated,
    TransactionTimeout,
    parse,
    response_for,
)
from callgate.telephony.sip.fields import parse_via
from callgate.telephony.sip.transactions import response_target, stamp_via

from .corpus import rfc4475, rfc4475_names
from .factory import PEER, US, answer, invite, our_request, req, request_from_peer
from .test_transaction import events, run, sends, summary

UDP = Target(PEER, 5060)
NAT = Target("192.0.2.99", 40312)  # the peer seen through a NAT


def received(actions: list[Action]) -> RequestReceived:
    found = [a for a in actions if isinstance(a, RequestReceived)]
    assert len(found) == 1
    return found[0]


def sent(actions: list[Action]) -> list[Send]:
    return [a for a in actions if isinstance(a, Send)]


# --- client side -----------------------------------------------------------------------------


def test_a_2xx_reaches_the_tu_once_and_its_retransmissions_get_the_tus_ack() -> None:
    layer = TransactionLayer()
    request = our_request("INVITE", layer.new_branch())
    key, _ = layer.send_request(request, UDP, 0.0)
    ok = answer(request, 200)
    assert summary(layer.receive(ok, UDP, 0.3)) == ["pass 200"]
    assert layer.state(key) is TransactionState.ACCEPTED
    # Retransmitted before the TU ACKed: it already has the 2xx; no second event.
    assert layer.receive(ok, UDP, 0.4) == []
    dialog = Dialog.from_response(request, ok, Endpoint(US))
    ack = dialog.ack(1, branch=layer.new_branch())
    first = layer.ack_2xx(key, ack, Target(PEER, 5080), 0.5)
    assert [s.target for s in sent(first)] == [Target(PEER, 5080)]
    # Each later copy of that 2xx gets the very same ACK, the TU hears nothing (§13.2.2.4).
    assert layer.receive(ok, UDP, 1.0) == first
    assert layer.receive(ok, UDP, 2.0) == first
    # A 2xx from another branch of a fork is news for the TU (it must ACK and BYE it).
    forked = answer(request, 200, to_tag="other-leg")
    assert summary(layer.receive(forked, UDP, 2.5)) == ["pass 200"]
    # Timer M ends the transaction; a 2xx after that is the core's business.
    assert events(run(layer, 100)) == [(32.3, "TransactionTerminated")]
    stray = layer.receive(ok, UDP, 40.0)
    assert stray == [StrayResponse(ok, UDP)]


def test_responses_match_by_branch_and_cseq_method() -> None:
    layer = TransactionLayer()
    request = our_request("INVITE", layer.new_branch())
    key, _ = layer.send_request(request, UDP, 0.0)
    layer.receive(answer(request, 180), UDP, 0.1)
    cancel_key = layer.cancel(key, 0.2)[0]
    assert isinstance(cancel_key, Send)
    cancel = cancel_key.message
    assert isinstance(cancel, SipRequest)
    # The 200 for the CANCEL has the INVITE's branch but method CANCEL: not the INVITE's.
    actions = layer.receive(answer(cancel, 200), UDP, 0.3)
    assert [type(a) for a in actions] == [ResponseReceived]
    assert isinstance(actions[0], ResponseReceived)
    assert actions[0].key.method == "CANCEL"
    assert layer.state(key) is TransactionState.PROCEEDING
    other = our_request("INVITE", "z9hG4bKsomeoneelse")
    assert layer.receive(answer(other, 200), UDP, 0.4)[0] == StrayResponse(answer(other, 200), UDP)


def test_cancel_waits_for_a_provisional_then_the_487_is_acked_by_the_transaction() -> None:
    layer = TransactionLayer()
    request = our_request("INVITE", layer.new_branch())
    key, _ = layer.send_request(request, UDP, 0.0)
    # §9.1: no provisional yet, so the CANCEL must wait.
    assert layer.cancel(key, 0.1, reason="Q.850;cause=16") == []
    assert sends(run(layer, 0.6)) == [0.5]  # the INVITE is still being retransmitted
    actions = layer.receive(answer(request, 180), UDP, 0.7)
    assert summary(actions) == ["pass 180", "send CANCEL"]
    cancel = sent(actions)[0]
    assert cancel.target == UDP
    assert isinstance(cancel.message, SipRequest)
    assert cancel.message.top_via == request.top_via  # same branch: hop-by-hop match (§9.1)
    assert cancel.message.get("Reason") == "Q.850;cause=16"
    assert layer.cancel(key, 0.8) == []  # already cancelled
    # The 487 ends the INVITE; its ACK comes from the transaction (§17.1.1.3).
    actions = layer.receive(answer(request, 487), UDP, 1.0)
    assert summary(actions) == ["send ACK", "pass 487"]
    ack = sent(actions)[0].message
    assert isinstance(ack, SipRequest)
    assert ack.top_via == request.top_via
    assert ack.to_tag == "XKj3r0g8"


def test_a_cancelled_invite_without_any_final_response_is_abandoned_after_64_t1() -> None:
    layer = TransactionLayer()
    request = our_request("INVITE", layer.new_branch())
    key, _ = layer.send_request(request, UDP, 0.0)
    layer.receive(answer(request, 180), UDP, 0.1)
    layer.cancel(key, 5.0)
    trace = run(layer, 100)
    assert (37.0, "timeout CANCEL") in events(trace)
    assert layer.state(key) is None


def test_cancel_after_a_final_response_or_for_an_unknown_key_does_nothing() -> None:
    layer = TransactionLayer()
    request = our_request("INVITE", layer.new_branch())
    key, _ = layer.send_request(request, UDP, 0.0)
    layer.cancel(key, 0.1)  # held back in Calling ...
    layer.receive(answer(request, 486), UDP, 0.2)  # ... and dropped: a final came first
    assert layer.cancel(key, 0.3) == []
    assert len(layer) == 1  # no CANCEL transaction
    bye_key, _ = layer.send_request(our_request("BYE", layer.new_branch()), UDP, 0.0)
    assert layer.cancel(bye_key, 0.1) == []


def test_send_request_refuses_what_is_not_a_new_client_transaction() -> None:
    layer = TransactionLayer()
    with pytest.raises(SipLocalError, match="ACK"):
        layer.send_request(our_request("ACK", "z9hG4bKa"), UDP, 0.0)
    with pytest.raises(SipLocalError, match="branch"):
        layer.send_request(our_request("INVITE", "1234"), UDP, 0.0)
    key, _ = layer.send_request(our_request("INVITE", "z9hG4bKdup"), UDP, 0.0)
    with pytest.raises(SipLocalError, match="in use"):
        layer.send_request(our_request("INVITE", "z9hG4bKdup"), UDP, 0.0)
    with pytest.raises(SipLocalError, match="needs an ACK"):
        layer.ack_2xx(key, our_request("BYE", "z9hG4bKb"), UDP, 0.0)


def test_branches_are_rfc_3261_and_distinct() -> None:
    layer = TransactionLayer()
    branches = {layer.new_branch() for _ in range(1000)}
    assert len(branches) == 1000
    assert all(b.startswith("z9hG4bK") and len(b) > 7 for b in branches)


# --- server side -----------------------------------------------------------------------------


def test_an_invite_retransmission_is_not_a_new_call() -> None:
    layer = TransactionLayer()
    new = received(layer.receive_data(invite(), UDP, 0.0))
    layer.respond(new.key, response_for(new.request, 180, to_tag="cg"), 0.05)
    again = layer.receive_data(invite(), UDP, 0.5)
    assert summary(again) == ["send 180"]
    assert len(layer) == 1


def test_same_branch_from_another_sent_by_is_another_transaction() -> None:
    layer = TransactionLayer()
    received(layer.receive_data(invite(), UDP, 0.0))
    other = received(layer.receive_data(invite(sent_by="192.0.2.7:5060"), UDP, 0.1))
    assert other.key.sent_by == "192.0.2.7:5060"
    assert len(layer) == 2


def test_uas_cancel_flow_200_to_cancel_487_to_invite_and_the_ack_absorbed() -> None:
    layer = TransactionLayer()
    new = received(layer.receive_data(invite(), UDP, 0.0))
    layer.respond(new.key, response_for(new.request, 180, to_tag="cg"), 0.05)
    cancel = received(
        layer.receive_data(
            request_from_peer("CANCEL", "z9hG4bKPjin1", cseq=14723, to_tag=None), UDP, 1.0
        )
    )
    assert cancel.cancels == new.key  # §9.2: same branch, sent-by, method INVITE
    assert summary(
        layer.respond(cancel.key, response_for(cancel.request, 200, to_tag="cg"), 1.0)
    ) == ["send 200"]
    assert summary(layer.respond(new.key, response_for(new.request, 487, to_tag="cg"), 1.0)) == [
        "send 487"
    ]
    ack = request_from_peer("ACK", "z9hG4bKPjin1", cseq=14723, to_tag="cg")
    assert layer.receive_data(ack, UDP, 1.1) == []
    assert layer.state(new.key) is TransactionState.CONFIRMED


def test_a_cancel_for_no_invite_says_so_statelessly() -> None:
    layer = TransactionLayer()
    cancel = request_from_peer("CANCEL", "z9hG4bKgone", to_tag=None)
    actions = layer.receive_data(cancel, UDP, 0.0)
    assert [type(a) for a in actions] == [Send, RequestRefused]
    (send,) = sent(actions)
    assert isinstance(send.message, SipResponse)
    assert send.message.status == 481  # §9.2
    assert len(layer) == 0
    assert sent(layer.receive_data(cancel, UDP, 0.5)) == [send]  # the very same answer again


def test_an_ack_for_a_2xx_nobody_sent_goes_to_the_tu_for_dialog_matching() -> None:
    layer = TransactionLayer()
    actions = layer.receive_data(request_from_peer("ACK", "z9hG4bKlone", cseq=1), UDP, 0.0)
    assert len(actions) == 1
    assert isinstance(actions[0], AckReceived)
    assert actions[0].invite is None
    assert len(layer) == 0  # an ACK never makes a transaction


def test_rfc_2543_requests_match_without_a_magic_cookie() -> None:
    layer = TransactionLayer()
    old = invite(branch="", via_params="")  # no branch at all
    new = received(layer.receive_data(old, UDP, 0.0))
    assert new.key.branch.startswith("rfc2543|")
    layer.respond(new.key, response_for(new.request, 404, to_tag="cg2543"), 0.1)
    assert summary(layer.receive_data(old, UDP, 0.6)) == ["send 404"]  # a retransmission
    # The ACK matches by Request-URI, From tag, Call-ID, CSeq number, top Via, and the To tag
    # of our response.
    wrong = request_from_peer("ACK", "", cseq=14723, to_tag="not-ours")
    wrong = wrong.replace(b";rport", b"")
    assert [type(a) for a in layer.receive_data(wrong, UDP, 0.7)] == [AckReceived]
    assert layer.state(new.key) is TransactionState.COMPLETED
    right = wrong.replace(b"not-ours", b"cg2543")
    assert layer.receive_data(right, UDP, 0.8) == []
    assert layer.state(new.key) is TransactionState.CONFIRMED


def test_a_bare_magic_cookie_is_not_an_rfc_3261_branch() -> None:
    # RFC 4475 §3.2.1 (badbranch): "z9hG4bK" alone is treated like an RFC 2543 request.
    layer = TransactionLayer()
    new = received(layer.receive_data(invite(branch="z9hG4bK"), UDP, 0.0))
    assert new.key.branch.startswith("rfc2543|")


def test_rfc_2543_cancel_finds_its_invite() -> None:
    layer = TransactionLayer()
    new = received(layer.receive_data(invite(branch="", via_params=""), UDP, 0.0))
    cancel = request_from_peer("CANCEL", "", cseq=14723, to_tag=None).replace(b";rport", b"")
    assert received(layer.receive_data(cancel, UDP, 0.5)).cancels == new.key


def test_requests_are_stamped_with_received_and_rport_and_answered_there() -> None:
    layer = TransactionLayer()
    new = received(layer.receive_data(invite(), NAT, 0.0))
    via = new.request.top_via
    assert via is not None
    assert (via.received, via.rport) == ("192.0.2.99", 40312)
    response = response_for(new.request, 180, to_tag="cg")
    (send,) = sent(layer.respond(new.key, response, 0.1))
    assert send.target == NAT  # RFC 3581: back to where it came from
    assert "received=192.0.2.99" in (send.message.get("Via") or "")


def test_response_target_follows_18_2_2() -> None:
    source = Target("192.0.2.99", 40312)
    plain = parse_via("SIP/2.0/UDP 198.51.100.10:5070;branch=z9hG4bKx")[0]
    # Not yet stamped: the packet's source is what `received` would say.
    assert response_target(plain, source) == Target("192.0.2.99", 5070)
    no_port = parse_via("SIP/2.0/UDP pbx.example.com;received=192.0.2.99;branch=z9hG4bKx")[0]
    assert response_target(no_port, source) == Target("192.0.2.99", 5060)
    maddr = parse_via("SIP/2.0/UDP pbx.example.com;maddr=239.1.1.1;branch=z9hG4bKx")[0]
    assert response_target(maddr, source) == Target("239.1.1.1", 5060)
    rport = parse_via("SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKx")[0]
    assert response_target(rport, source) == source
    tcp = Target("192.0.2.99", 40999, "TCP")
    assert response_target(plain, tcp) == tcp  # back over the same connection


def test_stamping_leaves_a_matching_via_alone() -> None:
    request = req(invite(via_params=""))
    assert stamp_via(request, UDP) is request


def test_policy_refusals_are_answered_by_the_layer_statelessly_and_alike() -> None:
    layer = TransactionLayer()
    subscribe = request_from_peer("SUBSCRIBE", "z9hG4bKsub", extra="Event: presence\n")
    actions = layer.receive_data(subscribe, UDP, 0.0)
    assert [type(a) for a in actions] == [Send, RequestRefused]
    refusal = sent(actions)[0].message
    assert isinstance(refusal, SipResponse)
    assert refusal.status == 405
    assert refusal.get("Allow") == "ACK, BYE, CANCEL, INVITE, OPTIONS"
    assert len(layer) == 0  # nothing kept (§8.2.7)
    assert layer.receive_data(subscribe, UDP, 0.5) == actions  # the same answer, same To tag


def test_without_a_policy_every_request_reaches_the_tu() -> None:
    layer = TransactionLayer(LayerConfig(policy=None))
    subscribe = request_from_peer("SUBSCRIBE", "z9hG4bKsub")
    assert summary(layer.receive_data(subscribe, UDP, 0.0)) == ["pass SUBSCRIBE"]


def test_when_the_table_is_full_new_requests_get_503_and_new_sends_fail() -> None:
    layer = TransactionLayer(LayerConfig(max_transactions=2))
    first = received(layer.receive_data(invite("z9hG4bK1"), UDP, 0.0))
    received(layer.receive_data(invite("z9hG4bK2"), UDP, 0.0))
    actions = layer.receive_data(invite("z9hG4bK3"), UDP, 0.0)
    assert [type(a) for a in actions] == [Send, RequestRefused]
    refusal = sent(actions)[0].message
    assert isinstance(refusal, SipResponse)
    assert (refusal.status, refusal.get("Retry-After")) == (503, "5")
    assert refusal.to_tag is not None
    assert len(layer) == 2  # stateless: nothing stored
    with pytest.raises(TransactionTableFull):
        layer.send_request(our_request("OPTIONS", layer.new_branch()), UDP, 0.0)
    # Retransmissions of live transactions are still served.
    layer.respond(first.key, response_for(first.request, 180, to_tag="cg"), 0.1)
    assert summary(layer.receive_data(invite("z9hG4bK1"), UDP, 0.5)) == ["send 180"]
    # An ACK for a 2xx needs no table entry either.
    assert [type(a) for a in layer.receive_data(request_from_peer("ACK", "z9hG4bKa"), UDP, 1)] == [
        AckReceived
    ]


def test_respond_to_a_finished_or_unknown_transaction_is_reported_not_raised() -> None:
    layer = TransactionLayer()
    new = received(layer.receive_data(request_from_peer("OPTIONS", "z9hG4bKo"), UDP, 0.0))
    layer.respond(new.key, response_for(new.request, 200, to_tag="cg"), 0.0)
    twice = layer.respond(new.key, response_for(new.request, 500, to_tag="cg"), 0.1)
    assert [type(a) for a in twice] == [MessageDropped]
    run(layer, 100)
    late = layer.respond(new.key, response_for(new.request, 200, to_tag="cg"), 50)
    assert [type(a) for a in late] == [MessageDropped]


# --- input that is not what it should be ------------------------------------------------------


def test_keepalives_are_ignored() -> None:
    layer = TransactionLayer()
    assert layer.receive_data(b"\r\n\r\n", UDP, 0.0) == []
    assert layer.receive_data(b"\r\n", UDP, 0.0) == []


def test_garbage_is_dropped_without_an_answer() -> None:
    layer = TransactionLayer()
    actions = layer.receive_data(b"\x16\x03\x01\x02\x00 hello", UDP, 0.0)
    assert [type(a) for a in actions] == [MessageDropped]


def test_a_malformed_request_with_usable_headers_gets_its_400() -> None:
    layer = TransactionLayer()
    bad = invite().replace(b"Max-Forwards: 70", b"Max-Forwards: seventy")
    actions = layer.receive_data(bad, NAT, 0.0)
    assert [type(a) for a in actions] == [Send, MessageDropped]
    send = sent(actions)[0]
    assert isinstance(send.message, SipResponse)
    assert send.message.status == 400
    assert send.target == NAT  # rport in the request's Via
    no_rport = bad.replace(b";rport", b"")
    (send,) = sent(layer.receive_data(no_rport, NAT, 0.0))
    assert send.target == Target(NAT.host, 5060)  # the source address, the sent-by port


def test_malformed_acks_and_responses_are_never_answered() -> None:
    layer = TransactionLayer()
    ack = request_from_peer("ACK", "z9hG4bKa").replace(b"Max-Forwards: 70", b"Max-Forwards: x")
    assert [type(a) for a in layer.receive_data(ack, UDP, 0.0)] == [MessageDropped]
    response = bytes(answer(our_request("INVITE", "z9hG4bKq"), 200)).replace(
        b"CSeq: 1 INVITE", b"CSeq: one INVITE"
    )
    assert [type(a) for a in layer.receive_data(response, UDP, 0.0)] == [MessageDropped]


def test_a_response_with_two_vias_is_not_for_us() -> None:
    layer = TransactionLayer()
    request = our_request("INVITE", layer.new_branch())
    layer.send_request(request, UDP, 0.0)
    ok = answer(request, 200).with_header("Via", "SIP/2.0/UDP 10.1.1.1;branch=z9hG4bKx")
    assert [type(a) for a in layer.receive(ok, UDP, 0.1)] == [MessageDropped]


def test_every_captured_message_is_handled_without_raising() -> None:
    from . import captured

    layer = TransactionLayer()
    for data in captured.ALL.values():
        actions = layer.receive_data(data, UDP, 0.0)
        assert all(
            isinstance(a, Send | RequestReceived | AckReceived | StrayResponse | RequestRefused)
            for a in actions
        )


def test_timeouts_and_terminations_come_in_order() -> None:
    layer = TransactionLayer()
    key, _ = layer.send_request(our_request("REGISTER", layer.new_branch()), UDP, 0.0)
    trace = run(layer, 100)
    assert [a for _, a in trace if not isinstance(a, Send)] == [
        TransactionTimeout(key, "F"),
        TransactionTerminated(key),
    ]


# --- nothing ever escapes the layer ----------------------------------------------------------

SOURCES = (UDP, NAT, Target("fe80::1%eth0", 5060), Target("10.0.0.1", 5060, "TCP"))


def _feed_everything(layer: TransactionLayer, data: bytes, now: float) -> None:
    for source in SOURCES:
        for action in layer.receive_data(data, source, now):
            if isinstance(action, RequestReceived):
                # Answer as a TU would, so responses take the transaction paths too.
                refusal = response_for(action.request, 486, to_tag="cg")
                layer.respond(action.key, refusal, now)


@pytest.mark.parametrize("name", rfc4475_names() or ["(corpus absent)"])
def test_rfc_4475_messages_never_raise_out_of_the_layer(name: str) -> None:
    if name == "(corpus absent)":
        pytest.skip("RFC 4475 corpus not found")
    layer = TransactionLayer()
    _feed_everything(layer, rfc4475(name), 0.0)
    _feed_everything(layer, rfc4475(name), 0.7)  # as a retransmission
    run(layer, 100)
    assert len(layer) == 0


def test_seeded_mutations_of_captured_messages_never_raise() -> None:
    from . import captured

    rng = random.Random(5)
    layer = TransactionLayer()
    originals = [*captured.ALL.values(), invite(), request_from_peer("ACK", "z9hG4bKa")]
    for n in range(1500):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(data))
            data[position : position + rng.randint(0, 3)] = bytes(
                rng.choice(b' \t\r\n;,:<>"=@z9hG4bK0\x00\xff') for _ in range(rng.randint(0, 3))
            )
        _feed_everything(layer, bytes(data), n * 0.01)
    run(layer, 1000)
    assert len(layer) == 0


@pytest.mark.parametrize("name", ["badaspec", "quotbal", "scalar02", "insuf"])
def test_rfc_4475_requests_with_a_usable_via_get_their_400(name: str) -> None:
    # RFC 4475 §3.1.2.14, §3.1.2.6, §3.1.2.4, §3.3.1: the broken or missing From, To, Call-ID
    # or CSeq gets a stand-in; the answer goes out with the request's own Via.
    if not rfc4475_names():
        pytest.skip("RFC 4475 corpus not found")
    data = rfc4475(name)
    actions = TransactionLayer().receive_data(data, UDP, 0.0)
    sends_ = sent(actions)
    assert len(sends_) == 1, actions
    response = sends_[0].message
    assert isinstance(response, SipResponse)
    assert response.status == 400
    again = parse(bytes(response))
    assert isinstance(again, SipResponse)
    assert again.top_via is not None
    assert again.top_via.branch is not None
    assert again.top_via.branch in data.decode()


# --- where answers go: never to an address the sender wrote (issue 12, defect 3) -------------

STRANGER = Target("198.51.100.66", 40100)  # not trusted by `strangers_layer`
VICTIM = "192.0.2.99"


def strangers_layer() -> TransactionLayer:
    return TransactionLayer(LayerConfig(trusted=lambda source: source.host == PEER))


@pytest.mark.parametrize(
    "via_params",
    [f";received={VICTIM}", f";maddr={VICTIM}", ";rport=9", f";rport=9;received={VICTIM}"],
)
@pytest.mark.parametrize("sent_by", [f"{VICTIM}:5060", "198.51.100.66:5060", "pbx.example.com"])
def test_a_refusal_to_a_stranger_goes_back_to_the_packets_real_source(
    via_params: str, sent_by: str
) -> None:
    layer = strangers_layer()
    for data in (
        invite(sent_by=sent_by, via_params=via_params),  # stateless 403
        request_from_peer("SUBSCRIBE", "z9hG4bKs1", sent_by=sent_by).replace(
            b";rport", via_params.encode()
        ),  # the policy's 405
        invite(sent_by=sent_by, via_params=via_params).replace(b"Max-Forwards: 70", b"l: x"),
    ):
        (send,) = sent(layer.receive_data(data, STRANGER, 0.0))
        assert send.target == STRANGER, (data, send.target)


def test_a_trusted_sources_own_received_and_rport_are_overwritten_with_the_truth() -> None:
    layer = strangers_layer()
    source = Target(PEER, 40200)
    data = invite(via_params=f";rport=9;received={VICTIM}")
    new = received(layer.receive_data(data, source, 0.0))
    via = new.request.top_via
    assert via is not None
    assert (via.received, via.rport) == (PEER, 40200)
    (send,) = sent(layer.respond(new.key, response_for(new.request, 180, to_tag="cg"), 0.1))
    assert send.target == source
    # Without rport: the real source host at the sent-by port, never the claimed `received`.
    plain = invite(branch="z9hG4bKplain", via_params=f";received={VICTIM}")
    new = received(layer.receive_data(plain, source, 0.2))
    assert new.request.top_via is not None
    assert new.request.top_via.received is None  # the sent-by host is the source: no note
    (send,) = sent(layer.respond(new.key, response_for(new.request, 180, to_tag="cg"), 0.3))
    assert send.target == Target(PEER, 5060)


# --- capacity kept for the trunk's INVITEs (issue 12, defect 2) -------------------------------


def test_requests_other_than_trusted_invites_cannot_take_the_reserved_part_of_the_table() -> None:
    layer = TransactionLayer(
        LayerConfig(
            max_transactions=10,
            reserved_transactions=4,
            trusted=lambda source: source == UDP,
            untrusted_transactions_per_source=100,
        )
    )
    elsewhere = Target(PEER, 40001)  # the trunk's address, another port: not trusted
    statuses = []
    for index in range(8):
        bye = request_from_peer("BYE", f"z9hG4bKbye{index}", cseq=index)
        for action in layer.receive_data(bye, UDP if index % 2 else elsewhere, 0.0):
            if isinstance(action, RequestReceived):
                statuses.append("tu")
            elif isinstance(action, Send) and isinstance(action.message, SipResponse):
                statuses.append(str(action.message.status))
    assert statuses == ["tu"] * 6 + ["503"] * 2  # trusted or not, non-INVITEs share 6
    assert len(layer) == 6
    for index in range(5):
        actions = layer.receive_data(invite(f"z9hG4bKinv{index}", cseq=index), UDP, 0.0)
        kinds = [type(a) for a in actions]
        assert (RequestReceived in kinds) is (index < 4), (index, actions)
    assert len(layer) == 10
    with pytest.raises(TransactionTableFull):
        layer.send_request(our_request("BYE", layer.new_branch()), UDP, 0.0)
    # A stranger's INVITE never gets that far: it is refused with 403 and keeps nothing.
    (send,) = sent(layer.receive_data(invite("z9hG4bKx"), elsewhere, 0.0))
    assert isinstance(send.message, SipResponse)
    assert send.message.status == 403


def test_every_options_is_answered_statelessly_when_the_layer_has_its_headers() -> None:
    allow = (("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS"),)
    layer = TransactionLayer(LayerConfig(options_headers=allow))
    for index, to_tag in enumerate((None, "cg-dialog")):
        ping = request_from_peer("OPTIONS", f"z9hG4bKo{index}", to_tag=to_tag)
        actions = layer.receive_data(ping, UDP, 0.0)
        (send,) = sent(actions)
        assert actions == [send]
        assert isinstance(send.message, SipResponse)
        assert (send.message.status, send.message.get("Allow")) == (200, allow[0][1])
        assert send.message.to_tag == (to_tag or send.message.to_tag)
        assert layer.receive_data(ping, UDP, 0.5) == actions  # a retransmission: the same bytes
    assert len(layer) == 0


def test_retransmissions_are_counted_both_ways_and_kept_after_their_transactions_end() -> None:
    layer = TransactionLayer()
    assert layer.retransmissions() == (0, 0)
    # Ours: an INVITE over UDP nobody answers goes again at 0.5, 1.5, 3.5 ... (Timer A).
    request = our_request("INVITE", layer.new_branch())
    layer.send_request(request, UDP, 0.0)
    assert sends(run(layer, 3.6)) == [0.5, 1.5, 3.5]
    assert layer.retransmissions() == (3, 0)
    # Theirs: an INVITE sent again gets our 180 again; that is not our timer's doing.
    new = received(layer.receive_data(invite(), UDP, 4.0))
    layer.respond(new.key, response_for(new.request, 180, to_tag="cg"), 4.05)
    layer.receive_data(invite(), UDP, 4.5)
    layer.receive_data(invite(), UDP, 5.5)
    assert layer.retransmissions() == (3, 2)
    # Every transaction ends (Timer B, then the server's, on a 486 and Timer H), counts stay.
    layer.respond(new.key, response_for(new.request, 486, to_tag="cg"), 6.0)
    run(layer, 200.0)
    assert len(layer) == 0
    # Timer A's copies at 7.5, 15.5 and 31.5, and the 486 sent again by Timer G at 6.5, 7.5,
    # 9.5, 13.5 ... 37.5 (T1 doubling to T2, until Timer H at 38): 6 + 10.
    assert layer.retransmissions() == (16, 2)
