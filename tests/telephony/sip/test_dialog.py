"""Dialogs (§12): creation on both sides, route sets as real proxies record them, in-dialog
requests (ACK, BYE, re-INVITE answers, OPTIONS), CANCEL (§9.1), matching, CSeq order."""

from __future__ import annotations

import pytest

from callgate.telephony.sip import (
    Dialog,
    DialogId,
    DialogTable,
    DialogTableFull,
    Endpoint,
    SipLocalError,
    SipUri,
    Target,
    build_cancel,
    make_request,
    new_tag,
    parse_address,
    parse_uri,
    q850_reason,
    uri_target,
)

from . import captured
from .factory import req, resp, wire

US = Endpoint("203.0.113.5", 5060, user="gateway", user_agent="callgate")


def our_invite(
    *, call_id: str, from_tag: str, cseq: int = 1, to: str = "<sip:1000@192.0.2.40>"
) -> bytes:
    return bytes(
        make_request(
            "INVITE",
            parse_uri(to.strip("<>")),
            via=US.via("z9hG4bK.7f3a9c21e0"),
            from_=parse_address(f'"callgate" <sip:gateway@203.0.113.5>;tag={from_tag}'),
            to=parse_address(to),
            call_id=call_id,
            cseq=cseq,
            contact=US.contact,
        )
    )


# --- UAC --------------------------------------------------------------------------------------


def test_uac_dialog_from_freeswitch_200_and_the_ack_for_it() -> None:
    invite = req(our_invite(call_id="cg-0c9e4a7b2d@203.0.113.5", from_tag="cg-5d1e9a"))
    ok = resp(captured.FREESWITCH_200)
    dialog = Dialog.from_response(invite, ok, US)
    assert dialog.id == DialogId("cg-0c9e4a7b2d@203.0.113.5", "cg-5d1e9a", "XKj3r0g8gD1mS")
    assert not dialog.early
    assert dialog.route_set == ()
    assert str(dialog.remote_target) == "sip:1000@192.0.2.40:5080;transport=udp"
    assert dialog.target() == Target("192.0.2.40", 5080, "UDP")
    ack = dialog.ack(1, branch="z9hG4bKPj.0a1b2c3d4e")
    # The same request PJSIP puts on the wire in this situation (captured.PJSIP_ACK).
    expected = req(captured.PJSIP_ACK)
    assert ack.uri == expected.uri
    assert ack.cseq == expected.cseq
    for name in ("From", "To", "Call-ID"):
        assert ack.get(name) == expected.get(name)
    assert ack.route == ()
    assert dialog.local_cseq == 1  # an ACK uses the INVITE's number and does not advance it


# A 200 that crossed our Kamailio edge (198.51.100.200) and the carrier's SBC: each proxy put
# its Record-Route on top on the way in, the UAS copied them.
CARRIER_200 = wire("""
SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.5:5060;rport=5060;received=203.0.113.5;branch=z9hG4bK.7f3a9c21e0
Record-Route: <sip:sbc1.carrier.example.net:5060;transport=udp;lr>
Record-Route: <sip:198.51.100.200;lr;ftag=cg-1a2b3c;did=4e2.a1f2>
From: "callgate" <sip:gateway@203.0.113.5>;tag=cg-1a2b3c
To: <sip:+15557654321@carrier.example.net>;tag=as5f2e7a1c
Call-ID: cg-77aa0c3e@203.0.113.5
CSeq: 2 INVITE
Contact: <sip:+15557654321@198.51.100.201:5060>
""")


