"""Messages: framing, folding, compact forms, multi-value fields, limits, building, streams."""

from __future__ import annotations

import pytest

from callgate.telephony.sip import (
    FramingError,
    SipLimits,
    SipLocalError,
    SipParseError,
    SipRequest,
    SipResponse,
    SipUri,
    message_length,
    parse,
)


def wire(*lines: str, body: bytes = b"") -> bytes:
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


BASE = (
    "INVITE sip:bob@example.com SIP/2.0",
    "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds",
    "Max-Forwards: 70",
    "To: Bob <sip:bob@example.com>",
    "From: Alice <sip:alice@example.com>;tag=1928301774",
    "Call-ID: a84b4c76e66710@pc33.example.com",
    "CSeq: 314159 INVITE",
)


def parse_request(data: bytes) -> SipRequest:
    message = parse(data)
    assert isinstance(message, SipRequest)
    return message


def expect_error(data: bytes, status: int, limits: SipLimits | None = None) -> SipParseError:
    with pytest.raises(SipParseError) as caught:
        parse(data, limits=limits) if limits else parse(data)
    assert caught.value.status == status, caught.value
    return caught.value


def test_compact_forms_and_any_case_read_the_same_field() -> None:
    m = parse_request(
        wire(
            "OPTIONS sip:a@example.com SIP/2.0",
            "v: SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
            "f: <sip:b@example.com>;tag=2",
            "t: <sip:a@example.com>",
            "i: abc@h",
            "CSEQ: 1 OPTIONS",
            "k: timer",
            "m: <sip:b@h.example.com>",
            "c: application/sdp",
            "e: identity",
            "l: 0",
        )
    )
    assert m.get("Via") == m.get("v") == m.get("VIA") == "SIP/2.0/UDP h.example.com;branch=z9hG4bK1"
    assert m.call_id == "abc@h"
    assert m.get("call-id") == "abc@h"
    assert m.supported == ("timer",)
    assert m.content_encoding == ("identity",)
    assert [name for name, _ in m.headers] == [
        "Via", "From", "To", "Call-ID", "CSeq", "Supported", "Contact", "Content-Type",
        "Content-Encoding", "Content-Length",
    ]  # fmt: skip
    assert "Call-ID" in m
    assert "i" in m
    assert "Route" not in m


def test_multi_value_fields_lines_and_commas_are_one_list() -> None:
    m = parse_request(
        wire(
            *BASE,
            'Contact: "Smith, John" <sip:john@a.example.com>;q=0.5, <sip:j,k@b.example.com;x=1>',
            "Contact: sip:j@c.example.com",
            "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>",
            "Route: <sip:p3.example.com;lr>",
            'Warning: 399 example.com "a, b"',
        )
    )
    assert [c.display_name for c in m.contacts] == ["Smith, John", None, None]
    assert m.get_all("Contact")[1] == "<sip:j,k@b.example.com;x=1>"
    assert [str(r.uri) for r in m.route] == [
        "sip:p1.example.com;lr",
        "sip:p2.example.com;lr",
        "sip:p3.example.com;lr",
    ]
    assert m.get_all("Warning") == ('399 example.com "a, b"',)
    assert m.count("Route") == 2


def test_authentication_and_date_fields_are_not_split_on_commas() -> None:
    m = parse_request(
        wire(
            *BASE,
            'Authorization: Digest username="alice", realm="x", nonce="n", uri="sip:b", response="r"',
            "Date: Sat, 13 Nov 2010 23:29:00 GMT",
        )
    )
    assert len(m.get_all("Authorization")) == 1
    assert m.get_all("Date") == ("Sat, 13 Nov 2010 23:29:00 GMT",)
    assert m.date is not None
    assert m.date.year == 2010


def test_folded_lines_unfold_to_one_space() -> None:
    m = parse_request(
        wire(
            BASE[0],
            "Via: SIP/2.0/UDP pc33.example.com",
            "  ;branch=z9hG4bK776asdhds",
            *BASE[2:],
            "Subject: first",
            "\t second",
        )
    )
    assert m.get("Via") == "SIP/2.0/UDP pc33.example.com ;branch=z9hG4bK776asdhds"
    assert m.top_via is not None
    assert m.top_via.branch == "z9hG4bK776asdhds"
    assert m.get("Subject") == "first second"


