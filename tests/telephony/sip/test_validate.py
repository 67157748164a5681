"""The UAS checks rule by rule, and the responses built from requests and parse errors."""

from __future__ import annotations

import pytest

from callgate.telephony.sip import (
    DEFAULT_POLICY,
    Policy,
    SipLocalError,
    SipParseError,
    SipRequest,
    SipResponse,
    error_response,
    parse,
    rejection_response,
    response_for,
    validate_request,
    validate_response,
)

HEAD = [
    "INVITE sip:+15551230001@203.0.113.5 SIP/2.0",
    "Via: SIP/2.0/UDP 198.51.100.10:5060;rport;branch=z9hG4bKa1",
    "Via: SIP/2.0/UDP 198.51.100.9;branch=z9hG4bKa0",
    "From: <sip:2001@198.51.100.10>;tag=f1",
    "To: sip:+15551230001@203.0.113.5",
    "Call-ID: c1@198.51.100.10",
    "CSeq: 7 INVITE",
    "Max-Forwards: 70",
]
SDP = b"v=0\r\no=- 1 1 IN IP4 198.51.100.10\r\ns=-\r\nc=IN IP4 198.51.100.10\r\nt=0 0\r\n"


def request(*extra: str, head: list[str] | None = None, body: bytes = b"") -> SipRequest:
    lines = list(head or HEAD) + list(extra)
    message = parse(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    assert isinstance(message, SipRequest)
    return message


def status_of(message: SipRequest, policy: Policy = DEFAULT_POLICY) -> int | None:
    rejection = validate_request(message, policy)
    return None if rejection is None else rejection.status


def replace_line(prefix: str, new: str | None) -> list[str]:
    lines = [line for line in HEAD if not line.startswith(prefix)]
    return lines if new is None else [*lines, new]


def test_a_plain_invite_with_sdp_is_accepted() -> None:
    assert status_of(request("Content-Type: application/sdp", body=SDP)) is None


def test_a_request_without_via_gets_a_400_that_cannot_be_sent() -> None:
    rejection = validate_request(request(head=replace_line("Via:", None)))
    assert rejection is not None
    assert (rejection.status, rejection.respond) == (400, False)


@pytest.mark.parametrize(
    ("missing", "stand_in"),
    [
        ("From", "<sip:anonymous@anonymous.invalid>"),
        ("To", "<sip:+15551230001@203.0.113.5>;tag=t9"),
        ("Call-ID", "unusable-call-id@anonymous.invalid"),
        ("CSeq", "0 INVITE"),
    ],
)
def test_missing_basis_fields_get_a_400_with_a_stand_in(missing: str, stand_in: str) -> None:
    # RFC 4475 §3.3.1 (insuf): the client matches the answer by its Via branch and CSeq method.
    message = request(head=replace_line(missing + ":", None))
    rejection = validate_request(message)
    assert rejection is not None
    assert (rejection.status, rejection.respond) == (400, True)
    response = rejection_response(message, rejection, to_tag="t9")
    assert response is not None
    again = parse(bytes(response))
    assert again.get(missing) == stand_in
    assert again.get_all("Via") == message.get_all("Via")


def test_methods_405_501_and_allow() -> None:
    for method, status in (("REGISTER", 405), ("SUBSCRIBE", 405), ("FROBNICATE", 501)):
        head = [HEAD[0].replace("INVITE", method, 1), *HEAD[1:6], f"CSeq: 7 {method}"]
        rejection = validate_request(request(head=head))
        assert rejection is not None
        assert rejection.status == status
        assert rejection.headers == (("Allow", "ACK, BYE, CANCEL, INVITE, OPTIONS"),)


def test_a_bad_ack_is_dropped_not_answered() -> None:
    head = [HEAD[0].replace("INVITE", "ACK", 1), *HEAD[1:6], "CSeq: 7 ACK", "Require: foo"]
    rejection = validate_request(request(head=head))
    assert rejection is None  # Require is ignored in ACK ...
    head = [*head[:-2], "CSeq: 7 INVITE"]
    rejection = validate_request(request(head=head))
    assert rejection is not None  # ... but a CSeq mismatch is not
    assert rejection.status == 400
    assert not rejection.respond
    assert rejection_response(request(head=head), rejection, to_tag="t") is None


def test_uri_schemes_are_policy() -> None:
    head = [HEAD[0].replace("sip:+15551230001@203.0.113.5", "tel:+15551230001"), *HEAD[1:]]
    assert status_of(request(head=head)) is None
    assert status_of(request(head=head), Policy(uri_schemes=frozenset({"sip"}))) == 416


def test_contact_star_only_in_register() -> None:
    assert status_of(request("Contact: *")) == 400
    registrar = Policy(methods=DEFAULT_POLICY.methods | {"REGISTER"})
    head = [
        "REGISTER sip:example.com SIP/2.0",
        *HEAD[1:3],
        "From: <sip:a@example.com>;tag=1",
        "To: <sip:a@example.com>",
        "Call-ID: r1",
        "CSeq: 2 REGISTER",
    ]
    assert status_of(request("Contact: *", "Expires: 0", head=head), registrar) is None
    assert status_of(request("Contact: *", "Expires: 60", head=head), registrar) == 400
    assert status_of(request("Contact: *", head=head), registrar) == 400


def test_require_against_supported_extensions() -> None:
    assert status_of(request("Require: timer")) == 420
    assert status_of(request("Require: Timer"), Policy(extensions=frozenset({"timer"}))) is None
    head = [HEAD[0].replace("INVITE", "CANCEL", 1), *HEAD[1:6], "CSeq: 7 CANCEL"]
    assert status_of(request("Require: foo", head=head)) is None  # ignored in CANCEL
    assert status_of(request("Proxy-Require: foo")) is None  # a UAS ignores Proxy-Require


def test_max_forwards_zero_only_stops_a_proxy() -> None:
    head = replace_line("Max-Forwards", "Max-Forwards: 0")
    assert status_of(request(head=head)) is None
    assert status_of(request(head=head), Policy(role="proxy")) == 483


def test_bodies_we_cannot_read() -> None:
    assert (
        status_of(request("Content-Type: application/sdp", "Content-Encoding: gzip", body=SDP))
        == 415
    )
    rejection = validate_request(request("Content-Encoding: gzip", "c: application/sdp", body=SDP))
    assert rejection is not None
    assert rejection.headers == (("Accept-Encoding", "identity"),)
    assert status_of(request(body=SDP)) == 400  # a body needs a Content-Type
    assert status_of(request("Content-Type: text/html", body=b"<p>")) == 415
    optional = request(
        "Content-Type: application/x-custom",
        "Content-Disposition: render;handling=optional",
        body=b"data",
    )
    assert status_of(optional) is None


def multipart(kind: str, second_part_headers: str) -> SipRequest:
    body = (
        b"--b1\r\nContent-Type: application/sdp\r\n\r\n"
        + SDP
        + b"--b1\r\n"
        + second_part_headers.encode()
        + b"\r\n\r\nopaque\r\n--b1--\r\n"
    )
    return request(f"Content-Type: multipart/{kind};boundary=b1", body=body)


def test_multipart_bodies() -> None:
    assert status_of(multipart("mixed", "Content-Type: application/isup")) == 415
    isup_optional = (
        "Content-Type: application/isup\r\nContent-Disposition: signal;handling=optional"
    )
    assert status_of(multipart("mixed", isup_optional)) is None
    assert status_of(multipart("alternative", "Content-Type: text/html")) is None
    no_sdp = request(
        "Content-Type: multipart/mixed;boundary=b1",
        body=b"--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n",
    )
    assert status_of(no_sdp) == 415
    broken = request("Content-Type: multipart/mixed;boundary=b1", body=b"no delimiters")
    assert status_of(broken) == 400


@pytest.mark.parametrize(
    ("accept", "status"),
    [
        ("application/sdp", None),
        ("application/*", None),
        ("*/*", None),
        ("text/plain, application/SDP;level=1", None),
        ("text/plain", 406),
    ],
)
def test_accept_must_allow_sdp_for_invite(accept: str, status: int | None) -> None:
    assert status_of(request(f"Accept: {accept}")) == status


def test_response_for_copies_what_rfc_3261_says() -> None:
    invite = request(
        "Record-Route: <sip:p1.example.com;lr>",
        "Timestamp: 54.2",
        "Contact: <sip:2001@198.51.100.10>",
    )
    trying = response_for(invite, 100)
    assert [name for name, _ in trying.headers] == [
        "Via", "Via", "From", "To", "Call-ID", "CSeq", "Timestamp",
    ]  # fmt: skip
    assert trying.to_tag is None  # 100 needs no tag
    ringing = response_for(invite, 180, to_tag="gw1", headers=[("Contact", "<sip:gw@203.0.113.5>")])
    assert ringing.to_tag == "gw1"
    assert ringing.get("To") == "sip:+15551230001@203.0.113.5;tag=gw1"
    assert [str(r.uri) for r in ringing.record_route] == ["sip:p1.example.com;lr"]
    assert "Timestamp" not in ringing
    assert [c.uri for c in ringing.contacts] == [c.uri for c in parse(bytes(ringing)).contacts]
    busy = response_for(invite, 486, to_tag="gw1")
    assert busy.reason == "Busy Here"
    assert "Record-Route" not in busy
    assert busy.via == invite.via
    assert (busy.cseq, busy.call_id, busy.from_) == (invite.cseq, invite.call_id, invite.from_)


def test_response_for_tag_rules() -> None:
    invite = request()
    with pytest.raises(SipLocalError):
        response_for(invite, 200)  # a To tag is ours to choose, and it is missing
    with pytest.raises(SipLocalError):
        response_for(invite, 200, to_tag="not a token")
    tagged = request(head=replace_line("To:", "To: <sip:x@y>;tag=existing"))
    assert response_for(tagged, 200, to_tag="ignored").to_tag == "existing"


def test_error_response_for_a_parse_error() -> None:
    data = ("\r\n".join([*HEAD, "Date: tomorrow"]) + "\r\n\r\n").encode()
    with pytest.raises(SipParseError) as caught:
        parse(data)
    response = error_response(caught.value, to_tag="e1")
    assert isinstance(response, SipResponse)
    assert (response.status, response.to_tag, len(response.via)) == (400, "e1", 2)
    assert isinstance(parse(bytes(response)), SipResponse)


def response(*lines: str) -> SipResponse:
    message = parse(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, SipResponse)
    return message


RESPONSE = [
    "SIP/2.0 200 OK",
    "Via: SIP/2.0/UDP 203.0.113.5;branch=z9hG4bKx",
    "From: <sip:a@b>;tag=1",
    "To: <sip:c@d>;tag=2",
    "Call-ID: x",
    "CSeq: 1 INVITE",
]


def test_validate_response() -> None:
    assert validate_response(response(*RESPONSE)) is None
    assert validate_response(response(*RESPONSE[:4], RESPONSE[5])) == "missing Call-ID"
    assert validate_response(response(*RESPONSE, "Call-ID: y")) is not None
    two_vias = response(*RESPONSE, "Via: SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKy")
    assert validate_response(two_vias) is not None
    assert validate_response(two_vias, Policy(role="proxy")) is None
    multicast = response(*RESPONSE, "Via: SIP/2.0/UDP 224.0.1.75;branch=z9hG4bKy")
    assert validate_response(multicast, Policy(role="proxy")) is not None
