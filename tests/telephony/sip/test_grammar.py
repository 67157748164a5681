"""The RFC 3261 §25 pieces one by one: tokens, quoted strings, escapes, hosts, URIs, addresses,
parameters, Via, CSeq, media types, dates, Reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from callgate.telephony.sip import AbsoluteUri, SipUri, parse_address, parse_uri
from callgate.telephony.sip.fields import (
    parse_cseq,
    parse_date,
    parse_delta_seconds,
    parse_media_type,
    parse_reason,
    parse_tokens,
    parse_via,
)
from callgate.telephony.sip.grammar import (
    GrammarError,
    check_call_id,
    check_host,
    escape,
    is_token,
    parse_uint,
    quote,
    split_list,
    unescape,
    unquote,
)
from callgate.telephony.sip.params import parse_params


def test_token_characters() -> None:
    assert is_token("!interesting-Method0123456789_*+`.%indeed'~")
    for bad in ("", "a b", "a:b", "a;b", "a<b", 'a"b', "é"):
        assert not is_token(bad)


def test_call_id_is_word_at_word() -> None:
    assert check_call_id("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{")
    for bad in ("a@b@c", "", "a b", "a@", "a;b"):
        with pytest.raises(GrammarError):
            check_call_id(bad)


def test_quoted_strings_round_trip_through_quoted_pairs() -> None:
    assert unquote(r'"J Rosenberg \\\""') == 'J Rosenberg \\"'
    assert unquote(quote('say "hi" \\ bye')) == 'say "hi" \\ bye'
    with pytest.raises(GrammarError):
        quote("line\r\nbreak")


def test_percent_escapes_are_resolved_once_and_restored() -> None:
    assert unescape("v%61lue%25%34%31") == "value%41"
    assert unescape("null-%00-null") == "null-\x00-null"
    assert unescape("100%") == "100%"
    assert unescape("%zz") == "%zz"
    assert unescape("%ff") == "\udcff"  # not UTF-8: kept as a surrogate ...
    assert escape("\udcff", "") == "%FF"  # ... so it escapes back to the same byte
    assert escape("user;par=u@example.net", "&=+$,;?/") == "user;par=u%40example.net"


def test_hosts() -> None:
    for good in ("example.com", "example.com.", "a-b.c", "192.0.2.1", "[2001:db8::1]",
                 "[::ffff:192.0.2.1]", "x"):  # fmt: skip
        assert check_host(good) == good
    for bad in ("", "-a.com", "a-.com", "1.2.3.256", "1.2.3", "[2001:db8::1", "[fe80::1%eth0]",
                "host_name.com", "a..b", "[zz::1]", "123"):  # fmt: skip
        with pytest.raises(GrammarError):
            check_host(bad)


def test_uint_bounds_and_hostile_lengths() -> None:
    assert parse_uint("0009", 255, "x") == 9
    assert parse_uint("4294967295", 2**32 - 1, "x") == 2**32 - 1
    for bad in ("", "-1", "4294967296", "9" * 5000, "1e3", "٣"):
        with pytest.raises(GrammarError):
            parse_uint(bad, 2**32 - 1, "x")


def test_split_list_respects_quotes_and_angle_brackets() -> None:
    assert split_list('"a, b" <sip:x@y>;p="1,2", <sip:z,w@q>') == [
        '"a, b" <sip:x@y>;p="1,2"',
        "<sip:z,w@q>",
    ]
    assert split_list(r'"esc \" , still" <sip:a@b>') == [r'"esc \" , still" <sip:a@b>']
    for bad in ("a,,b", "a,", ",a", '"open, <sip:a@b>'):
        with pytest.raises(GrammarError):
            split_list(bad)


def test_sip_uri_components() -> None:
    uri = parse_uri("sips:alice:secret@[2001:db8::5]:5061;transport=tls;lr;maddr=x?h=v&k=%3C")
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.password, uri.host, uri.port) == (
        "sips", "alice", "secret", "[2001:db8::5]", 5061,
    )  # fmt: skip
    assert uri.transport == "tls"
    assert uri.lr
    assert uri.param("MADDR") == "x"
    assert uri.headers == (("h", "v"), ("k", "%3C"))
    assert uri.header("k") == "<"
    assert str(uri) == "sips:alice:secret@[2001:db8::5]:5061;transport=tls;lr;maddr=x?h=v&k=%3C"


def test_sip_uri_without_user_and_scheme_case() -> None:
    uri = parse_uri("SIP:192.0.2.1:5060")
    assert isinstance(uri, SipUri)
    assert (uri.scheme, uri.user, uri.host, uri.port) == ("sip", None, "192.0.2.1", 5060)


@pytest.mark.parametrize(
    "bad",
    [
        "sip:",
        "sip:@host",
        "sip:a@b@c",
        "sip:user@host:99999",
        "sip:user@host:port",
        "sip:us er@host",
        "sip:user@host;",
        "sip:user@host;a b",
        "sip:user@host?noequals",
        "sip:user@ho st",
        "sip:%zz@host",
        "<sip:user@host>",
        "no-scheme",
        "1tel:123",
        "tel:",
        "tel:with space",
    ],
)
def test_malformed_uris(bad: str) -> None:
    with pytest.raises(GrammarError):
        parse_uri(bad)


def test_other_schemes_are_opaque() -> None:
    assert parse_uri("tel:+1-212-555-0101;phone-context=example.com") == AbsoluteUri(
        "tel", "+1-212-555-0101;phone-context=example.com"
    )
    assert str(parse_uri("urn:service:sos")) == "urn:service:sos"


def test_sip_uri_build_escapes() -> None:
    uri = SipUri.build("example.com", user="a b@c", port=5070, params=(("x", "1 2"),))
    assert str(uri) == "sip:a%20b%40c@example.com:5070;x=1%202"
    assert uri.user_text == "a b@c"
    with pytest.raises(GrammarError):
        SipUri.build("bad host")


def test_name_addr_forms() -> None:
    a = parse_address('"Alice \\"A\\"" <sip:alice@example.com;transport=udp> ;tag=1 ; x')
    assert a.display_name == 'Alice "A"'
    assert a.tag == "1"
    assert a.params.get("x") == ""
    assert isinstance(a.uri, SipUri)
    assert a.uri.transport == "udp"
    assert str(a) == '"Alice \\"A\\"" <sip:alice@example.com;transport=udp>;tag=1;x'

    b = parse_address("Bob Smith <sip:bob@example.com>")
    assert b.display_name == "Bob Smith"
    c = parse_address("sip:carol@example.com;tag=9")
    assert c.display_name is None
    assert c.tag == "9"
    assert isinstance(c.uri, SipUri)
    assert c.uri.params == ()
    d = parse_address("<tel:+15551234>")
    assert isinstance(d.uri, AbsoluteUri)


@pytest.mark.parametrize(
    "bad",
    [
        '"unterminated <sip:a@b>',
        "Bell, Alexander <sip:a@b>",
        "< sip:a@b >",
        "<sip:a@b",
        "<sip:a@b>;",
        "<sip:a@b>;;",
        "<sip:a@b> junk",
        "sip:a@b?x=y",
        "",
    ],
)
def test_malformed_addresses(bad: str) -> None:
    with pytest.raises(GrammarError):
        parse_address(bad)


def test_generic_params() -> None:
    params = parse_params(' ; a = 1 ;b;c="q;v" ;d=[2001:db8::1] ')
    assert params.items == (("a", "1"), ("b", None), ("c", '"q;v"'), ("d", "[2001:db8::1]"))
    assert params.get("C") == "q;v"
    assert params.get("b") == ""
    assert params.get("zz") is None
    assert str(params) == ';a=1;b;c="q;v";d=[2001:db8::1]'
    assert str(params.with_param("a", "2")) == ';b;c="q;v";d=[2001:db8::1];a=2'


def test_via_values() -> None:
    (via,) = parse_via(
        "SIP / 2.0 / UDP [2001:db8::9] : 5062 ;rport;received=2001:db8::1;branch=z9hG4bKab"
    )
    assert (via.transport, via.host, via.port, via.branch) == (
        "UDP",
        "[2001:db8::9]",
        5062,
        "z9hG4bKab",
    )
    assert via.rport_requested
    assert via.rport is None
    assert via.received == "2001:db8::1"
    assert via.rfc3261_branch
    assert str(via) == "SIP/2.0/UDP [2001:db8::9]:5062;rport;received=2001:db8::1;branch=z9hG4bKab"
    (second,) = parse_via("SIP/2.0/TCP h.example.com;rport=5070;ttl=16;maddr=224.0.0.1")
    assert second.rport == 5070
    assert second.maddr == "224.0.0.1"
    assert second.branch is None


@pytest.mark.parametrize(
    "bad",
    [
        "SIP/2.0/UDP",
        "SIP/2.0 UDP host",
        "SIP/2.0/UDPhost",
        "SIP/2.0/UDP host;branch",
        'SIP/2.0/UDP host;branch="quoted"',
        "SIP/2.0/UDP host;received=not-an-ip!",
        "SIP/2.0/UDP host;ttl=256",
        "SIP/2.0/UDP host;rport=x",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP 192.0.2.15;;,;,,",
    ],
)
def test_malformed_via(bad: str) -> None:
    with pytest.raises(GrammarError):
        parse_via(bad)


def test_cseq_media_type_tokens_reason() -> None:
    assert (parse_cseq("0009  INVITE").number, parse_cseq("1 ACK").method) == (9, "ACK")
    for bad in ("INVITE", "1", "1INVITE", "-1 INVITE", "4294967296 INVITE"):
        with pytest.raises(GrammarError):
            parse_cseq(bad)
    media = parse_media_type('Multipart/Mixed ; boundary="x y"')
    assert media.mime == "multipart/mixed"
    assert media.params.get("boundary") == "x y"
    with pytest.raises(GrammarError):
        parse_media_type("application/sdp;charset")
    assert parse_tokens("100rel, timer") == ("100rel", "timer")
    assert parse_tokens("", allow_empty=True) == ()
    with pytest.raises(GrammarError):
        parse_tokens("a b")
    (q850, sip) = parse_reason('Q.850;cause=16;text="Normal call clearing", SIP;cause=200')
    assert (q850.protocol, q850.cause, q850.text) == ("Q.850", 16, "Normal call clearing")
    assert sip.cause == 200


def test_dates_and_delta_seconds() -> None:
    assert parse_date("Sat, 15 Oct 2005 04:44:56 GMT") == datetime(
        2005, 10, 15, 4, 44, 56, tzinfo=UTC
    )
    for bad in ("Fri, 01 Jan 2010 16:00:00 EST", "Fri, 01 Jan 2010 16:00:00 UTC",
                "Mon, 31 Feb 2010 00:00:00 GMT", "01 Jan 2010"):  # fmt: skip
        with pytest.raises(GrammarError):
            parse_date(bad)
    assert parse_delta_seconds("3600") == 3600
    assert parse_delta_seconds("1" + "0" * 100) == 3600  # RFC 3261 §20.19
    assert parse_delta_seconds("soon") == 3600


def test_ipv6_forms_of_rfc_5118() -> None:
    request_uri = parse_uri("sip:[2001:db8::10]:5070")
    assert isinstance(request_uri, SipUri)
    assert (request_uri.host, request_uri.port) == ("[2001:db8::10]", 5070)
    with pytest.raises(GrammarError):
        parse_uri("sip:user@2001:db8::10")  # unbracketed: 4.2 of RFC 5118 says invalid
    (via,) = parse_via("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3")
    assert via.received == "[2001:db8::9:255]"
    address = parse_address("<sip:[2001:db8::20]>;tag=1")
    assert isinstance(address.uri, SipUri)
    assert address.uri.host == "[2001:db8::20]"
    mapped = parse_uri("sip:[::ffff:192.0.2.10]")
    assert isinstance(mapped, SipUri)
    assert mapped.host == "[::ffff:192.0.2.10]"