def test_body_by_content_length_and_extra_bytes_ignored() -> None:
    m = parse_request(
        wire(*BASE, "Content-Type: text/plain", "Content-Length: 5", body=b"helloEXTRA")
    )
    assert m.body == b"hello"
    assert m.content_length == 5
    assert bytes(m).endswith(b"Content-Length: 5\r\n\r\nhello")


def test_datagram_without_content_length_takes_the_rest_stream_does_not() -> None:
    data = wire(*BASE, "Content-Type: text/plain", body=b"all of it")
    assert parse(data).body == b"all of it"
    with pytest.raises(SipParseError, match="mandatory"):
        parse(data, stream=True)


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ("Content-Length: 10", 400),  # fewer bytes than announced (clerr)
        ("Content-Length: -1", 400),  # ncl
        ("Content-Length: five", 400),  # ncl's "five"
        ("Content-Length: 3\r\nContent-Length: 4", 400),  # mcl01
    ],
)
def test_content_length_framing_errors(extra: str, status: int) -> None:
    error = expect_error(wire(*BASE, extra, body=b"abcd"), status)
    assert error.can_respond


def test_equal_duplicate_content_lengths_frame_and_serialize_once() -> None:
    m = parse_request(wire(*BASE, "Content-Length: 4", "l: 4", body=b"abcd"))
    assert m.body == b"abcd"
    assert bytes(m).count(b"Content-Length") == 1


def test_leading_crlf_keepalives_are_skipped() -> None:
    assert parse(b"\r\n\r\n" + wire(*BASE)).method == "INVITE"  # type: ignore[union-attr]
    expect_error(b"\r\n\r\n\r\n", 400)


@pytest.mark.parametrize(
    "data",
    [
        wire("INVITE sip:a@b SIP/2.0", "Via SIP/2.0/UDP h"),  # no colon
        wire("INVITE sip:a@b SIP/2.0", " folded: first"),  # continuation first
        wire("INVITE sip:a@b SIP/2.0", "Bad Name: x"),  # name not a token
        b"INVITE sip:a@b SIP/2.0\nVia: x\n\n",  # bare LF
        b"INVITE sip:a@b SIP/2.0\r\nSubject: a\rb\r\n\r\n",  # bare CR
        wire("INVITE sip:a@b SIP/2.0", "X-Ctl: a\x01b"),  # control character
        wire("INVITE sip:a@b SIP/2.0", "Via: SIP/2.0/UDP h;branch=z9hG4bK1"),  # fine, but...
    ],
)
def test_malformed_header_sections(data: bytes) -> None:
    if b"branch=z9hG4bK1" in data:
        data = data[:-2]  # ... without the empty line
    expect_error(data, 400)


def test_start_lines() -> None:
    expect_error(wire("INVITE sip:a@b SIP/2.0 extra"), 400)
    expect_error(wire("INVITE  sip:a@b SIP/2.0"), 400)
    expect_error(wire("IN VITE sip:a@b"), 400)
    expect_error(wire("INV\x00TE sip:a@b SIP/2.0"), 400)
    expect_error(wire("INVITE sip:a@b SIP/3.0"), 505)
    expect_error(wire("INVITE sip:a@b HTTP/1.1"), 400)
    expect_error(wire("SIP/2.0 2000 OK"), 400)
    expect_error(wire("SIP/2.0 099 Low"), 400)
    expect_error(wire("SIP/2.0 700 High"), 400)
    expect_error(wire("SIP/1.0 200 OK"), 505)
    ok = parse(wire("sip/2.0 180"))  # lower-case version, no reason, no SP: liberal
    assert isinstance(ok, SipResponse)
    assert (ok.status, ok.reason) == (180, "")
    assert bytes(ok).startswith(b"SIP/2.0 180 \r\n")


def test_limits_and_their_statuses() -> None:
    tight = SipLimits(
        max_message_bytes=600,
        max_headers=8,
        max_header_bytes=120,
        max_uri_bytes=40,
        max_body_bytes=10,
    )
    big = wire(*BASE, body=b"x" * 700)
    assert not expect_error(big, 513, tight).can_respond  # not even looked at
    expect_error(wire(*BASE, "X-A: 1", "X-B: 2", "X-C: 3"), 513, tight)  # nine fields
    expect_error(wire(*BASE[:6], "Subject: " + "s" * 130), 513, tight)
    expect_error(wire(*BASE[:6], "Subject: a", " " + "s" * 130), 513, tight)  # by folding
    long_uri = wire("INVITE sip:" + "u" * 40 + "@example.com SIP/2.0", *BASE[1:])
    error = expect_error(long_uri, 414, tight)
    assert error.can_respond
    error = expect_error(wire(*BASE, "Content-Type: text/plain", body=b"y" * 11), 413, tight)
    assert error.can_respond