def test_uac_route_set_is_the_record_route_reversed() -> None:
    invite = req(
        our_invite(
            call_id="cg-77aa0c3e@203.0.113.5",
            from_tag="cg-1a2b3c",
            cseq=2,
            to="<sip:+15557654321@carrier.example.net>",
        )
    )
    dialog = Dialog.from_response(invite, resp(CARRIER_200), US)
    assert [str(r.uri) for r in dialog.route_set] == [
        "sip:198.51.100.200;lr;ftag=cg-1a2b3c;did=4e2.a1f2",
        "sip:sbc1.carrier.example.net:5060;transport=udp;lr",
    ]
    bye = dialog.request("BYE", branch="z9hG4bKbye1", headers=[("Reason", q850_reason(16))])
    assert str(bye.uri) == "sip:+15557654321@198.51.100.201:5060"  # loose routing
    assert bye.get_all("Route") == (
        "<sip:198.51.100.200;lr;ftag=cg-1a2b3c;did=4e2.a1f2>",
        "<sip:sbc1.carrier.example.net:5060;transport=udp;lr>",
    )
    assert bye.cseq is not None
    assert (bye.cseq.number, bye.cseq.method) == (3, "BYE")
    assert bye.get("Reason") == "Q.850;cause=16"
    assert bye.get("Contact") is None  # BYE refreshes nothing
    assert bye.get("To") == "<sip:+15557654321@carrier.example.net>;tag=as5f2e7a1c"
    assert dialog.target() == Target("198.51.100.200", 5060)  # our edge proxy first
    options = dialog.request("OPTIONS", branch="z9hG4bKopt1")
    assert options.cseq is not None
    assert options.cseq.number == 4


def test_early_dialog_from_kamailio_180_is_confirmed_by_the_200() -> None:
    invite = req(
        our_invite(
            call_id="cg-77aa0c3e@203.0.113.5",
            from_tag="cg-1a2b3c",
            cseq=2,
            to="<sip:+15557654321@carrier.example.net>",
        )
    )
    ringing = resp(captured.KAMAILIO_180)
    dialog = Dialog.from_response(invite, ringing, US)
    assert dialog.early
    assert len(dialog.route_set) == 1
    dialog.confirm(resp(CARRIER_200))
    assert not dialog.early
    assert len(dialog.route_set) == 2  # recomputed from the 2xx (§13.2.2.4)
    assert str(dialog.remote_target) == "sip:+15557654321@198.51.100.201:5060"


def test_strict_router_in_the_route_set() -> None:
    invite = req(our_invite(call_id="old@203.0.113.5", from_tag="cg-s"))
    ok = resp(
        wire("""
SIP/2.0 200 OK
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK.7f3a9c21e0
Record-Route: <sip:proxy2.example.com;maddr=192.0.2.33>
Record-Route: <sip:proxy1.example.com;method=INVITE>
From: <sip:gateway@203.0.113.5>;tag=cg-s
To: <sip:1000@192.0.2.40>;tag=legacy
Call-ID: old@203.0.113.5
CSeq: 1 INVITE
Contact: <sip:1000@192.0.2.40:5062>
""")
    )
    dialog = Dialog.from_response(invite, ok, US)
    assert dialog.strict_routing
    bye = dialog.request("BYE", branch="z9hG4bKs1")
    # §12.2.1.1: the first route becomes the Request-URI (minus what a Request-URI may not
    # carry), the rest go in Route, and the remote target comes last.
    assert str(bye.uri) == "sip:proxy1.example.com"
    assert bye.get_all("Route") == (
        "<sip:proxy2.example.com;maddr=192.0.2.33>",
        "<sip:1000@192.0.2.40:5062>",
    )
    assert dialog.target() == Target("proxy1.example.com", 5060)


# --- UAS --------------------------------------------------------------------------------------

# Asterisk behind Kamailio, which bridges its private and public interfaces and so records
# twice (r2=on): the entry facing us first.
KAMAILIO_INVITE = wire("""
INVITE sip:+15551230001@203.0.113.5:5060 SIP/2.0
Record-Route: <sip:198.51.100.200;r2=on;lr=on;ftag=8f0b2c4e;did=a1f.b2c1>
Record-Route: <sip:10.0.0.200;r2=on;lr=on;ftag=8f0b2c4e;did=a1f.b2c1>
Via: SIP/2.0/UDP 198.51.100.200;branch=z9hG4bKcydzigwkX.1
Via: SIP/2.0/UDP 10.0.0.10:5060;rport=5060;received=10.0.0.10;branch=z9hG4bKPj4c5f9a0e
From: "Front Desk" <sip:2001@10.0.0.10>;tag=8f0b2c4e
To: <sip:+15551230001@203.0.113.5>
Contact: <sip:asterisk@10.0.0.10:5060>
Call-ID: 3c5a1e9d-7b2f-4d6e-8a0c-1f2e3d4c5b6a
CSeq: 14723 INVITE
Max-Forwards: 69
User-Agent: Asterisk PBX 20.5.0
""")


