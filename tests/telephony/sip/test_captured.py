"""Messages as Asterisk, FreeSWITCH, PJSIP, Kamailio and a SIP-I carrier send them."""

from __future__ import annotations

import pytest

from callgate.telephony.sip import (
    SipRequest,
    SipResponse,
    SipUri,
    find_sdp,
    parse,
    response_for,
    validate_request,
    validate_response,
)

from . import captured


def req(data: bytes) -> SipRequest:
    message = parse(data)
    assert isinstance(message, SipRequest)
    return message


def resp(data: bytes) -> SipResponse:
    message = parse(data)
    assert isinstance(message, SipResponse)
    return message


@pytest.mark.parametrize("name", sorted(captured.ALL))
def test_every_capture_parses_and_round_trips(name: str) -> None:
    message = parse(captured.ALL[name])
    assert parse(bytes(message)) == message
    if isinstance(message, SipRequest):
        assert validate_request(message) is None
    else:
        assert validate_response(message) is None


def test_asterisk_invite() -> None:
    m = req(captured.ASTERISK_INVITE)
    assert isinstance(m.uri, SipUri)
    assert (m.uri.user, m.uri.port) == ("+15551230001", 5060)
    assert m.from_ is not None
    assert m.from_.display_name == "Front Desk"
    assert m.from_tag == "8f0b2c4e-1d3a-4b5c-9e7f-0a1b2c3d4e5f"
    assert m.to_tag is None
    via = m.top_via
    assert via is not None
    assert (via.sent_by, via.rport_requested, via.rfc3261_branch) == (
        "198.51.100.10:5060",
        True,
        True,
    )
    assert m.supported == ("100rel", "timer", "replaces", "norefersub", "histinfo")
    assert "PRACK" in m.get_all("Allow")
    assert m.get("Session-Expires") == "1800"
    assert find_sdp(m.body, m.content_type) == captured.ASTERISK_SDP.encode()
    assert b"a=rtpmap:101 telephone-event/8000" in m.body


def test_answering_the_asterisk_invite() -> None:
    invite = req(captured.ASTERISK_INVITE)
    trying = response_for(invite, 100)
    ok = response_for(
        invite,
        200,
        to_tag="cg-1",
        headers=[("Contact", "<sip:gw@203.0.113.5:5060>"), ("Content-Type", "application/sdp")],
        body=captured.FREESWITCH_SDP.encode(),
    )
    for answer in (trying, ok):
        again = resp(bytes(answer))
        assert again.via == invite.via
        assert again.call_id == invite.call_id
        assert again.cseq == invite.cseq
    assert resp(bytes(ok)).to_tag == "cg-1"
    assert resp(bytes(ok)).content_length == len(captured.FREESWITCH_SDP.encode())


def test_freeswitch_200() -> None:
    m = resp(captured.FREESWITCH_200)
    via = m.top_via
    assert via is not None
    assert (via.received, via.rport) == ("203.0.113.5", 5060)
    assert m.to_tag == "XKj3r0g8gD1mS"
    (contact,) = m.contacts
    assert isinstance(contact.uri, SipUri)
    assert (contact.uri.hostport, contact.uri.transport) == ("192.0.2.40:5080", "udp")
    assert m.get(
        "Remote-Party-ID",
    ).startswith('"Extension 1000"')  # type: ignore[union-attr]
    assert (
        find_sdp(m.body, m.content_type, m.get("Content-Disposition"))
        == captured.FREESWITCH_SDP.encode()
    )


def test_pjsip_ack_and_bye() -> None:
    ack = req(captured.PJSIP_ACK)
    assert ack.cseq is not None
    assert (ack.method, ack.cseq.method, ack.body) == ("ACK", "ACK", b"")
    bye = req(captured.PJSIP_BYE)
    assert bye.q850_cause == 16
    assert bye.reasons[0].text == "Normal call clearing"


def test_kamailio_180_in_compact_form() -> None:
    m = resp(captured.KAMAILIO_180)
    assert (m.status, m.reason) == (180, "Ringing")
    assert m.call_id == "cg-77aa0c3e@203.0.113.5"
    assert m.to_tag == "as5f2e7a1c"
    (record_route,) = m.record_route
    assert isinstance(record_route.uri, SipUri)
    assert record_route.uri.lr
    assert record_route.uri.param("ftag") == "cg-1a2b3c"
    assert m.content_length == 0
    assert b"\r\nVia: " in bytes(m)  # written back in long form
    assert b"\r\nContent-Length: 0\r\n" in bytes(m)


def test_sipi_multipart_sdp_with_optional_isup() -> None:
    m = req(captured.SIPI_INVITE)
    assert validate_request(m) is None
    sdp = find_sdp(m.body, m.content_type)
    assert sdp is not None
    assert sdp.startswith(b"v=0\r\n")
    assert b"PCMA/8000" in sdp
    assert isinstance(m.uri, SipUri)
    assert m.uri.param("user") == "phone"


def test_www_authenticate_commas_do_not_split() -> None:
    m = resp(captured.ASTERISK_401)
    (challenge,) = m.get_all("WWW-Authenticate")
    assert challenge.startswith('Digest realm="asterisk",nonce=')
    assert challenge.endswith('qop="auth"')


def test_kamailio_options_probe() -> None:
    m = req(captured.KAMAILIO_OPTIONS)
    assert isinstance(m.uri, SipUri)
    assert (m.uri.user, m.uri.host, m.uri.port) == (None, "203.0.113.5", 5060)
    assert validate_request(m) is None
    ok = response_for(m, 200, to_tag="cg-o")
    assert resp(bytes(ok)).to_tag == "cg-o"