def test_invalid_utf8_survives_where_nonascii_is_allowed() -> None:
    # A Latin-1 display name from old equipment: not UTF-8, still a call.
    data = wire(*BASE[:4], 'From: "Jos\xe9" <sip:jose@example.com>;tag=1', *BASE[5:])
    data = data.replace("Jos\xe9".encode(), b"Jos\xe9")
    m = parse_request(data)
    assert m.from_ is not None
    assert m.from_.display_name == "Jos\udce9"
    assert bytes(m) == bytes(parse(bytes(m)))
    assert b"Jos\xe9" in bytes(m)


def test_building_a_request_validates_and_serializes() -> None:
    request = SipRequest(
        method="OPTIONS",
        uri=SipUri.build("example.com", user="+15551234"),
        headers=(
            ("via", "SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKabc;rport"),
            ("From", "<sip:gw@203.0.113.5>;tag=x1"),
            ("To", "<sip:+15551234@example.com>"),
            ("Call-ID", "c1@203.0.113.5"),
            ("CSeq", "1 OPTIONS"),
            ("Max-Forwards", "70"),
        ),
    )
    assert request.headers[0][0] == "Via"  # canonical spelling
    data = bytes(request)
    assert data.startswith(b"OPTIONS sip:+15551234@example.com SIP/2.0\r\nVia: ")
    assert data.endswith(b"Content-Length: 0\r\n\r\n")
    assert parse(data) == request.with_header("Content-Length", "0")
    moved = request.with_header("Via", "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp", first=True)
    assert [v.host for v in moved.via] == ["proxy.example.com", "203.0.113.5"]
    assert moved.without_header("v").via == ()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"method": "IN VITE"}, "method"),
        ({"headers": (("Bad Name", "x"),)}, "header name"),
        ({"headers": (("Subject", "a\r\nInjected: 1"),)}, "CR or LF"),
        ({"headers": (("CSeq", "one INVITE"),)}, "CSeq"),
        ({"headers": (("Via", "nonsense"),)}, "Via"),
    ],
)
def test_building_invalid_requests_is_our_bug(kwargs: dict[str, object], fragment: str) -> None:
    arguments: dict[str, object] = {"method": "INVITE", "uri": SipUri("example.com")}
    arguments.update(kwargs)
    with pytest.raises(SipLocalError, match=fragment):
        SipRequest(**arguments)  # type: ignore[arg-type]


def test_building_responses() -> None:
    ok = SipResponse(status=200)
    assert ok.reason == "OK"
    assert SipResponse(status=299).reason == "OK"  # class phrase for unlisted codes
    with pytest.raises(SipLocalError):
        SipResponse(status=1000)
    with pytest.raises(SipLocalError):
        SipResponse(status=200, reason="O\r\nK")


def test_q850_cause_from_reason() -> None:
    m = parse_request(
        wire(*BASE, 'Reason: SIP;cause=487;text="x", Q.850 ;cause=17', "Reason: garbage;;")
    )
    assert m.q850_cause == 17
    assert [r.protocol for r in m.reasons] == ["SIP", "Q.850"]


def test_expires_reads_leniently() -> None:
    assert parse_request(wire(*BASE, "Expires: 300")).expires == 300
    assert parse_request(wire(*BASE, "Expires: " + "9" * 40)).expires == 3600
    assert parse_request(wire(*BASE)).expires is None


def test_message_length_frames_a_stream() -> None:
    one = wire(*BASE, "Content-Length: 3", body=b"abc")
    assert message_length(one[:10]) is None
    assert message_length(one[:-1]) is None
    assert message_length(one) == len(one)
    assert message_length(b"\r\n\r\n" + one + one) == 4 + len(one)
    with pytest.raises(FramingError):
        message_length(wire(*BASE))  # no Content-Length on a stream
    with pytest.raises(FramingError):
        message_length(wire(*BASE, "Content-Length: 1", "l: 2"))
    with pytest.raises(FramingError):
        message_length(b"x" * 70_000)