def test_uas_route_set_is_the_record_route_in_order() -> None:
    invite = req(KAMAILIO_INVITE)
    dialog = Dialog.from_request(invite, local_tag="cg-77e0b3", endpoint=US)
    assert dialog.id == DialogId("3c5a1e9d-7b2f-4d6e-8a0c-1f2e3d4c5b6a", "cg-77e0b3", "8f0b2c4e")
    assert dialog.remote_cseq == 14723
    assert dialog.local_cseq is None
    ok = dialog.response(invite, 200, body=b"v=0\r\n", content_type="application/sdp")
    assert ok.to_tag == "cg-77e0b3"
    assert ok.get("Contact") == "<sip:gateway@203.0.113.5:5060>"
    assert ok.get_all("Record-Route") == invite.get_all("Record-Route")  # §12.1.1
    assert ok.get("Content-Type") == "application/sdp"
    bye = dialog.request("BYE", branch="z9hG4bKb1")
    assert str(bye.uri) == "sip:asterisk@10.0.0.10:5060"
    assert bye.get_all("Route") == invite.get_all("Record-Route")
    assert bye.get("From") == "<sip:+15551230001@203.0.113.5>;tag=cg-77e0b3"
    assert bye.get("To") == '"Front Desk" <sip:2001@10.0.0.10>;tag=8f0b2c4e'
    assert bye.cseq is not None
    assert bye.cseq.number == 1  # the UAS's own numbering starts here
    assert dialog.target() == Target("198.51.100.200", 5060)


def test_pjsip_bye_matches_its_dialog_and_cseq_order_is_enforced() -> None:
    invite = req(
        wire("""
INVITE sip:gateway@203.0.113.5:5060 SIP/2.0
Via: SIP/2.0/UDP 192.0.2.77:5064;rport;branch=z9hG4bKPj0001
Max-Forwards: 70
From: <sip:alice@192.0.2.77>;tag=0a9d6b8c2f3e4a1b
To: "callgate" <sip:gateway@203.0.113.5>
Contact: <sip:alice@192.0.2.77:5064;ob>
Call-ID: 4ad3c0f1e8b27d9a
CSeq: 4710 INVITE
""")
    )
    table = DialogTable()
    dialog = Dialog.from_request(invite, local_tag="cg-77e0b3", endpoint=US)
    table.add(dialog)
    bye = req(captured.PJSIP_BYE)
    assert table.for_request(bye) is dialog
    assert dialog.matches(bye)
    assert dialog.receive_request(bye) is None
    assert dialog.remote_cseq == 4711
    stale = req(captured.PJSIP_BYE.replace(b"CSeq: 4711 BYE", b"CSeq: 4700 BYE"))
    rejection = dialog.receive_request(stale)
    assert rejection is not None
    assert rejection.status == 500  # §12.2.2
    other = req(captured.PJSIP_BYE.replace(b"tag=cg-77e0b3", b"tag=someone-else"))
    assert table.for_request(other) is None
    assert table.remove(dialog.id) is dialog
    assert len(table) == 0


def test_reinvite_refreshes_the_target_and_is_answered_with_contact_and_sdp() -> None:
    dialog = Dialog.from_request(req(KAMAILIO_INVITE), local_tag="cg-77e0b3", endpoint=US)
    reinvite = req(
        wire(
            """
INVITE sip:gateway@203.0.113.5:5060 SIP/2.0
Route: <sip:198.51.100.200;r2=on;lr=on;ftag=8f0b2c4e;did=a1f.b2c1>
Via: SIP/2.0/UDP 198.51.100.200;branch=z9hG4bKcydzigwkX.2
From: "Front Desk" <sip:2001@10.0.0.10>;tag=8f0b2c4e
To: <sip:+15551230001@203.0.113.5>;tag=cg-77e0b3
Contact: <sip:asterisk@10.0.0.11:5060>
Call-ID: 3c5a1e9d-7b2f-4d6e-8a0c-1f2e3d4c5b6a
CSeq: 14724 INVITE
Max-Forwards: 69
Content-Type: application/sdp
""",
            "v=0\r\n",
        )
    )
    assert dialog.matches(reinvite)
    assert dialog.receive_request(reinvite) is None
    assert str(dialog.remote_target) == "sip:asterisk@10.0.0.11:5060"
    ok = dialog.response(reinvite, 200, body=b"v=0\r\n", content_type="application/sdp")
    assert ok.get("Contact") == "<sip:gateway@203.0.113.5:5060>"
    assert ok.to_tag == "cg-77e0b3"
    assert ok.cseq == reinvite.cseq
    # An ACK reuses the INVITE's number: no order check, no bump.
    ack = req(
        bytes(reinvite)
        .replace(b"INVITE sip:", b"ACK sip:")
        .replace(b"CSeq: 14724 INVITE", b"CSeq: 14724 ACK")
    )
    assert dialog.receive_request(ack) is None
    assert dialog.remote_cseq == 14724


