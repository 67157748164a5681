"""RFC 3262 reliable provisionals, sans-I/O: RSeq/RAck, retransmission times, order of reception."""

from __future__ import annotations

import pytest

from callgate.telephony.sip import make_request, parse_uri, response_for
from callgate.telephony.sip.address import parse_address
from callgate.telephony.sip.reliable import (
    RAck,
    Reception,
    ReliableReceiver,
    ReliableSender,
    parse_rack,
    parse_rseq,
    wants_reliable,
)


def invite(*headers: tuple[str, str]):
    return make_request(
        "INVITE",
        parse_uri("sip:100@192.0.2.10"),
        via="SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-rel",
        from_=parse_address("<sip:a@192.0.2.1>;tag=a"),
        to=parse_address("<sip:100@192.0.2.10>"),
        call_id="rel@192.0.2.1",
        cseq=7,
        headers=headers,
    )


def test_what_an_invite_says_of_100rel():
    assert wants_reliable(invite()) == (False, False)
    assert wants_reliable(invite(("Supported", "timer, 100rel"))) == (True, False)
    assert wants_reliable(invite(("Require", "100rel"))) == (True, True)


def test_rack_and_rseq_are_read_strictly():
    prack = invite(("RAck", "776656 7 INVITE"), ("RSeq", "12"))
    assert parse_rack(prack) == RAck(776656, 7, "INVITE")
    assert str(RAck(1, 2, "INVITE")) == "1 2 INVITE"
    assert parse_rseq(prack) == 12
    assert parse_rack(invite(("RAck", "1 INVITE"))) is None
    assert parse_rack(invite(("RAck", "x 7 INVITE"))) is None


def test_the_sender_retransmits_at_t1_doubling_until_the_matching_prack():
    sender = ReliableSender(100, t1_s=0.5)
    ringing = sender.send(response_for(invite(), 180, to_tag="b"), now=0.0)
    assert ringing.get("RSeq") == "100"
    assert "100rel" in ringing.require
    assert sender.busy
    with pytest.raises(ValueError, match="not acknowledged"):
        sender.send(response_for(invite(), 183, to_tag="b"), now=0.1)
    assert sender.retransmission(0.4) is None
    times = []
    now = 0.0
    while sender.next_deadline is not None and not sender.gave_up(now):
        now = sender.next_deadline
        if sender.retransmission(now) is not None:
            times.append(now)
    assert times[:4] == [0.5, 1.5, 3.5, 7.5]  # T1, then doubling
    assert sender.gave_up(32.0)  # 64 * T1
    sender = ReliableSender(100, t1_s=0.5)
    sender.send(response_for(invite(), 180, to_tag="b"), now=0.0)
    assert not sender.acknowledge(RAck(99, 7, "INVITE"), invite_cseq=7)
    assert not sender.acknowledge(RAck(100, 6, "INVITE"), invite_cseq=7)
    assert sender.acknowledge(RAck(100, 7, "INVITE"), invite_cseq=7)
    assert sender.next_deadline is None
    second = sender.send(response_for(invite(), 183, to_tag="b"), now=1.0)
    assert second.get("RSeq") == "101"


def test_the_receiver_takes_each_rseq_once_and_in_order():
    receiver = ReliableReceiver()
    assert receiver.receive(5000) is Reception.NEW
    assert receiver.receive(5000) is Reception.REPEAT
    assert receiver.receive(5002) is Reception.OUT_OF_ORDER
    assert receiver.receive(5001) is Reception.NEW
    assert receiver.receive(5002) is Reception.NEW