# --- CANCEL, helpers --------------------------------------------------------------------------


def test_cancel_copies_what_section_9_1_says() -> None:
    invite = req(our_invite(call_id="c@203.0.113.5", from_tag="cg-c")).with_header(
        "Route", "<sip:198.51.100.200;lr>"
    )
    cancel = build_cancel(invite, reason=q850_reason(16, "Normal call clearing"))
    assert cancel.method == "CANCEL"
    assert cancel.uri == invite.uri
    assert cancel.get_all("Via") == invite.get_all("Via")[:1]
    assert cancel.get("To") == invite.get("To")  # no tag: the INVITE had none
    assert cancel.cseq is not None
    assert (cancel.cseq.number, cancel.cseq.method) == (1, "CANCEL")
    assert cancel.get_all("Route") == ("<sip:198.51.100.200;lr>",)
    assert cancel.get("Reason") == 'Q.850;cause=16;text="Normal call clearing"'
    with pytest.raises(SipLocalError):
        build_cancel(req(captured.PJSIP_BYE))


def test_ack_and_cancel_are_not_ordinary_in_dialog_requests() -> None:
    dialog = Dialog.from_request(req(KAMAILIO_INVITE), local_tag="t", endpoint=US)
    for method in ("ACK", "CANCEL"):
        with pytest.raises(SipLocalError):
            dialog.request(method, branch="z9hG4bKx")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:1000@192.0.2.40", Target("192.0.2.40", 5060, "UDP")),
        ("sip:1000@192.0.2.40:5080;transport=TCP", Target("192.0.2.40", 5080, "TCP")),
        ("sips:1000@pbx.example.com", Target("pbx.example.com", 5061, "TLS")),
        ("sip:pbx.example.com;maddr=192.0.2.9", Target("192.0.2.9", 5060, "UDP")),
        ("sip:[2001:db8::1]:5070", Target("2001:db8::1", 5070, "UDP")),
    ],
)
def test_uri_target(uri: str, expected: Target) -> None:
    assert uri_target(parse_uri(uri)) == expected


def test_uri_target_refuses_non_sip_uris() -> None:
    with pytest.raises(SipLocalError):
        uri_target(parse_uri("tel:+15551230001"))


def test_endpoint_over_tcp_says_so_in_via_and_contact() -> None:
    tcp = Endpoint("203.0.113.5", 5060, "TCP")
    assert tcp.via("z9hG4bKx") == "SIP/2.0/TCP 203.0.113.5:5060;rport;branch=z9hG4bKx"
    contact = tcp.contact.uri
    assert isinstance(contact, SipUri)
    assert contact.transport == "tcp"
    v6 = Endpoint("2001:db8::5")
    assert v6.via("z9hG4bKx").startswith("SIP/2.0/UDP [2001:db8::5]:5060;")


def test_make_request_needs_a_content_type_for_a_body() -> None:
    with pytest.raises(SipLocalError):
        make_request(
            "INFO",
            parse_uri("sip:a@192.0.2.1"),
            via=US.via("z9hG4bKi"),
            from_=parse_address("<sip:a@b>;tag=1"),
            to=parse_address("<sip:c@d>"),
            call_id="x",
            cseq=1,
            body=b"Signal=1\r\n",
        )


def test_dialog_table_is_bounded() -> None:
    table = DialogTable(max_dialogs=1)
    first = Dialog.from_request(req(KAMAILIO_INVITE), local_tag="a", endpoint=US)
    second = Dialog.from_request(req(KAMAILIO_INVITE), local_tag="b", endpoint=US)
    table.add(first)
    table.add(first)  # re-adding the same dialog is fine
    assert table.full
    with pytest.raises(DialogTableFull):
        table.add(second)
    assert table.get(first.id) is first


def test_tags_are_fresh() -> None:
    tags = {new_tag() for _ in range(100)}
    assert len(tags) == 100
